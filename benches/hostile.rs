//! Hostile pages: how parse and extraction time grows with the page size.
//!
//! Each case generates a page of a given size in bytes that stresses one part of the work
//! (deep nesting of various kinds, the adoption agency, tables, unclosed elements, huge
//! attribute counts, long text, `from = "preceding"`, regex fields, nested entries, many
//! values in one entry) and times, best of a few runs:
//! - `extract`: `pagefeed::extract::select::extract` with the case's item rules (parse included);
//! - `sanitize`: `pagefeed::extract::sanitize::clean_html` on the whole page, as if it were an
//!   `html = true` summary or an upstream feed's content;
//! - `raw`: a plain `scraper::Html::parse_document`, what parsing cost without a bound
//!   (only up to `HOSTILE_RAW_MAX` bytes: without a bound a deep page takes minutes).
//!
//! The `x4` columns divide the time at one size by the time at the size before (4 times
//! smaller, by default): about 4 means linear, about 16 quadratic.
//!
//! Not a criterion bench: the point is the growth of times that differ by orders of
//! magnitude. Run it with `bash bench/hostile.sh` (which passes the settings below):
//! - `HOSTILE_SIZES`: page sizes in bytes, comma-separated (default 65536,262144,1048576);
//! - `HOSTILE_CASES`: only the cases whose name contains one of these comma-separated words;
//! - `HOSTILE_RAW_MAX`: the largest size `raw` is measured at (default 262144; 0 = never).

use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use pagefeed::config::ItemRules;
use url::Url;

/// One hostile input: its name, what it stresses, how to build it, and the rules to extract
/// it with (the `[feeds.x.items]` table).
struct Case {
    name: &'static str,
    what: &'static str,
    page: fn(usize) -> String,
    items: &'static str,
}

const HEAD: &str = "<!DOCTYPE html><html><head><title>Hostile</title></head><body>\
<article class=\"e\"><h3><a href=\"/first\">First entry</a></h3><time datetime=\"2020-10-15\">Oct 15</time></article>\n";

/// `HEAD`, then `unit(n)` for n = 0, 1, ... until the page has `bytes` bytes, then `tail`.
fn fill(bytes: usize, unit: impl Fn(usize, &mut String), tail: &str) -> String {
    let mut s = String::with_capacity(bytes + 64);
    s.push_str(HEAD);
    let mut n = 0;
    while s.len() + tail.len() < bytes {
        unit(n, &mut s);
        n += 1;
    }
    s.push_str(tail);
    s
}

/// Half the budget opens `open`, the other half closes it with `close` (as many as opened).
fn open_close(bytes: usize, open: &str, close: &str) -> String {
    let mut s = String::from(HEAD);
    let n = bytes.saturating_sub(s.len()) / (open.len() + close.len());
    for _ in 0..n {
        s.push_str(open);
    }
    s.push_str("deep text");
    for _ in 0..n {
        s.push_str(close);
    }
    s
}

