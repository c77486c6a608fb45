//! Every row of the response-code table, one test (or a few) per status.

use super::*;

#[tokio::test]
async fn row_200_code_zero_is_success_and_stores_nothing() {
    let res = classify(reply(200, &[("content-type", JSON)], OK_BODY)).await;
    assert_eq!(Outcome::of(&res), Outcome::Success);
    assert_eq!(Class::of(&res), Class::Success);
    assert!(
        res.extensions().is_empty(),
        "a standard verdict is derived, not stored"
    );
    assert!(res.body().is_peeked());
    assert_eq!(text(res).await, OK_BODY);
}

#[tokio::test]
async fn row_200_code_nonzero_is_application_failure() {
    let res = classify(reply(200, &[("content-type", JSON)], APP_ERROR_BODY)).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::ApplicationFailure {
            code: 7,
            message: Some("Unsupported symbology: QR".into())
        }
    );
    assert_eq!(Class::of(&res), Class::ApplicationFailure);
    assert!(Class::of(&res).is_failure());
    assert_eq!(Outcome::kind_of(&res), Kind::ApplicationFailure);
    assert_eq!(text(res).await, APP_ERROR_BODY);
}

#[tokio::test]
async fn row_200_without_message() {
    let res = classify(reply(
        200,
        &[("content-type", JSON)],
        r#"{"Response":{"Code":12}}"#,
    ))
    .await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::ApplicationFailure {
            code: 12,
            message: None
        }
    );
}

