//! A generator of news-theme listing pages for the benchmarks.
//!
//! The markup follows a typical WordPress news theme: a `<head>` full of meta, link, style and
//! script tags, a header with a large navigation menu, the entries (`<article class="post">`
//! with a thumbnail, an `h3` link, a subtitle, a byline with authors and a text date, and
//! tag links), a sidebar of widgets and a footer. About 90 KB of the page is boilerplate and
//! each entry is about 1 KB, so 20, 1,000 and 20,000 entries give pages of about 110 KB, 1 MB
//! and 20 MB.
//!
//! Everything is deterministic: the same entry count always gives the same bytes.

use std::fmt::Write;

/// The config the benchmarks and `bench/build-1mb.sh` use for generated pages; `page` is the
/// page's path relative to the config file.
pub fn config_toml(page: &str) -> String {
    format!(
        r#"[settings]
output_dir = "out"
state = "state.db"
base_url = "https://feeds.example.org/"

[feeds.bench]
url = "{page}"
site_url = "https://news.example.org/"
language = "en"
time_zone = "Asia/Seoul"
max_items = 50

[feeds.bench.items]
selector = "article.post"
title = "h3.entry-title a"
link = "h3.entry-title a"
summary = "p.subtitle"
authors = ".byline .author"
date = ".byline time"
image = "img.wp-post-image"
categories = ".tags a[rel=tag]"
"#
    )
}

/// The selectors of [`config_toml`], for the baseline:
/// (item, title, link, summary, authors, date, image, categories).
pub const SELECTORS: [&str; 8] = [
    "article.post",
    "h3.entry-title a",
    "h3.entry-title a",
    "p.subtitle",
    ".byline .author",
    ".byline time",
    "img.wp-post-image",
    ".tags a[rel=tag]",
];

/// A small deterministic PRNG (xorshift64*), so pages are reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }
}

const SUBJECTS: &[&str] = &[
    "North Korea",
    "Pyongyang",
    "Kim Jong Un",
    "South Korea",
    "The US State Department",
    "Seoul&#8217;s unification ministry",
    "China",
    "Russian customs officials",
    "The UN Panel of Experts",
    "North Korean state media",
    "Japan&#8217;s defense ministry",
    "Defectors in Seoul",
];
const VERBS: &[&str] = &[
    "spent $965,000 on",
    "quietly expanded",
    "denies reports about",
    "unveils plans for",
    "calls for talks on",
    "warns Washington over",
    "releases new images of",
    "steps up inspections of",
    "reports a surge in",
    "suspends work on",
];
const OBJECTS: &[&str] = &[
    "a mysterious Russian item",
    "its new ICBM",
    "cross-border trade",
    "a coastal missile base",
    "the Sinuiju customs complex",
    "rice prices &amp; food markets",
    "a &#8216;total fabrication&#8217; documentary",
    "the Party Congress preparations",
    "COVID-19 border measures",
    "satellite launch facilities",
];
const QUALIFIERS: &[&str] = &[
    "in August: Trade data",
    "amid sanctions pressure",
    "ahead of the parade",
    "",
    "",
    "",
    "as flooding hits",
    "for the first time",
];
const SUBTITLES: &[&str] = &[
    "The DPRK also spent serious cash on two&nbsp;powerful turbine engines",
    "Official says &quot;everything will be cleared&quot; once the investigations end",
    "The missile is larger than any road-mobile ICBM seen before, experts say",
    "Imagery shows crews working through the night despite the typhoons",
    "Seoul says the move could complicate efforts to restart dialogue",
    "Rice and corn prices have climbed since the border closed in January",
];
const AUTHORS: &[&str] = &[
    "Chad O&#039;Carroll",
    "Jeongmin Kim",
    "Min Chao Choy",
    "Colin Zwirko",
    "Ifang Bremer",
    "Oliver Hotham",
    "Dagyum Ji",
    "Jack Kim",
];
const TAGS: &[&str] = &[
    "Trade",
    "Russia",
    "Customs data",
    "Missiles",
    "ICBM",
    "Diplomacy &amp; Embassies",
    "Sanctions",
    "Satellite imagery",
    "COVID-19",
    "Military parade",
    "Economy",
    "Food security",
];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut dash = false;
    let mut in_entity = false;
    for c in text.chars() {
        if in_entity {
            in_entity = c != ';';
            continue;
        }
        if c == '&' {
            in_entity = true;
            continue;
        }
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    out
}

