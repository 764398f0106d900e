//! The HTTP side of `serve`: feeds, the status page, OPML, health, metrics and the admin
//! refresh.
//!
//! Feed requests are the hot path. Everything a response needs was computed when the feed
//! was published (see [`super::store`]): a request looks the feed up, picks one of three
//! precompressed bodies by `Accept-Encoding`, compares validators and clones header values
//! and `Bytes`. Feed names are only ever matched against the config, never used as paths.

use std::borrow::Cow;
use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, ETAG, HOST, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER, VARY,
    WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

use super::guard::one_line;
use super::metrics::Metrics;
use super::store::{Encoding, FeedEntry, Representation, Store};
use crate::config::{Config, Format};
use crate::opml::OpmlFeed;

/// What an admin refresh returns: one attempt's outcome.
pub type RefreshFuture = Pin<Box<dyn Future<Output = RefreshOutcome> + Send>>;
/// Starts a refresh of the named feed (the scheduler provides it).
pub type RefreshHandle = Arc<dyn Fn(String) -> RefreshFuture + Send + Sync>;

/// The JSON answer of `POST /feeds/<name>/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefreshOutcome {
    pub feed: String,
    /// `"changed"`, `"unchanged"` or `"failed"`.
    pub status: String,
    pub items: usize,
    pub error: Option<String>,
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub refresh: RefreshHandle,
    /// True while the scheduler runs; `/healthz` reports it.
    pub running: Arc<AtomicBool>,
}

type App = Arc<AppState>;

/// Longest `Cache-Control: max-age` of a feed, and the one used when the next refresh is
/// not known.
const MAX_AGE: u64 = 3600;
/// `Retry-After` of a feed not built yet whose next refresh is not known.
const RETRY_AFTER_UNKNOWN: u64 = 10;

/// The routes of the HTTP service (feeds included, from the fallback).
///
/// Feeds (`GET|HEAD /feeds/<name>.<ext>`) are answered from the fallback rather than from a
/// route with a path parameter: that skips the router's parameter extraction (allocations
/// per request). `serve` puts [`FeedsFirst`] in front, which answers them before the router.
pub fn router(state: AppState) -> Router {
    routes(Arc::new(state))
}

fn routes(app: App) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/feeds/{name}/refresh", post(refresh))
        .route("/opml", get(opml))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// The whole HTTP service: `GET` and `HEAD` of a feed, which carry nearly all the traffic,
/// are answered at once, without the router (its matching, its boxed request body and
/// future, its extractors: measured, about a quarter of the instructions of a 304
/// answer); every other request goes on to [`router`]'s routes and `more` (the feed
/// builder's). Both paths give the same answer to a feed request.
#[derive(Clone)]
pub struct FeedsFirst {
    app: App,
    router: Router,
}

impl FeedsFirst {
    pub fn new(state: AppState, more: Router) -> FeedsFirst {
        let app = Arc::new(state);
        FeedsFirst {
            router: routes(Arc::clone(&app)).merge(more),
            app,
        }
    }
}

impl<B> tower_service::Service<axum::http::Request<B>> for FeedsFirst
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::Either<
        std::future::Ready<Result<Response, std::convert::Infallible>>,
        axum::routing::future::RouteFuture<std::convert::Infallible>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let (parts, body) = req.into_parts();
        if matches!(parts.method, Method::GET | Method::HEAD)
            && let Some(file) = feed_file(parts.uri.path())
        {
            let res = answer_feed(&self.app, file, &parts.method, parts.headers);
            return futures::future::Either::Left(std::future::ready(Ok(res)));
        }
        let req = axum::http::Request::from_parts(parts, body);
        futures::future::Either::Right(self.router.call(req))
    }
}

// ---------------------------------------------------------------------------------------------
// Feeds.

/// Feeds, and 404 for everything else no route takes.
async fn fallback(State(app): State<App>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let Some(file) = feed_file(parts.uri.path()) else {
        let response = text(StatusCode::NOT_FOUND, "not found\n");
        app.metrics.request(response.status().as_u16());
        return response;
    };
    answer_feed(&app, file, &parts.method, parts.headers)
}

/// The answer to a request for `/feeds/<file>`, counted in the metrics. `headers` are the
/// request's; a feed's answer reuses their map (see [`serve_feed`]).
fn answer_feed(app: &AppState, file: &str, method: &Method, headers: HeaderMap) -> Response {
    let response = if !matches!(*method, Method::GET | Method::HEAD) {
        let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET,HEAD"));
        res
    } else {
        match percent_decode(file) {
            Some(file) => serve_feed(app, &file, method, headers, Utc::now()),
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    };
    app.metrics.request(response.status().as_u16());
    response
}

/// The `<name>.<ext>` of a `/feeds/<name>.<ext>` path, still percent-encoded.
fn feed_file(path: &str) -> Option<&str> {
    path.strip_prefix("/feeds/")
        .filter(|f| !f.is_empty() && !f.contains('/'))
}

/// `%XX` escapes decoded; `None` when an escape is broken or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The answer to `file` (`<name>.<ext>`, decoded). The request's header map, done with once
/// the encoding and validators are read, is emptied and carries the answer's headers: its
/// allocation is reused rather than a map built and another dropped per request (hyper
/// keeps the map of each response it writes for the next request's head, so on a
/// keep-alive connection one map goes round with no allocation).
fn serve_feed(
    app: &AppState,
    file: &str,
    method: &Method,
    headers: HeaderMap,
    now: DateTime<Utc>,
) -> Response {
    let Some((name, ext)) = file.rsplit_once('.') else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Some(format) = Format::ALL.into_iter().find(|f| f.ext() == ext) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Some(entry) = app.store.get(name) else {
        return text(StatusCode::NOT_FOUND, "no such feed\n");
    };
    if !entry.has_format(format) {
        return text(
            StatusCode::NOT_FOUND,
            "this feed is not published in that format\n",
        );
    }
    let Some(rep) = entry.representation(format) else {
        let mut res = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "this feed has not been built yet\n",
        );
        let retry = entry.status.next_refresh.map_or(RETRY_AFTER_UNKNOWN, |t| {
            seconds_until(t, now).clamp(1, MAX_AGE)
        });
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(retry));
        return res;
    };

    let encoding = negotiate(&headers);
    let body = rep.encoded(encoding);
    let fresh = not_modified(&headers, rep);
    let mut h = headers;
    h.clear();
    h.insert(ETAG, body.etag.clone());
    h.insert(LAST_MODIFIED, rep.last_modified_header.clone());
    h.insert(CACHE_CONTROL, cache_control(&entry, now));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if fresh {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        *res.headers_mut() = h;
        return res;
    }
    h.insert(CONTENT_TYPE, rep.content_type.clone());
    h.insert(CONTENT_LENGTH, body.content_length.clone());
    if let Some(token) = encoding.token() {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(token));
    }
    let mut res = if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body.bytes.clone()))
    };
    *res.headers_mut() = h;
    res
}

