//! [`Recorded`]: one request as the server received it.

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};

/// One request as the test server received it, body included.
///
/// The server reads the whole request body (up to
/// [`MAX_REQUEST_BODY`](crate::MAX_REQUEST_BODY)) before recording it and before deciding
/// the reply, so a [`Recorded`] always holds the complete body.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The request method.
    pub method: Method,
    /// The request target as received: origin-form (`/path?query`) over HTTP/1.1,
    /// absolute over HTTP/2.
    pub uri: Uri,
    /// The path component of [`uri`](Self::uri), without the query.
    pub path: String,
    /// The request headers, in the order received.
    pub headers: HeaderMap,
    /// The complete request body.
    pub body: Bytes,
    /// The request trailers, if the body ended with any.
    pub trailers: Option<HeaderMap>,
    /// The HTTP version of the request.
    pub version: Version,
    /// The connection the request came on: numbered from 0 in accept order, per server.
    /// Two requests with the same number shared a kept-alive connection.
    pub connection: u64,
}

impl Recorded {
    /// The query string, if any (without the `?`).
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The value of a query parameter: the first `name=value` pair of the query string
    /// with this name, not percent-decoded. A bare `name` gives `Some("")`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }

    /// The first value of this header as a string, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body as UTF-8 text, lossily converted.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(uri: &str) -> Recorded {
        let uri: Uri = uri.parse().unwrap();
        Recorded {
            method: Method::GET,
            path: uri.path().to_owned(),
            uri,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            trailers: None,
            version: Version::HTTP_11,
            connection: 0,
        }
    }

    #[test]
    fn query_params() {
        let r = recorded("/jobs?polls=3&flag&polls=9&x=");
        assert_eq!(r.query_param("polls"), Some("3"));
        assert_eq!(r.query_param("flag"), Some(""));
        assert_eq!(r.query_param("x"), Some(""));
        assert_eq!(r.query_param("missing"), None);
        assert_eq!(recorded("/jobs").query_param("polls"), None);
    }
}
