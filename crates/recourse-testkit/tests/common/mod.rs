//! A real hyper-util client over loopback, shared by the integration tests.

#![allow(dead_code)]

use std::error::Error as StdError;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{self, Client};
use hyper_util::rt::TokioExecutor;

pub(crate) type TestClient = Client<HttpConnector, Full<Bytes>>;

/// An HTTP/1.1 client with a connection pool.
pub(crate) fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An HTTP/2 (prior knowledge) client.
pub(crate) fn h2_client() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Sends the request and collects the whole response body.
pub(crate) async fn send(
    client: &TestClient,
    request: Request<Full<Bytes>>,
) -> Result<Response<Bytes>, legacy::Error> {
    let response = client.request(request).await?;
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => panic!("reading the response body failed: {e}"),
    };
    Ok(Response::from_parts(parts, body))
}

/// A request with a method, URI, body and headers.
pub(crate) fn request(
    method: &str,
    uri: Uri,
    body: impl Into<Bytes>,
    headers: &[(&str, &str)],
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body.into()))
        .expect("valid test request")
}

/// GET `uri` and collect the response; panics on a transport error.
pub(crate) async fn get(client: &TestClient, uri: Uri) -> Response<Bytes> {
    send(client, request("GET", uri, Bytes::new(), &[]))
        .await
        .expect("GET over loopback")
}

/// Sends `method uri` with `body` and collects the response; panics on a transport error.
pub(crate) async fn call(
    client: &TestClient,
    method: &str,
    uri: Uri,
    body: impl Into<Bytes>,
) -> Response<Bytes> {
    send(client, request(method, uri, body, &[]))
        .await
        .expect("request over loopback")
}

/// The first error of `err`'s source chain of type `E`.
pub(crate) fn find_source<'a, E: StdError + 'static>(
    err: &'a (dyn StdError + 'static),
) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// A header value as a string, or "" when absent.
pub(crate) fn header<'a>(response: &'a Response<Bytes>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header"))
        .unwrap_or("")
}
