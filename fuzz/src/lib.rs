//! Helpers shared by the fuzz targets: a strict XML 1.0 well-formedness check, TOML string
//! quoting, and the fixed fetch time the targets that do not fuzz it use.
//!
//! A check that fails panics with a message naming what is wrong and where, so libFuzzer
//! records the input as a crash.

use std::sync::{LazyLock, Once};

use chrono::{DateTime, TimeZone, Utc};
use quick_xml::events::Event;
use quick_xml::XmlVersion;
use quick_xml::reader::Reader;

/// The first feed of a config text, as `pagefeed` compiles it (`None` when the config refuses
/// it): the fixed rule sets of the targets are written as config text.
pub fn first_feed(text: &str) -> Option<pagefeed::config::FeedConfig> {
    pagefeed::config::parse(std::path::Path::new("fuzz.toml"), text)
        .ok()
        .and_then(|c| c.feeds.into_iter().next())
}

/// The fetch time of the targets that do not take it from the input: 2026-03-24 12:00 UTC.
pub fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 24, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Whether XML 1.0 allows `c` in a document (the `Char` production).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The first character XML 1.0 does not allow in `s`, with its byte offset.
fn bad_char(s: &str) -> Option<(usize, char)> {
    s.char_indices().find(|&(_, c)| !is_xml_char(c))
}

/// Panics unless `bytes` is a well-formed XML 1.0 document in UTF-8: valid UTF-8, only
/// allowed characters (raw or as character references, in text and attribute values), no
/// entity but the five predefined ones, matching start and end tags, unique attribute names,
/// one root element and nothing but whitespace, comments and processing instructions
/// outside it. `what` names the document in the panic message. Returns the root's name.
pub fn assert_well_formed(what: &str, bytes: &[u8]) -> String {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => panic!("{what}: not UTF-8: {e}"),
    };
    if let Some((at, c)) = bad_char(text) {
        panic!(
            "{what}: character {:?} (U+{:04X}) at byte {at} is not allowed in XML 1.0",
            c, c as u32
        );
    }
    let mut reader = Reader::from_str(text);
    let cfg = reader.config_mut();
    cfg.check_end_names = true;
    cfg.check_comments = true;
    cfg.allow_unmatched_ends = false;
    cfg.allow_dangling_amp = false;
    let mut depth = 0usize;
    let mut root: Option<String> = None;
    let mut roots = 0usize;
    loop {
        let pos = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => panic!("{what}: not well-formed XML near byte {pos}: {e}"),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 {
                    roots += 1;
                    if roots > 1 {
                        panic!("{what}: a second root element at byte {pos}");
                    }
                    root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                }
                for attr in e.attributes().with_checks(true) {
                    let attr = match attr {
                        Ok(a) => a,
                        Err(err) => panic!("{what}: bad attribute near byte {pos}: {err}"),
                    };
                    let value = match attr.normalized_value(XmlVersion::Implicit1_0) {
                        Ok(v) => v,
                        Err(err) => panic!(
                            "{what}: attribute {} near byte {pos} cannot be unescaped: {err}",
                            String::from_utf8_lossy(attr.key.as_ref())
                        ),
                    };
                    if let Some((_, c)) = bad_char(&value) {
                        panic!(
                            "{what}: attribute {} near byte {pos} holds U+{:04X}, which XML 1.0 does not allow",
                            String::from_utf8_lossy(attr.key.as_ref()),
                            c as u32
                        );
                    }
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = match depth.checked_sub(1) {
                    Some(d) => d,
                    None => panic!("{what}: an end tag without a start tag at byte {pos}"),
                };
            }
            Event::Text(ref t) => {
                if depth == 0 && !t.iter().all(|b| b.is_ascii_whitespace()) {
                    panic!("{what}: text outside the root element at byte {pos}");
                }
            }
            Event::CData(_) => {
                if depth == 0 {
                    panic!("{what}: CDATA outside the root element at byte {pos}");
                }
            }
            Event::GeneralRef(ref r) => {
                if depth == 0 {
                    panic!("{what}: a reference outside the root element at byte {pos}");
                }
                match r.resolve_char_ref() {
                    Ok(Some(c)) if is_xml_char(c) => {}
                    Ok(Some(c)) => panic!(
                        "{what}: character reference to U+{:04X} at byte {pos}, which XML 1.0 does not allow",
                        c as u32
                    ),
                    Ok(None) => {
                        let name: &[u8] = r.as_ref();
                        if !matches!(name, b"amp" | b"lt" | b"gt" | b"quot" | b"apos") {
                            panic!(
                                "{what}: undeclared entity &{}; at byte {pos}",
                                String::from_utf8_lossy(name)
                            );
                        }
                    }
                    Err(e) => panic!("{what}: bad character reference at byte {pos}: {e}"),
                }
            }
            Event::DocType(_) => panic!("{what}: a DOCTYPE, which pagefeed never writes"),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if depth != 0 {
        panic!("{what}: {depth} element(s) not closed at the end");
    }
    match root {
        Some(r) => r,
        None => panic!("{what}: no root element"),
    }
}

