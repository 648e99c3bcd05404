//! mTLS in front of a plaintext listener: Debian's `socat` terminating TLS
//! and requiring a client certificate signed by a given CA ([`TlsFront`]),
//! and a nisshi broker behind one that advertises socat's port
//! ([`MtlsBroker`]), since nisshi itself does not check client certificates.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rdkafka::consumer::Consumer;
use tempfile::TempDir;

use crate::broker::{Broker, BrokerSecurity, BROKER_READY_DEADLINE};
use crate::process::{report_if_panicking, temp_dir, ManagedProcess};
use crate::security::ClientSecurity;
use crate::tls::TestCert;
use crate::wait::{free_port, wait_until_blocking};

/// How long [`TlsFront::start`] waits for socat to accept TCP connections: 10 s.
pub const FRONT_READY_DEADLINE: Duration = Duration::from_secs(10);

/// Start attempts with a new port when socat exits at once (port taken).
const FRONT_START_ATTEMPTS: usize = 3;

/// A socat process listening with TLS on a loopback port, requiring a client
/// certificate issued by `client_ca` (`verify=1`), forwarding each
/// connection in plain TCP to `127.0.0.1:<backend_port>`. socat and the
/// children it forks per connection run in their own process group, which
/// is killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct TlsFront {
    port: u16,
    backend_port: u16,
    process: ManagedProcess,
    pgid: Option<i32>,
    dir: TempDir,
}

impl TlsFront {
    /// Starts socat on a free loopback port in front of `backend_port`, with
    /// the server chain `server_cert` and key `server_key` (PEM files), and
    /// `client_ca` (PEM) for client certificates. Ready once the port accepts
    /// TCP connections (up to 10 s); retried on a new port if socat exits at
    /// once.
    ///
    /// # Errors
    /// A path holding `,` or `:` (socat's address syntax), spawn failure,
    /// exit or no listening port in time (with the tail of socat's log).
    pub fn start(
        backend_port: u16,
        server_cert: &Path,
        server_key: &Path,
        client_ca: &Path,
    ) -> anyhow::Result<TlsFront> {
        let mut last_error = None;
        for attempt in 1..=FRONT_START_ATTEMPTS {
            match Self::start_on(
                free_port(),
                backend_port,
                server_cert,
                server_key,
                client_ca,
            ) {
                Ok(front) => return Ok(front),
                Err(e) => last_error = Some(e.context(format!("socat start attempt {attempt}"))),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("socat did not start")))
    }

    /// Like [`TlsFront::start`] on the given `port` (no retry): for a
    /// broker that was started advertising this port.
    ///
    /// # Errors
    /// As [`TlsFront::start`].
    pub fn start_on(
        port: u16,
        backend_port: u16,
        server_cert: &Path,
        server_key: &Path,
        client_ca: &Path,
    ) -> anyhow::Result<TlsFront> {
        for path in [server_cert, server_key, client_ca] {
            let text = path.to_string_lossy();
            anyhow::ensure!(
                !text.contains(',') && !text.contains(':'),
                "socat cannot take the path {text:?} (',' or ':')"
            );
        }
        let dir = temp_dir(&format!("linkgate-socat-{port}-"))?;
        let log = dir.path().join("socat.log");
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
            server_cert.display(),
            server_key.display(),
            client_ca.display()
        );
        let mut cmd = Command::new("socat");
        cmd.current_dir(dir.path())
            .args(["-d", "-d", "-lu"])
            .arg(listen)
            .arg(format!("TCP:127.0.0.1:{backend_port}"));
        // Own process group, so Drop can kill the per-connection children too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut process =
            ManagedProcess::spawn(cmd, &log).context("spawning socat (apt-get install socat)")?;
        let pgid = process.pid().and_then(|p| i32::try_from(p).ok());
        let ready = wait_until_blocking(
            &format!("socat to listen on 127.0.0.1:{port}"),
            FRONT_READY_DEADLINE,
            || {
                if let Some(status) = process.exited() {
                    anyhow::bail!("socat exited during start-up with {status}");
                }
                Ok(TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                    Duration::from_millis(500),
                )
                .is_ok())
            },
        );
        let mut front = TlsFront {
            port,
            backend_port,
            process,
            pgid,
            dir,
        };
        if let Err(e) = ready {
            let tail = front.process.log_tail(20);
            front.stop();
            anyhow::bail!("{e:#}\n{tail}");
        }
        Ok(front)
    }

    /// The TLS port socat listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The plaintext port connections are forwarded to.
    pub fn backend_port(&self) -> u16 {
        self.backend_port
    }

    /// socat's log file (`-d -d`: one notice per connection, TLS errors).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("socat.log")
    }

    /// The last `n` lines of socat's log.
    pub fn log_tail(&self, n: usize) -> String {
        self.process.log_tail(n)
    }

    /// Kills socat and every connection child it forked (SIGKILL to its
    /// process group). Idempotent.
    pub fn stop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH once the whole group is gone: nothing left to do.
            let _ = kill(Pid::from_raw(-pgid), Signal::SIGKILL);
        }
        let _ = self.process.kill9();
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop();
        let what = format!("socat front {}", self.bootstrap());
        let log = self.log_path();
        report_if_panicking(&what, &mut self.dir, &log);
    }
}

