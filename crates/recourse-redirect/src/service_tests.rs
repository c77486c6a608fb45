//! Behaviour of [`Redirect`] against in-memory `service_fn` backends.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_LOCATION,
    CONTENT_TYPE, COOKIE, HOST, LOCATION, PROXY_AUTHORIZATION,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use recourse_core::body::NotReplayable;
use recourse_core::headers::LocationError;
use recourse_core::{BoxError, Deadline, History, Step};
use recourse_testkit::body::{Frames, Stalled};
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::policy::{Action, FilterCredentials, Limited, PolicyExt, SameOriginOnly, policy_fn};
use crate::{FinalUri, NotFollowed, RedirectHistory};

type ResBody = BoxBody<Bytes, BoxError>;

/// A request as the backend saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    deadline: Option<Deadline>,
}

type Log = Arc<Mutex<Vec<Seen>>>;
type Route = Arc<dyn Fn(&Seen) -> Result<Response<ResBody>, BoxError> + Send + Sync>;

fn full(text: &'static str) -> ResBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}

fn ok(text: &'static str) -> Result<Response<ResBody>, BoxError> {
    Ok(Response::new(full(text)))
}

fn redirect(status: u16, location: &str) -> Result<Response<ResBody>, BoxError> {
    Ok(Response::builder()
        .status(status)
        .header(LOCATION, location)
        .body(full("moved"))?)
}

/// A backend that records every request (body read completely) and answers by `route`.
fn backend<B>(
    route: impl Fn(&Seen) -> Result<Response<ResBody>, BoxError> + Send + Sync + 'static,
) -> (
    impl Service<Request<RedirectBody<B>>, Response = Response<ResBody>, Error = BoxError, Future: Send>
    + Clone,
    Log,
)
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let log = Log::default();
    let route: Route = Arc::new(route);
    let recorded = log.clone();
    let svc = tower::service_fn(move |req: Request<RedirectBody<B>>| {
        let log = recorded.clone();
        let route = route.clone();
        async move {
            let deadline = Deadline::of(&req);
            let (parts, body) = req.into_parts();
            let body = body.collect().await?.to_bytes();
            let seen = Seen {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
                deadline,
            };
            let res = route(&seen);
            log.lock().unwrap().push(seen);
            res
        }
    });
    (svc, log)
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

fn post(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(CONTENT_LENGTH, body.len())
        .header(CONTENT_LANGUAGE, "en")
        .header(CONTENT_ENCODING, "identity")
        .header(CONTENT_LOCATION, "/form")
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

async fn text(res: Response<ResBody>) -> String {
    String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned()
}

#[tokio::test]
async fn pass_through_adds_nothing() {
    let (svc, log) = backend(|_| ok("plain"));
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/x"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.extensions().is_empty(), "{:?}", res.extensions());
    assert_eq!(text(res).await, "plain");
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test]
async fn non_redirect_3xx_statuses_are_returned() {
    for status in [300, 304, 305, 306] {
        let (svc, log) = backend(move |_| redirect(status, "/elsewhere"));
        let res = Redirect::new(svc)
            .oneshot(get("http://a.test/"))
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status);
        assert!(NotFollowed::of(&res).is_none());
        assert_eq!(seen(&log).len(), 1);
    }
}

#[tokio::test]
async fn temporary_and_permanent_redirects_resend_method_headers_and_body() {
    for status in [307, 308] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let (svc, log) = backend(move |s| match s.uri.path() {
                "/old" => redirect(status, "/new"),
                _ => ok("done"),
            });
            let mut req = post("http://a.test/old", "amount=10&currency=EUR");
            *req.method_mut() = method.clone();
            let res = Redirect::new(svc).oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let seen = seen(&log);
            assert_eq!(seen.len(), 2);
            let (first, second) = (&seen[0], &seen[1]);
            assert_eq!(second.method, method, "{status} {method}");
            assert_eq!(second.uri, "http://a.test/new");
            assert_eq!(second.body, "amount=10&currency=EUR");
            assert_eq!(second.body, first.body);
            assert_eq!(second.headers, first.headers, "{status} {method}");

            let history = History::of(&res).unwrap();
            assert_eq!(
                history.steps(),
                [Step::Redirected {
                    status: StatusCode::from_u16(status).unwrap(),
                    from: Uri::from_static("http://a.test/old"),
                    to: Uri::from_static("http://a.test/new"),
                }]
            );
            let hops = RedirectHistory::of(&res).unwrap();
            assert_eq!(hops.len(), 1);
            assert_eq!(hops.hops()[0].method(), method);
            assert_eq!(hops.original_uri().unwrap(), "http://a.test/old");
            assert_eq!(FinalUri::of(&res).unwrap().uri(), "http://a.test/new");
        }
    }
}

