//! The baseline of `benches/proxy_vs_nginx.sh`: the least a hyper-util reverse proxy does.
//! One current-thread runtime, hyper-util's pooled client, no header work (no hop-by-hop
//! removal, no `Via`), no layers, no logs. Not a proxy to deploy: a yardstick.
//!
//! ```sh
//! cargo run --release -p recourse-proxy --example minimal_proxy -- 127.0.0.1:8090 127.0.0.1:9000
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use http::{Request, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .ok_or("usage: minimal_proxy LISTEN UPSTREAM")?
        .parse()?;
    let upstream = args.next().ok_or("usage: minimal_proxy LISTEN UPSTREAM")?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(listen, upstream))
}

async fn serve(listen: SocketAddr, upstream: String) -> Result<(), Box<dyn std::error::Error>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let listener = TcpListener::bind(listen).await?;
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let upstream = upstream.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let client = client.clone();
            let uri = format!(
                "http://{upstream}{}",
                req.uri().path_and_query().map_or("/", |pq| pq.as_str())
            );
            async move {
                *req.uri_mut() = uri.parse::<Uri>().expect("a valid URI");
                *req.version_mut() = http::Version::HTTP_11;
                let res = match client.request(req).await {
                    Ok(res) => res.map(http_body_util::Either::Left),
                    Err(_) => {
                        let mut res = http::Response::new(http_body_util::Either::Right(
                            http_body_util::Empty::<bytes::Bytes>::new(),
                        ));
                        *res.status_mut() = http::StatusCode::BAD_GATEWAY;
                        res
                    }
                };
                Ok::<_, Infallible>(res)
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(conn);
    }
}
