//! End-to-end tests of aggregation: upstream feeds (`feed_url`) in every format real sites
//! publish, merged feeds (`merge`) with deduplication, filters, title prefixes and attribution,
//! a source that starts failing, conditional requests to upstream servers, the config errors
//! of merged feeds, and OPML export and import.
//!
//! A real HTTP server on 127.0.0.1 serves the upstream documents, the real binary builds the
//! feeds, and the output is read back with `rss`, `atom_syndication`, `serde_json` and
//! `quick_xml`.

mod common;

use common::{json_authors, json_items, json_str};

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use serde_json::{Value, json};

use common::{Response, Run, Server, pagefeed, read_atom, read_json, read_rss, snapshot};

// -------------------------------------------------------------------------------------------
// Running and reading.

const BASE_URL: &str = "https://feeds.example.net/pf/";

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn build(dir: &Path, config: &Path) -> Run {
    pagefeed(
        dir,
        &["build", "--config", config.to_str().expect("utf-8 path")],
    )
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit status\n--- stdout:\n{}\n--- stderr:\n{}",
        run.stdout, run.stderr
    );
}

/// The stderr line `build` prints for feed `name`.
fn feed_line<'a>(run: &'a Run, name: &str) -> &'a str {
    let prefix = format!("{name}: ");
    run.stderr
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for feed `{name}` on stderr:\n{}", run.stderr))
}

/// The three files of feed `name` in `out`.
fn feed_files(out: &Path, name: &str) -> Vec<PathBuf> {
    ["rss", "atom", "json"]
        .iter()
        .map(|ext| out.join(format!("{name}.{ext}")))
        .collect()
}

fn json_strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn json_date(item: &Value, key: &str) -> DateTime<Utc> {
    let text = json_str(item, key);
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{key} `{text}`: {e}"))
        .with_timezone(&Utc)
}

fn rss_date(item: &rss::Item) -> DateTime<Utc> {
    let text = item.pub_date().expect("pubDate");
    DateTime::parse_from_rfc2822(text)
        .unwrap_or_else(|e| panic!("pubDate `{text}`: {e}"))
        .with_timezone(&Utc)
}

fn rss_creators(item: &rss::Item) -> Vec<String> {
    item.dublin_core_ext()
        .map(|dc| dc.creators().to_vec())
        .unwrap_or_default()
}

fn rss_categories(item: &rss::Item) -> Vec<String> {
    item.categories()
        .iter()
        .map(|c| c.name().to_string())
        .collect()
}

fn atom_alternate(e: &atom_syndication::Entry) -> String {
    e.links()
        .iter()
        .find(|l| l.rel() == "alternate")
        .map(|l| l.href().to_string())
        .unwrap_or_else(|| panic!("no alternate link in entry {}", e.id()))
}

fn atom_categories(e: &atom_syndication::Entry) -> Vec<String> {
    e.categories()
        .iter()
        .map(|c| c.term().to_string())
        .collect()
}

fn atom_authors(e: &atom_syndication::Entry) -> Vec<String> {
    e.authors().iter().map(|p| p.name().to_string()).collect()
}

fn atom_published(e: &atom_syndication::Entry) -> DateTime<Utc> {
    e.published()
        .unwrap_or_else(|| panic!("entry {} has no published date", e.id()))
        .with_timezone(&Utc)
}

/// Whether `id` is `urn:uuid:` and a well-formed UUID.
fn is_urn_uuid(id: &str) -> bool {
    let Some(u) = id.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = u.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn zone(hours: i32) -> FixedOffset {
    FixedOffset::east_opt(hours * 3600).expect("offset")
}

/// `now` minus `hours`.
fn hours_ago(now: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    now - chrono::Duration::hours(hours)
}

/// XML text and attribute escaping for the fixtures.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in the config"))
        + 1
}

