//! Command-line surface. `runner FILE` is short for `runner run FILE`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    about = "Load-test CoW Protocol watch-tower engines from scenario files"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario end to end and judge it (exit 0 pass, 1 a bar failed, 2 bad input, 3 infrastructure, 130 interrupted).
    Run {
        /// The scenario file (YAML or TOML).
        scenario: PathBuf,
        #[command(flatten)]
        options: crate::pipeline::Options,
        /// Run the scenario N times, each on a fresh chain, into DIR/1..N, plus
        /// DIR/outcome.json holding every repeat (what `runner diff` needs to judge latencies).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
        repeat: Option<u32>,
    },
    /// Find the largest events per block at which every bar holds: probe after probe, each a full fresh run (exit 0 found, 1 even --min fails, 2 bad input, 3 infrastructure, 130 interrupted).
    Search {
        /// The scenario file; its `load.per_block` gives the TWAP:EthFlow mix each probe keeps.
        scenario: PathBuf,
        #[command(flatten)]
        request: crate::commands::search::Request,
    },
    /// Run many scenarios one after another and judge them as one (exit 0 all passed, 1 one failed, 2 bad input, 3 infrastructure, 130 interrupted).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Suite {
        #[command(subcommand)]
        merge: Option<SuiteCommand>,
        #[command(flatten)]
        request: crate::commands::suite::Request,
    },
    /// Check scenario files without running them (exit 0 all valid, 2 otherwise).
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the scenario JSON Schema (as committed in schemas/scenario.schema.json).
    Schema {
        /// Print the outcome.json schema instead (schemas/outcome.schema.json).
        #[arg(long, group = "which")]
        outcome: bool,
        /// Print the search.json schema instead (schemas/search.schema.json).
        #[arg(long, group = "which")]
        search: bool,
        /// Print the schema of one orders.jsonl line instead (schemas/orders.schema.json).
        #[arg(long, group = "which")]
        orders: bool,
        /// Print the suite.json schema instead (schemas/suite.schema.json).
        #[arg(long, group = "which")]
        suite: bool,
    },
    /// Compare two outcomes (files, run directories or repeat directories) or two search.json (exit 0, 1 a regression with --fail-on-regression, 2 unreadable input, 4 different scenarios).
    Diff {
        #[command(flatten)]
        request: crate::commands::diff::Request,
    },
    /// Chain fixtures recorded from a fork, for offline runs (`chain.fixture: FILE`).
    Fixture {
        #[command(subcommand)]
        action: FixtureCommand,
    },
}

/// `runner suite merge …`.
#[derive(Debug, Subcommand)]
pub enum SuiteCommand {
    /// Combine the directories of a suite's shards (`runner suite --shard I/N`) into one suite result (exit as the suite's verdict, 2 for shards of different suites or a missing shard).
    Merge(crate::commands::suite::MergeRequest),
}

/// `runner fixture …`.
#[derive(Debug, Subcommand)]
pub enum FixtureCommand {
    /// Fork an RPC URL, exercise the CoW contracts, and write their code and the storage a run reads (exit 0 written, 2 bad URL, 3 fork or contracts failed).
    Record(crate::commands::fixture::RecordRequest),
}

const SUBCOMMANDS: &[&str] = &[
    "run", "search", "suite", "validate", "schema", "diff", "fixture", "help",
];

/// Parses the arguments, reading a leading file argument as `run FILE`.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if let Some(first) = args.get(1).and_then(|a| a.to_str()) {
        if !first.starts_with('-') && !SUBCOMMANDS.contains(&first) {
            args.insert(1, "run".into());
        }
    }
    Cli::try_parse_from(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Cli {
        parse(words.iter().map(OsString::from)).unwrap()
    }

    #[test]
    fn a_bare_file_means_run() {
        match parse_words(&["runner", "scenarios/baseline.yaml"]).command {
            Command::Run {
                scenario, options, ..
            } => {
                assert_eq!(scenario, PathBuf::from("scenarios/baseline.yaml"));
                assert!(options.out.is_none());
            }
            other => panic!("{other:?}"),
        }
        match parse_words(&["runner", "s.yaml", "--repeat", "3"]).command {
            Command::Run { repeat, .. } => assert_eq!(repeat, Some(3)),
            other => panic!("{other:?}"),
        }
        for bad in [
            &["runner", "s.yaml", "--repeat", "0"][..],
            &["runner", "s.yaml", "--repeat", "2", "--junit", "j.xml"],
        ] {
            assert!(parse(bad.iter().map(OsString::from)).is_err(), "{bad:?}");
        }
        assert!(
            matches!(parse_words(&["runner", "validate", "a.yaml", "b.toml"]).command, Command::Validate { files } if files.len() == 2)
        );
        assert!(matches!(
            parse_words(&["runner", "schema"]).command,
            Command::Schema {
                outcome: false,
                search: false,
                orders: false,
                suite: false
            }
        ));
        assert!(matches!(
            parse_words(&["runner", "suite", "scenarios/", "--fail-fast"]).command,
            Command::Suite { request, merge: None } if request.fail_fast && request.paths.len() == 1
        ));
        assert!(matches!(
            parse_words(&["runner", "schema", "--orders"]).command,
            Command::Schema { orders: true, .. }
        ));
        match parse_words(&["runner", "search", "s.yaml", "--max", "40"]).command {
            Command::Search { request: r, .. } => {
                assert_eq!((r.min, r.max, r.max_probes), (1, Some(40), 8));
                assert_eq!(r.precision, crate::commands::search::Precision(10.0));
                assert_eq!(r.budget.0, std::time::Duration::from_secs(1200));
            }
            other => panic!("{other:?}"),
        }
        let bad = parse(["runner", "search", "s.yaml", "--precision", "0%"].map(OsString::from));
        assert_eq!(
            bad.unwrap_err().kind(),
            clap::error::ErrorKind::ValueValidation
        );
    }
}
