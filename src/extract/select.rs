//! Applying the config's CSS selectors to a parsed page.
//!
//! Extraction is purely structural: it returns the strings the selectors pick, exactly as the
//! page has them (entities decoded by the HTML parser, whitespace collapsed). Resolving links,
//! parsing dates and sanitizing HTML are later stages, so this module can be tested with a page
//! and a config alone, and the `preview` command can show what each selector matched.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ego_tree::iter::Edge;
use html5ever::{LocalName, local_name};
use scraper::{ElementRef, Html, Node, Selector};

use crate::config::{Field, From, ItemRules};
use crate::feed::pack::{List, Pack, Slot};

/// Facts about the page as a whole, used for channel defaults and link resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageInfo {
    pub title: Option<String>,
    pub description: Option<String>,
    pub base_href: Option<String>,
    /// `<link rel="canonical">`, else `og:url`: the page's public address, when it says so.
    pub canonical: Option<String>,
    pub language: Option<String>,
}

/// One entry as the selectors found it: raw strings, nothing resolved or parsed.
///
/// Its texts are kept in one allocation ([`Pack`]): a page of 200,000 entries holds them all
/// at once. Build one from [`EntryParts`]; read it with the methods named after the parts.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawEntry {
    texts: Pack<8>,
}

/// Fields of [`RawEntry::texts`].
mod slot {
    pub const TITLE: usize = 0;
    pub const LINK: usize = 1;
    pub const SUMMARY: usize = 2;
    pub const DATE: usize = 3;
    pub const IMAGE: usize = 4;
    pub const GUID: usize = 5;
    pub const AUTHORS: usize = 6;
    pub const CATEGORIES: usize = 7;
}

/// A [`RawEntry`]'s parts, each its own value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryParts {
    pub title: Option<String>,
    pub link: Option<String>,
    /// Text, or inner HTML when the field has `html = true`.
    pub summary: Option<String>,
    pub authors: Vec<String>,
    pub date: Option<String>,
    pub image: Option<String>,
    pub categories: Vec<String>,
    pub guid: Option<String>,
}

impl std::convert::From<EntryParts> for RawEntry {
    fn from(p: EntryParts) -> Self {
        RawEntry::new(&p)
    }
}

impl std::fmt::Debug for RawEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.parts().fmt(f)
    }
}

impl RawEntry {
    pub fn new(p: &EntryParts) -> Self {
        RawEntry {
            texts: Pack::new([
                p.title.as_deref().into(),
                p.link.as_deref().into(),
                p.summary.as_deref().into(),
                p.date.as_deref().into(),
                p.image.as_deref().into(),
                p.guid.as_deref().into(),
                Slot::List(&p.authors),
                Slot::List(&p.categories),
            ]),
        }
    }

    /// Its parts, each its own value.
    pub fn parts(&self) -> EntryParts {
        EntryParts {
            title: self.title().map(str::to_string),
            link: self.link().map(str::to_string),
            summary: self.summary().map(str::to_string),
            authors: self.authors().to_vec(),
            date: self.date().map(str::to_string),
            image: self.image().map(str::to_string),
            categories: self.categories().to_vec(),
            guid: self.guid().map(str::to_string),
        }
    }

    /// Changes its parts with `f`.
    pub fn edit(&mut self, f: impl FnOnce(&mut EntryParts)) {
        let mut p = self.parts();
        f(&mut p);
        *self = RawEntry::new(&p);
    }

    pub fn title(&self) -> Option<&str> {
        self.texts.text(slot::TITLE)
    }

    pub fn link(&self) -> Option<&str> {
        self.texts.text(slot::LINK)
    }

    /// Text, or inner HTML when the field has `html = true`.
    pub fn summary(&self) -> Option<&str> {
        self.texts.text(slot::SUMMARY)
    }

    pub fn date(&self) -> Option<&str> {
        self.texts.text(slot::DATE)
    }

    pub fn image(&self) -> Option<&str> {
        self.texts.text(slot::IMAGE)
    }

