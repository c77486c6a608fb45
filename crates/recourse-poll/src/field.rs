//! Terminal state from a field of the status resource's JSON body.
//!
//! Many services answer every poll with `200 OK` and say in the body whether the job is
//! done: Azure's `{"status": "InProgress"}`, Google's `{"done": true}`. A [`StatusField`]
//! names the field (a dotted path, keys matched ASCII-case-insensitively) and the values
//! that mean running, succeeded and failed.
//!
//! The layer reads at most [`limit`](StatusField::limit) bytes of a 2xx poll response
//! (64 KiB by default), keeping the frames as they came, and hands the caller the body
//! unchanged (the buffered frames, then the rest of the body; nothing is copied). A body
//! over the limit, a body that is not JSON (or nested deeper than `serde_json`'s recursion
//! limit), a body that fails, or an unrecognised value leaves the decision to the status
//! code.
//!
//! ```
//! use recourse_poll::StatusField;
//!
//! // Azure-style: {"status": "Succeeded" | "Failed" | "Canceled" | anything else = running}
//! let azure = StatusField::azure();
//! // Google LRO: {"done": true, "error": {...}}
//! let google = StatusField::google();
//! // Anything else:
//! let custom = StatusField::new("job.state")
//!     .running(["queued", "working"])
//!     .succeeded(["finished"])
//!     .failed(["crashed", "aborted"]);
//! # let _ = (azure, google, custom);
//! ```

use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::Decision;

/// The default number of body bytes read to find the field: 64 KiB.
pub const DEFAULT_FIELD_LIMIT: usize = 64 * 1024;

/// A JSON body field that tells whether the job is running, succeeded or failed.
///
/// String values are compared ASCII-case-insensitively, ignoring spaces, `_` and `-`:
/// the default running value `inprogress` matches `InProgress`, `in_progress` and
/// `In Progress`. Booleans are compared as the strings `true`/`false`, numbers exactly as
/// their text (`-1` is not `1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusField {
    path: Vec<String>,
    running: Vec<String>,
    succeeded: Vec<String>,
    failed: Vec<String>,
    failed_if_present: Option<Vec<String>>,
    limit: usize,
    unknown_is_running: bool,
    missing_is_running: bool,
}

impl StatusField {
    /// The field at `path` (dots separate the keys of nested objects, for example
    /// `properties.provisioningState`), with the default values:
    ///
    /// - running: `inprogress`, `running`, `pending`, `notstarted`, `queued`, `accepted`;
    /// - succeeded: `succeeded`, `success`, `completed`, `done`;
    /// - failed: `failed`, `failure`, `canceled`, `cancelled`, `error`.
    ///
    /// An unrecognised value or a missing field leaves the decision to the status code.
    pub fn new(path: &str) -> Self {
        Self {
            path: path.split('.').map(str::to_owned).collect(),
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
            limit: DEFAULT_FIELD_LIMIT,
            unknown_is_running: false,
            missing_is_running: false,
        }
    }

    /// Azure's long-running operation status monitor: the `status` field, terminal on
    /// `Succeeded`, `Failed` and `Canceled`; any other value means still running.
    pub fn azure() -> Self {
        Self::new("status")
            .succeeded(["succeeded"])
            .failed(["failed", "canceled"])
            .unknown_means_running(true)
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
    pub fn failed_if_present(mut self, path: &str) -> Self {
        self.failed_if_present = Some(path.split('.').map(str::to_owned).collect());
        self
    }

    /// How many body bytes are read at most to find the field (default
    /// [`DEFAULT_FIELD_LIMIT`]). A longer body leaves the decision to the status code.
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }

    /// Whether a value that is neither running, succeeded nor failed means running
    /// (default `false`: the status code decides).
    pub fn unknown_means_running(mut self, yes: bool) -> Self {
        self.unknown_is_running = yes;
        self
    }

    /// Whether a JSON body without the field (or with `null`) means running (default
    /// `false`: the status code decides).
    pub fn missing_means_running(mut self, yes: bool) -> Self {
        self.missing_is_running = yes;
        self
    }

    /// The configured byte limit.
    pub fn byte_limit(&self) -> usize {
        self.limit
    }

