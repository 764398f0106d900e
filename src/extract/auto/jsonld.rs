//! schema.org JSON-LD: `ItemList`s and article-like objects (`Article`, `NewsArticle`,
//! `BlogPosting`, ...), also inside `@graph` and the usual containers (`mainEntity`, `hasPart`,
//! `blogPost`).

use std::sync::LazyLock;

use scraper::Selector;
use serde_json::Value;

use super::{Candidate, Extractor, FieldSpec, Method, Page, json_names, json_str, sel};
use crate::extract::select::{EntryParts, RawEntry};

static LD: LazyLock<Selector> = LazyLock::new(|| sel("script[type*=\"ld+json\" i]"));

/// Types whose objects are entries of a listing.
pub(crate) const ENTRY_TYPES: &[&str] = &[
    "Article",
    "NewsArticle",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "ReportageNewsArticle",
    "ReviewNewsArticle",
    "BackgroundNewsArticle",
    "BlogPosting",
    "LiveBlogPosting",
    "SocialMediaPosting",
    "DiscussionForumPosting",
    "TechArticle",
    "ScholarlyArticle",
    "Report",
    "Review",
    "Recipe",
    "VideoObject",
    "PodcastEpisode",
    "Episode",
    "Event",
    "JobPosting",
    "CreativeWork",
];

/// How deep the walk goes into one JSON document.
const MAX_DEPTH: usize = 24;

pub(crate) fn types(o: &serde_json::Map<String, Value>) -> Vec<String> {
    let strip = |s: &str| s.rsplit(['/', ':']).next().unwrap_or(s).to_string();
    match o.get("@type") {
        Some(Value::String(s)) => vec![strip(s)],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(strip).collect(),
        _ => Vec::new(),
    }
}

/// The entry an object describes: title, link, date, authors, summary.
pub(crate) fn entry_from(o: &serde_json::Map<String, Value>) -> RawEntry {
    let link = json_str(o.get("url"))
        .or_else(|| match o.get("mainEntityOfPage") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(m)) => json_str(m.get("@id").or_else(|| m.get("url"))),
            _ => None,
        })
        .or_else(|| json_str(o.get("@id")).filter(|i| i.starts_with("http")));
    RawEntry::new(&EntryParts {
        title: json_str(o.get("headline")).or_else(|| json_str(o.get("name"))),
        link,
        summary: json_str(o.get("description")),
        authors: json_names(o.get("author").or_else(|| o.get("creator"))),
        date: json_str(
            o.get("datePublished")
                .or_else(|| o.get("dateCreated"))
                .or_else(|| o.get("uploadDate"))
                .or_else(|| o.get("startDate")),
        ),
        image: None,
        categories: Vec::new(),
        guid: None,
    })
}

#[derive(Default)]
struct Found {
    lists: Vec<RawEntry>,
    articles: Vec<RawEntry>,
}

fn walk(v: &Value, depth: usize, out: &mut Found) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Array(a) => {
            for x in a {
                walk(x, depth + 1, out);
            }
        }
        Value::Object(o) => {
            let ts = types(o);
            if ts.iter().any(|t| t == "ItemList")
                && let Some(Value::Array(items)) = o.get("itemListElement")
            {
                for li in items {
                    let Value::Object(li) = li else { continue };
                    let mut e = match li.get("item") {
                        Some(Value::Object(item)) => entry_from(item),
                        Some(Value::String(url)) => RawEntry::new(&EntryParts {
                            link: Some(url.clone()),
                            ..EntryParts::default()
                        }),
                        _ => entry_from(li),
                    };
                    if e.link().is_none() || e.title().is_none() {
                        e.edit(|e| {
                            if e.link.is_none() {
                                e.link = json_str(li.get("url"));
                            }
                            if e.title.is_none() {
                                e.title = json_str(li.get("name"));
                            }
                        });
                    }
                    out.lists.push(e);
                }
                return;
            }
            if ts.iter().any(|t| ENTRY_TYPES.contains(&t.as_str())) {
                out.articles.push(entry_from(o));
            }
            for key in [
                "@graph",
                "mainEntity",
                "hasPart",
                "blogPost",
                "blogPosts",
                "articles",
                "itemListElement",
            ] {
                if let Some(x) = o.get(key) {
                    walk(x, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

fn candidate(page: &Page, entries: Vec<RawEntry>, what: &str) -> Option<Candidate> {
    let page_url = page.base.as_str().trim_end_matches('/');
    let entries: Vec<RawEntry> = entries
        .into_iter()
        .filter(|e| {
            e.link()
                .and_then(|l| page.resolve(l))
                .is_some_and(|l| l.trim_end_matches('/') != page_url)
        })
        .collect();
    let (score, links) = super::score_entries(page, &entries)?;
    Some(Candidate {
        method: Method::JsonLd,
        selector: "script[type=\"application/ld+json\"]".to_string(),
        fields: vec![
            ("title", FieldSpec::css(what)),
            ("link", FieldSpec::css("url")),
            ("summary", FieldSpec::css("description")),
            ("authors", FieldSpec::css("author")),
            ("date", FieldSpec::css("datePublished")),
        ],
        score,
        count: links.len(),
        links,
        extractor: Extractor::Entries(entries),
    })
}

pub fn find(page: &Page) -> Vec<Candidate> {
    let mut found = Found::default();
    for s in page.doc.select(&LD) {
        let text: String = s.text().collect();
        // Some sites put several objects, or a trailing semicolon, in one script.
        let stream = serde_json::Deserializer::from_str(text.trim()).into_iter::<Value>();
        for v in stream {
            match v {
                Ok(v) => walk(&v, 0, &mut found),
                Err(_) => break,
            }
        }
    }
    let mut out = Vec::new();
    out.extend(candidate(page, found.lists, "name"));
    out.extend(candidate(page, found.articles, "headline"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_lists_and_graph_articles() {
        let html = r#"<html><head><script type="application/ld+json">
        {"@context":"https://schema.org","@graph":[
          {"@type":"WebPage","url":"https://ex.org/"},
          {"@type":"BlogPosting","headline":"One","url":"/one","datePublished":"2026-01-01T10:00:00Z","author":{"@type":"Person","name":"Ann"}},
          {"@type":["NewsArticle"],"headline":"Two","mainEntityOfPage":{"@id":"https://ex.org/two"},"author":[{"name":"Bo"},{"name":"Cy"}]}
        ]}</script>
        <script type="application/ld+json">{"@type":"ItemList","itemListElement":[
          {"@type":"ListItem","position":1,"url":"https://ex.org/a","name":"A"},
          {"@type":"ListItem","position":2,"item":{"@type":"Article","headline":"B","url":"https://ex.org/b"}}]}
        </script></head><body></body></html>"#;
        let (doc, _) = crate::extract::parse::document(html);
        let page = Page {
            doc: &doc,
            base: url::Url::parse("https://ex.org/").unwrap_or_else(|e| panic!("{e}")),
            host: Some("ex.org".into()),
            now: chrono::Utc::now(),
        };
        let c = find(&page);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].links, vec!["https://ex.org/a", "https://ex.org/b"]);
        assert_eq!(c[1].links, vec!["https://ex.org/one", "https://ex.org/two"]);
        let Extractor::Entries(e) = &c[1].extractor else {
            panic!("entries")
        };
        assert_eq!(e[1].authors(), vec!["Bo", "Cy"]);
        assert_eq!(e[0].date(), Some("2026-01-01T10:00:00Z"));
    }
}
