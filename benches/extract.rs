//! Extract + render against a bare scraper baseline, on generated listing pages.
//!
//! For pages of 20, 1,000 and 20,000 entries (about 110 KB, 1 MB and 20 MB) one criterion
//! group per size measures:
//! - `baseline`: `scraper::Html::parse_document`, then the item selector and, per item, the
//!   same fields the config names, copied into `String`s; nothing else;
//! - `pagefeed`: `scrape::scrape` (decode, extract, resolve links, parse dates, GUIDs) and
//!   `render::render` of the newest 50 items in RSS, Atom and JSON Feed.
//!
//! With `PAGEFEED_BENCH_DETAIL=1` each group also measures `parse_only`, `scrape_only` and
//! `render_only`, to see where pagefeed's time goes.
//!
//! `bench/ratio.sh` prints pagefeed/baseline per size from criterion's results;
//! `bench/cpu-ratio.sh` measures the same two sides by CPU time (loop mode below), which holds
//! up better on a busy machine.
//!
//! Upstream mode: with `PAGEFEED_BENCH_UPSTREAM=<entries>:<iterations>` the binary parses a
//! generated RSS 2.0 feed (unescaped HTML descriptions, bare `&`, Media RSS thumbnails, GUIDs
//! with `isPermaLink`) and an Atom 0.3 feed of that many entries with `upstream::parse_upstream`,
//! that many times, and exits; run it under `valgrind --tool=callgrind` for instruction counts.
//!
//! Generator mode (used by `bench/build-1mb.sh`): with `PAGEFEED_BENCH_GEN=<entries>` and
//! `PAGEFEED_BENCH_OUT=<dir>` the binary writes `<dir>/page.html` and `<dir>/c.toml` and exits
//! without benchmarking.

mod common;

use std::cmp::Reverse;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, SamplingMode};
use scraper::{Html, Selector};
use url::Url;

use pagefeed::config::{Config, FeedConfig, Format};
use pagefeed::extract::scrape;
use pagefeed::feed::item::{FeedMeta, Item, NewItem};
use pagefeed::feed::render;
use pagefeed::refresh;
use pagefeed::source::fetch::Page;

const SIZES: [usize; 3] = [20, 1_000, 20_000];
const FORMATS: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 10, 24, 9, 0, 0)
        .single()
        .expect("fixed instant")
}

fn config() -> Config {
    let text = common::config_toml("page.html");
    pagefeed::config::parse(Path::new("bench/c.toml"), &text).expect("bench config")
}

fn page(html: &str) -> Page {
    Page {
        bytes: html.as_bytes().to_vec(),
        content_type: None,
        url: Url::parse("file:///bench/page.html").expect("page url"),
        validators: Default::default(),
    }
}

/// The selectors of the config, compiled once, for the baseline.
struct Baseline {
    item: Selector,
    title: Selector,
    link: Selector,
    summary: Selector,
    authors: Selector,
    date: Selector,
    image: Selector,
    categories: Selector,
}

impl Baseline {
    fn new() -> Self {
        let s = common::SELECTORS.map(|s| Selector::parse(s).expect("selector"));
        let [item, title, link, summary, authors, date, image, categories] = s;
        Baseline {
            item,
            title,
            link,
            summary,
            authors,
            date,
            image,
            categories,
        }
    }
}

/// One entry as the baseline copies it out.
#[allow(dead_code)] // the fields are only read through black_box
struct Row {
    title: Option<String>,
    link: Option<String>,
    summary: Option<String>,
    authors: Vec<String>,
    date: Option<String>,
    image: Option<String>,
    categories: Vec<String>,
}

