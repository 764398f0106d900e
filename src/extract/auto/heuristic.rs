//! Structural heuristics: repeated sibling elements of one shape, each with a link to a
//! distinct URL and text of headline length.
//!
//! 1. Group: under every element, its children of one tag (at least three that hold a link)
//!    form a group; the classes all of those share narrow it (`li.post`). Groups of the same
//!    shape under parents of the same shape (one list split by headings) are also tried joined.
//! 2. Score: each entry counts by how headline-like its main link's text is (the link with the
//!    longest text), more with a date or text besides the headline; entries under navigation,
//!    footers, sidebars, tag clouds or "related" boxes count a fraction, links off the site a
//!    little less, and duplicate links lower the whole group.
//! 3. Write: an item selector that matches exactly the group's elements on the page, and FIELD
//!    selectors (title and link, date, authors, summary) that pick the same elements in most
//!    entries; a group without such selectors is dropped.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use ego_tree::NodeId;
use scraper::{ElementRef, Selector};

use super::{Candidate, Extractor, FieldSpec, Method, Page, plain_ident, sel, text_of};

static A_HREF: LazyLock<Selector> = LazyLock::new(|| sel("a[href]"));
static TIME: LazyLock<Selector> = LazyLock::new(|| sel("time"));
static DATETIME: LazyLock<Selector> = LazyLock::new(|| sel("[datetime]"));
static ANY: LazyLock<Selector> = LazyLock::new(|| sel("*"));

/// Groups smaller than this are not lists.
const MIN_ENTRIES: usize = 3;
/// Candidates written out (selectors generated) per page.
const MAX_CANDIDATES: usize = 12;

/// `n` as a float, for scores (page counts are far below 2^32).
fn f(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

/// How much a link text of `len` characters looks like a headline (0 to 1).
pub(crate) fn headline_quality(len: usize, text: &str) -> f64 {
    if len < 3 {
        return 0.0;
    }
    let mut q = if len <= 60 {
        f(len) / 60.0
    } else if len <= 250 {
        1.0
    } else {
        0.4
    };
    match text.split_whitespace().count() {
        0 | 1 => q *= 0.3,
        2 => q *= 0.6,
        _ => {}
    }
    q
}

/// Class and id words that mark page furniture rather than content.
const FURNITURE: &[&str] = &[
    "nav",
    "navbar",
    "navigation",
    "menu",
    "menubar",
    "submenu",
    "subnav",
    "footer",
    "sidebar",
    "related",
    "tag",
    "tags",
    "tagcloud",
    "cloud",
    "widget",
    "breadcrumb",
    "breadcrumbs",
    "pagination",
    "pager",
    "share",
    "sharing",
    "social",
    "comment",
    "comments",
    "cookie",
    "banner",
    "ad",
    "ads",
    "advert",
    "sponsored",
    "promo",
    "trending",
    "popular",
    "recommended",
    "toolbar",
    "topbar",
    "masthead",
    "dropdown",
    "skip",
    "language",
    "languages",
];

/// How much being inside `el` lowers a list's score (1 = not at all).
fn furniture_factor(el: ElementRef) -> f64 {
    let tag = match el.value().name() {
        "nav" | "menu" => 0.15,
        "footer" => 0.15,
        "aside" => 0.25,
        "header" => 0.4,
        "form" | "select" => 0.3,
        _ => 1.0,
    };
    // Layout classes ("with-sidebar", "has-comments") describe the page, not this element.
    let words = el
        .value()
        .classes()
        .chain(el.value().id())
        .filter(|c| {
            !["with-", "has-", "no-", "is-", "show-", "hide-"]
                .iter()
                .any(|p| c.starts_with(p))
        })
        .flat_map(|c| c.split(|ch: char| !ch.is_ascii_alphanumeric()))
        .map(|w| w.to_ascii_lowercase())
        .any(|w| FURNITURE.contains(&w.as_str()));
    let role = el.attr("role").is_some_and(|r| {
        matches!(
            r,
            "navigation" | "menu" | "menubar" | "contentinfo" | "banner"
        )
    });
    let named = if words || role { 0.2 } else { 1.0 };
    f64::min(tag, named)
}

/// The product of the furniture factors of `el` and its ancestors.
fn furniture(el: ElementRef) -> f64 {
    let mut factor = furniture_factor(el);
    for a in el.ancestors().filter_map(ElementRef::wrap) {
        factor *= furniture_factor(a);
    }
    factor.max(0.0001)
}

/// A usable link target (not a fragment, script or mail link).
fn real_href<'a>(a: ElementRef<'a>) -> Option<&'a str> {
    let h = a.attr("href")?.trim();
    let lower = h.get(..11).unwrap_or(h).to_ascii_lowercase();
    if h.is_empty()
        || h.starts_with('#')
        || lower.starts_with("javascript:")
        || lower.starts_with("mailto:")
        || lower.starts_with("tel:")
    {
        return None;
    }
    Some(h)
}

