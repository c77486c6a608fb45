//! Every route of the barcode simulator, over loopback with a real hyper-util client.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{TestClient, call, client, get, header, request, send};
use http::Response;
use recourse_testkit::simulator::{
    self, APP_ERROR_BODY, APP_ERROR_CODE, BAD_REQUEST_BODY, CACHED_CACHE_CONTROL,
    CACHED_LAST_MODIFIED, CONFLICT_BODY, FORBIDDEN_BODY, JOB_FAILED_BODY, JOB_RUNNING_BODY,
    JOB_SUCCEEDED_BODY, METHOD_NOT_ALLOWED_BODY, NOT_FOUND_BODY, OK_BODY, SERVER_ERROR_BODY,
    UNAUTHORIZED_BODY, UNAVAILABLE_BODY,
};
use recourse_testkit::{Reply, Simulator, TestServer};
use tokio::time::Instant;

fn json(response: &Response<Bytes>) -> serde_json::Value {
    assert_eq!(header(response, "content-type"), "application/json");
    serde_json::from_slice(response.body()).expect("a JSON body")
}

async fn get_with(
    client: &TestClient,
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
) -> Response<Bytes> {
    send(
        client,
        request("GET", server.uri(path), Bytes::new(), headers),
    )
    .await
    .expect("GET")
}

fn assert_405(response: &Response<Bytes>, allow: &str) {
    assert_eq!(response.status(), 405);
    assert_eq!(header(response, "allow"), allow);
    assert_eq!(response.body(), METHOD_NOT_ALLOWED_BODY);
}

#[tokio::test]
async fn ok_and_application_error() {
    let server = Simulator::start().await;
    let client = client();
    for method in ["GET", "POST"] {
        let ok = call(&client, method, server.uri("/barcode/ok"), "{}").await;
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.body(), OK_BODY);
        assert_eq!(json(&ok)["Response"]["Code"], 0);

        let app = call(&client, method, server.uri("/barcode/app-error"), "{}").await;
        assert_eq!(app.status(), 200);
        assert_eq!(app.body(), APP_ERROR_BODY);
        assert_eq!(json(&app)["Response"]["Code"], APP_ERROR_CODE);
        assert_ne!(APP_ERROR_CODE, 0);
    }
    let head = call(&client, "HEAD", server.uri("/barcode/ok"), Bytes::new()).await;
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    assert_405(
        &call(&client, "PUT", server.uri("/barcode/ok"), Bytes::new()).await,
        "GET, HEAD, POST",
    );
}

