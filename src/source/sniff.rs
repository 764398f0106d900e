//! What a fetched body is, before anyone parses it: a response that is a PDF, an image, an
//! archive or nothing at all fails its feed with that said (the type, the byte count, the URL)
//! instead of "selector matched nothing". Kinds are told by the first bytes first (servers
//! mislabel), then by `Content-Type`.

use crate::source::fetch::Page;

/// What a response that is not an HTML page is, by its `Content-Type` and its first bytes:
/// `Some("a PDF document")`, or `None` for anything that may be HTML.
pub fn non_html_kind(content_type: Option<&str>, bytes: &[u8]) -> Option<&'static str> {
    if let Some(kind) = sniff(bytes) {
        return Some(kind);
    }
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let looks_like_markup = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'<' | b'{'));
    match mime.as_str() {
        "application/pdf" => Some("a PDF document"),
        "application/zip" | "application/x-zip-compressed" => Some("a zip archive"),
        "application/gzip" | "application/x-gzip" => Some("gzip data"),
        "application/x-tar" | "application/x-7z-compressed" | "application/vnd.rar" => {
            Some("an archive")
        }
        "application/octet-stream" if !looks_like_markup => Some("binary data"),
        m if m.starts_with("image/") => Some("an image"),
        m if m.starts_with("audio/") => Some("audio"),
        m if m.starts_with("video/") => Some("a video"),
        m if m.starts_with("font/") => Some("a font"),
        m if m.starts_with("application/vnd.openxmlformats")
            || m == "application/msword"
            || m.starts_with("application/vnd.ms-")
            || m.starts_with("application/vnd.oasis.opendocument") =>
        {
            Some("an office document")
        }
        _ => None,
    }
}

/// The kind of a body by its first bytes, for kinds no HTML page starts with.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.is_empty() {
        return Some("an empty body");
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some("a body of only whitespace");
    }
    let starts = |sig: &[u8]| bytes.starts_with(sig);
    if starts(b"%PDF-") {
        Some("a PDF document")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("a PNG image")
    } else if starts(b"\xff\xd8\xff") {
        Some("a JPEG image")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("a GIF image")
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("a WebP image")
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        Some("a zip archive")
    } else if starts(b"\x1f\x8b") {
        Some("gzip data")
    } else if starts(b"7z\xbc\xaf\x27\x1c") || starts(b"Rar!\x1a\x07") {
        Some("an archive")
    } else {
        None
    }
}

/// `12,345`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len().saturating_mul(2));
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && digits.len().saturating_sub(i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The message for a response that is not what the feed reads, or `None` when it may be:
/// "https://h/p answered with a PDF document (application/pdf, 12,345 bytes), not an HTML
/// page; check `url`". `expected` is "an HTML page" or "a feed"; `key` the config key.
pub fn not_html(page: &Page, shown_url: &str, expected: &str, key: &str) -> Option<String> {
    let kind = non_html_kind(page.content_type.as_deref(), &page.bytes)?;
    let bytes = page.bytes.len();
    let size = format!(
        "{} byte{}",
        thousands(bytes),
        if bytes == 1 { "" } else { "s" }
    );
    let facts = match page.content_type.as_deref().map(str::trim) {
        Some(ct) if !ct.is_empty() => format!("{ct}, {size}"),
        _ => size,
    };
    let verb = if page.url.scheme() == "file" {
        "holds"
    } else {
        "answered with"
    };
    Some(format!(
        "{shown_url} {verb} {kind} ({facts}), not {expected}; check `{key}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_html_by_type_and_by_bytes() {
        assert_eq!(
            non_html_kind(Some("text/html"), b"%PDF-1.7"),
            Some("a PDF document")
        );
        assert_eq!(
            non_html_kind(Some("application/pdf"), b"x"),
            Some("a PDF document")
        );
        assert_eq!(
            non_html_kind(None, b"\x89PNG\r\n\x1a\n.."),
            Some("a PNG image")
        );
        assert_eq!(non_html_kind(None, b"PK\x03\x04"), Some("a zip archive"));
        assert_eq!(non_html_kind(None, b"\x1f\x8b\x08"), Some("gzip data"));
        assert_eq!(
            non_html_kind(None, b" \n "),
            Some("a body of only whitespace")
        );
        assert_eq!(non_html_kind(Some("text/html"), b""), Some("an empty body"));
        assert_eq!(non_html_kind(Some("image/webp"), b"..."), Some("an image"));
        assert_eq!(
            non_html_kind(Some("application/octet-stream"), b"\x00\x01"),
            Some("binary data")
        );
        assert_eq!(
            non_html_kind(Some("application/octet-stream"), b" <html>"),
            None
        );
        assert_eq!(non_html_kind(Some("text/html"), b"<p>hi"), None);
        assert_eq!(non_html_kind(None, b"plain text"), None);
        assert_eq!(thousands(12_345), "12,345");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