    pub fn guid(&self) -> Option<&str> {
        self.texts.text(slot::GUID)
    }

    pub fn authors(&self) -> List<'_> {
        self.texts.list(slot::AUTHORS)
    }

    pub fn categories(&self) -> List<'_> {
        self.texts.list(slot::CATEGORIES)
    }
}

/// How many entries each field found a value in (for `preview`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldCounts {
    pub title: usize,
    pub link: usize,
    pub summary: usize,
    pub authors: usize,
    pub date: usize,
    pub image: usize,
    pub categories: usize,
    pub guid: usize,
}

impl FieldCounts {
    /// Counts the fields `e` has a value in.
    pub fn count(&mut self, e: &RawEntry) {
        let n = |o: Option<&str>| usize::from(o.is_some());
        self.title += n(e.title());
        self.link += n(e.link());
        self.summary += n(e.summary());
        self.authors += usize::from(!e.authors().is_empty());
        self.date += n(e.date());
        self.image += n(e.image());
        self.categories += usize::from(!e.categories().is_empty());
        self.guid += n(e.guid());
    }
}

#[derive(Debug, Clone, Default)]
pub struct Extraction {
    pub page: PageInfo,
    /// Elements the item selector matched.
    pub matched: usize,
    /// Entries kept: those with a title or a link.
    pub entries: Vec<RawEntry>,
    /// How many entries were kept (stays when `entries` is moved out).
    pub kept: usize,
    pub counts: FieldCounts,
    /// What the parser's bounds did to the page (all zero for ordinary pages).
    pub parse: crate::extract::parse::Report,
    /// Entries whose `link` selector matched only elements without an `href`.
    pub link_without_attr: Attrless,
    /// Entries whose `image` selector matched only elements without a `src` (or lazy-load
    /// attribute).
    pub image_without_attr: Attrless,
}

/// Entries where a URL field's selector matched elements that have no URL attribute: such an
/// element gives no value (its text is not an address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrless {
    pub entries: usize,
    /// The name of the first such element, e.g. `span`.
    pub element: Option<String>,
}

/// What a field's value defaults to when it has no `attr`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Link,
    Image,
    Date,
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| unreachable!("static selector {s}: {e}"))
}

static TITLE: LazyLock<Selector> = LazyLock::new(|| sel("head title, title"));
static META: LazyLock<Selector> = LazyLock::new(|| sel("meta[content]"));
static BASE: LazyLock<Selector> = LazyLock::new(|| sel("base[href]"));
static CANONICAL: LazyLock<Selector> = LazyLock::new(|| sel("link[rel~=canonical][href]"));
static FIRST_LINK: LazyLock<Selector> = LazyLock::new(|| sel("a[href]"));

/// Parse `html` (with bounded work, see [`crate::extract::parse`]) and extract the entries that
/// `rules` describe.
pub fn extract(html: &str, rules: &ItemRules) -> Extraction {
    let (doc, report) = crate::extract::parse::document(html);
    let mut out = extract_from(&doc, rules);
    out.parse = report;
    out
}

