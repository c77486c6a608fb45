//! `/barcode/cached`: a resource with validators that answers conditional requests.

use std::time::SystemTime;

use http::Method;

use super::routes::{SimState, is_get, json, not_allowed};
use super::{
    CACHED_CACHE_CONTROL, cached_body, cached_etag, cached_last_modified, cached_modified_time,
};
use crate::{Recorded, Reply};

/// `/barcode/cached`: a resource with validators, answering conditional GETs.
pub(crate) fn cached(state: &mut SimState, req: &Recorded) -> Reply {
    let version = state.cached_version + 1;
    if req.method == Method::POST {
        state.cached_version += 1;
        return Reply::status(204);
    }
    if !is_get(req) {
        return not_allowed("GET, HEAD, POST");
    }
    let etag = cached_etag(version);
    let validators = |reply: Reply| {
        reply
            .header("etag", &etag)
            .header("last-modified", &cached_last_modified(version))
            .header("cache-control", CACHED_CACHE_CONTROL)
    };
    if not_modified(req, &etag, cached_modified_time(version)) {
        return validators(Reply::status(304));
    }
    validators(json(200, cached_body(version)))
}

/// Evaluates `If-None-Match`, then (only without it) `If-Modified-Since`, for a GET or
/// HEAD (RFC 9110 §13.2.2 steps 3 and 4).
fn not_modified(req: &Recorded, etag: &str, modified: SystemTime) -> bool {
    let mut if_none_match = req.headers.get_all("if-none-match").iter().peekable();
    if if_none_match.peek().is_some() {
        // RFC 9110 §13.1.2: weak comparison; "*" matches any current representation. A
        // value that is not text matches nothing.
        return if_none_match
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || weak_eq(tag, etag));
    }
    // RFC 9110 §13.1.3: an invalid or multiple-valued date is ignored.
    let mut if_modified_since = req.headers.get_all("if-modified-since").iter();
    match (if_modified_since.next(), if_modified_since.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| modified <= since),
        _ => false,
    }
}

/// Weak comparison of two entity tags (RFC 9110 §8.8.3.2): equal opaque tags, whatever
/// their weakness.
fn weak_eq(a: &str, b: &str) -> bool {
    let opaque = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
    let a = opaque(a);
    a.len() >= 2 && a.starts_with('"') && a.ends_with('"') && a == opaque(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_comparison() {
        assert!(weak_eq("\"v1\"", "\"v1\""));
        assert!(weak_eq("W/\"v1\"", "\"v1\""));
        assert!(!weak_eq("\"v2\"", "\"v1\""));
        assert!(!weak_eq("v1", "v1"));
        assert!(!weak_eq("\"", "\""));
    }
}
