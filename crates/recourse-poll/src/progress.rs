//! Progress updates: [`PollProgress`], delivered to the layer's callback
//! ([`AsyncPollLayer::on_progress`](crate::AsyncPollLayer::on_progress)) and to a per-request
//! [`ProgressSender`] (a [`tokio::sync::watch`] channel), after every poll.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use recourse_poll::{AsyncPollLayer, PollRequestBody, ProgressSender};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! let polls = Arc::new(AtomicU32::new(0));
//! let backend = {
//!     let polls = polls.clone();
//!     service_fn(move |req: Request<PollRequestBody<Full<Bytes>>>| {
//!         let n = if req.uri().path() == "/jobs/1" { polls.fetch_add(1, Ordering::SeqCst) + 1 } else { 0 };
//!         async move {
//!             let status = if n == 0 || n < 3 { 202 } else { 200 };
//!             Ok::<_, std::convert::Infallible>(
//!                 Response::builder().status(status).header("location", "/jobs/1")
//!                     .body(Full::<Bytes>::default()).unwrap(),
//!             )
//!         }
//!     })
//! };
//!
//! let seen = Arc::new(AtomicU32::new(0));
//! let layer = AsyncPollLayer::new().on_progress({
//!     let seen = seen.clone();
//!     move |p: &recourse_poll::PollProgress| { seen.store(p.poll, Ordering::SeqCst); }
//! });
//! let (tx, mut rx) = ProgressSender::channel();
//! let mut req = Request::post("http://api.test/start").body(Full::default()).unwrap();
//! tx.insert_into(&mut req);
//!
//! let res = layer.layer(backend).oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert_eq!(seen.load(Ordering::SeqCst), 3);
//! let last = rx.borrow_and_update().clone().unwrap();
//! assert_eq!((last.poll, last.status.as_u16()), (3, 200));
//! # }
//! ```

use std::time::Duration;

use http::{Request, StatusCode, Uri};
use tokio::sync::watch;

use crate::Decision;

/// One poll, as reported to progress observers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollProgress {
    /// The poll number (1 for the first).
    pub poll: u32,
    /// The status URL polled.
    pub status_url: Uri,
    /// The status of the poll's response.
    pub status: StatusCode,
    /// What the policy decided.
    pub decision: Decision,
    /// The value of the status field, if one is configured and was found.
    pub field: Option<String>,
    /// How long the layer waited before this poll.
    pub waited: Duration,
    /// Time since polling started.
    pub elapsed: Duration,
    /// The wait before the next poll, when the job is still running and the limits allow
    /// another poll.
    pub next_wait: Option<Duration>,
}

/// The layer's progress callback.
pub(crate) type Callback = std::sync::Arc<dyn Fn(&PollProgress) + Send + Sync>;

/// A request extension that receives the [`PollProgress`] of this request's polls.
///
/// The receiver always holds the latest update (`None` until the first poll). Sending
/// never blocks and never fails, even when every receiver is gone.
#[derive(Clone, Debug)]
pub struct ProgressSender(watch::Sender<Option<PollProgress>>);

impl ProgressSender {
    /// A sender and its receiver.
    pub fn channel() -> (ProgressSender, watch::Receiver<Option<PollProgress>>) {
        let (tx, rx) = watch::channel(None);
        (ProgressSender(tx), rx)
    }

    /// Wraps an existing watch sender.
    pub fn from_watch(tx: watch::Sender<Option<PollProgress>>) -> Self {
        Self(tx)
    }

    /// Attaches this sender to a request.
    pub fn insert_into<B>(self, req: &mut Request<B>) {
        req.extensions_mut().insert(self);
    }

    pub(crate) fn send(&self, progress: &PollProgress) {
        self.0.send_replace(Some(progress.clone()));
    }
}