/// Asserts `stderr` locates the error at `PATH:LINE:COL:` and quotes that config line.
fn assert_located(stderr: &str, cfg: &Path, text: &str, line: usize) {
    let prefix = format!("{}:{line}:", cfg.display());
    let at = stderr
        .find(&prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{stderr}"));
    let rest = &stderr[at + prefix.len()..];
    let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert!(
        !col.is_empty() && rest[col.len()..].starts_with(':'),
        "no column after `{prefix}` in:\n{stderr}"
    );
    let src = text.lines().nth(line - 1).expect("line");
    assert!(
        stderr.contains(src.trim()),
        "the config line `{src}` is not quoted in:\n{stderr}"
    );
}

// -------------------------------------------------------------------------------------------
// Fixture builders for generated upstream feeds.

/// One article of a generated upstream feed.
#[derive(Clone, Debug)]
struct Art {
    guid: String,
    title: String,
    link: String,
    date: DateTime<Utc>,
    categories: Vec<String>,
    author: String,
    summary: String,
}

fn art(guid: &str, title: &str, link: &str, date: DateTime<Utc>) -> Art {
    Art {
        guid: guid.to_string(),
        title: title.to_string(),
        link: link.to_string(),
        date,
        categories: Vec::new(),
        author: "Desk".to_string(),
        summary: format!("About: {title}"),
    }
}

impl Art {
    fn category(mut self, c: &str) -> Self {
        self.categories.push(c.to_string());
        self
    }

    fn author(mut self, a: &str) -> Self {
        self.author = a.to_string();
        self
    }
}

/// An RSS 2.0 document (WordPress-like) with dates in Seoul time.
fn rss2_doc(title: &str, site: &str, self_url: &str, arts: &[Art]) -> String {
    let mut items = String::new();
    for a in arts {
        let cats: String = a
            .categories
            .iter()
            .map(|c| format!("\n    <category><![CDATA[{c}]]></category>"))
            .collect();
        items.push_str(&format!(
            r#"
  <item>
    <title>{title}</title>
    <link>{link}</link>
    <dc:creator><![CDATA[{author}]]></dc:creator>
    <pubDate>{date}</pubDate>{cats}
    <guid isPermaLink="false">{guid}</guid>
    <description><![CDATA[<p>{summary}</p>]]></description>
  </item>"#,
            title = esc(&a.title),
            link = esc(&a.link),
            author = a.author,
            date = a.date.with_timezone(&zone(9)).to_rfc2822(),
            guid = esc(&a.guid),
            summary = esc(&a.summary),
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>{title}</title>
  <atom:link href="{self_url}" rel="self" type="application/rss+xml" />
  <link>{site}</link>
  <description>Latest from {title}</description>
  <language>en-US</language>
  <generator>https://wordpress.org/?v=6.5.3</generator>{items}
</channel>
</rss>
"#,
        title = esc(title),
    )
}

/// An Atom 1.0 document with dates in UTC+2.
fn atom_doc(title: &str, site: &str, id: &str, arts: &[Art]) -> String {
    let updated = arts
        .iter()
        .map(|a| a.date)
        .max()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut entries = String::new();
    for a in arts {
        let cats: String = a
            .categories
            .iter()
            .map(|c| format!("\n    <category term=\"{}\"/>", esc(c)))
            .collect();
        let date = a.date.with_timezone(&zone(2)).to_rfc3339();
        entries.push_str(&format!(
            r#"
  <entry>
    <title type="text">{title}</title>
    <link rel="alternate" type="text/html" href="{link}"/>
    <id>{id}</id>
    <published>{date}</published>
    <updated>{date}</updated>
    <author><name>{author}</name></author>{cats}
    <summary type="html">{summary}</summary>
  </entry>"#,
            title = esc(&a.title),
            link = esc(&a.link),
            id = esc(&a.guid),
            author = esc(&a.author),
            summary = esc(&format!("<p>{}</p>", esc(&a.summary))),
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>{title}</title>
  <link rel="alternate" type="text/html" href="{site}"/>
  <id>{id}</id>
  <updated>{updated}</updated>{entries}
</feed>
"#,
        title = esc(title),
        updated = updated.to_rfc3339(),
    )
}

/// A JSON Feed 1.1 document with dates in UTC-4.
fn json_doc(title: &str, site: &str, feed_url: &str, arts: &[Art]) -> String {
    let items: Vec<Value> = arts
        .iter()
        .map(|a| {
            json!({
                "id": a.guid,
                "url": a.link,
                "title": a.title,
                "content_html": format!("<p>{}</p>", esc(&a.summary)),
                "date_published": a.date.with_timezone(&zone(-4)).to_rfc3339(),
                "authors": [{ "name": a.author }],
                "tags": a.categories,
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": site,
        "feed_url": feed_url,
        "language": "en",
        "items": items,
    }))
    .expect("json")
}

fn rss_response(body: String) -> Response {
    Response::new(200, "application/rss+xml; charset=UTF-8", body)
}

fn atom_response(body: String) -> Response {
    Response::new(200, "application/atom+xml", body)
}

fn json_response(body: String) -> Response {
    Response::new(200, "application/feed+json", body)
}

// -------------------------------------------------------------------------------------------
// 1. Upstream feeds in every format are republished in all three.

/// RSS 0.91 (Netscape DTD, ISO-8859-1, no GUIDs, no item dates).
fn rss091_bytes(o: &str) -> Vec<u8> {
    let text = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91">
<channel>
<title>Pyongyang Notes</title>
<link>{o}/notes/</link>
<description>Short notes from the capital</description>
<language>en-us</language>
<copyright>Copyright 2001, Pyongyang Notes</copyright>
<managingEditor>editor@notes.example (Editor)</managingEditor>
<image>
<title>Pyongyang Notes</title>
<url>{o}/notes/logo.gif</url>
<link>{o}/notes/</link>
</image>
<item>
<title>Metro line reopens</title>
<link>{o}/notes/metro.html</link>
<description>The &lt;b&gt;Chollima&lt;/b&gt; line runs again.</description>
</item>
<item>
<title>Caf&#233; culture on Ryomyong Street</title>
<link>{o}/notes/cafe.html</link>
<description>Espresso, at last. Café owners are pleased.</description>
</item>
</channel>
</rss>
"#
    );
    // ISO-8859-1, as the declaration says: every character of the document fits in a byte.
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 character"))
        .collect()
}

/// RSS 1.0 (RDF) with Dublin Core dates and creators.
fn rdf_doc(o: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF
  xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:syn="http://purl.org/rss/1.0/modules/syndication/">
<channel rdf:about="{o}/rdf.xml">
  <title>Korea Tech Digest</title>
  <link>{o}/tech/</link>
  <description>Technology news, RSS 1.0 edition</description>
  <dc:language>en</dc:language>
  <dc:publisher>Korea Tech Digest</dc:publisher>
  <syn:updatePeriod>hourly</syn:updatePeriod>
  <items>
    <rdf:Seq>
      <rdf:li rdf:resource="{o}/tech/story/1"/>
      <rdf:li rdf:resource="{o}/tech/story/2"/>
    </rdf:Seq>
  </items>
</channel>
<item rdf:about="{o}/tech/story/1">
  <title>Satellite launch window announced</title>
  <link>{o}/tech/story/1</link>
  <description>Officials gave a two-week window.</description>
  <dc:creator>Min-ji Park</dc:creator>
  <dc:date>2024-03-05T14:30:00+09:00</dc:date>
</item>
<item rdf:about="{o}/tech/story/2">
  <title>Rail link to Rason upgraded</title>
  <link>{o}/tech/story/2?from=rss</link>
  <description>New track on the border line.</description>
  <dc:creator>Tom Reed</dc:creator>
  <dc:date>2024-03-04T08:00:00Z</dc:date>
</item>
</rdf:RDF>
"#
    )
}

/// RSS 2.0 from WordPress: content:encoded with a relative link, an image and a script;
/// non-permalink GUIDs; a relative item link; `<author>` as an address with a name.
fn rss2_real_doc(o: &str, extra_item: bool) -> String {
    let extra = if extra_item {
        r#"
  <item>
    <title>Late addition</title>
    <link>https://blog.example.org/late</link>
    <pubDate>Wed, 15 May 2024 10:00:00 +0000</pubDate>
    <guid isPermaLink="false">kr-blog-4720</guid>
    <description>Added later.</description>
  </item>"#
    } else {
        ""
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:atom="http://www.w3.org/2005/Atom"
	xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
	xmlns:slash="http://purl.org/rss/1.0/modules/slash/"
	>

<channel>
	<title>Korea Risk Blog</title>
	<atom:link href="{o}/rss2.xml" rel="self" type="application/rss+xml" />
	<link>{o}/blog/</link>
	<description>Analysis and commentary</description>
	<lastBuildDate>Tue, 14 May 2024 09:12:44 +0000</lastBuildDate>
	<language>en-US</language>
	<sy:updatePeriod>hourly</sy:updatePeriod>
	<sy:updateFrequency>1</sy:updateFrequency>
	<generator>https://wordpress.org/?v=6.5.3</generator>{extra}
	<item>
		<title>Sanctions enforcement: a new approach</title>
		<link>{o}/blog/2024/05/sanctions-enforcement/</link>
		<comments>{o}/blog/2024/05/sanctions-enforcement/#respond</comments>
		<dc:creator><![CDATA[Jane Doe]]></dc:creator>
		<pubDate>Tue, 14 May 2024 09:00:00 +0900</pubDate>
		<category><![CDATA[Analysis]]></category>
		<category><![CDATA[Sanctions]]></category>
		<guid isPermaLink="false">kr-blog-4711</guid>
		<description><![CDATA[A short teaser &#8230;]]></description>
		<content:encoded><![CDATA[<p>Read <a href="/blog/2024/04/earlier-post/">our earlier post</a> first.</p>
<script>track("pageview");</script>
<p><img src="images/chart.png" alt="Chart" onload="steal()"></p>]]></content:encoded>
		<wfw:commentRss>{o}/blog/2024/05/sanctions-enforcement/feed/</wfw:commentRss>
		<slash:comments>3</slash:comments>
	</item>
	<item>
		<title>Weekly roundup</title>
		<link>/blog/2024/05/weekly-roundup/</link>
		<author>editor@blog.example.org (Sam Lee)</author>
		<pubDate>Mon, 13 May 2024 18:30:00 GMT</pubDate>
		<guid isPermaLink="false">https://blog.example.org/?p=4702</guid>
		<description><![CDATA[Five stories you <em>missed</em>.]]></description>
	</item>
</channel>
</rss>
"#
    )
}

/// Atom 1.0 with a relative `xml:base` on the feed and on an entry, relative links and
/// xhtml content.
fn atom_real_doc() -> String {
    r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/journal/" xml:lang="en">
  <title type="text">Field Journal</title>
  <subtitle>Notes from the border</subtitle>
  <link rel="alternate" type="text/html" href="./"/>
  <link rel="self" type="application/atom+xml" href="/atom.xml"/>
  <id>tag:journal.example.org,2024:feed</id>
  <updated>2024-05-10T12:00:00Z</updated>
  <author><name>Field Team</name></author>
  <entry>
    <title>Crossing at Dandong</title>
    <link rel="alternate" type="text/html" href="2024/05/dandong"/>
    <id>tag:journal.example.org,2024:entry-1</id>
    <published>2024-05-10T08:15:00+08:00</published>
    <updated>2024-05-10T12:00:00Z</updated>
    <author><name>Li Wei</name></author>
    <category term="travel" label="Travel"/>
    <content type="xhtml">
      <div xmlns="http://www.w3.org/1999/xhtml">
        <p>See <a href="photos/bridge.jpg">the bridge</a> at dawn.</p>
        <script>evil();</script>
      </div>
    </content>
  </entry>
  <entry xml:base="/archive/">
    <title type="html">Old &lt;em&gt;notes&lt;/em&gt;</title>
    <link href="old-notes.html"/>
    <id>tag:journal.example.org,2024:entry-2</id>
    <updated>2024-05-01T00:00:00Z</updated>
    <summary>Plain summary, no markup.</summary>
  </entry>
</feed>
"#
    .to_string()
}

/// JSON Feed 1.1 with a relative item URL, HTML with a relative link and a script, a
/// text-only item and feed-level authors.
fn json_real_doc(o: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Data Desk",
        "home_page_url": format!("{o}/data/"),
        "feed_url": format!("{o}/feed.json"),
        "language": "en",
        "authors": [{ "name": "Data Desk Team" }],
        "items": [
            {
                "id": "dd-2024-017",
                "url": format!("{o}/data/trade-2024/"),
                "title": "Trade figures for April",
                "content_html": "<p>Exports <a href=\"/data/exports.csv\">as CSV</a>.</p><script>x()</script>",
                "date_published": "2024-05-12T06:00:00-04:00",
                "authors": [{ "name": "Ana Ruiz" }, { "name": "Bo Kim", "url": "https://bo.example" }],
                "tags": ["trade", "data"]
            },
            {
                "id": "https://data.example.org/posts/rice",
                "url": "/data/rice/",
                "title": "Rice prices",
                "content_text": "Up 4% in a month.",
                "date_published": "2024-05-11T00:00:00Z",
                "date_modified": "2024-05-11T12:00:00Z"
            }
        ]
    }))
    .expect("json")
}

/// What one item must look like in all three output formats.
struct Expected {
    guid: String,
    /// RSS `isPermaLink`.
    permalink: bool,
    /// The Atom id; `None`: a `urn:uuid:` derived from the GUID.
    atom_id: Option<String>,
    title: &'static str,
    link: String,
    /// `None`: dated by when it was first seen (during the build).
    date: Option<DateTime<Utc>>,
    authors: Vec<&'static str>,
    categories: Vec<&'static str>,
    /// The summary is HTML (RSS description, Atom `html`, JSON `content_html`).
    html: bool,
    /// Must appear in the summary of every format.
    has: Vec<String>,
}

/// Checks the three files of upstream feed `name` against `want`, in order. Returns the Atom
/// ids of the entries.
fn check_upstream_feed(
    out: &Path,
    name: &str,
    title: &str,
    site: &str,
    want: &[Expected],
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<String> {
    let in_window = |d: DateTime<Utc>, what: &str| {
        assert!(
            d >= window.0 && d <= window.1,
            "{what}: first-seen date {d} is not within the build {window:?}"
        );
    };
    let bad = ["<script", "track(", "evil(", "x()", "steal(", "onload"];

    let rss = read_rss(&out.join(format!("{name}.rss")));
    assert_eq!(rss.title(), title, "{name}.rss title");
    assert_eq!(rss.link(), site, "{name}.rss link");
    let got: Vec<&str> = rss
        .items()
        .iter()
        .map(|i| i.guid().map_or("", |g| g.value()))
        .collect();
    let want_guids: Vec<&str> = want.iter().map(|w| w.guid.as_str()).collect();
    assert_eq!(got, want_guids, "{name}.rss GUIDs in order");
    for (item, w) in rss.items().iter().zip(want) {
        let what = format!("{name}.rss item {}", w.guid);
        let guid = item.guid().expect("guid");
        assert_eq!(guid.is_permalink(), w.permalink, "{what}: isPermaLink");
        assert_eq!(item.title(), Some(w.title), "{what}: title");
        assert_eq!(item.link(), Some(w.link.as_str()), "{what}: link");
        match w.date {
            Some(d) => assert_eq!(rss_date(item), d, "{what}: pubDate"),
            None => in_window(rss_date(item), &what),
        }
        assert_eq!(rss_creators(item), w.authors, "{what}: dc:creator");
        assert_eq!(rss_categories(item), w.categories, "{what}: categories");
        assert!(
            item.source().is_none(),
            "{what}: no <source> outside a merge"
        );
        let d = item.description().expect("description");
        for h in &w.has {
            assert!(d.contains(h.as_str()), "{what}: no `{h}` in {d}");
        }
        for b in bad {
            assert!(!d.contains(b), "{what}: `{b}` left in {d}");
        }
    }

    let atom = read_atom(&out.join(format!("{name}.atom")));
    assert_eq!(atom.title().as_str(), title, "{name}.atom title");
    assert_eq!(atom.entries().len(), want.len(), "{name}.atom entries");
    let mut ids = Vec::new();
    for (e, w) in atom.entries().iter().zip(want) {
        let what = format!("{name}.atom entry {}", w.guid);
        match &w.atom_id {
            Some(id) => assert_eq!(e.id(), id, "{what}: id"),
            None => assert!(is_urn_uuid(e.id()), "{what}: id {} is not urn:uuid", e.id()),
        }
        ids.push(e.id().to_string());
        assert_eq!(e.title().as_str(), w.title, "{what}: title");
        assert_eq!(atom_alternate(e), w.link, "{what}: link");
        match w.date {
            Some(d) => assert_eq!(atom_published(e), d, "{what}: published"),
            None => in_window(atom_published(e), &what),
        }
        assert_eq!(atom_authors(e), w.authors, "{what}: authors");
        assert_eq!(atom_categories(e), w.categories, "{what}: categories");
        assert!(e.source().is_none(), "{what}: no <source> outside a merge");
        let s = e.summary().expect("summary");
        let kind = if w.html {
            atom_syndication::TextType::Html
        } else {
            atom_syndication::TextType::Text
        };
        assert_eq!(s.r#type, kind, "{what}: summary type");
        for h in &w.has {
            assert!(s.as_str().contains(h.as_str()), "{what}: no `{h}` in {s:?}");
        }
        for b in bad {
            assert!(!s.as_str().contains(b), "{what}: `{b}` left in {s:?}");
        }
    }
    // The Atom ids are unique within the feed.
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "{name}.atom ids {ids:?}");

    let feed = read_json(&out.join(format!("{name}.json")));
    assert_eq!(json_str(&feed, "title"), title, "{name}.json title");
    assert_eq!(json_str(&feed, "home_page_url"), site, "{name}.json home");
    let items = json_items(&feed);
    let got: Vec<&str> = items.iter().map(|i| json_str(i, "id")).collect();
    assert_eq!(got, want_guids, "{name}.json ids in order");
    for (i, w) in items.iter().zip(want) {
        let what = format!("{name}.json item {}", w.guid);
        assert_eq!(json_str(i, "title"), w.title, "{what}: title");
        assert_eq!(json_str(i, "url"), w.link, "{what}: url");
        match w.date {
            Some(d) => assert_eq!(json_date(i, "date_published"), d, "{what}: date"),
            None => in_window(json_date(i, "date_published"), &what),
        }
        assert_eq!(json_authors(i), w.authors, "{what}: authors");
        assert_eq!(json_strings(&i["tags"]), w.categories, "{what}: tags");
        assert!(
            i.get("_pagefeed").is_none(),
            "{what}: no source outside a merge"
        );
        let key = if w.html {
            "content_html"
        } else {
            "content_text"
        };
        let c = json_str(i, key);
        for h in &w.has {
            assert!(c.contains(h.as_str()), "{what}: no `{h}` in {c}");
        }
        for b in bad {
            assert!(!c.contains(b), "{what}: `{b}` left in {c}");
        }
    }
    ids
}

#[test]
fn upstream_feeds_of_every_format_are_republished_in_all_three() {
    let server = Server::start();
    let o = server.origin();
    server.route(
        "/rss091.xml",
        Response::new(200, "text/xml", rss091_bytes(&o)),
    );
    server.route(
        "/rdf.xml",
        Response::new(200, "application/rdf+xml", rdf_doc(&o)),
    );
    server.route("/rss2.xml", rss_response(rss2_real_doc(&o, false)));
    server.route("/atom.xml", atom_response(atom_real_doc()));
    server.route("/feed.json", json_response(json_real_doc(&o)));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = format!("[settings]\noutput_dir = \"public\"\nbase_url = \"{BASE_URL}\"\n");
    for (name, path) in [
        ("notes", "/rss091.xml"),
        ("tech", "/rdf.xml"),
        ("risk", "/rss2.xml"),
        ("journal", "/atom.xml"),
        ("data", "/feed.json"),
    ] {
        text.push_str(&format!(
            "\n[feeds.{name}]\nfeed_url = \"{}\"\n",
            server.url(path)
        ));
    }
    let cfg = write_config(dir.path(), &text);

    let before = Utc::now().trunc_subsecs(0);
    let run = build(dir.path(), &cfg);
    let after = Utc::now();
    assert_exit(&run, 0);
    for name in ["notes", "tech", "risk", "journal", "data"] {
        let line = feed_line(&run, name);
        assert!(line.contains("written"), "{line}");
    }
    assert!(
        !run.stderr.contains("warning"),
        "no warnings expected:\n{}",
        run.stderr
    );
    // Upstream feeds are asked for as feeds.
    let accept = server
        .last_header("/rss2.xml", "Accept")
        .unwrap_or_default();
    assert!(accept.contains("application/rss+xml"), "Accept: {accept}");
    let out = dir.path().join("public");
    let window = (before, after);

    // RSS 0.91: no GUIDs (the link is the GUID), no item dates (first seen), ISO-8859-1.
    check_upstream_feed(
        &out,
        "notes",
        "Pyongyang Notes",
        &format!("{o}/notes/"),
        &[
            Expected {
                guid: format!("{o}/notes/metro.html"),
                permalink: true,
                atom_id: Some(format!("{o}/notes/metro.html")),
                title: "Metro line reopens",
                link: format!("{o}/notes/metro.html"),
                date: None,
                authors: vec![],
                categories: vec![],
                html: true,
                has: vec!["<b>Chollima</b>".to_string()],
            },
            Expected {
                guid: format!("{o}/notes/cafe.html"),
                permalink: true,
                atom_id: Some(format!("{o}/notes/cafe.html")),
                title: "Caf\u{e9} culture on Ryomyong Street",
                link: format!("{o}/notes/cafe.html"),
                date: None,
                authors: vec![],
                categories: vec![],
                html: true,
                has: vec!["Caf\u{e9} owners are pleased".to_string()],
            },
        ],
        window,
    );

    // RSS 1.0: rdf:about is the GUID; dc:date and dc:creator.
    check_upstream_feed(
        &out,
        "tech",
        "Korea Tech Digest",
        &format!("{o}/tech/"),
        &[
            Expected {
                guid: format!("{o}/tech/story/1"),
                permalink: true,
                atom_id: Some(format!("{o}/tech/story/1")),
                title: "Satellite launch window announced",
                link: format!("{o}/tech/story/1"),
                date: Some(utc("2024-03-05T05:30:00Z")),
                authors: vec!["Min-ji Park"],
                categories: vec![],
                html: true,
                has: vec!["Officials gave a two-week window.".to_string()],
            },
            Expected {
                guid: format!("{o}/tech/story/2"),
                permalink: false,
                atom_id: Some(format!("{o}/tech/story/2")),
                title: "Rail link to Rason upgraded",
                link: format!("{o}/tech/story/2?from=rss"),
                date: Some(utc("2024-03-04T08:00:00Z")),
                authors: vec!["Tom Reed"],
                categories: vec![],
                html: true,
                has: vec!["New track on the border line.".to_string()],
            },
        ],
        window,
    );

    // RSS 2.0: content:encoded sanitized and absolutized; non-permalink GUIDs kept; a GUID
    // that is not an IRI gets a urn:uuid: Atom id.
    let risk_want = |extra: bool| {
        let mut v = Vec::new();
        if extra {
            v.push(Expected {
                guid: "kr-blog-4720".to_string(),
                permalink: false,
                atom_id: None,
                title: "Late addition",
                link: "https://blog.example.org/late".to_string(),
                date: Some(utc("2024-05-15T10:00:00Z")),
                authors: vec![],
                categories: vec![],
                html: true,
                has: vec!["Added later.".to_string()],
            });
        }
        v.push(Expected {
            guid: "kr-blog-4711".to_string(),
            permalink: false,
            atom_id: None,
            title: "Sanctions enforcement: a new approach",
            link: format!("{o}/blog/2024/05/sanctions-enforcement/"),
            date: Some(utc("2024-05-14T00:00:00Z")),
            authors: vec!["Jane Doe"],
            categories: vec!["Analysis", "Sanctions"],
            html: true,
            has: vec![
                format!(r#"href="{o}/blog/2024/04/earlier-post/""#),
                format!(r#"src="{o}/images/chart.png""#),
                "our earlier post".to_string(),
            ],
        });
        v.push(Expected {
            guid: "https://blog.example.org/?p=4702".to_string(),
            permalink: false,
            atom_id: Some("https://blog.example.org/?p=4702".to_string()),
            title: "Weekly roundup",
            link: format!("{o}/blog/2024/05/weekly-roundup/"),
            date: Some(utc("2024-05-13T18:30:00Z")),
            authors: vec!["Sam Lee"],
            categories: vec![],
            html: true,
            has: vec!["Five stories you <em>missed</em>.".to_string()],
        });
        v
    };
    let risk_ids = check_upstream_feed(
        &out,
        "risk",
        "Korea Risk Blog",
        &format!("{o}/blog/"),
        &risk_want(false),
        window,
    );

    // Atom 1.0: xml:base resolves entry links and xhtml content; feed author inherited.
    check_upstream_feed(
        &out,
        "journal",
        "Field Journal",
        &format!("{o}/journal/"),
        &[
            Expected {
                guid: "tag:journal.example.org,2024:entry-1".to_string(),
                permalink: false,
                atom_id: Some("tag:journal.example.org,2024:entry-1".to_string()),
                title: "Crossing at Dandong",
                link: format!("{o}/journal/2024/05/dandong"),
                date: Some(utc("2024-05-10T00:15:00Z")),
                authors: vec!["Li Wei"],
                categories: vec!["Travel"],
                html: true,
                has: vec![
                    format!(r#"href="{o}/journal/photos/bridge.jpg""#),
                    "the bridge".to_string(),
                ],
            },
            Expected {
                guid: "tag:journal.example.org,2024:entry-2".to_string(),
                permalink: false,
                atom_id: Some("tag:journal.example.org,2024:entry-2".to_string()),
                title: "Old notes",
                link: format!("{o}/archive/old-notes.html"),
                date: Some(utc("2024-05-01T00:00:00Z")),
                authors: vec!["Field Team"],
                categories: vec![],
                html: false,
                has: vec!["Plain summary, no markup.".to_string()],
            },
        ],
        window,
    );

    // JSON Feed 1.1: ids kept, relative url resolved, feed authors stand in.
    check_upstream_feed(
        &out,
        "data",
        "Data Desk",
        &format!("{o}/data/"),
        &[
            Expected {
                guid: "dd-2024-017".to_string(),
                permalink: false,
                atom_id: None,
                title: "Trade figures for April",
                link: format!("{o}/data/trade-2024/"),
                date: Some(utc("2024-05-12T10:00:00Z")),
                authors: vec!["Ana Ruiz", "Bo Kim"],
                categories: vec!["trade", "data"],
                html: true,
                has: vec![format!(r#"href="{o}/data/exports.csv""#)],
            },
            Expected {
                guid: "https://data.example.org/posts/rice".to_string(),
                permalink: false,
                atom_id: Some("https://data.example.org/posts/rice".to_string()),
                title: "Rice prices",
                link: format!("{o}/data/rice/"),
                date: Some(utc("2024-05-11T00:00:00Z")),
                authors: vec!["Data Desk Team"],
                categories: vec![],
                html: false,
                has: vec!["Up 4% in a month.".to_string()],
            },
        ],
        window,
    );

    // The urn:uuid: id of a GUID is stable: a later build that rewrites the feed (one more
    // item upstream) gives the same GUID the same id.
    server.route("/rss2.xml", rss_response(rss2_real_doc(&o, true)));
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    let line = feed_line(&run, "risk");
    assert!(line.contains("1 new") && line.contains("written"), "{line}");
    let ids = check_upstream_feed(
        &out,
        "risk",
        "Korea Risk Blog",
        &format!("{o}/blog/"),
        &risk_want(true),
        window,
    );
    assert_eq!(&ids[1..], &risk_ids[..], "Atom ids changed between builds");
    assert_ne!(ids[0], ids[1], "different GUIDs, different ids");
}

// -------------------------------------------------------------------------------------------
// 2. A merged feed: dedupe, filters, order, prefix, attribution.

/// A scraped listing page: `(href, title, date)` per article.
fn listing_page(arts: &[(&str, &str, DateTime<Utc>)]) -> String {
    let body: String = arts
        .iter()
        .map(|(href, title, date)| {
            format!(
                r#"
    <article class="story">
      <h2 class="headline"><a href="{href}">{title}</a></h2>
      <p class="meta">Posted <time datetime="{dt}">{shown}</time></p>
    </article>"#,
                dt = date.with_timezone(&zone(9)).to_rfc3339(),
                shown = date.with_timezone(&zone(9)).format("%B %-d, %Y"),
            )
        })
        .collect();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Delta Monitor</title></head>
<body>
  <nav><a href="/">Home</a> <a href="/delta/">Latest</a></nav>
  <main>{body}
  </main>
  <footer>&copy; Delta Monitor</footer>
</body>
</html>
"#
    )
}

/// The scraped source's `[feeds.delta]` tables.
fn delta_config(url: &str) -> String {
    format!(
        r#"
[feeds.delta]
url = "{url}"

[feeds.delta.items]
selector = "article.story"
title = "h2.headline a"
link = "h2.headline a"
date = "time"
"#
    )
}

/// One item of a merged feed as it must be published.
struct MergedItem {
    guid: String,
    title: String,
    link: String,
    date: DateTime<Utc>,
    categories: Vec<String>,
    /// The source feed's name, title, site link, Atom id and RSS URL.
    source: (String, String, String, String, String),
}

/// Checks merged feed `name` in all three formats against `want`, in order.
fn check_merged_feed(out: &Path, name: &str, title: &str, want: &[MergedItem]) {
    let guids: Vec<&str> = want.iter().map(|w| w.guid.as_str()).collect();

    let rss = read_rss(&out.join(format!("{name}.rss")));
    assert_eq!(rss.title(), title);
    let got: Vec<&str> = rss
        .items()
        .iter()
        .map(|i| i.guid().map_or("", |g| g.value()))
        .collect();
    assert_eq!(got, guids, "{name}.rss GUIDs in order");
    for (i, w) in rss.items().iter().zip(want) {
        let what = format!("{name}.rss item {}", w.guid);
        assert_eq!(i.title(), Some(w.title.as_str()), "{what}: title");
        assert_eq!(i.link(), Some(w.link.as_str()), "{what}: link");
        assert_eq!(rss_date(i), w.date, "{what}: pubDate");
        assert_eq!(rss_categories(i), w.categories, "{what}: categories");
        let src = i.source().unwrap_or_else(|| panic!("{what}: no <source>"));
        assert_eq!(src.url(), w.source.4, "{what}: source url");
        assert_eq!(
            src.title(),
            Some(w.source.1.as_str()),
            "{what}: source title"
        );
    }

    let atom = read_atom(&out.join(format!("{name}.atom")));
    assert_eq!(atom.title().as_str(), title);
    assert_eq!(atom.entries().len(), want.len(), "{name}.atom entries");
    for (e, w) in atom.entries().iter().zip(want) {
        let what = format!("{name}.atom entry {}", w.guid);
        if url::Url::parse(&w.guid).is_ok() {
            assert_eq!(e.id(), w.guid, "{what}: id");
        } else {
            assert!(is_urn_uuid(e.id()), "{what}: id {}", e.id());
        }
        assert_eq!(e.title().as_str(), w.title, "{what}: title");
        assert_eq!(atom_alternate(e), w.link, "{what}: link");
        assert_eq!(atom_published(e), w.date, "{what}: published");
        assert_eq!(atom_categories(e), w.categories, "{what}: categories");
        let src = e.source().unwrap_or_else(|| panic!("{what}: no <source>"));
        assert_eq!(src.id(), w.source.3, "{what}: source id");
        assert_eq!(src.title().as_str(), w.source.1, "{what}: source title");
        let links: Vec<&str> = src.links().iter().map(|l| l.href()).collect();
        assert_eq!(links, [w.source.2.as_str()], "{what}: source link");
    }

    let feed = read_json(&out.join(format!("{name}.json")));
    assert_eq!(json_str(&feed, "title"), title);
    let items = json_items(&feed);
    let got: Vec<&str> = items.iter().map(|i| json_str(i, "id")).collect();
    assert_eq!(got, guids, "{name}.json ids in order");
    for (i, w) in items.iter().zip(want) {
        let what = format!("{name}.json item {}", w.guid);
        assert_eq!(json_str(i, "title"), w.title, "{what}: title");
        assert_eq!(json_str(i, "url"), w.link, "{what}: url");
        assert_eq!(json_date(i, "date_published"), w.date, "{what}: date");
        assert_eq!(json_strings(&i["tags"]), w.categories, "{what}: tags");
        assert_eq!(
            i["_pagefeed"]["source"],
            json!({
                "name": w.source.0,
                "title": w.source.1,
                "home_page_url": w.source.2,
                "feed_url": w.source.4,
            }),
            "{what}: _pagefeed.source"
        );
    }
}

/// Sources of the merge test: `(alpha, bravo, charlie, delta)` articles.
struct MergeFixture {
    alpha: Vec<Art>,
    bravo: Vec<Art>,
    charlie: Vec<Art>,
    delta: Vec<(String, String, DateTime<Utc>)>,
}

fn merge_fixture(o: &str, now: DateTime<Utc>) -> MergeFixture {
    let h = |n: i64| hours_ago(now, n);
    MergeFixture {
        alpha: vec![
            // Not included: matches no `include` pattern (and is the newest of all).
            art(
                "alpha-106",
                "Weather: heavy rain in Pyongyang",
                "https://alpha.example.org/rain",
                h(1),
            ),
            // Excluded.
            art(
                "alpha-103",
                "Sponsored: missile defence stocks to watch",
                "https://alpha.example.org/stocks",
                h(3),
            ),
            // Same article as bravo's tag:...:1 (tracking parameters); bravo's copy is earlier.
            art(
                "alpha-101",
                "Missile launch reported off east coast",
                "https://news.example.org/2024/missile-launch?utm_source=alpha&utm_medium=rss",
                h(5),
            ),
            // Same article as bravo's tag:...:3 at the very same instant: alpha is listed first.
            art(
                "alpha-105",
                "Launch pad expansion at Sohae",
                "https://news.example.org/2024/sohae-pad",
                h(10),
            )
            .category("Space"),
            // Same normalised title as charlie-2, which is later.
            art(
                "alpha-102",
                "Nuclear talks resume in Geneva",
                "https://alpha.example.org/nuclear-talks",
                h(24),
            ),
            // Older than max_age.
            art(
                "alpha-104",
                "Nuclear test site: a look back",
                "https://alpha.example.org/look-back",
                h(24 * 100),
            ),
        ],
        bravo: vec![
            art(
                "tag:bravo.example.org,2024:1",
                "Missile launch reported off the east coast",
                "https://news.example.org/2024/missile-launch#comments",
                h(6),
            )
            .category("Military")
            .author("Bo Reporter"),
            // Same GUID as charlie's copy, which is earlier.
            art(
                "shared-guid-77",
                "Launch of new nuclear submarine",
                "https://bravo.example.org/sub",
                h(8),
            ),
            art(
                "tag:bravo.example.org,2024:3",
                "Sohae launch pad grows",
                "https://NEWS.example.org:443/2024/sohae-pad/",
                h(10),
            ),
            art(
                "tag:bravo.example.org,2024:4",
                "Nuclear envoy visits Seoul",
                "https://bravo.example.org/envoy",
                h(30),
            ),
        ],
        charlie: vec![
            // Same article as bravo's (fbclid), later.
            art(
                "charlie-3",
                "Missile launch: what we know",
                "https://news.example.org/2024/missile-launch?fbclid=IwAR0xyz",
                h(4),
            ),
            art(
                "shared-guid-77",
                "Nuclear submarine launched, state media says",
                "https://charlie.example.org/sub-launch",
                h(9),
            )
            .category("navy"),
            art(
                "charlie-2",
                "NUCLEAR TALKS: Resume in Geneva!",
                "https://charlie.example.org/geneva",
                h(20),
            ),
            art(
                "charlie-4",
                "Missile parts seized at border",
                "https://charlie.example.org/seized",
                h(50),
            ),
        ],
        delta: vec![
            (
                format!("{o}/delta/engine-test"),
                "Missile engine test at Sohae".to_string(),
                h(2),
            ),
            (
                format!("{o}/delta/honoured"),
                "Nuclear scientists honoured".to_string(),
                h(40),
            ),
        ],
    }
}

fn serve_merge_fixture(server: &Server, f: &MergeFixture) {
    let o = server.origin();
    server.route(
        "/alpha.xml",
        rss_response(rss2_doc(
            "Alpha Wire",
            &format!("{o}/alpha/"),
            &server.url("/alpha.xml"),
            &f.alpha,
        )),
    );
    server.route(
        "/bravo.atom",
        atom_response(atom_doc(
            "Bravo Daily",
            &format!("{o}/bravo/"),
            "tag:bravo.example.org,2024:feed",
            &f.bravo,
        )),
    );
    server.route(
        "/charlie.json",
        json_response(json_doc(
            "Charlie Report",
            &format!("{o}/charlie/"),
            &server.url("/charlie.json"),
            &f.charlie,
        )),
    );
    let delta: Vec<(&str, &str, DateTime<Utc>)> = f
        .delta
        .iter()
        .map(|(l, t, d)| (l.as_str(), t.as_str(), *d))
        .collect();
    server.route("/delta/", Response::html(listing_page(&delta)));
}

#[test]
fn merged_feed_dedupes_filters_orders_prefixes_and_attributes() {
    let server = Server::start();
    let o = server.origin();
    let now = Utc::now().trunc_subsecs(0);
    let fx = merge_fixture(&o, now);
    serve_merge_fixture(&server, &fx);

    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"[settings]
output_dir = "public"
base_url = "{BASE_URL}"

[feeds.korea]
title = "Korea digest"
merge = ["alpha", "bravo", "charlie", "delta"]
max_items = 10
include = ["(?i)missile|nuclear|launch"]
exclude = ["(?i)sponsored"]
max_age = "30d"
dedupe = "title"
title_prefix = "[{{source}}] "

[feeds.top3]
title = "Top three"
merge = ["korea"]
max_items = 3

[feeds.alpha]
feed_url = "{alpha}"

[feeds.bravo]
feed_url = "{bravo}"

[feeds.charlie]
title = "Charlie Report (mirror)"
feed_url = "{charlie}"
{delta}"#,
        alpha = server.url("/alpha.xml"),
        bravo = server.url("/bravo.atom"),
        charlie = server.url("/charlie.json"),
        delta = delta_config(&server.url("/delta/")),
    );
    let cfg = write_config(dir.path(), &text);
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    for name in ["alpha", "bravo", "charlie", "delta", "korea", "top3"] {
        let line = feed_line(&run, name);
        assert!(line.contains("written"), "{line}");
    }
    for path in ["/alpha.xml", "/bravo.atom", "/charlie.json", "/delta/"] {
        assert_eq!(server.hits(path), 1, "{path} fetched once");
    }
    let out = dir.path().join("public");

    let src = |name: &str, title: &str, site: String, rss: String| {
        (
            name.to_string(),
            title.to_string(),
            site,
            format!("{BASE_URL}{name}.atom"),
            rss,
        )
    };
    let alpha = src(
        "alpha",
        "Alpha Wire",
        format!("{o}/alpha/"),
        server.url("/alpha.xml"),
    );
    let bravo = src(
        "bravo",
        "Bravo Daily",
        format!("{o}/bravo/"),
        server.url("/bravo.atom"),
    );
    let charlie = src(
        "charlie",
        "Charlie Report (mirror)",
        format!("{o}/charlie/"),
        server.url("/charlie.json"),
    );
    let delta = src(
        "delta",
        "Delta Monitor",
        format!("{o}/delta/"),
        format!("{BASE_URL}delta.rss"),
    );
    let h = |n: i64| hours_ago(now, n);
    let item = |guid: &str,
                title: &str,
                link: &str,
                date,
                cats: &[&str],
                s: &(String, String, String, String, String)| {
        let mut categories: Vec<String> = cats.iter().map(|c| c.to_string()).collect();
        categories.push(s.0.clone());
        MergedItem {
            guid: guid.to_string(),
            title: format!("[{}] {title}", s.1),
            link: link.to_string(),
            date,
            categories,
            source: s.clone(),
        }
    };
    let engine = format!("{o}/delta/engine-test");
    let honoured = format!("{o}/delta/honoured");
    let want = vec![
        item(
            &engine,
            "Missile engine test at Sohae",
            &engine,
            h(2),
            &[],
            &delta,
        ),
        // The earliest copy of the missile-launch article, with its own link.
        item(
            "tag:bravo.example.org,2024:1",
            "Missile launch reported off the east coast",
            "https://news.example.org/2024/missile-launch#comments",
            h(6),
            &["Military"],
            &bravo,
        ),
        // The earlier copy of the shared GUID: charlie's.
        item(
            "shared-guid-77",
            "Nuclear submarine launched, state media says",
            "https://charlie.example.org/sub-launch",
            h(9),
            &["navy"],
            &charlie,
        ),
        // A tie on date: the source listed first.
        item(
            "alpha-105",
            "Launch pad expansion at Sohae",
            "https://news.example.org/2024/sohae-pad",
            h(10),
            &["Space"],
            &alpha,
        ),
        // The same normalised title: the earlier copy.
        item(
            "alpha-102",
            "Nuclear talks resume in Geneva",
            "https://alpha.example.org/nuclear-talks",
            h(24),
            &[],
            &alpha,
        ),
        item(
            "tag:bravo.example.org,2024:4",
            "Nuclear envoy visits Seoul",
            "https://bravo.example.org/envoy",
            h(30),
            &[],
            &bravo,
        ),
        item(
            &honoured,
            "Nuclear scientists honoured",
            &honoured,
            h(40),
            &[],
            &delta,
        ),
        item(
            "charlie-4",
            "Missile parts seized at border",
            "https://charlie.example.org/seized",
            h(50),
            &[],
            &charlie,
        ),
    ];
    check_merged_feed(&out, "korea", "Korea digest", &want);
    let line = feed_line(&run, "korea");
    assert!(line.contains("8 items"), "{line}");

    // A merged item keeps its Atom id from the source feed.
    let alpha_atom = read_atom(&out.join("alpha.atom"));
    let korea_atom = read_atom(&out.join("korea.atom"));
    let alpha_id = alpha_atom
        .entries()
        .iter()
        .find(|e| e.title().as_str() == "Launch pad expansion at Sohae")
        .map(|e| e.id().to_string())
        .expect("alpha-105 in alpha.atom");
    assert_eq!(korea_atom.entries()[3].id(), alpha_id);

    // The source feeds themselves are not filtered by the merge.
    assert_eq!(read_rss(&out.join("alpha.rss")).items().len(), 6);
    assert_eq!(read_rss(&out.join("charlie.rss")).items().len(), 4);

    // A merge of the merge: cut to max_items, the original attribution kept, no new prefix.
    let top: Vec<MergedItem> = want.into_iter().take(3).collect();
    check_merged_feed(&out, "top3", "Top three", &top);

    // The same sources again: nothing changes.
    std::thread::sleep(Duration::from_millis(1100));
    let files: Vec<PathBuf> = ["korea", "top3"]
        .iter()
        .flat_map(|n| feed_files(&out, n))
        .collect();
    let before = snapshot(&files);
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert!(
        feed_line(&run, "korea").contains("unchanged"),
        "{}",
        run.stderr
    );
    let after = snapshot(&files);
    for ((p, b1, _), (_, b2, _)) in before.iter().zip(&after) {
        assert!(
            b1 == b2,
            "{} changed on a rebuild with the same sources",
            p.display()
        );
    }
}

// -------------------------------------------------------------------------------------------
// 3. A source that starts failing does not fail the merged feed.

#[test]
fn failing_source_keeps_its_last_good_items_in_the_merge() {
    let server = Server::start();
    let o = server.origin();
    let now = Utc::now().trunc_subsecs(0);
    let h = |n: i64| hours_ago(now, n);
    let mut alpha = vec![
        art("a-1", "Alpha one", "https://alpha.example.org/1", h(3)),
        art("a-2", "Alpha two", "https://alpha.example.org/2", h(12)),
    ];
    let bravo = vec![
        art(
            "tag:bravo.example.org,2024:b1",
            "Bravo one",
            "https://bravo.example.org/1",
            h(5),
        ),
        art(
            "tag:bravo.example.org,2024:b2",
            "Bravo two",
            "https://bravo.example.org/2",
            h(20),
        ),
    ];
    let alpha_url = server.url("/alpha.xml");
    let bravo_url = server.url("/bravo.atom");
    let serve_alpha = |arts: &[Art]| {
        server.route(
            "/alpha.xml",
            rss_response(rss2_doc(
                "Alpha Wire",
                &format!("{o}/alpha/"),
                &alpha_url,
                arts,
            )),
        );
    };
    serve_alpha(&alpha);
    server.route(
        "/bravo.atom",
        atom_response(atom_doc(
            "Bravo Daily",
            &format!("{o}/bravo/"),
            "tag:bravo.example.org,2024:feed",
            &bravo,
        )),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"[settings]
output_dir = "public"
base_url = "{BASE_URL}"

[feeds.alpha]
feed_url = "{alpha_url}"

[feeds.bravo]
feed_url = "{bravo_url}"

[feeds.digest]
title = "Digest"
merge = ["alpha", "bravo"]
"#
    );
    let cfg = write_config(dir.path(), &text);
    let out = dir.path().join("public");

    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    let guids = |c: &rss::Channel| -> Vec<String> {
        c.items()
            .iter()
            .map(|i| i.guid().expect("guid").value().to_string())
            .collect()
    };
    assert_eq!(
        guids(&read_rss(&out.join("digest.rss"))),
        [
            "a-1",
            "tag:bravo.example.org,2024:b1",
            "a-2",
            "tag:bravo.example.org,2024:b2"
        ]
    );
    let bravo_files = feed_files(&out, "bravo");
    let bravo_before = snapshot(&bravo_files);

    // bravo's server breaks; alpha has a new article.
    server.route("/bravo.atom", Response::status(500));
    alpha.insert(
        0,
        art("a-3", "Alpha three", "https://alpha.example.org/3", h(1)),
    );
    serve_alpha(&alpha);
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 1);
    let line = feed_line(&run, "bravo");
    assert!(line.contains("FAILED"), "{line}");
    assert!(line.contains("500"), "{line}");
    assert!(
        line.contains(&bravo_url),
        "the failing source's URL: {line}"
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("digest") && l.contains("`bravo`")),
        "the merged feed names its failing source:\n{}",
        run.stderr
    );
    let line = feed_line(&run, "digest");
    assert!(
        !line.contains("FAILED") && line.contains("written"),
        "{line}"
    );
    assert!(
        feed_line(&run, "alpha").contains("written"),
        "{}",
        run.stderr
    );
    // bravo's own files are the last good ones.
    for ((p, b1, _), (_, b2, _)) in bravo_before.iter().zip(&snapshot(&bravo_files)) {
        assert!(b1 == b2, "{} changed", p.display());
    }

    // The merge has alpha's new item and bravo's last good items, in order, attributed.
    let rss = read_rss(&out.join("digest.rss"));
    assert_eq!(
        guids(&rss),
        [
            "a-3",
            "a-1",
            "tag:bravo.example.org,2024:b1",
            "a-2",
            "tag:bravo.example.org,2024:b2"
        ]
    );
    let sources: Vec<&str> = rss
        .items()
        .iter()
        .map(|i| i.source().expect("source").url())
        .collect();
    assert_eq!(
        sources,
        [&alpha_url, &alpha_url, &bravo_url, &alpha_url, &bravo_url].map(String::as_str)
    );
    let titles: Vec<&str> = rss
        .items()
        .iter()
        .map(|i| i.title().unwrap_or(""))
        .collect();
    assert_eq!(
        titles,
        [
            "Alpha three",
            "Alpha one",
            "Bravo one",
            "Alpha two",
            "Bravo two"
        ]
    );
    let atom = read_atom(&out.join("digest.atom"));
    let ids: Vec<&str> = atom.entries().iter().map(|e| e.id()).collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(ids[2], "tag:bravo.example.org,2024:b1");
    let json = read_json(&out.join("digest.json"));
    let json_ids: Vec<&str> = json_items(&json)
        .iter()
        .map(|i| json_str(i, "id"))
        .collect();
    assert_eq!(
        json_ids,
        [
            "a-3",
            "a-1",
            "tag:bravo.example.org,2024:b1",
            "a-2",
            "tag:bravo.example.org,2024:b2"
        ]
    );
    // No item reports the failure.
    for f in feed_files(&out, "digest") {
        let text = std::fs::read_to_string(&f).expect("read");
        for word in ["500", "Internal Server Error", "FAILED", "failed", "error"] {
            assert!(!text.contains(word), "`{word}` in {}:\n{text}", f.display());
        }
    }
}

// -------------------------------------------------------------------------------------------
// 4. Conditional requests to an upstream server.

#[test]
fn unchanged_upstream_feed_is_not_downloaded_again() {
    let server = Server::start();
    let o = server.origin();
    let now = Utc::now().trunc_subsecs(0);
    let arts = vec![
        art(
            "w-2",
            "Second dispatch",
            "https://wire.example.org/2",
            hours_ago(now, 2),
        ),
        art(
            "w-1",
            "First dispatch",
            "https://wire.example.org/1",
            hours_ago(now, 7),
        ),
    ];
    let etag = "\"5f2a-61c0b1a4\"";
    let last_modified = "Tue, 14 May 2024 09:12:44 GMT";
    let wire_url = server.url("/wire.xml");
    server.route_conditional(
        "/wire.xml",
        rss_response(rss2_doc(
            "The Wire",
            &format!("{o}/wire/"),
            &wire_url,
            &arts,
        ))
        .with_header("ETag", etag)
        .with_header("Last-Modified", last_modified),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"[settings]
output_dir = "public"
base_url = "{BASE_URL}"

[feeds.wire]
feed_url = "{wire_url}"

[feeds.all]
merge = ["wire"]
"#
    );
    let cfg = write_config(dir.path(), &text);
    let out = dir.path().join("public");

    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert_eq!(server.last_status("/wire.xml"), Some(200));
    assert_eq!(server.last_header("/wire.xml", "If-None-Match"), None);
    let line = feed_line(&run, "wire");
    assert!(line.contains("2 new") && line.contains("written"), "{line}");
    let files: Vec<PathBuf> = ["wire", "all"]
        .iter()
        .flat_map(|n| feed_files(&out, n))
        .collect();
    let before = snapshot(&files);
    assert_eq!(read_rss(&out.join("all.rss")).items().len(), 2);

    std::thread::sleep(Duration::from_millis(1100));
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert_eq!(server.hits("/wire.xml"), 2);
    assert_eq!(
        server.last_header("/wire.xml", "If-None-Match").as_deref(),
        Some(etag)
    );
    assert_eq!(
        server
            .last_header("/wire.xml", "If-Modified-Since")
            .as_deref(),
        Some(last_modified)
    );
    assert_eq!(server.last_status("/wire.xml"), Some(304), "answered 304");
    let line = feed_line(&run, "wire");
    assert!(line.contains("not modified"), "{line}");
    assert!(line.contains("unchanged"), "{line}");
    assert!(line.contains("2 items"), "{line}");
    assert!(
        feed_line(&run, "all").contains("unchanged"),
        "{}",
        run.stderr
    );
    let after = snapshot(&files);
    for ((p, b1, m1), (_, b2, m2)) in before.iter().zip(&after) {
        assert!(b1 == b2, "{} changed after a 304", p.display());
        assert_eq!(m1, m2, "{} rewritten after a 304", p.display());
    }
}

// -------------------------------------------------------------------------------------------
// 5. Config errors of merged feeds.

fn config_error(text: &str) -> (Run, PathBuf, Server, tempfile::TempDir) {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = text.replace("ORIGIN", &server.origin());
    let cfg = write_config(dir.path(), &text);
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 2);
    assert_eq!(server.hits("/src.xml"), 0, "nothing is fetched");
    assert!(!dir.path().join("public").exists(), "nothing is written");
    (run, cfg, server, dir)
}

#[test]
fn merge_cycle_is_a_config_error_naming_the_chain() {
    let text = r#"[settings]
output_dir = "public"

[feeds.src]
feed_url = "ORIGIN/src.xml"

[feeds.a]
merge = ["src", "b"]

[feeds.b]
merge = ["a"]
"#;
    let (run, cfg, server, _dir) = config_error(text);
    let text = text.replace("ORIGIN", &server.origin());
    assert!(run.stderr.contains("a -> b -> a"), "{}", run.stderr);
    assert_located(
        &run.stderr,
        &cfg,
        &text,
        line_of(&text, "merge = [\"src\", \"b\"]"),
    );
}

#[test]
fn unknown_name_in_merge_is_a_config_error() {
    let text = r#"[settings]
output_dir = "public"

[feeds.src]
feed_url = "ORIGIN/src.xml"

[feeds.digest]
title = "Digest"
merge = ["src", "kcna-watch"]
"#;
    let (run, cfg, server, _dir) = config_error(text);
    let text = text.replace("ORIGIN", &server.origin());
    assert!(run.stderr.contains("`kcna-watch`"), "{}", run.stderr);
    assert!(run.stderr.contains("digest"), "{}", run.stderr);
    assert_located(&run.stderr, &cfg, &text, line_of(&text, "kcna-watch"));
}

#[test]
fn feed_with_both_url_and_feed_url_is_a_config_error() {
    let text = r#"[settings]
output_dir = "public"

[feeds.src]
url = "ORIGIN/page.html"
feed_url = "ORIGIN/src.xml"
"#;
    let (run, cfg, server, _dir) = config_error(text);
    let text = text.replace("ORIGIN", &server.origin());
    assert_located(&run.stderr, &cfg, &text, line_of(&text, "[feeds.src]"));
    assert!(run.stderr.contains("feed src"), "{}", run.stderr);
    assert!(
        run.stderr.contains("`url`") && run.stderr.contains("`feed_url`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{}:", cfg.display())),
        "{}",
        run.stderr
    );
}

// -------------------------------------------------------------------------------------------
// 6. OPML export and import.

/// One `<outline>` of an OPML document: its attributes.
type Outline = Vec<(String, String)>;

/// Parses `text` as XML (failing on anything not well-formed) and returns the OPML version
/// and every `<outline>` with its attributes, in document order.
fn parse_opml(text: &str) -> (String, Vec<Outline>) {
    use quick_xml::XmlVersion;
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut version = None;
    let mut outlines = Vec::new();
    let mut depth = 0usize;
    let mut root_done = false;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("OPML is not well-formed: {e}\n{text}"));
        let (start, empty) = match &event {
            Event::Start(s) => (s, false),
            Event::Empty(s) => (s, true),
            Event::End(_) => {
                depth -= 1;
                if depth == 0 {
                    root_done = true;
                }
                continue;
            }
            Event::Text(t) => {
                let t = String::from_utf8_lossy(t.as_ref()).into_owned();
                assert!(
                    depth > 0 || t.trim().is_empty(),
                    "text outside the root: {t:?}"
                );
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        assert!(!root_done, "a second root element in\n{text}");
        let attrs: Outline = start
            .attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                (
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    a.normalized_value(XmlVersion::Implicit1_0)
                        .expect("attribute value")
                        .into_owned(),
                )
            })
            .collect();
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        if depth == 0 {
            assert_eq!(name, "opml", "root element");
            version = attrs
                .iter()
                .find(|(k, _)| k == "version")
                .map(|(_, v)| v.clone());
        } else if name == "outline" {
            outlines.push(attrs);
        }
        if !empty {
            depth += 1;
        } else if depth == 0 {
            root_done = true;
        }
    }
    assert!(root_done && depth == 0, "unclosed elements in\n{text}");
    (version.expect("opml version"), outlines)
}

fn attr<'a>(o: &'a Outline, key: &str) -> Option<&'a str> {
    o.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn opml(dir: &Path, cfg: &Path) -> Run {
    pagefeed(dir, &["opml", "--config", cfg.to_str().expect("utf-8")])
}

