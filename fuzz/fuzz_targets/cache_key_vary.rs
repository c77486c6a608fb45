//! The cache key and `Vary` logic of recourse-cache, through its public API: `CacheKey`
//! from fuzzed URIs and `Host` headers, and a `Cache` (private or shared) over a backend
//! whose response carries a fuzzed `Vary` and `Cache-Control`, asked twice with fuzzed
//! request headers.
//!
//! Checks: no panic; keys are absolute, lower-case in scheme and host, and stable; a
//! second request is served from the cache only when it selects the same variant (every
//! field `Vary` names has the same list members in both requests, RFC 9111 §4.1), never
//! for `Vary: *`, never from a response marked `no-store`, and in shared mode never from
//! one marked `private` (§5.2.2.7) or answered to a request with `Authorization` unless
//! the response allows it (§3.5).

#![no_main]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use recourse_cache::{CacheKey, CacheLayer, CacheOutcome, MemoryStore, Mode};
use tower::{Layer, ServiceExt};

/// Request fields the input can set (index by a byte).
const FIELDS: [&str; 6] = [
    "accept-language",
    "accept-encoding",
    "cookie",
    "authorization",
    "x-tenant",
    "accept",
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Splits the input into fields at 0xFF bytes.
fn fields(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == 0xFF).collect()
}

/// Request headers from pairs of (selector byte + value bytes) fields.
fn headers(spec: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for field in spec {
        let Some((selector, value)) = field.split_first() else {
            continue;
        };
        let name = HeaderName::from_bytes(FIELDS[usize::from(*selector) % FIELDS.len()].as_bytes())
            .expect("a valid name");
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(name, value);
        }
    }
    map
}

/// A field's list members as the cache must compare them: every line, split at commas,
/// trimmed of spaces and tabs, empty members dropped.
fn members(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<Vec<u8>>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    Some(
        values
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(|m| m.trim_ascii().to_vec())
            .filter(|m| !m.is_empty())
            .collect(),
    )
}

/// The directive names of a Cache-Control value without quoted strings, lower-cased;
/// `None` when it has quotes (a quoted argument could hide a comma).
fn directives(value: &[u8]) -> Option<Vec<String>> {
    if value.contains(&b'"') {
        return None;
    }
    Some(
        value
            .split(|b| *b == b',')
            .map(|d| {
                let name = d.split(|b| *b == b'=').next().unwrap_or(&[]);
                String::from_utf8_lossy(name.trim_ascii()).to_ascii_lowercase()
            })
            .collect(),
    )
}

fn check_key(uri: &[u8], host: &[u8]) {
    let Ok(uri) = Uri::try_from(uri) else {
        return;
    };
    let mut req = Request::builder().uri(uri.clone());
    if let Ok(host) = HeaderValue::from_bytes(host) {
        req = req.header("host", host);
    }
    let Ok(req) = req.body(()) else {
        return;
    };
    let Some(key) = CacheKey::from_request(&req) else {
        return;
    };
    let text = key.as_str();
    let parsed: Uri = text
        .parse()
        .unwrap_or_else(|e| panic!("key {text:?} is not a URI: {e}"));
    let scheme = parsed.scheme_str().expect("a key is absolute");
    let host = parsed.host().expect("a key has a host");
    assert_eq!(scheme, scheme.to_ascii_lowercase(), "{text}");
    assert_eq!(host, host.to_ascii_lowercase(), "{text}");
    // Stable: the key of the key is itself.
    let again = CacheKey::from_uri(&parsed).expect("a key keys");
    assert_eq!(again.as_str(), text);
    if uri.scheme().is_some() && uri.authority().is_some() {
        assert_eq!(CacheKey::from_uri(&uri).as_ref(), Some(&key));
    }
}

fuzz_target!(|data: &[u8]| {
    let parts = fields(data);
    // [mode, uri, host, vary, cache-control, first request headers..., 0xFE, second...]
    let [mode, uri, host, vary, cache_control, rest @ ..] = parts.as_slice() else {
        return;
    };
    check_key(uri, host);

    let shared = mode.first().is_some_and(|m| m & 1 == 1);
    let split = rest
        .iter()
        .position(|f| f.first() == Some(&0xFE))
        .unwrap_or(rest.len());
    let first = headers(&rest[..split]);
    let second = headers(rest.get(split + 1..).unwrap_or(&[]));
    let Ok(vary) = HeaderValue::from_bytes(vary) else {
        return;
    };
    let Ok(cache_control) = HeaderValue::from_bytes(cache_control) else {
        return;
    };

    let calls = Arc::new(AtomicUsize::new(0));
    let backend = {
        let calls = calls.clone();
        let vary = vary.clone();
        let cache_control = cache_control.clone();
        tower::service_fn(move |_req: Request<Full<Bytes>>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let res = Response::builder()
                .header("vary", vary.clone())
                .header("cache-control", cache_control.clone())
                .header("etag", "\"v1\"")
                .body(Full::new(Bytes::from_static(b"variant")))
                .expect("a valid response");
            async move { Ok::<_, Infallible>(res) }
        })
    };
    let layer = CacheLayer::new()
        .mode(if shared { Mode::Shared } else { Mode::Private })
        .store(MemoryStore::new(1024 * 1024));
    let cache = layer.layer(backend);

    let send = |headers: &HeaderMap| {
        let mut req = Request::get("http://api.test/resource")
            .body(Full::default())
            .expect("a valid request");
        *req.headers_mut() = headers.clone();
        let cache = cache.clone();
        async move {
            let res = cache.oneshot(req).await.expect("infallible");
            let outcome = CacheOutcome::of(&res);
            let body = res
                .into_body()
                .collect()
                .await
                .expect("infallible")
                .to_bytes();
            (outcome, body)
        }
    };
    let (_, body) = runtime().block_on(send(&first));
    assert_eq!(body, "variant");
    let (outcome, body) = runtime().block_on(send(&second));
    assert_eq!(body, "variant");
    let served_stored = calls.load(Ordering::SeqCst) == 1;
    if outcome == Some(CacheOutcome::Hit) {
        assert!(served_stored, "a hit, yet the origin was asked");
    }
    if !served_stored {
        return;
    }

    // The second response came from storage: it must have been allowed to.
    let vary_members: Vec<Vec<u8>> = vary
        .as_bytes()
        .split(|b| *b == b',')
        .map(|m| m.trim_ascii().to_vec())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(
        !vary_members.iter().any(|m| m == b"*"),
        "Vary: * was served from the cache"
    );
    for member in &vary_members {
        let name = HeaderName::from_bytes(member)
            .unwrap_or_else(|_| panic!("Vary names {member:?}, not a field, yet it was served"));
        assert_eq!(
            members(&first, &name),
            members(&second, &name),
            "served a variant selected by another {name}"
        );
    }
    if let Some(directives) = directives(cache_control.as_bytes()) {
        assert!(
            !directives.iter().any(|d| d == "no-store"),
            "a no-store response was stored"
        );
        if shared {
            assert!(
                !directives.iter().any(|d| d == "private"),
                "a shared cache served a private response"
            );
            if first.contains_key("authorization") {
                assert!(
                    directives
                        .iter()
                        .any(|d| d == "public" || d == "s-maxage" || d == "must-revalidate"),
                    "a shared cache served a response to an authorized request: {cache_control:?}"
                );
            }
        }
    }
});
