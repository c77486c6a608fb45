//! Finding values at paths in a JSON body, in one streaming pass that builds nothing it
//! does not keep.
//!
//! The walk only descends along the configured paths; every other value is skipped with
//! serde's `IgnoredAny`, which serde_json handles iteratively (no recursion), so nesting
//! outside the paths can neither overflow the stack nor hide a code. A value at the end of
//! a path is captured as a [`serde_json::Value`], under serde_json's recursion limit (128):
//! a captured value nested deeper than that fails the whole scan, and the response keeps
//! its status-level verdict.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A path of object keys into a JSON document, such as `Response.Code`.
///
/// Keys are matched ASCII-case-insensitively (`response.code` finds `"Response":{"Code":..}`).
/// Built from a string by splitting on `.`; the empty string is the document itself. For
/// keys that contain a `.`, use [`JsonPath::new`].
///
/// ```
/// use recourse_core::json::JsonPath;
///
/// let path = JsonPath::from("Response.Code");
/// assert_eq!(path.segments().collect::<Vec<_>>(), ["Response", "Code"]);
/// assert_eq!(JsonPath::new(["a.b", "c"]).to_string(), "a.b.c");
/// assert_eq!(JsonPath::from("").segments().count(), 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JsonPath {
    segments: Cow<'static, [Cow<'static, str>]>,
}

impl JsonPath {
    /// A path from its keys.
    pub fn new<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        JsonPath {
            segments: segments
                .into_iter()
                .map(|s| Cow::Owned(s.into()))
                .collect::<Vec<_>>()
                .into(),
        }
    }

    /// A path given by static keys, with no allocation.
    pub const fn from_static(segments: &'static [Cow<'static, str>]) -> Self {
        JsonPath {
            segments: Cow::Borrowed(segments),
        }
    }

    /// The keys, outermost first.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.segments.iter().map(|s| s.as_ref())
    }

    fn keys(&self) -> &[Cow<'static, str>] {
        &self.segments
    }
}

impl From<&str> for JsonPath {
    fn from(path: &str) -> Self {
        if path.is_empty() {
            JsonPath {
                segments: Cow::Borrowed(&[]),
            }
        } else {
            JsonPath::new(path.split('.'))
        }
    }
}

impl From<String> for JsonPath {
    fn from(path: String) -> Self {
        JsonPath::from(path.as_str())
    }
}

