//! A real Kafka-protocol broker (nisshi, not ours) for one test: own free
//! port on 127.0.0.1, own temp directory and log file, killed on drop.
//!
//! Start-up waits for a Kafka Metadata round trip made by librdkafka (the
//! real client), so a returned [`Broker`] is ready to serve requests.
//!
//! [`Broker::start_secure`] adds a TLS listener (`--cert`/`--key`) and SASL
//! with SCRAM users (`--authentication`), configured by [`BrokerSecurity`];
//! its readiness probe connects with the matching [`ClientSecurity`].
//! nisshi turns TLS on by the presence of `--cert`: the listener and
//! advertised URLs keep the `tcp://` scheme.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tempfile::TempDir;

use crate::paths::nisshi_bin;
use crate::process::{report_if_panicking, temp_dir, ManagedProcess};
use crate::records::client_config;
use crate::security::{ClientSecurity, PemFile, ScramMechanism, SecurityProtocol};
use crate::tls::TestCert;
use crate::wait::{free_port, wait_until_blocking};

/// How long [`Broker::start`] and [`Broker::restart`] wait for the broker to answer: 30 s.
pub const BROKER_READY_DEADLINE: Duration = Duration::from_secs(30);

/// Environment variable overriding the broker's `RUST_LOG` (default `warn`).
pub const BROKER_LOG_ENV: &str = "LINKGATE_BROKER_RUST_LOG";

/// Start attempts with a new port when the broker exits at once (port taken
/// between [`free_port`] and the broker's bind).
const START_ATTEMPTS: usize = 3;

/// How long [`Broker::start_secure`] waits for one `nisshi user create`: 30 s.
pub const USER_CREATE_DEADLINE: Duration = Duration::from_secs(30);

/// How long [`Broker::start_secure`] waits for the plaintext broker used to
/// create users to exit after SIGTERM: 10 s.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// The files of a broker's TLS listener (`nisshi broker --cert --key
/// [--key-passphrase-file]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    /// PEM certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// PEM private key (PKCS#8, SEC1 or RSA; encrypted PKCS#8 with a passphrase file).
    pub key_path: PathBuf,
    /// File holding the passphrase of an encrypted key.
    pub key_passphrase_file: Option<PathBuf>,
    /// The CA that issued the certificate, trusted by the derived probe
    /// client ([`BrokerSecurity::client_security`]).
    pub ca: Option<PemFile>,
}

impl TlsListener {
    /// The chain and unencrypted key of `cert`, its CA for the probe.
    pub fn from_cert(cert: &TestCert) -> Self {
        Self {
            cert_path: cert.chain_path().to_path_buf(),
            key_path: cert.key_path().to_path_buf(),
            key_passphrase_file: None,
            ca: Some(PemFile {
                path: cert.ca_path().to_path_buf(),
                pem: cert.ca_pem().to_owned(),
            }),
        }
    }

    /// The chain of `cert` with its key encrypted by `passphrase` (see
    /// [`TestCert::encrypted_key`]), the passphrase written to
    /// `<name>.passphrase` next to it.
    ///
    /// # Errors
    /// Encrypting or writing the files.
    pub fn encrypted(cert: &TestCert, passphrase: &str) -> anyhow::Result<Self> {
        let (key_path, _) = cert.encrypted_key(passphrase)?;
        let passphrase_file = key_path.with_file_name(format!("{}.passphrase", cert.name()));
        std::fs::write(&passphrase_file, format!("{passphrase}\n"))
            .with_context(|| format!("writing {}", passphrase_file.display()))?;
        Ok(Self {
            key_path,
            key_passphrase_file: Some(passphrase_file),
            ..Self::from_cert(cert)
        })
    }
}

/// A SCRAM user created on a broker before its secure start.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramUser {
    /// The mechanism the credential is stored for.
    pub mechanism: ScramMechanism,
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for ScramUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramUser")
            .field("mechanism", &self.mechanism)
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The security of a broker started by [`Broker::start_secure`]. The
/// default is plaintext without authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerSecurity {
    /// TLS-only listener when set.
    pub tls: Option<TlsListener>,
    /// Users created (over plaintext) before the secure start.
    pub scram_users: Vec<ScramUser>,
    /// `--authentication`: every client must authenticate with SASL
    /// (SCRAM-SHA-256 or SCRAM-SHA-512). Set by [`BrokerSecurity::with_scram_user`].
    pub authentication: bool,
    /// The port written into `--advertised-listener-url` (on 127.0.0.1)
    /// instead of the listening port: a proxy such as [`crate::TlsFront`]
    /// in front of the broker. Clients reconnect to it after bootstrap.
    pub advertised_port: Option<u16>,
    /// The client settings of the readiness probe; `None` uses
    /// [`BrokerSecurity::client_security`].
    pub probe: Option<ClientSecurity>,
}

