//! The item history: one SQLite file that remembers every item a feed has published.
//!
//! Listing pages only show their latest entries; subscribers expect items to stay after they
//! scroll off, never to come back as new, and keep their first date. So each item is keyed by
//! its GUID and stored with when it was first and last seen, a hash of its content (a change
//! bumps `updated`, never the GUID) and its fields. Feeds are rendered from here, not from the
//! page. Each feed's rows are written in one transaction, so a crash leaves the previous state.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::feed::item::{Item, NewItem};
use crate::source::fetch::Validators;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("state database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot create the state database {path}: {source}")]
    Create { path: String, source: CreateError },
    #[error("cannot create the folder for the state database {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

/// Items beyond `PRUNE_FACTOR * max_items` (the oldest) are deleted.
pub const PRUNE_FACTOR: usize = 10;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    feed TEXT NOT NULL,
    guid TEXT NOT NULL,
    permalink INTEGER NOT NULL,
    title TEXT,
    link TEXT,
    summary TEXT,
    summary_html INTEGER NOT NULL,
    authors TEXT NOT NULL,
    categories TEXT NOT NULL,
    image TEXT,
    published INTEGER,
    published_relative INTEGER NOT NULL,
    published_page INTEGER,
    updated INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    position INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (feed, guid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_date
    ON items (feed, coalesce(published, first_seen) DESC, last_seen DESC, position);
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    last_attempt INTEGER,
    last_success INTEGER,
    last_error TEXT,
    item_count INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT,
    etag TEXT,
    last_modified TEXT,
    page_hash TEXT,
    meta TEXT,
    coverage TEXT,
    source TEXT
);
CREATE TABLE IF NOT EXISTS robots (
    host TEXT PRIMARY KEY,
    fetched_at INTEGER NOT NULL,
    body BLOB
);
CREATE TABLE IF NOT EXISTS articles (
    feed TEXT NOT NULL,
    guid TEXT NOT NULL,
    link TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued INTEGER NOT NULL,
    fetched_at INTEGER,
    last_error TEXT,
    content TEXT,
    published INTEGER,
    authors TEXT,
    image TEXT,
    UNIQUE (feed, guid)
);
";

/// The schema version this code writes. 2 added `items.published_page` (the date as the page
/// gave it, beside the distinct instant published) and repaired instants no feed can carry.
/// 3 added `feeds.coverage` (each field's coverage in the last good run, JSON) and
/// `feeds.source` (the `url` or `feed_url` the feed's history was built from). 4 added the
/// `robots` table (each host's robots.txt as last fetched; created by `SCHEMA` in older files).
/// 5 added the `articles` table (each new item's article page: queued, fetched once, its
/// content, date, authors and image, or the failed attempts; created by `SCHEMA` too).
const VERSION: i64 = 5;

/// An article fetch fails this many times in all before it is given up.
pub const ARTICLE_ATTEMPTS: u32 = 3;

/// An item whose article page is still to be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingArticle {
    pub guid: String,
    pub link: String,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// What one attempt at an article page came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArticleOutcome {
    /// Read: what the page gave (each part may be missing).
    Read {
        content: Option<String>,
        published: Option<DateTime<Utc>>,
        authors: Vec<String>,
        image: Option<String>,
    },
    /// The fetch failed (retried next run until [`ARTICLE_ATTEMPTS`]).
    Failed(String),
    /// robots.txt disallows it: never requested, not asked again.
    Disallowed(String),
}

/// What storing an article outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleState {
    Done,
    /// Failed; another attempt comes next run.
    Retry,
    /// Failed for the last time.
    GivenUp,
    Skipped,
}

/// A host's robots.txt as last fetched: `body` is `None` when the site had none (HTTP 4xx).
/// The host is the site's scheme, host and port (`https://example.org:443`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotsRow {
    pub host: String,
    pub fetched_at: i64,
    pub body: Option<Vec<u8>>,
}

/// What the history remembers of a feed's source between runs: the validators for a
/// conditional request, a hash of the last page (with the config that read it), and the
/// channel facts rendered last time, so an unchanged page needs no extraction at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    /// Hash of the feed's config (and pagefeed's version) that produced the stored items.
    pub fingerprint: String,
    pub validators: Validators,
    pub page_hash: String,
    pub meta: StoredMeta,
}

/// The channel facts taken from the page, as last rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredMeta {
    pub title: String,
    pub description: String,
    pub link: String,
    pub language: Option<String>,
}

/// A feed's refresh record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// What storing one page's items did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    pub new: usize,
    pub changed: usize,
    pub pruned: usize,
}

pub struct History {
    conn: Connection,
    path: String,
    /// The file itself, for another connection.
    file: std::path::PathBuf,
    /// A new file's WAL being started on another thread and connection ([`start_wal`]).
    wal_start: Option<std::thread::JoinHandle<()>>,
    /// A checkpoint running on its own thread and connection ([`History::checkpoint_soon`]).
    checkpoint: Option<std::thread::JoinHandle<()>>,
}

impl Drop for History {
    /// The background checkpoint ends first; closing the connection then checkpoints what
    /// was written since (nothing, often: no sync at all) and removes the WAL.
    fn drop(&mut self) {
        for t in [self.wal_start.take(), self.checkpoint.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
    }
}

impl History {
    /// Open (creating if needed) the state database at `path`.
    pub fn open(path: &Path) -> Result<Self, HistoryError> {
        let p = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Dir {
                path: p.clone(),
                source,
            })?;
        }
        let wrap = |source| HistoryError::Sqlite {
            path: p.clone(),
            source,
        };
        let created = !path.exists();
        if created {
            create(path).map_err(|source| HistoryError::Create {
                path: p.clone(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(wrap)?;
        conn.set_prepared_statement_cache_capacity(64);
        // Every transaction here writes: taking the write lock at BEGIN (waiting for it with
        // the busy timeout) means no other connection's commit can slip in between a
        // transaction's first read and its first write, which SQLite would refuse (BUSY)
        // without waiting.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        // `synchronous` first: an empty file (made by something else) switches to WAL
        // through a rollback journal, which then syncs as NORMAL does, once not twice.
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA journal_mode = WAL;")
            .map_err(wrap)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(wrap)?;
        if version < VERSION {
            conn.execute_batch(SCHEMA).map_err(wrap)?;
            upgrade(&conn).map_err(wrap)?;
        }
        Ok(History {
            conn,
            path: p,
            file: path.to_path_buf(),
            wal_start: created.then(|| start_wal(path.to_path_buf())).flatten(),
            checkpoint: None,
        })
    }

    /// Open an existing state database for reading only (`pagefeed check`): `None` when there
    /// is none, or when it has another schema version (opening it for writing would upgrade
    /// it, and `check` writes nothing).
    pub fn open_read_only(path: &Path) -> Result<Option<Self>, HistoryError> {
        if !path.is_file() {
            return Ok(None);
        }
        let p = path.display().to_string();
        let wrap = |source| HistoryError::Sqlite {
            path: p.clone(),
            source,
        };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(wrap)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(wrap)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(wrap)?;
        if version != VERSION {
            return Ok(None);
        }
        Ok(Some(History {
            conn,
            path: p,
            file: path.to_path_buf(),
            wal_start: None,
            checkpoint: None,
        }))
    }

    /// Start copying what the WAL holds into the database file on another thread and
    /// connection, while this one goes on (a build renders and writes its feeds meanwhile).
    /// Closing the history would do the same copy (and its two syncs) at the very end, with
    /// nothing left to overlap it. Call it when no more writes are expected soon: after a
    /// complete checkpoint the next write starts the WAL afresh, which syncs its header.
    /// Nothing changes for durability: the checkpoint syncs the WAL before copying and the
    /// database after (`synchronous = NORMAL`), and closing still checkpoints whatever was
    /// written after it started. At most one runs at a time; errors are left to that final
    /// checkpoint.
    pub fn checkpoint_soon(&mut self) {
        if self.checkpoint.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        if let Some(t) = self.wal_start.take() {
            let _ = t.join();
        }
        if let Some(t) = self.checkpoint.take() {
            let _ = t.join();
        }
        let path = self.file.clone();
        let spawned = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || {
                let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let Ok(conn) = Connection::open_with_flags(&path, flags) else {
                    return;
                };
                let _ = conn.execute_batch("PRAGMA synchronous = NORMAL;");
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            });
        self.checkpoint = spawned.ok();
    }

    /// A statement run through the connection's cache of prepared statements: a service
    /// runs the same few statements for every refresh, and parsing them each time cost more
    /// than running them.
    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(p)
    }

    /// [`Connection::query_row`] through the cache of prepared statements.
    fn row<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(p, f)
    }

