//! `mock-orderbook`: the mock CoW orderbook API, standalone.
//!
//! The flags mirror the scenario's `orderbook:` section so a failing scenario's mock can be
//! reproduced by hand (same seed, same answers). Prints the bound URL on stdout, serves until
//! Ctrl-C or SIGTERM, and exits 2 on bad flags.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mock_orderbook::{
    is_known_fault, Config, DEFAULT_CHAIN_ID, DEFAULT_ORDER_DEADLINE_BLOCKS, KNOWN_ERROR_TYPES,
    TRANSPORT_FAULTS,
};

/// A mock CoW Protocol orderbook API with seeded faults and engine-agnostic truth.
#[derive(Debug, Parser)]
#[command(name = "mock-orderbook", version)]
struct Cli {
    /// Port to listen on; 0 picks a free one (the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Chain id of the settlement domain UIDs are computed under.
    #[arg(long, default_value_t = DEFAULT_CHAIN_ID)]
    chain_id: u64,
    /// Fixed latency added to every /api request (e.g. 10ms).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// Inject an errorType or transport fault (Http429, Http500, Http503, ConnectionReset) into a
    /// fraction of POSTs, e.g. InsufficientFee=0.02 (repeatable).
    #[arg(long = "error", value_name = "TYPE=FRACTION", value_parser = parse_error)]
    errors: Vec<(String, f64)>,
    /// Blocks an event may wait for an accepted order before it counts as lost.
    #[arg(long, default_value_t = DEFAULT_ORDER_DEADLINE_BLOCKS)]
    order_deadline_blocks: u64,
}

fn parse_error(s: &str) -> Result<(String, f64), String> {
    let (name, fraction) = s
        .split_once('=')
        .ok_or_else(|| format!("expected TYPE=FRACTION, got `{s}`"))?;
    if !is_known_fault(name) {
        return Err(format!(
            "unknown errorType `{name}`; known: {}, {}",
            KNOWN_ERROR_TYPES.join(", "),
            TRANSPORT_FAULTS.join(", ")
        ));
    }
    let fraction: f64 = fraction
        .parse()
        .map_err(|_| format!("fraction `{fraction}` is not a number between 0 and 1"))?;
    Ok((name.to_owned(), fraction))
}

impl Cli {
    fn config(&self) -> Config {
        let mut errors = BTreeMap::new();
        for (name, fraction) in &self.errors {
            *errors.entry(name.clone()).or_insert(0.0) += fraction;
        }
        Config {
            chain_id: self.chain_id,
            seed: self.seed,
            latency: self.latency,
            errors,
            order_deadline_blocks: self.order_deadline_blocks,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = cli.config();
    if let Err(e) = config.validate() {
        eprintln!("mock-orderbook: {e}");
        return ExitCode::from(2);
    }
    match run(config, SocketAddr::new(cli.bind, cli.port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-orderbook: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn run(config: Config, bind: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let server = mock_orderbook::start(config, bind).await?;
        println!("{}", server.url());
        stop_requested().await?;
        server.shutdown().await;
        Ok(())
    })
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_requested() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
