//! The published feeds, held in memory ready to be served.
//!
//! Every version of a feed's file is turned into a [`Representation`] once, when it is
//! published: the identity bytes, a gzip and a brotli body, a strong `ETag` for each of the
//! three, and the `Last-Modified`, `Content-Type` and `Content-Length` header values. A request
//! then costs a map lookup, an `Arc` clone and a few header comparisons; nothing is compressed,
//! hashed or formatted per request.
//!
//! Entries are copy-on-write: a [`FeedEntry`] is never changed in place, an update builds a new
//! one and swaps the `Arc` under a short write lock. Readers hold the read lock only for the
//! lookup, and keep using the entry they got while a newer one is installed.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::body::Bytes;
use axum::http::HeaderValue;
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use crate::config::{Config, FeedConfig, Format};
use crate::refresh::Rendered;

/// Gzip level. Measured on a 190 KB feed: level 9 takes twice as long as 6 for 1% less.
const GZIP_LEVEL: u32 = 6;
/// Brotli quality. Measured on a 190 KB feed: 5 takes 1.4 ms for 4.2 KB-per-32 KB-ish
/// output (3% larger than 9), 7 takes 4.4 ms, 9 takes 14 ms and 11 takes 220 ms. The encoder's
/// working tables grow with quality (about 1 MiB at 5, 8 MiB at 7, 32 MiB at 9) and glibc keeps
/// freed memory per thread arena, so a service that publishes hundreds of feeds from several
/// blocking threads stayed at 190-290 MB resident with 7 and settles near 30 MB with 5.
const BROTLI_QUALITY: i32 = 5;
/// Brotli window bounds (log2 bytes). Below 18 this encoder takes a path that is many times
/// slower at the same quality; 22 (4 MiB) covers every feed whole.
const BROTLI_MIN_WINDOW: u32 = 18;
const BROTLI_MAX_WINDOW: u32 = 22;

/// How a body is encoded for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` token; `None` for identity.
    pub fn token(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

/// One body of a representation, with the header values that describe it.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub bytes: Bytes,
    /// A strong `ETag`: the quoted start of the SHA-256 of `bytes`.
    pub etag: HeaderValue,
    pub content_length: HeaderValue,
}

impl Encoded {
    fn new(bytes: Bytes) -> Encoded {
        Encoded {
            etag: etag_of(&bytes),
            content_length: HeaderValue::from(bytes.len()),
            bytes,
        }
    }
}

/// One version of one format of a feed, ready to serve.
#[derive(Debug, Clone)]
pub struct Representation {
    pub format: Format,
    pub identity: Encoded,
    pub gzip: Encoded,
    pub br: Encoded,
    /// When these bytes were first published (whole seconds, as HTTP dates carry them).
    pub last_modified: DateTime<Utc>,
    /// `last_modified` as an HTTP date.
    pub last_modified_header: HeaderValue,
    /// The format's media type with `; charset=utf-8`.
    pub content_type: HeaderValue,
}

impl Representation {
    /// Compress `bytes` (gzip and brotli) and compute every header value. CPU-bound: for a
    /// large feed this takes milliseconds.
    pub fn new(format: Format, bytes: &[u8], at: DateTime<Utc>) -> Representation {
        let last_modified = at.trunc_subsecs(0);
        let content_type =
            HeaderValue::from_str(&format!("{}; charset=utf-8", format.content_type()))
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        Representation {
            format,
            identity: Encoded::new(Bytes::copy_from_slice(bytes)),
            gzip: Encoded::new(Bytes::from(gzip(bytes))),
            br: Encoded::new(Bytes::from(brotli(bytes))),
            last_modified,
            last_modified_header: http_date_header(last_modified),
            content_type,
        }
    }

    /// The body in `encoding`.
    pub fn encoded(&self, encoding: Encoding) -> &Encoded {
        match encoding {
            Encoding::Identity => &self.identity,
            Encoding::Gzip => &self.gzip,
            Encoding::Brotli => &self.br,
        }
    }

