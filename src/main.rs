//! The `pagefeed` command line: parses arguments, loads the config, runs a command and maps
//! the outcome to an exit status (0 all good, 1 a feed failed, 2 usage or config error).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Parser, Subcommand};

use pagefeed::build::{self, BuildOptions, FeedReport, Status};
use pagefeed::config::{self, Config};
use pagefeed::fetch::Fetcher;
use pagefeed::opml;

const DEFAULT_CONFIG: &str = "config/pagefeed.toml";

#[derive(Parser)]
#[command(
    name = "pagefeed",
    version,
    about = "Turn web pages that have no feed into RSS 2.0, Atom 1.0 and JSON Feed 1.1.",
    long_about = "Turn web pages that have no feed into RSS 2.0, Atom 1.0 and JSON Feed 1.1.\n\n\
        A TOML config names each feed's page and the CSS selectors that find its entries. \
        Items are kept in a SQLite history, so they stay in the feed after they scroll off the page \
        and never come back as new.\n\n\
        Start with `pagefeed preview FEED` to check the selectors, then `pagefeed build`.",
    after_help = "Logging: set RUST_LOG (e.g. RUST_LOG=pagefeed=debug) for more detail on stderr."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch every feed's page and write its feeds (for cron: exit 0 all written, 1 a feed failed, 2 config error).
    #[command(long_about = "Fetch every feed's page (or the FEEDs named) and write \
        OUT/<feed>.rss, .atom and .json.\n\n\
        Files whose bytes did not change are left untouched. A feed that fails (the page \
        cannot be fetched, or its item selector matches nothing) keeps its last good files; \
        the other feeds are still written.\n\n\
        Exit status: 0 every feed written or unchanged; 1 one or more feeds failed; 2 a usage \
        or config error.")]
    Build {
        /// The config file.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Write feeds here instead of the config's output_dir.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Only these feeds (names from the config); default: all.
        #[arg(value_name = "FEED")]
        feeds: Vec<String>,
    },
    /// Run the service: refresh every feed on its schedule and serve the feeds over HTTP.
    #[command(
        long_about = "Run the service: refresh every feed on its schedule (settings.refresh, \
        or a feed's own `refresh`: an interval like \"30m\" or a cron expression) and serve the \
        feeds over HTTP with ETag, Last-Modified, 304 and gzip/brotli.\n\n\
        Routes: /feeds/NAME.rss|.atom|.json, / (status page), /opml, /healthz, /metrics \
        (Prometheus), POST /feeds/NAME/refresh (with `Authorization: Bearer <admin_token>`).\n\n\
        Logs go to stderr; set RUST_LOG (default: info) to change what is shown. \
        SIGINT/SIGTERM stop it cleanly."
    )]
    Serve {
        /// The config file.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Address to listen on (overrides settings.listen), e.g. 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Print the config's feeds as an OPML 2.0 list, for feed readers (xmlUrl = base_url + name + .rss).
    Opml {
        /// The config file.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Add the subscriptions of a feed reader's OPML export to the config as `feed_url` feeds.
    #[command(
        long_about = "Add the subscriptions of a feed reader's OPML export to the \
        config, one [feeds.NAME] table with `feed_url` and `title` each, appended at the end of \
        the file. The config's existing lines are not touched; subscriptions whose URL is \
        already a feed_url of the config are skipped."
    )]
    ImportOpml {
        /// The OPML file to import.
        #[arg(value_name = "OPML")]
        file: PathBuf,
        /// The config file to append to.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Fetch one feed's page and show what its selectors extract, without writing anything.
    #[command(
        long_about = "Fetch one feed's page and show what its selectors extract: \
        every entry's title, link, date as parsed and authors, and how many entries each field \
        matched. Nothing is written, not even the history. Use it to write and fix selectors."
    )]
    Preview {
        /// The config file.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The feed to preview.
        #[arg(value_name = "FEED")]
        feed: String,
    },
    /// Find the lists of entries on a page automatically and print them as config blocks.
    #[command(
        long_about = "Find the lists of entries on a page (a URL or a saved file) \
        without any selector, and print the best candidates, best first: each as a \
        ready-to-paste [feeds.NAME] block (item selector and fields) with a preview of its first \
        entries, its score and how it was found. If the page advertises its own feed, that comes \
        first, with a `feed_url` block.\n\n\
        Sources, in this order: schema.org JSON-LD, microdata, h-entry microformats, embedded \
        JSON state (__NEXT_DATA__, window.__NUXT__, ...), then repeated elements of one shape \
        with links of headline length (navigation, footers, tag clouds and \"related\" boxes \
        rank low).\n\n\
        A feed may also leave out [feeds.NAME.items]: `build` then picks the best candidate \
        at every build and says which it used.\n\n\
        Exit status: 0 something found; 1 the page cannot be fetched or has no list; 2 usage.",
        after_help = "Examples:\n  pagefeed suggest https://example.org/blog/\n  \
        pagefeed suggest saved.html --site-url https://example.org/blog/ --json"
    )]
    Suggest {
        /// The page: an http(s) URL or a local HTML file.
        #[arg(value_name = "URL-or-FILE")]
        target: String,
        /// The address relative links on the page resolve against (needed for saved files).
        #[arg(long, value_name = "URL")]
        site_url: Option<String>,
        /// Print one JSON object {"feed_links": [...], "candidates": [...]} instead of text.
        #[arg(long)]
        json: bool,
        /// Show at most this many candidates.
        #[arg(long, value_name = "N", default_value_t = 5)]
        limit: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A service logs what it does; one-shot commands print their own result lines.
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        _ => "error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // Blocking work (SQLite, rendering, compression) is serialised on the history anyway; a
    // few blocking threads suffice, and fewer threads keep fewer malloc arenas (memory).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Build { config, out, feeds } => runtime.block_on(run_build(config, out, feeds)),
        Command::Preview { config, feed } => runtime.block_on(run_preview(config, feed)),
        Command::Opml { config } => run_opml(&config),
        Command::Serve { config, listen } => runtime.block_on(run_serve(config, listen)),
        Command::ImportOpml { file, config } => run_import_opml(&file, &config),
        Command::Suggest {
            target,
            site_url,
            json,
            limit,
        } => runtime.block_on(run_suggest(target, site_url, json, limit)),
    }
}

