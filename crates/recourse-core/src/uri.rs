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

/// Bytes of URI kept inline (authority, path and query; the scheme is a tag); longer URIs
/// are cloned. 94 makes the inline variants exactly as large as the `Uri` one, so the
/// buffer costs no space of its own.
const INLINE: usize = 94;

/// An absolute request URI kept from the call until its response arrives, without
/// reference counting.
///
/// Cloning an [`http::Uri`] costs an atomic reference-count increment per part (and the
/// matching decrements later): on a response that needs nothing, most of a layer's cost.
/// Most request URIs are short `http` or `https` ones, so their text is copied into an
/// inline buffer instead and parsed again only when a response actually needs it (a
/// `Location` to resolve). The scheme is kept as a tag (`http` or `https`; a URI of another
/// scheme is cloned), so capturing one copies two slices: the authority and the path.
#[derive(Clone)]
pub struct InlineUri(Repr);

#[derive(Clone)]
enum Repr {
    /// The request URI is not absolute, or resolution is off.
    None,
    /// An `http` URI: its authority, path and query (`text[..len]`).
    Http { len: u8, text: [u8; INLINE] },
    /// An `https` URI: its authority, path and query (`text[..len]`).
    Https { len: u8, text: [u8; INLINE] },
    /// A URI too long for the buffer, or of another scheme.
    Shared(Uri),
}

impl InlineUri {
    /// Keeps nothing (for a layer whose responses need no URI).
    pub const fn none() -> InlineUri {
        InlineUri(Repr::None)
    }

    /// Keeps `uri` if it is absolute (has a scheme and an authority).
    #[inline(always)]
    pub fn capture(uri: &Uri) -> InlineUri {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return InlineUri(Repr::None);
        };
        // (`==` on strings compares whole words; a `match` would compare byte by byte.)
        let https = if scheme == "https" {
            true
        } else if scheme == "http" {
            false
        } else {
            return InlineUri::shared(uri);
        };
        let authority = authority.as_str().as_bytes();
        let rest = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .as_bytes();
        let len = authority.len() + rest.len();
        if len > INLINE {
            return InlineUri::shared(uri);
        }
        let mut text = [0; INLINE];
        text[..authority.len()].copy_from_slice(authority);
        text[authority.len()..len].copy_from_slice(rest);
        // `len <= INLINE < 256`.
        let len = len as u8;
        InlineUri(if https {
            Repr::Https { len, text }
        } else {
            Repr::Http { len, text }
        })
    }

    /// The rare case, out of line so that [`capture`](InlineUri::capture) stays small.
    #[cold]
    #[inline(never)]
    fn shared(uri: &Uri) -> InlineUri {
        InlineUri(Repr::Shared(uri.clone()))
    }

    /// Whether a URI is kept (it was absolute).
    pub fn is_some(&self) -> bool {
        !matches!(self.0, Repr::None)
    }

    /// The URI again (parsed back from the inline text); `None` when none was kept.
    pub fn to_uri(&self) -> Option<Uri> {
        let (scheme, len, text): (&[u8], _, _) = match &self.0 {
            Repr::None => return None,
            Repr::Http { len, text } => (b"http://", len, text),
            Repr::Https { len, text } => (b"https://", len, text),
            Repr::Shared(uri) => return Some(uri.clone()),
        };
        let mut full = [0; 8 + INLINE];
        let end = scheme.len() + usize::from(*len);
        full[..scheme.len()].copy_from_slice(scheme);
        full[scheme.len()..end].copy_from_slice(&text[..usize::from(*len)]);
        Uri::try_from(&full[..end]).ok()
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
            "https://a.test?x=1",
            "HTTPS://A.test/Path",
            "http://[::1]:80/x",
        ] {
            let parsed: Uri = uri.parse().unwrap();
            let base = InlineUri::capture(&parsed);
            assert!(
                matches!(base.0, Repr::Http { .. } | Repr::Https { .. }),
                "{uri}"
            );
            assert_eq!(base.to_uri().unwrap(), parsed, "{uri}");
            assert_eq!(base.to_uri().unwrap().to_string(), parsed.to_string());
        }
        // Another scheme is cloned.
        let ws: Uri = "ws://a.test/chat".parse().unwrap();
        let base = InlineUri::capture(&ws);
        assert!(matches!(base.0, Repr::Shared(_)));
        assert_eq!(base.to_uri().unwrap(), ws);
        // Built from parts (authority and path not next to each other in memory).
        let built = Uri::builder()
            .scheme("https")
            .authority("b.test:8443")
            .path_and_query("/x?y")
            .build()
            .unwrap();
        assert_eq!(InlineUri::capture(&built).to_uri().unwrap(), built);
        let long: Uri = format!("http://a.test/{}", "p".repeat(200))
            .parse()
            .unwrap();
        let base = InlineUri::capture(&long);
        assert!(matches!(base.0, Repr::Shared(_)));
        assert_eq!(base.to_uri().unwrap(), long);
        // The bound: authority, path and query of `INLINE` bytes are inline, one more is not.
        for https in [false, true] {
            let scheme = if https { "https" } else { "http" };
            let edge: Uri = format!("{scheme}://a.test/{}", "p".repeat(INLINE - 7))
                .parse()
                .unwrap();
            let base = InlineUri::capture(&edge);
            assert!(
                matches!(base.0, Repr::Http { len, .. } | Repr::Https { len, .. } if usize::from(len) == INLINE)
            );
            assert_eq!(base.to_uri().unwrap(), edge);
            let over: Uri = format!("{scheme}://a.test/{}", "p".repeat(INLINE - 6))
                .parse()
                .unwrap();
            let base = InlineUri::capture(&over);
            assert!(matches!(base.0, Repr::Shared(_)));
            assert_eq!(base.to_uri().unwrap(), over);
        }
        assert!(!InlineUri::capture(&"/relative".parse().unwrap()).is_some());
        assert!(!InlineUri::capture(&"a.test:80".parse().unwrap()).is_some());
        assert!(InlineUri::none().to_uri().is_none());
    }
}
