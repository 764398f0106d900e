//! An item's own page (its link), read for the full article: pure, like the rest of `extract`.
//!
//! `[feeds.NAME.article]` names what to read: `content` (a FIELD whose first match's inner HTML
//! is the body, or `"auto"`: main-content extraction), and optional `date`, `authors` and
//! `image` FIELDs. Where the config gives no FIELD for one of those three, the page's JSON-LD
//! (the first `Article`-like object: `datePublished`, `author`, `image`) is asked. The body is
//! sanitized with links and images made absolute against the article's own address; the
//! fetching, the history and the politeness live in [`crate::articles`].

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use scraper::{Html, Selector};
use serde_json::Value;
use url::Url;

use crate::config::{ArticleContent, ArticleRules, FeedConfig};
use crate::extract::{dates, links, sanitize, select};
use crate::source::decode;
use crate::source::fetch::Page;

/// What an article page gave; every part may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Article {
    /// The body, sanitized HTML with absolute links and images.
    pub content: Option<String>,
    /// The article's date, when one was found and is plausible.
    pub published: Option<DateTime<Utc>>,
    pub authors: Vec<String>,
    /// An absolute image address.
    pub image: Option<String>,
    /// Things worth telling (a date that could not be read, no body found).
    pub notes: Vec<String>,
}

/// Why an article page could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArticleError {
    /// The address answered with something that is no HTML page (a PDF, an image, ...).
    #[error("{0}")]
    NotHtml(String),
}

static LD: LazyLock<Selector> = LazyLock::new(|| {
    Selector::parse("script[type*=\"ld+json\" i]")
        .unwrap_or_else(|e| unreachable!("static selector: {e}"))
});

/// Read the article `page` with `rules`; `now` is the fetch time (for relative dates).
pub fn read(
    feed: &FeedConfig,
    rules: &ArticleRules,
    page: &Page,
    now: DateTime<Utc>,
) -> Result<Article, ArticleError> {
    if let Some(msg) =
        crate::source::sniff::not_html(page, page.url.as_str(), "an HTML page", "article")
    {
        return Err(ArticleError::NotHtml(msg));
    }
    let (html, _) = decode::decode(&page.bytes, page.content_type.as_deref());
    let (doc, _report) = crate::extract::parse::document(&html);
    let info = select::page_info(&doc);
    let base = links::base_url(&page.url, info.base_href.as_deref(), None);
    let ld = json_ld(&doc);
    let mut out = Article::default();

    let raw_body = match &rules.content {
        ArticleContent::Field(f) => select::page_html(&doc, f),
        ArticleContent::Auto => main_content(&html, &page.url),
    };
    out.content = raw_body
        .map(|b| sanitize::clean_html(&b, &base))
        .filter(|b| !b.is_empty());
    if out.content.is_none() {
        out.notes.push(match &rules.content {
            ArticleContent::Field(f) => format!(
                "content selector `{}` matched nothing on the article page",
                f.selector_text
            ),
            ArticleContent::Auto => "no main content was found on the article page".to_string(),
        });
    }

    let date_text = match &rules.date {
        Some(f) => select::page_date(&doc, f),
        None => ld.as_ref().and_then(|o| {
            crate::extract::auto::json_str(o.get("datePublished").or_else(|| o.get("dateCreated")))
        }),
    };
    if let Some(text) = date_text {
        let language = feed
            .date_locale
            .as_deref()
            .or(info.language.as_deref())
            .or(feed.language.as_deref());
        match dates::parse_date_in(&text, &feed.date_formats, feed.time_zone, now, language) {
            Some(p) if dates::sane(p.instant, now, feed.future_dates).is_ok() => {
                out.published = Some(p.instant);
            }
            Some(_) => out.notes.push(format!(
                "the article's date `{text}` is implausible; it is not used"
            )),
            None => out.notes.push(format!(
                "cannot read the article's date `{text}` (add a date_format to the feed to read it)"
            )),
        }
    }

    out.authors = match &rules.authors {
        Some(f) => select::page_values(&doc, f),
        None => ld
            .as_ref()
            .map(|o| crate::extract::auto::json_names(o.get("author").or_else(|| o.get("creator"))))
            .unwrap_or_default(),
    };

    let image = match &rules.image {
        Some(f) => select::page_image(&doc, f),
        None => ld.as_ref().and_then(|o| json_image(o.get("image"))),
    };
    out.image = image.and_then(|i| links::resolve(&base, &i));
    Ok(out)
}

/// The first article-like object of the page's JSON-LD (also inside `@graph`).
fn json_ld(doc: &Html) -> Option<serde_json::Map<String, Value>> {
    for s in doc.select(&LD) {
        let text: String = s.text().collect();
        let stream = serde_json::Deserializer::from_str(text.trim()).into_iter::<Value>();
        for v in stream {
            let Ok(v) = v else { break };
            if let Some(o) = find_article(&v, 0) {
                return Some(o.clone());
            }
        }
    }
    None
}

fn find_article(v: &Value, depth: usize) -> Option<&serde_json::Map<String, Value>> {
    if depth > 8 {
        return None;
    }
    match v {
        Value::Array(a) => a
            .iter()
            .find_map(|x| find_article(x, depth.saturating_add(1))),
        Value::Object(o) => {
            let types = crate::extract::auto::jsonld::types(o);
            if types
                .iter()
                .any(|t| crate::extract::auto::jsonld::ENTRY_TYPES.contains(&t.as_str()))
            {
                return Some(o);
            }
            ["@graph", "mainEntity"]
                .iter()
                .filter_map(|k| o.get(*k))
                .find_map(|x| find_article(x, depth.saturating_add(1)))
        }
        _ => None,
    }
}

