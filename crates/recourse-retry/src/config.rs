//! The layer's configuration (shared by every service and future through an `Arc`), the
//! idempotency gate, and the detection of errors that prove a request was not sent.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Uri, request};
use recourse_core::BoxError;
use recourse_core::backoff::{Backoff, FastRand, RandomSource};
use recourse_core::limits::{DEFAULT_DRAIN_LIMIT, DEFAULT_DRAIN_TIMEOUT, DEFAULT_REPLAY_LIMIT};
use recourse_core::sent::{self, Sent};
use tower::retry::budget::Budget;

use crate::budget::RetryBudget;
use crate::info::Idempotent;
use crate::origin_budget::OriginBudgets;

/// The default maximum number of retries.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The default clamp on a `Retry-After` delay: 30 s, the backoff cap.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The default name of the idempotency key header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The default name of the request id header named in the warning.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

type NotSentFn = dyn Fn(&dyn Any) -> Option<bool> + Send + Sync;
type KeyFn = dyn Fn() -> Option<HeaderValue> + Send + Sync;

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) rng: Arc<Mutex<Box<dyn RandomSource + Send>>>,
    pub(crate) max_retry_after: Duration,
    pub(crate) time_limit: Option<Duration>,
    pub(crate) budget: Option<SharedBudget>,
    pub(crate) origin_budgets: Option<Arc<OriginBudgets>>,
    pub(crate) replay_limit: usize,
    pub(crate) drain_limit: u64,
    pub(crate) drain_timeout: Duration,
    pub(crate) key_headers: Arc<[HeaderName]>,
    pub(crate) inject_key: Option<Arc<KeyFn>>,
    pub(crate) retry_non_idempotent: bool,
    pub(crate) request_id_header: HeaderName,
    pub(crate) not_sent: Option<Arc<NotSentFn>>,
    pub(crate) tag_first_attempt: bool,
    pub(crate) per_try_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: Backoff::default(),
            rng: Arc::new(Mutex::new(Box::new(FastRand::new()))),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            time_limit: None,
            budget: Some(SharedBudget::Retry(Arc::new(RetryBudget::default()))),
            origin_budgets: None,
            replay_limit: DEFAULT_REPLAY_LIMIT,
            drain_limit: DEFAULT_DRAIN_LIMIT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            key_headers: Arc::from([IDEMPOTENCY_KEY]),
            inject_key: None,
            retry_non_idempotent: false,
            request_id_header: X_REQUEST_ID,
            not_sent: None,
            tag_first_attempt: false,
            per_try_timeout: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .field("max_retry_after", &self.max_retry_after)
            .field("time_limit", &self.time_limit)
            .field("budget", &self.budget.is_some())
            .field("origin_budgets", &self.origin_budgets)
            .field("replay_limit", &self.replay_limit)
            .field("drain_limit", &self.drain_limit)
            .field("drain_timeout", &self.drain_timeout)
            .field("key_headers", &self.key_headers)
            .field("inject_key", &self.inject_key.is_some())
            .field("retry_non_idempotent", &self.retry_non_idempotent)
            .field("request_id_header", &self.request_id_header)
            .field("not_sent", &self.not_sent.is_some())
            .field("tag_first_attempt", &self.tag_first_attempt)
            .field("per_try_timeout", &self.per_try_timeout)
            .finish()
    }
}

/// The layer's budget: the default [`RetryBudget`] is called directly (its deposit is
/// inlined on the pass-through path); any other tower budget through its trait.
#[derive(Clone)]
pub(crate) enum SharedBudget {
    Retry(Arc<RetryBudget>),
    Other(Arc<dyn Budget + Send + Sync>),
}

impl SharedBudget {
    #[inline]
    pub(crate) fn deposit(&self) {
        match self {
            SharedBudget::Retry(budget) => budget.deposit(),
            SharedBudget::Other(budget) => budget.deposit(),
        }
    }

    pub(crate) fn withdraw(&self) -> bool {
        match self {
            SharedBudget::Retry(budget) => budget.withdraw(),
            SharedBudget::Other(budget) => budget.withdraw(),
        }
    }
}

impl Config {
    /// Records one request in the budget; returns the budget of its origin when the
    /// layer has one per origin.
    #[inline]
    pub(crate) fn deposit(&self, uri: &Uri) -> Option<Arc<RetryBudget>> {
        if let Some(budget) = &self.budget {
            budget.deposit();
            return None;
        }
        let budgets = self.origin_budgets.as_ref()?;
        let partition = budgets.partition(uri);
        partition.deposit();
        Some(partition)
    }

