//! The redirect layer in front of hyper-util's client, against real testkit servers on
//! 127.0.0.1.

use std::time::Duration;

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION, PROXY_AUTHORIZATION,
};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use recourse_core::body::NotReplayable;
use recourse_core::headers::LocationError;
use recourse_core::{BoxError, Deadline, History};
use recourse_redirect::{
    FinalUri, NotFollowed, Redirect, RedirectBody, RedirectError, RedirectHistory, RedirectLayer,
};
use recourse_testkit::body::Frames;
use recourse_testkit::{Recorded, Reply, Simulator, TestServer, refused_uri};
use tower::{Layer, Service, ServiceExt};

type HttpClient<B> = Client<HttpConnector, RedirectBody<B>>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

fn client() -> HttpClient<Full<Bytes>> {
    client_for()
}

fn empty() -> Full<Bytes> {
    Full::default()
}

fn client_for<B>() -> HttpClient<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Client::builder(TokioExecutor::new()).build_http()
}

async fn text(res: Response<Incoming>) -> Result<Bytes> {
    Ok(res.into_body().collect().await?.to_bytes())
}

fn payload(len: usize) -> Bytes {
    (0..=255u8).cycle().take(len).collect::<Vec<u8>>().into()
}

fn redirect_to(status: u16, location: &str) -> Reply {
    Reply::status(status)
        .header("location", location)
        .body("moved")
}

#[tokio::test]
async fn post_through_307_reaches_the_target_with_the_same_method_and_bytes() -> Result<()> {
    let sim = Simulator::start().await;
    // Larger than the replay cap: a body already in memory is shared, never capped.
    let body = payload(100_000);
    let req = Request::post(sim.uri("/barcode/old"))
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(Full::new(body.clone()))?;
    let res = Redirect::new(client()).oneshot(req).await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-echo-method"], "POST");
    assert_eq!(FinalUri::of(&res).unwrap().uri(), &sim.uri("/barcode/new"));
    assert_eq!(History::of(&res).unwrap().redirects(), 1);
    assert_eq!(text(res).await?, body);

    let old = sim.requests_to("/barcode/old");
    let new = sim.requests_to("/barcode/new");
    assert_eq!((old.len(), new.len()), (1, 1));
    assert_eq!(new[0].method, Method::POST);
    assert_eq!(
        new[0].body, body,
        "the target must see the byte-identical body"
    );
    assert_eq!(new[0].headers[CONTENT_TYPE], "application/octet-stream");
    assert_eq!(old[0].body, body);
    Ok(())
}

#[tokio::test]
async fn put_through_308_keeps_method_and_body() -> Result<()> {
    let sim = Simulator::start().await;
    let req = Request::put(sim.uri("/barcode/permanent")).body(Full::new(payload(3000)))?;
    // The response future is `Send + 'static` around hyper's client: it can be spawned.
    let res = tokio::spawn(Redirect::new(client()).oneshot(req)).await??;
    assert_eq!(res.headers()["x-echo-method"], "PUT");
    assert_eq!(text(res).await?, payload(3000));
    Ok(())
}

#[tokio::test]
async fn see_other_after_post_is_a_get_without_body_or_payload_headers() -> Result<()> {
    let sim = Simulator::start().await;
    let req = Request::post(sim.uri("/barcode/see-other"))
        .header(CONTENT_TYPE, "application/json")
        .header("content-language", "en")
        .header("x-request-id", "42")
        .body(Full::new(Bytes::from_static(
            b"{\"Data\":\"012345678901\"}",
        )))?;
    let res = Redirect::new(client()).oneshot(req).await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-echo-method"], "GET");
    let new = &sim.requests_to("/barcode/new")[0];
    assert_eq!(new.method, Method::GET);
    assert!(new.body.is_empty());
    for name in [CONTENT_TYPE, CONTENT_LENGTH] {
        assert!(
            !new.headers.contains_key(&name),
            "{name}: {:?}",
            new.headers
        );
    }
    assert!(!new.headers.contains_key("content-language"));
    assert!(!new.headers.contains_key("transfer-encoding"));
    assert_eq!(new.headers["x-request-id"], "42");
    Ok(())
}

