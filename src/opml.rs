//! OPML: exporting pagefeed's feeds for feed readers, and importing a reader's subscriptions.
//!
//! Export writes an OPML 2.0 document with one `<outline type="rss">` per feed. The output has
//! no clock in it (no `dateCreated`), so the same feeds always give the same bytes.
//!
//! Import reads the OPML 1.0/2.0 exports that real readers write (Feedly, Inoreader,
//! NetNewsWire, Miniflux, ...): categories are parent outlines and are flattened into a
//! `category` path, outlines without an `xmlUrl` are skipped, only http(s) feeds are kept and
//! each feed URL is kept once. The subscriptions become `[feeds.NAME]` tables with `feed_url`,
//! appended to the config file as text, so the user's comments and layout stay as they were.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use url::Url;

use crate::config::Config;

/// Longest feed name derived from a title, before any `-2`, `-3`... suffix.
const MAX_NAME_LEN: usize = 40;

/// One feed as OPML lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// The feed's name in the config; used as the outline text when `title` is empty.
    pub name: String,
    pub title: String,
    pub html_url: Option<String>,
    pub xml_url: String,
}

/// What can go wrong reading, parsing or applying OPML. `Display` is the full message.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("cannot read OPML file {path}: {source}")]
    ReadOpml {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        source: Box<OpmlError>,
    },
    #[error("OPML is not well-formed XML at line {line}, column {column}: {message}")]
    Xml {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("not an OPML document: the root element is <{root}>, expected <opml>")]
    NotOpml { root: String },
    #[error("not an OPML document: it has no elements")]
    Empty,
    #[error(
        "cannot export OPML: settings.base_url is not set, and readers need absolute feed URLs\nhint: add base_url = \"https://example.org/feeds/\" under [settings]"
    )]
    NoBaseUrl,
    #[error("cannot export OPML: feed {name}: cannot build its URL from base_url: {message}")]
    FeedUrl { name: String, message: String },
    #[error("cannot read config {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is not UTF-8 text, so it cannot be appended to")]
    ConfigNotUtf8 { path: PathBuf },
    #[error(
        "not changing config {path}: with the imported feeds it would not be valid TOML: {message}"
    )]
    WouldBreakConfig { path: PathBuf, message: String },
    #[error("cannot write config {path}: {source}")]
    WriteConfig {
        path: PathBuf,
        source: std::io::Error,
    },
}

// ---------------------------------------------------------------------------------------------
// Export.

/// The feeds of `config` as OPML lists them, in config order: `xmlUrl` is `base_url` + name +
/// `.rss`, `htmlUrl` the feed's `site_url`, the title the configured one or else the name.
pub fn feeds_from_config(config: &Config) -> Result<Vec<OpmlFeed>, OpmlError> {
    let base = config
        .settings
        .base_url
        .as_ref()
        .ok_or(OpmlError::NoBaseUrl)?;
    config
        .feeds
        .iter()
        .map(|f| {
            let xml_url =
                base.join(&format!("{}.rss", f.name))
                    .map_err(|e| OpmlError::FeedUrl {
                        name: f.name.clone(),
                        message: e.to_string(),
                    })?;
            Ok(OpmlFeed {
                name: f.name.clone(),
                title: f
                    .title
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .unwrap_or(&f.name)
                    .to_string(),
                html_url: f.site_url.as_ref().map(Url::to_string),
                xml_url: xml_url.to_string(),
            })
        })
        .collect()
}

/// OPML 2.0 document listing `feeds` in the given order, with `title` as the document title.
///
/// Every value is escaped; characters XML 1.0 cannot carry are dropped. No date is written, so
/// the output is byte-stable.
pub fn export(title: &str, feeds: &[OpmlFeed]) -> String {
    let mut out = String::with_capacity(200 + feeds.len() * 200);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<opml version=\"2.0\">\n");
    out.push_str("  <head>\n");
    let _ = writeln!(out, "    <title>{}</title>", escape(title, false));
    out.push_str("  </head>\n");
    out.push_str("  <body>\n");
    for feed in feeds {
        let text = if feed.title.trim().is_empty() {
            feed.name.as_str()
        } else {
            feed.title.as_str()
        };
        let text = escape(text, true);
        let _ = write!(
            out,
            "    <outline type=\"rss\" text=\"{text}\" title=\"{text}\" xmlUrl=\"{}\"",
            escape(&feed.xml_url, true)
        );
        if let Some(html) = feed.html_url.as_deref().filter(|h| !h.is_empty()) {
            let _ = write!(out, " htmlUrl=\"{}\"", escape(html, true));
        }
        out.push_str("/>\n");
    }
    out.push_str("  </body>\n");
    out.push_str("</opml>\n");
    out
}

