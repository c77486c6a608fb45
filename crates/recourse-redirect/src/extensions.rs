//! What the layer leaves in the extensions of the response it returns.
//!
//! - [`RedirectHistory`] and [`FinalUri`](recourse_core::FinalUri) (the core fact every
//!   layer resolves a response's URIs against): present when at least one redirect was
//!   followed. Their absence means the response answers the request URI itself; nothing
//!   is inserted on the pass-through path, which keeps it free of allocations.
//! - [`NotFollowed`]: present on a 3xx response the layer returned instead of following
//!   it, saying why.
//! - [`recourse_core::History`]: one [`Step::Redirected`](recourse_core::Step::Redirected)
//!   per hop, after the steps that inner layers recorded on the discarded 3xx responses.

use std::fmt;

use http::{Method, Response, StatusCode, Uri};
use recourse_core::body::NotReplayable;
use recourse_core::headers::LocationError;

/// One redirect: the request `method from` answered `status`, pointing at `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub(crate) status: StatusCode,
    pub(crate) method: Method,
    pub(crate) from: Uri,
    pub(crate) to: Uri,
}

impl Hop {
    /// The redirect status (301, 302, 303, 307 or 308).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The method of the request that received the redirect.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI of the request that received the redirect.
    pub fn from(&self) -> &Uri {
        &self.from
    }

    /// The resolved `Location` it pointed at (without fragment).
    pub fn to(&self) -> &Uri {
        &self.to
    }
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {} {}",
            self.method,
            self.from,
            self.status.as_u16(),
            self.to
        )
    }
}

/// The redirects followed to reach a response, oldest first (a response extension).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedirectHistory {
    pub(crate) hops: Vec<Hop>,
}

impl RedirectHistory {
    /// The history of a response, if the layer followed at least one redirect.
    pub fn of<B>(res: &Response<B>) -> Option<&RedirectHistory> {
        res.extensions().get()
    }

    /// The hops followed, oldest first.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// How many redirects were followed.
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    /// Whether no redirect was followed.
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }

    /// The URI the chain started from.
    pub fn original_uri(&self) -> Option<&Uri> {
        self.hops.first().map(Hop::from)
    }
}

/// Why a 3xx response was returned to the caller instead of being followed (a response
/// extension on that response).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotFollowed {
    /// The response has no `Location` header (RFC 9110 §10.2.2).
    MissingLocation,
    /// The response has several `Location` fields with different values.
    ConflictingLocations,
    /// The `Location` value cannot be followed: not UTF-8, not a URI, empty, too long,
    /// or a scheme other than `http`/`https` (such as `javascript:` or `file:`).
    Location(LocationError),
    /// The `Location` names another origin and carries user credentials
    /// (`http://user:pass@host/`), which the Fetch standard refuses (§4.4, HTTP-redirect
    /// fetch).
    CredentialsInLocation,
    /// The request body would have to be sent again and cannot be (it streamed past the
    /// replay buffer, or it failed); it is never replaced by an empty body.
    BodyNotReplayable(NotReplayable),
    /// The redirect limit was reached and the policy asked for the last 3xx response
    /// instead of an error.
    LimitReached {
        /// The limit.
        limit: u32,
    },
    /// The target is on another origin and the policy follows only same-origin redirects.
    CrossOrigin,
    /// A policy declined to follow without a more specific reason.
    Stopped,
}

impl NotFollowed {
    /// The reason a 3xx response was not followed, if the layer declined it.
    pub fn of<B>(res: &Response<B>) -> Option<&NotFollowed> {
        res.extensions().get()
    }
}

impl fmt::Display for NotFollowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotFollowed::MissingLocation => f.write_str("the redirect has no Location header"),
            NotFollowed::ConflictingLocations => {
                f.write_str("the redirect has several different Location headers")
            }
            NotFollowed::Location(e) => write!(f, "the Location cannot be followed: {e}"),
            NotFollowed::CredentialsInLocation => {
                f.write_str("the Location points at another origin with credentials in the URI")
            }
            NotFollowed::BodyNotReplayable(why) => {
                write!(f, "the request body cannot be sent again: {why}")
            }
            NotFollowed::LimitReached { limit } => {
                write!(f, "the redirect limit ({limit}) was reached")
            }
            NotFollowed::CrossOrigin => {
                f.write_str("the redirect leaves the origin and only same-origin ones are followed")
            }
            NotFollowed::Stopped => f.write_str("the redirect policy declined to follow"),
        }
    }
}
