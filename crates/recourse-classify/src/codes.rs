//! [`BodyCodes`]: where and how far the classify layer looks into a response body.

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, StatusCode, header};

use recourse_core::json::JsonPath;
use recourse_core::limits::DEFAULT_PEEK_LIMIT;

/// How many paths one scan follows: code, message, errors.
const TARGETS: usize = 3;

/// Where the classify layer looks for body-level codes, and how much of a body it reads.
///
/// The defaults follow the response-code table:
///
/// | Setting | Default |
/// |---|---|
/// | [`peek_limit`](BodyCodes::peek_limit) | 64 KiB ([`DEFAULT_PEEK_LIMIT`]) |
/// | [`code_statuses`](BodyCodes::code_statuses) | 200 |
/// | [`code_path`](BodyCodes::code_path) | `Response.Code` |
/// | [`message_path`](BodyCodes::message_path) | `Response.Message` |
/// | [`errors_statuses`](BodyCodes::errors_statuses) | 400 |
/// | [`errors_path`](BodyCodes::errors_path) | `Errors` |
///
/// Only responses whose status is in one of the two sets and whose `Content-Type` is JSON
/// (`application/json`, or any `*/*+json` such as `application/problem+json`;
/// RFC 8259 §11, RFC 6839 §3.1) are read; keys are matched ASCII-case-insensitively.
///
/// # Clone
///
/// The default configuration is a constant; a customized one lives in an [`Arc`], so a
/// clone (one per request) is a reference-count increment.
///
/// ```
/// use http::StatusCode;
/// use recourse_classify::BodyCodes;
///
/// let codes = BodyCodes::new()
///     .peek_limit(16 * 1024)
///     .code_path("result.status")
///     .code_statuses([StatusCode::OK, StatusCode::CREATED]);
/// # let _ = codes;
/// ```
#[derive(Clone, Debug, Default)]
pub struct BodyCodes {
    config: Option<Arc<Config>>,
}

#[derive(Clone, Debug)]
struct Config {
    limit: usize,
    code_statuses: Cow<'static, [StatusCode]>,
    code_path: JsonPath,
    message_path: JsonPath,
    errors_statuses: Cow<'static, [StatusCode]>,
    errors_path: JsonPath,
}

static DEFAULT: Config = Config {
    limit: DEFAULT_PEEK_LIMIT,
    code_statuses: Cow::Borrowed(&[StatusCode::OK]),
    code_path: JsonPath::from_static(&[Cow::Borrowed("Response"), Cow::Borrowed("Code")]),
    message_path: JsonPath::from_static(&[Cow::Borrowed("Response"), Cow::Borrowed("Message")]),
    errors_statuses: Cow::Borrowed(&[StatusCode::BAD_REQUEST]),
    errors_path: JsonPath::from_static(&[Cow::Borrowed("Errors")]),
};

/// What to look for in one response's body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lookup<'c> {
    pub(crate) limit: usize,
    pub(crate) paths: [Option<&'c JsonPath>; TARGETS],
}

impl BodyCodes {
    /// The defaults (see the type docs).
    pub fn new() -> Self {
        BodyCodes::default()
    }

    fn config(&self) -> &Config {
        self.config.as_deref().unwrap_or(&DEFAULT)
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(self.config.get_or_insert_with(|| Arc::new(DEFAULT.clone())))
    }

    /// The most body bytes buffered to find the codes. A body longer than this (by its
    /// `Content-Length`, or once that many bytes have arrived) is not inspected: the
    /// response keeps its status-level verdict and its body streams on untouched.
    ///
    /// The bound also caps the frames held: one per 256 bytes of the bound, at least 64
    /// (256 for the default 64 KiB). A body that arrives in smaller pieces than that on
    /// average is not inspected either, because each frame held can pin far more memory
    /// than its bytes (hyper's frames point into its read buffers): without this cap, a
    /// server sending one byte per TCP segment made a 64 KiB prefix hold hundreds of MiB.
    /// This is the rule of [`recourse_core::body::Peek`], which does the reading.
    pub fn peek_limit(mut self, bytes: usize) -> Self {
        self.config_mut().limit = bytes;
        self
    }

