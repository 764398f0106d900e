//! Parsing HTML from pages and feeds with bounded work.
//!
//! html5ever follows the HTML standard, and some inputs make the standard's algorithms slow:
//! each start tag looks for elements in scope through the stack of open elements, so a page
//! of nested elements costs the square of its depth; the tokenizer checks every attribute of a
//! tag against the ones before it; the list of active formatting elements is compared with
//! every new `<b>` and reopened after every closed block. A hostile page within
//! `max_page_bytes` could take minutes and gigabytes. This module parses with the same
//! html5ever tokenizer and tree builder, into the same trees, and puts three bounds around them:
//!
//! - **Depth.** Like browsers (Chromium caps its tree at 512 levels), a start tag is left out
//!   when the stack of open elements (counted with the active formatting elements) is
//!   [`MAX_DEPTH`] deep; so is its end tag. Its text and any void elements (`<img>`, `<br>`)
//!   stay, in the element at the limit. Pages shallower than that parse exactly as before.
//! - **Attributes.** A tag keeps its first [`MAX_ATTRIBUTES`] attributes; the rest are cut
//!   from the text before the tokenizer reads it, and repeated `<html>`/`<body>` tags (whose
//!   attributes are merged onto the first ones) add no more than that in all. The cut needs
//!   to know where tags are, so the input is scanned with the tokenizer's own states and fed
//!   to it in segments, each ending where the tree builder decides how the tokenizer reads on
//!   (after `<script>`, `<style>`, `<title>`, ...; before `<![CDATA[`).
//! - **Work.** The tree builder's walks over its stack and lists, the elements and attributes
//!   it creates and what it costs to compare formatting elements are counted; past a budget
//!   proportional to the input's size, the rest of the input is read without its tags.
//!   Ordinary pages use a small part of the budget.
//!
//! [`document`] and [`fragment`] parse into `scraper` trees; [`for_sanitizer`] returns text
//! that ammonia (which parses with html5ever itself) can clean with bounded work.

pub(crate) mod scan;
mod serialize;
mod sink;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::marker::PhantomData;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, TagToken, Token, TokenSink, TokenSinkResult, Tokenizer,
    TokenizerOpts,
};
use html5ever::tree_builder::{Tracer, TreeBuilder, TreeBuilderOpts, TreeSink, create_element};
use html5ever::{LocalName, QualName, TokenizerResult, local_name, ns};
use scraper::{Html, HtmlTreeSink};

use scan::{Mode, Segments, Stop};
pub use serialize::inner_html;
use sink::{Metered, Metering, Probe};

/// The deepest the stack of open elements (with the active formatting elements) may grow
/// before start tags are left out: Chromium's limit for its tree.
pub const MAX_DEPTH: usize = 512;

/// The attributes a tag keeps; also the most that repeated `<html>`/`<body>` tags add.
pub const MAX_ATTRIBUTES: usize = 256;

/// Tags that do not deepen the tree (void elements), that switch the tokenizer (`<script>`,
/// `<style>`, ...; leaving them out would read their text as markup) and the document's own
/// `<html>`/`<head>`/`<body>` are still taken this much past [`MAX_DEPTH`].
const MARGIN: usize = 32;

/// Work budget: units per input byte, plus a base. A unit is one step of the tree builder
/// (one element looked at in its stack or lists, one node or attribute created or compared),
/// or 16 bytes the serializer will search; the pages of the test corpus use less than 2 per
/// byte.
const WORK_PER_BYTE: u64 = 64;
const WORK_BASE: u64 = 1 << 20;

/// Node budget: elements and attributes created, per two input bytes, plus a base. Ordinary
/// markup creates about one per 10 bytes; a tag needs at least three.
const NODES_PER_TWO_BYTES: u64 = 1;
const NODES_BASE: u64 = 1 << 16;

/// What the bounds did to one input. All zero (and `exhausted` false) means the input parsed
/// exactly as html5ever alone would have parsed it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Start tags left out because the tree was [`MAX_DEPTH`] deep there.
    pub deep_tags: usize,
    /// Tags that had more than [`MAX_ATTRIBUTES`] attributes (or `<html>`/`<body>` tags past
    /// that many in all), and lost the rest.
    pub cut_tags: usize,
    /// The work or node budget ran out: from there on the input was read without its tags.
    pub exhausted: bool,
}

