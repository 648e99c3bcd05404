//! The `linkgate` operator CLI run as a child process from a test: exit
//! code, stdout and stderr captured, `--output json` parsed.

use std::process::{Command, Output};

use anyhow::Context;
use serde_json::Value;

use crate::paths::gateway_bin;

/// Result of one `linkgate ...` CLI run.
#[derive(Debug, Clone)]
pub struct CliRun {
    /// The command line (for messages).
    pub args: Vec<String>,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl std::fmt::Display for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "linkgate {:?}: exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

impl CliRun {
    /// Whether the exit code is 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Stdout parsed as JSON (for `--output json`).
    ///
    /// # Errors
    /// Stdout is not JSON (the error shows the whole run).
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.stdout).with_context(|| format!("stdout is not JSON: {self}"))
    }
}

/// Runs `linkgate <args> --api <api>` (plus `--token <token>` when given),
/// with `LINKGATE_API` and `LINKGATE_API_TOKEN` removed from the
/// environment and `RUST_LOG=warn`, and waits for it to exit (the CLI's own
/// request timeout bounds it).
///
/// # Errors
/// The binary cannot be spawned.
///
/// # Panics
/// When the binary is missing (see [`crate::gateway_bin`]).
pub fn run_cli(args: &[&str], api: &str, token: Option<&str>) -> anyhow::Result<CliRun> {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(["--api".to_owned(), api.to_owned()]);
    if let Some(t) = token {
        all.extend(["--token".to_owned(), t.to_owned()]);
    }
    let mut cmd = Command::new(gateway_bin());
    cmd.args(&all)
        .env_remove("LINKGATE_API")
        .env_remove("LINKGATE_API_TOKEN")
        .env("RUST_LOG", "warn");
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .with_context(|| format!("running linkgate {all:?}"))?;
    Ok(CliRun {
        args: all,
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}