/// Words of class names that mark an entry's title.
const TITLE_WORDS: &[&str] = &["title", "headline", "heading", "header", "storylink"];

/// Is `a` (a link inside `m`) in a heading or an element named as a title, below `m`?
fn in_heading(a: ElementRef, m: ElementRef) -> bool {
    std::iter::once(a)
        .chain(a.ancestors().filter_map(ElementRef::wrap))
        .take_while(|e| e.id() != m.id())
        .any(|e| {
            matches!(e.value().name(), "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
                || e.value()
                    .classes()
                    .flat_map(|c| c.split(|ch: char| !ch.is_ascii_alphanumeric()))
                    .any(|w| TITLE_WORDS.iter().any(|t| w.eq_ignore_ascii_case(t)))
        })
}

/// The entry's main link: the first link in a heading (or an element named as a title), else
/// the link with the longest text; the element itself when it is a link. The flag says
/// whether it was found in a heading.
fn main_link<'a>(m: ElementRef<'a>) -> Option<(ElementRef<'a>, String)> {
    main_link_in(m).map(|(a, t, _)| (a, t))
}

fn main_link_in<'a>(m: ElementRef<'a>) -> Option<(ElementRef<'a>, String, bool)> {
    if m.value().name() == "a" {
        real_href(m)?;
        return Some((m, text_of(m), false));
    }
    if let Some(a) = m
        .select(&A_HREF)
        .find(|a| real_href(*a).is_some() && in_heading(*a, m) && !text_of(*a).is_empty())
    {
        return Some((a, text_of(a), true));
    }
    let mut best: Option<(ElementRef<'a>, String, usize)> = None;
    for a in m.select(&A_HREF) {
        if real_href(a).is_none() {
            continue;
        }
        let t = text_of(a);
        let n = t.chars().count();
        if best.as_ref().is_none_or(|b| n > b.2) {
            best = Some((a, t, n));
        }
    }
    best.map(|(a, t, _)| (a, t, false))
}

/// The classes of `el` that can be written in a selector, in page order.
fn classes(el: ElementRef) -> Vec<String> {
    el.value()
        .classes()
        .filter(|c| plain_ident(c))
        .map(str::to_string)
        .collect()
}

/// The classes every element of `els` has, in the first element's order (at most `max`).
fn common_classes(els: &[ElementRef], max: usize) -> Vec<String> {
    let Some(first) = els.first() else {
        return Vec::new();
    };
    classes(*first)
        .into_iter()
        .filter(|c| {
            els.iter().all(|e| {
                e.value()
                    .has_class(c, scraper::CaseSensitivity::CaseSensitive)
            })
        })
        .take(max)
        .collect()
}

/// The classes more than four in five of `els` have, in the first such element's order (at most `max`).
fn majority_classes(els: &[ElementRef], max: usize) -> Vec<String> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (n, e) in els.iter().enumerate() {
        for (k, c) in classes(*e).into_iter().enumerate() {
            let slot = counts
                .entry(c)
                .or_insert((0, n.saturating_mul(64).saturating_add(k)));
            slot.0 += 1;
        }
    }
    let mut common: Vec<(usize, String)> = counts
        .into_iter()
        .filter(|(_, (k, _))| k.saturating_mul(5) > els.len().saturating_mul(4))
        .map(|(c, (_, order))| (order, c))
        .collect();
    common.sort();
    common.into_iter().take(max).map(|(_, c)| c).collect()
}

/// `tag.class1.class2` for elements that share a tag, else `.class1` or `*`.
fn compound(els: &[ElementRef], max_classes: usize) -> String {
    let tag = els.first().map(|e| e.value().name()).unwrap_or("*");
    let same_tag = els.iter().all(|e| e.value().name() == tag) && plain_ident(tag);
    let mut out = if same_tag {
        tag.to_string()
    } else {
        String::new()
    };
    for c in common_classes(els, max_classes) {
        out.push('.');
        out.push_str(&c);
    }
    if out.is_empty() {
        out.push('*');
    }
    out
}

