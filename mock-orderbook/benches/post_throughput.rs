//! POST throughput and added latency of the mock against a bare server, on loopback.
//!
//! The mock must not be the bottleneck of a load test, so this measures how many
//! `POST /api/v1/orders` per second it serves at configured latency 0, and how much latency it
//! adds, next to a bare axum server that only reads the body and answers 201. Both run in this
//! process on 127.0.0.1, on the same runtime, and are driven by the same reqwest client; the
//! rounds alternate between them so a neighbour's load hits both alike. Every body is a valid,
//! distinct `OrderCreation` JSON (its `validTo` and `sellAmount` carry a global counter), and the
//! mock has a matching event registered for each, so it parses, computes the UID, stores the
//! order and matches it.
//!
//! `cargo bench -p mock-orderbook --bench post_throughput` runs the full measurement
//! (`-- --requests N --concurrency C --rounds R` to change it). Without `--bench` (as under
//! `cargo test --benches`) it does a small smoke run. Every phase stops at its request count or
//! after `--max-seconds`, whichever comes first.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use hdrhistogram::Histogram;
use mock_orderbook::{Config, EventKind, ExpectedOrder, OrderKey};

/// Orders are numbered from here: `validTo` is this plus the number, `sellAmount` the number.
const VALID_TO_BASE: u64 = 1_900_000_000;
/// The owner of every order (`from`).
const OWNER: Address = Address::repeat_byte(0x44);

struct Options {
    requests: u64,
    concurrency: usize,
    rounds: usize,
    latency_requests: u64,
    max_seconds: u64,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let full = args.iter().any(|a| a == "--bench");
        let mut options = if full {
            Options {
                requests: 60_000,
                concurrency: 32,
                rounds: 3,
                latency_requests: 5_000,
                max_seconds: 30,
            }
        } else {
            Options {
                requests: 400,
                concurrency: 4,
                rounds: 1,
                latency_requests: 50,
                max_seconds: 10,
            }
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || -> anyhow::Result<u64> {
                let v = it.next().with_context(|| format!("{flag} needs a value"))?;
                v.parse()
                    .with_context(|| format!("{flag}: `{v}` is not a count"))
            };
            match flag.as_str() {
                "--requests" => options.requests = value()?,
                "--concurrency" => options.concurrency = usize::try_from(value()?)?.max(1),
                "--rounds" => options.rounds = usize::try_from(value()?)?.max(1),
                "--latency-requests" => options.latency_requests = value()?,
                "--max-seconds" => options.max_seconds = value()?.max(1),
                _ => {} // cargo passes --bench and filters; ignore them
            }
        }
        Ok(options)
    }
}

/// The body of order number `n`: a valid OrderCreation, distinct for every `n`.
fn order_body(n: u64) -> String {
    format!(
        concat!(
            r#"{{"sellToken":"0x0101010101010101010101010101010101010101","#,
            r#""buyToken":"0x0202020202020202020202020202020202020202","#,
            r#""receiver":"0x0303030303030303030303030303030303030303","#,
            r#""sellAmount":"{sell}","buyAmount":"1000000","validTo":{valid_to},"#,
            r#""appData":"0x0000000000000000000000000000000000000000000000000000000000000000","#,
            r#""feeAmount":"0","kind":"sell","partiallyFillable":false,"#,
            r#""sellTokenBalance":"erc20","buyTokenBalance":"erc20","#,
            r#""signingScheme":"eip1271","signature":"0x1234","#,
            r#""from":"0x4444444444444444444444444444444444444444"}}"#
        ),
        sell = 1_000_000_000 + n,
        valid_to = VALID_TO_BASE + n,
    )
}

/// The event the mock should match order number `n` to.
fn expected(n: u64, mined_at: Instant) -> ExpectedOrder {
    ExpectedOrder {
        kind: if n.is_multiple_of(2) {
            EventKind::Twap
        } else {
            EventKind::EthFlow
        },
        block: 1,
        mined_at,
        key: OrderKey {
            owner: OWNER,
            sell_token: Address::repeat_byte(1),
            buy_token: Address::repeat_byte(2),
            receiver: Address::repeat_byte(3),
            sell_amount: U256::from(1_000_000_000 + n),
            buy_amount: U256::from(1_000_000u64),
            app_data: B256::ZERO,
        },
        exact: None,
        twap: None,
        tx_hash: B256::ZERO,
        log_index: 0,
    }
}

