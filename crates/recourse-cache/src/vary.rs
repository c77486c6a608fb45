//! Secondary cache keys: `Vary` (RFC 9111 §4.1).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The request fields a response's `Vary` nominates, lower-cased, sorted and deduplicated.
///
/// `Ok(vec![])` when there is no `Vary`; `Err(())` when `Vary` contains `*` (or an element
/// that is not a field name): such a response never matches a later request (RFC 9111
/// §4.1), so it is not worth storing.
pub(crate) fn nominated(headers: &HeaderMap) -> Result<Vec<HeaderName>, ()> {
    let mut names = Vec::new();
    for value in headers.get_all(header::VARY) {
        for part in value.as_bytes().split(|b| *b == b',') {
            let part = trim(part);
            if part.is_empty() {
                continue;
            }
            if part == b"*" {
                return Err(());
            }
            names.push(HeaderName::from_bytes(part).map_err(|_| ())?);
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    Ok(names)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The content-negotiation fields whose values are case-insensitive lists in which the
/// order of members with equal weight carries no meaning (RFC 9110 §12.5): their members
/// are lower-cased, stripped of whitespace and sorted, so `en-GB, fr;q=0.5` and
/// `FR; q=0.5,en-gb` select the same stored response.
fn is_unordered_list(name: &HeaderName) -> bool {
    *name == header::ACCEPT_LANGUAGE
        || *name == header::ACCEPT_ENCODING
        || *name == header::ACCEPT_CHARSET
        || *name == header::ACCEPT
}

/// Whether a value needs normalising: several list members or whitespace around them
/// (and, for the unordered lists, any whitespace or upper case).
fn needs_normalising(name: &HeaderName, value: &HeaderValue) -> bool {
    let b = value.as_bytes();
    b.contains(&b',')
        || b.first().is_some_and(|c| *c == b' ' || *c == b'\t')
        || b.last().is_some_and(|c| *c == b' ' || *c == b'\t')
        || (is_unordered_list(name)
            && b.iter()
                .any(|c| c.is_ascii_uppercase() || *c == b' ' || *c == b'\t'))
}

/// The normalised value of a selecting field in a request: all field lines combined, list
/// members trimmed and joined with `", "` (RFC 9111 §4.1 allows this normalisation), or
/// `None` when the request lacks the field.
pub(crate) fn normalized(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let second = values.next();
    if second.is_none() && !needs_normalising(name, first) {
        return Some(first.clone());
    }
    let mut out: Vec<u8> = Vec::with_capacity(first.len() + 8);
    if is_unordered_list(name) {
        let mut members: Vec<Vec<u8>> = headers
            .get_all(name)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(|m| {
                m.iter()
                    .filter(|b| **b != b' ' && **b != b'\t')
                    .map(u8::to_ascii_lowercase)
                    .collect::<Vec<u8>>()
            })
            .filter(|m| !m.is_empty())
            .collect();
        members.sort();
        members.dedup();
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(m);
        }
        return HeaderValue::from_bytes(&out).ok();
    }
    for value in headers.get_all(name) {
        for part in value.as_bytes().split(|b| *b == b',') {
            let part = trim(part);
            if part.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(part);
        }
    }
    // Built from bytes of valid values plus ", ": always valid.
    HeaderValue::from_bytes(&out).ok()
}

/// Whether the request's value of `name` matches the stored selecting value.
pub(crate) fn field_matches(
    request: &HeaderMap,
    name: &HeaderName,
    stored: Option<&HeaderValue>,
) -> bool {
    let mut values = request.get_all(name).iter();
    match (values.next(), values.next(), stored) {
        (None, _, None) => true,
        (None, _, Some(_)) | (Some(_), _, None) => false,
        (Some(only), None, Some(stored)) if !needs_normalising(name, only) => only == stored,
        (Some(_), _, Some(stored)) => normalized(request, name).as_ref() == Some(stored),
    }
}

/// The selecting fields of `request` for the nominated `names`, normalised.
pub(crate) fn selecting(request: &HeaderMap, names: &[HeaderName]) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(names.len());
    for name in names {
        if let Some(value) = normalized(request, name) {
            out.insert(name.clone(), value);
        }
    }
    out
}

/// An identity for a variant: the nominated names and their selecting values. Two requests
/// with equal ids select the same variant, so a newly stored response replaces the old.
pub(crate) fn variant_id(names: &[HeaderName], selecting: &HeaderMap) -> Vec<u8> {
    let mut id = Vec::new();
    for name in names {
        if !id.is_empty() {
            id.push(b'\n');
        }
        id.extend_from_slice(name.as_str().as_bytes());
        match selecting.get(name) {
            Some(v) => {
                id.push(b'=');
                id.extend_from_slice(v.as_bytes());
            }
            None => id.push(b'!'),
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn nominated_names() {
        let h = headers(&[("vary", "Foo, bar"), ("vary", "BAR,,baz")]);
        let names = nominated(&h).unwrap();
        assert_eq!(names, ["bar", "baz", "foo"]);
        assert!(nominated(&HeaderMap::new()).unwrap().is_empty());
        for star in ["*", "*, *", ", *", "*, Foo", "Foo, *"] {
            assert!(nominated(&headers(&[("vary", star)])).is_err(), "{star}");
        }
        assert!(nominated(&headers(&[("vary", ""), ("vary", "*")])).is_err());
        assert!(nominated(&headers(&[("vary", "a b")])).is_err());
    }

    #[test]
    fn normalisation() {
        let foo = HeaderName::from_static("foo");
        let a = headers(&[("foo", "1,2")]);
        let b = headers(&[("foo", " 1, 2 ")]);
        let c = headers(&[("foo", "1"), ("foo", "2")]);
        let n = normalized(&a, &foo).unwrap();
        assert_eq!(n, "1, 2");
        assert_eq!(normalized(&b, &foo).unwrap(), n);
        assert_eq!(normalized(&c, &foo).unwrap(), n);
        assert!(field_matches(&b, &foo, Some(&n)));
        assert!(field_matches(&c, &foo, Some(&n)));
        assert!(!field_matches(&headers(&[("foo", "2, 1")]), &foo, Some(&n)));
        assert!(field_matches(&HeaderMap::new(), &foo, None));
        assert!(!field_matches(&HeaderMap::new(), &foo, Some(&n)));
        assert!(!field_matches(&a, &foo, None));
        // An empty value is present, unlike an absent field.
        let empty = headers(&[("foo", "")]);
        assert_eq!(normalized(&empty, &foo).unwrap(), "");
        assert!(!field_matches(&empty, &foo, None));
    }

    #[test]
    fn negotiation_lists_ignore_order_case_and_whitespace() {
        let al = header::ACCEPT_LANGUAGE;
        let stored = normalized(&headers(&[("accept-language", "en-GB, fr;q=0.5")]), &al).unwrap();
        assert_eq!(stored, "en-gb, fr;q=0.5");
        for same in [
            &[("accept-language", "en-GB, fr;q=0.5")][..],
            &[("accept-language", "FR; q=0.5,en-gb")][..],
            &[("accept-language", "  fr ;q = 0.5 ,  EN-GB  ")][..],
            &[
                ("accept-language", "fr;q=0.5"),
                ("accept-language", "en-GB"),
            ][..],
            &[("accept-language", "en-GB, fr;q=0.5, en-gb")][..],
        ] {
            assert!(
                field_matches(&headers(same), &al, Some(&stored)),
                "{same:?}"
            );
        }
        for other in ["en-GB", "fr;q=0.5", "en-GB, fr;q=0.6", "de"] {
            assert!(
                !field_matches(&headers(&[("accept-language", other)]), &al, Some(&stored)),
                "{other}"
            );
        }
        // A single lower-case value takes the fast path and matches itself.
        let en = normalized(&headers(&[("accept-language", "en")]), &al).unwrap();
        assert!(field_matches(
            &headers(&[("accept-language", "EN")]),
            &al,
            Some(&en)
        ));
        // Other fields keep their order and case.
        let foo = HeaderName::from_static("foo");
        assert_eq!(
            normalized(&headers(&[("foo", "B, a")]), &foo).unwrap(),
            "B, a"
        );
    }

    #[test]
    fn variant_ids() {
        let names = vec![HeaderName::from_static("a"), HeaderName::from_static("b")];
        let one = selecting(&headers(&[("a", "1"), ("c", "x")]), &names);
        let two = selecting(&headers(&[("a", "1"), ("b", "")]), &names);
        assert_eq!(variant_id(&names, &one), b"a=1\nb!");
        assert_eq!(variant_id(&names, &two), b"a=1\nb=");
        assert!(variant_id(&[], &HeaderMap::new()).is_empty());
    }
}
