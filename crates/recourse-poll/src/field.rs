//! Terminal state from a field of the status resource's JSON body.
//!
//! Many services answer every poll with `200 OK` and say in the body whether the job is
//! done: Azure's `{"status": "InProgress"}`, Google's `{"done": true}`. A [`StatusField`]
//! names the field (a dotted path, keys matched ASCII-case-insensitively, the last of
//! repeated keys winning: [`recourse_core::json::scan`]) and the values that mean running,
//! succeeded and failed; optionally a second field names the result's URL (Azure's
//! `resourceLocation`).
//!
//! ```
//! use recourse_poll::StatusField;
//!
//! // Azure-style: {"status": "Succeeded" | "Failed" | "Canceled" | anything else = running},
//! // the result at "resourceLocation" when present.
//! let azure = StatusField::azure();
//! // Google LRO: {"done": true, "error": {...}}
//! let google = StatusField::google();
//! // Anything else:
//! let custom = StatusField::new("job.state")
//!     .running(["queued", "working"])
//!     .succeeded(["finished"])
//!     .failed(["crashed", "aborted"])
//!     .result_field("job.output_url")
//!     .strict(false);
//! # let _ = (azure, google, custom);
//! ```

use recourse_core::json::{self, JsonPath};
use recourse_core::limits::DEFAULT_PEEK_LIMIT;
use serde_json::Value;

use crate::Decision;
use crate::error::ViolationKind;

/// A JSON body field that tells whether the job is running, succeeded or failed.
///
/// String values are compared ASCII-case-insensitively, ignoring spaces, `_` and `-`:
/// the default running value `inprogress` matches `InProgress`, `in_progress` and
/// `In Progress`. Booleans are compared as the strings `true`/`false`, numbers exactly as
/// their text (`-1` is not `1`).
///
/// The layer reads at most [`peek_limit`](StatusField::peek_limit) bytes of a 2xx poll
/// response (64 KiB by default, [`DEFAULT_PEEK_LIMIT`]), keeping the frames as they came,
/// and hands the caller the body unchanged (the buffered frames, then the rest of the body;
/// nothing is copied).
///
/// # When the body does not say
///
/// A body over the limit, a body that is not JSON (or nests the field deeper than
/// `serde_json`'s recursion limit), a body that fails, a missing field (or `null`) and an
/// unrecognised value do not decide. What happens then:
///
/// 1. A missing field means running when [`missing_means_running`](StatusField::missing_means_running)
///    is set (Google's preset), an unrecognised value when
///    [`unknown_means_running`](StatusField::unknown_means_running) is (Azure's preset).
/// 2. Otherwise, when the status code or the classify layer's verdict says the job is
///    running or failed (a `202 Accepted`, a [`Class`](recourse_core::Class) failure), that
///    decides.
/// 3. Otherwise (a 200 or another 2xx that would be taken for the job's success), with
///    [`strict`](StatusField::strict) on (the default) the response breaks the status
///    protocol the field describes, and polling fails with a typed
///    [`PollError::is_protocol_violation`](crate::PollError::is_protocol_violation)
///    carrying the status URL and what was wrong ([`ProtocolViolation`](crate::ProtocolViolation)):
///    taking it for a success would return a status document as if it were the result.
///    With `strict(false)` the status code decides (a 2xx means succeeded), as the
///    [`Policy`](crate::Policy) may.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusField {
    path: JsonPath,
    running: Vec<String>,
    succeeded: Vec<String>,
    failed: Vec<String>,
    failed_if_present: Option<JsonPath>,
    result: Option<JsonPath>,
    peek_limit: usize,
    unknown_is_running: bool,
    missing_is_running: bool,
    strict: bool,
}

impl StatusField {
    /// The field at `path` (dots separate the keys of nested objects, for example
    /// `properties.provisioningState`; a [`JsonPath`] for keys with dots), with the
    /// default values:
    ///
    /// - running: `inprogress`, `running`, `pending`, `notstarted`, `queued`, `accepted`;
    /// - succeeded: `succeeded`, `success`, `completed`, `done`;
    /// - failed: `failed`, `failure`, `canceled`, `cancelled`, `error`.
    ///
    /// [Strict](Self::strict): a status response that would be taken for success (a 2xx
    /// other than 202) whose body does not decide is a protocol violation.
    pub fn new(path: impl Into<JsonPath>) -> Self {
        Self {
            path: path.into(),
            running: strings([
                "inprogress",
                "running",
                "pending",
                "notstarted",
                "queued",
                "accepted",
            ]),
            succeeded: strings(["succeeded", "success", "completed", "done"]),
            failed: strings(["failed", "failure", "canceled", "cancelled", "error"]),
            failed_if_present: None,
            result: None,
            peek_limit: DEFAULT_PEEK_LIMIT,
            unknown_is_running: false,
            missing_is_running: false,
            strict: true,
        }
    }