impl Report {
    /// What an operator should know about a page that went past the bounds, if anything.
    pub fn warning(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.deep_tags > 0 {
            parts.push(format!(
                "its elements nest more than {MAX_DEPTH} deep: {} start tags below that depth were ignored (their text stays in the element above them), so entries inside them may be missing",
                self.deep_tags
            ));
        }
        if self.cut_tags > 0 {
            parts.push(format!(
                "{} tags have more than {MAX_ATTRIBUTES} attributes: the rest were ignored",
                self.cut_tags
            ));
        }
        if self.exhausted {
            parts.push(
                "its markup costs too much to parse (misnested formatting or similar): past the work limit for a page of its size its tags were ignored, so later entries may be missing".to_string(),
            );
        }
        (!parts.is_empty()).then(|| {
            format!(
                "{}; the page's markup is broken or hostile: check what `pagefeed preview` finds on it",
                parts.join("; ")
            )
        })
    }

    /// The tree is the one html5ever alone would have built.
    pub fn is_exact(&self) -> bool {
        *self == Report::default()
    }

    /// The tags are all there, only attributes may have been cut.
    fn kept_all_tags(&self) -> bool {
        self.deep_tags == 0 && !self.exhausted
    }
}

/// Parse a whole page, as `scraper::Html::parse_document` does, within the bounds.
pub fn document(html: &str) -> (Html, Report) {
    let sink = Metered::new(HtmlTreeSink::new(Html::new_document()));
    let tb = TreeBuilder::new(sink, TreeBuilderOpts::default());
    let (out, report, _) = run(tb, TokenizerOpts::default(), html, false);
    (out.inner.finish(), report)
}

/// Parse a fragment in the context of `<body>`, as `scraper::Html::parse_fragment` does,
/// within the bounds.
pub fn fragment(html: &str) -> (Html, Report) {
    fragment_in(html, local_name!("body"))
}

fn fragment_in(html: &str, context: LocalName) -> (Html, Report) {
    let sink = Metered::new(HtmlTreeSink::new(Html::new_fragment()));
    let ctx = create_element(&sink, QualName::new(None, ns!(html), context), Vec::new());
    let tb = TreeBuilder::new_for_fragment(sink, ctx, None, TreeBuilderOpts::default());
    let opts = TokenizerOpts {
        initial_state: Some(tb.tokenizer_state_for_context_elem(false)),
        ..TokenizerOpts::default()
    };
    let (out, report, _) = run(tb, opts, html, false);
    (out.inner.finish(), report)
}

/// Inputs this short cost little whatever they hold.
const SHORT: usize = 256;

/// Text that ammonia can clean with bounded work, standing in for `html`.
///
/// ammonia parses a fragment (in a `<div>`) with html5ever itself, so `html` is first parsed
/// the same way with a tree that only records what costs work. Within the bounds, `html`
/// is returned (with any cut attributes cut), and ammonia's own parse repeats exactly the
/// work that was counted (its serializer's included). Otherwise the fragment as this module
/// parses it is serialized (with texts in short pieces) and used if it is itself within the
/// bounds, and failing that its text, escaped.
pub fn for_sanitizer(html: &str) -> Cow<'_, str> {
    if html.len() < SHORT || !html.contains('<') {
        return Cow::Borrowed(html);
    }
    let (text, report) = probe(html);
    if report.kept_all_tags() {
        return text;
    }
    let (frag, _) = fragment_in(&text, local_name!("div"));
    let root = frag.root_element();
    let serialized = serialize::inner_html_in_pieces(root, PIECE);
    // Reopened formatting elements can make the tree much larger than its text.
    if serialized.len() <= html.len().saturating_mul(2).saturating_add(4096) {
        let (again, report) = probe(&serialized);
        if report.kept_all_tags() {
            return Cow::Owned(again.into_owned());
        }
    }
    let mut out = String::new();
    let mut piece = 0;
    for t in root.text() {
        for c in t.chars() {
            if piece >= PIECE {
                out.push_str("<!---->");
                piece = 0;
            }
            piece += c.len_utf8();
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c => out.push(c),
            }
        }
    }
    Cow::Owned(out)
}

/// The longest text piece (in bytes) of the fallbacks of [`for_sanitizer`]: the cost of
/// serializing a text grows with its length times its escapes.
const PIECE: usize = 256;

/// A dry run of ammonia's parse: its fragment context, the tree builder's decisions of its
/// tree (`Probe` answers as its `RcDom` does) and that tree's costs.
fn probe(html: &str) -> (Cow<'_, str>, Report) {
    let sink = Probe::default();
    let ctx = create_element(
        &sink,
        QualName::new(None, ns!(html), local_name!("div")),
        Vec::new(),
    );
    let tb = TreeBuilder::new_for_fragment(sink, ctx, None, TreeBuilderOpts::default());
    let opts = TokenizerOpts {
        initial_state: Some(tb.tokenizer_state_for_context_elem(false)),
        ..TokenizerOpts::default()
    };
    let (_, report, text) = run(tb, opts, html, true);
    (text, report)
}

