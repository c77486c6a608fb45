//! The body: the peek bound, malformed JSON, nesting, content types, chunks, trailers,
//! errors.

use super::*;

#[tokio::test]
async fn body_over_the_bound_keeps_the_status_verdict() {
    let layer = ClassifyLayer::new().body_codes(BodyCodes::new().peek_limit(32));
    // Streamed (no length): read up to the bound, then handed back whole.
    let body = format!(r#"{{"Response":{{"Code":7}},"Pad":"{}"}}"#, "x".repeat(100));
    let res = classify_with(
        layer.clone(),
        "http://a.test/",
        json_response(TestBody::chunks(&body, 10)),
    )
    .await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert!(res.body().is_peeked());
    assert_eq!(text(res).await, body);

    // Declared too long: not read at all.
    let declared = TestBody::chunks(&body, 10).with_hint(body.len() as u64);
    let polls = declared.polls.clone();
    let res = classify_with(layer, "http://a.test/", json_response(declared)).await;
    assert_eq!(polls.load(Ordering::SeqCst), 0);
    assert!(!res.body().is_peeked());
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert_eq!(text(res).await, body);
}

#[tokio::test]
async fn body_exactly_at_the_bound_is_read() {
    let body = r#"{"Response":{"Code":7}}"#;
    let layer = ClassifyLayer::new().body_codes(BodyCodes::new().peek_limit(body.len()));
    let res = classify_with(
        layer,
        "http://a.test/",
        reply(200, &[("content-type", JSON)], body),
    )
    .await;
    assert_eq!(Outcome::kind_of(&res), Kind::ApplicationFailure);
}

#[tokio::test]
async fn malformed_json_keeps_the_status_verdict() {
    for body in [
        r#"{"Response":{"Code":7}"#,
        r#"{"Response":{"Code":7}} {"#,
        "not json at all",
        "\u{feff}{}",
    ] {
        let res = classify(reply(200, &[("content-type", JSON)], body)).await;
        assert_eq!(Outcome::of(&res), Outcome::Success, "{body}");
        assert_eq!(text(res).await, body);
    }
    // Bytes that are not UTF-8.
    let res = classify(
        Response::builder()
            .header("content-type", JSON)
            .body(Full::new(Bytes::from_static(
                b"{\"Response\":{\"Code\":\xff}}",
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], b"{\"Response\":{\"Code\":\xff}}");
}

#[tokio::test]
async fn deep_nesting() {
    // Too deep where a value is captured: the Errors block is dropped, the status stands.
    let deep = format!(r#"{{"Errors":{}{}}}"#, "[".repeat(5000), "]".repeat(5000));
    let res = classify(reply(400, &[("content-type", JSON)], &deep)).await;
    assert_eq!(Outcome::of(&res), Outcome::BadRequest { errors: None });
    assert_eq!(text(res).await, deep);
    // Deep nesting elsewhere is skipped without recursion, and the code is still found.
    let deep = format!(
        r#"{{"Pad":{}{},"Response":{{"Code":5}}}}"#,
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let res = classify(reply(200, &[("content-type", JSON)], &deep)).await;
    assert_eq!(Outcome::kind_of(&res), Kind::ApplicationFailure);
    // Unclosed nesting is malformed.
    let open = "{\"a\":".repeat(20_000);
    let res = classify(reply(200, &[("content-type", JSON)], &open)).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
}

#[tokio::test]
async fn only_json_content_types_are_read() {
    for ct in [
        None,
        Some("text/plain"),
        Some("application/octet-stream"),
        Some("application/jsonp"),
    ] {
        let mut res = reply(200, &[], APP_ERROR_BODY);
        if let Some(ct) = ct {
            res.headers_mut()
                .insert("content-type", HeaderValue::from_static(ct));
        }
        let res = classify(res).await;
        assert_eq!(Outcome::of(&res), Outcome::Success, "{ct:?}");
        assert!(!res.body().is_peeked(), "{ct:?}");
        assert_eq!(text(res).await, APP_ERROR_BODY);
    }
    for ct in [
        "application/json; charset=utf-8",
        "application/problem+json",
        "APPLICATION/JSON",
    ] {
        let res = classify(reply(200, &[("content-type", ct)], APP_ERROR_BODY)).await;
        assert_eq!(Outcome::kind_of(&res), Kind::ApplicationFailure, "{ct}");
    }
}

#[tokio::test]
async fn status_only_responses_do_not_touch_the_body() {
    let body = TestBody::chunks("plain text", 4);
    let polls = body.polls.clone();
    let res = classify(Response::builder().status(200).body(body).unwrap()).await;
    assert_eq!(polls.load(Ordering::SeqCst), 0);
    assert!(!res.body().is_peeked());
    assert!(res.extensions().is_empty());
    assert_eq!(text(res).await, "plain text");
}

#[tokio::test]
async fn many_small_chunks_with_pending_between_them() {
    let body = format!(
        r#"{{"Response":{{"Code":9,"Message":"{}"}}}}"#,
        "m".repeat(3000)
    );
    // 16-byte frames: 190 of them, under the 256 frames a 64 KiB prefix may hold.
    let res = classify(json_response(TestBody::chunks(&body, 16).with_pending())).await;
    assert_eq!(Outcome::kind_of(&res), Kind::ApplicationFailure);
    let Outcome::ApplicationFailure { message, .. } = Outcome::of(&res) else {
        unreachable!()
    };
    assert_eq!(message.unwrap().len(), 3000);
    // Frame for frame: 16-byte frames come back as 16-byte frames.
    let mut body_out = res.into_body();
    let mut frames = 0;
    let mut bytes = Vec::new();
    while let Some(frame) = body_out.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.len() == 16 || bytes.len() + data.len() == body.len());
        bytes.extend_from_slice(&data);
        frames += 1;
    }
    assert_eq!(frames, body.len().div_ceil(16));
    assert_eq!(bytes, body.as_bytes());
}

#[tokio::test]
async fn a_body_dribbled_in_tiny_frames_is_not_held() {
    // Regression (found by the facade's hostile-upstream tests): a JSON body sent one
    // byte per TCP segment made hyper yield 1-byte frames that each pinned a read buffer
    // of several KiB, and the prefix held one frame per byte of the bound: 65,536 frames,
    // about 270 MiB for one response. The prefix now holds at most 256 frames (for the
    // default 64 KiB bound); past that the status decides.
    let body = format!(
        r#"{{"Response":{{"Code":9}},"pad":"{}"}}"#,
        "p".repeat(60_000)
    );
    let test_body = TestBody::chunks(&body, 1);
    let polls = test_body.polls.clone();
    let res = classify(json_response(test_body)).await;
    assert_eq!(
        polls.load(Ordering::SeqCst),
        256,
        "stopped at the frame cap"
    );
    assert_eq!(Outcome::of(&res), Outcome::Success, "not inspected");
    assert!(res.body().is_peeked());
    // Still every byte, frame for frame.
    let mut body_out = res.into_body();
    let mut frames = 0;
    let mut bytes = Vec::new();
    while let Some(frame) = body_out.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert_eq!(data.len(), 1);
        bytes.extend_from_slice(&data);
        frames += 1;
    }
    assert_eq!(frames, body.len());
    assert_eq!(bytes, body.as_bytes());

    // The cap scales with the bound: one frame per 256 bytes, at least 64 (the rule of
    // `recourse_core::body::Peek`, measured here through the layer).
    assert_eq!(frames_held(64 * 1024).await, 256);
    assert_eq!(frames_held(1024 * 1024).await, 4096);
    assert_eq!(frames_held(100).await, 64);
    assert_eq!(frames_held(0).await, 64);
}

/// How many frames the layer reads, with `limit` as its peek limit, from a JSON body of
/// frames that carry no bytes (trailer frames) before the frame cap stops it.
async fn frames_held(limit: usize) -> usize {
    let body = TestBody::new(std::iter::repeat_n(Item::Trailers(HeaderMap::new()), 5000));
    let polls = body.polls.clone();
    let res = peek_json(limit, body).await;
    assert_eq!(Outcome::of(&res), Outcome::Success, "not inspected");
    polls.load(Ordering::SeqCst)
}

#[tokio::test]
async fn empty_frames_are_bounded() {
    // Endless empty frames must not hold the response forever: they are not held, but
    // they count toward the peek's frame bound.
    let items = std::iter::repeat_n(Item::Data(Bytes::new()), 5000).chain([Item::Data(
        Bytes::from_static(br#"{"Response":{"Code":1}}"#),
    )]);
    let res = peek_json(100, TestBody::new(items)).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert_eq!(text(res).await, r#"{"Response":{"Code":1}}"#);
}

#[tokio::test]
async fn trailers_pass_through() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let body = TestBody::new([
        Item::Data(Bytes::from_static(br#"{"Response":"#)),
        Item::Data(Bytes::from_static(br#"{"Code":2}}"#)),
        Item::Trailers(trailers.clone()),
    ]);
    let res = classify(json_response(body)).await;
    assert_eq!(Outcome::kind_of(&res), Kind::ApplicationFailure);
    assert!(!res.body().is_end_stream());
    let collected = res.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers(), Some(&trailers));
    assert_eq!(collected.to_bytes(), r#"{"Response":{"Code":2}}"#);

    // Trailers after the bound arrive too.
    let body = TestBody::new([
        Item::Data(Bytes::from_static(b"{\"Response\":{\"Code\":2}}")),
        Item::Data(Bytes::from_static(b"    ")),
        Item::Trailers(trailers.clone()),
    ]);
    let res = peek_json(24, body).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    let collected = res.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers(), Some(&trailers));
}

#[tokio::test]
async fn a_body_error_during_the_prefix_reaches_the_caller() {
    let body = TestBody::new([
        Item::Data(Bytes::from_static(br#"{"Response":"#)),
        Item::Error("connection reset"),
        Item::Data(Bytes::from_static(b"never")),
    ])
    .with_pending();
    let res = classify(json_response(body)).await;
    // The status decides; the request itself does not fail.
    assert_eq!(Outcome::of(&res), Outcome::Success);
    let mut body = res.into_body();
    assert!(!body.is_end_stream());
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, r#"{"Response":"#);
    assert_eq!(
        body.frame().await.unwrap().unwrap_err(),
        TestError("connection reset")
    );
    // Nothing after the error: the inner body is not polled again.
    assert!(body.frame().await.is_none());
    assert!(body.is_end_stream());
}

#[tokio::test]
async fn size_hint_and_end_of_stream_of_an_inspected_body() {
    let res = classify(reply(200, &[("content-type", JSON)], OK_BODY)).await;
    let body = res.into_body();
    assert!(body.is_peeked());
    assert_eq!(body.size_hint().exact(), Some(OK_BODY.len() as u64));
    assert!(!body.is_end_stream());
    let collected = body.collect().await.unwrap().to_bytes();
    assert_eq!(collected.len(), OK_BODY.len());

    // Over the bound: the buffered bytes plus the rest.
    let res = peek_json(4, TestBody::chunks("0123456789", 5)).await;
    let mut body = res.into_body();
    assert_eq!(body.size_hint().lower(), 5);
    let _ = body.frame().await;
    assert_eq!(body.size_hint().lower(), 0);
    assert_eq!(text(Response::new(body)).await, "56789");
}

#[tokio::test]
async fn empty_json_body_is_not_read() {
    let res = classify(reply(200, &[("content-type", JSON)], "")).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert!(!res.body().is_peeked());
}

/// Sends a JSON 200 whose body is `body` through a layer that peeks at most `limit` bytes.
async fn peek_json<B: Body + Send + 'static>(limit: usize, body: B) -> Response<PeekBody<B>> {
    let layer = ClassifyLayer::new().body_codes(BodyCodes::new().peek_limit(limit));
    let res = json_response(body);
    classify_with(layer, "http://a.test/", res).await
}
