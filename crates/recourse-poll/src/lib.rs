//! Turns `202 Accepted` into the finished result (placeholder docs, see below).

mod body;
mod config;
mod error;
mod field;
mod future;
mod info;
mod layer;
mod policy;
mod poller;
mod progress;
mod service;

pub use body::PollBody;
pub use config::{Credentials, FinalState};
pub use error::{PollError, PollTimeout, TimeoutReason};
pub use field::{DEFAULT_FIELD_LIMIT, StatusField};
pub use future::ResponseFuture;
pub use info::{Outcome, PollInfo, Resume};
pub use layer::PollLayer;
pub use policy::{Decision, JobStatus, Policy, Standard};
pub use progress::{PollProgress, ProgressSender};
pub use service::AsyncPoll;

#[cfg(test)]
mod tests;