/// Extract from an already parsed document.
pub fn extract_from(doc: &Html, rules: &ItemRules) -> Extraction {
    let page = page_info(doc);
    let fields: [Option<&Field>; 7] = [
        rules.link.as_ref(),
        rules.summary.as_ref(),
        rules.authors.as_ref(),
        rules.date.as_ref(),
        rules.image.as_ref(),
        rules.categories.as_ref(),
        rules.guid.as_ref(),
    ];
    let preceding = Preceding::prepare(
        doc,
        std::iter::once(&rules.title).chain(fields.into_iter().flatten()),
    );

    let mut out = Extraction {
        page,
        ..Extraction::default()
    };
    for el in doc.select(&rules.selector) {
        out.matched += 1;
        let one = |f: Option<&Field>, kind| f.and_then(|f| first_value(el, f, kind, &preceding));
        let many = |f: Option<&Field>| f.map(|f| all_values(el, f, &preceding)).unwrap_or_default();
        let title = first_value(el, &rules.title, Kind::Text, &preceding);
        let link = match &rules.link {
            Some(f) => first_value(el, f, Kind::Link, &preceding),
            None => el
                .select(&FIRST_LINK)
                .next()
                .or_else(|| FIRST_LINK.matches(&el).then_some(el))
                .and_then(|a| a.attr("href"))
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty()),
        };
        if title.is_none() && link.is_none() {
            continue;
        }
        let image = one(rules.image.as_ref(), Kind::Image);
        // A URL field whose selector matched, but only elements without the attribute.
        let attrless = |f: Option<&'_ Field>, got: bool, into: &mut Attrless| {
            if got || f.is_some_and(|f| f.attr.is_some()) {
                return;
            }
            if let Some(m) = f.and_then(|f| matches(el, f, &preceding).next()) {
                into.entries += 1;
                if into.element.is_none() {
                    into.element = Some(m.value().name().to_string());
                }
            }
        };
        attrless(
            rules.link.as_ref(),
            link.is_some(),
            &mut out.link_without_attr,
        );
        attrless(
            rules.image.as_ref(),
            image.is_some(),
            &mut out.image_without_attr,
        );
        let entry = EntryParts {
            title,
            link,
            summary: one(rules.summary.as_ref(), Kind::Text),
            authors: many(rules.authors.as_ref()),
            date: one(rules.date.as_ref(), Kind::Date),
            image,
            categories: many(rules.categories.as_ref()),
            guid: one(rules.guid.as_ref(), Kind::Text),
        };
        let entry = RawEntry::new(&entry);
        out.counts.count(&entry);
        out.entries.push(entry);
    }
    out.kept = out.entries.len();
    out
}

/// The elements one kept entry's values came from (for `preview --entry` and `--json`): the
/// entry element, and per field the first element that gave a value, in the order of
/// [`FIELD_NAMES`].
#[derive(Debug, Clone)]
pub struct EntryElements<'a> {
    pub entry: ElementRef<'a>,
    pub fields: [Option<ElementRef<'a>>; 8],
}

/// The fields of an entry in the order of [`EntryElements::fields`].
pub const FIELD_NAMES: [&str; 8] = [
    "title",
    "link",
    "summary",
    "authors",
    "date",
    "image",
    "categories",
    "guid",
];

/// For each entry [`extract_from`] keeps (same order), the elements its values came from.
pub fn entry_elements<'a>(doc: &'a Html, rules: &'a ItemRules) -> Vec<EntryElements<'a>> {
    let fields: [Option<&Field>; 7] = [
        rules.link.as_ref(),
        rules.summary.as_ref(),
        rules.authors.as_ref(),
        rules.date.as_ref(),
        rules.image.as_ref(),
        rules.categories.as_ref(),
        rules.guid.as_ref(),
    ];
    let preceding = Preceding::prepare(
        doc,
        std::iter::once(&rules.title).chain(fields.into_iter().flatten()),
    );
    let mut out = Vec::new();
    for el in doc.select(&rules.selector) {
        let source = |f: Option<&'a Field>, kind| {
            f.and_then(|f| matches(el, f, &preceding).find(|m| value(*m, f, kind).is_some()))
        };
        let title = source(Some(&rules.title), Kind::Text);
        let link = match &rules.link {
            Some(f) => source(Some(f), Kind::Link),
            None => el
                .select(&FIRST_LINK)
                .next()
                .or_else(|| FIRST_LINK.matches(&el).then_some(el))
                .filter(|a| a.attr("href").is_some_and(|h| !h.trim().is_empty())),
        };
        if title.is_none() && link.is_none() {
            continue;
        }
        out.push(EntryElements {
            entry: el,
            fields: [
                title,
                link,
                source(rules.summary.as_ref(), Kind::Text),
                source(rules.authors.as_ref(), Kind::Text),
                source(rules.date.as_ref(), Kind::Date),
                source(rules.image.as_ref(), Kind::Image),
                source(rules.categories.as_ref(), Kind::Text),
                source(rules.guid.as_ref(), Kind::Text),
            ],
        });
    }
    out
}

