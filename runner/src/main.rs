//! `runner`: parses the command line, calls the library, prints any error once
//! with its causes and maps the result to an exit code. Nothing else exits.

use std::process::ExitCode;

use runner::cli::{self, Command};
use runner::error::RunError;
use runner::{pipeline, report, scenario, shutdown};

fn main() -> ExitCode {
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
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Schema => {
            print!("{}", scenario::json_schema());
            ExitCode::SUCCESS
        }
        Command::Run {
            scenario,
            out,
            anvil,
        } => run(&scenario, pipeline::Options { anvil, out }),
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
    ExitCode::from(if ok { 0 } else { 2 })
}

fn run(path: &std::path::Path, options: pipeline::Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
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
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(e.exit_code())
        }
    }
}
