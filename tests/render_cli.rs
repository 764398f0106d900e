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

/// A launcher in `dir` that appends its process id and arguments to `dir/launches.log` (one
/// line per start) and runs Chromium with them (in the same process).
fn launcher(dir: &Path) -> PathBuf {
    let script = dir.join("chromium-launcher.sh");
    let log = dir.join("launches.log");
    let text = format!(
        "#!/bin/sh\nprintf '%s %s\\n' \"$$\" \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        chromium().display()
    );
    std::fs::write(&script, text).expect("write the launcher");
    let mut perms = std::fs::metadata(&script).expect("launcher").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).expect("make the launcher executable");
    script
}

/// Each line: the process id and the arguments of one browser start.
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
    run(dir, &["build"], config, browser)
}

/// `pagefeed ARGS --config CONFIG` with `PAGEFEED_CHROMIUM` set to `browser`.
fn run(dir: &Path, args: &[&str], config: &Path, browser: &Path) -> Run {
    let child = Command::new(env!("CARGO_BIN_EXE_pagefeed"))
        .args(args)
        .args(["--config", config.to_str().expect("utf-8 path")])
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
    let args: Vec<&str> = starts[0].split_whitespace().skip(1).collect();
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
    assert_profile_removed(&starts[0]);
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
fn check_live_and_preview_read_the_rendered_page() {
    let server = Server::start();
    server.route("/live/", Response::html(scripted(&["Alpha", "Beta"], "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = launcher(dir.path());
    let url = server.url("/live/");
    let cfg = write_config(
        dir.path(),
        "20s",
        &feed("live", &url, "render = \"chromium\""),
    );
    let check = run(dir.path(), &["check", "--live"], &cfg, &browser);
    assert_exit(&check, true);
    let preview = run(dir.path(), &["preview", "live"], &cfg, &browser);
    assert_exit(&preview, true);
    for title in ["Alpha", "Beta"] {
        assert!(preview.stdout.contains(title), "{}", preview.stdout);
    }
    assert_eq!(launches(dir.path()).len(), 2, "one browser per command");
    // Nothing was written.
    assert!(!dir.path().join("public").join("live.rss").exists());
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

/// The `--user-data-dir` of a start line no longer exists.
fn assert_profile_removed(start: &str) {
    let profile = start
        .split_whitespace()
        .find_map(|a| a.strip_prefix("--user-data-dir="))
        .unwrap_or_else(|| panic!("no --user-data-dir in {start}"));
    assert!(
        !Path::new(profile).exists(),
        "the temporary profile {profile} was not removed"
    );
}

/// The process id of a start line.
fn pid_of(start: &str) -> String {
    start
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no process id in {start}"))
        .to_string()
}

/// Whether process `pid` still runs (a zombie, waiting to be collected, does not).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Poll `cond` every 50 ms for up to 30 s; whether it held.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cond()
}

/// `METHOD PATH` to `addr` (HTTP/1.1, `Connection: close`): the status and the body as text.
fn http(addr: &str, method: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to pagefeed serve");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("read timeout");
    let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n{auth}\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// A `pagefeed serve` stopped when the test ends, also when it fails: SIGTERM (it then closes
/// its browser), and a kill after 15 s.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let end = std::time::Instant::now() + std::time::Duration::from_secs(15);
            while matches!(self.0.try_wait(), Ok(None)) && std::time::Instant::now() < end {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[test]
fn serve_keeps_one_browser_and_starts_it_again_when_it_died() {
    use std::io::Read;
    const TOKEN: &str = "render-admin-token-0123456789";
    let server = Server::start();
    server.route("/live/", Response::html(scripted(&["Alpha", "Beta"], "")));
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = launcher(dir.path());
    let cfg = write_config(
        dir.path(),
        "20s",
        &format!(
            "{}{}",
            feed(
                "live",
                &server.url("/live/"),
                "render = \"chromium\"\nrefresh = \"1h\""
            ),
            feed(
                "other",
                &server.url("/live/"),
                "render = \"chromium\"\nrefresh = \"1h\""
            ),
        ),
    );
    let cfg_text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(
        &cfg,
        cfg_text.replacen(
            "[settings]\n",
            &format!("[settings]\nadmin_token = \"{TOKEN}\"\n"),
            1,
        ),
    )
    .expect("write config");
    let mut serve = Stopped(
        Command::new(env!("CARGO_BIN_EXE_pagefeed"))
            .args(["serve", "--config", cfg.to_str().expect("utf-8 path")])
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env("PAGEFEED_CHROMIUM", &browser)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pagefeed serve"),
    );
    let child = &mut serve.0;
    let mut pipe = child.stderr.take().expect("stderr pipe");
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&stderr);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = sink.lock() {
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
    let log = || stderr.lock().map(|s| s.clone()).unwrap_or_default();
    let prefix = "pagefeed serve: listening on http://";
    let mut addr = String::new();
    let listening = eventually(|| {
        // Whole lines only: the reader thread may have stored half of the line so far.
        if let Some(line) = log()
            .split_inclusive('\n')
            .find(|l| l.starts_with(prefix) && l.ends_with('\n'))
        {
            let rest = &line[prefix.len()..];
            addr = rest.split('/').next().unwrap_or_default().to_string();
        }
        !addr.is_empty()
    });
    assert!(listening, "no listening line:\n{}", log());

    // Both feeds are rendered at start, in one browser.
    for name in ["live", "other"] {
        let served = eventually(|| {
            let (status, body) = http(&addr, "GET", &format!("/feeds/{name}.rss"), None);
            status == 200 && body.contains("Beta")
        });
        assert!(served, "{name} not served:\n{}", log());
    }
    let starts = launches(dir.path());
    assert_eq!(starts.len(), 1, "{starts:?}");

    // The browser dies; the next refresh starts another one.
    let first = pid_of(&starts[0]);
    let killed = Command::new("kill")
        .args(["-KILL", &first])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -KILL {first}");
    assert!(
        eventually(|| !running(&first)),
        "Chromium {first} still runs"
    );
    server.route(
        "/live/",
        Response::html(scripted(&["Alpha", "Beta", "Gamma"], "")),
    );
    let (status, body) = http(&addr, "POST", "/feeds/live/refresh", Some(TOKEN));
    assert_eq!(status, 200, "{body}\n--- stderr:\n{}", log());
    assert!(body.contains("\"changed\""), "{body}");
    let (_, rss) = http(&addr, "GET", "/feeds/live.rss", None);
    assert!(rss.contains("Gamma"), "{rss}");
    let starts = launches(dir.path());
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_profile_removed(&starts[0]);

    // Shutting down closes the browser and removes its profile.
    let second = pid_of(&starts[1]);
    let pid = child.id().to_string();
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(term.success(), "kill -TERM {pid}");
    let exited = eventually(|| matches!(child.try_wait(), Ok(Some(_))));
    drop(serve);
    let _ = reader.join();
    assert!(exited, "pagefeed serve did not exit:\n{}", log());
    assert!(
        eventually(|| !running(&second)),
        "Chromium {second} still runs"
    );
    assert_profile_removed(&starts[1]);
}