/// A shape key for an element: tag and sorted classes.
fn shape(el: ElementRef) -> String {
    let mut cs = classes(el);
    cs.sort();
    format!("{}.{}", el.value().name(), cs.join("."))
}

/// One entry as the scorer sees it.
struct Entry<'a> {
    el: ElementRef<'a>,
    link: ElementRef<'a>,
    url: String,
    /// For a `<dt>` whose `<dd>` holds the title: that title element.
    title_next: Option<ElementRef<'a>>,
}

/// The title of a `<dt>` entry in its `<dd>`: a heading, or an element named as a title.
fn title_in_next<'a>(m: ElementRef<'a>) -> Option<ElementRef<'a>> {
    if m.value().name() != "dt" {
        return None;
    }
    let dd = m
        .next_siblings()
        .find_map(ElementRef::wrap)
        .filter(|d| d.value().name() == "dd")?;
    dd.descendants().filter_map(ElementRef::wrap).find(|e| {
        let n = text_of(*e).chars().count();
        (3..=300).contains(&n)
            && (matches!(e.value().name(), "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
                || e.value()
                    .classes()
                    .flat_map(|c| c.split(|ch: char| !ch.is_ascii_alphanumeric()))
                    .any(|w| TITLE_WORDS.iter().any(|t| w.eq_ignore_ascii_case(t))))
    })
}

/// A group of elements and how good a list they make.
struct Scored<'a> {
    members: Vec<ElementRef<'a>>,
    entries: Vec<Entry<'a>>,
    score: f64,
    depth: usize,
    first: NodeId,
}

fn evaluate<'a>(page: &Page, members: Vec<ElementRef<'a>>) -> Option<Scored<'a>> {
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut linked = 0usize;
    let mut score = 0.0;
    let page_url = page.base.as_str().trim_end_matches('/').to_string();
    for m in &members {
        let Some((a, text, titled)) = main_link_in(*m) else {
            continue;
        };
        let Some(url) = real_href(a).and_then(|h| page.resolve(h)) else {
            continue;
        };
        linked += 1;
        if !seen.insert(url.clone()) || url.trim_end_matches('/') == page_url {
            continue;
        }
        let len = text.chars().count();
        let mut q = headline_quality(len, &text);
        // A definition list entry: the term holds the link, its description the title.
        let title_next = title_in_next(*m);
        if let Some(t) = title_next {
            let t = text_of(t);
            q = q.max(headline_quality(t.chars().count(), &t)).max(0.5);
        }
        if titled {
            // A link in a heading is a title, however short ("v2.10.2").
            q = q.max(0.5);
        }
        if q == 0.0 {
            continue;
        }
        // More than two different titles (links in headings, else headline-long links): the
        // element is a list itself.
        let mut long: Vec<&str> = Vec::new();
        for l in m.select(&A_HREF) {
            let counts = if titled {
                in_heading(l, *m)
            } else {
                text_of(l).chars().count() >= 20
            };
            if let Some(h) = real_href(l)
                && counts
                && !long.contains(&h)
            {
                long.push(h);
            }
        }
        if long.len() > 2 {
            q *= 2.0 / f(long.len());
        }
        if m.select(&TIME).next().is_some() || m.select(&DATETIME).next().is_some() {
            q *= 1.25;
        }
        let all = text_of(*m).chars().count();
        if all > len.saturating_add(30) {
            q *= 1.25;
        }
        if !page.same_site(&url) {
            q *= 0.75;
        }
        q *= furniture(*m);
        score += q;
        entries.push(Entry {
            el: *m,
            link: a,
            url,
            title_next,
        });
    }
    if entries.len() < MIN_ENTRIES || linked == 0 {
        return None;
    }
    // Links shared by several entries (every entry pointing at one page) lower the list.
    score *= f(entries.len()) / f(linked);
    // The mean quality times the square root of the count: a long list counts more, but a
    // list mixing entries with lesser rows (stories and their subtext lines) less than the
    // entries alone.
    score /= f(entries.len()).sqrt();
    let first = members.first()?;
    Some(Scored {
        depth: first.ancestors().count(),
        first: first.id(),
        members,
        entries,
        score,
    })
}

