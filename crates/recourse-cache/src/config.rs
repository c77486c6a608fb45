//! Settings shared by every clone of a cache.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::directives::ResponseDirectives;
use crate::targeted;

/// Whose cache this is, which decides what it may store (RFC 9111 §3, §5.2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A cache dedicated to one user, as in a client (the default): responses marked
    /// `private` are stored and `s-maxage` is ignored.
    #[default]
    Private,
    /// A cache shared by many users, as in a proxy: `private` responses are not stored,
    /// `s-maxage` takes precedence over `max-age` and implies `proxy-revalidate`, and a
    /// response to a request with `Authorization` is stored only when `public`,
    /// `must-revalidate` or `s-maxage` allows it (RFC 9111 §3.5). A response that sets a
    /// cookie is stored only when `public` or `immutable`, and never with its
    /// `Set-Cookie` / `Set-Cookie2` fields: one user's cookie never reaches another
    /// (RFC 9111 §7.3; see the crate docs).
    Shared,
}

impl Mode {
    pub(crate) fn is_shared(self) -> bool {
        self == Mode::Shared
    }
}

/// The defaults of [`CacheLayer`](crate::CacheLayer).
pub(crate) const DEFAULT_COALESCE_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_PASS_TTL: Duration = Duration::from_secs(10);
/// The cap on a heuristic freshness lifetime: one day, as Squid's and browsers' caps are
/// of that order.
pub(crate) const DEFAULT_HEURISTIC_MAX: Duration = Duration::from_secs(24 * 60 * 60);
pub(crate) const DEFAULT_REFRESH_TIMEOUT: Duration = DEFAULT_COALESCE_TIMEOUT;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) mode: Mode,
    pub(crate) heuristic_fraction: f32,
    /// The cap on a heuristic freshness lifetime (RFC 9111 §4.2.2).
    pub(crate) heuristic_max: Duration,
    pub(crate) immutable_min_ttl: Duration,
    /// The `Cache-Status` member this cache appends, when enabled.
    pub(crate) cache_status: Option<HeaderValue>,
    pub(crate) coalesce: bool,
    pub(crate) coalesce_timeout: Duration,
    /// How long a background refresh may take, response body included.
    pub(crate) refresh_timeout: Duration,
    /// How long a key whose response was not storable skips coalescing.
    pub(crate) pass_ttl: Duration,
    /// A stale-if-error window granted when neither response nor request gives one.
    pub(crate) stale_if_error: Duration,
    /// A window for serving stale when the origin cannot be reached (a transport error).
    pub(crate) stale_if_unreachable: Duration,
    /// Whether to serve stale and refresh in the background per `stale-while-revalidate`.
    pub(crate) stale_while_revalidate: bool,
    /// The targeted cache-control fields this cache obeys, first match first (RFC 9213),
    /// in shared mode only.
    pub(crate) targeted: Vec<HeaderName>,
}

impl Config {
    /// The response directives for this cache: those of the first valid targeted field
    /// (RFC 9213 §2.2) in shared mode, else `Cache-Control`'s.
    pub(crate) fn response_directives(&self, headers: &HeaderMap) -> ResponseDirectives {
        if self.mode.is_shared()
            && let Some(d) = targeted::directives(headers, &self.targeted)
        {
            return d;
        }
        ResponseDirectives::parse(headers)
    }

    /// Whether `headers` carry a targeted field this cache obeys.
    pub(crate) fn has_targeted(&self, headers: &HeaderMap) -> bool {
        self.mode.is_shared() && targeted::present(headers, &self.targeted)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Private,
            heuristic_fraction: 0.1,
            heuristic_max: DEFAULT_HEURISTIC_MAX,
            immutable_min_ttl: Duration::from_secs(24 * 60 * 60),
            cache_status: None,
            coalesce: true,
            coalesce_timeout: DEFAULT_COALESCE_TIMEOUT,
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
            pass_ttl: DEFAULT_PASS_TTL,
            stale_if_error: Duration::ZERO,
            stale_if_unreachable: Duration::ZERO,
            stale_while_revalidate: true,
            targeted: vec![targeted::CDN_CACHE_CONTROL],
        }
    }
}

/// Turns a cache name into an RFC 8941 token, or a quoted string when it is not one.
pub(crate) fn cache_status_name(name: &str) -> HeaderValue {
    let is_token = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b));
    if is_token && let Ok(v) = HeaderValue::from_str(name) {
        return v;
    }
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            ' '..='~' => quoted.push(c),
            _ => quoted.push('?'),
        }
    }
    quoted.push('"');
    HeaderValue::from_str(&quoted).unwrap_or_else(|_| HeaderValue::from_static("\"cache\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_names() {
        assert_eq!(cache_status_name("recourse"), "recourse");
        assert_eq!(
            cache_status_name("edge-1.example:443"),
            "edge-1.example:443"
        );
        assert_eq!(cache_status_name("my cache"), "\"my cache\"");
        assert_eq!(cache_status_name("a\"b"), "\"a\\\"b\"");
        assert_eq!(cache_status_name("1abc"), "\"1abc\"");
        assert_eq!(cache_status_name("caf\u{e9}"), "\"caf?\"");
        assert_eq!(cache_status_name(""), "\"\"");
    }
}
