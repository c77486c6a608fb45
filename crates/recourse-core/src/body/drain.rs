//! [`Drain`]: read and discard a response body within a byte limit, a time limit and the
//! request's deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::Body;
use tokio::time::{Instant, Sleep};

use crate::Deadline;

/// What [`Drain`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drained {
    /// The body ended within the limits (the connection can be reused).
    Complete {
        /// Bytes discarded.
        bytes: u64,
    },
    /// The byte limit was reached first; the rest of the body was dropped unread.
    LimitReached,
    /// The time limit (or the request's deadline) came first; the rest was dropped unread.
    TimedOut,
    /// The body failed.
    Error,
}

impl Drained {
    /// Whether the whole body was read, so that an HTTP/1.1 connection can be reused.
    pub fn is_complete(&self) -> bool {
        matches!(self, Drained::Complete { .. })
    }
}

pin_project_lite::pin_project! {
    /// A future that reads and discards a response body before the next request, so that
    /// an HTTP/1.1 connection goes back to the pool instead of being closed.
    ///
    /// The one rule every layer follows (a redirect before the next hop, a retry before the
    /// next attempt, a poll before the next poll): read at most `limit` bytes, for at most
    /// `timeout`, and never past the request's [`Deadline`]. Whatever comes first ends the
    /// drain; the rest of the body is dropped unread (its connection is then closed rather
    /// than reused, which is always safe).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use recourse_core::body::{Drain, Drained};
    ///
    /// let body = Full::new(Bytes::from_static(b"a failed response"));
    /// let drained = Drain::new(body, 64 * 1024, Duration::from_secs(1), None).await;
    /// assert_eq!(drained, Drained::Complete { bytes: 17 });
    /// # }
    /// ```
    pub struct Drain<B> {
        #[pin]
        body: B,
        // The timer, armed the first time the body makes the drain wait: a body already
        // in memory (the usual error page) is read to its end without one.
        #[pin]
        sleep: Option<Sleep>,
        until: Instant,
        limit: u64,
        read: u64,
    }
}

impl<B> Drain<B> {
    /// Drains `body`: at most `limit` bytes, for at most `timeout`, and never past
    /// `deadline` (when the request has one).
    pub fn new(body: B, limit: u64, timeout: Duration, deadline: Option<Deadline>) -> Self {
        let mut until = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(far_future);
        if let Some(deadline) = deadline {
            until = until.min(deadline.instant());
        }
        Self {
            body,
            sleep: None,
            until,
            limit,
            read: 0,
        }
    }
}

/// An instant later than any timer anyone waits for (about 30 years from now).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl<B: fmt::Debug> fmt::Debug for Drain<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("body", &self.body)
            .field("until", &self.until)
            .field("limit", &self.limit)
            .field("read", &self.read)
            .finish()
    }
}

impl<B: Body> Future for Drain<B> {
    type Output = Drained;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Drained> {
        let mut this = self.project();
        loop {
            if this.body.is_end_stream() {
                return Poll::Ready(Drained::Complete { bytes: *this.read });
            }
            match this.body.as_mut().poll_frame(cx) {
                Poll::Pending => {
                    if this.sleep.is_none() {
                        this.sleep.set(Some(tokio::time::sleep_until(*this.until)));
                    }
                    let Some(sleep) = this.sleep.as_mut().as_pin_mut() else {
                        unreachable!("drain: the timer was just armed")
                    };
                    return match sleep.poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Drained::TimedOut),
                        Poll::Pending => Poll::Pending,
                    };
                }
                Poll::Ready(None) => return Poll::Ready(Drained::Complete { bytes: *this.read }),
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Drained::Error),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        let len = u64::try_from(data.remaining()).unwrap_or(u64::MAX);
                        *this.read = this.read.saturating_add(len);
                        if *this.read > *this.limit {
                            return Poll::Ready(Drained::LimitReached);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{Empty, Full};
    use recourse_testkit::body::{FrameChannelBody, frame_channel};
    use tokio::sync::mpsc;

    type Item = Result<http_body::Frame<Bytes>, std::io::Error>;

    fn channel() -> (mpsc::Sender<Item>, FrameChannelBody<std::io::Error>) {
        frame_channel(16)
    }

    const SEC: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn reads_up_to_the_byte_limit() {
        let out = Drain::new(Full::new(Bytes::from_static(b"abc")), 10, SEC, None).await;
        assert_eq!(out, Drained::Complete { bytes: 3 });
        assert!(out.is_complete());
        let big = Full::new(Bytes::from(vec![0u8; 100]));
        assert_eq!(Drain::new(big, 10, SEC, None).await, Drained::LimitReached);
        let out = Drain::new(Empty::<Bytes>::new(), 10, SEC, None).await;
        assert_eq!(out, Drained::Complete { bytes: 0 });
        let (tx, rx) = channel();
        tx.send(Err(std::io::Error::other("x"))).await.unwrap();
        assert_eq!(Drain::new(rx, 10, SEC, None).await, Drained::Error);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_is_cut_off_at_the_time_limit() {
        let (tx, rx) = channel();
        tx.send(Ok(http_body::Frame::data(Bytes::from_static(b"ab"))))
            .await
            .unwrap();
        let start = Instant::now();
        assert_eq!(Drain::new(rx, 10, SEC, None).await, Drained::TimedOut);
        assert_eq!(start.elapsed(), SEC);
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_wins_when_it_is_sooner() {
        let (tx, rx) = channel();
        let start = Instant::now();
        let deadline = Deadline::after(Duration::from_millis(200));
        let out = Drain::new(rx, 10, SEC, Some(deadline)).await;
        assert_eq!(out, Drained::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        // A later deadline leaves the time limit in charge.
        let (_tx2, rx) = channel();
        let start = Instant::now();
        let deadline = Deadline::after(Duration::from_secs(60));
        assert_eq!(
            Drain::new(rx, 10, SEC, Some(deadline)).await,
            Drained::TimedOut
        );
        assert_eq!(start.elapsed(), SEC);
        drop(tx);
    }

    #[test]
    fn a_body_in_memory_is_drained_without_a_timer() {
        // No runtime here: arming a timer would panic, so this shows none is made.
        let drain = std::pin::pin!(Drain::new(
            Full::new(Bytes::from_static(b"error page")),
            64,
            SEC,
            None
        ));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(
            drain.poll(&mut cx),
            Poll::Ready(Drained::Complete { bytes: 10 })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn duration_max_never_panics() {
        let out = Drain::new(Full::new(Bytes::from_static(b"x")), 10, Duration::MAX, None).await;
        assert_eq!(out, Drained::Complete { bytes: 1 });
    }
}