#[tokio::test]
async fn moved_and_found_change_only_post() -> Result<()> {
    let sim = Simulator::start().await;
    for path in ["/barcode/moved", "/barcode/found"] {
        let res = Redirect::new(client())
            .oneshot(Request::post(sim.uri(path)).body(Full::new(payload(10)))?)
            .await?;
        assert_eq!(res.headers()["x-echo-method"], "GET", "{path}");
        assert_eq!(text(res).await?, "");

        let res = Redirect::new(client())
            .oneshot(Request::put(sim.uri(path)).body(Full::new(payload(10)))?)
            .await?;
        assert_eq!(res.headers()["x-echo-method"], "PUT", "{path}");
        assert_eq!(text(res).await?, payload(10));

        let res = RedirectLayer::new()
            .keep_post(true)
            .layer(client())
            .oneshot(Request::post(sim.uri(path)).body(Full::new(payload(10)))?)
            .await?;
        assert_eq!(res.headers()["x-echo-method"], "POST", "{path}");
        assert_eq!(text(res).await?, payload(10));
    }
    Ok(())
}

#[tokio::test]
async fn credentials_never_reach_another_origin_even_coming_back() -> Result<()> {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    a.script(
        "/start",
        [redirect_to(302, &format!("{}/collect", b.base()))],
    );
    b.script("/collect", [redirect_to(307, "/again")]);
    b.script("/again", [redirect_to(308, &format!("{}/final", a.base()))]);
    a.script("/final", [Reply::ok().body("done")]);

    let req = Request::get(a.uri("/start"))
        .header(AUTHORIZATION, "Bearer top-secret")
        .header(COOKIE, "session=abc")
        .header(PROXY_AUTHORIZATION, "Basic cHJveHk6cHc=")
        .header("x-trace", "t1")
        .body(empty())?;
    let res = Redirect::new(client()).oneshot(req).await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(RedirectHistory::of(&res).unwrap().len(), 3);
    assert_eq!(text(res).await?, "done");

    let start = &a.requests_to("/start")[0];
    assert_eq!(start.headers[AUTHORIZATION], "Bearer top-secret");
    let later: Vec<Recorded> = b
        .requests()
        .into_iter()
        .chain(a.requests_to("/final"))
        .collect();
    assert_eq!(later.len(), 3);
    for req in &later {
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
            assert!(
                !req.headers.contains_key(&name),
                "{name} leaked to {}",
                req.uri
            );
        }
        assert_eq!(req.headers["x-trace"], "t1");
    }
    Ok(())
}

/// Stands in for a TLS connector: sends `https` URIs to the same host and port over plain
/// HTTP, so that a loopback test can see an `https` origin redirect.
fn tls_stub(
    client: HttpClient<Full<Bytes>>,
) -> impl Service<
    Request<RedirectBody<Full<Bytes>>>,
    Response = Response<Incoming>,
    Error = hyper_util::client::legacy::Error,
    Future: Send,
> + Clone {
    tower::service_fn(move |mut req: Request<RedirectBody<Full<Bytes>>>| {
        let client = client.clone();
        async move {
            if req.uri().scheme_str() == Some("https") {
                let mut parts = req.uri().clone().into_parts();
                parts.scheme = Some(http::uri::Scheme::HTTP);
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
            }
            client.request(req).await
        }
    })
}

#[tokio::test]
async fn https_to_http_is_refused() -> Result<()> {
    let server = TestServer::start().await;
    server.script(
        "/secure",
        [redirect_to(302, &format!("{}/plain", server.base()))],
    );
    server.script("/plain", [Reply::ok()]);
    let secure = format!("https://{}/secure", server.addr());
    let err = Redirect::new(tls_stub(client()))
        .oneshot(Request::get(secure.as_str()).body(empty())?)
        .await
        .unwrap_err();
    assert!(err.is_downgrade(), "{err}");
    assert_eq!(err.downgrade().unwrap().from(), secure.as_str());
    assert_eq!(server.count("/secure"), 1);
    assert_eq!(server.count("/plain"), 0);
    Ok(())
}

#[tokio::test]
async fn a_loop_is_an_error_at_once() -> Result<()> {
    let server = TestServer::start().await;
    server.fallback("/a", redirect_to(302, "/b"));
    server.fallback("/b", redirect_to(301, "/a"));
    let err = Redirect::new(client())
        .oneshot(Request::get(server.uri("/a")).body(empty())?)
        .await
        .unwrap_err();
    assert!(err.is_redirect_loop(), "{err}");
    assert_eq!(err.redirect_loop().unwrap().uri(), &server.uri("/a"));
    assert_eq!((server.count("/a"), server.count("/b")), (1, 1));
    Ok(())
}

