//! The primary cache key: the normalised target URI (RFC 9111 §2).

use std::fmt;

use http::uri::{Authority, Uri};
use http::{Request, header};

/// The primary key of a stored response: its target URI, normalised (RFC 9111 §2, §4).
///
/// The scheme and host are lower-cased, a default port (80 for `http`, 443 for `https`) is
/// dropped and an empty path becomes `/`, so `http://Example.COM:80` and
/// `http://example.com/` name the same entry; the query is kept as sent, so different
/// queries are different keys. Responses that vary (`Vary`) are stored as several variants
/// under one key.
///
/// ```
/// use http::Request;
/// use recourse_cache::CacheKey;
///
/// let req = Request::get("http://Example.COM:80/a?b=1").body(()).unwrap();
/// assert_eq!(CacheKey::from_request(&req).unwrap().as_str(), "http://example.com/a?b=1");
///
/// // A proxy's origin-form request is keyed by its Host header.
/// let req = Request::get("/a").header("host", "example.com:8080").body(()).unwrap();
/// assert_eq!(CacheKey::from_request(&req).unwrap().as_str(), "http://example.com:8080/a");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(Box<str>);

impl CacheKey {
    /// The key of a request's target: its absolute URI, or for an origin-form request
    /// (`GET /path` at a proxy) `http://` plus the `Host` header plus the path.
    ///
    /// Returns `None` when the target cannot be determined (no authority and no valid
    /// `Host`); the cache then passes the request through.
    pub fn from_request<B>(req: &Request<B>) -> Option<CacheKey> {
        let uri = req.uri();
        if uri.scheme().is_some() && uri.authority().is_some() {
            return CacheKey::from_uri(uri);
        }
        let host = req.headers().get(header::HOST)?.to_str().ok()?;
        let authority: Authority = host.trim().parse().ok()?;
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        Some(build("http", &authority, pq))
    }

    /// The key of an absolute URI; `None` when it has no scheme or no authority.
    pub fn from_uri(uri: &Uri) -> Option<CacheKey> {
        let scheme = uri.scheme_str()?;
        let authority = uri.authority()?;
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        Some(build(scheme, authority, pq))
    }

    /// The key as a string (an absolute URI).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an absolute [`Uri`].
    pub(crate) fn to_uri(&self) -> Option<Uri> {
        self.0.parse().ok()
    }
}

/// Builds the key string with one exact allocation (this runs on every lookup).
fn build(scheme: &str, authority: &Authority, pq: &str) -> CacheKey {
    let raw = authority.as_str();
    // One backwards scan: the userinfo ends at the last '@'; the port starts at the last
    // ':' that is not inside an IPv6 literal (no ']' after it).
    let bytes = raw.as_bytes();
    let mut start = 0;
    let mut colon = None;
    let mut bracket = false;
    for (i, b) in bytes.iter().enumerate().rev() {
        match b {
            b'@' => {
                start = i + 1;
                break;
            }
            b']' => bracket = true,
            b':' if !bracket && colon.is_none() => colon = Some(i),
            _ => {}
        }
    }
    let (host, port) = match colon {
        Some(colon) if colon >= start => (&raw[start..colon], &raw[colon + 1..]),
        _ => (&raw[start..], ""),
    };
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        "80"
    } else if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        ""
    };
    let port = if port == default_port { "" } else { port };
    let slash = !pq.starts_with('/');
    let len = scheme.len()
        + 3
        + host.len()
        + if port.is_empty() { 0 } else { 1 + port.len() }
        + usize::from(slash)
        + pq.len();
    let mut s = String::with_capacity(len);
    push_lower(&mut s, scheme);
    s.push_str("://");
    push_lower(&mut s, host);
    if !port.is_empty() {
        s.push(':');
        s.push_str(port);
    }
    if slash {
        s.push('/');
    }
    s.push_str(pq);
    CacheKey(s.into_boxed_str())
}

/// Appends `part` lower-cased: scheme and host are case-insensitive (RFC 3986 §6.2.2.1).
fn push_lower(s: &mut String, part: &str) {
    if part.bytes().any(|b| b.is_ascii_uppercase()) {
        s.extend(part.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        s.push_str(part);
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheKey").field(&&*self.0).finish()
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CacheKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uri: &str) -> Option<String> {
        CacheKey::from_uri(&uri.parse().unwrap()).map(|k| k.as_str().to_owned())
    }

    #[test]
    fn normalises_absolute_uris() {
        assert_eq!(key("http://a.test").as_deref(), Some("http://a.test/"));
        assert_eq!(
            key("HTTP://A.Test:80/X?Y").as_deref(),
            Some("http://a.test/X?Y")
        );
        assert_eq!(
            key("https://a.test:443/").as_deref(),
            Some("https://a.test/")
        );
        assert_eq!(
            key("https://a.test:80/").as_deref(),
            Some("https://a.test:80/")
        );
        assert_eq!(
            key("http://a.test:8080/p").as_deref(),
            Some("http://a.test:8080/p")
        );
        assert_eq!(
            key("http://[::1]:3000/p").as_deref(),
            Some("http://[::1]:3000/p")
        );
        assert_eq!(
            key("http://a.test?q=1").as_deref(),
            Some("http://a.test/?q=1")
        );
        assert_eq!(key("/relative"), None);
    }

    #[test]
    fn queries_are_distinct() {
        assert_ne!(key("http://a.test/p?x=1"), key("http://a.test/p?x=2"));
    }

    #[test]
    fn origin_form_uses_host() {
        let req = Request::get("/p?q")
            .header("host", "A.test")
            .body(())
            .unwrap();
        assert_eq!(
            CacheKey::from_request(&req).unwrap().as_str(),
            "http://a.test/p?q"
        );
        let no_host = Request::get("/p").body(()).unwrap();
        assert!(CacheKey::from_request(&no_host).is_none());
        let bad_host = Request::get("/p").header("host", "a b").body(()).unwrap();
        assert!(CacheKey::from_request(&bad_host).is_none());
        let k = CacheKey::from_request(&req).unwrap();
        assert_eq!(k.to_uri().unwrap(), "http://a.test/p?q");
        assert_eq!(format!("{k}"), "http://a.test/p?q");
    }
}
