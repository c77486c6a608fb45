//! `Cache-Control` parsing (RFC 9111 §5.2, RFC 5861), strict where the conformance of a
//! cache depends on it.
//!
//! Simple parsers that split directives on `,` and `=` (as `http-cache-semantics` does)
//! misread `extension="max-age=100"`, `max-age =100` or `No-Store`. This module parses the
//! field per the ABNF of RFC 9111 §5.2 (with RFC 9110 §5.6 tokens and quoted strings),
//! case-insensitively (RFC 9111 §5.2: "Cache directives are case-insensitive").

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The largest delta-seconds value; larger ones are treated as this (RFC 9111 §1.2.2).
pub(crate) const DELTA_MAX: u64 = 2_147_483_648;

/// Parses `delta-seconds` (`1*DIGIT`), saturating at [`DELTA_MAX`].
pub(crate) fn parse_delta(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for b in text {
        value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        if value >= DELTA_MAX {
            return Some(DELTA_MAX);
        }
    }
    Some(value)
}

/// `tchar` of RFC 9110 §5.6.2, as a table (this runs for every byte of every
/// `Cache-Control`).
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Calls `f(name, value)` for every well-formed directive of every field line, in order.
///
/// Malformed list members (a space before `=`, nothing after `=`, an unterminated quoted
/// string, garbage after a value) are skipped, as RFC 9110 §5.6.1 lets recipients do with
/// invalid list elements. Quoted values are unescaped.
pub(crate) fn for_each<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
    mut f: impl FnMut(&'a [u8], Option<Cow<'a, [u8]>>),
) {
    for value in values {
        parse_line(value.as_bytes(), &mut f);
    }
}