fn baseline(html: &str, b: &Baseline) -> Vec<Row> {
    let doc = Html::parse_document(html);
    let text = |e: scraper::ElementRef| e.text().collect::<String>();
    doc.select(&b.item)
        .map(|el| Row {
            title: el.select(&b.title).next().map(text),
            link: el
                .select(&b.link)
                .next()
                .and_then(|a| a.attr("href"))
                .map(str::to_string),
            summary: el.select(&b.summary).next().map(text),
            authors: el.select(&b.authors).map(text).collect(),
            date: el.select(&b.date).next().map(text),
            image: el
                .select(&b.image)
                .next()
                .and_then(|i| i.attr("src"))
                .map(str::to_string),
            categories: el.select(&b.categories).map(text).collect(),
        })
        .collect()
}

fn to_item(n: &NewItem, seen: DateTime<Utc>) -> Item {
    Item {
        guid: n.guid().to_string(),
        permalink: n.permalink,
        title: n.title().map(str::to_string),
        link: n.link().map(str::to_string),
        summary: n.summary().map(str::to_string),
        summary_html: n.summary_html,
        content: None,
        authors: n.authors().to_vec(),
        categories: n.categories().to_vec(),
        image: n.image().map(str::to_string),
        published: n.published,
        updated: seen,
        first_seen: seen,
        source: None,
    }
}

/// The newest `max_items` items, as the history would give them (date descending, then page
/// order), with first-seen and updated at `seen`.
fn newest(items: &[NewItem], max_items: usize, seen: DateTime<Utc>) -> Vec<Item> {
    let mut order: Vec<&NewItem> = items.iter().collect();
    order.sort_by_key(|n| Reverse(n.published.unwrap_or(seen)));
    order
        .into_iter()
        .take(max_items)
        .map(|n| to_item(n, seen))
        .collect()
}

/// The item selectors of the (scraped) benchmark feed.
fn rules(feed: &FeedConfig) -> &pagefeed::config::ItemRules {
    feed.items().expect("the benchmark feed is a scraped page")
}

fn render_all(meta: &FeedMeta, items: &[Item]) -> usize {
    FORMATS
        .iter()
        .map(|&f| render::render(f, meta, items).expect("render").len())
        .sum()
}

fn pagefeed_run(cfg: &Config, feed: &FeedConfig, page: &Page, now: DateTime<Utc>) -> usize {
    let scraped = scrape::scrape(feed, rules(feed), page, now).expect("scrape");
    let meta = refresh::feed_meta(feed, &scraped, cfg.settings.base_url.as_ref());
    let items = newest(&scraped.items, feed.max_items, now);
    render_all(&meta, &items)
}

/// Check that both sides see the same entries, and say what the pages look like.
fn describe(entries: usize, html: &str, cfg: &Config, b: &Baseline) {
    let feed = &cfg.feeds[0];
    let rows = baseline(html, b);
    let scraped = scrape::scrape(feed, rules(feed), &page(html), fixed_now()).expect("scrape");
    let dated = scraped
        .items
        .iter()
        .filter(|i| i.published.is_some())
        .count();
    let feed_bytes = pagefeed_run(cfg, feed, &page(html), fixed_now());
    eprintln!(
        "page with {entries} entries: {} bytes ({:.1} KB, {:.2} MB); baseline rows {}, pagefeed items {} ({} with a parsed date), feeds {} bytes",
        html.len(),
        html.len() as f64 / 1024.0,
        html.len() as f64 / (1024.0 * 1024.0),
        rows.len(),
        scraped.items.len(),
        dated,
        feed_bytes
    );
    if dated < scraped.items.len() {
        eprintln!(
            "  warning: {} of {} dates did not parse (first warning: {})",
            scraped.items.len() - dated,
            scraped.items.len(),
            scraped.warnings.first().map(String::as_str).unwrap_or("-")
        );
    }
    assert_eq!(rows.len(), entries, "baseline entry count");
    assert_eq!(scraped.items.len(), entries, "pagefeed entry count");
}