/// Whole seconds from `now` to `t`, 0 when `t` is past.
fn seconds_until(t: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((t - now).num_seconds()).unwrap_or(0)
}

/// `public, max-age=N`, N the seconds to the feed's next refresh, at most an hour.
fn cache_control(entry: &FeedEntry, now: DateTime<Utc>) -> HeaderValue {
    let secs = entry
        .status
        .next_refresh
        .map_or(MAX_AGE, |t| seconds_until(t, now).min(MAX_AGE));
    // One static value per possible N, so a request neither formats nor allocates it.
    static TABLE: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut text = String::new();
        let mut ranges = Vec::with_capacity(MAX_AGE as usize + 1);
        for n in 0..=MAX_AGE {
            let start = text.len();
            let _ = write!(text, "public, max-age={n}");
            ranges.push(start..text.len());
        }
        let text: &'static str = Box::leak(text.into_boxed_str());
        ranges
            .into_iter()
            .map(|r| HeaderValue::from_static(&text[r]))
            .collect()
    });
    table
        .get(secs as usize)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("public, max-age=3600"))
}

/// Whether the client's copy is current. `If-None-Match` wins when present: it matches any
/// of the representation's ETags (identity, gzip, brotli), compared weakly, or `*`. Without
/// it, `If-Modified-Since` at or after `Last-Modified` matches.
fn not_modified(headers: &HeaderMap, rep: &Representation) -> bool {
    if headers.contains_key(IF_NONE_MATCH) {
        let ours = rep.etags().map(HeaderValue::as_bytes);
        return headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .any(|v| etag_list_matches(v.as_bytes(), &ours));
    }
    headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .is_some_and(|since| rep.last_modified <= since)
}

/// Whether an `If-None-Match` field value (`*` or a list of entity tags, weak or strong)
/// names one of `ours` (quoted strong tags). Malformed members are skipped; an unquoted
/// member is compared with the tags' insides, for clients that drop the quotes.
fn etag_list_matches(list: &[u8], ours: &[&[u8]]) -> bool {
    let mut rest = list;
    loop {
        rest = trim_start(rest, |b| matches!(b, b' ' | b'\t' | b','));
        let Some(&first) = rest.first() else {
            return false;
        };
        if first == b'*' {
            return true;
        }
        let member = rest.strip_prefix(b"W/").unwrap_or(rest);
        if member.first() == Some(&b'"') {
            let Some(len) = member[1..].iter().position(|&b| b == b'"') else {
                return false;
            };
            let tag = &member[..len + 2];
            if ours.contains(&tag) {
                return true;
            }
            rest = &member[len + 2..];
        } else {
            let end = member
                .iter()
                .position(|&b| b == b',')
                .unwrap_or(member.len());
            let bare = trim_end(&member[..end], |b| matches!(b, b' ' | b'\t'));
            if !bare.is_empty()
                && ours
                    .iter()
                    .any(|t| t.len() == bare.len() + 2 && &t[1..t.len() - 1] == bare)
            {
                return true;
            }
            rest = &member[end..];
        }
    }
}

fn trim_start(s: &[u8], f: impl Fn(u8) -> bool) -> &[u8] {
    let n = s.iter().take_while(|b| f(**b)).count();
    &s[n..]
}

fn trim_end(s: &[u8], f: impl Fn(u8) -> bool) -> &[u8] {
    let n = s.iter().rev().take_while(|b| f(**b)).count();
    &s[..s.len() - n]
}

/// An HTTP date in any of the three forms HTTP allows (IMF-fixdate, RFC 850, asctime).
fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .map(|t| t.and_utc())
}

/// The body to send by `Accept-Encoding`: the acceptable coding with the highest q-value,
/// brotli before gzip on a tie, identity when neither is acceptable (`q=0` excludes, `*`
/// stands for codings not listed) or when identity is listed with a higher q-value.
fn negotiate(headers: &HeaderMap) -> Encoding {
    let (mut br, mut gzip, mut identity, mut star) = (None, None, None, None);
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for member in value.split(',') {
            let mut parts = member.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let mut q = Some(1.0f32);
            for param in parts {
                let param = param.trim();
                if let Some(v) = param
                    .strip_prefix("q=")
                    .or_else(|| param.strip_prefix("Q="))
                {
                    q = v
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q));
                }
            }
            let Some(q) = q else {
                continue;
            };
            let slot = if coding.eq_ignore_ascii_case("br") {
                &mut br
            } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if coding.eq_ignore_ascii_case("identity") {
                &mut identity
            } else if coding == "*" {
                &mut star
            } else {
                continue;
            };
            *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    let best = br.max(gzip);
    if best <= 0.0 || identity.is_some_and(|i| i > best) {
        Encoding::Identity
    } else if br >= gzip {
        Encoding::Brotli
    } else {
        Encoding::Gzip
    }
}

// ---------------------------------------------------------------------------------------------
// The status page.

async fn status_page(State(app): State<App>) -> Response {
    let html = render_status_page(&app, Utc::now());
    app.metrics.request(200);
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response()
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Rss => "RSS",
        Format::Atom => "Atom",
        Format::Json => "JSON Feed",
    }
}

/// Each field's coverage in the last good run, and the last refresh's warnings.
fn health_cell(out: &mut String, s: &crate::serve::store::FeedStatus) {
    if let Some(c) = &s.coverage {
        let _ = write!(
            out,
            "<div class=\"muted coverage\">coverage of {} entr{}: ",
            c.entries,
            if c.entries == 1 { "y" } else { "ies" }
        );
        for (i, field) in c.fields.keys().enumerate() {
            if i > 0 {
                out.push_str(" · ");
            }
            let pct = (c.share(field) * 100.0).round();
            let _ = write!(out, "{} {pct}%", escape_html(field));
        }
        out.push_str("</div>");
    }
    for w in &s.warnings {
        let _ = write!(out, "<div class=\"warn\">warning: {}</div>", escape_html(w));
    }
}

