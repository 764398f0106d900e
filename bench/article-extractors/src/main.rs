//! Which main-content extraction crate `content = "auto"` uses: each candidate is run on the
//! article pages of `tests/data/articles/` (written for this: blog, news, tech, magazine, short
//! and forum layouts with navigation, sidebars, comments, ads and footers). For each it prints
//! how many body paragraphs it kept (the first 60 characters of each, from `expected.json`),
//! how many pieces of page chrome it dropped, the time per page (each page 200 times) and the
//! time for one 148 kB page (the news page with 200 sidebars appended).
//!
//! Run: `cargo run --release -- ../../tests/data/articles` in this folder.

use std::time::Instant;

fn strip(html: &str) -> String {
    // crude text of HTML: drop tags, collapse whitespace, unescape a few entities
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => { in_tag = true; out.push(' '); }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out.replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", "\"");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(name: &str, f: &dyn Fn(&str, &str) -> Option<String>, pages: &[(String, String)], exp: &serde_json::Value) {
    let (mut kept, mut total, mut dropped, mut ctotal) = (0, 0, 0, 0);
    let mut per = Vec::new();
    for (k, html) in pages {
        let url = format!("https://site.example/{k}/post");
        let got = f(html, &url).map(|h| strip(&h)).unwrap_or_default();
        let body = exp["body"][k].as_array().unwrap();
        let mut pk = 0;
        for p in body {
            let p = p.as_str().unwrap();
            let probe: String = p.chars().take(60).collect();
            total += 1;
            if got.contains(&probe) { kept += 1; pk += 1; }
        }
        let mut pc = 0;
        let mut present_chrome = 0;
        for c in exp["chrome"].as_array().unwrap() {
            let c = c.as_str().unwrap();
            if !html.contains(c) { continue; }
            present_chrome += 1;
            ctotal += 1;
            if !got.contains(c) { dropped += 1; pc += 1; }
        }
        per.push(format!("{k}: body {pk}/{} chrome dropped {pc}/{present_chrome}", body.len()));
    }
    // speed: each page 200 times
    let t = Instant::now();
    let mut n = 0;
    for _ in 0..200 { for (k, html) in pages { let _ = f(html, &format!("https://site.example/{k}/post")); n += 1; } }
    let per_page = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    // a large page: the news page with 200 sidebar/related blocks
    let big = pages.iter().find(|p| p.0 == "news").unwrap().1.replace("</main>", &format!("</main>{}", pages.iter().find(|p| p.0 == "blog").unwrap().1.split("<aside").nth(1).map(|s| format!("<aside{}", s.split("</aside>").next().unwrap_or(""))).unwrap_or_default().repeat(200) + "</aside>"));
    let t = Instant::now();
    for _ in 0..10 { let _ = f(&big, "https://site.example/big/post"); }
    let big_ms = t.elapsed().as_secs_f64() * 1e3 / 10.0;
    println!("{name}: body paragraphs kept {kept}/{total}, chrome dropped {dropped}/{ctotal}, {per_page:.0} µs per page (3-6 kB), {big_ms:.1} ms for a {} kB page", big.len() / 1024);
    for p in per { println!("    {p}"); }
}

fn main() {
    let dir = std::env::args().nth(1).expect("dir");
    let exp: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/expected.json")).unwrap()).unwrap();
    let mut pages = Vec::new();
    for k in exp["body"].as_object().unwrap().keys() {
        pages.push((k.clone(), std::fs::read_to_string(format!("{dir}/{k}.html")).unwrap()));
    }
    // SHOW=1: print what dom_smoothie keeps of each page instead.
    if std::env::var("SHOW").is_ok() { for (k,h) in &pages { let mut r = dom_smoothie::Readability::new(h.as_str(), Some("https://site.example/x/post"), None).expect("readability"); let a = r.parse().expect("parse"); println!("== {k}\n{}", a.content); } return; }
    run("dom_smoothie 0.19", &|h, u| {
        let mut r = dom_smoothie::Readability::new(h, Some(u), None).ok()?;
        r.parse().ok().map(|a| a.content.to_string())
    }, &pages, &exp);
    run("legible 0.5", &|h, u| legible::parse(h, Some(u), None).ok().map(|a| a.content), &pages, &exp);
    run("readability-rs 0.5", &|h, u| {
        let url = url::Url::parse(u).ok()?;
        readability::extract(&mut h.as_bytes(), &url, readability::ExtractOptions::default()).ok().map(|r| r.content)
    }, &pages, &exp);
}
