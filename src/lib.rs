//! pagefeed: turns listing pages that have no feed into RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//!
//! The data flows one way, and the modules follow it:
//! [`config`] -> [`fetch`] -> [`decode`] -> [`parse`] -> [`extract`] -> [`dates`] / [`links`] /
//! [`sanitize`] (joined up in [`scrape`]) -> [`history`] -> [`render`] -> [`output`].
//! [`build`] runs the pipeline for a config; [`preview`] runs it up to the items, without
//! writing. See ARCHITECTURE.md for what each module owns.

pub mod auto;
pub mod build;
pub mod config;
pub mod dates;
pub mod decode;
pub mod extract;
pub mod fetch;
pub mod history;
pub mod item;
pub mod links;
pub mod merge;
pub mod opml;
pub mod output;
pub mod parse;
pub mod preview;
pub mod render;
pub mod sanitize;
pub mod scrape;
pub mod serve;
pub mod suggest;
pub mod upstream;
