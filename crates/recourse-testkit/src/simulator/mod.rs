//! A simulator of the barcode-generation service whose response-code table Recourse
//! implements (`docs/BEHAVIOUR.md` in the repository), able to
//! produce every row of its table over loopback.
//!
//! [`Simulator::start`] returns a [`TestServer`] whose routes are below; every body is an
//! exact, documented constant (or a documented function of the request) so that tests can
//! assert it byte for byte. JSON bodies carry `content-type: application/json`. State
//! (created barcodes, jobs, counters, the cached resource's version) is per server, so
//! tests that each start their own simulator do not interfere. Exact routes added with
//! [`TestServer::script`], [`TestServer::fallback`] or [`TestServer::handle`] take
//! precedence over the simulator's.
//!
//! | Row | Method | Path | Response |
//! |---|---|---|---|
//! | 200, code 0 | GET, HEAD, POST | `/barcode/ok` | 200, [`OK_BODY`] |
//! | 200, code ≠ 0 | GET, HEAD, POST | `/barcode/app-error` | 200, [`APP_ERROR_BODY`] (`Response.Code` [`APP_ERROR_CODE`]) |
//! | 201 | POST | `/barcode` | 201, `Location: /barcode/{n}` (n = 1, 2, ...), [`created_body`]`(n)` |
//! | | GET, HEAD | `/barcode/{n}` | 200, [`resource_body`]`(n)` if created, else 404 |
//! | 202 | POST | `/barcode/async?polls=P&outcome=O&retry_after=S` | 202, `Location: /jobs/{id}` (id = 1, 2, ...), `Retry-After: S`, [`JOB_RUNNING_BODY`] |
//! | | GET, HEAD | `/jobs/{id}` | the first P polls: 202, `Retry-After: S`, [`JOB_RUNNING_BODY`]; then per O: `succeeded` (default) 200 [`JOB_SUCCEEDED_BODY`], `see-other` 303 `Location: /jobs/{id}/result`, `failed` 200 [`JOB_FAILED_BODY`]; unknown id 404 |
//! | | GET, HEAD | `/jobs/{id}/result` | 200, [`OK_BODY`] once a `see-other` job finished, else 404 |
//! | 304 | GET, HEAD | `/barcode/cached` | 200, [`cached_body`]`(v)`, `ETag: "v{v}"`, `Last-Modified:` [`cached_last_modified`]`(v)`, `Cache-Control: max-age=60`; 304 with the same three headers and no body when `If-None-Match` matches (weak comparison, `*` too) or, with no `If-None-Match`, when `If-Modified-Since` is a valid date not older than `Last-Modified` (RFC 9110 §13.1.1, §13.1.3, §13.2.2) |
//! | | POST | `/barcode/cached` | 204; the resource changes: v goes from 1 to 2, ... (new ETag and a `Last-Modified` one hour later) |
//! | 307 | any | `/barcode/old` | 307, `Location: /barcode/new`, empty body |
//! | | any | `/barcode/moved`, `/barcode/found`, `/barcode/see-other`, `/barcode/permanent` | 301, 302, 303, 308 to `/barcode/new` |
//! | | any | `/barcode/new` | 200 echo: the request body byte for byte, `x-echo-method: METHOD`, `x-echo-length: N`, the request's `content-type` (or `application/octet-stream`) |
//! | 400 | any | `/barcode/bad` | 400, [`BAD_REQUEST_BODY`] (an `Errors` block) |
//! | 401 | any | `/barcode/unauthorized` | 401, `WWW-Authenticate: Bearer realm="barcode"`, [`UNAUTHORIZED_BODY`] |
//! | 403 | any | `/barcode/forbidden` | 403, [`FORBIDDEN_BODY`] |
//! | 404 | any | `/barcode/missing` (and every unknown path) | 404, [`NOT_FOUND_BODY`] |
//! | 405 | POST, PUT, ... | `/barcode/get-only` | 405, `Allow: GET, HEAD`, [`METHOD_NOT_ALLOWED_BODY`] (GET and HEAD: 200 [`OK_BODY`]) |
//! | 409 | any | `/barcode/conflict` | 409, [`CONFLICT_BODY`] |
//! | 500 | any | `/barcode/flaky?failures=N` | 500 [`SERVER_ERROR_BODY`] for the first N requests to the path (default 2), then 200 [`OK_BODY`] |
//! | | any | `/barcode/broken` | always 500, [`SERVER_ERROR_BODY`] |
//! | 503 | any | `/barcode/maintenance?failures=N` | 503, `Retry-After: 1`, [`UNAVAILABLE_BODY`] for the first N requests (default 2), then 200 [`OK_BODY`] |
//! | | any | `/barcode/down` | always 503, `Retry-After: 1`, [`UNAVAILABLE_BODY`] |
//! | | any | `/barcode/slow?ms=N` | 200 [`OK_BODY`] after N ms (default 1000) of tokio time |
//!
//! [`ROWS`] lists one request per row of the table with the status it gets, for demos
//! and for tests that walk the whole table.
//!
//! A route that exists but not for the method answers 405 with its `Allow` header and
//! [`METHOD_NOT_ALLOWED_BODY`]. Query parameters are decimal integers: P in 0..=1000,
//! S in 0..=86400, N (`failures`) in 0..=1000, `ms` in 0..=86400000; O is one of
//! `succeeded`, `see-other`, `failed`. A bad value answers 400 with an `Errors` block
//! naming the parameter: [`invalid_param_body`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use recourse_testkit::Simulator;
//!
//! let server = Simulator::start().await;
//! assert_eq!(server.uri("/barcode/ok").path(), "/barcode/ok");
//! assert_eq!(server.total(), 0);
//! # }
//! ```

