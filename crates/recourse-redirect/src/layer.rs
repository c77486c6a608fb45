//! [`RedirectLayer`]: wraps services in [`Redirect`].

use tower_layer::Layer;

use crate::config::{Config, config_methods, standard_methods};
use crate::policy::Standard;
use crate::service::Redirect;

/// Applies [`Redirect`] to services; see the [crate docs](crate).
///
/// The builder methods mirror those of [`Redirect`].
#[derive(Clone, Debug)]
pub struct RedirectLayer<P = Standard> {
    pub(crate) policy: P,
    pub(crate) config: Config,
}

impl RedirectLayer {
    /// A layer with the [`Standard`] policy.
    pub fn new() -> Self {
        Self::with_policy(Standard::default())
    }

    standard_methods!();
}

impl Default for RedirectLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> RedirectLayer<P> {
    /// A layer with the given policy (which replaces [`Standard`] entirely; combine them
    /// with [`PolicyExt::and`](crate::policy::PolicyExt::and) to keep its protections).
    pub fn with_policy(policy: P) -> Self {
        Self {
            policy,
            config: Config::default(),
        }
    }

    /// Replaces the policy, keeping the other settings.
    pub fn policy<Q>(self, policy: Q) -> RedirectLayer<Q> {
        RedirectLayer {
            policy,
            config: self.config,
        }
    }

    /// The policy.
    pub fn get_policy(&self) -> &P {
        &self.policy
    }

    config_methods!();
}

impl<S, P: Clone> Layer<S> for RedirectLayer<P> {
    type Service = Redirect<S, P>;

    fn layer(&self, inner: S) -> Redirect<S, P> {
        Redirect {
            inner,
            policy: self.policy.clone(),
            config: self.config,
        }
    }
}
