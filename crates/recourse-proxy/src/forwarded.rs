//! Forwarding facts: who the client is, which scheme and which host it asked for, told to
//! the upstream in `X-Forwarded-For` / `X-Forwarded-Proto` / `X-Forwarded-Host` (the de
//! facto fields) or in `Forwarded` (RFC 7239), as `--forwarded-headers` chooses.
//!
//! By default the values a client sent are replaced: anyone can write `X-Forwarded-For`.
//! With `--trust-forwarded` (the proxy stands behind another proxy that sets them) the
//! incoming values are kept and this hop is appended.

use std::net::{IpAddr, SocketAddr};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Which fields carry the forwarding facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeaders {
    /// `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` (the default).
    #[default]
    XForwarded,
    /// `Forwarded: for=...;proto=...;host=...` (RFC 7239 §4).
    Rfc7239,
    /// None: the upstream learns nothing of the client (incoming fields still go by the
    /// trust rule).
    Off,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What the proxy knows of one client connection, computed once per connection.
#[derive(Clone, Debug)]
pub(crate) struct ClientFacts {
    /// The client's address as `X-Forwarded-For` writes it (`192.0.2.1`, `2001:db8::1`).
    ip: HeaderValue,
    /// The same as a `Forwarded` node (RFC 7239 §6: IPv6 in brackets and quotes).
    node: String,
    /// `http` or `https`: how the client reached this proxy.
    proto: &'static str,
}

impl ClientFacts {
    pub(crate) fn new(peer: SocketAddr, tls: bool) -> Self {
        let ip = peer.ip().to_canonical();
        let node = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        Self {
            ip: HeaderValue::from_str(&ip.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            node,
            proto: if tls { "https" } else { "http" },
        }
    }
}

/// Writes the forwarding facts into an upstream request's `headers`, before `Host` is
/// replaced with the upstream's. `host` is the host the client asked for (its `Host`, or
/// the authority of an HTTP/2 request).
pub(crate) fn apply(
    headers: &mut HeaderMap,
    facts: &ClientFacts,
    host: Option<HeaderValue>,
    style: ForwardedHeaders,
    trust: bool,
) {
    if !trust {
        // A client's own claims are not forwarded; one lookup when there are none.
        for name in [
            &X_FORWARDED_FOR,
            &X_FORWARDED_PROTO,
            &X_FORWARDED_HOST,
            &header::FORWARDED,
        ] {
            if headers.contains_key(name) {
                headers.remove(name);
            }
        }
    }
    match style {
        ForwardedHeaders::Off => {}
        ForwardedHeaders::XForwarded => {
            let xff = match headers.get(&X_FORWARDED_FOR) {
                // Behind a trusted proxy: this hop joins the list (one line, as most
                // readers take the first line only).
                Some(before) => {
                    let mut joined = before.as_bytes().to_vec();
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(facts.ip.as_bytes());
                    HeaderValue::from_bytes(&joined).unwrap_or_else(|_| facts.ip.clone())
                }
                None => facts.ip.clone(),
            };
            headers.insert(X_FORWARDED_FOR, xff);
            if !headers.contains_key(&X_FORWARDED_PROTO) {
                headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(facts.proto));
            }
            if let Some(host) = host
                && !headers.contains_key(&X_FORWARDED_HOST)
            {
                headers.insert(X_FORWARDED_HOST, host);
            }
        }
        ForwardedHeaders::Rfc7239 => {
            let mut element = format!("for={};proto={}", facts.node, facts.proto);
            if let Some(host) = host.as_ref().and_then(|h| h.to_str().ok()) {
                // A host with a port is not a token (RFC 7239 §4): quote it.
                if host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
                {
                    element.push_str(";host=");
                    element.push_str(host);
                } else if !host.contains(['"', '\\']) {
                    element.push_str(";host=\"");
                    element.push_str(host);
                    element.push('"');
                }
            }
            if let Ok(value) = HeaderValue::from_str(&element) {
                // Appended as a further field line: the list grows by this hop (§4).
                headers.append(header::FORWARDED, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(addr: &str, tls: bool) -> ClientFacts {
        ClientFacts::new(addr.parse().unwrap(), tls)
    }

    #[test]
    fn replaces_client_claims_by_default() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert(header::FORWARDED, HeaderValue::from_static("for=6.6.6.6"));
        let host = Some(HeaderValue::from_static("shop.example"));
        apply(
            &mut h,
            &facts("192.0.2.1:5000", false),
            host,
            ForwardedHeaders::XForwarded,
            false,
        );
        assert_eq!(h["x-forwarded-for"], "192.0.2.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert!(h.get(header::FORWARDED).is_none());
    }

    #[test]
    fn trusted_values_are_kept_and_extended() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        apply(
            &mut h,
            &facts("10.0.0.2:5000", false),
            None,
            ForwardedHeaders::XForwarded,
            true,
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 10.0.0.2");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn rfc7239_quotes_ipv6_and_ports() {
        let mut h = HeaderMap::new();
        let host = Some(HeaderValue::from_static("shop.example:8443"));
        apply(
            &mut h,
            &facts("[2001:db8::1]:5000", true),
            host,
            ForwardedHeaders::Rfc7239,
            false,
        );
        assert_eq!(
            h[header::FORWARDED],
            "for=\"[2001:db8::1]\";proto=https;host=\"shop.example:8443\""
        );
        assert!(h.get("x-forwarded-for").is_none());
        // An IPv4 client mapped into IPv6 is written as IPv4.
        let mut h = HeaderMap::new();
        apply(
            &mut h,
            &facts("[::ffff:192.0.2.7]:1", false),
            None,
            ForwardedHeaders::Rfc7239,
            false,
        );
        assert_eq!(h[header::FORWARDED], "for=192.0.2.7;proto=http");
    }

    #[test]
    fn off_sends_nothing_and_still_drops_untrusted_claims() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        apply(
            &mut h,
            &facts("192.0.2.1:1", false),
            None,
            ForwardedHeaders::Off,
            false,
        );
        assert!(h.is_empty());
    }
}
