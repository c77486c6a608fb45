//! Behaviour tests of the whole layer on a scripted `service_fn` backend, with paused time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use recourse_core::{Class, Deadline, FinalUri, History, Live, Step};
use tokio::time::Instant;
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};

use crate::error::ViolationKind;
use crate::{
    AsyncPoll, AsyncPollLayer, Credentials, Decision, FinalState, JobStatus, PeekBody, PollError,
    PollInfo, PollOutcome, PollProgress, PollRequestBody, ProgressSender, StatusField,
    TimeoutReason,
};
use recourse_core::limits::DEFAULT_PEEK_LIMIT;

// === scripted backend ===

/// One scripted reply.
#[derive(Clone, Debug)]
struct R {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    delay: Option<Duration>,
    fail: bool,
    extension: Option<Class>,
    history: Option<Step>,
    /// A `FinalUri` as a redirect layer below would insert it.
    final_uri: Option<&'static str>,
}

fn r(status: u16) -> R {
    R {
        status,
        headers: Vec::new(),
        body: Bytes::new(),
        delay: None,
        fail: false,
        extension: None,
        history: None,
        final_uri: None,
    }
}

impl R {
    fn h(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Bytes::from(body.into());
        self
    }
    fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
    fn fail() -> Self {
        let mut reply = r(500);
        reply.fail = true;
        reply
    }
    fn class(mut self, class: Class) -> Self {
        self.extension = Some(class);
        self
    }
    fn step(mut self, step: Step) -> Self {
        self.history = Some(step);
        self
    }
    /// The response really came from `uri` (a redirect layer below followed redirects).
    fn final_uri(mut self, uri: &'static str) -> Self {
        self.final_uri = Some(uri);
        self
    }
}

/// A request as the backend saw it.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    deadline: Option<Deadline>,
    body_empty: bool,
    live: bool,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<R>>,
    last: HashMap<String, R>,
    seen: Vec<Seen>,
}

#[derive(Clone, Default)]
struct Backend(Arc<Mutex<State>>);

impl Backend {
    fn new() -> Self {
        Self::default()
    }

    /// Replies to `path` (no query) in order; the last one repeats.
    fn script(&self, path: &str, replies: impl IntoIterator<Item = R>) -> &Self {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .scripts
            .insert(path.to_owned(), replies.into_iter().collect());
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .clone()
    }

    fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.uri.path() == path)
            .collect()
    }

    fn answer(&self, req: &Request<PollRequestBody<Full<Bytes>>>) -> R {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.seen.push(Seen {
            at: Instant::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
            deadline: Deadline::of(req),
            body_empty: http_body::Body::is_end_stream(req.body()),
            live: Live::is_set(req),
        });
        let path = req.uri().path().to_owned();
        let next = state.scripts.get_mut(&path).and_then(VecDeque::pop_front);
        match next {
            Some(reply) => {
                state.last.insert(path, reply.clone());
                reply
            }
            None => state.last.get(&path).cloned().unwrap_or_else(|| r(404)),
        }
    }

    fn service(&self) -> impl BackendService + use<> {
        backend_service(self.clone())
    }
}

/// What [`Backend::service`] returns.
trait BackendService:
    Service<
        Request<PollRequestBody<Full<Bytes>>>,
        Response = Response<Full<Bytes>>,
        Error = BoxError,
        Future: Send,
    > + Clone
    + Send
{
}

impl<S> BackendService for S where
    S: Service<
            Request<PollRequestBody<Full<Bytes>>>,
            Response = Response<Full<Bytes>>,
            Error = BoxError,
            Future: Send,
        > + Clone
        + Send
{
}

fn backend_service(backend: Backend) -> impl BackendService {
    {
        service_fn(move |req: Request<PollRequestBody<Full<Bytes>>>| {
            let reply = backend.answer(&req);
            async move {
                if let Some(d) = reply.delay {
                    tokio::time::sleep(d).await;
                }
                if reply.fail {
                    return Err::<_, BoxError>("connection reset".into());
                }
                let mut res = Response::new(Full::new(reply.body));
                *res.status_mut() = StatusCode::from_u16(reply.status)?;
                for (name, value) in reply.headers {
                    res.headers_mut().append(name, value.parse()?);
                }
                if let Some(class) = reply.extension {
                    res.extensions_mut().insert(class);
                }
                if let Some(step) = reply.history {
                    History::record(&mut res, step);
                }
                if let Some(uri) = reply.final_uri {
                    FinalUri::new(uri.parse()?, None).insert_into(&mut res);
                }
                Ok(res)
            }
        })
    }
}

fn post(uri: &str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::from("payload"))
        .expect("static request")
}

fn accepted(location: &str) -> R {
    r(202).h("location", location)
}

async fn text(res: Response<PeekBody<Full<Bytes>>>) -> String {
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Gaps between consecutive requests to `path`, and from `t0` to the first.
fn gaps(backend: &Backend, path: &str, t0: Instant) -> Vec<Duration> {
    let mut last = t0;
    backend
        .seen_at(path)
        .iter()
        .map(|s| {
            let gap = s.at - last;
            last = s.at;
            gap
        })
        .collect()
}

/// Like [`gaps`], skipping the first `skip` requests to `path`.
fn gaps_after(backend: &Backend, path: &str, skip: usize, t0: Instant) -> Vec<Duration> {
    let mut last = t0;
    backend.seen_at(path)[skip..]
        .iter()
        .map(|s| {
            let gap = s.at - last;
            last = s.at;
            gap
        })
        .collect()
}

fn secs(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs(*s)).collect()
}

// === the tests ===

