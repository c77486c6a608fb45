//! The state shared by the server handle and its connections: routes and records.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::recorded::Recorded;
use crate::reply::Reply;

pub(crate) type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync + 'static>;

/// State shared by the server handle and every connection.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Woken after every recorded request.
    pub(crate) recorded: Notify,
}

pub(crate) struct State {
    /// Whether requests are kept (counts are kept regardless).
    pub(crate) recording: bool,
    pub(crate) requests: Vec<Recorded>,
    pub(crate) total: usize,
    pub(crate) counts: HashMap<String, usize>,
    exact: HashMap<String, Route>,
    /// Prefix routes, longest first.
    prefixes: Vec<(String, Route)>,
}

#[derive(Default)]
pub(crate) struct Route {
    pub(crate) queue: VecDeque<Reply>,
    pub(crate) last: Option<Reply>,
    pub(crate) fallback: Option<Fallback>,
}

#[derive(Clone)]
pub(crate) enum Fallback {
    Reply(Box<Reply>),
    Handler(Handler),
}

pub(crate) enum Next {
    Reply(Box<Reply>),
    Handler(Handler),
}

// === impl Route ===

impl Route {
    fn next(&mut self) -> Option<Next> {
        if let Some(reply) = self.queue.pop_front() {
            if self.queue.is_empty() {
                self.last = Some(reply.clone());
            }
            return Some(Next::Reply(Box::new(reply)));
        }
        match &self.fallback {
            Some(Fallback::Reply(reply)) => Some(Next::Reply(reply.clone())),
            Some(Fallback::Handler(handler)) => Some(Next::Handler(handler.clone())),
            None => self.last.clone().map(|reply| Next::Reply(Box::new(reply))),
        }
    }
}

// === impl State ===

impl Default for State {
    fn default() -> Self {
        Self {
            recording: true,
            requests: Vec::new(),
            total: 0,
            counts: HashMap::new(),
            exact: HashMap::new(),
            prefixes: Vec::new(),
        }
    }
}

impl State {
    pub(crate) fn route_mut(&mut self, path: &str) -> &mut Route {
        self.exact.entry(path.to_owned()).or_default()
    }

    pub(crate) fn prefix_mut(&mut self, prefix: &str) -> &mut Route {
        let index = match self.prefixes.iter().position(|(p, _)| p == prefix) {
            Some(index) => index,
            None => {
                self.prefixes.push((prefix.to_owned(), Route::default()));
                self.prefixes
                    .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
                self.prefixes
                    .iter()
                    .position(|(p, _)| p == prefix)
                    .unwrap_or(0)
            }
        };
        &mut self.prefixes[index].1
    }

    fn next(&mut self, path: &str) -> Option<Next> {
        if let Some(next) = self.exact.get_mut(path).and_then(Route::next) {
            return Some(next);
        }
        self.prefixes
            .iter_mut()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .find_map(|(_, route)| route.next())
    }
}

// === impl Shared ===

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge the server: the state stays consistent
        // because every critical section is a few infallible steps.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the request and picks what answers it, in one critical section, so that
    /// counts and script positions agree exactly.
    pub(crate) fn record(&self, recorded: &Recorded) -> Option<Next> {
        let next = {
            let mut state = self.lock();
            if state.recording {
                state.requests.push(recorded.clone());
            }
            state.total += 1;
            match state.counts.get_mut(&recorded.path) {
                Some(count) => *count += 1,
                None => {
                    state.counts.insert(recorded.path.clone(), 1);
                }
            }
            state.next(&recorded.path)
        };
        self.recorded.notify_waiters();
        next
    }
}

/// Checks a route path: it must start with `/` and hold no query or fragment.
#[track_caller]
pub(crate) fn check_path(path: &str) {
    assert!(
        path.starts_with('/') && !path.contains(['?', '#']),
        "testkit route {path:?} must be a path starting with '/' without query or fragment",
    );
}
