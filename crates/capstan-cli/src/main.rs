//! The `capstan` binary: Capstan's command-line client (see the `capstan_cli` library for the
//! commands).
//!
//! Thin: parses the arguments, runs the command with stdout as its output, and on error prints
//! the error and its causes on stderr and exits with status 1 (clap's usage errors exit 2),
//! or with the status a `capstan_cli::Exit` error asks for (`app diff`: 1 when there is a
//! diff, 2 on error).
//!
//! **Architecture Invariant:** talks to Capstan only over gRPC; offline commands read local
//! files only. Never links the controller, api-server, repo-server or auth-gateway crates.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Whether writing the output failed because its reader closed it.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = capstan_cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = cli.run(&mut stdout).and_then(|()| Ok(stdout.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`capstan app list | head`): nothing more to say.
        Err(err) if is_broken_pipe(&err) => ExitCode::from(141),
        Err(err) => {
            // Whatever was printed before the error goes out first.
            let _ = stdout.flush();
            match err.downcast::<capstan_cli::Exit>() {
                Ok(exit) => {
                    if let Some(err) = exit.error {
                        eprintln!("error: {err:#}");
                    }
                    ExitCode::from(exit.code)
                }
                Err(err) => {
                    // `{:#}` prints the whole cause chain on one line: "reading x.yaml: No
                    // such file ...".
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