const ITEMS: &str = "selector = \".e\"\ntitle = \"h3\"\ndate = \"time\"";

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "div-nested",
            what: "unclosed <div> (each start tag checks for a <p> in button scope)",
            page: |b| fill(b, |_, s| s.push_str("<div>"), ""),
            items: ITEMS,
        },
        Case {
            name: "div-nested-closed",
            what: "<div> nested, then as many </div>",
            page: |b| open_close(b, "<div>", "</div>"),
            items: ITEMS,
        },
        Case {
            name: "span-nested",
            what: "unclosed <span> (no scope check on start tags)",
            page: |b| fill(b, |_, s| s.push_str("<span>"), ""),
            items: ITEMS,
        },
        Case {
            name: "custom-nested",
            what: "unclosed custom elements <x-y>",
            page: |b| fill(b, |_, s| s.push_str("<x-y>"), ""),
            items: ITEMS,
        },
        Case {
            name: "b-nested",
            what: "unclosed <b>, all alike (Noah's Ark keeps 3 in the formatting list)",
            page: |b| fill(b, |_, s| s.push_str("<b>"), ""),
            items: ITEMS,
        },
        Case {
            name: "b-distinct",
            what: "unclosed <b id=N>, all different (the formatting list grows)",
            page: |b| fill(b, |n, s| _ = write!(s, "<b id={n}>"), "x"),
            items: ITEMS,
        },
        Case {
            name: "b-reconstruct",
            what: "<p><b id=N></p>x: every text reopens the formatting elements",
            page: |b| fill(b, |n, s| _ = write!(s, "<p><b id={n}></p>x"), ""),
            items: ITEMS,
        },
        Case {
            name: "a-unclosed",
            what: "unclosed <a href>: each runs the adoption agency on the one before",
            page: |b| fill(b, |n, s| _ = write!(s, "<a href=\"#{n}\">x"), ""),
            items: ITEMS,
        },
        Case {
            name: "b-div-misnested",
            what: "<b><div>x repeated, then </b> repeated (adoption agency with a furthest block)",
            page: |b| open_close(b, "<b><div>x", "</b>"),
            items: ITEMS,
        },
        Case {
            name: "b-rounds",
            what: "400 open <b id=N>, then <b id=x></b> repeated (Noah's Ark compares each with all)",
            page: |b| {
                let mut s = String::from(HEAD);
                for n in 0..400 {
                    _ = write!(s, "<b id={n}>");
                }
                while s.len() < b {
                    s.push_str("<b id=x></b>");
                }
                s
            },
            items: ITEMS,
        },
        Case {
            name: "b-reopen",
            what: "400 <b id=N> in a <div>, then <div>x</div> repeated: each x reopens all 400",
            page: |b| {
                let mut s = String::from(HEAD);
                s.push_str("<div>");
                for n in 0..400 {
                    _ = write!(s, "<b id={n}>");
                }
                s.push_str("</div>");
                while s.len() < b {
                    s.push_str("<div>x</div>");
                }
                s
            },
            items: ITEMS,
        },
        Case {
            name: "table-foster",
            what: "one <table>, then <i>x</i> repeated (each put before the table)",
            page: |b| {
                let mut s = fill(b, |_, s| s.push_str("<i>x</i>"), "</table>");
                s.insert_str(HEAD.len(), "<table>");
                s
            },
            items: ITEMS,
        },
        Case {
            name: "table-nested",
            what: "<table><tr><td> nested",
            page: |b| fill(b, |_, s| s.push_str("<table><tr><td>"), ""),
            items: ITEMS,
        },
        Case {
            name: "p-unclosed",
            what: "<p>x repeated, never closed",
            page: |b| fill(b, |_, s| s.push_str("<p>x"), ""),
            items: ITEMS,
        },
        Case {
            name: "li-unclosed",
            what: "<li>x repeated in one <ul>, never closed",
            page: |b| fill(b, |_, s| s.push_str("<li>x"), ""),
            items: ITEMS,
        },
        Case {
            name: "ul-li-nested",
            what: "<ul><li> nested",
            page: |b| fill(b, |_, s| s.push_str("<ul><li>"), ""),
            items: ITEMS,
        },
        Case {
            name: "svg-nested",
            what: "<svg> then <g> nested (foreign content)",
            page: |b| {
                let mut s = fill(b.saturating_sub(5), |_, s| s.push_str("<g>"), "");
                s.insert_str(HEAD.len(), "<svg>");
                s
            },
            items: ITEMS,
        },
        Case {
            name: "attrs-many",
            what: "one <div> with as many different attributes as fit",
            page: |b| {
                let mut s = fill(b, |n, s| _ = write!(s, " a{n}"), ">x");
                s.insert_str(HEAD.len(), "<div");
                s
            },
            items: ITEMS,
        },
        Case {
            name: "attrs-same",
            what: "one <div> with the same attribute repeated",
            page: |b| {
                let mut s = fill(b, |_, s| s.push_str(" a=1"), ">x");
                s.insert_str(HEAD.len(), "<div");
                s
            },
            items: ITEMS,
        },
        Case {
            name: "text-long",
            what: "one <p> of words and entities",
            page: |b| fill(b, |_, s| s.push_str("word &amp; more&nbsp;  "), "</p>"),
            items: ITEMS,
        },
        Case {
            name: "entries-flat",
            what: "many small entries, fields from the entry (the ordinary case)",
            page: |b| {
                fill(
                    b,
                    |n, s| {
                        _ = writeln!(
                            s,
                            "<div class=\"e\"><h3><a href=\"/{n}\">Entry {n}</a></h3><time>2020-10-{:02}</time><p>text</p></div>",
                            n % 28 + 1
                        )
                    },
                    "",
                )
            },
            items: "selector = \".e\"\ntitle = \"h3\"\ndate = \"time\"\nsummary = \"p\"",
        },
        Case {
            name: "entries-nested",
            what: "entries nested in entries, a field that matches nowhere (subtree scans)",
            page: |b| {
                fill(
                    b,
                    |n, s| _ = write!(s, "<div class=\"e\"><h3><a href=\"/{n}\">E{n}</a></h3>"),
                    "",
                )
            },
            items: "selector = \".e\"\ntitle = \"h3\"\ndate = \"time\"\nimage = \"img\"\nauthors = \".by\"",
        },
        Case {
            name: "preceding",
            what: "many entries, each dated by the nearest preceding <h2> (from = \"preceding\")",
            page: |b| {
                fill(
                    b,
                    |n, s| {
                        if n % 3 == 0 {
                            _ = write!(s, "<h2>2020-10-{:02}</h2>", n / 3 % 28 + 1);
                        }
                        _ = write!(s, "<div class=\"e\"><a href=\"/{n}\">E{n}</a></div>");
                    },
                    "",
                )
            },
            items: "selector = \".e\"\ntitle = \"a\"\ndate = { selector = \"h2\", from = \"preceding\" }",
        },
        Case {
            name: "preceding-nested",
            what: "entries inside nested <section>s, dated by the nearest preceding <section>",
            page: |b| {
                fill(
                    b,
                    |n, s| {
                        _ = write!(
                            s,
                            "<section><div class=\"e\"><a href=\"/{n}\">E{n}</a></div>"
                        )
                    },
                    "",
                )
            },
            items: "selector = \".e\"\ntitle = \"a\"\ndate = { selector = \"section\", from = \"preceding\" }",
        },
        Case {
            name: "regex-long",
            what: "one entry with a long text, a regex field and a strip pattern",
            page: |b| {
                let mut s = fill(b, |_, s| s.push_str("padding words here "), "</p></div>");
                s.insert_str(
                    HEAD.len(),
                    "<div class=\"e\"><h3><a href=\"/r\">R</a></h3><p class=\"m\">by ann ",
                );
                s
            },
            items: "selector = \".e\"\ntitle = \"h3\"\nauthors = { selector = \".m\", strip = \"^by \", regex = \"(\\\\w+) (\\\\d+) points\" }\nsummary = \".m\"",
        },
        Case {
            name: "categories-many",
            what: "one entry with a great many different categories",
            page: |b| {
                let mut s = fill(b, |n, s| _ = write!(s, "<a rel=tag>c{n}</a>"), "</div>");
                s.insert_str(HEAD.len(), "<div class=\"e\"><h3>Many</h3>");
                s
            },
            items: "selector = \".e\"\ntitle = \"h3\"\ncategories = \"a[rel=tag]\"\nauthors = \"a\"",
        },
        Case {
            name: "descendant-deep",
            what: "deep <div>s holding many leaves; item selector with a descendant combinator",
            page: |b| {
                let mut s = String::from(HEAD);
                for _ in 0..2000 {
                    s.push_str("<div>");
                }
                let mut n = 0usize;
                while s.len() < b {
                    _ = write!(s, "<i class=\"e\">{n}</i>");
                    n += 1;
                }
                s
            },
            items: "selector = \"main .e, article.e\"\ntitle = \"h3\"\nlink = \"a\"",
        },
    ]
}

