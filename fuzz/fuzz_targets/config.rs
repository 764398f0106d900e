//! `config`: config::parse (TOML, validation, compilation) on arbitrary text, then what is
//! computed from a compiled config.
//!
//! Input: the config text (inputs that are not UTF-8 are skipped: `config::load` refuses them
//! before parsing).
//!
//! Checks: no panic while parsing and compiling; for a config that compiles, the schedules
//! give their next refresh and period, every scraped feed's rules run on a small page, and
//! the OPML export (when `base_url` is set) is well-formed XML that pagefeed's own OPML reader
//! reads back with one subscription per feed.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pagefeed_fuzz::PanicFilter;
use pagefeed::config::{self, Schedule};
use pagefeed::extract::select;
use pagefeed::opml;

const PAGE: &str = r#"<!doctype html><html lang="en"><head><title>T</title>
<base href="/news/"></head><body>
<h1 class="day">Monday</h1>
<article class="post" id="a1"><h2><a href="/a/1">One</a></h2><p>First, <b>bold</b></p>
<time datetime="2026-03-23T10:00:00Z">yesterday</time><span class="by">A, B</span>
<img src="i.png"></article>
<article class="post" id="a2"><h3 class="entry-title"><a href="2">Two</a></h3>
<p class="subtitle">Second</p><div class="tags"><a rel="tag">x</a></div></article>
<table><tr id="r1"><td>1</td><td><a href="r">Row</a></td><td class="date">2026-01-02</td></tr></table>
</body></html>"#;

fn exercise(schedule: &Schedule) {
    let now = pagefeed_fuzz::fixed_now();
    let next = schedule.next_after(now);
    assert!(next >= now, "next refresh {next} is before {now}");
    let _ = schedule.period(now);
}

static FILTER: PanicFilter = PanicFilter {
    // Durations too large for std::time::Duration (issue 7, being fixed).
    known: &[],
    feed_rs_caught: false,
};

fuzz_target!(|data: &[u8]| pagefeed_fuzz::run(&FILTER, || one(data)));

fn one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = config::parse(Path::new("fuzz/pagefeed.toml"), text) else {
        return;
    };
    exercise(&cfg.settings.refresh);
    for feed in &cfg.feeds {
        if let Some(s) = &feed.refresh {
            exercise(s);
        }
        if let Some(rules) = feed.items() {
            let _ = select::extract(PAGE, rules);
        }
    }
    if let Ok(feeds) = opml::feeds_from_config(&cfg) {
        let doc = opml::export("fuzz", &feeds);
        let root = pagefeed_fuzz::assert_well_formed("OPML export", doc.as_bytes());
        assert_eq!(root, "opml", "OPML export root");
        match opml::parse_opml(&doc) {
            Ok(subs) => assert_eq!(
                subs.len(),
                feeds.len(),
                "the OPML export lists {} feeds but reads back as {}",
                feeds.len(),
                subs.len()
            ),
            Err(e) => panic!("pagefeed cannot read its own OPML export: {e}\n{doc}"),
        }
    }
}
