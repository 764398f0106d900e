//! pagefeed: turns listing pages that have no feed into RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//!
//! The data flows one way, and the modules follow it:
//! [`config`] -> [`fetch`] -> [`decode`] -> [`parse`] -> [`extract`] -> [`dates`] / [`links`] /
//! [`sanitize`] (joined up in [`scrape`]) -> [`history`] -> [`render`] -> [`output`].
//! [`health`] judges each scraped page against the last good run before it is stored.
//! [`build`] runs the pipeline for a config; [`preview`] runs it up to the items, without
//! writing. See ARCHITECTURE.md for what each module owns.

pub mod build;
pub mod check;
pub mod config;
pub mod config_messages;
pub mod dates;
pub mod decode;
pub mod extract;
pub mod fetch;
pub mod forget;
pub mod health;
pub mod history;
pub mod item;
pub mod links;
pub mod merge;
pub mod opml;
pub mod output;
pub mod parse;
pub mod preview;
pub mod preview_detail;
pub mod render;
pub mod sanitize;
pub mod scrape;
pub mod serve;
pub mod upstream;
