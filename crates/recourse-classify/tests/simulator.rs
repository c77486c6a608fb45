//! The classify layer around hyper-util's client, against the testkit's simulator of the
//! barcode service over loopback: every row of the table, and bodies as a real HTTP/1.1
//! connection delivers them.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use recourse_classify::{BodyCodes, Classify, ClassifyLayer, Kind, Outcome, PeekBody, StatusTable};
use recourse_core::Class;
use recourse_testkit::simulator::{
    APP_ERROR_BODY, APP_ERROR_CODE, BAD_REQUEST_BODY, CONFLICT_BODY, FORBIDDEN_BODY,
    JOB_RUNNING_BODY, NOT_FOUND_BODY, OK_BODY, SERVER_ERROR_BODY, UNAUTHORIZED_BODY,
    UNAVAILABLE_BODY, created_body,
};
use recourse_testkit::{Reply, Simulator, TestServer};
use tower::{Layer, ServiceExt};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send(
    layer: ClassifyLayer<impl recourse_classify::Policy + Clone>,
    req: Request<Full<Bytes>>,
) -> Response<PeekBody<hyper::body::Incoming>> {
    layer
        .layer(client())
        .oneshot(req)
        .await
        .expect("the simulator answers")
}

fn get(server: &TestServer, path: &str) -> Request<Full<Bytes>> {
    Request::get(server.uri(path))
        .body(Full::default())
        .unwrap()
}

