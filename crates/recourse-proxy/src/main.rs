//! The `recourse-proxy` binary.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use recourse_proxy::metrics::Prometheus;
use recourse_proxy::{Cli, Config, LogFormat, Proxy};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_cli(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("recourse-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = if config.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if config.threads > 1 {
            builder.worker_threads(config.threads);
        }
        builder.enable_all().build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(e) => {
            eprintln!("recourse-proxy: cannot start the runtime: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: Config) -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: a log file or a collector gets plain text.
    let ansi = std::io::stdout().is_terminal();
    match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_ansi(ansi)
            .with_env_filter(filter)
            .init(),
    }
    let metrics_on = config.metrics_listen.is_some();
    let mut proxy = match Proxy::new(config) {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("recourse-proxy: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    if metrics_on {
        // Only with --metrics-listen: otherwise every metric goes to the no-op recorder.
        match Prometheus::install() {
            Ok(prometheus) => proxy = proxy.with_metrics(prometheus),
            Err(e) => {
                eprintln!("recourse-proxy: cannot record metrics: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let listener = match proxy.bind().await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "recourse-proxy: cannot listen on {}: {e}",
                proxy.get_config().listen
            );
            return ExitCode::from(1);
        }
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = proxy.get_config();
    let admin_routes = if metrics_on && config.metrics_listen == config.admin_listen {
        "GET /healthz, GET /metrics"
    } else {
        "GET /healthz"
    };
    let admin = (
        proxy.bind_admin().await,
        "admin",
        "--admin-listen",
        config.admin_listen,
    );
    let metrics = (
        proxy.bind_metrics().await,
        "metrics",
        "--metrics-listen",
        config.metrics_listen,
    );
    for (bound, name, flag, addr) in [admin, metrics] {
        match bound {
            Ok(Some(listener)) => {
                let local = listener.local_addr().ok();
                let routes = if name == "admin" {
                    admin_routes
                } else {
                    "GET /metrics"
                };
                tracing::info!(listen = ?local, "{name} listener started ({routes})");
                spawn_admin(&proxy, listener, stopped.clone(), name);
            }
            Ok(None) => {}
            Err(e) => {
                let addr = addr.map_or_else(String::new, |a| a.to_string());
                eprintln!("recourse-proxy: cannot listen on {addr} ({flag}): {e}");
                return ExitCode::from(1);
            }
        }
    }
    let addr = listener
        .local_addr()
        .map_or_else(|_| proxy.get_config().listen.to_string(), |a| a.to_string());
    tracing::info!(listen = %addr, upstream = %proxy.get_config().upstream, "recourse-proxy started");
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    match proxy.serve(listener, shutdown).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("recourse-proxy: {e}");
            ExitCode::from(1)
        }
    }
}

/// Serves the admin routes on `listener` until `stopped` turns true.
fn spawn_admin(
    proxy: &Proxy,
    listener: tokio::net::TcpListener,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    name: &'static str,
) {
    let proxy = proxy.clone();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = proxy.serve_admin(listener, shutdown).await {
            tracing::warn!(error = %e, "{name} listener failed");
        }
    });
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