    /// Azure's long-running operation status monitor: the `status` field, terminal on
    /// `Succeeded`, `Failed` and `Canceled`; any other value means still running; the
    /// result at the URL in `resourceLocation` when a succeeded status names one.
    pub fn azure() -> Self {
        Self::new("status")
            .succeeded(["succeeded"])
            .failed(["failed", "canceled"])
            .unknown_means_running(true)
            .result_field("resourceLocation")
    }

    /// Google's `google.longrunning.Operation`: `done` is `true` when finished (absent or
    /// `false` while running), and a present `error` means the operation failed.
    pub fn google() -> Self {
        Self::new("done")
            .running(["false"])
            .succeeded(["true"])
            .failed(std::iter::empty::<&str>())
            .failed_if_present("error")
            .missing_means_running(true)
    }

    /// Replaces the values that mean the job is still running.
    pub fn running<I, V>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: AsRef<str>,
    {
        self.running = strings(values);
        self
    }

    /// Replaces the values that mean the job succeeded.
    pub fn succeeded<I, V>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: AsRef<str>,
    {
        self.succeeded = strings(values);
        self
    }

    /// Replaces the values that mean the job failed (or was canceled).
    pub fn failed<I, V>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: AsRef<str>,
    {
        self.failed = strings(values);
        self
    }

    /// A second field (dotted path) whose presence with a value other than `null` means
    /// the job failed, whatever the main field says (Google's `error`).
    pub fn failed_if_present(mut self, path: impl Into<JsonPath>) -> Self {
        self.failed_if_present = Some(path.into());
        self
    }

    /// A field (dotted path) of a succeeded status response that names the job's result:
    /// a URL, resolved like a `Location` against the URI that answered (RFC 3986 §5), and
    /// fetched with `GET` as the result in place of the [`FinalState`](crate::FinalState)
    /// resource (Azure's `resourceLocation`). Absent, `null` or not a string: the
    /// `FinalState` decides. Default: none (Azure's preset: `resourceLocation`).
    pub fn result_field(mut self, path: impl Into<JsonPath>) -> Self {
        self.result = Some(path.into());
        self
    }

    /// How many body bytes are read at most to find the field (default
    /// [`DEFAULT_PEEK_LIMIT`], 64 KiB). A longer body does not decide.
    pub fn peek_limit(mut self, bytes: usize) -> Self {
        self.peek_limit = bytes;
        self
    }

    /// Whether a value that is neither running, succeeded nor failed (or an object or
    /// array) means running (default `false`: it does not decide).
    pub fn unknown_means_running(mut self, yes: bool) -> Self {
        self.unknown_is_running = yes;
        self
    }

    /// Whether a JSON body without the field (or with `null`) means running (default
    /// `false`: it does not decide).
    pub fn missing_means_running(mut self, yes: bool) -> Self {
        self.missing_is_running = yes;
        self
    }

    /// Whether a status response that would be taken for the job's success (a 2xx other
    /// than 202, without a failure verdict of the classify layer) whose body does not
    /// decide (not JSON, over the peek limit, failed, without the field, an unrecognised
    /// value) is a
    /// protocol violation, a typed [`PollError`](crate::PollError) (default `true`), or is
    /// left to the status code (`false`: a 2xx means succeeded). See
    /// [When the body does not say](Self#when-the-body-does-not-say).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The path of the field.
    pub fn get_path(&self) -> &JsonPath {
        &self.path
    }

    /// The path of the result URL field, if one is set.
    pub fn get_result_field(&self) -> Option<&JsonPath> {
        self.result.as_ref()
    }

    /// The configured peek limit.
    pub fn get_peek_limit(&self) -> usize {
        self.peek_limit
    }