#[test]
fn opml_export_lists_the_feeds_and_import_appends_new_subscriptions() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Comments, odd spacing and no newline at the end: all of it must survive the import.
    let original = "# My feeds -- edited by hand\n\
        [settings]\n\
        output_dir = \"public\"\n\
        base_url = \"https://feeds.example.net/pf\"   # no slash\n\
        \n\
        [feeds.nknews]\n\
        title = \"NK News\"\n\
        site_url = \"https://www.nknews.org/\"\n\
        url = \"https://www.nknews.org/latest/\"\n\
        \n\
        [feeds.nknews.items]\n\
        selector = \"article\"\n\
        title = \"h3 a\"\n\
        \n\
        [feeds.dailynk]\n\
        feed_url = \"https://www.dailynk.com/english/feed/\"\n\
        \n\
        [feeds.korea]\n\
        title = \"Korea & Co <digest>\"\n\
        merge = [\"nknews\", \"dailynk\"]  # both";
    let cfg = write_config(dir.path(), original);

    // Export.
    let run = opml(dir.path(), &cfg);
    assert_exit(&run, 0);
    let (version, outlines) = parse_opml(&run.stdout);
    assert_eq!(version, "2.0");
    // Compared sorted by xmlUrl: OPML readers do not care about the order.
    let rows = |outlines: &[Outline]| -> Vec<[Option<String>; 4]> {
        let mut rows: Vec<[Option<String>; 4]> = outlines
            .iter()
            .map(|o| ["xmlUrl", "type", "text", "htmlUrl"].map(|k| attr(o, k).map(str::to_string)))
            .collect();
        rows.sort();
        rows
    };
    let row = |xml: &str, text: &str, html: Option<&str>| {
        [
            Some(xml.to_string()),
            Some("rss".to_string()),
            Some(text.to_string()),
            html.map(str::to_string),
        ]
    };
    let exported = vec![
        row("https://feeds.example.net/pf/dailynk.rss", "dailynk", None),
        row(
            "https://feeds.example.net/pf/korea.rss",
            "Korea & Co <digest>",
            None,
        ),
        row(
            "https://feeds.example.net/pf/nknews.rss",
            "NK News",
            Some("https://www.nknews.org/"),
        ),
    ];
    assert_eq!(rows(&outlines), exported);
    // Byte-stable: the same config, the same document.
    let again = opml(dir.path(), &cfg);
    assert_exit(&again, 0);
    assert_eq!(again.stdout, run.stdout);

    // Import a reader's export: categories, one subscription already in the config (the same
    // URL), one listed twice, one that is not http(s).
    let export = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head>
    <title>Feedly subscriptions</title>
  </head>
  <body>
    <outline text="Korea" title="Korea">
      <outline type="rss" text="Daily NK" title="Daily NK" xmlUrl="https://www.dailynk.com/english/feed/" htmlUrl="https://www.dailynk.com/english/"/>
      <outline type="rss" text="38 North" title="38 North" xmlUrl="https://www.38north.org/feed/" htmlUrl="https://www.38north.org"/>
      <outline type="rss" text="KCNA Watch &amp; Co" title="KCNA Watch" xmlUrl="https://kcnawatch.org/feed/?lang=en"/>
    </outline>
    <outline text="Tech">
      <outline type="rss" text="38 North (again)" xmlUrl="https://www.38north.org/feed/"/>
      <outline type="rss" text="Mail list" xmlUrl="mailto:list@example.org"/>
    </outline>
  </body>