#[tokio::test]
async fn created_with_location() {
    let server = Simulator::start().await;
    let client = client();
    for n in 1..=2u64 {
        let created = call(&client, "POST", server.uri("/barcode"), r#"{"Data":"1"}"#).await;
        assert_eq!(created.status(), 201);
        assert_eq!(header(&created, "location"), format!("/barcode/{n}"));
        assert_eq!(created.body(), simulator::created_body(n).as_str());
    }
    let resource = get(&client, server.uri("/barcode/2")).await;
    assert_eq!(resource.status(), 200);
    assert_eq!(resource.body(), simulator::resource_body(2).as_str());
    assert_eq!(json(&resource)["Id"], 2);

    let missing = get(&client, server.uri("/barcode/3")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.body(), NOT_FOUND_BODY);
    assert_eq!(get(&client, server.uri("/barcode/0")).await.status(), 404);
    assert_405(&get(&client, server.uri("/barcode")).await, "POST");
    assert_405(
        &call(&client, "POST", server.uri("/barcode/1"), Bytes::new()).await,
        "GET, HEAD",
    );
}

#[tokio::test]
async fn accepted_job_progresses_to_success() {
    let server = Simulator::start().await;
    let client = client();
    let accepted = call(&client, "POST", server.uri("/barcode/async"), "{}").await;
    assert_eq!(accepted.status(), 202);
    assert_eq!(header(&accepted, "location"), "/jobs/1");
    assert_eq!(header(&accepted, "retry-after"), "1");
    assert_eq!(accepted.body(), JOB_RUNNING_BODY);

    for _ in 0..2 {
        let poll = get(&client, server.uri("/jobs/1")).await;
        assert_eq!(poll.status(), 202);
        assert_eq!(header(&poll, "retry-after"), "1");
        assert_eq!(poll.body(), JOB_RUNNING_BODY);
    }
    for _ in 0..2 {
        let done = get(&client, server.uri("/jobs/1")).await;
        assert_eq!(done.status(), 200);
        assert_eq!(done.body(), JOB_SUCCEEDED_BODY);
        assert_eq!(json(&done)["status"], "succeeded");
    }
    assert_eq!(server.count("/jobs/1"), 4);
}

#[tokio::test]
async fn accepted_job_options() {
    let server = Simulator::start().await;
    let client = client();

    // No pending polls, custom Retry-After.
    let accepted = call(
        &client,
        "POST",
        server.uri("/barcode/async?polls=0&retry_after=5"),
        Bytes::new(),
    )
    .await;
    assert_eq!(header(&accepted, "retry-after"), "5");
    assert_eq!(header(&accepted, "location"), "/jobs/1");
    assert_eq!(get(&client, server.uri("/jobs/1")).await.status(), 200);

    // Finishes with 303 See Other to the result.
    let accepted = call(
        &client,
        "POST",
        server.uri("/barcode/async?polls=1&outcome=see-other&retry_after=3"),
        Bytes::new(),
    )
    .await;
    assert_eq!(header(&accepted, "location"), "/jobs/2");
    assert_eq!(
        get(&client, server.uri("/jobs/2/result")).await.status(),
        404
    );
    let poll = get(&client, server.uri("/jobs/2")).await;
    assert_eq!(poll.status(), 202);
    assert_eq!(header(&poll, "retry-after"), "3");
    let see_other = get(&client, server.uri("/jobs/2")).await;
    assert_eq!(see_other.status(), 303);
    assert_eq!(header(&see_other, "location"), "/jobs/2/result");
    let result = get(&client, server.uri("/jobs/2/result")).await;
    assert_eq!(result.status(), 200);
    assert_eq!(result.body(), OK_BODY);

    // Fails.
    call(
        &client,
        "POST",
        server.uri("/barcode/async?polls=0&outcome=failed"),
        Bytes::new(),
    )
    .await;
    let failed = get(&client, server.uri("/jobs/3")).await;
    assert_eq!(failed.status(), 200);
    assert_eq!(failed.body(), JOB_FAILED_BODY);
    assert_eq!(json(&failed)["status"], "failed");

    // Unknown jobs and methods.
    assert_eq!(get(&client, server.uri("/jobs/99")).await.status(), 404);
    assert_eq!(get(&client, server.uri("/jobs/x")).await.status(), 404);
    assert_405(&get(&client, server.uri("/barcode/async")).await, "POST");
    assert_405(
        &call(&client, "POST", server.uri("/jobs/1"), Bytes::new()).await,
        "GET, HEAD",
    );
}

#[tokio::test]
async fn bad_query_parameters_get_an_errors_block() {
    let server = Simulator::start().await;
    let client = client();
    for (path, field) in [
        ("/barcode/async?polls=abc", "polls"),
        ("/barcode/async?polls=1001", "polls"),
        ("/barcode/async?retry_after=-1", "retry_after"),
        ("/barcode/async?outcome=maybe", "outcome"),
        ("/barcode/flaky?failures=x", "failures"),
        ("/barcode/slow?ms=1e3", "ms"),
    ] {
        let response = call(&client, "POST", server.uri(path), Bytes::new()).await;
        assert_eq!(response.status(), 400, "{path}");
        let body = json(&response);
        assert_eq!(body["Errors"][0]["Field"], field, "{path}");
        assert_eq!(body["Response"]["Code"], 400);
    }
    // No job was created by the rejected requests.
    assert_eq!(get(&client, server.uri("/jobs/1")).await.status(), 404);
}

#[tokio::test]
async fn cached_resource_and_conditional_requests() {
    let server = Simulator::start().await;
    let client = client();
    let path = "/barcode/cached";

    let full = get(&client, server.uri(path)).await;
    assert_eq!(full.status(), 200);
    assert_eq!(full.body(), simulator::cached_body(1).as_str());
    assert_eq!(header(&full, "etag"), "\"v1\"");
    assert_eq!(header(&full, "last-modified"), CACHED_LAST_MODIFIED);
    assert_eq!(header(&full, "cache-control"), CACHED_CACHE_CONTROL);

    let assert_304 = |response: &Response<Bytes>| {
        assert_eq!(response.status(), 304);
        assert!(response.body().is_empty());
        assert_eq!(header(response, "etag"), "\"v1\"");
        assert_eq!(header(response, "last-modified"), CACHED_LAST_MODIFIED);
        assert_eq!(header(response, "cache-control"), CACHED_CACHE_CONTROL);
    };
    // If-None-Match: exact, weak, in a list, and "*".
    for inm in ["\"v1\"", "W/\"v1\"", "\"v0\", \"v1\"", "*"] {
        assert_304(&get_with(&client, &server, path, &[("if-none-match", inm)]).await);
    }
    // If-Modified-Since: equal and later dates.
    for ims in [CACHED_LAST_MODIFIED, "Thu, 22 Oct 2015 07:28:00 GMT"] {
        assert_304(&get_with(&client, &server, path, &[("if-modified-since", ims)]).await);
    }
    // Earlier and invalid dates get the full response.
    for ims in ["Tue, 20 Oct 2015 07:28:00 GMT", "yesterday"] {
        let response = get_with(&client, &server, path, &[("if-modified-since", ims)]).await;
        assert_eq!(response.status(), 200, "{ims}");
        assert_eq!(response.body(), simulator::cached_body(1).as_str());
    }
    // If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.1.3).
    let response = get_with(
        &client,
        &server,
        path,
        &[
            ("if-none-match", "\"v9\""),
            ("if-modified-since", "Thu, 22 Oct 2015 07:28:00 GMT"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);

    // HEAD: same headers, no body.
    let head = call(&client, "HEAD", server.uri(path), Bytes::new()).await;
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "etag"), "\"v1\"");
    assert!(head.body().is_empty());

    // POST changes the resource: old validators no longer match.
    let updated = call(&client, "POST", server.uri(path), "new").await;
    assert_eq!(updated.status(), 204);
    let response = get_with(&client, &server, path, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "etag"), "\"v2\"");
    assert_eq!(
        header(&response, "last-modified"),
        simulator::cached_last_modified(2)
    );
    assert_eq!(response.body(), simulator::cached_body(2).as_str());
    let response = get_with(
        &client,
        &server,
        path,
        &[("if-modified-since", CACHED_LAST_MODIFIED)],
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = get_with(&client, &server, path, &[("if-none-match", "\"v2\"")]).await;
    assert_eq!(response.status(), 304);

    assert_405(
        &call(&client, "DELETE", server.uri(path), Bytes::new()).await,
        "GET, HEAD, POST",
    );
}

#[tokio::test]
async fn redirects_to_the_new_uri() {
    let server = Simulator::start().await;
    let client = client();
    for method in ["GET", "POST", "PUT"] {
        let response = call(&client, method, server.uri("/barcode/old"), "body").await;
        assert_eq!(response.status(), 307, "{method}");
        assert_eq!(header(&response, "location"), "/barcode/new");
        assert!(response.body().is_empty());
    }
    for (path, status) in [
        ("/barcode/moved", 301),
        ("/barcode/found", 302),
        ("/barcode/see-other", 303),
        ("/barcode/permanent", 308),
    ] {
        let response = get(&client, server.uri(path)).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(header(&response, "location"), "/barcode/new");
    }
}

#[tokio::test]
async fn new_uri_echoes_method_and_body() {
    let server = Simulator::start().await;
    let client = client();
    let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let response = send(
        &client,
        request(
            "POST",
            server.uri("/barcode/new"),
            body.clone(),
            &[("content-type", "application/json")],
        ),
    )
    .await
    .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-echo-method"), "POST");
    assert_eq!(header(&response, "x-echo-length"), "5000");
    assert_eq!(header(&response, "content-type"), "application/json");
    assert_eq!(response.body(), &body[..]);

    let response = get(&client, server.uri("/barcode/new")).await;
    assert_eq!(header(&response, "x-echo-method"), "GET");
    assert_eq!(header(&response, "x-echo-length"), "0");
    assert_eq!(
        header(&response, "content-type"),
        "application/octet-stream"
    );
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn client_errors() {
    let server = Simulator::start().await;
    let client = client();

    let bad = call(&client, "POST", server.uri("/barcode/bad"), "{}").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.body(), BAD_REQUEST_BODY);
    let errors = json(&bad)["Errors"].clone();
    assert_eq!(errors[0]["Code"], "E101");
    assert_eq!(errors[0]["Field"], "Data");
    assert_eq!(errors.as_array().map(Vec::len), Some(2));

    let unauthorized = get(&client, server.uri("/barcode/unauthorized")).await;
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(unauthorized.body(), UNAUTHORIZED_BODY);
    assert_eq!(
        header(&unauthorized, "www-authenticate"),
        "Bearer realm=\"barcode\""
    );

    let forbidden = get(&client, server.uri("/barcode/forbidden")).await;
    assert_eq!(forbidden.status(), 403);
    assert_eq!(forbidden.body(), FORBIDDEN_BODY);

    for path in ["/barcode/missing", "/elsewhere", "/barcode/x/y"] {
        let missing = get(&client, server.uri(path)).await;
        assert_eq!(missing.status(), 404, "{path}");
        assert_eq!(missing.body(), NOT_FOUND_BODY);
    }

    let get_only = get(&client, server.uri("/barcode/get-only")).await;
    assert_eq!(get_only.status(), 200);
    assert_eq!(get_only.body(), OK_BODY);
    assert_405(
        &call(&client, "POST", server.uri("/barcode/get-only"), "{}").await,
        "GET, HEAD",
    );

    let conflict = call(&client, "POST", server.uri("/barcode/conflict"), "{}").await;
    assert_eq!(conflict.status(), 409);
    assert_eq!(conflict.body(), CONFLICT_BODY);
}

#[tokio::test]
async fn flaky_fails_then_succeeds() {
    let server = Simulator::start().await;
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = get(&client, server.uri("/barcode/flaky")).await;
        if response.status() == 500 {
            assert_eq!(response.body(), SERVER_ERROR_BODY);
        } else {
            assert_eq!(response.body(), OK_BODY);
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [500, 500, 200, 200]);

    let other = Simulator::start().await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let uri = other.uri("/barcode/flaky?failures=3");
        statuses.push(get(&client, uri).await.status().as_u16());
    }
    assert_eq!(statuses, [500, 500, 500, 200, 200]);
    let none = Simulator::start().await;
    let uri = none.uri("/barcode/flaky?failures=0");
    assert_eq!(get(&client, uri).await.status(), 200);
}

