//! The `linkgate` binary run as a child process for one test: config file in
//! its own temp directory, logs to a file, readiness by `GET /metrics` (see
//! /work/notes/config-format.md: the metrics endpoint answers 200 once the links
//! started), stopped with SIGTERM or SIGKILL, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::Context;
use tempfile::TempDir;

use crate::paths::gateway_bin;
use crate::process::{log_tail, report_if_panicking, temp_dir, ManagedProcess};
use crate::prometheus;
use crate::wait::POLL_INTERVAL;

/// How long [`Gateway::start`] and [`Gateway::restart`] wait for `GET /metrics` to answer 200: 60 s.
pub const GATEWAY_READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long [`Gateway::terminate`] waits for the process to exit after SIGTERM: 30 s.
pub const GATEWAY_TERMINATE_DEADLINE: Duration = Duration::from_secs(30);
/// `RUST_LOG` given to the gateway unless [`GATEWAY_LOG_ENV`] is set.
pub const GATEWAY_RUST_LOG: &str = "info,linkgate=debug";
/// Environment variable overriding the gateway's `RUST_LOG`.
pub const GATEWAY_LOG_ENV: &str = "LINKGATE_GATEWAY_RUST_LOG";
/// Timeout of one metrics HTTP request: 5 s.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// One running `linkgate run --config FILE` process.
#[derive(Debug)]
pub struct Gateway {
    metrics_listen: String,
    env: Vec<(String, String)>,
    process: ManagedProcess,
    // Dropped after `process`.
    dir: TempDir,
}

impl Gateway {
    /// Writes `config_toml` to `linkgate.toml` in a new temp directory, spawns
    /// `linkgate run --config <file>` (stdout+stderr to `gateway.log` there,
    /// `RUST_LOG=info,linkgate=debug`) and waits up to 60 s until
    /// `GET http://<gateway.metrics_listen>/metrics` answers 200.
    ///
    /// # Errors
    /// The config has no string `gateway.metrics_listen`; spawn failure; the
    /// process exits or the endpoint is not ready in time (the error holds the
    /// tail of the gateway log).
    ///
    /// # Panics
    /// When the binary is missing (see [`crate::gateway_bin`]).
    pub fn start(config_toml: &str) -> anyhow::Result<Gateway> {
        Self::start_with_env(config_toml, &[])
    }

    /// Like [`Gateway::start`], with the environment variables `env` set on
    /// the child process (and on every [`Gateway::restart`]), e.g. the
    /// values of `${env:NAME}` config references. The test process's own
    /// environment is not changed.
    ///
    /// # Errors
    /// As [`Gateway::start`].
    pub fn start_with_env(config_toml: &str, env: &[(&str, &str)]) -> anyhow::Result<Gateway> {
        let bin = gateway_bin();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let metrics_listen = metrics_listen_of(config_toml)?;
        let dir = temp_dir("linkgate-gateway-")?;
        let config = dir.path().join("linkgate.toml");
        std::fs::write(&config, config_toml).context("writing gateway config")?;
        let log = dir.path().join("gateway.log");
        let process = ManagedProcess::spawn(gateway_command(&bin, &config, &env), &log)?;
        let mut gateway = Gateway {
            metrics_listen,
            env,
            process,
            dir,
        };
        gateway.wait_ready()?;
        Ok(gateway)
    }

    /// Runs `linkgate run --config <file>` with `config_toml` and waits up to
    /// `deadline` for it to exit by itself (for bad-config tests). Returns the
    /// exit status and the whole log (stdout+stderr).
    ///
    /// # Errors
    /// Spawn failure, or the process still runs at the deadline (it is then killed).
    pub fn run_until_exit(
        config_toml: &str,
        deadline: Duration,
    ) -> anyhow::Result<(ExitStatus, String)> {
        let bin = gateway_bin();
        let dir = temp_dir("linkgate-gateway-")?;
        let config = dir.path().join("linkgate.toml");
        std::fs::write(&config, config_toml).context("writing gateway config")?;
        let log = dir.path().join("gateway.log");
        let mut process = ManagedProcess::spawn(gateway_command(&bin, &config, &[]), &log)?;
        let start = Instant::now();
        let status = loop {
            if let Some(status) = process.exited() {
                break status;
            }
            if start.elapsed() >= deadline {
                process.kill9()?;
                anyhow::bail!(
                    "linkgate still running after {deadline:?} (killed)\n{}",
                    log_tail(&log, 40)
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        };
        let text = std::fs::read(&log).context("reading gateway log")?;
        Ok((status, String::from_utf8_lossy(&text).into_owned()))
    }

    /// The `gateway.metrics_listen` address of the config (`host:port`).
    pub fn metrics_listen(&self) -> &str {
        &self.metrics_listen
    }

    /// The config file the process runs with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("linkgate.toml")
    }

    /// The log file (stdout+stderr, all restarts appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }

    /// The gateway's own temp directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The OS process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// The last `n` lines of the gateway log.
    pub fn log_tail(&self, n: usize) -> String {
        self.process.log_tail(n)
    }

    /// Kills the gateway with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.process.kill9()
    }