/// A date `days` days before October 24, 2020, as (year, month 1-12, day).
fn date_before(days: usize) -> (i32, usize, usize) {
    const DAYS: [usize; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut y, mut m, mut d) = (2020i32, 10usize, 24usize);
    for _ in 0..days {
        if d > 1 {
            d -= 1;
        } else {
            if m == 1 {
                m = 12;
                y -= 1;
            } else {
                m -= 1;
            }
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            d = DAYS[m - 1] + usize::from(m == 2 && leap);
        }
    }
    (y, m, d)
}

fn head(out: &mut String, rng: &mut Rng) {
    out.push_str(
        r#"<!DOCTYPE html>
<html lang="en-US">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Latest news &#8211; The Korea Desk &#8211; News and analysis</title>
  <meta name="description" content="The latest news from The Korea Desk correspondents: politics, diplomacy, sanctions, the military and daily life.">
  <meta name="robots" content="index, follow, max-image-preview:large, max-snippet:-1, max-video-preview:-1">
  <link rel="canonical" href="https://news.example.org/category/news/">
  <link rel="next" href="https://news.example.org/category/news/page/2/">
  <meta property="og:locale" content="en_US">
  <meta property="og:type" content="website">
  <meta property="og:title" content="Latest news from The Korea Desk">
  <meta property="og:description" content="The latest news from The Korea Desk correspondents.">
  <meta property="og:url" content="https://news.example.org/category/news/">
  <meta property="og:site_name" content="The Korea Desk">
  <meta property="og:image" content="https://news.example.org/wp-content/uploads/2020/01/og-default.png">
  <meta name="twitter:card" content="summary_large_image">
  <meta name="twitter:site" content="@koreadesk">
  <link rel="dns-prefetch" href="//fonts.googleapis.com">
  <link rel="dns-prefetch" href="//s.w.org">
  <link rel="dns-prefetch" href="//stats.wp.com">
  <link rel="alternate" type="application/rss+xml" title="The Korea Desk &raquo; Feed" href="https://news.example.org/feed/">
  <link rel="alternate" type="application/rss+xml" title="The Korea Desk &raquo; News Category Feed" href="https://news.example.org/category/news/feed/">
  <link rel="https://api.w.org/" href="https://news.example.org/wp-json/">
  <link rel="EditURI" type="application/rsd+xml" title="RSD" href="https://news.example.org/xmlrpc.php?rsd">
  <meta name="generator" content="WordPress 5.5.1">
"#,
    );
    for (i, name) in [
        "wp-block-library",
        "wp-block-library-theme",
        "contact-form-7",
        "jetpack-carousel",
        "theme-fonts",
        "theme-style",
        "theme-print",
        "newsletter-widget",
        "social-share",
        "cookie-notice",
        "ad-slots",
        "related-posts",
    ]
    .iter()
    .enumerate()
    {
        let _ = writeln!(
            out,
            r#"  <link rel="stylesheet" id="{name}-css" href="/wp-content/plugins/{name}/css/style.min.css?ver=5.{i}.1" type="text/css" media="all">"#
        );
    }
    // Inline critical CSS, as themes and caching plugins emit it.
    out.push_str("  <style id=\"theme-inline-css\" type=\"text/css\">\n");
    for i in 0..160 {
        let _ = writeln!(
            out,
            ".block-{i} .entry-title a,.block-{i} .widget-title{{color:#{:06x};font-size:{}px;margin:0 0 {}px}}",
            rng.next() % 0xff_ffff,
            12 + i % 12,
            i % 20
        );
    }
    out.push_str("  </style>\n");
    for name in [
        "jquery-core",
        "jquery-migrate",
        "theme-navigation",
        "skip-link-focus-fix",
        "lazysizes",
        "comment-reply",
        "wp-embed",
        "jetpack-stats",
    ] {
        let _ = writeln!(
            out,
            r#"  <script type="text/javascript" src="/wp-includes/js/{name}.min.js?ver=3.5.1" id="{name}-js"></script>"#
        );
    }
    // Inline script configuration and structured data.
    out.push_str("  <script type=\"text/javascript\" id=\"theme-config-js-extra\">\n/* <![CDATA[ */\nvar themeConfig = {");
    for i in 0..170 {
        let _ = write!(
            out,
            "\"option_{i}\":\"{:016x}\",\"label_{i}\":\"Setting number {i} of the theme\",",
            rng.next()
        );
    }
    out.push_str("\"end\":true};\n/* ]]> */\n  </script>\n");
    out.push_str("  <script type=\"application/ld+json\" class=\"yoast-schema-graph\">{\"@context\":\"https://schema.org\",\"@graph\":[{\"@type\":\"WebSite\",\"@id\":\"https://news.example.org/#website\",\"url\":\"https://news.example.org/\",\"name\":\"The Korea Desk\",\"inLanguage\":\"en-US\"},{\"@type\":\"CollectionPage\",\"@id\":\"https://news.example.org/category/news/#webpage\",\"url\":\"https://news.example.org/category/news/\",\"name\":\"Latest news\",\"isPartOf\":{\"@id\":\"https://news.example.org/#website\"},\"inLanguage\":\"en-US\"}]}</script>\n");
    for size in [32, 192, 180, 270] {
        let _ = writeln!(
            out,
            r#"  <link rel="icon" href="/wp-content/uploads/2019/03/cropped-icon-{size}x{size}.png" sizes="{size}x{size}">"#
        );
    }
    out.push_str("</head>\n");
}

