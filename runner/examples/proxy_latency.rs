//! Benchmark: what the engine's RPC proxy adds to a round trip when no fault
//! is active. Starts a bare Anvil on loopback (owned by a `ChildGuard`), then
//! times `eth_blockNumber` round trips over HTTP (one request per POST) and
//! over one WebSocket, each directly against Anvil and through the proxy,
//! interleaved so both see the same machine load.
//!
//!     cargo run -p runner --example proxy_latency [ROUNDS]    # default 2000
//!
//! Prints p50 / p99 / max per path and the difference of the quantiles.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use runner::chain::{find_anvil, free_port, proxy};
use runner::process::ChildGuard;
use tokio_tungstenite::tungstenite::Message;

const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#;

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("ROUNDS is a number"))
        .unwrap_or(2000);
    let anvil = find_anvil(None).expect("anvil");
    let port = free_port().expect("a free port");
    let log = std::env::temp_dir().join(format!("proxy-latency-anvil-{port}.log"));
    let args = ["--port".to_owned(), port.to_string(), "--silent".to_owned()];
    let guard = ChildGuard::spawn("anvil", &anvil, &args, &[], &log).expect("anvil starts");
    let http = format!("http://127.0.0.1:{port}");
    let ws = format!("ws://127.0.0.1:{port}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    wait_up(&client, &http).await;
    let proxy = proxy::start(&http, &ws).await.expect("proxy starts");

    let mut direct = Vec::with_capacity(rounds);
    let mut proxied = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        direct.push(http_round_trip(&client, &http).await);
        proxied.push(http_round_trip(&client, &proxy.http_url).await);
    }
    report("HTTP eth_blockNumber", &mut direct, &mut proxied);

    let (mut direct_ws, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    let (mut proxied_ws, _) = tokio_tungstenite::connect_async(proxy.ws_url.as_str())
        .await
        .unwrap();
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        direct.push(ws_round_trip(&mut direct_ws).await);
        proxied.push(ws_round_trip(&mut proxied_ws).await);
    }
    report("WebSocket eth_blockNumber", &mut direct, &mut proxied);
    drop(proxy);
    guard.stop();
    let _ = std::fs::remove_file(&log);
}

async fn wait_up(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if post(client, url).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("anvil did not answer within 15 s");
}

async fn post(client: &reqwest::Client, url: &str) -> reqwest::Result<usize> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await?;
    // Read in full, so the timing includes the body.
    Ok(response.bytes().await?.len())
}

async fn http_round_trip(client: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    post(client, url).await.expect("an answer");
    started.elapsed()
}

async fn ws_round_trip<S>(socket: &mut S) -> Duration
where
    S: futures_util::Sink<Message>
        + futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
    <S as futures_util::Sink<Message>>::Error: std::fmt::Debug,
{
    let started = Instant::now();
    socket.send(Message::text(BODY)).await.expect("sent");
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(_))) => return started.elapsed(),
            Some(Ok(_)) => continue,
            other => panic!("the socket ended: {other:?}"),
        }
    }
}

fn report(what: &str, direct: &mut [Duration], proxied: &mut [Duration]) {
    direct.sort_unstable();
    proxied.sort_unstable();
    let q = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("{what}, {} rounds each:", direct.len());
    for (name, v) in [("direct", &*direct), ("proxied", &*proxied)] {
        println!(
            "  {name:8} p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
            ms(q(v, 0.5)),
            ms(q(v, 0.99)),
            ms(q(v, 1.0))
        );
    }
    println!(
        "  added    p50 {:.3} ms  p99 {:.3} ms",
        ms(q(proxied, 0.5)) - ms(q(direct, 0.5)),
        ms(q(proxied, 0.99)) - ms(q(direct, 0.99))
    );
}
