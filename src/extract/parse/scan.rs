//! The input in segments: read with the tokenizer's own states, to find tags and cut their
//! attributes, and ended wherever the tree builder decides how the tokenizer reads on.

use std::borrow::Cow;

use super::MAX_ATTRIBUTES;

/// Start tags after which the tree builder may switch the tokenizer to read text.
const SWITCHES: [&str; 10] = [
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
];

pub(super) fn switch_name(name: &[u8]) -> Option<&'static str> {
    SWITCHES
        .into_iter()
        .find(|s| s.as_bytes().eq_ignore_ascii_case(name))
}

/// How the tokenizer reads at the start of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Data,
    /// RCDATA or RAWTEXT, up to the end tag of this element.
    Text(&'static str),
    Script,
    Plaintext,
    /// At `<![CDATA[` where the tree builder is in foreign content: a CDATA section.
    Cdata,
    /// At `<![CDATA[` elsewhere: a bogus comment.
    BogusComment,
}

/// Why a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    End,
    /// Just after a start tag after which the tree builder may switch the tokenizer.
    Switch(&'static str),
    /// Just before `<![CDATA[`, which is read by what the tree builder's current node is.
    Cdata,
}

/// A tag as the tokenizer reads it.
struct TagScan {
    /// Where its name ends.
    name_end: usize,
    /// Index of the `>` that ends it, if it ends before the input does.
    end: Option<usize>,
    self_closing: bool,
    attrs: usize,
    /// Where the first attribute past the limit starts.
    cut: Option<usize>,
}

