//! Panics turned into values, so that a bug in one refresh or one schedule task is reported
//! and survived instead of silently killing the task that ran it.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that resolves to `Err(message)` when `inner` panics while polled.
///
/// The shared state a refresh touches stays usable after a panic: every lock in `serve`
/// recovers from poisoning, and a history transaction that was open rolls back as it drops.
pub struct CatchUnwind<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> CatchUnwind<F> {
    pub fn new(inner: F) -> Self {
        CatchUnwind {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

/// The message a panic carried (`panic!` with a literal or a format string).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// `text` on one line: line breaks and other control characters become spaces (for
/// `/healthz`, where each problem is one line).
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_while_polled_becomes_its_message() {
        let ok = CatchUnwind::new(async { 7 }).await;
        assert_eq!(ok, Ok(7));

        let n = 3;
        let r: Result<(), String> = CatchUnwind::new(async move {
            tokio::task::yield_now().await;
            panic!("feed {n} broke");
        })
        .await;
        assert_eq!(r, Err("feed 3 broke".to_string()));

        let r: Result<(), String> = CatchUnwind::new(async { panic!("plain") }).await;
        assert_eq!(r, Err("plain".to_string()));

        let r: Result<(), String> = CatchUnwind::new(async { std::panic::panic_any(42u8) }).await;
        assert_eq!(r, Err("a panic without a message".to_string()));
    }

    #[test]
    fn one_line_replaces_control_characters() {
        assert_eq!(one_line("a\nb\r\tc"), "a b  c");
        assert_eq!(one_line("plain"), "plain");
    }
}