#[tokio::test]
async fn maintenance_then_available() {
    let server = Simulator::start().await;
    let client = client();
    for _ in 0..2 {
        let response = call(&client, "POST", server.uri("/barcode/maintenance"), "{}").await;
        assert_eq!(response.status(), 503);
        assert_eq!(header(&response, "retry-after"), "1");
        assert_eq!(response.body(), UNAVAILABLE_BODY);
    }
    let response = call(&client, "POST", server.uri("/barcode/maintenance"), "{}").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), OK_BODY);
}

#[tokio::test]
async fn always_failing_routes() {
    let server = Simulator::start().await;
    let client = client();
    for _ in 0..3 {
        let broken = get(&client, server.uri("/barcode/broken")).await;
        assert_eq!(broken.status(), 500);
        assert_eq!(broken.body(), SERVER_ERROR_BODY);
        let down = get(&client, server.uri("/barcode/down")).await;
        assert_eq!(down.status(), 503);
        assert_eq!(header(&down, "retry-after"), "1");
        assert_eq!(down.body(), UNAVAILABLE_BODY);
    }
}

#[tokio::test(start_paused = true)]
async fn slow_answers_after_the_delay() {
    let server = Simulator::start().await;
    let client = client();
    let start = Instant::now();
    let response = get(&client, server.uri("/barcode/slow?ms=2500")).await;
    assert_eq!(response.body(), OK_BODY);
    assert!(start.elapsed() >= Duration::from_millis(2500));
}