/// Tokenize `input` in segments into `tb` through the depth and work filter. Returns the
/// sink, what the bounds did and (when `want_text`) the text that was fed.
fn run<'a, S>(
    tb: TreeBuilder<S::Handle, S>,
    opts: TokenizerOpts,
    input: &'a str,
    want_text: bool,
) -> (S, Report, Cow<'a, str>)
where
    S: TreeSink + Metering,
{
    let tok = Tokenizer::new(Filter::new(tb, input.len()), opts);
    let queue = BufferQueue::default();
    let mut segments = Segments::new(input);
    let mut fed: Vec<Cow<'a, str>> = Vec::new();
    let mut mode = Mode::Data;
    loop {
        let (text, stop) = segments.next(mode);
        if !text.is_empty() {
            queue.push_back(StrTendril::from_slice(&text));
            while !matches!(tok.feed(&queue), TokenizerResult::Done) {}
        }
        if want_text {
            fed.push(text);
        }
        mode = match stop {
            Stop::End => break,
            Stop::Switch(name) => match tok.sink.last_start.get() {
                Last::Data => Mode::Data,
                Last::Plaintext => Mode::Plaintext,
                Last::Raw(RawKind::Rcdata | RawKind::Rawtext) => Mode::Text(name),
                Last::Raw(RawKind::ScriptData | RawKind::ScriptDataEscaped(_)) => Mode::Script,
            },
            Stop::Cdata => {
                if tok
                    .sink
                    .adjusted_current_node_present_but_not_in_html_namespace()
                {
                    Mode::Cdata
                } else {
                    Mode::BogusComment
                }
            }
        };
    }
    tok.end();
    let closing = tok.sink.tb.sink.closing_work();
    tok.sink.add_work(closing);
    if tok.sink.over_budget() {
        let mut report = tok.sink.report.get();
        report.exhausted = true;
        tok.sink.report.set(report);
    }
    let mut report = tok.sink.report.get();
    report.cut_tags = segments.cut_tags;
    let text = if !want_text {
        Cow::Borrowed("")
    } else if segments.cut_tags == 0 {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(fed.concat())
    };
    (tok.sink.tb.sink, report, text)
}

// ---------------------------------------------------------------------------------------------
// The depth and work filter between the tokenizer and the tree builder.

/// What the tree builder made of the last start tag: how the tokenizer reads on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Data,
    Raw(RawKind),
    Plaintext,
}

struct Filter<S: TreeSink> {
    tb: TreeBuilder<S::Handle, S>,
    work_budget: u64,
    node_budget: u64,
    /// Work the sink does not see: formatting-list comparisons and depth measurements.
    work: Cell<u64>,
    /// Open elements plus active formatting elements (and the head and form pointers) at the
    /// last measurement, and the sink's element count then.
    measured: Cell<usize>,
    created_at: Cell<u64>,
    /// A tag reached the tree builder since the last measurement (it may have popped).
    tags_since: Cell<bool>,
    /// Start tags left out (by name) whose end tags are still to come.
    dropped: RefCell<HashMap<LocalName, usize>>,
    /// The most attributes a formatting element had.
    formatting_attrs: Cell<u64>,
    last_start: Cell<Last>,
    report: Cell<Report>,
}

impl<S: TreeSink + Metering> Filter<S> {
    fn new(tb: TreeBuilder<S::Handle, S>, input_len: usize) -> Self {
        let len = u64::try_from(input_len).unwrap_or(u64::MAX);
        Filter {
            tb,
            work_budget: len.saturating_mul(WORK_PER_BYTE).saturating_add(WORK_BASE),
            node_budget: (len / 2)
                .saturating_mul(NODES_PER_TWO_BYTES)
                .saturating_add(NODES_BASE),
            work: Cell::new(0),
            measured: Cell::new(0),
            created_at: Cell::new(0),
            tags_since: Cell::new(false),
            dropped: RefCell::new(HashMap::new()),
            formatting_attrs: Cell::new(0),
            last_start: Cell::new(Last::Data),
            report: Cell::new(Report::default()),
        }
    }

    fn add_work(&self, units: u64) {
        self.work.set(self.work.get().saturating_add(units));
    }

