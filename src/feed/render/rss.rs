//! RSS 2.0, as the RSS Board's profile recommends: `dc:creator` for authors (RSS `author`
//! must be an e-mail address), an `atom:link rel="self"`, RFC 822 dates in the feed's zone.

use std::collections::BTreeMap;

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Enclosure, Guid};

use super::{
    GENERATOR, RenderError, display_title, excerpt, feed_updated, image_type, item_link,
    text_to_html,
};
use crate::feed::item::{FeedMeta, Item};

pub fn render_rss(meta: &FeedMeta, items: &[Item]) -> Result<Vec<u8>, RenderError> {
    let mut namespaces = BTreeMap::new();
    namespaces.insert(
        "atom".to_string(),
        rss::extension::atom::NAMESPACE.to_string(),
    );
    namespaces.insert(
        "dc".to_string(),
        rss::extension::dublincore::NAMESPACE.to_string(),
    );
    if items.iter().any(|i| i.content.is_some()) {
        namespaces.insert(
            "content".to_string(),
            "http://purl.org/rss/1.0/modules/content/".to_string(),
        );
    }
    let mut links = Vec::new();
    if let Some(href) = meta.self_url("rss") {
        let mut l = Link::default();
        l.set_href(href);
        l.set_rel("self");
        l.set_mime_type(Some("application/rss+xml".to_string()));
        links.push(l);
    }
    if let Some(hub) = &meta.hub {
        let mut l = Link::default();
        l.set_href(hub.clone());
        l.set_rel("hub");
        links.push(l);
    }
    let self_link = (!links.is_empty()).then_some(AtomExtension { links });
    let channel = Channel {
        title: meta.title.clone(),
        link: meta.link.clone(),
        description: meta.description.clone(),
        language: meta.language.clone(),
        last_build_date: feed_updated(items).map(|d| d.with_timezone(&meta.time_zone).to_rfc2822()),
        generator: Some(GENERATOR.to_string()),
        ttl: Some("60".to_string()),
        atom_ext: self_link,
        namespaces,
        items: items.iter().map(|i| item(meta, i)).collect(),
        ..Channel::default()
    };
    let mut out = channel
        .pretty_write_to(Vec::new(), b' ', 2)
        .map_err(|e| RenderError::Write {
            format: "RSS",
            message: e.to_string(),
        })?;
    out.push(b'\n');
    Ok(out)
}

fn item(meta: &FeedMeta, i: &Item) -> rss::Item {
    let description = match (&i.summary, &i.content) {
        (Some(s), _) if i.summary_html => Some(s.clone()),
        (Some(s), _) => Some(text_to_html(s)),
        // `content:encoded` wants a `description` before it: the article's opening words.
        (None, Some(c)) => Some(text_to_html(&excerpt(c))).filter(|d| !d.is_empty()),
        (None, None) => None,
    };
    rss::Item {
        title: Some(display_title(i)),
        link: Some(item_link(meta, i).into_owned()),
        description,
        content: i.content.clone(),
        guid: Some(Guid {
            value: i.guid.clone(),
            permalink: i.permalink,
        }),
        pub_date: Some(i.date().with_timezone(&meta.time_zone).to_rfc2822()),
        categories: i
            .categories
            .iter()
            .chain(i.source.as_ref().map(|s| &s.name))
            .map(|c| Category {
                name: c.clone(),
                domain: None,
            })
            .collect(),
        enclosure: i.image.as_ref().map(|url| Enclosure {
            url: url.clone(),
            length: "0".to_string(),
            mime_type: image_type(url).to_string(),
        }),
        source: i.source.as_ref().and_then(|s| {
            s.feed_url.as_ref().map(|url| rss::Source {
                url: url.clone(),
                title: Some(s.title.clone()),
            })
        }),
        dublin_core_ext: (!i.authors.is_empty()).then(|| DublinCoreExtension {
            creators: i.authors.clone(),
            ..DublinCoreExtension::default()
        }),
        ..rss::Item::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FeedMeta {
        FeedMeta {
            name: "t".into(),
            title: "T".into(),
            description: String::new(),
            link: "https://x.org/".into(),
            language: None,
            time_zone: chrono_tz::UTC,
            self_base: None,
            hub: None,
        }
    }

    fn article(summary: Option<&str>, content: &str) -> Item {
        let at = chrono::DateTime::from_timestamp(1_600_000_000, 0).unwrap_or_default();
        Item {
            guid: "https://x.org/a".into(),
            permalink: true,
            title: Some("A title".into()),
            link: Some("https://x.org/a".into()),
            summary: summary.map(str::to_string),
            summary_html: false,
            content: Some(content.into()),
            authors: Vec::new(),
            categories: Vec::new(),
            image: None,
            published: Some(at),
            updated: at,
            first_seen: at,
            source: None,
        }
    }

    fn descriptions(items: &[Item]) -> Vec<Option<String>> {
        let bytes = render_rss(&meta(), items).unwrap_or_default();
        let channel = rss::Channel::read_from(&bytes[..]).unwrap_or_default();
        channel
            .items()
            .iter()
            .map(|i| i.description().map(str::to_string))
            .collect()
    }

    #[test]
    fn an_article_without_a_summary_is_described_by_its_opening_words() {
        let long = format!(
            "<div><h2>Head</h2><p>{}</p></div>",
            "word & more ".repeat(60)
        );
        let got = descriptions(&[article(None, "<p>Short <b>body</b>.</p><p>Next</p>")]);
        assert_eq!(got, [Some("Short body. Next".to_string())]);
        let got = descriptions(&[article(None, &long)]);
        let d = got.first().cloned().flatten().unwrap_or_default();
        // The description is HTML: the text's `&` is escaped.
        assert!(d.starts_with("Head word &amp; more word"), "{d}");
        assert!(d.ends_with("word\u{2026}"), "{d}");
        assert!(
            d.replace("&amp;", "&").chars().count() <= super::super::EXCERPT_CHARS + 1,
            "{d}"
        );
        // The listing's own summary stays the description.
        let got = descriptions(&[article(Some("Listing words"), "<p>Body</p>")]);
        assert_eq!(got, [Some("Listing words".to_string())]);
        // Content without text gives no empty description.
        let got = descriptions(&[article(None, "<img src=\"https://x.org/i.png\">")]);
        assert_eq!(got, [None]);
    }
}
