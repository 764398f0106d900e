//! Full articles (`[feeds.NAME.article]`) over a real server on 127.0.0.1 with the real binary:
//! each new item's page fetched exactly once across builds and `serve` restarts, its content in
//! RSS, Atom and JSON Feed (validated by `../shared/check-feed` where it exists), a failing
//! article retried and given up after 3 attempts, `max_articles_per_run`, robots.txt, `<meta>`
//! FIELDs, JSON-LD, the article's date over the listing's, and `content = "auto"`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Response, Run, Server, json_items, json_str, pagefeed, read_atom, read_json, read_rss,
};

/// A listing with one `article.post` per slug (link `/posts/<slug>`, title = slug), each with
/// `<meta itemprop="datePublished" content="2026-01-05T10:00:00Z">`.
fn listing(slugs: &[&str]) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><title>Blog</title></head><body><main>",
    );
    for s in slugs {
        html.push_str(&format!(
            "<article class=\"post\"><meta itemprop=\"datePublished\" content=\"2026-01-05T10:00:00Z\"><h3><a href=\"/posts/{s}\">{s}</a></h3></article>"
        ));
    }
    html.push_str("</main></body></html>");
    html
}

/// An article page whose body (`div.entry-content`) says `Body of SLUG` and links relatively.
fn article(slug: &str) -> String {
    format!(
        "<!doctype html><html><head><title>{slug}</title><meta name=\"author\" content=\"Writer {slug}\"></head>\
         <body><nav><a href=\"/\">Home</a></nav><div class=\"entry-content\"><p>Body of {slug}, with <a href=\"/more/{slug}\">a link</a> and <img src=\"/img/{slug}.jpg\" alt=\"\"></p><script>track()</script></div>\
         <footer>Footer text</footer></body></html>"
    )
}

fn write_config(dir: &Path, url: &str, feed_extra: &str, article: &str) -> PathBuf {
    let text = format!(
        "[settings]\noutput_dir = \"public\"\nbase_url = \"https://feeds.example.org/\"\nhost_delay = \"0s\"\ntimeout = \"20s\"\n\n\
         [feeds.blog]\nurl = \"{url}\"\n{feed_extra}\n\n\
         [feeds.blog.items]\nselector = \"article.post\"\ntitle = \"h3 a\"\ndate = \"meta[itemprop=datePublished]\"\n\n\
         [feeds.blog.article]\n{article}\n"
    );
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn build(dir: &Path) -> Run {
    pagefeed(dir, &["build", "--config", "pagefeed.toml"])
}

fn assert_ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "exit status\n--- stdout:\n{}\n--- stderr:\n{}",
        run.stdout, run.stderr
    );
}

/// The RSS items by title: (title, content:encoded, pubDate, dc:creator, enclosure url).
#[allow(clippy::type_complexity)]
fn rss_items(dir: &Path) -> Vec<(String, Option<String>, String, Vec<String>, Option<String>)> {
    read_rss(&dir.join("public/blog.rss"))
        .items()
        .iter()
        .map(|i| {
            (
                i.title().unwrap_or("").to_string(),
                i.content().map(str::to_string),
                i.pub_date().unwrap_or("").to_string(),
                i.dublin_core_ext()
                    .map(|d| d.creators().to_vec())
                    .unwrap_or_default(),
                i.enclosure().map(|e| e.url().to_string()),
            )
        })
        .collect()
}

fn content_of(dir: &Path, title: &str) -> Option<String> {
    rss_items(dir)
        .into_iter()
        .find(|i| i.0 == title)
        .unwrap_or_else(|| panic!("no item {title}"))
        .1
}

