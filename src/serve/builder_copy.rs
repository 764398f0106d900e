//! The copy of a page that the feed builder shows: the page's own markup, without anything
//! that could run or send.
//!
//! Scripts, `noscript`, event-handler attributes (`on*`), `javascript:` (and `vbscript:`,
//! `data:text/html`) addresses, forms and their controls, frames, objects and embeds, `meta`
//! and `base` are removed; a `form` element itself is dropped but its content kept, so a page
//! wrapped in one form still shows. Everything else keeps its tag, classes and attributes, so
//! a selector that matches in the copy matches in the page. The copy starts with a
//! Content-Security-Policy that forbids script and a `<base>` pointing at the page, and the
//! builder shows it in a frame sandboxed without `allow-scripts`.

use std::fmt::Write;

use ego_tree::iter::Edge;
use scraper::Node;
use url::Url;

/// Elements removed with everything in them.
const DROPPED: &[&str] = &[
    "script", "noscript", "iframe", "frame", "frameset", "object", "embed", "applet", "template",
    "portal", "input", "button", "select", "textarea", "option", "optgroup", "datalist", "meta",
    "base", "noembed", "noframes", "dialog",
];

/// Elements without an end tag.
const VOID: &[&str] = &[
    "area", "br", "col", "hr", "img", "link", "source", "track", "wbr", "param",
];

/// Attributes removed wherever they are, besides `on*`.
const DROPPED_ATTRS: &[&str] = &[
    "srcdoc",
    "action",
    "formaction",
    "ping",
    "http-equiv",
    "target",
    "autofocus",
];

/// The start of the copy's `<head>`: no script, no plugins, no frames, no form posts, and
/// relative addresses resolved against the page.
fn head_start(base: &Url) -> String {
    format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'; object-src 'none'; \
         frame-src 'none'; form-action 'none'\">\n<base href=\"{}\">\n<style>\
         .pagefeed-entry{{outline:3px solid #c2410c!important;outline-offset:1px}}\
         .pagefeed-picked{{outline:3px solid #1d4ed8!important;background:rgba(29,78,216,.08)!important}}\
         .pagefeed-hover{{outline:2px dashed #1d4ed8!important}}</style>\n",
        escape(base.as_str(), true)
    )
}

/// The script-free copy of `html`, read from `base`.
pub fn sanitized_copy(html: &str, base: &Url) -> String {
    // The bounded parser: a hostile page costs no more here than in a build.
    let (doc, _) = crate::extract::parse::document(html);
    let mut out = String::with_capacity(html.len());
    out.push_str("<!DOCTYPE html>\n");
    let mut skip: Option<ego_tree::NodeId> = None;
    let mut raw_text = 0usize;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                if skip.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(t) => {
                        if raw_text > 0 {
                            out.push_str(&t.replace("</", "<\\/"));
                        } else {
                            out.push_str(&escape(t, false));
                        }
                    }
                    Node::Element(el) => {
                        let name = el.name();
                        if DROPPED.contains(&name) || dropped_link(el) {
                            skip = Some(node.id());
                            continue;
                        }
                        if name == "form" {
                            continue;
                        }
                        out.push('<');
                        out.push_str(name);
                        for (attr, value) in el.attrs() {
                            if !keep_attr(attr, value) {
                                continue;
                            }
                            let _ = write!(out, " {attr}=\"{}\"", escape(value, true));
                        }
                        out.push('>');
                        if name == "head" {
                            out.push_str(&head_start(base));
                        }
                        if name == "style" {
                            raw_text = raw_text.saturating_add(1);
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(id) = skip {
                    if id == node.id() {
                        skip = None;
                    }
                    continue;
                }
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if name == "form" || VOID.contains(&name) {
                        continue;
                    }
                    if name == "style" {
                        raw_text = raw_text.saturating_sub(1);
                    }
                    let _ = write!(out, "</{name}>");
                }
            }
        }
    }
    out
}

/// `<link>` other than a stylesheet (preloads, imports, manifests) is dropped.
fn dropped_link(el: &scraper::node::Element) -> bool {
    el.name() == "link"
        && !el.attr("rel").is_some_and(|r| {
            r.split_ascii_whitespace()
                .any(|t| t.eq_ignore_ascii_case("stylesheet"))
        })
}

fn keep_attr(name: &str, value: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("on") || DROPPED_ATTRS.contains(&lower.as_str()) {
        return false;
    }
    // Attribute names the serializer could not write back safely.
    if lower.is_empty()
        || lower
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '>' | '/' | '=' | '<'))
    {
        return false;
    }
    let v: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .flat_map(char::to_lowercase)
        .collect();
    !(v.starts_with("javascript:") || v.starts_with("vbscript:") || v.starts_with("data:text/html"))
}

fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_everything_that_runs_or_sends() {
        let base = Url::parse("https://example.org/news/").unwrap();
        let page = r#"<html><head><script>alert(1)</script><meta http-equiv="refresh" content="0;url=/x">
            <link rel="stylesheet" href="/s.css"><link rel="preload" href="/p.js"></head>
            <body onload="x()"><form action="/post"><div class="list"><article class="post">
            <h2><a href="javascript:alert(2)" onclick="y()">One</a></h2>
            <a href="/one" target="_top">read</a><input name="q"><button>Go</button></article></div></form>
            <iframe src="https://evil.example/"></iframe><object data="x.swf"></object>
            <svg><script>alert(3)</script></svg><img src="a.png" onerror="z()">
            <noscript><img src="t.gif"></noscript><style>p{color:red}</style></body></html>"#;
        let copy = sanitized_copy(page, &base);
        for bad in [
            "<script",
            "alert",
            "onload",
            "onclick",
            "onerror",
            "javascript:",
            "<form",
            "<input",
            "<button",
            "<iframe",
            "<object",
            "refresh",
            "preload",
            "target=",
            "action=",
            "t.gif",
        ] {
            assert!(!copy.contains(bad), "{bad} in {copy}");
        }
        for good in [
            "<article class=\"post\">",
            "<a href=\"/one\">read</a>",
            "href=\"/s.css\"",
            "<img src=\"a.png\">",
            "<style>p{color:red}</style>",
            "script-src 'none'",
            "<base href=\"https://example.org/news/\">",
            "<div class=\"list\">",
        ] {
            assert!(copy.contains(good), "{good} not in {copy}");
        }
    }

    #[test]
    fn text_and_attributes_stay_escaped() {
        let base = Url::parse("https://example.org/").unwrap();
        let copy = sanitized_copy(
            "<p title='a&quot;b'>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
            &base,
        );
        assert!(
            copy.contains("<p title=\"a&quot;b\">&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
            "{copy}"
        );
    }
}
