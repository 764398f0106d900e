//! The feed builder of `serve`: `GET /new` (a page that turns a page's address into a feed)
//! and the JSON endpoints it uses, `POST /api/suggest`, `POST /api/preview` and
//! `POST /api/feeds`.
//!
//! Everything here needs `[settings] admin_token`: without it the builder is off and says how
//! to turn it on. A person signs in with the token (a form that sets an `HttpOnly`,
//! `SameSite=Strict` cookie holding a digest of it); scripts send `Authorization: Bearer`.
//! A request that changes something and is authorised by the cookie must also carry an
//! `Origin` of this server (CSRF). Pages are fetched with the checks of
//! [`super::builder_safety`] and shown as the copy of [`super::builder_copy`]. A saved feed is
//! checked by the config's own rules, appended to the config file without touching its lines,
//! and handed to the running scheduler, which refreshes it at once and then on its schedule.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HOST, LOCATION,
    ORIGIN, SET_COOKIE, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::builder_copy::sanitized_copy;
use super::builder_safety::{SafeFetcher, SafetyError, check_url};
use super::http::{escape_html, same_secret};
use super::metrics::Metrics;
use super::scheduler::Scheduler;
use crate::config::{self, Config, Source};
use crate::source::fetch::Page;

const PAGE_HTML: &str = include_str!("builder/page.html");
const APP_JS: &str = include_str!("builder/app.js");
const APP_CSS: &str = include_str!("builder/app.css");

/// The session cookie's name.
const COOKIE_NAME: &str = "pagefeed_builder";
/// Candidates `/api/suggest` returns at most.
const CANDIDATES: usize = 8;
/// How long a fetched page is reused by the builder (a person tries selectors on one page
/// for a while; the site is asked once).
const PAGE_TTL: Duration = Duration::from_secs(300);
/// Pages kept for reuse.
const PAGES_KEPT: usize = 8;
/// The largest JSON body the endpoints read.
const MAX_BODY: usize = 256 * 1024;

/// The builder page's policy: its own script only; the copy of a page (a `srcdoc` frame,
/// which inherits this policy and adds its own `script-src 'none'`) may load the page's
/// styles and images.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline' http: https:; \
     img-src 'self' data: http: https:; font-src 'self' data: http: https:; media-src 'none'; \
     object-src 'none'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// What the builder's handlers share.
pub struct Builder {
    scheduler: Arc<Scheduler>,
    metrics: Arc<Metrics>,
    safe: SafeFetcher,
    /// `None`: the builder is off.
    token: Option<String>,
    base_url: Option<Url>,
    pages: Mutex<Vec<(Url, Instant, Arc<Page>)>>,
    /// One save at a time: each reads the config file and appends to it.
    saving: tokio::sync::Mutex<()>,
}

impl Builder {
    pub fn new(config: &Config, scheduler: Arc<Scheduler>, metrics: Arc<Metrics>) -> Builder {
        Builder {
            scheduler,
            metrics,
            safe: SafeFetcher::new(&config.settings),
            token: config.settings.admin_token.clone(),
            base_url: config.settings.base_url.clone(),
            pages: Mutex::new(Vec::new()),
            saving: tokio::sync::Mutex::new(()),
        }
    }
}

type B = Arc<Builder>;

/// The builder's routes, to merge into the service's router.
pub fn routes(builder: Builder) -> Router {
    Router::new()
        .route("/new", get(new_page).post(sign_in))
        .route("/new/app.js", get(app_js))
        .route("/new/app.css", get(app_css))
        .route("/api/suggest", post(api_suggest))
        .route("/api/preview", post(api_preview))
        .route("/api/feeds", post(api_feeds))
        .with_state(Arc::new(builder))
}

// ---------------------------------------------------------------------------------------------
// Signing in.

/// The words that say the builder is off and how to turn it on.
fn off_message(b: &Builder) -> String {
    format!(
        "The feed builder is off: set `admin_token` in [settings] of {} (at least 8 characters, \
         better a long random string) and restart `pagefeed serve`; then sign in here with it.",
        b.scheduler.config().path.display()
    )
}