    /// The ETags of all three bodies; `If-None-Match` may name any of them.
    pub fn etags(&self) -> [&HeaderValue; 3] {
        [&self.identity.etag, &self.gzip.etag, &self.br.etag]
    }
}

/// What the status page, `/metrics` and the scheduler know about a feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedStatus {
    pub title: String,
    pub link: String,
    pub description: String,
    pub items: usize,
    pub last_refresh: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub next_refresh: Option<DateTime<Utc>>,
    /// The last refresh panicked (a bug): what and when. Cleared by a refresh that completes,
    /// failed or not. `/healthz` reports it.
    pub fault: Option<String>,
    /// The feed's schedule task died and is being restarted: what and when. Cleared when the
    /// restarted task has completed a refresh. `/healthz` reports it.
    pub schedule_fault: Option<String>,
    /// Each field's coverage in the last good run (scraped feeds).
    pub coverage: Option<crate::health::Coverage>,
    /// What the last refresh that read the page warned about (health rules, dates, ...).
    pub warnings: Vec<String>,
}

/// One configured feed: its status and the current representation of each format.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub name: String,
    pub status: FeedStatus,
    /// The formats the config asks for, in config order.
    formats: Vec<Format>,
    /// Indexed by [`format_index`].
    reps: [Option<Arc<Representation>>; 3],
}

impl FeedEntry {
    /// The formats this feed is configured with.
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }

    /// Whether the config asks for `format`.
    pub fn has_format(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }

    /// The current version of `format`; `None` before it is first published.
    pub fn representation(&self, format: Format) -> Option<&Arc<Representation>> {
        self.reps[format_index(format)].as_ref()
    }
}

fn format_index(format: Format) -> usize {
    match format {
        Format::Rss => 0,
        Format::Atom => 1,
        Format::Json => 2,
    }
}

/// Every configured feed, by name, with what is currently served for it.
#[derive(Debug)]
pub struct Store {
    /// Feed names in config order (feeds added while serving at the end).
    order: RwLock<Vec<String>>,
    entries: RwLock<HashMap<String, Arc<FeedEntry>>>,
}

impl Store {
    /// One entry per configured feed, nothing published yet. The status title is the
    /// configured title, else the name; the link the configured `site_url`.
    pub fn new(config: &Config) -> Store {
        let mut entries = HashMap::with_capacity(config.feeds.len());
        let mut order = Vec::with_capacity(config.feeds.len());
        for feed in &config.feeds {
            order.push(feed.name.clone());
            entries.insert(feed.name.clone(), Arc::new(new_entry(feed)));
        }
        Store {
            order: RwLock::new(order),
            entries: RwLock::new(entries),
        }
    }

