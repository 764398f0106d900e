//! The item history: one SQLite file that remembers every item a feed has published.
//!
//! Listing pages only show their latest entries; subscribers expect items to stay after they
//! scroll off, never to come back as new, and keep their first date. So each item is keyed by
//! its GUID and stored with when it was first and last seen, a hash of its content (a change
//! bumps `updated`, never the GUID) and its fields. Feeds are rendered from here, not from the
//! page. Each feed's rows are written in one transaction, so a crash leaves the previous state.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::fetch::Validators;
use crate::item::{Item, NewItem};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("state database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
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
    meta TEXT
);
PRAGMA user_version = 1;
";

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
        let conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(wrap)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(wrap)?;
        conn.execute_batch(SCHEMA).map_err(wrap)?;
        Ok(History { conn, path: p })
    }

    fn err(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Store the items of one successful fetch of `feed` at time `now`, page order kept, and
    /// prune the history to `keep` items.
    pub fn merge(
        &mut self,
        feed: &str,
        items: &[NewItem],
        now: DateTime<Utc>,
        keep: usize,
    ) -> Result<MergeStats, HistoryError> {
        let path = self.path.clone();
        let wrap = |source| HistoryError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        let mut stats = MergeStats::default();
        let now_s = now.timestamp();
        {
            let mut get = tx
                .prepare_cached(
                    "SELECT content_hash, published, published_relative, updated FROM items
                     WHERE feed = ?1 AND guid = ?2",
                )
                .map_err(wrap)?;
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO items (feed, guid, permalink, title, link, summary,
                        summary_html, authors, categories, image, published, published_relative,
                        updated, first_seen, last_seen, position, content_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                        coalesce((SELECT first_seen FROM items WHERE feed = ?1 AND guid = ?2), ?14),
                        ?14, ?15, ?16)",
                )
                .map_err(wrap)?;
            for (pos, it) in items.iter().enumerate() {
                let old: Option<(String, Option<i64>, bool, i64)> = get
                    .query_row(params![feed, it.guid], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                    .map_err(wrap)?;
                let hash = it.content_hash();
                let mut published = it.published.map(|d| d.timestamp());
                let mut relative = it.published_relative;
                let updated = match &old {
                    None => {
                        stats.new += 1;
                        published.unwrap_or(now_s)
                    }
                    Some((old_hash, old_pub, old_rel, old_updated)) => {
                        // A date resolved against an earlier fetch stays; so does a date the
                        // page no longer shows.
                        if old_pub.is_some() && (relative || published.is_none()) {
                            published = *old_pub;
                            relative = *old_rel;
                        }
                        if *old_hash == hash {
                            *old_updated
                        } else {
                            stats.changed += 1;
                            now_s.max(*old_updated)
                        }
                    }
                };
                put.execute(params![
                    feed,
                    it.guid,
                    it.permalink,
                    it.title,
                    it.link,
                    it.summary,
                    it.summary_html,
                    join_list(&it.authors),
                    join_list(&it.categories),
                    it.image,
                    published,
                    relative,
                    updated,
                    now_s,
                    pos as i64,
                    hash,
                ])
                .map_err(wrap)?;
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
                params![feed, keep as i64, now_s],
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
        self.conn
            .execute(
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
        self.conn
            .execute(
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
            .conn
            .query_row(
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
        self.conn
            .execute(
                "UPDATE feeds SET last_attempt = ?2, last_success = ?2, last_error = NULL
                 WHERE name = ?1",
                params![feed, now.timestamp()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The last refresh attempt, success and error of `feed`, if it was ever refreshed.
    pub fn feed_status(&self, feed: &str) -> Result<Option<FeedRow>, HistoryError> {
        self.conn
            .query_row(
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

    /// How many items the history holds for `feed`.
    pub fn count(&self, feed: &str) -> Result<usize, HistoryError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM items WHERE feed = ?1",
                params![feed],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }

    /// The newest `limit` items of `feed`, newest first; page order breaks ties.
    pub fn latest(&self, feed: &str, limit: usize) -> Result<Vec<Item>, HistoryError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT guid, permalink, title, link, summary, summary_html, authors, categories,
                    image, published, updated, first_seen
                 FROM items WHERE feed = ?1
                 ORDER BY coalesce(published, first_seen) DESC, last_seen DESC, position
                 LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![feed, limit as i64], |r| {
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
                    source: None,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

fn instant(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Lists (authors, categories) are stored as one text joined by U+001F (the unit
/// separator), which no name or category on a page contains; reading them back is a split,
/// much cheaper than JSON for the thousands of rows a merged feed reads.
const SEP: char = '\u{1f}';

fn join_list(v: &[String]) -> String {
    let mut out = String::new();
    for (i, s) in v.iter().enumerate() {
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

    fn item(guid: &str, title: &str, published: Option<i64>, relative: bool) -> NewItem {
        NewItem {
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
                100,
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
                100,
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
        assert_eq!(items[1].updated, t2, "changed title bumps updated");
        assert_eq!(items[1].first_seen, t1);
        assert_eq!(items[2].title.as_deref(), Some("One"));
    }

    #[test]
    fn prunes_oldest_beyond_keep() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut h = History::open(&dir.path().join("s.db")).expect("open");
        let items: Vec<_> = (0..5)
            .map(|i| item(&format!("g{i}"), "t", Some(1_000_000 + i), false))
            .collect();
        // A page longer than the history keeps: nothing on it is pruned ...
        let s = h.merge("f", &items, instant(2_000_000), 3).expect("merge");
        assert_eq!(s.pruned, 0);
        let s = h.merge("f", &items, instant(2_000_100), 3).expect("merge");
        assert_eq!(
            (s.new, s.pruned),
            (0, 0),
            "nothing on the page comes back as new"
        );
        // ... once they are off the page, the oldest beyond `keep` go.
        let s = h
            .merge("f", &items[4..], instant(2_000_200), 3)
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
}