#[tokio::test]
async fn row_201_created_resolves_location_against_the_request() {
    let res = classify(reply(201, &[("location", "../items/42")], "")).await;
    let outcome = Outcome::of(&res);
    let Outcome::Created {
        location: Some(location),
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(location.uri().unwrap(), "http://api.test/barcode/items/42");
    assert_eq!(location.raw(), "../items/42");
    assert_eq!(Class::of(&res), Class::Success);
    // The resolved location needed the request URI: it is stored; the class is not.
    assert!(res.extensions().get::<Outcome>().is_some());
    assert!(res.extensions().get::<Class>().is_none());
}

#[tokio::test]
async fn locations_resolve_against_the_uri_that_answered() {
    // Outside a redirect layer, the response carries the `FinalUri` it answered from: a
    // relative `Location` resolves against it, not against the URI first asked for
    // (RFC 9110 §10.2.2).
    let answered =
        || recourse_core::FinalUri::new("http://api.test/v2/submit".parse().unwrap(), None);
    for status in [201, 202, 303] {
        let mut res = reply(status, &[("location", "status/1")], "");
        answered().insert_into(&mut res);
        let res = classify_with(ClassifyLayer::new(), "http://api.test/v1/submit", res).await;
        let outcome = Outcome::of(&res);
        let location = outcome.location().expect("a location");
        assert_eq!(
            location.uri().unwrap(),
            "http://api.test/v2/status/1",
            "{status}"
        );
    }
    // Without one, the request URI is the base.
    let res = classify_with(
        ClassifyLayer::new(),
        "http://api.test/v1/submit",
        reply(202, &[("location", "status/1")], ""),
    )
    .await;
    assert_eq!(
        Outcome::of(&res).location().unwrap().uri().unwrap(),
        "http://api.test/v1/status/1"
    );
}

#[tokio::test]
async fn row_201_with_a_relative_request_uri_keeps_the_raw_location() {
    let res = classify_with(
        ClassifyLayer::new(),
        "/barcode",
        reply(201, &[("location", "/barcode/1")], ""),
    )
    .await;
    let location = Outcome::of(&res).location().cloned().unwrap();
    assert_eq!(location.uri(), None);
    assert_eq!(location.raw(), "/barcode/1");
    assert!(res.extensions().is_empty());
    // An absolute Location resolves on its own.
    let res = classify_with(
        ClassifyLayer::new(),
        "/barcode",
        reply(201, &[("location", "http://other.test/barcode/1")], ""),
    )
    .await;
    let location = Outcome::of(&res).location().cloned().unwrap();
    assert_eq!(location.uri().unwrap(), "http://other.test/barcode/1");
}

#[tokio::test]
async fn row_201_without_location() {
    let res = classify(reply(201, &[], "")).await;
    assert_eq!(Outcome::of(&res), Outcome::Created { location: None });
}

#[tokio::test(start_paused = true)]
async fn row_202_accepted_with_location_and_retry_after() {
    let res = classify(reply(
        202,
        &[("location", "/jobs/1"), ("retry-after", "5")],
        r#"{"status":"running"}"#,
    ))
    .await;
    let outcome = Outcome::of(&res);
    assert_eq!(outcome.kind(), Kind::Accepted);
    assert_eq!(outcome.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(
        outcome.location().unwrap().uri().unwrap(),
        "http://api.test/jobs/1"
    );
    assert_eq!(Class::of(&res), Class::Pending);
    assert!(!res.body().is_peeked());

    // An HTTP-date Retry-After is measured from tokio's clock.
    let at = recourse_core::clock::system_now() + Duration::from_secs(90);
    let date = httpdate_fmt(at);
    let res = classify(reply(202, &[("retry-after", &date)], "")).await;
    let wait = Outcome::of(&res).retry_after().unwrap();
    assert!(
        wait <= Duration::from_secs(90) && wait >= Duration::from_secs(89),
        "{wait:?}"
    );
}

fn httpdate_fmt(t: std::time::SystemTime) -> String {
    // RFC 9110 §5.6.7 IMF-fixdate, built by hand to avoid a dev-dependency.
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let days = secs / 86_400;
    let (h, m, sec) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {d:02} {} {year} {h:02}:{m:02}:{sec:02} GMT",
        months[(month - 1) as usize]
    )
}

#[tokio::test]
async fn row_304_not_modified() {
    let res = classify(reply(304, &[("etag", "\"v1\"")], "")).await;
    assert_eq!(Outcome::of(&res), Outcome::NotModified);
    assert_eq!(Class::of(&res), Class::NotModified);
    assert!(Class::of(&res).is_success());
}

#[tokio::test]
async fn row_307_redirect_with_location() {
    let res = classify(reply(307, &[("location", "/barcode/new")], "")).await;
    let outcome = Outcome::of(&res);
    let Outcome::Redirect {
        status,
        location: Some(location),
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(*status, s(307));
    assert_eq!(location.uri().unwrap(), "http://api.test/barcode/new");
    assert_eq!(Class::of(&res), Class::Redirect);
    assert_eq!(
        outcome.to_string(),
        "redirect 307 Temporary Redirect to http://api.test/barcode/new"
    );
}

#[tokio::test]
async fn row_400_bad_request_with_errors_block() {
    let res = classify(reply(400, &[("content-type", JSON)], BAD_BODY)).await;
    let outcome = Outcome::of(&res);
    let expected: Errors = [
        ApiError::new(
            Some("E101".into()),
            Some("Data must be 12 or 13 digits".into()),
            Some("Data".into()),
        ),
        ApiError::new(
            Some("E102".into()),
            Some("Symbology is required".into()),
            Some("Symbology".into()),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        outcome,
        Outcome::BadRequest {
            errors: Some(expected)
        }
    );
    assert_eq!(Class::of(&res), Class::ClientError);
    // The 400 body's own Response.Code (400) is not an application code: only 200 carries one.
    assert_eq!(outcome.kind(), Kind::BadRequest);
    assert_eq!(text(res).await, BAD_BODY);
}

#[tokio::test]
async fn row_400_without_json_has_no_errors() {
    let res = classify(reply(400, &[("content-type", "text/plain")], "bad")).await;
    assert_eq!(Outcome::of(&res), Outcome::BadRequest { errors: None });
    let res = classify(reply(
        400,
        &[("content-type", JSON)],
        r#"{"Message":"no block"}"#,
    ))
    .await;
    assert_eq!(Outcome::of(&res), Outcome::BadRequest { errors: None });
}

#[tokio::test]
async fn rows_401_403_404_409() {
    for (code, expected) in [
        (401, Outcome::Unauthorized),
        (403, Outcome::Forbidden),
        (404, Outcome::NotFound),
        (409, Outcome::Conflict),
    ] {
        let body = format!(r#"{{"Response":{{"Code":{code}}}}}"#);
        let res = classify(reply(code, &[("content-type", JSON)], &body)).await;
        assert_eq!(Outcome::of(&res), expected, "{code}");
        assert_eq!(Class::of(&res), Class::ClientError, "{code}");
        assert!(!res.body().is_peeked(), "{code}");
        assert_eq!(text(res).await, body);
    }
}

#[tokio::test]
async fn row_405_method_not_allowed_with_allow() {
    let res = classify(reply(405, &[("allow", "GET,  HEAD ,bad method,")], "")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::MethodNotAllowed {
            allow: vec![Method::GET, Method::HEAD]
        }
    );
    assert_eq!(Class::of(&res), Class::ClientError);
    let res = classify(reply(405, &[], "")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::MethodNotAllowed { allow: vec![] }
    );
}

#[tokio::test]
async fn rows_500_503_retryable_with_retry_after() {
    let res = classify(reply(500, &[], "")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::Retryable {
            status: s(500),
            retry_after: None
        }
    );
    assert!(Class::of(&res).is_retryable());
    let res = classify(reply(503, &[("retry-after", "120")], "")).await;
    assert_eq!(
        Outcome::of(&res),
        Outcome::Retryable {
            status: s(503),
            retry_after: Some(Duration::from_secs(120))
        }
    );
    // Garbage Retry-After is no Retry-After.
    let res = classify(reply(503, &[("retry-after", "soon")], "")).await;
    assert_eq!(Outcome::of(&res).retry_after(), None);
}

#[tokio::test]
async fn codes_outside_the_table() {
    let cases = [
        (204, Outcome::Success, Class::Success),
        (206, Outcome::Success, Class::Success),
        (
            101,
            Outcome::Informational { status: s(101) },
            Class::Informational,
        ),
        (
            308,
            Outcome::Redirect {
                status: s(308),
                location: None,
            },
            Class::Redirect,
        ),
        (
            418,
            Outcome::ClientError {
                status: s(418),
                errors: None,
            },
            Class::ClientError,
        ),
        (
            429,
            Outcome::TooManyRequests {
                retry_after: Some(Duration::from_secs(3)),
            },
            Class::ClientError,
        ),
        (
            502,
            Outcome::ServerError { status: s(502) },
            Class::ServerError,
        ),
        (
            504,
            Outcome::ServerError { status: s(504) },
            Class::ServerError,
        ),
        (
            599,
            Outcome::ServerError { status: s(599) },
            Class::ServerError,
        ),
        (
            799,
            Outcome::ServerError { status: s(799) },
            Class::ServerError,
        ),
    ];
    for (code, outcome, class) in cases {
        let res = classify(reply(code, &[("retry-after", "3")], "")).await;
        assert_eq!(Outcome::of(&res), outcome, "{code}");
        assert_eq!(Class::of(&res), class, "{code}");
        assert!(res.extensions().is_empty(), "{code}");
    }
}
