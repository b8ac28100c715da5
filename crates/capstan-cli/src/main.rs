//! The `capstan` binary: Capstan's command-line client (see the `capstan_cli` library for the
//! commands).
//!
//! Thin: parses the arguments, runs the command with stdout as its output, and on error prints
//! the error and its causes on stderr and exits with status 1 (clap's usage errors exit 2).
//!
//! **Architecture Invariant:** talks to Capstan only over gRPC/REST; offline commands read local
//! files only. Never links the controller, api-server, repo-server or auth-gateway crates.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = capstan_cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = cli.run(&mut stdout).and_then(|()| Ok(stdout.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole cause chain on one line: "reading x.yaml: No such file ...".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
