//! The layer stack between the proxy's front end and the upstream client.

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use recourse_core::BoxError;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::config::Config;
use crate::proxy::{ProxyBody, UpstreamService};

/// Builds the stack the configuration selects, around `client`.
pub(crate) fn build(
    _config: &Config,
    client: Client<HttpConnector, ProxyBody>,
) -> Result<UpstreamService, BoxError> {
    let base = client
        .map_response(|res| res.map(|b| b.map_err(BoxError::from).boxed_unsync()))
        .map_err(BoxError::from);
    Ok(BoxCloneSyncService::new(base))
}