/// The cookie's value: a digest of the token, so the cookie never holds the token itself.
fn session_value(token: &str) -> String {
    let digest = Sha256::digest(format!("pagefeed builder session\0{token}").as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.trim())
}

/// How a request is authorised.
#[derive(Debug, PartialEq, Eq)]
enum Auth {
    Bearer,
    Cookie,
    None,
}

fn auth(token: &str, headers: &HeaderMap) -> Auth {
    if bearer(headers).is_some_and(|g| same_secret(g, token)) {
        Auth::Bearer
    } else if session_cookie(headers).is_some_and(|c| same_secret(c, &session_value(token))) {
        Auth::Cookie
    } else {
        Auth::None
    }
}

/// Whether the request's `Origin` is this server: the `Host` it was sent to, or `base_url`.
fn same_origin(b: &Builder, headers: &HeaderMap) -> bool {
    let Some(origin) = headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(|o| Url::parse(o).ok())
    else {
        return false;
    };
    let Some(host) = origin.host_str() else {
        return false;
    };
    let authority = match origin.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let to_host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| h.trim().eq_ignore_ascii_case(&authority));
    let to_base = b.base_url.as_ref().is_some_and(|base| {
        base.scheme() == origin.scheme()
            && base.host_str() == origin.host_str()
            && base.port_or_known_default() == origin.port_or_known_default()
    });
    to_host || to_base
}

/// `Ok` when a JSON endpoint may go on; the error response otherwise.
fn authorise(b: &Builder, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = b.token.as_deref() else {
        return Err(jerr(StatusCode::NOT_FOUND, &off_message(b)));
    };
    match auth(token, headers) {
        Auth::Bearer => Ok(()),
        Auth::Cookie if same_origin(b, headers) => Ok(()),
        Auth::Cookie => Err(jerr(
            StatusCode::FORBIDDEN,
            "cross-site request refused: a request signed in by the cookie must come from this \
             server's own page (its Origin header did not match); scripts send `Authorization: Bearer TOKEN`",
        )),
        Auth::None => {
            let mut res = json_error(
                StatusCode::UNAUTHORIZED,
                "sign in first: open /new and enter the admin token, or send `Authorization: Bearer TOKEN` (the admin_token of [settings])",
            );
            res.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Err(Box::new(res))
        }
    }
}

async fn new_page(State(b): State<B>, headers: HeaderMap) -> Response {
    let res = match b.token.as_deref() {
        None => html(
            StatusCode::NOT_FOUND,
            &plain_page("Feed builder is off", &off_message(&b)),
        ),
        Some(token) if auth(token, &headers) != Auth::None => html(StatusCode::OK, PAGE_HTML),
        Some(_) => html(StatusCode::OK, &login_page(None)),
    };
    b.metrics.request(res.status().as_u16());
    res
}

async fn sign_in(State(b): State<B>, headers: HeaderMap, body: Bytes) -> Response {
    let res = sign_in_response(&b, &headers, &body);
    b.metrics.request(res.status().as_u16());
    res
}

fn sign_in_response(b: &Builder, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(token) = b.token.as_deref() else {
        return html(
            StatusCode::NOT_FOUND,
            &plain_page("Feed builder is off", &off_message(b)),
        );
    };
    // A browser always sends Origin with a form post; one from another site is refused.
    if headers.contains_key(ORIGIN) && !same_origin(b, headers) {
        return html(
            StatusCode::FORBIDDEN,
            &login_page(Some("This sign-in came from another site and was refused.")),
        );
    }
    let given = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !same_secret(given.trim(), token) {
        return html(
            StatusCode::UNAUTHORIZED,
            &login_page(Some(
                "That is not the admin token of this server's [settings].",
            )),
        );
    }
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut()
        .insert(LOCATION, HeaderValue::from_static("/new"));
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict",
        session_value(token)
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(SET_COOKIE, v);
    }
    res
}

fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"stylesheet\" href=\"/new/app.css\">\n</head>\n<body>\n\
         <header class=\"top\"><a href=\"/\">pagefeed</a> · <span>new feed</span></header>\n<main>\n",
        escape_html(title)
    )
}

