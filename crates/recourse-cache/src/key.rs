//! The primary cache key: the normalised target URI (RFC 9111 §2).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::OnceLock;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
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
///
/// Building a key copies nothing when the URI is already in normal form (lower-case
/// scheme and host, no default port, a path): the key shares the request URI's parts
/// (reference-counted), hashes them in place, and writes its text only when
/// [`as_str`](Self::as_str) first asks for it. Hash, equality and order never depend on
/// whether the text was written, so a key is a sound map key (clippy's
/// `mutable_key_type` lint sees the lazily written text and can be allowed).
pub struct CacheKey {
    scheme: Scheme,
    /// Host and non-default port, lower-case, without userinfo.
    authority: Authority,
    /// Starts with `/`.
    path: PathAndQuery,
    hash: u64,
    /// The text, written on first use of [`CacheKey::as_str`].
    text: OnceLock<Box<str>>,
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
        build(&Scheme::HTTP, &authority, uri.path_and_query())
    }

    /// The key of an absolute URI; `None` when it has no scheme, no authority or an
    /// empty host (such as `http://@:80/`, which names no origin).
    pub fn from_uri(uri: &Uri) -> Option<CacheKey> {
        build(uri.scheme()?, uri.authority()?, uri.path_and_query())
    }

    /// The key as a string (an absolute URI).
    ///
    /// Written on the first call (one allocation per key), then kept.
    pub fn as_str(&self) -> &str {
        self.text.get_or_init(|| {
            let mut s = String::with_capacity(self.len());
            for part in self.parts() {
                s.push_str(part);
            }
            s.into_boxed_str()
        })
    }

    /// The four pieces whose concatenation is the key's text.
    fn parts(&self) -> [&str; 4] {
        [
            self.scheme.as_str(),
            "://",
            self.authority.as_str(),
            self.path.as_str(),
        ]
    }

    /// The length of the key's text, without writing it.
    pub(crate) fn len(&self) -> usize {
        self.parts().iter().map(|p| p.len()).sum()
    }

    /// The key as an absolute [`Uri`] (it shares the key's parts).
    pub(crate) fn to_uri(&self) -> Option<Uri> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(self.path.clone())
            .build()
            .ok()
    }
}

impl Clone for CacheKey {
    /// Shares the parts (reference-counted); the text, if written, is not copied.
    fn clone(&self) -> Self {
        CacheKey {
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            path: self.path.clone(),
            hash: self.hash,
            text: OnceLock::new(),
        }
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        // Every part is normalised, so the texts are equal exactly when the parts are.
        // The path first: it is where keys of one origin differ.
        self.hash == other.hash
            && self.path.as_str().as_bytes() == other.path.as_str().as_bytes()
            && self.authority.as_str().as_bytes() == other.authority.as_str().as_bytes()
            && self.scheme == other.scheme
    }
}

impl Eq for CacheKey {}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for CacheKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CacheKey {
    /// The order of the texts.
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.parts(), other.parts());
        a.iter()
            .flat_map(|p| p.bytes())
            .cmp(b.iter().flat_map(|p| p.bytes()))
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

/// The key of `scheme://authority path`, normalised; `None` when the authority's host is
/// empty. A part already in normal form is shared, not copied (this runs on every lookup).
fn build(scheme: &Scheme, authority: &Authority, path: Option<&PathAndQuery>) -> Option<CacheKey> {
    let raw = authority.as_str();
    let bytes = raw.as_bytes();
    // The common case, a lower-case host name without userinfo or port, in one pass
    // over a table.
    let marks = bytes
        .iter()
        .fold(0u8, |marks, b| marks | AUTHORITY_MARKS[usize::from(*b)]);
    if marks == 0 && !bytes.is_empty() {
        return finish(normal_scheme(scheme)?, authority.clone(), path);
    }
    // One backwards scan: the userinfo ends at the last '@'; the port starts at the last
    // ':' that is not inside an IPv6 literal (no ']' after it).
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
        Some(colon) if colon >= start => (&raw[start..colon], Some(&raw[colon + 1..])),
        _ => (&raw[start..], None),
    };
    if host.is_empty() {
        return None;
    }
    // Scheme and host are case-insensitive (RFC 3986 §6.2.2.1); a default or empty port
    // is the same as none (§6.2.3).
    let scheme = normal_scheme(scheme)?;
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => "",
    };
    let port = port.filter(|p| !p.is_empty() && *p != default_port);
    let normal = start == 0
        && port.is_some() == colon.is_some()
        && !host.bytes().any(|b| b.is_ascii_uppercase());
    let authority = if normal {
        authority.clone()
    } else {
        let mut s = host.to_ascii_lowercase();
        if let Some(port) = port {
            s.push(':');
            s.push_str(port);
        }
        Authority::from_maybe_shared(Bytes::from(s)).ok()?
    };
    finish(scheme, authority, path)
}

/// Bits of [`AUTHORITY_MARKS`]: the bytes that make an authority need a closer look.
const MARK_UPPER: u8 = 1;
const MARK_COLON: u8 = 2;
const MARK_AT: u8 = 4;
const MARK_BRACKET: u8 = 8;

/// For each byte, the `MARK_*` bit it sets (zero for every other byte).
static AUTHORITY_MARKS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = b'A';
    while b <= b'Z' {
        table[b as usize] = MARK_UPPER;
        b += 1;
    }
    table[b':' as usize] = MARK_COLON;
    table[b'@' as usize] = MARK_AT;
    table[b'[' as usize] = MARK_BRACKET;
    table[b']' as usize] = MARK_BRACKET;
    table
};