mod cached;
mod routes;
mod rows;

pub use rows::{ROWS, Row};

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::TestServer;
use routes::{SimState, route};

/// The barcode every successful body carries.
pub const BARCODE: &str = "0123456789012";

/// `Response.Code` of [`APP_ERROR_BODY`]: a processed request that failed.
pub const APP_ERROR_CODE: i64 = 7;

/// 200 with `Response.Code` 0: success.
pub const OK_BODY: &str = r#"{"Response":{"Code":0,"Message":"OK"},"Barcode":"0123456789012"}"#;

/// 200 with a non-zero `Response.Code` ([`APP_ERROR_CODE`]): an application failure.
pub const APP_ERROR_BODY: &str =
    r#"{"Response":{"Code":7,"Message":"Unsupported symbology: QR"},"Barcode":null}"#;

/// 400 with an `Errors` block.
pub const BAD_REQUEST_BODY: &str = r#"{"Response":{"Code":400,"Message":"Bad Request"},"Errors":[{"Code":"E101","Message":"Data must be 12 or 13 digits","Field":"Data"},{"Code":"E102","Message":"Symbology is required","Field":"Symbology"}]}"#;

/// 401 body.
pub const UNAUTHORIZED_BODY: &str = r#"{"Response":{"Code":401,"Message":"Unauthorized"}}"#;

/// 403 body.
pub const FORBIDDEN_BODY: &str = r#"{"Response":{"Code":403,"Message":"Forbidden"}}"#;

/// 404 body.
pub const NOT_FOUND_BODY: &str = r#"{"Response":{"Code":404,"Message":"Not Found"}}"#;

/// 405 body.
pub const METHOD_NOT_ALLOWED_BODY: &str =
    r#"{"Response":{"Code":405,"Message":"Method Not Allowed"}}"#;

/// 409 body.
pub const CONFLICT_BODY: &str = r#"{"Response":{"Code":409,"Message":"Conflict"}}"#;

/// 500 body.
pub const SERVER_ERROR_BODY: &str =
    r#"{"Response":{"Code":500,"Message":"Internal Server Error"}}"#;

/// 503 body.
pub const UNAVAILABLE_BODY: &str = r#"{"Response":{"Code":503,"Message":"Service Unavailable"}}"#;

/// A job still running (202 from `/barcode/async` and from `/jobs/{id}`).
pub const JOB_RUNNING_BODY: &str = r#"{"status":"running"}"#;

/// A job that succeeded (200 from `/jobs/{id}`).
pub const JOB_SUCCEEDED_BODY: &str =
    r#"{"status":"succeeded","Response":{"Code":0,"Message":"OK"},"Barcode":"0123456789012"}"#;

/// A job that failed (200 from `/jobs/{id}`).
pub const JOB_FAILED_BODY: &str =
    r#"{"status":"failed","Response":{"Code":13,"Message":"Rendering failed"}}"#;

