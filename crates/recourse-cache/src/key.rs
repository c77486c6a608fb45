//! The primary cache key: the normalised target URI (RFC 9111 §2).

use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::OnceLock;

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
///
/// The key carries its hash (SipHash with a per-process random key, computed once when
/// the key is built), so that the store and the coalescing registry do not hash the URI
/// again; hashing stays resistant to chosen-URI collisions.
#[derive(Clone)]
pub struct CacheKey {
    text: Box<str>,
    hash: u64,
}

impl CacheKey {
    /// The key of a request's target: its absolute URI, or for an origin-form request
    /// (`GET /path` at a proxy) `http://` plus the `Host` header plus the path.
    ///
    /// Returns `None` when the target cannot be determined: an absolute target with an
    /// empty host, or no authority and no valid `Host` (`Host = uri-host [ ":" port ]`,
    /// RFC 9110 §7.2: a `Host` with userinfo or an empty host, such as `@:`, is invalid);
    /// the cache then passes the request through.
    pub fn from_request<B>(req: &Request<B>) -> Option<CacheKey> {
        let uri = req.uri();
        if uri.scheme().is_some() && uri.authority().is_some() {
            return CacheKey::from_uri(uri);
        }
        let host = req.headers().get(header::HOST)?.to_str().ok()?.trim();
        if host.contains('@') {
            return None;
        }
        let authority: Authority = host.parse().ok()?;
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        build("http", &authority, pq)
    }

    /// The key of an absolute URI; `None` when it has no scheme, no authority or an
    /// empty host (such as `http://@:80/`, which names no origin).
    pub fn from_uri(uri: &Uri) -> Option<CacheKey> {
        let scheme = uri.scheme_str()?;
        let authority = uri.authority()?;
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        build(scheme, authority, pq)
    }

    fn new(text: Box<str>) -> CacheKey {
        static SEED: OnceLock<RandomState> = OnceLock::new();
        let hash = SEED.get_or_init(RandomState::new).hash_one(&*text);
        CacheKey { text, hash }
    }

    /// The key as a string (an absolute URI).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key as an absolute [`Uri`].
    pub(crate) fn to_uri(&self) -> Option<Uri> {
        self.text.parse().ok()
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for CacheKey {}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for CacheKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CacheKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

/// A hasher for maps keyed by [`CacheKey`]: the key already holds its hash.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `CacheKey`; mixes anything else reasonably (FNV-1a).
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Builds [`KeyHasher`]s.
pub(crate) type BuildKeyHasher = BuildHasherDefault<KeyHasher>;

/// Builds the key string with one exact allocation (this runs on every lookup); `None`
/// when the authority's host is empty.
fn build(scheme: &str, authority: &Authority, pq: &str) -> Option<CacheKey> {
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
    if host.is_empty() {
        return None;
    }
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
    Some(CacheKey::new(s.into_boxed_str()))
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
        f.debug_tuple("CacheKey").field(&&*self.text).finish()
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for CacheKey {
    fn as_ref(&self) -> &str {
        &self.text
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
    fn keys_hash_once_and_compare_by_text() {
        let a = CacheKey::from_uri(&"http://A.test/x".parse().unwrap()).unwrap();
        let b = CacheKey::from_uri(&"http://a.test:80/x".parse().unwrap()).unwrap();
        let c = CacheKey::from_uri(&"http://a.test/y".parse().unwrap()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a < c);
        let build = BuildKeyHasher::default();
        assert_eq!(build.hash_one(&a), build.hash_one(&b));
        assert_ne!(build.hash_one(&a), build.hash_one(&c));
        let mut map = std::collections::HashMap::with_hasher(BuildKeyHasher::default());
        map.insert(a.clone(), 1);
        assert_eq!(map.get(&b), Some(&1));
        assert_eq!(map.get(&c), None);
        // Other writes still mix.
        let mut h = KeyHasher::default();
        h.write(b"ab");
        let mut g = KeyHasher::default();
        g.write(b"ba");
        assert_ne!(h.finish(), g.finish());
    }

    #[test]
    fn an_empty_host_has_no_key() {
        // The fuzz seed `cache_key_vary/empty-host`: `Host: @:` on an origin-form
        // request once gave the key `http:///p`, which is not a URI.
        let req = Request::get("M").header("host", "@:").body(()).unwrap();
        assert!(CacheKey::from_request(&req).is_none());
        let req = Request::get("/p").header("host", "@:").body(()).unwrap();
        assert!(CacheKey::from_request(&req).is_none());
        for host in ["", ":", " ", ":8080"] {
            let req = Request::get("/p").header("host", host).body(()).unwrap();
            assert!(CacheKey::from_request(&req).is_none(), "{host:?}");
        }
        assert_eq!(key("http://@:80/p"), None);
        let req = Request::get("http://u@:1/p").body(()).unwrap();
        assert!(CacheKey::from_request(&req).is_none());
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
        let userinfo = Request::get("/p")
            .header("host", "u@a.test")
            .body(())
            .unwrap();
        assert!(CacheKey::from_request(&userinfo).is_none());
        let k = CacheKey::from_request(&req).unwrap();
        assert_eq!(k.to_uri().unwrap(), "http://a.test/p?q");
        assert_eq!(format!("{k}"), "http://a.test/p?q");
    }
}
