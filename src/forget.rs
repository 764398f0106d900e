//! `pagefeed forget FEED...`: drop feeds' history on purpose.
//!
//! A feed's items, field coverage, validators and refresh record are deleted under the run
//! lock, so no build or service writes them at the same time. The feed's files are left as
//! they are; its next build starts the history anew from what the page shows then.

use crate::build::{BuildError, LOCK_WAIT};
use crate::config::Config;
use crate::feed::history::History;
use crate::feed::output::RunLock;

/// What forgetting one feed dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgotten {
    pub name: String,
    /// Items deleted from the history.
    pub items: usize,
}

/// Drop the history of the feeds `names` of `config`. Every name is checked before anything
/// is deleted: an unknown one is [`BuildError::UnknownFeed`] and nothing is forgotten.
pub fn forget(config: &Config, names: &[String]) -> Result<Vec<Forgotten>, BuildError> {
    for name in names {
        if config.feed(name).is_none() {
            return Err(BuildError::UnknownFeed {
                name: name.clone(),
                config: config.path.display().to_string(),
                known: config
                    .feeds
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let state = &config.settings.state;
    let _lock = RunLock::acquire(state, LOCK_WAIT, |p| {
        eprintln!(
            "waiting for another pagefeed run to finish (lock {}) ...",
            p.display()
        );
    })?;
    let mut history = History::open(state)?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if out.iter().any(|f: &Forgotten| f.name == *name) {
            continue;
        }
        let items = history.forget(name)?;
        out.push(Forgotten {
            name: name.clone(),
            items,
        });
    }
    Ok(out)
}