    pub(crate) fn set_not_sent<E: 'static>(
        &mut self,
        f: impl Fn(&E) -> bool + Send + Sync + 'static,
    ) {
        self.not_sent = Some(Arc::new(move |any: &dyn Any| {
            any.downcast_ref::<E>().map(&f)
        }));
    }

    pub(crate) fn set_key_generator(
        &mut self,
        f: impl Fn() -> HeaderValue + Send + Sync + 'static,
    ) {
        self.inject_key = Some(Arc::new(move || Some(f())));
    }

    pub(crate) fn enable_default_keys(&mut self) {
        self.inject_key = Some(Arc::new(random_key));
    }

    /// The idempotency gate: whether the request may be resent whatever happened to it.
    #[inline]
    pub(crate) fn is_idempotent(&self, parts: &request::Parts) -> bool {
        is_idempotent_method(&parts.method)
            || self.retry_non_idempotent
            || parts.extensions.get::<Idempotent>().is_some()
            || self
                .key_headers
                .iter()
                .any(|name| parts.headers.contains_key(name))
    }

    /// Adds an idempotency key to a POST or PATCH that has none, when injection is on.
    #[inline]
    pub(crate) fn inject_key(&self, parts: &mut request::Parts) {
        if let Some(generate) = &self.inject_key {
            self.inject_key_with(&**generate, parts);
        }
    }

    fn inject_key_with(&self, generate: &KeyFn, parts: &mut request::Parts) {
        if parts.method != Method::POST && parts.method != Method::PATCH {
            return;
        }
        let Some(name) = self.key_headers.first() else {
            return;
        };
        if self
            .key_headers
            .iter()
            .any(|name| parts.headers.contains_key(name))
        {
            return;
        }
        if let Some(value) = generate() {
            parts.headers.insert(name.clone(), value);
        }
    }

    /// Whether `error` proves the request never left: the custom check, a layer below
    /// that refused it ([`recourse_core::sent`]: the breaker), or a connect error, looked
    /// for through the errors that layers below wrap.
    pub(crate) fn not_sent<E: 'static>(&self, error: &E) -> bool {
        let mut current: &(dyn Any + 'static) = error;
        // Layers wrap errors a few deep at most; the bound guards a pathological chain.
        for _ in 0..16 {
            if let Some(check) = &self.not_sent
                && let Some(verdict) = check(current)
            {
                return verdict;
            }
            match sent::verdict(current) {
                Sent::No | Sent::Refused(_) => return true,
                Sent::Inner(inner) => current = inner,
                Sent::Unknown => break,
            }
        }
        any_as_dyn_error(current).is_some_and(is_connect_error)
    }

    /// The next backoff delay before retry `retry` (1-based).
    pub(crate) fn backoff_delay(&self, retry: u32) -> Duration {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        self.backoff.delay(retry, &mut **rng)
    }
}

/// Whether a method is idempotent (RFC 9110 §9.2.2): GET, HEAD, OPTIONS, TRACE (the safe
/// methods, §9.2.1), PUT and DELETE.
pub fn is_idempotent_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// A random 128-bit key as 32 lowercase hex digits.
fn random_key() -> Option<HeaderValue> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = fastrand::u128(..);
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = HEX[((n >> (4 * (31 - i))) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&out).ok()
}

/// The error as a `dyn Error`, for the error types whose chain can be walked without
/// knowing them statically: boxed errors, and hyper-util's and std's I/O errors.
pub(crate) fn as_dyn_error<E: 'static>(error: &E) -> Option<&(dyn StdError + 'static)> {
    any_as_dyn_error(error)
}

