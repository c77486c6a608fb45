//! [`Head`]: what the chain keeps of the request to build the next hop.

use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

/// The method, URI, version, headers and extensions of the request in flight; each hop
/// edits them and sends a copy.
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    /// `None` stands for no headers, so that the pass-through path neither builds nor
    /// drops an empty map.
    pub(crate) headers: Option<HeaderMap>,
    pub(crate) extensions: Extensions,
}

impl Head {
    /// A copy of the request head. Nothing is allocated when the request has no headers
    /// and no extensions; the URI's bytes are shared, not copied.
    #[inline]
    pub(crate) fn of<B>(req: &Request<B>) -> Self {
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: if req.headers().is_empty() {
                None
            } else {
                Some(req.headers().clone())
            },
            extensions: req.extensions().clone(),
        }
    }

    /// The next request: a copy of the head with `body`.
    pub(crate) fn request<B>(&self, body: B) -> Request<B> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        if let Some(headers) = &self.headers {
            *req.headers_mut() = headers.clone();
        }
        *req.extensions_mut() = self.extensions.clone();
        req
    }
}