    /// Whether a status response whose body does not decide is a protocol violation.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Reads the field (and the failure and result fields) from a complete body.
    pub(crate) fn evaluate(&self, body: &[u8]) -> Reading {
        let [main, failure, result] = match json::scan(
            body,
            [
                Some(&self.path),
                self.failed_if_present.as_ref(),
                self.result.as_ref(),
            ],
        ) {
            Ok(values) => values,
            Err(_) => return Reading::undecided(ViolationKind::NotJson),
        };
        let result = match result {
            Some(Value::String(url)) => Some(url),
            _ => None,
        };
        let failed = failure.is_some_and(|v| !v.is_null());
        let text = match &main {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if failed {
            return Reading {
                decision: Ok(Decision::Failed),
                text,
                result,
            };
        }
        let decision = match (&main, &text) {
            (Some(Value::Number(_)), Some(text)) => self.classify(text, true),
            (Some(Value::String(_) | Value::Bool(_)), Some(text)) => self.classify(text, false),
            (None | Some(Value::Null), _) if self.missing_is_running => Ok(Decision::Running),
            (None | Some(Value::Null), _) => Err(ViolationKind::MissingField),
            _ if self.unknown_is_running => Ok(Decision::Running),
            (Some(Value::Array(_)), _) => Err(ViolationKind::UnknownValue("an array".into())),
            _ => Err(ViolationKind::UnknownValue("an object".into())),
        };
        Reading {
            decision,
            text,
            result,
        }
    }

    fn classify(&self, text: &str, exact: bool) -> Result<Decision, ViolationKind> {
        let is = |values: &[String]| {
            values
                .iter()
                .any(|v| if exact { v == text } else { loose_eq(v, text) })
        };
        if is(&self.succeeded) {
            Ok(Decision::Succeeded)
        } else if is(&self.failed) {
            Ok(Decision::Failed)
        } else if is(&self.running) || self.unknown_is_running {
            Ok(Decision::Running)
        } else {
            Err(ViolationKind::UnknownValue(text.to_owned()))
        }
    }
}

/// What a status body says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reading {
    /// The decision, or why the body makes none.
    pub(crate) decision: Result<Decision, ViolationKind>,
    /// The field's value as text (a string, `true`/`false`, a number).
    pub(crate) text: Option<String>,
    /// The result URL field's string value.
    pub(crate) result: Option<String>,
}

impl Reading {
    pub(crate) fn undecided(why: ViolationKind) -> Self {
        Self {
            decision: Err(why),
            text: None,
            result: None,
        }
    }
}

fn strings<I, V>(values: I) -> Vec<String>
where
    I: IntoIterator<Item = V>,
    V: AsRef<str>,
{
    values.into_iter().map(|v| v.as_ref().to_owned()).collect()
}