/// The page's own facts: title, description, base, canonical address, language.
pub fn page_info(doc: &Html) -> PageInfo {
    let root = doc.root_element();
    let head = root
        .children()
        .filter_map(ElementRef::wrap)
        .find(|e| e.value().name() == "head")
        .unwrap_or(root);
    let mut info = PageInfo {
        // The head holds these; a page without one is searched whole.
        title: head
            .select(&TITLE)
            .next()
            .or_else(|| doc.select(&TITLE).next())
            .map(|t| collapse(t.text()))
            .filter(|t| !t.is_empty()),
        base_href: head
            .select(&BASE)
            .next()
            .and_then(|b| b.attr("href"))
            .map(|h| h.trim().to_string()),
        canonical: head
            .select(&CANONICAL)
            .next()
            .and_then(|b| b.attr("href"))
            .map(|h| h.trim().to_string()),
        language: root
            .attr("lang")
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty()),
        description: None,
    };
    let mut og_desc = None;
    let mut og_url = None;
    for m in head.select(&META) {
        let key = m.attr("name").or_else(|| m.attr("property")).unwrap_or("");
        let content = m.attr("content").map(|c| collapse(std::iter::once(c)));
        if key.eq_ignore_ascii_case("description") && info.description.is_none() {
            info.description = content.filter(|c| !c.is_empty());
        } else if key.eq_ignore_ascii_case("og:description") && og_desc.is_none() {
            og_desc = content.filter(|c| !c.is_empty());
        } else if key.eq_ignore_ascii_case("og:url") && og_url.is_none() {
            og_url = content.filter(|c| !c.is_empty());
        }
    }
    info.description = info.description.or(og_desc);
    info.canonical = info.canonical.or(og_url);
    info
}

/// The first value `f` gives on the whole page, read as a link (its `href` unless `attr` is
/// set): a listing's `next_page`.
pub fn page_link(doc: &Html, f: &Field) -> Option<String> {
    doc.select(&f.selector)
        .find_map(|el| value(el, f, Kind::Link))
}

/// The first value `f` gives on the whole page, as text (`date`: its `datetime` unless `attr`
/// is set; `<meta>`: its `content`): an article page's date.
pub fn page_date(doc: &Html, f: &Field) -> Option<String> {
    doc.select(&f.selector)
        .find_map(|el| value(el, f, Kind::Date))
}

/// The first value `f` gives on the whole page, read as an image address (`src` or a lazy-load
/// attribute unless `attr` is set; `<meta>`: its `content`).
pub fn page_image(doc: &Html, f: &Field) -> Option<String> {
    doc.select(&f.selector)
        .find_map(|el| value(el, f, Kind::Image))
}

/// Every distinct value `f` gives on the whole page (split by `split`): an article's authors.
pub fn page_values(doc: &Html, f: &Field) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in doc
        .select(&f.selector)
        .filter_map(|el| value(el, f, Kind::Text))
    {
        let parts: Vec<String> = match &f.split {
            Some(sep) => v
                .split(sep.as_str())
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            None => vec![v],
        };
        for p in parts {
            if !out.contains(&p) && out.len() < 64 {
                out.push(p);
            }
        }
    }
    out
}

/// The inner HTML of the first element `f` matches on the whole page (its attribute, when
/// `attr` is set): an article's body, not yet sanitized.
pub fn page_html(doc: &Html, f: &Field) -> Option<String> {
    doc.select(&f.selector).find_map(|el| {
        let raw = match &f.attr {
            Some(a) => el.attr(a)?.to_string(),
            None => crate::extract::parse::inner_html(el).trim().to_string(),
        };
        (!raw.trim().is_empty()).then_some(raw)
    })
}

