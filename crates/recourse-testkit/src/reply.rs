//! [`Reply`]: what the server does with one request.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, TRAILER};
use http::{HeaderMap, StatusCode};

/// The size of one chunk of an [`Reply::endless`] body.
pub const ENDLESS_CHUNK_LEN: usize = 8 * 1024;

/// What the test server does with one request: answer (status, headers, body, optional
/// delay) or misbehave (close, reset, never answer).
///
/// Replies are built with the constructors [`Reply::status`], [`Reply::ok`],
/// [`Reply::echo`], [`Reply::close`], [`Reply::reset`] and [`Reply::never`], then refined
/// with builder methods that take and return `self`.
///
/// ```
/// use std::time::Duration;
/// use recourse_testkit::Reply;
///
/// let reply = Reply::status(503)
///     .header("retry-after", "1")
///     .body("down for maintenance")
///     .delay(Duration::from_millis(50));
/// assert_eq!(reply.status_code(), 503);
/// ```
#[derive(Clone)]
pub struct Reply {
    pub(crate) action: Action,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: BodySpec,
    pub(crate) trailers: HeaderMap,
    pub(crate) delay: Option<Duration>,
}

/// What happens to the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send the response.
    Respond,
    /// Close the connection (FIN) without answering.
    Close,
    /// Close the connection with a TCP RST (`SO_LINGER` 0) without answering.
    Reset,
    /// Never answer; keep the connection open.
    Never,
}

/// How the response body is produced.
#[derive(Clone, Debug)]
pub(crate) enum BodySpec {
    /// A complete body with a known length.
    Full(Bytes),
    /// Chunks sent one by one, `gap` apart, with no declared length.
    Chunked { chunks: Vec<Bytes>, gap: Duration },
    /// `chunk` repeated forever, `gap` apart.
    Endless { chunk: Bytes, gap: Duration },
    /// The request body, byte for byte.
    Echo,
}

/// The error returned by the fallible builder methods ([`Reply::try_status`],
/// [`Reply::try_header`]) for a status code or header that HTTP does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidReply {
    message: String,
}

impl fmt::Display for InvalidReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidReply {}

// === impl Reply ===

impl Reply {
    fn with_action(action: Action, status: StatusCode) -> Self {
        Self {
            action,
            status,
            headers: HeaderMap::new(),
            body: BodySpec::Full(Bytes::new()),
            trailers: HeaderMap::new(),
            delay: None,
        }
    }

    /// A response with this status code and an empty body.
    ///
    /// # Panics
    ///
    /// Panics if `code` is not a valid HTTP status code (100..=999); use
    /// [`Reply::try_status`] to get an error instead.
    #[track_caller]
    pub fn status(code: u16) -> Self {
        match Self::try_status(code) {
            Ok(reply) => reply,
            Err(e) => panic!("{e}"),
        }
    }

    /// A response with this status code, or an error if `code` is not a valid HTTP status
    /// code (100..=999).
    ///
    /// # Errors
    ///
    /// [`InvalidReply`] when `code` is out of range.
    pub fn try_status(code: u16) -> Result<Self, InvalidReply> {
        let status = StatusCode::from_u16(code).map_err(|_| InvalidReply {
            message: format!("invalid HTTP status code {code} (expected 100..=999)"),
        })?;
        Ok(Self::with_action(Action::Respond, status))
    }

    /// `200 OK` with an empty body.
    pub fn ok() -> Self {
        Self::with_action(Action::Respond, StatusCode::OK)
    }

    /// `200 OK` that echoes the request: the request method in the `x-echo-method` header
    /// and the request body byte for byte as the response body.
    pub fn echo() -> Self {
        Self {
            body: BodySpec::Echo,
            ..Self::ok()
        }
    }

    /// Read the whole request, then close the connection (TCP FIN) without answering.
    ///
    /// The request is recorded. A client sees the connection closed before a response
    /// (for hyper: an incomplete-message error). Over HTTP/2 the whole connection closes,
    /// with every stream on it.
    pub fn close() -> Self {
        Self::with_action(Action::Close, StatusCode::OK)
    }