/// [`as_dyn_error`] for an error already seen as `dyn Any`.
fn any_as_dyn_error<'a>(any: &'a (dyn Any + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(e) = any.downcast_ref::<BoxError>() {
        return Some(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn StdError + Send>>() {
        return Some(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn StdError>>() {
        return Some(&**e);
    }
    if let Some(e) = any.downcast_ref::<std::io::Error>() {
        return Some(e);
    }
    #[cfg(feature = "hyper-util")]
    if let Some(e) = any.downcast_ref::<hyper_util::client::legacy::Error>() {
        return Some(e);
    }
    None
}

/// Whether an error, or one of its sources, says the connection could not be made, so
/// the request was never sent: a hyper-util legacy client error with
/// [`is_connect`](https://docs.rs/hyper-util/latest/hyper_util/client/legacy/struct.Error.html#method.is_connect)
/// (feature `hyper-util`), or an I/O error of kind `ConnectionRefused`.
///
/// With the feature `h2`, an HTTP/2 stream the server closed before processing it also
/// counts (RFC 9113 §8.7): a `RST_STREAM` with `REFUSED_STREAM` from the server, or a
/// graceful `GOAWAY` (`NO_ERROR`) whose last stream id is below the request's stream (h2
/// fails only those streams with it). A `GOAWAY` with an error code does not count: h2
/// then fails every open stream alike, processed or not.
///
/// This is the default "not sent" check of the layer, for errors it can see as `dyn Error`
/// (boxed errors, `std::io::Error`, hyper-util's client error). For other error types,
/// give the layer a check with `RetryLayer::not_sent_when`; this function helps write it.
pub fn is_connect_error(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    // Error chains are short; the bound only guards against a pathological `source()`.
    for _ in 0..32 {
        let Some(e) = current else {
            return false;
        };
        #[cfg(feature = "hyper-util")]
        if let Some(e) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && e.is_connect()
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        #[cfg(feature = "h2")]
        if let Some(h2) = e.downcast_ref::<h2::Error>()
            && is_unprocessed_stream(h2)
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Whether the server closed this HTTP/2 stream before processing it (RFC 9113 §8.7).
#[cfg(feature = "h2")]
fn is_unprocessed_stream(error: &h2::Error) -> bool {
    error.is_remote()
        && ((error.is_reset() && error.reason() == Some(h2::Reason::REFUSED_STREAM))
            || (error.is_go_away() && error.reason() == Some(h2::Reason::NO_ERROR)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapper")
        }
    }
    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn connect_errors_through_the_chain() {
        let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let config = Config::default();
        assert!(config.not_sent(&refused()));
        let boxed: BoxError = Box::new(Wrapper(refused()));
        assert!(config.not_sent(&boxed));
        let reset: BoxError = Box::new(Wrapper(std::io::ErrorKind::ConnectionReset.into()));
        assert!(!config.not_sent(&reset));
        // An error type the layer cannot see into is not proof.
        assert!(!config.not_sent(&Wrapper(refused())));
        assert!(!config.not_sent(&()));
    }

    /// An error type of a layer below that refuses requests, as the breaker's.
    #[derive(Debug)]
    enum Below<E> {
        Refused,
        Inner(E),
    }

    #[test]
    fn a_refusal_registered_by_a_layer_below_is_not_sent() {
        recourse_core::sent::register::<Below<std::io::Error>>(|e| match e {
            Below::Refused => Sent::No,
            Below::Inner(inner) => Sent::Inner(inner),
        });
        let config = Config::default();
        assert!(config.not_sent(&Below::<std::io::Error>::Refused));
        // Through the wrapper, the inner error is judged as usual.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(config.not_sent(&Below::Inner(refused)));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!config.not_sent(&Below::Inner(reset)));
        // The custom check sees the inner error too.
        let mut config = Config::default();
        config.set_not_sent(|e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut);
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert!(config.not_sent(&Below::Inner(timed_out)));
    }

    #[test]
    fn custom_not_sent_check() {
        let mut config = Config::default();
        config.set_not_sent(|e: &Wrapper| e.0.kind() == std::io::ErrorKind::TimedOut);
        assert!(config.not_sent(&Wrapper(std::io::ErrorKind::TimedOut.into())));
        assert!(!config.not_sent(&Wrapper(std::io::ErrorKind::ConnectionRefused.into())));
        // Other types still get the default check.
        assert!(config.not_sent(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
    }

    #[test]
    fn gate() {
        let mut config = Config::default();
        let parts = |m: Method| {
            http::Request::builder()
                .method(m)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(config.is_idempotent(&parts(m)));
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!config.is_idempotent(&parts(m)));
        }
        let mut post = parts(Method::POST);
        post.headers
            .insert("idempotency-key", HeaderValue::from_static("k1"));
        assert!(config.is_idempotent(&post));
        let mut post = parts(Method::POST);
        post.extensions.insert(Idempotent);
        assert!(config.is_idempotent(&post));
        config.key_headers = Arc::from([HeaderName::from_static("x-dedupe")]);
        let mut post = parts(Method::POST);
        post.headers
            .insert("idempotency-key", HeaderValue::from_static("k1"));
        assert!(!config.is_idempotent(&post));
        post.headers
            .insert("x-dedupe", HeaderValue::from_static("k1"));
        assert!(config.is_idempotent(&post));
        config.retry_non_idempotent = true;
        assert!(config.is_idempotent(&parts(Method::PATCH)));
    }

    #[test]
    fn key_injection() {
        let mut config = Config::default();
        let mut post = http::Request::post("/").body(()).unwrap().into_parts().0;
        config.inject_key(&mut post);
        assert!(
            post.headers.get("idempotency-key").is_none(),
            "off by default"
        );
        config.enable_default_keys();
        config.inject_key(&mut post);
        let key = post.headers.get("idempotency-key").unwrap().clone();
        assert_eq!(key.len(), 32);
        assert!(key.to_str().unwrap().bytes().all(|b| b.is_ascii_hexdigit()));
        // An existing key is kept.
        config.inject_key(&mut post);
        assert_eq!(post.headers.get_all("idempotency-key").iter().count(), 1);
        assert_eq!(post.headers["idempotency-key"], key);
        let mut get = http::Request::get("/").body(()).unwrap().into_parts().0;
        config.inject_key(&mut get);
        assert!(get.headers.is_empty(), "only POST and PATCH get a key");
        config.set_key_generator(|| HeaderValue::from_static("fixed"));
        let mut patch = http::Request::patch("/").body(()).unwrap().into_parts().0;
        config.inject_key(&mut patch);
        assert_eq!(patch.headers["idempotency-key"], "fixed");
        let a = random_key().unwrap();
        let b = random_key().unwrap();
        assert_ne!(a, b);
    }
}