#[tokio::test]
async fn see_other_turns_everything_but_head_into_get_without_body() {
    for (method, expected) in [
        (Method::POST, Method::GET),
        (Method::PUT, Method::GET),
        (Method::DELETE, Method::GET),
        (Method::GET, Method::GET),
        (Method::HEAD, Method::HEAD),
    ] {
        let (svc, log) = backend(|s| match s.uri.path() {
            "/submit" => redirect(303, "/result"),
            _ => ok("result"),
        });
        let mut req = post("http://a.test/submit", "name=value");
        *req.method_mut() = method.clone();
        req.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        let res = Redirect::new(svc).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let seen = seen(&log);
        assert_eq!(seen.len(), 2);
        let next = &seen[1];
        assert_eq!(next.method, expected, "303 after {method}");
        if method == Method::GET || method == Method::HEAD {
            // Fetch §4.4 step 12 leaves GET and HEAD requests as they are.
            assert_eq!(next.headers, seen[0].headers);
            continue;
        }
        assert!(
            next.body.is_empty(),
            "303 after {method} must drop the body"
        );
        for name in crate::PAYLOAD_HEADERS {
            assert!(!next.headers.contains_key(&name), "{name} after {method}");
        }
        // Headers that do not describe the content stay (same origin).
        assert_eq!(next.headers[ACCEPT], "application/json");
        assert_eq!(next.headers[AUTHORIZATION], "Bearer t");
    }
}

#[tokio::test]
async fn moved_and_found_turn_only_post_into_get() {
    for status in [301, 302] {
        let route = move |s: &Seen| match s.uri.path() {
            "/a" => redirect(status, "/b"),
            _ => ok("b"),
        };
        // POST becomes GET without body or payload headers.
        let (svc, log) = backend(route);
        Redirect::new(svc)
            .oneshot(post("http://a.test/a", "x=1"))
            .await
            .unwrap();
        let next = &seen(&log)[1];
        assert_eq!(next.method, Method::GET);
        assert!(next.body.is_empty());
        assert!(!next.headers.contains_key(CONTENT_TYPE));
        assert!(!next.headers.contains_key(CONTENT_LENGTH));

        // Other methods keep their method and body.
        let (svc, log) = backend(route);
        let mut req = post("http://a.test/a", "x=2");
        *req.method_mut() = Method::PUT;
        Redirect::new(svc).oneshot(req).await.unwrap();
        let next = &seen(&log)[1];
        assert_eq!(next.method, Method::PUT);
        assert_eq!(next.body, "x=2");
        assert_eq!(
            next.headers[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );

        // The option keeps POST.
        let (svc, log) = backend(route);
        RedirectLayer::new()
            .keep_post(true)
            .layer(svc)
            .oneshot(post("http://a.test/a", "x=3"))
            .await
            .unwrap();
        let next = &seen(&log)[1];
        assert_eq!(next.method, Method::POST);
        assert_eq!(next.body, "x=3");
    }
}

#[tokio::test]
async fn relative_locations_resolve_and_fragments_are_inherited() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/a/b" => redirect(302, "c?x=1#section"),
        "/a/c" => redirect(301, "//cdn.test/final"),
        "/final" => redirect(307, "../last"),
        _ => ok("there"),
    });
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/a/b"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let uris: Vec<String> = seen(&log).iter().map(|s| s.uri.to_string()).collect();
    assert_eq!(
        uris,
        [
            "http://a.test/a/b",
            "http://a.test/a/c?x=1",
            "http://cdn.test/final",
            "http://cdn.test/last"
        ]
    );
    let last = FinalUri::of(&res).unwrap();
    assert_eq!(last.uri(), "http://cdn.test/last");
    // RFC 9110 §10.2.2: the fragment of the first Location is inherited down the chain.
    assert_eq!(last.fragment(), Some("section"));
    let hops = RedirectHistory::of(&res).unwrap().hops();
    assert_eq!(hops.len(), 3);
    assert_eq!(hops[1].status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(hops[1].from(), "http://a.test/a/c?x=1");
    assert_eq!(hops[1].to(), "http://cdn.test/final");
    assert!(hops[0].to_string().contains("302"));
}

