//! robots.txt over a real server on 127.0.0.1 with the real binary: a disallowed listing fails
//! its feed and leaves the last good files alone, `ignore_robots` is the way out, robots.txt is
//! fetched once a day per host, and `Crawl-delay` spaces the requests of a build to one host.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Response, Run, Server, pagefeed, read_rss, snapshot};

fn page(titles: &[&str]) -> String {
    let mut html =
        String::from("<!doctype html><html lang=\"en\"><head><title>News</title></head><body>");
    for (i, t) in titles.iter().enumerate() {
        html.push_str(&format!(
            "<article class=\"post\"><h3><a href=\"/news/{i}\">{t}</a></h3></article>"
        ));
    }
    html.push_str("</body></html>");
    html
}

fn feed(name: &str, url: &str, extra: &str) -> String {
    format!(
        "\n[feeds.{name}]\nurl = \"{url}\"\n{extra}\n\n[feeds.{name}.items]\nselector = \"article.post\"\ntitle = \"h3 a\"\n"
    )
}

fn write_config(dir: &Path, feeds: &[String]) -> PathBuf {
    write_config_with(dir, "", feeds)
}

fn write_config_with(dir: &Path, settings: &str, feeds: &[String]) -> PathBuf {
    let mut text = format!("[settings]\noutput_dir = \"public\"\ntimeout = \"20s\"\n{settings}\n");
    for f in feeds {
        text.push_str(f);
    }
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn build(dir: &Path, config: &Path) -> Run {
    pagefeed(
        dir,
        &["build", "--config", config.to_str().expect("utf-8 path")],
    )
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit status\n--- stdout:\n{}\n--- stderr:\n{}",
        run.stdout, run.stderr
    );
}

fn robots(body: &str) -> Response {
    Response::new(200, "text/plain", body)
}

fn files(dir: &Path, name: &str) -> Vec<PathBuf> {
    ["rss", "atom", "json"]
        .iter()
        .map(|ext| dir.join("public").join(format!("{name}.{ext}")))
        .collect()
}

#[test]
fn a_disallowed_listing_fails_and_keeps_the_last_good_files() {
    let server = Server::start();
    server.route(
        "/robots.txt",
        robots("User-agent: *\nDisallow: /private/\n"),
    );
    server.route("/news/", Response::html(page(&["One", "Two"])));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = server.url("/news/");
    let cfg = write_config(dir.path(), &[feed("news", &url, "")]);
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(server.hits("/news/"), 1);
    let good = snapshot(&files(dir.path(), "news"));

    // The site now disallows the listing for pagefeed (its own group wins over `*`). The
    // stored robots.txt of the first server is used for a day, so the listing moves to a
    // second server (another port: another host to robots.txt) that says so.
    let moved = Server::start();
    moved.route(
        "/robots.txt",
        robots("User-agent: *\nAllow: /\n\nUser-agent: pagefeed\nDisallow: /news/\n"),
    );
    moved.route("/news/", Response::html(page(&["One", "Two"])));
    let host2 = moved.url("/news/");
    let cfg = write_config(dir.path(), &[feed("news", &host2, "keep_history = true")]);
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 1);
    assert!(run.stderr.contains("feed news"), "{}", run.stderr);
    assert!(run.stderr.contains("disallowed"), "{}", run.stderr);
    assert!(run.stderr.contains(&host2), "{}", run.stderr);
    assert!(run.stderr.contains("robots.txt"), "{}", run.stderr);
    assert!(
        run.stderr.contains("ignore_robots = true"),
        "{}",
        run.stderr
    );
    assert_eq!(
        moved.hits("/news/"),
        0,
        "the disallowed page was never requested"
    );
    assert_eq!(moved.hits("/robots.txt"), 1);
    let now = snapshot(&files(dir.path(), "news"));
    for ((path, b1, m1), (_, b2, m2)) in good.iter().zip(&now) {
        assert!(b1 == b2, "{} changed", path.display());
        assert_eq!(m1, m2, "{} was rewritten", path.display());
    }

    // The way out.
    let cfg = write_config(dir.path(), &[feed("news", &host2, "ignore_robots = true")]);
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert_eq!(moved.hits("/news/"), 1);
    let rss = read_rss(&files(dir.path(), "news")[0]);
    assert_eq!(rss.items().len(), 2);
}

