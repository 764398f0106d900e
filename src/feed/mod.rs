//! Items kept and written: the item model, the SQLite history that remembers every item,
//! merging sources, rendering the three formats and writing files atomically.
//!
//! Nothing in this stage fetches or parses pages: it receives `NewItem`s, so a history or a
//! renderer can be tested with items built by hand.

pub mod fasthash;
pub mod history;
pub mod item;
pub mod merge;
pub mod output;
pub mod pack;
pub mod render;