/// Whether two strings are equal ASCII-case-insensitively, ignoring spaces, `_` and `-`.
fn loose_eq(a: &str, b: &str) -> bool {
    fn significant(c: &&u8) -> bool {
        !matches!(c, b' ' | b'_' | b'-')
    }
    let mut a = a.as_bytes().iter().filter(significant);
    let mut b = b.as_bytes().iter().filter(significant);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn eval(field: &StatusField, json: &str) -> (Option<Decision>, Option<String>) {
        let reading = field.evaluate(json.as_bytes());
        (reading.decision.ok(), reading.text)
    }

    #[test]
    fn default_values_match_loosely() {
        let f = StatusField::new("status");
        for (json, want) in [
            (r#"{"status":"InProgress"}"#, Some(Decision::Running)),
            (r#"{"status":"in_progress"}"#, Some(Decision::Running)),
            (r#"{"status":"In Progress"}"#, Some(Decision::Running)),
            (r#"{"status":"NotStarted"}"#, Some(Decision::Running)),
            (r#"{"status":"PENDING"}"#, Some(Decision::Running)),
            (r#"{"status":"Succeeded"}"#, Some(Decision::Succeeded)),
            (r#"{"status":"failed"}"#, Some(Decision::Failed)),
            (r#"{"status":"Canceled"}"#, Some(Decision::Failed)),
            (r#"{"status":"Updating"}"#, None),
            (r#"{"other":"Succeeded"}"#, None),
            (r#"{"status":null}"#, None),
            (r#"{"status":{"a":1}}"#, None),
            (r#"["status"]"#, None),
            (r#""status""#, None),
        ] {
            assert_eq!(eval(&f, json).0, want, "{json}");
        }
        assert_eq!(
            eval(&f, r#"{"status":"Running"}"#).1.as_deref(),
            Some("Running")
        );
    }

    #[test]
    fn keys_case_insensitive_nested_paths_and_last_wins() {
        let f = StatusField::new("properties.provisioningState");
        let json = r#"{"id":"x","Properties":{"ProvisioningState":"Succeeded","x":[1,{"y":2}]}}"#;
        assert_eq!(eval(&f, json).0, Some(Decision::Succeeded));
        // The last of repeated keys wins (`recourse_core::json::scan`; it was the first).
        let dup = r#"{"status":"running","status":"succeeded"}"#;
        assert_eq!(
            eval(&StatusField::new("status"), dup).0,
            Some(Decision::Succeeded)
        );
    }

    #[test]
    fn escaped_keys_and_values() {
        let f = StatusField::new("status");
        let json = r#"{"st\u0061tus":"succ\u0065eded"}"#;
        assert_eq!(eval(&f, json).0, Some(Decision::Succeeded));
    }

    #[test]
    fn malformed_and_deep_json_decide_nothing() {
        let f = StatusField::new("status").unknown_means_running(true);
        for json in [
            "",
            "{",
            r#"{"status":"running""#,
            r#"{"status":"running"} trailing"#,
            "not json",
        ] {
            assert_eq!(eval(&f, json), (None, None), "{json:?}");
        }
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(eval(&f, &deep), (None, None));
        let deep_map = format!(
            r#"{}"status":"running"{}"#,
            r#"{"a":"#.repeat(100_000),
            "}".repeat(100_000)
        );
        assert_eq!(eval(&f, &deep_map), (None, None));
    }

    #[test]
    fn split_frames_are_joined_for_parsing() {
        let f = StatusField::new("status");
        // The frames are joined by `recourse_core::body::Peek::bytes`.
        let chunks = [
            Bytes::from_static(br#"{"sta"#),
            Bytes::from_static(br#"tus":"suc"#),
            Bytes::from_static(br#"ceeded"}"#),
        ];
        let joined = String::from_utf8(chunks.concat()).unwrap();
        assert_eq!(eval(&f, &joined).0, Some(Decision::Succeeded));
        assert_eq!(eval(&f, ""), (None, None));
    }

    #[test]
    fn azure_preset() {
        let f = StatusField::azure();
        assert_eq!(
            eval(&f, r#"{"status":"Updating"}"#).0,
            Some(Decision::Running)
        );
        assert_eq!(
            eval(&f, r#"{"status":"Canceled"}"#).0,
            Some(Decision::Failed)
        );
        assert_eq!(
            eval(&f, r#"{"status":"Succeeded"}"#).0,
            Some(Decision::Succeeded)
        );
        assert_eq!(eval(&f, r#"{"id":"1"}"#).0, None);
    }

    #[test]
    fn google_preset() {
        let f = StatusField::google();
        assert_eq!(eval(&f, r#"{"name":"op/1"}"#).0, Some(Decision::Running));
        assert_eq!(
            eval(&f, r#"{"name":"op/1","done":false}"#).0,
            Some(Decision::Running)
        );
        assert_eq!(
            eval(&f, r#"{"done":true,"response":{}}"#),
            (Some(Decision::Succeeded), Some("true".into()))
        );
        assert_eq!(
            eval(&f, r#"{"done":true,"error":{"code":5}}"#).0,
            Some(Decision::Failed)
        );
        assert_eq!(
            eval(&f, r#"{"done":true,"error":null}"#).0,
            Some(Decision::Succeeded)
        );
    }

    #[test]
    fn numbers_and_custom_values() {
        let f = StatusField::new("state")
            .running(["1"])
            .succeeded(["2"])
            .failed(["-1"]);
        assert_eq!(eval(&f, r#"{"state":1}"#).0, Some(Decision::Running));
        assert_eq!(eval(&f, r#"{"state":2}"#).0, Some(Decision::Succeeded));
        assert_eq!(eval(&f, r#"{"state":-1}"#).0, Some(Decision::Failed));
        assert_eq!(eval(&f, r#"{"state":2.5}"#).0, None);
        assert_eq!(f.get_peek_limit(), DEFAULT_PEEK_LIMIT);
        assert_eq!(f.peek_limit(10).get_peek_limit(), 10);
    }

    #[test]
    fn why_a_body_does_not_decide_and_the_result_field() {
        let f = StatusField::new("status");
        let why = |json: &str| f.evaluate(json.as_bytes()).decision.unwrap_err();
        assert_eq!(why("not json"), ViolationKind::NotJson);
        assert_eq!(why(""), ViolationKind::NotJson);
        assert_eq!(why(r#"{"id":1}"#), ViolationKind::MissingField);
        assert_eq!(why(r#"{"status":null}"#), ViolationKind::MissingField);
        assert_eq!(
            why(r#"{"status":"Updating"}"#),
            ViolationKind::UnknownValue("Updating".into())
        );
        assert_eq!(
            why(r#"{"status":[1]}"#),
            ViolationKind::UnknownValue("an array".into())
        );
        assert!(f.is_strict() && !f.clone().strict(false).is_strict());

        let azure = StatusField::azure();
        assert_eq!(
            azure.get_result_field().unwrap().to_string(),
            "resourceLocation"
        );
        let reading = azure
            .evaluate(br#"{"status":"Succeeded","resourceLocation":"https://a.test/things/1"}"#);
        assert_eq!(reading.decision, Ok(Decision::Succeeded));
        assert_eq!(reading.result.as_deref(), Some("https://a.test/things/1"));
        let reading = azure.evaluate(br#"{"status":"Succeeded","resourceLocation":7}"#);
        assert_eq!(reading.result, None, "only a string names a URL");
        assert_eq!(StatusField::new("a.b").get_path().to_string(), "a.b");
    }

    #[test]
    fn loose_equality() {
        assert!(loose_eq("inprogress", "In-Progress"));
        assert!(loose_eq("notstarted", "NOT_STARTED"));
        assert!(!loose_eq("running", "runnin"));
        assert!(!loose_eq("run", "running"));
        assert!(loose_eq("", " _-"));
    }
}
