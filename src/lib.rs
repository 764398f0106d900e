//! pagefeed: turns listing pages that have no feed into RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//!
//! The data flows one way, and the folders follow it:
//! [`config`] -> [`source`] (fetch, decode) -> [`extract`] (parse, select, dates, links,
//! sanitize; joined up in `scrape` and `upstream`) -> [`feed`] (history, merge, render, output).
//! [`build`] runs the pipeline for a config, [`serve`] runs it on a schedule and serves the
//! results; [`preview`] runs it up to the items, without writing. See ARCHITECTURE.md for what
//! each module owns.

pub mod build;
pub mod config;
pub mod extract;
pub mod feed;
pub mod opml;
pub mod preview;
pub mod serve;
pub mod source;