#[tokio::test]
async fn exact_routes_override_the_simulator() {
    let server = TestServer::start().await;
    server.script("/barcode/ok", [Reply::status(418)]);
    Simulator::install(&server);
    let client = client();
    assert_eq!(get(&client, server.uri("/barcode/ok")).await.status(), 418);
    assert_eq!(get(&client, server.uri("/barcode/bad")).await.status(), 400);
    assert_eq!(server.count("/barcode/ok"), 1);
    assert_eq!(server.total(), 2);
}

#[tokio::test]
async fn every_row_produces_its_status() {
    let server = Simulator::start().await;
    let client = client();
    let mut statuses = Vec::new();
    for row in simulator::ROWS {
        let response = send(&client, row.request(&server))
            .await
            .expect("row request");
        assert_eq!(response.status(), row.status, "{row:?}");
        match row.status {
            201 => assert_eq!(header(&response, "location"), "/barcode/1"),
            202 => assert_eq!(header(&response, "location"), "/jobs/1"),
            _ => {}
        }
        statuses.push(row.status);
    }
    assert_eq!(
        statuses,
        [
            200, 200, 201, 202, 304, 307, 400, 401, 403, 404, 405, 409, 500, 503
        ]
    );
    assert_eq!(
        server.requests_to("/barcode/ok")[0].body,
        simulator::ROWS[0].body
    );
    // Each row is also correct after the whole table was sent once.
    for row in simulator::ROWS {
        let response = send(&client, row.request(&server))
            .await
            .expect("row request");
        assert_eq!(response.status(), row.status, "{row:?}");
    }
}
