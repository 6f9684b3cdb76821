//! `mock-orderbook`: the mock CoW orderbook API, standalone.
//!
//! The flags mirror the scenario's `orderbook:` section so a failing scenario's mock can be
//! reproduced by hand (same seed, same answers). Prints the bound URL on stdout, serves until
//! Ctrl-C or SIGTERM, and exits 2 on bad flags.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mock_orderbook::{
    is_known_fault, Config, Delay, Latency, RateLimit, Spikes, DEFAULT_CHAIN_ID,
    DEFAULT_ORDER_DEADLINE_BLOCKS, KNOWN_ERROR_TYPES, TRANSPORT_FAULTS,
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
    /// Latency added to every /api request: `10ms`, `uniform:min=5ms,max=50ms`,
    /// `normal:mean=20ms,std_dev=5ms` or `lognormal:p50=20ms,p99=200ms`.
    #[arg(long, default_value = "0s", value_parser = parse_delay)]
    latency: Delay,
    /// Latency of POST /api/v1/orders only (same forms as --latency); overrides --latency.
    #[arg(long, value_parser = parse_delay)]
    post_latency: Option<Delay>,
    /// Latency of the GET routes only (same forms as --latency); overrides --latency.
    #[arg(long, value_parser = parse_delay)]
    get_latency: Option<Delay>,
    /// Extra latency for a window every period, e.g. every=60s,duration=5s,extra=1s.
    #[arg(long, value_parser = parse_spikes)]
    latency_spikes: Option<Spikes>,
    /// Inject an errorType or transport fault (Http429, Http500, Http503, ConnectionReset,
    /// SlowResponse) into a fraction of POSTs, e.g. InsufficientFee=0.02 (repeatable).
    #[arg(long = "error", value_name = "TYPE=FRACTION", value_parser = parse_error)]
    errors: Vec<(String, f64)>,
    /// How long a SlowResponse fault holds its answer (a 504).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    slow_response: Duration,
    /// A token bucket per /api route, e.g. per_second=100,burst=20; 429 when empty.
    #[arg(long, value_parser = parse_rate_limit)]
    rate_limit: Option<RateLimit>,
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

/// `key=value,key=value` pairs; every key in `keys` must appear exactly once, no other key.
fn pairs<'a>(s: &'a str, keys: &[&str]) -> Result<BTreeMap<&'a str, &'a str>, String> {
    let mut found = BTreeMap::new();
    for pair in s.split(',') {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got `{pair}`"))?;
        let key = key.trim();
        if !keys.contains(&key) {
            return Err(format!("unknown key `{key}`; expected {}", keys.join(", ")));
        }
        if found.insert(key, value.trim()).is_some() {
            return Err(format!("`{key}` given twice"));
        }
    }
    if found.len() != keys.len() {
        return Err(format!("give all of {}", keys.join(", ")));
    }
    Ok(found)
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("bad duration `{text}`: {e}"))
}

fn parse_delay(s: &str) -> Result<Delay, String> {
    let Some((kind, rest)) = s.split_once(':') else {
        return duration(s).map(Delay::Fixed);
    };
    let delay = match kind {
        "fixed" => Delay::Fixed(duration(rest)?),
        "uniform" => {
            let p = pairs(rest, &["min", "max"])?;
            Delay::Uniform {
                min: duration(p["min"])?,
                max: duration(p["max"])?,
            }
        }
        "normal" => {
            let p = pairs(rest, &["mean", "std_dev"])?;
            Delay::Normal {
                mean: duration(p["mean"])?,
                std_dev: duration(p["std_dev"])?,
            }
        }
        "lognormal" => {
            let p = pairs(rest, &["p50", "p99"])?;
            Delay::LogNormal {
                p50: duration(p["p50"])?,
                p99: duration(p["p99"])?,
            }
        }
        other => {
            return Err(format!(
                "unknown distribution `{other}`; use fixed, uniform, normal or lognormal"
            ))
        }
    };
    Ok(delay)
}

