//! [`Base`]: the request URI kept for resolving `Location`, without reference counting.

use std::fmt;

use http::Uri;

/// Bytes of URI kept inline; longer URIs are cloned. 94 makes the inline variant exactly
/// as large as the `Uri` one, so the buffer costs no space of its own.
const INLINE: usize = 94;

/// The request URI, kept from the call until the response arrives so that a `Location`
/// can be resolved against it (RFC 9110 §10.2.2).
///
/// Cloning an [`http::Uri`] costs an atomic reference-count increment per part (and the
/// matching decrements later), which is most of this layer's cost on a plain response.
/// Most request URIs are short, so their text is copied into an inline buffer instead and
/// parsed again only when a response actually carries a `Location` to resolve.
pub(crate) enum Base {
    /// The request URI is not absolute, or resolution is off.
    None,
    /// The URI's text.
    Inline { len: u8, buf: [u8; INLINE] },
    /// A URI too long for the buffer.
    Shared(Uri),
}

impl Base {
    /// Keeps `uri` if it is absolute (has a scheme and an authority).
    #[inline]
    pub(crate) fn capture(uri: &Uri) -> Base {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Base::None;
        };
        let authority = authority.as_str();
        let rest = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let len = scheme.len() + 3 + authority.len() + rest.len();
        if len > INLINE {
            return Base::Shared(uri.clone());
        }
        let mut buf = [0; INLINE];
        let mut at = 0;
        for part in [
            scheme.as_bytes(),
            b"://",
            authority.as_bytes(),
            rest.as_bytes(),
        ] {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Base::Inline {
            // `len <= INLINE < 256`.
            len: len as u8,
            buf,
        }
    }

    pub(crate) fn is_some(&self) -> bool {
        !matches!(self, Base::None)
    }

    /// The URI again (parsed from the inline text).
    pub(crate) fn to_uri(&self) -> Option<Uri> {
        match self {
            Base::None => None,
            Base::Inline { len, buf } => Uri::try_from(&buf[..usize::from(*len)]).ok(),
            Base::Shared(uri) => Some(uri.clone()),
        }
    }
}

impl fmt::Debug for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_uri() {
            Some(uri) => write!(f, "Base({uri})"),
            None => f.write_str("Base(None)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_costs_no_space() {
        assert!(std::mem::size_of::<Base>() <= std::mem::size_of::<Uri>() + 8);
    }

    #[test]
    fn round_trips() {
        for uri in [
            "http://a.test/",
            "http://a.test",
            "https://user@a.test:8443/p/q?x=1&y=%20",
            "http://[::1]:80/x",
        ] {
            let parsed: Uri = uri.parse().unwrap();
            let base = Base::capture(&parsed);
            assert!(matches!(base, Base::Inline { .. }), "{uri}");
            assert_eq!(base.to_uri().unwrap(), parsed, "{uri}");
        }
        let long: Uri = format!("http://a.test/{}", "p".repeat(200))
            .parse()
            .unwrap();
        let base = Base::capture(&long);
        assert!(matches!(base, Base::Shared(_)));
        assert_eq!(base.to_uri().unwrap(), long);
        let edge: Uri = format!("http://a.test/{}", "p".repeat(INLINE - 14))
            .parse()
            .unwrap();
        assert_eq!(edge.to_string().len(), INLINE);
        assert_eq!(Base::capture(&edge).to_uri().unwrap(), edge);
        assert!(!Base::capture(&"/relative".parse().unwrap()).is_some());
        assert!(!Base::capture(&"a.test:80".parse().unwrap()).is_some());
    }
}
