//! Writing feed files safely, and keeping two runs from writing at once.
//!
//! A cron job must never leave a half-written or empty feed behind, and a rebuild that
//! changes nothing must not touch the files (same bytes, same mtime), so conditional GETs of
//! a static server that serves them keep answering 304. Files are written to a temporary
//! file in the same folder, synced and renamed over the old one, only when their bytes differ;
//! a feed's files (RSS, Atom, JSON) are all written and synced before the first is renamed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another pagefeed run holds the lock {path} and did not finish within {waited:?}; nothing was written (run again later)"
    )]
    Busy { path: PathBuf, waited: Duration },
}

/// Write `bytes` to `path` unless the file already holds exactly them. Returns whether the
/// file was (re)written.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool, OutputError> {
    Ok(write_all_if_changed(&[(path, bytes)])?.contains(&true))
}

/// Write every `(path, bytes)` whose file does not already hold exactly those bytes, each
/// through a temporary file in its folder. Every changed file is written and synced before
/// the first rename: an error while writing leaves all the old files as they were, and the
/// syncs follow one another with no rename between them (the file system commits them
/// closer together). The paths are distinct. Returns, for each file, whether it was
/// (re)written.
pub fn write_all_if_changed<P: AsRef<Path>, B: AsRef<[u8]>>(
    files: &[(P, B)],
) -> Result<Vec<bool>, OutputError> {
    let err = |path: &Path, source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut wrote = vec![false; files.len()];
    // (target, temporary file, its handle until synced); a temporary file is listed as soon
    // as it exists, so an error removes it.
    let mut temps: Vec<(&Path, PathBuf, File)> = Vec::new();
    let written = (|| {
        for ((path, bytes), wrote) in files.iter().zip(&mut wrote) {
            let (path, bytes) = (path.as_ref(), bytes.as_ref());
            if let Ok(old) = std::fs::read(path)
                && old == bytes
            {
                continue;
            }
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| err(path, e))?;
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(temp_name(&file_name, std::process::id()));
            let f = File::create(&tmp).map_err(|e| err(path, e))?;
            temps.push((path, tmp, f));
            if let Some((_, _, f)) = temps.last_mut() {
                f.write_all(bytes).map_err(|e| err(path, e))?;
            }
            *wrote = true;
        }
        sync_all_at_once(&temps, err)
    })();
    let mut result = written;
    let mut temps = temps.into_iter();
    if result.is_ok() {
        for (path, tmp, f) in temps.by_ref() {
            drop(f);
            if let Err(e) = std::fs::rename(&tmp, path) {
                let _ = std::fs::remove_file(&tmp);
                result = Err(err(path, e));
                break;
            }
        }
    }
    // Whatever was not renamed (an error before or during the renames) goes.
    for (_, tmp, f) in temps {
        drop(f);
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| wrote)
}

