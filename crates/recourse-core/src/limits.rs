//! The one default of each limit the layers share.
//!
//! A layer that needs one of these takes its default from here, so the same concept has
//! the same default everywhere; each layer still lets its user change it (the builder
//! methods are named in the project's vocabulary: `peek_limit`, `replay_limit`,
//! `drain_limit`, `drain_timeout`).

use std::time::Duration;

/// How many bytes of a response body a layer reads ahead to look into it (classify's body
/// codes, poll's status field): 64 KiB. A body over it is not looked into.
pub const DEFAULT_PEEK_LIMIT: usize = 64 * 1024;

/// How many bytes of a streamed request body are kept to send it again (a 307, a retry):
/// 64 KiB. Bodies already in memory are held whatever their size, since holding them
/// costs nothing more.
pub const DEFAULT_REPLAY_LIMIT: usize = 64 * 1024;

/// How many bytes of a response that is not returned (a 3xx followed, a 5xx retried, a
/// poll answered) are read and discarded so that its connection can be reused: 64 KiB.
pub const DEFAULT_DRAIN_LIMIT: u64 = 64 * 1024;

/// How long such a body is drained before its connection is given up: 1 second.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
