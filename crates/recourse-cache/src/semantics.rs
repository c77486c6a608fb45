//! Storability (RFC 9111 §3, §3.5) and freshness (§4.2), computed here.
//!
//! The cache once asked `http-cache-semantics`; it now computes both itself (see
//! [`lifetime`] for what the crate got wrong for a conformant cache). It also:
//!
//! - computes the age per §4.2.3, apparent age from `Date` included, and the first member
//!   of a list-valued `Age` (§5.1);
//! - parses dates strictly (RFC 9110 §5.6.7, see [`parse_date`]);
//! - builds the stored header fields (§3.1: hop-by-hop and qualified `no-cache` /
//!   `private` fields removed, `Date` added when missing) and never rewrites `Date` when
//!   serving;
//! - merges a 304's fields per §3.2, §4.3.4;
//! - in a shared cache keeps one user's cookies from another (`check`,
//!   `stored_headers`, `own_cookies`).

use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use recourse_core::hop::{is_hop_by_hop, remove_hop_by_hop};

use crate::config::Config;
use crate::directives::{self, ResponseDirectives};
use crate::entry::EntryParts;
use crate::vary;

/// The request side of an exchange whose response may be stored.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange<'a> {
    pub(crate) method: &'a Method,
    pub(crate) request: &'a HeaderMap,
    pub(crate) request_time: SystemTime,
    pub(crate) response_time: SystemTime,
}

/// Why a response was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotStored {
    Method,
    Status,
    RequestNoStore,
    NoStore,
    Private,
    /// Shared mode: `Set-Cookie` without `public` or `immutable`.
    SetCookie,
    VaryStar,
    /// Never fresh and no validator: it could never be used without a full request.
    Useless,
    /// A shared cache may not store it (RFC 9111 §3.5: `Authorization`).
    Policy,
}

/// The status codes whose semantics this cache implements, for `must-understand` (RFC 9111 §5.2.2.3).
const UNDERSTOOD: [u16; 14] = [
    200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501,
];

/// The fields that set cookies: `Set-Cookie` (RFC 6265) and the obsolete `Set-Cookie2`
/// (RFC 2965). Each is addressed to the one user whose request the response answers.
const COOKIE_SETTERS: [HeaderName; 2] =
    [header::SET_COOKIE, HeaderName::from_static("set-cookie2")];

/// Whether `headers` set a cookie.
pub(crate) fn sets_cookie(headers: &HeaderMap) -> bool {
    !headers.is_empty() && COOKIE_SETTERS.iter().any(|name| headers.contains_key(name))
}

/// Removes the fields that set cookies: a shared cache never hands one user's cookie to
/// another (RFC 9111 §7.3; RFC 2965 §3.2.3: a cookie meant for one user is not cached).
pub(crate) fn strip_cookie_setters(headers: &mut HeaderMap) {
    for name in &COOKIE_SETTERS {
        headers.remove(name);
    }
}

/// Gives a response served by a shared cache exactly the cookie fields of `own`, the
/// origin's answer to this user's own request (a 304 that revalidated a stored response):
/// none that were stored.
pub(crate) fn own_cookies(res: &mut HeaderMap, own: &HeaderMap) {
    strip_cookie_setters(res);
    for name in &COOKIE_SETTERS {
        for value in own.get_all(name) {
            res.append(name.clone(), value.clone());
        }
    }
}

/// Decides whether a response may be stored, and if so builds its entry (without body).
pub(crate) fn prepare(
    config: &Config,
    ex: &Exchange<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    request_no_store: bool,
) -> Result<EntryParts, NotStored> {
    if ex.method != Method::GET {
        return Err(NotStored::Method);
    }
    let checked = check(config, status, headers, request_no_store)?;
    build(config, ex, status, headers, checked)
}

/// What [`check`] found, for [`build`].
#[derive(Debug)]
pub(crate) struct Checked {
    directives: ResponseDirectives,
    names: Vec<HeaderName>,
    validators: bool,
    stale_use: bool,
}