    /// An upper bound of open plus active formatting elements, measured again when it may
    /// have grown by more than a little, or when `exact` and it may have changed.
    fn load(&self, exact: bool) -> usize {
        let created = self.tb.sink.meter().created.get();
        let since =
            usize::try_from(created.saturating_sub(self.created_at.get())).unwrap_or(usize::MAX);
        if since >= 16 || (exact && (since > 0 || self.tags_since.get())) {
            let count = Count::<S::Handle>::default();
            self.tb.trace_handles(&count);
            // The first handle traced is the document.
            let n = count.n.get().saturating_sub(1);
            self.add_work(u64::try_from(n).unwrap_or(u64::MAX));
            self.measured.set(n);
            self.created_at.set(created);
            self.tags_since.set(false);
            return n;
        }
        // Each element created adds at most one open and one formatting entry.
        self.measured.get().saturating_add(since.saturating_mul(2))
    }

    fn admit(&self, tag: &Tag) -> bool {
        if self.load(false) < MAX_DEPTH {
            return true;
        }
        let limit = if is_cheap(&tag.name) {
            MAX_DEPTH + MARGIN
        } else {
            MAX_DEPTH
        };
        self.load(false) < limit || self.load(true) < limit
    }

    fn over_budget(&self) -> bool {
        let m = self.tb.sink.meter();
        m.work.get().saturating_add(self.work.get()) > self.work_budget
            || m.nodes.get() > self.node_budget
    }
}

impl<S: TreeSink + Metering> TokenSink for Filter<S> {
    type Handle = S::Handle;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<S::Handle> {
        let mut start = false;
        if let TagToken(tag) = &token {
            start = tag.kind == TagKind::StartTag;
            let mut report = self.report.get();
            // Past the budget tags are left out, but for the end tags of elements whose text
            // the tokenizer read raw (else all the rest would be that element's text).
            if report.exhausted && (start || !is_text_element(&tag.name)) {
                if start {
                    self.last_start.set(Last::Data);
                }
                return TokenSinkResult::Continue;
            }
            let name = &tag.name;
            if start {
                if !self.admit(tag) {
                    report.deep_tags = report.deep_tags.saturating_add(1);
                    self.report.set(report);
                    let acknowledged = tag.self_closing
                        && self
                            .tb
                            .adjusted_current_node_present_but_not_in_html_namespace();
                    if !is_void(name) && !acknowledged {
                        let mut dropped = self.dropped.borrow_mut();
                        let n = dropped.entry(tag.name.clone()).or_insert(0);
                        *n = n.saturating_add(1);
                    }
                    self.last_start.set(Last::Data);
                    return TokenSinkResult::Continue;
                }
                if is_formatting(name) {
                    // The list of active formatting elements is searched (`<a>`) and each
                    // entry compared with the new one (Noah's Ark): cloned, sorted attributes.
                    let attrs = u64::try_from(tag.attrs.len()).unwrap_or(u64::MAX);
                    let most = self.formatting_attrs.get().max(attrs);
                    self.formatting_attrs.set(most);
                    let load = u64::try_from(self.load(false)).unwrap_or(u64::MAX);
                    self.add_work(
                        load.saturating_mul(attrs.saturating_add(most).saturating_add(2)),
                    );
                }
            } else {
                {
                    let mut dropped = self.dropped.borrow_mut();
                    if !dropped.is_empty()
                        && let Some(n) = dropped.get_mut(&tag.name)
                        && *n > 0
                    {
                        *n -= 1;
                        return TokenSinkResult::Continue;
                    }
                }
                if is_formatting(name) {
                    // The adoption agency looks through the formatting list by name.
                    let load = u64::try_from(self.load(false)).unwrap_or(u64::MAX);
                    self.add_work(load);
                }
            }
        }
        let tag = matches!(token, TagToken(_));
        let result = self.tb.process_token(token, line_number);
        if tag {
            self.tags_since.set(true);
        }
        if start {
            self.last_start.set(match &result {
                TokenSinkResult::RawData(kind) => Last::Raw(*kind),
                TokenSinkResult::Plaintext => Last::Plaintext,
                _ => Last::Data,
            });
        }
        if self.over_budget() {
            let mut report = self.report.get();
            report.exhausted = true;
            self.report.set(report);
        }
        result
    }