/// Find the lists of entries on the page.
pub fn find(page: &Page) -> Vec<Candidate> {
    // (parent shape, item compound) -> groups, one per parent.
    let mut groups: BTreeMap<(String, String), Vec<Vec<ElementRef>>> = BTreeMap::new();
    let root = page.doc.root_element();
    for p in std::iter::once(root).chain(root.descendants().filter_map(ElementRef::wrap)) {
        if matches!(
            p.value().name(),
            "head" | "script" | "style" | "template" | "select" | "svg"
        ) {
            continue;
        }
        let mut by_tag: BTreeMap<&str, Vec<ElementRef>> = BTreeMap::new();
        for c in p.children().filter_map(ElementRef::wrap) {
            by_tag.entry(c.value().name()).or_default().push(c);
        }
        for (tag, kids) in by_tag {
            // Definition lists split by headings can hold one or two entries each; their
            // groups only count joined with the others of the same shape.
            let min = if tag == "dt" { 1 } else { MIN_ENTRIES };
            if kids.len() < min || !plain_ident(tag) {
                continue;
            }
            let linked: Vec<ElementRef> = kids
                .iter()
                .copied()
                .filter(|k| main_link(*k).is_some())
                .collect();
            if linked.len() < min {
                continue;
            }
            let parent_shape = format!(
                "{} < {}",
                shape(p),
                p.parent()
                    .and_then(ElementRef::wrap)
                    .map(shape)
                    .unwrap_or_default()
            );
            // The classes most linked children share (an odd one out, like a pager, does not
            // take them away), and each set of classes that several linked children have
            // exactly (rows of two kinds, like stories and their subtext lines).
            let mut class_sets: Vec<Vec<String>> = vec![majority_classes(&linked, 2)];
            let mut exact: BTreeMap<Vec<String>, usize> = BTreeMap::new();
            for k in &linked {
                let mut cs = classes(*k);
                cs.sort();
                *exact.entry(cs).or_default() += 1;
            }
            for (cs, n) in exact {
                if n >= min && n < linked.len() && !cs.is_empty() {
                    class_sets.push(cs.into_iter().take(2).collect());
                }
            }
            class_sets.dedup();
            for common in class_sets {
                let members: Vec<ElementRef> = kids
                    .iter()
                    .copied()
                    .filter(|k| {
                        common.iter().all(|c| {
                            k.value()
                                .has_class(c, scraper::CaseSensitivity::CaseSensitive)
                        })
                    })
                    .collect();
                let mut item = tag.to_string();
                for c in &common {
                    item.push('.');
                    item.push_str(c);
                }
                groups
                    .entry((parent_shape.clone(), item))
                    .or_default()
                    .push(members);
            }
        }
    }

    let mut scored: Vec<Scored> = Vec::new();
    for parts in groups.into_values() {
        let joined: Vec<ElementRef> = if parts.len() > 1 {
            parts.iter().flatten().copied().collect()
        } else {
            Vec::new()
        };
        for members in parts {
            scored.extend(evaluate(page, members));
        }
        if !joined.is_empty() {
            scored.extend(evaluate(page, joined));
        }
    }
    // Best first; equal scores: the outer element (it holds the entry's other parts), then page order.
    scored.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.depth.cmp(&b.depth))
            .then(a.first.cmp(&b.first))
    });

    let mut out: Vec<Candidate> = Vec::new();
    for s in scored {
        if out.len() >= MAX_CANDIDATES {
            break;
        }
        if let Some(c) = write(page, s) {
            out.push(c);
        }
    }
    out
}

/// The elements `selector` matches on the page.
fn matched(page: &Page, selector: &str) -> Option<Vec<NodeId>> {
    let s = Selector::parse(selector).ok()?;
    Some(page.doc.select(&s).map(|e| e.id()).collect())
}