/// The scheme, lower-cased (a copy only when it is not).
fn normal_scheme(scheme: &Scheme) -> Option<Scheme> {
    if scheme.as_str().bytes().any(|b| b.is_ascii_uppercase()) {
        Scheme::try_from(scheme.as_str().to_ascii_lowercase().as_str()).ok()
    } else {
        Some(scheme.clone())
    }
}

/// The key of a normalised scheme and authority and a path (made absolute: `/` when
/// empty, a `/` in front otherwise).
fn finish(scheme: Scheme, authority: Authority, path: Option<&PathAndQuery>) -> Option<CacheKey> {
    let path = match path {
        Some(path) if path.as_str().starts_with('/') => path.clone(),
        Some(path) => {
            let mut s = String::with_capacity(path.as_str().len() + 1);
            s.push('/');
            s.push_str(path.as_str());
            PathAndQuery::from_maybe_shared(Bytes::from(s)).ok()?
        }
        None => PathAndQuery::from_static("/"),
    };
    let hash = hash_parts(&authority, &path);
    Some(CacheKey {
        scheme,
        authority,
        path,
        hash,
        text: OnceLock::new(),
    })
}

/// SipHash of the authority and the path (the path starts with `/`, which an authority
/// never contains, so the two are one unambiguous text). The scheme is left out: `http`
/// and `https` keys of one URI share a hash and differ by equality.
fn hash_parts(authority: &Authority, path: &PathAndQuery) -> u64 {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    let mut hasher = SEED.get_or_init(RandomState::new).build_hasher();
    hasher.write(authority.as_str().as_bytes());
    hasher.write(path.as_str().as_bytes());
    hasher.finish()
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheKey").field(&Text(self)).finish()
    }
}

/// The text of a key as a quoted string, written without allocating.
struct Text<'a>(&'a CacheKey);

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for part in self.0.parts() {
            write!(f, "{}", part.escape_debug())?;
        }
        f.write_str("\"")
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parts().iter().try_for_each(|part| f.write_str(part))
    }
}

impl AsRef<str> for CacheKey {
    fn as_ref(&self) -> &str {
        self.as_str()
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
    // The key's text is written lazily, but its hash and equality never read it.
    #[allow(clippy::mutable_key_type)]
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
    fn text_order_and_formatting_follow_the_normal_form() {
        let uris = [
            "http://a.test/x",
            "HTTP://A.TEST:80/x",
            "http://u:p@a.test/x",
            "http://a.test:/x",
            "https://a.test:443/",
            "https://a.test:80",
            "http://a.test?q=1",
            "http://[::1]:80/v6",
            "http://[::1]/v6",
            "http://a.test:8080/y",
            "http://b.test/",
            "ws://A.test:80/s",
        ];
        let keys: Vec<CacheKey> = uris
            .iter()
            .map(|u| CacheKey::from_uri(&u.parse().unwrap()).unwrap())
            .collect();
        let texts: Vec<&str> = keys.iter().map(CacheKey::as_str).collect();
        assert_eq!(
            texts,
            [
                "http://a.test/x",
                "http://a.test/x",
                "http://a.test/x",
                "http://a.test/x",
                "https://a.test/",
                "https://a.test:80/",
                "http://a.test/?q=1",
                "http://[::1]/v6",
                "http://[::1]/v6",
                "http://a.test:8080/y",
                "http://b.test/",
                "ws://a.test:80/s",
            ]
        );
        for (a, ta) in keys.iter().zip(&texts) {
            assert_eq!(a.len(), ta.len());
            assert_eq!(a.to_string(), *ta);
            assert_eq!(format!("{a:?}"), format!("CacheKey({ta:?})"));
            assert_eq!(a.as_ref(), *ta);
            let copy = a.clone();
            assert_eq!(&copy, a);
            assert_eq!(copy.as_str(), *ta);
            for (b, tb) in keys.iter().zip(&texts) {
                assert_eq!(a == b, ta == tb, "{ta} {tb}");
                assert_eq!(a.cmp(b), ta.cmp(tb), "{ta} {tb}");
                if ta == tb {
                    let build = BuildKeyHasher::default();
                    assert_eq!(build.hash_one(a), build.hash_one(b));
                }
            }
        }
        // An origin-form request and its absolute form name one entry.
        let origin = Request::get("/x")
            .header("host", "A.test:80")
            .body(())
            .unwrap();
        assert_eq!(CacheKey::from_request(&origin).unwrap(), keys[0]);
    }

    #[test]
    fn a_normal_uri_is_shared_not_copied() {
        let uri: Uri = "http://a.test/items/1?q=2".parse().unwrap();
        let key = CacheKey::from_uri(&uri).unwrap();
        // The key's parts are the URI's own bytes.
        assert_eq!(
            key.authority.as_str().as_ptr(),
            uri.authority().unwrap().as_str().as_ptr()
        );
        assert_eq!(
            key.path.as_str().as_ptr(),
            uri.path_and_query().unwrap().as_str().as_ptr()
        );
        // The text is written once, when asked for.
        assert!(key.text.get().is_none());
        let text = key.as_str().as_ptr();
        assert_eq!(key.as_str().as_ptr(), text);
        assert_eq!(key.to_uri().unwrap(), uri);
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