fn benches(c: &mut Criterion) {
    let cfg = config();
    let feed = &cfg.feeds[0];
    let b = Baseline::new();
    let now = fixed_now();
    let detail = std::env::var_os("PAGEFEED_BENCH_DETAIL").is_some_and(|v| v != "0");

    for entries in SIZES {
        let html = common::listing_page(entries);
        describe(entries, &html, &cfg, &b);
        let pg = page(&html);

        let mut group = c.benchmark_group(format!("extract_{entries}"));
        if entries >= 10_000 {
            // Around a second per iteration: the fewest samples criterion allows.
            group
                .sampling_mode(SamplingMode::Flat)
                .sample_size(10)
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(10));
        } else if entries >= 1_000 {
            group
                .sample_size(20)
                .warm_up_time(Duration::from_secs(2))
                .measurement_time(Duration::from_secs(8));
        } else {
            group
                .warm_up_time(Duration::from_secs(2))
                .measurement_time(Duration::from_secs(8));
        }

        group.bench_with_input(BenchmarkId::new("baseline", entries), &html, |bch, h| {
            bch.iter(|| black_box(baseline(black_box(h), &b)))
        });
        group.bench_with_input(BenchmarkId::new("pagefeed", entries), &pg, |bch, p| {
            bch.iter(|| black_box(pagefeed_run(&cfg, feed, black_box(p), now)))
        });

        if detail {
            group.bench_with_input(BenchmarkId::new("parse_only", entries), &html, |bch, h| {
                bch.iter(|| black_box(Html::parse_document(black_box(h))))
            });
            group.bench_with_input(BenchmarkId::new("scrape_only", entries), &pg, |bch, p| {
                bch.iter(|| {
                    black_box(scrape::scrape(feed, rules(feed), black_box(p), now).expect("scrape"))
                })
            });
            let scraped = scrape::scrape(feed, rules(feed), &pg, now).expect("scrape");
            let meta = refresh::feed_meta(feed, &scraped, cfg.settings.base_url.as_ref());
            let items = newest(&scraped.items, feed.max_items, now);
            group.bench_with_input(
                BenchmarkId::new("render_only", entries),
                &items,
                |bch, it| bch.iter(|| black_box(render_all(&meta, black_box(it)))),
            );
        }
        group.finish();
    }
}

/// Generator mode: write `page.html` and `c.toml` for `bench/build-1mb.sh`.
fn generate(entries: &str) {
    let entries: usize = entries
        .parse()
        .expect("PAGEFEED_BENCH_GEN must be an entry count");
    let dir = std::env::var_os("PAGEFEED_BENCH_OUT").expect("PAGEFEED_BENCH_OUT must name a dir");
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create the output dir");
    let html = common::listing_page(entries);
    std::fs::write(dir.join("page.html"), &html).expect("write page.html");
    std::fs::write(dir.join("c.toml"), common::config_toml("page.html")).expect("write c.toml");
    eprintln!(
        "wrote {} ({} entries, {} bytes) and c.toml",
        dir.join("page.html").display(),
        entries,
        html.len()
    );
}

/// Loop mode (used by `bench/cpu-ratio.sh`): `PAGEFEED_BENCH_LOOP=<side>:<entries>:<iterations>`
/// runs one side (`baseline`, `pagefeed`, or `setup` for neither) that many times and exits,
/// so a script can read the process's CPU time, which a busy machine disturbs less than the
/// wall time criterion measures.
fn run_loop(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let [side, entries, iterations] = parts[..] else {
        panic!("PAGEFEED_BENCH_LOOP must be <side>:<entries>:<iterations>, not {spec}");
    };
    let entries: usize = entries.parse().expect("entry count");
    let iterations: usize = iterations.parse().expect("iteration count");
    let cfg = config();
    let feed = &cfg.feeds[0];
    let b = Baseline::new();
    let now = fixed_now();
    let html = common::listing_page(entries);
    let pg = page(&html);
    for _ in 0..iterations {
        match side {
            "baseline" => drop(black_box(baseline(black_box(&html), &b))),
            "pagefeed" => drop(black_box(pagefeed_run(&cfg, feed, black_box(&pg), now))),
            "setup" => {}
            other => panic!("unknown side {other}: baseline, pagefeed or setup"),
        }
    }
}

