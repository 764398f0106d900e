//! Bytes to items: everything between a fetched body and the `NewItem`s the history keeps.
//!
//! [`parse`] builds bounded HTML trees; [`select`] applies a feed's CSS selectors to them;
//! [`dates`], [`links`] and [`sanitize`] normalise the raw strings; [`scrape`] joins those steps
//! for listing pages and [`upstream`] does the same for feeds a site publishes itself. The stage
//! is pure (no I/O, no clock: the fetch time is passed in), so each step is testable on a string
//! and fuzzable.

pub mod article;
pub mod auto;
pub mod dates;
pub mod links;
pub mod next_page;
pub mod parse;
pub mod sanitize;
pub mod scrape;
pub mod select;
pub mod stream;
pub mod tokenize;
pub mod upstream;
