//! Errors: [`PollError`] (keeps the inner service's error) and [`PollTimeout`].

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use http::{HeaderName, Request, StatusCode, Uri};
use recourse_core::BoxError;
use recourse_core::headers::LocationError;
use recourse_core::json::JsonPath;
use recourse_core::origin::Downgrade;
use recourse_core::sent::{self, Sent};

use crate::Resume;

/// The error of [`AsyncPoll`](crate::AsyncPoll): the inner service's error, a typed
/// [`PollTimeout`], a status/result URL that cannot be followed, or one that is refused
/// because it would leave `https` for `http` ([`Downgrade`]).
///
/// Opaque, with `is_*` predicates and accessors. Every error raised after polling started
/// carries the status URL ([`status_url`](Self::status_url)) so that the caller can resume
/// the job later (see [`Resume`]).
pub struct PollError<E> {
    kind: Kind<E>,
}

enum Kind<E> {
    Inner {
        error: E,
        status_url: Option<Box<Uri>>,
    },
    Timeout(Box<PollTimeout>),
    Location(Box<LocationFailure>),
    Downgrade(Box<Refused>),
    Protocol(Box<ProtocolViolation>),
}

struct Refused {
    downgrade: Downgrade,
    status_url: Option<Uri>,
}

struct LocationFailure {
    error: LocationError,
    header: HeaderName,
    status_url: Option<Uri>,
}

impl<E> PollError<E> {
    pub(crate) fn from_inner(error: E, status_url: Option<Uri>) -> Self {
        Self {
            kind: Kind::Inner {
                error,
                status_url: status_url.map(Box::new),
            },
        }
    }

    pub(crate) fn from_timeout(timeout: PollTimeout) -> Self {
        Self {
            kind: Kind::Timeout(Box::new(timeout)),
        }
    }

    pub(crate) fn from_location(
        error: LocationError,
        header: HeaderName,
        status_url: Option<Uri>,
    ) -> Self {
        Self {
            kind: Kind::Location(Box::new(LocationFailure {
                error,
                header,
                status_url,
            })),
        }
    }

    pub(crate) fn refused(downgrade: Downgrade, status_url: Option<Uri>) -> Self {
        Self {
            kind: Kind::Downgrade(Box::new(Refused {
                downgrade,
                status_url,
            })),
        }
    }

    /// Whether the inner service failed (on the original request, a poll or a result
    /// fetch).
    pub fn is_inner(&self) -> bool {
        matches!(self.kind, Kind::Inner { .. })
    }

    pub(crate) fn protocol(violation: ProtocolViolation) -> Self {
        Self {
            kind: Kind::Protocol(Box::new(violation)),
        }
    }

