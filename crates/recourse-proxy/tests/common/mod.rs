//! Helpers shared by the proxy's integration tests.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use recourse_proxy::{Config, Proxy, Upstream};
use recourse_testkit::TestServer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A proxy running in this test's runtime.
pub struct RunningProxy {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningProxy {
    pub fn uri(&self, path: &str) -> http::Uri {
        format!("http://{}{}", self.addr, path).parse().unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

pub fn config_for(upstream: &TestServer) -> Config {
    Config::for_upstream(Upstream::parse(&upstream.base()).unwrap())
}

/// The configuration without cache and retry: plain forwarding.
pub fn no_layers(mut config: Config) -> Config {
    config.cache = false;
    config.retry = false;
    config
}

pub async fn start(config: Config) -> RunningProxy {
    start_proxy(Proxy::new(config).unwrap()).await
}

/// Serves `proxy` on its configured listen address.
pub async fn start_proxy(proxy: Proxy) -> RunningProxy {
    let listener = proxy.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(proxy.serve(listener, async move {
        let _ = rx.await;
    }));
    RunningProxy {
        addr,
        stop: Some(tx),
        task: Some(task),
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}
