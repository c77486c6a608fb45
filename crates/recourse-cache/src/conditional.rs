//! Validation: conditional requests the cache sends (RFC 9111 §4.3.1), conditional
//! requests it answers (§4.3.2) and the selection of the stored response a 304 updates
//! (§4.3.4).

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::entry::Entry;
use crate::semantics::parse_date;

/// What the caller's own preconditions ask of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Preconditions {
    /// None.
    None,
    /// `If-None-Match` and/or `If-Modified-Since`: the cache evaluates them against a
    /// fresh stored response (RFC 9111 §4.3.2).
    Cache,
    /// `If-Match`, `If-Unmodified-Since` or `If-Range`: meant for the origin, so
    /// the request bypasses the cache (RFC 9111 §4.3.2: a cache MUST NOT evaluate
    /// conditionals that apply only to an origin server).
    Origin,
}

impl Preconditions {
    pub(crate) fn of(headers: &HeaderMap) -> Preconditions {
        if headers.is_empty() {
            return Preconditions::None;
        }
        if headers.contains_key(header::IF_MATCH)
            || headers.contains_key(header::IF_UNMODIFIED_SINCE)
            || headers.contains_key(header::IF_RANGE)
        {
            Preconditions::Origin
        } else if headers.contains_key(header::IF_NONE_MATCH)
            || headers.contains_key(header::IF_MODIFIED_SINCE)
        {
            Preconditions::Cache
        } else {
            Preconditions::None
        }
    }
}

