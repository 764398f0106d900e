//! Config error messages in the words of the person who wrote the config.
//!
//! The TOML reader and serde speak Rust (`invalid type: string "50", expected i64`,
//! `unknown field`, `duplicate key`), and the CSS selector parser says "Unexpected error
//! occurred. Please report this to the developer" for an unsupported pseudo-class. This module
//! turns those into messages that say what the key holds, with an example to copy, a "did you
//! mean" for a misspelt key, the line of the first of two duplicate tables, and a caret under
//! the place in a selector where it goes wrong. It only writes text: locating the error
//! (`file:line:col`, the section) stays with the config loader.

use std::ops::Range;

/// Where a key sits, which decides what it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The top level of the file: `[settings]` and `[feeds]`.
    Top,
    /// `[settings]`.
    Settings,
    /// `[feeds]`: the table of feeds, one sub-table per feed.
    Feeds,
    /// `[feeds.NAME]`.
    Feed,
    /// `[feeds.NAME.items]`.
    Items,
    /// A FIELD written as a table: `title = { selector = "...", attr = "..." }`.
    Field,
    /// `[feeds.NAME.article]`.
    Article,
}

impl Scope {
    const ALL: [Scope; 7] = [
        Scope::Top,
        Scope::Settings,
        Scope::Feeds,
        Scope::Feed,
        Scope::Items,
        Scope::Field,
        Scope::Article,
    ];

    /// Where to write a key of this scope, for "`timeout` belongs in [settings]".
    fn place(self) -> &'static str {
        match self {
            Scope::Top => "the top of the file",
            Scope::Settings => "[settings]",
            Scope::Feeds => "[feeds]",
            Scope::Feed => "a [feeds.NAME] table",
            Scope::Items => "a [feeds.NAME.items] table",
            Scope::Field => "a field table like `link = { selector = \"a\", attr = \"href\" }`",
            Scope::Article => "a [feeds.NAME.article] table",
        }
    }
}

