//! Targeted cache control (RFC 9213): `CDN-Cache-Control` and other fields whose
//! directives address one class of caches, parsed as RFC 8941 Dictionaries.
//!
//! A shared cache configured with a list of targeted field names uses the first of them
//! that the response carries with a valid, non-empty value: its directives replace
//! `Cache-Control` for this cache (RFC 9213 §2.2), and `Cache-Control` still applies to
//! every cache downstream, to which the field is passed unchanged. A field that does not
//! parse as a Dictionary is ignored as a whole (RFC 9213 §2.1).

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::directives::{Qualified, ResponseDirectives};

/// `CDN-Cache-Control` (RFC 9213 §3).
pub(crate) const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

/// A Dictionary member's value, as far as cache directives need it.
#[derive(Debug, PartialEq, Eq)]
enum Value<'a> {
    Integer(i64),
    Boolean(bool),
    String(Cow<'a, [u8]>),
    /// A decimal, token, byte sequence or inner list: no cache directive takes one.
    Other,
}

/// The directives of the first targeted field in `names` that `headers` carry with a valid
/// Dictionary value, or `None` when none does.
pub(crate) fn directives(headers: &HeaderMap, names: &[HeaderName]) -> Option<ResponseDirectives> {
    if headers.is_empty() {
        return None;
    }
    names.iter().find_map(|name| parse(headers.get_all(name)))
}

/// Whether `headers` carry any of the targeted fields `names` (valid or not).
pub(crate) fn present(headers: &HeaderMap, names: &[HeaderName]) -> bool {
    !headers.is_empty() && names.iter().any(|name| headers.contains_key(name))
}

fn parse<'a>(lines: impl IntoIterator<Item = &'a HeaderValue>) -> Option<ResponseDirectives> {
    let mut d = ResponseDirectives::default();
    let mut members = 0usize;
    for line in lines {
        // RFC 8941 §4.2: several field lines are one value joined with commas.
        members += dictionary(line.as_bytes(), &mut |key, value| apply(&mut d, key, value))?;
    }
    // An empty field is ignored too (RFC 9213 §2.1).
    (members > 0).then_some(d)
}

fn apply(d: &mut ResponseDirectives, key: &[u8], value: Value<'_>) {
    // Dictionary keys are lowercase; a later member with the same key wins (RFC 8941
    // §3.2), so each directive is set, or reset, by every occurrence.
    let seconds = |v: &Value<'_>| match v {
        Value::Integer(n) if *n >= 0 => Some(n.unsigned_abs()),
        _ => None,
    };
    let flag = |v: &Value<'_>| matches!(v, Value::Boolean(true));
    let qualified = |v: &Value<'_>| match v {
        Value::Boolean(true) => Qualified::All,
        Value::String(names) => Qualified::from_names(names),
        _ => Qualified::No,
    };
    match key {
        b"max-age" => d.max_age = seconds(&value),
        b"s-maxage" => d.s_maxage = seconds(&value),
        b"no-cache" => d.no_cache = qualified(&value),
        b"private" => d.private = qualified(&value),
        b"no-store" => d.no_store = flag(&value),
        b"public" => d.public = flag(&value),
        b"must-revalidate" => d.must_revalidate = flag(&value),
        b"proxy-revalidate" => d.proxy_revalidate = flag(&value),
        b"must-understand" => d.must_understand = flag(&value),
        b"immutable" => d.immutable = flag(&value),
        b"stale-while-revalidate" => d.stale_while_revalidate = seconds(&value),
        b"stale-if-error" => d.stale_if_error = seconds(&value),
        _ => {}
    }
}

