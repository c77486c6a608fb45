//! Request coalescing: one origin request per key at a time (RFC 9111 §4: "a cache can
//! combine ... requests", the "collapsed forwarding" of RFC 9211 §2.6).
//!
//! The first request that must go to the origin for a key leads a flight; later ones
//! wait for it (bounded), then read the store. The leader's [`FlightGuard`] ends the
//! flight when the response is stored, turns out not to be storable, fails, or is
//! dropped, so waiters never wait longer than that or their timeout. A flight older than
//! the coalescing timeout (an origin that never answers) is taken over by the next
//! request, which leads a new one: nobody joins a flight its own waiters would already
//! have given up on. A key whose response
//! was not storable is remembered for a while ("hit-for-pass") so that concurrent
//! requests to an uncacheable resource are not serialised behind each other.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::key::{BuildKeyHasher, CacheKey};

/// How many hit-for-pass keys are remembered at most.
const PASS_CAPACITY: usize = 4096;

/// `now + d`, or, when that cannot be represented (`uncacheable_ttl(Duration::MAX)`),
/// about thirty years from now, as tokio's timers do: configuration never makes the
/// cache panic.
pub(crate) fn far_future(now: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

#[derive(Debug, Default)]
pub(crate) struct Flights {
    inner: Mutex<Inner>,
}

/// One map for both, so that a lookup hashes the key once.
#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<CacheKey, Slot, BuildKeyHasher>,
    /// How many slots are `Pass` (bounded by `PASS_CAPACITY`).
    passes: usize,
}

#[derive(Debug)]
enum Slot {
    Active(Arc<Flight>),
    Pass(Instant),
}

#[derive(Debug)]
pub(crate) struct Flight {
    notify: Notify,
    done: AtomicBool,
    started: Instant,
}

/// The result of [`Flights::join`].
#[derive(Debug)]
pub(crate) enum Join {
    /// This request leads: it goes to the origin and ends the flight.
    Leader(FlightGuard),
    /// Another request is in flight for the key: wait for it.
    Follower(Arc<Flight>),
    /// The key was recently found uncacheable: go to the origin without coalescing.
    Pass,
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves the maps consistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the flight for `key`, or leads a new one when none runs or the one running
    /// started `take_over_after` ago or more.
    pub(crate) fn join(self: &Arc<Self>, key: &CacheKey, take_over_after: Duration) -> Join {
        let mut inner = self.lock();
        match inner.slots.get(key) {
            Some(Slot::Active(flight)) if flight.started.elapsed() < take_over_after => {
                return Join::Follower(flight.clone());
            }
            Some(Slot::Pass(until)) if *until > Instant::now() => return Join::Pass,
            _ => {}
        }
        Join::Leader(self.lead_locked(&mut inner, key))
    }

    /// Leads a flight for `key` unless one is running, younger than `take_over_after` (for
    /// background refreshes).
    pub(crate) fn try_lead(
        self: &Arc<Self>,
        key: &CacheKey,
        take_over_after: Duration,
    ) -> Option<FlightGuard> {
        let mut inner = self.lock();
        if let Some(Slot::Active(flight)) = inner.slots.get(key)
            && flight.started.elapsed() < take_over_after
        {
            return None;
        }
        Some(self.lead_locked(&mut inner, key))
    }

    fn lead_locked(self: &Arc<Self>, inner: &mut Inner, key: &CacheKey) -> FlightGuard {
        let flight = Arc::new(Flight {
            notify: Notify::new(),
            done: AtomicBool::new(false),
            started: Instant::now(),
        });
        let key = key.clone();
        if let Some(Slot::Pass(_)) = inner
            .slots
            .insert(key.clone(), Slot::Active(flight.clone()))
        {
            inner.passes -= 1;
        }
        FlightGuard {
            flights: self.clone(),
            key,
            flight,
            pass_for: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn active(&self) -> usize {
        let inner = self.lock();
        inner.slots.len() - inner.passes
    }
}

impl Flight {
    /// Waits until the flight ends or `timeout` passes.
    pub(crate) fn wait(
        self: Arc<Self>,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let ended = async {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                // Register before checking `done`, so an end in between is not missed.
                notified.as_mut().enable();
                if self.done.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
            };
            let _ = tokio::time::timeout(timeout, ended).await;
        })
    }
}

/// Held by the leader of a flight; ends it when dropped.
#[derive(Debug)]
pub(crate) struct FlightGuard {
    flights: Arc<Flights>,
    key: CacheKey,
    flight: Arc<Flight>,
    pass_for: Option<Duration>,
}