/// Escapes `s` for XML text or (with `attr`) a double- or single-quoted attribute value.
/// In attributes, tab and line breaks become character references so they survive
/// attribute-value normalisation.
fn escape(s: &str, attr: bool) -> String {
    use crate::feed::render::clean::is_xml_char;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Import: parsing.

/// A subscription found in an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The outline's `text`, else its `title`, whitespace collapsed.
    pub title: Option<String>,
    /// An absolute http(s) URL.
    pub xml_url: String,
    pub html_url: Option<String>,
    /// The titles of the enclosing category outlines, joined with ` / `.
    pub category: Option<String>,
}

/// The subscriptions of an OPML file, and notes about the outlines that were left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedOpml {
    pub subscriptions: Vec<Subscription>,
    /// One line per skipped feed outline (not http(s), not a URL, a duplicate).
    pub notes: Vec<String>,
}

/// Parses OPML 1.0/2.0 `text` into its subscriptions, in document order. Notes about skipped
/// outlines are logged as warnings; use [`parse_opml_with_notes`] to get them instead.
pub fn parse_opml(text: &str) -> Result<Vec<Subscription>, OpmlError> {
    let parsed = parse_opml_with_notes(text)?;
    for note in &parsed.notes {
        tracing::warn!("OPML import: {note}");
    }
    Ok(parsed.subscriptions)
}

/// Reads the OPML file at `path` (UTF-8, UTF-16 with a BOM, or the encoding its XML
/// declaration names) and parses it; errors name the file.
pub fn read_opml(path: &Path) -> Result<ParsedOpml, OpmlError> {
    let bytes = std::fs::read(path).map_err(|source| OpmlError::ReadOpml {
        path: path.to_path_buf(),
        source,
    })?;
    let text = decode_xml_bytes(&bytes);
    parse_opml_with_notes(&text).map_err(|e| OpmlError::InFile {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Decodes an XML file's bytes: a BOM wins, then the declaration's `encoding`, then UTF-8.
fn decode_xml_bytes(bytes: &[u8]) -> String {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        return text.into_owned();
    }
    let head = &bytes[..bytes.len().min(200)];
    let declared = std::str::from_utf8(head)
        .ok()
        .or_else(|| {
            // The head may end inside a multi-byte character.
            let valid = std::str::from_utf8(head).err()?.valid_up_to();
            std::str::from_utf8(&head[..valid]).ok()
        })
        .and_then(declared_encoding)
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()));
    let enc = match declared {
        // A file that says UTF-16 but has no BOM and reads as ASCII is really ASCII-compatible.
        Some(e) if e != encoding_rs::UTF_16LE && e != encoding_rs::UTF_16BE => e,
        _ => encoding_rs::UTF_8,
    };
    let (text, _) = enc.decode_without_bom_handling(bytes);
    text.into_owned()
}

/// The `encoding="..."` of an XML declaration at the start of `head`.
fn declared_encoding(head: &str) -> Option<String> {
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].trim().to_string())
}