/// Whether `PAGEFEED_FUZZ_SKIP_KNOWN` is set: then the panics a target lists as known bugs
/// (bugs already reported and being fixed) end the input quietly instead of as a crash, so a
/// long run can look past them. Off by default, and never set in CI.
static SKIP_KNOWN: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("PAGEFEED_FUZZ_SKIP_KNOWN").is_some());

/// Whether `PAGEFEED_FUZZ_SKIP_KNOWN` is set; a generator may then also stay clear of what
/// triggers the known bugs, so that the rest of each input is still tried.
pub fn skip_known() -> bool {
    *SKIP_KNOWN
}

static PRINT: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("PAGEFEED_FUZZ_PRINT").is_some());

/// Whether `PAGEFEED_FUZZ_PRINT` is set: targets that decode their input then print what it
/// decoded to, for reading a crash input.
pub fn print_inputs() -> bool {
    *PRINT
}

static HOOK: Once = Once::new();

/// How a target's panics are judged. libfuzzer-sys installs a hook that aborts on every
/// panic, even one that pagefeed catches; this hook runs first and lets some unwind.
pub struct PanicFilter {
    /// Substrings of the panic message or location (`file:line`) of known bugs, skipped
    /// only when `PAGEFEED_FUZZ_SKIP_KNOWN` is set.
    pub known: &'static [&'static str],
    /// Let panics of dependencies unwind while feed-rs runs inside
    /// `pagefeed::extract::upstream::run_feed_rs`, which calls it under `catch_unwind` and reports such
    /// a panic as a parse error. A panic in pagefeed's own code there still counts.
    pub feed_rs_caught: bool,
}

thread_local! {
    /// Set by the hook when it let a known bug's panic unwind to [`run`].
    static SKIPPED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs one input under `filter`. Call it as the whole body of a fuzz target.
pub fn run(filter: &'static PanicFilter, body: impl FnOnce()) {
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if filter.feed_rs_caught {
                // Inside the closure run_feed_rs hands to catch_unwind, raised in a dependency
                // (a registry crate, or std on its behalf) rather than in pagefeed's own code.
                let file = info.location().map(|l| l.file()).unwrap_or("");
                let foreign = file.contains("/registry/src/") || file.starts_with("/rustc/");
                if foreign
                    && std::backtrace::Backtrace::force_capture()
                        .to_string()
                        .contains("pagefeed::extract::upstream::run_feed_rs::{closure")
                {
                    return;
                }
            }
            if *SKIP_KNOWN {
                let message = info.payload_as_str().unwrap_or("");
                let place = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                if filter
                    .known
                    .iter()
                    .any(|k| message.contains(k) || place.contains(k))
                {
                    SKIPPED.with(|s| s.set(true));
                    return;
                }
            }
            fuzzer_hook(info);
        }));
    });
    if !*SKIP_KNOWN {
        body();
        return;
    }
    SKIPPED.with(|s| s.set(false));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    if result.is_err() && !SKIPPED.with(|s| s.get()) {
        // Only a skipped known bug unwinds this far; anything else has aborted in the hook.
        std::process::abort();
    }
}

/// `s` as a TOML basic string, quotes included; every character that TOML does not allow raw
/// is written as an escape, so any Rust string round-trips.
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_feed_and_rejects_broken_ones() {
        let ok = b"<?xml version=\"1.0\"?>\n<rss a=\"&amp;&#10;\"><c>x &lt; &#x1F600;</c><![CDATA[a]]></rss>\n";
        assert_eq!(assert_well_formed("ok", ok), "rss");
        for bad in [
            &b"<a>\x01</a>"[..],
            b"<a>&#1;</a>",
            b"<a b=\"&#x1B;\"/>",
            b"<a>&nbsp;</a>",
            b"<a><b></a>",
            b"<a/><b/>",
            b"<a>",
            b"text<a/>",
            b"<a b=\"1\" b=\"2\"/>",
            b"<a>\xff</a>",
        ] {
            let r = std::panic::catch_unwind(|| assert_well_formed("bad", bad));
            assert!(r.is_err(), "{:?} passed", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn toml_strings_round_trip() {
        for s in ["plain", "q\"b\\s", "\u{1}\u{7f}\n\t\r", "ü€😀"] {
            // pagefeed's config parser is the TOML reader at hand: a feed title carries it.
            let cfg = format!("[feeds.a]\nfeed_url = \"f.xml\"\ntitle = {}\n", toml_str(s));
            let c = pagefeed::config::parse(std::path::Path::new("t.toml"), &cfg)
                .unwrap_or_else(|e| panic!("{e}\n{cfg}"));
            assert_eq!(c.feeds[0].title.as_deref(), Some(s));
        }
    }
}