/// The elements a field's selector picks for one entry, in document order.
fn matches<'a>(
    entry: ElementRef<'a>,
    f: &'a Field,
    preceding: &Preceding<'a>,
) -> Box<dyn Iterator<Item = ElementRef<'a>> + 'a> {
    let ctx = match f.from {
        From::Item => entry,
        From::Next => match next_element_sibling(entry) {
            Some(n) => n,
            None => return Box::new(std::iter::empty()),
        },
        From::Preceding => return Box::new(preceding.find(f, entry).into_iter()),
    };
    let scope = (f.matches_scope && f.selector.matches_with_scope(&ctx, Some(ctx))).then_some(ctx);
    Box::new(scope.into_iter().chain(ctx.select(&f.selector)))
}

fn first_value<'a>(
    entry: ElementRef<'a>,
    f: &'a Field,
    kind: Kind,
    preceding: &Preceding<'a>,
) -> Option<String> {
    matches(entry, f, preceding).find_map(|el| value(el, f, kind))
}

fn all_values<'a>(entry: ElementRef<'a>, f: &'a Field, preceding: &Preceding<'a>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Few values are checked against the list; many, against a set.
    let mut seen: Option<HashSet<String>> = None;
    for el in matches(entry, f, preceding) {
        let Some(v) = value(el, f, Kind::Text) else {
            continue;
        };
        let parts: Vec<String> = match &f.split {
            Some(sep) => v
                .split(sep.as_str())
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            None => vec![v],
        };
        for p in parts {
            let fresh = match &mut seen {
                Some(set) => set.insert(p.clone()),
                None if out.len() < 32 => !out.contains(&p),
                None => {
                    let mut set: HashSet<String> = out.iter().cloned().collect();
                    let fresh = set.insert(p.clone());
                    seen = Some(set);
                    fresh
                }
            };
            if fresh {
                out.push(p);
            }
        }
    }
    out
}

/// The value of one matched element: attribute or text, then `strip`, then `regex`.
fn value(el: ElementRef, f: &Field, kind: Kind) -> Option<String> {
    let raw = if let Some(attr) = &f.attr {
        collapse(std::iter::once(el.attr(attr)?))
    } else if el.value().name() == "meta" {
        // A `<meta>` element holds its value in `content` (`og:image`, `author`, dates).
        collapse(std::iter::once(el.attr("content")?))
    } else if f.html {
        crate::extract::parse::inner_html(el).trim().to_string()
    } else {
        let by_kind = match kind {
            Kind::Link => el.attr("href"),
            Kind::Date => el.attr("datetime"),
            Kind::Image => image_attr(el),
            Kind::Text => None,
        };
        match by_kind {
            Some(v) if !v.trim().is_empty() => collapse(std::iter::once(v)),
            // An element without an address gives no link or image: its text is not a URL
            // (unless it is one, written out whole).
            _ if matches!(kind, Kind::Link | Kind::Image) => {
                let text = element_text(el);
                if !is_absolute_url(&text) {
                    return None;
                }
                text
            }
            _ => element_text(el),
        }
    };
    let stripped = match &f.strip {
        Some(re) => re.replace_all(&raw, "").into_owned(),
        None => raw,
    };
    let picked = match &f.regex {
        Some(re) => {
            let caps = re.captures(&stripped)?;
            caps.get(1).or_else(|| caps.get(0))?.as_str().to_string()
        }
        None => stripped,
    };
    let picked = picked.trim();
    (!picked.is_empty()).then(|| picked.to_string())
}

/// Text that is a whole absolute http(s) address, like `https://example.org/a`.
pub(crate) fn is_absolute_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && !text.contains(char::is_whitespace)
        && url::Url::parse(text).is_ok()
}

/// `src`, unless it is missing or a placeholder `data:` URI; then the usual lazy-load attributes.
fn image_attr<'a>(el: ElementRef<'a>) -> Option<&'a str> {
    image_address(|name| el.attr(name))
}