/// An image address from JSON-LD: a string, an `ImageObject` (`url`, `contentUrl`), or a list.
fn json_image(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Array(a) => a.iter().find_map(|x| json_image(Some(x))),
        Value::Object(o) => json_image(
            o.get("url")
                .or_else(|| o.get("contentUrl"))
                .or_else(|| o.get("@id")),
        ),
        _ => None,
    }
}

/// The most elements a page may have for `content = "auto"`: a bigger one gets no content
/// (with a note) rather than minutes of scoring.
const AUTO_MAX_ELEMENTS: usize = 100_000;

/// `content = "auto"`: the page's main content (HTML, not yet sanitized), as `dom_smoothie`
/// (a port of Mozilla's Readability, the reader view of Firefox) finds it. The page goes in as
/// the bounded parser lets it through ([`crate::extract::parse::for_sanitizer`]).
fn main_content(html: &str, url: &Url) -> Option<String> {
    let bounded = crate::extract::parse::for_sanitizer(html);
    let config = dom_smoothie::Config {
        max_elements_to_parse: AUTO_MAX_ELEMENTS,
        ..dom_smoothie::Config::default()
    };
    let mut r =
        dom_smoothie::Readability::new(bounded.as_ref(), Some(url.as_str()), Some(config)).ok()?;
    let article = r.parse().ok()?;
    let content = article.content.to_string();
    (!content.trim().is_empty()).then_some(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Page {
        Page {
            bytes: html.as_bytes().to_vec(),
            content_type: Some("text/html; charset=utf-8".to_string()),
            url: Url::parse("https://site.example/posts/one").expect("url"),
            validators: Default::default(),
        }
    }

    fn feed(article: &str) -> FeedConfig {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[feeds.a]\nurl = \"https://site.example/\"\n[feeds.a.items]\nselector = \"li\"\ntitle = \"a\"\n[feeds.a.article]\n{article}\n"
            ),
        )
        .expect("write");
        let c = crate::config::load(&path).expect("config");
        c.feeds.into_iter().next().expect("feed")
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    #[test]
    fn fields_read_meta_content_and_win_over_json_ld_only_where_given() {
        let f = feed(
            "content = \"div.body\"\nimage = \"meta[property='og:image']\"\nauthors = \"meta[name=author]\"",
        );
        let html = r#"<html><head>
            <meta property="og:image" content="/img/a.jpg"><meta name="author" content="Ann Example">
            <script type="application/ld+json">{"@graph":[{"@type":"BlogPosting","datePublished":"2026-02-03T04:05:06Z","author":{"name":"Bo"},"image":"https://cdn.example/b.jpg"}]}</script>
            </head><body><div class="body"><p>Hello <a href="/x">x</a><script>bad()</script></p></div></body></html>"#;
        let rules = f.article.as_ref().expect("rules");
        let a = read(&f, rules, &page(html), now()).expect("read");
        assert_eq!(
            a.content.as_deref(),
            Some(
                r#"<p>Hello <a href="https://site.example/x" rel="noopener noreferrer">x</a></p>"#
            )
        );
        assert_eq!(a.image.as_deref(), Some("https://site.example/img/a.jpg"));
        assert_eq!(a.authors, vec!["Ann Example"]);
        // No date FIELD: JSON-LD's datePublished.
        assert_eq!(
            a.published.map(|d| d.to_rfc3339()).as_deref(),
            Some("2026-02-03T04:05:06+00:00")
        );
    }

    #[test]
    fn auto_keeps_the_body_and_drops_the_chrome() {
        let f = feed("content = \"auto\"");
        let rules = f.article.as_ref().expect("rules");
        let html = include_str!("../../tests/data/articles/blog.html");
        let a = read(&f, rules, &page(html), now()).expect("read");
        let c = a.content.expect("content");
        assert!(
            c.contains("Last spring our team moved the whole build farm"),
            "{c}"
        );
        assert!(c.contains("The cheapest job to migrate"), "{c}");
        assert!(!c.contains("Subscribe to our newsletter"), "{c}");
        assert!(!c.contains("Great write-up"), "{c}");
        assert!(
            c.contains(r#"src="https://site.example/img/farm.jpg""#),
            "{c}"
        );
    }

    #[test]
    fn auto_reads_a_page_nested_past_the_parser_bounds() {
        let f = feed("content = \"auto\"");
        let rules = f.article.as_ref().expect("rules");
        let html = format!(
            "<html><body>{}<p>Deep text, with commas, and enough words to be the main content of this page.</p>{}</body></html>",
            "<div>".repeat(20_000),
            "</div>".repeat(20_000)
        );
        let started = std::time::Instant::now();
        let a = read(&f, rules, &page(&html), now()).expect("read");
        eprintln!("20000 levels deep: {:?}", started.elapsed());
        assert!(a.content.is_some_and(|c| c.contains("Deep text")));
    }

    #[test]
    fn not_html_is_an_error() {
        let f = feed("content = \"auto\"");
        let rules = f.article.as_ref().expect("rules");
        let mut p = page("%PDF-1.4 ...");
        p.content_type = Some("application/pdf".to_string());
        assert!(read(&f, rules, &p, now()).is_err());
    }
}
