//! Multi-page listings over a real server on 127.0.0.1 with the real binary: `next_page` (a
//! FIELD or "auto") and `max_pages` walk a listing page by page; a repeated page, `max_pages`,
//! an unchanged first page, a failing page and a page robots.txt disallows each end the walk.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Response, Run, Server, pagefeed, read_rss};

/// A listing page with one `article.post` per title (links `/news/<title>`), and `more`
/// (pagination markup) at the end of the body; `head` goes into `<head>`.
fn listing(titles: &[&str], head: &str, more: &str) -> String {
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><title>News</title>{head}</head><body><main>"
    );
    for t in titles {
        let slug = t.to_lowercase().replace(' ', "-");
        html.push_str(&format!(
            "<article class=\"post\"><h3><a href=\"/news/{slug}\">{t}</a></h3></article>"
        ));
    }
    html.push_str(&format!("</main>{more}</body></html>"));
    html
}

/// `<a class="next" href="PATH">Older posts</a>`.
fn next_link(path: &str) -> String {
    format!("<nav><a href=\"/\">Home</a> <a class=\"next\" href=\"{path}\">Older posts</a></nav>")
}

/// A config with the one feed `news` at `url` (`extra` its further keys); `host_delay` is 0s
/// unless `settings` sets it.
fn write_config(dir: &Path, settings: &str, extra: &str, url: &str) -> PathBuf {
    let delay = if settings.contains("host_delay") {
        ""
    } else {
        "host_delay = \"0s\"\n"
    };
    let text = format!(
        "[settings]\noutput_dir = \"public\"\ntimeout = \"20s\"\n{delay}{settings}\n\n\
         [feeds.news]\nurl = \"{url}\"\n{extra}\n\n\
         [feeds.news.items]\nselector = \"article.post\"\ntitle = \"h3 a\"\n"
    );
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

/// The item titles of the feed's RSS file, in the feed's order.
fn titles(dir: &Path) -> Vec<String> {
    read_rss(&dir.join("public").join("news.rss"))
        .items()
        .iter()
        .map(|i| i.title().unwrap_or("").to_string())
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Three pages linked by `a.next`; page 3 repeats page 2's last entry.
fn three_pages(server: &Server) {
    server.route(
        "/list/",
        Response::html(listing(&["One", "Two"], "", &next_link("/list/2/"))),
    );
    server.route(
        "/list/2/",
        Response::html(listing(&["Three", "Four"], "", &next_link("/list/3/"))),
    );
    server.route(
        "/list/3/",
        Response::html(listing(&["Four", "Five"], "", &next_link("/list/4/"))),
    );
    server.route("/list/4/", Response::html(listing(&["Six"], "", "")));
}

#[test]
fn a_three_page_listing_gives_the_entries_of_all_pages_in_order_once_each() {
    let server = Server::start();
    three_pages(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = { selector = \"a.next\", attr = \"href\" }\nmax_pages = 3",
        &server.url("/list/"),
    );
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert!(
        run.stderr.contains("news: 5 found, 5 new"),
        "{}",
        run.stderr
    );
    assert_eq!(
        titles(dir.path()),
        strings(&["One", "Two", "Three", "Four", "Five"])
    );
    for p in ["/list/", "/list/2/", "/list/3/"] {
        assert_eq!(server.hits(p), 1, "{p}");
    }
    // max_pages = 3: the fourth page is never asked for.
    assert_eq!(server.hits("/list/4/"), 0);
}

#[test]
fn max_pages_defaults_to_one_and_stops_the_walk() {
    let server = Server::start();
    three_pages(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    // next_page without max_pages: the first page only.
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"",
        &server.url("/list/"),
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(titles(dir.path()), strings(&["One", "Two"]));
    assert_eq!(server.hits("/list/2/"), 0);
    // max_pages = 2: pages 1 and 2, not 3.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"\nmax_pages = 2",
        &server.url("/list/"),
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(
        titles(dir.path()),
        strings(&["One", "Two", "Three", "Four"])
    );
    assert_eq!(server.hits("/list/"), 2);
    assert_eq!(server.hits("/list/2/"), 1);
    assert_eq!(server.hits("/list/3/"), 0);
}

#[test]
fn auto_follows_rel_next() {
    let server = Server::start();
    server.route(
        "/list/",
        Response::html(listing(
            &["One", "Two"],
            "<link rel=\"next\" href=\"/list/2/\">",
            // A link saying "next" that rel=next outranks.
            "<a href=\"/elsewhere/\">Next door</a>",
        )),
    );
    server.route(
        "/list/2/",
        Response::html(listing(
            &["Three"],
            "",
            "<a rel=\"prev\" href=\"/list/\">Newer</a> <a rel=\"next\" href=\"/list/3/\">3</a>",
        )),
    );
    server.route("/list/3/", Response::html(listing(&["Four"], "", "")));
    server.route("/elsewhere/", Response::html(listing(&["Wrong"], "", "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"auto\"\nmax_pages = 5",
        &server.url("/list/"),
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(
        titles(dir.path()),
        strings(&["One", "Two", "Three", "Four"])
    );
    assert_eq!(server.hits("/elsewhere/"), 0);
}

#[test]
fn auto_follows_a_next_link_by_its_text() {
    let server = Server::start();
    server.route(
        "/list/",
        Response::html(listing(
            &["One"],
            "",
            "<p><a href=\"/about/\">About</a> <a href=\"2/\">Next ›</a></p>",
        )),
    );
    // Page 2 is German: its own words lead on ("Nächste", case ignored), then "»".
    server.route(
        "/list/2/",
        Response::html(
            listing(
                &["Two"],
                "",
                "<a href=\"/impressum/\">Impressum</a> <a href=\"/list/3/\">nächste Seite</a>",
            )
            .replace("lang=\"en\"", "lang=\"de\""),
        ),
    );
    server.route(
        "/list/3/",
        Response::html(listing(&["Three"], "", "<a href=\"/list/4/\">»</a>")),
    );
    server.route("/list/4/", Response::html(listing(&["Four"], "", "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"auto\"\nmax_pages = 4",
        &server.url("/list/"),
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(
        titles(dir.path()),
        strings(&["One", "Two", "Three", "Four"])
    );
    assert_eq!(server.hits("/about/"), 0);
    assert_eq!(server.hits("/impressum/"), 0);
}

#[test]
fn a_loop_back_to_the_first_page_ends_the_walk() {
    let server = Server::start();
    server.route(
        "/list/",
        Response::html(listing(&["One"], "", &next_link("/list/2/"))),
    );
    server.route(
        "/list/2/",
        Response::html(listing(&["Two"], "", &next_link("/list/"))),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"\nmax_pages = 10",
        &server.url("/list/"),
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(titles(dir.path()), strings(&["One", "Two"]));
    assert_eq!(server.hits("/list/"), 1);
    assert_eq!(server.hits("/list/2/"), 1);
}

#[test]
fn a_page_without_entries_ends_the_walk() {
    let server = Server::start();
    server.route(
        "/list/",
        Response::html(listing(&["One"], "", &next_link("/list/2/"))),
    );
    server.route(
        "/list/2/",
        Response::html(listing(&[], "", &next_link("/list/3/"))),
    );
    server.route("/list/3/", Response::html(listing(&["Three"], "", "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"\nmax_pages = 10",
        &server.url("/list/"),
    );
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert_eq!(titles(dir.path()), strings(&["One"]));
    assert_eq!(server.hits("/list/3/"), 0);
}

#[test]
fn an_unchanged_first_page_fetches_no_further_page() {
    let server = Server::start();
    server.route_conditional(
        "/list/",
        Response::html(listing(&["One"], "", &next_link("/list/2/"))).with_header("ETag", "\"v1\""),
    );
    server.route("/list/2/", Response::html(listing(&["Two"], "", "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"\nmax_pages = 2",
        &server.url("/list/"),
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    assert_eq!(server.hits("/list/2/"), 1);
    // Second run: the first page answers 304; page 2 is not asked for again.
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert_eq!(server.last_status("/list/"), Some(304));
    assert!(run.stderr.contains("page not modified"), "{}", run.stderr);
    assert_eq!(server.hits("/list/2/"), 1);
    assert_eq!(titles(dir.path()), strings(&["One", "Two"]));
    // The same bytes without validators: not walked either.
    server.route(
        "/list/",
        Response::html(listing(&["One"], "", &next_link("/list/2/"))),
    );
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert_eq!(server.hits("/list/"), 3);
    assert_eq!(server.hits("/list/2/"), 1);
}

#[test]
fn a_failing_further_page_warns_and_keeps_the_pages_before() {
    let server = Server::start();
    server.route(
        "/list/",
        Response::html(listing(&["One", "Two"], "", &next_link("/list/2/"))),
    );
    server.route("/list/2/", Response::status(500));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"\nmax_pages = 3",
        &server.url("/list/"),
    );
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert_eq!(titles(dir.path()), strings(&["One", "Two"]));
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("cannot fetch page 2") && all.contains(&server.url("/list/2/")),
        "{all}"
    );
}

#[test]
fn a_further_page_robots_txt_disallows_is_skipped_with_a_warning() {
    let server = Server::start();
    server.route(
        "/robots.txt",
        Response::new(200, "text/plain", "User-agent: *\nDisallow: /list/2/\n"),
    );
    server.route(
        "/list/",
        Response::html(listing(&["One"], "", &next_link("/list/2/"))),
    );
    server.route("/list/2/", Response::html(listing(&["Two"], "", "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"\nmax_pages = 3",
        &server.url("/list/"),
    );
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 0);
    assert_eq!(titles(dir.path()), strings(&["One"]));
    assert_eq!(server.hits("/list/2/"), 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("page 2") && all.contains("disallowed") && all.contains("robots.txt"),
        "{all}"
    );
}

#[test]
fn further_pages_wait_for_the_host_delay() {
    let server = Server::start();
    three_pages(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "host_delay = \"1s\"",
        "next_page = \"a.next\"\nmax_pages = 2",
        &server.url("/list/"),
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    // Sleeping guarantees the lower bound, so this holds on any machine however loaded.
    let first = server.requests("/list/")[0].at;
    let second = server.requests("/list/2/")[0].at;
    let gap = second.duration_since(first);
    assert!(gap >= Duration::from_millis(950), "pages {gap:?} apart");
}

#[test]
fn config_checks_max_pages_and_next_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), "", "max_pages = 0", "https://example.org/");
    let run = pagefeed(
        dir.path(),
        &["check", "--config", cfg.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("`max_pages` must be between 1 and 100"),
        "{}",
        run.stderr
    );
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = { selector = \"a[\" }",
        "https://example.org/",
    );
    let run = pagefeed(
        dir.path(),
        &["check", "--config", cfg.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("key `next_page`"), "{}", run.stderr);
}

#[test]
fn min_items_applies_to_the_whole_walk() {
    let server = Server::start();
    three_pages(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    // Two entries on the first page, five on the three pages together.
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"\nmax_pages = 3\nmin_items = 5",
        &server.url("/list/"),
    );
    assert_exit(&build(dir.path(), &cfg), 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "",
        "next_page = \"a.next\"\nmax_pages = 3\nmin_items = 6",
        &server.url("/list/"),
    );
    let run = build(dir.path(), &cfg);
    assert_exit(&run, 1);
    assert!(
        run.stderr.contains("found 5 entries") && run.stderr.contains("min_items = 6"),
        "{}",
        run.stderr
    );
}