impl BrokerSecurity {
    /// Plaintext, no authentication (same as `default()`).
    pub fn plaintext() -> Self {
        Self::default()
    }

    /// A TLS listener with `cert` (chain and unencrypted key).
    pub fn tls(cert: &TestCert) -> Self {
        Self::default().with_tls(TlsListener::from_cert(cert))
    }

    /// Sets the TLS listener.
    pub fn with_tls(mut self, tls: TlsListener) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Adds a SCRAM user and turns `authentication` on.
    pub fn with_scram_user(
        mut self,
        mechanism: ScramMechanism,
        name: &str,
        password: &str,
    ) -> Self {
        self.scram_users.push(ScramUser {
            mechanism,
            name: name.to_owned(),
            password: password.to_owned(),
        });
        self.authentication = true;
        self
    }

    /// Advertises `127.0.0.1:<port>` instead of the listening port.
    pub fn advertising_port(mut self, port: u16) -> Self {
        self.advertised_port = Some(port);
        self
    }

    /// Probes readiness with `probe` instead of the derived client settings.
    pub fn with_probe(mut self, probe: ClientSecurity) -> Self {
        self.probe = Some(probe);
        self
    }

    /// The settings of a well-behaved client of this broker: `SSL` when TLS
    /// is on (trusting the listener's CA, checking the host name), `SASL_*`
    /// as the first SCRAM user when authentication is on (user-less
    /// authentication gives `SASL_*` without credentials).
    pub fn client_security(&self) -> ClientSecurity {
        let mut client = ClientSecurity {
            protocol: SecurityProtocol::from_parts(self.tls.is_some(), self.authentication),
            ca: self.tls.as_ref().and_then(|t| t.ca.clone()),
            ..ClientSecurity::default()
        };
        if let (true, Some(user)) = (self.authentication, self.scram_users.first()) {
            client = client.with_sasl(user.mechanism, &user.name, &user.password);
        }
        client
    }

