//! `reference-engine --config engine.toml`: cowload's default system under test.
//!
//! A small native engine with shepherd's observable behaviour (config shape, metric names, the
//! way it reacts to ComposableCoW / EthFlow events and to orderbook answers) and a per-event
//! cost knob, so the harness has a target whose capacity is known in advance. It is not a
//! production watch-tower. Exit codes: 0 after SIGINT/SIGTERM, 2 for a bad config, 1 when the
//! engine cannot run (metrics port taken, chain gone for good).

mod chain;
mod config;
mod engine;
mod ethflow;
mod follow;
mod mutant;
mod orderbook;
mod schedule;
mod state;
mod submit;
mod telemetry;
mod twap;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "cowload's reference engine: shepherd's observable behaviour, with a cost knob"
)]
struct Cli {
    /// Engine config in shepherd's format, plus an optional [reference] table.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match mutant::init() {
        Ok(None) => {}
        Ok(Some(m)) => eprintln!(
            "reference-engine: MUTANT {m:?} active (${}): this engine is broken on purpose",
            mutant::ENV
        ),
        Err(err) => {
            eprintln!("reference-engine: ${}: {err}", mutant::ENV);
            return ExitCode::from(2);
        }
    }
    let settings = match config::load(&cli.config) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("reference-engine: {err}");
            return ExitCode::from(2);
        }
    };
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("reference-engine: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(settings: config::Settings) -> anyhow::Result<()> {
    telemetry::init_logs(&settings.log_level)?;
    if let Some(dir) = &settings.state_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating state_dir {}", dir.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(serve_until_signal(settings));
    // Handlers may still be waiting on the network; do not wait for them on the way out.
    runtime.shutdown_background();
    outcome
}

async fn serve_until_signal(settings: config::Settings) -> anyhow::Result<()> {
    let chain_ids: Vec<u64> = settings.chains.iter().map(|c| c.chain_id).collect();
    let handle = telemetry::install_recorder()?;
    telemetry::register(&chain_ids);
    if let Some(addr) = settings.metrics_addr {
        telemetry::serve(addr, handle).await?;
        tracing::info!(%addr, "metrics served at /metrics");
    }
    let mut chains = tokio::task::JoinSet::new();
    for chain in settings.chains {
        let state_dir = settings.state_dir.clone();
        let knobs = settings.reference.clone();
        chains.spawn(async move { engine::run_chain(chain, knobs, state_dir.as_deref()).await });
    }
    tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(signal = signal?, "shutting down");
            Ok(())
        }
        Some(result) = chains.join_next() => {
            result.context("chain task panicked")??;
            anyhow::bail!("a chain stopped without a signal")
        }
    }
}

/// Completes on SIGINT or SIGTERM with the signal's name.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        _ = int.recv() => Ok("SIGINT"),
    }
}
