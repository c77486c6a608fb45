//! [`Ctx`]: what a request's polls need from the original request.

use std::sync::Arc;

use http::{HeaderValue, Request};
use recourse_core::{Deadline, InlineUri};

use crate::ProgressSender;
use crate::config::Config;

/// What a request's polls need from the original request, captured before it is sent.
///
/// Nothing here allocates for a request without forwarded headers: the URI clone shares
/// its bytes and the extension lookups are reads. The first forwarded header (typically
/// `Authorization`) is kept inline; only further ones need a `Vec`.
pub(crate) struct Ctx<P> {
    pub(crate) config: Arc<Config>,
    pub(crate) policy: P,
    /// The request URI (kept when absolute: a relative one resolves nothing).
    pub(crate) uri: InlineUri,
    pub(crate) forwarded: Forwarded,
    pub(crate) deadline: Option<Deadline>,
    pub(crate) progress: Option<ProgressSender>,
}

impl<P> Ctx<P> {
    #[inline(always)]
    pub(crate) fn capture<B>(req: &Request<B>, config: Arc<Config>, policy: P) -> Self {
        let mut forwarded = Forwarded::default();
        let headers = req.headers();
        if !headers.is_empty() {
            // Without credentials, only the forwarded names (after the sensitive ones).
            let skip = match config.credentials {
                crate::Credentials::Never => config.sensitive_headers.len(),
                _ => 0,
            };
            let names = config.captured.get(skip..).unwrap_or_default();
            let lengths = config.captured_lengths;
            for (name, value) in headers {
                // Most fields are rejected by their name's length alone.
                if lengths & (1 << (name.as_str().len() & 63)) == 0 {
                    continue;
                }
                if let Some(index) = names.iter().position(|wanted| wanted == name) {
                    // `captured` holds at most `u16::MAX` names.
                    let index = u16::try_from(skip + index).unwrap_or(u16::MAX);
                    forwarded.push(index, value.clone());
                }
            }
        }
        let extensions = req.extensions();
        Self {
            uri: InlineUri::capture(req.uri()),
            forwarded,
            deadline: extensions.get::<Deadline>().copied(),
            progress: extensions.get::<ProgressSender>().cloned(),
            config,
            policy,
        }
    }
}

/// Header fields captured from the original request, by their index in
/// `Config::captured`, in order: the first inline, so that the common case (one
/// `Authorization`) needs no allocation.
#[derive(Default)]
pub(crate) struct Forwarded {
    first: Option<(u16, HeaderValue)>,
    rest: Vec<(u16, HeaderValue)>,
}

impl Forwarded {
    fn push(&mut self, index: u16, value: HeaderValue) {
        if self.first.is_none() {
            self.first = Some((index, value));
        } else {
            self.rest.push((index, value));
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &HeaderValue)> {
        self.first
            .iter()
            .chain(&self.rest)
            .map(|(index, value)| (*index, value))
    }
}

impl<P: std::fmt::Debug> std::fmt::Debug for Ctx<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("policy", &self.policy)
            .field("uri", &self.uri)
            .field(
                "forwarded",
                &self
                    .forwarded
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("deadline", &self.deadline)
            .finish()
    }
}
