//! `mock-orderbook`: the mock CoW orderbook API, standalone.
//!
//! `--config FILE` reads the same settings a scenario's `orderbook:` section holds (one syntax,
//! one set of checks, one set of defaults), so a failing scenario's mock can be reproduced by
//! hand: copy the section, pass the scenario's seed, get the same answers. A few flags
//! (`--latency`, `--error`, `--order-deadline-blocks`) cover quick use in the same syntax. Prints the bound URL on stdout, serves until
//! Ctrl-C or SIGTERM, and exits 2 on bad flags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use mock_orderbook::{
    is_known_fault, Config, LatencySpec, OrderbookSpec, DEFAULT_CHAIN_ID, KNOWN_ERROR_TYPES,
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
    /// The orderbook settings as a YAML or JSON file, written exactly like a scenario's
    /// `orderbook:` section (latency, errors, slow_response, rate_limit, order_deadline_blocks).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["latency", "errors", "order_deadline_blocks"])]
    config: Option<PathBuf>,
    /// Quick form of `latency:` as a scenario writes it: `10ms`, or a YAML map such as
    /// `{distribution: lognormal, p50: 20ms, p99: 200ms}`.
    #[arg(long, value_parser = parse_latency)]
    latency: Option<LatencySpec>,
    /// Inject an errorType or transport fault (Http429, Http500, Http503, ConnectionReset,
    /// SlowResponse) into a fraction of POSTs, e.g. InsufficientFee=0.02 (repeatable).
    #[arg(long = "error", value_name = "TYPE=FRACTION", value_parser = parse_error)]
    errors: Vec<(String, f64)>,
    /// Blocks an event may wait for an accepted order before it counts as lost (default 3).
    #[arg(long)]
    order_deadline_blocks: Option<u32>,
}

/// mimalloc instead of the system allocator: the POST path allocates and frees a few small
/// buffers per request and keeps one order per request, where glibc's malloc (its heap
/// growth and page faults) costs far more CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// `--latency`: the scenario's own syntax, read as YAML (a bare `10ms` is a YAML string).
fn parse_latency(s: &str) -> Result<LatencySpec, String> {
    serde_yaml_ng::from_str(s).map_err(|e| e.to_string())
}

/// The settings in `path`: YAML (JSON is YAML too), refusing unknown keys.
fn read_settings(path: &Path) -> Result<OrderbookSpec, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Cli {
    /// The config the flags (or the `--config` file) describe.
    fn config(&self) -> Result<Config, String> {
        let orderbook = match &self.config {
            Some(path) => read_settings(path)?,
            None => {
                let mut spec = OrderbookSpec::default();
                if let Some(latency) = self.latency {
                    spec.latency = latency;
                }
                for (name, fraction) in &self.errors {
                    *spec.errors.entry(name.clone()).or_insert(0.0) += fraction;
                }
                if let Some(deadline) = self.order_deadline_blocks {
                    spec.order_deadline_blocks = deadline;
                }
                spec
            }
        };
        let config = Config::new(self.chain_id, self.seed, orderbook);
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
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
    let config = match cli.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mock-orderbook: {e}");
            return ExitCode::from(2);
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use mock_orderbook::{DelaySpec, Dur, DEFAULT_ORDER_DEADLINE_BLOCKS};
    use std::time::Duration;

    fn ms(n: u64) -> Dur {
        Dur(Duration::from_millis(n))
    }

    fn config(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["mock-orderbook"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .config()
    }

    #[test]
    fn quick_flags_use_the_scenario_syntax() {
        let c = config(&[
            "--latency",
            "{distribution: lognormal, p50: 20ms, p99: 200ms}",
            "--error",
            "SlowResponse=0.01",
            "--error",
            "SlowResponse=0.01",
            "--order-deadline-blocks",
            "5",
        ])
        .expect("valid flags");
        assert_eq!(
            c.orderbook.latency,
            LatencySpec::All(DelaySpec::LogNormal {
                p50: ms(20),
                p99: ms(200)
            })
        );
        assert_eq!(c.orderbook.errors["SlowResponse"], 0.02);
        assert_eq!(c.orderbook.order_deadline_blocks, 5);
        let plain = config(&["--latency", "10ms"]).expect("a duration");
        assert_eq!(
            plain.orderbook.latency,
            LatencySpec::All(DelaySpec::Fixed(ms(10)))
        );
        let defaults = config(&[]).expect("defaults");
        assert_eq!(defaults.orderbook, OrderbookSpec::default());
        assert_eq!(
            defaults.orderbook.order_deadline_blocks,
            DEFAULT_ORDER_DEADLINE_BLOCKS
        );
    }

    #[test]
    fn a_config_file_is_a_scenarios_orderbook_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orderbook.yaml");
        std::fs::write(
            &path,
            "latency: {post_orders: 5ms, spikes: {every: 60s, duration: 5s, extra: 1s}}\n\
             errors: {InsufficientFee: 0.02}\n\
             slow_response: 45s\n\
             rate_limit: {per_second: 100, burst: 20}\n\
             order_deadline_blocks: 10\n",
        )
        .unwrap();
        let c = config(&["--config", path.to_str().unwrap(), "--seed", "7"]).expect("valid file");
        assert_eq!(c.seed, 7);
        assert_eq!(c.orderbook.slow_response, Dur(Duration::from_secs(45)));
        assert_eq!(c.orderbook.order_deadline_blocks, 10);
        let limit = c.orderbook.rate_limit.and_then(|l| l.runtime()).unwrap();
        assert_eq!((limit.per_second.get(), limit.burst.get()), (100, 20));
    }

    #[test]
    fn bad_settings_say_where_and_what() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, "errors: {InsufficientFee: 0.7, WrongOwner: 0.7}\n").unwrap();
        let err = config(&["--config", path.to_str().unwrap()]).unwrap_err();
        assert!(
            err.contains("orderbook.errors: the fractions add up to 1.4"),
            "{err}"
        );
        std::fs::write(&path, "latency: 10ms\nretries: 3\n").unwrap();
        let err = config(&["--config", path.to_str().unwrap()]).unwrap_err();
        assert!(
            err.contains("unknown field `retries`") && err.contains("line 2"),
            "{err}"
        );
        let both = config(&["--config", path.to_str().unwrap(), "--latency", "1ms"]).unwrap_err();
        assert!(both.contains("cannot be used with"), "{both}");
        assert!(config(&["--error", "Typo=0.1"])
            .unwrap_err()
            .contains("unknown errorType"));
        assert!(config(&["--latency", "{distribution: pareto}"])
            .unwrap_err()
            .contains("pareto"));
    }
}