impl FlightGuard {
    /// Records that the response was not storable: for `ttl`, requests for this key go to
    /// the origin without waiting for each other.
    pub(crate) fn uncacheable(mut self, ttl: Duration) {
        if !ttl.is_zero() {
            self.pass_for = Some(ttl);
        }
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        {
            let mut inner = self.flights.lock();
            let ours = matches!(
                inner.slots.get(&self.key),
                Some(Slot::Active(f)) if Arc::ptr_eq(f, &self.flight)
            );
            if ours {
                match self.pass_for {
                    Some(ttl) => {
                        let now = Instant::now();
                        if inner.passes >= PASS_CAPACITY {
                            inner.slots.retain(
                                |_, slot| !matches!(slot, Slot::Pass(until) if *until <= now),
                            );
                            let passes = inner
                                .slots
                                .values()
                                .filter(|s| matches!(s, Slot::Pass(_)))
                                .count();
                            inner.passes = passes;
                        }
                        if inner.passes < PASS_CAPACITY {
                            let until = far_future(now, ttl);
                            inner.slots.insert(self.key.clone(), Slot::Pass(until));
                            inner.passes += 1;
                        } else {
                            inner.slots.remove(&self.key);
                        }
                    }
                    None => {
                        inner.slots.remove(&self.key);
                    }
                }
            }
        }
        self.flight.done.store(true, Ordering::Release);
        self.flight.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn key(s: &str) -> CacheKey {
        CacheKey::from_uri(&s.parse().unwrap()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn leader_followers_and_release() {
        let flights = Arc::new(Flights::default());
        let k = key("http://a.test/");
        let Join::Leader(guard) = flights.join(&k, LONG) else {
            panic!("first must lead")
        };
        let Join::Follower(flight) = flights.join(&k, LONG) else {
            panic!("second must follow")
        };
        assert!(flights.try_lead(&k, LONG).is_none());
        let waiter = tokio::spawn(flight.wait(Duration::from_secs(60)));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let start = Instant::now();
        drop(guard);
        waiter.await.unwrap();
        assert_eq!(Instant::now(), start, "woken at once, not by the timeout");
        assert_eq!(flights.active(), 0);
        assert!(matches!(flights.join(&k, LONG), Join::Leader(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_is_bounded() {
        let flights = Arc::new(Flights::default());
        let k = key("http://a.test/");
        let _guard = flights.join(&k, LONG);
        let Join::Follower(flight) = flights.join(&k, LONG) else {
            panic!()
        };
        let start = Instant::now();
        flight.wait(Duration::from_secs(3)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn ended_flight_does_not_block() {
        let flights = Arc::new(Flights::default());
        let k = key("http://a.test/");
        let Join::Leader(guard) = flights.join(&k, LONG) else {
            panic!()
        };
        let Join::Follower(flight) = flights.join(&k, LONG) else {
            panic!()
        };
        drop(guard);
        let start = Instant::now();
        flight.wait(Duration::from_secs(3)).await;
        assert_eq!(Instant::now(), start);
    }

    #[tokio::test(start_paused = true)]
    async fn hit_for_pass_memory_is_bounded() {
        let flights = Arc::new(Flights::default());
        for i in 0..PASS_CAPACITY + 10 {
            let Join::Leader(guard) = flights.join(&key(&format!("http://a.test/{i}")), LONG)
            else {
                panic!("fresh keys lead")
            };
            guard.uncacheable(Duration::from_secs(60));
        }
        {
            let inner = flights.lock();
            assert_eq!(inner.passes, PASS_CAPACITY);
            assert_eq!(inner.slots.len(), PASS_CAPACITY);
        }
        // Once they expire, room is made again.
        tokio::time::advance(Duration::from_secs(60)).await;
        let Join::Leader(guard) = flights.join(&key("http://b.test/"), LONG) else {
            panic!()
        };
        guard.uncacheable(Duration::from_secs(60));
        let inner = flights.lock();
        assert_eq!(inner.passes, 1);
        assert_eq!(inner.slots.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn hit_for_pass_expires() {
        let flights = Arc::new(Flights::default());
        let k = key("http://a.test/");
        let Join::Leader(guard) = flights.join(&k, LONG) else {
            panic!()
        };
        guard.uncacheable(Duration::from_secs(5));
        assert!(matches!(flights.join(&k, LONG), Join::Pass));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(matches!(flights.join(&k, LONG), Join::Leader(_)));
        // Other keys are unaffected.
        assert!(matches!(
            flights.join(&key("http://b.test/"), LONG),
            Join::Leader(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn an_old_flight_is_taken_over() {
        let flights = Arc::new(Flights::default());
        let k = key("http://a.test/");
        let Join::Leader(hung) = flights.join(&k, LONG) else {
            panic!()
        };
        let Join::Follower(old) = flights.join(&k, Duration::from_secs(10)) else {
            panic!("a young flight is followed")
        };
        let waiter = tokio::spawn(old.wait(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(10)).await;
        // The hung leader is ten seconds old: the next request leads a new flight (and a
        // background refresh may start), and the ones after it follow the new one.
        assert!(flights.try_lead(&k, Duration::from_secs(10)).is_some());
        let Join::Leader(new) = flights.join(&k, Duration::from_secs(10)) else {
            panic!("an old flight is taken over")
        };
        assert!(matches!(
            flights.join(&k, Duration::from_secs(10)),
            Join::Follower(_)
        ));
        waiter.await.unwrap();
        // The hung leader ending does not end the new flight.
        drop(hung);
        assert!(matches!(flights.join(&k, LONG), Join::Follower(_)));
        assert_eq!(flights.active(), 1);
        drop(new);
        assert_eq!(flights.active(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn huge_durations_do_not_panic() {
        let flights = Arc::new(Flights::default());
        let k = key("http://a.test/");
        let Join::Leader(guard) = flights.join(&k, Duration::MAX) else {
            panic!()
        };
        let Join::Follower(flight) = flights.join(&k, Duration::MAX) else {
            panic!()
        };
        let waiter = tokio::spawn(flight.wait(Duration::MAX));
        tokio::task::yield_now().await;
        // `uncacheable_ttl(Duration::MAX)`: a pass for as long as can be represented.
        guard.uncacheable(Duration::MAX);
        waiter.await.unwrap();
        assert!(matches!(flights.join(&k, Duration::MAX), Join::Pass));
        tokio::time::advance(Duration::from_secs(10 * 365 * 24 * 60 * 60)).await;
        assert!(matches!(flights.join(&k, Duration::MAX), Join::Pass));
        let now = Instant::now();
        assert_eq!(
            far_future(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(far_future(now, Duration::MAX) > now);
    }
}
