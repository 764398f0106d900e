//! The straightforward program of issue 9, for `bench/vs-baseline.sh`: read a listing page,
//! parse it with scraper, select the entries and their fields with the same selectors as the
//! pagefeed config, and write an RSS file (rss) and an Atom file (atom_syndication). No history,
//! no state, no sanitizing.
//!
//!   cargo build --release --example baseline
//!   baseline PAGE OUT_DIR MAX_ITEMS ITEM TITLE LINK SUMMARY AUTHORS DATE IMAGE CATEGORIES
//!
//! A field selector given as `-` is not read. Dates are tried as RFC 3339, RFC 2822, `%Y-%m-%d`
//! and `%B %e, %Y`; an entry without a parsed date gets none (RSS) or the run's time (Atom).

use std::error::Error;
use std::fs::File;
use std::io::BufWriter;

use atom_syndication as atom;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use scraper::{ElementRef, Html, Selector};

struct Row {
    title: String,
    link: Option<String>,
    summary: Option<String>,
    authors: Vec<String>,
    date: Option<DateTime<FixedOffset>>,
    image: Option<String>,
    categories: Vec<String>,
}

fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d);
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(t) {
        return Some(d);
    }
    ["%Y-%m-%d", "%B %e, %Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().fixed_offset())
}

fn first<'a>(el: &ElementRef<'a>, s: &Option<Selector>) -> Option<ElementRef<'a>> {
    s.as_ref().and_then(|s| el.select(s).next())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        page,
        out,
        max,
        item,
        title,
        link,
        summary,
        authors,
        date,
        image,
        categories,
    ] = &args[..]
    else {
        return Err("usage: baseline PAGE OUT_DIR MAX_ITEMS ITEM TITLE LINK SUMMARY AUTHORS DATE IMAGE CATEGORIES".into());
    };
    let max: usize = max.parse()?;
    let sel = |s: &str| -> Result<Option<Selector>, Box<dyn Error>> {
        if s == "-" {
            return Ok(None);
        }
        Selector::parse(s)
            .map(Some)
            .map_err(|e| format!("selector {s}: {e}").into())
    };
    let item = sel(item)?.ok_or("the item selector is required")?;
    let [title, link, summary, authors, date, image, categories] =
        [title, link, summary, authors, date, image, categories].map(|s| sel(s));
    let (title, link, summary, authors, date, image, categories) = (
        title?,
        link?,
        summary?,
        authors?,
        date?,
        image?,
        categories?,
    );

    let html = std::fs::read_to_string(page)?;
    let doc = Html::parse_document(&html);
    let text = |e: ElementRef| e.text().collect::<String>().trim().to_string();
    let all = |el: &ElementRef, s: &Option<Selector>| -> Vec<String> {
        s.as_ref()
            .map(|s| el.select(s).map(text).collect())
            .unwrap_or_default()
    };
    let rows: Vec<Row> = doc
        .select(&item)
        .map(|el| Row {
            title: first(&el, &title).map(text).unwrap_or_default(),
            link: first(&el, &link)
                .and_then(|a| a.attr("href"))
                .map(str::to_string),
            summary: first(&el, &summary).map(text),
            authors: all(&el, &authors),
            date: first(&el, &date).and_then(|d| parse_date(&text(d))),
            image: first(&el, &image)
                .and_then(|i| i.attr("src"))
                .map(str::to_string),
            categories: all(&el, &categories),
        })
        .take(max)
        .collect();

    let now = Utc::now().fixed_offset();
    let page_title = doc
        .select(&Selector::parse("title").map_err(|e| e.to_string())?)
        .next()
        .map(text)
        .unwrap_or_default();

    let mut channel = rss::Channel::default();
    channel.set_title(page_title.clone());
    channel.set_link(page.clone());
    channel.set_description(format!("Items of {page_title}"));
    channel.set_items(
        rows.iter()
            .map(|r| {
                let mut it = rss::Item::default();
                it.set_title(r.title.clone());
                it.set_link(r.link.clone());
                it.set_description(r.summary.clone());
                it.set_author(r.authors.first().cloned());
                it.set_pub_date(r.date.map(|d| d.to_rfc2822()));
                it.set_guid(r.link.clone().map(|l| {
                    let mut g = rss::Guid::default();
                    g.set_value(l);
                    g
                }));
                it.set_enclosure(r.image.clone().map(|u| {
                    let mut e = rss::Enclosure::default();
                    e.set_url(u);
                    e.set_mime_type("image/jpeg");
                    e.set_length("0");
                    e
                }));
                it.set_categories(
                    r.categories
                        .iter()
                        .map(|c| {
                            let mut cat = rss::Category::default();
                            cat.set_name(c.clone());
                            cat
                        })
                        .collect::<Vec<_>>(),
                );
                it
            })
            .collect::<Vec<_>>(),
    );
    std::fs::create_dir_all(out)?;
    channel.write_to(BufWriter::new(File::create(format!("{out}/baseline.rss"))?))?;

    let mut feed = atom::Feed::default();
    feed.set_title(page_title);
    feed.set_id(page.clone());
    feed.set_updated(now);
    feed.set_entries(
        rows.iter()
            .map(|r| {
                let mut e = atom::Entry::default();
                e.set_title(r.title.clone());
                e.set_id(r.link.clone().unwrap_or_else(|| r.title.clone()));
                e.set_updated(r.date.unwrap_or(now));
                e.set_published(r.date);
                e.set_summary(r.summary.clone().map(atom::Text::plain));
                let mut link = atom::Link::default();
                link.set_href(r.link.clone().unwrap_or_default());
                e.set_links(vec![link]);
                e.set_authors(
                    r.authors
                        .iter()
                        .map(|a| {
                            let mut p = atom::Person::default();
                            p.set_name(a.clone());
                            p
                        })
                        .collect::<Vec<_>>(),
                );
                e.set_categories(
                    r.categories
                        .iter()
                        .map(|c| {
                            let mut cat = atom::Category::default();
                            cat.set_term(c.clone());
                            cat
                        })
                        .collect::<Vec<_>>(),
                );
                e
            })
            .collect::<Vec<_>>(),
    );
    feed.write_to(BufWriter::new(File::create(format!(
        "{out}/baseline.atom"
    ))?))?;
    Ok(())
}