/// An entity-tag split into its weakness and opaque part (RFC 9110 §8.8.3), leniently:
/// `w/` and unquoted tags are accepted as senders in the wild produce them.
fn split_tag(tag: &[u8]) -> (bool, &[u8]) {
    let tag = tag.trim_ascii();
    let (weak, rest) = match tag {
        [b'W' | b'w', b'/', rest @ ..] => (true, rest),
        _ => (false, tag),
    };
    let rest = rest.trim_ascii();
    let opaque = match rest {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    (weak, opaque)
}

/// Iterates the members of an entity-tag list, splitting on commas outside quotes.
fn tags<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> impl Iterator<Item = &'a [u8]> {
    values.into_iter().flat_map(|v| {
        let bytes = v.as_bytes();
        let mut out = Vec::new();
        let mut start = 0;
        let mut quoted = false;
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    out.push(&bytes[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&bytes[start..]);
        out.into_iter().filter(|t| !t.trim_ascii().is_empty())
    })
}

/// An entity-tag exactly as RFC 9110 §8.8.3 writes it: `W/` (case-sensitive) for weak,
/// then a quoted opaque part of `etagc` (`%x21 / %x23-7E / obs-text`). `None` otherwise.
fn parse_tag(tag: &[u8]) -> Option<(bool, &[u8])> {
    let tag = tag.trim_ascii();
    let (weak, rest) = match tag.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    match rest {
        [b'"', inner @ .., b'"']
            if inner.iter().all(|b| *b == 0x21 || *b >= 0x23 && *b != 0x7f) =>
        {
            Some((weak, inner))
        }
        _ => None,
    }
}

/// What a client's `If-None-Match` asks (RFC 9110 §13.1.2), or `None` when the field is
/// not valid (`*` or a list of valid entity-tags), in which case it is ignored.
fn if_none_match(request: &HeaderMap, stored: Option<&HeaderValue>) -> Option<bool> {
    let values = request.get_all(header::IF_NONE_MATCH);
    let mut star = false;
    let mut members = 0;
    let mut matched = false;
    // The stored entity-tag, when valid: an invalid one matches nothing.
    let stored = stored.and_then(|v| parse_tag(v.as_bytes()));
    for t in tags(values) {
        members += 1;
        if t.trim_ascii() == b"*" {
            star = true;
            continue;
        }
        let (_, opaque) = parse_tag(t)?;
        // Weak comparison (RFC 9110 §8.8.3.2, required for If-None-Match by §13.1.2).
        matched |= stored.is_some_and(|(_, s)| s == opaque);
    }
    match (star, members) {
        (_, 0) => None,
        // `*` stands alone.
        (true, 1) => Some(true),
        (true, _) => None,
        (false, _) => Some(matched),
    }
}

/// Weak comparison (RFC 9110 §8.8.3.2).
fn weak_eq(a: &[u8], b: &[u8]) -> bool {
    split_tag(a).1 == split_tag(b).1
}

/// Strong comparison: both strong and identical.
fn strong_eq(a: &[u8], b: &[u8]) -> bool {
    let (wa, oa) = split_tag(a);
    let (wb, ob) = split_tag(b);
    !wa && !wb && oa == ob
}

/// Whether the caller's `If-None-Match` / `If-Modified-Since` are satisfied by the stored
/// response, so that the cache answers 304 (RFC 9110 §13.1.2, §13.1.3, §13.2.2: with
/// `If-None-Match` present, `If-Modified-Since` is ignored).
pub(crate) fn not_modified(request: &HeaderMap, entry: &Entry) -> bool {
    // RFC 9110 §13.2.1: preconditions apply only where the response would be a 2xx.
    if !entry.status().is_success() {
        return false;
    }
    if request.contains_key(header::IF_NONE_MATCH)
        && let Some(matched) = if_none_match(request, entry.headers().get(header::ETAG))
    {
        return matched;
    }
    // RFC 9110 §13.1.3: ignored when not a valid HTTP-date or with several members (an
    // invalid If-None-Match was ignored above, so this one applies).
    let mut since_values = request.get_all(header::IF_MODIFIED_SINCE).iter();
    let (Some(since), None) = (since_values.next(), since_values.next()) else {
        return false;
    };
    let Some(since) = parse_date(Some(since)) else {
        return false;
    };
    // RFC 9111 §4.3.2: without Last-Modified, the Date of the stored response (or when it
    // was received) stands in.
    let modified = parse_date(entry.headers().get(header::LAST_MODIFIED))
        .or_else(|| parse_date(entry.headers().get(header::DATE)))
        .unwrap_or(entry.response_time());
    modified <= since
}

/// The 304 the cache sends for a fresh stored response (RFC 9110 §15.4.5: the fields a
/// 200 would have carried among Content-Location, Date, ETag, Vary, Cache-Control and
/// Expires; plus Last-Modified).
pub(crate) fn not_modified_headers(entry: &Entry) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in [
        header::CACHE_CONTROL,
        header::CONTENT_LOCATION,
        header::DATE,
        header::ETAG,
        header::EXPIRES,
        header::LAST_MODIFIED,
        header::VARY,
    ] {
        for value in entry.headers().get_all(&name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Adds the stored response's validators to a request the cache sends to revalidate it
/// (RFC 9111 §4.3.1): its entity-tag in `If-None-Match` (quoted if the origin sent it
/// bare), and its `Last-Modified` in `If-Modified-Since`.
pub(crate) fn add_validators(request: &mut HeaderMap, entry: &Entry) -> bool {
    let mut added = false;
    if let Some(etag) = entry.headers().get(header::ETAG) {
        let value = quote_tag(etag);
        request.insert(header::IF_NONE_MATCH, value);
        added = true;
    }
    if let Some(lm) = entry.headers().get(header::LAST_MODIFIED) {
        request.insert(header::IF_MODIFIED_SINCE, lm.clone());
        added = true;
    }
    added
}

fn quote_tag(etag: &HeaderValue) -> HeaderValue {
    let raw = etag.as_bytes().trim_ascii();
    if raw.ends_with(b"\"") && (raw.starts_with(b"\"") || raw.starts_with(b"W/\"")) {
        return etag.clone();
    }
    let (weak, opaque) = split_tag(raw);
    let mut out = Vec::with_capacity(opaque.len() + 4);
    if weak {
        out.extend_from_slice(b"W/");
    }
    out.push(b'"');
    out.extend(opaque.iter().copied().filter(|b| *b != b'"'));
    out.push(b'"');
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| etag.clone())
}

/// Whether a 304 selects `entry` for update (RFC 9111 §4.3.4): a strong validator must
/// equal the stored one; a weak validator must match it; a 304 with no validator at all
/// answers the conditional request made for this entry alone, so it selects it.
pub(crate) fn selects<B>(not_modified: &Response<B>, entry: &Entry) -> bool {
    debug_assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    let stored = entry.headers();
    if let Some(new) = not_modified.headers().get(header::ETAG) {
        let Some(old) = stored.get(header::ETAG) else {
            return false;
        };
        let (weak, _) = split_tag(new.as_bytes());
        return if weak {
            weak_eq(new.as_bytes(), old.as_bytes())
        } else {
            strong_eq(new.as_bytes(), old.as_bytes())
        };
    }
    if let Some(new) = not_modified.headers().get(header::LAST_MODIFIED) {
        return match stored.get(header::LAST_MODIFIED) {
            Some(old) => {
                old.as_bytes().trim_ascii() == new.as_bytes().trim_ascii()
                    || (parse_date(Some(old)).is_some()
                        && parse_date(Some(old)) == parse_date(Some(new)))
            }
            None => false,
        };
    }
    true
}

/// Whether a 200 to a HEAD request describes the stored response (RFC 9111 §4.3.5): the
/// same `ETag` (present in both or neither), and the same `Last-Modified` and
/// `Content-Length` where both have them.
pub(crate) fn head_agrees(head: &HeaderMap, entry: &Entry) -> bool {
    let stored = entry.headers();
    let same = |name: &header::HeaderName| match (head.get(name), stored.get(name)) {
        (Some(a), Some(b)) => a.as_bytes().trim_ascii() == b.as_bytes().trim_ascii(),
        _ => true,
    };
    head.contains_key(header::ETAG) == stored.contains_key(header::ETAG)
        && same(&header::ETAG)
        && same(&header::LAST_MODIFIED)
        && (same(&header::CONTENT_LENGTH)
            || head.get(header::CONTENT_LENGTH).is_some_and(|v| {
                v.as_bytes().trim_ascii() == entry.body().len().to_string().as_bytes()
            }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::entry;

    fn req(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn classifies_preconditions() {
        assert_eq!(Preconditions::of(&req(&[])), Preconditions::None);
        assert_eq!(
            Preconditions::of(&req(&[("accept", "*/*")])),
            Preconditions::None
        );
        assert_eq!(
            Preconditions::of(&req(&[("if-none-match", "\"a\"")])),
            Preconditions::Cache
        );
        assert_eq!(
            Preconditions::of(&req(&[("if-modified-since", "x")])),
            Preconditions::Cache
        );
        for origin in ["if-match", "if-unmodified-since", "if-range"] {
            assert_eq!(
                Preconditions::of(&req(&[(origin, "x"), ("if-none-match", "*")])),
                Preconditions::Origin
            );
        }
    }

    #[test]
    fn if_none_match() {
        let e = entry(&[("etag", "\"abc\"")], &[], 60);
        for matching in [
            "\"abc\"",
            "W/\"abc\"",
            "\"x\", \"abc\"",
            "\"x\",\"abc\", \"y\"",
            "*",
            " \"abc\" ",
        ] {
            assert!(
                not_modified(&req(&[("if-none-match", matching)]), &e),
                "{matching}"
            );
        }
        // Invalid fields are ignored (no 304): unquoted, lower-case `w/`, `*` in a list,
        // a bad character, an unterminated quote; then If-Modified-Since decides.
        for invalid in [
            "abc",
            "w/\"abc\"",
            "*, \"abc\"",
            "\"abc\", abc",
            "\"a\\bc\"",
            "\"abc",
            "\"ab c\"",
        ] {
            assert!(
                !not_modified(&req(&[("if-none-match", invalid)]), &e),
                "{invalid}"
            );
        }
        let lm_entry = entry(
            &[
                ("etag", "\"abc\""),
                ("last-modified", "Tue, 15 Nov 1994 12:45:26 GMT"),
            ],
            &[],
            60,
        );
        assert!(not_modified(
            &req(&[
                ("if-none-match", "abc"),
                ("if-modified-since", "Tue, 15 Nov 1994 12:45:26 GMT")
            ]),
            &lm_entry
        ));
        // An invalid stored entity-tag matches nothing but `*`.
        let bare = entry(&[("etag", "abc")], &[], 60);
        assert!(!not_modified(&req(&[("if-none-match", "\"abc\"")]), &bare));
        assert!(not_modified(&req(&[("if-none-match", "*")]), &bare));
        assert!(!not_modified(&req(&[("if-none-match", "\"abcd\"")]), &e));
        assert!(!not_modified(&req(&[("if-none-match", "\"a,bc\"")]), &e));
        // If-None-Match takes precedence over If-Modified-Since.
        let far = httpdate::fmt_http_date(std::time::SystemTime::now());
        assert!(!not_modified(
            &req(&[("if-none-match", "\"zzz\""), ("if-modified-since", &far)]),
            &e
        ));
        let weak = entry(&[("etag", "W/\"abc\"")], &[], 60);
        assert!(not_modified(&req(&[("if-none-match", "W/\"abc\"")]), &weak));
        assert!(not_modified(&req(&[("if-none-match", "\"abc\"")]), &weak));
        let none = entry(&[], &[], 60);
        assert!(!not_modified(&req(&[("if-none-match", "\"abc\"")]), &none));
        assert!(not_modified(&req(&[("if-none-match", "*")]), &none));
    }

    #[test]
    fn if_modified_since() {
        let lm = "Tue, 15 Nov 1994 12:45:26 GMT";
        let e = entry(&[("last-modified", lm)], &[], 60);
        assert!(not_modified(&req(&[("if-modified-since", lm)]), &e));
        assert!(not_modified(
            &req(&[("if-modified-since", "Wed, 16 Nov 1994 12:45:26 GMT")]),
            &e
        ));
        assert!(!not_modified(
            &req(&[("if-modified-since", "Mon, 14 Nov 1994 12:45:26 GMT")]),
            &e
        ));
        assert!(!not_modified(&req(&[("if-modified-since", "garbage")]), &e));
        // Two members, or two dates in two lines: ignored (RFC 9110 §13.1.3).
        let two = format!("{lm}, {lm}");
        assert!(!not_modified(&req(&[("if-modified-since", &two)]), &e));
        assert!(!not_modified(
            &req(&[("if-modified-since", lm), ("if-modified-since", lm)]),
            &e
        ));
        // A non-2xx stored response never gets a 304 (RFC 9110 §13.2.1).
        let gone = crate::entry::tests::entry_with_status(404, &[("last-modified", lm)], 60);
        assert!(!not_modified(&req(&[("if-modified-since", lm)]), &gone));
        // Without Last-Modified the Date counts.
        let dated = entry(&[("date", lm)], &[], 60);
        assert!(not_modified(&req(&[("if-modified-since", lm)]), &dated));
    }

    #[test]
    fn validators_sent() {
        let mut h = HeaderMap::new();
        let e = entry(
            &[
                ("etag", "abc"),
                ("last-modified", "Tue, 15 Nov 1994 12:45:26 GMT"),
            ],
            &[],
            0,
        );
        assert!(add_validators(&mut h, &e));
        assert_eq!(h["if-none-match"], "\"abc\"");
        assert_eq!(h["if-modified-since"], "Tue, 15 Nov 1994 12:45:26 GMT");
        let mut h = HeaderMap::new();
        assert!(add_validators(
            &mut h,
            &entry(&[("etag", "W/\"x\"")], &[], 0)
        ));
        assert_eq!(h["if-none-match"], "W/\"x\"");
        let mut h = HeaderMap::new();
        assert!(add_validators(&mut h, &entry(&[("etag", "W/x")], &[], 0)));
        assert_eq!(h["if-none-match"], "W/\"x\"");
        assert!(!add_validators(&mut HeaderMap::new(), &entry(&[], &[], 0)));
    }

    fn res304(pairs: &[(&str, &str)]) -> Response<()> {
        let mut r = Response::new(());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        *r.headers_mut() = req(pairs);
        r
    }

    #[test]
    fn selection_for_update() {
        let lm = "Tue, 15 Nov 1994 12:45:26 GMT";
        let e = entry(&[("etag", "\"a\""), ("last-modified", lm)], &[], 0);
        assert!(selects(&res304(&[("etag", "\"a\"")]), &e));
        assert!(!selects(&res304(&[("etag", "\"b\"")]), &e));
        assert!(selects(&res304(&[("etag", "W/\"a\"")]), &e));
        assert!(selects(&res304(&[("last-modified", lm)]), &e));
        assert!(!selects(
            &res304(&[("last-modified", "Wed, 16 Nov 1994 12:45:26 GMT")]),
            &e
        ));
        assert!(selects(&res304(&[]), &e));
        let weak = entry(&[("etag", "W/\"a\"")], &[], 0);
        assert!(!selects(&res304(&[("etag", "\"a\"")]), &weak));
        assert!(selects(&res304(&[("etag", "W/\"a\"")]), &weak));
        let bare = entry(&[], &[], 0);
        assert!(!selects(&res304(&[("etag", "\"a\"")]), &bare));
    }

    #[test]
    fn not_modified_fields() {
        let e = entry(
            &[
                ("etag", "\"a\""),
                ("content-type", "text/plain"),
                ("cache-control", "max-age=5"),
            ],
            &[],
            5,
        );
        let h = not_modified_headers(&e);
        assert_eq!(h["etag"], "\"a\"");
        assert_eq!(h["cache-control"], "max-age=5");
        assert!(!h.contains_key("content-type"));
    }
}
