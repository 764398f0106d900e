//! Making the page's links absolute.
//!
//! Feed readers show items far from the page they came from, so every link, image and GUID
//! must be an absolute http(s) URL. The base is the page's `<base href>` (itself resolved
//! against the page), else the configured `site_url`, else the address the page was fetched
//! from (after redirects).

use url::Url;

/// The base URL relative references on a page resolve against.
pub fn base_url(page_url: &Url, base_href: Option<&str>, site_url: Option<&Url>) -> Url {
    let fallback = site_url.unwrap_or(page_url);
    match base_href.and_then(|h| fallback.join(h).ok()) {
        Some(b) if is_web(&b) => b,
        _ => fallback.clone(),
    }
}

/// Resolve `href` against `base`; `None` unless the result is an http(s) URL.
pub fn resolve(base: &Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let u = base.join(href).ok()?;
    is_web(&u).then(|| u.to_string())
}

fn is_web(u: &Url) -> bool {
    matches!(u.scheme(), "http" | "https") && u.host().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    #[test]
    fn base_precedence() {
        let page = u("https://example.org/news/list?page=2");
        let site = u("https://www.example.org/news/");
        assert_eq!(
            base_url(&page, Some("/b/"), Some(&site)).as_str(),
            "https://www.example.org/b/"
        );
        assert_eq!(base_url(&page, None, Some(&site)).as_str(), site.as_str());
        assert_eq!(base_url(&page, None, None).as_str(), page.as_str());
    }

    #[test]
    fn resolves_root_and_document_relative_and_drops_others() {
        let b = u("https://example.org/news/list.html");
        assert_eq!(
            resolve(&b, "/a/b").as_deref(),
            Some("https://example.org/a/b")
        );
        assert_eq!(
            resolve(&b, "item?id=3").as_deref(),
            Some("https://example.org/news/item?id=3")
        );
        assert_eq!(
            resolve(&b, "//cdn.example.org/i.png").as_deref(),
            Some("https://cdn.example.org/i.png")
        );
        assert_eq!(resolve(&b, "javascript:void(0)"), None);
        assert_eq!(resolve(&b, "mailto:a@example.org"), None);
        assert_eq!(resolve(&b, "  "), None);
    }
}
