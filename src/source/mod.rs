//! Bytes from the world: the first stage of every feed.
//!
//! [`fetch`] owns the HTTP policy and local file reads and returns raw bytes with their
//! Content-Type; [`decode`] turns those bytes into text. Nothing here knows what a feed, a
//! selector or an item is, so the network policy can change without touching extraction, and
//! extraction can be tested on bytes without a network. [`browser`] stands in for `fetch` for
//! pages built by JavaScript (`render = "chromium"`): it hands back the rendered DOM as a page.

pub mod browser;
pub mod decode;
pub mod fetch;
pub mod robots;
pub mod sniff;