/// An item selector that matches the members (exactly, or with at most a tenth more).
fn item_selector(page: &Page, members: &[ElementRef]) -> Option<String> {
    let want: HashSet<NodeId> = members.iter().map(|m| m.id()).collect();
    let tag = compound(members, 0);
    // The shared classes, rarest on the page first: they say most about the entries.
    let mut shared: Vec<(usize, String)> = common_classes(members, 8)
        .into_iter()
        .map(|c| {
            let n = Selector::parse(&format!(".{c}"))
                .map(|s| page.doc.select(&s).count())
                .unwrap_or(usize::MAX);
            (n, c)
        })
        .collect();
    shared.sort_by_key(|x| x.0);
    let mut items: Vec<String> = vec![compound(members, 2)];
    for n in 1..=shared.len().min(2) {
        let mut c = if tag == "*" {
            String::new()
        } else {
            tag.clone()
        };
        for (_, cl) in shared.iter().take(n) {
            c.push('.');
            c.push_str(cl);
        }
        if !items.contains(&c) {
            items.push(c);
        }
    }
    let mut parents: Vec<ElementRef> = Vec::new();
    for m in members {
        if let Some(p) = m.parent().and_then(ElementRef::wrap)
            && !parents.iter().any(|q| q.id() == p.id())
        {
            parents.push(p);
        }
    }
    let with_id = |els: &[ElementRef], max: usize| -> String {
        let c = compound(els, max);
        match els {
            [one] => match one.value().id().filter(|i| plain_ident(i)) {
                Some(id) => format!("{}#{id}", c.trim_start_matches('*')),
                None => c,
            },
            _ => c,
        }
    };
    let pc = with_id(&parents, 2);
    let mut grands: Vec<ElementRef> = Vec::new();
    for p in &parents {
        if let Some(g) = p.parent().and_then(ElementRef::wrap)
            && !grands.iter().any(|q| q.id() == g.id())
        {
            grands.push(g);
        }
    }
    let gc = with_id(&grands, 2);
    // The nearest ancestor with an id that holds every member.
    let anchor = members.first().and_then(|m| {
        m.ancestors().filter_map(ElementRef::wrap).find(|a| {
            a.value().id().is_some_and(plain_ident)
                && members
                    .iter()
                    .all(|x| x.ancestors().any(|y| y.id() == a.id()))
        })
    });
    let mut tries: Vec<String> = Vec::new();
    for item in &items {
        tries.push(item.clone());
        tries.push(format!("{pc} > {item}"));
        tries.push(format!("{gc} > {pc} > {item}"));
        if let Some(a) = anchor.and_then(|a| a.value().id()) {
            tries.push(format!("#{a} {item}"));
            tries.push(format!("#{a} {pc} > {item}"));
            tries.push(format!("#{a} {gc} > {pc} > {item}"));
        }
    }
    let mut near: Option<(usize, String)> = None;
    for t in tries {
        let Some(got) = matched(page, &t) else {
            continue;
        };
        let got_set: HashSet<NodeId> = got.iter().copied().collect();
        if !want.iter().all(|w| got_set.contains(w)) {
            continue;
        }
        let extra = got_set.len().saturating_sub(want.len());
        if extra == 0 {
            return Some(t);
        }
        if extra.saturating_mul(10) <= want.len() && near.as_ref().is_none_or(|n| extra < n.0) {
            near = Some((extra, t));
        }
    }
    near.map(|n| n.1)
}

/// In how many entries the first element `selector` picks is the main link, or a link to
/// the same address.
fn first_hits(entries: &[Entry], selector: &str) -> usize {
    let Ok(s) = Selector::parse(selector) else {
        return 0;
    };
    entries
        .iter()
        .filter(|e| {
            e.el.select(&s).next().is_some_and(|x| {
                x.id() == e.link.id()
                    || (x.attr("href").is_some() && x.attr("href") == e.link.attr("href"))
            })
        })
        .count()
}

/// The title and link selector: picks each entry's main link.
fn link_selector(entries: &[Entry]) -> Option<String> {
    if entries.iter().all(|e| e.link.id() == e.el.id()) {
        return Some(":scope".to_string());
    }
    let links: Vec<ElementRef> = entries.iter().map(|e| e.link).collect();
    let lc = compound(&links, 2);
    let bare = compound(&links, 0);
    // The most specific first: it keeps picking the title if the entries grow other links.
    let mut tries: Vec<String> = Vec::new();
    let parents: Vec<ElementRef> = links
        .iter()
        .filter_map(|l| l.parent().and_then(ElementRef::wrap))
        .collect();
    if parents.len() == links.len() {
        let pc = compound(&parents, 2);
        tries.push(format!("{pc} > {lc}"));
        tries.push(format!("{pc} > {bare}"));
        // A heading holding the link.
        if let Some(h) = ["h1", "h2", "h3", "h4", "h5", "h6"].iter().find(|h| {
            links.iter().all(|l| {
                l.ancestors()
                    .filter_map(ElementRef::wrap)
                    .any(|a| a.value().name() == **h)
            })
        }) {
            tries.push(format!("{h} {lc}"));
            tries.push(format!("{h} {bare}"));
        }
        let gparents: Vec<ElementRef> = parents
            .iter()
            .filter_map(|l| l.parent().and_then(ElementRef::wrap))
            .collect();
        if gparents.len() == parents.len() {
            let gc = compound(&gparents, 2);
            tries.push(format!("{gc} > {pc} > {lc}"));
        }
    }
    tries.push(lc);
    tries.push("a[href]".to_string());
    let need = entries.len().saturating_mul(9).div_ceil(10);
    tries.into_iter().find(|t| first_hits(entries, t) >= need)
}