/// A server that reads the body and answers 201 with a UID-sized JSON string.
async fn start_bare() -> anyhow::Result<SocketAddr> {
    let uid = Bytes::from(format!("\"0x{}\"", "ab".repeat(56)));
    let app = Router::new().route(
        "/api/v1/orders",
        post(move |body: Bytes| {
            let uid = uid.clone();
            async move {
                std::hint::black_box(body.len());
                (
                    StatusCode::CREATED,
                    [("content-type", "application/json")],
                    uid,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("bare server stopped: {e}");
        }
    });
    Ok(addr)
}

/// What one phase against one server measured.
struct Phase {
    ok: u64,
    failed: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    fn micros(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }
}

/// Posts `requests` orders (numbers taken from `next`) with `concurrency` workers, each
/// waiting for its answer before the next post; stops early after `max`.
async fn phase(
    client: &reqwest::Client,
    url: &str,
    next: &Arc<AtomicU64>,
    requests: u64,
    concurrency: usize,
    max: Duration,
) -> anyhow::Result<Phase> {
    let first = next.fetch_add(requests, Ordering::Relaxed);
    let end = first + requests;
    let cursor = Arc::new(AtomicU64::new(first));
    let started = Instant::now();
    let deadline = started + max;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, url, cursor) = (client.clone(), url.to_owned(), cursor.clone());
        workers.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new(3)?;
            let (mut ok, mut failed) = (0u64, 0u64);
            loop {
                let n = cursor.fetch_add(1, Ordering::Relaxed);
                if n >= end || Instant::now() >= deadline {
                    break;
                }
                let body = order_body(n);
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let created = match response {
                    Ok(r) => {
                        let status = r.status();
                        r.bytes().await.is_ok() && status == reqwest::StatusCode::CREATED
                    }
                    Err(_) => false,
                };
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.saturating_record(micros.max(1));
                if created {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            anyhow::Ok((ok, failed, latency))
        }));
    }
    let mut total = Phase {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new(3)?,
    };
    for worker in workers {
        let (ok, failed, latency) = worker.await??;
        total.ok += ok;
        total.failed += failed;
        total.latency.add(&latency)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "cores: {cores}, load average before: {}, requests/round: {}, concurrency: {}, rounds: {}",
        load_average(),
        options.requests,
        options.concurrency,
        options.rounds
    );
    let bind: SocketAddr = "127.0.0.1:0".parse()?;
    let mock = mock_orderbook::start(Config::default(), bind).await?;
    let truth = mock.truth();
    let total_orders = 2 * (options.requests * options.rounds as u64 + options.latency_requests)
        + 2 * options.concurrency as u64;
    let now = Instant::now();
    truth.register((0..total_orders).map(|n| expected(n, now)).collect());
    truth.set_head(1);
    let targets = [
        ("mock", format!("{}/api/v1/orders", mock.url())),
        (
            "bare",
            format!("http://{}/api/v1/orders", start_bare().await?),
        ),
    ];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .no_proxy()
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let max = Duration::from_secs(options.max_seconds);

    // Warm up connections and caches on both.
    for (_, url) in &targets {
        let c = options.concurrency;
        phase(&client, url, &next, 20 * c as u64, c, max).await?;
    }

    let mut throughput: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut loaded_p99: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..options.rounds {
        for (i, (name, url)) in targets.iter().enumerate() {
            let p = phase(
                &client,
                url,
                &next,
                options.requests,
                options.concurrency,
                max,
            )
            .await?;
            if p.failed > 0 {
                bail!(
                    "{name}: {} of {} posts were not answered 201",
                    p.failed,
                    p.ok + p.failed
                );
            }
            println!(
                "round {round} {name}: {} posts in {:.2?}: {:.0}/s, p50 {} µs, p99 {} µs",
                p.ok,
                p.elapsed,
                p.per_second(),
                p.micros(0.5),
                p.micros(0.99)
            );
            throughput[i].push(p.per_second());
            loaded_p99[i].push(p.micros(0.99) as f64);
        }
    }

    // One post at a time: the latency the server adds, without queueing.
    let mut single = Vec::new();
    for (name, url) in &targets {
        let p = phase(&client, url, &next, options.latency_requests, 1, max).await?;
        if p.failed > 0 {
            bail!(
                "{name}: {} sequential posts were not answered 201",
                p.failed
            );
        }
        single.push((p.micros(0.5), p.micros(0.99)));
    }

    let (mock_rate, bare_rate) = (median(throughput[0].clone()), median(throughput[1].clone()));
    let stats = truth.stats();
    println!("load average after: {}", load_average());
    println!(
        "mock stored {} orders, matched {} events",
        stats
            .orders_received
            .values()
            .flat_map(|m| m.get("accepted"))
            .sum::<u64>(),
        stats.events.values().map(|e| e.matched).sum::<u64>()
    );
    println!();
    println!("| server | POST/s (median of {} rounds, {} connections) | p99 under that load | p50 / p99, one post at a time |", options.rounds, options.concurrency);
    println!("|---|---|---|---|");
    for (i, (name, _)) in targets.iter().enumerate() {
        println!(
            "| {name} | {:.0} | {:.0} µs | {} / {} µs |",
            median(throughput[i].clone()),
            median(loaded_p99[i].clone()),
            single[i].0,
            single[i].1
        );
    }
    println!();
    println!(
        "mock / bare throughput: {:.0} %",
        100.0 * mock_rate / bare_rate
    );
    println!(
        "added p99, one post at a time: {} µs; under load: {:.0} µs",
        single[0].1 as i64 - single[1].1 as i64,
        median(loaded_p99[0].clone()) - median(loaded_p99[1].clone())
    );
    mock.shutdown().await;
    Ok(())
}
