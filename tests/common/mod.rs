//! Shared parts of the integration tests: a small real HTTP/1.1 server on 127.0.0.1, a runner
//! for the real `pagefeed` binary, and readers that parse its output with the real feed parsers.
//!
//! The server answers from a route table the test can change between requests, counts the
//! requests per path, reads each request head fully (and any body by its `Content-Length`),
//! keeps connections alive unless the client asks for `Connection: close`, and always sends a
//! `Content-Length`.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Extra headers; `Content-Length` and `Connection` are written by the server.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (to make two clients overlap).
    pub delay: Duration,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// A 200 UTF-8 HTML page.
    pub fn html(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, "text/html; charset=utf-8", body)
    }

    /// A 200 HTML page whose `Content-Type` names no charset.
    pub fn html_no_charset(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, "text/html", body)
    }

    /// An error status with a short plain-text body.
    pub fn status(status: u16) -> Self {
        Self::new(
            status,
            "text/plain; charset=utf-8",
            format!("{status} {}\n", reason(status)),
        )
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Add the header `name: value`.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The value of the response header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Whether a request with `headers` (names lower-cased) may be answered `304` for `resp`.
fn not_modified(resp: &Response, headers: &[(String, String)]) -> bool {
    if resp.status != 200 {
        return false;
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    if let Some(inm) = get("if-none-match") {
        let Some(etag) = resp.header("ETag") else {
            return false;
        };
        let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
        return inm
            .split(',')
            .any(|t| t.trim() == "*" || strip(t) == strip(etag));
    }
    match (get("if-modified-since"), resp.header("Last-Modified")) {
        (Some(since), Some(lm)) => since == lm.trim(),
        _ => false,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Response>>,
    hits: Mutex<HashMap<String, usize>>,
    /// The headers of the last request per path (names lower-cased).
    last_headers: Mutex<HashMap<String, Vec<(String, String)>>>,
    /// Paths served in conditional mode (see [`Server::route_conditional`]).
    conditional: Mutex<HashSet<String>>,
    /// The status of the last answer per path.
    last_status: Mutex<HashMap<String, u16>>,
    /// Every request per path, in arrival order (see [`Server::requests`]).
    log: Mutex<HashMap<String, Vec<Recorded>>>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A real HTTP server on an ephemeral port of 127.0.0.1, stopped on drop.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let s = Arc::clone(&s);
                std::thread::spawn(move || serve_connection(stream, &s));
            }
        });
        Server {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// Serve `response` at `path` from now on (replacing what was there, and ending any
    /// conditional mode of `path`).
    pub fn route(&self, path: &str, response: Response) {
        lock(&self.shared.conditional).remove(path);
        lock(&self.shared.routes).insert(path.to_string(), response);
    }

    /// Serve `response` at `path` as a server that honours conditional requests: a request
    /// whose `If-None-Match` names the response's `ETag` (or, without `If-None-Match`, whose
    /// `If-Modified-Since` equals its `Last-Modified`) gets `304 Not Modified` with those two
    /// headers and no body. Give the response its validators with [`Response::with_header`].
    pub fn route_conditional(&self, path: &str, response: Response) {
        lock(&self.shared.routes).insert(path.to_string(), response);
        lock(&self.shared.conditional).insert(path.to_string());
    }

    /// The status of the last answer to `path` (`None` before its first request).
    pub fn last_status(&self, path: &str) -> Option<u16> {
        lock(&self.shared.last_status).get(path).copied()
    }

    /// How many requests `path` received.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.shared.hits).get(path).copied().unwrap_or(0)
    }

    /// Every request `path` received so far, in arrival order.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        lock(&self.shared.log)
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// The value of header `name` in the last request to `path`.
    pub fn last_header(&self, path: &str, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        lock(&self.shared.last_headers)
            .get(path)?
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// The parts of a request head the server needs.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    close: bool,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When its head had been read.
    pub at: Instant,
    pub method: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read one request head and its body (by `Content-Length`). `None` at end of stream or on
/// garbage.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    // Skip stray empty lines between requests (RFC 9112 allows them).
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let version = parts.next().unwrap_or("HTTP/1.0").to_string();
    let mut close = version == "HTTP/1.0";
    let mut content_length = 0usize;
    let mut head_bytes = line.len();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        let n = reader.read_line(&mut h).ok()?;
        if n == 0 {
            return None;
        }
        head_bytes += n;
        if head_bytes > 64 * 1024 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        let value = value.trim();
        headers.push((name.trim().to_ascii_lowercase(), value.to_string()));
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                close = true;
            } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                close = false;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Request bodies are never chunked in these tests; give up on the connection.
            return None;
        }
    }
    let mut body = vec![0u8; content_length];
    if content_length > 0 {
        reader.read_exact(&mut body).ok()?;
    }
    let path = target
        .split_once('?')
        .map_or(target.as_str(), |(p, _)| p)
        .to_string();
    Some(Request {
        method,
        path,
        headers,
        body,
        close,
    })
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        *lock(&shared.hits).entry(req.path.clone()).or_default() += 1;
        lock(&shared.last_headers).insert(req.path.clone(), req.headers.clone());
        lock(&shared.log)
            .entry(req.path.clone())
            .or_default()
            .push(Recorded {
                at: Instant::now(),
                method: req.method.clone(),
                headers: req.headers.clone(),
                body: req.body.clone(),
            });
        let mut resp = lock(&shared.routes)
            .get(&req.path)
            .cloned()
            .unwrap_or_else(|| Response::status(404));
        if lock(&shared.conditional).contains(&req.path) && not_modified(&resp, &req.headers) {
            let validators: Vec<(String, String)> = resp
                .headers
                .iter()
                .filter(|(k, _)| {
                    k.eq_ignore_ascii_case("etag") || k.eq_ignore_ascii_case("last-modified")
                })
                .cloned()
                .collect();
            resp = Response {
                status: 304,
                headers: validators,
                body: Vec::new(),
                delay: resp.delay,
            };
        }
        lock(&shared.last_status).insert(req.path.clone(), resp.status);
        if !resp.delay.is_zero() {
            std::thread::sleep(resp.delay);
        }
        let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
        if req.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let ok = writer.write_all(head.as_bytes()).is_ok()
            && writer.write_all(&resp.body).is_ok()
            && writer.flush().is_ok();
        if !ok || req.close {
            return;
        }
    }
}