/// What a key holds.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Text in quotes; the example value (without quotes).
    Text(&'static str),
    /// A whole number; the example.
    Count(i64),
    /// A duration in quotes; the example.
    Duration(&'static str),
    /// `refresh`: a duration or a cron expression.
    Refresh,
    /// `true` or `false`; the example.
    Bool(bool),
    /// A list of texts; the example list as written.
    List(&'static str),
    /// One text or a list of texts; the example as written.
    TextOrList(&'static str),
    /// A FIELD: a selector or a field table.
    Field,
    /// `items`: a sub-table.
    Items,
    /// `article`: a sub-table.
    Article,
    /// `settings`.
    Settings,
    /// `feeds`, or one feed in it.
    Feeds,
    Feed,
}

/// What `key` holds in `scope`; `None` for a key that is not allowed there.
fn shape(scope: Scope, key: &str) -> Option<Shape> {
    use Shape::*;
    Some(match (scope, key) {
        (Scope::Top, "settings") => Settings,
        (Scope::Top, "feeds") => Feeds,
        (Scope::Feeds, _) => Feed,
        (Scope::Settings, "output_dir") => Text("public"),
        (Scope::Settings, "state") => Text("public/pagefeed.db"),
        (Scope::Settings, "base_url") => Text("https://feeds.example.org/"),
        (Scope::Settings, "user_agent") => Text("pagefeed (+https://example.org/bot)"),
        (Scope::Settings, "timeout") => Duration(crate::config::TIMEOUT_RANGE.example),
        (Scope::Settings, "max_page_bytes") => Count(crate::config::MAX_PAGE_BYTES_RANGE.example),
        (Scope::Settings, "listen") => Text("127.0.0.1:8080"),
        (Scope::Settings | Scope::Feed, "refresh") => Refresh,
        (Scope::Settings, "concurrency") => Count(crate::config::CONCURRENCY_RANGE.example),
        (Scope::Settings, "host_delay") => Duration(crate::config::HOST_DELAY_RANGE.example),
        (Scope::Settings, "admin_token") => Text("a-long-random-string"),
        (Scope::Settings, "allow_private_hosts") => Bool(true),
        (Scope::Settings, "websub_hub") => Text("https://pubsubhubbub.appspot.com/"),
        (Scope::Feed, "url") => Text("https://example.org/news/"),
        (Scope::Feed, "feed_url") => Text("https://example.org/feed.xml"),
        (Scope::Feed, "merge") => List("[\"news\", \"blog\"]"),
        (Scope::Feed, "site_url") => Text("https://example.org/"),
        (Scope::Feed, "title") => Text("Example News"),
        (Scope::Feed, "description") => Text("The latest news from example.org"),
        (Scope::Feed, "language") => Text("en"),
        (Scope::Feed, "time_zone") => Text("Europe/Berlin"),
        (Scope::Feed, "date_format") => TextOrList("[\"%d.%m.%Y\", \"%B %e, %Y\"]"),
        (Scope::Feed, "max_items") => Count(crate::config::MAX_ITEMS_RANGE.example),
        (Scope::Feed, "min_items") => Count(crate::config::MIN_ITEMS_RANGE.example),
        (Scope::Feed, "max_pages") => Count(crate::config::MAX_PAGES_RANGE.example),
        (Scope::Feed, "next_page") => Field,
        (Scope::Feed, "keep_history") => Bool(true),
        (Scope::Feed, "ignore_robots") => Bool(true),
        (Scope::Feed, "formats") => List("[\"rss\", \"atom\"]"),
        (Scope::Feed, "include") => TextOrList("[\"(?i)korea\", \"seoul\"]"),
        (Scope::Feed, "exclude") => TextOrList("[\"(?i)sponsored\"]"),
        (Scope::Feed, "max_age") => Duration(crate::config::MAX_AGE_RANGE.example),
        (Scope::Feed, "dedupe") => Text("title"),
        (Scope::Feed, "title_prefix") => Text("[{source}] "),
        (Scope::Feed, "future_dates") => Bool(true),
        (Scope::Feed, "items") => Items,
        (Scope::Feed, "article") => Article,
        (Scope::Article, "content") => Text("div.entry-content"),
        (Scope::Article, "date" | "authors" | "image") => Field,
        (Scope::Article, "max_articles_per_run") => {
            Count(crate::config::MAX_ARTICLES_PER_RUN_RANGE.example)
        }
        (Scope::Items, "selector") => Text("article.post"),
        (
            Scope::Items,
            "title" | "link" | "summary" | "authors" | "date" | "image" | "categories" | "guid",
        ) => Field,
        (Scope::Field, "selector") => Text("h2 a"),
        (Scope::Field, "attr") => Text("href"),
        (Scope::Field, "regex") => Text("(\\d+) comments"),
        (Scope::Field, "strip") => Text("^By "),
        (Scope::Field, "from") => Text("item"),
        (Scope::Field, "split") => Text(","),
        (Scope::Field, "html") => Bool(true),
        (Scope::Field, "optional") => Bool(true),
        _ => return None,
    })
}

/// "`max_items` must be a whole number, like `max_items = 50`" and the like.
fn rule(key: &str, shape: Shape) -> String {
    match shape {
        Shape::Text(ex) => format!("`{key}` is text in quotes, like `{key} = \"{ex}\"`"),
        Shape::Count(ex) => {
            format!("`{key}` must be a whole number, like `{key} = {ex}` (no quotes)")
        }
        Shape::Duration(ex) => format!(
            "`{key}` is a duration in quotes, like `{key} = \"{ex}\"` (units: ms, s, m, h, d)"
        ),
        Shape::Refresh => format!(
            "`{key}` is a duration in quotes, like `{key} = \"30m\"`, or a cron expression, like `{key} = \"*/15 * * * *\"`"
        ),
        Shape::Bool(ex) => {
            format!("`{key}` is true or false, like `{key} = {ex}` (no quotes)")
        }
        Shape::List(ex) => {
            format!("`{key}` is a list of texts in brackets, like `{key} = {ex}`")
        }
        Shape::TextOrList(ex) => {
            format!("`{key}` is text in quotes or a list of them, like `{key} = {ex}`")
        }
        Shape::Field => format!(
            "`{key}` is a CSS selector in quotes, like `{key} = \"h2 a\"`, or a table, like `{key} = {{ selector = \"h2 a\", attr = \"title\" }}`"
        ),
        Shape::Items => format!(
            "`{key}` is a table: write a [feeds.NAME.items] header with `selector = \"...\"` and `title = \"...\"` under it"
        ),
        Shape::Article => format!(
            "`{key}` is a table: write a [feeds.NAME.article] header with `content = \"auto\"` (or a selector) under it"
        ),
        Shape::Settings => {
            "`settings` is a table: write a [settings] header with the settings under it"
                .to_string()
        }
        Shape::Feeds => {
            "`feeds` is a table of feeds: write one [feeds.NAME] header per feed".to_string()
        }
        Shape::Feed => format!(
            "each feed is a table: write a [feeds.{key}] header with `url = \"https://...\"` under it, then [feeds.{key}.items] with `selector` and `title`"
        ),
    }
}

/// The text of the line that holds `offset`, up to `offset`.
fn line_before(text: &str, offset: usize) -> &str {
    let offset = floor(text, offset.min(text.len()));
    let start = text[..offset].rfind('\n').map_or(0, |n| n + 1);
    &text[start..offset]
}

fn floor(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The key assigned on `prefix` (the line up to a value): `max_items` in `max_items = `, and
/// `selector` in `title = { selector = `. Also `(key, inside an inline table)`.
fn key_before(prefix: &str) -> Option<(String, bool)> {
    let eq = prefix.rfind('=')?;
    let before = prefix[..eq].trim_end();
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| *c == '{' || *c == ',' || *c == '[' || c.is_whitespace())
        .map_or(0, |(n, c)| n + c.len_utf8());
    let key = before[start..].trim_matches(['"', '\'']);
    let key = key.rsplit('.').next().unwrap_or(key);
    if key.is_empty() {
        return None;
    }
    Some((key.to_string(), prefix[..eq].contains('{')))
}

/// The scope of a section header's inside: `feeds.a.items` is [`Scope::Items`].
fn scope_of(section: Option<&str>) -> Scope {
    let Some(s) = section else {
        return Scope::Top;
    };
    let parts = split_dotted(s);
    match parts.as_slice() {
        [] => Scope::Top,
        [one] if one == "settings" => Scope::Settings,
        [one] if one == "feeds" => Scope::Feeds,
        [f, _] if f == "feeds" => Scope::Feed,
        [f, _, i] if f == "feeds" && i == "items" => Scope::Items,
        [f, _, i, _] if f == "feeds" && i == "items" => Scope::Field,
        [f, _, a] if f == "feeds" && a == "article" => Scope::Article,
        [f, _, a, _] if f == "feeds" && a == "article" => Scope::Field,
        _ => Scope::Top,
    }
}

/// `feeds."my.feed".items` as `["feeds", "my.feed", "items"]`.
fn split_dotted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, '.') => out.push(std::mem::take(&mut cur).trim().to_string()),
            (None, c) => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// The feed a section belongs to: `a` for `feeds.a.items`.
fn feed_of(section: Option<&str>) -> Option<String> {
    let parts = split_dotted(section?);
    match parts.as_slice() {
        [f, name, ..] if f == "feeds" => Some(name.clone()),
        _ => None,
    }
}

/// `the text "50"` for serde's `string "50"`, and so on.
fn found_in_words(found: &str) -> String {
    let found = found.trim();
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the text {s} (in quotes)");
    }
    for (serde, words) in [
        ("integer ", "the number "),
        ("floating point ", "the number "),
        ("boolean ", ""),
    ] {
        if let Some(v) = found.strip_prefix(serde) {
            return format!("{words}{}", v.trim_matches('`'));
        }
    }
    match found {
        "map" => "a table".to_string(),
        "sequence" => "a list".to_string(),
        other => other.to_string(),
    }
}

/// Rewrite a message of the TOML reader (`message`, for the value at `span` of `text`, under
/// table header `section`) in the words of the config author. Messages it does not know are
/// returned as they are.
pub(crate) fn toml_message(
    text: &str,
    span: Option<Range<usize>>,
    section: Option<&str>,
    message: &str,
) -> String {
    let start = span.as_ref().map_or(0, |s| s.start);
    let feed = feed_of(section)
        .map(|f| format!("feed {f}: "))
        .unwrap_or_default();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // On a header line (`[setings]`, `[feeds.x.itmes]`) the unknown key is a part of the
        // header: its table is the part before it.
        let line_start = floor(text, start.min(text.len()));
        let line_start = text[..line_start].rfind('\n').map_or(0, |n| n + 1);
        let line = text[line_start..].lines().next().unwrap_or("");
        let key = rest.split('`').nth(1).unwrap_or("");
        let parent = header_key(line).and_then(|h| {
            let parts = split_dotted(&h);
            let n = parts.iter().position(|p| p == key)?;
            Some(parts[..n].join("."))
        });
        let section = match &parent {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(p.as_str()),
            None => section,
        };
        return format!("{feed}{}", unknown_key(text, start, section, rest));
    }
    if message.starts_with("duplicate key") {
        return format!("{feed}{}", duplicate(text, start, section));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let key = rest.trim().trim_matches('`');
        return format!("{feed}{}", missing(text, start, section, key));
    }
    if message.starts_with("string values must be quoted") {
        return format!(
            "{feed}{}",
            unquoted(text, start, section).unwrap_or_else(|| message.to_string())
        );
    }
    let found = if let Some(rest) = message.strip_prefix("invalid type: ") {
        rest.rfind(", expected").map(|n| found_in_words(&rest[..n]))
    } else if message.starts_with("data did not match any variant") {
        Some(String::new())
    } else {
        None
    };
    let Some(found) = found else {
        return message.to_string();
    };
    let prefix = line_before(text, start);
    let (scope, key) = match key_before(prefix) {
        Some((key, inline)) => {
            let mut scope = scope_of(section);
            if inline && matches!(scope, Scope::Items | Scope::Article) {
                scope = Scope::Field;
            }
            (scope, key)
        }
        None => return message.to_string(),
    };
    let Some(shape) = shape(scope, &key) else {
        return message.to_string();
    };
    let mut out = format!("{feed}{}", rule(&key, shape));
    if !found.is_empty() {
        out.push_str(&format!("; here it is {found}"));
    }
    out
}

