//! [`TestServer`]: the handle, the listener and the accept loop.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Uri;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use crate::conn;
use crate::recorded::Recorded;
use crate::reply::Reply;
use crate::state::{Fallback, Shared, State, check_path};

/// The largest request body the server reads; a larger one gets `413 Payload Too Large`
/// and is not recorded.
pub const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;

/// How long [`TestServer::shutdown`] waits for in-flight replies before dropping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The header in which [`Reply::echo`] returns the request method.
pub const ECHO_METHOD_HEADER: &str = "x-echo-method";

/// A real HTTP/1.1 and HTTP/2 (prior knowledge) server on `127.0.0.1:0` that answers
/// from per-path scripts and records every request.
///
/// See the [crate docs](crate) for an example and the routing rules.
///
/// The server runs on tasks spawned on the runtime that called [`TestServer::start`], so
/// a test with paused time (`#[tokio::test(start_paused = true)]`) controls its delays.
/// Dropping the server stops accepting and drops every connection at once;
/// [`TestServer::shutdown`] does the same gracefully.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    abort: AbortHandle,
}
// === impl TestServer ===

impl TestServer {
    /// Binds `127.0.0.1:0` and starts serving on tasks of the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime or if the loopback port cannot be bound;
    /// [`TestServer::try_start`] returns the bind error instead.
    pub async fn start() -> Self {
        match Self::try_start().await {
            Ok(server) => server,
            Err(e) => panic!("testkit: cannot bind 127.0.0.1:0: {e}"),
        }
    }

    /// Binds `127.0.0.1:0` and starts serving on tasks of the current tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error from binding the loopback listener.
    pub async fn try_start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            recorded: Notify::new(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), shutdown_rx));
        tracing::debug!(%addr, "testkit: server started");
        Ok(Self {
            addr,
            shared,
            shutdown,
            abort: task.abort_handle(),
            task: Mutex::new(Some(task)),
        })
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, with no trailing slash.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URI of `path_and_query` on this server, e.g. `server.uri("/p?q=1")`.
    /// A missing leading `/` is added.
    ///
    /// # Panics
    ///
    /// Panics if the result is not a valid URI; [`TestServer::try_uri`] returns the
    /// error instead.
    #[track_caller]
    pub fn uri(&self, path_and_query: &str) -> Uri {
        match self.try_uri(path_and_query) {
            Ok(uri) => uri,
            Err(e) => panic!("testkit: invalid path {path_and_query:?}: {e}"),
        }
    }

    /// The absolute URI of `path_and_query` on this server, or the parse error.
    ///
    /// # Errors
    ///
    /// [`http::uri::InvalidUri`] when `path_and_query` holds characters a URI cannot.
    pub fn try_uri(&self, path_and_query: &str) -> Result<Uri, http::uri::InvalidUri> {
        let slash = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        format!("http://{}{slash}{path_and_query}", self.addr).parse()
    }

    /// Answers requests to `path` with `replies`, one per request in order; after the
    /// last one, the path's [fallback](Self::fallback) or [handler](Self::handle) answers,
    /// or else the last scripted reply repeats.
    ///
    /// Replaces replies still pending from an earlier script of the same path.
    ///
    /// # Panics
    ///
    /// Panics if `path` does not start with `/` or holds a query or fragment.
    #[track_caller]
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        check_path(path);
        let queue: VecDeque<Reply> = replies.into_iter().collect();
        let mut state = self.shared.lock();
        let route = state.route_mut(path);
        route.last = None;
        route.queue = queue;
    }

    /// Answers requests to `path` with `reply` once its script, if any, is used up.
    ///
    /// # Panics
    ///
    /// Panics if `path` does not start with `/` or holds a query or fragment.
    #[track_caller]
    pub fn fallback(&self, path: &str, reply: Reply) {
        check_path(path);
        self.shared.lock().route_mut(path).fallback = Some(Fallback::Reply(Box::new(reply)));
    }

    /// Answers requests to `path` by calling `handler` once its script, if any, is used
    /// up. The handler sees the complete recorded request; keep cross-request state in
    /// the closure (an `Arc<Mutex<..>>` or atomics). A panicking handler answers `500`.
    ///
    /// # Panics
    ///
    /// Panics if `path` does not start with `/` or holds a query or fragment.
    #[track_caller]
    pub fn handle<F>(&self, path: &str, handler: F)
    where
        F: Fn(&Recorded) -> Reply + Send + Sync + 'static,
    {
        check_path(path);
        self.shared.lock().route_mut(path).fallback = Some(Fallback::Handler(Arc::new(handler)));
    }

    /// Answers every request whose path starts with `prefix` and that no exact route
    /// answers, by calling `handler`. The longest matching prefix wins; `"/"` catches
    /// everything.
    ///
    /// # Panics
    ///
    /// Panics if `prefix` does not start with `/` or holds a query or fragment.
    #[track_caller]
    pub fn handle_prefix<F>(&self, prefix: &str, handler: F)
    where
        F: Fn(&Recorded) -> Reply + Send + Sync + 'static,
    {
        check_path(prefix);
        self.shared.lock().prefix_mut(prefix).fallback = Some(Fallback::Handler(Arc::new(handler)));
    }

    /// Every request received so far (and kept, see [`TestServer::set_recording`]), in
    /// the order they were read completely.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Removes and returns the requests kept so far; counts are not reset.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.shared.lock().requests)
    }

    /// Whether to keep every request for [`TestServer::requests`] (the default) or only
    /// count them, as benchmarks that send millions of requests want.
    pub fn set_recording(&self, keep: bool) {
        self.shared.lock().recording = keep;
    }

    /// The requests received so far whose path is exactly `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// How many requests to exactly `path` were received (faults included).
    pub fn count(&self, path: &str) -> usize {
        self.shared.lock().counts.get(path).copied().unwrap_or(0)
    }

    /// How many requests were received in all (faults included).
    pub fn total(&self) -> usize {
        self.shared.lock().total
    }

    /// Waits until at least `count` requests were received in all, for at most `timeout`
    /// (tokio time). Returns whether the count was reached.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| state.total >= count).await
    }

    /// Waits until at least `count` requests to `path` were received, for at most
    /// `timeout` (tokio time). Returns whether the count was reached.
    pub async fn wait_for_path(&self, path: &str, count: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| {
            state.counts.get(path).copied().unwrap_or(0) >= count
        })
        .await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let wait = async {
            loop {
                let notified = self.shared.recorded.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if done(&self.shared.lock()) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// Stops accepting, lets in-flight replies finish (for at most [`SHUTDOWN_GRACE`];
    /// replies that never end are dropped at once) and closes every connection.
    /// Calling it again does nothing.
    pub async fn shutdown(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let _ = self.shutdown.send(true);
        if let Some(task) = task
            && let Err(e) = task.await
            && e.is_panic()
        {
            tracing::warn!("testkit: the accept loop panicked");
        }
        tracing::debug!(addr = %self.addr, "testkit: server shut down");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.abort.abort();
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("total", &self.total())
            .finish_non_exhaustive()
    }
}

// === the accept loop ===

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = next_id;
                    next_id += 1;
                    tracing::trace!(connection = id, %peer, "testkit: accepted");
                    connections.spawn(conn::serve(stream, id, shared.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "testkit: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::debug!(
            remaining = connections.len(),
            "testkit: dropping connections still busy after the grace period"
        );
    }
}
