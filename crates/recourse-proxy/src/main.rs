//! The `recourse-proxy` binary.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
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
    let proxy = match Proxy::new(config) {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("recourse-proxy: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
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
    match proxy.bind_admin().await {
        Ok(Some(admin)) => {
            let addr = admin.local_addr().ok();
            tracing::info!(admin = ?addr, "admin listener started (GET /healthz)");
            let proxy = proxy.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = proxy.serve_admin(admin, shutdown).await {
                    tracing::warn!(error = %e, "admin listener failed");
                }
            });
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!(
                "recourse-proxy: cannot listen on {} (--admin-listen): {e}",
                proxy
                    .get_config()
                    .admin_listen
                    .map_or_else(String::new, |a| a.to_string())
            );
            return ExitCode::from(1);
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
