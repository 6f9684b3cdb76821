//! The baseline of `bench/mock-vs-bare-wrk.sh`: a bare hyper HTTP/1.1 server that reads each
//! `POST /api/v1/orders` body and answers 201 with a body the size of the mock's (a quoted
//! 56-byte UID), on a tokio runtime with as many workers as the mock (`WORKERS`, default 2).
//! It does none of the mock's work, so the mock's rate divided by its rate is the share of the
//! HTTP stack's capacity the mock keeps. Usage: `bare 127.0.0.1:PORT`.

use std::convert::Infallible;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// `"0x` + 112 hex digits + `"`: the length of the mock's 201 body.
const UID_BODY: &[u8; 116] = b"\"0x0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\"";

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let found = req.method() == Method::POST && req.uri().path() == "/api/v1/orders";
    let read = req
        .into_body()
        .collect()
        .await
        .map_or(0, |b| b.to_bytes().len());
    std::hint::black_box(read);
    let (status, body) = if found {
        (StatusCode::CREATED, Bytes::from_static(UID_BODY))
    } else {
        (StatusCode::NOT_FOUND, Bytes::new())
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:38080".to_owned());
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let served = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
                std::hint::black_box(served.is_ok());
            });
        }
    })
}
