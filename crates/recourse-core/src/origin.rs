//! Origins and the security rules that follow them: which URIs share an origin, which
//! headers are credentials, and the refusal to go from `https` to `http`.
//!
//! Every layer that sends a request to a URI a response named (redirect's next hop, poll's
//! status and result URLs) applies the same three rules, from here:
//!
//! 1. **Origin** ([`origin`], [`same_origin`]): scheme, host and port, with the scheme's
//!    default port filled in, hosts compared ASCII-case-insensitively (RFC 6454 §4,
//!    RFC 9110 §4.3.1).
//! 2. **Credentials** ([`CREDENTIAL_HEADERS`], [`remove_credentials`]): `Authorization`,
//!    `Cookie` and `Proxy-Authorization` never go to another origin than the one they were
//!    given for (RFC 9110 §15.4 asks user agents to consider it; the Fetch standard's
//!    HTTP-redirect fetch removes `Authorization` on every change of origin).
//! 3. **No downgrade** ([`Downgrade::check`]): a URI reached over `https` never leads to
//!    one over `http`, where the request (its body, its remaining headers) would travel in
//!    clear text (RFC 9110 §4.2.2; the Fetch standard blocks such mixed content).
//!
//! ```
//! use http::{HeaderMap, Uri, header::{AUTHORIZATION, LOCATION}};
//! use recourse_core::origin::{Downgrade, remove_credentials, same_origin};
//!
//! let from: Uri = "https://api.example/jobs".parse().unwrap();
//! let next: Uri = "https://API.example:443/status/1".parse().unwrap();
//! assert!(same_origin(&from, &next));
//!
//! let plain: Uri = "http://api.example/status/1".parse().unwrap();
//! let refused = Downgrade::check(&from, &plain, &LOCATION).unwrap_err();
//! assert_eq!(refused.to(), &plain);
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(AUTHORIZATION, "Bearer t".parse().unwrap());
//! remove_credentials(&mut headers, &[]);
//! assert!(headers.is_empty());
//! ```

use std::fmt;

use http::header::{AUTHORIZATION, COOKIE, HeaderName, PROXY_AUTHORIZATION};
use http::{HeaderMap, Uri};

/// The origin of a URI (scheme, host, port with the scheme's default filled in), for
/// same-origin checks (RFC 6454 §4).
///
/// Returns `None` when the URI has no scheme or no host.
pub fn origin(uri: &Uri) -> Option<(&str, &str, u16)> {
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    let port = uri.port_u16().or(match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some((scheme, host, port))
}

/// Feeds the origin of `uri` to `state` (scheme and host ASCII-lowercased, the port with
/// the scheme's default filled in), so that URIs [`same_origin`] calls the same hash
/// alike; returns `false`, feeding nothing, when the URI has no origin. Allocates nothing:
/// for per-origin state (the retry budgets, the breaker) looked up on every request.
pub fn hash_origin<H: std::hash::Hasher>(uri: &Uri, state: &mut H) -> bool {
    let Some((scheme, host, port)) = origin(uri) else {
        return false;
    };
    hash_lowercase(scheme, state);
    hash_lowercase(host, state);
    state.write_u16(port);
    true
}

/// Feeds `text` ASCII-lowercased to `state`, then a terminator, without allocating.
pub fn hash_lowercase<H: std::hash::Hasher>(text: &str, state: &mut H) {
    let mut buf = [0u8; 64];
    for chunk in text.as_bytes().chunks(64) {
        let out = &mut buf[..chunk.len()];
        out.copy_from_slice(chunk);
        out.make_ascii_lowercase();
        state.write(out);
    }
    state.write_u8(0xff);
}

/// Whether two URIs have the same origin (scheme, host and port; scheme and host compared
/// ASCII-case-insensitively). URIs without an origin are never the same origin.
pub fn same_origin(a: &Uri, b: &Uri) -> bool {
    match (origin(a), origin(b)) {
        (Some((sa, ha, pa)), Some((sb, hb, pb))) => {
            sa.eq_ignore_ascii_case(sb) && ha.eq_ignore_ascii_case(hb) && pa == pb
        }
        _ => false,
    }
}

/// The request headers that carry credentials, removed whenever a request moves to
/// another origin: `Authorization`, `Cookie`, `Proxy-Authorization`.
pub const CREDENTIAL_HEADERS: [HeaderName; 3] = [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION];

/// Removes the [`CREDENTIAL_HEADERS`] and the `extra` names (an API-key header, say) from
/// `headers`. Returns whether anything was removed.
pub fn remove_credentials(headers: &mut HeaderMap, extra: &[HeaderName]) -> bool {
    let mut removed = false;
    for name in CREDENTIAL_HEADERS.iter().chain(extra) {
        // `remove` drops every value of a repeated field.
        removed |= headers.remove(name).is_some();
    }
    removed
}

/// Whether `name` is one of the [`CREDENTIAL_HEADERS`] or of the `extra` names.
pub fn is_credential(name: &HeaderName, extra: &[HeaderName]) -> bool {
    CREDENTIAL_HEADERS.contains(name) || extra.contains(name)
}

// === Downgrade ===

/// A move from an `https` URI to an `http` one, refused: the request would travel in clear
/// text, where anyone on the path can read and change it.
///
/// The redirect layer refuses such a `Location` (a hop), the poll layer such a status or
/// result URL; both report this one type.
///
/// It is one pointer wide (the URIs are boxed), so a `Result<_, Downgrade>` stays small on
/// the path that does not refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downgrade(Box<Refused>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Refused {
    from: Uri,
    to: Uri,
    header: HeaderName,
}

