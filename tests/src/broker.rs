//! A real Kafka-protocol broker (nisshi, not ours) for one test: own free
//! port on 127.0.0.1, own temp directory and log file, killed on drop.
//!
//! Start-up waits for a Kafka Metadata round trip made by librdkafka (the
//! real client), so a returned [`Broker`] is ready to serve requests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tempfile::TempDir;

use crate::paths::nisshi_bin;
use crate::process::{report_if_panicking, temp_dir, ManagedProcess};
use crate::wait::{free_port, wait_until_blocking};

/// How long [`Broker::start`] and [`Broker::restart`] wait for the broker to answer: 30 s.
pub const BROKER_READY_DEADLINE: Duration = Duration::from_secs(30);

/// Environment variable overriding the broker's `RUST_LOG` (default `warn`).
pub const BROKER_LOG_ENV: &str = "LINKGATE_BROKER_RUST_LOG";

/// Start attempts with a new port when the broker exits at once (port taken
/// between [`free_port`] and the broker's bind).
const START_ATTEMPTS: usize = 3;

/// Where a broker keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `memory://<cluster_id>/`: lost when the process stops.
    Memory,
    /// `sqlite://broker.db` in the broker's temp directory: survives `kill -9`.
    Sqlite,
}

/// One running nisshi broker, a single-node cluster.
#[derive(Debug)]
pub struct Broker {
    cluster_id: String,
    port: u16,
    storage: Storage,
    process: ManagedProcess,
    // Dropped after `process` (fields drop in order), so the broker is dead
    // before its directory goes.
    dir: TempDir,
}

impl Broker {
    /// Starts a broker with in-memory storage on a free loopback port and waits
    /// (up to 30 s) until it answers a Metadata request from librdkafka.
    ///
    /// # Errors
    /// Spawn failure, early exit or no answer in time; the error holds the tail
    /// of the broker log.
    ///
    /// # Panics
    /// When the nisshi binary is missing (see [`crate::nisshi_bin`]).
    pub fn start(cluster_id: &str) -> anyhow::Result<Broker> {
        Self::start_with(cluster_id, Storage::Memory)
    }

    /// Like [`Broker::start`] but with sqlite storage in the broker's temp
    /// directory, so that [`Broker::kill9`] + [`Broker::restart`] keep the data.
    pub fn start_persistent(cluster_id: &str) -> anyhow::Result<Broker> {
        Self::start_with(cluster_id, Storage::Sqlite)
    }

    /// Starts a broker with the given storage (see [`Broker::start`]).
    pub fn start_with(cluster_id: &str, storage: Storage) -> anyhow::Result<Broker> {
        let bin = nisshi_bin();
        let dir = temp_dir(&format!("linkgate-broker-{cluster_id}-"))?;
        let log = dir.path().join("broker.log");
        let mut last_error = None;
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let cmd = broker_command(&bin, cluster_id, port, storage, dir.path());
            let mut process = ManagedProcess::spawn(cmd, &log)?;
            match wait_ready(&mut process, port) {
                Ok(()) => {
                    return Ok(Broker {
                        cluster_id: cluster_id.to_owned(),
                        port,
                        storage,
                        process,
                        dir,
                    })
                }
                Err(e) => {
                    let exited = process.exited().is_some();
                    process.kill9()?;
                    last_error = Some(e.context(format!("broker start attempt {attempt}")));
                    if !exited {
                        // Running but not answering: another port will not help.
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("broker did not start")))
    }

    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The listening port (kept across [`Broker::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster id given at start.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The storage kind.
    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// The broker's own temp directory (working directory of the process).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The log file holding the broker's stdout and stderr (all restarts appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    /// The last `n` lines of the broker log.
    pub fn log_tail(&self, n: usize) -> String {
        self.process.log_tail(n)
    }

    /// Kills the broker with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.process.kill9()
    }

    /// Starts the broker again on the same port, directory and storage (killing
    /// it first if it still runs) and waits until it answers (up to 30 s). With
    /// [`Storage::Sqlite`] the data written before survives; with
    /// [`Storage::Memory`] the broker comes back empty.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let cmd = broker_command(
            &nisshi_bin(),
            &self.cluster_id,
            self.port,
            self.storage,
            self.dir.path(),
        );
        self.process.respawn(cmd)?;
        wait_ready(&mut self.process, self.port)
    }
}

impl Drop for Broker {
    /// Kills the broker; if the test is panicking, keeps its directory and
    /// prints the log tail.
    fn drop(&mut self) {
        let _ = self.process.kill9();
        let what = format!("broker {} ({})", self.cluster_id, self.bootstrap());
        let log = self.log_path();
        report_if_panicking(&what, &mut self.dir, &log);
    }
}

/// Waits until `127.0.0.1:port` answers a Metadata round trip from librdkafka
/// (up to [`BROKER_READY_DEADLINE`]); fails early if the process exits. The
/// error holds the tail of the broker log.
fn wait_ready(process: &mut ManagedProcess, port: u16) -> anyhow::Result<()> {
    let bootstrap = format!("127.0.0.1:{port}");
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "linkgate-tests-probe")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "250")
        .set("socket.connection.setup.timeout.ms", "2000")
        .set("log_level", "0")
        .create()
        .context("creating librdkafka probe client")?;
    let result = wait_until_blocking(
        &format!("broker {bootstrap} to answer Metadata"),
        BROKER_READY_DEADLINE,
        || {
            if let Some(status) = process.exited() {
                anyhow::bail!("broker exited during start-up with {status}");
            }
            Ok(client
                .fetch_metadata(None, Duration::from_millis(1000))
                .is_ok_and(|m| !m.brokers().is_empty()))
        },
    );
    result.map_err(|e| anyhow::anyhow!("{e:#}\n{}", process.log_tail(40)))
}

fn broker_command(
    bin: &Path,
    cluster_id: &str,
    port: u16,
    storage: Storage,
    dir: &Path,
) -> Command {
    let url = format!("tcp://127.0.0.1:{port}");
    let engine = match storage {
        Storage::Memory => format!("memory://{cluster_id}/"),
        Storage::Sqlite => "sqlite://broker.db".to_owned(),
    };
    let log_level = std::env::var(BROKER_LOG_ENV).unwrap_or_else(|_| "warn".to_owned());
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("RUST_LOG", log_level)
        .args(["broker", "--cluster-id", cluster_id])
        .args(["--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        .args(["--storage-engine", &engine])
        .arg("--silent");
    cmd
}