    /// Whether polling stopped on a limit: see [`PollTimeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout(_))
    }

    /// Whether a status URL, or the `Location` of a result, could not be resolved.
    pub fn is_location(&self) -> bool {
        matches!(self.kind, Kind::Location(_))
    }

    /// Whether a status or result URL was refused because it would take a job started
    /// over `https` to `http`: see [`Downgrade`].
    pub fn is_downgrade(&self) -> bool {
        matches!(self.kind, Kind::Downgrade(_))
    }

    /// Whether a status response broke the protocol of the configured
    /// [`StatusField`](crate::StatusField) (see [`ProtocolViolation`]).
    pub fn is_protocol_violation(&self) -> bool {
        matches!(self.kind, Kind::Protocol(_))
    }

    /// The protocol violation, if that is what this is.
    pub fn protocol_violation(&self) -> Option<&ProtocolViolation> {
        match &self.kind {
            Kind::Protocol(v) => Some(v),
            _ => None,
        }
    }

    /// The refused downgrade, if that is what this is: the `https` URI where the request
    /// was ([`from`](Downgrade::from)), the refused `http` URL ([`to`](Downgrade::to)) and
    /// the header that named it ([`header`](Downgrade::header)).
    pub fn downgrade(&self) -> Option<&Downgrade> {
        match &self.kind {
            Kind::Downgrade(d) => Some(&d.downgrade),
            _ => None,
        }
    }

    /// The inner service's error, if that is what this is.
    pub fn inner(&self) -> Option<&E> {
        match &self.kind {
            Kind::Inner { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Takes the inner service's error out.
    ///
    /// # Errors
    ///
    /// Gives `self` back if this is not an inner error.
    pub fn into_inner(self) -> Result<E, Self> {
        match self.kind {
            Kind::Inner { error, .. } => Ok(error),
            kind => Err(Self { kind }),
        }
    }

    /// The timeout, if that is what this is.
    pub fn timeout(&self) -> Option<&PollTimeout> {
        match &self.kind {
            Kind::Timeout(t) => Some(t),
            _ => None,
        }
    }

    /// Takes the timeout out.
    ///
    /// # Errors
    ///
    /// Gives `self` back if this is not a timeout.
    pub fn into_timeout(self) -> Result<PollTimeout, Self> {
        match self.kind {
            Kind::Timeout(t) => Ok(*t),
            kind => Err(Self { kind }),
        }
    }

    /// Why a `Location` (or a status header, or a result URL field) could not be
    /// followed, and the header it came from (for a body field, its path as a name).
    pub fn location(&self) -> Option<(&LocationError, &HeaderName)> {
        match &self.kind {
            Kind::Location(l) => Some((&l.error, &l.header)),
            _ => None,
        }
    }

    /// The status URL being polled when the error happened, if polling had started: keep
    /// it to resume the job later with [`Resume::request`].
    pub fn status_url(&self) -> Option<&Uri> {
        match &self.kind {
            Kind::Inner { status_url, .. } => status_url.as_deref(),
            Kind::Location(l) => l.status_url.as_ref(),
            Kind::Timeout(t) => Some(&t.status_url),
            Kind::Downgrade(d) => d.status_url.as_ref(),
            Kind::Protocol(v) => Some(&v.status_url),
        }
    }
}

impl<E: 'static> PollError<E> {
    /// Registers `PollError<E>` with [`recourse_core::sent`] (once; later calls take a read
    /// lock), so that the layers and the observer above this one can look through it: see
    /// [`sent`](Self::sent). Called before an error leaves the layer.
    pub(crate) fn register() {
        sent::register::<PollError<E>>(PollError::sent);
    }

    /// What this error says about its request having been sent, for
    /// [`recourse_core::sent`]:
    ///
    /// - the inner service's error on the original request (before any poll) is handed
    ///   over ([`Sent::Inner`]): it may know (a breaker's refusal was not sent);
    /// - the inner service's error on a poll or a result fetch: [`Sent::Unknown`], since
    ///   the original request was sent (it started the job), whatever the poll's error says;
    /// - the layer's own reasons are handed over as their public types ([`PollTimeout`],
    ///   [`ProtocolViolation`], [`LocationError`], [`Downgrade`]), which no layer registers:
    ///   they answer [`Sent::Unknown`] (the request was sent), and an observer walking the
    ///   chain (the facade's outcome counter) can name them by downcasting.
    fn sent(&self) -> Sent<'_> {
        match &self.kind {
            Kind::Inner {
                error,
                status_url: None,
            } => Sent::Inner(error),
            Kind::Inner { .. } => Sent::Unknown,
            Kind::Timeout(t) => Sent::Inner(&**t),
            Kind::Location(l) => Sent::Inner(&l.error),
            Kind::Downgrade(d) => Sent::Inner(&d.downgrade),
            Kind::Protocol(v) => Sent::Inner(&**v),
        }
    }
}

impl<E: Into<BoxError>> PollError<E> {
    /// Converts into a boxed error, for stacks whose errors are boxed (a `Box<dyn Error>`
    /// is not itself an `Error`, so `?` cannot do this): the inner service's error comes
    /// out as it is (not wrapped twice); the layer's own errors are boxed as a
    /// `PollError<Infallible>`, which keeps every accessor (downcast to it).
    pub fn into_box_error(self) -> BoxError {
        let kind = match self.kind {
            Kind::Inner { error, .. } => return error.into(),
            Kind::Timeout(t) => Kind::Timeout(t),
            Kind::Location(l) => Kind::Location(l),
            Kind::Downgrade(d) => Kind::Downgrade(d),
            Kind::Protocol(v) => Kind::Protocol(v),
        };
        Box::new(PollError::<Infallible> { kind })
    }
}