/// Sync every temporary file, all at once: the others on threads of their own while this
/// one syncs the first, so the file system can make them durable in one commit of its
/// journal rather than one after the other (ext4 waits for a journal commit per sync when
/// they come in turn). Every sync is waited for; the first error is returned.
fn sync_all_at_once(
    temps: &[(&Path, PathBuf, File)],
    err: impl Fn(&Path, std::io::Error) -> OutputError + Sync,
) -> Result<(), OutputError> {
    let Some((first, rest)) = temps.split_first() else {
        return Ok(());
    };
    std::thread::scope(|s| {
        let err = &err;
        let sync = move |(path, _, f): &(&Path, PathBuf, File)| -> Result<(), OutputError> {
            f.sync_all().map_err(|e| err(path, e))
        };
        // A file whose thread cannot be started is synced here, after the first.
        let others: Vec<_> = rest
            .iter()
            .map(|t| {
                std::thread::Builder::new()
                    .spawn_scoped(s, move || sync(t))
                    .map_err(|_| t)
            })
            .collect();
        let mut result = sync(first);
        for t in others {
            let r = match t {
                Ok(handle) => handle.join().unwrap_or_else(|_| {
                    Err(err(
                        first.0,
                        std::io::Error::other("a thread syncing a feed file panicked"),
                    ))
                }),
                Err(t) => sync(t),
            };
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// The temporary file a write to `file_name` goes through: `.NAME.PID.tmp`.
fn temp_name(file_name: &str, pid: u32) -> String {
    format!(".{file_name}.{pid}.tmp")
}

/// Whether `name` is a temporary file of [`write_if_changed`] for a feed file
/// (`.NAME.rss.PID.tmp`, `.atom`, `.json`), and nothing else.
fn is_temp_name(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let Some((file, pid)) = inner.rsplit_once('.') else {
        return false;
    };
    let Some((feed, ext)) = file.rsplit_once('.') else {
        return false;
    };
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && matches!(ext, "rss" | "atom" | "json")
        && !feed.is_empty()
        && feed
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Remove the temporary files a killed run left in `dir` (only pagefeed's own, by their
/// name). Call it while holding the [`RunLock`], so no other run is writing them. Returns
/// the names removed; a folder that does not exist yet has none.
pub fn remove_stale_temp_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_temp_name(&name)
            && entry.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

/// An exclusive lock on the state, held for a whole run; released on drop.
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Take the lock file beside `state`, waiting up to `wait` for another run to finish.
    /// `on_wait` is called once if the lock is busy at first.
    pub fn acquire(
        state: &Path,
        wait: Duration,
        on_wait: impl FnOnce(&Path),
    ) -> Result<RunLock, OutputError> {
        let mut name = state.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let err = |source| OutputError::Lock {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(err)?;
        let start = Instant::now();
        let mut on_wait = Some(on_wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RunLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if let Some(f) = on_wait.take() {
                        f(&path);
                    }
                    if start.elapsed() >= wait {
                        return Err(OutputError::Busy { path, waited: wait });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_bytes_leave_the_file_alone() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("sub/f.rss");
        assert!(write_if_changed(&p, b"one").expect("write"));
        let m1 = std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .expect("mtime");
        std::thread::sleep(Duration::from_millis(20));
        assert!(!write_if_changed(&p, b"one").expect("write"));
        let m2 = std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(m1, m2);
        assert!(write_if_changed(&p, b"two").expect("write"));
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let leftovers = std::fs::read_dir(dir.path().join("sub"))
            .expect("dir")
            .count();
        assert_eq!(leftovers, 1, "no temporary files left");
    }

    #[test]
    fn files_written_together_are_all_renamed_or_none() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b, c) = (
            dir.path().join("out/a.rss"),
            dir.path().join("out/a.atom"),
            dir.path().join("out/a.json"),
        );
        let first = [(&a, &b"rss 1"[..]), (&b, b"atom 1"), (&c, b"json 1")];
        assert_eq!(write_all_if_changed(&first).expect("write"), [true; 3]);
        let second = [(&a, &b"rss 1"[..]), (&b, b"atom 2"), (&c, b"json 1")];
        assert_eq!(
            write_all_if_changed(&second).expect("write"),
            [false, true, false]
        );
        assert_eq!(std::fs::read(&b).expect("read"), b"atom 2");
        // The last file cannot be written (its folder is a file): the others keep their
        // old bytes, and no temporary file is left.
        std::fs::write(dir.path().join("blocked"), b"").expect("file");
        let bad = dir.path().join("blocked/a.json");
        let third = [(&a, &b"rss 3"[..]), (&b, b"atom 3"), (&bad, b"json 3")];
        assert!(write_all_if_changed(&third).is_err());
        assert_eq!(std::fs::read(&a).expect("read"), b"rss 1");
        assert_eq!(std::fs::read(&b).expect("read"), b"atom 2");
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.atom", "a.json", "a.rss"]);
    }

    #[test]
    fn stale_temp_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tmp");
        let names = [
            ".news.rss.4242.tmp",
            ".news-2.atom.17.tmp",
            ".a_b.json.1.tmp",
            // Not ours: kept.
            ".news.rss.tmp",
            ".news.html.12.tmp",
            "news.rss.12.tmp",
            ".News.rss.12.tmp",
            ".news.rss.12x.tmp",
            ".pagefeed.toml.import-12-0.tmp",
            "news.rss",
        ];
        for n in names {
            std::fs::write(dir.path().join(n), b"x").expect("write");
        }
        assert_eq!(temp_name("news.rss", 4242), ".news.rss.4242.tmp");
        let removed = remove_stale_temp_files(dir.path());
        assert_eq!(
            removed,
            [
                ".a_b.json.1.tmp",
                ".news-2.atom.17.tmp",
                ".news.rss.4242.tmp"
            ]
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), names.len() - 3, "{left:?}");
        assert!(remove_stale_temp_files(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn second_lock_waits_then_gives_up() {
        let dir = tempfile::tempdir().expect("tmp");
        let state = dir.path().join("s.db");
        let _held = RunLock::acquire(&state, Duration::from_secs(1), |_| {}).expect("first");
        let mut told = false;
        let r = RunLock::acquire(&state, Duration::from_millis(300), |_| told = true);
        assert!(matches!(r, Err(OutputError::Busy { .. })));
        assert!(told);
    }
}
