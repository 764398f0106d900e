//! Pages built by JavaScript (`render = "chromium"`) over a real server on 127.0.0.1 with the
//! real binary and Debian's Chromium: entries that exist only after the page's script ran are
//! found in all three formats; `wait_for` that never matches fails the feed; a missing browser
//! says how to install it; the feeds of one build share one browser.
//!
//! These tests need Chromium (`apt-get install chromium`, or `PAGEFEED_CHROMIUM`); `.ci/run`
//! installs it, so they fail rather than skip without it. The browser is started through a
//! small launcher script that logs each start with its arguments and then runs Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Response, Run, Server, json_items, json_str, read_atom, read_json, read_rss};

const USER_AGENT: &str = "pagefeed-render-test/1.0";

/// The Chromium the tests drive: `PAGEFEED_CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PAGEFEED_CHROMIUM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.is_file(),
        "these tests need Chromium at {} (`apt-get install chromium`, or set PAGEFEED_CHROMIUM); .ci/run installs it",
        path.display()
    );
    path
}

/// A launcher in `dir` that appends its arguments to `dir/launches.log` (one line per start)
/// and runs Chromium with them.
fn launcher(dir: &Path) -> PathBuf {
    let script = dir.join("chromium-launcher.sh");
    let log = dir.join("launches.log");
    let text = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        chromium().display()
    );
    std::fs::write(&script, text).expect("write the launcher");
    let mut perms = std::fs::metadata(&script).expect("launcher").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).expect("make the launcher executable");
    script
}

/// Each line: the arguments of one browser start.
fn launches(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("launches.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A page whose list is empty in its HTML: its script adds one `li.entry` per title after a
/// pause. `more` goes after the list as it is (plain HTML).
fn scripted(titles: &[&str], more: &str) -> String {
    let entries: Vec<String> = titles
        .iter()
        .map(|t| format!("[\"{t}\", \"/a/{}\"]", t.to_lowercase()))
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><title>Live news</title></head><body>\
         <ul id=\"news\"></ul>{more}\
         <script>\
         setTimeout(function () {{\
           var list = document.getElementById('news');\
           [{}].forEach(function (e) {{\
             var li = document.createElement('li'); li.className = 'entry';\
             var a = document.createElement('a'); a.href = e[1]; a.textContent = e[0];\
             li.appendChild(a); list.appendChild(li);\
           }});\
         }}, 300);\
         </script></body></html>",
        entries.join(", ")
    )
}

/// A feed block `[feeds.NAME]` at `url` with `extra` keys, reading `li.entry`.
fn feed(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[feeds.{name}]\nurl = \"{url}\"\n{extra}\n\n\
         [feeds.{name}.items]\nselector = \"li.entry\"\ntitle = \"a\"\n\n"
    )
}