    /// Add a feed configured while serving (the feed builder), after the others; a name
    /// already held is left as it is.
    pub fn add(&self, feed: &FeedConfig) {
        let mut entries = self.write();
        if entries.contains_key(&feed.name) {
            return;
        }
        entries.insert(feed.name.clone(), Arc::new(new_entry(feed)));
        self.order
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(feed.name.clone());
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Arc<FeedEntry>>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Arc<FeedEntry>>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Install a feed's newly rendered files, published at `at`.
    ///
    /// A format whose bytes equal the current ones keeps its representation, and with it its
    /// `Last-Modified`; the others are compressed and hashed here, once, before the write
    /// lock is taken (this is CPU work: from async code call it in `spawn_blocking`). Formats
    /// the config does not ask for are ignored. Also takes the title, link, description and
    /// item count from `rendered`. Returns the formats whose bytes changed (all of them on
    /// the first publish); an unknown feed name changes nothing.
    pub fn publish(&self, name: &str, rendered: &Rendered, at: DateTime<Utc>) -> Vec<Format> {
        let Some(current) = self.get(name) else {
            return Vec::new();
        };
        let mut fresh: Vec<Arc<Representation>> = Vec::new();
        for (format, bytes) in &rendered.files {
            if !current.has_format(*format) || fresh.iter().any(|r| r.format == *format) {
                continue;
            }
            let same = current
                .representation(*format)
                .is_some_and(|r| r.identity.bytes == bytes[..]);
            if !same {
                // A new version never claims a Last-Modified at or before the old one's,
                // or a client holding the old one could be told it is current.
                let at = match current.representation(*format) {
                    Some(old) => at.max(old.last_modified + chrono::Duration::seconds(1)),
                    None => at,
                };
                fresh.push(Arc::new(Representation::new(*format, bytes, at)));
            }
        }

        let mut entries = self.write();
        let Some(latest) = entries.get(name) else {
            return Vec::new();
        };
        let mut entry = FeedEntry::clone(latest);
        let mut changed = Vec::with_capacity(fresh.len());
        for rep in fresh {
            let slot = &mut entry.reps[format_index(rep.format)];
            // Another publish may have installed these very bytes since we looked.
            if slot
                .as_ref()
                .is_some_and(|r| r.identity.bytes == rep.identity.bytes)
            {
                continue;
            }
            changed.push(rep.format);
            *slot = Some(rep);
        }
        let meta = &rendered.meta;
        if !meta.title.trim().is_empty() {
            entry.status.title = meta.title.clone();
        }
        if !meta.link.is_empty() {
            entry.status.link = meta.link.clone();
        }
        entry.status.description = meta.description.clone();
        entry.status.items = rendered.items;
        entries.insert(name.to_string(), Arc::new(entry));
        changed
    }

    /// Change a feed's status (last refresh, error, next refresh, ...); unknown names are
    /// ignored. `f` runs under the write lock: keep it short.
    pub fn update_status(&self, name: &str, f: impl FnOnce(&mut FeedStatus)) {
        let mut entries = self.write();
        if let Some(slot) = entries.get_mut(name) {
            let mut entry = FeedEntry::clone(slot);
            f(&mut entry.status);
            *slot = Arc::new(entry);
        }
    }

    /// The current entry of a configured feed.
    pub fn get(&self, name: &str) -> Option<Arc<FeedEntry>> {
        self.read().get(name).cloned()
    }

    /// Every feed's current entry, in config order.
    pub fn all(&self) -> Vec<Arc<FeedEntry>> {
        let entries = self.read();
        self.order
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|n| entries.get(n).cloned())
            .collect()
    }
}

/// A feed's entry before anything is published: the configured title (else the name), the
/// configured `site_url` and description.
fn new_entry(feed: &FeedConfig) -> FeedEntry {
    let title = feed
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(&feed.name)
        .to_string();
    let status = FeedStatus {
        title,
        link: feed
            .site_url
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default(),
        description: feed.description.clone().unwrap_or_default(),
        ..FeedStatus::default()
    };
    FeedEntry {
        name: feed.name.clone(),
        status,
        formats: feed.formats.clone(),
        reps: [None, None, None],
    }
}

