//! Writing a scraper tree back as HTML, byte for byte as html5ever's serializer does, in one
//! pass.
//!
//! html5ever 0.40's serializer looks through the rest of a text (or attribute value) for the
//! next `<` or `>` (or `"`) again after each `&` or no-break space it escapes, so a long text
//! full of `&amp;` costs the square of its length. scraper's `inner_html` uses it; this writer
//! is driven by the same traversal (scraper's `Serialize`) and escapes as it goes.

use std::io;

use html5ever::serialize::{AttrRef, Serialize, Serializer, TraversalScope};
use html5ever::{LocalName, QualName, local_name, ns};
use scraper::ElementRef;

/// The inner HTML of `el`: the same bytes as scraper's `ElementRef::inner_html`.
pub fn inner_html(el: ElementRef<'_>) -> String {
    write(el, None)
}

/// The inner HTML of `el` for a parser with scripting on (ammonia's), with an empty comment
/// between pieces of at most `piece` bytes of each text, so that its text nodes stay short.
pub(super) fn inner_html_in_pieces(el: ElementRef<'_>, piece: usize) -> String {
    write(el, Some(piece))
}

fn write(el: ElementRef<'_>, pieces: Option<usize>) -> String {
    let mut w = Writer {
        out: String::new(),
        stack: vec![Frame {
            html: None,
            void: false,
        }],
        pieces,
    };
    // Writing to a String cannot fail, and the traversal never ends more elements than it
    // started.
    let _ = el.serialize(&mut w, TraversalScope::ChildrenOnly(None));
    w.out
}

/// An element being written: its name when it is an HTML element, and whether it is void (its
/// content is not written).
struct Frame {
    html: Option<LocalName>,
    void: bool,
}

struct Writer {
    out: String,
    stack: Vec<Frame>,
    pieces: Option<usize>,
}

impl Writer {
    fn top(&self) -> Option<&Frame> {
        self.stack.last()
    }

    fn escape(&mut self, text: &str, attr: bool) {
        let b = text.as_bytes();
        let mut done = 0;
        for (i, &c) in b.iter().enumerate() {
            let (with, len) = match c {
                b'&' => ("&amp;", 1),
                b'<' => ("&lt;", 1),
                b'>' => ("&gt;", 1),
                b'"' if attr => ("&quot;", 1),
                0xC2 if b.get(i + 1) == Some(&0xA0) => ("&nbsp;", 2),
                _ => continue,
            };
            self.out.push_str(text.get(done..i).unwrap_or(""));
            self.out.push_str(with);
            done = i + len;
        }
        self.out.push_str(text.get(done..).unwrap_or(""));
    }
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

impl Serializer for Writer {
    fn start_elem<'a, AttrIter>(&mut self, name: QualName, attrs: AttrIter) -> io::Result<()>
    where
        AttrIter: Iterator<Item = AttrRef<'a>>,
    {
        let html = (name.ns == ns!(html)).then(|| name.local.clone());
        if self.top().is_some_and(|f| f.void) {
            self.stack.push(Frame { html, void: true });
            return Ok(());
        }
        self.out.push('<');
        self.out.push_str(&name.local);
        for (attr, value) in attrs {
            self.out.push(' ');
            match attr.ns {
                ns!() => {}
                ns!(xml) => self.out.push_str("xml:"),
                ns!(xmlns) => {
                    if attr.local != local_name!("xmlns") {
                        self.out.push_str("xmlns:");
                    }
                }
                ns!(xlink) => self.out.push_str("xlink:"),
                _ => self.out.push_str("unknown_namespace:"),
            }
            self.out.push_str(&attr.local);
            self.out.push_str("=\"");
            self.escape(value, true);
            self.out.push('"');
        }
        self.out.push('>');
        let void = html.as_ref().is_some_and(is_void);
        self.stack.push(Frame { html, void });
        Ok(())
    }

    fn end_elem(&mut self, name: QualName) -> io::Result<()> {
        if self.stack.pop().is_some_and(|f| f.void) {
            return Ok(());
        }
        self.out.push_str("</");
        self.out.push_str(&name.local);
        self.out.push('>');
        Ok(())
    }

    fn write_text(&mut self, text: &str) -> io::Result<()> {
        let scripting = self.pieces.is_some();
        let (raw, rcdata) = match self.top().and_then(|f| f.html.as_ref()) {
            Some(
                &local_name!("style")
                | &local_name!("script")
                | &local_name!("xmp")
                | &local_name!("iframe")
                | &local_name!("noembed")
                | &local_name!("noframes")
                | &local_name!("plaintext"),
            ) => (true, false),
            Some(&local_name!("noscript")) => (scripting, false),
            Some(&local_name!("textarea") | &local_name!("title")) => (false, true),
            _ => (false, false),
        };
        if raw {
            self.out.push_str(text);
            return Ok(());
        }
        match self.pieces {
            Some(size) if !rcdata && text.len() > size => {
                let mut rest = text;
                while !rest.is_empty() {
                    let mut cut = size.min(rest.len());
                    while !rest.is_char_boundary(cut) {
                        cut += 1;
                    }
                    let (piece, after) = rest.split_at(cut);
                    self.escape(piece, false);
                    if !after.is_empty() {
                        self.out.push_str("<!---->");
                    }
                    rest = after;
                }
            }
            _ => self.escape(text, false),
        }
        Ok(())
    }

    fn write_comment(&mut self, text: &str) -> io::Result<()> {
        self.out.push_str("<!--");
        self.out.push_str(text);
        self.out.push_str("-->");
        Ok(())
    }

    fn write_doctype(&mut self, name: &str) -> io::Result<()> {
        self.out.push_str("<!DOCTYPE ");
        self.out.push_str(name);
        self.out.push('>');
        Ok(())
    }

    fn write_processing_instruction(&mut self, target: &str, data: &str) -> io::Result<()> {
        self.out.push_str("<?");
        self.out.push_str(target);
        self.out.push(' ');
        self.out.push_str(data);
        self.out.push('>');
        Ok(())
    }
}
