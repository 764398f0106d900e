//! RSS 2.0, as the RSS Board's profile recommends: `dc:creator` for authors (RSS `author`
//! must be an e-mail address), an `atom:link rel="self"`, RFC 822 dates in the feed's zone.

use std::collections::BTreeMap;

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Enclosure, Guid};

use super::{
    GENERATOR, RenderError, display_title, feed_updated, image_type, item_link, text_to_html,
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
    let description = i.summary.as_ref().map(|s| {
        if i.summary_html {
            s.clone()
        } else {
            text_to_html(s)
        }
    });
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