#[tokio::test(start_paused = true)]
async fn n_polls_then_200_with_backoff_history_and_info() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(202), r(202), r(202), r(200).body("the result")],
    );
    let svc = AsyncPollLayer::new().layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    // No Retry-After: backoff 1 s, doubling.
    assert_eq!(gaps(&backend, "/jobs/1", t0), secs(&[1, 2, 4, 8]));
    let polls = backend.seen_at("/jobs/1");
    assert!(
        polls
            .iter()
            .all(|s| s.method == Method::GET && s.body_empty)
    );
    assert_eq!(polls[0].uri, "http://api.test/jobs/1");

    let info = PollInfo::of(&res).unwrap().clone();
    assert_eq!(info.polls(), 4);
    assert_eq!(info.waited(), Duration::from_secs(15));
    assert_eq!(info.elapsed(), Duration::from_secs(15));
    assert_eq!(info.outcome(), PollOutcome::Succeeded);
    assert_eq!(info.status_url(), "http://api.test/jobs/1");
    assert!(info.result_uri().is_none());
    let history = History::of(&res).unwrap();
    assert_eq!(history.polls(), 4);
    assert_eq!(history.waited(), Duration::from_secs(15));
    let statuses: Vec<_> = history
        .steps()
        .iter()
        .map(|s| match s {
            Step::Polled {
                poll, status, uri, ..
            } => {
                assert_eq!(uri, "http://api.test/jobs/1");
                (*poll, status.as_u16())
            }
            other => panic!("unexpected step {other:?}"),
        })
        .collect();
    assert_eq!(statuses, [(1, 202), (2, 202), (3, 202), (4, 200)]);
    assert_eq!(text(res).await, "the result");
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_and_dates_are_honoured_exactly() {
    // HTTP-dates have whole seconds: start on a whole second of the (paused) wall clock.
    let now = recourse_core::clock::system_now();
    let into_second = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    tokio::time::sleep(Duration::from_secs(1) - Duration::from_nanos(into_second.into())).await;
    let backend = Backend::new();
    let date = httpdate::fmt_http_date(
        recourse_core::clock::system_now() + Duration::from_secs(3 + 5 + 7),
    );
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "3")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "5"),
            // An HTTP-date 7 s after this poll arrives (3 + 5 s from the start).
            r(202).h("retry-after", date),
            r(202).h("retry-after", "0"),
            r(200),
        ],
    );
    let svc = AsyncPollLayer::new().layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    // Retry-After: 0 is raised to the 250 ms floor.
    assert_eq!(
        gaps(&backend, "/jobs/1", t0),
        [
            Duration::from_secs(3),
            Duration::from_secs(5),
            Duration::from_secs(7),
            Duration::from_millis(250)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn garbage_retry_after_falls_back_to_backoff() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "soon")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "-1"),
            r(202).h("retry-after", "1.5"),
            r(202).h("retry-after", "Wed, 99 Oct 2015 07:29:00 GMT"),
            r(200),
        ],
    );
    let svc = AsyncPollLayer::new()
        .interval(Duration::from_millis(500), 3.0, Duration::from_secs(10))
        .layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        gaps(&backend, "/jobs/1", t0),
        [
            Duration::from_millis(500),
            Duration::from_millis(1500),
            Duration::from_millis(4500),
            Duration::from_secs(10)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn huge_retry_after_is_clamped_or_stops_with_a_resumable_timeout() {
    let backend = Backend::new();
    backend.script(
        "/start",
        [accepted("/jobs/1").h("retry-after", "1000000000000")],
    );
    backend.script("/jobs/1", [r(200)]);
    let svc = AsyncPollLayer::new()
        .max_retry_after(Duration::from_secs(60))
        .layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(gaps(&backend, "/jobs/1", t0), secs(&[60]));

    // With the default 5 min clamp and a 2 min timeout, no wait is started at all.
    let backend = Backend::new();
    backend.script(
        "/start",
        [accepted("/jobs/1").h("retry-after", "1000000000000")],
    );
    let svc = AsyncPollLayer::new()
        .time_limit(Duration::from_secs(120))
        .layer(backend.service());
    let t0 = Instant::now();
    let err = svc
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert_eq!(Instant::now(), t0, "returned at once");
    let timeout = err.timeout().unwrap();
    assert_eq!(
        timeout.reason(),
        TimeoutReason::TimeLimit(Duration::from_secs(120))
    );
    assert_eq!(timeout.next_wait(), Some(Duration::from_secs(300)));
    assert_eq!(timeout.polls(), 0);
    assert_eq!(timeout.last_status(), Some(StatusCode::ACCEPTED));
    assert_eq!(backend.seen_at("/jobs/1").len(), 0);
}

#[tokio::test(start_paused = true)]
async fn see_other_fetches_the_result() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "1"),
            r(303).h("location", "/results/1"),
        ],
    );
    backend.script("/results/1", [r(200).body("result body")]);
    let svc = AsyncPollLayer::new().layer(backend.service());
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.polls(), 2);
    assert_eq!(info.result_uri().unwrap(), "http://api.test/results/1");
    assert_eq!(History::of(&res).unwrap().polls(), 2);
    assert_eq!(text(res).await, "result body");
    let fetch = &backend.seen_at("/results/1")[0];
    assert_eq!(fetch.method, Method::GET);

    // A 303 without a Location cannot be followed: a typed error with the status URL.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(303)]);
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_location(), "{err}");
    assert_eq!(err.status_url().unwrap(), "http://api.test/jobs/1");
}

#[tokio::test(start_paused = true)]
async fn completion_from_the_body_field_with_the_body_unchanged() {
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202)
            .h("operation-location", "http://api.test/operations/9")
            .h("retry-after", "2")],
    );
    let done = r#"{"id":"9","status":"Succeeded","result":{"barcode":"0123"}}"#;
    backend.script(
        "/operations/9",
        [
            r(200).body(r#"{"id":"9","status":"NotStarted"}"#),
            r(200).body(r#"{"id":"9","status":"InProgress"}"#),
            r(200).body(done),
        ],
    );
    let svc = AsyncPollLayer::new()
        .status_headers(["operation-location", "location"])
        .status_field(StatusField::azure())
        .min_interval(Duration::from_secs(1))
        .layer(backend.service());
    let t0 = Instant::now();
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    // 2 s from the 202's Retry-After, then the backoff: its second and third steps.
    assert_eq!(gaps(&backend, "/operations/9", t0), secs(&[2, 2, 4]));
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.field(), Some("Succeeded"));
    assert_eq!(info.outcome(), PollOutcome::Succeeded);
    assert!(res.body().is_peeked());
    assert_eq!(text(res).await, done);
}