/// The checks that need no clock and no copy: most responses that cannot be stored stop
/// here, cheaply.
pub(crate) fn check(
    config: &Config,
    status: StatusCode,
    headers: &HeaderMap,
    request_no_store: bool,
) -> Result<Checked, NotStored> {
    let shared = config.mode.is_shared();
    if status.is_informational()
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Err(NotStored::Status);
    }
    if request_no_store {
        return Err(NotStored::RequestNoStore);
    }
    let mut d = config.response_directives(headers);
    // RFC 9111 §5.2.2.3: with must-understand, a cache stores the response only if it
    // understands the status code, and then ignores no-store.
    if d.must_understand {
        if !UNDERSTOOD.contains(&status.as_u16()) {
            return Err(NotStored::Status);
        }
        d.no_store = false;
    }
    if d.no_store {
        return Err(NotStored::NoStore);
    }
    if shared && d.private.is_all() {
        return Err(NotStored::Private);
    }
    // A response that sets a cookie is often personal (a login page, a session start),
    // and `Set-Cookie` does not itself prevent caching (RFC 9111 §7.3). A shared cache
    // stores it only when the origin says it suits every user (`public`, or `immutable`
    // as the `http-cache-semantics` crate also accepts), and even then without the cookie fields
    // (see `stored_headers`).
    if shared && !d.public && !d.immutable && sets_cookie(headers) {
        return Err(NotStored::SetCookie);
    }
    let names = vary::nominated(headers).map_err(|()| NotStored::VaryStar)?;
    let validators =
        headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED);
    let freshness_info = d.max_age.is_some()
        || (shared && d.s_maxage.is_some())
        || d.immutable
        || headers.contains_key(header::EXPIRES)
        || headers.contains_key(header::LAST_MODIFIED);
    let stale_use = d.stale_if_error.is_some()
        || d.stale_while_revalidate.is_some()
        || !config.stale_if_error.is_zero();
    // A response that can never be reused without a full request is not worth storing:
    // no freshness and no validator, or `no-cache` (RFC 9111 §5.2.2.4) and no validator.
    if (!freshness_info || d.no_cache.is_all()) && !validators && !stale_use {
        return Err(NotStored::Useless);
    }
    Ok(Checked {
        directives: d,
        names,
        validators,
        stale_use,
    })
}

/// Builds the entry of a response that passed [`check`]: stored fields, freshness
/// lifetime, initial age.
pub(crate) fn build(
    config: &Config,
    ex: &Exchange<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    checked: Checked,
) -> Result<EntryParts, NotStored> {
    let Checked {
        directives: d,
        names,
        validators,
        stale_use,
    } = checked;
    let shared = config.mode.is_shared();
    let stored = stored_headers(headers, &d, shared, ex.response_time);
    let lifetime = lifetime(config, ex, status, &stored, &d)?;
    if lifetime.is_zero() && !validators && !stale_use {
        return Err(NotStored::Useless);
    }
    let initial_age = initial_age(headers, &stored, ex.request_time, ex.response_time);
    Ok(EntryParts {
        status,
        selecting: vary::selecting(ex.request, &names),
        headers: stored,
        body: bytes::Bytes::new(),
        response_time: ex.response_time,
        initial_age,
        lifetime,
    })
}