fn plain_page(title: &str, message: &str) -> String {
    format!(
        "{}<h1>{}</h1>\n<p>{}</p>\n</main>\n</body>\n</html>\n",
        page_head(title),
        escape_html(title),
        escape_html(message)
    )
}

fn login_page(error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape_html(e))
    });
    format!(
        "{}<h1>Sign in to the feed builder</h1>\n{error}\
         <form method=\"post\" action=\"/new\" class=\"signin\">\n\
         <label for=\"token\">Admin token</label>\n\
         <input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"current-password\" required>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n\
         <p class=\"muted\">The token is the <code>admin_token</code> of [settings] in the config.</p>\n\
         </main>\n</body>\n</html>\n",
        page_head("Sign in: pagefeed feed builder")
    )
}

fn html(status: StatusCode, body: &str) -> Response {
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

async fn app_js(State(b): State<B>) -> Response {
    b.metrics.request(200);
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css(State(b): State<B>) -> Response {
    b.metrics.request(200);
    asset("text/css; charset=utf-8", APP_CSS)
}

// ---------------------------------------------------------------------------------------------
// The JSON endpoints.

fn json_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "error": message }))
}

fn jerr(status: StatusCode, message: &str) -> Box<Response> {
    Box::new(json_error(status, message))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut res = Response::new(Body::from(value.to_string()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The request's JSON object, or a 400 saying what is wrong with it.
fn read_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, Box<Response>> {
    if body.len() > MAX_BODY {
        return Err(jerr(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request is larger than 256 KiB",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(jerr(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        )),
        Err(e) => Err(jerr(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {e}"),
        )),
    }
}

/// The `url` member as an http(s) address (`example.org/news` is read as `https://...`).
fn read_url(o: &serde_json::Map<String, Value>) -> Result<Url, Box<Response>> {
    let Some(text) = o.get("url").and_then(Value::as_str).map(str::trim) else {
        return Err(jerr(
            StatusCode::BAD_REQUEST,
            "`url` is missing: give the page's address, like {\"url\": \"https://example.org/news/\"}",
        ));
    };
    let parsed = match Url::parse(text) {
        Ok(u) => Ok(u),
        Err(url::ParseError::RelativeUrlWithoutBase) => Url::parse(&format!("https://{text}")),
        Err(e) => Err(e),
    };
    match parsed {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(u),
        Ok(u) => Err(jerr(
            StatusCode::BAD_REQUEST,
            &format!("{u}: only http and https addresses can be fetched"),
        )),
        Err(e) => Err(jerr(
            StatusCode::BAD_REQUEST,
            &format!(
                "`{text}` is not a page address ({e}); give one like https://example.org/news/"
            ),
        )),
    }
}

fn safety_response(e: &SafetyError) -> Response {
    match e {
        SafetyError::Refused(m) => json_error(StatusCode::BAD_REQUEST, m),
        SafetyError::Fetch { .. } => json_error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

impl Builder {
    /// The page at `url`: a copy fetched in the last minutes, or a new fetch (checked, robots.txt).
    async fn page(&self, url: &Url) -> Result<Arc<Page>, SafetyError> {
        {
            let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
            pages.retain(|(_, at, _)| at.elapsed() < PAGE_TTL);
            if let Some((_, _, p)) = pages.iter().find(|(u, _, _)| u == url) {
                return Ok(Arc::clone(p));
            }
        }
        let page = Arc::new(self.safe.page(url).await?);
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.len() >= PAGES_KEPT {
            pages.remove(0);
        }
        pages.push((url.clone(), Instant::now(), Arc::clone(&page)));
        Ok(page)
    }
}

async fn api_suggest(State(b): State<B>, headers: HeaderMap, body: Bytes) -> Response {
    let res = suggest(&b, &headers, &body).await;
    b.metrics.request(res.status().as_u16());
    res
}

async fn suggest(b: &Builder, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Err(res) = authorise(b, headers) {
        return *res;
    }
    let o = match read_body(body) {
        Ok(o) => o,
        Err(res) => return *res,
    };
    let url = match read_url(&o) {
        Ok(u) => u,
        Err(res) => return *res,
    };
    let page = match b.page(&url).await {
        Ok(p) => p,
        Err(e) => return safety_response(&e),
    };
    let target = url.to_string();
    let job = tokio::task::spawn_blocking(move || {
        let opts = crate::suggest::Options {
            target,
            site_url: None,
            limit: CANDIDATES,
        };
        let s = crate::suggest::from_page(&opts, &page, Utc::now()).map_err(|e| e.to_string())?;
        let mut out = crate::suggest::to_json(&s);
        if let Some(list) = out.get_mut("candidates").and_then(Value::as_array_mut) {
            for (c, g) in list.iter_mut().zip(&s.suggestions) {
                c["selectors"] = json!(matches!(
                    g.candidate.extractor,
                    crate::extract::auto::Extractor::Selectors
                ));
                c["problem"] = json!(g.problem);
            }
        }
        let (html, _) = crate::source::decode::decode(&page.bytes, page.content_type.as_deref());
        out["copy"] = json!(sanitized_copy(&html, &page.url));
        out["url"] = json!(page.url.as_str());
        out["name"] = json!(s.name);
        Ok::<Value, String>(out)
    })
    .await;
    match job {
        Ok(Ok(v)) => json_response(StatusCode::OK, &v),
        Ok(Err(e)) => json_error(StatusCode::UNPROCESSABLE_ENTITY, &e),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("reading the page failed: {e} (a bug in pagefeed: please report it)"),
        ),
    }
}

/// `[feeds.NAME]` with `table` in it, as the TOML appended to the config: `url` first, the
/// other keys after it, then each sub-table (`items`: the selector, then the fields in the
/// config's order).
fn feed_toml(name: &str, table: toml::Table) -> Result<String, String> {
    let mut out = format!("[feeds.{}]\n", toml_key(name));
    let mut tables = Vec::new();
    for (k, v) in ordered(table, &["url", "feed_url", "title", "site_url"]) {
        match v {
            toml::Value::Table(t) => tables.push((k, t)),
            v => out.push_str(&format!("{} = {v}\n", toml_key(&k))),
        }
    }
    for (k, t) in tables {
        out.push_str(&format!("\n[feeds.{}.{}]\n", toml_key(name), toml_key(&k)));
        let first = [
            "selector",
            "title",
            "link",
            "summary",
            "authors",
            "date",
            "image",
            "categories",
            "guid",
        ];
        for (fk, fv) in ordered(t, &first) {
            out.push_str(&format!("{} = {fv}\n", toml_key(&fk)));
        }
    }
    match toml::from_str::<toml::Table>(&out) {
        Ok(_) => Ok(out),
        Err(e) => Err(format!(
            "the table cannot be written as TOML: {}",
            e.message()
        )),
    }
}

/// The members of `t`, those named in `first` first (in that order), then the others.
fn ordered(mut t: toml::Table, first: &[&str]) -> Vec<(String, toml::Value)> {
    let mut out: Vec<(String, toml::Value)> = first
        .iter()
        .filter_map(|k| t.remove(*k).map(|v| (k.to_string(), v)))
        .collect();
    out.extend(t);
    out
}

/// A key, bare when TOML allows it, else quoted.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        crate::extract::auto::toml_string(k)
    }
}

/// A JSON value as TOML; `null` members and empty strings are left out (a field not set).
fn to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => toml::Value::String(s.trim().to_string()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(to_toml).collect()),
        Value::Object(o) => {
            let t: toml::Table = o
                .iter()
                .filter_map(|(k, v)| to_toml(v).map(|v| (k.clone(), v)))
                .collect();
            if t.is_empty() {
                return None;
            }
            toml::Value::Table(t)
        }
    })
}

/// The `name` member, trimmed; `None` when missing or empty.
fn read_name(o: &serde_json::Map<String, Value>) -> Option<String> {
    o.get("name")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

async fn api_preview(State(b): State<B>, headers: HeaderMap, body: Bytes) -> Response {
    let res = preview(&b, &headers, &body).await;
    b.metrics.request(res.status().as_u16());
    res
}

async fn preview(b: &Builder, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Err(res) = authorise(b, headers) {
        return *res;
    }
    let o = match read_body(body) {
        Ok(o) => o,
        Err(res) => return *res,
    };
    let url = match read_url(&o) {
        Ok(u) => u,
        Err(res) => return *res,
    };
    let Some(Value::Object(_)) = o.get("items") else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "`items` is missing: give the fields, like {\"items\": {\"selector\": \"article\", \"title\": \"h2\"}}",
        );
    };
    let Some(toml::Value::Table(items)) = o.get("items").and_then(to_toml) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "`items` needs at least `selector` (the entries) and `title`",
        );
    };
    let name = read_name(&o).unwrap_or_else(|| "preview".to_string());
    let mut table = toml::Table::new();
    table.insert("url".into(), toml::Value::String(url.to_string()));
    table.insert("items".into(), toml::Value::Table(items));
    let text = match feed_toml(&name, table) {
        Ok(t) => t,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let config = match config::parse(Path::new("new feed"), &text) {
        Ok(c) => c,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let page = match b.page(&url).await {
        Ok(p) => p,
        Err(e) => return safety_response(&e),
    };
    let job = tokio::task::spawn_blocking(move || {
        let feed = config.feeds.first().ok_or("no feed")?;
        let rules = feed.items().ok_or("no items")?;
        let now = Utc::now();
        let scraped = crate::extract::scrape::scrape(feed, rules, &page, now)
            .map_err(|e| format!("feed {}: {e}", feed.name))?;
        let details = crate::preview_detail::details(rules, &page, &scraped);
        let mut out = crate::preview_detail::json(feed, rules, &scraped, &details);
        out["toml"] = json!(text);
        Ok::<Value, String>(out)
    })
    .await;
    match job {
        Ok(Ok(v)) => json_response(StatusCode::OK, &v),
        Ok(Err(e)) => json_error(StatusCode::UNPROCESSABLE_ENTITY, &e),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the preview failed: {e} (a bug in pagefeed: please report it)"),
        ),
    }
}