    fn end(&self) {
        self.tb.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.tb
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// Counts the handles the tree builder holds.
struct Count<H> {
    n: Cell<usize>,
    handle: PhantomData<H>,
}

impl<H> Default for Count<H> {
    fn default() -> Self {
        Count {
            n: Cell::new(0),
            handle: PhantomData,
        }
    }
}

impl<H> Tracer for Count<H> {
    type Handle = H;
    fn trace_handle(&self, _node: &H) {
        self.n.set(self.n.get().saturating_add(1));
    }
}

/// The tree builder's formatting elements (also followed by `extract::stream`).
pub(crate) fn is_formatting(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("a")
            | local_name!("b")
            | local_name!("big")
            | local_name!("code")
            | local_name!("em")
            | local_name!("font")
            | local_name!("i")
            | local_name!("nobr")
            | local_name!("s")
            | local_name!("small")
            | local_name!("strike")
            | local_name!("strong")
            | local_name!("tt")
            | local_name!("u")
    )
}

fn is_void(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("area")
            | local_name!("base")
            | local_name!("basefont")
            | local_name!("bgsound")
            | local_name!("br")
            | local_name!("col")
            | local_name!("embed")
            | local_name!("frame")
            | local_name!("hr")
            | local_name!("image")
            | local_name!("img")
            | local_name!("input")
            | local_name!("keygen")
            | local_name!("link")
            | local_name!("meta")
            | local_name!("param")
            | local_name!("source")
            | local_name!("track")
            | local_name!("wbr")
    )
}

/// Elements whose text the tokenizer may read raw.
fn is_text_element(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("iframe")
            | local_name!("noembed")
            | local_name!("noframes")
            | local_name!("noscript")
            | local_name!("plaintext")
            | local_name!("script")
            | local_name!("style")
            | local_name!("textarea")
            | local_name!("title")
            | local_name!("xmp")
    )
}

