//! What a successful unsafe request invalidates (RFC 9111 §4.4).

use http::{Response, Uri, header};
use recourse_core::FinalUri;
use recourse_core::headers::{location_value, resolve_location};
use recourse_core::origin::same_origin;

use crate::key::CacheKey;

/// The keys a non-error response to an unsafe method invalidates: the target URI `key`,
/// and the URIs of its `Location` and `Content-Location` that are on the same origin
/// (RFC 9111 §4.4), each once. `sent` is the request URI as sent; an origin-form one is
/// replaced by the key's URI. Also says whether `Content-Location` names the target URI
/// itself (RFC 9110 §8.7: the content is then a representation of it).
pub(crate) fn targets<B>(
    key: &CacheKey,
    sent: Option<Uri>,
    res: &Response<B>,
) -> (Vec<CacheKey>, bool) {
    let base = match sent {
        Some(uri) if uri.scheme().is_some() && uri.authority().is_some() => Some(uri),
        _ => key.to_uri(),
    };
    let mut removals = vec![key.clone()];
    let mut self_located = false;
    let Some(base) = base else {
        return (removals, self_located);
    };
    // Relative references resolve against the URI that answered (RFC 9110 §10.2.2): a
    // redirect layer below would have recorded it as `FinalUri`.
    let base = FinalUri::resolve_base(res, &base);
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        // One rule for reading them (`location_value`): several different values name no
        // URI for sure, so none of them is invalidated.
        let Ok(Some(value)) = location_value(res.headers(), &name) else {
            continue;
        };
        if let Ok(target) = resolve_location(base, value)
            && same_origin(base, target.uri())
            && let Some(k) = CacheKey::from_uri(target.uri())
        {
            if name == header::CONTENT_LOCATION && k == *key {
                self_located = true;
            }
            if !removals.contains(&k) {
                removals.push(k);
            }
        }
    }
    (removals, self_located)
}