async fn api_feeds(State(b): State<B>, headers: HeaderMap, body: Bytes) -> Response {
    let res = save(&b, &headers, &body).await;
    b.metrics.request(res.status().as_u16());
    res
}

async fn save(b: &Builder, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Err(res) = authorise(b, headers) {
        return *res;
    }
    let o = match read_body(body) {
        Ok(o) => o,
        Err(res) => return *res,
    };
    let Some(name) = read_name(&o) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "`name` is missing: give the feed a name (lower-case letters, digits, `_` and `-`)",
        );
    };
    let table = match o.get("table") {
        Some(Value::String(t)) => match toml::from_str::<toml::Table>(t) {
            Ok(t) => t,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("`table` is not TOML: {}", e.message()),
                );
            }
        },
        Some(v @ Value::Object(_)) => match to_toml(v) {
            Some(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        },
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "`table` is missing: give the feed's table, like {\"url\": \"https://example.org/news/\", \"items\": {\"selector\": \"article\", \"title\": \"h2\"}}",
            );
        }
    };
    let tables = match feed_toml(&name, table) {
        Ok(t) => t,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };

    let _one_at_a_time = b.saving.lock().await;
    let live = b.scheduler.config();
    let path = live.path.clone();
    if live.feed(&name).is_some() {
        return json_error(
            StatusCode::CONFLICT,
            &format!(
                "a feed named `{name}` already exists in {}; pick another Feed name",
                path.display()
            ),
        );
    }
    let old = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot read the config {}: {e}", path.display()),
            );
        }
    };
    if toml::from_str::<toml::Table>(&old).is_ok_and(|t| {
        t.get("feeds")
            .and_then(toml::Value::as_table)
            .is_some_and(|f| f.contains_key(&name))
    }) {
        return json_error(
            StatusCode::CONFLICT,
            &format!(
                "a feed named `{name}` already exists in {} (added since serve started); pick another Feed name",
                path.display()
            ),
        );
    }
    // The config's own checks, on the file as it will be (same lines, so messages point at
    // the lines that will be written).
    let comment = format!(
        "added with the feed builder on {}",
        Utc::now().format("%Y-%m-%d")
    );
    let sep = if old.is_empty() || old.ends_with("\n\n") {
        ""
    } else if old.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    let combined = format!("{old}{sep}# {comment}\n{tables}");
    let parsed = match config::parse(&path, &combined) {
        Ok(c) => c,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Some(feed) = parsed.feed(&name).cloned() else {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("the table did not make a feed named `{name}`"),
        );
    };
    // What the scheduler will fetch must pass the builder's address checks too.
    match feed.source() {
        Some(Source::Http(u)) => {
            if let Err(e) = check_url(u, live.settings.allow_private_hosts).await {
                return safety_response(&e);
            }
        }
        Some(Source::File(p)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "feed {name}: `{}` is a local file; the feed builder saves only feeds of http(s) pages",
                    p.display()
                ),
            );
        }
        None => {}
    }
    if let Err(e) = crate::opml::append_tables(&path, &tables, &comment) {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let mut next = Config::clone(&live);
    next.feeds.push(feed.clone());
    let scheduler = Arc::clone(&b.scheduler);
    let feed_name = name.clone();
    // Spawned, so a client that hangs up does not stop the first build half-way.
    let outcome =
        tokio::spawn(async move { scheduler.add_feed(Arc::new(next), &feed_name).await }).await;
    let (status, items, error) = match outcome {
        Ok(o) => (o.status, o.items, o.error),
        Err(e) => (
            "failed".to_string(),
            0,
            Some(format!("the first build failed: {e}")),
        ),
    };
    let links: Vec<Value> = feed
        .formats
        .iter()
        .map(|f| {
            let file = format!("{name}.{}", f.ext());
            let url = b
                .base_url
                .as_ref()
                .and_then(|base| base.join(&file).ok())
                .map_or_else(|| format!("/feeds/{file}"), |u| u.to_string());
            json!({
                "format": match f {
                    config::Format::Rss => "RSS",
                    config::Format::Atom => "Atom",
                    config::Format::Json => "JSON Feed",
                },
                "url": url,
            })
        })
        .collect();
    json_response(
        StatusCode::CREATED,
        &json!({
            "feed": name,
            "config": path.display().to_string(),
            "toml": tables,
            "status": status,
            "items": items,
            "error": error,
            "links": links,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_is_read_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; pagefeed_builder=abc ; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        assert_eq!(auth("token-123", &h), Auth::None);
        let good = format!("pagefeed_builder={}", session_value("token-123"));
        h.insert(COOKIE, HeaderValue::from_str(&good).unwrap());
        assert_eq!(auth("token-123", &h), Auth::Cookie);
        assert_ne!(session_value("token-123"), "token-123");
    }

    #[test]
    fn json_becomes_toml_without_empty_fields() {
        let v = json!({"url": "https://example.org/", "items": {"selector": "article", "title": "h2", "date": "", "link": null}});
        let Some(toml::Value::Table(t)) = to_toml(&v) else {
            panic!()
        };
        let text = feed_toml("news", t).unwrap();
        assert!(text.contains("[feeds.news]"), "{text}");
        assert!(text.contains("[feeds.news.items]"), "{text}");
        assert!(!text.contains("date"), "{text}");
        assert!(!text.contains("link"), "{text}");
        assert!(
            text.starts_with("[feeds.news]\nurl = ")
                && text.contains("[feeds.news.items]\nselector = \"article\"\ntitle = \"h2\"\n"),
            "{text}"
        );
        let v = json!({"url": "https://example.org/", "items": {"title": "h2", "date": {"selector": "time", "attr": "datetime"}, "selector": "li"}});
        let Some(toml::Value::Table(t)) = to_toml(&v) else {
            panic!()
        };
        let text = feed_toml("news", t).unwrap();
        assert!(
            text.contains("selector = \"li\"\ntitle = \"h2\"\ndate = {"),
            "{text}"
        );
    }
}