/// An image element's address from its attributes (`attr` reads one): `src`, then the lazy
/// loaders' `data-src`/`data-lazy-src` (a blank or `data:` placeholder does not count), then the
/// first candidate of `srcset`/`data-srcset`. Shared by both extractors.
pub(crate) fn image_address<'a>(attr: impl Fn(&str) -> Option<&'a str>) -> Option<&'a str> {
    let real = |v: &&str| !v.trim().is_empty() && !v.trim_start().starts_with("data:");
    attr("src")
        .filter(real)
        .or_else(|| attr("data-src").filter(real))
        .or_else(|| attr("data-lazy-src").filter(real))
        .or_else(|| {
            attr("srcset")
                .or_else(|| attr("data-srcset"))
                .and_then(|s| s.split(',').next())
                .and_then(|c| c.split_whitespace().next())
        })
}

/// Elements whose boundaries separate words (both extractors).
pub(crate) fn is_block(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("address")
            | local_name!("article")
            | local_name!("aside")
            | local_name!("blockquote")
            | local_name!("br")
            | local_name!("dd")
            | local_name!("div")
            | local_name!("dl")
            | local_name!("dt")
            | local_name!("figcaption")
            | local_name!("figure")
            | local_name!("footer")
            | local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
            | local_name!("header")
            | local_name!("hr")
            | local_name!("li")
            | local_name!("main")
            | local_name!("nav")
            | local_name!("ol")
            | local_name!("p")
            | local_name!("pre")
            | local_name!("section")
            | local_name!("table")
            | local_name!("td")
            | local_name!("th")
            | local_name!("tr")
            | local_name!("ul")
    )
}

/// Elements whose text is not shown.
pub(crate) fn is_hidden(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("script")
            | local_name!("style")
            | local_name!("template")
            | local_name!("noscript")
    )
}

/// The visible text of an HTML fragment (an article's content, a summary written in HTML),
/// whitespace collapsed; block boundaries count as spaces. Parsed within the bounds.
pub fn html_text(html: &str) -> String {
    let (doc, _report) = crate::extract::parse::fragment(html);
    element_text(doc.root_element())
}

/// The element's visible text, whitespace collapsed; block boundaries count as spaces.
///
/// The walk is a loop over the subtree's open and close edges, not a recursion, so a deep tree
/// cannot exhaust the stack.
fn element_text(el: ElementRef) -> String {
    let mut out = String::new();
    let mut pending = false;
    // The hidden element (script, style, ...) whose subtree is being skipped.
    let mut hidden: Option<ego_tree::NodeId> = None;
    for edge in el.traverse() {
        match edge {
            Edge::Open(node) if hidden.is_none() && node.id() != el.id() => match node.value() {
                Node::Text(t) => push_collapsed(&mut out, t, &mut pending),
                Node::Element(e) if is_hidden(&e.name.local) => hidden = Some(node.id()),
                Node::Element(e) if is_block(&e.name.local) => pending = true,
                _ => {}
            },
            Edge::Close(node) if hidden == Some(node.id()) => hidden = None,
            Edge::Close(node) if hidden.is_none() && node.id() != el.id() => {
                if let Node::Element(e) = node.value()
                    && is_block(&e.name.local)
                {
                    pending = true;
                }
            }
            _ => {}
        }
    }
    out
}

pub(crate) fn push_collapsed(out: &mut String, text: &str, pending: &mut bool) {
    // Word by word rather than char by char: the same result, copied in runs.
    out.reserve(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if word == 0 {
            *pending = true;
            rest = rest.trim_start_matches(char::is_whitespace);
            continue;
        }
        if *pending && !out.is_empty() {
            out.push(' ');
        }
        *pending = false;
        let (w, r) = rest.split_at(word);
        out.push_str(w);
        rest = r;
    }
}

/// Join text pieces with all runs of whitespace (including `&nbsp;`) made one space.
pub fn collapse<'a>(pieces: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    let mut pending = false;
    for p in pieces {
        push_collapsed(&mut out, p, &mut pending);
    }
    out
}

