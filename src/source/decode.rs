//! Bytes to text: choosing the page's character encoding.
//!
//! Order of evidence: a byte-order mark (it cannot lie, and browsers let it win), then the
//! HTTP `Content-Type` charset, then a `<meta charset>` or `<meta http-equiv="Content-Type">`
//! in the first few kilobytes, then UTF-8. Labels are resolved with encoding_rs, which follows
//! the WHATWG Encoding Standard (so `latin1` means windows-1252, as in browsers). Bytes that
//! are invalid in the chosen encoding become U+FFFD rather than failing the feed.

use std::sync::LazyLock;

use encoding_rs::{Encoding, UTF_8};
use regex::bytes::Regex;

/// How many leading bytes are searched for a `<meta>` declaration.
const PRESCAN_BYTES: usize = 4096;

/// Decode `bytes` to a string, using `content_type` (an HTTP header value) when it names a
/// charset. Returns the text and the encoding used.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> (String, &'static Encoding) {
    let (text, used) = decode_borrowed(bytes, content_type);
    (text.into_owned(), used)
}

/// [`decode`] without a copy when the bytes are already valid UTF-8 (a big page is not held
/// twice).
pub fn decode_borrowed<'a>(
    bytes: &'a [u8],
    content_type: Option<&str>,
) -> (std::borrow::Cow<'a, str>, &'static Encoding) {
    let encoding = Encoding::for_bom(bytes)
        .map(|(e, _)| e)
        .or_else(|| content_type.and_then(charset_from_content_type))
        .or_else(|| meta_charset(bytes))
        .unwrap_or(UTF_8);
    // `decode` sniffs and strips a BOM itself, and replaces malformed sequences.
    let (text, used, _had_errors) = encoding.decode(bytes);
    (text, used)
}

/// The encoding an HTTP `Content-Type` value names in its `charset` parameter.
pub fn charset_from_content_type(ct: &str) -> Option<&'static Encoding> {
    ct.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        Encoding::for_label(v.trim().trim_matches(['"', '\'']).as_bytes())
    })
}

static META_CHARSET: LazyLock<Regex> = LazyLock::new(|| {
    // <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">
    Regex::new(r#"(?i-u)<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([a-z0-9_:.\-]+)"#)
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(PRESCAN_BYTES)];
    let caps = META_CHARSET.captures(head)?;
    let enc = Encoding::for_label(caps.get(1)?.as_bytes())?;
    // A page that reached us as ASCII-compatible bytes cannot really be UTF-16 (WHATWG rule).
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        Some(UTF_8)
    } else {
        Some(enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_charset_wins_over_meta() {
        let bytes = b"<meta charset=\"utf-8\"><p>\xe9</p>";
        let (text, enc) = decode(bytes, Some("text/html; charset=ISO-8859-1"));
        assert_eq!(enc, encoding_rs::WINDOWS_1252);
        assert!(text.contains("<p>\u{e9}</p>"));
    }

    #[test]
    fn meta_http_equiv_windows_1251() {
        let bytes =
            b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\"><p>\xcf\xf0\xe8</p>";
        let (text, enc) = decode(bytes, Some("text/html"));
        assert_eq!(enc, encoding_rs::WINDOWS_1251);
        assert!(text.contains("<p>\u{41f}\u{440}\u{438}</p>"), "{text}");
    }

    #[test]
    fn bom_wins_and_is_stripped() {
        let bytes = b"\xef\xbb\xbf<p>\xc3\xa9</p>";
        let (text, enc) = decode(bytes, Some("text/html; charset=windows-1252"));
        assert_eq!(enc, UTF_8);
        assert_eq!(text, "<p>\u{e9}</p>");
    }

    #[test]
    fn defaults_to_utf8_and_replaces_garbage() {
        let (text, enc) = decode(b"<p>\xff</p>", None);
        assert_eq!(enc, UTF_8);
        assert_eq!(text, "<p>\u{fffd}</p>");
    }
}
