//! Macros the layer crates share.

/// Defines `get_ref`, `get_mut` and `into_inner` on a middleware whose inner service is
/// the field `inner`: the same three accessors, with the same docs, on every layer's
/// service.
///
/// ```
/// pub struct Wrapper<S> {
///     inner: S,
/// }
///
/// impl<S> Wrapper<S> {
///     recourse_core::inner_service_accessors!();
/// }
///
/// let mut w = Wrapper { inner: 1 };
/// *w.get_mut() += 1;
/// assert_eq!(*w.get_ref(), 2);
/// assert_eq!(w.into_inner(), 2);
/// ```
#[macro_export]
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Takes the inner service out, dropping the middleware.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

/// An INFO span (target `recourse`) named `$name` for the request `$req` (a reference to
/// an `http::Request`), with the OpenTelemetry HTTP client attributes every Recourse span
/// carries (`otel.name`, `otel.kind`, `http.request.method`, `url.full` without
/// credentials or query, `server.address`, `server.port`) and the empty ones recorded
/// at the end (`http.response.status_code`, `http.request.resend_count`, `error.type`,
/// `recourse.class`), then `$extra` fields. The caller depends on `tracing`. When no
/// subscriber listens, the span is disabled and nothing is formatted or allocated.
///
/// ```
/// let req = http::Request::get("https://u:p@a.test/x?q=1").body(()).unwrap();
/// let span = recourse_core::http_client_span!("demo", &req, recourse.poll.count = 2u32);
/// assert!(span.is_disabled()); // no subscriber here
/// ```
#[macro_export]
macro_rules! http_client_span {
    ($name:literal, $req:expr $(, $($extra:tt)*)?) => {{
        let req = $req;
        ::tracing::info_span!(
            target: "recourse",
            $name,
            otel.name = %req.method(),
            otel.kind = "client",
            http.request.method = %req.method(),
            url.full = %$crate::observe::UrlFull::new(req.uri()),
            server.address = req.uri().host(),
            server.port = $crate::observe::server_port(req.uri()),
            http.response.status_code = ::tracing::field::Empty,
            http.request.resend_count = ::tracing::field::Empty,
            error.type = ::tracing::field::Empty,
            recourse.class = ::tracing::field::Empty,
            $($($extra)*)?
        )
    }};
}

/// A `metrics` handle (`counter`, `gauge` or `histogram`) whose label values come from a
/// fixed list, so that the key is a `static` built at compile time: nothing is allocated
/// or hashed per call (the `metrics` macros allocate the labels of a key built from
/// run-time values, and hash at run time a key whose name is not a literal). A value
/// outside the list is recorded as `_OTHER`. One or two labels; `$name` is a constant
/// (`&'static str`); the caller depends on `metrics`. The metric's target is the calling
/// module and its level INFO, as with the `metrics` macros.
///
/// ```
/// let outcome = "success";
/// recourse_core::metric_with!(counter, "requests", "outcome" => outcome; ["success", "failure"])
///     .increment(1);
/// let (method, class) = ("GET", "retryable");
/// recourse_core::metric_with!(histogram, "duration",
///     "method" => method; ["GET", "POST"],
///     "class" => class; ["success", "retryable"])
///     .record(0.25);
/// ```
#[macro_export]
macro_rules! metric_with {
    ($kind:ident, $name:expr, $k1:literal => $v1:expr; [$($a:literal),* $(,)?], $k2:literal => $v2:expr; $bs:tt) => {
        match $v1 {
            $($a => $crate::metric_with!(@second $kind, $name, $k1 => $a, $k2 => $v2; $bs),)*
            _ => $crate::metric_with!(@second $kind, $name, $k1 => "_OTHER", $k2 => $v2; $bs),
        }
    };
    (@second $kind:ident, $name:expr, $k1:literal => $a:literal, $k2:literal => $v2:expr; [$($b:literal),* $(,)?]) => {
        match $v2 {
            $($b => $crate::metric_with!(@static $kind, $name, $k1 => $a, $k2 => $b),)*
            _ => $crate::metric_with!(@static $kind, $name, $k1 => $a, $k2 => "_OTHER"),
        }
    };
    ($kind:ident, $name:expr, $k:literal => $v:expr; [$($a:literal),* $(,)?]) => {
        match $v {
            $($a => $crate::metric_with!(@static $kind, $name, $k => $a),)*
            _ => $crate::metric_with!(@static $kind, $name, $k => "_OTHER"),
        }
    };
    // One key, its labels and its metadata, all `static` (the key's hash is computed by
    // the compiler), handed to the current recorder.
    (@static $kind:ident, $name:expr, $($k:literal => $v:literal),+) => {{
        static LABELS: [::metrics::Label; [$($k),+].len()] =
            [$(::metrics::Label::from_static_parts($k, $v)),+];
        static KEY: ::metrics::Key = ::metrics::Key::from_static_parts($name, &LABELS);
        static METADATA: ::metrics::Metadata<'static> = ::metrics::Metadata::new(
            ::core::module_path!(),
            ::metrics::Level::INFO,
            ::core::option::Option::Some(::core::module_path!()),
        );
        ::metrics::with_recorder(|recorder| {
            $crate::metric_with!(@register $kind, recorder, &KEY, &METADATA)
        })
    }};
    (@register counter, $recorder:ident, $key:expr, $meta:expr) => {
        $recorder.register_counter($key, $meta)
    };
    (@register gauge, $recorder:ident, $key:expr, $meta:expr) => {
        $recorder.register_gauge($key, $meta)
    };
    (@register histogram, $recorder:ident, $key:expr, $meta:expr) => {
        $recorder.register_histogram($key, $meta)
    };
}