/// `../shared/check-feed/check-all --strict DIR`, where the shared tools exist.
fn check_all(dir: &Path) {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/check-feed/check-all");
    if !tool.exists() {
        eprintln!("skipping check-all: {} does not exist", tool.display());
        return;
    }
    let out = Command::new(&tool)
        .arg(dir)
        .arg("--strict")
        .stdin(Stdio::null())
        .output()
        .expect("run check-all");
    assert!(
        out.status.success(),
        "check-all failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start `pagefeed serve` in `dir` (its listing refreshed every second), wait until the listing
/// was requested `listing_hits` times in all, and stop it with SIGTERM.
fn serve_until(dir: &Path, server: &Server, listing_hits: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pagefeed"))
        .args([
            "serve",
            "--config",
            "pagefeed.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pagefeed serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.hits("/blog/") < listing_hits && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A refresh that fetched the listing may still be storing: give it a moment to finish.
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let stop = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        server.hits("/blog/") >= listing_hits,
        "serve did not refresh the listing {listing_hits} times"
    );
}

#[test]
fn each_article_is_fetched_once_across_builds_and_serve_restarts_and_published_in_every_format() {
    let server = Server::start();
    server.route("/blog/", Response::html(listing(&["a", "b"])));
    for s in ["a", "b", "c", "d"] {
        server.route(&format!("/posts/{s}"), Response::html(article(s)));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &server.url("/blog/"),
        "refresh = \"1s\"",
        "content = \"div.entry-content\"\nauthors = \"meta[name=author]\"",
    );
    assert_ok(&build(dir.path()));
    // Second build: one more item; only its article is fetched.
    server.route("/blog/", Response::html(listing(&["c", "a", "b"])));
    assert_ok(&build(dir.path()));
    // serve: a fourth item appears; serve fetches its article, then is restarted.
    server.route("/blog/", Response::html(listing(&["d", "c", "a", "b"])));
    let seen = server.hits("/blog/");
    serve_until(dir.path(), &server, seen + 3);
    assert_eq!(
        server.hits("/posts/d"),
        1,
        "serve fetched the new item's article"
    );
    let seen = server.hits("/blog/");
    serve_until(dir.path(), &server, seen + 3);
    assert_ok(&build(dir.path()));
    for s in ["a", "b", "c", "d"] {
        assert_eq!(server.hits(&format!("/posts/{s}")), 1, "article {s}");
    }

    let origin = server.origin();
    let c = content_of(dir.path(), "d").expect("content of d");
    assert!(c.contains("Body of d"), "{c}");
    assert!(
        c.contains(&format!("href=\"{origin}/more/d\""))
            && c.contains(&format!("src=\"{origin}/img/d.jpg\"")),
        "links and images absolute: {c}"
    );
    assert!(
        !c.contains("script") && !c.contains("Footer text") && !c.contains("Home"),
        "{c}"
    );
    let items = rss_items(dir.path());
    assert!(items.iter().all(|i| i.1.is_some()), "{items:?}");
    let a = items.iter().find(|i| i.0 == "a").expect("a");
    assert_eq!(a.3, vec!["Writer a".to_string()]);

    let atom = read_atom(&dir.path().join("public/blog.atom"));
    let entry = atom
        .entries()
        .iter()
        .find(|e| e.title().as_str() == "b")
        .expect("entry b");
    let content = entry.content().expect("atom content");
    assert_eq!(content.content_type(), Some("html"));
    assert!(content.value().unwrap_or("").contains("Body of b"));

    let json = read_json(&dir.path().join("public/blog.json"));
    let item = json_items(&json)
        .iter()
        .find(|i| json_str(i, "title") == "c")
        .expect("json item c");
    assert!(json_str(item, "content_html").contains("Body of c"));

    check_all(&dir.path().join("public"));
}

#[test]
fn a_failing_article_is_tried_three_times_then_given_up_and_the_feed_still_builds() {
    let server = Server::start();
    server.route("/blog/", Response::html(listing(&["ok", "bad"])));
    server.route("/posts/ok", Response::html(article("ok")));
    server.route("/posts/bad", Response::status(500));
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &server.url("/blog/"),
        "",
        "content = \"div.entry-content\"",
    );
    let first = build(dir.path());
    assert_ok(&first);
    assert!(
        first.stderr.contains("/posts/bad could not be fetched")
            && first.stderr.contains("attempt 1 of 3"),
        "{}",
        first.stderr
    );
    assert!(content_of(dir.path(), "bad").is_none());
    assert!(content_of(dir.path(), "ok").is_some());
    assert_ok(&build(dir.path()));
    let third = build(dir.path());
    assert_ok(&third);
    assert!(
        third.stderr.contains("given up after 3 attempts"),
        "{}",
        third.stderr
    );
    let fourth = build(dir.path());
    assert_ok(&fourth);
    assert!(!fourth.stderr.contains("/posts/bad"), "{}", fourth.stderr);
    assert_eq!(server.hits("/posts/bad"), 3);
    assert_eq!(server.hits("/posts/ok"), 1);
}

#[test]
fn max_articles_per_run_leaves_the_rest_for_the_next_runs() {
    let server = Server::start();
    let slugs = ["p1", "p2", "p3", "p4", "p5"];
    server.route("/blog/", Response::html(listing(&slugs)));
    for s in slugs {
        server.route(&format!("/posts/{s}"), Response::html(article(s)));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &server.url("/blog/"),
        "",
        "content = \"div.entry-content\"\nmax_articles_per_run = 2",
    );
    let fetched = || -> usize {
        slugs
            .iter()
            .map(|s| server.hits(&format!("/posts/{s}")))
            .sum()
    };
    let with_content = |dir: &Path| rss_items(dir).iter().filter(|i| i.1.is_some()).count();
    for expected in [2, 4, 5, 5] {
        assert_ok(&build(dir.path()));
        assert_eq!(fetched(), expected);
        assert_eq!(with_content(dir.path()), expected);
    }
    // The page order decides which come first.
    assert_eq!(server.hits("/posts/p1"), 1);
    let dir2 = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir2.path(),
        &server.url("/blog/"),
        "",
        "content = \"auto\"\nmax_articles_per_run = 0",
    );
    let run = pagefeed(
        dir2.path(),
        &["check", "--config", cfg.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`max_articles_per_run` must be between 1 and 1000"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_article_robots_txt_disallows_is_never_requested() {
    let server = Server::start();
    server.route(
        "/robots.txt",
        Response::new(
            200,
            "text/plain",
            "User-agent: *\nDisallow: /posts/secret\n",
        ),
    );
    server.route("/blog/", Response::html(listing(&["open", "secret"])));
    server.route("/posts/open", Response::html(article("open")));
    server.route("/posts/secret", Response::html(article("secret")));
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &server.url("/blog/"),
        "",
        "content = \"div.entry-content\"",
    );
    let run = build(dir.path());
    assert_ok(&run);
    assert!(
        run.stderr.contains("/posts/secret was skipped") && run.stderr.contains("robots.txt"),
        "{}",
        run.stderr
    );
    assert_ok(&build(dir.path()));
    assert_eq!(server.hits("/posts/secret"), 0);
    assert_eq!(server.hits("/posts/open"), 1);
    assert!(content_of(dir.path(), "secret").is_none());
    assert!(content_of(dir.path(), "open").is_some());
}

#[test]
fn json_ld_gives_date_authors_and_image_and_the_article_date_wins_over_the_listing() {
    let server = Server::start();
    server.route("/blog/", Response::html(listing(&["ld", "plain"])));
    server.route(
        "/posts/ld",
        Response::html(
            "<html><head><script type=\"application/ld+json\">{\"@context\":\"https://schema.org\",\"@type\":\"NewsArticle\",\
             \"datePublished\":\"2026-01-02T08:30:00Z\",\"author\":[{\"@type\":\"Person\",\"name\":\"Ada Ld\"}],\
             \"image\":{\"@type\":\"ImageObject\",\"url\":\"/img/ld.png\"}}</script></head>\
             <body><div class=\"entry-content\"><p>Body of ld</p></div></body></html>",
        ),
    );
    server.route("/posts/plain", Response::html(article("plain")));
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &server.url("/blog/"),
        "",
        "content = \"div.entry-content\"",
    );
    assert_ok(&build(dir.path()));
    let items = rss_items(dir.path());
    let ld = items.iter().find(|i| i.0 == "ld").expect("ld");
    assert_eq!(ld.2, "Fri, 2 Jan 2026 08:30:00 +0000", "the article's date");
    assert_eq!(ld.3, vec!["Ada Ld".to_string()]);
    assert_eq!(
        ld.4.as_deref(),
        Some(format!("{}/img/ld.png", server.origin()).as_str())
    );
    // Without JSON-LD or a date FIELD, the listing's date (a <meta> read by its content) stays.
    let plain = items.iter().find(|i| i.0 == "plain").expect("plain");
    assert_eq!(plain.2, "Mon, 5 Jan 2026 10:00:00 +0000");
    // The article's date stays on the next build (the listing still says the 5th).
    assert_ok(&build(dir.path()));
    let items = rss_items(dir.path());
    assert_eq!(
        items.iter().find(|i| i.0 == "ld").expect("ld").2,
        "Fri, 2 Jan 2026 08:30:00 +0000"
    );
}

#[test]
fn article_fields_read_meta_content_and_a_date_field() {
    let server = Server::start();
    server.route("/blog/", Response::html(listing(&["m"])));
    server.route(
        "/posts/m",
        Response::html(
            "<html><head><meta property=\"article:published_time\" content=\"2026-01-03T07:00:00Z\">\
             <meta property=\"og:image\" content=\"/img/og.jpg\"><meta name=\"author\" content=\"Meta Author\"></head>\
             <body><div class=\"entry-content\"><p>Body of m</p></div></body></html>",
        ),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &server.url("/blog/"),
        "",
        "content = \"div.entry-content\"\ndate = \"meta[property='article:published_time']\"\n\
         authors = \"meta[name=author]\"\nimage = \"meta[property='og:image']\"",
    );
    assert_ok(&build(dir.path()));
    let items = rss_items(dir.path());
    let m = &items[0];
    assert_eq!(m.2, "Sat, 3 Jan 2026 07:00:00 +0000");
    assert_eq!(m.3, vec!["Meta Author".to_string()]);
    assert_eq!(
        m.4.as_deref(),
        Some(format!("{}/img/og.jpg", server.origin()).as_str())
    );
}

#[test]
fn auto_content_keeps_the_article_body_without_the_page_chrome() {
    let server = Server::start();
    server.route("/blog/", Response::html(listing(&["news", "magazine"])));
    for s in ["news", "magazine"] {
        let html = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/articles/{s}.html")),
        )
        .expect("read article page");
        server.route(&format!("/posts/{s}"), Response::html(html));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &server.url("/blog/"), "", "content = \"auto\"");
    assert_ok(&build(dir.path()));
    let news = content_of(dir.path(), "news").expect("news content");
    assert!(
        news.contains("The city council voted on Tuesday evening"),
        "{news}"
    );
    assert!(news.contains("if the timetable holds"), "{news}");
    for chrome in ["Most read story", "Copyright 2026", "We use cookies"] {
        assert!(!news.contains(chrome), "{chrome} in {news}");
    }
    let mag = content_of(dir.path(), "magazine").expect("magazine content");
    assert!(
        mag.contains("the fog sat so low over the vineyards"),
        "{mag}"
    );
    assert!(!mag.contains("Subscribe to our newsletter"), "{mag}");
    // The magazine page's JSON-LD dates and signs it.
    let items = rss_items(dir.path());
    let m = items.iter().find(|i| i.0 == "magazine").expect("magazine");
    assert_eq!(m.2, "Tue, 10 Feb 2026 07:00:00 +0000");
    assert_eq!(m.3, vec!["Lena Writer".to_string()]);
    check_all(&dir.path().join("public"));
}

