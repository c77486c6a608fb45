//! The connection every clone of a `RedisStore` shares, and its back-off: after a
//! connection error or a timeout the store fails at once for the retry delay instead of
//! making every request wait for the timeout while Redis is away.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisResult};
use tokio::time::Instant;

use super::error::{MalformedEntry, RedisStoreError, is_connection_error};

/// The connection every clone shares, made on first use.
pub(super) struct Connection {
    pub(super) client: Client,
    pub(super) manager: OnceLock<ConnectionManager>,
    /// When Redis failed, the earliest time to try it again.
    retry_at: Mutex<Option<Instant>>,
}

impl Connection {
    /// A connection to `client`'s Redis, not yet made.
    pub(super) fn new(client: Client) -> Connection {
        Connection {
            client,
            manager: OnceLock::new(),
            retry_at: Mutex::new(None),
        }
    }

    /// Runs `op` on the connection, bounded by `timeout`, minding the back-off: within
    /// `retry_delay` of a connection error or a timeout, fails at once with
    /// [`RedisStoreError::Unavailable`].
    pub(super) async fn run<T, F, Fut>(
        &self,
        timeout: Duration,
        retry_delay: Duration,
        op: F,
    ) -> Result<T, RedisStoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if let Some(retry_in) = self.unavailable() {
            return Err(RedisStoreError::Unavailable { retry_in });
        }
        let manager = self.manager(timeout)?;
        let attempt = async {
            match op(manager.clone()).await {
                // The connection broke before this call (Redis restarted or went away):
                // the manager is already making a new one, so try once more on it.
                Err(e) if is_connection_error(&e) => op(manager).await,
                result => result,
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(value)) => {
                self.up();
                Ok(value)
            }
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.down(retry_delay);
                }
                if e.is_timeout() {
                    return Err(RedisStoreError::Timeout(timeout));
                }
                if e.code() == Some("WRONGTYPE") {
                    return Err(RedisStoreError::Malformed(MalformedEntry::WrongType));
                }
                Err(RedisStoreError::Redis(e))
            }
            Err(_) => {
                self.down(retry_delay);
                Err(RedisStoreError::Timeout(timeout))
            }
        }
    }

    /// The shared manager, made (without I/O) on first use, inside the runtime.
    fn manager(&self, timeout: Duration) -> Result<ConnectionManager, RedisStoreError> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        // No retries inside the manager: a failed connection fails the operation at once
        // (the cache goes to the origin) and the next operation connects again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(RedisStoreError::Redis)?;
        Ok(self.manager.get_or_init(|| manager).clone())
    }

    fn retry_at(&self) -> MutexGuard<'_, Option<Instant>> {
        self.retry_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long until Redis may be tried again, if it failed recently.
    fn unavailable(&self) -> Option<Duration> {
        let at = (*self.retry_at())?;
        let now = Instant::now();
        (now < at).then(|| at - now)
    }

    fn down(&self, delay: Duration) {
        if !delay.is_zero() {
            let now = Instant::now();
            *self.retry_at() = Some(crate::flight::far_future(now, delay));
        }
    }

    fn up(&self) {
        let mut at = self.retry_at();
        if at.is_some() {
            *at = None;
        }
    }
}
