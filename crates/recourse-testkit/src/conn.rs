//! One accepted connection: the socket wrapper that can reset, and the task serving it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

use crate::state::Shared;

/// Per-connection control shared by the socket, the serving task and the request handler.
#[derive(Debug, Default)]
pub(crate) struct ConnCtl {
    /// Set by a [`Reply::reset`](crate::Reply::reset): drop the socket with `SO_LINGER` 0.
    reset: AtomicBool,
    /// Wakes the serving task to drop the connection now.
    kill: Notify,
    /// Replies in flight that never end ([`Reply::never`](crate::Reply::never), endless
    /// bodies): shutdown drops such a connection instead of waiting for it.
    hung: AtomicUsize,
}

impl ConnCtl {
    /// Drops the connection without answering, with a RST if `reset`.
    pub(crate) fn kill(&self, reset: bool) {
        if reset {
            self.reset.store(true, Ordering::SeqCst);
        }
        self.kill.notify_one();
    }

    fn is_hung(&self) -> bool {
        self.hung.load(Ordering::SeqCst) > 0
    }
}

/// Marks a connection as busy with a reply that never ends, while alive.
#[derive(Debug)]
pub(crate) struct HungGuard(Arc<ConnCtl>);

impl HungGuard {
    pub(crate) fn new(ctl: &Arc<ConnCtl>) -> Self {
        ctl.hung.fetch_add(1, Ordering::SeqCst);
        Self(ctl.clone())
    }
}

impl Drop for HungGuard {
    fn drop(&mut self) {
        self.0.hung.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The accepted socket; on drop, sets `SO_LINGER` 0 first if a reset was asked for, so
/// that closing it sends a TCP RST instead of a FIN.
struct Socket {
    stream: TcpStream,
    ctl: Arc<ConnCtl>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.ctl.reset.load(Ordering::SeqCst)
            && let Err(e) = self.stream.set_zero_linger()
        {
            tracing::warn!(error = %e, "testkit: could not set SO_LINGER 0 for a reset");
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves one connection (HTTP/1.1 with keep-alive, or HTTP/2 with prior knowledge) until
/// the client closes it, a fault reply kills it, or the server shuts down.
pub(crate) async fn serve(
    stream: TcpStream,
    id: u64,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "testkit: set_nodelay failed");
    }
    let ctl = Arc::new(ConnCtl::default());
    let io = TokioIo::new(Socket {
        stream,
        ctl: ctl.clone(),
    });
    let service = {
        let ctl = ctl.clone();
        service_fn(move |req| crate::respond::respond(shared.clone(), ctl.clone(), id, req))
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);

    let mut draining = *shutdown.borrow();
    if draining {
        return;
    }
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(connection = id, error = %e, "testkit: connection ended with an error");
                }
                return;
            }
            () = ctl.kill.notified() => {
                tracing::debug!(connection = id, "testkit: dropping the connection as scripted");
                return;
            }
            changed = shutdown.changed(), if !draining => {
                draining = true;
                if changed.is_err() || ctl.is_hung() {
                    return;
                }
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