#[tokio::test]
async fn unusable_locations_return_the_redirect_as_is() {
    let not_utf8 = HeaderValue::from_bytes(b"/caf\xe9").unwrap();
    let huge = HeaderValue::from_str(&format!("/{}", "a".repeat(70_000))).unwrap();
    let cases: Vec<(Vec<HeaderValue>, NotFollowed)> = vec![
        (vec![], NotFollowed::MissingLocation),
        (
            vec![HeaderValue::from_static("")],
            NotFollowed::Location(LocationError::Empty),
        ),
        (
            vec![HeaderValue::from_static("javascript:alert(1)")],
            NotFollowed::Location(LocationError::UnsupportedScheme("javascript".into())),
        ),
        (
            vec![HeaderValue::from_static("file:///etc/passwd")],
            NotFollowed::Location(LocationError::UnsupportedScheme("file".into())),
        ),
        (
            vec![not_utf8],
            NotFollowed::Location(LocationError::NotUtf8),
        ),
        (vec![huge], NotFollowed::Location(LocationError::TooLong)),
        (
            vec![
                HeaderValue::from_static("/one"),
                HeaderValue::from_static("/two"),
            ],
            NotFollowed::ConflictingLocations,
        ),
        (
            vec![HeaderValue::from_static("http://user:pw@evil.test/")],
            NotFollowed::CredentialsInLocation,
        ),
    ];
    for (values, reason) in cases {
        let for_route = values.clone();
        let (svc, log) = backend(move |_| {
            let mut res = Response::builder()
                .status(StatusCode::FOUND)
                .body(full("the 3xx body"))?;
            for v in &for_route {
                res.headers_mut().append(LOCATION, v.clone());
            }
            Ok(res)
        });
        let res = Redirect::new(svc)
            .oneshot(get("http://a.test/"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(NotFollowed::of(&res), Some(&reason));
        assert!(!reason.to_string().is_empty());
        assert!(FinalUri::of(&res).is_none());
        assert_eq!(text(res).await, "the 3xx body", "{reason:?}");
        assert_eq!(seen(&log).len(), 1);
    }
    // Garbage that the URI parser rejects.
    let (svc, _) = backend(|_| redirect(302, "http://[::1"));
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/"))
        .await
        .unwrap();
    assert!(matches!(
        NotFollowed::of(&res),
        Some(NotFollowed::Location(LocationError::Invalid(_)))
    ));
}

#[tokio::test]
async fn identical_repeated_locations_are_followed() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/" => Ok(Response::builder()
            .status(302)
            .header(LOCATION, "/x")
            .header(LOCATION, "/x")
            .body(full(""))?),
        _ => ok("x"),
    });
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen(&log).len(), 2);
}

/// `/n` redirects to `/n+1`, for ever.
fn endless(s: &Seen) -> Result<Response<ResBody>, BoxError> {
    let n: u64 = s.uri.path()[1..].parse()?;
    redirect(302, &format!("/{}", n + 1))
}

