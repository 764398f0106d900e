//! JSON Feed 1.1: every item has an `id` and one of `content_text`/`content_html`; dates are
//! RFC 3339 in the feed's zone.

use serde_json::{Map, Value, json};

use super::{RenderError, display_title, item_link};
use crate::feed::item::{FeedMeta, Item};

pub fn render_json(meta: &FeedMeta, items: &[Item]) -> Result<Vec<u8>, RenderError> {
    let mut feed = Map::new();
    feed.insert("version".into(), json!("https://jsonfeed.org/version/1.1"));
    feed.insert("title".into(), json!(meta.title));
    feed.insert("home_page_url".into(), json!(meta.link));
    if let Some(u) = meta.self_url("json") {
        feed.insert("feed_url".into(), json!(u));
    }
    if !meta.description.is_empty() {
        feed.insert("description".into(), json!(meta.description));
    }
    if let Some(l) = &meta.language {
        feed.insert("language".into(), json!(l));
    }
    feed.insert("authors".into(), json!([{ "name": meta.title }]));
    let list: Vec<Value> = items.iter().map(|i| item(meta, i)).collect();
    feed.insert("items".into(), Value::Array(list));
    let mut out =
        serde_json::to_vec_pretty(&Value::Object(feed)).map_err(|e| RenderError::Write {
            format: "JSON Feed",
            message: e.to_string(),
        })?;
    out.push(b'\n');
    Ok(out)
}

fn item(meta: &FeedMeta, i: &Item) -> Value {
    let date = |d: chrono::DateTime<chrono::Utc>| {
        d.with_timezone(&meta.time_zone)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    };
    let mut m = Map::new();
    m.insert("id".into(), json!(i.guid));
    // The spec wants a url on every item: one the page did not link anywhere is read on the
    // listing page itself.
    m.insert("url".into(), json!(item_link(meta, i)));
    let title = display_title(i);
    m.insert("title".into(), json!(title));
    if let Some(c) = &i.content {
        // The full article is the item's content; the listing's words become its summary.
        m.insert("content_html".into(), json!(c));
        if let Some(s) = &i.summary {
            let text = if i.summary_html {
                crate::extract::select::html_text(s)
            } else {
                s.clone()
            };
            m.insert("summary".into(), json!(text));
        }
    } else {
        match &i.summary {
            Some(s) if i.summary_html => {
                m.insert("content_html".into(), json!(s));
            }
            Some(s) => {
                m.insert("content_text".into(), json!(s));
                m.insert("summary".into(), json!(s));
            }
            None => {
                m.insert("content_text".into(), json!(title));
            }
        }
    }
    if let Some(img) = &i.image {
        m.insert("image".into(), json!(img));
    }
    m.insert("date_published".into(), json!(date(i.date())));
    if i.updated > i.date() {
        m.insert("date_modified".into(), json!(date(i.updated)));
    }
    if !i.authors.is_empty() {
        let authors: Vec<Value> = i.authors.iter().map(|a| json!({ "name": a })).collect();
        m.insert("authors".into(), Value::Array(authors));
    }
    let tags: Vec<&String> = i
        .categories
        .iter()
        .chain(i.source.as_ref().map(|s| &s.name))
        .collect();
    if !tags.is_empty() {
        m.insert("tags".into(), json!(tags));
    }
    // JSON Feed has no source element; an extension object (the spec's `_` prefix) says where
    // a merged item came from.
    if let Some(s) = &i.source {
        m.insert(
            "_pagefeed".into(),
            json!({ "source": { "name": s.name, "title": s.title, "home_page_url": s.link, "feed_url": s.feed_url } }),
        );
    }
    Value::Object(m)
}
