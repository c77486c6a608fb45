//! What the cache did with a request: the [`CacheOutcome`] extension and the optional
//! `Cache-Status` field (RFC 9211).

use std::fmt::Write as _;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::entry::Entry;

/// The `Cache-Status` field name (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// What the cache did to produce a response, as a response extension.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use http::{Request, Response};
/// use recourse_cache::{CacheLayer, CacheOutcome};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// let svc = ServiceBuilder::new().layer(CacheLayer::new()).service_fn(|_req: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(
///         Response::builder().header("cache-control", "max-age=60").body(String::from("hi")).unwrap(),
///     )
/// });
/// let first = svc.clone().oneshot(Request::get("http://a.test/").body(()).unwrap()).await.unwrap();
/// assert_eq!(CacheOutcome::of(&first), Some(CacheOutcome::Miss));
/// # drop(http_body_util::BodyExt::collect(first.into_body()).await);
/// let second = svc.oneshot(Request::get("http://a.test/").body(()).unwrap()).await.unwrap();
/// assert_eq!(CacheOutcome::of(&second), Some(CacheOutcome::Hit));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Served from a fresh stored response; no request reached the origin.
    Hit,
    /// Nothing usable was stored: the request went to the origin, and the response may
    /// have been stored. Also an `only-if-cached` request that got a 504.
    Miss,
    /// A stored response was validated with a conditional request and the origin answered
    /// 304 (Not Modified): the stored body was served with updated header fields.
    Revalidated,
    /// A stale stored response was served: within `stale-while-revalidate` (the refresh
    /// runs in the background), `stale-if-error` after an origin failure, or as the
    /// request's `max-stale` allowed.
    Stale,
    /// The cache did not take part: a method other than GET and HEAD, a range or
    /// precondition request, or a target the cache cannot key. Unsafe methods still
    /// invalidate.
    Bypass,
}

impl CacheOutcome {
    /// The outcome recorded on a response, if it went through a cache layer.
    pub fn of<B>(res: &Response<B>) -> Option<CacheOutcome> {
        res.extensions().get::<CacheOutcome>().copied()
    }

    /// The RFC 9211 kind of what the cache did, as the `recourse.cache.status` span
    /// attribute and the `status` label of `recourse.cache.results` name it: `hit`,
    /// `stale`, `revalidated`, `miss` or `bypass`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Stale => "stale",
            CacheOutcome::Revalidated => "revalidated",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Bypass => "bypass",
        }
    }

    /// Whether the response came from the cache's storage (fresh, stale or revalidated).
    pub fn is_from_cache(self) -> bool {
        matches!(
            self,
            CacheOutcome::Hit | CacheOutcome::Revalidated | CacheOutcome::Stale
        )
    }
}

/// Why a request was forwarded (the `fwd` parameter of RFC 9211 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fwd {
    Bypass,
    Method,
    UriMiss,
    VaryMiss,
    Request,
    Stale,
}

impl Fwd {
    fn as_str(self) -> &'static str {
        match self {
            Fwd::Bypass => "bypass",
            Fwd::Method => "method",
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Request => "request",
            Fwd::Stale => "stale",
        }
    }
}

/// The parameters of this cache's `Cache-Status` member.
#[derive(Clone, Debug, Default)]
pub(crate) struct StatusInfo {
    pub(crate) hit: bool,
    pub(crate) fwd: Option<Fwd>,
    pub(crate) fwd_status: Option<StatusCode>,
    pub(crate) ttl: Option<i64>,
    pub(crate) stored: bool,
    pub(crate) collapsed: bool,
    pub(crate) detail: Option<&'static str>,
}

impl StatusInfo {
    /// Appends `name; params` as a new member of the response's `Cache-Status` (RFC 9211
    /// §2: the cache nearest the user is last).
    pub(crate) fn append_to<B>(&self, name: &HeaderValue, res: &mut Response<B>) {
        let mut s = String::with_capacity(48);
        s.push_str(name.to_str().unwrap_or("cache"));
        if self.hit {
            s.push_str("; hit");
        }
        if let Some(fwd) = self.fwd {
            let _ = write!(s, "; fwd={}", fwd.as_str());
        }
        if let Some(status) = self.fwd_status {
            let _ = write!(s, "; fwd-status={}", status.as_u16());
        }
        if let Some(ttl) = self.ttl {
            let _ = write!(s, "; ttl={ttl}");
        }
        if self.stored {
            s.push_str("; stored");
        }
        if self.collapsed {
            s.push_str("; collapsed");
        }
        if let Some(detail) = self.detail {
            let _ = write!(s, "; detail={detail}");
        }
        if let Ok(value) = HeaderValue::from_str(&s) {
            res.headers_mut().append(CACHE_STATUS, value);
        }
    }
}

/// `ttl` of RFC 9211 §2.5: remaining freshness in seconds, negative when stale.
pub(crate) fn ttl(entry: &Entry, age: Duration) -> i64 {
    let lifetime = entry.freshness_lifetime();
    let clamp = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if lifetime >= age {
        clamp(lifetime - age)
    } else {
        -clamp(age - lifetime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_members_and_appends() {
        let mut res = Response::builder()
            .header("cache-status", "origin-cache; hit")
            .body(())
            .unwrap();
        StatusInfo {
            fwd: Some(Fwd::Stale),
            fwd_status: Some(StatusCode::NOT_MODIFIED),
            ttl: Some(-3),
            stored: true,
            ..Default::default()
        }
        .append_to(&HeaderValue::from_static("recourse"), &mut res);
        let all: Vec<_> = res.headers().get_all(CACHE_STATUS).iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], "origin-cache; hit");
        assert_eq!(
            all[1],
            "recourse; fwd=stale; fwd-status=304; ttl=-3; stored"
        );
        let mut res = Response::new(());
        StatusInfo {
            hit: true,
            ttl: Some(10),
            collapsed: true,
            detail: Some("only-if-cached"),
            ..Default::default()
        }
        .append_to(&HeaderValue::from_static("c"), &mut res);
        assert_eq!(
            res.headers()[CACHE_STATUS],
            "c; hit; ttl=10; collapsed; detail=only-if-cached"
        );
    }

    #[test]
    fn outcome_helpers() {
        assert!(CacheOutcome::Hit.is_from_cache());
        assert!(CacheOutcome::Stale.is_from_cache());
        assert!(CacheOutcome::Revalidated.is_from_cache());
        assert!(!CacheOutcome::Miss.is_from_cache());
        assert!(!CacheOutcome::Bypass.is_from_cache());
        assert_eq!(CacheOutcome::Hit.as_str(), "hit");
        assert_eq!(CacheOutcome::Revalidated.as_str(), "revalidated");
        assert_eq!(CacheOutcome::Bypass.as_str(), "bypass");
        let mut res = Response::new(());
        assert_eq!(CacheOutcome::of(&res), None);
        res.extensions_mut().insert(CacheOutcome::Bypass);
        assert_eq!(CacheOutcome::of(&res), Some(CacheOutcome::Bypass));
    }
}
