//! What the proxy removes before forwarding, and `Via` (RFC 9110 §7.6.3).
//!
//! Hop-by-hop fields follow [`recourse_core::hop`], the one list the cache follows too.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use recourse_core::hop::remove_hop_by_hop;

/// The fields addressed to this proxy itself, consumed by this proxy and never forwarded:
/// `Proxy-Authorization` (a client's credentials for the proxy, RFC 9110 §11.7.2) and
/// `Proxy-Authenticate` (a challenge for the proxy, as the upstream's client, §11.7.1).
/// They are not hop-by-hop fields: a proxy that relays authentication may pass them on;
/// this one does not.
const CONSUMED_BY_PROXY: [HeaderName; 2] =
    [header::PROXY_AUTHORIZATION, header::PROXY_AUTHENTICATE];

/// Removes what is not forwarded: hop-by-hop fields ([`remove_hop_by_hop`]: the list and
/// every field `Connection` names) and the fields [consumed by this proxy](CONSUMED_BY_PROXY).
pub(crate) fn strip_for_forwarding(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
    for name in &CONSUMED_BY_PROXY {
        headers.remove(name);
    }
}

/// This proxy's `Via` entries (RFC 9110 §7.6.3), one per protocol version, made once:
/// appending one clones a shared value, no allocation per request.
#[derive(Clone, Debug)]
pub(crate) struct Via {
    http10: HeaderValue,
    http11: HeaderValue,
    http2: HeaderValue,
    http3: HeaderValue,
}

impl Via {
    /// The entries for `pseudonym` (a token).
    pub(crate) fn new(pseudonym: &str) -> Self {
        let entry = |protocol: &str| {
            HeaderValue::from_str(&format!("{protocol} {pseudonym}"))
                .unwrap_or_else(|_| HeaderValue::from_static("1.1 recourse"))
        };
        Self {
            http10: entry("1.0"),
            http11: entry("1.1"),
            http2: entry("2"),
            http3: entry("3"),
        }
    }

    /// Appends this proxy to `Via` for a message received in `version`, keeping the hops
    /// before it.
    pub(crate) fn append(&self, headers: &mut HeaderMap, version: http::Version) {
        let value = match version {
            http::Version::HTTP_10 => &self.http10,
            http::Version::HTTP_2 => &self.http2,
            http::Version::HTTP_3 => &self.http3,
            _ => &self.http11,
        };
        headers.append(header::VIA, value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_listed_and_named_fields() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret , close"),
        );
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Basic x"),
        );
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        strip_for_forwarding(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(h.contains_key(header::CONTENT_TYPE));
        assert!(h.contains_key(header::AUTHORIZATION));
    }

    #[test]
    fn garbage_in_connection_is_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_bytes(b"\xff, ,,x y").unwrap(),
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_for_forwarding(&mut h);
        assert!(h.contains_key(header::ACCEPT));
        assert!(!h.contains_key(header::CONNECTION));
    }

    #[test]
    fn via_appends() {
        let mut h = HeaderMap::new();
        h.insert(header::VIA, HeaderValue::from_static("1.0 fred"));
        Via::new("recourse").append(&mut h, http::Version::HTTP_11);
        let vias: Vec<_> = h
            .get_all(header::VIA)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(vias, ["1.0 fred", "1.1 recourse"]);
    }
}
