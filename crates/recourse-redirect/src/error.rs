//! The errors of the redirect layer.
//!
//! [`RedirectError<E>`] is one opaque error that either carries the inner service's error
//! `E` unchanged ([`RedirectError::into_inner`]) or says why the layer stopped a chain:
//! [`TooManyRedirects`], [`RedirectLoop`], a [`Downgrade`] (the one type of
//! [`recourse_core::origin`]), [`DeadlineExpired`], or a custom policy's error.
//!
//! Every kind has a predicate `is_<kind>()` and, when it carries data, an accessor named
//! like the predicate without `is_` ([`is_downgrade`](RedirectError::is_downgrade) /
//! [`downgrade`](RedirectError::downgrade)); [`RedirectError::chain`] gives the hops
//! received before any of them.
//!
//! # Why one generic error rather than `Box<dyn Error>`
//!
//! A caller of a `hyper_util` client wants its `hyper_util::client::legacy::Error` back,
//! by value, without a downcast: [`RedirectError::into_inner`] gives it. Boxing would
//! allocate on every error, erase the type, and make `match`ing on the transport error a
//! downcast that silently fails when the inner type changes. The private kind with
//! `is_*()` predicates keeps the set of reasons open to additions without a breaking
//! change. When the inner error is `Error + Send + Sync + 'static`, so is
//! `RedirectError<E>`, and `?` converts it into a `Box<dyn Error + Send + Sync>`.

use std::fmt;

use http::{Method, Uri};
use recourse_core::BoxError;
use recourse_core::origin::Downgrade;
use recourse_core::sent::{self, Sent};

use crate::extensions::Hop;

/// The error of [`Redirect`](crate::Redirect): the inner service's error, or a typed
/// reason the layer stopped following redirects.
///
/// Every variant carries the chain of redirects received so far ([`chain`](Self::chain)).
pub struct RedirectError<E> {
    kind: Kind<E>,
}

enum Kind<E> {
    Inner { error: E, chain: Vec<Hop> },
    // The layer's own errors are boxed: they are rare, and this keeps
    // `Result<Response, RedirectError<E>>` as small as `E` plus a `Vec`.
    TooMany(Box<TooManyRedirects>),
    Loop(Box<RedirectLoop>),
    Downgrade(Box<(Downgrade, Vec<Hop>)>),
    Deadline(Box<DeadlineExpired>),
    Policy(Box<(BoxError, Vec<Hop>)>),
}

impl<E: 'static> RedirectError<E> {
    /// Registers `RedirectError<E>` with [`recourse_core::sent`] (once; later calls take a
    /// read lock), so that the layers and the observer above this one can look through
    /// it: see [`sent`](Self::sent). Called before an error leaves the layer.
    pub(crate) fn register() {
        sent::register::<RedirectError<E>>(RedirectError::sent);
    }

    /// What this error says about its request having been sent, for
    /// [`recourse_core::sent`]:
    ///
    /// - the inner service's error on the first request (no redirect received) is handed
    ///   over ([`Sent::Inner`]): it may know (a breaker's refusal was not sent);
    /// - the inner service's error on a later hop: [`Sent::Unknown`], since the first
    ///   request was sent (it got the redirect), whatever the hop's error says;
    /// - the layer's own reasons are handed over as their public types
    ///   ([`TooManyRedirects`], [`RedirectLoop`], [`Downgrade`], [`DeadlineExpired`]),
    ///   which no layer registers: they answer [`Sent::Unknown`] (the request was sent),
    ///   and an observer walking the chain (the facade's outcome counter) can name them by
    ///   downcasting. A policy's error is [`Sent::Unknown`].
    fn sent(&self) -> Sent<'_> {
        match &self.kind {
            Kind::Inner { error, chain } if chain.is_empty() => Sent::Inner(error),
            Kind::Inner { .. } | Kind::Policy(_) => Sent::Unknown,
            Kind::TooMany(e) => Sent::Inner(&**e),
            Kind::Loop(e) => Sent::Inner(&**e),
            Kind::Downgrade(d) => Sent::Inner(&d.0),
            Kind::Deadline(e) => Sent::Inner(&**e),
        }
    }
}

impl<E> RedirectError<E> {
    pub(crate) fn from_inner(error: E, chain: Vec<Hop>) -> Self {
        Self {
            kind: Kind::Inner { error, chain },
        }
    }

    pub(crate) fn policy(error: BoxError, chain: Vec<Hop>) -> Self {
        Self {
            kind: Kind::Policy(Box::new((error, chain))),
        }
    }