    /// Read the whole request, then abort the connection with a TCP RST (`SO_LINGER` set to
    /// zero before the socket is dropped) without answering.
    ///
    /// The request is recorded. A client typically sees "connection reset by peer".
    pub fn reset() -> Self {
        Self::with_action(Action::Reset, StatusCode::OK)
    }

    /// Read the whole request and never answer, keeping the connection open until the
    /// server shuts down. Pair it with a client timeout.
    pub fn never() -> Self {
        Self::with_action(Action::Never, StatusCode::OK)
    }

    /// Appends a header (several values of one name are kept in order).
    ///
    /// # Panics
    ///
    /// Panics if `name` or `value` is not a valid header name or value; use
    /// [`Reply::try_header`] to get an error instead.
    #[track_caller]
    pub fn header(self, name: &str, value: &str) -> Self {
        match self.try_header(name, value) {
            Ok(reply) => reply,
            Err(e) => panic!("{e}"),
        }
    }

    /// Appends a header, or returns an error if `name` or `value` is not valid in HTTP.
    ///
    /// # Errors
    ///
    /// [`InvalidReply`] naming the offending header.
    pub fn try_header(mut self, name: &str, value: &str) -> Result<Self, InvalidReply> {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidReply {
            message: format!("invalid header name {name:?}"),
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| InvalidReply {
            message: format!("invalid value {value:?} for header {name:?}"),
        })?;
        self.headers.append(header, value);
        Ok(self)
    }

    /// Appends a trailer field, sent after the body, and names it in a `Trailer` header
    /// (RFC 9110 §6.5): the body then goes without `content-length`, in the HTTP/1.1
    /// chunked coding. hyper sends HTTP/1.1 trailers only in answer to a request with
    /// `TE: trailers` (RFC 9110 §10.1.4); HTTP/2 always carries them.
    ///
    /// # Panics
    ///
    /// Panics if `name` or `value` is not a valid field name or value; use
    /// [`Reply::try_trailer`] to get an error instead.
    #[track_caller]
    pub fn trailer(self, name: &str, value: &str) -> Self {
        match self.try_trailer(name, value) {
            Ok(reply) => reply,
            Err(e) => panic!("{e}"),
        }
    }

    /// Appends a trailer field, or returns an error if `name` or `value` is not valid.
    ///
    /// # Errors
    ///
    /// [`InvalidReply`] naming the offending field.
    pub fn try_trailer(mut self, name: &str, value: &str) -> Result<Self, InvalidReply> {
        let field = HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidReply {
            message: format!("invalid trailer name {name:?}"),
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| InvalidReply {
            message: format!("invalid value {value:?} for trailer {name:?}"),
        })?;
        self.trailers.append(field, value);
        // One `Trailer` header listing every name.
        let names: Vec<&str> = self.trailers.keys().map(HeaderName::as_str).collect();
        let listed = HeaderValue::from_str(&names.join(", ")).map_err(|_| InvalidReply {
            message: format!("invalid trailer name {name:?}"),
        })?;
        self.headers.insert(TRAILER, listed);
        Ok(self)
    }

    /// Appends an already-typed header.
    pub fn typed_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the body (sent with a `content-length`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = BodySpec::Full(body.into());
        self
    }

