//! What inner services leave: their history, their errors (by value), readiness errors.

use super::*;

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