    fn err(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Store the items of one successful fetch of `feed` at time `now`, page order kept, and
    /// prune the history to `policy.keep` items.
    ///
    /// A new item (or one whose page date changed) is published at its page date, or, for a
    /// date without a time of day seen first on that very day in the feed's zone, at the time
    /// it was first seen. Its update time starts there and is moved on by whole seconds past
    /// any update time the feed already uses, the lowest entry of the page first, so that
    /// entries the page gives one date keep the page's order in readers (Atom `updated` is
    /// distinct). Stored instants never move again while the page's date and content stay
    /// the same, so an unchanged feed renders to the same bytes.
    pub fn merge(
        &mut self,
        feed: &str,
        items: &[NewItem],
        now: DateTime<Utc>,
        policy: &MergePolicy,
    ) -> Result<MergeStats, HistoryError> {
        self.merge_from(
            feed,
            items.len(),
            items.iter().map(std::borrow::Cow::Borrowed),
            now,
            policy,
        )
    }

    /// [`Self::merge`], taking the items: each is freed as soon as its row is made (its
    /// columns kept in one allocation until they are written), so a page of many entries is
    /// not held twice.
    pub fn merge_owned(
        &mut self,
        feed: &str,
        items: Vec<NewItem>,
        now: DateTime<Utc>,
        policy: &MergePolicy,
    ) -> Result<MergeStats, HistoryError> {
        let count = items.len();
        self.merge_from(
            feed,
            count,
            Draining::new(items).map(std::borrow::Cow::Owned),
            now,
            policy,
        )
    }

    /// [`Self::merge`] over `count` items.
    fn merge_from<'a>(
        &mut self,
        feed: &str,
        count: usize,
        items: impl Iterator<Item = std::borrow::Cow<'a, NewItem>>,
        now: DateTime<Utc>,
        policy: &MergePolicy,
    ) -> Result<MergeStats, HistoryError> {
        let path = self.path.clone();
        let wrap = |source| HistoryError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        let mut stats = MergeStats::default();
        let now_s = now.timestamp();
        let horizon = (!policy.future_dates).then(|| {
            now_s.saturating_add(crate::extract::dates::FUTURE_SLACK_HOURS.saturating_mul(3600))
        });
        let sane = |t: i64| -> bool {
            (crate::extract::dates::earliest().timestamp()
                ..=crate::extract::dates::latest().timestamp())
                .contains(&t)
                && horizon.is_none_or(|h| t <= h)
        };
        let mut rows: Vec<Row> = Vec::with_capacity(count);
        {
            let mut get = tx
                .prepare_cached(
                    "SELECT content_hash, published, published_relative, updated, published_page
                     FROM items WHERE feed = ?1 AND guid = ?2",
                )
                .map_err(wrap)?;
            for it in items {
                let mut legacy_guid = false;
                let mut old: Option<OldRow> = get
                    .query_row(params![feed, it.guid()], OldRow::read)
                    .optional()
                    .map_err(wrap)?;
                if old.is_none()
                    && let Some(legacy) = it.legacy_guid()
                {
                    old = get
                        .query_row(params![feed, legacy], OldRow::read)
                        .optional()
                        .map_err(wrap)?;
                    legacy_guid = old.is_some();
                }
                let page = it.published.map(|d| d.timestamp()).filter(|t| sane(*t));
                let relative = it.published_relative;
                let hash = old.as_ref().map(|_| it.content_digest());
                let mut row = Row {
                    item: it.into_owned(),
                    legacy_guid,
                    published: Secs::NONE,
                    page: page.into(),
                    relative,
                    updated: now_s,
                    assign: true,
                    restamp: true,
                    old_updated: Secs::NONE,
                };
                match old {
                    None => stats.new += 1,
                    Some(o) => {
                        let kept = o.published.filter(|t| sane(*t));
                        // A date resolved against an earlier fetch stays; so does a date the
                        // page no longer shows, and the instant given for an unchanged one.
                        if kept.is_some()
                            && (row.relative || row.page.is_none() || row.page.get() == o.page)
                        {
                            row.published = kept.into();
                            row.assign = false;
                            if row.relative || row.page.is_none() {
                                row.page = o.page.into();
                                row.relative = o.relative;
                            }
                        }
                        // An update time no feed may carry (written by an older version
                        // from an impossible date) is replaced by this fetch.
                        let old_ok = sane(o.updated);
                        row.old_updated = Some(o.updated).into();
                        // A hash stored by a version before the fast hashes is compared
                        // with the old kind; the row then stores the new kind.
                        let same = match hash {
                            Some(h) if crate::feed::fasthash::is_fast(&o.hash) => {
                                o.hash == h.as_text().as_str()
                            }
                            _ => o.hash == row.item.legacy_content_hash(),
                        };
                        if !same {
                            stats.changed += 1;
                            row.updated = if old_ok { now_s.max(o.updated) } else { now_s };
                        } else if old_ok {
                            row.updated = o.updated;
                            row.restamp = false;
                        }
                    }
                }
                rows.push(row);
            }
        }
        for r in rows.iter_mut().filter(|r| r.assign) {
            let t = first_instant(r.page.get(), now, policy.time_zone);
            r.published = Secs(t);
            if r.old_updated.is_none() {
                // A new item was last updated when it was published.
                r.updated = t;
            }
        }
        if rows.iter().any(|r| r.restamp) {
            // Update times are distinct within a feed, so readers (and Atom's `updated`)
            // order entries that share a date as the page does: the lowest entry first.
            let mut used: HashMap<i64, usize> = HashMap::new();
            {
                let mut st = tx
                    .prepare_cached("SELECT updated FROM items WHERE feed = ?1")
                    .map_err(wrap)?;
                let all = st
                    .query_map(params![feed], |r| r.get::<_, i64>(0))
                    .map_err(wrap)?;
                for t in all {
                    *used.entry(t.map_err(wrap)?).or_default() += 1;
                }
            }
            // Times about to be replaced are free again.
            for r in rows.iter().filter(|r| r.restamp) {
                if let Some(t) = r.old_updated.get()
                    && let Some(n) = used.get_mut(&t)
                {
                    *n = n.saturating_sub(1);
                }
            }
            let mut skip: HashMap<i64, i64> = HashMap::new();
            for r in rows.iter_mut().rev().filter(|r| r.restamp) {
                let t = first_free(r.updated, &used, &mut skip);
                *used.entry(t).or_default() += 1;
                r.updated = t;
            }
        }
        {
            // A new item is inserted (a second entry with its GUID in the same batch updates
            // it); a stored one is updated in place, its first sight kept, which touches
            // fewer index entries than replacing the row.
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO items (feed, guid, permalink, title, link, summary,
                        summary_html, authors, categories, image, published, published_relative,
                        published_page, updated, first_seen, last_seen, position, content_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                        ?15, ?15, ?16, ?17)
                     ON CONFLICT (feed, guid) DO UPDATE SET permalink = ?3, title = ?4,
                        link = ?5, summary = ?6, summary_html = ?7, authors = ?8,
                        categories = ?9, image = ?10, published = ?11,
                        published_relative = ?12, published_page = ?13, updated = ?14,
                        last_seen = ?15, position = ?16, content_hash = ?17",
                )
                .map_err(wrap)?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE items SET permalink = ?3, title = ?4, link = ?5, summary = ?6,
                        summary_html = ?7, authors = ?8, categories = ?9, image = ?10,
                        published = ?11, published_relative = ?12, published_page = ?13,
                        updated = ?14, last_seen = ?15, position = ?16, content_hash = ?17
                     WHERE feed = ?1 AND guid = ?2",
                )
                .map_err(wrap)?;
            for (pos, row) in rows.iter().enumerate() {
                let hash = row.item.content_digest();
                let hash = hash.as_text();
                let values = params![
                    feed,
                    row.part(Part::Guid),
                    row.item.permalink,
                    row.part(Part::Title),
                    row.part(Part::Link),
                    row.part(Part::Summary),
                    row.item.summary_html,
                    row.part(Part::Authors).unwrap_or_default(),
                    row.part(Part::Categories).unwrap_or_default(),
                    row.part(Part::Image),
                    row.published.get(),
                    row.relative,
                    row.page.get(),
                    row.updated,
                    now_s,
                    i64::try_from(pos).unwrap_or(i64::MAX),
                    hash.as_str(),
                ];
                if !row.old_updated.is_none() {
                    update.execute(values).map_err(wrap)?;
                } else {
                    insert.execute(values).map_err(wrap)?;
                }
            }
        }
        stats.pruned = tx
            .execute(
                // Items on the page right now are never pruned, however long the page is:
                // pruning them would make them come back as new on the next run.
                "DELETE FROM items WHERE feed = ?1 AND last_seen < ?3 AND guid NOT IN (
                    SELECT guid FROM items WHERE feed = ?1
                    ORDER BY coalesce(published, first_seen) DESC, last_seen DESC, position
                    LIMIT ?2)",
                params![feed, i64::try_from(policy.keep).unwrap_or(i64::MAX), now_s],
            )
            .map_err(wrap)?;
        tx.execute(
            "INSERT INTO feeds (name, last_attempt, last_success, last_error, item_count)
             VALUES (?1, ?2, ?2, NULL, (SELECT count(*) FROM items WHERE feed = ?1))
             ON CONFLICT (name) DO UPDATE SET last_attempt = ?2, last_success = ?2,
                last_error = NULL, item_count = excluded.item_count",
            params![feed, now_s],
        )
        .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        Ok(stats)
    }

    /// Record a failed refresh of `feed`.
    pub fn record_failure(
        &self,
        feed: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<(), HistoryError> {
        self.exec(
            "INSERT INTO feeds (name, last_attempt, last_error) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET last_attempt = ?2, last_error = ?3",
            params![feed, now.timestamp(), error],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// Remember what the last successful fetch of `feed` looked like.
    pub fn save_source_state(&self, feed: &str, st: &SourceState) -> Result<(), HistoryError> {
        let meta = serde_json::to_string(&st.meta).unwrap_or_default();
        self.exec(
            "INSERT INTO feeds (name, fingerprint, etag, last_modified, page_hash, meta)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (name) DO UPDATE SET fingerprint = ?2, etag = ?3,
                    last_modified = ?4, page_hash = ?5, meta = ?6",
            params![
                feed,
                st.fingerprint,
                st.validators.etag,
                st.validators.last_modified,
                st.page_hash,
                meta
            ],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// What the last successful fetch of `feed` looked like, if there was one.
    pub fn source_state(&self, feed: &str) -> Result<Option<SourceState>, HistoryError> {
        let row = self
            .row(
                "SELECT fingerprint, etag, last_modified, page_hash, meta FROM feeds
                 WHERE name = ?1 AND fingerprint IS NOT NULL AND meta IS NOT NULL",
                params![feed],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(
            row.and_then(|(fingerprint, etag, last_modified, page_hash, meta)| {
                Some(SourceState {
                    fingerprint,
                    validators: Validators {
                        etag,
                        last_modified,
                    },
                    page_hash: page_hash.unwrap_or_default(),
                    meta: serde_json::from_str(&meta).ok()?,
                })
            }),
        )
    }

    /// Mark a refresh of `feed` that found the page unchanged as a success.
    pub fn record_unchanged(&self, feed: &str, now: DateTime<Utc>) -> Result<(), HistoryError> {
        self.exec(
            "UPDATE feeds SET last_attempt = ?2, last_success = ?2, last_error = NULL
                 WHERE name = ?1",
            params![feed, now.timestamp()],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// The last refresh attempt, success and error of `feed`, if it was ever refreshed.
    pub fn feed_status(&self, feed: &str) -> Result<Option<FeedRow>, HistoryError> {
        self.row(
            "SELECT last_attempt, last_success, last_error FROM feeds WHERE name = ?1",
            params![feed],
            |r| {
                Ok(FeedRow {
                    last_attempt: r.get::<_, Option<i64>>(0)?.map(instant),
                    last_success: r.get::<_, Option<i64>>(1)?.map(instant),
                    last_error: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Each field's coverage in the last good run of `feed`, if one stored it.
    pub fn coverage(&self, feed: &str) -> Result<Option<crate::health::Coverage>, HistoryError> {
        let text: Option<String> = self
            .row(
                "SELECT coverage FROM feeds WHERE name = ?1",
                params![feed],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Store each field's coverage in a good run of `feed`.
    pub fn save_coverage(
        &self,
        feed: &str,
        coverage: &crate::health::Coverage,
    ) -> Result<(), HistoryError> {
        let text = serde_json::to_string(coverage).unwrap_or_default();
        self.exec(
            "INSERT INTO feeds (name, coverage) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET coverage = ?2",
            params![feed, text],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// The source (`url` or `feed_url`) the history of `feed` was built from, if stored.
    pub fn source_identity(&self, feed: &str) -> Result<Option<String>, HistoryError> {
        self.row(
            "SELECT source FROM feeds WHERE name = ?1",
            params![feed],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .map(Option::flatten)
        .map_err(|e| self.err(e))
    }

    /// Remember that the history of `feed` is built from `source`.
    pub fn set_source_identity(&self, feed: &str, source: &str) -> Result<(), HistoryError> {
        self.exec(
            "INSERT INTO feeds (name, source) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET source = ?2",
            params![feed, source],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// Every host's robots.txt as last fetched.
    pub fn robots_rows(&self) -> Result<Vec<RobotsRow>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT host, fetched_at, body FROM robots ORDER BY host")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RobotsRow {
                    host: r.get(0)?,
                    fetched_at: r.get(1)?,
                    body: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Remember a host's robots.txt (replacing what was stored for it).
    pub fn save_robots(&self, row: &RobotsRow) -> Result<(), HistoryError> {
        self.exec(
            "INSERT INTO robots (host, fetched_at, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (host) DO UPDATE SET fetched_at = ?2, body = ?3",
            params![row.host, row.fetched_at, row.body],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Drop everything the history holds for `feed` (items, coverage, validators, refresh
    /// record, source) in one transaction; returns how many items were dropped.
    pub fn forget(&mut self, feed: &str) -> Result<usize, HistoryError> {
        let path = self.path.clone();
        let wrap = |source| HistoryError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        let items = tx
            .execute("DELETE FROM items WHERE feed = ?1", params![feed])
            .map_err(wrap)?;
        tx.execute("DELETE FROM feeds WHERE name = ?1", params![feed])
            .map_err(wrap)?;
        tx.execute("DELETE FROM articles WHERE feed = ?1", params![feed])
            .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        Ok(items)
    }

    /// How many items the history holds for `feed`.
    pub fn count(&self, feed: &str) -> Result<usize, HistoryError> {
        self.row(
            "SELECT count(*) FROM items WHERE feed = ?1",
            params![feed],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| usize::try_from(n).unwrap_or(0))
        .map_err(|e| self.err(e))
    }

    /// Whether the history of `feed` holds the item `guid`.
    pub fn has_item(&self, feed: &str, guid: &str) -> Result<bool, HistoryError> {
        self.conn
            .prepare_cached("SELECT 1 FROM items WHERE feed = ?1 AND guid = ?2")
            .and_then(|mut st| st.exists(params![feed, guid]))
            .map_err(|e| self.err(e))
    }

    /// Queue the article pages of `items` (GUID and link) of `feed`, seen for the first time
    /// now; an item queued before keeps its row (an article is fetched once).
    pub fn queue_articles(
        &mut self,
        feed: &str,
        items: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<(), HistoryError> {
        let path = self.path.clone();
        let wrap = |source| HistoryError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO articles (feed, guid, link, state, attempts, queued)
                     VALUES (?1, ?2, ?3, 'pending', 0, ?4)",
                )
                .map_err(wrap)?;
            for (guid, link) in items {
                put.execute(params![feed, guid, link, now.timestamp()])
                    .map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)
    }

    /// The article pages of `feed` still to fetch (queued first, first), at most `limit`; rows
    /// of items the history no longer holds are dropped first.
    pub fn pending_articles(
        &self,
        feed: &str,
        limit: usize,
    ) -> Result<Vec<PendingArticle>, HistoryError> {
        self.conn
            .execute(
                "DELETE FROM articles WHERE feed = ?1
                 AND guid NOT IN (SELECT guid FROM items WHERE feed = ?1)",
                params![feed],
            )
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT guid, link, attempts FROM articles
                 WHERE feed = ?1 AND state = 'pending' AND attempts < ?2
                 ORDER BY queued, rowid LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(
                params![
                    feed,
                    ARTICLE_ATTEMPTS,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok(PendingArticle {
                        guid: r.get(0)?,
                        link: r.get(1)?,
                        attempts: r.get(2)?,
                    })
                },
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Store one attempt at the article page of `guid`. A date the article gives becomes the
    /// item's date (it wins over the listing's, and stays while the listing's date does).
    pub fn save_article(
        &mut self,
        feed: &str,
        guid: &str,
        outcome: &ArticleOutcome,
        now: DateTime<Utc>,
    ) -> Result<ArticleState, HistoryError> {
        let path = self.path.clone();
        let wrap = |source| HistoryError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        let attempts: u32 = tx
            .query_row(
                "SELECT attempts FROM articles WHERE feed = ?1 AND guid = ?2",
                params![feed, guid],
                |r| r.get(0),
            )
            .optional()
            .map_err(wrap)?
            .unwrap_or(0);
        let attempts = attempts.saturating_add(1);
        let t = now.timestamp();
        let state = match outcome {
            ArticleOutcome::Read {
                content,
                published,
                authors,
                image,
            } => {
                tx.execute(
                    "UPDATE articles SET state = 'done', attempts = ?3, fetched_at = ?4,
                        last_error = NULL, content = ?5, published = ?6, authors = ?7, image = ?8
                     WHERE feed = ?1 AND guid = ?2",
                    params![
                        feed,
                        guid,
                        attempts,
                        t,
                        content,
                        published.map(|d| d.timestamp()),
                        (!authors.is_empty())
                            .then(|| join_list(authors.iter().map(String::as_str))),
                        image
                    ],
                )
                .map_err(wrap)?;
                if let Some(p) = published {
                    tx.execute(
                        "UPDATE items SET published = ?3 WHERE feed = ?1 AND guid = ?2",
                        params![feed, guid, p.timestamp()],
                    )
                    .map_err(wrap)?;
                }
                ArticleState::Done
            }
            ArticleOutcome::Failed(why) | ArticleOutcome::Disallowed(why) => {
                let (state, kind) = match outcome {
                    ArticleOutcome::Disallowed(_) => ("skipped", ArticleState::Skipped),
                    _ if attempts >= ARTICLE_ATTEMPTS => ("given_up", ArticleState::GivenUp),
                    _ => ("pending", ArticleState::Retry),
                };
                tx.execute(
                    "UPDATE articles SET state = ?3, attempts = ?4, fetched_at = ?5,
                        last_error = ?6 WHERE feed = ?1 AND guid = ?2",
                    params![feed, guid, state, attempts, t, why],
                )
                .map_err(wrap)?;
                kind
            }
        };
        tx.commit().map_err(wrap)?;
        Ok(state)
    }

    /// The newest `limit` items of `feed`, newest first; page order breaks ties. What an
    /// item's article page gave (content, authors, image) wins over the listing's values.
    pub fn latest(&self, feed: &str, limit: usize) -> Result<Vec<Item>, HistoryError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT i.guid, i.permalink, i.title, i.link, i.summary, i.summary_html,
                    coalesce(a.authors, i.authors), i.categories,
                    coalesce(a.image, i.image), i.published, i.updated, i.first_seen, a.content
                 FROM items i LEFT JOIN articles a
                    ON a.feed = i.feed AND a.guid = i.guid AND a.state = 'done'
                 WHERE i.feed = ?1
                 ORDER BY coalesce(i.published, i.first_seen) DESC, i.last_seen DESC, i.position
                 LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(
                params![feed, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(Item {
                        guid: r.get(0)?,
                        permalink: r.get(1)?,
                        title: r.get(2)?,
                        link: r.get(3)?,
                        summary: r.get(4)?,
                        summary_html: r.get(5)?,
                        authors: split_list(&r.get::<_, String>(6)?),
                        categories: split_list(&r.get::<_, String>(7)?),
                        image: r.get(8)?,
                        published: r.get::<_, Option<i64>>(9)?.map(instant),
                        updated: instant(r.get(10)?),
                        first_seen: instant(r.get(11)?),
                        content: r.get(12)?,
                        source: None,
                    })
                },
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

fn instant(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// How [`History::merge`] treats one feed's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergePolicy {
    /// Items beyond this many (the oldest, and not on the page) are deleted.
    pub keep: usize,
    /// The feed's zone: a date without a time of day is a day there.
    pub time_zone: chrono_tz::Tz,
    /// Dates more than two days after the fetch are kept (`future_dates`).
    pub future_dates: bool,
}

/// A stored item as `merge` needs it.
struct OldRow {
    hash: String,
    published: Option<i64>,
    relative: bool,
    updated: i64,
    page: Option<i64>,
}

impl OldRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<OldRow> {
        Ok(OldRow {
            hash: r.get(0)?,
            published: r.get(1)?,
            relative: r.get(2)?,
            updated: r.get(3)?,
            page: r.get(4)?,
        })
    }
}

/// An item of the page as `merge` will write it. A page of 200,000 entries has as many at
/// once: 112 bytes each and the item's one allocation of texts (its content hash is taken
/// again when it is written, rather than kept).
struct Row {
    /// The item itself (its texts are in one allocation already).
    item: NewItem,
    published: Secs,
    /// The date as the page gave it.
    page: Secs,
    /// The stored update time, for a stored item.
    old_updated: Secs,
    updated: i64,
    /// Stored under the item's older GUID.
    legacy_guid: bool,
    relative: bool,
    /// `published` is to be chosen (a new item, or its page date changed).
    assign: bool,
    /// `updated` changes (a new or changed item): it is made distinct in the feed.
    restamp: bool,
}

/// An optional time in seconds in 8 bytes, where `Option<i64>` takes 16 (see [`Row`]).
/// `i64::MIN` stands for none; a stored time of `i64::MIN` (no date any version writes)
/// reads as one second later.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Secs(i64);

impl Secs {
    const NONE: Secs = Secs(i64::MIN);

    fn get(self) -> Option<i64> {
        (self != Secs::NONE).then_some(self.0)
    }

    fn is_none(self) -> bool {
        self == Secs::NONE
    }
}

impl From<Option<i64>> for Secs {
    fn from(t: Option<i64>) -> Secs {
        t.map_or(Secs::NONE, |t| Secs(t.max(i64::MIN.saturating_add(1))))
    }
}

/// The text columns of an item's row, as `merge` writes them.
#[derive(Clone, Copy)]
enum Part {
    Guid,
    Title,
    Link,
    Summary,
    /// Joined (see [`join_list`]).
    Authors,
    /// Joined.
    Categories,
    Image,
}

impl Row {
    fn part(&self, part: Part) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        let it = &self.item;
        match part {
            Part::Guid => Some(Cow::Borrowed(match it.legacy_guid() {
                Some(legacy) if self.legacy_guid => legacy,
                _ => it.guid(),
            })),
            Part::Title => it.title().map(Cow::Borrowed),
            Part::Link => it.link().map(Cow::Borrowed),
            Part::Summary => it.summary().map(Cow::Borrowed),
            Part::Authors => Some(Cow::Owned(join_list(it.authors()))),
            Part::Categories => Some(Cow::Owned(join_list(it.categories()))),
            Part::Image => it.image().map(Cow::Borrowed),
        }
    }
}

/// The items of a list in page order, each freed once taken, the list's memory given back as
/// it empties.
struct Draining<T> {
    /// Reversed: taken from the end.
    rest: Vec<T>,
}

impl<T> Draining<T> {
    /// Items taken between two times the list gives back its freed memory.
    const GIVE_BACK: usize = 4096;

    fn new(mut items: Vec<T>) -> Self {
        items.reverse();
        Draining { rest: items }
    }
}

impl<T> Iterator for Draining<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let next = self.rest.pop();
        if self.rest.len().is_multiple_of(Self::GIVE_BACK) {
            self.rest.shrink_to_fit();
        }
        next
    }
}

/// The instant a new item starts from: its page date, else when it was first seen (`now`);
/// a date at midnight (a date without a time of day) on the day of `now` in `tz` takes `now`.
/// The first second at or after `t` that no item of the feed uses. `skip` remembers, for
/// each second already walked over, a later second where the search may go on: seconds are
/// only ever taken while update times are handed out, never freed, so every second between
/// one and its note stays taken. With the notes shortened on every walk, handing out the
/// times of a page whose many entries share a few dates costs about one step per entry,
/// where walking from the shared second each time cost a step per entry already placed.
fn first_free(t: i64, used: &HashMap<i64, usize>, skip: &mut HashMap<i64, i64>) -> i64 {
    let mut at = t;
    let mut walked = Vec::new();
    loop {
        if let Some(&next) = skip.get(&at)
            && next > at
        {
            walked.push(at);
            at = next;
        } else if used.get(&at).is_some_and(|n| *n > 0) && at < i64::MAX {
            walked.push(at);
            at = at.saturating_add(1);
        } else {
            break;
        }
    }
    for w in walked {
        skip.insert(w, at);
    }
    at
}

fn first_instant(page: Option<i64>, now: DateTime<Utc>, tz: chrono_tz::Tz) -> i64 {
    let Some(t) = page else {
        return now.timestamp();
    };
    let local = instant(t).with_timezone(&tz);
    let midnight = local.time() == chrono::NaiveTime::MIN;
    if midnight && local.date_naive() == now.with_timezone(&tz).date_naive() && t <= now.timestamp()
    {
        return now.timestamp();
    }
    t
}

/// Why a new state database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Make a new state database at `path`, all at once: its tables and version are written to
/// `PATH.new` with no journal and no syncs, that file is switched to WAL, synced once and
/// linked into place. A crash leaves no state or a complete one, never a file without its
/// tables. SQLite's own way, a rollback journal to switch an empty file to WAL, syncs the
/// journal twice, its folder and the file (three with `synchronous = NORMAL`), then the
/// tables' commits start the WAL. The WAL now comes with the run's first write. Linking
/// never replaces a state another process made meanwhile (writers hold the run lock, so
/// none should). The folder is not synced here: if the name is lost in a crash, the next
/// run starts afresh, and SQLite syncs the folder anyway when it first syncs the WAL it
/// creates beside the file (the header of a new WAL is synced at its first commit).
fn create(path: &Path) -> Result<(), CreateError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    let tmp = std::path::PathBuf::from(name);
    let remove = |p: &Path| match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    // What a run killed here left behind.
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut n = tmp.as_os_str().to_owned();
        n.push(suffix);
        remove(Path::new(&n))?;
    }
    let made = (|| -> Result<(), CreateError> {
        let conn = Connection::open(&tmp)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             BEGIN; {SCHEMA} PRAGMA user_version = {VERSION}; COMMIT;
             PRAGMA journal_mode = WAL;"
        ))?;
        conn.close().map_err(|(_, e)| e)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) if !path.exists() => std::fs::rename(&tmp, path)?,
            r => r?,
        }
        Ok(())
    })();
    let removed = remove(&tmp);
    made?;
    Ok(removed?)
}

/// Start the WAL of a state [`create`] just made, on another thread and connection, while
/// the run goes on (a build fetches and extracts its pages meanwhile). The first commit into
/// a new WAL writes its header and syncs it, and syncs the folder the WAL was created in:
/// two syncs the run's first real commit (a feed's items, after its extraction) otherwise
/// waits for. A commit that rewrites `user_version` makes them here; the run's own commits
/// then append to a WAL whose header is durable, as they would after any first commit. If
/// the run commits first, it makes the two syncs itself, as before. The run's transactions
/// begin IMMEDIATE (see [`History::open`]), so this commit can never invalidate the
/// snapshot of one that has begun reading: they wait for each other's lock instead. `None`
/// if no thread can be started (the run's first commit then does it).
fn start_wal(path: std::path::PathBuf) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("wal-start".into())
        .spawn(move || {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let Ok(conn) = Connection::open_with_flags(&path, flags) else {
                return;
            };
            let _ = conn.busy_timeout(Duration::from_secs(30));
            // The version as it is, written back under the write lock: whatever the run
            // wrote first stays.
            let _ = (|| -> rusqlite::Result<()> {
                conn.execute_batch("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE;")?;
                let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                conn.execute_batch(&format!("PRAGMA user_version = {v}; COMMIT;"))
            })();
        })
        .ok()
}

/// Brings a state database written by an older version up to [`VERSION`].
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let has_page = conn
        .prepare("SELECT 1 FROM pragma_table_info('items') WHERE name = 'published_page'")?
        .exists([])?;
    let (lo, hi) = (
        crate::extract::dates::earliest().timestamp(),
        crate::extract::dates::latest().timestamp(),
    );
    let has_column = |name: &str| -> rusqlite::Result<bool> {
        conn.prepare("SELECT 1 FROM pragma_table_info('feeds') WHERE name = ?1")?
            .exists([name])
    };
    let mut sql = String::from("BEGIN;");
    for column in ["coverage", "source"] {
        if !has_column(column)? {
            sql.push_str(&format!("ALTER TABLE feeds ADD COLUMN {column} TEXT;"));
        }
    }
    if !has_page {
        sql.push_str(
            "ALTER TABLE items ADD COLUMN published_page INTEGER;
             UPDATE items SET published_page = published WHERE published_relative = 0;",
        );
    }
    // Instants no feed can carry (an item dated in the year 9999 made every later build fail)
    // are repaired: such an item is dated as an undated one.
    sql.push_str(&format!(
        "UPDATE items SET published = NULL, published_page = NULL
            WHERE published NOT BETWEEN {lo} AND {hi};
         UPDATE items SET published_page = NULL WHERE published_page NOT BETWEEN {lo} AND {hi};
         UPDATE items SET first_seen = max({lo}, min({hi}, first_seen)),
            last_seen = max({lo}, min({hi}, last_seen))
            WHERE first_seen NOT BETWEEN {lo} AND {hi} OR last_seen NOT BETWEEN {lo} AND {hi};
         UPDATE items SET updated = coalesce(published, first_seen)
            WHERE updated NOT BETWEEN {lo} AND {hi};
         PRAGMA user_version = {VERSION};
         COMMIT;"
    ));
    conn.execute_batch(&sql)
}

/// Lists (authors, categories) are stored as one text joined by U+001F (the unit
/// separator), which no name or category on a page contains; reading them back is a split,
/// much cheaper than JSON for the thousands of rows a merged feed reads.
const SEP: char = '\u{1f}';

fn join_list<'a>(v: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, s) in v.into_iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        out.extend(s.chars().filter(|c| *c != SEP));
    }
    out
}

fn split_list(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(SEP).map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::item::ItemParts;

    /// A merge holds a row, an item and a raw entry for every entry of a page at some point:
    /// their sizes are what a page of 200,000 entries costs (`bench/vs-baseline.sh`).
    #[test]
    fn rows_items_and_entries_stay_small() {
        assert!(
            std::mem::size_of::<Row>() <= 112,
            "{}",
            std::mem::size_of::<Row>()
        );
        assert!(std::mem::size_of::<NewItem>() <= 72);
        assert!(std::mem::size_of::<crate::extract::select::RawEntry>() <= 56);
        assert_eq!(Secs::from(None), Secs::NONE);
        assert_eq!(Secs::from(Some(i64::MIN)).get(), Some(i64::MIN + 1));
        assert_eq!(Secs::from(Some(-5)).get(), Some(-5));
    }

    fn item(guid: &str, title: &str, published: Option<i64>, relative: bool) -> NewItem {
        parts(guid, title, published, relative).into()
    }

    fn parts(guid: &str, title: &str, published: Option<i64>, relative: bool) -> ItemParts {
        ItemParts {
            guid: guid.to_string(),
            permalink: true,
            title: Some(title.to_string()),
            link: Some(guid.to_string()),
            summary: None,
            summary_html: false,
            authors: vec!["A".into()],
            categories: vec![],
            image: None,
            published: published.map(instant),
            published_relative: relative,
            legacy_guid: None,
        }
    }

    fn keep(n: usize) -> MergePolicy {
        MergePolicy {
            keep: n,
            time_zone: chrono_tz::Tz::UTC,
            future_dates: false,
        }
    }

    /// Every row of the store, every column, in a stable order.
    fn dump(h: &History) -> Vec<Vec<rusqlite::types::Value>> {
        let mut st = h
            .conn
            .prepare("SELECT * FROM items ORDER BY feed, guid")
            .expect("prepare");
        let n = st.column_count();
        st.query_map([], |r| {
            (0..n)
                .map(|i| r.get::<_, rusqlite::types::Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .expect("query")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("rows")
    }

    #[test]
    fn a_new_state_is_made_whole_in_wal_mode_over_what_a_killed_run_left() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("sub/s.db");
        std::fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
        // A creation killed half-way: a partial file and its WAL.
        for leftover in ["s.db.new", "s.db.new-wal"] {
            std::fs::write(dir.path().join("sub").join(leftover), b"not a database").expect("w");
        }
        let h = History::open(&db).expect("open");
        let mode: String = h
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let version: i64 = h
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, VERSION);
        let tables: Vec<String> = h
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .and_then(|mut st| {
                st.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .expect("tables");
        assert_eq!(tables, ["articles", "feeds", "items", "robots"]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".new"))
            .collect();
        left.sort();
        assert!(left.is_empty(), "{left:?}");
        drop(h);
        // Opened again: nothing to create or upgrade.
        let h = History::open(&db).expect("reopen");
        assert_eq!(h.count("news").expect("count"), 0);
    }

    #[test]
    fn a_new_state_has_its_wal_started_on_the_side_and_keeps_what_the_run_writes() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("s.db");
        let mut h = History::open(&db).expect("open");
        if let Some(t) = h.wal_start.take() {
            t.join().expect("wal thread");
        }
        // The header (32 bytes) and the frame of one page: the run's commits append to it.
        let wal = dir.path().join("s.db-wal");
        let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(len > 32, "WAL of {len} bytes");
        h.merge(
            "news",
            &[item("g1", "One", None, false)],
            Utc::now(),
            &keep(5),
        )
        .expect("merge");
        drop(h);
        assert!(!wal.exists(), "closing checkpoints and removes the WAL");
        let h = History::open(&db).expect("reopen");
        assert!(h.wal_start.is_none(), "only a new file gets one");
        assert_eq!(h.count("news").expect("count"), 1);
    }

    #[test]
    fn an_empty_file_becomes_a_state_too() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("s.db");
        std::fs::write(&db, b"").expect("touch");
        let mut h = History::open(&db).expect("open");
        h.merge(
            "news",
            &[item("g1", "One", None, false)],
            Utc::now(),
            &keep(5),
        )
        .expect("merge");
        let version: i64 = h
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, VERSION);
        assert_eq!(h.count("news").expect("count"), 1);
    }

    #[test]
    fn a_checkpoint_soon_copies_the_wal_into_the_file_and_closing_removes_the_wal() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("s.db");
        let mut h = History::open(&db).expect("open");
        let items: Vec<NewItem> = (0..300)
            .map(|i| item(&format!("g{i}"), "An item", None, false))
            .collect();
        h.merge("news", &items, Utc::now(), &keep(100))
            .expect("merge");
        h.checkpoint_soon();
        if let Some(t) = h.checkpoint.take() {
            t.join().expect("checkpoint thread");
        }
        // The database file alone, without its WAL, holds the items now.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&db, &copy).expect("copy");
        let c = Connection::open(&copy).expect("open copy");
        let n: i64 = c
            .query_row("SELECT count(*) FROM items WHERE feed = 'news'", [], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(n, 300);
        drop(c);
        // Written after it: kept by the checkpoint of closing.
        h.record_unchanged("news", Utc::now()).expect("write");
        h.checkpoint_soon();
        drop(h);
        assert!(!dir.path().join("s.db-wal").exists());
        let h = History::open(&db).expect("reopen");
        assert_eq!(h.count("news").expect("count"), 300);
        assert!(h.feed_status("news").expect("status").is_some());
    }

    #[test]
    fn merge_owned_stores_what_merge_stores() {
        // More items than `Draining` takes between two give-backs; absent and empty texts,
        // lists with the separator, changed items, items stored under an older GUID.
        let page = |run: i64| -> Vec<NewItem> {
            (0..5000i64)
                .map(|i| {
                    let date = (i % 3 != 0).then_some(1_599_000_000 + i / 7);
                    let mut it = parts(
                        &format!("https://x/{i}"),
                        &format!("T{i}"),
                        date,
                        i % 11 == 0,
                    );
                    match i % 5 {
                        0 => it.title = None,
                        1 => it.title = Some(String::new()),
                        _ => {}
                    }
                    if i % 4 == 0 {
                        it.summary = Some(format!("<p>s{i}</p>"));
                        it.summary_html = true;
                    }
                    if i % 6 == 0 {
                        it.authors = vec![];
                        it.categories = vec!["a\u{1f}b".into(), String::new(), "c".into()];
                    }
                    if i % 10 == 3 {
                        it.link = Some(format!("https://x/l{i}"));
                    }
                    if i % 7 == 0 {
                        it.image = Some(format!("https://x/i{i}.png"));
                        it.permalink = false;
                        it.link = None;
                    }
                    if i % 13 == 0 {
                        match run {
                            1 => it.guid = format!("pagefeed:{i}"),
                            _ => it.legacy_guid = Some(format!("pagefeed:{i}")),
                        }
                    }
                    if run == 2 && i % 9 == 0 {
                        it.title = Some("changed".into());
                    }
                    NewItem::from(it)
                })
                .collect()
        };
        let dir = tempfile::tempdir().expect("tmp");
        let mut borrowed = History::open(&dir.path().join("a.db")).expect("open");
        let mut owned = History::open(&dir.path().join("b.db")).expect("open");
        for run in [1, 2] {
            let now = instant(1_600_000_000 + run * 3600);
            let items = page(run);
            let a = borrowed
                .merge("f", &items, now, &keep(10_000))
                .expect("merge");
            let b = owned
                .merge_owned("f", items, now, &keep(10_000))
                .expect("merge");
            assert_eq!((a.new, a.changed), (b.new, b.changed));
            let rows = dump(&owned);
            assert_eq!(rows.len(), 5000);
            assert_eq!(rows, dump(&borrowed), "run {run}");
            // Each row holds its item's columns, under the GUID it was stored under first.
            let mut get = owned
                .conn
                .prepare(
                    "SELECT permalink, title, link, summary, summary_html, authors, categories,
                        image, content_hash FROM items WHERE feed = 'f' AND guid = ?1",
                )
                .expect("prepare");
            type Cols = (
                bool,
                Option<String>,
                Option<String>,
                Option<String>,
                bool,
                String,
                String,
                Option<String>,
                String,
            );
            for it in page(run) {
                let guid = it.legacy_guid().unwrap_or(it.guid());
                let got: Cols = get
                    .query_row([guid], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                        ))
                    })
                    .expect("row");
                let want: Cols = (
                    it.permalink,
                    it.title().map(str::to_string),
                    it.link().map(str::to_string),
                    it.summary().map(str::to_string),
                    it.summary_html,
                    join_list(it.authors()),
                    join_list(it.categories()),
                    it.image().map(str::to_string),
                    it.content_hash(),
                );
                assert_eq!(got, want, "{guid}");
            }
        }
    }

    #[test]
    fn keeps_items_dates_and_first_seen_across_runs() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut h = History::open(&dir.path().join("s.db")).expect("open");
        let t1 = instant(1_600_000_000);
        let t2 = instant(1_600_003_600);
        let s = h
            .merge(
                "f",
                &[
                    item("https://x/1", "One", Some(1_599_000_000), false),
                    item("https://x/2", "Two", Some(t1.timestamp() - 60), true),
                ],
                t1,
                &keep(100),
            )
            .expect("merge");
        assert_eq!((s.new, s.changed), (2, 0));
        // Second run: item 1 gone from the page, item 2's relative date now resolves later,
        // its title changed; item 3 undated.
        let s = h
            .merge(
                "f",
                &[
                    item("https://x/2", "Two!", Some(t2.timestamp() - 60), true),
                    item("https://x/3", "Three", None, false),
                ],
                t2,
                &keep(100),
            )
            .expect("merge");
        assert_eq!((s.new, s.changed), (1, 1));
        let items = h.latest("f", 10).expect("latest");
        let guids: Vec<_> = items.iter().map(|i| i.guid.as_str()).collect();
        assert_eq!(guids, ["https://x/3", "https://x/2", "https://x/1"]);
        assert_eq!(items[0].date(), t2, "undated item dated by first sight");
        assert_eq!(
            items[1].published,
            Some(instant(t1.timestamp() - 60)),
            "relative date kept"
        );
        // The changed item and the new one (dated by this fetch) are updated a second apart.
        assert_eq!(
            items[1].updated,
            t2 + chrono::TimeDelta::seconds(1),
            "changed title bumps updated"
        );
        assert_eq!(items[0].updated, t2);
        assert_eq!(items[1].first_seen, t1);
        assert_eq!(items[2].title.as_deref(), Some("One"));
    }

    #[test]
    fn a_sha256_content_hash_of_an_older_version_marks_nothing_changed() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut h = History::open(&dir.path().join("s.db")).expect("open");
        let t1 = instant(1_600_000_000);
        let t2 = instant(1_600_003_600);
        let one = item("https://x/1", "One", Some(1_599_000_000), false);
        let two = item("https://x/2", "Two", Some(1_599_000_000), false);
        h.merge("f", &[one.clone(), two.clone()], t1, &keep(100))
            .expect("merge");
        // What an older pagefeed stored: bare SHA-256 hex.
        for it in [&one, &two] {
            h.conn
                .execute(
                    "UPDATE items SET content_hash = ?1 WHERE feed = 'f' AND guid = ?2",
                    params![it.legacy_content_hash(), it.guid()],
                )
                .expect("store a legacy hash");
        }
        let before = h.latest("f", 10).expect("latest");
        let mut two_changed = two.clone();
        two_changed.edit(|p| p.title = Some("Two!".into()));
        let s = h
            .merge("f", &[one.clone(), two_changed], t2, &keep(100))
            .expect("merge");
        assert_eq!((s.new, s.changed), (0, 1), "only the edited item changed");
        let after = h.latest("f", 10).expect("latest");
        let one_before = before.iter().find(|i| i.guid == one.guid()).expect("one");
        let one_after = after.iter().find(|i| i.guid == one.guid()).expect("one");
        assert_eq!(
            one_after.updated, one_before.updated,
            "unchanged item keeps its time"
        );
        // The stored hash is now the fast kind, and the next run still sees no change.
        let stored: String = h
            .row(
                "SELECT content_hash FROM items WHERE feed = 'f' AND guid = ?1",
                params![one.guid()],
                |r| r.get(0),
            )
            .expect("hash");
        assert_eq!(stored, one.content_hash());
        assert!(crate::feed::fasthash::is_fast(&stored));
    }

    #[test]
    fn shared_dates_get_distinct_update_times_in_page_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut h = History::open(&dir.path().join("s.db")).expect("open");
        let day = 1_600_000_000 - 1_600_000_000 % 86_400; // a UTC midnight
        let now = instant(day + 5 * 86_400 + 3_600);
        let items: Vec<_> = (0..3)
            .map(|i| item(&format!("g{i}"), "t", Some(day), false))
            .collect();
        h.merge("f", &items, now, &keep(100)).expect("merge");
        let stamps = |h: &History| -> Vec<(String, i64, i64)> {
            h.latest("f", 10)
                .expect("latest")
                .iter()
                .map(|i| (i.guid.clone(), i.date().timestamp(), i.updated.timestamp()))
                .collect()
        };
        let first = stamps(&h);
        assert_eq!(
            first,
            [
                ("g0".to_string(), day, day + 2),
                ("g1".to_string(), day, day + 1),
                ("g2".to_string(), day, day)
            ],
            "the page's date is kept; update times are distinct, the upper entry later"
        );
        // The same page again: nothing moves.
        h.merge("f", &items, now, &keep(100)).expect("merge");
        assert_eq!(stamps(&h), first);
        // A new entry on top with the same date is updated after the others.
        let mut more = vec![item("g9", "t", Some(day), false)];
        more.extend(items.iter().cloned());
        h.merge("f", &more, now, &keep(100)).expect("merge");
        let after = stamps(&h);
        assert_eq!(after[0], ("g9".to_string(), day, day + 3));
        assert_eq!(&after[1..], &first[..]);
        // Seen first on its own day, a date without a time takes the time of first sight.
        let today = instant(day + 5 * 86_400);
        h.merge(
            "f",
            &[item("g8", "t", Some(today.timestamp()), false)],
            now,
            &keep(100),
        )
        .expect("merge");
        assert_eq!(h.latest("f", 1).expect("latest")[0].date(), now);
    }

    #[test]
    fn first_free_hands_out_what_the_walk_from_each_second_would() {
        // Seconds taken before (some twice), then a long run of wishes that share a few
        // seconds, interleaved: the notes must give each the second a plain walk gives.
        let mut used: HashMap<i64, usize> = HashMap::new();
        for t in [5, 6, 9, 40, 41, 42, 100] {
            *used.entry(t).or_default() += 1;
        }
        *used.entry(6).or_default() += 1;
        let mut plain = used.clone();
        let mut skip = HashMap::new();
        for i in 0..2_000_i64 {
            let wish = [5, 40, 7, 100, 3][usize::try_from(i % 5).expect("small")] + (i % 3);
            let got = first_free(wish, &used, &mut skip);
            *used.entry(got).or_default() += 1;
            let mut want = wish;
            while plain.get(&want).is_some_and(|n| *n > 0) {
                want += 1;
            }
            *plain.entry(want).or_default() += 1;
            assert_eq!(got, want, "wish {wish} at step {i}");
        }
    }

    #[test]
    fn a_stored_date_past_the_horizon_heals() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut h = History::open(&dir.path().join("s.db")).expect("open");
        let now = instant(1_600_000_000);
        let far = 1_700_000_000;
        let events = MergePolicy {
            future_dates: true,
            ..keep(100)
        };
        h.merge("f", &[item("g", "t", Some(far), false)], now, &events)
            .expect("merge");
        assert_eq!(h.latest("f", 1).expect("latest")[0].date().timestamp(), far);
        // Without `future_dates`, the page's date is no date: the item is dated by this fetch.
        let later = instant(1_600_000_100);
        h.merge("f", &[item("g", "t", Some(far), false)], later, &keep(100))
            .expect("merge");
        let it = &h.latest("f", 1).expect("latest")[0];
        assert_eq!(it.date(), later);
        assert!(it.updated <= later);
    }

    #[test]
    fn prunes_oldest_beyond_keep() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut h = History::open(&dir.path().join("s.db")).expect("open");
        let items: Vec<_> = (0..5)
            .map(|i| item(&format!("g{i}"), "t", Some(1_000_000 + i), false))
            .collect();
        // A page longer than the history keeps: nothing on it is pruned ...
        let s = h
            .merge("f", &items, instant(2_000_000), &keep(3))
            .expect("merge");
        assert_eq!(s.pruned, 0);
        let s = h
            .merge("f", &items, instant(2_000_100), &keep(3))
            .expect("merge");
        assert_eq!(
            (s.new, s.pruned),
            (0, 0),
            "nothing on the page comes back as new"
        );
        // ... once they are off the page, the oldest beyond `keep` go.
        let s = h
            .merge("f", &items[4..], instant(2_000_200), &keep(3))
            .expect("merge");
        assert_eq!(s.pruned, 2);
        let left: Vec<_> = h
            .latest("f", 10)
            .expect("latest")
            .into_iter()
            .map(|i| i.guid)
            .collect();
        assert_eq!(left, ["g4", "g3", "g2"]);
    }

    #[test]
    fn a_version_2_history_gains_coverage_source_and_robots_and_forgets() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.db");
        {
            // The feeds table as version 2 wrote it.
            let c = Connection::open(&path).expect("open");
            c.execute_batch(
                "CREATE TABLE feeds (name TEXT PRIMARY KEY, last_attempt INTEGER,
                    last_success INTEGER, last_error TEXT, item_count INTEGER NOT NULL DEFAULT 0,
                    fingerprint TEXT, etag TEXT, last_modified TEXT, page_hash TEXT, meta TEXT);
                 INSERT INTO feeds (name, etag) VALUES ('f', 'x');
                 PRAGMA user_version = 2;",
            )
            .expect("v2");
        }
        let mut h = History::open(&path).expect("upgrade");
        assert_eq!(h.coverage("f").expect("read"), None);
        assert_eq!(h.source_identity("f").expect("read"), None);
        let cov = crate::health::Coverage {
            entries: 3,
            items: 3,
            fields: [("title".to_string(), 3)].into_iter().collect(),
        };
        h.save_coverage("f", &cov).expect("save");
        h.set_source_identity("f", "https://a/").expect("save");
        assert_eq!(h.coverage("f").expect("read"), Some(cov));
        assert_eq!(
            h.source_identity("f").expect("read").as_deref(),
            Some("https://a/")
        );
        h.merge(
            "f",
            &[item("g", "t", None, false)],
            instant(2_000_000),
            &keep(3),
        )
        .expect("merge");
        assert_eq!(h.forget("f").expect("forget"), 1);
        assert_eq!(h.count("f").expect("count"), 0);
        assert_eq!(h.coverage("f").expect("read"), None);
        assert_eq!(h.source_identity("f").expect("read"), None);
        assert_eq!(h.robots_rows().expect("robots"), []);
        let row = RobotsRow {
            host: "https://a:443".to_string(),
            fetched_at: 5,
            body: Some(b"User-agent: *".to_vec()),
        };
        h.save_robots(&row).expect("save");
        let again = RobotsRow {
            fetched_at: 6,
            body: None,
            ..row
        };
        h.save_robots(&again).expect("save");
        assert_eq!(h.robots_rows().expect("robots"), [again]);
        let v: i64 = h
            .row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, VERSION);
    }

    #[test]
    fn a_version_4_history_gains_articles_queued_once_tried_three_times_and_shown() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.db");
        {
            let h = History::open(&path).expect("open");
            h.conn
                .execute_batch("DROP TABLE articles; PRAGMA user_version = 4;")
                .expect("v4");
        }
        let mut h = History::open(&path).expect("upgrade");
        let v: i64 = h
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, VERSION);
        let t = instant(2_000_000);
        let items = [
            item("https://x/1", "One", Some(1_900_000), false),
            item("https://x/2", "Two", Some(1_900_000), false),
        ];
        h.merge("f", &items, t, &keep(10)).expect("merge");
        let links: Vec<(String, String)> = items
            .iter()
            .map(|i| (i.guid().to_string(), i.guid().to_string()))
            .collect();
        h.queue_articles("f", &links, t).expect("queue");
        h.queue_articles("f", &links, t).expect("queue again");
        let pending = h.pending_articles("f", 10).expect("pending");
        assert_eq!(pending.len(), 2);
        assert_eq!(h.pending_articles("f", 1).expect("pending").len(), 1);
        let read = ArticleOutcome::Read {
            content: Some("<p>Full</p>".to_string()),
            published: Some(instant(1_800_000)),
            authors: vec!["Ann".to_string()],
            image: Some("https://x/i.png".to_string()),
        };
        assert_eq!(
            h.save_article("f", "https://x/1", &read, t).expect("save"),
            ArticleState::Done
        );
        let fail = ArticleOutcome::Failed("HTTP 500".to_string());
        for expected in [
            ArticleState::Retry,
            ArticleState::Retry,
            ArticleState::GivenUp,
        ] {
            assert_eq!(
                h.save_article("f", "https://x/2", &fail, t).expect("save"),
                expected
            );
        }
        assert_eq!(h.pending_articles("f", 10).expect("pending"), []);
        let latest = h.latest("f", 10).expect("latest");
        let one = latest
            .iter()
            .find(|i| i.guid == "https://x/1")
            .expect("one");
        assert_eq!(one.content.as_deref(), Some("<p>Full</p>"));
        assert_eq!(
            one.published,
            Some(instant(1_800_000)),
            "the article's date"
        );
        assert_eq!(one.authors, ["Ann"]);
        assert_eq!(one.image.as_deref(), Some("https://x/i.png"));
        let two = latest
            .iter()
            .find(|i| i.guid == "https://x/2")
            .expect("two");
        assert_eq!(
            (two.content.as_deref(), two.authors.as_slice()),
            (None, &["A".to_string()][..])
        );
        // The article's date stays when the listing shows the item again with its own date.
        h.merge("f", &items, instant(2_000_100), &keep(10))
            .expect("merge again");
        let latest = h.latest("f", 10).expect("latest");
        let one = latest
            .iter()
            .find(|i| i.guid == "https://x/1")
            .expect("one");
        assert_eq!(one.published, Some(instant(1_800_000)));
        assert_eq!(h.forget("f").expect("forget"), 2);
        assert_eq!(
            h.conn
                .query_row("SELECT count(*) FROM articles", [], |r| r.get::<_, i64>(0))
                .expect("count"),
            0
        );
    }
}
