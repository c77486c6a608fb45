//! Extensions (inner verdicts, other extensions) and the service itself.

use super::*;

// === extensions ===

#[tokio::test]
async fn an_outer_classifier_replaces_an_inner_verdict() {
    // Inner: 502 retryable (stored). Outer: the standard table (502 is a server error).
    let inner = ClassifyLayer::new().policy(StatusTable::new().retryable([s(502)]));
    let backend =
        tower::service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(reply(502, &[], "")) });
    let svc = ClassifyLayer::new().layer(inner.layer(backend));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(Class::of(&res), Class::ServerError);
    assert_eq!(Outcome::of(&res), Outcome::ServerError { status: s(502) });

    // And an inner application failure is replaced when the outer one does not read bodies.
    let backend = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(reply(200, &[("content-type", JSON)], APP_ERROR_BODY))
    });
    let svc = ClassifyLayer::new()
        .without_body_codes()
        .layer(ClassifyLayer::new().layer(backend));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(Class::of(&res), Class::Success);
    assert_eq!(Outcome::of(&res), Outcome::Success);
}

#[tokio::test]
async fn other_extensions_survive() {
    #[derive(Clone, Debug, PartialEq)]
    struct Marker(u8);
    let mut res = reply(200, &[], "");
    res.extensions_mut().insert(Marker(3));
    let res = classify(res).await;
    assert_eq!(res.extensions().get::<Marker>(), Some(&Marker(3)));
}

// === the service ===

#[tokio::test]
async fn errors_of_the_inner_service_pass_through() {
    let backend = tower::service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(TestError("refused"))
    });
    let err = Classify::new(backend)
        .oneshot(Request::new(()))
        .await
        .unwrap_err();
    assert_eq!(err, TestError("refused"));
}

#[tokio::test]
async fn service_accessors_and_builders() {
    let backend = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(reply(200, &[("content-type", JSON)], APP_ERROR_BODY))
    });
    // Builder methods are on the layer (docs/API.md rule 2).
    let mut svc = ClassifyLayer::new()
        .body_codes(BodyCodes::new().code_path("Nope.Code"))
        .resolve_locations(false)
        .layer(backend);
    let _ = svc.get_ref();
    let _ = svc.get_mut();
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert_eq!(Outcome::of(&res), Outcome::Success);
    let svc = ClassifyLayer::new()
        .policy(|_: &Head<'_>| Kind::Conflict)
        .without_body_codes()
        .layer(svc.into_inner());
    let res = svc.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(Outcome::of(&res), Outcome::Conflict);
    assert_eq!(Class::of(&res), Class::ClientError);
    let _backend = svc.into_inner();
}

// === the duration histogram ===

#[tokio::test(start_paused = true)]
async fn each_attempt_s_duration_is_recorded_with_its_method_and_class() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    // Built before the recorder is installed: the check happens per request.
    let backend = tower::service_fn(|req: Request<()>| async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let status = if req.method() == Method::POST {
            503
        } else {
            200
        };
        Ok::<_, Infallible>(reply(status, &[], ""))
    });
    let mut svc = Classify::new(backend);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    for method in [Method::GET, Method::POST, Method::GET] {
        let mut req = Request::new(());
        *req.method_mut() = method;
        svc.ready().await.unwrap().call(req).await.unwrap();
    }
    let mut got: Vec<(String, Vec<f64>)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            match value {
                DebugValue::Histogram(values) => Some((
                    format!("{} {}", key.name(), labels.join(" ")),
                    values.into_iter().map(|v| v.into_inner()).collect(),
                )),
                _ => None,
            }
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            (
                "http.client.request.duration http.request.method=GET recourse.class=success"
                    .to_owned(),
                vec![0.25, 0.25]
            ),
            (
                "http.client.request.duration http.request.method=POST recourse.class=retryable"
                    .to_owned(),
                vec![0.25]
            ),
        ]
    );
}
