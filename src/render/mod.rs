//! Rendering the history's items as RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//!
//! Renderers are pure functions of ([`FeedMeta`], items): no clock, no I/O. Every feed-level
//! date comes from the items, so the same history renders to the same bytes, which is what
//! lets `build` leave unchanged files untouched and `serve` hand out stable ETags.

mod atom;
pub mod clean;
mod json;
mod rss;

use chrono::{DateTime, Utc};

use crate::config::Format;
use crate::item::{FeedMeta, Item};

pub use self::atom::{atom_id, feed_id};

pub const GENERATOR: &str = "pagefeed";
pub const GENERATOR_URI: &str = "https://github.com/pagefeed/pagefeed";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot write {format}: {message}")]
    Write {
        format: &'static str,
        message: String,
    },
}

/// Render `items` in `format`. Text XML cannot hold and dates no format can write are
/// cleaned here first ([`clean`]), whatever the items' origin.
pub fn render(format: Format, meta: &FeedMeta, items: &[Item]) -> Result<Vec<u8>, RenderError> {
    let meta = clean::meta(meta);
    let items = clean::items(items);
    match format {
        Format::Rss => rss::render_rss(&meta, &items),
        Format::Atom => atom::render_atom(&meta, &items),
        Format::Json => json::render_json(&meta, &items),
    }
}

/// The feed's last change: the newest item date or update. `None` for an empty feed.
pub fn feed_updated(items: &[Item]) -> Option<DateTime<Utc>> {
    items.iter().map(|i| i.updated.max(i.date())).max()
}

/// A title for an item the page gave none: the start of its summary, else its link.
pub fn display_title(item: &Item) -> String {
    if let Some(t) = &item.title {
        return t.clone();
    }
    if let Some(s) = &item.summary {
        let text = if item.summary_html {
            crate::extract::collapse(std::iter::once(ammonia::clean_text(s).as_str()))
        } else {
            s.clone()
        };
        let mut out: String = text.chars().take(80).collect();
        if text.chars().count() > 80 {
            out.push('…');
        }
        if !out.is_empty() {
            return out;
        }
    }
    item.link.clone().unwrap_or_default()
}

/// A MIME type for an image URL, by its extension.
pub fn image_type(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    match path.rsplit('.').next().unwrap_or("") {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        _ => "image/jpeg",
    }
}

/// Plain text as HTML: `&`, `<`, `>` escaped.
pub fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}