/// A bare word where a value belongs: `url = https://example.org/` or `max_items = 5O`.
fn unquoted(text: &str, start: usize, section: Option<&str>) -> Option<String> {
    let (key, inline) = key_before(line_before(text, start))?;
    let rest = text.get(floor(text, start.min(text.len()))..)?;
    let raw: String = rest
        .lines()
        .next()
        .unwrap_or("")
        .split(" #")
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches([',', '}'])
        .trim()
        .chars()
        .take(60)
        .collect();
    // In an inline table the value ends before the next `, key =`.
    let raw = if inline {
        let cut = raw.match_indices(',').map(|(i, _)| i).find(|&i| {
            let after = raw[i + 1..].trim_start();
            let ident = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(after.len());
            ident > 0 && after[ident..].trim_start().starts_with('=')
        });
        cut.map_or(raw.clone(), |i| raw[..i].trim().to_string())
    } else {
        raw
    };
    let mut scope = scope_of(section);
    if inline && matches!(scope, Scope::Items | Scope::Article) {
        scope = Scope::Field;
    }
    Some(match shape(scope, &key) {
        Some(s @ (Shape::Count(_) | Shape::Bool(_))) => {
            format!("{}; `{raw}` is not one", rule(&key, s))
        }
        Some(s @ (Shape::Text(_) | Shape::Duration(_) | Shape::Refresh | Shape::Field)) => {
            format!("{}: write `{key} = \"{raw}\"`", rule(&key, s))
        }
        _ => format!("text goes in quotes: write `{key} = \"{raw}\"`"),
    })
}

