//! Hop-by-hop header handling (RFC 9110 §7.6.1) and `Via` (RFC 9110 §7.6.3).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Header fields that are meaningful only for a single connection and are never forwarded
/// (RFC 9110 §7.6.1, plus the widely deployed `Keep-Alive` and `Proxy-Connection`).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop fields: the fixed list, `Upgrade`, and every field that a
/// `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Fields named in Connection go first, while Connection is still there to read.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Appends this proxy to `Via`, keeping the hops before it.
pub(crate) fn append_via(headers: &mut HeaderMap, version: http::Version, pseudonym: &HeaderValue) {
    let protocol = match version {
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    };
    let mut value = Vec::with_capacity(protocol.len() + 1 + pseudonym.len());
    value.extend_from_slice(protocol.as_bytes());
    value.push(b' ');
    value.extend_from_slice(pseudonym.as_bytes());
    if let Ok(value) = HeaderValue::from_bytes(&value) {
        headers.append(header::VIA, value);
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
        strip_hop_by_hop(&mut h);
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
        strip_hop_by_hop(&mut h);
        assert!(h.contains_key(header::ACCEPT));
        assert!(!h.contains_key(header::CONNECTION));
    }

    #[test]
    fn via_appends() {
        let mut h = HeaderMap::new();
        h.insert(header::VIA, HeaderValue::from_static("1.0 fred"));
        append_via(
            &mut h,
            http::Version::HTTP_11,
            &HeaderValue::from_static("recourse"),
        );
        let vias: Vec<_> = h
            .get_all(header::VIA)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(vias, ["1.0 fred", "1.1 recourse"]);
    }
}