fn header(out: &mut String) {
    out.push_str(
        r##"<body class="archive category category-news category-1 wp-embed-responsive hfeed has-sidebar">
<div id="page" class="site">
  <a class="skip-link screen-reader-text" href="#content">Skip to content</a>
  <div class="top-bar"><div class="container">
    <span class="top-bar-date">October 24, 2020</span>
    <ul class="top-bar-links"><li><a href="/about-us/">About</a></li><li><a href="/newsletter/">Newsletter</a></li><li><a href="/contact/">Contact</a></li><li><a href="/login/?redirect_to=%2F&amp;source=topbar">Log in</a></li><li class="subscribe"><a href="/subscribe/?utm_source=site&amp;utm_medium=topbar">Subscribe</a></li></ul>
  </div></div>
  <header id="masthead" class="site-header" role="banner"><div class="container">
    <div class="site-branding"><p class="site-title"><a href="/" rel="home">The Korea Desk</a></p><p class="site-description">News and analysis</p></div>
    <nav id="site-navigation" class="main-navigation" role="navigation" aria-label="Primary menu">
      <button class="menu-toggle" aria-controls="primary-menu" aria-expanded="false">Menu</button>
      <ul id="primary-menu" class="menu">
"##,
    );
    // Ten top-level sections with four sub-items each: 50 links.
    for s in 0..10 {
        let id = 100 + s * 5;
        let section = TAGS[s % TAGS.len()];
        let sslug = slug(section);
        let _ = writeln!(
            out,
            r#"        <li id="menu-item-{id}" class="menu-item menu-item-type-taxonomy menu-item-object-category menu-item-has-children menu-item-{id}"><a href="/category/{sslug}/">{section}</a>
          <ul class="sub-menu">"#
        );
        for k in 1..5 {
            let sub = TAGS[(s + k * 3) % TAGS.len()];
            let _ = writeln!(
                out,
                r#"            <li id="menu-item-{}" class="menu-item menu-item-type-taxonomy menu-item-object-category menu-item-{}"><a href="/category/{sslug}/{}/">{sub}</a></li>"#,
                id + k,
                id + k,
                slug(sub)
            );
        }
        out.push_str("          </ul>\n        </li>\n");
    }
    out.push_str(
        r#"      </ul>
    </nav>
    <form role="search" method="get" class="search-form" action="/"><label><span class="screen-reader-text">Search for:</span><input type="search" class="search-field" placeholder="Search &hellip;" value="" name="s"></label><input type="submit" class="search-submit" value="Search"></form>
  </div></header>
  <div id="content" class="site-content"><div class="container">
    <div id="primary" class="content-area"><main id="main" class="site-main" role="main">
      <header class="page-header"><h1 class="page-title">Latest news</h1><div class="archive-description"><p>The latest news from our correspondents.</p></div></header>
"#,
    );
}

