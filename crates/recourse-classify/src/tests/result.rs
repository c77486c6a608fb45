//! `Result` semantics: `IntoResult` and the shape of `ClassifiedError`.

use super::*;

#[tokio::test]
async fn into_result_turns_failures_into_errors() {
    let backend = tower::service_fn(|req: Request<()>| async move {
        let res = match req.uri().path() {
            "/ok" => reply(200, &[("content-type", JSON)], OK_BODY),
            "/app" => reply(200, &[("content-type", JSON)], APP_ERROR_BODY),
            "/moved" => reply(307, &[("location", "/ok")], ""),
            "/bad" => reply(400, &[("content-type", JSON)], BAD_BODY),
            _ => reply(503, &[("retry-after", "1")], "down"),
        };
        Ok::<_, Infallible>(res)
    });
    let svc = ClassifyLayer::new().into_result().layer(backend);
    let send = |path: &'static str| {
        svc.clone().oneshot(
            Request::get(format!("http://a.test{path}"))
                .body(())
                .unwrap(),
        )
    };

    let ok = send("/ok").await.unwrap();
    assert_eq!(text(ok).await, OK_BODY);
    // Redirects are not failures.
    assert_eq!(send("/moved").await.unwrap().status(), 307);

    let err = send("/app").await.unwrap_err();
    assert!(err.is_failure() && !err.is_inner());
    assert_eq!(
        err.to_string(),
        "request failed with status 200 OK: application failure (code 7: Unsupported symbology: QR)"
    );
    assert!(std::error::Error::source(&err).is_none());
    let failure = err.into_failure().unwrap();
    assert_eq!(failure.status(), 200);
    assert_eq!(failure.outcome().kind(), Kind::ApplicationFailure);
    // The response, body included, is inside the error.
    assert_eq!(text(failure.into_response()).await, APP_ERROR_BODY);

    let err = send("/bad").await.unwrap_err();
    assert_eq!(err.outcome().unwrap().errors().unwrap().len(), 2);
    assert_eq!(
        err.to_string(),
        "request failed with status 400 Bad Request: bad request (E101 [Data]: Data must be 12 or 13 digits; E102 [Symbology]: Symbology is required)"
    );

    let err = send("/down").await.unwrap_err();
    let (outcome, res) = err.into_failure().unwrap().into_parts();
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(text(res).await, "down");
}

#[tokio::test]
async fn into_result_wraps_service_errors() {
    let backend = tower::service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(TestError("refused"))
    });
    let svc = ClassifyLayer::new().into_result().layer(backend);
    let err = svc.oneshot(Request::new(())).await.unwrap_err();
    assert!(err.is_inner());
    assert_eq!(
        err.to_string(),
        "the service failed: test body error: refused"
    );
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(source.to_string(), "test body error: refused");
    assert_eq!(err.into_inner().ok(), Some(TestError("refused")));

    // Boxable as a standard error.
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<ClassifiedError<TestError, PeekBody<Full<Bytes>>>>();
}

#[tokio::test]
async fn classified_errors_have_the_common_error_shape() {
    // The inner service's error: given back by value, and boxed as itself.
    let backend = tower::service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(TestError("refused"))
    });
    let svc = ClassifyLayer::new().into_result().layer(backend);
    let err = svc.clone().oneshot(Request::new(())).await.unwrap_err();
    assert!(err.failure().is_none() && err.outcome().is_none());
    let err = err.into_failure().unwrap_err();
    assert!(err.is_inner());
    let boxed = err.into_box_error();
    assert_eq!(
        boxed.downcast_ref::<TestError>(),
        Some(&TestError("refused")),
        "not wrapped twice"
    );

    // A failed response: boxed as its `Failure`, response inside.
    let backend = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, TestError>(reply(404, &[], "gone"))
    });
    let svc = ClassifyLayer::new().into_result().layer(backend);
    let err = svc.oneshot(Request::new(())).await.unwrap_err();
    assert_eq!(err.failure().unwrap().status(), 404);
    let err = err.into_inner().unwrap_err();
    assert!(err.is_failure());
    let boxed = err.into_box_error();
    assert_eq!(
        boxed.to_string(),
        "request failed with status 404 Not Found: not found"
    );
    let failure = boxed
        .downcast::<crate::Failure<PeekBody<Full<Bytes>>>>()
        .unwrap();
    assert_eq!(text(failure.into_response()).await, "gone");
}

#[tokio::test]
async fn into_result_with_a_custom_test() {
    let backend =
        tower::service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(reply(404, &[], "")) });
    let layer = IntoResultLayer::new()
        .when(|kind: Kind| matches!(kind, Kind::Retryable | Kind::ServerError));
    let res = layer
        .layer(Classify::new(backend))
        .oneshot(Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[test]
fn uri_and_outcome_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Outcome>();
    assert_send_sync::<Uri>();
    assert_send_sync::<
        crate::ResponseFuture<
            std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>,
            Full<Bytes>,
        >,
    >();
}
