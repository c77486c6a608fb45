//! [`FilterCredentials`]: credentials never follow a redirect to another origin.

use std::sync::Arc;

use http::HeaderMap;
use http::header::HeaderName;
use recourse_core::origin::remove_credentials;

use super::{Action, Policy, RedirectAttempt};

/// Removes `Authorization`, `Cookie`, `Proxy-Authorization` (the
/// [`CREDENTIAL_HEADERS`](recourse_core::origin::CREDENTIAL_HEADERS)) and the headers you
/// list from the next request when a redirect changes the origin (scheme, host or port;
/// [`same_origin`](recourse_core::origin::same_origin)).
///
/// The layer carries the edited headers to every later hop, so once removed they stay
/// removed for the rest of the chain, even if it comes back to the first origin. RFC 9110
/// §15.4 asks user agents to consider removing `Authorization` and `Cookie` on redirects;
/// the Fetch standard (§4.4, HTTP-redirect fetch) removes `Authorization` whenever the
/// origin changes.
///
/// # Clone
///
/// The user-listed headers are shared through an `Arc`: cloning the policy for a request
/// does not allocate.
#[derive(Clone, Debug, Default)]
pub struct FilterCredentials {
    extra: Option<Arc<[HeaderName]>>,
    every_redirect: bool,
}

impl FilterCredentials {
    /// Removes the [`CREDENTIAL_HEADERS`](recourse_core::origin::CREDENTIAL_HEADERS) on
    /// every change of origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also removes `name` (an API key header such as `X-Api-Key`, for example).
    pub fn also_remove(mut self, name: HeaderName) -> Self {
        let mut names: Vec<HeaderName> = self.extra.as_deref().unwrap_or(&[]).to_vec();
        if !names.contains(&name) {
            names.push(name);
        }
        self.extra = Some(names.into());
        self
    }

    /// Removes the headers on every redirect, even within the origin.
    pub fn on_every_redirect(mut self, enable: bool) -> Self {
        self.every_redirect = enable;
        self
    }

    /// The headers removed besides the
    /// [`CREDENTIAL_HEADERS`](recourse_core::origin::CREDENTIAL_HEADERS).
    pub fn extra_headers(&self) -> &[HeaderName] {
        self.extra.as_deref().unwrap_or(&[])
    }
}

impl Policy for FilterCredentials {
    fn redirect(&mut self, _attempt: &RedirectAttempt<'_>) -> Action {
        Action::follow()
    }

    fn on_follow(&mut self, attempt: &RedirectAttempt<'_>, headers: &mut HeaderMap) {
        if self.every_redirect || !attempt.is_same_origin() {
            remove_credentials(headers, self.extra_headers());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::Fixture;
    use super::*;
    use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Bearer secret".parse().unwrap());
        h.append(COOKIE, "a=1".parse().unwrap());
        h.append(COOKIE, "b=2".parse().unwrap());
        h.insert(PROXY_AUTHORIZATION, "Basic eA==".parse().unwrap());
        h.insert("x-api-key", "k".parse().unwrap());
        h.insert("accept", "*/*".parse().unwrap());
        h
    }

    #[test]
    fn strips_on_origin_change_only() {
        let mut p = FilterCredentials::new().also_remove(HeaderName::from_static("x-api-key"));
        let same = Fixture::new(302, "http://a.test/x", "http://a.test/y");
        let mut h = headers();
        p.on_follow(&same.attempt(), &mut h);
        assert_eq!(h.len(), 6);

        for to in [
            "https://a.test/x",
            "http://a.test:8080/x",
            "http://b.test/x",
        ] {
            let cross = Fixture::new(302, "http://a.test/x", to);
            let mut h = headers();
            p.on_follow(&cross.attempt(), &mut h);
            assert_eq!(h.len(), 1, "{to}: {h:?}");
            assert!(h.contains_key("accept"));
        }
    }

    #[test]
    fn every_redirect_mode_and_listing() {
        let p = FilterCredentials::new()
            .also_remove(HeaderName::from_static("x-a"))
            .also_remove(HeaderName::from_static("x-a"));
        assert_eq!(p.extra_headers().len(), 1);
        let mut p = p.on_every_redirect(true);
        let same = Fixture::new(302, "http://a.test/x", "http://a.test/y");
        let mut h = headers();
        p.on_follow(&same.attempt(), &mut h);
        assert!(!h.contains_key(AUTHORIZATION));
        assert!(h.contains_key("x-api-key"));
    }
}