    /// The statuses whose JSON body carries the application code (default: 200 OK).
    pub fn code_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.config_mut().code_statuses = statuses.into_iter().collect::<Vec<_>>().into();
        self
    }

    /// Where the application code is (default: `Response.Code`). A code of 0 is success;
    /// anything else is an application failure (see [`Policy::classify_code`](crate::Policy::classify_code)).
    /// The code may be a JSON integer or a string holding one.
    pub fn code_path(mut self, path: impl Into<JsonPath>) -> Self {
        self.config_mut().code_path = path.into();
        self
    }

    /// Where the message that goes with the code is (default: `Response.Message`).
    pub fn message_path(mut self, path: impl Into<JsonPath>) -> Self {
        self.config_mut().message_path = path.into();
        self
    }

    /// The statuses whose JSON body carries an `Errors` block (default: 400 Bad Request).
    pub fn errors_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.config_mut().errors_statuses = statuses.into_iter().collect::<Vec<_>>().into();
        self
    }

    /// Where the `Errors` block is (default: `Errors`).
    pub fn errors_path(mut self, path: impl Into<JsonPath>) -> Self {
        self.config_mut().errors_path = path.into();
        self
    }

    /// The configured bound, in bytes (set with [`peek_limit`](BodyCodes::peek_limit)).
    pub fn get_peek_limit(&self) -> usize {
        self.config().limit
    }

    /// What to look for in the body of a response with this status, if anything.
    ///
    /// This is on every response's path, so it checks the status first and reads the
    /// `Content-Type` only for the statuses that carry codes.
    #[inline]
    pub(crate) fn lookup(&self, status: StatusCode, headers: &HeaderMap) -> Option<Lookup<'_>> {
        let config = self.config();
        let wants_code = has(&config.code_statuses, status);
        let wants_errors = has(&config.errors_statuses, status);
        if !(wants_code || wants_errors) || !is_json(headers) {
            return None;
        }
        Some(Lookup {
            limit: config.limit,
            paths: [
                wants_code.then_some(&config.code_path),
                wants_code.then_some(&config.message_path),
                wants_errors.then_some(&config.errors_path),
            ],
        })
    }
}

/// Whether `set` holds `code`: a plain loop, since these sets hold a status or two and
/// `<[StatusCode]>::contains` is an out-of-line call here.
#[inline]
#[allow(clippy::manual_contains)]
fn has(set: &[StatusCode], code: StatusCode) -> bool {
    set.iter().any(|c| *c == code)
}

/// Whether the `Content-Type` is JSON: `application/json` or any `type/subtype+json`,
/// parameters ignored, compared ASCII-case-insensitively.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(&header::CONTENT_TYPE) else {
        return false;
    };
    let bytes = value.as_bytes();
    let essence = match bytes.iter().position(|b| *b == b';') {
        Some(end) => &bytes[..end],
        None => bytes,
    }
    .trim_ascii();
    let Some(slash) = essence.iter().position(|b| *b == b'/') else {
        return false;
    };
    let (kind, subtype) = (&essence[..slash], &essence[slash + 1..]);
    if kind.is_empty() || subtype.is_empty() {
        return false;
    }
    (kind.eq_ignore_ascii_case(b"application") && subtype.eq_ignore_ascii_case(b"json"))
        || (subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ct(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn json_content_types() {
        for yes in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;charset=UTF-8",
            "application/problem+json",
            "application/vnd.api+JSON",
            "text/x+json",
        ] {
            assert!(is_json(&ct(yes)), "{yes}");
        }
        for no in [
            "text/plain",
            "application/jsonp",
            "application/json-seq",
            "application/xml",
            "json",
            "application/",
            "/json",
            "application/+json",
            "text/html; x=application/json",
            "",
        ] {
            assert!(!is_json(&ct(no)), "{no}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn lookup_by_status() {
        let codes = BodyCodes::new();
        let json = ct("application/json");
        let l = codes.lookup(StatusCode::OK, &json).unwrap();
        assert_eq!(l.limit, DEFAULT_PEEK_LIMIT);
        assert!(l.paths[0].is_some() && l.paths[1].is_some() && l.paths[2].is_none());
        let l = codes.lookup(StatusCode::BAD_REQUEST, &json).unwrap();
        assert!(l.paths[0].is_none() && l.paths[2].is_some());
        assert!(codes.lookup(StatusCode::NOT_FOUND, &json).is_none());
        assert!(codes.lookup(StatusCode::OK, &ct("text/plain")).is_none());

        let custom = BodyCodes::new()
            .code_statuses([StatusCode::CREATED])
            .errors_statuses([StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY])
            .peek_limit(10);
        assert!(custom.lookup(StatusCode::OK, &json).is_none());
        let l = custom.lookup(StatusCode::CREATED, &json).unwrap();
        assert!(l.paths.iter().all(Option::is_some));
        assert_eq!(l.limit, 10);
        assert_eq!(custom.get_peek_limit(), 10);
        // The default is untouched by customizing a copy.
        assert_eq!(BodyCodes::new().get_peek_limit(), DEFAULT_PEEK_LIMIT);
    }
}
