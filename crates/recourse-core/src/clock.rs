//! Wall-clock time derived from tokio's clock.
//!
//! HTTP speaks in wall-clock dates (`Retry-After: <HTTP-date>`, `Expires`, `Date`,
//! `Last-Modified`), while every delay in Recourse runs on [`tokio::time`]. To keep both
//! consistent, and to let tests drive both with paused time, the layers read the wall clock
//! through [`system_now`]: the real [`SystemTime`] captured once, advanced by the elapsed
//! [`tokio::time::Instant`]. Under `#[tokio::test(start_paused = true)]`,
//! `tokio::time::advance(d)` moves `system_now()` forward by exactly `d`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use recourse_core::clock::system_now;
//!
//! let before = system_now();
//! tokio::time::advance(Duration::from_secs(60)).await;
//! let after = system_now();
//! assert_eq!(after.duration_since(before).unwrap(), Duration::from_secs(60));
//! # }
//! ```

use std::sync::OnceLock;
use std::time::SystemTime;

use tokio::time::Instant;

static BASE: OnceLock<(SystemTime, Instant)> = OnceLock::new();

/// The current wall-clock time, as seen through tokio's (possibly paused) clock.
///
/// The first call pairs [`SystemTime::now`] with [`Instant::now`]; every later call adds
/// the tokio time elapsed since then. Outside a paused runtime this tracks the real clock
/// (a monotonic clock never jumps back, so neither does this).
pub fn system_now() -> SystemTime {
    let (base_wall, base_instant) = *BASE.get_or_init(|| (SystemTime::now(), Instant::now()));
    let now = Instant::now();
    if now >= base_instant {
        base_wall
            .checked_add(now - base_instant)
            .unwrap_or(base_wall)
    } else {
        base_wall
            .checked_sub(base_instant - now)
            .unwrap_or(base_wall)
    }
}

/// Converts a wall-clock time to the tokio [`Instant`] at which [`system_now`] reaches it.
///
/// Times in the past map to `Instant::now()`.
pub fn instant_at(wall: SystemTime) -> Instant {
    let now_wall = system_now();
    let now = Instant::now();
    match wall.duration_since(now_wall) {
        Ok(ahead) => now.checked_add(ahead).unwrap_or(now),
        Err(_) => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_time() {
        let a = system_now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        let b = system_now();
        assert_eq!(b.duration_since(a).unwrap(), Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn instant_at_maps_back() {
        let target = system_now() + Duration::from_secs(30);
        let at = instant_at(target);
        assert_eq!(at - Instant::now(), Duration::from_secs(30));
        let past = system_now() - Duration::from_secs(30);
        assert_eq!(instant_at(past), Instant::now());
    }
}