fn render_status_page(app: &AppState, now: DateTime<Utc>) -> String {
    let entries = app.store.all();
    let running = app.running.load(Ordering::Relaxed);
    let mut out = String::with_capacity(2048 + entries.len() * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>pagefeed: {} feed{}</title>",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    );
    for entry in &entries {
        for format in entry.formats() {
            let _ = writeln!(
                out,
                "<link rel=\"alternate\" type=\"{}\" title=\"{}\" href=\"{}\">",
                format.content_type(),
                escape_html(&entry.status.title),
                escape_html(&feed_path(&entry.name, *format)),
            );
        }
    }
    out.push_str(concat!(
        "<style>\n",
        "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:75rem;padding:0 1rem;color:#222}\n",
        "table{border-collapse:collapse;width:100%}\n",
        "th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}\n",
        "td.n{text-align:right}.muted{color:#666;font-size:.9em}\n",
        ".error{color:#b00020;font-weight:600}.ok{color:#1b5e20}.warn{color:#8a5a00}\n",
        "</style>\n</head>\n<body>\n<h1>pagefeed</h1>\n",
    ));
    let faults = entries
        .iter()
        .filter(|e| e.status.fault.is_some() || e.status.schedule_fault.is_some())
        .count();
    let _ = write!(
        out,
        "<p>{} feed{}. The scheduler is {}.",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        if running {
            "<span class=\"ok\">running</span>"
        } else {
            "<span class=\"error\">stopped</span>"
        },
    );
    if faults > 0 {
        let _ = write!(
            out,
            " <span class=\"error\">{faults} feed{} hit a bug in pagefeed: see <a href=\"/healthz\">health</a>.</span>",
            if faults == 1 { "" } else { "s" }
        );
    }
    out.push_str(
        " <a href=\"/opml\">OPML</a> · <a href=\"/metrics\">metrics</a> · <a href=\"/new\">new feed</a></p>\n",
    );
    out.push_str(concat!(
        "<table>\n<thead><tr><th scope=\"col\">Feed</th><th scope=\"col\">Items</th>",
        "<th scope=\"col\">Last refresh</th><th scope=\"col\">Next refresh</th>",
        "<th scope=\"col\">Status</th><th scope=\"col\">Subscribe</th></tr></thead>\n<tbody>\n",
    ));
    for entry in &entries {
        let s = &entry.status;
        let _ = write!(out, "<tr id=\"feed-{}\"><td>", escape_html(&entry.name));
        match web_url(&s.link) {
            Some(link) => {
                let _ = write!(
                    out,
                    "<a href=\"{}\">{}</a>",
                    escape_html(link),
                    escape_html(&s.title)
                );
            }
            None => out.push_str(&escape_html(&s.title)),
        }
        let _ = write!(out, "<div class=\"muted\">{}", escape_html(&entry.name));
        if !s.description.trim().is_empty() {
            let _ = write!(out, " · {}", escape_html(s.description.trim()));
        }
        let _ = write!(out, "</div></td><td class=\"n\">{}</td><td>", s.items);
        time_cell(&mut out, s.last_refresh, now, "never");
        out.push_str("</td><td>");
        time_cell(&mut out, s.next_refresh, now, "not scheduled");
        out.push_str("</td><td>");
        let built = entry
            .formats()
            .iter()
            .any(|f| entry.representation(*f).is_some());
        match &s.last_error {
            Some(error) => {
                let _ = write!(
                    out,
                    "<span class=\"error\">failed: {}</span>",
                    escape_html(error)
                );
                if built {
                    out.push_str("<div class=\"muted\">serving the last good version");
                    if let Some(t) = s.last_success {
                        out.push_str(" from ");
                        time_cell(&mut out, Some(t), now, "");
                    }
                    out.push_str("</div>");
                }
            }
            None if built => out.push_str("<span class=\"ok\">ok</span>"),
            None => out.push_str("not built yet"),
        }
        if let Some(fault) = &s.schedule_fault {
            let _ = write!(out, "<div class=\"error\">{}</div>", escape_html(fault));
        }
        health_cell(&mut out, s);
        out.push_str("</td><td>");
        for (i, format) in entry.formats().iter().enumerate() {
            if i > 0 {
                out.push_str(" · ");
            }
            let _ = write!(
                out,
                "<a href=\"{}\" type=\"{}\">{}</a>",
                escape_html(&feed_path(&entry.name, *format)),
                format.content_type(),
                format_name(*format)
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}

/// `<time>` with an absolute UTC time and how far it is from `now`.
fn time_cell(out: &mut String, t: Option<DateTime<Utc>>, now: DateTime<Utc>, none: &str) {
    let Some(t) = t else {
        out.push_str(none);
        return;
    };
    let _ = write!(
        out,
        "<time datetime=\"{}\">{}</time> <span class=\"muted\">({})</span>",
        t.format("%Y-%m-%dT%H:%M:%SZ"),
        t.format("%Y-%m-%d %H:%M:%S UTC"),
        relative(t, now)
    );
}

fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let n = secs.unsigned_abs();
    let span = if n < 60 {
        format!("{n} s")
    } else if n < 3600 {
        format!("{} min", n / 60)
    } else if n < 2 * 86400 {
        format!("{} h {} min", n / 3600, n % 3600 / 60)
    } else {
        format!("{} days", n / 86400)
    };
    if secs >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// The site link when it is an http(s) URL (anything else is not linked).
fn web_url(link: &str) -> Option<&str> {
    let url = url::Url::parse(link).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(link)
}

fn feed_path(name: &str, format: Format) -> String {
    format!("/feeds/{name}.{}", format.ext())
}

/// Text for HTML element content and quoted attribute values.
pub(super) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// OPML, health, metrics.

async fn opml(State(app): State<App>, req: Request) -> Response {
    let base = match &app.config.settings.base_url {
        Some(base) => Some(base.clone()),
        None => {
            let host = req
                .uri()
                .authority()
                .map(|a| a.as_str())
                .or_else(|| req.headers().get(HOST).and_then(|h| h.to_str().ok()))
                .filter(|h| valid_host(h))
                .unwrap_or(app.config.settings.listen.as_str());
            url::Url::parse(&format!("http://{host}/feeds/")).ok()
        }
    };
    let Some(base) = base else {
        app.metrics.request(500);
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot build feed URLs\n",
        );
    };
    let feeds: Vec<OpmlFeed> = app
        .store
        .all()
        .iter()
        .filter_map(|entry| {
            // RSS as the OPML convention has it; a feed without RSS lists its first format.
            let format = if entry.has_format(Format::Rss) {
                Format::Rss
            } else {
                *entry.formats().first()?
            };
            let xml_url = base
                .join(&format!("{}.{}", entry.name, format.ext()))
                .ok()?;
            let html_url = web_url(&entry.status.link).map(str::to_string).or_else(|| {
                app.config
                    .feed(&entry.name)
                    .and_then(|f| f.site_url.as_ref())
                    .map(|u| u.to_string())
            });
            Some(OpmlFeed {
                name: entry.name.clone(),
                title: entry.status.title.clone(),
                html_url,
                xml_url: xml_url.to_string(),
            })
        })
        .collect();
    app.metrics.request(200);
    (
        [
            (CONTENT_TYPE, "text/x-opml; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        crate::opml::export("pagefeed feeds", &feeds),
    )
        .into_response()
}

/// A `Host` value fit to put in a URL: a name or address and an optional port.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

/// `200 ok` while the service works as it should; `503` with one line per problem when the
/// scheduler is not running (shutting down), a feed's last refresh panicked or a feed's
/// schedule task died. A feed that fails for ordinary reasons (its site is down, its
/// selectors match nothing) is not a problem of the service: it shows on the status page and
/// in `/metrics`, not here.
async fn healthz(State(app): State<App>) -> Response {
    let body = health_report(&app);
    let mut res = if body.is_empty() {
        text(StatusCode::OK, "ok")
    } else {
        let mut res = text(StatusCode::SERVICE_UNAVAILABLE, "");
        *res.body_mut() = Body::from(body);
        res
    };
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    app.metrics.request(res.status().as_u16());
    res
}

/// The problems `/healthz` reports, one per line; empty when there are none.
fn health_report(app: &AppState) -> String {
    let mut out = String::new();
    if !app.running.load(Ordering::Relaxed) {
        out.push_str("scheduler not running\n");
    }
    for entry in app.store.all() {
        for fault in [&entry.status.fault, &entry.status.schedule_fault]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(out, "feed {}: {}", entry.name, one_line(fault));
        }
    }
    out
}

async fn metrics(State(app): State<App>) -> Response {
    app.metrics.request(200);
    (
        [
            (CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        app.metrics.render(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Admin refresh.

async fn refresh(
    State(app): State<App>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let res = admin_refresh(&app, name.ok().map(|Path(n)| n), &headers).await;
    app.metrics.request(res.status().as_u16());
    res
}

async fn admin_refresh(app: &AppState, name: Option<String>, headers: &HeaderMap) -> Response {
    let Some(token) = app.config.settings.admin_token.as_deref() else {
        return text(
            StatusCode::FORBIDDEN,
            "refreshing over HTTP is off: set admin_token in [settings]\n",
        );
    };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    if !given.is_some_and(|g| same_secret(g, token)) {
        let mut res = text(StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n");
        res.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return res;
    }
    // The store holds every configured feed, those the feed builder added too.
    let Some(name) = name.filter(|n| app.store.get(n).is_some()) else {
        return text(StatusCode::NOT_FOUND, "no such feed\n");
    };
    // Spawned, so a client that hangs up does not cancel a refresh half-way.
    let outcome = match tokio::spawn((app.refresh)(name.clone())).await {
        Ok(outcome) => outcome,
        Err(e) => RefreshOutcome {
            feed: name,
            status: "failed".into(),
            items: 0,
            error: Some(format!("the refresh task failed: {e}")),
        },
    };
    let status = if outcome.status == "failed" {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    let mut res = (status, axum::Json(outcome)).into_response();
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Compares two secrets in time that depends on neither: both are hashed, and the digests
/// compared without an early exit.
pub(super) fn same_secret(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

// ---------------------------------------------------------------------------------------------
// Errors.

async fn method_not_allowed(State(app): State<App>) -> Response {
    app.metrics.request(405);
    text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
}

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::item::FeedMeta;
    use crate::refresh::Rendered;
    use axum::http::Request as HttpRequest;
    use std::io::Read;
    use std::sync::Mutex;
    use tower::ServiceExt;

    const TOKEN: &str = "s3cret-admin-token";

    fn config_text(base_url: bool, admin: bool) -> String {
        let mut s = String::from("[settings]\nlisten = \"127.0.0.1:8899\"\n");
        if base_url {
            s.push_str("base_url = \"https://feeds.example.org/pub/\"\n");
        }
        if admin {
            s.push_str(&format!("admin_token = \"{TOKEN}\"\n"));
        }
        s.push_str(
            r#"
[feeds.alpha]
url = "https://example.org/a"
title = "Alpha & <Omega> \"quoted\""
site_url = "https://example.org/"
[feeds.alpha.items]
selector = "article"
title = "h2"

[feeds.beta]
url = "https://example.org/b"
title = "Beta"
formats = ["atom", "json"]
[feeds.beta.items]
selector = "article"
title = "h2"
"#,
        );
        s
    }

    struct Fixture {
        state: AppState,
        calls: Arc<Mutex<Vec<String>>>,
    }

    fn fixture(base_url: bool, admin: bool) -> Fixture {
        let path = std::path::Path::new("/tmp/pagefeed-http-test/pagefeed.toml");
        let config = Arc::new(crate::config::parse(path, &config_text(base_url, admin)).unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let refresh: RefreshHandle = Arc::new(move |name: String| -> RefreshFuture {
            seen.lock().unwrap().push(name.clone());
            Box::pin(async move {
                if name == "beta" {
                    RefreshOutcome {
                        feed: name,
                        status: "failed".into(),
                        items: 0,
                        error: Some("https://example.org/b: HTTP 500".into()),
                    }
                } else {
                    RefreshOutcome {
                        feed: name,
                        status: "changed".into(),
                        items: 3,
                        error: None,
                    }
                }
            })
        });
        let state = AppState {
            store: Arc::new(Store::new(&config)),
            config,
            metrics: Arc::new(Metrics::new()),
            refresh,
            running: Arc::new(AtomicBool::new(true)),
        };
        Fixture { state, calls }
    }

    const RSS: &str = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Alpha</title>\
        <item><title>One</title></item><item><title>Two</title></item></channel></rss>\n";

    fn publish(state: &AppState, name: &str, body: &str, at: DateTime<Utc>) {
        let rendered = Rendered {
            files: Format::ALL
                .iter()
                .map(|f| (*f, format!("{}:{body}", f.ext()).into_bytes()))
                .map(|(f, b)| {
                    if f == Format::Rss {
                        (f, body.as_bytes().to_vec())
                    } else {
                        (f, b)
                    }
                })
                .collect(),
            items: 2,
            meta: FeedMeta {
                name: name.into(),
                title: "Alpha & <Omega> \"quoted\"".into(),
                description: "News <b>from</b> alpha".into(),
                link: "https://example.org/news?a=1&b=2".into(),
                language: None,
                time_zone: chrono_tz::UTC,
                self_base: None,
                hub: None,
            },
        };
        state.store.publish(name, &rendered, at);
    }

    fn published() -> (Fixture, Arc<Representation>) {
        let f = fixture(true, true);
        publish(
            &f.state,
            "alpha",
            RSS,
            Utc::now() - chrono::Duration::hours(1),
        );
        let rep = f
            .state
            .store
            .get("alpha")
            .unwrap()
            .representation(Format::Rss)
            .unwrap()
            .clone();
        (f, rep)
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> HttpRequest<Body> {
        let mut b = HttpRequest::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    /// Through the service `serve` runs: feeds answered before the router, the rest by it.
    async fn send(state: &AppState, req: HttpRequest<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let res = FeedsFirst::new(state.clone(), Router::new())
            .oneshot(req)
            .await
            .unwrap();
        into_parts(res).await
    }

    /// Through the routes alone, where feeds come from the fallback.
    async fn send_routed(
        state: &AppState,
        req: HttpRequest<Body>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        into_parts(router(state.clone()).oneshot(req).await.unwrap()).await
    }

    async fn into_parts(res: Response) -> (StatusCode, HeaderMap, Vec<u8>) {
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        (status, headers, body)
    }

    async fn get(
        state: &AppState,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        send(state, req("GET", uri, headers)).await
    }

    fn h<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
    }

    fn max_age(headers: &HeaderMap) -> u64 {
        h(headers, "cache-control")
            .strip_prefix("public, max-age=")
            .unwrap()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn serves_a_feed_with_exact_body_and_headers() {
        let (f, rep) = published();
        f.state.store.update_status("alpha", |s| {
            s.next_refresh = Some(Utc::now() + chrono::Duration::seconds(600));
        });
        let (status, headers, body) = get(&f.state, "/feeds/alpha.rss", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, RSS.as_bytes());
        assert_eq!(
            h(&headers, "content-type"),
            "application/rss+xml; charset=utf-8"
        );
        assert_eq!(h(&headers, "content-length"), RSS.len().to_string());
        assert_eq!(h(&headers, "etag"), rep.identity.etag.to_str().unwrap());
        assert_eq!(
            h(&headers, "last-modified"),
            crate::serve::store::http_date(rep.last_modified)
        );
        assert!(h(&headers, "last-modified").ends_with(" GMT"));
        assert_eq!(h(&headers, "vary"), "Accept-Encoding");
        assert!((598..=600).contains(&max_age(&headers)), "{headers:?}");
        assert!(headers.get("content-encoding").is_none());

        let (_, headers, body) = get(&f.state, "/feeds/alpha.atom", &[]).await;
        assert_eq!(
            h(&headers, "content-type"),
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(body, format!("atom:{RSS}").as_bytes());
        let (_, headers, _) = get(&f.state, "/feeds/alpha.json", &[]).await;
        assert_eq!(
            h(&headers, "content-type"),
            "application/feed+json; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn feeds_first_answers_feeds_as_the_routes_do() {
        let (fx, rep) = published();
        let etag = rep
            .encoded(Encoding::Identity)
            .etag
            .to_str()
            .unwrap()
            .to_string();
        let gz = rep
            .encoded(Encoding::Gzip)
            .etag
            .to_str()
            .unwrap()
            .to_string();
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            ("GET", "/feeds/alpha.rss", vec![]),
            ("HEAD", "/feeds/alpha.rss", vec![]),
            (
                "GET",
                "/feeds/alpha.rss",
                vec![("if-none-match", etag.as_str())],
            ),
            ("GET", "/feeds/alpha.rss", vec![("accept-encoding", "gzip")]),
            (
                "GET",
                "/feeds/alpha.rss",
                vec![("if-none-match", gz.as_str())],
            ),
            ("GET", "/feeds/%61lpha.rss", vec![]),
            ("GET", "/feeds/%zz.rss", vec![]),
            ("GET", "/feeds/alpha.xml", vec![]),
            ("GET", "/feeds/nope.rss", vec![]),
            ("GET", "/feeds/", vec![]),
            ("GET", "/feeds/a/b.rss", vec![]),
            ("POST", "/feeds/alpha.rss", vec![]),
            ("GET", "/nothing", vec![]),
        ];
        for (method, uri, headers) in cases {
            // As on the wire: hyper gives a body of known size its `Content-Length` when the
            // response has none (the router adds it before), and sends none with a 304.
            let wire = |(status, mut h, body): (StatusCode, HeaderMap, Vec<u8>)| {
                if status == StatusCode::NOT_MODIFIED {
                    h.remove(CONTENT_LENGTH);
                } else if !h.contains_key(CONTENT_LENGTH) {
                    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
                }
                (status, h, body)
            };
            let fast = wire(send(&fx.state, req(method, uri, &headers)).await);
            let routed = wire(send_routed(&fx.state, req(method, uri, &headers)).await);
            assert_eq!(fast, routed, "{method} {uri} {headers:?}");
        }
        // Each answer was counted once, whichever way it went (four 200s and two 304s, each
        // asked both ways).
        let metrics = fx.state.metrics.render();
        assert!(
            metrics.contains("responses_total{code=\"200\"} 8\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains("responses_total{code=\"304\"} 4\n"),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn max_age_is_time_to_next_refresh_clamped_to_an_hour() {
        let (f, _) = published();
        // Unknown next refresh: an hour.
        let (_, headers, _) = get(&f.state, "/feeds/alpha.rss", &[]).await;
        assert_eq!(max_age(&headers), 3600);
        f.state.store.update_status("alpha", |s| {
            s.next_refresh = Some(Utc::now() + chrono::Duration::hours(5));
        });
        let (_, headers, _) = get(&f.state, "/feeds/alpha.rss", &[]).await;
        assert_eq!(max_age(&headers), 3600);
        f.state.store.update_status("alpha", |s| {
            s.next_refresh = Some(Utc::now() - chrono::Duration::minutes(5));
        });
        let (_, headers, _) = get(&f.state, "/feeds/alpha.rss", &[]).await;
        assert_eq!(max_age(&headers), 0);
    }

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn unbrotli(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(b, 4096)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[tokio::test]
    async fn compressed_bodies_decode_to_the_identity_bytes() {
        let (f, rep) = published();
        let (status, headers, body) =
            get(&f.state, "/feeds/alpha.rss", &[("accept-encoding", "gzip")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h(&headers, "content-encoding"), "gzip");
        assert_eq!(h(&headers, "etag"), rep.gzip.etag.to_str().unwrap());
        assert_eq!(h(&headers, "content-length"), body.len().to_string());
        assert_eq!(
            h(&headers, "content-type"),
            "application/rss+xml; charset=utf-8"
        );
        assert_eq!(h(&headers, "vary"), "Accept-Encoding");
        assert_eq!(gunzip(&body), RSS.as_bytes());

        let (_, headers, body) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("accept-encoding", "gzip, deflate, br, zstd")],
        )
        .await;
        assert_eq!(h(&headers, "content-encoding"), "br");
        assert_eq!(h(&headers, "etag"), rep.br.etag.to_str().unwrap());
        assert_eq!(h(&headers, "content-length"), body.len().to_string());
        assert_eq!(unbrotli(&body), RSS.as_bytes());

        let (_, headers, body) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("accept-encoding", "br;q=0, gzip")],
        )
        .await;
        assert_eq!(h(&headers, "content-encoding"), "gzip");
        assert_eq!(gunzip(&body), RSS.as_bytes());

        let (_, headers, body) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("accept-encoding", "gzip;q=0, br;q=0")],
        )
        .await;
        assert!(headers.get("content-encoding").is_none());
        assert_eq!(body, RSS.as_bytes());
    }

    fn accept(value: &str) -> Encoding {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn negotiates_content_coding_by_q_value() {
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(accept(""), Encoding::Identity);
        assert_eq!(accept("gzip"), Encoding::Gzip);
        assert_eq!(accept("x-gzip"), Encoding::Gzip);
        assert_eq!(accept("br"), Encoding::Brotli);
        assert_eq!(accept("gzip, br"), Encoding::Brotli);
        assert_eq!(accept("GZIP;Q=1.0, BR;q=1"), Encoding::Brotli);
        assert_eq!(accept("br;q=0.5, gzip;q=0.8"), Encoding::Gzip);
        assert_eq!(accept("br;q=0.8, gzip;q=0.5"), Encoding::Brotli);
        assert_eq!(accept("gzip;q=0"), Encoding::Identity);
        assert_eq!(accept("gzip;q=0.000, br;q=0"), Encoding::Identity);
        assert_eq!(accept("*"), Encoding::Brotli);
        assert_eq!(accept("*;q=0.5, br;q=0"), Encoding::Gzip);
        assert_eq!(accept("*;q=0, identity"), Encoding::Identity);
        assert_eq!(accept("identity"), Encoding::Identity);
        assert_eq!(accept("identity;q=1, gzip;q=0.5"), Encoding::Identity);
        assert_eq!(accept("deflate, compress"), Encoding::Identity);
        // A malformed q-value drops that member only.
        assert_eq!(accept("br;q=2, gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=abc"), Encoding::Identity);
        let mut two = HeaderMap::new();
        two.append(ACCEPT_ENCODING, HeaderValue::from_static("identity;q=0.1"));
        two.append(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(negotiate(&two), Encoding::Gzip);
    }

    fn assert_304(status: StatusCode, headers: &HeaderMap, body: &[u8], etag: &HeaderValue) {
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{headers:?}");
        assert!(body.is_empty());
        assert_eq!(headers.get("etag"), Some(etag));
        assert!(headers.get("last-modified").is_some());
        assert!(h(headers, "cache-control").starts_with("public, max-age="));
        assert_eq!(h(headers, "vary"), "Accept-Encoding");
        assert!(headers.get("content-type").is_none());
    }

    #[tokio::test]
    async fn if_none_match_answers_304_for_any_current_etag() {
        let (f, rep) = published();
        let tag = |v: &HeaderValue| v.to_str().unwrap().to_string();
        let identity = tag(&rep.identity.etag);
        let gzip = tag(&rep.gzip.etag);
        let br = tag(&rep.br.etag);

        let (s, hd, b) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("if-none-match", &identity)],
        )
        .await;
        assert_304(s, &hd, &b, &rep.identity.etag);

        // The gzip tag, from a client that asks for gzip: 304 with the gzip tag.
        let (s, hd, b) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("if-none-match", &gzip), ("accept-encoding", "gzip")],
        )
        .await;
        assert_304(s, &hd, &b, &rep.gzip.etag);

        // Any of the three tags matches whatever the client accepts now.
        let (s, hd, b) = get(&f.state, "/feeds/alpha.rss", &[("if-none-match", &br)]).await;
        assert_304(s, &hd, &b, &rep.identity.etag);

        // A list, with a weak form of ours.
        let list = format!("\"nope\", W/{gzip} , \"other\"");
        let (s, hd, b) = get(&f.state, "/feeds/alpha.rss", &[("if-none-match", &list)]).await;
        assert_304(s, &hd, &b, &rep.identity.etag);
        let (s, hd, b) = get(&f.state, "/feeds/alpha.rss", &[("if-none-match", "*")]).await;
        assert_304(s, &hd, &b, &rep.identity.etag);

        // A tag of another format or an old version does not match.
        let atom = f.state.store.get("alpha").unwrap();
        let atom_tag = tag(&atom.representation(Format::Atom).unwrap().identity.etag);
        for other in [
            atom_tag.as_str(),
            "\"deadbeef\"",
            "W/\"x\", \"y\"",
            "garbage",
        ] {
            let (s, _, b) = get(&f.state, "/feeds/alpha.rss", &[("if-none-match", other)]).await;
            assert_eq!(s, StatusCode::OK, "{other}");
            assert_eq!(b, RSS.as_bytes());
        }

        // After a change the old tag no longer matches.
        publish(&f.state, "alpha", "<rss>new</rss>", Utc::now());
        let (s, hd, b) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("if-none-match", &identity)],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b, b"<rss>new</rss>");
        assert_ne!(h(&hd, "etag"), identity);
    }

    #[test]
    fn parses_etag_lists() {
        let ours: [&[u8]; 2] = [b"\"abc\"", b"\"def\""];
        assert!(etag_list_matches(b"\"abc\"", &ours));
        assert!(etag_list_matches(b"W/\"def\"", &ours));
        assert!(etag_list_matches(b"\"x\",\"y\",  W/\"def\"", &ours));
        assert!(etag_list_matches(b" * ", &ours));
        assert!(etag_list_matches(b"abc", &ours));
        assert!(etag_list_matches(b"junk, \"abc\"", &ours));
        assert!(!etag_list_matches(b"", &ours));
        assert!(!etag_list_matches(b"\"ab\"", &ours));
        assert!(!etag_list_matches(b"\"abc", &ours));
        assert!(!etag_list_matches(b"\"abc,def\"", &ours));
        assert!(!etag_list_matches(b"W/", &ours));
    }

    #[tokio::test]
    async fn if_modified_since_answers_304_when_not_changed_since() {
        let (f, rep) = published();
        let lm = crate::serve::store::http_date(rep.last_modified);
        let later =
            crate::serve::store::http_date(rep.last_modified + chrono::Duration::seconds(30));
        let earlier =
            crate::serve::store::http_date(rep.last_modified - chrono::Duration::seconds(1));

        let (s, hd, b) = get(&f.state, "/feeds/alpha.rss", &[("if-modified-since", &lm)]).await;
        assert_304(s, &hd, &b, &rep.identity.etag);
        let (s, _, _) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("if-modified-since", &later)],
        )
        .await;
        assert_eq!(s, StatusCode::NOT_MODIFIED);
        let (s, _, b) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("if-modified-since", &earlier)],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b, RSS.as_bytes());
        let (s, _, _) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("if-modified-since", "yesterday")],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        // If-None-Match, when present, decides alone.
        let (s, _, _) = get(
            &f.state,
            "/feeds/alpha.rss",
            &[("if-modified-since", &later), ("if-none-match", "\"old\"")],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }

    #[test]
    fn parses_the_three_http_date_forms() {
        let want = DateTime::parse_from_rfc3339("1994-11-06T08:49:37Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(want));
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(want)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(want));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 +0900"), None);
        assert_eq!(parse_http_date(""), None);
    }

    #[tokio::test]
    async fn head_has_the_get_headers_and_no_body() {
        let (f, rep) = published();
        let (s, hd, b) = send(&f.state, req("HEAD", "/feeds/alpha.rss", &[])).await;
        assert_eq!(s, StatusCode::OK);
        assert!(b.is_empty());
        assert_eq!(h(&hd, "content-length"), RSS.len().to_string());
        assert_eq!(h(&hd, "content-type"), "application/rss+xml; charset=utf-8");
        assert_eq!(hd.get("etag"), Some(&rep.identity.etag));
        assert!(hd.get("last-modified").is_some());

        let (s, hd, b) = send(
            &f.state,
            req("HEAD", "/feeds/alpha.rss", &[("accept-encoding", "br")]),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(b.is_empty());
        assert_eq!(h(&hd, "content-encoding"), "br");
        assert_eq!(h(&hd, "content-length"), rep.br.bytes.len().to_string());

        let etag = rep.identity.etag.to_str().unwrap();
        let (s, _, b) = send(
            &f.state,
            req("HEAD", "/feeds/alpha.rss", &[("if-none-match", etag)]),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_MODIFIED);
        assert!(b.is_empty());
    }

    #[tokio::test]
    async fn unknown_names_formats_and_paths_are_404() {
        let (f, _) = published();
        for uri in [
            "/feeds/gamma.rss",
            "/feeds/alpha.xml",
            "/feeds/alpha",
            "/feeds/beta.rss", // beta is not published as RSS
            "/feeds/..%2Fetc.rss",
            "/feeds/..%2F..%2Fetc%2Fpasswd",
            "/feeds/%2e%2e.rss",
            "/feeds/../Cargo.toml",
            "/feeds/alpha.rss/x",
            "/feeds/",
            "/feeds/%FF.rss",
            "/nope",
            "/index.html",
        ] {
            let (s, _, _) = get(&f.state, uri, &[]).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
        }
        let (s, hd, _) = send(&f.state, req("POST", "/feeds/alpha.rss", &[])).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert!(h(&hd, "allow").contains("GET"));
        let (s, _, _) = send(&f.state, req("DELETE", "/", &[])).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        let (s, _, _) = get(&f.state, "/feeds/alpha/refresh", &[]).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn a_feed_not_built_yet_is_503_with_retry_after() {
        let f = fixture(true, false);
        let (s, hd, _) = get(&f.state, "/feeds/alpha.rss", &[]).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h(&hd, "retry-after"), RETRY_AFTER_UNKNOWN.to_string());
        f.state.store.update_status("alpha", |s| {
            s.next_refresh = Some(Utc::now() + chrono::Duration::seconds(120));
        });
        let (s, hd, _) = send(&f.state, req("HEAD", "/feeds/alpha.atom", &[])).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        let retry: u64 = h(&hd, "retry-after").parse().unwrap();
        assert!((118..=120).contains(&retry), "{retry}");
    }

    #[tokio::test]
    async fn status_page_lists_feeds_with_autodiscovery() {
        let (f, _) = published();
        f.state.store.update_status("beta", |s| {
            s.last_error = Some("https://example.org/b: <timeout> & gone".into());
            s.last_refresh = Some(Utc::now() - chrono::Duration::minutes(3));
            s.next_refresh = Some(Utc::now() + chrono::Duration::minutes(27));
        });
        let (s, hd, b) = get(&f.state, "/", &[]).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h(&hd, "content-type"), "text/html; charset=utf-8");
        let html = String::from_utf8(b).unwrap();
        assert!(
            html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
            "{html}"
        );
        let head = &html[..html.find("</head>").unwrap()];
        let title = "Alpha &amp; &lt;Omega&gt; &quot;quoted&quot;";
        for (ty, href) in [
            ("application/rss+xml", "/feeds/alpha.rss"),
            ("application/atom+xml", "/feeds/alpha.atom"),
            ("application/feed+json", "/feeds/alpha.json"),
        ] {
            let link =
                format!("<link rel=\"alternate\" type=\"{ty}\" title=\"{title}\" href=\"{href}\">");
            assert!(head.contains(&link), "{link} in {head}");
        }
        assert!(head.contains(
            "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Beta\" href=\"/feeds/beta.atom\">"
        ));
        assert!(!html.contains("/feeds/beta.rss"));
        let body = &html[html.find("<body>").unwrap()..];
        assert!(body.contains(title));
        assert!(body.contains("<a href=\"https://example.org/news?a=1&amp;b=2\">"));
        assert!(body.contains("Beta"));
        assert!(body.contains(
            "<span class=\"error\">failed: https://example.org/b: &lt;timeout&gt; &amp; gone</span>"
        ));
        assert!(body.contains("<td class=\"n\">2</td>"), "item count");
        assert!(body.contains("3 min ago"));
        assert!(body.contains("in 26 min") || body.contains("in 27 min"));
        assert!(body.contains("<a href=\"/feeds/alpha.rss\" type=\"application/rss+xml\">RSS</a>"));
        assert!(
            body.contains(
                "<a href=\"/feeds/beta.json\" type=\"application/feed+json\">JSON Feed</a>"
            )
        );
        assert!(!html.contains("<Omega>") && !html.contains("<timeout>"));
        assert!(html.trim_end().ends_with("</html>"));
        let doc = scraper::Html::parse_document(&html);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        assert_eq!(format!("{:?}", doc.quirks_mode), "NoQuirks");
    }

    #[tokio::test]
    async fn status_page_shows_faults() {
        let (f, _) = published();
        let (_, _, b) = get(&f.state, "/", &[]).await;
        assert!(!String::from_utf8(b).unwrap().contains("hit a bug"));
        f.state.store.update_status("alpha", |s| {
            s.last_error = Some("the refresh panicked: <boom>".into());
            s.fault = Some("refresh panicked at 2026-03-02T10:00:00+00:00: <boom>".into());
        });
        f.state.store.update_status("beta", |s| {
            s.schedule_fault = Some("the schedule task of feed beta died: a & b".into());
        });
        let (s, _, b) = get(&f.state, "/", &[]).await;
        assert_eq!(s, StatusCode::OK);
        let html = String::from_utf8(b).unwrap();
        assert!(
            html.contains("2 feeds hit a bug in pagefeed: see <a href=\"/healthz\">health</a>."),
            "{html}"
        );
        assert!(html.contains("failed: the refresh panicked: &lt;boom&gt;"));
        assert!(
            html.contains(
                "<div class=\"error\">the schedule task of feed beta died: a &amp; b</div>"
            )
        );
        let doc = scraper::Html::parse_document(&html);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    }

    #[tokio::test]
    async fn status_page_before_anything_is_built() {
        let f = fixture(false, false);
        f.state.running.store(false, Ordering::Relaxed);
        let (s, _, b) = get(&f.state, "/", &[]).await;
        assert_eq!(s, StatusCode::OK);
        let html = String::from_utf8(b).unwrap();
        assert!(html.contains("<span class=\"error\">stopped</span>"));
        assert_eq!(html.matches("not built yet").count(), 2);
        assert!(html.contains("<td>never</td>"));
        let doc = scraper::Html::parse_document(&html);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    }

    #[test]
    fn feed_paths_are_decoded_or_refused() {
        assert_eq!(feed_file("/feeds/a.rss"), Some("a.rss"));
        assert_eq!(feed_file("/feeds/"), None);
        assert_eq!(feed_file("/feeds/a/b.rss"), None);
        assert_eq!(feed_file("/feed/a.rss"), None);
        assert_eq!(percent_decode("a.rss").as_deref(), Some("a.rss"));
        assert_eq!(percent_decode("%61%2D_.rss").as_deref(), Some("a-_.rss"));
        assert_eq!(
            percent_decode("..%2Fetc.rss").as_deref(),
            Some("../etc.rss")
        );
        assert_eq!(percent_decode("%2").as_deref(), None);
        assert_eq!(percent_decode("%+1").as_deref(), None);
        assert_eq!(percent_decode("%zz").as_deref(), None);
        assert_eq!(percent_decode("%FF").as_deref(), None);
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
    }

    #[tokio::test]
    async fn opml_uses_base_url_or_the_host() {
        let (f, _) = published();
        let (s, hd, b) = get(&f.state, "/opml", &[("host", "ignored.example")]).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h(&hd, "content-type"), "text/x-opml; charset=utf-8");
        let text = String::from_utf8(b).unwrap();
        let subs = crate::opml::parse_opml(&text).unwrap();
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].xml_url, "https://feeds.example.org/pub/alpha.rss");
        assert_eq!(subs[0].title.as_deref(), Some("Alpha & <Omega> \"quoted\""));
        assert_eq!(
            subs[0].html_url.as_deref(),
            Some("https://example.org/news?a=1&b=2")
        );
        // beta has no RSS: its first format.
        assert_eq!(subs[1].xml_url, "https://feeds.example.org/pub/beta.atom");
        assert!(text.contains("<opml version=\"2.0\">"));

        let f = fixture(false, false);
        let (_, _, b) = get(&f.state, "/opml", &[("host", "feeds.local:8080")]).await;
        let subs = crate::opml::parse_opml(&String::from_utf8(b).unwrap()).unwrap();
        assert_eq!(subs[0].xml_url, "http://feeds.local:8080/feeds/alpha.rss");
        assert_eq!(subs[0].title.as_deref(), Some("Alpha & <Omega> \"quoted\""));
        assert_eq!(subs[0].html_url.as_deref(), Some("https://example.org/"));
        let (_, _, b) = get(&f.state, "/opml", &[("host", "evil\"/><x a=\"")]).await;
        let subs = crate::opml::parse_opml(&String::from_utf8(b).unwrap()).unwrap();
        assert_eq!(subs[0].xml_url, "http://127.0.0.1:8899/feeds/alpha.rss");
        let (_, _, b) = get(&f.state, "http://[::1]:9000/opml", &[]).await;
        let subs = crate::opml::parse_opml(&String::from_utf8(b).unwrap()).unwrap();
        assert_eq!(subs[0].xml_url, "http://[::1]:9000/feeds/alpha.rss");
    }

    #[tokio::test]
    async fn healthz_follows_the_scheduler() {
        let f = fixture(false, false);
        let (s, _, b) = get(&f.state, "/healthz", &[]).await;
        assert_eq!((s, b.as_slice()), (StatusCode::OK, b"ok".as_slice()));
        // An ordinary failure is not a problem of the service.
        f.state.store.update_status("alpha", |s| {
            s.last_error = Some("https://example.org/a: HTTP 500".into());
        });
        let (s, _, b) = get(&f.state, "/healthz", &[]).await;
        assert_eq!((s, b.as_slice()), (StatusCode::OK, b"ok".as_slice()));
        // A panic and a dead schedule task are, one line each.
        f.state.store.update_status("alpha", |s| {
            s.fault = Some("refresh panicked at 2026-03-02T10:00:00+00:00: bad\nthing".into());
        });
        f.state.store.update_status("beta", |s| {
            s.schedule_fault = Some("the schedule task of feed beta died: oops".into());
        });
        let (s, hd, b) = get(&f.state, "/healthz", &[]).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h(&hd, "cache-control"), "no-store");
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "feed alpha: refresh panicked at 2026-03-02T10:00:00+00:00: bad thing\n\
             feed beta: the schedule task of feed beta died: oops\n"
        );
        f.state.store.update_status("alpha", |s| s.fault = None);
        f.state
            .store
            .update_status("beta", |s| s.schedule_fault = None);
        f.state.running.store(false, Ordering::Relaxed);
        let (s, _, b) = get(&f.state, "/healthz", &[]).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(b, b"scheduler not running\n");
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let (f, _) = published();
        f.state.metrics.fetch(
            "alpha",
            crate::serve::metrics::FetchOutcome::NotModified,
            0.2,
        );
        f.state.metrics.items("alpha", 2);
        get(&f.state, "/feeds/alpha.rss", &[]).await;
        get(&f.state, "/feeds/nope.rss", &[]).await;
        let (s, hd, b) = get(&f.state, "/metrics", &[]).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            h(&hd, "content-type"),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = String::from_utf8(b).unwrap();
        for line in [
            "# TYPE pagefeed_fetches_total counter",
            "pagefeed_fetches_total{feed=\"alpha\",outcome=\"not_modified\"} 1",
            "pagefeed_not_modified_total{feed=\"alpha\"} 1",
            "pagefeed_items{feed=\"alpha\"} 2",
            // The feed and this scrape itself.
            "pagefeed_http_responses_total{code=\"200\"} 2",
            "pagefeed_http_responses_total{code=\"404\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
    }

    async fn post_refresh(
        f: &Fixture,
        name: &str,
        auth: Option<&str>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let uri = format!("/feeds/{name}/refresh");
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        send(&f.state, req("POST", &uri, &headers)).await
    }

    #[tokio::test]
    async fn admin_refresh_needs_the_token() {
        // No token configured: 403 whatever is sent.
        let f = fixture(false, false);
        let (s, _, _) = post_refresh(&f, "alpha", Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(f.calls.lock().unwrap().is_empty());

        let f = fixture(false, true);
        for auth in [
            None,
            Some("Bearer"),
            Some("Bearer wrong-token-value"),
            Some("Basic czNjcmV0LWFkbWluLXRva2Vu"),
            Some(TOKEN),
            Some("Bearer s3cret-admin-toke"),
        ] {
            let (s, hd, _) = post_refresh(&f, "alpha", auth).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{auth:?}");
            assert_eq!(h(&hd, "www-authenticate"), "Bearer");
        }
        // Unauthenticated requests learn nothing about names.
        let (s, _, _) = post_refresh(&f, "gamma", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(f.calls.lock().unwrap().is_empty());

        let good = format!("Bearer {TOKEN}");
        let (s, _, _) = post_refresh(&f, "gamma", Some(&good)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, _) = post_refresh(&f, "..%2Falpha", Some(&good)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        let (s, hd, b) = post_refresh(&f, "alpha", Some(&format!("bearer  {TOKEN} "))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h(&hd, "content-type"), "application/json");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"feed": "alpha", "status": "changed", "items": 3, "error": null})
        );

        let (s, _, b) = post_refresh(&f, "beta", Some(&good)).await;
        assert_eq!(s, StatusCode::BAD_GATEWAY);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["error"], "https://example.org/b: HTTP 500");
        assert_eq!(*f.calls.lock().unwrap(), ["alpha", "beta"]);
    }

    #[test]
    fn compares_secrets() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "abc"));
    }
}
