//! schema.org microdata: repeated `itemscope` elements of an entry type (`BlogPosting`,
//! `Article`, ...), read with `itemprop` selectors.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use scraper::{ElementRef, Selector};

use super::{Candidate, FieldSpec, Method, Page, common_field, css_string, sel};

static SCOPES: LazyLock<Selector> = LazyLock::new(|| sel("[itemscope][itemtype]"));

const ENTRY_TYPES: &[&str] = &[
    "Article",
    "NewsArticle",
    "BlogPosting",
    "TechArticle",
    "ScholarlyArticle",
    "SocialMediaPosting",
    "DiscussionForumPosting",
    "Report",
    "Review",
    "Recipe",
    "VideoObject",
    "PodcastEpisode",
    "Event",
    "JobPosting",
    "CreativeWork",
    "Question",
];

/// The FIELD for an itemprop: elements with `href` or `datetime` give those by default;
/// `meta` elements their `content`.
fn prop_field(items: &[ElementRef], prop: &str) -> Option<FieldSpec> {
    let s = format!("[itemprop~={prop}]");
    let css = Selector::parse(&s).ok()?;
    let first = items.iter().find_map(|i| i.select(&css).next())?;
    Some(match first.value().name() {
        "meta" => FieldSpec::attr(&s, "content"),
        "link" => FieldSpec::attr(&s, "href"),
        _ => FieldSpec::css(&s),
    })
}

pub fn find(page: &Page) -> Vec<Candidate> {
    let mut by_type: BTreeMap<String, Vec<ElementRef>> = BTreeMap::new();
    for el in page.doc.select(&SCOPES) {
        let Some(t) = el.attr("itemtype") else {
            continue;
        };
        let t = t.trim();
        let name = t.rsplit(['/', '#']).next().unwrap_or(t);
        if ENTRY_TYPES.contains(&name) && !t.contains(char::is_whitespace) {
            by_type.entry(t.to_string()).or_default().push(el);
        }
    }
    let mut out = Vec::new();
    for (t, items) in by_type {
        if items.len() < 2 {
            continue;
        }
        let selector = format!("[itemscope][itemtype={}]", css_string(&t));
        let Some(title) = common_field(&items, &["[itemprop~=headline]", "[itemprop~=name]"])
        else {
            continue;
        };
        let link = if items.iter().all(|i| i.value().name() == "a") {
            FieldSpec::css(":scope")
        } else {
            match prop_field(&items, "url") {
                Some(f) if common_field(&items, &["[itemprop~=url]"]).is_some() => f,
                _ => FieldSpec::css("a[href]"),
            }
        };
        let mut fields = vec![("title", FieldSpec::css(title)), ("link", link)];
        if common_field(&items, &["[itemprop~=description]"]).is_some()
            && let Some(f) = prop_field(&items, "description")
        {
            fields.push(("summary", f));
        }
        if common_field(&items, &["[itemprop~=author]"]).is_some() {
            fields.push(("authors", FieldSpec::css("[itemprop~=author]")));
        }
        if common_field(&items, &["[itemprop~=datePublished]"]).is_some()
            && let Some(f) = prop_field(&items, "datePublished")
        {
            fields.push(("date", f));
        }
        out.extend(super::selector_candidate(
            page,
            Method::Microdata,
            selector,
            fields,
        ));
    }
    out
}
