//! The Recourse stack around a plain hyper-util client, for one URL.
//!
//! ```text
//! cargo run --example client -- http://127.0.0.1:9000/barcode/ok
//! cargo run --example client -- -X POST -d '{"Data":"1"}' http://127.0.0.1:9000/barcode/old
//! cargo run --example client -- --deadline 10 http://127.0.0.1:9000/barcode/async
//! ```
//!
//! Prints the final status, the verdict, and what each layer did: the retries and their
//! waits, the redirects followed, the polls, and what the cache did.
//! (`http://` only: the example's client has no TLS connector.)

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use recourse::cache::CacheOutcome;
use recourse::classify::Outcome;
use recourse::poll::PollInfo;
use recourse::redirect::{FinalUri, NotFollowed};
use recourse::retry::RetryInfo;
use recourse::{Class, ClientStackLayer, History, Step};
use tower::{Layer, ServiceExt};

struct Args {
    method: Method,
    body: Bytes,
    deadline: Duration,
    url: String,
}

fn usage() -> ExitCode {
    eprintln!("usage: client [-X METHOD] [-d BODY] [--deadline SECONDS] URL");
    ExitCode::from(2)
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut method = Method::GET;
    let mut body = Bytes::new();
    let mut deadline = Duration::from_secs(30);
    let mut url = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-X" | "--method" => {
                let m = args.next().ok_or("-X needs a method")?;
                method =
                    Method::from_bytes(m.as_bytes()).map_err(|_| format!("bad method `{m}`"))?;
            }
            "-d" | "--data" => body = Bytes::from(args.next().ok_or("-d needs a body")?),
            "--deadline" => {
                let s = args.next().ok_or("--deadline needs seconds")?;
                deadline =
                    Duration::from_secs(s.parse().map_err(|_| format!("bad deadline `{s}`"))?);
            }
            "-h" | "--help" => return Err(String::new()),
            other if url.is_none() => url = Some(other.to_owned()),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    let url = url.ok_or("no URL given")?;
    if !body.is_empty() && method == Method::GET {
        method = Method::POST;
    }
    Ok(Args {
        method,
        body,
        deadline,
        url,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("client: {why}");
            }
            return usage();
        }
    };
    let req = match Request::builder()
        .method(args.method.clone())
        .uri(&args.url)
        .body(Full::new(args.body))
    {
        Ok(req) => req,
        Err(e) => {
            eprintln!("client: bad URL `{}`: {e}", args.url);
            return ExitCode::from(2);
        }
    };
    let hyper_client = Client::builder(TokioExecutor::new()).build_http();
    let client = ClientStackLayer::new()
        .deadline(args.deadline)
        .layer(hyper_client);

    let res = match client.oneshot(req).await {
        Ok(res) => res,
        Err(e) => {
            eprintln!("client: {} {} failed: {e}", args.method, args.url);
            return ExitCode::from(1);
        }
    };
    println!("{} {} -> {}", args.method, args.url, res.status());
    println!("verdict:  {:?}: {}", Class::of(&res), Outcome::of(&res));
    if let Some(history) = History::of(&res) {
        for step in history.steps() {
            match step {
                Step::Retried {
                    attempt,
                    status,
                    waited,
                } => {
                    let after =
                        status.map_or_else(|| "a transport error".to_owned(), |s| s.to_string());
                    println!(
                        "retry:    attempt {attempt} after {after}, waited {} ms",
                        waited.as_millis()
                    );
                }
                Step::Redirected { status, from, to } => {
                    println!("redirect: {} {from} -> {to}", status.as_u16())
                }
                Step::Polled {
                    poll,
                    uri,
                    status,
                    waited,
                } => {
                    println!(
                        "poll:     #{poll} {uri} -> {status} after {} ms",
                        waited.as_millis()
                    );
                }
                Step::Revalidated { status } => {
                    println!("cache:    revalidated, origin said {status}")
                }
                other => println!("step:     {other:?}"),
            }
        }
    }
    if let Some(info) = RetryInfo::of(&res)
        && let Some(why) = &info.stopped()
    {
        println!(
            "retry:    stopped after {} attempts: {why:?}",
            info.attempts()
        );
    }
    if let Some(not) = NotFollowed::of(&res) {
        println!("redirect: not followed: {not:?}");
    }
    if let Some(uri) = FinalUri::of(&res) {
        println!("final:    {}", uri.uri());
    }
    if let Some(info) = PollInfo::of(&res) {
        println!("poll:     {info:?}");
    }
    if let Some(outcome) = CacheOutcome::of(&res) {
        println!("cache:    {outcome:?}");
    }
    match res.into_body().collect().await {
        Ok(body) => {
            let body = body.to_bytes();
            let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            println!("body:     {} bytes: {shown}", body.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("client: the body failed: {e}");
            ExitCode::from(1)
        }
    }
}