/// Does `text` read as a date?
fn is_date(page: &Page, text: &str) -> bool {
    let n = text.chars().count();
    (4..=48).contains(&n)
        && text.chars().any(|c| c.is_ascii_digit())
        && crate::extract::dates::parse_date(text, &[], chrono_tz::UTC, page.now).is_some()
}

/// The first element of `entry` that `selector` picks, and whether its value reads as a date.
fn date_hits(page: &Page, entries: &[Entry], selector: &str, attr: Option<&str>) -> usize {
    let Ok(s) = Selector::parse(selector) else {
        return 0;
    };
    entries
        .iter()
        .filter(|e| {
            e.el.select(&s).next().is_some_and(|d| {
                let v = match attr {
                    Some(a) => d.attr(a).map(str::to_string),
                    None => d
                        .attr("datetime")
                        .map(str::to_string)
                        .or_else(|| Some(text_of(d))),
                };
                v.is_some_and(|v| is_date(page, v.trim()))
            })
        })
        .count()
}

fn inside(el: ElementRef, container: ElementRef) -> bool {
    el.id() == container.id() || el.ancestors().any(|a| a.id() == container.id())
}

/// The date FIELD: `<time>`, a `datetime` attribute, a `title` attribute or text that reads as a date.
fn date_field(page: &Page, entries: &[Entry]) -> Option<FieldSpec> {
    let need = entries.len().div_ceil(2);
    for s in ["time", "[datetime]"] {
        if date_hits(page, entries, s, None) >= need {
            return Some(FieldSpec::css(s));
        }
    }
    // Compounds of elements whose text or title reads as a date, by how many entries have one.
    let mut text_counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut title_counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (n, e) in entries.iter().enumerate().take(40) {
        let mut seen_text: Vec<String> = Vec::new();
        let mut seen_title: Vec<String> = Vec::new();
        for d in e.el.select(&ANY) {
            if inside(d, e.link) || inside(e.link, d) {
                continue;
            }
            let c = compound(&[d], 1);
            if d.attr("title").is_some_and(|t| is_date(page, t.trim())) && !seen_title.contains(&c)
            {
                let slot = title_counts.entry(c.clone()).or_insert((0, n));
                slot.0 += 1;
                seen_title.push(c.clone());
            }
            let t = text_of(d);
            if is_date(page, &t) && !seen_text.contains(&c) {
                let slot = text_counts.entry(c.clone()).or_insert((0, n));
                slot.0 += 1;
                seen_text.push(c);
            }
        }
    }
    let sample = entries.len().min(40);
    let best = |counts: BTreeMap<String, (usize, usize)>| {
        counts
            .into_iter()
            .filter(|(_, (k, _))| k.saturating_mul(2) >= sample)
            .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))
            .map(|(c, _)| c)
    };
    if let Some(c) = best(text_counts)
        && date_hits(page, entries, &c, None) >= need
    {
        return Some(FieldSpec::css(&c));
    }
    if let Some(c) = best(title_counts) {
        let s = format!("{c}[title]");
        if date_hits(page, entries, &s, Some("title")) >= need {
            return Some(FieldSpec::attr(&s, "title"));
        }
    }
    None
}

