//! The inputs with which fuzzing (`fuzz/`) once crashed pagefeed, replayed through the same
//! entry points in the ordinary test suite, so they stay fixed on the stable toolchain too.
//!
//! `fuzz/regressions/config/*`: config texts; each must load as a config error (they are all
//! out of range), never panic. `fuzz/regressions/render/*` are byte strings that only the
//! fuzz harness's decoder gives meaning to; what they decoded to (instants at chrono's limits,
//! a NUL in the feed title) is replayed by `render::tests::a_control_character_never_reaches_the_document`
//! and the property test beside it.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn config_crashes_are_config_errors() {
    let files = inputs("config");
    assert!(!files.is_empty(), "no config regressions found");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let loaded =
            std::panic::catch_unwind(|| pagefeed::config::parse(Path::new("t.toml"), &text));
        match loaded {
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains("t.toml:"), "{}: {msg}", f.display());
            }
            Ok(Ok(_)) => panic!("{} loads, but it is out of range", f.display()),
            Err(_) => panic!("{} panics while loading", f.display()),
        }
    }
}
