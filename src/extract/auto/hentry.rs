//! h-entry microformats: `.h-entry` elements with `.p-name`, `.u-url`, `.dt-published`,
//! `.p-author` and `.p-summary` / `.e-content`.

use std::sync::LazyLock;

use scraper::{ElementRef, Selector};

use super::{Candidate, FieldSpec, Method, Page, common_field, sel};

static ENTRIES: LazyLock<Selector> = LazyLock::new(|| sel(".h-entry"));

pub fn find(page: &Page) -> Vec<Candidate> {
    let items: Vec<ElementRef> = page.doc.select(&ENTRIES).collect();
    if items.len() < 2 {
        return Vec::new();
    }
    let Some(title) = common_field(&items, &[".p-name", "a[href]"]) else {
        return Vec::new();
    };
    let link = common_field(&items, &["a.u-url", ".u-url[href]", "a[href]"]).unwrap_or("a[href]");
    let mut fields = vec![
        ("title", FieldSpec::css(title)),
        ("link", FieldSpec::css(link)),
    ];
    if let Some(s) = common_field(&items, &[".p-summary", ".e-content"]) {
        fields.push(("summary", FieldSpec::css(s)));
    }
    if let Some(a) = common_field(&items, &[".p-author"]) {
        fields.push(("authors", FieldSpec::css(a)));
    }
    if let Some(d) = common_field(&items, &[".dt-published"]) {
        fields.push(("date", FieldSpec::css(d)));
    }
    super::selector_candidate(page, Method::HEntry, ".h-entry".to_string(), fields)
        .into_iter()
        .collect()
}
