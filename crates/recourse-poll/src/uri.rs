//! [`RequestUri`]: the original request's URI, kept for the rare response that starts a
//! job, as cheaply as possible.
//!
//! Cloning an [`http::Uri`] bumps (and later drops) the reference counts of its shared
//! byte buffers: four atomic operations per request, most of the pass-through cost of this
//! layer. A URI of up to [`INLINE`] bytes is instead copied into the response future and
//! parsed back only when a job starts; a longer one is cloned.

use http::Uri;

/// The longest URI text kept inline (the inline form is no larger than a `Uri`).
const INLINE: usize = 86;

/// The original request's URI.
pub(crate) enum RequestUri {
    /// `scheme://authority/path?query`, parsed back on demand.
    Inline {
        len: u8,
        text: [u8; INLINE],
    },
    Shared(Uri),
}

impl RequestUri {
    #[inline]
    pub(crate) fn capture(uri: &Uri) -> Self {
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            let authority = authority.as_str();
            let path = uri.path_and_query().map_or("", |pq| pq.as_str());
            let len = scheme.len() + 3 + authority.len() + path.len();
            if len <= INLINE {
                let mut text = [0; INLINE];
                let mut at = 0;
                for part in [scheme, "://", authority, path] {
                    text[at..at + part.len()].copy_from_slice(part.as_bytes());
                    at += part.len();
                }
                // `len <= INLINE < 256`.
                let len = len as u8;
                return RequestUri::Inline { len, text };
            }
        }
        RequestUri::Shared(uri.clone())
    }

    /// The URI. An inline one is parsed back (its text came from a valid `Uri`, so that
    /// cannot fail; if it ever did, the result is the root of nothing: an empty relative
    /// URI, against which nothing resolves, and polling reports a typed error).
    pub(crate) fn to_uri(&self) -> Uri {
        match self {
            RequestUri::Shared(uri) => uri.clone(),
            RequestUri::Inline { len, text } => {
                Uri::try_from(&text[..usize::from(*len)]).unwrap_or_default()
            }
        }
    }
}

impl std::fmt::Debug for RequestUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.to_uri(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let long = format!("https://api.test/{}", "x".repeat(200));
        for text in [
            "http://api.test/a/b?c=d&e",
            "https://user@api.test:8443/",
            "http://[::1]:8080/x",
            "http://api.test",
            "/relative?q",
            "*",
            long.as_str(),
        ] {
            let uri: Uri = text.parse().unwrap();
            let captured = RequestUri::capture(&uri);
            assert_eq!(captured.to_uri(), uri, "{text}");
        }
        let short: Uri = "http://api.test/a".parse().unwrap();
        assert!(matches!(
            RequestUri::capture(&short),
            RequestUri::Inline { .. }
        ));
        let long: Uri = long.parse().unwrap();
        assert!(matches!(RequestUri::capture(&long), RequestUri::Shared(_)));
        let relative: Uri = "/a".parse().unwrap();
        assert!(matches!(
            RequestUri::capture(&relative),
            RequestUri::Shared(_)
        ));
    }
}