impl FromStr for JsonPath {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(JsonPath::from(s))
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

// === the scan ===

type Keys<'p> = &'p [Cow<'static, str>];
type Paths<'p, const N: usize> = [Option<Keys<'p>>; N];

/// Parses `body` as one JSON document and returns the value at each of the `N` paths
/// (`None` where a path is `None` or the document has nothing there), in one pass.
///
/// The rules, the same for every layer:
///
/// - keys are matched ASCII-case-insensitively;
/// - when an object repeats a key, the **last** value wins. RFC 8259 §4 says names SHOULD
///   be unique and leaves duplicates to the implementation; last-wins is what JavaScript's
///   `JSON.parse` and `serde_json::Value` do, so a value seen here is the value the
///   service's own JSON tooling most likely meant;
/// - everything off the paths is skipped without being built, iteratively, so deep nesting
///   elsewhere can neither overflow the stack nor hide a value.
///
/// ```
/// use recourse_core::json::{self, JsonPath};
///
/// let (code, status) = (JsonPath::from("Response.Code"), JsonPath::from("status"));
/// let body = br#"{"response": {"code": 7}, "status": "Running", "status": "Done"}"#;
/// let [c, s] = json::scan(body, [Some(&code), Some(&status)]).unwrap();
/// assert_eq!(c, Some(serde_json::json!(7)));
/// assert_eq!(s, Some(serde_json::json!("Done")), "the last duplicate wins");
/// ```
///
/// # Errors
///
/// Malformed JSON, trailing data, or a captured value nested deeper than `serde_json`'s
/// recursion limit (128).
pub fn scan<const N: usize>(
    body: &[u8],
    paths: [Option<&JsonPath>; N],
) -> Result<[Option<Value>; N], serde_json::Error> {
    let mut out: [Option<Value>; N] = std::array::from_fn(|_| None);
    let mut de = serde_json::Deserializer::from_slice(body);
    Node {
        paths: paths.map(|p| p.map(JsonPath::keys)),
        out: &mut out,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// The code at the end of a path: a JSON integer (or an integral float) that fits an
/// `i64`, or a string holding one (`"7"`, `" -3 "`).
pub fn code_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            // 2^63 as f64; anything at or past it does not fit.
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= -LIMIT && *f < LIMIT)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The text of a scalar value (a message), taking the string without a copy.
pub fn text_of(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value at `keys` below `value`, keys matched case-insensitively (last duplicate wins,
/// as in the streaming walk).
fn lookup<'v>(mut value: &'v Value, keys: Keys<'_>) -> Option<&'v Value> {
    for key in keys {
        let Value::Object(map) = value else {
            return None;
        };
        value = map
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .next_back()?;
    }
    Some(value)
}

/// One position in the document, with what is still to be found below it.
struct Node<'p, 'o, const N: usize> {
    paths: Paths<'p, N>,
    out: &'o mut [Option<Value>; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Node<'_, '_, N> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.paths.iter().flatten().any(|rest| rest.is_empty()) {
            // A path ends here: keep the value, and find the other paths inside it.
            let value = Value::deserialize(deserializer)?;
            for (slot, path) in self.out.iter_mut().zip(self.paths) {
                if let Some(found) = path.and_then(|keys| lookup(&value, keys)) {
                    *slot = Some(found.clone());
                }
            }
            Ok(())
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

impl<'de, const N: usize> Visitor<'de> for Node<'_, '_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(below) = map.next_key_seed(Key { paths: self.paths })? {
            if below.iter().all(Option::is_none) {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Node {
                    paths: below,
                    out: &mut *self.out,
                })?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key: which paths continue below it.
struct Key<'p, const N: usize> {
    paths: Paths<'p, N>,
}

impl<'de, 'p, const N: usize> DeserializeSeed<'de> for Key<'p, N> {
    type Value = Paths<'p, N>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Paths<'p, N>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'p, const N: usize> Visitor<'_> for Key<'p, N> {
    type Value = Paths<'p, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Paths<'p, N>, E> {
        Ok(self.paths.map(|path| match path {
            Some([first, rest @ ..]) if first.eq_ignore_ascii_case(key) => Some(rest),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(s: &str) -> JsonPath {
        JsonPath::from(s)
    }

    fn scan3(
        body: &str,
        code: &str,
        message: &str,
        errors: &str,
    ) -> Result<[Option<Value>; 3], serde_json::Error> {
        let (c, m, e) = (path(code), path(message), path(errors));
        scan(body.as_bytes(), [Some(&c), Some(&m), Some(&e)])
    }

    #[test]
    fn finds_values_case_insensitively() {
        let body = r#"{"x":[1,{"Response":2}],"RESPONSE":{"message":"hi","cOdE":7,"more":{}},"errors":[{"Code":"E1"}]}"#;
        let [code, message, errors] =
            scan3(body, "Response.Code", "Response.Message", "Errors").unwrap();
        assert_eq!(code, Some(json!(7)));
        assert_eq!(message, Some(json!("hi")));
        assert_eq!(errors, Some(json!([{"Code": "E1"}])));
    }

    #[test]
    fn missing_paths_and_non_objects() {
        let [code, message, errors] = scan3(
            r#"{"Response":[{"Code":1}],"Errors":null}"#,
            "Response.Code",
            "Response.Message",
            "Errors",
        )
        .unwrap();
        assert_eq!(code, None);
        assert_eq!(message, None);
        assert_eq!(errors, Some(Value::Null));
        let [code, ..] = scan3("[1,2,3]", "Response.Code", "m", "e").unwrap();
        assert_eq!(code, None);
        let [code, ..] = scan3("\"just a string\"", "Response.Code", "m", "e").unwrap();
        assert_eq!(code, None);
    }

    #[test]
    fn root_and_overlapping_paths() {
        let [code, ..] = scan3("5", "", "m", "e").unwrap();
        assert_eq!(code, Some(json!(5)));
        // One path ends where another continues.
        let [code, message, _] = scan3(r#"{"R":{"C":1,"M":"x"}}"#, "R.C", "R", "nope").unwrap();
        assert_eq!(code, Some(json!(1)));
        assert_eq!(message, Some(json!({"C": 1, "M": "x"})));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let [code, ..] = scan3(
            r#"{"Response":{"Code":1,"code":2}}"#,
            "Response.Code",
            "m",
            "e",
        )
        .unwrap();
        assert_eq!(code, Some(json!(2)));
        let [code, ..] = scan3(
            r#"{"Response":{"Code":1},"response":{"Code":3}}"#,
            "Response.Code",
            "m",
            "e",
        )
        .unwrap();
        assert_eq!(code, Some(json!(3)));
    }

    #[test]
    fn escaped_keys_match() {
        let [code, ..] =
            scan3(r#"{"Resp\u006fnse":{"Code":4}}"#, "Response.Code", "m", "e").unwrap();
        assert_eq!(code, Some(json!(4)));
    }

    #[test]
    fn malformed_and_trailing_data_fail() {
        for body in [
            r#"{"Response":{"Code":1}"#,
            r#"{"Response":{"Code":1}} trailing"#,
            r#"{"Response":{"Code":1},}"#,
            "",
            "{'a':1}",
        ] {
            assert!(scan3(body, "Response.Code", "m", "e").is_err(), "{body:?}");
        }
    }

    #[test]
    fn deep_nesting() {
        // Deep nesting outside the paths is skipped without recursion.
        let deep = format!(
            r#"{{"Response":{{"Code":9}},"x":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let [code, ..] = scan3(&deep, "Response.Code", "m", "e").unwrap();
        assert_eq!(code, Some(json!(9)));
        // A captured value nested too deep fails the scan.
        let deep = format!(r#"{{"Errors":{}{}}}"#, "[".repeat(1000), "]".repeat(1000));
        assert!(scan3(&deep, "Response.Code", "m", "Errors").is_err());
        // Unclosed deep nesting is malformed.
        let open = "[".repeat(100_000);
        assert!(scan3(&open, "Response.Code", "m", "e").is_err());
    }

    #[test]
    fn codes() {
        assert_eq!(code_of(&json!(0)), Some(0));
        assert_eq!(code_of(&json!(-12)), Some(-12));
        assert_eq!(code_of(&json!("7")), Some(7));
        assert_eq!(code_of(&json!(" 007 ")), Some(7));
        assert_eq!(code_of(&json!("-3")), Some(-3));
        assert_eq!(code_of(&json!(3.0)), Some(3));
        assert_eq!(code_of(&json!(3.5)), None);
        assert_eq!(code_of(&json!(u64::MAX)), None);
        assert_eq!(code_of(&json!(1e300)), None);
        assert_eq!(code_of(&json!("seven")), None);
        assert_eq!(code_of(&json!("")), None);
        assert_eq!(code_of(&json!("99999999999999999999")), None);
        assert_eq!(code_of(&json!(null)), None);
        assert_eq!(code_of(&json!({"Code": 1})), None);
        assert_eq!(text_of(json!("m")), Some("m".into()));
        assert_eq!(text_of(json!(5)), Some("5".into()));
        assert_eq!(text_of(json!([1])), None);
    }
}
