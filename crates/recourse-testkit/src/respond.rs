//! The request handler: read and record the request, then act on its reply.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use crate::body::ReplyBody;
use crate::conn::{ConnCtl, HungGuard};
use crate::recorded::Recorded;
use crate::reply::{Action, BodySpec, Reply};
use crate::server::{ECHO_METHOD_HEADER, MAX_REQUEST_BODY};
use crate::state::{Next, Shared};

fn too_large() -> Response<ReplyBody> {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("testkit: request body over {MAX_REQUEST_BODY} bytes\n"),
    )
}

fn plain(status: StatusCode, message: String) -> Response<ReplyBody> {
    let mut response = Response::new(ReplyBody::full(Bytes::from(message)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Reads and records one request, then acts on the reply its route gives.
pub(crate) async fn respond(
    shared: Arc<Shared>,
    ctl: Arc<ConnCtl>,
    connection: u64,
    req: Request<Incoming>,
) -> Result<Response<ReplyBody>, Infallible> {
    let (parts, body) = req.into_parts();
    // A declared length over the cap is refused before reading anything.
    if body.size_hint().lower() > MAX_REQUEST_BODY as u64 {
        tracing::warn!(uri = %parts.uri, "testkit: request body too large, request not recorded");
        return Ok(too_large());
    }
    let (body, trailers) = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => {
            let trailers = collected.trailers().cloned();
            (collected.to_bytes(), trailers)
        }
        Err(e) => {
            let over_cap = e.downcast_ref::<LengthLimitError>().is_some();
            tracing::warn!(uri = %parts.uri, error = %e, "testkit: request body not read, request not recorded");
            return Ok(if over_cap {
                too_large()
            } else {
                plain(
                    StatusCode::BAD_REQUEST,
                    format!("testkit: reading the request body failed: {e}\n"),
                )
            });
        }
    };
    let recorded = Recorded {
        path: parts.uri.path().to_owned(),
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
        trailers,
        version: parts.version,
        connection,
    };
    let reply = match shared.record(&recorded) {
        Some(Next::Reply(reply)) => *reply,
        Some(Next::Handler(handler)) => {
            match std::panic::catch_unwind(AssertUnwindSafe(|| handler(&recorded))) {
                Ok(reply) => reply,
                Err(_) => {
                    return Ok(plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("testkit: the handler for {} panicked\n", recorded.path),
                    ));
                }
            }
        }
        None => {
            return Ok(plain(
                StatusCode::NOT_FOUND,
                format!("testkit: no route for {}\n", recorded.path),
            ));
        }
    };
    tracing::trace!(path = %recorded.path, ?reply, "testkit: replying");
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    match reply.action {
        Action::Respond => Ok(build(reply, &recorded, &ctl)),
        Action::Close | Action::Reset => {
            ctl.kill(reply.action == Action::Reset);
            std::future::pending().await
        }
        Action::Never => {
            let _hung = HungGuard::new(&ctl);
            std::future::pending().await
        }
    }
}

fn build(reply: Reply, recorded: &Recorded, ctl: &Arc<ConnCtl>) -> Response<ReplyBody> {
    let Reply {
        status,
        mut headers,
        body,
        trailers,
        ..
    } = reply;
    let body = match body {
        BodySpec::Full(bytes) => ReplyBody::full(bytes),
        BodySpec::Chunked { chunks, gap } => ReplyBody::chunks(chunks, gap),
        BodySpec::Endless { chunk, gap } => ReplyBody::endless(chunk, gap, HungGuard::new(ctl)),
        BodySpec::Echo => {
            if let Ok(method) = HeaderValue::from_str(recorded.method.as_str()) {
                headers.insert(HeaderName::from_static(ECHO_METHOD_HEADER), method);
            }
            ReplyBody::full(recorded.body.clone())
        }
    }
    .with_trailers(trailers);
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