#[tokio::test(start_paused = true)]
async fn a_failed_job_returns_the_failed_status_response() {
    // By the body field...
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    let failed = r#"{"status":"failed","error":{"code":"E13"}}"#;
    backend.script(
        "/jobs/1",
        [r(200).body(r#"{"status":"running"}"#), r(200).body(failed)],
    );
    let svc = AsyncPollLayer::new()
        .status_field(StatusField::new("status"))
        .layer(backend.service());
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.outcome(), PollOutcome::Failed);
    assert_eq!(info.polls(), 2);
    assert_eq!(text(res).await, failed);

    // ...by the status code...
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(202), r(500).body("boom")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(PollInfo::of(&res).unwrap().outcome(), PollOutcome::Failed);
    assert_eq!(text(res).await, "boom");

    // ...and by the classify layer's verdict in the extensions.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(200).class(Class::ApplicationFailure)]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(PollInfo::of(&res).unwrap().outcome(), PollOutcome::Failed);
}

#[tokio::test(start_paused = true)]
async fn max_polls_gives_a_resumable_timeout() {
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202)
            .h("location", "/jobs/1")
            .h("retry-after", "1")
            .h("x", "y")],
    );
    backend.script("/jobs/1", [r(202).h("retry-after", "1")]);
    let layer = AsyncPollLayer::new()
        .max_polls(3)
        .final_state(FinalState::OriginalUri);
    let svc = layer.clone().layer(backend.service());
    let mut req = post("http://api.test/start");
    req.headers_mut()
        .insert("authorization", "Bearer t".parse().unwrap());
    let err = svc.oneshot(req).await.unwrap_err();
    assert!(err.is_timeout());
    let timeout = err.into_timeout().unwrap();
    assert_eq!(timeout.reason(), TimeoutReason::MaxPolls(3));
    assert_eq!(timeout.status_url(), "http://api.test/jobs/1");
    assert_eq!(timeout.last_status(), Some(StatusCode::ACCEPTED));
    assert_eq!(timeout.polls(), 3);
    assert_eq!(timeout.elapsed(), Duration::from_secs(3));
    assert_eq!(timeout.next_wait(), Some(Duration::from_secs(1)));
    assert_eq!(backend.seen_at("/jobs/1").len(), 3);

    // Later: the job finished; resuming polls the status URL and honours the final state.
    backend.script("/jobs/1", [r(202).h("retry-after", "2"), r(200)]);
    backend.script("/start", [r(200).body("the resource")]);
    let mut resume = timeout.resume_request(Full::<Bytes>::default());
    resume
        .headers_mut()
        .insert("authorization", "Bearer t".parse().unwrap());
    let t0 = Instant::now();
    let res = layer
        .layer(backend.service())
        .oneshot(resume)
        .await
        .unwrap();
    assert_eq!(gaps_after(&backend, "/jobs/1", 3, t0), secs(&[0, 2]));
    assert_eq!(PollInfo::of(&res).unwrap().polls(), 2);
    assert_eq!(
        PollInfo::of(&res).unwrap().result_uri().unwrap(),
        "http://api.test/start"
    );
    assert_eq!(text(res).await, "the resource");
    let polls = backend.seen_at("/jobs/1");
    assert!(
        polls[3..]
            .iter()
            .all(|s| s.headers["authorization"] == "Bearer t")
    );
    let fetch = backend.seen_at("/start").pop().unwrap();
    assert_eq!(fetch.method, Method::GET);
}

#[tokio::test(start_paused = true)]
async fn total_timeout_stops_before_a_wait_that_would_pass_it() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "2")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "2")]);
    let svc = AsyncPollLayer::new()
        .time_limit(Duration::from_secs(5))
        .layer(backend.service());
    let t0 = Instant::now();
    let err = svc
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    // Polls at 2 s and 4 s; the next would be at 6 s, past the 5 s limit.
    assert_eq!(gaps(&backend, "/jobs/1", t0), secs(&[2, 2]));
    assert_eq!(Instant::now() - t0, Duration::from_secs(4));
    let timeout = err.timeout().unwrap();
    assert_eq!(
        timeout.reason(),
        TimeoutReason::TimeLimit(Duration::from_secs(5))
    );
    assert_eq!(timeout.polls(), 2);
    let message = err.to_string();
    assert!(message.contains("http://api.test/jobs/1"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_poll_in_flight_is_cut_off_by_the_timeout() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "1"),
            r(200).delay(Duration::from_secs(3600)),
        ],
    );
    let svc = AsyncPollLayer::new()
        .time_limit(Duration::from_secs(10))
        .layer(backend.service());
    let t0 = Instant::now();
    let err = svc
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert_eq!(Instant::now() - t0, Duration::from_secs(10));
    let timeout = err.timeout().unwrap();
    assert_eq!(timeout.polls(), 1, "the poll in flight did not complete");
    assert_eq!(timeout.next_wait(), None);
    assert_eq!(timeout.last_status(), Some(StatusCode::ACCEPTED));
    // Every poll carried the effective deadline for the layers below.
    let polls = backend.seen_at("/jobs/1");
    assert!(
        polls
            .iter()
            .all(|s| s.deadline.unwrap().instant() == t0 + Duration::from_secs(10))
    );
}

#[tokio::test(start_paused = true)]
async fn the_request_deadline_is_honoured() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "2")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "2")]);
    let svc = AsyncPollLayer::new().layer(backend.service());
    let t0 = Instant::now();
    let mut req = post("http://api.test/start");
    Deadline::after(Duration::from_secs(7)).insert_into(&mut req);
    let err = svc.oneshot(req).await.unwrap_err();
    assert_eq!(gaps(&backend, "/jobs/1", t0), secs(&[2, 2, 2]));
    let timeout = err.timeout().unwrap();
    assert_eq!(timeout.reason(), TimeoutReason::Deadline);
    assert!(Instant::now() - t0 <= Duration::from_secs(7));
    assert_eq!(
        backend.seen_at("/jobs/1")[0].deadline.unwrap().instant(),
        t0 + Duration::from_secs(7)
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_stops_polling() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "1")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "1")]);
    let svc = AsyncPollLayer::new().layer(backend.service());
    let future = svc.oneshot(post("http://api.test/start"));
    let cut = tokio::time::timeout(Duration::from_millis(2500), future).await;
    assert!(cut.is_err(), "still polling when dropped");
    assert_eq!(backend.seen_at("/jobs/1").len(), 2);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        backend.seen_at("/jobs/1").len(),
        2,
        "no poll after the drop"
    );
}

