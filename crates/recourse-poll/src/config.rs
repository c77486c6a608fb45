//! The layer's settings, shared by every request through an `Arc`.

use std::fmt;
use std::time::Duration;

use http::HeaderName;
use http::header::LOCATION;
use recourse_core::backoff::{Backoff, Jitter};
use recourse_core::limits::{DEFAULT_DRAIN_LIMIT, DEFAULT_DRAIN_TIMEOUT};
use recourse_core::origin::CREDENTIAL_HEADERS;

use crate::StatusField;
use crate::progress::Callback;

/// When the original request's credentials (`Authorization`, `Cookie`,
/// `Proxy-Authorization` and any other [sensitive header](crate::AsyncPollLayer::sensitive_headers))
/// go along with polls and result fetches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// Only where the request still is at the origin (scheme, host, port) they were
    /// given for, and only to URLs on that origin (the default; RFC 6454 §4, as browsers
    /// and the redirect layer do). The origin the request is at is the one that answered
    /// the response naming the URL ([`FinalUri`](recourse_core::FinalUri)): after a
    /// redirect below this layer to another origin (which dropped the credentials), the
    /// status and result URLs that origin names never get them back, even URLs on the
    /// first origin (the Fetch standard never restores credentials a redirect removed).
    #[default]
    SameOrigin,
    /// Always (only for status services you trust at any origin).
    Always,
    /// Never.
    Never,
}

/// Where the result of a successful job is ("final state via", as Azure's
/// `x-ms-long-running-operation-options` call it).
///
/// A 303 See Other always means "the result is at my `Location`" (RFC 9110 §15.4.4),
/// whatever this setting says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinalState {
    /// The last status response is the result (the default; Google LRO, Azure
    /// `azure-async-operation` / `operation-location`).
    #[default]
    StatusResource,
    /// `GET` the `Location` of the successful status response (the status response
    /// itself when it has none).
    StatusLocation,
    /// `GET` the `Location` of the original 202 (Azure `location`), when the status URL
    /// came from another header such as `Operation-Location` (the status response itself
    /// when the 202 had no other `Location`).
    InitialLocation,
    /// `GET` the original request's URI (Azure `original-uri`, for PUT and PATCH).
    OriginalUri,
}

/// Everything configurable, behind an `Arc` in the layer and the service.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) status_headers: Vec<HeaderName>,
    pub(crate) forward_headers: Vec<HeaderName>,
    pub(crate) sensitive_headers: Vec<HeaderName>,
    /// The sensitive headers, then the forwarded ones (capped at `u16::MAX` names):
    /// captured fields are stored by their index here.
    pub(crate) captured: Vec<HeaderName>,
    /// Bit `len % 64` is set for the length of each captured name: a quick filter.
    pub(crate) captured_lengths: u64,
    pub(crate) credentials: Credentials,
    pub(crate) backoff: Backoff,
    pub(crate) min_interval: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) time_limit: Option<Duration>,
    pub(crate) max_polls: u32,
    pub(crate) field: Option<StatusField>,
    pub(crate) final_state: FinalState,
    pub(crate) fetch_created: bool,
    /// Whether a URL named by a response to an `https` request may be `http`.
    pub(crate) allow_downgrade: bool,
    pub(crate) drain_limit: u64,
    pub(crate) drain_timeout: Duration,
    pub(crate) on_progress: Option<Callback>,
}

/// The length filter of a list of names: bit `len % 64` set for each.
fn lengths(names: &[HeaderName]) -> u64 {
    names
        .iter()
        .fold(0, |mask, name| mask | 1 << (name.as_str().len() & 63))
}

/// Default first interval of the backoff when a 202 has no `Retry-After`.
pub(crate) const DEFAULT_INITIAL_INTERVAL: Duration = Duration::from_secs(1);
/// Default cap of the backoff.
pub(crate) const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(30);

impl Default for Config {
    fn default() -> Self {
        Self {
            status_headers: vec![LOCATION],
            forward_headers: Vec::new(),
            sensitive_headers: CREDENTIAL_HEADERS.to_vec(),
            captured: CREDENTIAL_HEADERS.to_vec(),
            captured_lengths: lengths(&CREDENTIAL_HEADERS),
            credentials: Credentials::SameOrigin,
            backoff: Backoff::exponential(DEFAULT_INITIAL_INTERVAL, DEFAULT_MAX_INTERVAL)
                .with_jitter(Jitter::None),
            min_interval: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(5 * 60),
            time_limit: Some(Duration::from_secs(10 * 60)),
            max_polls: 100,
            field: None,
            final_state: FinalState::StatusResource,
            fetch_created: false,
            allow_downgrade: false,
            drain_limit: DEFAULT_DRAIN_LIMIT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            on_progress: None,
        }
    }
}

impl Config {
    /// Rebuilds [`captured`](Self::captured) after the header lists changed. A name in
    /// both lists counts as sensitive.
    pub(crate) fn rebuild_captured(&mut self) {
        let mut captured: Vec<HeaderName> = Vec::new();
        for name in &self.sensitive_headers {
            if !captured.contains(name) {
                captured.push(name.clone());
            }
        }
        self.sensitive_headers = captured.clone();
        for name in &self.forward_headers {
            if !captured.contains(name) {
                captured.push(name.clone());
            }
        }
        captured.truncate(usize::from(u16::MAX));
        self.forward_headers =
            captured[self.sensitive_headers.len().min(captured.len())..].to_vec();
        self.captured_lengths = lengths(&captured);
        self.captured = captured;
    }

    /// The name of a captured field and whether it is sensitive.
    pub(crate) fn captured_name(&self, index: u16) -> Option<(&HeaderName, bool)> {
        let index = usize::from(index);
        self.captured
            .get(index)
            .map(|name| (name, index < self.sensitive_headers.len()))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("status_headers", &self.status_headers)
            .field("forward_headers", &self.forward_headers)
            .field("sensitive_headers", &self.sensitive_headers)
            .field("credentials", &self.credentials)
            .field("backoff", &self.backoff)
            .field("min_interval", &self.min_interval)
            .field("max_retry_after", &self.max_retry_after)
            .field("time_limit", &self.time_limit)
            .field("max_polls", &self.max_polls)
            .field("field", &self.field)
            .field("final_state", &self.final_state)
            .field("fetch_created", &self.fetch_created)
            .field("allow_downgrade", &self.allow_downgrade)
            .field("on_progress", &self.on_progress.as_ref().map(|_| ".."))
            .finish()
    }
}
