//! [`ROWS`]: one request per row of the response-code table, with the status it gets.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request};
use http_body_util::Full;

use crate::TestServer;

/// One row of the response-code table and a request that produces it on the simulator.
#[derive(Clone, Debug)]
pub struct Row {
    /// The status the request gets.
    pub status: u16,
    /// What the row means, as the table says it.
    pub meaning: &'static str,
    /// The request method.
    pub method: Method,
    /// The request path (and query).
    pub path: &'static str,
    /// Request headers.
    pub headers: &'static [(&'static str, &'static str)],
    /// The request body.
    pub body: &'static str,
}

impl Row {
    /// This row's request to `server`, ready for a hyper-util client.
    pub fn request(&self, server: &TestServer) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(Bytes::from_static(self.body.as_bytes())));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = server.uri(self.path);
        for (name, value) in self.headers {
            request.headers_mut().append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        request
    }
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];
const REQUEST_BODY: &str = r#"{"Data":"012345678901","Symbology":"EAN13"}"#;

/// One request per row of the table (200 twice: `Response.Code` 0 and not 0), each
/// getting [`Row::status`] from a simulator, whatever requests came before. Sent in
/// order to one fresh simulator they also produce the documented `Location` values
/// (`/barcode/1`, `/jobs/1`).
pub const ROWS: &[Row] = &[
    Row {
        status: 200,
        meaning: "processed, Response.Code 0: success",
        method: Method::POST,
        path: "/barcode/ok",
        headers: JSON,
        body: REQUEST_BODY,
    },
    Row {
        status: 200,
        meaning: "processed, Response.Code not 0: application failure",
        method: Method::POST,
        path: "/barcode/app-error",
        headers: JSON,
        body: REQUEST_BODY,
    },
    Row {
        status: 201,
        meaning: "created, new resource at Location",
        method: Method::POST,
        path: "/barcode",
        headers: JSON,
        body: REQUEST_BODY,
    },
    Row {
        status: 202,
        meaning: "accepted, poll the status at Location",
        method: Method::POST,
        path: "/barcode/async",
        headers: JSON,
        body: REQUEST_BODY,
    },
    Row {
        status: 304,
        meaning: "not modified, use the cached copy",
        method: Method::GET,
        path: "/barcode/cached",
        headers: &[("if-none-match", "\"v1\"")],
        body: "",
    },
    Row {
        status: 307,
        meaning: "redirect, resubmit to Location with the same method",
        method: Method::POST,
        path: "/barcode/old",
        headers: JSON,
        body: REQUEST_BODY,
    },
    Row {
        status: 400,
        meaning: "bad request, see the Errors block",
        method: Method::POST,
        path: "/barcode/bad",
        headers: JSON,
        body: REQUEST_BODY,
    },
    Row {
        status: 401,
        meaning: "unauthorized",
        method: Method::GET,
        path: "/barcode/unauthorized",
        headers: &[],
        body: "",
    },
    Row {
        status: 403,
        meaning: "forbidden",
        method: Method::GET,
        path: "/barcode/forbidden",
        headers: &[],
        body: "",
    },
    Row {
        status: 404,
        meaning: "not found",
        method: Method::GET,
        path: "/barcode/missing",
        headers: &[],
        body: "",
    },
    Row {
        status: 405,
        meaning: "method not allowed, see Allow",
        method: Method::POST,
        path: "/barcode/get-only",
        headers: JSON,
        body: REQUEST_BODY,
    },
    Row {
        status: 409,
        meaning: "conflict",
        method: Method::POST,
        path: "/barcode/conflict",
        headers: JSON,
        body: REQUEST_BODY,
    },
    Row {
        status: 500,
        meaning: "internal server error, resubmit later",
        method: Method::GET,
        path: "/barcode/broken",
        headers: &[],
        body: "",
    },
    Row {
        status: 503,
        meaning: "service unavailable, resubmit after Retry-After",
        method: Method::GET,
        path: "/barcode/down",
        headers: &[],
        body: "",
    },
];
