//! A fast HTML tokenizer for [`crate::extract::stream`]: the tokens of the HTML standard's
//! tokenizer, read a whole run at a time.
//!
//! html5ever's tokenizer reads a page a character at a time, growing a buffer per character of
//! every tag name, attribute and text run; on a listing page that is more than half of the
//! streaming extractor's work, and as much as the whole DOM program pays for parsing. This one
//! finds the next `<` or `&` with `memchr`, hands text over as slices of the page, and reads
//! a tag's name and attributes as slices too (copied only when they hold upper case letters or
//! character references). It produces what html5ever's tokenizer produces for the same page
//! (the tree builder's view of it: tags, attributes in order with duplicates dropped, text,
//! comments, doctypes and the parse errors that reset `<pre>`'s newline rule), which
//! `tests::same_tokens_as_html5ever` and the `tokenize` fuzz target compare token by token.
//!
//! A NUL character is its own token in text ([`Sink::null`]) and U+FFFD in names, attribute
//! values and raw text, as html5ever has it. Carriage returns are read as line feeds, as the
//! standard's input stream has them (the text that holds one is copied; the page never is). `<![CDATA[` starts text where the sink says the tree
//! builder's current node is foreign ([`Sink::foreign`], inline SVG), a bogus comment elsewhere.

use html5ever::data::{C1_REPLACEMENTS, NAMED_ENTITIES};
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{Tag, TagKind};
use html5ever::{Attribute, LocalName, QualName, ns};

use crate::extract::parse::scan::{comment_end, is_space as is_ws, past, script_end, text_end};

/// What the tokens go to. `start_tag` answers how the text after the tag is read (the tree
/// builder's choice for `<title>`, `<script>`, `<style>` ...).
pub trait Sink {
    /// A run of text, never empty. Text is handed over in pieces; their joins mean nothing.
    fn characters(&mut self, text: &str);
    fn start_tag(&mut self, tag: Tag) -> Option<RawKind>;
    fn end_tag(&mut self, tag: Tag);
    fn comment(&mut self);
    fn doctype(&mut self);
    /// A parse error that makes no token (`</>`, a numeric reference without `;` ...). Only
    /// those can sit between a start tag and the text after it.
    fn error(&mut self);
    /// A NUL character in text (the tree builder drops it there).
    fn null(&mut self);
    fn eof(&mut self);
    /// The sink gave up: stop reading.
    fn stopped(&self) -> bool;
    /// The tree builder's current node is foreign (SVG, MathML): `<![CDATA[` starts text.
    fn foreign(&self) -> bool {
        false
    }
}

/// Read `html` into `sink`: every token, then `eof` (not when the sink stopped).
pub fn tokenize<S: Sink>(html: &str, sink: &mut S) {
    let html = html.strip_prefix('\u{feff}').unwrap_or(html);
    let mut t = Tokenizer {
        s: html,
        b: html.as_bytes(),
        sink,
        scratch: String::new(),
        has_cr: memchr::memchr(b'\r', html.as_bytes()).is_some(),
    };
    t.run();
}

struct Tokenizer<'a, S> {
    s: &'a str,
    b: &'a [u8],
    sink: &'a mut S,
    scratch: String,
    /// The page has carriage returns: text and values are read with them as line feeds (a
    /// `\r\n` pair is never split between two pieces: pieces end at `<`, `&`, NUL or a quote).
    has_cr: bool,
}