#[tokio::test]
async fn the_limit_is_a_typed_error_carrying_the_chain() {
    let (svc, log) = backend(endless);
    let err = Redirect::new(svc)
        .oneshot(get("http://a.test/0"))
        .await
        .unwrap_err();
    assert!(err.is_too_many_redirects(), "{err}");
    let details = err.too_many_redirects().unwrap();
    assert_eq!(details.limit(), 10);
    assert_eq!(details.chain().len(), 11);
    assert_eq!(details.chain()[10].to(), "http://a.test/11");
    assert_eq!(seen(&log).len(), 11);
    assert!(err.to_string().contains("too many redirects"));

    let (svc, log) = backend(endless);
    let err = RedirectLayer::new()
        .max_redirects(3)
        .layer(svc)
        .oneshot(get("http://a.test/0"))
        .await
        .unwrap_err();
    assert_eq!(err.too_many_redirects().unwrap().limit(), 3);
    assert_eq!(seen(&log).len(), 4);
}

#[tokio::test]
async fn at_the_limit_the_last_redirect_can_be_returned() {
    let (svc, log) = backend(endless);
    let res = RedirectLayer::new()
        .return_last_redirect(true)
        .layer(svc)
        .oneshot(get("http://a.test/0"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        NotFollowed::of(&res),
        Some(&NotFollowed::LimitReached { limit: 10 })
    );
    assert_eq!(RedirectHistory::of(&res).unwrap().len(), 10);
    assert_eq!(History::of(&res).unwrap().redirects(), 10);
    assert_eq!(FinalUri::of(&res).unwrap().uri(), "http://a.test/10");
    assert_eq!(text(res).await, "moved");
    assert_eq!(seen(&log).len(), 11);
}

#[tokio::test]
async fn a_loop_fails_at_once() {
    let route = |s: &Seen| match s.uri.path() {
        "/a" => redirect(302, "/b"),
        _ => redirect(302, "/a"),
    };
    let (svc, log) = backend(route);
    let err = Redirect::new(svc)
        .oneshot(get("http://a.test/a"))
        .await
        .unwrap_err();
    assert!(err.is_redirect_loop(), "{err}");
    let details = err.redirect_loop().unwrap();
    assert_eq!(details.uri(), "http://a.test/a");
    assert_eq!(details.method(), Method::GET);
    assert_eq!(details.chain().len(), 2);
    assert_eq!(seen(&log).len(), 2);

    // Without detection, the limit ends it.
    let (svc, log) = backend(route);
    let err = RedirectLayer::new()
        .detect_loops(false)
        .layer(svc)
        .oneshot(get("http://a.test/a"))
        .await
        .unwrap_err();
    assert!(err.is_too_many_redirects());
    assert_eq!(seen(&log).len(), 11);

    // A redirect to itself is a loop too.
    let (svc, log) = backend(|_| redirect(307, "/self"));
    let err = Redirect::new(svc)
        .oneshot(get("http://a.test/self"))
        .await
        .unwrap_err();
    assert!(err.is_redirect_loop());
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test]
async fn a_post_redirected_to_itself_as_get_is_not_a_loop() {
    let (svc, log) = backend(|s| match s.method {
        Method::POST => redirect(303, "/form"),
        _ => ok("the form"),
    });
    let res = Redirect::new(svc)
        .oneshot(post("http://a.test/form", "x"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "the form");
    assert_eq!(seen(&log).len(), 2);
}

#[tokio::test]
async fn https_to_http_is_refused_by_default() {
    let route = |s: &Seen| match s.uri.scheme_str() {
        Some("https") => redirect(302, "http://a.test/plain"),
        _ => ok("plain"),
    };
    let (svc, log) = backend(route);
    let err = Redirect::new(svc)
        .oneshot(get("https://a.test/secure"))
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(err.downgrade().unwrap().from(), "https://a.test/secure");
    assert_eq!(err.downgrade().unwrap().to(), "http://a.test/plain");
    assert_eq!(seen(&log).len(), 1);

    // A policy without the refusal follows it.
    let (svc, log) = backend(route);
    let res = Redirect::with_policy(svc, Limited::default().and(FilterCredentials::new()))
        .oneshot(get("https://a.test/secure"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen(&log).len(), 2);
}

#[tokio::test]
async fn credentials_are_removed_on_origin_change_and_stay_removed() {
    let (svc, log) = backend(|s| match (s.uri.host(), s.uri.path()) {
        (Some("a.test"), "/1") => redirect(302, "http://b.test/2"),
        (Some("b.test"), "/2") => redirect(307, "/3"),
        (Some("b.test"), "/3") => redirect(308, "http://a.test/4"),
        _ => ok("back home"),
    });
    let req = Request::post("http://a.test/1")
        .header(AUTHORIZATION, "Bearer secret")
        .header(COOKIE, "session=1")
        .header(PROXY_AUTHORIZATION, "Basic cHJveHk6cHc=")
        .header("x-api-key", "k-123")
        .header(HOST, "a.test")
        .header(ACCEPT, "*/*")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let res = RedirectLayer::new()
        .remove_on_origin_change(HeaderName::from_static("x-api-key"))
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(text(res).await, "back home");
    let seen = seen(&log);
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].headers[AUTHORIZATION], "Bearer secret");
    for later in &seen[1..] {
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
            assert!(
                !later.headers.contains_key(&name),
                "{name} sent to {}",
                later.uri
            );
        }
        assert!(!later.headers.contains_key("x-api-key"), "{}", later.uri);
        assert_eq!(later.headers[ACCEPT], "*/*");
    }
    // The 302 turned the POST into a GET; the 307/308 kept that (bodiless) GET.
    assert_eq!(seen[3].method, Method::GET);
    // The Host header the caller set follows the target.
    let hosts: Vec<&str> = seen
        .iter()
        .map(|s| s.headers[HOST].to_str().unwrap())
        .collect();
    assert_eq!(hosts, ["a.test", "b.test", "b.test", "a.test"]);
}