fn parse_spikes(s: &str) -> Result<Spikes, String> {
    let p = pairs(s, &["every", "duration", "extra"])?;
    Ok(Spikes {
        every: duration(p["every"])?,
        duration: duration(p["duration"])?,
        extra: duration(p["extra"])?,
    })
}

fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    let p = pairs(s, &["per_second", "burst"])?;
    let count = |key: &str| {
        p[key]
            .parse::<NonZeroU32>()
            .map_err(|_| format!("{key} must be a whole number above 0, got `{}`", p[key]))
    };
    Ok(RateLimit {
        per_second: count("per_second")?,
        burst: count("burst")?,
    })
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
            latency: Latency {
                post_orders: self.post_latency.unwrap_or(self.latency),
                get: self.get_latency.unwrap_or(self.latency),
                spikes: self.latency_spikes,
            },
            errors,
            slow_response: self.slow_response,
            rate_limit: self.rate_limit,
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

#[cfg(test)]
mod tests {
    use super::*;
    use mock_orderbook::DEFAULT_SLOW_RESPONSE;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delay_flags_table() {
        let cases: &[(&str, Result<Delay, &str>)] = &[
            ("10ms", Ok(Delay::Fixed(ms(10)))),
            ("fixed:1s", Ok(Delay::Fixed(ms(1_000)))),
            (
                "uniform:min=5ms,max=50ms",
                Ok(Delay::Uniform {
                    min: ms(5),
                    max: ms(50),
                }),
            ),
            (
                "normal:std_dev=5ms,mean=20ms",
                Ok(Delay::Normal {
                    mean: ms(20),
                    std_dev: ms(5),
                }),
            ),
            (
                "lognormal:p50=20ms, p99=200ms",
                Ok(Delay::LogNormal {
                    p50: ms(20),
                    p99: ms(200),
                }),
            ),
            ("pareto:a=1", Err("unknown distribution")),
            ("uniform:min=5ms", Err("give all of min, max")),
            ("uniform:min=5ms,max=6ms,min=1ms", Err("given twice")),
            ("normal:mean=1ms,sd=1ms", Err("unknown key `sd`")),
            ("lognormal:p50=fast,p99=1s", Err("bad duration")),
            ("ten", Err("bad duration")),
        ];
        for (text, want) in cases {
            match (parse_delay(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn spikes_rate_limit_and_per_endpoint_flags_reach_the_config() {
        let cli = Cli::try_parse_from([
            "mock-orderbook",
            "--latency",
            "5ms",
            "--post-latency",
            "lognormal:p50=20ms,p99=200ms",
            "--latency-spikes",
            "every=60s,duration=5s,extra=1s",
            "--rate-limit",
            "per_second=100,burst=20",
            "--error",
            "SlowResponse=0.01",
            "--slow-response",
            "45s",
        ])
        .expect("valid flags");
        let config = cli.config();
        assert_eq!(
            config.latency.post_orders,
            Delay::LogNormal {
                p50: ms(20),
                p99: ms(200)
            }
        );
        assert_eq!(config.latency.get, Delay::Fixed(ms(5)));
        assert_eq!(
            config.latency.spikes,
            Some(Spikes {
                every: ms(60_000),
                duration: ms(5_000),
                extra: ms(1_000)
            })
        );
        let limit = config.rate_limit.expect("rate limit");
        assert_eq!((limit.per_second.get(), limit.burst.get()), (100, 20));
        assert_eq!(config.slow_response, ms(45_000));
        assert_eq!(config.validate(), Ok(()));
        assert!(parse_rate_limit("per_second=0,burst=1").is_err());
        assert_eq!(
            Cli::try_parse_from(["m"])
                .expect("defaults")
                .config()
                .slow_response,
            DEFAULT_SLOW_RESPONSE
        );
    }
}