impl Downgrade {
    /// Refuses a move from `from` to `to` when it goes from `https` to `http`. `header` is
    /// the response field that named `to` (`Location`, a status-monitor header, ...).
    ///
    /// Allocates only when it refuses.
    pub fn check(from: &Uri, to: &Uri, header: &HeaderName) -> Result<(), Downgrade> {
        let secure = from
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"));
        let plain = to
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("http"));
        if secure && plain {
            Err(Downgrade(Box::new(Refused {
                from: from.clone(),
                to: to.clone(),
                header: header.clone(),
            })))
        } else {
            Ok(())
        }
    }

    /// The `https` URI whose response named the refused one.
    pub fn from(&self) -> &Uri {
        &self.0.from
    }

    /// The refused `http` URI.
    pub fn to(&self) -> &Uri {
        &self.0.to
    }

    /// The response header that named it.
    pub fn header(&self) -> &HeaderName {
        &self.0.header
    }
}

impl fmt::Display for Downgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused to follow `{}` from https to http (clear text): {} -> {}",
            self.0.header, self.0.from, self.0.to
        )
    }
}

impl std::error::Error for Downgrade {}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::LOCATION;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn origins_fill_in_default_ports_and_ignore_case() {
        assert_eq!(
            origin(&uri("http://a.example/x")),
            Some(("http", "a.example", 80))
        );
        assert_eq!(
            origin(&uri("https://a.example/x")),
            Some(("https", "a.example", 443))
        );
        assert_eq!(origin(&uri("/relative")), None);
        assert_eq!(origin(&uri("ftp://a.example/")), None);
        assert!(same_origin(
            &uri("https://A.example/x"),
            &uri("https://a.example:443/y")
        ));
        assert!(!same_origin(
            &uri("https://a.example/"),
            &uri("http://a.example/")
        ));
        assert!(!same_origin(
            &uri("https://a.example/"),
            &uri("https://a.example:8443/")
        ));
        assert!(!same_origin(
            &uri("https://a.example/"),
            &uri("https://b.example/")
        ));
        assert!(
            !same_origin(&uri("/a"), &uri("/a")),
            "no origin, never the same"
        );
    }

    #[test]
    fn same_origins_hash_alike() {
        use std::hash::{BuildHasher, RandomState};
        let hasher = RandomState::new();
        let hash = |s: &str| {
            let mut h = hasher.build_hasher();
            assert!(hash_origin(&uri(s), &mut h));
            std::hash::Hasher::finish(&h)
        };
        assert_eq!(hash("HTTPS://A.example/x"), hash("https://a.example:443/y"));
        assert_ne!(hash("https://a.example/"), hash("http://a.example/"));
        assert_ne!(hash("https://a.example/"), hash("https://a.example:8443/"));
        let long = format!("http://{}.example/", "A".repeat(200));
        assert_eq!(hash(&long), hash(&long.to_ascii_lowercase()));
        let mut h = hasher.build_hasher();
        assert!(!hash_origin(&uri("/relative"), &mut h));
    }

    #[test]
    fn credentials_are_removed_with_every_value() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Bearer secret".parse().unwrap());
        h.append(COOKIE, "a=1".parse().unwrap());
        h.append(COOKIE, "b=2".parse().unwrap());
        h.insert(PROXY_AUTHORIZATION, "Basic eA==".parse().unwrap());
        h.insert("x-api-key", "k".parse().unwrap());
        h.insert("accept", "*/*".parse().unwrap());
        let extra = [HeaderName::from_static("x-api-key")];
        assert!(is_credential(&COOKIE, &[]));
        assert!(is_credential(&extra[0], &extra));
        assert!(remove_credentials(&mut h, &extra));
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
        assert!(
            !remove_credentials(&mut h, &extra),
            "nothing left to remove"
        );
    }

    #[test]
    fn only_https_to_http_is_a_downgrade() {
        let s = uri("https://a.example/");
        let p = uri("http://a.example/");
        let d = Downgrade::check(&s, &p, &LOCATION).unwrap_err();
        assert_eq!((d.from(), d.to(), d.header()), (&s, &p, &LOCATION));
        assert!(d.to_string().contains("https to http"), "{d}");
        assert!(Downgrade::check(&p, &s, &LOCATION).is_ok());
        assert!(Downgrade::check(&s, &s, &LOCATION).is_ok());
        assert!(Downgrade::check(&p, &p, &LOCATION).is_ok());
        assert!(
            Downgrade::check(&uri("HTTPS://a.example/"), &uri("HTTP://b/"), &LOCATION).is_err()
        );
    }
}