fn rules(items: &str) -> ItemRules {
    let text = format!("[feeds.x]\nurl = \"x.html\"\n[feeds.x.items]\n{items}\n");
    let cfg = pagefeed::config::parse(Path::new("hostile.toml"), &text)
        .unwrap_or_else(|e| panic!("rules of a hostile case: {e}"));
    cfg.feeds[0]
        .items()
        .cloned()
        .unwrap_or_else(|| panic!("a scraped feed"))
}

/// The best of a few runs of `f` (at most 3, and no more once 2 s have been spent).
fn best<T>(mut f: impl FnMut() -> T) -> Duration {
    let mut best = Duration::MAX;
    let start = Instant::now();
    for _ in 0..3 {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed());
        if start.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    best
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn growth(now: Duration, before: Option<Duration>) -> String {
    match before {
        Some(b) if b > Duration::ZERO => format!("{:.1}", now.as_secs_f64() / b.as_secs_f64()),
        _ => "-".into(),
    }
}

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
}

fn main() {
    let sizes: Vec<usize> = env_list("HOSTILE_SIZES")
        .map(|v| {
            v.iter()
                .map(|s| {
                    s.parse()
                        .unwrap_or_else(|_| panic!("HOSTILE_SIZES: {s} is not a size"))
                })
                .collect()
        })
        .unwrap_or_else(|| vec![65_536, 262_144, 1_048_576]);
    let only = env_list("HOSTILE_CASES");
    let raw_max: usize = std::env::var("HOSTILE_RAW_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(262_144);
    let base = Url::parse("https://example.org/news/").unwrap_or_else(|e| panic!("{e}"));

    println!(
        "{:<18} {:>9} {:>11} {:>5} {:>11} {:>5} {:>11} {:>5}  entries",
        "case", "bytes", "extract ms", "x4", "sanitize ms", "x4", "raw ms", "x4"
    );
    for case in cases() {
        if let Some(only) = &only
            && !only.iter().any(|w| case.name.contains(w.as_str()))
        {
            continue;
        }
        println!("# {}: {}", case.name, case.what);
        let r = rules(case.items);
        let (mut prev_x, mut prev_s, mut prev_r) = (None, None, None);
        for &size in &sizes {
            let page = (case.page)(size);
            let mut found = 0;
            let tx = best(|| {
                let x = pagefeed::extract::select::extract(&page, &r);
                found = x.entries.len();
                x
            });
            let ts = best(|| pagefeed::extract::sanitize::clean_html(&page, &base));
            let tr = (size <= raw_max).then(|| best(|| scraper::Html::parse_document(&page)));
            println!(
                "{:<18} {:>9} {:>11} {:>5} {:>11} {:>5} {:>11} {:>5}  {}",
                case.name,
                page.len(),
                ms(tx),
                growth(tx, prev_x),
                ms(ts),
                growth(ts, prev_s),
                tr.map(ms).unwrap_or_else(|| "-".into()),
                tr.map(|t| growth(t, prev_r)).unwrap_or_else(|| "-".into()),
                found
            );
            prev_x = Some(tx);
            prev_s = Some(ts);
            prev_r = tr;
        }
    }
}
