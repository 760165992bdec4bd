//! The lease a worker holds: it invokes only calls the coordinator has granted, asking
//! for a chunk more when it is within half a chunk of the grant. The coordinator records
//! every grant before sending it, so for a worker that is lost it knows an upper bound on
//! the calls whose outcome it never heard of.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::target::{Answer, Outcome, Target};

/// `inner`, invoked only within the grant.
pub struct Leased<T> {
    inner: T,
    /// Calls invoked or waiting to be, so far.
    next: AtomicU64,
    /// The highest grant asked for.
    asked: AtomicU64,
    granted: watch::Receiver<u64>,
    ask: mpsc::UnboundedSender<u64>,
    chunk: u64,
}

impl<T: Target> Leased<T> {
    /// `granted` carries the grant (it only grows); asks for more go out on `ask`.
    pub fn new(inner: T, granted: watch::Receiver<u64>, ask: mpsc::UnboundedSender<u64>) -> Leased<T> {
        let chunk = (*granted.borrow()).max(1);
        Leased { inner, next: AtomicU64::new(0), asked: AtomicU64::new(chunk), granted, ask, chunk }
    }
}

impl<T: Target> Target for Leased<T> {
    fn invoke(&self, payload: Value) -> impl Future<Output = Answer> + Send {
        self.invoke_function(None, payload)
    }

    fn invoke_function(&self, function: Option<Arc<str>>, payload: Value) -> impl Future<Output = Answer> + Send {
        let k = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let asked = self.asked.load(Ordering::Relaxed);
        // Within half a chunk of what was asked for: ask for one chunk more, once.
        if k + self.chunk / 2 >= asked {
            let want = asked + self.chunk;
            if self.asked.compare_exchange(asked, want, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                let _ = self.ask.send(want);
            }
        }
        let mut granted = self.granted.clone();
        async move {
            if granted.wait_for(|g| *g >= k).await.is_err() {
                return Outcome::Transport { message: "the lease ended: the coordinator is gone".into() }.into();
            }
            self.inner.invoke_function(function, payload).await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    struct Echo;

    impl Target for Echo {
        fn invoke(&self, _payload: Value) -> impl Future<Output = Answer> + Send {
            async { Outcome::Response(serde_json::json!({"balance": 1})).into() }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_wait_for_their_grant_and_more_is_asked_ahead_once_a_chunk() {
        let (grant, granted) = watch::channel(4);
        let (ask, mut asks) = mpsc::unbounded_channel();
        let leased = Arc::new(Leased::new(Echo, granted, ask));
        let ok = |a: Answer| matches!(a.outcome, Outcome::Response(_));
        assert!(ok(leased.invoke(Value::Null).await));
        assert_eq!(asks.try_recv().ok(), None, "1 of 4 used: more than half a chunk left");
        assert!(ok(leased.invoke(Value::Null).await));
        assert_eq!(asks.try_recv().ok(), Some(8), "call 2 of 4 asks for a chunk more, ahead of need");
        assert!(ok(leased.invoke(Value::Null).await) && ok(leased.invoke(Value::Null).await));
        assert_eq!(asks.try_recv().ok(), None, "asked once for that chunk");
        let fifth = tokio::spawn({
            let leased = leased.clone();
            async move { leased.invoke(Value::Null).await }
        });
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert!(!fifth.is_finished(), "call 5 waits: only 4 are granted");
        grant.send(8).unwrap();
        assert!(ok(fifth.await.unwrap()));
        assert!(ok(leased.invoke(Value::Null).await), "call 6 is within the grant of 8");
        assert_eq!(asks.try_recv().ok(), Some(12), "call 6 of 8 asks for the next chunk");
        drop(grant);
        assert!(ok(leased.invoke(Value::Null).await) && ok(leased.invoke(Value::Null).await));
        assert!(matches!(leased.invoke(Value::Null).await.outcome, Outcome::Transport { .. }), "no grant, no call");
    }
}
