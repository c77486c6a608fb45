//! Hop-by-hop fields: what belongs to one connection and is never stored or forwarded.
//!
//! RFC 9110 §7.6.1: a field named by `Connection`, and `Connection` itself, describe the
//! connection they arrived on, not the message. A proxy removes them before forwarding; a
//! cache removes them before storing (RFC 9111 §3.1) and never takes them from a 304
//! (RFC 9111 §3.2). Both follow this module: one list, one reading of `Connection`.
//!
//! ```
//! use http::HeaderMap;
//! use recourse_core::hop::remove_hop_by_hop;
//!
//! let mut h = HeaderMap::new();
//! h.insert("connection", "close, x-trace".parse().unwrap());
//! h.insert("x-trace", "1".parse().unwrap());
//! h.insert("keep-alive", "timeout=5".parse().unwrap());
//! h.insert("content-type", "text/plain".parse().unwrap());
//! remove_hop_by_hop(&mut h);
//! assert_eq!(h.len(), 1);
//! assert!(h.contains_key("content-type"));
//! ```

use http::header::{self, HeaderMap, HeaderName};

/// The fields that are hop-by-hop whatever `Connection` says: `Connection` (RFC 9110
/// §7.6.1), `Keep-Alive` and `Proxy-Connection` (deployed before RFC 9110, named by RFC 9111
/// §3.1), `TE` (§10.1.4), `Transfer-Encoding` (RFC 9112 §6.1), `Upgrade` (§7.8), and
/// `Trailer` (which announces trailer fields of this connection's framing).
pub const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TRAILER,
];

/// The field names listed in `Connection` (comma-separated, whitespace trimmed, invalid
/// names skipped), in order.
pub fn connection_names(headers: &HeaderMap) -> impl Iterator<Item = HeaderName> + '_ {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
}

/// Whether `name` is hop-by-hop in a message with these `headers`: one of [`HOP_BY_HOP`]
/// or named by its `Connection`.
pub fn is_hop_by_hop(name: &HeaderName, headers: &HeaderMap) -> bool {
    HOP_BY_HOP.contains(name) || connection_names(headers).any(|listed| listed == name)
}

/// Removes every hop-by-hop field: those named by `Connection` (read first, while it is
/// still there), then [`HOP_BY_HOP`]. Allocates only when `Connection` names fields.
///
/// The common message has none: one pass over the fields present (a handful, compared with
/// the list by their standard-name tags) answers that, instead of a hash lookup per listed
/// name.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = connection_names(headers).collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_list_and_every_named_field() {
        let mut h = HeaderMap::new();
        h.append("connection", "keep-alive, X-A".parse().unwrap());
        h.append("connection", " x-b ,,bad name".parse().unwrap());
        for name in ["x-a", "x-b", "te", "upgrade", "trailer", "proxy-connection"] {
            h.insert(name, "1".parse().unwrap());
        }
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        let names: Vec<_> = connection_names(&h).collect();
        assert_eq!(names, ["keep-alive", "x-a", "x-b"]);
        assert!(is_hop_by_hop(&HeaderName::from_static("x-b"), &h));
        assert!(is_hop_by_hop(&header::TE, &HeaderMap::new()));
        assert!(!is_hop_by_hop(&header::CONTENT_TYPE, &h));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.keys().collect::<Vec<_>>(), ["x-kept"]);
    }

    #[test]
    fn a_listed_field_alone_is_removed() {
        let mut h = HeaderMap::new();
        h.insert("te", "trailers".parse().unwrap());
        h.insert("accept", "*/*".parse().unwrap());
        remove_hop_by_hop(&mut h);
        assert_eq!(h.keys().collect::<Vec<_>>(), ["accept"]);
    }

    #[test]
    fn nothing_to_remove_is_a_no_op() {
        let mut h = HeaderMap::new();
        h.insert("content-length", "3".parse().unwrap());
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
    }
}