    /// Sends SIGTERM and waits up to 30 s for the exit; returns the exit status.
    ///
    /// # Errors
    /// Not running, or still running at the deadline (then killed with SIGKILL;
    /// the error holds the log tail).
    pub fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        self.process.terminate(GATEWAY_TERMINATE_DEADLINE)
    }

    /// Starts the gateway again with the same config file (killing it first if
    /// it still runs) and waits until `/metrics` answers 200 (up to 60 s).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let cmd = gateway_command(&gateway_bin(), &self.config_path(), &self.env);
        self.process.respawn(cmd)?;
        self.wait_ready()
    }

    /// Replaces the config file by `config_toml`, then [`Gateway::restart`]s.
    pub fn restart_with_config(&mut self, config_toml: &str) -> anyhow::Result<()> {
        self.process.kill9()?;
        self.metrics_listen = metrics_listen_of(config_toml)?;
        std::fs::write(self.config_path(), config_toml).context("writing gateway config")?;
        self.restart()
    }

    /// The body of `GET http://<metrics_listen>/metrics` (Prometheus text format).
    ///
    /// # Errors
    /// Connection failure, timeout (5 s) or a status other than 200.
    pub fn metrics(&self) -> anyhow::Result<String> {
        let (status, body) = http_get(&format!("http://{}/metrics", self.metrics_listen))?;
        anyhow::ensure!(status == 200, "GET /metrics answered {status}: {body}");
        Ok(body)
    }

    /// Sum of the samples named `name` carrying all `labels` (subset match, see
    /// [`prometheus::metric_value`]); `None` if no sample matches or the
    /// endpoint does not answer.
    pub fn metric_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = self.metrics().ok()?;
        prometheus::metric_value(&text, name, labels)
    }

    /// Polls `/metrics` until it answers 200; fails early if the process exits.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let url = format!("http://{}/metrics", self.metrics_listen);
        let start = Instant::now();
        let mut last: String;
        loop {
            if let Some(status) = self.process.exited() {
                anyhow::bail!(
                    "linkgate exited during start-up with {status}\n{}",
                    self.log_tail(60)
                );
            }
            match http_get(&url) {
                Ok((200, _)) => return Ok(()),
                Ok((status, _)) => last = format!("status {status}"),
                Err(e) => last = format!("{e:#}"),
            }
            if start.elapsed() >= GATEWAY_READY_DEADLINE {
                anyhow::bail!(
                    "linkgate not ready after {GATEWAY_READY_DEADLINE:?}: GET {url}: {last}\n{}",
                    self.log_tail(60)
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for Gateway {
    /// Kills the gateway; if the test is panicking, keeps its directory and
    /// prints the log tail.
    fn drop(&mut self) {
        let _ = self.process.kill9();
        let log = self.log_path();
        report_if_panicking("linkgate", &mut self.dir, &log);
    }
}

/// `gateway.metrics_listen` of a config text.
fn metrics_listen_of(config_toml: &str) -> anyhow::Result<String> {
    let table: toml::Table =
        toml::from_str(config_toml).context("test config is not valid TOML")?;
    table
        .get("gateway")
        .and_then(|g| g.get("metrics_listen"))
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .context("test config has no string gateway.metrics_listen")
}

fn gateway_command(bin: &Path, config: &Path, env: &[(String, String)]) -> Command {
    let log_level = std::env::var(GATEWAY_LOG_ENV).unwrap_or_else(|_| GATEWAY_RUST_LOG.to_owned());
    let mut cmd = Command::new(bin);
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", log_level)
        .arg("run")
        .arg("--config")
        .arg(config);
    if let Some(dir) = config.parent() {
        cmd.current_dir(dir);
    }
    cmd
}

/// Blocking `GET url` (ureq, 5 s timeout): the HTTP status and the body as
/// text. Any status is returned, not an error; errors are transport failures
/// (connection refused, timeout) or a body that is not UTF-8.
pub fn http_get(url: &str) -> anyhow::Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading body of GET {url}"))?;
    Ok((status, body))
}