// -------------------------------------------------------------------------------------------
// Running the binary.

/// What one run of `pagefeed` did.
#[derive(Debug)]
pub struct Run {
    /// Exit status; -1 when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The longest a single run may take before the test fails (generous for a loaded machine).
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Start `pagefeed ARGS` in `dir` with piped output; `wait_run` collects it.
pub fn spawn_pagefeed(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pagefeed"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the pagefeed binary")
}

/// Wait for a child started by [`spawn_pagefeed`], killing it past [`RUN_LIMIT`].
pub fn wait_run(mut child: std::process::Child) -> Run {
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for pagefeed") {
            break st;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pagefeed did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = String::from_utf8_lossy(&out_t.join().expect("stdout reader")).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().expect("stderr reader")).into_owned();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// Run `pagefeed ARGS` in `dir` and wait for it.
pub fn pagefeed(dir: &Path, args: &[&str]) -> Run {
    wait_run(spawn_pagefeed(dir, args))
}

// -------------------------------------------------------------------------------------------
// Reading what it wrote.

pub fn read_rss(path: &Path) -> rss::Channel {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    rss::Channel::read_from(&bytes[..])
        .unwrap_or_else(|e| panic!("{} is not valid RSS: {e}", path.display()))
}

pub fn read_atom(path: &Path) -> atom_syndication::Feed {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    atom_syndication::Feed::read_from(&bytes[..])
        .unwrap_or_else(|e| panic!("{} is not valid Atom: {e}", path.display()))
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Bytes and modification time of each file, to compare before and after a run.
pub fn snapshot(paths: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            let mtime = std::fs::metadata(p)
                .and_then(|m| m.modified())
                .unwrap_or_else(|e| panic!("mtime of {}: {e}", p.display()));
            (p.clone(), bytes, mtime)
        })
        .collect()
}

/// The names in `dir`, sorted (empty when it does not exist).
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// The `items` array of a JSON Feed.
pub fn json_items(feed: &serde_json::Value) -> &Vec<serde_json::Value> {
    feed["items"].as_array().expect("JSON Feed items array")
}

/// A string member of a JSON object; panics naming the key when it is missing.
pub fn json_str<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

/// The author names of a JSON Feed item.
pub fn json_authors(item: &serde_json::Value) -> Vec<String> {
    item["authors"]
        .as_array()
        .map(|a| a.iter().map(|p| json_str(p, "name").to_string()).collect())
        .unwrap_or_default()
}