fn post(server: &TestServer, path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(server.uri(path))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn text<B>(res: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn every_row_of_the_table() {
    let server = Simulator::start().await;
    let layer = ClassifyLayer::new();

    // 200, Response.Code 0.
    let res = send(layer.clone(), get(&server, "/barcode/ok")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert_eq!(Class::of(&res), Class::Success);
    assert_eq!(text(res).await, OK_BODY);

    // 200, Response.Code 7.
    let res = send(layer.clone(), get(&server, "/barcode/app-error")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::ApplicationFailure {
            code: APP_ERROR_CODE,
            message: Some("Unsupported symbology: QR".into())
        }
    );
    assert_eq!(Class::of(&res), Class::ApplicationFailure);
    assert_eq!(text(res).await, APP_ERROR_BODY);

    // 201 + Location, resolved against the request URI.
    let res = send(
        layer.clone(),
        post(&server, "/barcode", "data=0123456789012"),
    )
    .await;
    assert_eq!(res.status(), 201);
    let outcome = Outcome::of(&res);
    assert_eq!(outcome.kind(), Kind::Created);
    let location = outcome.location().expect("201 has a Location");
    assert_eq!(location.raw(), "/barcode/1");
    assert_eq!(location.uri(), Some(&server.uri("/barcode/1")));
    assert_eq!(text(res).await, created_body(1));

    // 202 + Location + Retry-After.
    let res = send(
        layer.clone(),
        post(&server, "/barcode/async?polls=1&retry_after=3", ""),
    )
    .await;
    assert_eq!(res.status(), 202);
    let outcome = Outcome::of(&res);
    assert_eq!(outcome.kind(), Kind::Accepted);
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(
        outcome.location().and_then(|l| l.uri()),
        Some(&server.uri("/jobs/1"))
    );
    assert_eq!(Class::of(&res), Class::Pending);
    assert_eq!(text(res).await, JOB_RUNNING_BODY);

    // 304 on a matching If-None-Match.
    let req = Request::get(server.uri("/barcode/cached"))
        .header("if-none-match", "\"v1\"")
        .body(Full::default())
        .unwrap();
    let res = send(layer.clone(), req).await;
    assert_eq!(res.status(), 304);
    assert_eq!(Outcome::of(&res), Outcome::NotModified);
    assert_eq!(Class::of(&res), Class::NotModified);

    // 307 + Location.
    let res = send(layer.clone(), post(&server, "/barcode/old", "x")).await;
    assert_eq!(res.status(), 307);
    assert_eq!(
        Outcome::of(&res),
        Outcome::Redirect {
            status: StatusCode::TEMPORARY_REDIRECT,
            location: Some(recourse_classify::Location::new(
                http::HeaderValue::from_static("/barcode/new"),
                Some(&server.uri("/barcode/old")),
            )),
        }
    );

    // 400 + Errors.
    let res = send(layer.clone(), get(&server, "/barcode/bad")).await;
    let outcome = Outcome::of(&res);
    let errors = outcome.errors().expect("the Errors block");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].code(), Some("E101"));
    assert_eq!(errors[0].field(), Some("Data"));
    assert_eq!(errors[1].message(), Some("Symbology is required"));
    assert_eq!(Class::of(&res), Class::ClientError);
    assert_eq!(text(res).await, BAD_REQUEST_BODY);

    // 401, 403, 404, 409.
    for (path, outcome, body) in [
        (
            "/barcode/unauthorized",
            Outcome::Unauthorized,
            UNAUTHORIZED_BODY,
        ),
        ("/barcode/forbidden", Outcome::Forbidden, FORBIDDEN_BODY),
        ("/barcode/missing", Outcome::NotFound, NOT_FOUND_BODY),
        ("/barcode/conflict", Outcome::Conflict, CONFLICT_BODY),
    ] {
        let res = send(layer.clone(), get(&server, path)).await;
        assert_eq!(Outcome::of(&res), outcome, "{path}");
        assert_eq!(Class::of(&res), Class::ClientError, "{path}");
        assert_eq!(text(res).await, body, "{path}");
    }

    // 405 + Allow.
    let res = send(layer.clone(), post(&server, "/barcode/get-only", "x")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::MethodNotAllowed {
            allow: vec![Method::GET, Method::HEAD]
        }
    );

    // 500 and 503 + Retry-After.
    let res = send(layer.clone(), get(&server, "/barcode/broken")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::Retryable {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            retry_after: None
        }
    );
    assert_eq!(text(res).await, SERVER_ERROR_BODY);
    let res = send(layer.clone(), get(&server, "/barcode/down")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::Retryable {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert!(Class::of(&res).is_retryable());
    assert_eq!(text(res).await, UNAVAILABLE_BODY);
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_chunked_body_is_read_and_handed_back_whole() {
    let server = TestServer::start().await;
    let body = r#"{"Response":{"Code":42,"Message":"Quota exceeded"},"Barcode":null}"#;
    let chunks: Vec<Bytes> = body
        .as_bytes()
        .chunks(7)
        .map(Bytes::copy_from_slice)
        .collect();
    server.script(
        "/chunked",
        [Reply::ok()
            .header("content-type", "application/json; charset=utf-8")
            .chunked(chunks, Duration::from_millis(5))],
    );
    let res = send(ClassifyLayer::new(), get(&server, "/chunked")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::ApplicationFailure {
            code: 42,
            message: Some("Quota exceeded".into())
        }
    );
    assert!(res.body().is_peeked());
    assert_eq!(text(res).await, body);
    server.shutdown().await;
}

#[tokio::test]
async fn trailers_arrive_after_an_inspected_body() {
    let server = TestServer::start().await;
    server.script(
        "/trailers",
        [Reply::ok()
            .header("content-type", "application/json")
            .body(r#"{"Response":{"Code":3}}"#)
            .trailer("x-checksum", "c0ffee")],
    );
    let req = Request::get(server.uri("/trailers"))
        .header("te", "trailers")
        .body(Full::default())
        .unwrap();
    let res = send(ClassifyLayer::new(), req).await;
    assert_eq!(Outcome::kind_of(&res), Kind::ApplicationFailure);
    let collected = res.into_body().collect().await.unwrap();
    assert_eq!(
        collected.trailers().and_then(|t| t.get("x-checksum")),
        Some(&http::HeaderValue::from_static("c0ffee"))
    );
    assert_eq!(collected.to_bytes(), r#"{"Response":{"Code":3}}"#);
    server.shutdown().await;
}

#[tokio::test]
async fn bodies_over_the_bound_keep_the_status_verdict() {
    let server = Simulator::start().await;
    let layer = ClassifyLayer::new().body_codes(BodyCodes::new().peek_limit(16));
    // Declared longer than the bound: the body is not read before the response returns.
    let res = send(layer.clone(), get(&server, "/barcode/app-error")).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert!(!res.body().is_peeked());
    assert_eq!(text(res).await, APP_ERROR_BODY);

    // Streamed with no length: read up to the bound, then streamed on.
    let chunks: Vec<Bytes> = APP_ERROR_BODY
        .as_bytes()
        .chunks(10)
        .map(Bytes::copy_from_slice)
        .collect();
    server.script(
        "/stream",
        [Reply::ok()
            .header("content-type", "application/json")
            .chunked(chunks, Duration::ZERO)],
    );
    let res = send(layer, get(&server, "/stream")).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert_eq!(text(res).await, APP_ERROR_BODY);
    server.shutdown().await;
}

#[tokio::test]
async fn non_json_and_malformed_bodies_keep_the_status_verdict() {
    let server = TestServer::start().await;
    server.script(
        "/text",
        [Reply::ok()
            .header("content-type", "text/plain")
            .body(r#"{"Response":{"Code":7}}"#)],
    );
    server.script(
        "/broken-json",
        [Reply::ok()
            .header("content-type", "application/json")
            .body(r#"{"Response":{"Code":7}"#)],
    );
    let res = send(ClassifyLayer::new(), get(&server, "/text")).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert!(!res.body().is_peeked());
    let res = send(ClassifyLayer::new(), get(&server, "/broken-json")).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert_eq!(text(res).await, r#"{"Response":{"Code":7}"#);
    server.shutdown().await;
}

#[tokio::test]
async fn a_configured_table_over_loopback() {
    let server = TestServer::start().await;
    server.script(
        "/gateway",
        [
            Reply::status(502),
            Reply::status(429).header("retry-after", "4"),
            Reply::status(404),
        ],
    );
    let layer = ClassifyLayer::new().policy(
        StatusTable::new()
            .retryable([
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::BAD_GATEWAY,
                StatusCode::GATEWAY_TIMEOUT,
            ])
            .success([StatusCode::NOT_FOUND]),
    );
    let res = send(layer.clone(), get(&server, "/gateway")).await;
    assert_eq!(Class::of(&res), Class::Retryable);
    let res = send(layer.clone(), get(&server, "/gateway")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::Retryable {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(Duration::from_secs(4))
        }
    );
    let res = send(layer, get(&server, "/gateway")).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    server.shutdown().await;
}

#[tokio::test]
async fn result_semantics_over_loopback() {
    let server = Simulator::start().await;
    let svc = ClassifyLayer::new().into_result().layer(client());

    let ok = svc
        .clone()
        .oneshot(get(&server, "/barcode/ok"))
        .await
        .unwrap();
    assert_eq!(text(ok).await, OK_BODY);

    let err = svc
        .clone()
        .oneshot(get(&server, "/barcode/app-error"))
        .await
        .unwrap_err();
    assert_eq!(
        err.outcome().map(Outcome::kind),
        Some(Kind::ApplicationFailure)
    );
    // The response and its body are inside the error.
    let res = err.into_failure().unwrap().into_response();
    assert_eq!(text(res).await, APP_ERROR_BODY);

    // Transport errors are wrapped, with their source.
    let refused = Request::get(recourse_testkit::refused_uri())
        .body(Full::default())
        .unwrap();
    let err = svc.oneshot(refused).await.unwrap_err();
    assert!(err.is_inner());
    assert!(std::error::Error::source(&err).is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn head_responses_and_empty_bodies_are_not_read() {
    let server = Simulator::start().await;
    let svc = Classify::new(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());
    let req = Request::head(server.uri("/barcode/app-error"))
        .body(Empty::new())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    // No body, no code: the status decides.
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert!(!res.body().is_peeked());
    server.shutdown().await;
}