fn next_element_sibling(el: ElementRef<'_>) -> Option<ElementRef<'_>> {
    el.next_siblings().find_map(ElementRef::wrap)
}

/// Support for `from = "preceding"`: all matches of each such selector in document order, and
/// every node's position, so each entry finds its nearest preceding match by binary search.
struct Preceding<'a> {
    /// Node id -> (document order, order of the last node in its subtree).
    order: HashMap<ego_tree::NodeId, (usize, usize)>,
    /// Selector text -> matches as (order, end, element), sorted by order.
    matches: HashMap<String, Vec<(usize, usize, ElementRef<'a>)>>,
}

impl<'a> Preceding<'a> {
    fn prepare<'f>(doc: &'a Html, fields: impl Iterator<Item = &'f Field>) -> Self {
        let mut p = Preceding {
            order: HashMap::new(),
            matches: HashMap::new(),
        };
        let wanted: Vec<&Field> = fields.filter(|f| f.from == From::Preceding).collect();
        if wanted.is_empty() {
            return p;
        }
        let mut counter = 0usize;
        let mut open: Vec<(ego_tree::NodeId, usize)> = Vec::new();
        for edge in doc.tree.root().traverse() {
            match edge {
                Edge::Open(n) => {
                    open.push((n.id(), counter));
                    counter += 1;
                }
                Edge::Close(_) => {
                    if let Some((id, start)) = open.pop() {
                        p.order.insert(id, (start, counter.saturating_sub(1)));
                    }
                }
            }
        }
        for f in wanted {
            let list = doc
                .select(&f.selector)
                .filter_map(|el| p.order.get(&el.id()).map(|&(o, e)| (o, e, el)))
                .collect();
            p.matches.insert(f.selector_text.clone(), list);
        }
        p
    }

    fn find(&self, f: &Field, entry: ElementRef<'a>) -> Option<ElementRef<'a>> {
        let list = self.matches.get(&f.selector_text)?;
        let &(pos, _) = self.order.get(&entry.id())?;
        let before = list.partition_point(|&(o, _, _)| o < pos);
        list[..before]
            .iter()
            .rev()
            .find(|&&(_, end, _)| end < pos)
            .map(|&(_, _, el)| el)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rules(items: &str) -> ItemRules {
        let text = format!("[feeds.t]\nurl = \"x.html\"\n[feeds.t.items]\n{items}\n");
        let c = crate::config::parse(Path::new("t.toml"), &text).expect("config");
        c.feeds[0].items().cloned().expect("scraped feed")
    }

    #[test]
    fn fields_attrs_split_and_entities() {
        let html = r#"<html lang="en"><head><title> The  Site </title>
            <meta name="description" content="All the news"></head><body>
            <article><h3><a href="/a">First&nbsp;one &amp; more</a></h3>
              <p class="by">Ann Lee | Bo Kim</p><time datetime="2020-10-15">Oct 15</time>
              <img src="data:image/gif;base64,R0" data-src="/i.jpg"></article>
            <article><h3>No link</h3></article>
            <article><p>neither</p></article></body></html>"#;
        let r = rules(
            "selector = \"article\"\ntitle = \"h3\"\nauthors = { selector = \".by\", split = \"|\" }\ndate = \"time\"\nimage = \"img\"",
        );
        let x = extract(html, &r);
        assert_eq!(x.matched, 3);
        assert_eq!(x.entries.len(), 2);
        let e = &x.entries[0];
        assert_eq!(e.title(), Some("First one & more"));
        assert_eq!(e.link(), Some("/a"));
        assert_eq!(e.authors(), vec!["Ann Lee", "Bo Kim"]);
        assert_eq!(e.date(), Some("2020-10-15"));
        assert_eq!(e.image(), Some("/i.jpg"));
        assert_eq!(x.entries[1].link(), None);
        assert_eq!(x.page.title.as_deref(), Some("The Site"));
        assert_eq!(x.page.description.as_deref(), Some("All the news"));
        assert_eq!(x.page.language.as_deref(), Some("en"));
        assert_eq!(x.counts.authors, 1);
    }

    #[test]
    fn scope_next_preceding_regex_strip() {
        let html = r#"<body><h2>Mon, 12 Oct 2020</h2><table>
            <tr class="e"><td><a class="t" href="/1">One</a></td></tr><tr><td class="m">by ann 3 points</td></tr>
            <tr class="e"><td><a class="t" href="/2">Two</a></td></tr><tr><td class="m">by bo 5 points</td></tr>
            </table><h2>Tue, 13 Oct 2020</h2><div><a class="e" href="/3">Three</a></div></body>"#;
        let r = rules(
            "selector = \".e\"\ntitle = \":scope\"\nlink = { selector = \":scope\", attr = \"href\" }\nauthors = { selector = \".m\", from = \"next\", strip = \"^by \", regex = \"^(\\\\w+)\" }\ndate = { selector = \"h2\", from = \"preceding\" }",
        );
        let x = extract(html, &r);
        let got: Vec<_> = x
            .entries
            .iter()
            .map(|e| {
                (
                    e.title().unwrap_or_default(),
                    e.authors().to_vec(),
                    e.date(),
                )
            })
            .collect();
        // The tr entries' titles come from their whole text; the last entry is the link itself.
        assert_eq!(
            got[0],
            ("One", vec!["ann".to_string()], Some("Mon, 12 Oct 2020"))
        );
        assert_eq!(
            got[1],
            ("Two", vec!["bo".to_string()], Some("Mon, 12 Oct 2020"))
        );
        assert_eq!(got[2], ("Three", vec![], Some("Tue, 13 Oct 2020")));
        assert_eq!(x.entries[2].link(), Some("/3"));
    }

    #[test]
    fn text_skips_hidden_elements_and_many_values_keep_their_order() {
        let items: String = (0..200).map(|i| format!("<li>c{}</li>", i % 100)).collect();
        let html = format!(
            r#"<div class="e"><h3>Ti<b>tle</b><script>x()</script><p>one</p>two<noscript>n</noscript><div><br>three</div></h3><ul>{items}</ul></div>"#
        );
        let r = rules("selector = \".e\"\ntitle = \"h3\"\ncategories = \"li\"");
        let x = extract(&html, &r);
        let e = &x.entries[0];
        assert_eq!(e.title(), Some("Title one two three"));
        let want: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        assert_eq!(e.categories(), want);
    }

    #[test]
    fn url_fields_never_take_an_elements_text() {
        let html = r#"<div class="p"><span class="link">Meet the Man</span><span class="pic">photo</span></div>
            <div class="p"><span class="link">https://example.org/b</span><a class="link" href="/c">C</a></div>"#;
        let r = rules("selector = \".p\"\ntitle = \"span\"\nlink = \".link\"\nimage = \".pic\"");
        let x = extract(html, &r);
        assert_eq!(x.entries[0].link(), None);
        assert_eq!(x.entries[0].image(), None);
        // Text that is a whole address is one; the first element with a value wins.
        assert_eq!(x.entries[1].link(), Some("https://example.org/b"));
        assert_eq!(x.counts.link, 1);
        assert_eq!(x.link_without_attr.entries, 1);
        assert_eq!(x.link_without_attr.element.as_deref(), Some("span"));
        assert_eq!(x.image_without_attr.entries, 1);
    }

    #[test]
    fn html_summary_keeps_markup() {
        let html =
            r#"<div class="p"><a href="/x">T</a><div class="s"><p>Hi <b>there</b></p></div></div>"#;
        let r =
            rules("selector = \".p\"\ntitle = \"a\"\nsummary = { selector = \".s\", html = true }");
        let x = extract(html, &r);
        assert_eq!(x.entries[0].summary(), Some("<p>Hi <b>there</b></p>"));
    }
}
