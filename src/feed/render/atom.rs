//! Atom 1.0 (RFC 4287): ids are absolute IRIs, every entry has an author (the feed's title
//! stands in at feed level where entries name none), text and HTML summaries typed as such.

use atom_syndication::{
    Category, Entry, Feed, FixedDateTime, Generator, Link, Person, Text, WriteConfig,
};
use chrono::{DateTime, Utc};

use super::{
    GENERATOR, GENERATOR_URI, RenderError, display_title, feed_updated, image_type, item_link,
};
use crate::feed::item::{FeedMeta, Item, stable_hash, uuid_urn};

pub fn render_atom(meta: &FeedMeta, items: &[Item]) -> Result<Vec<u8>, RenderError> {
    let fixed =
        |d: DateTime<Utc>| -> FixedDateTime { d.with_timezone(&meta.time_zone).fixed_offset() };
    let mut links = Vec::new();
    let self_url = meta.self_url("atom");
    if let Some(href) = &self_url {
        links.push(link(href, "self", Some("application/atom+xml")));
    }
    links.push(link(&meta.link, "alternate", Some("text/html")));
    if let Some(hub) = &meta.hub {
        links.push(link(hub, "hub", None));
    }
    let needs_feed_author = items.is_empty() || items.iter().any(|i| i.authors.is_empty());
    let feed = Feed {
        title: Text::plain(meta.title.clone()),
        id: feed_id(meta),
        updated: fixed(feed_updated(items).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)),
        authors: if needs_feed_author {
            vec![person(&meta.title)]
        } else {
            Vec::new()
        },
        generator: Some(Generator {
            value: GENERATOR.to_string(),
            uri: Some(GENERATOR_URI.to_string()),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        }),
        links,
        subtitle: (!meta.description.is_empty()).then(|| Text::plain(meta.description.clone())),
        lang: meta.language.clone(),
        entries: items
            .iter()
            .map(|i| Entry {
                title: Text::plain(display_title(i)),
                id: atom_id(&i.guid),
                updated: fixed(i.updated.max(i.date())),
                published: Some(fixed(i.date())),
                authors: i.authors.iter().map(|a| person(a)).collect(),
                categories: i
                    .categories
                    .iter()
                    .chain(i.source.as_ref().map(|s| &s.name))
                    .map(|c| Category {
                        term: c.clone(),
                        ..Category::default()
                    })
                    .collect(),
                // An entry needs an alternate link or content: one the page did not link
                // anywhere is read on the listing page itself.
                links: std::iter::once(item_link(meta, i))
                    .map(|l| link(&l, "alternate", Some("text/html")))
                    .chain(
                        i.image
                            .iter()
                            .map(|img| link(img, "enclosure", Some(image_type(img)))),
                    )
                    .collect(),
                source: i.source.as_ref().map(|src| atom_syndication::Source {
                    title: Text::plain(src.title.clone()),
                    id: src.atom_id.clone(),
                    links: vec![link(&src.link, "alternate", Some("text/html"))],
                    // The source's own last update is not known here; the item's is the
                    // latest moment the source is known to have been current.
                    updated: fixed(i.updated.max(i.date())),
                    ..atom_syndication::Source::default()
                }),
                // An entry without a summary repeats its title as one, as the JSON Feed
                // item's `content_text` does: readers and validators expect some text.
                summary: Some(match &i.summary {
                    Some(s) if i.summary_html => Text::html(s.clone()),
                    Some(s) => Text::plain(s.clone()),
                    None => Text::plain(display_title(i)),
                }),
                content: i.content.as_ref().map(|c| atom_syndication::Content {
                    value: Some(c.clone()),
                    content_type: Some("html".to_string()),
                    ..atom_syndication::Content::default()
                }),
                ..Entry::default()
            })
            .collect(),
        ..Feed::default()
    };
    let mut out = feed
        .write_with_config(
            Vec::new(),
            WriteConfig {
                write_document_declaration: true,
                indent_size: Some(2),
            },
        )
        .map_err(|e| RenderError::Write {
            format: "Atom",
            message: e.to_string(),
        })?;
    out.push(b'\n');
    Ok(out)
}

fn link(href: &str, rel: &str, mime: Option<&str>) -> Link {
    Link {
        href: href.to_string(),
        rel: rel.to_string(),
        mime_type: mime.map(str::to_string),
        ..Link::default()
    }
}

fn person(name: &str) -> Person {
    Person {
        name: name.to_string(),
        ..Person::default()
    }
}

/// The feed's Atom id: its self URL when `base_url` is set, else the site's page with a
/// fragment naming the feed (stable, and distinct for two feeds of one page).
pub fn feed_id(meta: &FeedMeta) -> String {
    meta.self_url("atom").unwrap_or_else(|| {
        format!(
            "{}#pagefeed-{}",
            meta.link.split('#').next().unwrap_or(""),
            meta.name
        )
    })
}

/// An Atom id for a GUID: the GUID itself when it is an absolute IRI, else a `urn:uuid:`
/// derived from it (stable: the same GUID always gives the same id).
pub fn atom_id(guid: &str) -> String {
    if url::Url::parse(guid).is_ok() && !guid.chars().any(char::is_whitespace) {
        return guid.to_string();
    }
    uuid_urn(&stable_hash(&["pagefeed-guid", guid]))
}

#[cfg(test)]
mod tests {
    use super::{FeedMeta, Item, atom_id, render_atom as render};

    #[test]
    fn ids_are_iris() {
        assert_eq!(atom_id("https://x.org/a"), "https://x.org/a");
        let id = atom_id("12345");
        assert!(id.starts_with("urn:uuid:"), "{id}");
        assert_eq!(id.len(), "urn:uuid:".len() + 36);
        assert_eq!(id, atom_id("12345"));
        assert_ne!(id, atom_id("12346"));
    }

    #[test]
    fn an_entry_without_a_summary_repeats_its_title() {
        let at = chrono::DateTime::from_timestamp(1_600_000_000, 0).unwrap_or_default();
        let meta = FeedMeta {
            name: "t".into(),
            title: "T".into(),
            description: String::new(),
            link: "https://x.org/".into(),
            language: None,
            time_zone: chrono_tz::UTC,
            self_base: None,
            hub: None,
        };
        let bare = Item {
            guid: "https://x.org/a".into(),
            permalink: true,
            title: Some("Only a title".into()),
            link: Some("https://x.org/a".into()),
            summary: None,
            summary_html: false,
            content: None,
            authors: Vec::new(),
            categories: Vec::new(),
            image: None,
            published: Some(at),
            updated: at,
            first_seen: at,
            source: None,
        };
        let with = Item {
            guid: "https://x.org/b".into(),
            link: Some("https://x.org/b".into()),
            summary: Some("Its own words".into()),
            ..bare.clone()
        };
        let bytes = render(&meta, &[bare, with]).expect("render");
        let feed = atom_syndication::Feed::read_from(&bytes[..]).expect("atom");
        let summaries: Vec<Option<&str>> = feed
            .entries()
            .iter()
            .map(|e| e.summary().map(|s| s.as_str()))
            .collect();
        assert_eq!(summaries, [Some("Only a title"), Some("Its own words")]);
    }
}