impl<E: fmt::Debug> fmt::Debug for PollError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner { error, status_url } => f
                .debug_struct("PollError::Inner")
                .field("error", error)
                .field("status_url", status_url)
                .finish(),
            Kind::Timeout(t) => f.debug_tuple("PollError::Timeout").field(t).finish(),
            Kind::Location(l) => f
                .debug_struct("PollError::Location")
                .field("error", &l.error)
                .field("header", &l.header)
                .field("status_url", &l.status_url)
                .finish(),
            Kind::Downgrade(d) => f
                .debug_struct("PollError::Downgrade")
                .field("downgrade", &d.downgrade)
                .field("status_url", &d.status_url)
                .finish(),
            Kind::Protocol(v) => f.debug_tuple("PollError::Protocol").field(v).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for PollError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner {
                error,
                status_url: None,
            } => write!(f, "inner service failed: {error}"),
            Kind::Inner {
                error,
                status_url: Some(url),
            } => write!(f, "inner service failed while polling {url}: {error}"),
            Kind::Timeout(t) => fmt::Display::fmt(t, f),
            Kind::Location(l) => {
                write!(f, "cannot follow the `{}` header: {}", l.header, l.error)
            }
            Kind::Downgrade(d) => write!(
                f,
                "refused to follow the `{}` header from https to http (clear text): {} -> {}",
                d.downgrade.header(),
                d.downgrade.from(),
                d.downgrade.to()
            ),
            Kind::Protocol(v) => fmt::Display::fmt(v, f),
        }
    }
}

impl<E> std::error::Error for PollError<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Inner { error, .. } => Some(error),
            Kind::Timeout(t) => Some(&**t),
            Kind::Location(l) => Some(&l.error),
            Kind::Downgrade(d) => Some(&d.downgrade),
            Kind::Protocol(v) => Some(&**v),
        }
    }
}

// === ProtocolViolation ===

/// A status response that breaks the status protocol the configured
/// [`StatusField`](crate::StatusField) describes: a response that would be taken for the
/// job's success (a 2xx other than 202, without a failure verdict of the classify layer)
/// whose body does not say whether the job is running, succeeded or failed, while the
/// field is [strict](crate::StatusField::strict).
///
/// Taking such a response for the job's success would hand the caller a status document
/// (or an error page) as if it were the result. Polling stops; the job may still be
/// running, so [`status_url`](Self::status_url) names where to look (or resume, with
/// [`Resume`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolViolation {
    pub(crate) status_url: Uri,
    pub(crate) status: StatusCode,
    pub(crate) field: JsonPath,
    pub(crate) kind: ViolationKind,
}

impl ProtocolViolation {
    /// The status URL whose response broke the protocol.
    pub fn status_url(&self) -> &Uri {
        &self.status_url
    }

    /// The status code of that response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The configured status field.
    pub fn field(&self) -> &JsonPath {
        &self.field
    }

    /// What was wrong.
    pub fn kind(&self) -> &ViolationKind {
        &self.kind
    }
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the status response of {} ({}) does not say the job's state in `{}`: {}",
            self.status_url, self.status, self.field, self.kind
        )
    }
}

impl std::error::Error for ProtocolViolation {}

/// What was wrong with a status response's body: see [`ProtocolViolation`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViolationKind {
    /// The body is not one JSON document (empty, malformed, trailing data, or the field
    /// nested deeper than the JSON reader's recursion limit).
    NotJson,
    /// The body is longer than the field's peek limit (in bytes), so it was not read.
    TooLarge(usize),
    /// The body failed while it was being read.
    BodyFailed,
    /// The JSON has no such field, or it is `null`.
    MissingField,
    /// The field's value is none of the configured values (its text, or "an object",
    /// "an array").
    UnknownValue(String),
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViolationKind::NotJson => f.write_str("the body is not JSON"),
            ViolationKind::TooLarge(limit) => {
                write!(f, "the body is longer than the peek limit of {limit} bytes")
            }
            ViolationKind::BodyFailed => f.write_str("the body failed while being read"),
            ViolationKind::MissingField => f.write_str("the field is missing"),
            ViolationKind::UnknownValue(value) => {
                write!(f, "the value {value:?} is not a known state")
            }
        }
    }
}

