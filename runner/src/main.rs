//! `runner`: parses the command line, calls the library, prints any error once
//! with its causes and maps the result to an exit code. Nothing else exits.

use std::process::ExitCode;

use runner::cli::{self, Command};
use runner::commands::{diff, fixture, repeat, search, suite};
use runner::error::{Exit, RunError};
use runner::{pipeline, report, scenario, shutdown};

fn main() -> ExitCode {
    let process_start = std::time::Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("COWLOAD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = match cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Pass
            }
            .into();
        }
    };
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Schema {
            outcome,
            search,
            orders,
            suite: suite_schema,
        } => {
            if suite_schema {
                print!("{}", suite::json_schema());
            } else if search {
                print!("{}", search::json_schema());
            } else if orders {
                print!("{}", cowload_spec::order_line_schema());
            } else if outcome {
                print!("{}", report::json_schema());
            } else {
                print!("{}", scenario::json_schema());
            }
            Exit::Pass.into()
        }
        Command::Diff { request } => diff(&request),
        Command::Fixture {
            action: cli::FixtureCommand::Record(request),
        } => record_fixture(request),
        Command::Search { scenario, request } => search(&scenario, &request),
        Command::Suite {
            merge: Some(cli::SuiteCommand::Merge(request)),
            ..
        } => merge_suite(&request),
        Command::Suite { request, .. } => run_suite(&request),
        Command::Run {
            scenario,
            options,
            repeat,
        } => {
            let options = pipeline::Options {
                process_start: Some(process_start),
                ..options
            };
            run(&scenario, options, repeat)
        }
    }
}

fn record_fixture(request: fixture::RecordRequest) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let recorded = runtime.block_on(async {
        let cancel = shutdown::listen();
        shutdown::or_cancelled(&cancel, fixture::record(&request)).await
    });
    let Some(recorded) = recorded else {
        eprintln!("interrupted: no fixture written");
        return Exit::Interrupted.into();
    };
    match recorded {
        Ok(recorded) => {
            eprintln!(
                "fixture: {} (chain {}, block {})",
                recorded.path.display(),
                recorded.chain_id,
                recorded.block
            );
            for (name, address, slots) in &recorded.contracts {
                eprintln!("  {name} at {address}: code and {slots} storage slots");
            }
            Exit::Pass.into()
        }
        Err(e) => {
            print_error(&e);
            e.exit().into()
        }
    }
}

fn diff(request: &diff::Request) -> ExitCode {
    match diff::run(request) {
        Ok(answer) => {
            use std::io::Write;
            // A closed stdout (`| head`) is not an error worth reporting.
            let _ = std::io::stdout().write_all(answer.text.as_bytes());
            ExitCode::from(answer.exit_code)
        }
        Err(e) => {
            print_error(&e);
            e.exit().into()
        }
    }
}

fn validate(files: &[std::path::PathBuf]) -> ExitCode {
    let mut ok = true;
    for file in files {
        match scenario::load(file) {
            Ok(_) => eprintln!("{}: ok", file.display()),
            Err(e) => {
                ok = false;
                eprintln!("{e}");
            }
        }
    }
    if ok { Exit::Pass } else { Exit::Usage }.into()
}

fn run(path: &std::path::Path, options: pipeline::Options, repeat: Option<u32>) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    if let Some(n) = repeat {
        return run_repeated(&runtime, path, &options, n);
    }
    let result = runtime.block_on(async {
        let plan = scenario::load(path).map_err(RunError::from)?;
        let cancel = shutdown::listen();
        pipeline::run(&plan, &options, &cancel).await
    });
    match result {
        Ok(finished) => {
            report::print_summary(&finished.outcome);
            eprintln!("report: {}", finished.run_dir.join("report.md").display());
            ExitCode::from(finished.outcome.exit_code)
        }
        Err(e) => {
            print_error(&e);
            e.exit().into()
        }
    }
}

/// `runner SCENARIO --repeat N`: every repeat's summary as it finishes, then the combined file.
fn run_repeated(
    runtime: &tokio::runtime::Runtime,
    path: &std::path::Path,
    options: &pipeline::Options,
    n: u32,
) -> ExitCode {
    let result = runtime.block_on(async {
        let plan = scenario::load(path).map_err(RunError::from)?;
        let cancel = shutdown::listen();
        repeat::run(&plan, options, n, &cancel).await
    });
    match result {
        Ok(done) => {
            eprintln!(
                "repeats: {} of {n} ran, worst verdict {:?}; combined: {}",
                done.outcome.repeats.len(),
                done.outcome.status,
                done.dir.join("outcome.json").display()
            );
            ExitCode::from(done.outcome.exit_code)
        }
        Err(e) => {
            print_error(&e);
            e.exit().into()
        }
    }
}

fn search(path: &std::path::Path, request: &search::Request) -> ExitCode {
    let plan = match scenario::load(path) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Usage.into();
        }
    };
    // Bad arguments are refused before the runtime, the signal listener or any directory.
    if let Err(e) = search::settings(&plan, request) {
        print_error(&e);
        return e.exit().into();
    }
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let cancel = shutdown::listen();
        search::run(&plan, request, &cancel).await
    });
    match result {
        Ok(found) => {
            eprintln!("search: {}", search::summary_line(&found));
            eprintln!("search: {}", found.out_dir.join("search.md").display());
            ExitCode::from(found.exit_code)
        }
        Err(e) => {
            print_error(&e);
            e.exit().into()
        }
    }
}

/// `runner suite`: every file checked first (all problems at once, exit 2), then each run.
fn run_suite(request: &suite::Request) -> ExitCode {
    let files = match suite::files(&request.paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage.into();
        }
    };
    let plans = match suite::plans(&files) {
        Ok(plans) => plans,
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            eprintln!(
                "suite: {} of {} scenario files have problems; nothing was run",
                errors.len(),
                files.len()
            );
            return Exit::Usage.into();
        }
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let cancel = shutdown::listen();
        suite::run(&plans, request, &cancel).await
    });
    match result {
        Ok((done, dir)) => {
            let passed = done
                .scenarios
                .iter()
                .filter(|r| r.status == report::Status::Pass)
                .count();
            eprintln!(
                "suite: {passed} of {} passed ({} not run); verdict {:?}, exit {}; {}",
                done.scenarios.len(),
                done.not_run.len(),
                done.status,
                done.exit_code,
                dir.join("suite.md").display()
            );
            ExitCode::from(done.exit_code)
        }
        Err(e) => {
            print_error(&e);
            e.exit().into()
        }
    }
}

/// `runner suite merge`: the shards' verdict, as one suite.
fn merge_suite(request: &suite::MergeRequest) -> ExitCode {
    match suite::merge(request) {
        Ok((merged, dir)) => {
            eprintln!(
                "suite merge: {} scenarios from {} shards; verdict {:?}, exit {}; {}",
                merged.scenarios.len(),
                request.dirs.len(),
                merged.status,
                merged.exit_code,
                dir.join("suite.md").display()
            );
            ExitCode::from(merged.exit_code)
        }
        Err(e) => {
            print_error(&e);
            e.exit().into()
        }
    }
}

/// The multi-threaded runtime every async command runs on; exit 3 when it cannot start.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            Exit::Infrastructure.into()
        })
}

/// Prints an error once, with the causes that add to it.
fn print_error(error: &dyn std::error::Error) {
    eprintln!("{}", runner::error::report(error));
}