/// Parses one field line as an RFC 8941 §4.2.2 Dictionary, calling `f` for each member;
/// returns the number of members, or `None` on any syntax error.
fn dictionary<'a>(line: &'a [u8], f: &mut impl FnMut(&'a [u8], Value<'a>)) -> Option<usize> {
    let mut p = Parser { s: line, i: 0 };
    p.skip(b' ');
    let mut count = 0;
    if p.at_end() {
        return Some(0);
    }
    loop {
        let key = p.key()?;
        let value = if p.eat(b'=') {
            if p.peek() == Some(b'(') {
                p.inner_list()?;
                Value::Other
            } else {
                p.bare_item()?
            }
        } else {
            Value::Boolean(true)
        };
        p.parameters()?;
        f(key, value);
        count += 1;
        p.skip_ows();
        if p.at_end() {
            return Some(count);
        }
        if !p.eat(b',') {
            return None;
        }
        p.skip_ows();
        if p.at_end() {
            // A trailing comma.
            return None;
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.i += 1;
        }
        hit
    }
    fn skip(&mut self, b: u8) {
        while self.eat(b) {}
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn take_while(&mut self, ok: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(&ok) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`
    fn key(&mut self) -> Option<&'a [u8]> {
        if !self
            .peek()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
        {
            return None;
        }
        Some(self.take_while(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
        }))
    }

    fn bare_item(&mut self) -> Option<Value<'a>> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => self.string(),
            b'?' => {
                self.i += 1;
                match self.peek()? {
                    b'0' => (self.i += 1, Some(Value::Boolean(false))).1,
                    b'1' => (self.i += 1, Some(Value::Boolean(true))).1,
                    _ => None,
                }
            }
            b':' => {
                self.i += 1;
                self.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                self.eat(b':').then_some(Value::Other)
            }
            b if b.is_ascii_alphabetic() || b == b'*' => {
                self.take_while(|b| crate::directives::is_tchar(b) || b == b':' || b == b'/');
                Some(Value::Other)
            }
            _ => None,
        }
    }

    /// RFC 8941 §4.2.4: at most 15 digits for an integer; a decimal has at most 12
    /// before and 1 to 3 after the point.
    fn number(&mut self) -> Option<Value<'a>> {
        let negative = self.eat(b'-');
        let int = self.take_while(|b| b.is_ascii_digit());
        if int.is_empty() {
            return None;
        }
        if self.eat(b'.') {
            let frac = self.take_while(|b| b.is_ascii_digit());
            return (int.len() <= 12 && (1..=3).contains(&frac.len())).then_some(Value::Other);
        }
        if int.len() > 15 {
            return None;
        }
        let n = int.iter().fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
        Some(Value::Integer(if negative { -n } else { n }))
    }

    /// A String: printable ASCII, `\"` and `\\` the only escapes.
    fn string(&mut self) -> Option<Value<'a>> {
        self.i += 1;
        let start = self.i;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => {
                    let text = match owned {
                        Some(v) => Cow::Owned(v),
                        None => Cow::Borrowed(&self.s[start..self.i - 1]),
                    };
                    return Some(Value::String(text));
                }
                b'\\' => {
                    let next = self.peek().filter(|n| matches!(n, b'"' | b'\\'))?;
                    self.i += 1;
                    owned
                        .get_or_insert_with(|| self.s[start..self.i - 2].to_vec())
                        .push(next);
                }
                0x20..=0x7e => {
                    if let Some(v) = owned.as_mut() {
                        v.push(b);
                    }
                }
                _ => return None,
            }
        }
    }

    fn parameters(&mut self) -> Option<()> {
        while self.eat(b';') {
            self.skip(b' ');
            self.key()?;
            if self.eat(b'=') {
                self.bare_item()?;
            }
        }
        Some(())
    }

    fn inner_list(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            self.skip(b' ');
            if self.eat(b')') {
                return self.parameters();
            }
            self.bare_item()?;
            self.parameters()?;
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_lines(lines: &[&'static str]) -> Option<ResponseDirectives> {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(CDN_CACHE_CONTROL, HeaderValue::from_static(l));
        }
        directives(&h, &[CDN_CACHE_CONTROL])
    }

    #[test]
    fn valid_dictionaries() {
        let d = parse_lines(&["max-age=60, s-maxage=30;a=1, must-revalidate"]).unwrap();
        assert_eq!((d.max_age, d.s_maxage), (Some(60), Some(30)));
        assert!(d.must_revalidate && !d.no_store);
        let d = parse_lines(&["no-store", "public"]).unwrap();
        assert!(d.no_store && d.public);
        let d = parse_lines(&[r#"private="set-cookie, x-a", no-cache=?1"#]).unwrap();
        assert_eq!(
            d.private.fields(),
            [
                HeaderName::from_static("set-cookie"),
                HeaderName::from_static("x-a")
            ]
        );
        assert!(d.no_cache.is_all());
        // `?0` is false; a later member replaces an earlier one (RFC 8941 §3.2).
        let d = parse_lines(&["no-store=?0, max-age=5, max-age=7"]).unwrap();
        assert!(!d.no_store);
        assert_eq!(d.max_age, Some(7));
        // Values of another type than the directive takes are ignored, the rest kept.
        let d =
            parse_lines(&["max-age=1.5, s-maxage=tok, max-stale=(1 2), stale-if-error=9"]).unwrap();
        assert_eq!(
            (d.max_age, d.s_maxage, d.stale_if_error),
            (None, None, Some(9))
        );
        let d = parse_lines(&["max-age=-1, ext=:aGk=:, x=\"a\\\"b\""]).unwrap();
        assert_eq!(d.max_age, None);
    }

    #[test]
    fn invalid_fields_are_ignored_as_a_whole() {
        for bad in [
            "max-age=60,",
            "Max-Age=60",
            "max-age=60;",
            "max-age = 60",
            "max-age=60 no-store",
            "max-age=\"60",
            "max-age=1234567890123456",
            "max-age=60, , no-store",
            "no-store=?2",
            "private=\"a\\b\"",
            "max-age=60, 1x",
            "x=(1 2",
        ] {
            assert_eq!(parse_lines(&[bad]), None, "{bad}");
            // One invalid line spoils the field.
            assert_eq!(parse_lines(&["max-age=5", bad]), None, "{bad}");
        }
        assert_eq!(parse_lines(&[""]), None);
        assert_eq!(parse_lines(&["   "]), None);
        let non_ascii = HeaderValue::from_bytes(b"max-age=\xff").unwrap();
        let mut h = HeaderMap::new();
        h.insert(CDN_CACHE_CONTROL, non_ascii);
        assert_eq!(directives(&h, &[CDN_CACHE_CONTROL]), None);
    }

    #[test]
    fn the_first_valid_field_of_the_list_applies() {
        let mine = HeaderName::from_static("recourse-cache-control");
        let mut h = HeaderMap::new();
        h.insert(CDN_CACHE_CONTROL, HeaderValue::from_static("max-age=10"));
        h.insert(mine.clone(), HeaderValue::from_static("max-age=20"));
        let names = [mine.clone(), CDN_CACHE_CONTROL];
        assert_eq!(directives(&h, &names).unwrap().max_age, Some(20));
        h.insert(mine.clone(), HeaderValue::from_static("max-age=20,"));
        assert_eq!(directives(&h, &names).unwrap().max_age, Some(10));
        assert!(present(&h, &names));
        assert!(!present(&HeaderMap::new(), &names));
    }
}