#[tokio::test(start_paused = true)]
async fn credentials_go_only_to_the_same_origin() {
    for (credentials, location, expect_credentials) in [
        (
            Credentials::SameOrigin,
            "http://status.other.test/jobs/1",
            false,
        ),
        (Credentials::SameOrigin, "/jobs/1", true),
        (Credentials::SameOrigin, "https://api.test/jobs/1", false),
        (Credentials::Always, "http://status.other.test/jobs/1", true),
        (Credentials::Never, "/jobs/1", false),
    ] {
        let backend = Backend::new();
        backend.script("/start", [accepted(location)]);
        backend.script("/jobs/1", [r(200)]);
        let svc = AsyncPollLayer::new()
            .credentials(credentials)
            .forward_headers(["user-agent"])
            .layer(backend.service());
        let mut req = post("http://api.test/start");
        let h = req.headers_mut();
        h.insert("authorization", "Bearer secret".parse().unwrap());
        h.append("cookie", "a=1".parse().unwrap());
        h.append("cookie", "b=2".parse().unwrap());
        h.insert("proxy-authorization", "Basic eA==".parse().unwrap());
        h.insert("user-agent", "recourse-test".parse().unwrap());
        h.insert("content-type", "text/plain".parse().unwrap());
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let poll = backend.seen_at("/jobs/1").pop().unwrap();
        assert_eq!(
            poll.headers.contains_key("authorization"),
            expect_credentials,
            "{credentials:?} {location}"
        );
        assert_eq!(
            poll.headers.contains_key("proxy-authorization"),
            expect_credentials
        );
        let cookies: Vec<_> = poll.headers.get_all("cookie").iter().collect();
        assert_eq!(cookies.len(), if expect_credentials { 2 } else { 0 });
        assert_eq!(poll.headers["user-agent"], "recourse-test");
        assert!(!poll.headers.contains_key("content-type"));
    }
}

#[tokio::test(start_paused = true)]
async fn api_key_headers_can_be_declared_sensitive() {
    let backend = Backend::new();
    backend.script("/start", [accepted("http://elsewhere.test/jobs/1")]);
    backend.script("/jobs/1", [r(200)]);
    let svc = AsyncPollLayer::new()
        .sensitive_headers(["authorization", "x-api-key"])
        .forward_headers(["x-request-id"])
        .layer(backend.service());
    let mut req = post("http://api.test/start");
    req.headers_mut().insert("x-api-key", "k".parse().unwrap());
    req.headers_mut()
        .insert("x-request-id", "r1".parse().unwrap());
    req.headers_mut()
        .insert("user-agent", "ua".parse().unwrap());
    svc.oneshot(req).await.unwrap();
    let poll = backend.seen_at("/jobs/1").pop().unwrap();
    assert!(!poll.headers.contains_key("x-api-key"));
    assert_eq!(poll.headers["x-request-id"], "r1");
    assert!(!poll.headers.contains_key("user-agent"));
}

#[tokio::test(start_paused = true)]
async fn responses_that_start_no_job_pass_through() {
    let backend = Backend::new();
    backend.script("/ok", [r(200).body("plain")]);
    backend.script("/created", [r(201).h("location", "/things/1")]);
    backend.script("/accepted-nowhere", [r(202).body("queued")]);
    let mut svc = AsyncPollLayer::new().layer(backend.service());
    for (path, status, body) in [
        ("/ok", 200, "plain"),
        ("/created", 201, ""),
        ("/accepted-nowhere", 202, "queued"),
    ] {
        let res = svc
            .ready()
            .await
            .unwrap()
            .call(post(&format!("http://api.test{path}")))
            .await
            .unwrap();
        assert_eq!(res.status(), status);
        assert!(PollInfo::of(&res).is_none());
        assert!(!res.body().is_peeked());
        assert_eq!(text(res).await, body);
    }
    assert_eq!(backend.seen().len(), 3, "no request of the layer's own");
}

#[tokio::test(start_paused = true)]
async fn fetch_created_gets_the_new_resource() {
    let backend = Backend::new();
    backend.script("/things", [r(201).h("location", "/things/1")]);
    backend.script("/things/1", [r(200).body("thing 1")]);
    let svc = AsyncPollLayer::new()
        .fetch_created(true)
        .layer(backend.service());
    let res = svc.oneshot(post("http://api.test/things")).await.unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.polls(), 0);
    assert_eq!(info.result_uri().unwrap(), "http://api.test/things/1");
    assert_eq!(text(res).await, "thing 1");
}

#[tokio::test(start_paused = true)]
async fn final_state_via_locations() {
    // The successful status response's Location.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(200).h("location", "/made/1")]);
    backend.script("/made/1", [r(200).body("made")]);
    let res = AsyncPollLayer::new()
        .final_state(FinalState::StatusLocation)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "made");

    // The initial 202's Location, the status URL coming from Operation-Location.
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202)
            .h("operation-location", "/ops/1")
            .h("location", "/made/2")],
    );
    backend.script("/ops/1", [r(200).body(r#"{"status":"succeeded"}"#)]);
    backend.script("/made/2", [r(200).body("made 2")]);
    let res = AsyncPollLayer::new()
        .status_headers(["operation-location", "location"])
        .final_state(FinalState::InitialLocation)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().status_url(),
        "http://api.test/ops/1"
    );
    assert_eq!(text(res).await, "made 2");

    // No Location to fetch: the status response itself.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(200).body("status")]);
    let res = AsyncPollLayer::new()
        .final_state(FinalState::StatusLocation)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "status");
}

#[tokio::test(start_paused = true)]
async fn invalid_status_urls_are_typed_errors() {
    for location in ["javascript:alert(1)", "file:///etc/passwd", "http://"] {
        let backend = Backend::new();
        backend.script("/start", [accepted(location)]);
        let err = AsyncPollLayer::new()
            .layer(backend.service())
            .oneshot(post("http://api.test/start"))
            .await
            .unwrap_err();
        assert!(err.is_location(), "{location}: {err}");
        assert_eq!(backend.seen().len(), 1, "nothing polled");
    }
}

#[tokio::test(start_paused = true)]
async fn progress_callback_and_watch_channel() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "1")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "3"), r(200)]);
    let seen = Arc::new(Mutex::new(Vec::<PollProgress>::new()));
    let svc = AsyncPollLayer::new()
        .on_progress({
            let seen = seen.clone();
            move |p: &PollProgress| {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(p.clone())
            }
        })
        .layer(backend.service());
    let (tx, mut rx) = ProgressSender::channel();
    let mut req = post("http://api.test/start");
    tx.insert_into(&mut req);
    svc.oneshot(req).await.unwrap();
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].poll, 1);
    assert_eq!(seen[0].decision, Decision::Running);
    assert_eq!(seen[0].waited, Duration::from_secs(1));
    assert_eq!(seen[0].next_wait, Some(Duration::from_secs(3)));
    assert_eq!(seen[1].decision, Decision::Succeeded);
    assert_eq!(seen[1].elapsed, Duration::from_secs(4));
    assert_eq!(seen[1].next_wait, None);
    // The sender is gone with the request; the last update stays readable.
    assert_eq!(rx.borrow_and_update().as_ref(), Some(&seen[1]));
}