</opml>
"#;
    std::fs::write(dir.path().join("export.opml"), export).expect("write opml");
    let import = || {
        pagefeed(
            dir.path(),
            &[
                "import-opml",
                "export.opml",
                "--config",
                cfg.to_str().expect("utf-8"),
            ],
        )
    };
    let run = import();
    assert_exit(&run, 0);
    assert!(run.stderr.contains("added 2 feeds"), "{}", run.stderr);
    assert!(run.stderr.contains("1 skipped"), "{}", run.stderr);
    // The outline that is no feed URL and the repeated one are left out with a note.
    assert!(
        run.stderr.contains("mailto:list@example.org"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("38 North (again)"), "{}", run.stderr);
    let new_text = std::fs::read_to_string(&cfg).expect("read config");
    assert!(
        new_text.starts_with(original),
        "the original config is not kept byte for byte:\n{new_text}"
    );
    let added = &new_text[original.len()..];
    assert!(
        added.starts_with('\n'),
        "the addition starts on a new line: {added:?}"
    );
    let added_value: toml::Table = toml::from_str(added).expect("the addition is TOML");
    let feeds = added_value["feeds"].as_table().expect("[feeds.*] tables");
    let mut names: Vec<&str> = feeds.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["38-north", "kcna-watch-co"], "{added}");
    assert_eq!(
        feeds["38-north"]["feed_url"].as_str(),
        Some("https://www.38north.org/feed/")
    );
    assert_eq!(feeds["38-north"]["title"].as_str(), Some("38 North"));
    assert_eq!(
        feeds["kcna-watch-co"]["feed_url"].as_str(),
        Some("https://kcnawatch.org/feed/?lang=en")
    );
    assert_eq!(
        feeds["kcna-watch-co"]["title"].as_str(),
        Some("KCNA Watch & Co")
    );
    // Daily NK was already there (and is not added under another name).
    assert_eq!(
        new_text
            .matches("https://www.dailynk.com/english/feed/")
            .count(),
        1
    );

    // The result loads, and the new feeds are listed.
    let run = opml(dir.path(), &cfg);
    assert_exit(&run, 0);
    let (_, outlines) = parse_opml(&run.stdout);
    let mut want = exported;
    want.push(row(
        "https://feeds.example.net/pf/38-north.rss",
        "38 North",
        None,
    ));
    want.push(row(
        "https://feeds.example.net/pf/kcna-watch-co.rss",
        "KCNA Watch & Co",
        None,
    ));
    want.sort();
    assert_eq!(rows(&outlines), want);

    // Importing the same export again adds nothing and leaves the file alone.
    let before = std::fs::read(&cfg).expect("read");
    let run = import();
    assert_exit(&run, 0);
    assert!(run.stderr.contains("added 0 feeds"), "{}", run.stderr);
    assert_eq!(std::fs::read(&cfg).expect("read"), before);
}