/// The authors FIELD: `rel=author`, `.author`, `.byline` and the like.
fn authors_field(entries: &[Entry]) -> Option<FieldSpec> {
    let need = entries.len().saturating_mul(3).div_ceil(10).max(1);
    for s in [
        "[rel~=author]",
        "[itemprop=author]",
        ".p-author",
        ".author",
        ".byline",
        ".by",
    ] {
        let Ok(sel) = Selector::parse(s) else {
            continue;
        };
        let hits = entries
            .iter()
            .filter(|e| {
                e.el.select(&sel).next().is_some_and(|a| {
                    let n = text_of(a).chars().count();
                    (2..=80).contains(&n)
                })
            })
            .count();
        if hits >= need {
            return Some(FieldSpec::css(s));
        }
    }
    None
}

/// The summary FIELD: the element shape that most entries have with a sentence or more of
/// text outside the headline.
fn summary_field(entries: &[Entry], taken: &[&str]) -> Option<FieldSpec> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let sample = entries.len().min(40);
    for (n, e) in entries.iter().enumerate().take(40) {
        let mut seen: Vec<String> = Vec::new();
        for d in e.el.select(&ANY) {
            if inside(d, e.link) || inside(e.link, d) {
                continue;
            }
            if matches!(
                d.value().name(),
                "a" | "time" | "script" | "style" | "img" | "svg"
            ) {
                continue;
            }
            let t = text_of(d);
            if t.chars().count() < 40 {
                continue;
            }
            let c = compound(&[d], 1);
            if taken.contains(&c.as_str()) || seen.contains(&c) {
                continue;
            }
            let slot = counts.entry(c.clone()).or_insert((0, n));
            slot.0 += 1;
            seen.push(c);
        }
    }
    let c = counts
        .into_iter()
        .filter(|(_, (k, _))| k.saturating_mul(10) >= sample.saturating_mul(4))
        // The most entries; among equals, the one met first.
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))?
        .0;
    Some(FieldSpec::css(&c))
}

