//! pagefeed: turns listing pages that have no feed into RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//!
//! The data flows one way, and the folders follow it:
//! [`config`] -> [`source`] (fetch, decode) -> [`extract`] (parse, select, dates, links,
//! sanitize; joined up in `scrape` and `upstream`) -> [`health`] (each scraped page judged
//! against the last good run) -> [`feed`] (history, merge, render, output).
//! [`build`] runs the pipeline for a config, [`serve`] runs it on a schedule and serves the
//! results; [`preview`] and [`check`] run it up to the items, without writing; [`forget`] drops
//! a feed's history. See ARCHITECTURE.md for what each module owns.

pub mod articles;
pub mod build;
pub mod check;
pub mod config;
pub mod config_messages;
pub mod extract;
pub mod feed;
pub mod forget;
pub mod health;
pub mod opml;
pub mod pages;
pub mod preview;
pub mod preview_detail;
pub mod refresh;
pub mod serve;
pub mod source;
pub mod suggest;