/// "unknown key `selectr` in [feeds.x.items]; did you mean `selector`?"
fn unknown_key(text: &str, start: usize, section: Option<&str>, rest: &str) -> String {
    // rest: "`selectr`, expected one of `selector`, `title`" or "... expected `a` or `b`".
    let names: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let Some((key, allowed)) = names.split_first() else {
        return format!("unknown field {rest}");
    };
    let prefix = line_before(text, start);
    // `title = { selectr = "b" }`: the field is the key before the open `{`.
    let inline_of = prefix
        .rfind('{')
        .filter(|b| !prefix[*b..].contains('}'))
        .and_then(|b| key_before(&prefix[..b]).map(|(k, _)| k));
    let mut scope = scope_of(section);
    let place = match (&inline_of, section) {
        (Some(field), Some(s)) => {
            scope = Scope::Field;
            format!("in the `{field}` table of [{s}]")
        }
        (None, Some(s)) => format!("in [{s}]"),
        _ => "at the top level of the file".to_string(),
    };
    let mut out = format!("unknown key `{key}` {place}");
    if let Some(best) = closest(key, allowed) {
        out.push_str(&format!("; did you mean `{best}`?"));
        return out;
    }
    let elsewhere: Vec<&str> = Scope::ALL
        .iter()
        .filter(|s| **s != scope && **s != Scope::Feeds)
        .filter(|s| shape(**s, key).is_some())
        .map(|s| s.place())
        .collect();
    if !elsewhere.is_empty() {
        out.push_str(&format!("; `{key}` belongs in {}", elsewhere.join(" or ")));
    }
    out.push_str(&format!(
        "; the keys allowed here are {}",
        allowed
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}

/// The allowed name closest to `key`, when it is close enough to be a slip of the keyboard.
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let key_l = key.to_lowercase();
    let limit = match key_l.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    allowed
        .iter()
        .map(|a| (edit_distance(&key_l, a), *a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Levenshtein distance with adjacent swaps counted as one edit (`titel` is one from `title`).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the table.
    let mut two_back: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two_back[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut two_back, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The table header on `line` without brackets and spaces, for comparing two headers.
fn header_key(line: &str) -> Option<String> {
    let t = line.trim();
    let inner = t.strip_prefix('[')?;
    let inner = inner.split(']').next()?;
    Some(inner.chars().filter(|c| !c.is_whitespace()).collect())
}

/// "[feeds.x] is defined twice; the first is on line 1" and "`url` is set twice in ...".
fn duplicate(text: &str, start: usize, section: Option<&str>) -> String {
    let start = floor(text, start.min(text.len()));
    let line_no = text[..start].matches('\n').count();
    let lines: Vec<&str> = text.lines().collect();
    let Some(line) = lines.get(line_no) else {
        return "a key or table is defined twice".to_string();
    };
    if let Some(header) = header_key(line) {
        let first = lines[..line_no]
            .iter()
            .position(|l| header_key(l).as_deref() == Some(header.as_str()));
        return match first {
            Some(n) => format!(
                "[{header}] is defined twice; the first is on line {}: put all its keys under one [{header}] header, or give the second one another name",
                n + 1
            ),
            None => format!(
                "[{header}] is defined twice (once as a header, once as a key or dotted key above); keep one"
            ),
        };
    }
    let key = line
        .split('=')
        .next()
        .map(|k| k.trim().trim_matches(['"', '\'']).to_string())
        .unwrap_or_default();
    // The first definition: the same key earlier in the same table (after its header).
    let table_start = lines[..line_no]
        .iter()
        .rposition(|l| header_key(l).is_some())
        .map_or(0, |n| n + 1);
    let first = lines[table_start..line_no].iter().position(|l| {
        l.split_once('=')
            .is_some_and(|(k, _)| k.trim().trim_matches(['"', '\'']) == key)
    });
    let place = section.map(|s| format!(" in [{s}]")).unwrap_or_default();
    match first {
        Some(n) => format!(
            "`{key}` is set twice{place}; the first is on line {}: keep one",
            table_start + n + 1
        ),
        None => format!("`{key}` is set twice{place}; keep one"),
    }
}

/// "[feeds.x.items] needs `title`, like `title = "h2 a"`".
fn missing(text: &str, start: usize, section: Option<&str>, key: &str) -> String {
    let prefix = line_before(text, start);
    let rest = text.get(start..).unwrap_or("");
    if rest.trim_start().starts_with('{')
        && let Some((field, _)) = key_before(prefix)
    {
        return format!(
            "the `{field}` table needs `{key}`, like `{field} = {{ {key} = \"h2 a\", attr = \"title\" }}`"
        );
    }
    let scope = scope_of(section);
    let what = match (scope, key) {
        (Scope::Items, "selector") => {
            " (the CSS selector that matches each entry), like `selector = \"article.post\"`"
        }
        (Scope::Items, "title") => {
            " (the CSS selector of each entry's title, inside the entry), like `title = \"h2 a\"`"
        }
        (Scope::Field, "selector") => ", like `selector = \"h2 a\"`",
        _ => "",
    };
    match section {
        Some(s) => format!("[{s}] needs `{key}`{what}"),
        None => format!("`{key}` is missing{what}"),
    }
}

/// The message for a config with no feeds, with the smallest feed table to start from.
pub fn no_feeds(path: &std::path::Path) -> String {
    format!(
        "{} defines no feeds: add one, like\n\n\
         [feeds.news]\n\
         url = \"https://example.org/news/\"\n\
         [feeds.news.items]\n\
         selector = \"article\"\n\
         title = \"h2 a\"\n\n\
         then run `pagefeed preview news` to see what the selectors find \
         (`pagefeed suggest URL` finds the lists on a page and prints such a table for you)",
        path.display()
    )
}

// ---------------------------------------------------------------------------------------------
// CSS selectors.

/// Why a selector does not parse and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SelectorProblem {
    /// Byte offset in the selector text of the place the caret points at.
    pub at: usize,
    /// Plain words, never the CSS library's text.
    pub reason: String,
}

/// Whether the CSS library's error leaves the selector unfinished rather than wrong: more text
/// could still make it valid.
fn unfinished(kind: &cssparser::ParseErrorKind<selectors::parser::SelectorParseErrorKind>) -> bool {
    use selectors::parser::SelectorParseErrorKind as K;
    matches!(
        kind,
        cssparser::ParseErrorKind::Basic(cssparser::BasicParseErrorKind::EndOfInput)
            | cssparser::ParseErrorKind::Custom(
                K::DanglingCombinator
                    | K::EmptySelector
                    | K::PseudoElementExpectedColon
                    | K::PseudoElementExpectedIdent
                    | K::NoIdentForPseudo
                    | K::ClassNeedsIdent
                    | K::NoQualifiedNameInAttributeSelector
            )
    )
}

type Kind = cssparser::ParseErrorKind<selectors::parser::SelectorParseErrorKind>;

fn parse_error(text: &str) -> Option<Kind> {
    let mut input = cssparser::Parser::new(text);
    selectors::SelectorList::parse(
        &scraper::selector::Parser,
        &mut input,
        selectors::parser::ParseRelative::No,
    )
    .err()
    .map(|e| e.kind)
}

/// The longest selector whose prefixes are parsed to find where it goes wrong (longer ones get
/// the caret where the parser stopped).
const PROBE_LIMIT: usize = 100_000;

/// Where and why `text` is not a selector; `None` when it parses.
pub(crate) fn selector_problem(text: &str) -> Option<SelectorProblem> {
    if text.trim().is_empty() {
        return Some(SelectorProblem {
            at: 0,
            reason: "it is empty".to_string(),
        });
    }
    let whole = parse_error(text)?;
    // The parser stops at the first error, so when the whole selector's error is a wrong
    // token (not merely an unfinished selector), the shortest prefix with such an error ends
    // in that token. Prefixes end at token ends only (`:n` is no pseudo-class, but `:not(`
    // starts one), and a prefix past a wrong token stays wrong, so a binary search finds the
    // shortest in a few parses.
    let mut at_kind: Option<(usize, Kind)> = None;
    if !unfinished(&whole) && text.len() <= PROBE_LIMIT {
        let name = |c: char| c.is_alphanumeric() || c == '-' || c == '_' || !c.is_ascii();
        let ends: Vec<usize> = text
            .char_indices()
            .filter(|(i, c)| {
                let next = text[i + c.len_utf8()..].chars().next();
                !(name(*c) && next.is_some_and(|n| name(n) || n == '('))
            })
            .map(|(i, c)| i + c.len_utf8())
            .collect();
        let wrong = |end: usize| parse_error(&text[..end]).filter(|k| !unfinished(k));
        // The first end whose prefix is wrong; the whole text (the last end) is.
        let (mut lo, mut hi) = (0usize, ends.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if wrong(ends[mid]).is_some() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        if let Some(&end) = ends.get(lo)
            && let Some(kind) = wrong(end)
        {
            at_kind = Some((token_start(text, end), kind));
        }
    }
    let (mut at, kind) = at_kind.unwrap_or_else(|| (unfinished_at(text, &whole), whole));
    {
        use selectors::parser::SelectorParseErrorKind as K;
        match &kind {
            // Point at the colon of the pseudo-class, not at its name.
            cssparser::ParseErrorKind::Custom(
                K::UnsupportedPseudoClassOrElement | K::NoIdentForPseudo,
            ) => {
                if let Some(colon) = text[..at.min(text.len())].rfind(':')
                    && text[colon + 1..at]
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == ':')
                {
                    at = text[..colon].trim_end_matches(':').len();
                }
            }
            cssparser::ParseErrorKind::Custom(
                K::PseudoElementExpectedColon | K::PseudoElementExpectedIdent,
            ) => {
                if let Some(n) = text.find("::") {
                    at = n;
                }
            }
            _ => {}
        }
    }
    Some(SelectorProblem {
        reason: reason(text, at, &kind),
        at,
    })
}

/// The start of the token that ends at byte `end`: a run of name characters, or one character.
fn token_start(text: &str, end: usize) -> usize {
    let name = |c: char| c.is_alphanumeric() || c == '-' || c == '_' || !c.is_ascii();
    let before = &text[..end];
    let mut start = end;
    for (i, c) in before.char_indices().rev() {
        if name(c) {
            start = i;
        } else {
            if start == end {
                start = i;
            }
            break;
        }
    }
    start
}

/// Where an unfinished selector needs more: a dangling combinator or comma, else its end.
fn unfinished_at(text: &str, kind: &Kind) -> usize {
    use selectors::parser::SelectorParseErrorKind as K;
    let combinator = |c: char| matches!(c, '>' | '+' | '~');
    match kind {
        cssparser::ParseErrorKind::Custom(K::DanglingCombinator | K::EmptySelector) => {
            // The first combinator or comma followed by another one, a comma or the end.
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            for (n, (i, c)) in chars.iter().enumerate() {
                if !(combinator(*c) || *c == ',') {
                    continue;
                }
                if *c == ',' && chars[..n].iter().all(|(_, p)| p.is_whitespace()) {
                    return *i;
                }
                let next = chars[n + 1..].iter().find(|(_, p)| !p.is_whitespace());
                match next {
                    None => return *i,
                    Some((j, p)) if *p == ',' || (combinator(*p) && *c != ',') => return *j,
                    Some((j, p)) if combinator(*p) && *c == ',' => return *j,
                    _ => {}
                }
            }
            text.trim_end().len()
        }
        _ => {
            let t = text.trim_end();
            match t.chars().last() {
                Some(c @ (']' | ')')) => t.len() - c.len_utf8(),
                _ => t.len(),
            }
        }
    }
}

fn reason(text: &str, at: usize, kind: &Kind) -> String {
    use cssparser::{BasicParseErrorKind as B, ParseErrorKind as P};
    use selectors::parser::SelectorParseErrorKind as K;
    let here: String = text
        .get(at..)
        .unwrap_or("")
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(30)
        .collect();
    let token = {
        let name = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
        let first_is_name = text
            .get(at..)
            .and_then(|t| t.chars().next())
            .is_some_and(name);
        let end = text
            .get(at..)
            .unwrap_or("")
            .char_indices()
            .find(|(i, c)| *i > 0 && (!first_is_name || !name(*c)))
            .map_or(text.len(), |(i, _)| at + i);
        text.get(at..end).unwrap_or("").to_string()
    };
    match kind {
        P::Custom(K::UnsupportedPseudoClassOrElement | K::NoIdentForPseudo) => {
            // `at` is on the colon(s) of the pseudo-class.
            let name: String = text[at.min(text.len())..]
                .chars()
                .enumerate()
                .take_while(|(i, c)| *i == 0 || *c == ':' || c.is_alphanumeric() || *c == '-')
                .map(|(_, c)| c)
                .collect();
            if name.starts_with("::") {
                return format!(
                    "`{name}` is a pseudo-element, not an element of the page, and cannot be selected; select the element itself"
                );
            }
            format!(
                "`{name}` is not a pseudo-class pagefeed knows: a fetched page has no hover, focus or visited state; use structural ones like :first-child, :nth-child(2), :not(...), :has(...) or :is(...)"
            )
        }
        P::Custom(K::PseudoElementExpectedColon | K::PseudoElementExpectedIdent)
        | P::Custom(K::NonPseudoElementAfterSlotted | K::InvalidPseudoElementAfterSlotted)
        | P::Custom(K::InvalidPseudoElementInsideWhere) => {
            "pseudo-elements (`::before`, `::after`, ...) are not elements of the page and cannot be selected; select the element itself".to_string()
        }
        P::Custom(K::DanglingCombinator) => format!(
            "`{}` has nothing after it: a combinator (`>`, `+`, `~`) goes between two selectors, like `ul > li`",
            here.chars().next().unwrap_or('>')
        ),
        P::Custom(K::EmptySelector) if !text.contains(',') => {
            "the selector ends too soon: something is missing at the end (a name after `.`, `#` or `:`, a value after `=`, or a closing `]` or `)`)".to_string()
        }
        P::Custom(K::EmptySelector) => {
            "a selector is missing here: the comma-separated list has an empty part (a comma too many?)"
                .to_string()
        }
        P::Custom(K::ClassNeedsIdent) => {
            "`.` must be followed by a class name, like `.post`".to_string()
        }
        P::Custom(
            K::NoQualifiedNameInAttributeSelector
            | K::UnexpectedTokenInAttributeSelector
            | K::ExpectedBarInAttr
            | K::BadValueInAttr
            | K::InvalidQualNameInAttr,
        ) => "an attribute selector is written like `[href]`, `[rel=\"author\"]` or `[class~=\"post\"]` (quote values with spaces or symbols)".to_string(),
        P::Custom(K::ExpectedNamespace | K::ExplicitNamespaceUnexpectedToken) => {
            "namespaces (`ns|name`) are not supported; leave the `|` out".to_string()
        }
        P::Custom(K::UnexpectedIdent) => format!("`{token}` is not expected here"),
        P::Custom(K::InvalidState | K::NonCompoundSelector) => {
            "this part is not allowed at this place".to_string()
        }
        P::Basic(B::EndOfInput) => {
            "the selector ends too soon: something is missing at the end (a name after `.`, `#` or `:`, a value after `=`, or a closing `]` or `)`)".to_string()
        }
        P::Basic(B::TooManyNestedBlocks) => "brackets are nested too deeply".to_string(),
        P::Basic(_) => match here.chars().next() {
            Some('{' | '}') => {
                "only the selector goes here: a CSS rule's `{ ... }` block is not part of it"
                    .to_string()
            }
            Some(c) if token.is_empty() || token.chars().count() == 1 => {
                format!("`{c}` is not expected here")
            }
            _ => format!("`{token}` is not expected here"),
        },
    }
}

/// "invalid CSS selector: REASON" and the selector with a caret under the place.
pub(crate) fn selector_message(text: &str, problem: &SelectorProblem) -> String {
    // Show at most about 70 characters around the caret, invisible characters as `?`.
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let caret = chars
        .iter()
        .position(|(i, _)| *i >= problem.at)
        .unwrap_or(chars.len());
    let from = caret.saturating_sub(50);
    let to = (caret + 20).min(chars.len());
    let mut line = String::new();
    if from > 0 {
        line.push('…');
    }
    let lead = line.chars().count();
    for (_, c) in &chars[from..to] {
        line.push(if c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}') {
            '?'
        } else {
            *c
        });
    }
    if to < chars.len() {
        line.push('…');
    }
    format!(
        "invalid CSS selector: {}\n        {line}\n        {}^",
        problem.reason,
        " ".repeat(lead + caret - from)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The error of config `text` (read as `c.toml`).
    fn error_of(text: &str) -> String {
        match crate::config::parse(Path::new("c.toml"), text) {
            Ok(_) => panic!("config must fail:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    /// A feed `x` with `extra` lines in [feeds.x] and `items` lines in [feeds.x.items].
    fn feed(extra: &str, items: &str) -> String {
        format!(
            "[feeds.x]\nurl = \"https://example.org/\"\n{extra}\n[feeds.x.items]\nselector = \"li\"\ntitle = \"a\"\n{items}\n"
        )
    }

    fn assert_has(e: &str, needles: &[&str]) {
        for n in needles {
            assert!(e.contains(n), "no `{n}` in:\n{e}");
        }
        for rust in [
            "invalid type",
            "expected i64",
            "expected a string",
            "unknown field",
            "Unexpected error",
            "report this to the developer",
            "RawFeed",
            "RawItems",
            "OneOrMany",
            "untagged",
        ] {
            assert!(!e.contains(rust), "`{rust}` in:\n{e}");
        }
    }

    #[test]
    fn type_errors_say_what_the_key_holds_with_an_example() {
        let e = error_of(&feed("max_items = \"50\"", ""));
        assert_has(
            &e,
            &[
                "c.toml:3:13:",
                "feed x",
                "`max_items` must be a whole number, like `max_items = 50`",
                "the text \"50\"",
            ],
        );
        let e = error_of(&format!("[settings]\ntimeout = 20.5\n{}", feed("", "")));
        assert_has(&e, &["c.toml:2:11:", "`timeout`", "like \"1.5s\""]);
        let e = error_of(&format!("[settings]\ntimeout = true\n{}", feed("", "")));
        assert_has(
            &e,
            &[
                "c.toml:2:11:",
                "`timeout` is a duration in quotes, like `timeout = \"20s\"`",
                "here it is true",
            ],
        );
        let e = error_of(&feed("future_dates = \"yes\"", ""));
        assert_has(
            &e,
            &[
                "c.toml:3:16:",
                "feed x",
                "`future_dates` is true or false, like `future_dates = true`",
            ],
        );
        let e = error_of(&feed("title = 5", ""));
        assert_has(
            &e,
            &[
                "c.toml:3:9:",
                "`title` is text in quotes, like `title = \"",
                "the number 5",
            ],
        );
        let e = error_of(&feed("site_url = { a = 1 }", ""));
        assert_has(&e, &["`site_url` is text in quotes", "a table"]);
        let e = error_of(&feed("formats = \"rss\"", ""));
        assert_has(
            &e,
            &["`formats` is a list of texts in brackets, like `formats = [\"rss\", \"atom\"]`"],
        );
        let e = error_of(&feed("include = 5", ""));
        assert_has(&e, &["`include` is text in quotes or a list of them"]);
        let e = error_of(&feed("refresh = false", ""));
        assert_has(
            &e,
            &["`refresh` is a duration in quotes", "cron expression"],
        );
        let e = error_of(&feed("", "link = 5"));
        assert_has(
            &e,
            &[
                "c.toml:7:8:",
                "`link` is a CSS selector in quotes",
                "or a table, like `link = { selector =",
            ],
        );
        let e = error_of(&feed("", "link = { selector = \"a\", html = \"yes\" }"));
        assert_has(&e, &["`html` is true or false"]);
        let e = error_of(&feed("min_items = \"3\"", ""));
        assert_has(
            &e,
            &["`min_items` must be a whole number, like `min_items = 5`"],
        );
        let e = error_of(&feed("keep_history = \"yes\"", ""));
        assert_has(&e, &["`keep_history` is true or false"]);
        let e = error_of(&feed("", "summary = { selector = \"p\", optional = 1 }"));
        assert_has(&e, &["`optional` is true or false"]);
        let e = error_of(&feed("", "summary = { selector = 1 }"));
        assert_has(&e, &["`selector` is text in quotes"]);
        let e = error_of("[settings]\nconcurrency = \"8\"\n");
        assert_has(
            &e,
            &[
                "c.toml:2:15:",
                "`concurrency` must be a whole number, like `concurrency = 8`",
            ],
        );
        let e = error_of("feeds = 1\n");
        assert_has(&e, &["`feeds` is a table of feeds"]);
        let e = error_of("[feeds]\nx = 1\n");
        assert_has(&e, &["write a [feeds.x] header"]);
    }

    #[test]
    fn bare_words_say_to_quote_them() {
        let e = error_of("[feeds.x]\nurl = https://example.org/news/\n");
        assert_has(
            &e,
            &[
                "c.toml:2:7:",
                "`url` is text in quotes",
                "write `url = \"https://example.org/news/\"`",
            ],
        );
        let e = error_of(&feed("", "").replace("title = \"a\"", "title = h2 a # the headline"));
        assert_has(
            &e,
            &[
                "`title` is a CSS selector in quotes",
                "write `title = \"h2 a\"`",
            ],
        );
        let e = error_of(&feed("max_items = 5O", ""));
        assert_has(
            &e,
            &["`max_items` must be a whole number", "`5O` is not one"],
        );
        let e = error_of(&feed("", "link = { selector = h2 a, attr = \"href\" }"));
        assert_has(
            &e,
            &[
                "`selector` is text in quotes",
                "write `selector = \"h2 a\"`",
            ],
        );
    }

    #[test]
    fn missing_keys_say_what_to_write() {
        let e = error_of(
            "[feeds.x]\nurl = \"https://example.org/\"\n[feeds.x.items]\nselector = \"li\"\n",
        );
        assert_has(
            &e,
            &[
                "c.toml:3:1:",
                "[feeds.x.items] needs `title`",
                "like `title = \"h2 a\"`",
            ],
        );
        let e = error_of(&feed("", "link = { attr = \"href\" }"));
        assert_has(&e, &["the `link` table needs `selector`"]);
    }

    #[test]
    fn unknown_keys_get_a_did_you_mean_or_the_allowed_keys() {
        let text = feed("", "").replace("selector = \"li\"", "selectr = \"li\"");
        let e = error_of(&text);
        assert_has(
            &e,
            &[
                "c.toml:5:1:",
                "feed x",
                "unknown key `selectr` in [feeds.x.items]; did you mean `selector`?",
            ],
        );
        let e = error_of(&feed("", "link = { selector = \"a\", atr = \"href\" }"));
        assert_has(
            &e,
            &["unknown key `atr` in the `link` table of [feeds.x.items]; did you mean `attr`?"],
        );
        let e = error_of(&feed("titel = \"News\"", ""));
        assert_has(&e, &["did you mean `title`?"]);
        let e = error_of(&feed("sumary_html = \"div\"", ""));
        assert_has(
            &e,
            &[
                "unknown key `sumary_html` in [feeds.x]",
                "the keys allowed here are `url`, `feed_url`",
            ],
        );
        assert!(!e.contains("did you mean"), "{e}");
        let e = error_of(&feed("timeout = \"5s\"", ""));
        assert_has(&e, &["`timeout` belongs in [settings]"]);
        let e = error_of("[setings]\n");
        assert_has(
            &e,
            &["unknown key `setings` at the top level of the file; did you mean `settings`?"],
        );
    }

    #[test]
    fn duplicates_name_the_line_of_the_first() {
        let text = format!(
            "{}\n[feeds.y]\nurl = \"a.html\"\n\n[feeds.x]\nurl = \"b.html\"\n",
            feed("", "")
        );
        let e = error_of(&text);
        assert_has(
            &e,
            &[
                "c.toml:12:8:",
                "[feeds.x] is defined twice; the first is on line 1",
            ],
        );
        let e = error_of(&feed("url = \"https://example.org/2\"", ""));
        assert_has(
            &e,
            &[
                "c.toml:3:1:",
                "`url` is set twice in [feeds.x]; the first is on line 2",
            ],
        );
    }

    #[test]
    fn invalid_selectors_get_a_caret_and_plain_words() {
        // (selector, where the caret points, words of the reason)
        let cases: [(&str, usize, &str); 10] = [
            (
                "a:hover",
                1,
                "`:hover` is not a pseudo-class pagefeed knows",
            ),
            ("li:first b", 2, "`:first` is not a pseudo-class"),
            (":not(a:hover) b", 6, "`:hover`"),
            ("h3 >> a", 4, "`>` has nothing after it"),
            ("ul >", 3, "`>` has nothing after it"),
            ("div, , p", 5, "the comma-separated list has an empty part"),
            ("a)b", 1, "`)` is not expected here"),
            ("a:nth-child(x)", 12, "`x` is not expected here"),
            ("p::before", 1, "`::before` is a pseudo-element"),
            ("a{color:red}", 1, "a CSS rule's `{ ... }` block"),
        ];
        for (sel, at, words) in cases {
            let p = selector_problem(sel).unwrap_or_else(|| panic!("{sel} must fail"));
            assert_eq!(p.at, at, "{sel}: {p:?}");
            assert!(p.reason.contains(words), "{sel}: {}", p.reason);
            let m = selector_message(sel, &p);
            let lines: Vec<&str> = m.lines().collect();
            assert_eq!(lines.len(), 3, "{m}");
            let shown_at = lines[1].find(sel).expect("the selector is shown");
            assert_eq!(lines[2].find('^'), Some(shown_at + at), "{m}");
        }
        assert!(selector_problem("article.post > h2 a[href]").is_none());
        // Through the config: located, the feed and key named, no library text.
        let e = error_of(&feed("", "").replace("title = \"a\"", "title = \"a:hover\""));
        assert_has(
            &e,
            &[
                "c.toml:6:9:",
                "feed x, key `items.title`",
                "invalid CSS selector: `:hover`",
                "a:hover\n",
                "^",
            ],
        );
        let e = error_of(&feed("", "").replace("selector = \"li\"", "selector = \"li:visited\""));
        assert_has(
            &e,
            &["c.toml:5:12:", "feed x, key `items.selector`", "`:visited`"],
        );
        // A long selector is shown around the caret, and a huge one is not probed forever.
        let long = format!("{}a:hover", "div > ".repeat(100_000));
        let p = selector_problem(&long).expect("fails");
        let m = selector_message(&long, &p);
        assert!(m.chars().count() < 400, "{}", m.len());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Any selector text gets a problem or none, without panicking, and the caret is
        /// inside the text (or just after it).
        #[test]
        fn any_selector_text_is_explained_without_panicking(text in "[a-z.#>+~:,()\\[\\]=\"' *|\u{3000}é-]{0,24}") {
            if let Some(p) = selector_problem(&text) {
                proptest::prop_assert!(p.at <= text.len() && text.is_char_boundary(p.at), "{text:?}: {p:?}");
                let m = selector_message(&text, &p);
                proptest::prop_assert!(!m.contains("Unexpected error"), "{m}");
            }
        }

        /// Any config text is refused or accepted without panicking, in words without serde's.
        #[test]
        fn any_config_error_is_rewritten_without_panicking(
            key in "(max_items|timeout|url|title|selector|html|items|feeds|x|\u{3000}k|é)",
            value in "(\"50\"|50|true|\\{ a = 1 \\}|\\[1\\]|5\\.5|\"\")",
            at in 0usize..4,
        ) {
            let lines = ["[feeds.x]", "url = \"https://example.org/\"", "[feeds.x.items]", "selector = \"li\"\ntitle = \"a\""];
            let mut text = String::new();
            for (i, l) in lines.iter().enumerate() {
                text.push_str(l);
                text.push('\n');
                if i == at {
                    text.push_str(&format!("{key} = {value}\n"));
                }
            }
            if let Err(e) = crate::config::parse(Path::new("c.toml"), &text) {
                let e = e.to_string();
                proptest::prop_assert!(!e.contains("invalid type") && !e.contains("unknown field"), "{e}");
            }
        }
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("titel", "title"), 1);
        assert_eq!(edit_distance("selectr", "selector"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("lnk", &["link", "title"]), Some("link"));
        assert_eq!(closest("zzzz", &["link", "title"]), None);
    }

    #[test]
    fn no_feeds_shows_a_minimal_feed_table() {
        let m = no_feeds(Path::new("c.toml"));
        assert!(m.contains("c.toml defines no feeds"), "{m}");
        // The example is a valid feed.
        let example: String = m.lines().skip(2).take(5).collect::<Vec<_>>().join("\n");
        let config =
            crate::config::parse(Path::new("c.toml"), &example).expect("the example compiles");
        assert_eq!(config.feeds.len(), 1);
    }
}
