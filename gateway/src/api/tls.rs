//! TLS of the REST API (TLS 1.2 and 1.3, RFC 8446, with rustls and its
//! `ring` provider): the `rustls::ServerConfig` ([`ApiTls`]) built from
//! the checked settings of `[gateway] api_tls_cert`, `api_tls_key` and
//! `api_tls_client_ca` ([`ApiTlsSettings`], read at config load), and the
//! listener that runs one handshake per connection off the accept loop.
//!
//! - [`ApiTls::new`]: TLS 1.2 and 1.3, ALPN `http/1.1`, the settings'
//!   certificate and key, and with a client CA rustls'
//!   `WebPkiClientVerifier` (without a certificate signed by it, the
//!   handshake fails). [`ApiTls::load`] reads the files first.
//! - The PEM readers ([`read_pem`], [`certificates_from_pem`],
//!   [`private_key_from_pem`], [`read_certificates`], [`read_private_key`])
//!   are the config's, re-exported here for the CLI's `--api-ca`,
//!   `--api-cert` and `--api-key`.
//! - `TlsListener`: an `axum::serve::Listener` fed by handshake tasks, each
//!   with a deadline of [`HANDSHAKE_TIMEOUT`], so a slow or hostile client
//!   holds only its own connection. Failed handshakes are logged at debug
//!   with the peer address and reason.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

pub use crate::config::api_tls::{
    certificates_from_pem, crypto_provider, private_key_from_pem, read_certificates, read_pem,
    read_private_key, ApiTlsSettings, TlsFile, TlsFileError, MAX_PEM_BYTES,
};

/// Deadline of one TLS handshake, from TCP accept to the handshake's end.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most handshakes in progress at once; further connections wait in the
/// kernel's accept queue until one ends (at the latest after
/// [`HANDSHAKE_TIMEOUT`]).
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// The ALPN protocol offered: the API serves HTTP/1.1 only.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The REST API's rustls server config, built from [`ApiTlsSettings`].
/// Cheap to clone (the `rustls::ServerConfig` is shared). `Debug` shows the
/// paths, never the key.
#[derive(Clone)]
pub struct ApiTls {
    config: Arc<ServerConfig>,
    settings: ApiTlsSettings,
}

impl fmt::Debug for ApiTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiTls")
            .field("cert", &self.settings.cert_path())
            .field("key", &"<redacted>")
            .field("client_ca", &self.settings.client_ca_path())
            .finish()
    }
}

impl ApiTls {
    /// Reads and checks the PEM files ([`ApiTlsSettings::load`]) and builds
    /// the server config from them ([`ApiTls::new`]).
    ///
    /// # Errors
    /// As those two.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsFileError> {
        Self::new(&ApiTlsSettings::load(cert, key, client_ca)?)
    }

    /// The server config of checked settings: TLS 1.2 and 1.3, ALPN
    /// `http/1.1`, the settings' chain and key, and with a client CA a
    /// client certificate required (rustls `WebPkiClientVerifier`).
    ///
    /// # Errors
    /// [`TlsFileError`] naming the file rustls refused (the settings'
    /// checks make this unexpected).
    pub fn new(settings: &ApiTlsSettings) -> Result<Self, TlsFileError> {
        let fail = |file: TlsFile, path: &Path| {
            let path = path.to_path_buf();
            move |reason: String| TlsFileError::new(file, &path, reason)
        };
        let cert = settings.cert_path();
        let provider = crypto_provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(TlsFile::Cert, cert)(format!("TLS setup failed: {e}")))?;
        let builder = match (settings.client_roots(), settings.client_ca_path()) {
            (Some(roots), Some(ca)) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider)
                    .build()
                    .map_err(|e| fail(TlsFile::ClientCa, ca)(format!("unusable client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(settings.chain().to_vec(), settings.private_key())
            .map_err(|e| fail(TlsFile::Cert, cert)(format!("unusable certificate: {e}")))?;
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Self {
            config: Arc::new(config),
            settings: settings.clone(),
        })
    }

    /// The rustls server config.
    pub fn server_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Whether clients must present a certificate (`api_tls_client_ca`).
    pub fn requires_client_certificate(&self) -> bool {
        self.settings.requires_client_certificate()
    }
}

/// A finished TLS connection and its peer.
type Ready = (TlsStream<TcpStream>, SocketAddr);

/// An `axum::serve::Listener` of TLS connections: a task accepts TCP
/// connections and runs each handshake on its own task (deadline
/// [`HANDSHAKE_TIMEOUT`], at most [`MAX_PENDING_HANDSHAKES`] at once);
/// finished connections arrive over a channel. Dropping it stops the
/// accept task and the handshakes in progress, and closes the socket.
pub(crate) struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<Ready>,
    acceptor: JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl TlsListener {
    /// Starts accepting on `listener` (bound to `local_addr`) with
    /// `config`. Must be called inside a Tokio runtime.
    pub(crate) fn start(
        listener: TcpListener,
        local_addr: SocketAddr,
        config: Arc<ServerConfig>,
    ) -> Self {
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        Self {
            local_addr,
            ready,
            acceptor,
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task ended (it only does when the channel closes,
            // or it was aborted): no more connections; axum stops calling
            // this at shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// Accepts TCP connections until `tx` closes, one handshake task each.
async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<Ready>) {
    let mut handshakes = JoinSet::new();
    loop {
        if handshakes.len() >= MAX_PENDING_HANDSHAKES {
            tokio::select! {
                _ = handshakes.join_next() => continue,
                () = tx.closed() => return,
            }
        }
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(&e).await;
                    continue;
                }
            },
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
            () = tx.closed() => return,
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    // Fails only when the server stopped meanwhile.
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer, error = %e, "REST API TLS handshake failed");
                }
                Err(_) => tracing::debug!(
                    peer = %peer,
                    timeout_s = HANDSHAKE_TIMEOUT.as_secs(),
                    "REST API TLS handshake timed out"
                ),
            }
        });
    }
}

/// An accept error: a connection that was reset before it was accepted is
/// skipped; any other error (e.g. out of file descriptors) is logged and
/// accepting pauses for a second, so it cannot spin or flood the log.
async fn accept_error(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "REST API cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