    pub(crate) fn downgrade_refused(downgrade: Downgrade, chain: Vec<Hop>) -> Self {
        Self {
            kind: Kind::Downgrade(Box::new((downgrade, chain))),
        }
    }

    /// Whether this is the inner service's error (on the first request or on a hop).
    pub fn is_inner(&self) -> bool {
        matches!(self.kind, Kind::Inner { .. })
    }

    /// Whether the redirect limit was exceeded.
    pub fn is_too_many_redirects(&self) -> bool {
        matches!(self.kind, Kind::TooMany(_))
    }

    /// Whether a redirect led back to a request already made.
    pub fn is_redirect_loop(&self) -> bool {
        matches!(self.kind, Kind::Loop(_))
    }

    /// Whether an `https` to `http` redirect was refused.
    pub fn is_downgrade(&self) -> bool {
        matches!(self.kind, Kind::Downgrade(_))
    }

    /// Whether the request's [`Deadline`](recourse_core::Deadline) expired before the
    /// next hop could start.
    pub fn is_deadline_expired(&self) -> bool {
        matches!(self.kind, Kind::Deadline(_))
    }

    /// Whether a custom policy refused the redirect with its own error.
    pub fn is_policy_error(&self) -> bool {
        matches!(self.kind, Kind::Policy(_))
    }

    /// The inner service's error, if that is what this is (by reference; see
    /// [`into_inner`](Self::into_inner) to take it).
    pub fn inner(&self) -> Option<&E> {
        match &self.kind {
            Kind::Inner { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Takes the inner service's error out, or gives `self` back if this is another kind.
    ///
    /// # Errors
    ///
    /// `Err(self)` when this is not the inner service's error.
    pub fn into_inner(self) -> Result<E, Self> {
        match self.kind {
            Kind::Inner { error, .. } => Ok(error),
            kind => Err(Self { kind }),
        }
    }

    /// The details, if the redirect limit was exceeded.
    pub fn too_many_redirects(&self) -> Option<&TooManyRedirects> {
        match &self.kind {
            Kind::TooMany(e) => Some(e),
            _ => None,
        }
    }

    /// The details, if a loop was detected.
    pub fn redirect_loop(&self) -> Option<&RedirectLoop> {
        match &self.kind {
            Kind::Loop(e) => Some(e),
            _ => None,
        }
    }

    /// The refused move (from, to, and the `Location` header that named it), if an `https`
    /// to `http` redirect was refused. The hops are in [`chain`](Self::chain).
    pub fn downgrade(&self) -> Option<&Downgrade> {
        match &self.kind {
            Kind::Downgrade(e) => Some(&e.0),
            _ => None,
        }
    }

    /// The details, if the deadline expired between hops.
    pub fn deadline_expired(&self) -> Option<&DeadlineExpired> {
        match &self.kind {
            Kind::Deadline(e) => Some(e),
            _ => None,
        }
    }

    /// The custom policy's error, if a policy refused with one.
    pub fn policy_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.kind {
            Kind::Policy(policy) => Some(&*policy.0),
            _ => None,
        }
    }

    /// The redirects received before the error, oldest first. For the layer's own errors
    /// the last hop is the one that was refused; for an inner error every hop was
    /// followed and the failed request went to the last hop's target.
    pub fn chain(&self) -> &[Hop] {
        match &self.kind {
            Kind::Inner { chain, .. } => chain,
            Kind::Policy(policy) => &policy.1,
            Kind::TooMany(e) => &e.chain,
            Kind::Loop(e) => &e.chain,
            Kind::Downgrade(e) => &e.1,
            Kind::Deadline(e) => &e.chain,
        }
    }
}

impl<E: Into<BoxError>> RedirectError<E> {
    /// Converts into a boxed error, for stacks whose errors are boxed (a `Box<dyn Error>`
    /// is not itself an `Error`, so `?` cannot do this): the inner error comes out as it
    /// is, the layer's own errors are boxed.
    pub fn into_box_error(self) -> BoxError {
        match self.kind {
            Kind::Inner { error, .. } => error.into(),
            Kind::Policy(policy) => Box::new(RedirectError::<std::convert::Infallible> {
                kind: Kind::Policy(policy),
            }),
            Kind::TooMany(e) => e,
            Kind::Loop(e) => e,
            Kind::Downgrade(e) => {
                let (downgrade, _chain) = *e;
                Box::new(downgrade)
            }
            Kind::Deadline(e) => e,
        }
    }
}

impl<E> From<TooManyRedirects> for RedirectError<E> {
    fn from(e: TooManyRedirects) -> Self {
        Self {
            kind: Kind::TooMany(Box::new(e)),
        }
    }
}

impl<E> From<RedirectLoop> for RedirectError<E> {
    fn from(e: RedirectLoop) -> Self {
        Self {
            kind: Kind::Loop(Box::new(e)),
        }
    }
}

impl<E> From<DeadlineExpired> for RedirectError<E> {
    fn from(e: DeadlineExpired) -> Self {
        Self {
            kind: Kind::Deadline(Box::new(e)),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for RedirectError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner { error, chain } => f
                .debug_struct("RedirectError::Inner")
                .field("error", error)
                .field("chain", chain)
                .finish(),
            Kind::TooMany(e) => f.debug_tuple("RedirectError").field(e).finish(),
            Kind::Loop(e) => f.debug_tuple("RedirectError").field(e).finish(),
            Kind::Downgrade(e) => f
                .debug_struct("RedirectError::Downgrade")
                .field("downgrade", &e.0)
                .field("chain", &e.1)
                .finish(),
            Kind::Deadline(e) => f.debug_tuple("RedirectError").field(e).finish(),
            Kind::Policy(policy) => f
                .debug_struct("RedirectError::Policy")
                .field("error", &policy.0)
                .field("chain", &policy.1)
                .finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for RedirectError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // Transparent: the caller sees the inner error's own message.
            Kind::Inner { error, .. } => fmt::Display::fmt(error, f),
            Kind::TooMany(e) => fmt::Display::fmt(e, f),
            Kind::Loop(e) => fmt::Display::fmt(e, f),
            Kind::Downgrade(e) => fmt::Display::fmt(&e.0, f),
            Kind::Deadline(e) => fmt::Display::fmt(e, f),
            Kind::Policy(policy) => match policy.1.last() {
                Some(hop) => write!(f, "redirect policy refused {hop}: {}", policy.0),
                None => write!(f, "redirect policy refused: {}", policy.0),
            },
        }
    }
}

impl<E> std::error::Error for RedirectError<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            // Transparent, like the Display impl: the inner error's own source.
            Kind::Inner { error, .. } => error.source(),
            Kind::Policy(policy) => Some(&*policy.0),
            Kind::TooMany(_) | Kind::Loop(_) | Kind::Downgrade(_) | Kind::Deadline(_) => None,
        }
    }
}