/// `t` as an HTTP date (IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn http_date_header(t: DateTime<Utc>) -> HeaderValue {
    HeaderValue::from_str(&http_date(t))
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// A strong ETag: the first 128 bits of the SHA-256 of `bytes`, in hex, quoted.
fn etag_of(bytes: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(bytes);
    let tag = format!("\"{}\"", crate::feed::item::hex(&digest[..16]));
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let out = Vec::with_capacity(bytes.len() / 4 + 64);
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY,
        // No larger than the input needs (the window is 2^lgwin - 16 bytes): smaller
        // feeds then cost less memory to compress.
        lgwin: (usize::BITS - (bytes.len() + 16).leading_zeros())
            .clamp(BROTLI_MIN_WINDOW, BROTLI_MAX_WINDOW) as i32,
        mode: brotli::enc::backward_references::BrotliEncoderMode::BROTLI_MODE_TEXT,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(bytes.len() / 4 + 64);
    let mut input = bytes;
    // Reading from a slice and writing to a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::item::FeedMeta;
    use std::io::Read;
    use std::path::Path;

    const CONFIG: &str = r#"
[settings]
base_url = "https://feeds.example.org/"

[feeds.alpha]
url = "https://example.org/a"
title = "Alpha & <Omega>"
site_url = "https://example.org/"
[feeds.alpha.items]
selector = "article"
title = "h2"

[feeds.beta]
url = "https://example.org/b"
formats = ["atom", "json"]
[feeds.beta.items]
selector = "article"
title = "h2"
"#;

    fn config() -> Config {
        crate::config::parse(Path::new("/tmp/pagefeed-test/pagefeed.toml"), CONFIG).unwrap()
    }

    fn rendered(files: Vec<(Format, &str)>, title: &str, items: usize) -> Rendered {
        Rendered {
            files: files
                .into_iter()
                .map(|(f, s)| (f, s.as_bytes().to_vec()))
                .collect(),
            items,
            meta: FeedMeta {
                name: "alpha".into(),
                title: title.into(),
                description: "about".into(),
                link: "https://example.org/news".into(),
                language: None,
                time_zone: chrono_tz::UTC,
                self_base: None,
                hub: None,
            },
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn new_store_has_every_feed_in_config_order_and_nothing_published() {
        let store = Store::new(&config());
        let all = store.all();
        let names: Vec<_> = all.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta"]);
        assert_eq!(all[0].status.title, "Alpha & <Omega>");
        assert_eq!(all[0].status.link, "https://example.org/");
        assert_eq!(all[1].status.title, "beta");
        assert_eq!(all[1].formats(), [Format::Atom, Format::Json]);
        assert!(
            Format::ALL
                .iter()
                .all(|f| all[0].representation(*f).is_none())
        );
        assert!(store.get("gamma").is_none());
    }

    #[test]
    fn publish_precomputes_bodies_and_headers() {
        let store = Store::new(&config());
        let at = t("2026-03-02T10:00:00.750Z");
        let r = rendered(
            vec![(Format::Rss, "<rss>one</rss>"), (Format::Atom, "<feed/>")],
            "Page title",
            7,
        );
        assert_eq!(store.publish("alpha", &r, at), [Format::Rss, Format::Atom]);
        let e = store.get("alpha").unwrap();
        assert_eq!(e.status.title, "Page title");
        assert_eq!(e.status.link, "https://example.org/news");
        assert_eq!(e.status.description, "about");
        assert_eq!(e.status.items, 7);
        let rss = e.representation(Format::Rss).unwrap();
        assert_eq!(&rss.identity.bytes[..], b"<rss>one</rss>");
        assert_eq!(rss.content_type, "application/rss+xml; charset=utf-8");
        assert_eq!(rss.last_modified, t("2026-03-02T10:00:00Z"));
        assert_eq!(rss.last_modified_header, "Mon, 02 Mar 2026 10:00:00 GMT");
        assert_eq!(rss.identity.content_length, "14");
        assert_eq!(
            rss.gzip.content_length,
            rss.gzip.bytes.len().to_string().as_str()
        );

        let mut gz = Vec::new();
        flate2::read::GzDecoder::new(&rss.gzip.bytes[..])
            .read_to_end(&mut gz)
            .unwrap();
        assert_eq!(gz, b"<rss>one</rss>");
        let mut br = Vec::new();
        brotli::Decompressor::new(&rss.br.bytes[..], 4096)
            .read_to_end(&mut br)
            .unwrap();
        assert_eq!(br, b"<rss>one</rss>");

        // Three distinct strong ETags, quoted hex.
        let tags = rss.etags();
        assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2]);
        for tag in tags {
            let s = tag.to_str().unwrap();
            assert!(
                s.len() == 34 && s.starts_with('"') && s.ends_with('"'),
                "{s}"
            );
            assert!(s[1..33].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        // Same bytes, same tag: the tag is a hash of the bytes.
        assert_eq!(rss.identity.etag, etag_of(b"<rss>one</rss>"));
        assert!(e.representation(Format::Json).is_none());
    }

    #[test]
    fn unchanged_bytes_keep_representation_and_last_modified() {
        let store = Store::new(&config());
        let first = t("2026-03-02T10:00:00Z");
        let later = t("2026-03-02T11:00:00Z");
        let r1 = rendered(
            vec![(Format::Rss, "<rss>one</rss>"), (Format::Atom, "<feed/>")],
            "T",
            1,
        );
        store.publish("alpha", &r1, first);
        let before = store.get("alpha").unwrap();

        let r2 = rendered(
            vec![(Format::Rss, "<rss>two</rss>"), (Format::Atom, "<feed/>")],
            "T",
            2,
        );
        assert_eq!(store.publish("alpha", &r2, later), [Format::Rss]);
        let after = store.get("alpha").unwrap();
        let atom_before = before.representation(Format::Atom).unwrap();
        let atom_after = after.representation(Format::Atom).unwrap();
        assert!(Arc::ptr_eq(atom_before, atom_after));
        assert_eq!(atom_after.last_modified, first);
        let rss = after.representation(Format::Rss).unwrap();
        assert_eq!(rss.last_modified, later);
        assert_eq!(&rss.identity.bytes[..], b"<rss>two</rss>");
        assert_eq!(after.status.items, 2);
        // The old entry a reader may still hold is untouched.
        assert_eq!(
            &before.representation(Format::Rss).unwrap().identity.bytes[..],
            b"<rss>one</rss>"
        );

        // The very same files again: nothing changed.
        assert!(store.publish("alpha", &r2, later).is_empty());

        // A change within the same second still moves Last-Modified forward.
        let r3 = rendered(vec![(Format::Rss, "<rss>three</rss>")], "T", 3);
        assert_eq!(
            store.publish("alpha", &r3, later + chrono::Duration::milliseconds(300)),
            [Format::Rss]
        );
        let rss = store.get("alpha").unwrap();
        let rss = rss.representation(Format::Rss).unwrap();
        assert_eq!(rss.last_modified, later + chrono::Duration::seconds(1));
    }

    #[test]
    fn publish_ignores_unknown_feeds_and_unconfigured_formats() {
        let store = Store::new(&config());
        let at = t("2026-03-02T10:00:00Z");
        let r = rendered(vec![(Format::Rss, "x")], "T", 1);
        assert!(store.publish("gamma", &r, at).is_empty());
        // beta has no RSS.
        assert!(store.publish("beta", &r, at).is_empty());
        assert!(
            store
                .get("beta")
                .unwrap()
                .representation(Format::Rss)
                .is_none()
        );
    }

    #[test]
    fn update_status_replaces_the_entry_and_keeps_representations() {
        let store = Store::new(&config());
        let at = t("2026-03-02T10:00:00Z");
        store.publish("alpha", &rendered(vec![(Format::Rss, "x")], "T", 1), at);
        let before = store.get("alpha").unwrap();
        store.update_status("alpha", |s| {
            s.last_error = Some("boom".into());
            s.next_refresh = Some(at);
        });
        store.update_status("nope", |s| s.items = 99);
        let after = store.get("alpha").unwrap();
        assert_eq!(after.status.last_error.as_deref(), Some("boom"));
        assert_eq!(after.status.next_refresh, Some(at));
        assert_eq!(before.status.last_error, None);
        assert!(Arc::ptr_eq(
            before.representation(Format::Rss).unwrap(),
            after.representation(Format::Rss).unwrap()
        ));
    }
}