/// `text` with `\r\n` and `\r` as `\n`, as the standard's input stream has them.
fn without_cr(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// How a character reference at a `&` reads.
enum CharRef {
    /// Not a reference: the `&` is text, reading goes on after it.
    Literal,
    /// One or two characters; `end` is where reading goes on; `error` when it was a parse
    /// error (no `;`, a forbidden number).
    Chars {
        chars: (char, Option<char>),
        end: usize,
        error: bool,
    },
}

/// The character reference at `b[at] == b'&'` (the standard's character reference state).
fn char_ref(s: &str, at: usize, in_attribute: bool) -> CharRef {
    let b = s.as_bytes();
    let Some(&first) = b.get(at.saturating_add(1)) else {
        return CharRef::Literal;
    };
    if first == b'#' {
        let mut p = at.saturating_add(2);
        let base = match b.get(p) {
            Some(b'x' | b'X') => {
                p = p.saturating_add(1);
                16
            }
            _ => 10,
        };
        let start = p;
        let mut num: u32 = 0;
        let mut too_big = false;
        while let Some(d) = b.get(p).and_then(|&c| char::from(c).to_digit(base)) {
            num = num.saturating_mul(base).saturating_add(d);
            if num > 0x10FFFF {
                too_big = true;
            }
            p = p.saturating_add(1);
        }
        if p == start {
            return CharRef::Literal;
        }
        let mut error = true;
        if b.get(p) == Some(&b';') {
            p = p.saturating_add(1);
            error = false;
        }
        let (c, bad) = numeric_char(num, too_big);
        return CharRef::Chars {
            chars: (c, None),
            end: p,
            error: error || bad,
        };
    }
    if !first.is_ascii_alphanumeric() {
        return CharRef::Literal;
    }
    // The longest name in the table: every prefix of a name is in it too, as (0, 0).
    let mut best: Option<(usize, (u32, u32))> = None;
    let mut p = at.saturating_add(1);
    while let Some(&c) = b.get(p) {
        if !c.is_ascii() {
            break;
        }
        let Some(name) = s.get(at.saturating_add(1)..=p) else {
            break;
        };
        match NAMED_ENTITIES.get(name) {
            None => break,
            Some(&m) => {
                if m.0 != 0 {
                    best = Some((p.saturating_add(1), m));
                }
            }
        }
        p = p.saturating_add(1);
    }
    let Some((end, (c1, c2))) = best else {
        return CharRef::Literal;
    };
    let semicolon = end.checked_sub(1).and_then(|i| b.get(i)) == Some(&b';');
    if in_attribute
        && !semicolon
        && let Some(&next) = b.get(end)
        && (next == b'=' || next.is_ascii_alphanumeric())
    {
        return CharRef::Literal;
    }
    let Some(c1) = char::from_u32(c1) else {
        return CharRef::Literal;
    };
    let c2 = if c2 == 0 { None } else { char::from_u32(c2) };
    CharRef::Chars {
        chars: (c1, c2),
        end,
        error: !semicolon,
    }
}

/// The character a numeric reference stands for, and whether it was a parse error.
fn numeric_char(num: u32, too_big: bool) -> (char, bool) {
    let replacement = ('\u{fffd}', true);
    if too_big || num > 0x10FFFF || num == 0 || (0xD800..=0xDFFF).contains(&num) {
        return replacement;
    }
    if (0x80..=0x9F).contains(&num) {
        let i = usize::try_from(num.saturating_sub(0x80)).unwrap_or(0);
        return match C1_REPLACEMENTS.get(i).copied().flatten() {
            Some(c) => (c, true),
            None => char::from_u32(num).map_or(replacement, |c| (c, true)),
        };
    }
    let error = matches!(num, 0x01..=0x08 | 0x0B | 0x0D..=0x1F | 0x7F | 0xFDD0..=0xFDEF)
        || (num & 0xFFFE) == 0xFFFE;
    char::from_u32(num).map_or(replacement, |c| (c, error))
}

/// `text` with its character references replaced (attribute values, `<title>` text) into
/// `out`; whether any was a parse error.
fn decode_into(text: &str, in_attribute: bool, out: &mut String) -> bool {
    let b = text.as_bytes();
    let mut error = false;
    let mut pos = 0;
    while let Some(i) = memchr::memchr(b'&', b.get(pos..).unwrap_or_default()) {
        let at = pos.saturating_add(i);
        out.push_str(text.get(pos..at).unwrap_or_default());
        match char_ref(text, at, in_attribute) {
            CharRef::Literal => {
                out.push('&');
                pos = at.saturating_add(1);
            }
            CharRef::Chars {
                chars: (c1, c2),
                end,
                error: e,
            } => {
                out.push(c1);
                if let Some(c2) = c2 {
                    out.push(c2);
                }
                error |= e;
                pos = end;
            }
        }
    }
    out.push_str(text.get(pos..).unwrap_or_default());
    error
}

/// A name as the tokenizer keeps it: ASCII upper case lowered, NUL as U+FFFD.
fn lowered(name: &str) -> LocalName {
    if name.bytes().any(|c| c.is_ascii_uppercase() || c == 0) {
        LocalName::from(without_nul(&name.to_ascii_lowercase()))
    } else {
        LocalName::from(name)
    }
}

/// `text` with each NUL character replaced by U+FFFD.
fn without_nul(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

impl<S: Sink> Tokenizer<'_, S> {
    fn text(&mut self, from: usize, to: usize) {
        if to > from
            && let Some(t) = self.s.get(from..to)
        {
            if self.has_cr {
                self.sink.characters(&without_cr(t));
            } else {
                self.sink.characters(t);
            }
        }
    }

    /// Raw text (no references), NUL as U+FFFD.
    fn raw_piece(&mut self, from: usize, to: usize) {
        let Some(t) = self.s.get(from..to) else {
            return;
        };
        if !t.is_empty() {
            self.sink.characters(&without_nul(&without_cr(t)));
        }
    }

    fn run(&mut self) {
        let len = self.b.len();
        let mut pos = 0;
        while pos < len {
            if self.sink.stopped() {
                return;
            }
            let rest = self.b.get(pos..).unwrap_or_default();
            let Some(i) = memchr::memchr3(b'<', b'&', 0, rest) else {
                self.text(pos, len);
                break;
            };
            let at = pos.saturating_add(i);
            self.text(pos, at);
            if self.b.get(at) == Some(&0) {
                self.sink.null();
                pos = at.saturating_add(1);
            } else if self.b.get(at) == Some(&b'&') {
                pos = match char_ref(self.s, at, false) {
                    CharRef::Literal => {
                        self.text(at, at.saturating_add(1));
                        at.saturating_add(1)
                    }
                    CharRef::Chars {
                        chars: (c1, c2),
                        end,
                        error,
                    } => {
                        if error {
                            self.sink.error();
                        }
                        let mut buf = [0u8; 8];
                        let mut n = c1.encode_utf8(&mut buf).len();
                        if let Some(c2) = c2 {
                            let tail = buf.get_mut(n..).unwrap_or_default();
                            n = n.saturating_add(c2.encode_utf8(tail).len());
                        }
                        if let Some(t) = buf.get(..n).and_then(|t| std::str::from_utf8(t).ok()) {
                            self.sink.characters(t);
                        }
                        end
                    }
                };
            } else {
                pos = self.tag_open(at);
            }
        }
        if !self.sink.stopped() {
            self.sink.eof();
        }
    }

    /// After the end of a bogus comment or doctype that starts at `from`: past its `>`.
    fn past_gt(&self, from: usize) -> usize {
        past(self.s, from, ">")
    }

    /// At a `<` in text: what follows it; returns where text goes on.
    fn tag_open(&mut self, at: usize) -> usize {
        let len = self.b.len();
        let next = at.saturating_add(1);
        match self.b.get(next) {
            None => {
                self.text(at, len);
                len
            }
            Some(b'!') => self.markup_declaration(next.saturating_add(1)),
            Some(b'/') => {
                let p = next.saturating_add(1);
                match self.b.get(p) {
                    None => {
                        self.text(at, len);
                        len
                    }
                    Some(b'>') => {
                        self.sink.error();
                        p.saturating_add(1)
                    }
                    Some(c) if c.is_ascii_alphabetic() => self.tag(p, TagKind::EndTag),
                    Some(_) => {
                        let end = self.past_gt(p);
                        self.sink.comment();
                        end
                    }
                }
            }
            Some(b'?') => {
                let end = self.past_gt(next);
                self.sink.comment();
                end
            }
            Some(c) if c.is_ascii_alphabetic() => self.tag(next, TagKind::StartTag),
            Some(_) => {
                self.text(at, next);
                next
            }
        }
    }

    /// After `<!`.
    fn markup_declaration(&mut self, p: usize) -> usize {
        let rest = self.b.get(p..).unwrap_or_default();
        if rest.starts_with(b"--") {
            let end = comment_end(self.s, p.saturating_add(2));
            self.sink.comment();
            return end;
        }
        if rest.starts_with(b"[CDATA[") && self.sink.foreign() {
            let from = p.saturating_add(7);
            let (to, end) =
                match memchr::memmem::find(self.b.get(from..).unwrap_or_default(), b"]]>") {
                    Some(i) => (
                        from.saturating_add(i),
                        from.saturating_add(i).saturating_add(3),
                    ),
                    None => (self.b.len(), self.b.len()),
                };
            // Text as it is (no references); a NUL is its own token, as in text.
            let mut q = from;
            while q < to {
                let piece = self.b.get(q..to).unwrap_or_default();
                match memchr::memchr(0, piece) {
                    Some(i) => {
                        let at = q.saturating_add(i);
                        self.text(q, at);
                        self.sink.null();
                        q = at.saturating_add(1);
                    }
                    None => {
                        self.text(q, to);
                        q = to;
                    }
                }
            }
            return end;
        }
        if rest
            .get(..7)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"DOCTYPE"))
        {
            let end = self.past_gt(p.saturating_add(7));
            self.sink.doctype();
            return end;
        }
        let end = self.past_gt(p);
        self.sink.comment();
        end
    }

    /// A tag whose name starts at `p`; returns where text goes on (the end of the page when
    /// the page ends inside the tag: the tag is dropped).
    fn tag(&mut self, p: usize, kind: TagKind) -> usize {
        let len = self.b.len();
        let b = self.b;
        let name_end = b
            .get(p..)
            .unwrap_or_default()
            .iter()
            .position(|&c| is_ws(c) || c == b'/' || c == b'>')
            .map_or(len, |n| p.saturating_add(n));
        if name_end >= len {
            return len;
        }
        let name = lowered(self.s.get(p..name_end).unwrap_or_default());
        self.tag_rest(name, name_end, kind)
    }

    /// The attributes and end of a tag named `name`, from `p`.
    fn tag_rest(&mut self, name: LocalName, mut p: usize, kind: TagKind) -> usize {
        let len = self.b.len();
        let b = self.b;
        let mut attrs: Vec<Attribute> = Vec::new();
        let mut self_closing = false;
        let mut duplicates = false;
        loop {
            // Before an attribute name.
            while b.get(p).is_some_and(|&c| is_ws(c)) {
                p = p.saturating_add(1);
            }
            match b.get(p) {
                None => return len,
                Some(b'/') => {
                    p = p.saturating_add(1);
                    match b.get(p) {
                        None => return len,
                        Some(b'>') => {
                            self_closing = true;
                            p = p.saturating_add(1);
                            break;
                        }
                        Some(_) => continue,
                    }
                }
                Some(b'>') => {
                    p = p.saturating_add(1);
                    break;
                }
                Some(_) => {}
            }
            // The attribute's name: its first character may be `=`.
            let start = p;
            p = p.saturating_add(1);
            while b
                .get(p)
                .is_some_and(|&c| !(is_ws(c) || c == b'/' || c == b'>' || c == b'='))
            {
                p = p.saturating_add(1);
            }
            let attr_name = self.s.get(start..p).unwrap_or_default();
            while b.get(p).is_some_and(|&c| is_ws(c)) {
                p = p.saturating_add(1);
            }
            let mut value: Option<(usize, usize)> = None;
            if b.get(p) == Some(&b'=') {
                p = p.saturating_add(1);
                while b.get(p).is_some_and(|&c| is_ws(c)) {
                    p = p.saturating_add(1);
                }
                match b.get(p) {
                    None => return len,
                    Some(&q @ (b'"' | b'\'')) => {
                        let from = p.saturating_add(1);
                        let Some(i) = memchr::memchr(q, b.get(from..).unwrap_or_default()) else {
                            return len;
                        };
                        let to = from.saturating_add(i);
                        value = Some((from, to));
                        p = to.saturating_add(1);
                    }
                    Some(b'>') => {}
                    Some(_) => {
                        let from = p;
                        while b.get(p).is_some_and(|&c| !(is_ws(c) || c == b'>')) {
                            p = p.saturating_add(1);
                        }
                        if p >= len {
                            return len;
                        }
                        value = Some((from, p));
                    }
                }
            } else if p >= len {
                return len;
            }
            if kind == TagKind::StartTag {
                duplicates |= !self.attribute(&mut attrs, attr_name, value);
            }
        }
        let tag = Tag {
            kind,
            name,
            self_closing,
            attrs,
            had_duplicate_attributes: duplicates,
        };
        match kind {
            TagKind::StartTag => {
                let raw_name = tag.name.clone();
                match self.sink.start_tag(tag) {
                    Some(raw) => self.raw_text(p, raw, &raw_name),
                    None => p,
                }
            }
            TagKind::EndTag => {
                self.sink.end_tag(tag);
                p
            }
        }
    }

    /// Add an attribute unless the tag has one of its name already (then `false`).
    fn attribute(
        &mut self,
        attrs: &mut Vec<Attribute>,
        name: &str,
        value: Option<(usize, usize)>,
    ) -> bool {
        let name = lowered(name);
        if attrs.iter().any(|a| a.name.local == name) {
            return false;
        }
        let raw = value
            .and_then(|(from, to)| self.s.get(from..to))
            .unwrap_or_default();
        let raw = if self.has_cr {
            without_cr(raw)
        } else {
            std::borrow::Cow::Borrowed(raw)
        };
        let value = if raw.contains('&') {
            let mut out = std::mem::take(&mut self.scratch);
            out.clear();
            decode_into(&raw, true, &mut out);
            let v = html5ever::tendril::StrTendril::from_slice(&without_nul(&out));
            self.scratch = out;
            v
        } else {
            html5ever::tendril::StrTendril::from_slice(&without_nul(&raw))
        };
        attrs.push(Attribute {
            name: QualName::new(None, ns!(), name),
            value,
        });
        true
    }

    /// The text of a raw text element from `p` up to its end tag, then that tag.
    fn raw_text(&mut self, p: usize, kind: RawKind, name: &LocalName) -> usize {
        let len = self.b.len();
        let end = match kind {
            RawKind::ScriptData | RawKind::ScriptDataEscaped(_) => script_end(self.s, p),
            RawKind::Rcdata | RawKind::Rawtext => text_end(self.s, p, name),
        };
        let to = end.unwrap_or(len);
        if kind == RawKind::Rcdata {
            let text = without_cr(self.s.get(p..to).unwrap_or_default());
            if text.contains('&') {
                let mut out = std::mem::take(&mut self.scratch);
                out.clear();
                let error = decode_into(&text, false, &mut out);
                if error {
                    self.sink.error();
                }
                if !out.is_empty() {
                    self.sink.characters(&without_nul(&out));
                }
                self.scratch = out;
            } else {
                self.raw_piece(p, to);
            }
        } else {
            self.raw_piece(p, to);
        }
        match end {
            None => len,
            Some(at) => {
                let after_name = at.saturating_add(2).saturating_add(name.len());
                self.tag_rest(name.clone(), after_name, TagKind::EndTag)
            }
        }
    }
}