// === TooManyRedirects ===

/// More redirects than the limit allows (RFC 9110 §15.4 asks clients to stop cyclical or
/// endless redirections; the Fetch standard stops at 20, this layer at 10 by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooManyRedirects {
    pub(crate) limit: u32,
    pub(crate) chain: Vec<Hop>,
}

impl TooManyRedirects {
    /// The limit that was exceeded.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Every redirect received, oldest first; the last one was not followed.
    pub fn chain(&self) -> &[Hop] {
        &self.chain
    }

    /// Takes the chain out.
    pub fn into_chain(self) -> Vec<Hop> {
        self.chain
    }
}

impl fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "too many redirects (limit {})", self.limit)?;
        if let Some(hop) = self.chain.last() {
            write!(f, ": not following {hop}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TooManyRedirects {}

// === RedirectLoop ===

/// A redirect pointed at a request (same method and URI) that the chain already made
/// (RFC 9110 §15.4: "a client SHOULD detect and intervene in cyclical redirections").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectLoop {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) chain: Vec<Hop>,
}

impl RedirectLoop {
    /// The method of the repeated request.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI of the repeated request.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Every redirect received, oldest first; the last one closes the loop.
    pub fn chain(&self) -> &[Hop] {
        &self.chain
    }
}

impl fmt::Display for RedirectLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "redirect loop: {} {} was already requested after {} redirect(s)",
            self.method,
            self.uri,
            self.chain.len().saturating_sub(1)
        )
    }
}

impl std::error::Error for RedirectLoop {}

// === DeadlineExpired ===

/// The request's [`Deadline`](recourse_core::Deadline) passed before the next hop could
/// start, so it was not started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineExpired {
    pub(crate) chain: Vec<Hop>,
}

impl DeadlineExpired {
    /// The target that was not requested.
    pub fn next(&self) -> Option<&Uri> {
        self.chain.last().map(Hop::to)
    }

    /// Every redirect received, oldest first; the last one was not followed.
    pub fn chain(&self) -> &[Hop] {
        &self.chain
    }
}

impl fmt::Display for DeadlineExpired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.chain.last() {
            Some(hop) => write!(
                f,
                "the request deadline expired before following the redirect to {}",
                hop.to
            ),
            None => f.write_str("the request deadline expired before the next redirect"),
        }
    }
}

