//! Test-only: start a real Kafka-protocol broker (nisshi) on a free loopback
//! port, and stop it when the guard drops; connect a cluster client to it
//! ([`connect`]); poll a condition with a deadline ([`wait_until`]).
//!
//! The binary is looked up at `$NISSHI_BIN`, else
//! `$HOME/.cache/linkgate/nisshi/bin/nisshi` (where the project's install
//! step puts it; see shared/testing.md). A missing binary fails the test with
//! the install command: tests never skip silently.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly started broker may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The nisshi binary path (see the module doc).
pub fn nisshi_path() -> PathBuf {
    if let Some(p) = std::env::var_os("NISSHI_BIN") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/linkgate/nisshi/bin/nisshi")
}

/// A free TCP port on 127.0.0.1 (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A running nisshi broker with in-memory storage; killed on drop.
pub struct Broker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Start a broker for cluster id `cluster_id` on a free port and wait
    /// (bounded) until it accepts TCP connections.
    ///
    /// Panics with install instructions when the binary is missing, and with
    /// the broker's stderr when it exits or does not come up in time.
    pub fn start(cluster_id: &str) -> Broker {
        let bin = nisshi_path();
        assert!(
            bin.exists(),
            "nisshi broker binary not found at {}.\n\
             Install it (10-20 min on 2 cores) with:\n  \
             rustup toolchain install 1.96.0 --profile minimal\n  \
             cargo +1.96.0 install nisshi --version 0.8.1 --locked --no-default-features \
             --features dynostore,libsql --root $HOME/.cache/linkgate/nisshi\n\
             or point NISSHI_BIN at an existing binary.",
            bin.display()
        );
        let mut last_failure = String::new();
        // A freed port can be taken again before nisshi binds it: a few tries.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir for broker");
            let port = free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
            let stdout = std::fs::File::create(dir.path().join("stdout.log")).expect("stdout log");
            let child = Command::new(&bin)
                .arg("broker")
                .args(["--cluster-id", cluster_id])
                .args(["--listener-url", &url])
                .args(["--advertised-listener-url", &url])
                .args(["--storage-engine", &format!("memory://{cluster_id}/")])
                .arg("--silent")
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut broker = Broker { child, port, dir };
            match broker.wait_ready() {
                Ok(()) => return broker,
                Err(why) => last_failure = why,
            }
        }
        panic!("nisshi broker did not start: {last_failure}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}; stderr:\n{}", self.stderr()));
            }
            if TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not accepting on port {} after {:?}; stderr:\n{}",
                    self.port,
                    START_DEADLINE,
                    self.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The broker's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `bootstrap_servers`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Cluster settings named `name` bootstrapping from this broker, with
    /// short timeouts for tests.
    pub fn settings(&self, name: &str) -> super::ClusterSettings {
        let mut s = super::ClusterSettings::new(name, vec![self.addr()]);
        s.request_timeout = Duration::from_secs(15);
        s.connect_timeout = Duration::from_secs(5);
        s.retry_backoff = Duration::from_millis(20);
        s.retry_backoff_max = Duration::from_millis(200);
        s
    }
}

/// Connects a cluster client with `settings`, retrying for up to 30 s: a
/// broker may accept TCP a moment before it serves Metadata. Panics when it
/// never connects.
pub async fn connect(settings: super::ClusterSettings) -> std::sync::Arc<super::ClusterClient> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match super::ClusterClient::connect(settings.clone()).await {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("cluster not ready yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot connect to {:?}: {e}", settings.bootstrap_servers),
        }
    }
}

/// Polls `check` every 50 ms until it is true; panics naming `what` when
/// `within` passes first.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
