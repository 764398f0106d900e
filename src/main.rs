//! The `pagefeed` command line: parses arguments, loads the config, runs a command and maps
//! the outcome to an exit status (0 all good, 1 a feed failed, 2 usage or config error).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Parser, Subcommand};

use pagefeed::build::{self, BuildOptions, FeedReport, Status};
use pagefeed::check;
use pagefeed::config::{self, Config};
use pagefeed::config_messages;
use pagefeed::opml;
use pagefeed::preview_detail;
use pagefeed::source::fetch::Fetcher;

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
        cannot be fetched, its item selector matches nothing, or a selector-health rule \
        fails: see \"Selector health\" in the README) keeps its last good files; \
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
        (Prometheus), POST /feeds/NAME/refresh (with `Authorization: Bearer <admin_token>`), \
        /new (the feed builder, with admin_token).\n\n\
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
    /// Check the config, and with --live whether each feed would build (exit 0 all good, 1 a feed would fail, 2 config error).
    #[command(long_about = "Check the config without building anything.\n\n\
        Without --live nothing is fetched: every selector must parse, every regex compile, \
        every time zone and merge name resolve, and every file source exist; all the problems \
        found are reported, not only the first. With --live each feed's page or feed is \
        fetched as `build` fetches it, and its entry count and each field's coverage are \
        shown, with the feeds that would fail. Nothing is written, not even the history.\n\n\
        Exit status: 0 all good; 1 a feed would fail; 2 a usage or config error.")]
    Check {
        /// The config file.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Fetch each source and report entries, field coverage and the feeds that would fail.
        #[arg(long)]
        live: bool,
        /// Only these feeds (names from the config); default: all.
        #[arg(value_name = "FEED")]
        feeds: Vec<String>,
    },
    /// Drop feeds' history (items, field coverage, validators) on purpose.
    #[command(
        long_about = "Drop the history of the FEEDs named: their items, each field's \
        coverage, the page validators and the refresh record. Their files are left as they \
        are; the next build starts each feed anew from what its page shows then (every entry \
        is new again). Waits for a running build or service to finish (the run lock).\n\n\
        Exit status: 0 forgotten; 1 the history could not be changed; 2 a usage or config \
        error, or a FEED the config does not define."
    )]
    Forget {
        /// The config file.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The feeds to forget (names from the config).
        #[arg(value_name = "FEED", required = true)]
        feeds: Vec<String>,
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
        /// The feed to preview; without it, the config's feeds are listed.
        #[arg(value_name = "FEED")]
        feed: Option<String>,
        /// Show entry N (from 1) whole: every field, and the HTML element each field matched.
        #[arg(long, value_name = "N")]
        entry: Option<usize>,
        /// Print every entry as JSON: fields, matched elements and per-field coverage.
        #[arg(long, conflicts_with = "entry")]
        json: bool,
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
    // `build` runs on this thread alone: its fetches are concurrent on one thread (async
    // I/O), and everything after them goes one feed at a time on this thread anyway. Worker
    // threads only moved each fetch to another thread and back (their start, hand-overs and
    // another malloc arena cost about 2 ms of CPU on a one-page build).
    let runtime = if matches!(cli.command, Command::Build { .. }) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .max_blocking_threads(4)
    .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Build { config, out, feeds } => runtime.block_on(run_build(config, out, feeds)),
        Command::Preview {
            config,
            feed,
            entry,
            json,
        } => runtime.block_on(run_preview(config, feed, entry, json)),
        Command::Check {
            config,
            live,
            feeds,
        } => runtime.block_on(run_check(config, live, feeds)),
        Command::Forget { config, feeds } => run_forget(&config, &feeds),
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
    if config.feeds.is_empty() {
        eprintln!("error: {}", config_messages::no_feeds(&config.path));
        return ExitCode::from(2);
    }
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

fn run_forget(config_path: &std::path::Path, feeds: &[String]) -> ExitCode {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match pagefeed::forget::forget(&config, feeds) {
        Ok(done) => {
            for f in done {
                println!(
                    "{}: forgot {} item{}; its files stay until the next build starts it anew",
                    f.name,
                    f.items,
                    if f.items == 1 { "" } else { "s" }
                );
            }
            ExitCode::SUCCESS
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

async fn run_preview(
    config_path: PathBuf,
    name: Option<String>,
    entry: Option<usize>,
    json: bool,
) -> ExitCode {
    let config = match load_config(&config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.feeds.is_empty() {
        eprintln!("error: {}", config_messages::no_feeds(&config.path));
        return ExitCode::from(2);
    }
    let Some(name) = name else {
        if json {
            println!("{:#}", preview_detail::list_json(&config));
        } else {
            print!("{}", preview_detail::list(&config));
        }
        return ExitCode::SUCCESS;
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
    let (Some(source), true) = (
        feed.source(),
        matches!(feed.kind, config::FeedKind::Scrape { .. }),
    ) else {
        eprintln!(
            "error: feed {name} is not a listing page (it reads `feed_url` or merges feeds); preview shows what is extracted from a page"
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
    let chromium = pagefeed::source::browser::Chromium::new(&config.settings);
    let loaded = pagefeed::source::browser::load_listing(
        &fetcher,
        &chromium,
        feed,
        source,
        None,
        pagefeed::refresh::ACCEPT_PAGE,
    )
    .await;
    chromium.close().await;
    let page = match loaded {
        Ok(pagefeed::source::fetch::Fetched::Page(p)) => p,
        Ok(pagefeed::source::fetch::Fetched::NotModified) => {
            eprintln!("error: feed {name}: {source} answered 304 Not Modified to a plain request");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: feed {name}: cannot fetch {source}: {e}");
            return ExitCode::from(1);
        }
    };
    // A feed without [items]: preview what automatic extraction picks, through the same
    // selectors a build would use.
    let auto_rules;
    let rules = match feed.items() {
        Some(rules) => rules,
        None => match auto_preview_rules(feed, &page, now) {
            Ok(rules) => {
                auto_rules = rules;
                &auto_rules
            }
            Err(code) => return code,
        },
    };
    match pagefeed::extract::scrape::scrape(feed, rules, &page, now) {
        Ok(scraped) if entry.is_none() && !json => {
            print!("{}", pagefeed::preview::format(feed, rules, &scraped));
            ExitCode::SUCCESS
        }
        Ok(scraped) => {
            let details = preview_detail::details(rules, &page, &scraped);
            if json {
                println!(
                    "{:#}",
                    preview_detail::json(feed, rules, &scraped, &details)
                );
                return ExitCode::SUCCESS;
            }
            match preview_detail::entry(feed, rules, &scraped, &details, entry.unwrap_or(1)) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Err(e) => {
            eprintln!("error: feed {name}: {e}");
            ExitCode::from(1)
        }
    }
}

/// The selectors automatic extraction picks on `page` for a feed without [items], said on
/// stderr; a list read from JSON in the page is printed whole here (it has no selectors).
fn auto_preview_rules(
    feed: &config::FeedConfig,
    page: &pagefeed::source::fetch::Page,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<config::ItemRules, ExitCode> {
    use pagefeed::extract::auto;
    let (html, _) = pagefeed::source::decode::decode(&page.bytes, page.content_type.as_deref());
    let analysis = auto::analyze(&html, &page.url, feed.site_url.as_ref(), now);
    let Some(best) = analysis.candidates.first() else {
        eprintln!(
            "error: feed {}: no list of entries was found automatically on {}; run `pagefeed suggest {}` and paste a candidate as [feeds.{}.items]",
            feed.name, page.url, page.url, feed.name
        );
        return Err(ExitCode::from(1));
    };
    eprintln!(
        "feed {} has no [items] table; its entries are found automatically by {}",
        feed.name,
        best.describe()
    );
    if let auto::Extractor::Entries(_) = best.extractor {
        return match auto::scrape(feed, page, now) {
            Ok((scraped, _)) => {
                for (n, item) in scraped.items.iter().enumerate() {
                    println!(
                        "{:>3}. {}\n     {}\n     {}",
                        n.saturating_add(1),
                        item.title().unwrap_or("(no title)"),
                        item.link().unwrap_or("(no link)"),
                        item.published
                            .map_or("(no date)".to_string(), |d| d.to_rfc3339())
                    );
                }
                Err(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: feed {}: {e}", feed.name);
                Err(ExitCode::from(1))
            }
        };
    }
    auto::compile(&best.selector, &best.fields).map_err(|e| {
        eprintln!("error: feed {}: {e}", feed.name);
        ExitCode::from(1)
    })
}

async fn run_check(config_path: PathBuf, live: bool, feeds: Vec<String>) -> ExitCode {
    let config = match config::load_all(&config_path) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            if errors.len() > 1 {
                eprintln!("{} problems in the config", errors.len());
            }
            return ExitCode::from(2);
        }
    };
    if config.feeds.is_empty() {
        eprintln!("error: {}", config_messages::no_feeds(&config.path));
        return ExitCode::from(2);
    }
    let selected = match check::select(&config, &feeds) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let fetcher = if live {
        match Fetcher::new(&config.settings) {
            Ok(f) => Some(std::sync::Arc::new(f)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let (results, notes) = check::run(&config, &selected, fetcher).await;
    for n in &notes {
        eprintln!("note: {n}");
    }
    for r in &results {
        print!("{}", r.lines());
    }
    let failed = results.iter().filter(|r| !r.ok()).count();
    println!(
        "{} feeds checked{}: {} ok, {failed} would fail",
        results.len(),
        if live {
            " live"
        } else {
            " (not fetched; add --live to fetch them)"
        },
        results.len() - failed
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_serve(config_path: PathBuf, listen: Option<String>) -> ExitCode {
    let config = match load_config(&config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.feeds.is_empty() {
        eprintln!("error: {}", config_messages::no_feeds(&config.path));
        return ExitCode::from(2);
    }
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