/// The status codes defined as heuristically cacheable (RFC 9110 §15.1): only these get a
/// heuristic freshness lifetime (RFC 9111 §4.2.2), unless `public` allows it (§5.2.2.9).
pub(crate) const HEURISTIC: [u16; 12] =
    [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// The freshness lifetime (RFC 9111 §4.2.1), or why the response may not be stored.
///
/// Computed here rather than by `http-cache-semantics`, which stores only the status codes
/// it lists even with explicit freshness (RFC 9111 §3 stores any final status code with
/// it), reads `Expires` and `Date` as RFC 2822 dates (lenient about whitespace, and
/// without the RFC 850 and asctime forms that RFC 9110 §5.6.7 requires recipients to
/// accept), zeroes the lifetime of `proxy-revalidate` responses (§5.2.2.8 only forbids
/// serving them stale) and has no cap on the heuristic lifetime.
fn lifetime(
    config: &Config,
    ex: &Exchange<'_>,
    status: StatusCode,
    stored: &HeaderMap,
    d: &ResponseDirectives,
) -> Result<Duration, NotStored> {
    let shared = config.mode.is_shared();
    // RFC 9111 §3.5: a shared cache stores a response to a request with Authorization
    // only when public, must-revalidate or s-maxage allows it.
    if shared
        && ex.request.contains_key(header::AUTHORIZATION)
        && !(d.public || d.must_revalidate || d.s_maxage.is_some())
    {
        return Err(NotStored::Policy);
    }
    let date = parse_date(stored.get(header::DATE)).unwrap_or(ex.response_time);
    let explicit = match (shared.then_some(d.s_maxage).flatten(), d.max_age) {
        (Some(s), _) => Some(Duration::from_secs(s)),
        (None, Some(m)) => Some(Duration::from_secs(m)),
        // RFC 9111 §5.3: an invalid Expires (or several) means already expired.
        (None, None) if stored.contains_key(header::EXPIRES) => Some(
            single(stored, &header::EXPIRES)
                .and_then(|v| parse_date(Some(v)))
                .and_then(|e| e.duration_since(date).ok())
                .unwrap_or(Duration::ZERO),
        ),
        (None, None) => None,
    };
    let heuristic_allowed = HEURISTIC.contains(&status.as_u16()) || d.public;
    // RFC 9111 §3: without explicit freshness, only a heuristically cacheable status (or
    // `public`, or `private` in a private cache) makes a response storable.
    if explicit.is_none() && !heuristic_allowed && (shared || !d.private.is_all()) {
        return Err(NotStored::Status);
    }
    if d.no_cache.is_all() {
        return Ok(Duration::ZERO);
    }
    let mut lifetime = explicit.unwrap_or_else(|| {
        if !heuristic_allowed {
            return Duration::ZERO;
        }
        heuristic(config, date, stored)
    });
    if d.immutable && d.max_age.is_none() && !(shared && d.s_maxage.is_some()) {
        lifetime = lifetime.max(config.immutable_min_ttl);
    }
    Ok(lifetime)
}

/// The heuristic freshness lifetime (RFC 9111 §4.2.2): the configured fraction of the
/// time between `Last-Modified` and `Date`, capped.
fn heuristic(config: &Config, date: SystemTime, stored: &HeaderMap) -> Duration {
    single(stored, &header::LAST_MODIFIED)
        .and_then(|v| parse_date(Some(v)))
        .and_then(|lm| date.duration_since(lm).ok())
        .map_or(Duration::ZERO, |since| {
            // Whole seconds: `0.1_f32` is a little over a tenth.
            let secs = since.as_secs() as f64 * f64::from(config.heuristic_fraction);
            Duration::from_secs(secs as u64).min(config.heuristic_max)
        })
}

/// The value of a singleton field, `None` when it appears on several lines.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// The header fields to store (RFC 9111 §3.1).
fn stored_headers(
    headers: &HeaderMap,
    d: &ResponseDirectives,
    shared: bool,
    response_time: SystemTime,
) -> HeaderMap {
    let mut out = headers.clone();
    remove_hop_by_hop(&mut out);
    out.remove(header::AGE);
    // RFC 9111 §5.2.2.4 (qualified no-cache) and §5.2.2.7 (qualified private, shared
    // caches only): the listed fields are not reused without validation; dropping them
    // from storage satisfies both.
    for name in d.no_cache.fields() {
        out.remove(name);
    }
    if shared {
        for name in d.private.fields() {
            out.remove(name);
        }
        // The cookie went to the user whose request fetched the response; a shared cache
        // stores it for nobody (as if named by a qualified `no-cache`, §5.2.2.4).
        strip_cookie_setters(&mut out);
    }
    ensure_date(&mut out, response_time);
    out
}

/// Adds `Date` when it is missing or invalid (RFC 9110 §6.6.1: a recipient with a clock
/// that caches a response without `Date` adds one).
fn ensure_date(headers: &mut HeaderMap, now: SystemTime) {
    if parse_date(headers.get(header::DATE)).is_none() {
        headers.insert(header::DATE, http_date(now));
    }
}

/// Parses an HTTP-date (RFC 9110 §5.6.7): exactly IMF-fixdate, the obsolete RFC 850 form
/// or asctime, nothing else. `httpdate` checks each form's exact shape (fixed positions,
/// single spaces, case-sensitive names, `GMT`), so `Thu, 18  Aug  2050 02:01:18 GMT` or
/// `Thu, 18-Aug-2050 02:01:18 GMT` are invalid; only the field's surrounding whitespace
/// (RFC 9110 §5.5) is trimmed. A two-digit RFC 850 year below 70 is read as 20xx.
pub(crate) fn parse_date(value: Option<&HeaderValue>) -> Option<SystemTime> {
    let text = value?.as_bytes().trim_ascii();
    if text.len() < 24 || text.len() > 33 {
        return None;
    }
    httpdate::parse_http_date(std::str::from_utf8(text).ok()?).ok()
}

/// The `Age` value (RFC 9111 §5.1): of a list value (`7200, 0`) or several field lines
/// the first member counts; an invalid one is ignored.
pub(crate) fn parse_age(headers: &HeaderMap) -> Option<u64> {
    let first = headers.get(header::AGE)?.as_bytes();
    let member = first.split(|b| *b == b',').next()?.trim_ascii();
    directives::parse_delta(member)
}

pub(crate) fn http_date(t: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(t))
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// `corrected_initial_age` (RFC 9111 §4.2.3). `received` holds the response's own `Age`;
/// `stored` its `Date` (added when missing).
fn initial_age(
    received: &HeaderMap,
    stored: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Duration {
    let age_value = parse_age(received).map_or(Duration::ZERO, Duration::from_secs);
    let date_value = parse_date(stored.get(header::DATE)).unwrap_or(response_time);
    // Date has a resolution of one second: count whole seconds only, so that a response
    // dated just before it was received is not aged by the truncation.
    let apparent = response_time
        .duration_since(date_value)
        .map_or(Duration::ZERO, |d| Duration::from_secs(d.as_secs()));
    let response_delay = response_time
        .duration_since(request_time)
        .unwrap_or(Duration::ZERO);
    apparent.max(age_value.saturating_add(response_delay))
}

/// Fields a 304 (or a HEAD response) must not update (RFC 9111 §3.2): `Content-Length`
/// and the response's hop-by-hop fields (RFC 9110 §7.6.1). `Content-Range` and `ETag` are
/// replaced: the cache does not process them (it stores no partial responses).
fn excluded_from_update(name: &HeaderName, not_modified: &HeaderMap) -> bool {
    name == header::CONTENT_LENGTH || is_hop_by_hop(name, not_modified)
}

/// The stored fields updated with a 304's (RFC 9111 §3.2, §4.3.4): every field of the 304
/// replaces all stored lines of that name, and fields new in the 304 are added.
pub(crate) fn merge_304(
    stored: &HeaderMap,
    not_modified: &HeaderMap,
    response_time: SystemTime,
) -> HeaderMap {
    let mut merged = stored.clone();
    for name in not_modified.keys() {
        if excluded_from_update(name, not_modified) {
            continue;
        }
        merged.remove(name);
        for value in not_modified.get_all(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    if parse_date(not_modified.get(header::DATE)).is_none() {
        merged.insert(header::DATE, http_date(response_time));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;

    const T0: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(at(secs))
    }

    fn run(
        mode: Mode,
        req: &[(&str, &str)],
        status: u16,
        res: &[(&str, &str)],
    ) -> Result<EntryParts, NotStored> {
        let config = Config {
            mode,
            ..Config::default()
        };
        let request = headers(req);
        let ex = Exchange {
            method: &Method::GET,
            request: &request,
            request_time: at(T0),
            response_time: at(T0),
        };
        prepare(
            &config,
            &ex,
            StatusCode::from_u16(status).unwrap(),
            &headers(res),
            false,
        )
    }

    fn lifetime_of(mode: Mode, res: &[(&str, &str)]) -> Option<u64> {
        run(mode, &[], 200, res).ok().map(|p| p.lifetime.as_secs())
    }

    #[test]
    fn explicit_freshness() {
        let d = date(T0);
        assert_eq!(
            lifetime_of(Mode::Private, &[("cache-control", "max-age=60")]),
            Some(60)
        );
        assert_eq!(
            lifetime_of(Mode::Private, &[("cache-control", "MAX-AGE=60")]),
            Some(60)
        );
        assert_eq!(
            lifetime_of(Mode::Shared, &[("cache-control", "max-age=60, s-maxage=5")]),
            Some(5)
        );
        assert_eq!(
            lifetime_of(
                Mode::Private,
                &[("cache-control", "max-age=60, s-maxage=5")]
            ),
            Some(60)
        );
        let expires = date(T0 + 100);
        assert_eq!(
            lifetime_of(Mode::Private, &[("date", &d), ("expires", &expires)]),
            Some(100)
        );
        // max-age wins over Expires (RFC 9111 §5.3).
        assert_eq!(
            lifetime_of(
                Mode::Private,
                &[
                    ("date", &d),
                    ("expires", &date(T0 - 100)),
                    ("cache-control", "max-age=30")
                ]
            ),
            Some(30)
        );
        // An invalid Expires means already expired; kept only for its validators.
        assert_eq!(
            lifetime_of(
                Mode::Private,
                &[("date", &d), ("expires", "0"), ("etag", "\"x\"")]
            ),
            Some(0)
        );
        assert_eq!(
            lifetime_of(Mode::Private, &[("cache-control", "max-age =100")]),
            None
        );
    }

    #[test]
    fn heuristic_freshness() {
        let lm = date(T0 - 1000);
        let d = date(T0);
        assert_eq!(
            lifetime_of(Mode::Shared, &[("date", &d), ("last-modified", &lm)]),
            Some(100)
        );
        // Not for a status that is not heuristically cacheable (RFC 9110 §15.1)...
        for status in [302, 400, 500, 503, 599] {
            assert_eq!(
                run(
                    Mode::Shared,
                    &[],
                    status,
                    &[("date", &d), ("last-modified", &lm)]
                )
                .unwrap_err(),
                NotStored::Status,
                "{status}"
            );
        }
        // ...and for every one that is.
        for status in HEURISTIC.into_iter().filter(|s| *s != 206) {
            let p = run(
                Mode::Shared,
                &[],
                status,
                &[("date", &d), ("last-modified", &lm)],
            )
            .unwrap();
            assert_eq!(p.lifetime, Duration::from_secs(100), "{status}");
        }
        // `public` allows it for any status (RFC 9111 §5.2.2.9).
        let p = run(
            Mode::Shared,
            &[],
            500,
            &[
                ("date", &d),
                ("last-modified", &lm),
                ("cache-control", "public"),
            ],
        )
        .unwrap();
        assert_eq!(p.lifetime, Duration::from_secs(100));
        // The fraction and the cap are configurable.
        let config = Config {
            heuristic_fraction: 0.5,
            heuristic_max: Duration::from_secs(300),
            ..Config::default()
        };
        let stored = headers(&[("date", &d), ("last-modified", &date(T0 - 400))]);
        assert_eq!(
            heuristic(&config, at(T0), &stored),
            Duration::from_secs(200)
        );
        let stored = headers(&[("date", &d), ("last-modified", &date(T0 - 4000))]);
        assert_eq!(
            heuristic(&config, at(T0), &stored),
            Duration::from_secs(300)
        );
        // The default cap is one day: unchanged for a year is not fresh for 36 days.
        let year = date(T0 - 365 * 24 * 3600);
        assert_eq!(
            lifetime_of(Mode::Shared, &[("date", &d), ("last-modified", &year)]),
            Some(24 * 3600)
        );
        // A Last-Modified after Date gives nothing.
        assert_eq!(
            lifetime_of(
                Mode::Shared,
                &[("date", &d), ("last-modified", &date(T0 + 10))]
            ),
            Some(0)
        );
    }

    #[test]
    fn explicit_freshness_stores_any_final_status() {
        // RFC 9111 §3: any final status code with explicit freshness, unless forbidden.
        let d = date(T0);
        let expires = date(T0 + 30);
        for status in [
            200, 204, 299, 302, 400, 404, 410, 499, 500, 502, 503, 504, 599,
        ] {
            for res in [
                &[("cache-control", "max-age=30")][..],
                &[("cache-control", "s-maxage=30")][..],
                &[("date", d.as_str()), ("expires", expires.as_str())][..],
            ] {
                let p = run(Mode::Shared, &[], status, res);
                assert_eq!(p.map(|p| p.lifetime.as_secs()), Ok(30), "{status} {res:?}");
            }
        }
        // Still forbidden by no-store, private (shared), and never for 1xx, 206 or 304.
        let no_store = [("cache-control", "max-age=30, no-store")];
        assert_eq!(
            run(Mode::Shared, &[], 500, &no_store).unwrap_err(),
            NotStored::NoStore
        );
        let private = [("cache-control", "max-age=30, private")];
        assert_eq!(
            run(Mode::Shared, &[], 404, &private).unwrap_err(),
            NotStored::Private
        );
        for status in [100, 103, 206, 304] {
            assert_eq!(
                run(
                    Mode::Shared,
                    &[],
                    status,
                    &[("cache-control", "max-age=30")]
                )
                .unwrap_err(),
                NotStored::Status
            );
        }
        // s-maxage is for shared caches only: a private cache needs another reason.
        assert_eq!(
            run(
                Mode::Private,
                &[],
                500,
                &[("cache-control", "s-maxage=30"), ("etag", "\"1\"")]
            )
            .unwrap_err(),
            NotStored::Status
        );
        // proxy-revalidate forbids serving stale, not freshness (RFC 9111 §5.2.2.8).
        assert_eq!(
            lifetime_of(
                Mode::Shared,
                &[("cache-control", "max-age=30, proxy-revalidate")]
            ),
            Some(30)
        );
    }

    #[test]
    fn dates_parse_strictly() {
        let v = |s: &'static str| parse_date(Some(&HeaderValue::from_static(s)));
        // The three forms of RFC 9110 §5.6.7, all the same instant.
        let t = v("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(v("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(v("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(v("  Sun, 06 Nov 1994 08:49:37 GMT "), Some(t));
        for bad in [
            "Thu, 18  Aug  2050 02:01:18 GMT",
            "Thu, 18-Aug-2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02:01:18 UTC",
            "Thu, 18 Aug 2050 02:01:18 gmt",
            "thu, 18 Aug 2050 02:01:18 GMT",
            "Thu, 18 aug 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02:01:18 +0000",
            "Thu, 18 Aug 50 02:01:18 GMT",
            "Thu,18 Aug 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 2:01:18 GMT",
            "Thu, 32 Aug 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02:01:18 GMT, Thu, 18 Aug 2050 02:01:18 GMT",
            "2050-08-18T02:01:18Z",
            "0",
            "-1",
            "",
        ] {
            assert_eq!(v(bad), None, "{bad}");
        }
        assert_eq!(
            parse_date(Some(&HeaderValue::from_bytes(b"\xff").unwrap())),
            None
        );
    }

    #[test]
    fn an_invalid_expires_is_already_expired() {
        // RFC 9111 §5.3, with the dates of RFC 9110 §5.6.7 and nothing else.
        let d = date(T0);
        let etag = ("etag", "\"x\"");
        for bad in [
            "Thu, 18  Aug  2050 02:01:18 GMT",
            "Thu, 18-Aug-2050 02:01:18 GMT",
            "0",
            "never",
        ] {
            assert_eq!(
                lifetime_of(Mode::Shared, &[("date", &d), ("expires", bad), etag]),
                Some(0),
                "{bad}"
            );
        }
        // Two Expires lines: not a valid singleton, expired.
        let later = date(T0 + 60);
        assert_eq!(
            lifetime_of(
                Mode::Shared,
                &[("date", &d), ("expires", &later), ("expires", &later), etag]
            ),
            Some(0)
        );
        // The obsolete forms are accepted.
        assert_eq!(
            lifetime_of(
                Mode::Shared,
                &[
                    ("date", &d),
                    ("expires", "Thursday, 18-Aug-50 02:01:18 GMT")
                ]
            )
            .map(|s| s > 0),
            Some(true)
        );
        assert_eq!(
            lifetime_of(
                Mode::Shared,
                &[("date", &d), ("expires", "Thu Aug 18 02:01:18 2050")]
            )
            .map(|s| s > 0),
            Some(true)
        );
        // An invalid Date counts as absent: the time of receipt is used instead.
        assert_eq!(
            lifetime_of(
                Mode::Shared,
                &[
                    ("date", "Thu, 18  Aug  2050 02:01:18 GMT"),
                    ("expires", &later)
                ]
            ),
            Some(60)
        );
    }

    #[test]
    fn age_lists_use_the_first_member() {
        let age = |values: &[&'static str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::AGE, HeaderValue::from_static(v));
            }
            parse_age(&h)
        };
        assert_eq!(age(&["7200, 0"]), Some(7200));
        assert_eq!(age(&["7200", "0"]), Some(7200));
        assert_eq!(age(&[" 10 "]), Some(10));
        assert_eq!(age(&["99999999999"]), Some(directives::DELTA_MAX));
        for bad in ["-1", "1.5", "x", "", ", 5", "0x10"] {
            assert_eq!(age(&[bad]), None, "{bad}");
        }
        // A response that arrived two hours old is stale.
        let p = run(
            Mode::Shared,
            &[],
            200,
            &[
                ("cache-control", "max-age=3600"),
                ("age", "7200, 0"),
                ("date", &date(T0)),
            ],
        )
        .unwrap();
        assert_eq!(p.initial_age, Duration::from_secs(7200));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            run(
                Mode::Shared,
                &[],
                200,
                &[("cache-control", "No-Store, max-age=5")]
            )
            .unwrap_err(),
            NotStored::NoStore
        );
        assert_eq!(
            run(
                Mode::Shared,
                &[],
                200,
                &[("cache-control", "private, max-age=5")]
            )
            .unwrap_err(),
            NotStored::Private
        );
        assert!(
            run(
                Mode::Private,
                &[],
                200,
                &[("cache-control", "private, max-age=5")]
            )
            .is_ok()
        );
        assert_eq!(
            run(
                Mode::Shared,
                &[],
                200,
                &[("cache-control", "max-age=5"), ("vary", "a, *")]
            )
            .unwrap_err(),
            NotStored::VaryStar
        );
        assert_eq!(
            run(Mode::Shared, &[], 200, &[]).unwrap_err(),
            NotStored::Useless
        );
        let no_cache = [("cache-control", "max-age=60, no-cache")];
        assert_eq!(
            run(Mode::Shared, &[], 200, &no_cache).unwrap_err(),
            NotStored::Useless
        );
        // must-understand: stored despite no-store when the status is understood.
        let mu = [("cache-control", "max-age=60, no-store, must-understand")];
        assert!(run(Mode::Shared, &[], 200, &mu).is_ok());
        assert_eq!(
            run(Mode::Shared, &[], 299, &mu).unwrap_err(),
            NotStored::Status
        );
        assert_eq!(
            run(Mode::Shared, &[], 206, &[("cache-control", "max-age=5")]).unwrap_err(),
            NotStored::Status
        );
        // Authorization in a shared cache (RFC 9111 §3.5).
        let auth = [("authorization", "Basic x")];
        assert_eq!(
            run(Mode::Shared, &auth, 200, &[("cache-control", "max-age=5")]).unwrap_err(),
            NotStored::Policy
        );
        for ok in [
            "max-age=5, public",
            "max-age=5, must-revalidate",
            "s-maxage=5",
        ] {
            assert!(
                run(Mode::Shared, &auth, 200, &[("cache-control", ok)]).is_ok(),
                "{ok}"
            );
        }
        assert!(run(Mode::Private, &auth, 200, &[("cache-control", "max-age=5")]).is_ok());
    }

    #[test]
    fn cookies_in_a_shared_cache() {
        let cookie = [
            ("cache-control", "max-age=60"),
            ("set-cookie", "id=1"),
            ("etag", "\"x\""),
        ];
        assert_eq!(
            run(Mode::Shared, &[], 200, &cookie).unwrap_err(),
            NotStored::SetCookie
        );
        let cookie2 = [("cache-control", "max-age=60"), ("set-cookie2", "id=1")];
        assert_eq!(
            run(Mode::Shared, &[], 200, &cookie2).unwrap_err(),
            NotStored::SetCookie
        );
        for cc in ["public, max-age=60", "max-age=60, immutable"] {
            let p = run(
                Mode::Shared,
                &[],
                200,
                &[
                    ("cache-control", cc),
                    ("set-cookie", "id=1"),
                    ("set-cookie2", "id=1"),
                    ("x", "kept"),
                ],
            )
            .unwrap();
            assert!(!p.headers.contains_key("set-cookie"), "{cc}");
            assert!(!p.headers.contains_key("set-cookie2"), "{cc}");
            assert_eq!(p.headers["x"], "kept");
            assert_eq!(p.lifetime, Duration::from_secs(60), "{cc}");
        }
        // A private cache is one user's: cookies are stored.
        let p = run(Mode::Private, &[], 200, &cookie).unwrap();
        assert_eq!(p.headers["set-cookie"], "id=1");

        let mut res = headers(&[("set-cookie", "a=stored"), ("set-cookie2", "b=stored")]);
        own_cookies(&mut res, &headers(&[("set-cookie", "c=own")]));
        assert_eq!(
            res.get_all("set-cookie").iter().collect::<Vec<_>>(),
            ["c=own"]
        );
        assert!(!res.contains_key("set-cookie2"));
    }

    #[test]
    fn stored_fields() {
        let p = run(
            Mode::Shared,
            &[("foo", "1")],
            200,
            &[
                ("cache-control", r#"max-age=5, no-cache="a", private="b""#),
                ("connection", "c, close"),
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
                ("transfer-encoding", "chunked"),
                ("age", "3"),
                ("vary", "Foo"),
            ],
        )
        .unwrap();
        for gone in ["a", "b", "c", "connection", "transfer-encoding", "age"] {
            assert!(!p.headers.contains_key(gone), "{gone}");
        }
        assert_eq!(p.headers["d"], "4");
        assert!(p.headers.contains_key("date"));
        assert_eq!(p.selecting["foo"], "1");
        assert_eq!(p.initial_age, Duration::from_secs(3));
        assert_eq!(p.lifetime, Duration::from_secs(5));
    }

    #[test]
    fn initial_age_per_rfc() {
        let config = Config::default();
        let request = HeaderMap::new();
        let ex = Exchange {
            method: &Method::GET,
            request: &request,
            request_time: at(T0 - 2),
            response_time: at(T0),
        };
        let prep = |res: &[(&str, &str)]| {
            prepare(&config, &ex, StatusCode::OK, &headers(res), false).unwrap()
        };
        // Age plus the response delay.
        let p = prep(&[
            ("cache-control", "max-age=60"),
            ("age", "10"),
            ("date", &date(T0)),
        ]);
        assert_eq!(p.initial_age, Duration::from_secs(12));
        // The apparent age when Date is older than that.
        let p = prep(&[("cache-control", "max-age=60"), ("date", &date(T0 - 30))]);
        assert_eq!(p.initial_age, Duration::from_secs(30));
        // A Date in the future gives no apparent age; an invalid Age is ignored.
        let p = prep(&[
            ("cache-control", "max-age=60"),
            ("date", &date(T0 + 30)),
            ("age", "x"),
        ]);
        assert_eq!(p.initial_age, Duration::from_secs(2));
    }

    #[test]
    fn merge_replaces_and_adds() {
        let stored = headers(&[
            ("etag", "\"1\""),
            ("link", "a"),
            ("link", "b"),
            ("content-length", "10"),
            ("x", "old"),
            ("date", &date(T0 - 100)),
        ]);
        let not_modified = headers(&[
            ("x", "new"),
            ("link", "c"),
            ("content-length", "0"),
            ("new-field", "yes"),
            ("connection", "secret"),
            ("secret", "s"),
        ]);
        let merged = merge_304(&stored, &not_modified, at(T0));
        assert_eq!(merged["x"], "new");
        assert_eq!(merged.get_all("link").iter().collect::<Vec<_>>(), ["c"]);
        assert_eq!(merged["content-length"], "10");
        assert_eq!(merged["new-field"], "yes");
        assert!(!merged.contains_key("secret"));
        assert!(!merged.contains_key("connection"));
        assert_eq!(merged["etag"], "\"1\"");
        // A 304 without Date is dated on receipt.
        assert_eq!(merged["date"], date(T0).as_str());
        // ETag and Content-Range are replaced by the 304's (RFC 9111 §3.2).
        let stored = headers(&[("etag", "\"1\""), ("content-range", "bytes 0-1/2")]);
        let not_modified = headers(&[("etag", "W/\"2\""), ("content-range", "bytes */2")]);
        let merged = merge_304(&stored, &not_modified, at(T0));
        assert_eq!(merged["etag"], "W/\"2\"");
        assert_eq!(merged["content-range"], "bytes */2");
    }
}