fn write_config(dir: &Path, timeout: &str, feeds: &str) -> PathBuf {
    let text = format!(
        "[settings]\noutput_dir = \"public\"\ntimeout = \"{timeout}\"\nhost_delay = \"0s\"\n\
         user_agent = \"{USER_AGENT}\"\n\n{feeds}"
    );
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `pagefeed build` with `PAGEFEED_CHROMIUM` set to `browser`.
fn build(dir: &Path, config: &Path, browser: &Path) -> Run {
    let child = Command::new(env!("CARGO_BIN_EXE_pagefeed"))
        .args(["build", "--config", config.to_str().expect("utf-8 path")])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("PAGEFEED_CHROMIUM", browser)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the pagefeed binary");
    common::wait_run(child)
}

fn assert_exit(run: &Run, ok: bool) {
    assert_eq!(
        run.code == 0,
        ok,
        "exit status {}\n--- stdout:\n{}\n--- stderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
}

fn rss_titles(dir: &Path, name: &str) -> Vec<String> {
    read_rss(&dir.join("public").join(format!("{name}.rss")))
        .items()
        .iter()
        .map(|i| i.title().unwrap_or("").to_string())
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn entries_a_script_adds_are_read_through_chromium_in_all_three_formats() {
    let server = Server::start();
    server.route("/live/", Response::html(scripted(&["Alpha", "Beta"], "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = launcher(dir.path());
    let url = server.url("/live/");

    // Fetched over HTTP, the page has no entries: the feed fails.
    let cfg = write_config(dir.path(), "20s", &feed("live", &url, ""));
    let plain = build(dir.path(), &cfg, &browser);
    assert_exit(&plain, false);
    assert!(plain.stderr.contains("feed live"), "{}", plain.stderr);
    assert!(
        launches(dir.path()).is_empty(),
        "no render feed, no browser"
    );

    // Rendered, the script's entries are there.
    let cfg = write_config(
        dir.path(),
        "20s",
        &feed("live", &url, "render = \"chromium\""),
    );
    let run = build(dir.path(), &cfg, &browser);
    assert_exit(&run, true);
    assert!(
        run.stderr.contains("live: 2 found, 2 new"),
        "{}",
        run.stderr
    );
    let public = dir.path().join("public");
    assert_eq!(rss_titles(dir.path(), "live"), strings(&["Alpha", "Beta"]));
    let rss = read_rss(&public.join("live.rss"));
    let links: Vec<&str> = rss.items().iter().filter_map(|i| i.link()).collect();
    assert_eq!(links, [server.url("/a/alpha"), server.url("/a/beta")]);
    let atom = read_atom(&public.join("live.atom"));
    let atom_titles: Vec<String> = atom
        .entries()
        .iter()
        .map(|e| e.title().value.clone())
        .collect();
    assert_eq!(atom_titles, strings(&["Alpha", "Beta"]));
    let json = read_json(&public.join("live.json"));
    let json_titles: Vec<&str> = json_items(&json)
        .iter()
        .map(|i| json_str(i, "title"))
        .collect();
    assert_eq!(json_titles, ["Alpha", "Beta"]);

    // The browser asked with pagefeed's User-Agent, was started once with exactly the
    // flags asked for, and its temporary profile is gone.
    assert_eq!(
        server.last_header("/live/", "user-agent").as_deref(),
        Some(USER_AGENT)
    );
    let starts = launches(dir.path());
    assert_eq!(starts.len(), 1, "{starts:?}");
    let args: Vec<&str> = starts[0].split_whitespace().collect();
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ] {
        assert!(args.contains(&flag), "{flag} missing from {args:?}");
    }
    let profile = args
        .iter()
        .find_map(|a| a.strip_prefix("--user-data-dir="))
        .expect("a --user-data-dir");
    assert!(
        !Path::new(profile).exists(),
        "the temporary profile {profile} was not removed"
    );
    for a in &args {
        assert!(
            a.starts_with("--"),
            "unexpected argument {a} in {args:?}: no page is opened at start"
        );
    }

    // The same rendered page again: not read again.
    let again = build(dir.path(), &cfg, &browser);
    assert_exit(&again, true);
    assert!(
        again.stderr.contains("live: page not modified"),
        "{}",
        again.stderr
    );
}

#[test]
fn wait_for_that_never_matches_fails_the_feed_naming_selector_and_url() {
    let server = Server::start();
    server.route("/live/", Response::html(scripted(&["Alpha"], "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = launcher(dir.path());
    let url = server.url("/live/");
    let cfg = write_config(
        dir.path(),
        "2s",
        &feed(
            "live",
            &url,
            "render = \"chromium\"\nwait_for = \"li.never-there\"",
        ),
    );
    let run = build(dir.path(), &cfg, &browser);
    assert_exit(&run, false);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("live: FAILED"))
        .unwrap_or_else(|| panic!("no failure line\n{}", run.stderr));
    for part in ["feed live", "li.never-there", url.as_str(), "wait_for"] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    assert!(!dir.path().join("public").join("live.rss").exists());
}

#[test]
fn a_missing_browser_says_how_to_install_it() {
    let server = Server::start();
    server.route("/live/", Response::html(scripted(&["Alpha"], "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "20s",
        &feed("live", &server.url("/live/"), "render = \"chromium\""),
    );
    let run = build(dir.path(), &cfg, Path::new("/nonexistent"));
    assert_exit(&run, false);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("live: FAILED"))
        .unwrap_or_else(|| panic!("no failure line\n{}", run.stderr));
    for part in [
        "feed live",
        "/nonexistent",
        "apt-get install chromium",
        "PAGEFEED_CHROMIUM",
    ] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    // Nothing was loaded: the page was never asked for.
    assert_eq!(server.hits("/live/"), 0);
}

#[test]
fn the_feeds_of_one_build_share_one_browser_and_further_pages_are_rendered() {
    let server = Server::start();
    server.route(
        "/live/",
        Response::html(scripted(
            &["Alpha", "Beta"],
            "<a class=\"next\" href=\"/live/2/\">Older</a>",
        )),
    );
    server.route("/live/2/", Response::html(scripted(&["Gamma"], "")));
    server.route("/other/", Response::html(scripted(&["Delta"], "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = launcher(dir.path());
    let feeds = format!(
        "{}{}",
        feed(
            "live",
            &server.url("/live/"),
            "render = \"chromium\"\nnext_page = { selector = \"a.next\" }\nmax_pages = 2",
        ),
        feed("other", &server.url("/other/"), "render = \"chromium\""),
    );
    let cfg = write_config(dir.path(), "20s", &feeds);
    let run = build(dir.path(), &cfg, &browser);
    assert_exit(&run, true);
    assert_eq!(
        rss_titles(dir.path(), "live"),
        strings(&["Alpha", "Beta", "Gamma"])
    );
    assert_eq!(rss_titles(dir.path(), "other"), strings(&["Delta"]));
    assert_eq!(server.hits("/live/2/"), 1);
    assert_eq!(launches(dir.path()).len(), 1, "{:?}", launches(dir.path()));
}

#[test]
fn config_checks_render_and_wait_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = launcher(dir.path());
    let cases = [
        (
            "render = \"firefox\"",
            "https://example.org/",
            "key `render`: must be \"chromium\"",
        ),
        (
            "wait_for = \"li\"",
            "https://example.org/",
            "key `wait_for`: only applies to pages loaded in a browser",
        ),
        (
            "render = \"chromium\"\nwait_for = \"li[\"",
            "https://example.org/",
            "key `wait_for`",
        ),
        (
            "render = \"chromium\"",
            "page.html",
            "key `render`: needs a page on the web",
        ),
    ];
    for (extra, url, message) in cases {
        let cfg = write_config(dir.path(), "20s", &feed("live", url, extra));
        let run = build(dir.path(), &cfg, &browser);
        assert_eq!(run.code, 2, "{extra}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{extra}: {}", run.stderr);
    }
    assert!(launches(dir.path()).is_empty());
}
