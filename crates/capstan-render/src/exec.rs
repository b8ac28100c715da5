//! Running `kustomize`/`kubectl kustomize` and `helm`: a clean environment, no stdin, a
//! concurrency limit, a timeout that kills the whole process group, a cap on what is read.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::RenderError;

/// Bytes of standard error kept while a tool runs (the rest is drained and dropped).
const STDERR_KEEP: usize = 64 * 1024;
/// Characters of standard error put into [`RenderError::ToolFailed`].
const STDERR_SHOWN: usize = 4 * 1024;

/// One invocation of an external tool.
#[derive(Debug)]
pub(crate) struct ToolRun<'a> {
    /// What to call it in errors (`kustomize build`, `helm template`).
    pub name: String,
    pub program: &'a Path,
    pub args: Vec<OsString>,
    pub cwd: &'a Path,
    /// `HOME` (a scratch directory: tools must not read or write the real one).
    pub home: &'a Path,
    /// Extra environment variables (beyond `PATH` and `HOME`).
    pub env: Vec<(String, OsString)>,
    /// Path prefixes replaced in standard error (checkout and scratch paths → repo-relative).
    pub redact: Vec<(PathBuf, String)>,
    /// Most bytes of standard output accepted.
    pub max_output: u64,
}

/// Runs tools under a shared concurrency limit and counts them.
#[derive(Debug)]
pub(crate) struct Executor {
    semaphore: Semaphore,
    count: AtomicU64,
    timeout: Duration,
    path: OsString,
}

enum Output {
    Complete(Vec<u8>),
    TooLarge,
}

impl Executor {
    pub(crate) fn new(max_concurrent: usize, timeout: Duration, path: OsString) -> Self {
        Executor {
            semaphore: Semaphore::new(max_concurrent.max(1)),
            count: AtomicU64::new(0),
            timeout,
            path,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn set_path(&mut self, path: OsString) {
        self.path = path;
    }

    /// Runs the tool to completion and returns its standard output (UTF-8).
    pub(crate) async fn run(&self, run: ToolRun<'_>) -> Result<String, RenderError> {
        let _permit = self
            .semaphore
            .acquire()
            .await
            .expect("the executor's semaphore is never closed");
        let mut command = Command::new(run.program);
        command
            .args(&run.args)
            .current_dir(run.cwd)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", run.home)
            .envs(run.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        self.count.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(tool = %run.name, program = %run.program.display(), args = ?run.args, "running");
        let mut child = command.spawn().map_err(|source| RenderError::ToolSpawn {
            tool: run.name.clone(),
            source,
        })?;
        // Kills the tool's process group (its helpers too: git for remote bases, plugins) when
        // the run ends in any way, including this future being dropped.
        let group = ProcessGroup(
            child
                .id()
                .and_then(|id| rustix::process::Pid::from_raw(id as i32)),
        );
        let kill_group = || group.kill();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let max_output = run.max_output;
        let work = async {
            let out = async {
                let out = read_limited(stdout, max_output).await;
                if matches!(out, Ok(Output::TooLarge)) {
                    kill_group();
                }
                out
            };
            let (out, err) = tokio::join!(out, read_capped(stderr, STDERR_KEEP));
            let status = child.wait().await;
            (out, err, status)
        };
        let outcome = tokio::time::timeout(self.timeout, work).await;
        kill_group();
        let (out, err, status) = match outcome {
            Ok(done) => done,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(RenderError::ToolTimeout {
                    tool: run.name,
                    timeout: self.timeout,
                });
            }
        };
        let io_err = |e: std::io::Error| RenderError::io(run.name.clone(), e);
        let out = out.map_err(io_err)?;
        let err = err.map_err(io_err)?;
        let status = status.map_err(io_err)?;
        let stdout = match out {
            Output::TooLarge => {
                return Err(RenderError::LimitExceeded {
                    what: format!("output of {} (bytes)", run.name),
                    limit: max_output,
                });
            }
            Output::Complete(bytes) => bytes,
        };
        if !status.success() {
            return Err(RenderError::ToolFailed {
                stderr: clean_stderr(&err, &run.redact, status),
                tool: run.name,
            });
        }
        String::from_utf8(stdout).map_err(|_| RenderError::InvalidToolOutput {
            tool: run.name,
            message: "standard output is not UTF-8".to_string(),
        })
    }
}

/// The process group of a running tool (its leader's pid).
struct ProcessGroup(Option<rustix::process::Pid>);

impl ProcessGroup {
    fn kill(&self) {
        if let Some(pid) = self.0 {
            // ESRCH (nothing left in the group) is the usual outcome after a normal exit.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn read_limited(pipe: Option<impl AsyncRead + Unpin>, max: u64) -> std::io::Result<Output> {
    let Some(pipe) = pipe else {
        return Ok(Output::Complete(Vec::new()));
    };
    let mut buf = Vec::new();
    pipe.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .await?;
    Ok(if buf.len() as u64 > max {
        Output::TooLarge
    } else {
        Output::Complete(buf)
    })
}

async fn read_capped(
    pipe: Option<impl AsyncRead + Unpin>,
    keep: usize,
) -> std::io::Result<Vec<u8>> {
    let Some(mut pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = pipe.read(&mut chunk).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = keep.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

/// Trimmed, checkout paths made relative, at most [`STDERR_SHOWN`] characters.
fn clean_stderr(
    raw: &[u8],
    redact: &[(PathBuf, String)],
    status: std::process::ExitStatus,
) -> String {
    let mut text = String::from_utf8_lossy(raw).into_owned();
    for (prefix, replacement) in redact {
        let prefix = prefix.to_string_lossy();
        if prefix.is_empty() {
            continue;
        }
        text = text.replace(&format!("{prefix}/"), &format!("{replacement}/"));
        text = text.replace(prefix.as_ref(), replacement);
    }
    let text = text.trim();
    if text.is_empty() {
        return format!("{status} (no error output)");
    }
    if text.chars().count() <= STDERR_SHOWN {
        return text.to_string();
    }
    let shown: String = text.chars().take(STDERR_SHOWN).collect();
    format!("{shown}… (truncated)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn stderr_is_cleaned() {
        let status = std::process::ExitStatus::from_raw(256);
        let redact = vec![
            (PathBuf::from("/tmp/x/tree"), ".".to_string()),
            (PathBuf::from("/repo"), ".".to_string()),
        ];
        assert_eq!(
            clean_stderr(
                b"  Error: /tmp/x/tree/apps/a: bad\n/repo gone\n",
                &redact,
                status
            ),
            "Error: ./apps/a: bad\n. gone"
        );
        assert!(clean_stderr(b"  \n", &redact, status).contains("no error output"));
        let long = "e".repeat(STDERR_SHOWN + 10);
        let shown = clean_stderr(long.as_bytes(), &[], status);
        assert!(shown.ends_with("(truncated)") && shown.len() < long.len() + 20);
    }
}
