//! Configuration: status tables, closures and policies, body-code paths and statuses,
//! Location resolution.

use super::*;

#[tokio::test]
async fn table_makes_codes_retryable_and_success() {
    let layer = ClassifyLayer::new().policy(
        StatusTable::new()
            .retryable([s(429), s(502), s(504)])
            .success([s(404)]),
    );
    for code in [429, 502, 504] {
        let res = classify_with(
            layer.clone(),
            "http://a.test/",
            reply(code, &[("retry-after", "2")], ""),
        )
        .await;
        assert_eq!(
            Outcome::of(&res),
            Outcome::Retryable {
                status: s(code),
                retry_after: Some(Duration::from_secs(2))
            }
        );
        // Other layers see the remapped class.
        assert_eq!(Class::of(&res), Class::Retryable, "{code}");
    }
    let res = classify_with(layer.clone(), "http://a.test/", reply(404, &[], "")).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert_eq!(Class::of(&res), Class::Success);
    // Untouched rows stay standard, with nothing stored.
    let res = classify_with(layer, "http://a.test/", reply(403, &[], "")).await;
    assert_eq!(Outcome::of(&res), Outcome::Forbidden);
    assert!(res.extensions().is_empty());
}

#[tokio::test]
async fn closures_are_policies() {
    let layer = ClassifyLayer::with_policy(|head: &Head<'_>| {
        if head.headers().contains_key("x-warming-up") {
            Kind::Retryable
        } else {
            head.standard()
        }
    });
    let res = classify_with(
        layer.clone(),
        "http://a.test/",
        reply(418, &[("x-warming-up", "1")], ""),
    )
    .await;
    assert_eq!(Class::of(&res), Class::Retryable);
    let res = classify_with(layer.clone(), "http://a.test/", reply(418, &[], "")).await;
    assert_eq!(Class::of(&res), Class::ClientError);
    // Body codes still apply with a custom policy.
    let res = classify_with(
        layer,
        "http://a.test/",
        reply(200, &[("content-type", JSON)], APP_ERROR_BODY),
    )
    .await;
    assert_eq!(Class::of(&res), Class::ApplicationFailure);
}

#[derive(Clone)]
struct CodeAware;

impl Policy for CodeAware {
    fn classify(&mut self, head: &Head<'_>) -> Kind {
        head.standard()
    }

    fn classify_code(&mut self, _head: &Head<'_>, kind: Kind, code: i64) -> Kind {
        match code {
            0 => kind,
            // "Try again later" in this API.
            75 => Kind::Retryable,
            _ => Kind::ApplicationFailure,
        }
    }
}

#[tokio::test]
async fn policies_can_classify_body_codes() {
    let layer = ClassifyLayer::with_policy(CodeAware);
    let res = classify_with(
        layer.clone(),
        "http://a.test/",
        reply(
            200,
            &[("content-type", JSON)],
            r#"{"Response":{"Code":75}}"#,
        ),
    )
    .await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::Retryable {
            status: s(200),
            retry_after: None
        }
    );
    assert_eq!(Class::of(&res), Class::Retryable);
    let res = classify_with(
        layer,
        "http://a.test/",
        reply(200, &[("content-type", JSON)], OK_BODY),
    )
    .await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
}

#[tokio::test]
async fn code_path_is_configurable_and_case_insensitive() {
    let layer = ClassifyLayer::new().body_codes(
        BodyCodes::new()
            .code_path("Result.Status")
            .message_path("result.detail"),
    );
    let body = r#"{"RESULT":{"status":3,"Detail":"quota exceeded"},"Response":{"Code":0}}"#;
    let res = classify_with(
        layer,
        "http://a.test/",
        reply(200, &[("content-type", JSON)], body),
    )
    .await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::ApplicationFailure {
            code: 3,
            message: Some("quota exceeded".into())
        }
    );
    assert_eq!(text(res).await, body);

    // The default path, with keys in other cases.
    let body = r#"{"response":{"CODE":4,"message":"lower"}}"#;
    let res = classify(reply(200, &[("content-type", JSON)], body)).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::ApplicationFailure {
            code: 4,
            message: Some("lower".into())
        }
    );
}

#[tokio::test]
async fn numeric_string_codes() {
    for (body, expected) in [
        (
            r#"{"Response":{"Code":"7"}}"#,
            Outcome::ApplicationFailure {
                code: 7,
                message: None,
            },
        ),
        (r#"{"Response":{"Code":"0"}}"#, Outcome::Success),
        (r#"{"Response":{"Code":" 0 "}}"#, Outcome::Success),
        (
            r#"{"Response":{"Code":"-2"}}"#,
            Outcome::ApplicationFailure {
                code: -2,
                message: None,
            },
        ),
        // Not a number: no code, the status decides.
        (r#"{"Response":{"Code":"OK"}}"#, Outcome::Success),
        (r#"{"Response":{"Code":null}}"#, Outcome::Success),
        (r#"{"Response":{"Code":1.5}}"#, Outcome::Success),
        (r#"{"Response":{"Code":true}}"#, Outcome::Success),
    ] {
        let res = classify(reply(200, &[("content-type", JSON)], body)).await;
        assert_eq!(Outcome::of(&res), expected, "{body}");
    }
}

#[tokio::test]
async fn code_statuses_and_errors_statuses_are_configurable() {
    let layer = ClassifyLayer::new().body_codes(
        BodyCodes::new()
            .code_statuses([s(200), s(201)])
            .errors_statuses([s(400), s(422)]),
    );
    let res = classify_with(
        layer.clone(),
        "http://a.test/",
        reply(
            201,
            &[("content-type", JSON), ("location", "/x")],
            APP_ERROR_BODY,
        ),
    )
    .await;
    assert_eq!(Outcome::kind_of(&res), Kind::ApplicationFailure);
    let res = classify_with(
        layer.clone(),
        "http://a.test/",
        reply(
            422,
            &[("content-type", JSON)],
            r#"{"errors":[{"field":"Data","message":"too long"}]}"#,
        ),
    )
    .await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::ClientError {
            status: s(422),
            errors: Some(
                [ApiError::new(
                    None,
                    Some("too long".into()),
                    Some("Data".into())
                )]
                .into_iter()
                .collect()
            )
        }
    );
    // A status in neither set is not read.
    let res = classify_with(
        layer,
        "http://a.test/",
        reply(202, &[("content-type", JSON)], APP_ERROR_BODY),
    )
    .await;
    assert!(!res.body().is_peeked());
    assert_eq!(Outcome::kind_of(&res), Kind::Accepted);
}

#[tokio::test]
async fn without_body_codes_reads_nothing() {
    let res = classify_with(
        ClassifyLayer::new().without_body_codes(),
        "http://a.test/",
        reply(200, &[("content-type", JSON)], APP_ERROR_BODY),
    )
    .await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert!(!res.body().is_peeked());
    assert!(res.extensions().is_empty());
}

#[tokio::test]
async fn resolve_locations_can_be_turned_off() {
    let res = classify_with(
        ClassifyLayer::new().resolve_locations(false),
        "http://a.test/a/b",
        reply(201, &[("location", "c")], ""),
    )
    .await;
    assert!(res.extensions().is_empty());
    let location = Outcome::of(&res).location().cloned().unwrap();
    assert_eq!(location.uri(), None);
    assert_eq!(location.raw(), "c");
}
