//! Cleaning HTML kept from a page (`html = true`) before it goes into a feed.
//!
//! Feed readers render item HTML inside their own pages, so anything that can run or load
//! behind the reader's back (scripts, iframes, event handlers, `javascript:` URLs, styles)
//! is removed by ammonia, and every remaining link and image is made absolute against the
//! page's base, since a relative URL in a feed has nothing to resolve against. ammonia parses
//! with html5ever, whose work some markup makes quadratic; it is given the text
//! [`crate::extract::parse::for_sanitizer`] makes of the HTML, which it cleans with bounded work.

use ammonia::{Builder, UrlRelative};
use url::Url;

/// Sanitize `html` and make its URLs absolute against `base`.
pub fn clean_html(html: &str, base: &Url) -> String {
    let mut b = Builder::default();
    b.url_relative(UrlRelative::RewriteWithBase(base.clone()))
        .link_rel(Some("noopener noreferrer"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect());
    let out = b
        .clean(&crate::extract::parse::for_sanitizer(html))
        .to_string();
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_active_content_and_absolutizes() {
        let base = Url::parse("https://example.org/news/").expect("url");
        let out = clean_html(
            r#"<p onclick="x()">Hi <a href="/a">a</a> <img src="i.png"><script>alert(1)</script><iframe src="/f"></iframe><a href="javascript:x()">j</a></p>"#,
            &base,
        );
        assert!(out.contains(r#"href="https://example.org/a""#), "{out}");
        assert!(
            out.contains(r#"src="https://example.org/news/i.png""#),
            "{out}"
        );
        for bad in ["onclick", "script", "iframe", "javascript:"] {
            assert!(!out.contains(bad), "{bad} left in {out}");
        }
    }
}
