//! The `Errors` block of a 400 body, parsed into typed entries.

use std::fmt;

use serde_json::Value;

/// The `Errors` block of a response body: the details of why a request was invalid.
///
/// Parsing is tolerant, as a client must be with what servers send:
///
/// - an array of objects gives one [`ApiError`] per object, reading the keys `Code`,
///   `Message` and `Field` matched ASCII-case-insensitively; missing keys are `None`,
///   unknown keys are ignored, and a code may be a string or a number;
/// - an array element that is a string gives an entry with only a message;
/// - a single object with one of those keys gives one entry; any other object is read as
///   a map from field names to messages (`{"Data": "required"}` or
///   `{"Data": ["required", "too long"]}`);
/// - a string gives one entry with that message; `null` gives an empty block.
///
/// ```
/// use recourse_classify::Errors;
///
/// let block = serde_json::json!([
///     {"Code": "E101", "Message": "Data must be 12 or 13 digits", "Field": "Data"},
///     {"code": 102, "message": "Symbology is required", "extra": true},
/// ]);
/// let errors = Errors::from_json(&block);
/// assert_eq!(errors.len(), 2);
/// assert_eq!(errors[0].field(), Some("Data"));
/// assert_eq!(errors[1].code(), Some("102"));
/// assert_eq!(errors[1].numeric_code(), Some(102));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Errors {
    entries: Vec<ApiError>,
}

/// One entry of an [`Errors`] block: its code, message and field, each read with an
/// accessor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiError {
    code: Option<String>,
    message: Option<String>,
    field: Option<String>,
}

// === impl Errors ===

impl Errors {
    /// Reads an `Errors` block from its JSON value (see the type docs for the forms).
    pub fn from_json(value: &Value) -> Errors {
        let mut entries = Vec::new();
        match value {
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(_) => entries.push(ApiError::from_object(item)),
                        Value::Null => {}
                        other => entries.push(ApiError {
                            message: scalar_text(other),
                            ..ApiError::default()
                        }),
                    }
                }
            }
            Value::Object(map) => {
                let is_entry = map.keys().any(|k| {
                    ["code", "message", "field"]
                        .iter()
                        .any(|known| k.eq_ignore_ascii_case(known))
                });
                if is_entry {
                    entries.push(ApiError::from_object(value));
                } else {
                    for (field, messages) in map {
                        let messages: &[Value] = match messages {
                            Value::Array(items) => items,
                            single => std::slice::from_ref(single),
                        };
                        for message in messages {
                            entries.push(ApiError {
                                field: Some(field.clone()),
                                message: scalar_text(message),
                                ..ApiError::default()
                            });
                        }
                    }
                }
            }
            Value::Null => {}
            other => entries.push(ApiError {
                message: scalar_text(other),
                ..ApiError::default()
            }),
        }
        Errors { entries }
    }

    /// The entries, in the order of the body.
    pub fn entries(&self) -> &[ApiError] {
        &self.entries
    }

    /// Takes the entries out.
    pub fn into_entries(self) -> Vec<ApiError> {
        self.entries
    }
}

impl std::ops::Deref for Errors {
    type Target = [ApiError];

    fn deref(&self) -> &[ApiError] {
        &self.entries
    }
}

impl FromIterator<ApiError> for Errors {
    fn from_iter<I: IntoIterator<Item = ApiError>>(iter: I) -> Self {
        Errors {
            entries: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a Errors {
    type Item = &'a ApiError;
    type IntoIter = std::slice::Iter<'a, ApiError>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

// === impl ApiError ===

impl ApiError {
    /// An entry with the given parts.
    pub fn new(code: Option<String>, message: Option<String>, field: Option<String>) -> Self {
        ApiError {
            code,
            message,
            field,
        }
    }

    fn from_object(value: &Value) -> ApiError {
        let mut entry = ApiError::default();
        if let Value::Object(map) = value {
            for (key, value) in map {
                let slot = if key.eq_ignore_ascii_case("code") {
                    &mut entry.code
                } else if key.eq_ignore_ascii_case("message") {
                    &mut entry.message
                } else if key.eq_ignore_ascii_case("field") {
                    &mut entry.field
                } else {
                    continue;
                };
                *slot = scalar_text(value);
            }
        }
        entry
    }

    /// The error code, as text (a JSON number is kept in its decimal form).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The code as an integer, when it is one (`"102"` or `102`).
    pub fn numeric_code(&self) -> Option<i64> {
        self.code.as_deref()?.trim().parse().ok()
    }

    /// The human-readable message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The request field the error is about.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(code) = &self.code {
            write!(f, "{code}")?;
            wrote = true;
        }
        if let Some(field) = &self.field {
            if wrote {
                f.write_str(" ")?;
            }
            write!(f, "[{field}]")?;
            wrote = true;
        }
        if let Some(message) = &self.message {
            if wrote {
                f.write_str(": ")?;
            }
            f.write_str(message)?;
            wrote = true;
        }
        if !wrote {
            f.write_str("(no details)")?;
        }
        Ok(())
    }
}

/// The text of a scalar JSON value; `None` for null, arrays and objects.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Array(_) | Value::Object(_) => None,
        scalar => recourse_core::json::text_of(scalar.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(code: Option<&str>, message: Option<&str>, field: Option<&str>) -> ApiError {
        ApiError::new(
            code.map(Into::into),
            message.map(Into::into),
            field.map(Into::into),
        )
    }

    #[test]
    fn array_of_objects() {
        let e = Errors::from_json(&json!([
            {"Code": "E101", "Message": "bad data", "Field": "Data"},
            {"CODE": 5, "mEsSaGe": "x", "Unknown": {"deep": [1]}},
            {"Field": "Only"},
            {},
            null,
            "plain text",
            42,
        ]));
        assert_eq!(
            e.entries(),
            &[
                entry(Some("E101"), Some("bad data"), Some("Data")),
                entry(Some("5"), Some("x"), None),
                entry(None, None, Some("Only")),
                entry(None, None, None),
                entry(None, Some("plain text"), None),
                entry(None, Some("42"), None),
            ]
        );
        assert_eq!(e[1].numeric_code(), Some(5));
        assert_eq!(e[0].numeric_code(), None);
        assert_eq!(
            e.to_string(),
            "E101 [Data]: bad data; 5: x; [Only]; (no details); plain text; 42"
        );
    }

    #[test]
    fn other_shapes() {
        assert_eq!(
            Errors::from_json(&json!({"code": "E1", "message": "m"})).entries(),
            &[entry(Some("E1"), Some("m"), None)]
        );
        assert_eq!(
            Errors::from_json(&json!({"Data": ["required", "too long"], "Kind": "unknown"}))
                .entries(),
            &[
                entry(None, Some("required"), Some("Data")),
                entry(None, Some("too long"), Some("Data")),
                entry(None, Some("unknown"), Some("Kind")),
            ]
        );
        assert_eq!(
            Errors::from_json(&json!("boom")).entries(),
            &[entry(None, Some("boom"), None)]
        );
        assert!(Errors::from_json(&Value::Null).is_empty());
        assert!(Errors::from_json(&json!([])).is_empty());
        // Non-scalar values where text is expected are dropped, not stringified.
        assert_eq!(
            Errors::from_json(&json!([{"Code": {"x": 1}, "Message": [1, 2]}])).entries(),
            &[entry(None, None, None)]
        );
    }
}