#[tokio::test(start_paused = true)]
async fn history_of_discarded_responses_is_carried() {
    let backend = Backend::new();
    let retried = Step::Retried {
        attempt: 2,
        status: Some(StatusCode::SERVICE_UNAVAILABLE),
        waited: Duration::from_secs(1),
    };
    backend.script("/start", [accepted("/jobs/1").step(retried.clone())]);
    backend.script("/jobs/1", [r(202).step(retried.clone()), r(200)]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    let steps = History::of(&res).unwrap().steps().to_vec();
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[0], retried);
    assert_eq!(steps[1], retried, "poll 1's own retry, before poll 1");
    assert!(matches!(steps[2], Step::Polled { poll: 1, .. }));
    assert!(matches!(steps[3], Step::Polled { poll: 2, .. }));
}

#[tokio::test(start_paused = true)]
async fn closure_policy_and_moving_status_url() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    // The first poll moves the job to another status URL.
    backend.script("/jobs/1", [r(202).h("location", "/jobs/1b")]);
    backend.script(
        "/jobs/1b",
        [
            r(200).h("x-state", "working"),
            r(200).h("x-state", "done").body("ok"),
        ],
    );
    let svc = AsyncPoll::with_policy(backend.service(), |job: &JobStatus<'_>| {
        match job.headers().get("x-state").map(|v| v.as_bytes()) {
            Some(b"working") => Decision::Running,
            Some(b"done") => Decision::Succeeded,
            _ => job.standard(),
        }
    });
    let res = svc.oneshot(post("http://api.test/start")).await.unwrap();
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.polls(), 3);
    assert_eq!(info.status_url(), "http://api.test/jobs/1b");
    assert_eq!(text(res).await, "ok");
    assert_eq!(backend.seen_at("/jobs/1b").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn inner_errors_keep_their_type_and_the_status_url() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [R::fail()]);
    let err: PollError<BoxError> = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_inner());
    assert_eq!(err.status_url().unwrap(), "http://api.test/jobs/1");
    assert!(
        err.to_string()
            .contains("while polling http://api.test/jobs/1")
    );
    assert_eq!(err.into_inner().unwrap().to_string(), "connection reset");

    let backend = Backend::new();
    backend.script("/start", [R::fail()]);
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_inner() && err.status_url().is_none());
}

#[tokio::test(start_paused = true)]
async fn bodies_over_the_limit_or_malformed_leave_it_to_the_status() {
    let big = format!(r#"{{"status":"running","pad":"{}"}}"#, "x".repeat(100_000));
    for body in [big.as_str(), "{not json", r#"{"status":"running""#] {
        let backend = Backend::new();
        backend.script("/start", [accepted("/jobs/1")]);
        backend.script("/jobs/1", [r(200).body(body)]);
        // Not strict: the status code decides (strict, the default, is tested below).
        let res = AsyncPollLayer::new()
            .status_field(StatusField::new("status").strict(false))
            .layer(backend.service())
            .oneshot(post("http://api.test/start"))
            .await
            .unwrap();
        let info = PollInfo::of(&res).unwrap();
        assert_eq!(info.outcome(), PollOutcome::Succeeded);
        assert_eq!(info.polls(), 1);
        assert_eq!(info.field(), None);
        assert_eq!(text(res).await, body, "handed over unchanged");
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_that_never_finishes_ends_within_the_defaults() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1").h("retry-after", "0")]);
    backend.script("/jobs/1", [r(202).h("retry-after", "0")]);
    let t0 = Instant::now();
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    let timeout = err.timeout().unwrap();
    assert_eq!(timeout.reason(), TimeoutReason::MaxPolls(100));
    assert_eq!(backend.seen_at("/jobs/1").len(), 100);
    assert_eq!(Instant::now() - t0, Duration::from_millis(250 * 100));
}

#[tokio::test(start_paused = true)]
async fn only_a_202_moves_the_status_url() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(200)
                .h("location", "/results/1")
                .body(r#"{"status":"running"}"#),
            r(200)
                .h("location", "/results/1")
                .body(r#"{"status":"succeeded"}"#),
        ],
    );
    let res = AsyncPollLayer::new()
        .status_field(StatusField::new("status"))
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(PollInfo::of(&res).unwrap().polls(), 2);
    assert_eq!(backend.seen_at("/jobs/1").len(), 2);
    assert!(backend.seen_at("/results/1").is_empty());
}

#[tokio::test(start_paused = true)]
async fn policy_hooks_adjust_poll_requests_and_start() {
    /// Signs every poll and treats a 200 with `x-async: 1` as the start of a job.
    #[derive(Clone)]
    struct Signing;

    impl crate::Policy for Signing {
        fn decide(&mut self, job: &JobStatus<'_>) -> Decision {
            job.standard()
        }
        fn start(&mut self, status: StatusCode, headers: &HeaderMap) -> bool {
            status == StatusCode::ACCEPTED || headers.contains_key("x-async")
        }
        fn on_request(&mut self, uri: &Uri, headers: &mut HeaderMap) {
            let signature = format!("sig:{}", uri.path());
            headers.insert("x-signature", signature.parse().expect("ascii"));
        }
    }

    let backend = Backend::new();
    backend.script(
        "/start",
        [r(200).h("x-async", "1").h("location", "/jobs/1")],
    );
    backend.script("/jobs/1", [r(202), r(200).body("done")]);
    let res = AsyncPollLayer::new()
        .policy(Signing)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "done");
    let polls = backend.seen_at("/jobs/1");
    assert_eq!(polls.len(), 2);
    assert!(
        polls
            .iter()
            .all(|p| p.headers["x-signature"] == "sig:/jobs/1")
    );
}

#[tokio::test(start_paused = true)]
async fn a_result_on_another_origin_gets_no_credentials() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(303).h("location", "https://cdn.other.test/results/1")],
    );
    backend.script("/results/1", [r(200).body("blob")]);
    let mut req = post("http://api.test/start");
    req.headers_mut()
        .insert("authorization", "Bearer secret".parse().unwrap());
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(text(res).await, "blob");
    assert_eq!(
        backend.seen_at("/jobs/1")[0].headers["authorization"],
        "Bearer secret"
    );
    let fetch = &backend.seen_at("/results/1")[0];
    assert_eq!(fetch.uri, "https://cdn.other.test/results/1");
    assert!(!fetch.headers.contains_key("authorization"));
}

#[test]
fn futures_and_bodies_are_send() {
    fn assert_send<T: Send + 'static>() {}
    type Svc = AsyncPoll<
        tower::util::BoxCloneSyncService<
            Request<PollRequestBody<Full<Bytes>>>,
            Response<Full<Bytes>>,
            BoxError,
        >,
    >;
    assert_send::<<Svc as Service<Request<Full<Bytes>>>>::Future>();
    assert_send::<PeekBody<Full<Bytes>>>();
    assert_send::<PollError<BoxError>>();
    assert_send::<AsyncPollLayer>();
}