/// Which limit stopped polling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// The layer's total polling time ([`AsyncPollLayer::time_limit`](crate::AsyncPollLayer::time_limit)).
    TimeLimit(Duration),
    /// The maximum number of polls ([`AsyncPollLayer::max_polls`](crate::AsyncPollLayer::max_polls)).
    MaxPolls(u32),
    /// The request's [`Deadline`](recourse_core::Deadline).
    Deadline,
}

impl fmt::Display for TimeoutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutReason::TimeLimit(d) => write!(f, "the polling time limit of {d:?} is reached"),
            TimeoutReason::MaxPolls(n) => write!(f, "the limit of {n} polls is reached"),
            TimeoutReason::Deadline => f.write_str("the request's deadline is reached"),
        }
    }
}

/// Polling stopped on a limit before the job reached a terminal state.
///
/// The job may still finish on the server: [`status_url`](Self::status_url) names the
/// status resource, and [`resume_request`](Self::resume_request) builds a request that
/// makes the poll layer pick up polling where it stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollTimeout {
    pub(crate) reason: TimeoutReason,
    pub(crate) status_url: Uri,
    pub(crate) last_status: Option<StatusCode>,
    pub(crate) polls: u32,
    pub(crate) elapsed: Duration,
    pub(crate) next_wait: Option<Duration>,
    pub(crate) resume: Resume,
}

impl PollTimeout {
    /// Which limit was reached.
    pub fn reason(&self) -> TimeoutReason {
        self.reason
    }

    /// The status URL (where to resume).
    pub fn status_url(&self) -> &Uri {
        &self.status_url
    }

    /// The status of the last response received: the last poll's, or the original 202's
    /// when no poll completed. `None` only for a resumed job whose first poll did not
    /// complete.
    pub fn last_status(&self) -> Option<StatusCode> {
        self.last_status
    }

    /// How many polls completed.
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// Time spent polling.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The wait the layer would have made before the next poll (`Retry-After` or the
    /// backoff), when polling stopped because that wait did not fit in the limits; `None`
    /// when a request in flight was cut off.
    pub fn next_wait(&self) -> Option<Duration> {
        self.next_wait
    }

    /// A `GET` of the status URL carrying a [`Resume`] extension: sent through the poll
    /// layer, it resumes polling (with fresh limits) and returns the final result, as the
    /// original request would have. Add the credentials the status URL needs.
    ///
    /// `body` is never sent (the polls are `GET`s without a body): any value of the
    /// stack's request body type, so that no `Default` is needed of it.
    pub fn resume_request<B>(&self, body: B) -> Request<B> {
        let mut req = Request::new(body);
        *req.uri_mut() = self.status_url.clone();
        self.resume.clone().insert_into(&mut req);
        req
    }

    /// What a request needs to resume this job: put it into any request for the status
    /// URL with [`Resume::insert_into`].
    pub fn resume(&self) -> &Resume {
        &self.resume
    }
}