pub(crate) fn is_space(c: u8) -> bool {
    // The tokenizer reads CR (alone or before LF) as LF.
    matches!(c, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

fn ends_tag_name(c: Option<&u8>) -> bool {
    c.is_some_and(|&c| is_space(c) || c == b'/' || c == b'>')
}

/// Read a tag whose name starts at `n`, as the tokenizer's tag states do, counting attributes
/// and noting where the one past `limit` starts.
fn scan_tag(src: &str, n: usize, limit: impl FnOnce(&[u8]) -> usize) -> TagScan {
    let b = src.as_bytes();
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum St {
        BeforeName,
        Name,
        AfterName,
        BeforeValue,
        Unquoted,
        AfterQuoted,
        SelfClosing,
    }
    let mut i = n;
    while i < b.len() && !ends_tag_name(b.get(i)) {
        i += 1;
    }
    let limit = limit(&b[n.min(b.len())..i]);
    let mut out = TagScan {
        name_end: i,
        end: None,
        self_closing: false,
        attrs: 0,
        cut: None,
    };
    let mut st = match b.get(i) {
        None => return out,
        Some(b'>') => {
            out.end = Some(i);
            return out;
        }
        Some(b'/') => St::SelfClosing,
        Some(_) => St::BeforeName,
    };
    i += 1;
    let new_attr = |at: usize, out: &mut TagScan| {
        out.attrs += 1;
        if out.attrs > limit && out.cut.is_none() {
            out.cut = Some(at);
        }
    };
    while let Some(&c) = b.get(i) {
        match st {
            St::BeforeName => {
                if is_space(c) {
                    i += 1;
                } else if c == b'/' || c == b'>' {
                    st = St::AfterName;
                } else {
                    new_attr(i, &mut out);
                    st = St::Name;
                    i += 1;
                }
            }
            St::Name => {
                if is_space(c) || c == b'/' || c == b'>' {
                    st = St::AfterName;
                } else {
                    if c == b'=' {
                        st = St::BeforeValue;
                    }
                    i += 1;
                }
            }
            St::AfterName => {
                if is_space(c) {
                    i += 1;
                } else if c == b'/' {
                    st = St::SelfClosing;
                    i += 1;
                } else if c == b'=' {
                    st = St::BeforeValue;
                    i += 1;
                } else if c == b'>' {
                    out.end = Some(i);
                    return out;
                } else {
                    new_attr(i, &mut out);
                    st = St::Name;
                    i += 1;
                }
            }
            St::BeforeValue => {
                if is_space(c) {
                    i += 1;
                } else if c == b'"' || c == b'\'' {
                    let close = src.get(i + 1..).and_then(|rest| rest.find(char::from(c)));
                    match close {
                        Some(k) => {
                            i += k + 2;
                            st = St::AfterQuoted;
                        }
                        None => return out,
                    }
                } else if c == b'>' {
                    out.end = Some(i);
                    return out;
                } else {
                    st = St::Unquoted;
                }
            }
            St::Unquoted => {
                if is_space(c) {
                    st = St::BeforeName;
                    i += 1;
                } else if c == b'>' {
                    out.end = Some(i);
                    return out;
                } else {
                    i += 1;
                }
            }
            St::AfterQuoted => {
                if is_space(c) {
                    st = St::BeforeName;
                    i += 1;
                } else if c == b'/' {
                    st = St::SelfClosing;
                    i += 1;
                } else if c == b'>' {
                    out.end = Some(i);
                    return out;
                } else {
                    st = St::BeforeName;
                }
            }
            St::SelfClosing => {
                if c == b'>' {
                    out.end = Some(i);
                    out.self_closing = true;
                    return out;
                }
                st = St::BeforeName;
            }
        }
    }
    out
}

/// Where the end tag `</name` (followed by a space, `/` or `>`) that ends RCDATA or RAWTEXT
/// starts.
pub(crate) fn text_end(src: &str, from: usize, name: &str) -> Option<usize> {
    let b = src.as_bytes();
    let mut i = from;
    loop {
        let k = i + src.get(i..)?.find("</")?;
        if is_end_tag_of(b, k + 2, name) {
            return Some(k);
        }
        i = k + 1;
    }
}

fn is_end_tag_of(b: &[u8], at: usize, name: &str) -> bool {
    let end = at + name.len();
    b.get(at..end)
        .is_some_and(|s| s.eq_ignore_ascii_case(name.as_bytes()))
        && ends_tag_name(b.get(end))
}

/// Where the `</script` that ends script data starts, through the escaped (`<!--`) and
/// double-escaped (`<!--<script>`) states.
pub(crate) fn script_end(src: &str, from: usize) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum St {
        Data,
        Escaped,
        EscapedDash,
        EscapedDashDash,
        Double,
        DoubleDash,
        DoubleDashDash,
    }
    let b = src.as_bytes();
    let alpha_run = |from: usize| {
        from + b.get(from..).map_or(0, |r| {
            r.iter().take_while(|c| c.is_ascii_alphabetic()).count()
        })
    };
    let mut st = St::Data;
    let mut i = from;
    while i < b.len() {
        match st {
            St::Data => {
                i += src.get(i..)?.find('<')?;
                match b.get(i + 1) {
                    Some(b'/') => {
                        if is_end_tag_of(b, i + 2, "script") {
                            return Some(i);
                        }
                        i += 2;
                    }
                    Some(b'!') => {
                        if b.get(i + 2) != Some(&b'-') {
                            i += 2;
                        } else if b.get(i + 3) != Some(&b'-') {
                            i += 3;
                        } else {
                            st = St::EscapedDashDash;
                            i += 4;
                        }
                    }
                    _ => i += 1,
                }
            }
            St::Escaped | St::EscapedDash | St::EscapedDashDash => match b[i] {
                b'-' => {
                    st = if st == St::Escaped {
                        St::EscapedDash
                    } else {
                        St::EscapedDashDash
                    };
                    i += 1;
                }
                b'<' => match b.get(i + 1) {
                    Some(b'/') => {
                        if is_end_tag_of(b, i + 2, "script") {
                            return Some(i);
                        }
                        st = St::Escaped;
                        i += 2;
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        let end = alpha_run(i + 1);
                        let script = b[i + 1..end].eq_ignore_ascii_case(b"script");
                        if ends_tag_name(b.get(end)) {
                            st = if script { St::Double } else { St::Escaped };
                            i = end + 1;
                        } else {
                            st = St::Escaped;
                            i = end;
                        }
                    }
                    _ => {
                        st = St::Escaped;
                        i += 1;
                    }
                },
                b'>' if st == St::EscapedDashDash => {
                    st = St::Data;
                    i += 1;
                }
                _ => {
                    st = St::Escaped;
                    i += 1;
                }
            },
            St::Double | St::DoubleDash | St::DoubleDashDash => match b[i] {
                b'-' => {
                    st = if st == St::Double {
                        St::DoubleDash
                    } else {
                        St::DoubleDashDash
                    };
                    i += 1;
                }
                b'<' if b.get(i + 1) == Some(&b'/') => {
                    let end = alpha_run(i + 2);
                    let script = b[i + 2..end].eq_ignore_ascii_case(b"script");
                    if ends_tag_name(b.get(end)) {
                        st = if script { St::Escaped } else { St::Double };
                        i = end + 1;
                    } else {
                        st = St::Double;
                        i = end;
                    }
                }
                b'>' if st == St::DoubleDashDash => {
                    st = St::Data;
                    i += 1;
                }
                _ => {
                    st = St::Double;
                    i += 1;
                }
            },
        }
    }
    None
}

/// Just past the `>` at or after `from`, or the end.
pub(crate) fn past(src: &str, from: usize, pat: &str) -> usize {
    src.get(from..)
        .and_then(|r| r.find(pat))
        .map_or(src.len(), |k| from + k + pat.len())
}

/// Just past the end of a comment whose `<!--` ends at `from`.
pub(crate) fn comment_end(src: &str, from: usize) -> usize {
    let b = src.as_bytes();
    match b.get(from..) {
        Some([b'>', ..]) => return from + 1,
        Some([b'-', b'>', ..]) => return from + 2,
        _ => {}
    }
    let mut i = from;
    loop {
        let Some(k) = src.get(i..).and_then(|r| r.find("--")) else {
            return src.len();
        };
        let k = i + k;
        match b.get(k + 2..) {
            Some([b'>', ..]) => return k + 3,
            Some([b'!', b'>', ..]) => return k + 4,
            _ => i = k + 1,
        }
    }
}

/// The input in segments, with attributes past the limits cut.
pub(super) struct Segments<'a> {
    src: &'a str,
    pos: usize,
    /// `<html>` and `<body>` start tags seen, and the attributes the ones after the first
    /// of each have brought (the tree builder merges them onto the first).
    html_tags: usize,
    body_tags: usize,
    merged: usize,
    pub(super) cut_tags: usize,
    /// The current segment's text when something in it was cut, and how far `src` is in it.
    buf: Option<String>,
    copied: usize,
}