#[test]
fn robots_txt_is_fetched_once_across_two_builds_the_same_day() {
    let server = Server::start();
    server.route(
        "/robots.txt",
        robots("User-agent: *\nDisallow: /private/\n"),
    );
    server.route("/a/", Response::html(page(&["One"])));
    server.route("/b/", Response::html(page(&["Two"])));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &[
            feed("a", &server.url("/a/"), ""),
            feed("b", &server.url("/b/"), ""),
        ],
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(server.hits("/robots.txt"), 1);
    assert_eq!(server.hits("/a/"), 2);
    assert_eq!(server.hits("/b/"), 2);
    let ua = server.requests("/robots.txt")[0]
        .header("user-agent")
        .map(str::to_string);
    assert!(ua.is_some_and(|u| u.starts_with("pagefeed/")));
}

#[test]
fn no_robots_txt_allows_everything_and_a_server_error_disallows_everything() {
    let server = Server::start();
    server.route("/robots.txt", Response::status(404));
    server.route("/news/", Response::html(page(&["One"])));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &[feed("news", &server.url("/news/"), "")]);
    assert_exit(&build(dir.path(), &cfg), 0);

    let other = Server::start();
    other.route("/robots.txt", Response::status(503));
    other.route("/news/", Response::html(page(&["One"])));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &[feed("news", &other.url("/news/"), "")]);
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 1);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    assert!(
        run.stderr.contains("ignore_robots = true"),
        "{}",
        run.stderr
    );
    assert_eq!(other.hits("/news/"), 0);
    // Not stored: the next build asks again.
    let _ = build(dir.path(), &cfg);
    assert_eq!(other.hits("/robots.txt"), 2);
}

#[test]
fn upstream_feeds_and_local_files_are_not_subject_to_robots_txt() {
    let server = Server::start();
    server.route("/robots.txt", robots("User-agent: *\nDisallow: /\n"));
    let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><link>http://x/</link><description>d</description><item><title>One</title><link>http://x/1</link></item></channel></rss>";
    server.route("/feed.xml", Response::new(200, "application/rss+xml", rss));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("page.html"), page(&["Local"])).expect("page");
    let cfg = write_config(
        dir.path(),
        &[
            format!("\n[feeds.up]\nfeed_url = \"{}\"\n", server.url("/feed.xml")),
            feed("local", "page.html", ""),
        ],
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(server.hits("/robots.txt"), 0);
    assert_eq!(server.hits("/feed.xml"), 1);
}

#[test]
fn crawl_delay_spaces_the_requests_of_a_build_to_one_host() {
    let server = Server::start();
    server.route(
        "/robots.txt",
        robots("User-agent: pagefeed\nCrawl-delay: 0.5\nAllow: /\n"),
    );
    for p in ["/a/", "/b/", "/c/"] {
        server.route(p, Response::html(page(&["One"])));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config_with(
        dir.path(),
        "host_delay = \"0s\"",
        &[
            feed("a", &server.url("/a/"), ""),
            feed("b", &server.url("/b/"), ""),
            feed("c", &server.url("/c/"), ""),
        ],
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    // The three pages, requested concurrently by default, are at least Crawl-delay apart:
    // sleeping guarantees the lower bound, so this holds on any machine however loaded.
    let mut times: Vec<_> = ["/a/", "/b/", "/c/"]
        .iter()
        .map(|p| server.requests(p)[0].at)
        .collect();
    times.sort();
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(gap >= Duration::from_millis(450), "requests {gap:?} apart");
    }
}
