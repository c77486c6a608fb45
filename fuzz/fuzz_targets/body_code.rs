//! The classify layer's body-code reader, through its public API: a `Classify` service
//! over a backend that answers the fuzz bytes as a JSON body, split into frames.
//!
//! Checks: no panic; the caller gets the body back byte for byte; and, for a 200 whose
//! body `serde_json` reads as a document, the verdict agrees with an independent lookup of
//! `Response.Code` (keys ASCII-case-insensitive, the code an integer, an integral float,
//! or a numeric string).
//!
//! Input: a status selector, a frame-size byte, a content-type selector, then the body.

#![no_main]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use recourse_classify::{ClassifyLayer, Outcome};
use serde_json::Value;
use tower::{Layer, ServiceExt};

const STATUSES: [u16; 6] = [200, 400, 201, 202, 503, 404];
const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "Application/Problem+JSON; charset=utf-8",
    "application/json;charset=UTF-8",
    "text/plain",
];

/// A body that yields the given frames, one per poll.
struct Frames(VecDeque<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The value under `key` in an object, matched ASCII-case-insensitively; `Err(())` when
/// two keys differ only in case (document order then decides, which a `Value` lost).
fn get_ci<'v>(value: &'v Value, key: &str) -> Result<Option<&'v Value>, ()> {
    let Value::Object(map) = value else {
        return Ok(None);
    };
    let mut found = map.iter().filter(|(k, _)| k.eq_ignore_ascii_case(key));
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some((_, v)), None) => Ok(Some(v)),
        (Some(_), Some(_)) => Err(()),
    }
}

fn code_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| {
                    f.fract() == 0.0
                        && *f >= -9.223_372_036_854_776e18
                        && *f < 9.223_372_036_854_776e18
                })
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The code an independent reader finds at `Response.Code`; `Err(())` when it cannot tell.
fn expected_code(body: &[u8]) -> Result<Option<i64>, ()> {
    let document: Value = serde_json::from_slice(body).map_err(|_| ())?;
    let Some(response) = get_ci(&document, "Response")? else {
        return Ok(None);
    };
    let Some(code) = get_ci(response, "Code")? else {
        return Ok(None);
    };
    Ok(code_of(code))
}

fuzz_target!(|data: &[u8]| {
    let Some(([status, frame, content_type], body)) = data.split_first_chunk::<3>() else {
        return;
    };
    let status = STATUSES[usize::from(*status) % STATUSES.len()];
    let content_type = CONTENT_TYPES[usize::from(*content_type) % CONTENT_TYPES.len()];
    let frame_len = usize::from(*frame).max(1);
    let body = Bytes::copy_from_slice(body);
    let frames: VecDeque<Bytes> = (0..body.len())
        .step_by(frame_len)
        .map(|start| body.slice(start..(start + frame_len).min(body.len())))
        .collect();
    let frame_count = frames.len();

    let backend = tower::service_fn(move |_req: Request<()>| {
        let frames = Frames(frames.clone());
        async move {
            let res = Response::builder()
                .status(status)
                .header("content-type", content_type)
                .header("location", "/created/1")
                .body(frames)
                .expect("a valid response");
            Ok::<_, Infallible>(res)
        }
    });
    let client = ClassifyLayer::new().layer(backend);
    let req = Request::get("http://api.test/x")
        .body(())
        .expect("a valid request");
    let (outcome, returned) = runtime().block_on(async {
        let res = client.oneshot(req).await.expect("infallible");
        let outcome = Outcome::of(&res);
        let returned = res
            .into_body()
            .collect()
            .await
            .expect("infallible")
            .to_bytes();
        (outcome, returned)
    });
    let _ = outcome.to_string();
    assert_eq!(
        returned, body,
        "the body did not reach the caller unchanged"
    );

    // The oracle, where it applies: a JSON 200, read whole (64 KiB and 64 frames at most
    // are always inspected by the default configuration).
    let applies = status == 200
        && content_type != "text/plain"
        && body.len() <= 64 * 1024
        && frame_count < 64;
    if applies && let Ok(code) = expected_code(&body) {
        match (code, &outcome) {
            (None | Some(0), Outcome::Success) => {}
            (Some(c), Outcome::ApplicationFailure { code, .. }) if c != 0 && *code == c => {}
            (expected, got) => panic!("expected code {expected:?}, classified {got:?}"),
        }
    }
});