/// `Last-Modified` of the first version of `/barcode/cached`.
pub const CACHED_LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// `Cache-Control` of `/barcode/cached`.
pub const CACHED_CACHE_CONTROL: &str = "max-age=60";

/// The 201 body for the `n`th created barcode.
pub fn created_body(n: u64) -> String {
    format!(r#"{{"Response":{{"Code":0,"Message":"Created"}},"Id":{n}}}"#)
}

/// The 200 body of `/barcode/{n}`.
pub fn resource_body(n: u64) -> String {
    format!(r#"{{"Response":{{"Code":0,"Message":"OK"}},"Id":{n},"Barcode":"{BARCODE}"}}"#)
}

/// The 200 body of version `version` (1, 2, ...) of `/barcode/cached`.
pub fn cached_body(version: u64) -> String {
    format!(
        r#"{{"Response":{{"Code":0,"Message":"OK"}},"Barcode":"{BARCODE}","Version":{version}}}"#
    )
}

/// The `ETag` of version `version` of `/barcode/cached`: `"v1"`, `"v2"`, ...
pub fn cached_etag(version: u64) -> String {
    format!("\"v{version}\"")
}

/// The `Last-Modified` of version `version` of `/barcode/cached`:
/// [`CACHED_LAST_MODIFIED`] plus one hour per version after the first.
pub fn cached_last_modified(version: u64) -> String {
    httpdate::fmt_http_date(cached_modified_time(version))
}

pub(crate) fn cached_modified_time(version: u64) -> SystemTime {
    // 2015-10-21T07:28:00Z, the date of CACHED_LAST_MODIFIED.
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    // Clamped to about a century of hourly versions so that the date stays printable.
    let hours = version.saturating_sub(1).min(1_000_000);
    base + Duration::from_secs(3600 * hours)
}

/// The 400 body for a bad query parameter.
pub fn invalid_param_body(param: &str, expected: &str) -> String {
    serde_json::json!({
        "Response": {"Code": 400, "Message": "Bad Request"},
        "Errors": [{
            "Code": "E100",
            "Message": format!("query parameter {param} must be {expected}"),
            "Field": param,
        }],
    })
    .to_string()
}

/// Starts a [`TestServer`] serving the barcode service; see the [module docs](self).
#[derive(Debug)]
#[non_exhaustive]
pub struct Simulator;

impl Simulator {
    /// Starts a new [`TestServer`] on `127.0.0.1:0` with the simulator's routes.
    ///
    /// # Panics
    ///
    /// As [`TestServer::start`].
    pub async fn start() -> TestServer {
        let server = TestServer::start().await;
        Self::install(&server);
        server
    }

    /// Adds the simulator's routes to an existing server, as a catch-all prefix route
    /// (`/`): the server's exact routes still take precedence.
    pub fn install(server: &TestServer) {
        let state = Arc::new(Mutex::new(SimState::default()));
        server.handle_prefix("/", move |req| {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            route(&mut state, req)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_json() {
        for body in [
            OK_BODY,
            APP_ERROR_BODY,
            BAD_REQUEST_BODY,
            UNAUTHORIZED_BODY,
            FORBIDDEN_BODY,
            NOT_FOUND_BODY,
            METHOD_NOT_ALLOWED_BODY,
            CONFLICT_BODY,
            SERVER_ERROR_BODY,
            UNAVAILABLE_BODY,
            JOB_RUNNING_BODY,
            JOB_SUCCEEDED_BODY,
            JOB_FAILED_BODY,
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(body).is_ok(),
                "{body}"
            );
        }
        for body in [created_body(3), resource_body(3), cached_body(2)] {
            assert!(
                serde_json::from_str::<serde_json::Value>(&body).is_ok(),
                "{body}"
            );
        }
        let ok: serde_json::Value = serde_json::from_str(OK_BODY).unwrap();
        assert_eq!(ok["Response"]["Code"], 0);
        let app: serde_json::Value = serde_json::from_str(APP_ERROR_BODY).unwrap();
        assert_eq!(app["Response"]["Code"], APP_ERROR_CODE);
    }

    #[test]
    fn last_modified_dates() {
        assert_eq!(cached_last_modified(1), CACHED_LAST_MODIFIED);
        assert_eq!(cached_last_modified(2), "Wed, 21 Oct 2015 08:28:00 GMT");
        // Huge versions saturate instead of overflowing.
        assert!(cached_last_modified(u64::MAX).ends_with("GMT"));
    }
}