    /// Sets a JSON body and `content-type: application/json` (replacing any content type).
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.body = BodySpec::Full(Bytes::from(value.to_string()));
        self
    }

    /// Waits this long (with `tokio::time::sleep`, so paused test time applies) after the
    /// request was read and before acting: answering, closing or resetting.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Streams the body as these chunks, with no `content-length` (HTTP/1.1 chunked
    /// transfer coding), waiting `gap` before each chunk after the first.
    pub fn chunked(mut self, chunks: Vec<Bytes>, gap: Duration) -> Self {
        self.body = BodySpec::Chunked { chunks, gap };
        self
    }

    /// A body that never ends: chunks of [`ENDLESS_CHUNK_LEN`] bytes of `b'.'`, as fast as
    /// the client reads them. Useful to test body-size caps; the client must stop reading.
    pub fn endless(self) -> Self {
        self.endless_with(
            Bytes::from_static(&[b'.'; ENDLESS_CHUNK_LEN]),
            Duration::ZERO,
        )
    }

    /// A body that never ends: `chunk` repeated forever, waiting `gap` before each chunk
    /// after the first (paused test time applies). An empty `chunk` is replaced by one
    /// byte `b'.'` so that the body always makes progress.
    pub fn endless_with(mut self, chunk: Bytes, gap: Duration) -> Self {
        let chunk = if chunk.is_empty() {
            Bytes::from_static(b".")
        } else {
            chunk
        };
        self.body = BodySpec::Endless { chunk, gap };
        self
    }

    /// The status code this reply answers with (meaningless for close, reset, never).
    pub fn status_code(&self) -> u16 {
        self.status.as_u16()
    }

    /// The headers this reply answers with.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The delay set with [`Reply::delay`], if any.
    pub fn delay_duration(&self) -> Option<Duration> {
        self.delay
    }

    /// `true` for [`Reply::close`], [`Reply::reset`] and [`Reply::never`]: replies that do
    /// not answer.
    pub fn is_fault(&self) -> bool {
        self.action != Action::Respond
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Reply");
        match self.action {
            Action::Respond => {
                d.field("status", &self.status.as_u16())
                    .field("headers", &self.headers);
                match &self.body {
                    BodySpec::Full(b) => d.field("body_len", &b.len()),
                    BodySpec::Chunked { chunks, gap } => {
                        d.field("chunks", &chunks.len()).field("gap", gap)
                    }
                    BodySpec::Endless { chunk, gap } => {
                        d.field("endless_chunk_len", &chunk.len()).field("gap", gap)
                    }
                    BodySpec::Echo => d.field("body", &"echo"),
                };
            }
            other => {
                d.field("action", &other);
            }
        }
        d.field("delay", &self.delay).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_status_is_an_error() {
        let err = Reply::try_status(42).unwrap_err();
        assert!(err.to_string().contains("42"), "{err}");
        assert!(Reply::try_status(1000).is_err());
        assert_eq!(Reply::try_status(599).map(|r| r.status_code()), Ok(599));
    }

    #[test]
    fn invalid_header_is_an_error() {
        let err = Reply::ok().try_header("bad name", "v").unwrap_err();
        assert!(err.to_string().contains("bad name"), "{err}");
        let err = Reply::ok().try_header("x-ok", "line\nbreak").unwrap_err();
        assert!(err.to_string().contains("x-ok"), "{err}");
    }

    #[test]
    fn headers_append() {
        let reply = Reply::ok()
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2");
        let values: Vec<_> = reply.headers().get_all("set-cookie").iter().collect();
        assert_eq!(values, ["a=1", "b=2"]);
    }

    #[test]
    fn json_sets_content_type_once() {
        let reply = Reply::ok()
            .header("content-type", "text/plain")
            .json(&serde_json::json!({"a": 1}));
        assert_eq!(reply.headers().get_all(CONTENT_TYPE).iter().count(), 1);
        assert_eq!(reply.headers()[CONTENT_TYPE], "application/json");
        match reply.body {
            BodySpec::Full(b) => assert_eq!(b, r#"{"a":1}"#),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn trailers_are_listed_once() {
        let reply = Reply::ok()
            .trailer("x-checksum", "abc")
            .trailer("x-count", "2")
            .trailer("x-checksum", "def");
        assert_eq!(reply.headers()[TRAILER], "x-checksum, x-count");
        assert_eq!(reply.trailers.get_all("x-checksum").iter().count(), 2);
        assert!(Reply::ok().try_trailer("bad name", "v").is_err());
        assert!(Reply::ok().try_trailer("x-ok", "bad\r\n").is_err());
    }

    #[test]
    fn faults_are_faults() {
        assert!(Reply::close().is_fault());
        assert!(Reply::reset().is_fault());
        assert!(Reply::never().is_fault());
        assert!(!Reply::echo().is_fault());
    }
}
