//! TLS of the REST API (TLS 1.2 and 1.3, RFC 8446, with rustls and its
//! `ring` provider): the PEM files of `[gateway] api_tls_cert`,
//! `api_tls_key` and `api_tls_client_ca` read and checked into an
//! [`ApiTls`] (a `rustls::ServerConfig`), and the listener that runs one
//! handshake per connection off the accept loop.
//!
//! - [`ApiTls::load`]: certificate chain, private key (PKCS#8, PKCS#1 or
//!   SEC1) that must match the chain's first certificate, and optionally
//!   the CA every client certificate must chain to (rustls
//!   `WebPkiClientVerifier`: without a certificate signed by it, the
//!   handshake fails).
//! - [`read_pem`], [`certificates_from_pem`], [`private_key_from_pem`]
//!   (and [`read_certificates`], [`read_private_key`]): the PEM readers,
//!   also used by the CLI for `--api-ca`, `--api-cert` and `--api-key`.
//! - `TlsListener`: an `axum::serve::Listener` fed by handshake tasks, each
//!   with a deadline of [`HANDSHAKE_TIMEOUT`], so a slow or hostile client
//!   holds only its own connection. Failed handshakes are logged at debug
//!   with the peer address and reason.
//!
//! Error texts name the file and what is wrong with it, never the file's
//! content (a key file holds a secret).

use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Deadline of one TLS handshake, from TCP accept to the handshake's end.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most handshakes in progress at once; further connections wait in the
/// kernel's accept queue until one ends (at the latest after
/// [`HANDSHAKE_TIMEOUT`]).
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// Largest PEM file read, in bytes (a certificate chain or a key is a few
/// KiB; a larger file is not one).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The ALPN protocol offered: the API serves HTTP/1.1 only.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The crypto provider of every TLS connection of the API and its CLI:
/// rustls' `ring` provider.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Which file of the API's TLS settings an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// `api_tls_cert`: the server's certificate chain.
    Cert,
    /// `api_tls_key`: the server's private key.
    Key,
    /// `api_tls_client_ca`: the CA of client certificates.
    ClientCa,
}

/// A TLS file that cannot be used: which one, its path and what is wrong
/// (never its content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TlsFileError {
    /// Which setting names the file.
    pub file: TlsFile,
    /// The path as configured.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// The bytes of the PEM file at `path`, at most [`MAX_PEM_BYTES`].
///
/// # Errors
/// A reason in words: the I/O error, or "larger than ..." for a bigger
/// file.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "larger than {MAX_PEM_BYTES} bytes: not a PEM certificate or key file"
        ));
    }
    Ok(bytes)
}

/// A PEM parse error in words, without any of the file's bytes (the
/// parser's own messages can quote a line of it).
fn pem_reason(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => {
            "malformed PEM: a `-----BEGIN` block has no matching `-----END` line".into()
        }
        pem::Error::IllegalSectionStart { .. } => {
            "malformed PEM: a `-----BEGIN` line is malformed".into()
        }
        pem::Error::Base64Decode(_) => "malformed PEM: a block is not valid base64".into(),
        pem::Error::Io(e) => format!("cannot read: {e}"),
        pem::Error::NoItemsFound => "no PEM block found".into(),
        pem::Error::SectionTooLarge => "malformed PEM: a block is too large".into(),
        _ => "malformed PEM".into(),
    }
}

/// The certificates (`-----BEGIN CERTIFICATE-----` blocks, in file order)
/// of PEM text; other blocks are skipped.
///
/// # Errors
/// A reason in words: malformed PEM or no certificate.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_reason(&e))?;
    if certs.is_empty() {
        return Err(
            "no certificate in it (expected PEM `-----BEGIN CERTIFICATE-----` blocks)".into(),
        );
    }
    Ok(certs)
}

/// The first private key of PEM text: PKCS#8 (`PRIVATE KEY`), PKCS#1
/// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
///
/// # Errors
/// A reason in words, never the key: malformed PEM or no unencrypted key.
pub fn private_key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => "no private key in it (expected a PEM `PRIVATE KEY`, \
                                     `RSA PRIVATE KEY` or `EC PRIVATE KEY` block; encrypted \
                                     keys are not supported)"
            .to_string(),
        other => pem_reason(&other),
    })
}

/// The certificates of the PEM file at `path` ([`read_pem`],
/// [`certificates_from_pem`]).
///
/// # Errors
/// As those two.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    certificates_from_pem(&read_pem(path)?)
}

/// The private key of the PEM file at `path` ([`read_pem`],
/// [`private_key_from_pem`]).
///
/// # Errors
/// As those two; never the key.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    private_key_from_pem(&read_pem(path)?)
}

/// The TLS settings of the REST API, checked: the server's certificate
/// chain and key, and optionally the CA of client certificates. Cheap to
/// clone (the `rustls::ServerConfig` is shared). `Debug` shows the paths,
/// never the key.
#[derive(Clone)]
pub struct ApiTls {
    config: Arc<ServerConfig>,
    cert: PathBuf,
    client_ca: Option<PathBuf>,
}

impl fmt::Debug for ApiTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiTls")
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .field("client_ca", &self.client_ca)
            .finish()
    }
}

impl ApiTls {
    /// Reads and checks the PEM files: `cert` (certificate chain, end
    /// entity first), `key` (its private key: PKCS#8, PKCS#1 or SEC1;
    /// RSA, ECDSA or Ed25519) and `client_ca` (CA certificates; when
    /// given, every client must present a certificate that chains to one
    /// of them). TLS 1.2 and 1.3, ALPN `http/1.1`.
    ///
    /// # Errors
    /// [`TlsFileError`] naming the file: unreadable, malformed PEM, no
    /// certificate, no key, a key the provider cannot use, a key that does
    /// not match the chain's first certificate, or a client CA that is not
    /// a usable CA certificate.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsFileError> {
        let fail = |file: TlsFile, path: &Path| {
            let path = path.display().to_string();
            move |reason: String| TlsFileError { file, path, reason }
        };
        let provider = crypto_provider();
        let chain = read_certificates(cert).map_err(fail(TlsFile::Cert, cert))?;
        let key_der = read_private_key(key).map_err(fail(TlsFile::Key, key))?;
        let signing_key = provider
            .key_provider
            .load_private_key(key_der.clone_key())
            .map_err(|e| fail(TlsFile::Key, key)(format!("unusable private key: {e}")))?;
        match CertifiedKey::new(chain.clone(), signing_key).keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(fail(TlsFile::Key, key)(format!(
                    "the private key does not match the certificate of {}",
                    cert.display()
                )))
            }
            Err(e) => {
                return Err(fail(TlsFile::Cert, cert)(format!(
                    "unusable certificate: {e}"
                )))
            }
        }
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(TlsFile::Cert, cert)(format!("TLS setup failed: {e}")))?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in read_certificates(ca).map_err(fail(TlsFile::ClientCa, ca))? {
                    roots.add(c).map_err(|e| {
                        fail(TlsFile::ClientCa, ca)(format!("not a usable CA certificate: {e}"))
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| {
                            fail(TlsFile::ClientCa, ca)(format!("unusable client CA: {e}"))
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key_der)
            .map_err(|e| fail(TlsFile::Cert, cert)(format!("unusable certificate: {e}")))?;
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Self {
            config: Arc::new(config),
            cert: cert.to_path_buf(),
            client_ca: client_ca.map(Path::to_path_buf),
        })
    }

    /// The rustls server config.
    pub fn server_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Whether clients must present a certificate (`api_tls_client_ca`).
    pub fn requires_client_certificate(&self) -> bool {
        self.client_ca.is_some()
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