fn endless(server: &TestServer) {
    server.handle_prefix("/n/", |req: &Recorded| {
        let n: u64 = req.path["/n/".len()..].parse().unwrap_or(0);
        redirect_to(302, &format!("/n/{}", n + 1))
    });
}

#[tokio::test]
async fn the_limit_stops_a_chain_of_a_thousand_redirects() -> Result<()> {
    let server = TestServer::start().await;
    endless(&server);
    let err = Redirect::new(client())
        .oneshot(Request::get(server.uri("/n/0")).body(empty())?)
        .await
        .unwrap_err();
    assert!(err.is_too_many_redirects(), "{err}");
    let details = err.too_many_redirects().unwrap();
    assert_eq!(details.limit(), 10);
    assert_eq!(details.chain().len(), 11);
    assert_eq!(details.chain()[0].from(), &server.uri("/n/0"));
    assert_eq!(server.total(), 11);

    // Or the last 3xx comes back, as it is.
    let res = RedirectLayer::new()
        .max_redirects(5)
        .return_last_redirect(true)
        .layer(client())
        .oneshot(Request::get(server.uri("/n/0")).body(empty())?)
        .await?;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        NotFollowed::of(&res),
        Some(&NotFollowed::LimitReached { limit: 5 })
    );
    assert_eq!(FinalUri::of(&res).unwrap().uri(), &server.uri("/n/5"));
    assert_eq!(text(res).await?, "moved");
    assert_eq!(server.total(), 11 + 6);
    Ok(())
}

#[tokio::test]
async fn relative_locations_resolve_against_the_current_uri() -> Result<()> {
    let server = TestServer::start().await;
    server.script("/dir/page", [redirect_to(302, "../other/x?y=1#top")]);
    server.script("/other/x", [redirect_to(307, "z")]);
    server.script("/other/z", [Reply::ok().body("here")]);
    let res = Redirect::new(client())
        .oneshot(Request::get(server.uri("/dir/page")).body(empty())?)
        .await?;
    let last = FinalUri::of(&res).unwrap().clone();
    assert_eq!(last.uri(), &server.uri("/other/z"));
    assert_eq!(last.fragment(), Some("top"));
    assert_eq!(text(res).await?, "here");
    assert_eq!(server.requests_to("/other/x")[0].uri, "/other/x?y=1");
    Ok(())
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_is_sent_once_and_the_307_returned() -> Result<()> {
    let sim = Simulator::start().await;
    let chunk = payload(32 * 1024);
    let body = Frames::data([chunk.clone(), chunk.clone(), chunk.clone()]);
    let res = RedirectLayer::new()
        .replay_limit(16 * 1024)
        .layer(client_for::<Frames>())
        .oneshot(Request::post(sim.uri("/barcode/old")).body(body)?)
        .await?;
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        NotFollowed::of(&res),
        Some(&NotFollowed::BodyNotReplayable(NotReplayable::TooLarge {
            limit: 16 * 1024
        }))
    );
    let old = sim.requests_to("/barcode/old");
    assert_eq!(old.len(), 1, "sent once");
    assert_eq!(old[0].body.len(), 3 * 32 * 1024);
    assert_eq!(sim.count("/barcode/new"), 0, "never resent, never empty");

    // Within the cap, the stream is replayed byte for byte.
    let body = Frames::data([chunk.clone(), chunk.clone()]);
    let res = Redirect::new(client_for::<Frames>())
        .oneshot(Request::post(sim.uri("/barcode/old")).body(body)?)
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let new = &sim.requests_to("/barcode/new")[0];
    assert_eq!(new.method, Method::POST);
    assert_eq!(new.body.len(), 2 * 32 * 1024);
    assert_eq!(new.body, [chunk.clone(), chunk].concat());
    Ok(())
}