fn load_config(path: &std::path::Path) -> Result<Config, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

async fn run_build(config_path: PathBuf, out: Option<PathBuf>, feeds: Vec<String>) -> ExitCode {
    let config = match load_config(&config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let out_dir = out.unwrap_or_else(|| config.settings.output_dir.clone());
    let selected = if feeds.is_empty() {
        config.feeds.len()
    } else {
        feeds.len()
    };
    let progress = Progress::new(selected);
    let opts = BuildOptions {
        out_dir,
        only: feeds,
        on_feed: Some(Box::new(move |r: &FeedReport| progress.feed_done(r))),
    };
    match build::build(&config, &opts).await {
        Ok(reports) => {
            if reports.is_empty() {
                eprintln!(
                    "no feeds in {}: add a [feeds.NAME] table (see config/pagefeed.toml for an example)",
                    config.path.display()
                );
            }
            if reports
                .iter()
                .any(|r| matches!(r.status, Status::Failed(_)))
            {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e @ build::BuildError::UnknownFeed { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run_preview(config_path: PathBuf, name: String) -> ExitCode {
    let config = match load_config(&config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(feed) = config.feed(&name) else {
        let known: Vec<_> = config.feeds.iter().map(|f| f.name.as_str()).collect();
        eprintln!(
            "error: unknown feed `{name}`; {} defines: {}",
            config.path.display(),
            known.join(", ")
        );
        return ExitCode::from(2);
    };
    let (Some(source), Some(rules)) = (feed.source(), feed.items()) else {
        eprintln!(
            "error: feed {name} is not a scraped page (it has no [feeds.{name}.items] selectors); preview shows what selectors extract"
        );
        return ExitCode::from(2);
    };
    let fetcher = match Fetcher::new(&config.settings) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let now = chrono::Utc::now();
    let page = match fetcher.fetch(source).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: feed {name}: cannot fetch {source}: {e}");
            return ExitCode::from(1);
        }
    };
    match pagefeed::scrape::scrape(feed, rules, &page, now) {
        Ok(scraped) => {
            print!("{}", pagefeed::preview::format(feed, rules, &scraped));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: feed {name}: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run_serve(config_path: PathBuf, listen: Option<String>) -> ExitCode {
    let config = match load_config(&config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    raise_open_file_limit();
    match pagefeed::serve::run(config, listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Raise the soft limit on open files to the hard limit: every client connection of `serve`
/// is a file descriptor, and the usual soft limit (1024) is soon reached. `serve` keeps its
/// connections below whatever limit results.
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        use rlimit::Resource;
        let before = match Resource::NOFILE.get() {
            Ok(limits) => limits,
            Err(e) => {
                tracing::warn!("cannot read the open-file limit: {e}");
                return;
            }
        };
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(soft) => tracing::info!(
                soft_before = before.0,
                soft,
                hard = before.1,
                "open-file limit"
            ),
            Err(e) => tracing::warn!(
                soft = before.0,
                hard = before.1,
                "cannot raise the open-file limit to the hard limit: {e}; serving with the soft limit"
            ),
        }
    }
}

fn run_opml(config_path: &std::path::Path) -> ExitCode {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match opml::feeds_from_config(&config) {
        Ok(feeds) => {
            print!("{}", opml::export("pagefeed feeds", &feeds));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_import_opml(file: &std::path::Path, config_path: &std::path::Path) -> ExitCode {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let parsed = match opml::read_opml(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for note in &parsed.notes {
        eprintln!("note: {note}");
    }
    let names: Vec<String> = config.feeds.iter().map(|f| f.name.clone()).collect();
    let urls: Vec<String> = config
        .feeds
        .iter()
        .filter(|f| matches!(f.kind, config::FeedKind::Upstream { .. }))
        .filter_map(|f| f.source().map(|s| s.to_string()))
        .collect();
    let (tables, added, skipped) = opml::to_config_tables(&parsed.subscriptions, &names, &urls);
    let source_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    if let Err(e) = opml::append_to_config(config_path, &tables, &source_name) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    eprintln!(
        "added {} feeds to {} ({} skipped as already present){}",
        added.len(),
        config_path.display(),
        skipped,
        if added.is_empty() {
            String::new()
        } else {
            format!(": {}", added.join(", "))
        }
    );
    ExitCode::SUCCESS
}

/// Per-feed lines on stderr, and a progress bar under them when stderr is a terminal and
/// the run has several feeds.
struct Progress {
    total: usize,
    bar: bool,
    done: Mutex<usize>,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            total,
            bar: total > 1 && std::io::stderr().is_terminal(),
            done: Mutex::new(0),
        }
    }

    fn feed_done(&self, r: &FeedReport) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        *done += 1;
        let mut err = std::io::stderr().lock();
        if self.bar {
            let _ = write!(err, "\r\x1b[2K");
        }
        for w in &r.warnings {
            let _ = writeln!(err, "warning: {w}");
        }
        let _ = writeln!(err, "{}", r.line());
        if self.bar && *done < self.total {
            let width = 30;
            let filled = width * *done / self.total.max(1);
            let _ = write!(
                err,
                "[{}{}] {}/{} feeds",
                "=".repeat(filled),
                " ".repeat(width - filled),
                *done,
                self.total
            );
        }
        let _ = err.flush();
    }
}

async fn run_suggest(
    target: String,
    site_url: Option<String>,
    json: bool,
    limit: usize,
) -> ExitCode {
    use pagefeed::suggest::{self, SuggestError};
    let opts = suggest::Options {
        target,
        site_url,
        limit,
    };
    match suggest::suggest(&opts, chrono::Utc::now()).await {
        Ok(found) => {
            if json {
                println!("{}", suggest::to_json(&found));
            } else {
                print!("{}", suggest::to_text(&found));
            }
            if found.suggestions.is_empty() && found.feed_links.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e @ SuggestError::Usage(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