    /// Reads the field from a complete JSON body given as its frames.
    ///
    /// Returns the decision the field makes (if any) and its value as text.
    pub(crate) fn evaluate(&self, chunks: &[Bytes]) -> (Option<Decision>, Option<String>) {
        let joined;
        let bytes: &[u8] = match chunks {
            [] => &[],
            [one] => one,
            many => {
                joined = many.concat();
                &joined
            }
        };
        let Some(main) = extract(bytes, &self.path) else {
            return (None, None);
        };
        let main_kind = match main {
            Extracted::Number(_) => Kind::Number,
            _ => Kind::Other,
        };
        if let Some(path) = &self.failed_if_present
            && let Some(Extracted::Text(_) | Extracted::Number(_) | Extracted::Composite) =
                extract(bytes, path)
        {
            let text = match main {
                Extracted::Text(s) | Extracted::Number(s) => Some(s),
                _ => None,
            };
            return (Some(Decision::Failed), text);
        }
        match main {
            Extracted::Text(text) | Extracted::Number(text) => {
                let exact = matches!(main_kind, Kind::Number);
                let is = |values: &[String]| {
                    values.iter().any(|v| {
                        if exact {
                            *v == text
                        } else {
                            loose_eq(v, &text)
                        }
                    })
                };
                let decision = if is(&self.succeeded) {
                    Some(Decision::Succeeded)
                } else if is(&self.failed) {
                    Some(Decision::Failed)
                } else if is(&self.running) || self.unknown_is_running {
                    Some(Decision::Running)
                } else {
                    None
                };
                (decision, Some(text))
            }
            Extracted::Composite => (self.unknown_is_running.then_some(Decision::Running), None),
            Extracted::Missing | Extracted::Null => {
                (self.missing_is_running.then_some(Decision::Running), None)
            }
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

enum Kind {
    Number,
    Other,
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

/// What is at a path of a JSON document.
#[derive(Debug, PartialEq, Eq)]
enum Extracted {
    /// No such key on the way.
    Missing,
    /// `null`.
    Null,
    /// A string, or a boolean as `true`/`false`.
    Text(String),
    /// A number, as its text.
    Number(String),
    /// An object or an array.
    Composite,
}

/// Extracts the value at `path` from a JSON document without building it: other keys
/// are skipped. `None` if the document is not valid JSON (or too deeply nested).
fn extract(json: &[u8], path: &[String]) -> Option<Extracted> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let found = PathSeed { path }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(found)
}

struct PathSeed<'p> {
    path: &'p [String],
}

impl<'de> DeserializeSeed<'de> for PathSeed<'_> {
    type Value = Extracted;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Extracted, D::Error> {
        d.deserialize_any(self)
    }
}

impl PathSeed<'_> {
    fn scalar(
        &self,
        make: impl FnOnce(String) -> Extracted,
        text: impl FnOnce() -> String,
    ) -> Extracted {
        if self.path.is_empty() {
            make(text())
        } else {
            Extracted::Missing
        }
    }
}

impl<'de> Visitor<'de> for PathSeed<'_> {
    type Value = Extracted;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Extracted, E> {
        Ok(self.scalar(Extracted::Text, || v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Extracted, E> {
        Ok(self.scalar(Extracted::Number, || v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Extracted, E> {
        Ok(self.scalar(Extracted::Number, || v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Extracted, E> {
        Ok(self.scalar(Extracted::Number, || v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Extracted, E> {
        Ok(self.scalar(Extracted::Text, || v.to_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Extracted, E> {
        Ok(if self.path.is_empty() {
            Extracted::Null
        } else {
            Extracted::Missing
        })
    }

    fn visit_none<E: de::Error>(self) -> Result<Extracted, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Extracted, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(if self.path.is_empty() {
            Extracted::Composite
        } else {
            Extracted::Missing
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extracted, A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Extracted::Composite);
        };
        let mut found = None;
        while let Some(is_match) = map.next_key_seed(KeyMatch(first))? {
            if is_match && found.is_none() {
                found = Some(map.next_value_seed(PathSeed { path: rest })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found.unwrap_or(Extracted::Missing))
    }
}

/// Compares an object key with a path segment, ASCII-case-insensitively, without
/// allocating.
struct KeyMatch<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyMatch<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v.eq_ignore_ascii_case(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(field: &StatusField, json: &str) -> (Option<Decision>, Option<String>) {
        field.evaluate(&[Bytes::copy_from_slice(json.as_bytes())])
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
    fn keys_case_insensitive_nested_paths_and_first_wins() {
        let f = StatusField::new("properties.provisioningState");
        let json = r#"{"id":"x","Properties":{"ProvisioningState":"Succeeded","x":[1,{"y":2}]}}"#;
        assert_eq!(eval(&f, json).0, Some(Decision::Succeeded));
        let dup = r#"{"status":"running","status":"succeeded"}"#;
        assert_eq!(
            eval(&StatusField::new("status"), dup).0,
            Some(Decision::Running)
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
        let chunks = [
            Bytes::from_static(br#"{"sta"#),
            Bytes::from_static(br#"tus":"suc"#),
            Bytes::from_static(br#"ceeded"}"#),
        ];
        assert_eq!(f.evaluate(&chunks).0, Some(Decision::Succeeded));
        assert_eq!(f.evaluate(&[]), (None, None));
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
        assert_eq!(f.byte_limit(), DEFAULT_FIELD_LIMIT);
        assert_eq!(f.limit(10).byte_limit(), 10);
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