/// Like [`parse_opml`], returning the notes about skipped outlines instead of logging them.
pub fn parse_opml_with_notes(text: &str) -> Result<ParsedOpml, OpmlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut parsed = ParsedOpml::default();
    let mut seen: HashSet<String> = HashSet::new();
    // One entry per open <outline>: the category title it contributes, if it is a category.
    let mut outlines: Vec<Option<String>> = Vec::new();
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            let (line, column) = line_col(text, reader.error_position());
            OpmlError::Xml {
                line,
                column,
                message: e.to_string(),
            }
        })?;
        let (start, is_empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                if local_name_lower(e.local_name().as_ref()) == "outline" {
                    outlines.pop();
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = local_name_lower(start.local_name().as_ref());
        if !saw_root {
            if name != "opml" {
                return Err(OpmlError::NotOpml { root: name });
            }
            saw_root = true;
            continue;
        }
        if name != "outline" {
            continue;
        }
        let outline = read_outline(start, &reader);
        let is_feed = outline.xml_url.is_some();
        if let Some(raw_url) = outline.xml_url {
            let category = category_path(&outlines);
            let label = outline.title.as_deref().unwrap_or(raw_url.as_str());
            match feed_http_url(&raw_url) {
                Err(why) => parsed
                    .notes
                    .push(format!("skipped \"{label}\": its xmlUrl `{raw_url}` {why}")),
                Ok(url) => {
                    let xml_url = url.to_string();
                    if seen.insert(xml_url.clone()) {
                        parsed.subscriptions.push(Subscription {
                            title: outline.title.clone(),
                            xml_url,
                            html_url: outline.html_url.as_deref().and_then(site_http_url),
                            category,
                        });
                    } else {
                        parsed.notes.push(format!(
                            "skipped \"{label}\": {xml_url} is listed more than once"
                        ));
                    }
                }
            }
        }
        if !is_empty {
            outlines.push(if is_feed { None } else { outline.title });
        }
    }
    if !saw_root {
        return Err(OpmlError::Empty);
    }
    Ok(parsed)
}

/// The attributes of one `<outline>` that import cares about.
struct Outline {
    title: Option<String>,
    xml_url: Option<String>,
    html_url: Option<String>,
}

fn read_outline(e: &BytesStart<'_>, reader: &Reader<&[u8]>) -> Outline {
    let mut text = None;
    let mut title = None;
    let mut xml_url = None;
    let mut html_url = None;
    // Duplicate attributes are tolerated (the first one counts); malformed ones are skipped.
    for attr in e.attributes().with_checks(false).flatten() {
        let key = local_name_lower(attr.key.local_name().as_ref());
        let slot = match key.as_str() {
            "text" => &mut text,
            "title" => &mut title,
            "xmlurl" => &mut xml_url,
            "htmlurl" => &mut html_url,
            _ => continue,
        };
        if slot.is_some() {
            continue;
        }
        let value = attr
            .decoded_and_normalized_value_with(
                XmlVersion::Implicit1_0,
                reader.decoder(),
                4,
                resolve_entity,
            )
            .map(|v| v.into_owned())
            // An unknown entity or a stray `&`: keep the text as written rather than lose it.
            .unwrap_or_else(|_| String::from_utf8_lossy(&attr.value).into_owned());
        *slot = Some(value);
    }
    let clean = |v: Option<String>| v.map(|s| collapse_whitespace(&s)).filter(|s| !s.is_empty());
    Outline {
        title: clean(text).or_else(|| clean(title)),
        xml_url: clean(xml_url),
        html_url: clean(html_url),
    }
}

/// XML's predefined entities, plus the HTML entities that turn up in hand-edited OPML.
fn resolve_entity(name: &str) -> Option<&'static str> {
    quick_xml::escape::resolve_predefined_entity(name).or(match name {
        "nbsp" => Some("\u{a0}"),
        "ndash" => Some("\u{2013}"),
        "mdash" => Some("\u{2014}"),
        "hellip" => Some("\u{2026}"),
        "rsquo" => Some("\u{2019}"),
        "lsquo" => Some("\u{2018}"),
        "rdquo" => Some("\u{201d}"),
        "ldquo" => Some("\u{201c}"),
        _ => None,
    })
}

fn local_name_lower(name: &[u8]) -> String {
    String::from_utf8_lossy(name).to_ascii_lowercase()
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn category_path(outlines: &[Option<String>]) -> Option<String> {
    let parts: Vec<&str> = outlines.iter().flatten().map(String::as_str).collect();
    (!parts.is_empty()).then(|| parts.join(" / "))
}

/// A feed URL from an OPML `xmlUrl`: absolute http(s); `feed://` and `feed:http...` are
/// understood as the http(s) URL they stand for.
fn feed_http_url(raw: &str) -> Result<Url, &'static str> {
    let lower = raw.to_ascii_lowercase();
    let candidate = if lower.starts_with("feed:http://") || lower.starts_with("feed:https://") {
        raw["feed:".len()..].to_string()
    } else if lower.starts_with("feed://") {
        format!("http://{}", &raw["feed://".len()..])
    } else {
        raw.to_string()
    };
    let url = Url::parse(&candidate).map_err(|_| "is not an absolute URL")?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err("has no host"),
        _ => Err("is not an http(s) URL"),
    }
}

