//! `pagefeed suggest`: fetch a page (with build's fetch policy), find its lists of entries
//! automatically ([`crate::extract::auto`]) and print them as ready-to-paste config blocks, with a
//! preview of what each gives, or as one JSON object.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use url::Url;

use crate::config::{self, FeedConfig};
use crate::extract::auto::{self, Analysis, Candidate, Extractor, toml_string};
use crate::feed::item::NewItem;
use crate::source::fetch::Fetcher;

/// What to suggest for.
#[derive(Debug, Clone)]
pub struct Options {
    /// An http(s) URL or a local file.
    pub target: String,
    /// What relative links resolve against (as a feed's `site_url`).
    pub site_url: Option<String>,
    /// At most this many candidates.
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    /// The arguments do not make a page to read (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The page could not be fetched (exit 1).
    #[error("cannot fetch {url}: {source}")]
    Fetch {
        url: String,
        source: crate::source::fetch::FetchError,
    },
}

/// One candidate with the items it gives.
pub struct Suggestion {
    pub candidate: Candidate,
    pub items: Vec<NewItem>,
    /// Why it gives no items, when it gives none.
    pub problem: Option<String>,
}

/// Everything `suggest` found.
pub struct Suggestions {
    pub target: String,
    pub site_url: Option<String>,
    /// The name the blocks use.
    pub name: String,
    pub feed_links: Vec<auto::FeedLink>,
    pub suggestions: Vec<Suggestion>,
}

/// A feed name from the page's address: `news-example-org`, or the file's stem.
fn feed_name(target: &str) -> String {
    let base = match Url::parse(target) {
        Ok(u) if u.host_str().is_some() => u
            .host_str()
            .unwrap_or("page")
            .trim_start_matches("www.")
            .to_string(),
        _ => Path::new(target)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "page".to_string()),
    };
    let mut out = String::new();
    for c in base.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "page".to_string()
    } else {
        out
    }
}

/// The `[feeds.NAME]` lines every block shares.
fn feed_head(name: &str, target: &str, site_url: Option<&str>) -> String {
    let mut s = format!("[feeds.{name}]\nurl = {}\n", toml_string(target));
    if let Some(site) = site_url {
        s.push_str(&format!("site_url = {}\n", toml_string(site)));
    }
    s
}

/// The ready-to-paste config block of a candidate.
pub fn block(name: &str, target: &str, site_url: Option<&str>, c: &Candidate) -> String {
    let mut s = feed_head(name, target, site_url);
    match c.extractor {
        Extractor::Selectors => {
            s.push_str(&format!("\n[feeds.{name}.items]\n"));
            s.push_str(&c.items_toml());
        }
        Extractor::Entries(_) => {
            s.push_str(&format!(
                "# No [feeds.{name}.items]: the entries are read from the page's {} ({}) at every build.\n",
                c.method.name(),
                c.selector
            ));
        }
    }
    s
}

/// The page as a feed without selectors would read it: the config compiles the source,
/// the site URL and the fetch settings.
fn page_config(opts: &Options, name: &str) -> Result<config::Config, SuggestError> {
    let text = feed_head(name, &opts.target, opts.site_url.as_deref());
    let config = config::parse(Path::new("suggest.toml"), &text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.split_once(": ").map_or(msg.as_str(), |(_, m)| m);
        SuggestError::Usage(format!("cannot read `{}` as a page: {msg}", opts.target))
    })?;
    if config.feeds.first().and_then(FeedConfig::source).is_none() {
        return Err(SuggestError::Usage("no page given".to_string()));
    }
    Ok(config)
}

/// Fetch and analyse the page.
pub async fn suggest(opts: &Options, now: DateTime<Utc>) -> Result<Suggestions, SuggestError> {
    let name = feed_name(&opts.target);
    let config = page_config(opts, &name)?;
    let Some(source) = config.feeds.first().and_then(FeedConfig::source) else {
        return Err(SuggestError::Usage("no page given".to_string()));
    };
    let fetcher = Fetcher::new(&config.settings).map_err(|e| SuggestError::Fetch {
        url: source.to_string(),
        source: e,
    })?;
    let page = fetcher
        .fetch(source)
        .await
        .map_err(|e| SuggestError::Fetch {
            url: source.to_string(),
            source: e,
        })?;
    from_page(opts, &page, now)
}

/// Analyse a page already fetched (the feed builder fetches with its own checks).
pub fn from_page(
    opts: &Options,
    page: &crate::source::fetch::Page,
    now: DateTime<Utc>,
) -> Result<Suggestions, SuggestError> {
    let name = feed_name(&opts.target);
    let config = page_config(opts, &name)?;
    let Some(feed) = config.feeds.first() else {
        return Err(SuggestError::Usage("no page given".to_string()));
    };
    let (html, _) = crate::source::decode::decode(&page.bytes, page.content_type.as_deref());
    let (doc, report) = crate::extract::parse::document(&html);
    drop(html);
    let Analysis {
        feed_links,
        candidates,
    } = auto::analyze_doc(&doc, &page.url, feed.site_url.as_ref(), now);
    let suggestions = candidates
        .into_iter()
        .take(opts.limit)
        .map(|c| preview(feed, c, &doc, report, page, now))
        .collect();
    Ok(Suggestions {
        target: opts.target.clone(),
        site_url: opts.site_url.clone(),
        name,
        feed_links,
        suggestions,
    })
}