// === https to http ===

/// Whether the backend ever saw an `http` request (the tests below send only `https`).
fn saw_clear_text(backend: &Backend) -> bool {
    backend
        .seen()
        .iter()
        .any(|s| s.uri.scheme_str() != Some("https"))
}

#[tokio::test(start_paused = true)]
async fn an_https_status_url_on_http_is_refused_unpolled() {
    for location in [
        "http://api.test/jobs/1",
        "HTTP://api.test/jobs/1",
        "http://api.test:443/jobs/1",
        "http://elsewhere.test/jobs/1",
    ] {
        let backend = Backend::new();
        backend.script("/start", [accepted(location)]);
        backend.script("/jobs/1", [r(200).body("forged")]);
        let err = AsyncPollLayer::new()
            .layer(backend.service())
            .oneshot(post("https://api.test/start"))
            .await
            .unwrap_err();
        assert!(err.is_downgrade(), "{location}: {err}");
        assert!(!err.is_location() && !err.is_inner() && !err.is_timeout());
        let downgrade = err.downgrade().unwrap();
        assert_eq!(downgrade.from(), "https://api.test/start");
        assert_eq!(downgrade.to().scheme_str(), Some("http"), "{location}");
        assert_eq!(downgrade.header(), http::header::LOCATION);
        assert!(err.status_url().is_none(), "polling never started");
        let msg = err.to_string();
        assert!(msg.contains("https to http"), "{msg}");
        assert!(msg.contains("https://api.test/start -> http://"), "{msg}");
        assert_eq!(backend.seen().len(), 1, "{location}: nothing polled");
    }

    // From another status header too, reported under that header's name.
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202).h("operation-location", "http://api.test/ops/1")],
    );
    let err = AsyncPollLayer::new()
        .status_headers(["operation-location", "location"])
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert_eq!(
        err.downgrade().unwrap().header().as_str(),
        "operation-location"
    );
    assert!(err.to_string().contains("`operation-location`"), "{err}");
    assert_eq!(backend.seen().len(), 1);

    // A 201's Location with `fetch_created`.
    let backend = Backend::new();
    backend.script(
        "/things",
        [r(201).h("location", "http://api.test/things/1")],
    );
    let err = AsyncPollLayer::new()
        .fetch_created(true)
        .layer(backend.service())
        .oneshot(post("https://api.test/things"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(backend.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn https_results_and_moved_status_urls_on_http_are_refused() {
    // A 303 from an https status resource to an http result.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "1"),
            r(303).h("location", "http://cdn.test/results/1"),
        ],
    );
    backend.script("/results/1", [r(200).body("forged")]);
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    let downgrade = err.downgrade().unwrap();
    assert_eq!(downgrade.from(), "https://api.test/jobs/1");
    assert_eq!(downgrade.to(), "http://cdn.test/results/1");
    assert_eq!(err.status_url().unwrap(), "https://api.test/jobs/1");
    assert_eq!(backend.seen_at("/jobs/1").len(), 2);
    assert!(backend.seen_at("/results/1").is_empty());
    assert!(!saw_clear_text(&backend));

    // A running 202 that moves the status URL to http.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [accepted("http://api.test/jobs/2")]);
    backend.script("/jobs/2", [r(200)]);
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(err.downgrade().unwrap().to(), "http://api.test/jobs/2");
    assert!(backend.seen_at("/jobs/2").is_empty());
    assert!(!saw_clear_text(&backend));

    // FinalState::StatusLocation: the successful status response's Location.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(200).h("location", "http://api.test/made/1")]);
    let err = AsyncPollLayer::new()
        .final_state(FinalState::StatusLocation)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert!(backend.seen_at("/made/1").is_empty());
    assert!(!saw_clear_text(&backend));

    // FinalState::InitialLocation: the original 202's Location, next to an https
    // Operation-Location.
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202)
            .h("operation-location", "/ops/1")
            .h("location", "http://api.test/made/2")],
    );
    backend.script("/ops/1", [r(200)]);
    let err = AsyncPollLayer::new()
        .status_headers(["operation-location", "location"])
        .final_state(FinalState::InitialLocation)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(
        err.downgrade().unwrap().from(),
        "https://api.test/start",
        "named by the response to the original request"
    );
    assert_eq!(backend.seen_at("/ops/1").len(), 1);
    assert!(backend.seen_at("/made/2").is_empty());
    assert!(!saw_clear_text(&backend));
}