fn site_http_url(raw: &str) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then(|| url.to_string())
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: u64) -> (usize, usize) {
    let mut end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

// ---------------------------------------------------------------------------------------------
// Import: config tables.

/// Turns subscriptions into TOML text to append to a config: one `[feeds.NAME]` table each,
/// with `feed_url` and (when known) `title`, preceded by a `# category: ...` comment when the
/// subscription sat in a category. Names come from the title (else the URL's host), are unique
/// against `existing_names` and each other. Subscriptions whose URL is in `existing_urls` (or
/// repeats an earlier one) are skipped.
///
/// Returns the TOML text (empty, or ending with a newline), the names added, and how many
/// subscriptions were skipped.
pub fn to_config_tables(
    subs: &[Subscription],
    existing_names: &[String],
    existing_urls: &[String],
) -> (String, Vec<String>, usize) {
    let mut taken: HashSet<String> = existing_names.iter().cloned().collect();
    let mut urls: HashSet<String> = existing_urls.iter().map(|u| url_key(u)).collect();
    let mut out = String::new();
    let mut added = Vec::new();
    let mut skipped = 0;
    for sub in subs {
        if !urls.insert(url_key(&sub.xml_url)) {
            skipped += 1;
            continue;
        }
        let base = sub
            .title
            .as_deref()
            .map(name_from_title)
            .filter(|n| !n.is_empty())
            .or_else(|| name_from_url(&sub.xml_url))
            .unwrap_or_else(|| "feed".to_string());
        let name = unique_name(&base, &taken);
        taken.insert(name.clone());

        if !out.is_empty() {
            out.push('\n');
        }
        if let Some(category) = sub.category.as_deref() {
            let category = one_line(category);
            if !category.is_empty() {
                let _ = writeln!(out, "# category: {category}");
            }
        }
        let _ = writeln!(out, "[feeds.{name}]");
        let _ = writeln!(out, "feed_url = {}", toml_string(&sub.xml_url));
        if let Some(title) = sub.title.as_deref().filter(|t| !t.trim().is_empty()) {
            let _ = writeln!(out, "title = {}", toml_string(title));
        }
        added.push(name);
    }
    (out, added, skipped)
}

/// A TOML basic string holding `s`, escaped by the `toml` crate.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The form of a URL two feeds are compared by: parsed and re-serialised when it parses.
fn url_key(raw: &str) -> String {
    let raw = raw.trim();
    Url::parse(raw).map_or_else(|_| raw.to_string(), |u| u.to_string())
}

/// `s` with line breaks and other control characters turned into spaces, for a comment.
fn one_line(s: &str) -> String {
    let replaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    collapse_whitespace(&replaced)
}

/// A feed name from a title: lower-case ASCII letters, digits, `_` and `-`; common accented
/// Latin letters lose their accents; apostrophes vanish; every other run of characters becomes
/// one `-`. Trimmed of `-`/`_` at both ends and cut to `MAX_NAME_LEN` (40). May be empty.
pub fn name_from_title(title: &str) -> String {
    let mut name = String::new();
    let mut pending_dash = false;
    for c in title.chars() {
        if matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`') {
            continue;
        }
        let folded = fold_char(c.to_lowercase().next().unwrap_or(c));
        match folded {
            Some(s) => {
                if pending_dash && !name.is_empty() {
                    name.push('-');
                }
                pending_dash = false;
                name.push_str(s);
            }
            None => pending_dash = true,
        }
    }
    clip_name(&name, MAX_NAME_LEN)
}

/// A feed name from a URL's host: `www.` dropped, dots become `-`.
fn name_from_url(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    let host = url.host_str()?;
    let host = host.strip_prefix("www.").unwrap_or(host);
    Some(name_from_title(host)).filter(|n| !n.is_empty())
}

/// The ASCII spelling of a lower-case character in a feed name, or `None` for a separator.
fn fold_char(c: char) -> Option<&'static str> {
    const ASCII: &str = "abcdefghijklmnopqrstuvwxyz0123456789_";
    if c.is_ascii() {
        let i = ASCII.find(c)?;
        return ASCII.get(i..i + 1);
    }
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// `name` cut to at most `max` bytes (it is ASCII) and trimmed of `-`/`_` at both ends.
fn clip_name(name: &str, max: usize) -> String {
    let name = name.trim_matches(['-', '_']);
    let cut = name.get(..max.min(name.len())).unwrap_or(name);
    cut.trim_matches(['-', '_']).to_string()
}

/// `base`, or `base-2`, `base-3`... whichever is not in `taken`; the base is shortened so the
/// name stays within [`MAX_NAME_LEN`].
fn unique_name(base: &str, taken: &HashSet<String>) -> String {
    if !taken.contains(base) {
        return base.to_string();
    }
    (2usize..)
        .map(|n| {
            let suffix = format!("-{n}");
            let stem = clip_name(base, MAX_NAME_LEN.saturating_sub(suffix.len()));
            let stem = if stem.is_empty() { "feed" } else { &stem };
            format!("{stem}{suffix}")
        })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| base.to_string())
}

// ---------------------------------------------------------------------------------------------
// Import: writing the config.

/// Appends `tables` to the config file at `path` without touching its existing bytes: the file
/// gets a final newline if it lacks one, then a blank line, `# imported from OPML SOURCE`, and
/// the tables. The result must parse as TOML, or nothing is written. The file is replaced
/// atomically (a temporary file in the same folder, then a rename), through a symlink if `path`
/// is one, keeping its permissions. Empty `tables` leave the file alone.
pub fn append_to_config(path: &Path, tables: &str, source_name: &str) -> Result<(), OpmlError> {
    append_tables(
        path,
        tables,
        &format!("imported from OPML {}", one_line(source_name)),
    )
}

/// [`append_to_config`] with another comment line (`# COMMENT`) above the tables.
pub fn append_tables(path: &Path, tables: &str, comment: &str) -> Result<(), OpmlError> {
    if tables.trim().is_empty() {
        return Ok(());
    }
    let read_err = |source| OpmlError::ReadConfig {
        path: path.to_path_buf(),
        source,
    };
    // Write to the file a symlink points at, so the link survives.
    let target = std::fs::canonicalize(path).map_err(read_err)?;
    let old = std::fs::read(&target).map_err(read_err)?;
    let old_text = std::str::from_utf8(&old).map_err(|_| OpmlError::ConfigNotUtf8 {
        path: path.to_path_buf(),
    })?;

    let eol = if old_text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut addition = String::new();
    if !old_text.is_empty() {
        if !old_text.ends_with('\n') {
            addition.push_str(eol);
        }
        addition.push_str(eol);
    }
    addition.push_str("# ");
    addition.push_str(&one_line(comment));
    addition.push_str(eol);
    let tables = tables.replace("\r\n", "\n");
    for line in tables.lines() {
        addition.push_str(line);
        addition.push_str(eol);
    }

    let new_text = format!("{old_text}{addition}");
    if let Err(e) = toml::from_str::<toml::Table>(&new_text) {
        let message = match toml::from_str::<toml::Table>(old_text) {
            Err(old_err) => format!(
                "the config is not valid TOML already ({}); fix it first",
                old_err.message()
            ),
            Ok(_) => e.message().to_string(),
        };
        return Err(OpmlError::WouldBreakConfig {
            path: path.to_path_buf(),
            message,
        });
    }

    write_atomically(&target, new_text.as_bytes()).map_err(|source| OpmlError::WriteConfig {
        path: path.to_path_buf(),
        source,
    })
}

/// Replaces the file at `target` with `bytes` via a temporary file in the same folder.
fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = target
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let permissions = std::fs::metadata(target)?.permissions();
    let mut attempt = 0u32;
    let (tmp_path, mut file) = loop {
        let candidate = dir.join(format!(
            ".{file_name}.import-{}-{attempt}.tmp",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(f) => break (candidate, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::set_permissions(&tmp_path, permissions)?;
        std::fs::rename(&tmp_path, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(name: &str, title: &str, html: Option<&str>, xml: &str) -> OpmlFeed {
        OpmlFeed {
            name: name.into(),
            title: title.into(),
            html_url: html.map(Into::into),
            xml_url: xml.into(),
        }
    }

    #[test]
    fn export_escapes_and_is_stable() {
        let feeds = vec![
            feed(
                "a-b",
                "Tom & Jerry <\"quoted\"> 'x'",
                Some("https://example.org/?a=1&b=2"),
                "https://feeds.example.org/a-b.rss",
            ),
            feed(
                "untitled",
                "  ",
                None,
                "https://feeds.example.org/untitled.rss",
            ),
        ];
        let out = export("My <feeds> & \"more\"", &feeds);
        assert_eq!(out, export("My <feeds> & \"more\"", &feeds));
        let expected = concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<opml version=\"2.0\">\n",
            "  <head>\n",
            "    <title>My &lt;feeds&gt; &amp; &quot;more&quot;</title>\n",
            "  </head>\n",
            "  <body>\n",
            "    <outline type=\"rss\" text=\"Tom &amp; Jerry &lt;&quot;quoted&quot;&gt; &apos;x&apos;\" ",
            "title=\"Tom &amp; Jerry &lt;&quot;quoted&quot;&gt; &apos;x&apos;\" ",
            "xmlUrl=\"https://feeds.example.org/a-b.rss\" htmlUrl=\"https://example.org/?a=1&amp;b=2\"/>\n",
            "    <outline type=\"rss\" text=\"untitled\" title=\"untitled\" ",
            "xmlUrl=\"https://feeds.example.org/untitled.rss\"/>\n",
            "  </body>\n",
            "</opml>\n",
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn export_round_trips_through_import() {
        let feeds = vec![feed(
            "x",
            "A \"B\" & <C>\tD\u{1}",
            Some("https://example.org/"),
            "https://feeds.example.org/x.rss?a=1&b=2",
        )];
        let subs = parse_opml(&export("t", &feeds)).unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].title.as_deref(), Some("A \"B\" & <C> D"));
        assert_eq!(subs[0].xml_url, "https://feeds.example.org/x.rss?a=1&b=2");
        assert_eq!(subs[0].html_url.as_deref(), Some("https://example.org/"));
        assert_eq!(subs[0].category, None);
    }

    const NESTED_OPML2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by a feed reader -->
<opml version="2.0">
  <head>
    <title>Subscriptions of someone</title>
    <dateCreated>Mon, 02 Mar 2026 10:00:00 +0000</dateCreated>
  </head>
  <body>
    <outline text="News" title="News">
      <outline type="rss" text="Yonhap &amp; Co" title="Yonhap &amp; Co" xmlUrl="https://en.yna.co.kr/RSS/news.xml" htmlUrl="https://en.yna.co.kr/"/>
      <outline text="Korea">
        <outline type="rss" text="NK &quot;News&quot; — Daily" xmlUrl="https://www.nknews.org/feed/" htmlUrl="https://www.nknews.org"/>
        <outline type="rss" text="Duplicate of Yonhap" xmlUrl="https://en.yna.co.kr/RSS/news.xml"/>
      </outline>
    </outline>
    <outline text="Just a bookmark" type="link" url="https://example.org/page"/>
    <outline text="Gopher" type="rss" xmlUrl="gopher://example.org/feed"/>
    <outline type="rss" text="" title="Title only" XMLURL="HTTPS://Blog.Example.COM/atom.xml" htmlurl="javascript:alert(1)"></outline>
    <outline type="rss" xmlUrl="feed://example.net/rss"/>
  </body>
</opml>
"#;

    #[test]
    fn parses_nested_opml2_export() {
        let parsed = parse_opml_with_notes(NESTED_OPML2).unwrap();
        let subs = &parsed.subscriptions;
        assert_eq!(subs.len(), 4, "{subs:#?}");

        assert_eq!(subs[0].title.as_deref(), Some("Yonhap & Co"));
        assert_eq!(subs[0].xml_url, "https://en.yna.co.kr/RSS/news.xml");
        assert_eq!(subs[0].html_url.as_deref(), Some("https://en.yna.co.kr/"));
        assert_eq!(subs[0].category.as_deref(), Some("News"));

        assert_eq!(subs[1].title.as_deref(), Some("NK \"News\" — Daily"));
        assert_eq!(subs[1].xml_url, "https://www.nknews.org/feed/");
        assert_eq!(subs[1].category.as_deref(), Some("News / Korea"));

        // Case variants of attribute names; URL scheme and host case-folded; bad htmlUrl dropped.
        assert_eq!(subs[2].title.as_deref(), Some("Title only"));
        assert_eq!(subs[2].xml_url, "https://blog.example.com/atom.xml");
        assert_eq!(subs[2].html_url, None);
        assert_eq!(subs[2].category, None);

        assert_eq!(subs[3].title, None);
        assert_eq!(subs[3].xml_url, "http://example.net/rss");

        assert_eq!(parsed.notes.len(), 2, "{:?}", parsed.notes);
        assert!(parsed.notes[0].contains("listed more than once"));
        assert!(parsed.notes[1].contains("gopher://example.org/feed"));
        assert!(parsed.notes[1].contains("not an http(s) URL"));
    }

    #[test]
    fn parses_opml1() {
        let text = "\u{feff}<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n\
            <opml version=\"1.0\">\n<head><title>mySubscriptions</title></head>\n<body>\n\
            <outline text=\"Scripting News\" type=\"rss\" version=\"RSS\" \
            xmlurl=\"http://scripting.com/rss.xml\" htmlurl=\"http://scripting.com/\"/>\n\
            <outline title=\"Second\" xmlUrl=\"http://example.com/index.xml\"/>\n\
            </body>\n</opml>";
        let subs = parse_opml(text).unwrap();
        assert_eq!(
            subs,
            vec![
                Subscription {
                    title: Some("Scripting News".into()),
                    xml_url: "http://scripting.com/rss.xml".into(),
                    html_url: Some("http://scripting.com/".into()),
                    category: None,
                },
                Subscription {
                    title: Some("Second".into()),
                    xml_url: "http://example.com/index.xml".into(),
                    html_url: None,
                    category: None,
                },
            ]
        );
    }

    #[test]
    fn rejects_non_opml_and_broken_xml() {
        let err = parse_opml("<rss version=\"2.0\"><channel/></rss>").unwrap_err();
        assert!(err.to_string().contains("root element is <rss>"), "{err}");
        let err = parse_opml("<opml><body>\n  <outline text=\"a\">\n</body></opml>").unwrap_err();
        assert!(matches!(err, OpmlError::Xml { line: 3, .. }), "{err:?}");
        assert!(matches!(parse_opml("  "), Err(OpmlError::Empty)));
    }

    #[test]
    fn read_opml_decodes_declared_encoding_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subs.opml");
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<opml version=\"1.0\"><body><outline text=\"Caf".to_vec();
        bytes.push(0xe9);
        bytes.extend_from_slice(b"\" xmlUrl=\"http://cafe.example/rss\"/></body></opml>");
        std::fs::write(&path, &bytes).unwrap();
        let parsed = read_opml(&path).unwrap();
        assert_eq!(parsed.subscriptions[0].title.as_deref(), Some("Café"));

        std::fs::write(&path, "<html></html>").unwrap();
        let err = read_opml(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(err.contains("<html>"), "{err}");
    }

    #[test]
    fn derives_names_from_titles() {
        assert_eq!(name_from_title("NK News"), "nk-news");
        assert_eq!(
            name_from_title("  Tom & Jerry's -- Blog!! "),
            "tom-jerrys-blog"
        );
        assert_eq!(
            name_from_title("Café Société: Über_alles"),
            "cafe-societe-uber_alles"
        );
        assert_eq!(name_from_title("연합뉴스"), "");
        assert_eq!(name_from_title("__x__"), "x");
        let long = name_from_title(&"word ".repeat(20));
        assert!(long.len() <= MAX_NAME_LEN && !long.ends_with('-'), "{long}");
        assert_eq!(
            name_from_url("https://www.yna.co.kr/rss").as_deref(),
            Some("yna-co-kr")
        );
    }

    fn sub(title: Option<&str>, url: &str) -> Subscription {
        Subscription {
            title: title.map(Into::into),
            xml_url: url.into(),
            html_url: None,
            category: None,
        }
    }

    #[test]
    fn config_tables_are_unique_and_skip_known_urls() {
        let subs = vec![
            sub(Some("NK News"), "https://nknews.org/feed/"),
            sub(Some("NK News"), "https://other.example/feed"),
            sub(Some("NK News!"), "https://third.example/feed"),
            sub(Some("연합뉴스"), "https://www.yna.co.kr/rss/news.xml"),
            sub(None, "https://known.example/feed.xml"),
            sub(Some("Again"), "https://nknews.org/feed/"),
            sub(Some("Quote \" back\\slash\nnewline"), "https://q.example/f"),
        ];
        let existing_names = vec!["nk-news".to_string(), "nk-news-3".to_string()];
        let existing_urls = vec!["HTTPS://KNOWN.example/feed.xml".to_string()];
        let (toml_text, names, skipped) = to_config_tables(&subs, &existing_names, &existing_urls);
        assert_eq!(
            names,
            vec![
                "nk-news-2",
                "nk-news-4",
                "nk-news-5",
                "yna-co-kr",
                "quote-back-slash-newline"
            ]
        );
        assert_eq!(skipped, 2);
        let table: toml::Table = toml::from_str(&toml_text).unwrap();
        let feeds = table["feeds"].as_table().unwrap();
        assert_eq!(
            feeds["quote-back-slash-newline"]["title"].as_str(),
            Some("Quote \" back\\slash\nnewline")
        );
        assert_eq!(
            feeds["yna-co-kr"]["feed_url"].as_str(),
            Some("https://www.yna.co.kr/rss/news.xml")
        );
        assert!(feeds["yna-co-kr"].get("title").is_some());
    }

    #[test]
    fn unique_name_keeps_within_length() {
        let base = "a".repeat(MAX_NAME_LEN);
        let taken: HashSet<String> = [base.clone()].into_iter().collect();
        let name = unique_name(&base, &taken);
        assert_eq!(name.len(), MAX_NAME_LEN);
        assert!(name.ends_with("-2"));
    }

    const CONFIG: &str = "# my feeds\n[settings]\nbase_url = \"https://feeds.example.org/\"\n\n[feeds.nknews]  # keep this comment\nurl = \"https://www.nknews.org/\"\n[feeds.nknews.items]\nselector = \"article\"\ntitle = \"h2\"";

    #[test]
    fn append_keeps_every_original_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pagefeed.toml");
        std::fs::write(&path, CONFIG).unwrap();

        let mut s = sub(Some("Tom & \"Jerry\""), "https://example.org/feed?x=1&y=2");
        s.category = Some("Cartoons\n# [feeds.evil]".into());
        let subs = vec![s, sub(Some("NK News"), "https://nknews.org/feed/")];
        let (tables, names, skipped) =
            to_config_tables(&subs, &["nknews".to_string(), "nk-news".to_string()], &[]);
        assert_eq!(skipped, 0);
        append_to_config(&path, &tables, "subs\nfile.opml").unwrap();

        let new = std::fs::read_to_string(&path).unwrap();
        assert!(new.starts_with(CONFIG), "{new}");
        assert!(new[CONFIG.len()..].starts_with("\n\n# imported from OPML subs file.opml\n"));
        assert!(new.ends_with('\n'));
        let table: toml::Table = toml::from_str(&new).unwrap();
        let feeds = table["feeds"].as_table().unwrap();
        assert_eq!(feeds.len(), 3);
        assert_eq!(names, vec!["tom-jerry", "nk-news-2"]);
        assert_eq!(
            feeds["tom-jerry"]["feed_url"].as_str(),
            Some("https://example.org/feed?x=1&y=2")
        );
        assert_eq!(
            feeds["tom-jerry"]["title"].as_str(),
            Some("Tom & \"Jerry\"")
        );
        assert_eq!(
            feeds["nk-news-2"]["feed_url"].as_str(),
            Some("https://nknews.org/feed/")
        );
        assert_eq!(feeds["nk-news-2"]["title"].as_str(), Some("NK News"));
        assert!(feeds["nknews"].get("items").is_some());
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn append_keeps_crlf_and_refuses_to_break_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let old = "[settings]\r\noutput_dir = \"out\"\r\n";
        std::fs::write(&path, old).unwrap();
        let (tables, _, _) = to_config_tables(&[sub(Some("A"), "https://a.example/")], &[], &[]);
        append_to_config(&path, &tables, "a.opml").unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(new.starts_with(old));
        assert!(
            !new[old.len()..].replace("\r\n", "").contains('\n'),
            "{new:?}"
        );
        toml::from_str::<toml::Table>(&new).unwrap();

        // The same table again would duplicate [feeds.a]: refused, file untouched.
        let err = append_to_config(&path, &tables, "a.opml").unwrap_err();
        assert!(matches!(err, OpmlError::WouldBreakConfig { .. }), "{err}");
        assert!(err.to_string().contains("c.toml"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), new);

        let err = append_to_config(&dir.path().join("missing.toml"), &tables, "a").unwrap_err();
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }
}