impl fmt::Display for PollTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "polling {} stopped before the job finished: {} after {} polls in {:?}",
            self.status_url, self.reason, self.polls, self.elapsed
        )?;
        if let Some(status) = self.last_status {
            write!(f, " (last status {status})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PollTimeout {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn timeout() -> PollTimeout {
        PollTimeout {
            reason: TimeoutReason::MaxPolls(3),
            status_url: Uri::from_static("http://a.test/jobs/1"),
            last_status: Some(StatusCode::ACCEPTED),
            polls: 3,
            elapsed: Duration::from_secs(3),
            next_wait: Some(Duration::from_secs(1)),
            resume: Resume::default(),
        }
    }

    #[test]
    fn predicates_and_accessors() {
        let e: PollError<std::io::Error> = PollError::from_timeout(timeout());
        assert!(e.is_timeout() && !e.is_inner() && !e.is_location());
        assert_eq!(e.status_url().unwrap(), "http://a.test/jobs/1");
        let msg = e.to_string();
        assert!(msg.contains("http://a.test/jobs/1"), "{msg}");
        assert!(msg.contains("limit of 3 polls"), "{msg}");
        assert!(msg.contains("202"), "{msg}");
        assert!(e.source().is_some());
        let t = e.into_timeout().unwrap();
        assert_eq!(t.polls(), 3);
        assert_eq!(t.next_wait(), Some(Duration::from_secs(1)));
        let req: Request<()> = t.resume_request(());
        assert_eq!(req.uri(), "http://a.test/jobs/1");
        assert!(req.extensions().get::<Resume>().is_some());

        let e = PollError::from_inner(std::io::Error::other("down"), None);
        assert!(e.is_inner());
        assert_eq!(e.to_string(), "inner service failed: down");
        assert!(e.status_url().is_none());
        assert_eq!(e.into_inner().unwrap().to_string(), "down");

        let e: PollError<std::io::Error> = PollError::from_location(
            LocationError::Empty,
            http::header::LOCATION,
            Some(Uri::from_static("http://a.test/j")),
        );
        assert!(e.is_location());
        assert!(e.to_string().contains("`location`"));
        assert_eq!(e.location().unwrap().0, &LocationError::Empty);
        assert!(e.into_inner().is_err());

        // Boxed: the inner error as it is, the layer's own kinds as `PollError<Infallible>`.
        let boxed = PollError::from_inner(std::io::Error::other("down"), None).into_box_error();
        assert!(boxed.downcast_ref::<std::io::Error>().is_some());
        let boxed = PollError::<std::io::Error>::from_timeout(timeout()).into_box_error();
        let own = boxed.downcast_ref::<PollError<Infallible>>().unwrap();
        assert_eq!(own.timeout().unwrap().polls(), 3);
        assert_eq!(own.status_url().unwrap(), "http://a.test/jobs/1");

        let refused = Downgrade::check(
            &Uri::from_static("https://a.test/jobs/1"),
            &Uri::from_static("http://a.test/result"),
            &http::header::LOCATION,
        )
        .unwrap_err();
        let e: PollError<std::io::Error> =
            PollError::refused(refused, Some(Uri::from_static("https://a.test/jobs/1")));
        assert!(e.is_downgrade() && !e.is_location() && !e.is_inner() && !e.is_timeout());
        assert_eq!(
            e.to_string(),
            "refused to follow the `location` header from https to http (clear text): \
             https://a.test/jobs/1 -> http://a.test/result"
        );
        assert_eq!(e.status_url().unwrap(), "https://a.test/jobs/1");
        let d = e.downgrade().unwrap();
        assert_eq!(d.from(), "https://a.test/jobs/1");
        assert_eq!(d.to(), "http://a.test/result");
        assert_eq!(d.header(), http::header::LOCATION);
        assert!(e.source().is_some());
        assert!(format!("{e:?}").contains("Downgrade"));
    }

    #[test]
    fn registered_with_sent_the_wrapped_error_is_found() {
        PollError::<std::io::Error>::register();
        // Before any poll: the inner error is handed over.
        let e = PollError::from_inner(std::io::Error::other("refused"), None);
        let Sent::Inner(inner) = sent::verdict(&e) else {
            panic!("the inner error is handed over");
        };
        assert_eq!(
            inner.downcast_ref::<std::io::Error>().unwrap().to_string(),
            "refused"
        );
        // While polling: the original request was sent, whatever the poll's error says.
        let e = PollError::from_inner(
            std::io::Error::other("refused"),
            Some(Uri::from_static("http://a.test/jobs/1")),
        );
        assert!(matches!(sent::verdict(&e), Sent::Unknown));
        // The layer's own reasons: their public types, which answer Unknown themselves.
        let e: PollError<std::io::Error> = PollError::from_timeout(timeout());
        let Sent::Inner(own) = sent::verdict(&e) else {
            panic!("the timeout is handed over");
        };
        assert_eq!(own.downcast_ref::<PollTimeout>().unwrap().polls(), 3);
        assert!(matches!(sent::verdict(own), Sent::Unknown));
        // Another inner type is not registered by this one.
        let other = PollError::from_inner(std::fmt::Error, None);
        assert!(matches!(sent::verdict(&other), Sent::Unknown));
    }
}