fn parse_line<'a>(line: &'a [u8], f: &mut impl FnMut(&'a [u8], Option<Cow<'a, [u8]>>)) {
    let mut i = 0;
    let n = line.len();
    while i < n {
        while i < n && (is_ows(line[i]) || line[i] == b',') {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        while i < n && is_tchar(line[i]) {
            i += 1;
        }
        let name = &line[start..i];
        let mut valid = !name.is_empty();
        let mut value: Option<Cow<'a, [u8]>> = None;
        if valid && i < n && line[i] == b'=' {
            i += 1;
            if i < n && line[i] == b'"' {
                match quoted(line, i) {
                    Some((text, end)) => {
                        value = Some(text);
                        i = end;
                    }
                    None => {
                        // Unterminated: nothing after it can be trusted.
                        return;
                    }
                }
            } else {
                let vstart = i;
                while i < n && is_tchar(line[i]) {
                    i += 1;
                }
                if vstart == i {
                    valid = false;
                } else {
                    value = Some(Cow::Borrowed(&line[vstart..i]));
                }
            }
        }
        while i < n && is_ows(line[i]) {
            i += 1;
        }
        if i < n && line[i] != b',' {
            valid = false;
            i = skip_member(line, i);
        }
        if valid {
            f(name, value);
        }
    }
}

/// Parses a quoted-string starting at `line[at] == '"'`; returns the unescaped content and
/// the index after the closing quote.
fn quoted(line: &[u8], at: usize) -> Option<(Cow<'_, [u8]>, usize)> {
    let mut i = at + 1;
    let start = i;
    let mut owned: Option<Vec<u8>> = None;
    while i < line.len() {
        match line[i] {
            b'"' => {
                let text = match owned {
                    Some(v) => Cow::Owned(v),
                    None => Cow::Borrowed(&line[start..i]),
                };
                return Some((text, i + 1));
            }
            b'\\' if i + 1 < line.len() => {
                let buf = owned.get_or_insert_with(|| line[start..i].to_vec());
                buf.push(line[i + 1]);
                i += 2;
            }
            b => {
                if let Some(buf) = owned.as_mut() {
                    buf.push(b);
                }
                i += 1;
            }
        }
    }
    None
}

/// Skips to the next top-level comma (outside quoted strings).
fn skip_member(line: &[u8], mut i: usize) -> usize {
    let mut in_quotes = false;
    while i < line.len() {
        match line[i] {
            b'"' => in_quotes = !in_quotes,
            b'\\' if in_quotes => i += 1,
            b',' if !in_quotes => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Field names listed in a qualified `no-cache` or `private` (RFC 9111 §5.2.2.4, §5.2.2.7).
fn field_names(value: &[u8]) -> Vec<HeaderName> {
    value
        .split(|b| *b == b',')
        .map(trim)
        .filter(|part| !part.is_empty())
        .filter_map(|part| HeaderName::from_bytes(part).ok())
        .collect()
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ows(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ows(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// The directives this cache knows, recognised by length first (they are parsed on every
/// response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    MaxAge,
    SMaxage,
    NoCache,
    NoStore,
    Private,
    Public,
    MustRevalidate,
    ProxyRevalidate,
    MustUnderstand,
    Immutable,
    StaleWhileRevalidate,
    StaleIfError,
    MaxStale,
    MinFresh,
    OnlyIfCached,
    Other,
}

/// `name` is a token (`tchar`s only, as [`for_each`] gives it).
fn classify(name: &[u8]) -> Known {
    // Case-insensitive by setting bit 0x20 of every byte: that lower-cases `A`-`Z` and
    // leaves `a`-`z`, `-` and digits as they are; the only other bytes it maps onto a
    // lower-case letter or `-` (0x01-0x1A, 0x0D) are not `tchar`s, so a token folds to
    // one of the names below exactly when it equals it ignoring ASCII case.
    let mut folded = [0u8; 22];
    let Some(folded) = folded.get_mut(..name.len()) else {
        return Known::Other;
    };
    for (f, b) in folded.iter_mut().zip(name) {
        *f = b | 0x20;
    }
    match &*folded {
        b"public" => Known::Public,
        b"max-age" => Known::MaxAge,
        b"private" => Known::Private,
        b"no-cache" => Known::NoCache,
        b"no-store" => Known::NoStore,
        b"s-maxage" => Known::SMaxage,
        b"immutable" => Known::Immutable,
        b"max-stale" => Known::MaxStale,
        b"min-fresh" => Known::MinFresh,
        b"only-if-cached" => Known::OnlyIfCached,
        b"stale-if-error" => Known::StaleIfError,
        b"must-revalidate" => Known::MustRevalidate,
        b"must-understand" => Known::MustUnderstand,
        b"proxy-revalidate" => Known::ProxyRevalidate,
        b"stale-while-revalidate" => Known::StaleWhileRevalidate,
        _ => Known::Other,
    }
}

/// A directive whose field names restrict what may be stored or reused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Qualified {
    /// Absent.
    #[default]
    No,
    /// Present without field names: applies to the whole response.
    All,
    /// Present with field names: applies to those fields only.
    Fields(Vec<HeaderName>),
}

impl Qualified {
    /// The qualified form with the field names of `value` (all when it names none).
    pub(crate) fn from_names(value: &[u8]) -> Qualified {
        let names = field_names(value);
        if names.is_empty() {
            Qualified::All
        } else {
            Qualified::Fields(names)
        }
    }

    fn set(&mut self, value: Option<Cow<'_, [u8]>>) {
        let next = match value {
            None => Qualified::All,
            Some(v) => Qualified::from_names(&v),
        };
        *self = match (std::mem::take(self), next) {
            (Qualified::All, _) | (_, Qualified::All) => Qualified::All,
            (Qualified::Fields(mut a), Qualified::Fields(b)) => {
                a.extend(b);
                Qualified::Fields(a)
            }
            (Qualified::No, next) => next,
            (current, Qualified::No) => current,
        };
    }

    pub(crate) fn is_all(&self) -> bool {
        matches!(self, Qualified::All)
    }

    pub(crate) fn fields(&self) -> &[HeaderName] {
        match self {
            Qualified::Fields(names) => names,
            _ => &[],
        }
    }
}

/// The response directives the cache acts on (RFC 9111 §5.2.2, RFC 5861).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResponseDirectives {
    /// `max-age`; an invalid value counts as 0 (RFC 9111 §4.2.1 treats invalid freshness
    /// information as stale).
    pub(crate) max_age: Option<u64>,
    pub(crate) s_maxage: Option<u64>,
    pub(crate) no_cache: Qualified,
    pub(crate) no_store: bool,
    pub(crate) private: Qualified,
    pub(crate) public: bool,
    pub(crate) must_revalidate: bool,
    pub(crate) proxy_revalidate: bool,
    pub(crate) must_understand: bool,
    pub(crate) immutable: bool,
    pub(crate) stale_while_revalidate: Option<u64>,
    pub(crate) stale_if_error: Option<u64>,
}

impl ResponseDirectives {
    /// Parses every `Cache-Control` field line of `headers`. For a directive given twice,
    /// the first occurrence wins (RFC 9111 §4.2.1 allows this).
    pub(crate) fn parse(headers: &HeaderMap) -> ResponseDirectives {
        let mut d = ResponseDirectives::default();
        if headers.is_empty() {
            return d;
        }
        let values = headers.get_all(header::CACHE_CONTROL);
        if values.iter().next().is_none() {
            return d;
        }
        for_each(values, |name, value| {
            let delta = |v: &Option<Cow<'_, [u8]>>| v.as_deref().and_then(parse_delta);
            match classify(name) {
                Known::MaxAge if d.max_age.is_none() => {
                    d.max_age = Some(delta(&value).unwrap_or(0))
                }
                Known::SMaxage if d.s_maxage.is_none() => {
                    d.s_maxage = Some(delta(&value).unwrap_or(0));
                }
                Known::NoCache => d.no_cache.set(value),
                Known::NoStore => d.no_store = true,
                Known::Private => d.private.set(value),
                Known::Public => d.public = true,
                Known::MustRevalidate => d.must_revalidate = true,
                Known::ProxyRevalidate => d.proxy_revalidate = true,
                Known::MustUnderstand => d.must_understand = true,
                Known::Immutable => d.immutable = true,
                Known::StaleWhileRevalidate if d.stale_while_revalidate.is_none() => {
                    d.stale_while_revalidate = delta(&value);
                }
                Known::StaleIfError if d.stale_if_error.is_none() => {
                    d.stale_if_error = delta(&value);
                }
                _ => {}
            }
        });
        d
    }

    /// Whether a stale copy may ever be served without validation (RFC 9111 §4.2.4):
    /// not with `no-cache` (§5.2.2.4), `must-revalidate` (§5.2.2.2), and, in a shared
    /// cache, `proxy-revalidate` (§5.2.2.8) or `s-maxage` (§5.2.2.10).
    pub(crate) fn allows_stale(&self, shared: bool) -> bool {
        !(self.no_cache.is_all()
            || self.must_revalidate
            || (shared && (self.proxy_revalidate || self.s_maxage.is_some())))
    }
}

/// The request directives the cache acts on (RFC 9111 §5.2.1, RFC 5861 §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestDirectives {
    /// `max-age`; an invalid value counts as 0.
    pub(crate) max_age: Option<u64>,
    /// `max-stale`: `Some(None)` accepts any staleness.
    pub(crate) max_stale: Option<Option<u64>>,
    pub(crate) min_fresh: Option<u64>,
    pub(crate) no_cache: bool,
    pub(crate) no_store: bool,
    pub(crate) only_if_cached: bool,
    pub(crate) stale_if_error: Option<u64>,
}

impl RequestDirectives {
    /// Parses the request's `Cache-Control`; without one, `Pragma: no-cache` counts as
    /// `no-cache` (RFC 9111 §5.4).
    pub(crate) fn parse(headers: &HeaderMap) -> RequestDirectives {
        let mut d = RequestDirectives::default();
        if headers.is_empty() {
            return d;
        }
        let values = headers.get_all(header::CACHE_CONTROL);
        if values.iter().next().is_none() {
            if let Some(pragma) = headers.get(header::PRAGMA) {
                for_each([pragma], |name, _| {
                    if name.eq_ignore_ascii_case(b"no-cache") {
                        d.no_cache = true;
                    }
                });
            }
            return d;
        }
        for_each(values, |name, value| {
            let delta = value.as_deref().and_then(parse_delta);
            match classify(name) {
                Known::MaxAge if d.max_age.is_none() => d.max_age = Some(delta.unwrap_or(0)),
                Known::MaxStale if d.max_stale.is_none() => match (&value, delta) {
                    (None, _) => d.max_stale = Some(None),
                    (Some(_), Some(v)) => d.max_stale = Some(Some(v)),
                    // An invalid value grants nothing.
                    (Some(_), None) => {}
                },
                Known::MinFresh if d.min_fresh.is_none() => d.min_fresh = delta,
                Known::NoCache => d.no_cache = true,
                Known::NoStore => d.no_store = true,
                Known::OnlyIfCached => d.only_if_cached = true,
                Known::StaleIfError if d.stale_if_error.is_none() => d.stale_if_error = delta,
                _ => {}
            }
        });
        d
    }

    /// Whether nothing in the request constrains reuse (the common case, checked first).
    pub(crate) fn is_empty(&self) -> bool {
        *self == RequestDirectives::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_ignores_ascii_case_only() {
        let known = [
            ("public", Known::Public),
            ("max-age", Known::MaxAge),
            ("private", Known::Private),
            ("no-cache", Known::NoCache),
            ("no-store", Known::NoStore),
            ("s-maxage", Known::SMaxage),
            ("immutable", Known::Immutable),
            ("max-stale", Known::MaxStale),
            ("min-fresh", Known::MinFresh),
            ("only-if-cached", Known::OnlyIfCached),
            ("stale-if-error", Known::StaleIfError),
            ("must-revalidate", Known::MustRevalidate),
            ("must-understand", Known::MustUnderstand),
            ("proxy-revalidate", Known::ProxyRevalidate),
            ("stale-while-revalidate", Known::StaleWhileRevalidate),
        ];
        for (name, kind) in known {
            assert_eq!(classify(name.as_bytes()), kind, "{name}");
            assert_eq!(
                classify(name.to_ascii_uppercase().as_bytes()),
                kind,
                "{name}"
            );
            // Every other tchar in place of each byte is another directive.
            for i in 0..name.len() {
                for b in 0..=255u8 {
                    if !is_tchar(b) || b.eq_ignore_ascii_case(&name.as_bytes()[i]) {
                        continue;
                    }
                    let mut other = name.as_bytes().to_vec();
                    other[i] = b;
                    assert_eq!(classify(&other), Known::Other, "{name} {i} {b}");
                }
            }
        }
        assert_eq!(classify(b""), Known::Other);
        assert_eq!(classify(b"stale-while-revalidate-"), Known::Other);
        assert_eq!(classify(b"x".repeat(100).as_slice()), Known::Other);
    }

    fn res(lines: &[&str]) -> ResponseDirectives {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(header::CACHE_CONTROL, HeaderValue::from_str(l).unwrap());
        }
        ResponseDirectives::parse(&h)
    }

    fn req(lines: &[&str]) -> RequestDirectives {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(header::CACHE_CONTROL, HeaderValue::from_str(l).unwrap());
        }
        RequestDirectives::parse(&h)
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_delta(b"0"), Some(0));
        assert_eq!(parse_delta(b"003600"), Some(3600));
        assert_eq!(parse_delta(b"2147483648"), Some(DELTA_MAX));
        assert_eq!(parse_delta(b"99999999999999999999999"), Some(DELTA_MAX));
        for bad in [&b""[..], b"-1", b"1.5", b"a100", b"100a", b"'3600'", b" 1"] {
            assert_eq!(parse_delta(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn case_insensitive_names() {
        let d = res(&["No-StOrE, MaX-aGe=3600, PRIVATE"]);
        assert!(d.no_store);
        assert_eq!(d.max_age, Some(3600));
        assert!(d.private.is_all());
    }

    #[test]
    fn quoted_strings_hide_directives() {
        assert_eq!(
            res(&[r#"extension="max-age=100", max-age=1"#]).max_age,
            Some(1)
        );
        assert_eq!(
            res(&[r#"max-age=1, extension="max-age=100""#]).max_age,
            Some(1)
        );
        assert_eq!(
            res(&[r#"ext="a, max-age=9", max-age="1""#]).max_age,
            Some(1)
        );
        assert_eq!(
            res(&[r#"ext="a \" no-store""#]),
            ResponseDirectives::default()
        );
    }

    #[test]
    fn malformed_members_are_skipped() {
        assert_eq!(res(&["max-age =100"]).max_age, None);
        assert_eq!(res(&["max-age= 100"]).max_age, None);
        assert_eq!(res(&["max-age=100 x, no-store"]).max_age, None);
        assert!(res(&["max-age=100 x, no-store"]).no_store);
        // Unterminated quotes end parsing of the line.
        assert!(!res(&[r#"ext="abc, no-store"#]).no_store);
        // Invalid numbers count as stale.
        assert_eq!(res(&["max-age=a100"]).max_age, Some(0));
        assert_eq!(res(&["max-age=-100"]).max_age, Some(0));
        assert_eq!(res(&["max-age='3600'"]).max_age, Some(0));
        assert_eq!(res(&[r#"max-age="3600""#]).max_age, Some(3600));
    }

    #[test]
    fn first_occurrence_wins_across_lines() {
        assert_eq!(res(&["max-age=1800", "max-age=1"]).max_age, Some(1800));
        assert_eq!(res(&["max-age=1, max-age=1800"]).max_age, Some(1));
    }

    #[test]
    fn qualified_no_cache_and_private() {
        let d = res(&[r#"no-cache="a, B", private="c""#, "max-age=5"]);
        assert_eq!(
            d.no_cache,
            Qualified::Fields(vec![
                HeaderName::from_static("a"),
                HeaderName::from_static("b")
            ])
        );
        assert_eq!(d.private.fields(), &[HeaderName::from_static("c")]);
        // Unqualified wins over qualified.
        assert!(res(&[r#"no-cache="a", no-cache"#]).no_cache.is_all());
        assert!(res(&[r#"no-cache="""#]).no_cache.is_all());
    }

    #[test]
    fn rfc5861_extensions() {
        let d = res(&["max-age=1, stale-while-revalidate=30, stale-if-error=600"]);
        assert_eq!(d.stale_while_revalidate, Some(30));
        assert_eq!(d.stale_if_error, Some(600));
        assert!(d.allows_stale(true));
        assert!(!res(&["must-revalidate"]).allows_stale(false));
        assert!(!res(&["no-cache"]).allows_stale(false));
        assert!(res(&["proxy-revalidate"]).allows_stale(false));
        assert!(!res(&["proxy-revalidate"]).allows_stale(true));
        assert!(!res(&["s-maxage=5"]).allows_stale(true));
    }

    #[test]
    fn request_directives() {
        let d = req(&["max-age=0, max-stale, min-fresh=5, only-if-cached, No-Store"]);
        assert_eq!(d.max_age, Some(0));
        assert_eq!(d.max_stale, Some(None));
        assert_eq!(d.min_fresh, Some(5));
        assert!(d.only_if_cached && d.no_store && !d.no_cache);
        assert_eq!(req(&["max-stale=10"]).max_stale, Some(Some(10)));
        assert_eq!(req(&["max-stale=x"]).max_stale, None);
        assert_eq!(req(&["stale-if-error=9"]).stale_if_error, Some(9));
        assert!(req(&[]).is_empty());

        let mut h = HeaderMap::new();
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        assert!(RequestDirectives::parse(&h).no_cache);
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=5"));
        assert!(!RequestDirectives::parse(&h).no_cache);
    }

    #[test]
    fn non_ascii_bytes_do_not_panic() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_bytes(b"ext=\"\xff\xfe\", max-age=\xff, no-store").unwrap(),
        );
        let d = ResponseDirectives::parse(&h);
        assert!(d.no_store);
        assert_eq!(d.max_age, None);
    }
}