impl std::error::Error for DeadlineExpired {}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn hop(from: &'static str, to: &'static str) -> Hop {
        Hop {
            status: StatusCode::FOUND,
            method: Method::GET,
            from: Uri::from_static(from),
            to: Uri::from_static(to),
        }
    }

    #[test]
    fn inner_error_is_transparent_and_recoverable() {
        let io = std::io::Error::other("connection refused");
        let err = RedirectError::from_inner(io, vec![hop("http://a/", "http://b/")]);
        assert!(err.is_inner());
        assert!(!err.is_redirect_loop());
        assert_eq!(err.to_string(), "connection refused");
        assert_eq!(err.chain().len(), 1);
        let io = err.into_inner().unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::Other);
    }

    #[test]
    fn typed_errors_have_predicates_and_messages() {
        let chain = vec![hop("https://a/", "http://a/")];
        let refused = Downgrade::check(
            &Uri::from_static("https://a/"),
            &Uri::from_static("http://a/"),
            &http::header::LOCATION,
        )
        .unwrap_err();
        let err: RedirectError<std::io::Error> =
            RedirectError::downgrade_refused(refused, chain.clone());
        assert!(err.is_downgrade());
        assert_eq!(err.downgrade().unwrap().to(), "http://a/");
        assert_eq!(err.chain(), &chain[..]);
        assert!(err.to_string().contains("https to http"));
        let err = err.into_inner().unwrap_err();
        assert!(err.is_downgrade());

        let err: RedirectError<std::io::Error> = TooManyRedirects {
            limit: 3,
            chain: chain.clone(),
        }
        .into();
        assert!(err.is_too_many_redirects());
        assert_eq!(err.too_many_redirects().unwrap().limit(), 3);
        assert!(err.to_string().contains("limit 3"));

        let err: RedirectError<std::io::Error> = RedirectLoop {
            method: Method::GET,
            uri: Uri::from_static("http://a/"),
            chain: chain.clone(),
        }
        .into();
        assert!(err.is_redirect_loop());
        assert!(err.to_string().contains("GET http://a/"));

        let err: RedirectError<std::io::Error> = DeadlineExpired { chain }.into();
        assert!(err.is_deadline_expired());
        assert!(err.to_string().contains("deadline"));

        let err: RedirectError<std::io::Error> = RedirectError::policy("nope".into(), Vec::new());
        assert!(err.is_policy_error());
        assert_eq!(err.policy_error().unwrap().to_string(), "nope");
        let boxed: BoxError = err.into_box_error();
        assert!(boxed.to_string().contains("nope"));
        let boxed: BoxError =
            RedirectError::<BoxError>::from_inner("io".into(), Vec::new()).into_box_error();
        assert_eq!(boxed.to_string(), "io");
        // The inner error comes out itself, not wrapped in a second box or a
        // `RedirectError`; the downgrade is core's `Downgrade`.
        let io = std::io::Error::other("reset");
        let boxed = RedirectError::from_inner(io, Vec::new()).into_box_error();
        assert!(boxed.downcast::<std::io::Error>().is_ok());
        let refused = Downgrade::check(
            &Uri::from_static("https://a/"),
            &Uri::from_static("http://a/"),
            &http::header::LOCATION,
        )
        .unwrap_err();
        let boxed = RedirectError::<std::io::Error>::downgrade_refused(refused, Vec::new())
            .into_box_error();
        assert!(boxed.downcast::<Downgrade>().is_ok());
    }

    #[test]
    fn registered_with_sent_the_wrapped_error_is_found() {
        RedirectError::<std::io::Error>::register();
        // The first request's error is handed over.
        let err = RedirectError::from_inner(std::io::Error::other("refused"), Vec::new());
        let Sent::Inner(inner) = sent::verdict(&err) else {
            panic!("the inner error is handed over");
        };
        assert_eq!(
            inner.downcast_ref::<std::io::Error>().unwrap().to_string(),
            "refused"
        );
        // A later hop's: the first request was sent.
        let chain = vec![hop("http://a/", "http://b/")];
        let err = RedirectError::from_inner(std::io::Error::other("refused"), chain.clone());
        assert!(matches!(sent::verdict(&err), Sent::Unknown));
        // The layer's own reasons: their public types, which answer Unknown themselves.
        let err: RedirectError<std::io::Error> = DeadlineExpired { chain }.into();
        let Sent::Inner(own) = sent::verdict(&err) else {
            panic!("the reason is handed over");
        };
        assert_eq!(
            own.downcast_ref::<DeadlineExpired>().unwrap().chain().len(),
            1
        );
        assert!(matches!(sent::verdict(own), Sent::Unknown));
        let err = RedirectError::<std::io::Error>::policy("no".into(), Vec::new());
        assert!(matches!(sent::verdict(&err), Sent::Unknown));
    }
}
