//! Transport errors: retried when idempotent, or when they prove the request was not sent.

use super::*;

#[tokio::test(start_paused = true)]
async fn errors_after_sending_are_retried_only_when_idempotent() {
    let reset = || Reply::Error(io::ErrorKind::ConnectionReset);
    let backend = Backend::new([reset(), status(200)]);
    assert_eq!(send(&exact(), &backend, get()).await.unwrap().status(), 200);
    assert_eq!(backend.calls(), 2);

    let backend = Backend::new([reset(), status(200)]);
    let err = send(&exact(), &backend, post("x")).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<io::Error>().unwrap().kind(),
        io::ErrorKind::ConnectionReset
    );
    assert_eq!(backend.calls(), 1, "the POST may have been processed");
}

#[tokio::test(start_paused = true)]
async fn errors_before_sending_are_retried_for_any_method() {
    let refused = || Reply::Error(io::ErrorKind::ConnectionRefused);
    let backend = Backend::new([refused(), refused(), status(200)]);
    let res = send(&exact(), &backend, post("amount=10")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(backend.calls(), 3);
    assert_eq!(
        retried_steps(&res),
        [(2, None, 100 * MS), (3, None, 200 * MS)]
    );

    // Exhausted: the last error comes back as it is.
    let backend = Backend::new([refused()]);
    let err = send(&exact().max_retries(1), &backend, get())
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<io::Error>().is_some());
    assert_eq!(backend.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_custom_not_sent_check() {
    #[derive(Debug)]
    struct MyError {
        before_send: bool,
    }
    let calls = Arc::new(Mutex::new(0u32));
    let counter = calls.clone();
    let svc = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
        let n = {
            let mut c = counter.lock().unwrap();
            *c += 1;
            *c
        };
        async move {
            if n == 1 {
                Err(MyError { before_send: true })
            } else {
                Ok(Response::new(Empty::<Bytes>::new()))
            }
        }
    });
    let layer = exact().not_sent_when(|e: &MyError| e.before_send);
    let res = tower::Layer::layer(&layer, svc)
        .oneshot(post("x"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(*calls.lock().unwrap(), 2);
}
