//! A capturing `tracing` layer: every span created while it is installed, with its parent
//! and its fields (those given at creation and those recorded later), for tests that check
//! span names, nesting and attributes, and for demos that print the span tree.
//!
//! ```
//! use recourse_testkit::spans::Spans;
//!
//! let (spans, guard) = Spans::install();
//! tracing::info_span!("outer", a = 1).in_scope(|| {
//!     let _inner = tracing::info_span!("inner", b = tracing::field::Empty);
//!     _inner.record("b", "x");
//! });
//! drop(guard);
//! let got = spans.take();
//! assert_eq!(got[1].parent, Some(0));
//! assert_eq!(got[1].field("b"), Some("x"));
//! assert_eq!(Spans::tree(&got), "outer a=1\n  inner b=x\n");
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Once, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span as [`Spans`] saw it.
#[derive(Clone, Debug)]
pub struct Captured {
    /// The span's name.
    pub name: &'static str,
    /// The index of its parent in the captured list.
    pub parent: Option<usize>,
    /// Its fields, formatted (`Debug` for values that are not strings or numbers), in
    /// name order.
    pub fields: BTreeMap<String, String>,
}

impl Captured {
    /// A field's value, if it was given or recorded.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// The spans captured on one thread; clones share the list.
#[derive(Clone, Debug, Default)]
pub struct Spans(Arc<Mutex<Vec<(u64, Captured)>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Spans {
    /// Captures the spans created on this thread (a current-thread runtime polls every
    /// future on it) until the guard drops.
    ///
    /// The first call installs a process-wide subscriber (a registry with a layer that
    /// hands each span to the capture of the thread that created it): a subscriber set
    /// per thread would race with others coming and going, since `tracing` keeps the
    /// maximum level and each callsite's interest process-wide, and parallel tests would
    /// then miss spans. When another global subscriber is already installed, nothing is
    /// captured.
    pub fn install() -> (Spans, Capturing) {
        static GLOBAL: Once = Once::new();
        GLOBAL.call_once(|| {
            let _ = tracing::subscriber::set_global_default(
                tracing_subscriber::registry().with(Router),
            );
        });
        let spans = Spans::default();
        CURRENT.with(|current| *current.borrow_mut() = Some(spans.clone()));
        (spans, Capturing(()))
    }

    /// Takes the spans captured so far, in creation order.
    pub fn take(&self) -> Vec<Captured> {
        self.lock().drain(..).map(|(_, c)| c).collect()
    }

    /// The spans as an indented tree, one line per span: its name and fields.
    pub fn tree(spans: &[Captured]) -> String {
        fn depth(spans: &[Captured], mut i: usize) -> usize {
            let mut d = 0;
            while let Some(p) = spans[i].parent {
                d += 1;
                i = p;
            }
            d
        }
        let mut out = String::new();
        for (i, span) in spans.iter().enumerate() {
            let _ = write!(out, "{}{}", "  ".repeat(depth(spans, i)), span.name);
            for (name, value) in &span.fields {
                let _ = write!(out, " {name}={value}");
            }
            out.push('\n');
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Captured)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The latest span with this id (ids are reused once a span closes).
    fn index_of(spans: &[(u64, Captured)], id: u64) -> Option<usize> {
        spans.iter().rposition(|(i, _)| *i == id)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Spans>> = const { RefCell::new(None) };
}

/// Ends the capture of [`Spans::install`] on this thread when dropped.
#[derive(Debug)]
pub struct Capturing(());

impl Drop for Capturing {
    fn drop(&mut self) {
        CURRENT.with(|current| current.borrow_mut().take());
    }
}

/// The process-wide layer: hands each span to the capture of its thread.
struct Router;

fn with_current(f: impl FnOnce(&Spans)) {
    CURRENT.with(|current| {
        if let Some(spans) = &*current.borrow() {
            f(spans);
        }
    });
}

impl<S> tracing_subscriber::Layer<S> for Router
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        with_current(|spans| {
            let parent = ctx
                .span(id)
                .and_then(|span| span.parent())
                .map(|p| p.id().into_u64());
            let mut fields = BTreeMap::new();
            attrs.record(&mut Fields(&mut fields));
            let mut list = spans.lock();
            let parent = parent.and_then(|p| Spans::index_of(&list, p));
            list.push((
                id.into_u64(),
                Captured {
                    name: attrs.metadata().name(),
                    parent,
                    fields,
                },
            ));
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        with_current(|spans| {
            let mut list = spans.lock();
            if let Some(i) = Spans::index_of(&list, id.into_u64()) {
                values.record(&mut Fields(&mut list[i].1.fields));
            }
        });
    }
}