#[tokio::test(start_paused = true)]
async fn same_scheme_and_upgrades_are_followed() {
    // https all the way, across origins.
    let backend = Backend::new();
    backend.script("/start", [accepted("https://jobs.test/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(303).h("location", "https://cdn.test/results/1")],
    );
    backend.script("/results/1", [r(200).body("result")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().result_uri().unwrap(),
        "https://cdn.test/results/1"
    );
    assert_eq!(text(res).await, "result");

    // http to https (an upgrade), then https to https.
    let backend = Backend::new();
    backend.script("/start", [accepted("https://api.test/jobs/1")]);
    backend.script("/jobs/1", [r(303).h("location", "/results/1")]);
    backend.script("/results/1", [r(200).body("upgraded")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().result_uri().unwrap(),
        "https://api.test/results/1"
    );
    assert_eq!(text(res).await, "upgraded");
    let schemes: Vec<_> = backend
        .seen()
        .iter()
        .map(|s| s.uri.scheme_str().map(str::to_owned))
        .collect();
    assert_eq!(
        schemes,
        [
            Some("http".into()),
            Some("https".into()),
            Some("https".into())
        ]
    );

    // http to http is not a downgrade.
    let backend = Backend::new();
    backend.script("/start", [accepted("http://other.test/jobs/1")]);
    backend.script("/jobs/1", [r(200).body("plain")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "plain");
}

#[tokio::test(start_paused = true)]
async fn allow_downgrade_follows_https_to_http() {
    let backend = Backend::new();
    backend.script("/start", [accepted("http://api.test/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).h("retry-after", "1"),
            r(303).h("location", "/results/1"),
        ],
    );
    backend.script("/results/1", [r(200).body("in clear text")]);
    let res = AsyncPollLayer::new()
        .allow_downgrade(true)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap();
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.status_url(), "http://api.test/jobs/1");
    assert_eq!(info.polls(), 2);
    assert_eq!(info.result_uri().unwrap(), "http://api.test/results/1");
    assert_eq!(text(res).await, "in clear text");
    // Another origin (http, not https): no credentials went along by default.
    assert_eq!(backend.seen_at("/jobs/1").len(), 2);

    // An https status resource's 303 to http, allowed.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(303).h("location", "http://cdn.test/results/1")],
    );
    backend.script("/results/1", [r(200).body("allowed")]);
    let res = AsyncPollLayer::new()
        .allow_downgrade(true)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "allowed");

    // Turned back off: refused again.
    let backend = Backend::new();
    backend.script("/start", [accepted("http://api.test/jobs/1")]);
    let err = AsyncPollLayer::new()
        .allow_downgrade(true)
        .allow_downgrade(false)
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
}

// === where the request is now (FinalUri, Live) ===

#[tokio::test(start_paused = true)]
async fn a_202_after_a_redirect_resolves_against_the_uri_that_answered() {
    let backend = Backend::new();
    // A redirect layer below followed `/v1/submit` to `/v2/submit`.
    backend.script(
        "/v1/submit",
        [accepted("status/1").final_uri("http://api.test/v2/submit")],
    );
    backend.script("/v2/status/1", [r(202), r(200).body("done")]);
    let svc = AsyncPollLayer::new().layer(backend.service());
    let res = svc
        .oneshot(post("http://api.test/v1/submit"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        PollInfo::of(&res).unwrap().status_url(),
        "http://api.test/v2/status/1"
    );
    assert_eq!(text(res).await, "done");
    assert_eq!(backend.seen_at("/v2/status/1").len(), 2);
    assert!(backend.seen_at("/v1/status/1").is_empty(), "not the 404");
}

#[tokio::test(start_paused = true)]
async fn a_201_after_a_redirect_fetches_the_resource_where_it_was_created() {
    let backend = Backend::new();
    backend.script(
        "/v1/things",
        [r(201)
            .h("location", "things/1")
            .final_uri("http://api.test/v2/things")],
    );
    backend.script("/v2/things/1", [r(200).body("thing 1")]);
    let svc = AsyncPollLayer::new()
        .fetch_created(true)
        .layer(backend.service());
    let res = svc
        .oneshot(post("http://api.test/v1/things"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.result_uri().unwrap(), "http://api.test/v2/things/1");
    assert_eq!(text(res).await, "thing 1");
    let fetch = &backend.seen_at("/v2/things/1")[0];
    assert!(!fetch.live, "a result fetch may be answered by a cache");
}

#[tokio::test(start_paused = true)]
async fn urls_in_a_redirected_status_response_resolve_where_it_came_from() {
    // The status URL itself redirects (`/v1/jobs/1` -> `/v2/jobs/1`): a relative 303
    // `Location` and a relative moved status URL resolve against `/v2/jobs/1`.
    let backend = Backend::new();
    backend.script("/start", [accepted("/v1/jobs/1")]);
    backend.script(
        "/v1/jobs/1",
        [r(303)
            .h("location", "../results/1")
            .final_uri("http://api.test/v2/jobs/1")],
    );
    backend.script("/v2/results/1", [r(200).body("result")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().result_uri().unwrap(),
        "http://api.test/v2/results/1"
    );
    assert_eq!(text(res).await, "result");

    let backend = Backend::new();
    backend.script("/start", [accepted("/v1/jobs/1")]);
    backend.script(
        "/v1/jobs/1",
        [accepted("2").final_uri("http://api.test/v2/jobs/1")],
    );
    backend.script("/v2/jobs/2", [r(200).body("done")]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(
        PollInfo::of(&res).unwrap().status_url(),
        "http://api.test/v2/jobs/2"
    );

    // `FinalState::StatusLocation` too.
    let backend = Backend::new();
    backend.script("/start", [accepted("/v1/jobs/1")]);
    backend.script(
        "/v1/jobs/1",
        [r(200)
            .h("location", "out/1")
            .final_uri("http://api.test/v2/jobs/1")],
    );
    backend.script("/v2/jobs/out/1", [r(200).body("out")]);
    let res = AsyncPollLayer::new()
        .final_state(FinalState::StatusLocation)
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "out");
}

#[tokio::test(start_paused = true)]
async fn credentials_follow_the_origin_the_request_is_at_now() {
    // (where the 202 came from, status URL, whether the credentials go along)
    for (answered_at, location, expect_credentials) in [
        // Redirected within the origin: still the origin they were given for.
        ("https://api.test/v2/submit", "status/1", true),
        // Redirected to another origin: the redirect layer dropped them there, and a status
        // URL on the new origin does not get them back.
        ("https://other.test/submit", "status/1", false),
        // Nor does a URL back on the first origin named by the other one.
        (
            "https://other.test/submit",
            "https://api.test/status/1",
            false,
        ),
    ] {
        let backend = Backend::new();
        backend.script("/v1/submit", [accepted(location).final_uri(answered_at)]);
        backend.script("/status/1", [r(200)]);
        backend.script("/v2/status/1", [r(200)]);
        let mut req = post("https://api.test/v1/submit");
        req.headers_mut()
            .insert("authorization", "Bearer secret".parse().unwrap());
        let res = AsyncPollLayer::new()
            .layer(backend.service())
            .oneshot(req)
            .await
            .unwrap();
        let status_url = PollInfo::of(&res).unwrap().status_url().clone();
        let poll = backend.seen_at(status_url.path()).pop().unwrap();
        assert_eq!(poll.uri, status_url);
        assert_eq!(
            poll.headers.contains_key("authorization"),
            expect_credentials,
            "{answered_at} {location}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_downgrade_check_starts_where_the_request_is_now() {
    // Asked over http, redirected to https below: an http status URL is a downgrade.
    let backend = Backend::new();
    backend.script(
        "/submit",
        [accepted("http://api.test/status/1").final_uri("https://api.test/v2/submit")],
    );
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/submit"))
        .await
        .unwrap_err();
    let downgrade = err.downgrade().unwrap();
    assert_eq!(downgrade.from(), "https://api.test/v2/submit");
    assert_eq!(downgrade.to(), "http://api.test/status/1");
    assert!(backend.seen_at("/status/1").is_empty());
}

#[tokio::test(start_paused = true)]
async fn status_polls_are_live_and_result_fetches_are_not() {
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script("/jobs/1", [r(202), r(303).h("location", "/results/1")]);
    backend.script("/results/1", [r(200)]);
    AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert!(!backend.seen_at("/start")[0].live, "the caller's request");
    let polls = backend.seen_at("/jobs/1");
    assert_eq!(polls.len(), 2);
    assert!(polls.iter().all(|p| p.live && p.body_empty));
    assert!(!backend.seen_at("/results/1")[0].live);

    // A resumed job's polls too.
    let backend = Backend::new();
    backend.script("/jobs/1", [r(200)]);
    AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(crate::Resume::request(
            "http://api.test/jobs/1".parse().unwrap(),
            Full::<Bytes>::default(),
        ))
        .await
        .unwrap();
    assert!(backend.seen_at("/jobs/1")[0].live);
}

/// A request body with no `Default`, streaming, like `hyper::body::Incoming`.
struct Streaming(Option<Bytes>);

impl http_body::Body for Streaming {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[tokio::test(start_paused = true)]
async fn any_request_body_type_goes_through() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let svc = service_fn(move |req: Request<PollRequestBody<Streaming>>| {
        let log = log.clone();
        async move {
            let path = req.uri().path().to_owned();
            let own = req.body().is_empty();
            let body = req.into_body().collect().await?.to_bytes();
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((path.clone(), own, body));
            let res = match path.as_str() {
                "/start" => Response::builder()
                    .status(202)
                    .header("location", "/jobs/1")
                    .body(Full::<Bytes>::default()),
                _ => Response::builder().body(Full::from("done")),
            };
            Ok::<_, BoxError>(res?)
        }
    });
    let req = Request::post("http://api.test/start")
        .body(Streaming(Some(Bytes::from_static(b"upload"))))
        .unwrap();
    let res = AsyncPollLayer::new().layer(svc).oneshot(req).await.unwrap();
    assert_eq!(text(res).await, "done");
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(
        seen,
        [
            ("/start".to_owned(), false, Bytes::from_static(b"upload")),
            ("/jobs/1".to_owned(), true, Bytes::new()),
        ]
    );
}

// === status monitors in the wild: strict status fields, result URLs in the body ===

#[tokio::test(start_paused = true)]
async fn a_status_body_that_does_not_decide_is_a_protocol_violation() {
    let big = format!(r#"{{"status":"running","pad":"{}"}}"#, "x".repeat(100_000));
    for (body, kind) in [
        ("<html>busy</html>", ViolationKind::NotJson),
        (r#"{"id":"1"}"#, ViolationKind::MissingField),
        (
            r#"{"status":"Paused"}"#,
            ViolationKind::UnknownValue("Paused".into()),
        ),
        (big.as_str(), ViolationKind::TooLarge(DEFAULT_PEEK_LIMIT)),
    ] {
        let backend = Backend::new();
        backend.script("/start", [accepted("/jobs/1")]);
        backend.script("/jobs/1", [r(200).body(body)]);
        let err = AsyncPollLayer::new()
            .status_field(StatusField::new("status"))
            .layer(backend.service())
            .oneshot(post("http://api.test/start"))
            .await
            .unwrap_err();
        assert!(err.is_protocol_violation(), "{err}");
        assert_eq!(err.status_url().unwrap(), "http://api.test/jobs/1");
        let violation = err.protocol_violation().unwrap();
        assert_eq!(violation.status_url(), "http://api.test/jobs/1");
        assert_eq!(violation.status(), StatusCode::OK);
        assert_eq!(violation.field().to_string(), "status");
        assert_eq!(violation.kind(), &kind);
        assert!(err.to_string().contains("http://api.test/jobs/1"), "{err}");
    }

    // A 202 says "running" by itself, whatever its body; the presets' leniencies decide
    // before strictness does.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [
            r(202).body("queued"),
            r(200).body(r#"{"status":"Updating"}"#),
            r(200).body(r#"{"status":"Succeeded"}"#),
        ],
    );
    let res = AsyncPollLayer::new()
        .status_field(StatusField::azure())
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(PollInfo::of(&res).unwrap().polls(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_result_url_can_come_from_a_body_field() {
    let backend = Backend::new();
    backend.script(
        "/v1/things",
        [r(202)
            .h("azure-asyncoperation", "operations/9")
            .h("location", "/v1/things/9")
            .final_uri("https://api.test/v2/things")],
    );
    backend.script(
        "/v2/operations/9",
        [
            r(200).body(r#"{"status":"InProgress"}"#),
            r(200).body(r#"{"status":"Succeeded","resourceLocation":"../things/9"}"#),
        ],
    );
    backend.script("/v2/things/9", [r(200).body("thing 9")]);
    let res = AsyncPollLayer::new()
        .status_headers(["azure-asyncoperation", "operation-location", "location"])
        .status_field(StatusField::azure())
        .layer(backend.service())
        .oneshot(post("https://api.test/v1/things"))
        .await
        .unwrap();
    let info = PollInfo::of(&res).unwrap();
    assert_eq!(info.status_url(), "https://api.test/v2/operations/9");
    assert_eq!(info.result_uri().unwrap(), "https://api.test/v2/things/9");
    assert_eq!(text(res).await, "thing 9");

    // A custom path, and an http result URL from an https status is refused.
    let backend = Backend::new();
    backend.script("/start", [accepted("/jobs/1")]);
    backend.script(
        "/jobs/1",
        [r(200).body(r#"{"job":{"state":"done","output":"http://api.test/out"}}"#)],
    );
    let err = AsyncPollLayer::new()
        .status_field(StatusField::new("job.state").result_field("job.output"))
        .layer(backend.service())
        .oneshot(post("https://api.test/start"))
        .await
        .unwrap_err();
    let downgrade = err.downgrade().unwrap();
    assert_eq!(downgrade.to(), "http://api.test/out");
    assert_eq!(downgrade.header().as_str(), "job.output");
    assert!(backend.seen_at("/out").is_empty());
}

#[tokio::test(start_paused = true)]
async fn conflicting_status_urls_are_typed_errors() {
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202).h("location", "/jobs/1").h("location", "/jobs/2")],
    );
    let err = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap_err();
    assert!(err.is_location(), "{err}");
    assert_eq!(
        err.location().unwrap().0,
        &recourse_core::headers::LocationError::Conflicting
    );
    assert!(backend.seen_at("/jobs/1").is_empty());

    // Repeats of one value are that value.
    let backend = Backend::new();
    backend.script(
        "/start",
        [r(202).h("location", "/jobs/1").h("location", "/jobs/1")],
    );
    backend.script("/jobs/1", [r(200)]);
    let res = AsyncPollLayer::new()
        .layer(backend.service())
        .oneshot(post("http://api.test/start"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