/// An RSS 2.0 feed and an Atom 0.3 feed of `entries` entries each, written the loose way many
/// generators write them, so the repair pre-pass has work to do.
fn upstream_feeds(entries: usize) -> [String; 2] {
    let mut rss = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<channel>\n<title>Bench & Co</title>\n<link>https://example.org/</link>\n<description>A feed</description>\n",
    );
    let mut atom = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\" xml:base=\"https://example.org/\">\n<title>Bench</title>\n<link rel=\"alternate\" type=\"text/html\" href=\"/\"/>\n<modified>2020-10-24T09:00:00Z</modified>\n",
    );
    for i in 0..entries {
        rss.push_str(&format!(
            "<item>\n<title>Entry {i} & more</title>\n<link>https://example.org/posts/{i}</link>\n<guid isPermaLink=\"false\">post-{i}</guid>\n<pubDate>Sat, 24 Oct 2020 09:{:02}:00 GMT</pubDate>\n<dc:creator>Writer {i}</dc:creator>\n<description><p>Paragraph <b>one</b> of entry {i}, with a <a href=\"https://example.org/x?a=1&amp;b=2\">link</a> & an ampersand.</p><p>Second paragraph<br>with a break &mdash; and more text to make it longer than a line.</p></description>\n<media:thumbnail url=\"https://example.org/img/{i}.jpg\" width=\"120\" height=\"80\"/>\n<category>news</category>\n</item>\n",
            i % 60
        ));
        atom.push_str(&format!(
            "<entry xml:base=\"/posts/\">\n<title>Entry {i}</title>\n<link rel=\"alternate\" type=\"text/html\" href=\"{i}\"/>\n<id>tag:example.org,2020:{i}</id>\n<issued>2020-10-24T09:00:00Z</issued>\n<modified>2020-10-24T09:00:00Z</modified>\n<author><name>Writer</name></author>\n<content type=\"text/html\" mode=\"escaped\">&lt;p&gt;Entry {i} with &lt;b&gt;escaped&lt;/b&gt; HTML.&lt;/p&gt;</content>\n<summary type=\"text/plain\">Summary of entry {i} & friends</summary>\n</entry>\n"
        ));
    }
    rss.push_str("</channel>\n</rss>\n");
    atom.push_str("</feed>\n");
    [rss, atom]
}

/// Upstream mode: parse the two generated feeds `iterations` times.
fn run_upstream(spec: &str) {
    let (entries, iterations) = spec
        .split_once(':')
        .expect("PAGEFEED_BENCH_UPSTREAM must be <entries>:<iterations>");
    let entries: usize = entries.parse().expect("entry count");
    let iterations: usize = iterations.parse().expect("iteration count");
    let now = fixed_now();
    let pages = upstream_feeds(entries).map(|body| Page {
        bytes: body.into_bytes(),
        content_type: Some("application/xml".to_string()),
        url: Url::parse("https://example.org/feed.xml").expect("feed url"),
        validators: Default::default(),
    });
    for _ in 0..iterations {
        for p in &pages {
            let up = pagefeed::extract::upstream::parse_upstream(black_box(p), now)
                .expect("the bench feeds parse");
            assert_eq!(up.items.len(), entries, "every entry read");
            black_box(up);
        }
    }
}

fn main() {
    if let Ok(entries) = std::env::var("PAGEFEED_BENCH_GEN") {
        generate(&entries);
        return;
    }
    if let Ok(spec) = std::env::var("PAGEFEED_BENCH_UPSTREAM") {
        run_upstream(&spec);
        return;
    }
    if let Ok(spec) = std::env::var("PAGEFEED_BENCH_LOOP") {
        run_loop(&spec);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