impl<'a> Segments<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Segments {
            src,
            pos: 0,
            html_tags: 0,
            body_tags: 0,
            merged: 0,
            cut_tags: 0,
            buf: None,
            copied: 0,
        }
    }

    /// Replace `src[from..to]` with `with` in the current segment.
    fn replace(&mut self, from: usize, to: usize, with: &str) {
        let buf = self.buf.get_or_insert_with(String::new);
        buf.push_str(self.src.get(self.copied..from).unwrap_or(""));
        buf.push_str(with);
        self.copied = to;
    }

    /// Read the tag whose name starts at `n`; cut it if it must be. Returns the index of its
    /// `>` and its name, or `None` when the input ends inside it.
    fn tag(&mut self, n: usize, start: bool) -> Option<(usize, &'a [u8])> {
        let b = self.src.as_bytes();
        let mut merging = false;
        let scan = scan_tag(self.src, n, |name| {
            let seen = if !start {
                None
            } else if name.eq_ignore_ascii_case(b"html") {
                Some(&mut self.html_tags)
            } else if name.eq_ignore_ascii_case(b"body") {
                Some(&mut self.body_tags)
            } else {
                None
            };
            match seen {
                Some(seen) => {
                    *seen += 1;
                    merging = *seen > 1;
                    if merging {
                        MAX_ATTRIBUTES.saturating_sub(self.merged)
                    } else {
                        MAX_ATTRIBUTES
                    }
                }
                None => MAX_ATTRIBUTES,
            }
        });
        let name_end = scan.name_end;
        if merging {
            self.merged = self.merged.saturating_add(scan.attrs.min(MAX_ATTRIBUTES));
        }
        match (scan.end, scan.cut) {
            (Some(end), None) => Some((end, &b[n..name_end])),
            (Some(end), Some(cut)) => {
                self.cut_tags += 1;
                let close = if scan.self_closing {
                    "/>"
                } else if cut > 0 && b.get(cut - 1) == Some(&b'/') {
                    " >"
                } else {
                    ">"
                };
                self.replace(cut, end + 1, close);
                Some((end, &b[n..name_end]))
            }
            (None, Some(cut)) => {
                // The tokenizer drops a tag the input ends in; it need not read it all.
                self.cut_tags += 1;
                self.replace(cut, self.src.len(), "");
                None
            }
            (None, None) => None,
        }
    }

    /// The next segment, read from where the last one ended in `mode`.
    pub(super) fn next(&mut self, mode: Mode) -> (Cow<'a, str>, Stop) {
        let src = self.src;
        let b = src.as_bytes();
        let start = self.pos;
        self.buf = None;
        self.copied = start;
        let mut i = start;
        let mut stop = Stop::End;
        match mode {
            Mode::Data => {}
            Mode::Plaintext => i = src.len(),
            Mode::Cdata => i = past(src, start + "<![CDATA[".len(), "]]>"),
            Mode::BogusComment => i = past(src, start + 2, ">"),
            Mode::Text(_) | Mode::Script => {
                let end = match mode {
                    Mode::Text(name) => text_end(src, i, name),
                    _ => script_end(src, i),
                };
                i = match end.and_then(|k| self.tag(k + 2, false)) {
                    Some((gt, _)) => gt + 1,
                    None => src.len(),
                };
            }
        }
        while i < src.len() {
            let Some(off) = src.get(i..).and_then(|r| r.find('<')) else {
                i = src.len();
                break;
            };
            let p = i + off;
            match b.get(p + 1) {
                None => i = src.len(),
                Some(c) if c.is_ascii_alphabetic() => match self.tag(p + 1, true) {
                    None => i = src.len(),
                    Some((gt, name)) => {
                        i = gt + 1;
                        if let Some(name) = switch_name(name) {
                            stop = Stop::Switch(name);
                            break;
                        }
                    }
                },
                Some(b'/') => match b.get(p + 2) {
                    Some(c) if c.is_ascii_alphabetic() => match self.tag(p + 2, false) {
                        None => i = src.len(),
                        Some((gt, _)) => i = gt + 1,
                    },
                    Some(b'>') => i = p + 3,
                    None => i = src.len(),
                    Some(_) => i = past(src, p + 2, ">"),
                },
                Some(b'!') => {
                    let rest = b.get(p + 2..).unwrap_or(&[]);
                    if rest.starts_with(b"--") {
                        i = comment_end(src, p + 4);
                    } else if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"DOCTYPE") {
                        i = past(src, p + 9, ">");
                    } else if rest.starts_with(b"[CDATA[") {
                        i = p;
                        stop = Stop::Cdata;
                        break;
                    } else {
                        i = past(src, p + 2, ">");
                    }
                }
                Some(b'?') => i = past(src, p + 1, ">"),
                Some(_) => i = p + 1,
            }
        }
        let end = i.min(src.len());
        self.pos = end;
        let text = match self.buf.take() {
            Some(mut buf) => {
                if self.copied < end {
                    buf.push_str(src.get(self.copied..end).unwrap_or(""));
                }
                Cow::Owned(buf)
            }
            None => Cow::Borrowed(src.get(start..end).unwrap_or("")),
        };
        (text, stop)
    }
}