/// A candidate with selectors for a scored group, or `None` when no selector fits.
fn write(page: &Page, s: Scored) -> Option<Candidate> {
    let selector = item_selector(page, &s.members)?;
    let link = link_selector(&s.entries)?;
    let titles: Vec<ElementRef> = s.entries.iter().filter_map(|e| e.title_next).collect();
    let title = if titles.len().saturating_mul(10) >= s.entries.len().saturating_mul(9) {
        FieldSpec::next(&compound(&titles, 1))
    } else {
        FieldSpec::css(&link)
    };
    let mut fields: Vec<(&'static str, FieldSpec)> =
        vec![("title", title), ("link", FieldSpec::css(&link))];
    let date = date_field(page, &s.entries);
    let authors = authors_field(&s.entries);
    let taken: Vec<&str> = date
        .iter()
        .chain(authors.iter())
        .map(|f| f.selector.as_str())
        .collect();
    if let Some(summary) = summary_field(&s.entries, &taken) {
        fields.push(("summary", summary));
    }
    if let Some(a) = authors {
        fields.push(("authors", a));
    }
    if let Some(d) = date {
        fields.push(("date", d));
    }
    Some(Candidate {
        method: Method::Heuristic,
        selector,
        fields,
        score: s.score,
        extractor: Extractor::Selectors,
        count: s.entries.len(),
        links: s.entries.into_iter().map(|e| e.url).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use url::Url;

    fn analyze(html: &str) -> Vec<Candidate> {
        let now = DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let url = Url::parse("https://news.example/").unwrap_or_else(|e| panic!("{e}"));
        super::super::analyze(html, &url, None, now).candidates
    }

    const PAGE: &str = r#"<html><body>
      <nav class="menu"><ul>
        <li><a href="/">Home</a></li><li><a href="/world">World news</a></li>
        <li><a href="/politics">Politics today</a></li><li><a href="/sport">Sport and games</a></li>
      </ul></nav>
      <main><div class="stories">
        <article class="story"><h2><a href="/a/1">The council approves the new harbour bridge plan</a></h2>
          <time datetime="2026-01-09T10:00:00Z">9 January</time><span class="author">Ann Lee</span>
          <p class="dek">A long teaser that says what the story is about, in one sentence or two.</p></article>
        <article class="story"><h2><a href="/a/2">Floods close the old coast road for a week</a></h2>
          <time datetime="2026-01-08T10:00:00Z">8 January</time><span class="author">Bo Chen</span>
          <p class="dek">Another teaser long enough to be a summary of the story that follows it.</p></article>
        <article class="story"><h2><a href="/a/3">School year to start two weeks later next autumn</a></h2>
          <time datetime="2026-01-07T10:00:00Z">7 January</time><span class="author">Cy Diaz</span>
          <p class="dek">A third teaser, with enough words in it to count as a summary of the story.</p></article>
      </div>
      <aside class="related"><h3>Related</h3><ul>
        <li><a href="/r/1">An older story about bridges in the region</a></li>
        <li><a href="/r/2">Another older story about the coast and its roads</a></li>
        <li><a href="/r/3">A third older story about schools and their calendars</a></li>
        <li><a href="/r/4">A fourth older story about the harbour and its ships</a></li>
      </ul></aside>
      <div class="tagcloud"><a href="/t/a">bridges</a> <a href="/t/b">floods</a> <a href="/t/c">schools</a> <a href="/t/d">ports</a></div>
      </main>
      <footer><ul><li><a href="/about">About us</a></li><li><a href="/contact">Contact the newsroom</a></li>
        <li><a href="/privacy">Privacy policy</a></li></ul></footer>
    </body></html>"#;

    #[test]
    fn the_article_list_ranks_above_furniture() {
        let c = analyze(PAGE);
        let first = c.first().unwrap_or_else(|| panic!("no candidate"));
        assert_eq!(first.method, Method::Heuristic);
        assert_eq!(first.selector, "article.story");
        assert_eq!(
            first.links,
            vec![
                "https://news.example/a/1",
                "https://news.example/a/2",
                "https://news.example/a/3"
            ]
        );
        let field = |k: &str| {
            first
                .fields
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(field("title"), Some(FieldSpec::css("h2 > a")));
        assert_eq!(field("date"), Some(FieldSpec::css("time")));
        assert_eq!(field("authors"), Some(FieldSpec::css(".author")));
        assert_eq!(field("summary"), Some(FieldSpec::css("p.dek")));
        for other in &c[1..] {
            assert!(other.score < first.score / 2.0, "{other:?}");
        }
    }

    #[test]
    fn same_page_same_candidates() {
        let a: Vec<String> = analyze(PAGE).iter().map(|c| c.items_toml()).collect();
        let b: Vec<String> = analyze(PAGE).iter().map(|c| c.items_toml()).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn date_shaped_text_is_found() {
        let html = r#"<ul class="posts">
          <li><a href="/p/1">First post about the garden</a> <span class="d">Jun 26, 2022</span></li>
          <li><a href="/p/2">Second post about the garden</a> <span class="d">Jun 20, 2022</span></li>
          <li><a href="/p/3">Third post about the garden</a> <span class="d">May 2, 2022</span></li>
        </ul>"#;
        let c = analyze(html);
        let first = c.first().unwrap_or_else(|| panic!("no candidate"));
        assert_eq!(first.selector, "li");
        assert!(
            first.fields.contains(&("date", FieldSpec::css("span.d"))),
            "{:?}",
            first.fields
        );
    }

    #[test]
    fn definition_lists_take_the_title_from_the_description() {
        let entry = |n: u32, t: &str| {
            format!(
                r#"<dt><a href="/abs/{n}">id:{n}</a> [<a href="/pdf/{n}">pdf</a>]</dt>
                <dd><div class="list-title">{t}</div><div class="authors">Ann</div></dd>"#
            )
        };
        let html = format!(
            "<h3>Mon</h3><dl>{}{}</dl><h3>Sun</h3><dl>{}</dl>",
            entry(1, "On the shape of compact spaces"),
            entry(2, "A note on countable bases"),
            entry(3, "Hyperspaces revisited, with examples"),
        );
        let c = analyze(&html);
        let first = c.first().unwrap_or_else(|| panic!("no candidate"));
        assert_eq!(first.selector, "dt");
        assert_eq!(
            first.fields[0],
            ("title", FieldSpec::next("div.list-title"))
        );
        assert_eq!(first.fields[1], ("link", FieldSpec::css("dt > a")));
        assert_eq!(
            first.items_toml().lines().nth(1),
            Some(r#"title = { selector = "div.list-title", from = "next" }"#)
        );
        assert_eq!(first.links.len(), 3);
    }

    #[test]
    fn headline_quality_prefers_sentences() {
        assert!(headline_quality(2, "ab") == 0.0);
        assert!(
            headline_quality(8, "Politics")
                < headline_quality(40, "The council approves a new bridge plan")
        );
        assert!(headline_quality(400, &"word ".repeat(80)) < 1.0);
    }
}