/// Comparing this tokenizer with html5ever's, for tests and the `tokenize` fuzz target.
pub mod compare {
    use std::cell::RefCell;

    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::states::RawKind;
    use html5ever::tokenizer::{
        BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    };

    /// One token as both tokenizers are compared on: text joined, parse errors left out.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Event {
        Text(String),
        Start {
            name: String,
            attrs: Vec<(String, String)>,
            self_closing: bool,
        },
        End(String),
        Comment,
        Doctype,
        Null,
        Eof,
    }

    /// How the text after a start tag is read: the streaming model's choice.
    fn raw_for(name: &str) -> Option<RawKind> {
        match name {
            "title" => Some(RawKind::Rcdata),
            "style" | "noscript" | "noframes" | "iframe" | "noembed" | "xmp" => {
                Some(RawKind::Rawtext)
            }
            "script" => Some(RawKind::ScriptData),
            _ => None,
        }
    }

    #[derive(Default)]
    struct Recorder(Vec<Event>);

    impl Recorder {
        fn push(&mut self, e: Event) {
            if let (Event::Text(t), Some(Event::Text(last))) = (&e, self.0.last_mut()) {
                last.push_str(t);
                return;
            }
            self.0.push(e);
        }

        fn tag(&mut self, tag: &Tag) {
            let name = tag.name.to_string();
            match tag.kind {
                TagKind::StartTag => self.push(Event::Start {
                    name,
                    attrs: tag
                        .attrs
                        .iter()
                        .map(|a| (a.name.local.to_string(), a.value.to_string()))
                        .collect(),
                    self_closing: tag.self_closing,
                }),
                TagKind::EndTag => self.push(Event::End(name)),
            }
        }
    }

    impl super::Sink for Recorder {
        fn characters(&mut self, text: &str) {
            self.push(Event::Text(text.to_string()));
        }
        fn start_tag(&mut self, tag: Tag) -> Option<RawKind> {
            self.tag(&tag);
            raw_for(&tag.name)
        }
        fn end_tag(&mut self, tag: Tag) {
            self.tag(&tag);
        }
        fn comment(&mut self) {
            self.push(Event::Comment);
        }
        fn doctype(&mut self) {
            self.push(Event::Doctype);
        }
        fn error(&mut self) {}
        fn null(&mut self) {
            self.push(Event::Null);
        }
        fn eof(&mut self) {
            self.push(Event::Eof);
        }
        fn stopped(&self) -> bool {
            false
        }
    }

    struct Html5ever(RefCell<Recorder>);

    impl TokenSink for Html5ever {
        type Handle = ();

        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            let mut r = self.0.borrow_mut();
            match token {
                Token::ParseError(_) => {}
                Token::CharacterTokens(t) => r.push(Event::Text(t.to_string())),
                Token::NullCharacterToken => r.push(Event::Null),
                Token::CommentToken(_) => r.push(Event::Comment),
                Token::DoctypeToken(_) => r.push(Event::Doctype),
                Token::EOFToken => r.push(Event::Eof),
                Token::TagToken(tag) => {
                    r.tag(&tag);
                    if tag.kind == TagKind::StartTag
                        && let Some(kind) = raw_for(&tag.name)
                    {
                        return TokenSinkResult::RawData(kind);
                    }
                }
            }
            TokenSinkResult::Continue
        }
    }

    /// The tokens of `html` by this tokenizer.
    pub fn ours(html: &str) -> Vec<Event> {
        let mut r = Recorder::default();
        super::tokenize(html, &mut r);
        r.0
    }

    /// The tokens of `html` by html5ever's tokenizer (fed in pieces, as a page arrives).
    pub fn html5ever(html: &str) -> Vec<Event> {
        let tok = Tokenizer::new(
            Html5ever(RefCell::new(Recorder::default())),
            TokenizerOpts::default(),
        );
        let queue = BufferQueue::default();
        queue.push_back(StrTendril::from_slice(html));
        while let html5ever::TokenizerResult::Script(()) = tok.feed(&queue) {}
        tok.end();
        tok.sink.0.into_inner().0
    }

    /// Where the two tokenizers differ on `html`, if they do.
    pub fn difference(html: &str) -> Option<String> {
        let a = ours(html);
        let b = html5ever(html);
        if a == b {
            return None;
        }
        let i = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        Some(format!(
            "token {i}: ours {:?}, html5ever {:?} (ours {} tokens, html5ever {})",
            a.get(i),
            b.get(i),
            a.len(),
            b.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::compare::{Event, difference, ours};
    use proptest::prelude::*;

    fn same(html: &str) {
        if let Some(d) = difference(html) {
            panic!("the tokenizers differ on {html:?}: {d}");
        }
    }

    #[test]
    fn tags_attributes_and_text() {
        same("<!DOCTYPE html><html lang=en><head><title>A &amp; B</title></head>");
        same("<DIV Class=\"x y\" data-A='1' b=c d e= f>t</Div >");
        same("<a href=x&amp;y&ampz&amp=q title=\"&notit; &noti &not\">");
        same("<img src=a.png/><br/><p/ x><a b=\"c\"d='e'f>");
        same("<a a=1 a=2 A=3>dup</a><x =y>");
        same("<a<b c<d=e>< p>&lt;&#60;&#x3C;&#X3c&#;&#x;&#99999999;&#0;&#128;&#x9F;");
        same("text & more &amp; &AMP; &copy &copy; &CounterClockwiseContourIntegral;");
        same("a\r\nb\rc\n\r<a title='x\r\ny'>");
        same("\u{feff}<p>bom</p>");
        same("\0<a\0b c\0=d\0>x\0y<title>\0</title>");
    }

    #[test]
    fn comments_doctypes_and_bogus_comments() {
        same("<!-- a --><!----><!--><!---><!-- -- --!><!-- --!-> x -->y");
        same("<!--<!-- nested --><?pi?></ x><![CDATA[c]]><!x><!DOCTYPE><!doctype html x>");
        same("a</>b</");
        same("<!--");
        same("<!DOCTYPE html PUBLIC \"a>b\">");
    }

    #[test]
    fn raw_text_elements() {
        same("<style>a<b>c</STYLE x=1>d</style>");
        same("<title>a&amp;b<i>c</title><xmp><&amp;</xmp ><iframe><p></iframe/>");
        same("<noscript><p>x</noscript><noembed>a</noembed><noframes>b</noframes>");
        same("<script>if (a<b) x = '</scrip'; </script>after");
        same("<script><!-- x </script> y");
        same("<script><!-- <script> </script> --></script>z</script>");
        same("<script><!--<script>a</script>b-->c</script>");
        same("<script><!-- -->x</script><script><!-->x</script><script><!--->y</script>");
        same("<script><!--<SCRIPT/></Script >--></script>e");
        same("<script><!--<scripts></script>f");
        same("<script>unterminated");
        same("<title>unterminated &amp");
    }

    #[test]
    fn text_is_handed_over_as_slices() {
        let t = ours("<p>one two three</p>");
        assert!(t.contains(&Event::Text("one two three".into())), "{t:?}");
    }

    const PIECES: [&str; 72] = [
        "<",
        ">",
        "</",
        "/",
        "/>",
        "&",
        "&amp",
        "&amp;",
        "&#",
        "&#x",
        "&#10",
        "&#x80;",
        "&notit;",
        "&noti",
        "&lt=",
        "=",
        "\"",
        "'",
        " ",
        "\n",
        "\r",
        "\r\n",
        "\t",
        "\0",
        "x",
        "é",
        "1",
        "<!--",
        "-->",
        "--!>",
        "-",
        "!",
        "<!",
        "<!-->",
        "<!--->",
        "<!DOCTYPE html>",
        "<!doctype",
        "<?",
        "<![CDATA[",
        "]]>",
        "<script>",
        "</script>",
        "<script",
        "<SCRIPT>",
        "</script ",
        "<title>",
        "</title>",
        "<style>",
        "</style>",
        "<xmp>",
        "</xmp>",
        "<iframe>",
        "</iframe>",
        "<noscript>",
        "<a href=x>",
        "<a href='y&amp;z'>",
        "<A HREF=\"Q\">",
        "<b a=1 a=2>",
        "<br/>",
        "</p>",
        "<p>",
        "<p class=e>",
        "a=",
        "<img src=&lt",
        "\u{feff}",
        "<pre>",
        "<div",
        " id=",
        "&#128",
        "&copy",
        "</a>",
        "<textarea>",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn generated_pages_tokenize_alike(
            parts in proptest::collection::vec(0usize..72, 0..40)
        ) {
            let html: String = parts.iter().filter_map(|&i| PIECES.get(i).copied()).collect();
            if let Some(d) = difference(&html) {
                prop_assert!(false, "the tokenizers differ on {html:?}: {d}");
            }
        }

        #[test]
        fn arbitrary_text_tokenizes_alike(html in "[<>/!&#;a-zA-Z0-9\"'= \\-\r\n\t\0?x\\[\\]]{0,60}") {
            if let Some(d) = difference(&html) {
                prop_assert!(false, "the tokenizers differ on {html:?}: {d}");
            }
        }
    }
}
