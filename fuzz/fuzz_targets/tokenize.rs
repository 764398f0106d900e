//! `tokenize`: pagefeed's HTML tokenizer (`extract::tokenize`, the streaming extractor's)
//! against html5ever's on arbitrary text.
//!
//! Input: the page (UTF-8, lossy).
//!
//! Checks: no panic, and both give the same tokens: tags with their attributes, text (joined),
//! comments, doctypes, NUL characters, the end (`tokenize::compare::difference` is `None`),
//! with the text after `<title>`, `<script>`, `<style>` ... read as raw text by both.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pagefeed::extract::tokenize::compare;
use pagefeed_fuzz::PanicFilter;

static FILTER: PanicFilter = PanicFilter {
    known: &[],
    feed_rs_caught: false,
};

fuzz_target!(|data: &[u8]| pagefeed_fuzz::run(&FILTER, || one(data)));

fn one(data: &[u8]) {
    let html = String::from_utf8_lossy(data);
    if let Some(what) = compare::difference(&html) {
        panic!("the tokenizers differ: {what}");
    }
}