/// Tags that do not deepen the tree, switch the tokenizer, or are the document's own.
fn is_cheap(name: &LocalName) -> bool {
    is_void(name)
        || is_text_element(name)
        || matches!(
            *name,
            local_name!("html") | local_name!("head") | local_name!("body")
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ego_tree::NodeRef;
    use scraper::{ElementRef, Node, Selector};

    fn raw(html: &str) -> String {
        Html::parse_document(html).html()
    }

    /// How deep the deepest element is (the `<html>` element is 1).
    fn depth(doc: &Html) -> usize {
        fn walk(n: NodeRef<Node>, d: usize, max: &mut usize) {
            // Iterative over siblings, recursive over depth: fine for the bounded trees here.
            for c in n.children() {
                if c.value().is_element() {
                    *max = (*max).max(d + 1);
                    walk(c, d + 1, max);
                }
            }
        }
        let mut max = 0;
        walk(doc.tree.root(), 0, &mut max);
        max
    }

    fn select<'a>(doc: &'a Html, sel: &str) -> Vec<ElementRef<'a>> {
        let s = Selector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e:?}"));
        doc.select(&s).collect()
    }

    /// Pages that exercise the tokenizer's states and the tree builder's odd corners; each
    /// must parse exactly as html5ever alone parses it.
    const TRICKY: &[&str] = &[
        "<!DOCTYPE html><html lang=en><head><title>A &amp; <b>B</b></title><meta charset=utf-8></head><body><p>x</body></html>",
        "<p>one<p>two<div>three</p><li>a<li>b<table><tr><td>c<td>d</table><b><i>x</b>y</i>z",
        "<table><b>foster</b><tr><td>in</td></tr>text<i>more</i></table>after",
        "<script>if (a<b && c>d) { x = '</scr' + 'ipt>'; }</script><p>after</p>",
        "<script><!--<script>nested</script>--></script><div a=\"1\">x</div>",
        "<script><!-- a --> b </script><p>c</p><script>x<!--y-->z</script>",
        "<style>p > a { color: red } /* </div> */</style><p class=\"a\" id='b' c=d e>t</p>",
        "<textarea><b>not bold</b></textarea><title>t</title><xmp><i>raw</i></xmp><iframe><p></iframe>",
        "<noscript><p>no</p></noscript><noembed><x></noembed><noframes><y></noframes>",
        "<svg><title><b>svg title</b></title><style>a{}</style><script>1</script><![CDATA[ <x a=\"1> ]]><path d='M0'/></svg><p>html</p>",
        "<math><mi>x</mi><annotation-xml encoding=\"text/html\"><style><p></style></annotation-xml></math>",
        "<![CDATA[ bogus ]]><p>x</p><!-- c -- c --!><!--><!---><!----><!-- a --!> b -->c",
        "<select><title>t</title><option>a<option>b<textarea>c</textarea></select>",
        "<frameset><script><p a b c></script></frameset>",
        "<a href=\"/1\">1<a href=\"/2\">2</a><nobr>n<nobr>m</nobr><form><form></form>",
        "<div a=\"x>y\" b='p>q' c=r>s</div><p/><br/><img src=x />< p><?php echo 1 ?></p x=1>",
        "<template><td>cell</td></template><p>\u{a0}&nbsp;\"q\"</p>",
        "<plaintext><p>all text</p></plaintext>",
        "<div\tclass=a\r\nid=b/>x</div>",
        "<body a=1><html b=2><body c=3 a=4>x",
        "</>x</ >y<//z></p></br>",
    ];

    #[test]
    fn ordinary_pages_parse_exactly_as_before() {
        for page in TRICKY {
            let (doc, report) = document(page);
            assert_eq!(doc.html(), raw(page), "{page}");
            assert!(report.is_exact(), "{page}: {report:?}");
            let (frag, report) = fragment(page);
            assert_eq!(frag.html(), Html::parse_fragment(page).html(), "{page}");
            assert!(report.is_exact());
        }
    }

    #[test]
    fn depth_is_capped_and_the_rest_of_the_page_is_in_place() {
        let n = MAX_DEPTH + 300;
        let page = format!(
            "<html><body>{}<span>deep text</span>{}<p id=after>after</p></body></html>",
            "<div class=d>".repeat(n),
            "</div>".repeat(n)
        );
        let (doc, report) = document(&page);
        // html, body and the divs; the limit counts the head pointer too.
        let kept = select(&doc, "div.d").len();
        assert!((MAX_DEPTH - 8..MAX_DEPTH).contains(&kept), "{kept}");
        assert!(depth(&doc) <= MAX_DEPTH, "{}", depth(&doc));
        assert_eq!(
            report.deep_tags,
            n - kept + 1,
            "the divs past the limit and the span"
        );
        assert!(!report.exhausted);
        // The text is kept in the deepest div; the end tags of the ignored divs are ignored,
        // so the page after the nest is where it was.
        let deepest = select(&doc, "div.d")
            .pop()
            .unwrap_or_else(|| unreachable!());
        assert_eq!(deepest.text().collect::<String>(), "deep text");
        let after = select(&doc, "body > p#after");
        assert_eq!(after.len(), 1, "{}", &doc.html()[doc.html().len() - 200..]);
        assert!(report.warning().is_some_and(|w| w.contains("512")));
    }

    #[test]
    fn at_the_limit_nothing_is_left_out() {
        // Just below the limit the page is exact; one more start tag is the first left out.
        let below = (MAX_DEPTH - 16..MAX_DEPTH)
            .find(|&k| !document(&"<div>".repeat(k + 1)).1.is_exact())
            .unwrap_or_else(|| panic!("no start tag was left out"));
        let page = "<div>".repeat(below);
        let (doc, report) = document(&page);
        assert!(report.is_exact());
        assert_eq!(doc.html(), raw(&page));
        let (doc, report) = document(&"<div>".repeat(below + 1));
        assert_eq!(report.deep_tags, 1);
        assert_eq!(select(&doc, "div").len(), below);
        // Void elements and text still go in at the limit.
        let (doc, report) = document(&format!(
            "{}<img src=a.png><br>x",
            "<div>".repeat(below + 5)
        ));
        assert_eq!(report.deep_tags, 5);
        assert_eq!(select(&doc, "img").len(), 1);
        assert!(below > MAX_DEPTH - 8, "{below}");
    }

    #[test]
    fn formatting_elements_and_tables_are_capped_too() {
        for unit in [
            "<b>",
            "<b id=x>",
            "<i><span>",
            "<table><tr><td>",
            "<ul><li>",
            "<svg><g>",
        ] {
            let n = 2 * MAX_DEPTH;
            let page = format!("{}x", unit.repeat(n));
            let (doc, report) = document(&page);
            assert!(
                depth(&doc) <= MAX_DEPTH + MARGIN + 8,
                "{unit}: {}",
                depth(&doc)
            );
            assert!(!report.is_exact(), "{unit}");
        }
    }

    #[test]
    fn attributes_are_cut_at_the_limit() {
        let attrs: String = (0..MAX_ATTRIBUTES + 50)
            .map(|i| format!(" a{i}=\"{i}\""))
            .collect();
        let page = format!("<p id=x{attrs}>text</p><p{attrs}/>");
        let (doc, report) = document(&page);
        assert_eq!(report.cut_tags, 2);
        for p in select(&doc, "p") {
            assert_eq!(p.value().attrs().count(), MAX_ATTRIBUTES);
        }
        let first = select(&doc, "p#x");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].text().collect::<String>(), "text");
        // Exactly at the limit nothing is cut.
        let attrs: String = (0..MAX_ATTRIBUTES).map(|i| format!(" a{i}")).collect();
        let page = format!("<p{attrs}>x</p>");
        let (doc, report) = document(&page);
        assert!(report.is_exact());
        assert_eq!(doc.html(), raw(&page));
        // The <body> tags after the first add no more than the limit in all.
        let page = (0..10)
            .map(|k| {
                format!(
                    "<body{}>",
                    (0..100).map(|i| format!(" b{k}x{i}")).collect::<String>()
                )
            })
            .collect::<String>();
        let (doc, report) = document(&page);
        assert_eq!(report.cut_tags, 7);
        let body = select(&doc, "body");
        assert_eq!(body[0].value().attrs().count(), 100 + MAX_ATTRIBUTES);
    }

    #[test]
    fn costly_markup_runs_out_of_budget_but_keeps_what_came_before() {
        // Formatting elements reopened inside every block: each `x` recreates all of them.
        let mut page = String::from("<article><h3><a href=/e>Entry</a></h3></article><div>");
        for i in 0..400 {
            page.push_str(&format!("<b id={i}>"));
        }
        page.push_str("</div>");
        page.push_str(&"<div>x</div>".repeat(20_000));
        let (doc, report) = document(&page);
        assert!(report.exhausted, "{report:?}");
        assert_eq!(select(&doc, "article h3 a").len(), 1);
        assert!(report.warning().is_some_and(|w| w.contains("work limit")));
        // Far fewer elements than the unbounded parse would create (8 million).
        assert!(
            doc.tree.nodes().count() < page.len(),
            "{}",
            doc.tree.nodes().count()
        );
        // Past the budget a script is text like the rest, and the page reads on after it.
        let tail = "<script>var a = 1;</script><p>after the script</p>";
        let (doc, report) = document(&format!("{page}{tail}"));
        assert!(report.exhausted);
        let body = select(&doc, "body")[0].text().collect::<String>();
        assert!(
            body.ends_with("after the script"),
            "{}",
            &body[body.len() - 60..]
        );
        assert!(body.contains("var a = 1;"));
    }

    /// A tiny deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
        }
    }

    const PIECES: &[&str] = &[
        "<div>",
        "</div>",
        "<b>",
        "</b>",
        "<p>",
        "</p>",
        "<i class=\"c\">",
        "<a href=\"#\">",
        "</a>",
        "<table>",
        "<tr>",
        "<td>",
        "</table>",
        "<script>",
        "</script>",
        "<script",
        "</script",
        "<style>",
        "</style>",
        "<title>",
        "</title>",
        "<textarea>",
        "</textarea>",
        "<xmp>",
        "<noscript>",
        "</noscript>",
        "<iframe>",
        "</iframe>",
        "<!--",
        "-->",
        "--!>",
        "<!-->",
        "<svg>",
        "</svg>",
        "<math>",
        "</math>",
        "<annotation-xml encoding=text/html>",
        "<![CDATA[",
        "]]>",
        "<select>",
        "<option>",
        "<template>",
        "</template>",
        "<frameset>",
        "<!DOCTYPE html>",
        "<?x",
        "<x a=\"",
        "<y b='",
        "\"",
        "'",
        "=",
        " ",
        "/",
        ">",
        "<",
        "</",
        "text",
        "&amp;",
        "\u{a0}",
        "-",
        "!",
        "<!--<script>",
        "<body c=1>",
        "<html d=2>",
        "GIANT",
        "GIANT",
        "GIANT",
    ];

    fn giant(rng: &mut Rng) -> String {
        let names = [
            "div", "b", "script", "style", "p", "svg", "title", "body", "textarea",
        ];
        let name = names[rng.below(names.len())];
        let close = if rng.below(4) == 0 { "</" } else { "<" };
        let attrs: String = (0..MAX_ATTRIBUTES + 5).map(|i| format!(" zz{i}")).collect();
        let value = if rng.below(3) == 0 { " q=\"a>b\"" } else { "" };
        format!("{close}{name} keep=1{value}{attrs}>")
    }

    fn random_page(rng: &mut Rng) -> String {
        let mut page = String::new();
        for _ in 0..rng.below(60) + 1 {
            match PIECES[rng.below(PIECES.len())] {
                "GIANT" => page.push_str(&giant(rng)),
                p => page.push_str(p),
            }
        }
        page
    }

    /// The tree written without the filler attributes (`zz...`) that the cut removes.
    fn without_filler(doc: &Html) -> String {
        let mut out = String::new();
        for edge in doc.tree.root().traverse() {
            match edge {
                ego_tree::iter::Edge::Open(n) => match n.value() {
                    Node::Element(e) => {
                        out.push('<');
                        out.push_str(e.name());
                        let mut attrs: Vec<_> =
                            e.attrs().filter(|(k, _)| !k.starts_with("zz")).collect();
                        attrs.sort();
                        for (k, v) in attrs {
                            out.push_str(&format!(" {k}={v:?}"));
                        }
                        out.push('>');
                    }
                    Node::Text(t) => out.push_str(&format!("{:?}", &**t)),
                    Node::Comment(c) => out.push_str(&format!("<!--{:?}-->", &**c)),
                    _ => {}
                },
                ego_tree::iter::Edge::Close(n) => {
                    if let Node::Element(e) = n.value() {
                        out.push_str(&format!("</{}>", e.name()));
                    }
                }
            }
        }
        out
    }

    /// The scanner must see tags exactly where the tokenizer does: giant tags inside scripts,
    /// comments, CDATA, attribute values or raw text are text and stay whole; real ones lose
    /// only their filler attributes, and everything else is as html5ever alone parses it.
    #[test]
    fn random_pages_parse_as_before_but_for_cut_attributes() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut cut = 0;
        for _ in 0..1200 {
            let page = random_page(&mut rng);
            let (doc, report) = document(&page);
            let before = Html::parse_document(&page);
            assert_eq!(without_filler(&doc), without_filler(&before), "{page}");
            assert_eq!(report.deep_tags, 0, "{page}");
            assert!(!report.exhausted, "{page}");
            for edge in doc.tree.root().traverse() {
                if let ego_tree::iter::Edge::Open(n) = edge
                    && let Node::Element(e) = n.value()
                {
                    // <html> and <body> take on the attributes of later tags of their name.
                    let most = match e.name() {
                        "html" | "body" => 2 * MAX_ATTRIBUTES,
                        _ => MAX_ATTRIBUTES,
                    };
                    assert!(e.attrs().count() <= most, "{page}");
                }
            }
            if report.cut_tags == 0 {
                assert_eq!(doc.html(), before.html(), "{page}");
            }
            cut += report.cut_tags;
            let (frag, _) = fragment(&page);
            assert_eq!(
                without_filler(&frag),
                without_filler(&Html::parse_fragment(&page)),
                "{page}"
            );
            // ammonia keeps none of the filler attributes, so what it makes of the text for
            // it is what it makes of the page.
            assert_eq!(
                ammonia::clean(&for_sanitizer(&page)),
                ammonia::clean(&page),
                "{page}"
            );
        }
        assert!(cut > 200, "the pages had few giant tags: {cut}");
    }

    #[test]
    fn inner_html_is_scrapers_and_linear() {
        let page = "<div id=r><svg xmlns:xlink=\"http://www.w3.org/1999/xlink\"><use xlink:href=\"#a\"/></svg><p title='a \"q\" &amp; <b> \u{a0}'>x &lt; y &gt; z &amp;&nbsp;\"</p><br><img src=a><script>a<b</script><noscript><b>n</b></noscript><template><td>t</td></template><!-- c --><textarea>&lt;t</textarea></div>";
        let doc = Html::parse_document(page);
        for el in select(&doc, "*") {
            assert_eq!(inner_html(el), el.inner_html(), "<{}>", el.value().name());
        }
        // A long text full of escapes: one pass (html5ever's own writer takes seconds).
        let page = format!("<p>{}</p>", "&amp;".repeat(100_000));
        let (doc, _) = document(&page);
        let p = select(&doc, "p");
        assert_eq!(inner_html(p[0]).len(), 500_000);
    }

    #[test]
    fn for_sanitizer_keeps_ordinary_html_and_bounds_the_rest() {
        let ordinary = format!(
            "<p>{}</p>",
            "Some <b>bold</b> &amp; <a href=\"/x\">links</a>. ".repeat(50)
        );
        assert!(matches!(for_sanitizer(&ordinary), Cow::Borrowed(_)));
        // Deep: the serialized fragment, as shallow as this module parses it.
        let deep = format!("{}deep text{}", "<div>".repeat(5000), "</div>".repeat(5000));
        let text = for_sanitizer(&deep);
        assert!(text.contains("deep text"));
        assert!(text.matches("<div>").count() <= MAX_DEPTH);
        // A text whose serialization would cost the square of its length: cut into pieces
        // by empty comments, which ammonia removes.
        let escapes = format!("<p>{}</p>", "&amp;".repeat(40_000));
        let text = for_sanitizer(&escapes);
        assert!(text.contains("<!---->"));
        let clean = ammonia::clean(&text);
        assert_eq!(clean.matches("&amp;").count(), 40_000);
        assert!(!clean.contains("<!--"));
        // Reopened formatting elements: the text only.
        let mut costly = String::from("<div>");
        for i in 0..400 {
            costly.push_str(&format!("<b id={i}>"));
        }
        costly.push_str("</div>");
        costly.push_str(&"<div>x</div>".repeat(5_000));
        let text = for_sanitizer(&costly);
        assert!(text.len() < costly.len(), "{}", text.len());
        assert_eq!(ammonia::clean(&text).matches('x').count(), 5_000);
    }
}
