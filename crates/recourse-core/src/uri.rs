//! Where a request really went, and request URIs kept cheaply.

use std::fmt;

use http::{Response, Uri};

// === FinalUri ===

/// Where a request really went: the URI that answered, after redirects (a response
/// extension).
///
/// The redirect layer inserts it when it followed at least one redirect; its absence means
/// the response answers the request URI itself. Every layer that resolves a URI named by a
/// response (a 201's or 202's `Location`, a 303's result, a status URL) resolves it against
/// this URI (RFC 9110 §10.2.2: relative to the target URI of the request that received the
/// response), and applies the credential and downgrade rules of
/// [`origin`](crate::origin) to the origin the request is at now.
///
/// ```
/// use http::{Response, Uri};
/// use recourse_core::FinalUri;
///
/// let asked: Uri = "https://a.example/v1/submit".parse().unwrap();
/// let mut res = Response::new(());
/// assert_eq!(FinalUri::resolve_base(&res, &asked), &asked);
///
/// FinalUri::new("https://a.example/v2/submit".parse().unwrap(), None).insert_into(&mut res);
/// assert_eq!(FinalUri::resolve_base(&res, &asked), "https://a.example/v2/submit");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalUri {
    uri: Uri,
    fragment: Option<String>,
}

impl FinalUri {
    /// The final URI `uri` (without a fragment: fragments are never sent) and the fragment
    /// a `Location` named, without `#`.
    pub fn new(uri: Uri, fragment: Option<String>) -> Self {
        FinalUri { uri, fragment }
    }

    /// The final URI of a response, if a layer followed at least one redirect to get it.
    pub fn of<B>(res: &Response<B>) -> Option<&FinalUri> {
        res.extensions().get()
    }

    /// The URI a response's own `Location` resolves against: its [`FinalUri`] if it has
    /// one, else `request_uri`, the URI the request was sent to.
    pub fn resolve_base<'a, B>(res: &'a Response<B>, request_uri: &'a Uri) -> &'a Uri {
        FinalUri::of(res).map_or(request_uri, FinalUri::uri)
    }

    /// Puts it into the extensions of `res`.
    pub fn insert_into<B>(self, res: &mut Response<B>) {
        res.extensions_mut().insert(self);
    }

    /// The URI that answered.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The fragment, without `#`, if a `Location` named one.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref()
    }

    /// Takes the URI out.
    pub fn into_uri(self) -> Uri {
        self.uri
    }
}

// === InlineUri ===

/// Bytes of URI kept inline; longer URIs are cloned. 94 makes the inline variant exactly
/// as large as the `Uri` one, so the buffer costs no space of its own.
const INLINE: usize = 94;

/// An absolute request URI kept from the call until its response arrives, without
/// reference counting.
///
/// Cloning an [`http::Uri`] costs an atomic reference-count increment per part (and the
/// matching decrements later): on a response that needs nothing, most of a layer's cost.
/// Most request URIs are short, so their text is copied into an inline buffer instead and
/// parsed again only when a response actually needs it (a `Location` to resolve).
#[derive(Clone)]
pub struct InlineUri(Repr);

#[derive(Clone)]
enum Repr {
    /// The request URI is not absolute, or resolution is off.
    None,
    /// The URI's text.
    Inline { len: u8, buf: [u8; INLINE] },
    /// A URI too long for the buffer.
    Shared(Uri),
}

impl InlineUri {
    /// Keeps nothing (for a layer whose responses need no URI).
    pub const fn none() -> InlineUri {
        InlineUri(Repr::None)
    }

    /// Keeps `uri` if it is absolute (has a scheme and an authority).
    #[inline]
    pub fn capture(uri: &Uri) -> InlineUri {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return InlineUri(Repr::None);
        };
        let authority = authority.as_str();
        let rest = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let len = scheme.len() + 3 + authority.len() + rest.len();
        if len > INLINE {
            return InlineUri(Repr::Shared(uri.clone()));
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
        InlineUri(Repr::Inline {
            // `len <= INLINE < 256`.
            len: len as u8,
            buf,
        })
    }

    /// Whether a URI is kept (it was absolute).
    pub fn is_some(&self) -> bool {
        !matches!(self.0, Repr::None)
    }

    /// The URI again (parsed back from the inline text); `None` when none was kept.
    pub fn to_uri(&self) -> Option<Uri> {
        match &self.0 {
            Repr::None => None,
            Repr::Inline { len, buf } => Uri::try_from(&buf[..usize::from(*len)]).ok(),
            Repr::Shared(uri) => Some(uri.clone()),
        }
    }
}

impl fmt::Debug for InlineUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_uri() {
            Some(uri) => write!(f, "InlineUri({uri})"),
            None => f.write_str("InlineUri(None)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_costs_no_space() {
        assert!(std::mem::size_of::<InlineUri>() <= std::mem::size_of::<Uri>() + 8);
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
            let base = InlineUri::capture(&parsed);
            assert!(matches!(base.0, Repr::Inline { .. }), "{uri}");
            assert_eq!(base.to_uri().unwrap(), parsed, "{uri}");
        }
        let long: Uri = format!("http://a.test/{}", "p".repeat(200))
            .parse()
            .unwrap();
        let base = InlineUri::capture(&long);
        assert!(matches!(base.0, Repr::Shared(_)));
        assert_eq!(base.to_uri().unwrap(), long);
        let edge: Uri = format!("http://a.test/{}", "p".repeat(INLINE - 14))
            .parse()
            .unwrap();
        assert_eq!(edge.to_string().len(), INLINE);
        assert_eq!(InlineUri::capture(&edge).to_uri().unwrap(), edge);
        assert!(!InlineUri::capture(&"/relative".parse().unwrap()).is_some());
        assert!(!InlineUri::capture(&"a.test:80".parse().unwrap()).is_some());
    }
}