    fn probe_security(&self) -> ClientSecurity {
        self.probe.clone().unwrap_or_else(|| self.client_security())
    }
}

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
    security: BrokerSecurity,
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
        Self::start_plaintext(cluster_id, storage, BrokerSecurity::default(), |_| {})
    }

    /// Like [`Broker::start_with`], advertising `127.0.0.1:<advertised_port>`
    /// instead of the listening port: a proxy listening there (such as a
    /// [`crate::FaultProxy`]) then carries every client connection after
    /// bootstrap. `on_listen` gets the listening port of each start attempt
    /// before the readiness probe, so the proxy can forward to it (the
    /// probe's client follows the advertised address too). Kept across
    /// [`Broker::restart`].
    pub fn start_advertising(
        cluster_id: &str,
        storage: Storage,
        advertised_port: u16,
        on_listen: impl Fn(u16),
    ) -> anyhow::Result<Broker> {
        let security = BrokerSecurity::default().advertising_port(advertised_port);
        Self::start_plaintext(cluster_id, storage, security, on_listen)
    }

    /// Plaintext start (no TLS, no SASL) with `security`'s advertised port;
    /// `on_listen` as in [`Broker::start_advertising`].
    fn start_plaintext(
        cluster_id: &str,
        storage: Storage,
        security: BrokerSecurity,
        on_listen: impl Fn(u16),
    ) -> anyhow::Result<Broker> {
        let bin = nisshi_bin();
        let dir = temp_dir(&format!("linkgate-broker-{cluster_id}-"))?;
        let log = dir.path().join("broker.log");
        let mut last_error = None;
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let cmd = broker_command(&bin, cluster_id, port, storage, dir.path(), Some(&security));
            let mut process = ManagedProcess::spawn(cmd, &log)?;
            on_listen(port);
            match wait_ready(&mut process, port, &ClientSecurity::plaintext()) {
                Ok(()) => {
                    return Ok(Broker {
                        cluster_id: cluster_id.to_owned(),
                        port,
                        storage,
                        security,
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

    /// Starts a broker with sqlite storage (see [`Broker::start_persistent`])
    /// and the given security. With SCRAM users it first starts the broker
    /// plaintext on its sqlite file, creates each user with `nisshi user
    /// create --broker tcp://127.0.0.1:<port> --mechanism scram256|scram512
    /// <name> <password>`, stops it (SIGTERM), and starts it again on the same
    /// port and file with `--cert`/`--key`/`--authentication` as configured.
    /// Ready once a librdkafka client with [`BrokerSecurity::probe`] (default
    /// [`BrokerSecurity::client_security`]) gets Metadata (up to 30 s).
    ///
    /// # Errors
    /// Spawn failure, early exit, a failed `user create` (its output is in
    /// the error), or no answer in time; errors hold the tail of the broker log.
    ///
    /// # Panics
    /// When the nisshi binary is missing (see [`crate::nisshi_bin`]).
    pub fn start_secure(cluster_id: &str, security: BrokerSecurity) -> anyhow::Result<Broker> {
        let bin = nisshi_bin();
        let dir = temp_dir(&format!("linkgate-broker-{cluster_id}-"))?;
        let log = dir.path().join("broker.log");
        let storage = Storage::Sqlite;
        let probe = security.probe_security();
        let mut last_error = None;
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            if !security.scram_users.is_empty() {
                match create_users(&bin, cluster_id, port, dir.path(), &log, &security) {
                    Ok(()) => {}
                    Err(StartError::PortLost(e)) => {
                        last_error = Some(e.context(format!("broker start attempt {attempt}")));
                        continue;
                    }
                    Err(StartError::Fatal(e)) => return Err(e),
                }
            }
            let cmd = broker_command(&bin, cluster_id, port, storage, dir.path(), Some(&security));
            let mut process = ManagedProcess::spawn(cmd, &log)?;
            match wait_ready(&mut process, port, &probe) {
                Ok(()) => {
                    return Ok(Broker {
                        cluster_id: cluster_id.to_owned(),
                        port,
                        storage,
                        security,
                        process,
                        dir,
                    })
                }
                Err(e) => {
                    let exited = process.exited().is_some();
                    process.kill9()?;
                    last_error = Some(e.context(format!("secure broker start attempt {attempt}")));
                    if !exited {
                        // Running but not answering: another port will not help.
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("broker did not start")))
    }

    /// The security the broker was started with (plaintext for [`Broker::start`]).
    pub fn security(&self) -> &BrokerSecurity {
        &self.security
    }

    /// The settings of a well-behaved client of this broker
    /// ([`BrokerSecurity::client_security`]).
    pub fn client_security(&self) -> ClientSecurity {
        self.security.client_security()
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

    /// Starts the broker again on the same port, directory, storage and
    /// security (killing it first if it still runs) and waits until it
    /// answers the same probe as at start (up to 30 s). With
    /// [`Storage::Sqlite`] the data (and SCRAM users) written before
    /// survive; with [`Storage::Memory`] the broker comes back empty.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let cmd = broker_command(
            &nisshi_bin(),
            &self.cluster_id,
            self.port,
            self.storage,
            self.dir.path(),
            Some(&self.security),
        );
        self.process.respawn(cmd)?;
        wait_ready(
            &mut self.process,
            self.port,
            &self.security.probe_security(),
        )
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

/// Why one start attempt failed.
enum StartError {
    /// The broker exited at once: the port may have been taken, try another.
    PortLost(anyhow::Error),
    /// Anything else: give up.
    Fatal(anyhow::Error),
}

/// Starts the broker plaintext on `port` with sqlite storage in `dir`,
/// creates the users of `security` with `nisshi user create`, and stops it.
fn create_users(
    bin: &Path,
    cluster_id: &str,
    port: u16,
    dir: &Path,
    log: &Path,
    security: &BrokerSecurity,
) -> Result<(), StartError> {
    let cmd = broker_command(bin, cluster_id, port, Storage::Sqlite, dir, None);
    let mut process = ManagedProcess::spawn(cmd, log).map_err(StartError::Fatal)?;
    if let Err(e) = wait_ready(&mut process, port, &ClientSecurity::plaintext()) {
        let exited = process.exited().is_some();
        let _ = process.kill9();
        let e = e.context("plaintext broker for user creation");
        return Err(if exited {
            StartError::PortLost(e)
        } else {
            StartError::Fatal(e)
        });
    }
    for user in &security.scram_users {
        create_user(bin, port, dir, user).map_err(StartError::Fatal)?;
    }
    process
        .terminate(STOP_DEADLINE)
        .map_err(|e| StartError::Fatal(e.context("stopping the user-creation broker")))?;
    Ok(())
}

/// Runs `nisshi user create` for `user` against the plaintext broker on
/// `port` (output to `<dir>/user-create.log`) and checks that it exits 0
/// within [`USER_CREATE_DEADLINE`].
fn create_user(bin: &Path, port: u16, dir: &Path, user: &ScramUser) -> anyhow::Result<()> {
    let log = dir.join("user-create.log");
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("RUST_LOG", "warn")
        .args(["user", "create"])
        .args(["--broker", &format!("tcp://127.0.0.1:{port}")])
        .args(["--mechanism", user.mechanism.nisshi_name()])
        .arg(&user.name)
        .arg(&user.password);
    let mut process = ManagedProcess::spawn(cmd, &log)?;
    let mut status = None;
    let waited = wait_until_blocking(
        &format!("nisshi user create {}", user.name),
        USER_CREATE_DEADLINE,
        || {
            status = process.exited();
            Ok(status.is_some())
        },
    );
    if let Err(e) = waited {
        let _ = process.kill9();
        anyhow::bail!("{e:#}\n{}", process.log_tail(20));
    }
    match status {
        Some(s) if s.success() => Ok(()),
        other => anyhow::bail!(
            "nisshi user create {} ({}) failed: {other:?}\n{}",
            user.name,
            user.mechanism.nisshi_name(),
            process.log_tail(20)
        ),
    }
}

/// Waits until `127.0.0.1:port` answers a Metadata round trip from a
/// librdkafka client with `security` (up to [`BROKER_READY_DEADLINE`]);
/// fails early if the process exits. The error holds the tail of the
/// broker log.
fn wait_ready(
    process: &mut ManagedProcess,
    port: u16,
    security: &ClientSecurity,
) -> anyhow::Result<()> {
    let bootstrap = format!("127.0.0.1:{port}");
    // A new client per attempt: once a client has seen Metadata it talks to
    // the advertised address, which for a broker behind a front (TLS, a
    // proxy) is not this port; a fresh one asks this port first.
    let result = wait_until_blocking(
        &format!(
            "broker {bootstrap} to answer Metadata ({})",
            security.protocol.name()
        ),
        BROKER_READY_DEADLINE,
        || {
            if let Some(status) = process.exited() {
                anyhow::bail!("broker exited during start-up with {status}");
            }
            let client = probe_client(&bootstrap, security)?;
            Ok(client
                .fetch_metadata(None, Duration::from_millis(1000))
                .is_ok_and(|m| !m.brokers().is_empty()))
        },
    );
    result.map_err(|e| anyhow::anyhow!("{e:#}\n{}", process.log_tail(40)))
}

/// The `nisshi broker` command line; `security` `None` (or its default) is a
/// plaintext broker advertising its own port.
fn broker_command(
    bin: &Path,
    cluster_id: &str,
    port: u16,
    storage: Storage,
    dir: &Path,
    security: Option<&BrokerSecurity>,
) -> Command {
    let url = format!("tcp://127.0.0.1:{port}");
    let advertised = match security.and_then(|s| s.advertised_port) {
        Some(p) => format!("tcp://127.0.0.1:{p}"),
        None => url.clone(),
    };
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
        .args(["--advertised-listener-url", &advertised])
        .args(["--storage-engine", &engine])
        .arg("--silent");
    if let Some(security) = security {
        if let Some(tls) = &security.tls {
            cmd.arg("--cert").arg(&tls.cert_path);
            cmd.arg("--key").arg(&tls.key_path);
            if let Some(file) = &tls.key_passphrase_file {
                cmd.arg("--key-passphrase-file").arg(file);
            }
        }
        if security.authentication {
            cmd.arg("--authentication");
        }
    }
    cmd
}

/// A quiet librdkafka client with short reconnect backoffs, for readiness
/// probes of `bootstrap` with `security`.
pub(crate) fn probe_client(
    bootstrap: &str,
    security: &ClientSecurity,
) -> anyhow::Result<BaseConsumer> {
    client_config(bootstrap, security)
        .set("group.id", "linkgate-tests-probe")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "250")
        .set("socket.connection.setup.timeout.ms", "2000")
        .set("log_level", "0")
        .create()
        .context("creating librdkafka probe client")
}
