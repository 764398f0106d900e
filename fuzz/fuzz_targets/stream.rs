//! `stream`: the streaming extractor against the DOM extractor on arbitrary pages.
//!
//! Input: the first byte chooses one of the rule sets below (all of which the streaming
//! extractor has a plan for); the rest is the page, read as UTF-8 (lossy).
//!
//! Checks: no panic in either extractor, and whenever streaming answers (it may leave a page
//! to the DOM), both give the same entries, field counts and page facts
//! (`extract::stream::difference` is `None`).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pagefeed::config::ItemRules;
use pagefeed::extract::{select, stream};
use pagefeed_fuzz::PanicFilter;

/// Item rules the streaming extractor plans for: fields of every kind, nested entries, the
/// entry itself as a field, `<meta>` values, regex/strip/split, places among siblings.
const RULE_SETS: [&str; 8] = [
    r#"selector = "article.post"
title = "h3.entry-title a"
link = { selector = "h3.entry-title a", attr = "href" }
summary = "p.subtitle"
authors = ".byline .author"
date = ".byline time.published"
image = { selector = "img.wp-post-image", attr = "src" }
categories = ".tags a[rel=tag]""#,
    r#"selector = "article, li.post"
title = "h2, h3"
link = "a"
date = "time"
summary = "p"
image = "img""#,
    r#"selector = "div, p"
title = ":scope"
summary = "p, i"
categories = { selector = "span, b", split = "|" }"#,
    r#"selector = "ul > li:not(.ad)"
title = { selector = "a", strip = "^\\s*New:\\s*" }
link = "a"
date = { selector = "span", regex = "(\\d{4}-\\d\\d-\\d\\d)" }
guid = { selector = "a", attr = "data-id" }"#,
    r#"selector = ".e, article"
title = "h3, a"
summary = "meta[name]"
date = "meta[itemprop]"
image = "meta[property]""#,
    r#"selector = "html, head, body"
title = ":scope"
summary = "title"
image = "img, image""#,
    // Places among siblings (`:first-child`, `:nth-*`, `:not` of them) of entries, their
    // ancestors and their fields.
    r#"selector = "li:nth-child(odd), div:first-child, :not(:first-child) > p:nth-of-type(2n+2)"
title = "a:first-of-type, b:nth-child(2), :scope"
summary = "p:nth-child(-n+2)"
categories = "span:first-child, i:nth-of-type(n+2)""#,
    r#"selector = "body > :nth-of-type(n+2), ul > li:not(:nth-child(3n+1)), tr:nth-child(2) > td:first-child"
title = ":scope"
link = "a:not(:first-of-type)"
date = "time:first-child""#,
];

static RULES: LazyLock<Vec<ItemRules>> = LazyLock::new(|| {
    RULE_SETS
        .iter()
        .enumerate()
        .map(|(n, items)| {
            let text = format!("[feeds.f]\nurl = \"page.html\"\n[feeds.f.items]\n{items}\n");
            let rules = pagefeed_fuzz::first_feed(&text)
                .and_then(|f| f.items().cloned())
                .unwrap_or_else(|| panic!("fuzz harness: rule set {n} does not compile"));
            assert!(rules.stream.is_some(), "fuzz harness: rule set {n} does not stream");
            rules
        })
        .collect()
});

static FILTER: PanicFilter = PanicFilter {
    known: &[],
    feed_rs_caught: false,
};

fuzz_target!(|data: &[u8]| pagefeed_fuzz::run(&FILTER, || one(data)));

fn one(data: &[u8]) {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let rules = &RULES[usize::from(b) % RULES.len()];
    let Some(plan) = rules.stream.as_deref() else {
        return;
    };
    let html = String::from_utf8_lossy(rest);
    let dom = select::extract(&html, rules);
    if let Some(streamed) = stream::extract_with(&html, rules, plan) {
        if let Some(what) = stream::difference(&streamed, &dom) {
            panic!("streaming and the DOM disagree: {what}");
        }
    }
}