#[tokio::test]
async fn unusable_locations_come_back_as_they_are() -> Result<()> {
    let server = TestServer::start().await;
    server.fallback("/missing", Reply::status(302).body("moved"));
    server.fallback("/js", redirect_to(302, "javascript:alert(document.cookie)"));
    server.fallback("/file", redirect_to(301, "file:///etc/passwd"));
    server.fallback("/garbage", redirect_to(307, "http://[::1"));
    server.fallback(
        "/bytes",
        Reply::status(303)
            .typed_header(LOCATION, HeaderValue::from_bytes(b"/caf\xe9")?)
            .body("moved"),
    );
    let cases = [
        ("/missing", NotFollowed::MissingLocation),
        (
            "/js",
            NotFollowed::Location(LocationError::UnsupportedScheme("javascript".into())),
        ),
        (
            "/file",
            NotFollowed::Location(LocationError::UnsupportedScheme("file".into())),
        ),
        ("/bytes", NotFollowed::Location(LocationError::NotUtf8)),
    ];
    for (path, reason) in cases {
        let res = Redirect::new(client())
            .oneshot(Request::get(server.uri(path)).body(empty())?)
            .await?;
        assert!(res.status().is_redirection());
        assert_eq!(NotFollowed::of(&res), Some(&reason), "{path}");
        assert_eq!(text(res).await?, "moved");
    }
    let res = Redirect::new(client())
        .oneshot(Request::get(server.uri("/garbage")).body(empty())?)
        .await?;
    assert!(matches!(
        NotFollowed::of(&res),
        Some(NotFollowed::Location(LocationError::Invalid(_)))
    ));
    assert_eq!(server.total(), 5);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn no_hop_starts_once_the_deadline_passed() -> Result<()> {
    let server = TestServer::start().await;
    server.fallback(
        "/slow",
        redirect_to(302, "/next").delay(Duration::from_secs(2)),
    );
    server.fallback("/next", Reply::ok());
    let mut req = Request::get(server.uri("/slow")).body(empty())?;
    Deadline::after(Duration::from_secs(1)).insert_into(&mut req);
    let err = Redirect::new(client()).oneshot(req).await.unwrap_err();
    assert!(err.is_deadline_expired(), "{err}");
    assert_eq!(
        err.deadline_expired().unwrap().next(),
        Some(&server.uri("/next"))
    );
    assert_eq!(server.count("/next"), 0);
    Ok(())
}

/// A 302 whose body arrives in three chunks 150 ms apart (real time): not there yet when
/// the 302 is handled, so hyper alone cannot finish reading it.
fn slow_body_redirect(server: &TestServer) {
    let chunks = vec![payload(1024), payload(1024), payload(1024)];
    server.fallback(
        "/old",
        Reply::status(302)
            .header("location", "/new")
            .chunked(chunks, Duration::from_millis(150)),
    );
    server.fallback("/new", Reply::ok().body("new"));
}

#[tokio::test]
async fn the_redirect_body_is_drained_so_the_connection_is_reused() -> Result<()> {
    let server = TestServer::start().await;
    slow_body_redirect(&server);
    let res = RedirectLayer::new()
        .drain_timeout(Duration::from_secs(10))
        .layer(client())
        .oneshot(Request::get(server.uri("/old")).body(empty())?)
        .await?;
    assert_eq!(text(res).await?, "new");
    let (old, new) = (
        &server.requests_to("/old")[0],
        &server.requests_to("/new")[0],
    );
    assert_eq!(
        old.connection, new.connection,
        "the drained connection is reused"
    );

    // Without draining, the unread body costs the connection.
    let server = TestServer::start().await;
    slow_body_redirect(&server);
    let res = RedirectLayer::new()
        .drain_limit(0)
        .layer(client())
        .oneshot(Request::get(server.uri("/old")).body(empty())?)
        .await?;
    assert_eq!(text(res).await?, "new");
    let (old, new) = (
        &server.requests_to("/old")[0],
        &server.requests_to("/new")[0],
    );
    assert_ne!(old.connection, new.connection);
    Ok(())
}

#[tokio::test]
async fn transport_errors_keep_the_client_error_type() -> Result<()> {
    let server = TestServer::start().await;
    server.fallback("/away", redirect_to(307, &refused_uri().to_string()));
    let err: RedirectError<hyper_util::client::legacy::Error> = Redirect::new(client())
        .oneshot(Request::get(server.uri("/away")).body(empty())?)
        .await
        .unwrap_err();
    assert!(err.is_inner());
    assert_eq!(err.chain().len(), 1);
    let client_error = err.into_inner().unwrap();
    assert!(client_error.is_connect(), "{client_error:?}");
    Ok(())
}