fn preview(
    feed: &FeedConfig,
    candidate: Candidate,
    doc: &scraper::Html,
    report: crate::extract::parse::Report,
    page: &crate::source::fetch::Page,
    now: DateTime<Utc>,
) -> Suggestion {
    match auto::candidate_items(feed, &candidate, doc, report, page, now) {
        Ok(s) => Suggestion {
            candidate,
            items: s.items,
            problem: None,
        },
        Err(e) => Suggestion {
            candidate,
            items: Vec::new(),
            problem: Some(e.to_string()),
        },
    }
}

fn date(i: &NewItem) -> Option<String> {
    i.published
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The JSON object `suggest --json` prints.
pub fn to_json(s: &Suggestions) -> Value {
    let feed_links: Vec<Value> = s
        .feed_links
        .iter()
        .map(|f| {
            json!({
                "url": f.url,
                "type": f.kind,
                "title": f.title,
                "toml": format!("[feeds.{}]\nfeed_url = {}\n", s.name, toml_string(&f.url)),
            })
        })
        .collect();
    let candidates: Vec<Value> = s
        .suggestions
        .iter()
        .map(|g| {
            let c = &g.candidate;
            let mut fields = serde_json::Map::new();
            for (k, v) in &c.fields {
                fields.insert((*k).to_string(), v.to_json());
            }
            let entries: Vec<Value> = g
                .items
                .iter()
                .map(|i| {
                    json!({
                        "title": i.title(),
                        "link": i.link(),
                        "date": date(i),
                        "authors": i.authors().collect::<Vec<_>>(),
                        "summary": i.summary(),
                    })
                })
                .collect();
            json!({
                "selector": c.selector,
                "fields": fields,
                "score": c.score,
                "method": c.method.name(),
                "entries": entries,
                "toml": block(&s.name, &s.target, s.site_url.as_deref(), c),
            })
        })
        .collect();
    json!({ "feed_links": feed_links, "candidates": candidates })
}

/// Cut `s` to `n` characters, with an ellipsis when cut.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// How many entries the text output previews per candidate.
const PREVIEW: usize = 5;

/// The text `suggest` prints.
pub fn to_text(s: &Suggestions) -> String {
    let mut out = String::new();
    if !s.feed_links.is_empty() {
        let _ = writeln!(
            out,
            "The page advertises its own feed; republishing it is the simplest:\n"
        );
        for f in &s.feed_links {
            let _ = writeln!(
                out,
                "  {}  ({}{})",
                f.url,
                f.kind,
                f.title
                    .as_deref()
                    .map(|t| format!(", \"{t}\""))
                    .unwrap_or_default()
            );
        }
        if let Some(f) = s.feed_links.first() {
            let _ = writeln!(
                out,
                "\n[feeds.{}]\nfeed_url = {}\n",
                s.name,
                toml_string(&f.url)
            );
        }
    }
    if s.suggestions.is_empty() {
        let _ = writeln!(
            out,
            "No list of entries found on {}: no JSON-LD, microdata, h-entry or embedded JSON lists, and no repeated elements with links of headline length.",
            s.target
        );
        return out;
    }
    let total = s.suggestions.len();
    for (n, g) in s.suggestions.iter().enumerate() {
        let c = &g.candidate;
        let _ = writeln!(
            out,
            "# Candidate {} of {total}: {}, score {:.2}, {} entries",
            n + 1,
            c.method.name(),
            c.score,
            g.items.len()
        );
        let _ = writeln!(
            out,
            "{}",
            block(&s.name, &s.target, s.site_url.as_deref(), c)
        );
        if let Some(p) = &g.problem {
            let _ = writeln!(out, "  (gives no items: {p})\n");
            continue;
        }
        for (k, i) in g.items.iter().take(PREVIEW).enumerate() {
            let _ = writeln!(
                out,
                "  {:>2}. {}",
                k + 1,
                cut(i.title().unwrap_or("(no title)"), 100)
            );
            let _ = writeln!(out, "      {}", i.link().unwrap_or("(no link)"));
            let mut facts: Vec<String> = Vec::new();
            if let Some(d) = date(i) {
                facts.push(d);
            }
            if !i.authors().is_empty() {
                facts.push(format!("by {}", i.authors().collect::<Vec<_>>().join(", ")));
            }
            if !facts.is_empty() {
                let _ = writeln!(out, "      {}", facts.join(" · "));
            }
            if let Some(sum) = i.summary() {
                let _ = writeln!(out, "      {}", cut(sum, 100));
            }
        }
        if g.items.len() > PREVIEW {
            let _ = writeln!(out, "      ... and {} more", g.items.len() - PREVIEW);
        }
        let _ = writeln!(out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_host_or_file() {
        assert_eq!(
            feed_name("https://www.News.example.org/x"),
            "news-example-org"
        );
        assert_eq!(feed_name("pages/My Blog.html"), "my-blog");
        assert_eq!(feed_name("___"), "page");
    }
}
