//! Background revalidation for `stale-while-revalidate` (RFC 5861 §3).
//!
//! The refresh sends the request that found the response stale, with the stored
//! validators in place of the caller's own: its header fields, `Authorization` and
//! `Cookie` included, go to the origin again, on that caller's behalf, after the caller
//! already has its (stale) answer. What comes back is judged like any response to that
//! request: in a shared cache, a full response is stored only if a shared cache may store
//! it (with `Authorization` only when `public`, `must-revalidate` or `s-maxage` allow,
//! RFC 9111 §3.5; with `Set-Cookie` only when `public` or `immutable`, and never its
//! cookie fields), and a 304 only refreshes the stored fields (never with its cookies).
//! A response personal to that caller that the origin fails to mark `private` would be
//! stored, exactly as if the caller had missed in the foreground.
//!
//! The refresh is bounded by the layer's refresh timeout and the caller's
//! [`Deadline`](recourse_core::Deadline); when the time runs out it is dropped, which
//! ends the flight it leads, so no request waits for a refresh that never ends.

use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use recourse_core::clock::system_now;
use tower::ServiceExt;
use tower_service::Service;

use crate::body::CacheBody;
use crate::conditional;
use crate::entry::Entry;
use crate::flight::FlightGuard;
use crate::key::CacheKey;
use crate::record;
use crate::semantics::{self, Exchange};
use crate::service::Shared;
use crate::store::Store;

/// What a background refresh needs.
pub(crate) struct Refresh<S, St, ReqBody> {
    pub(crate) shared: Arc<Shared<St>>,
    pub(crate) svc: S,
    /// The conditional request to send (the caller's, with the stored validators).
    pub(crate) request: Request<ReqBody>,
    pub(crate) key: CacheKey,
    pub(crate) entry: Arc<Entry>,
    pub(crate) guard: FlightGuard,
    pub(crate) no_store: bool,
    /// How long the refresh may take, body included.
    pub(crate) timeout: Duration,
}

impl<S, St, ReqBody, ResBody> Refresh<S, St, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    St: Store,
    ReqBody: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
{
    /// Runs the refresh on the current tokio runtime. The flight it leads keeps a second
    /// refresh of the same key from starting, and ends when the refresh does, or when its
    /// timeout fires: the refresh is then dropped, origin call and body with it, and the
    /// stale response stays.
    pub(crate) fn spawn(self) {
        let timeout = self.timeout;
        let key = self.key.clone();
        tokio::spawn(async move {
            if tokio::time::timeout(timeout, self.run()).await.is_err() {
                tracing::debug!(%key, ?timeout, "background revalidation timed out; the stale response stays");
            }
        });
    }

    async fn run(self) {
        let Refresh {
            shared,
            svc,
            request,
            key,
            entry,
            guard,
            no_store,
            timeout: _,
        } = self;
        let headers = request.headers().clone();
        let request_time = system_now();
        let res = match svc.oneshot(request).await {
            Ok(res) => res,
            Err(_) => {
                tracing::debug!(%key, "background revalidation failed; the stale response stays");
                return;
            }
        };
        let response_time = system_now();
        let ex = Exchange {
            method: &Method::GET,
            request: &headers,
            request_time,
            response_time,
        };
        let config = &shared.config;
        let store = &shared.store;
        if res.status() == StatusCode::NOT_MODIFIED {
            if !conditional::selects(&res, &entry) {
                return;
            }
            let result = match record::revalidated(config, &ex, no_store, &entry, res.headers()) {
                Ok(updated) => store.put(&key, Arc::new(updated)).await,
                Err(_) => store.remove(&key).await,
            };
            if let Err(error) = result {
                tracing::warn!(%error, %key, "cache store failed after a background revalidation");
            }
            drop(guard);
            return;
        }
        if res.status().is_server_error() {
            return;
        }
        let limit = store.max_entry_size();
        match semantics::prepare(config, &ex, res.status(), res.headers(), no_store) {
            Ok(parts) if limit > 0 && !record::declared_too_large(&res, limit) => {
                let recorder = record::recorder(store, &key, parts, Some(guard));
                let mut body = Box::pin(CacheBody::recording(res.into_body(), recorder));
                // Read only while the entry still needs the body: recording stops at the
                // store's limit, and so does this loop.
                while body.is_recording() {
                    match body.frame().await {
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break,
                    }
                }
            }
            _ => {
                // RFC 9111 §4.3.3: the full response supersedes the stored one, and may
                // not be stored: remove the stored one rather than serve it stale again.
                if let Err(error) = store.remove(&key).await {
                    tracing::warn!(%error, %key, "cache store failed to remove a superseded response");
                }
                drop(guard);
            }
        }
    }
}