#[tokio::test]
async fn no_host_header_is_added() {
    let (svc, log) = backend(|s| match s.uri.host() {
        Some("a.test") => redirect(302, "http://b.test:8080/"),
        _ => ok("b"),
    });
    Redirect::new(svc)
        .oneshot(get("http://a.test/"))
        .await
        .unwrap();
    assert!(seen(&log).iter().all(|s| !s.headers.contains_key(HOST)));
}

#[tokio::test]
async fn same_origin_only_returns_cross_origin_redirects() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/1" => redirect(302, "/2"),
        "/2" => redirect(302, "https://a.test/3"),
        _ => ok("never"),
    });
    let res = Redirect::with_policy(svc, crate::Standard::default().and(SameOriginOnly))
        .oneshot(get("http://a.test/1"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(NotFollowed::of(&res), Some(&NotFollowed::CrossOrigin));
    assert_eq!(FinalUri::of(&res).unwrap().uri(), "http://a.test/2");
    assert_eq!(seen(&log).len(), 2);
}

#[tokio::test]
async fn closure_policies_stop_or_fail() {
    let route = |s: &Seen| match s.uri.path() {
        "/1" => redirect(302, "/2"),
        _ => ok("2"),
    };
    let (svc, log) = backend(route);
    let res = Redirect::with_policy(svc, policy_fn(|_| Action::stop()))
        .oneshot(get("http://a.test/1"))
        .await
        .unwrap();
    assert_eq!(NotFollowed::of(&res), Some(&NotFollowed::Stopped));
    assert_eq!(seen(&log).len(), 1);

    let (svc, _) = backend(route);
    let err = RedirectLayer::new()
        .policy(policy_fn(|a| {
            if a.location().path() == "/2" {
                Action::error("no /2 for you")
            } else {
                Action::follow()
            }
        }))
        .layer(svc)
        .oneshot(get("http://a.test/1"))
        .await
        .unwrap_err();
    assert!(err.is_policy_error());
    assert_eq!(err.chain().len(), 1);
    assert!(err.to_string().contains("no /2 for you"), "{err}");
}

/// A streaming request body: the chunks, one frame per poll, length unknown.
fn streaming(chunks: &[&'static str]) -> Frames {
    Frames::data(chunks.iter().copied())
}

#[tokio::test]
async fn a_streamed_body_within_the_cap_is_replayed() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/old" => redirect(307, "/new"),
        _ => ok("ok"),
    });
    let req = Request::post("http://a.test/old")
        .body(streaming(&["chunk one, ", "chunk two"]))
        .unwrap();
    let res = RedirectLayer::new()
        .replay_limit(64)
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = seen(&log);
    assert_eq!(seen[1].body, "chunk one, chunk two");
    assert_eq!(seen[1].method, Method::POST);
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_is_sent_once_and_the_307_comes_back() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/old" => redirect(307, "/new"),
        _ => ok("ok"),
    });
    let req = Request::post("http://a.test/old")
        .body(streaming(&["0123456789", "0123456789", "0123456789"]))
        .unwrap();
    let res = RedirectLayer::new()
        .replay_limit(16)
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        NotFollowed::of(&res),
        Some(&NotFollowed::BodyNotReplayable(NotReplayable::TooLarge {
            limit: 16
        }))
    );
    let first = seen(&log);
    assert_eq!(first.len(), 1, "the body must be sent once, never empty");
    assert_eq!(first[0].body.len(), 30);

    // A 303 needs no body: it is followed even so.
    let (svc, log) = backend(|s| match s.uri.path() {
        "/old" => redirect(303, "/new"),
        _ => ok("ok"),
    });
    let req = Request::post("http://a.test/old")
        .body(streaming(&["0123456789", "0123456789"]))
        .unwrap();
    let res = RedirectLayer::new()
        .replay_limit(4)
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen(&log)[1].method, Method::GET);
}