#[test]
fn config_errors_of_the_article_table_name_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    for (text, expected) in [
        (
            "[feeds.a]\nurl = \"https://example.org/\"\n[feeds.a.article]\ncontnet = \"auto\"\n",
            "did you mean `content`?",
        ),
        (
            "[feeds.a]\nurl = \"https://example.org/\"\n[feeds.b]\nmerge = [\"a\"]\n[feeds.b.article]\ncontent = \"auto\"\n",
            "feed b, key `article`: is only for feeds with items of their own",
        ),
        (
            "[feeds.a]\nurl = \"https://example.org/\"\n[feeds.a.article]\ncontent = \"div[\"\n",
            "feed a, key `article.content`: invalid CSS selector",
        ),
        (
            "[feeds.a]\nurl = \"https://example.org/\"\n[feeds.a.article]\ncontent = \"auto\"\nmax_articles_per_run = \"5\"\n",
            "`max_articles_per_run` must be a whole number",
        ),
    ] {
        std::fs::write(&path, text).expect("write config");
        let run = pagefeed(dir.path(), &["check", "--config", "c.toml"]);
        assert_eq!(run.code, 2, "{text}\n{}", run.stderr);
        assert!(run.stderr.contains(expected), "{text}\n{}", run.stderr);
    }
}