/// A nisshi broker reachable only through mTLS: a plaintext (or SASL)
/// broker advertising the port of a [`TlsFront`] in front of it, so clients
/// come back through socat after bootstrap. Drops the front first, then the
/// broker.
#[derive(Debug)]
pub struct MtlsBroker {
    /// The socat front (its port is the advertised one).
    pub front: TlsFront,
    /// The broker behind it (its own port is plaintext: do not hand it to
    /// the client under test).
    pub broker: Broker,
}

impl MtlsBroker {
    /// Picks the front's port, starts the broker with `backend` security
    /// advertising that port (see [`Broker::start_secure`]; TLS must not be
    /// set, socat speaks plain TCP to the broker), starts socat with
    /// `server_cert` requiring client certificates from `client_ca`, and
    /// waits until a librdkafka client with `client` (TLS with a client
    /// certificate) gets Metadata through the front (up to 30 s). Retried
    /// with new ports when socat cannot bind.
    ///
    /// # Errors
    /// `backend` has TLS, the broker or socat fails to start, or the client
    /// gets no Metadata in time (with both logs' tails).
    pub fn start(
        cluster_id: &str,
        backend: BrokerSecurity,
        server_cert: &TestCert,
        client_ca: &Path,
        client: &ClientSecurity,
    ) -> anyhow::Result<MtlsBroker> {
        anyhow::ensure!(
            backend.tls.is_none(),
            "the broker behind a TlsFront must listen in plain TCP"
        );
        let mut last_error = None;
        for attempt in 1..=FRONT_START_ATTEMPTS {
            let front_port = free_port();
            let broker =
                Broker::start_secure(cluster_id, backend.clone().advertising_port(front_port))?;
            let front = match TlsFront::start_on(
                front_port,
                broker.port(),
                server_cert.chain_path(),
                server_cert.key_path(),
                client_ca,
            ) {
                Ok(front) => front,
                Err(e) => {
                    last_error = Some(e.context(format!("mTLS front attempt {attempt}")));
                    continue;
                }
            };
            let mtls = MtlsBroker { front, broker };
            mtls.wait_ready(client)?;
            return Ok(mtls);
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("mTLS front did not start")))
    }

    /// `127.0.0.1:<front port>`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.front.bootstrap()
    }

    /// Waits (up to 30 s) until a librdkafka client with `client` gets
    /// Metadata through the front, listing the front's port as the broker's.
    ///
    /// # Errors
    /// No Metadata in time, or Metadata advertising another port.
    pub fn wait_ready(&self, client: &ClientSecurity) -> anyhow::Result<()> {
        let bootstrap = self.bootstrap();
        let consumer = crate::broker::probe_client(&bootstrap, client)?;
        let mut advertised = Vec::new();
        let result = wait_until_blocking(
            &format!("Metadata through the mTLS front {bootstrap}"),
            BROKER_READY_DEADLINE,
            || {
                Ok(
                    match consumer.fetch_metadata(None, Duration::from_millis(1000)) {
                        Ok(m) if !m.brokers().is_empty() => {
                            advertised = m.brokers().iter().map(|b| b.port()).collect();
                            true
                        }
                        _ => false,
                    },
                )
            },
        );
        result.map_err(|e| {
            anyhow::anyhow!(
                "{e:#}\n{}\n{}",
                self.front.log_tail(20),
                self.broker.log_tail(20)
            )
        })?;
        let port = i32::from(self.front.port());
        anyhow::ensure!(
            advertised == [port],
            "broker advertises ports {advertised:?}, expected the front's {port}"
        );
        Ok(())
    }
}