fn entry(out: &mut String, rng: &mut Rng, n: usize, entries: usize) {
    let title = format!(
        "{} {} {} {}",
        rng.pick(SUBJECTS),
        rng.pick(VERBS),
        rng.pick(OBJECTS),
        rng.pick(QUALIFIERS)
    );
    let title = title.trim_end();
    let id = 171_204 + entries - n;
    // About twelve entries a day, newest first.
    let (y, m, d) = date_before(n / 12);
    let short: Vec<&str> = title.split(' ').take(4).collect();
    let path = format!("/{y}/{m:02}/{}-{id}/", slug(&short.join(" ")));
    let mut tags: Vec<&str> = Vec::new();
    while tags.len() < 2 + (id % 2) {
        let t = rng.pick(TAGS);
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let _ = write!(
        out,
        r#"<article id="post-{id}" class="post-{id} post type-post category-news">
<div class="post-thumbnail"><a href="{path}"><img src="/wp-content/uploads/{y}/{m:02}/thumb-{id}-300x200.jpg" class="wp-post-image" alt="" loading="lazy"></a></div>
<div class="entry-wrap">
<header class="entry-header">
<h3 class="entry-title"><a href="{path}" rel="bookmark">{title}</a></h3>
<p class="subtitle">{}</p>
</header>
<div class="entry-meta">
<div class="byline">"#,
        rng.pick(SUBTITLES)
    );
    let first = rng.pick(AUTHORS);
    let mut authors = vec![first];
    if rng.next().is_multiple_of(3) {
        let second = rng.pick(AUTHORS);
        if second != first {
            authors.push(second);
        }
    }
    for (i, a) in authors.iter().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        let _ = write!(
            out,
            r#"<span class="author vcard"><a href="/author/{}/">{a}</a></span>"#,
            slug(a)
        );
    }
    let _ = write!(
        out,
        r#" <time class="published">{} {d}, {y}</time></div>
<div class="tags">"#,
        MONTHS[m - 1]
    );
    for t in &tags {
        let _ = write!(out, r#"<a href="/tag/{}/" rel="tag">{t}</a>"#, slug(t));
    }
    out.push_str("</div>\n</div>\n</div>\n</article>\n");
}

fn sidebar_and_footer(out: &mut String, rng: &mut Rng) {
    out.push_str(
        r#"      <nav class="navigation pagination" role="navigation" aria-label="Posts"><div class="nav-links"><span aria-current="page" class="page-numbers current">1</span><a class="page-numbers" href="/category/news/page/2/">2</a><a class="page-numbers" href="/category/news/page/3/">3</a><a class="next page-numbers" href="/category/news/page/2/">Next</a></div></nav>
    </main></div>
    <aside id="secondary" class="widget-area sidebar" role="complementary">
      <section id="search-2" class="widget widget_search"><form role="search" method="get" class="search-form" action="/"><input type="search" class="search-field" name="s"><input type="submit" class="search-submit" value="Search"></form></section>
      <section id="popular-3" class="widget widget_popular"><h2 class="widget-title">Most popular</h2><ol>
"#,
    );
    for i in 0..30 {
        let title = format!(
            "{} {} {}",
            rng.pick(SUBJECTS),
            rng.pick(VERBS),
            rng.pick(OBJECTS)
        );
        let _ = writeln!(
            out,
            r#"        <li class="popular-item"><a href="/2020/09/{}-{i}/"><img width="80" height="80" src="/wp-content/uploads/2020/09/popular-{i}-80x80.jpg" class="popular-thumb" alt="" loading="lazy"></a><div class="popular-text"><a href="/2020/09/{}-{i}/">{title}</a><span class="popular-views">{} views</span></div></li>"#,
            slug(&title),
            slug(&title),
            1000 + rng.next() % 90_000
        );
    }
    out.push_str("      </ol></section>\n      <section id=\"newsletter-2\" class=\"widget widget_newsletter\"><h2 class=\"widget-title\">Daily newsletter</h2><p>The day&#8217;s news in your inbox every morning.</p><form class=\"newsletter-form\" action=\"/newsletter/subscribe/\" method=\"post\"><input type=\"email\" name=\"email\" placeholder=\"Your e-mail\" required><input type=\"hidden\" name=\"list\" value=\"daily\"><button type=\"submit\">Sign up</button></form></section>\n");
    out.push_str("      <section id=\"tag_cloud-2\" class=\"widget widget_tag_cloud\"><h2 class=\"widget-title\">Topics</h2><div class=\"tagcloud\">\n");
    for i in 0..60 {
        let t = TAGS[i % TAGS.len()];
        let _ = writeln!(
            out,
            r#"        <a href="/tag/{}-{i}/" class="tag-cloud-link tag-link-{i} tag-link-position-{}" style="font-size: {}pt;" aria-label="{t} ({} items)">{t}</a>"#,
            slug(t),
            i + 1,
            8 + i % 14,
            rng.next() % 2000
        );
    }
    out.push_str("      </div></section>\n      <section id=\"archives-2\" class=\"widget widget_archive\"><h2 class=\"widget-title\">Archives</h2><ul>\n");
    for i in 0..72 {
        let y = 2020 - i / 12;
        let m = 12 - i % 12;
        let _ = writeln!(
            out,
            r#"        <li><a href="/{y}/{m:02}/">{} {y}</a>&nbsp;({})</li>"#,
            MONTHS[m - 1],
            rng.next() % 400
        );
    }
    out.push_str(
        r#"      </ul></section>
    </aside>
  </div></div>
  <footer id="colophon" class="site-footer" role="contentinfo"><div class="container">
    <div class="footer-widgets">
"#,
    );
    for col in 0..4 {
        let _ = writeln!(
            out,
            r#"      <div class="footer-column footer-column-{col}"><h3 class="footer-title">Section {col}</h3><ul class="footer-links">"#
        );
        for k in 0..12 {
            let t = TAGS[(col * 5 + k) % TAGS.len()];
            let _ = writeln!(
                out,
                r#"        <li class="menu-item menu-item-{}"><a href="/section-{col}/{}/">{t}</a></li>"#,
                900 + col * 20 + k,
                slug(t)
            );
        }
        out.push_str("      </ul></div>\n");
    }
    out.push_str(
        r##"    </div>
    <div class="site-info"><p>&copy; 2020 The Korea Desk. All rights reserved. Reproduction of material from this site without written permission is prohibited.</p><p><a href="/privacy-policy/">Privacy policy</a> &middot; <a href="/terms/">Terms of use</a> &middot; <a href="/cookies/">Cookie policy</a> &middot; <a href="/advertise/">Advertise</a></p></div>
  </div></footer>
</div>
<div id="cookie-notice" role="dialog" class="cookie-notice-hidden" aria-label="Cookie Notice"><div class="cookie-notice-container"><span id="cn-notice-text">We use cookies to ensure that we give you the best experience on our website.</span><a href="#" id="cn-accept-cookie" class="cn-set-cookie cn-button">Ok</a><a href="/privacy-policy/" target="_blank" id="cn-more-info" class="cn-more-info cn-button">Privacy policy</a></div></div>
"##,
    );
    out.push_str("<script type=\"text/javascript\" id=\"analytics-js-extra\">\nvar _stq = window._stq || [];\n");
    for i in 0..80 {
        let _ = writeln!(
            out,
            "_stq.push(['view', {{v:'ext',blog:'{}',post:'{i}',tz:'9',srv:'news.example.org',j:'1:9.0.2'}}]);",
            rng.next() % 1_000_000_000
        );
    }
    out.push_str("</script>\n</body>\n</html>\n");
}

/// A listing page with `entries` entries, newest first.
pub fn listing_page(entries: usize) -> String {
    let mut out = String::with_capacity(90_000 + entries * 1_100);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    head(&mut out, &mut rng);
    header(&mut out);
    let mut entry_rng = Rng(0xD1B5_4A32_D192_ED03);
    for n in 0..entries {
        entry(&mut out, &mut entry_rng, n, entries);
    }
    sidebar_and_footer(&mut out, &mut rng);
    out
}
