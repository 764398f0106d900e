//! Merging: 100 sources of 100 stored items each into a merged feed of 500 (issue: under
//! 50 ms with the history already stored). Measured in the same run: reading the sources'
//! items from SQLite alone (`history_read`), so the figure can be read as a ratio too.
//!
//!     cargo bench --bench merge

use std::hint::black_box;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

use pagefeed::config;
use pagefeed::feed::history::History;
use pagefeed::feed::item::{ItemParts, NewItem};
use pagefeed::feed::merge;
use pagefeed::refresh;

const SOURCES: usize = 100;
const ITEMS: usize = 100;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().expect("valid instant")
}

fn config_text() -> String {
    let mut t = String::from("[settings]\nbase_url = \"https://feeds.example.org/\"\n\n");
    for s in 0..SOURCES {
        t.push_str(&format!(
            "[feeds.s{s:03}]\nfeed_url = \"https://source{s}.example.org/feed.xml\"\ntitle = \"Source {s}\"\nmax_items = {ITEMS}\n\n"
        ));
    }
    let names: Vec<String> = (0..SOURCES).map(|s| format!("\"s{s:03}\"")).collect();
    t.push_str(&format!(
        "[feeds.all]\ntitle = \"Everything\"\nmerge = [{}]\nmax_items = 500\nexclude = [\"(?i)sponsored\"]\ntitle_prefix = \"[{{source}}] \"\n",
        names.join(", ")
    ));
    t
}

fn item(s: usize, i: usize) -> NewItem {
    // Every tenth item of a source is also published by the next source under a tracking
    // URL, so deduplication has work to do.
    let link = if i.is_multiple_of(10) {
        format!(
            "https://news.example.org/shared/{}/{i}?utm_source=s{s}",
            s / 2
        )
    } else {
        format!("https://source{s}.example.org/posts/{i}")
    };
    NewItem::new(&ItemParts {
        guid: format!("https://source{s}.example.org/posts/{i}"),
        permalink: true,
        title: Some(format!(
            "Story {i} of source {s}: a headline of ordinary length"
        )),
        link: Some(link),
        summary: Some(format!(
            "<p>Summary of story {i} from source {s}, with <a href=\"https://source{s}.example.org/\">a link</a>.</p>"
        )),
        summary_html: true,
        authors: vec![format!("Author {}", i % 5)],
        categories: vec!["News".to_string(), format!("Topic {}", i % 7)],
        image: None,
        published: Some(at(1_600_000_000 + (i * 3_600 + s * 37) as i64)),
        published_relative: false,
        legacy_guid: None,
    })
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config::parse(&dir.path().join("bench.toml"), &config_text()).expect("config");
    let mut history = History::open(&dir.path().join("state.db")).expect("history");
    let now = at(1_700_000_000);
    for s in 0..SOURCES {
        let items: Vec<NewItem> = (0..ITEMS).map(|i| item(s, i)).collect();
        history
            .merge(
                &format!("s{s:03}"),
                &items,
                now,
                &pagefeed::feed::history::MergePolicy {
                    keep: ITEMS * 10,
                    time_zone: chrono_tz::Tz::UTC,
                    future_dates: false,
                },
            )
            .expect("store");
    }
    let merged = cfg.feed("all").expect("merged feed");
    let rendered = refresh::render_feed(&cfg, &history, merged, now).expect("render");
    assert_eq!(rendered.items, 500);
    eprintln!(
        "merged feed: {} items; RSS {} bytes",
        rendered.items,
        rendered.files.first().map_or(0, |(_, b)| b.len())
    );

    let mut g = c.benchmark_group("merge_100x100_into_500");
    g.sample_size(30);
    g.bench_function("history_read", |b| {
        b.iter(|| {
            let mut n = 0;
            for s in 0..SOURCES {
                n += history
                    .latest(&format!("s{s:03}"), ITEMS)
                    .expect("read")
                    .len();
            }
            black_box(n)
        })
    });
    let sources: Vec<(String, Vec<pagefeed::feed::item::Item>)> = (0..SOURCES)
        .map(|s| {
            let name = format!("s{s:03}");
            let items = history.latest(&name, ITEMS).expect("read");
            (name, items)
        })
        .collect();
    g.bench_function("dedupe_only", |b| {
        b.iter(|| {
            let parts = sources
                .iter()
                .map(|(name, items)| merge::SourceItems {
                    source: pagefeed::feed::item::ItemSource {
                        name: name.clone(),
                        title: name.clone(),
                        link: "https://example.org/".into(),
                        atom_id: "https://example.org/".into(),
                        feed_url: None,
                    },
                    items: items.clone(),
                })
                .collect();
            black_box(merge::merge(parts, false))
        })
    });
    g.bench_function("merge_and_render", |b| {
        b.iter(|| black_box(refresh::render_feed(&cfg, &history, merged, now).expect("render")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
