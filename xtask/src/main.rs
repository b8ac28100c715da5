//! Project maintenance commands, run as `cargo xtask <command>`.
//!
//! * `crds [--check]`: write the CustomResourceDefinitions generated from `crates/capstan-types`
//!   to `charts/capstan/crds/`; with `--check`, write nothing and fail, naming the file, when a
//!   checked-in file differs from the generated one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask crds [--check]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<ExitCode> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["crds"] => crds(false),
        ["crds", "--check"] => crds(true),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => bail!("unknown arguments {args:?}\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn crds(check: bool) -> Result<ExitCode> {
    let dir = workspace_root().join("charts/capstan/crds");
    let mut stale = Vec::new();
    for (name, content) in capstan_types::crds::all() {
        let path = dir.join(name);
        let current = match std::fs::read_to_string(&path) {
            Ok(current) => Some(current),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        };
        if current.as_deref() == Some(content.as_str()) {
            continue;
        }
        if check {
            let detail = match &current {
                None => "missing".to_owned(),
                Some(current) => first_difference(current, &content),
            };
            eprintln!("{} is out of date: {detail}", path.display());
            stale.push(path);
        } else {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(&path, &content)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        eprintln!("run `cargo xtask crds` to regenerate");
        return Ok(ExitCode::FAILURE);
    }
    if check {
        println!("CRDs in {} are up to date", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The first line where `current` and `wanted` differ, for the error message.
fn first_difference(current: &str, wanted: &str) -> String {
    let mut current_lines = current.lines();
    let mut wanted_lines = wanted.lines();
    let mut number = 1;
    loop {
        match (current_lines.next(), wanted_lines.next()) {
            (Some(a), Some(b)) if a == b => number += 1,
            (a, b) => {
                return format!(
                    "first difference at line {number}: checked in {:?}, generated {:?}",
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>")
                );
            }
        }
    }
}