#[tokio::test(start_paused = true)]
async fn no_hop_starts_after_the_deadline() {
    let (svc, log) = backend(|s| match s.uri.path() {
        "/slow" => redirect(302, "/next"),
        _ => ok("next"),
    });
    let slow = tower::service_fn(move |req: Request<RedirectBody<Full<Bytes>>>| {
        let mut svc = svc.clone();
        async move {
            if req.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            svc.ready().await?.call(req).await
        }
    });
    let mut req = get("http://a.test/slow");
    Deadline::after(Duration::from_secs(1)).insert_into(&mut req);
    let err = Redirect::new(slow.clone()).oneshot(req).await.unwrap_err();
    assert!(err.is_deadline_expired(), "{err}");
    assert_eq!(
        err.deadline_expired().unwrap().next().unwrap(),
        "http://a.test/next"
    );
    assert_eq!(seen(&log).len(), 1);

    // With time left, the hop starts and carries the deadline (and every extension).
    let mut req = get("http://a.test/slow");
    Deadline::after(Duration::from_secs(10)).insert_into(&mut req);
    let res = Redirect::new(slow).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = seen(&log);
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].deadline, seen[1].deadline);
    assert!(seen[2].deadline.is_some());
}

#[tokio::test(start_paused = true)]
async fn draining_a_stalled_redirect_body_is_bounded_in_time() {
    let (svc, _) = backend(|s| match s.uri.path() {
        "/old" => Ok(Response::builder()
            .status(302)
            .header(LOCATION, "/new")
            .body(Stalled::new().boxed())?),
        _ => ok("new"),
    });
    let start = tokio::time::Instant::now();
    let res = RedirectLayer::new()
        .drain_timeout(Duration::from_millis(250))
        .layer(svc.clone())
        .oneshot(get("http://a.test/old"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "new");
    assert_eq!(start.elapsed(), Duration::from_millis(250));

    // A deadline closer than the drain timeout bounds the drain too, then stops the chain.
    let mut req = get("http://a.test/old");
    Deadline::after(Duration::from_millis(100)).insert_into(&mut req);
    let start = tokio::time::Instant::now();
    let err = Redirect::new(svc.clone()).oneshot(req).await.unwrap_err();
    assert!(err.is_deadline_expired());
    assert_eq!(start.elapsed(), Duration::from_millis(100));

    // Draining can be turned off: the body is dropped unread.
    let start = tokio::time::Instant::now();
    let res = RedirectLayer::new()
        .drain_limit(0)
        .layer(svc)
        .oneshot(get("http://a.test/old"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn inner_history_is_carried_in_order() {
    let (svc, _) = backend(|s| {
        let mut res = match s.uri.path() {
            "/1" => redirect(302, "/2")?,
            _ => ok("2")?,
        };
        History::record(
            &mut res,
            Step::Retried {
                attempt: 2,
                status: Some(StatusCode::SERVICE_UNAVAILABLE),
                waited: Duration::from_secs(1),
            },
        );
        Ok(res)
    });
    let res = Redirect::new(svc)
        .oneshot(get("http://a.test/1"))
        .await
        .unwrap();
    let steps = History::of(&res).unwrap().steps();
    assert_eq!(steps.len(), 3);
    assert!(matches!(steps[0], Step::Retried { .. }));
    assert!(matches!(steps[1], Step::Redirected { .. }));
    assert!(matches!(steps[2], Step::Retried { .. }));
}

#[tokio::test]
async fn inner_errors_keep_their_type_and_the_chain() {
    let (svc, _) = backend(|s| match s.uri.path() {
        "/1" => redirect(302, "/2"),
        _ => Err("connection reset".into()),
    });
    let err = Redirect::new(svc)
        .oneshot(get("http://a.test/1"))
        .await
        .unwrap_err();
    assert!(err.is_inner());
    assert_eq!(err.chain().len(), 1);
    assert_eq!(err.to_string(), "connection reset");
    assert_eq!(err.into_inner().unwrap().to_string(), "connection reset");
}

#[tokio::test]
async fn readiness_errors_are_inner_errors() {
    #[derive(Clone)]
    struct NeverReady;
    impl Service<Request<RedirectBody<Full<Bytes>>>> for NeverReady {
        type Response = Response<ResBody>;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<Response<ResBody>, std::io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
            Poll::Ready(Err(std::io::Error::other("overloaded")))
        }
        fn call(&mut self, _: Request<RedirectBody<Full<Bytes>>>) -> Self::Future {
            std::future::ready(Err(std::io::Error::other("not ready")))
        }
    }
    let err = Redirect::new(NeverReady)
        .oneshot(get("http://a.test/"))
        .await
        .unwrap_err();
    assert!(err.is_inner());
    assert_eq!(err.inner().unwrap().to_string(), "overloaded");
}

#[test]
fn builders_and_accessors() {
    let layer = RedirectLayer::new()
        .max_redirects(4)
        .return_last_redirect(true)
        .remove_on_origin_change(HeaderName::from_static("x-token"))
        .drain_limit(10)
        .drain_timeout(Duration::from_millis(5))
        .replay_limit(100)
        .keep_post(true)
        .detect_loops(false);
    let limited = layer.get_policy().get_limited();
    assert_eq!(limited.max(), 4);
    assert!(limited.returns_last());
    assert_eq!(
        layer
            .get_policy()
            .get_filter_credentials()
            .extra_headers()
            .len(),
        1
    );
    let mut svc = tower::Layer::layer(&layer, 7u8);
    assert_eq!(*svc.get_ref(), 7);
    *svc.get_mut() = 8;
    assert_eq!(svc.config.replay_limit, 100);
    assert!(svc.config.keep_post);
    assert!(!svc.config.detect_loops);
    let svc = Redirect::with_policy(svc.into_inner(), SameOriginOnly);
    assert_eq!(svc.get_policy(), &SameOriginOnly);
    assert_eq!(svc.into_inner(), 8);
    let _ = Redirect::<u8>::layer().policy(SameOriginOnly);
}
