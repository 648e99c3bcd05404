//! The REST API's TLS settings as config data ([`ApiTlsSettings`]): the
//! PEM files of `[gateway] api_tls_cert`, `api_tls_key` and
//! `api_tls_client_ca`, read and checked at config load (the key matches
//! the chain's first certificate, the client CA certificates are usable
//! trust anchors), and the PEM readers ([`read_pem`],
//! [`certificates_from_pem`], [`private_key_from_pem`],
//! [`read_certificates`], [`read_private_key`]) the API and the CLI share.
//! The rustls server setup built from these settings is the API's
//! (`api::tls`).
//!
//! Error texts name the file and what is wrong with it, never the file's
//! content (a key file holds a secret).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Largest PEM file read, in bytes (a certificate chain or a key is a few
/// KiB; a larger file is not one).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

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

impl TlsFileError {
    /// The error about `file` at `path`, with `reason`.
    pub fn new(file: TlsFile, path: &Path, reason: String) -> Self {
        Self {
            file,
            path: path.display().to_string(),
            reason,
        }
    }
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

/// The TLS settings of the REST API, read and checked: the server's
/// certificate chain and key, and optionally the CA certificates of client
/// certificates. Cheap to clone (the material is shared). `Debug` shows the
/// paths, never the key.
#[derive(Clone)]
pub struct ApiTlsSettings {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    chain: Arc<Vec<CertificateDer<'static>>>,
    key_der: Arc<PrivateKeyDer<'static>>,
    client_roots: Option<Arc<RootCertStore>>,
}

impl fmt::Debug for ApiTlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiTlsSettings")
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .field("client_ca", &self.client_ca)
            .finish()
    }
}

impl ApiTlsSettings {
    /// Reads and checks the PEM files: `cert` (certificate chain, end
    /// entity first), `key` (its private key: PKCS#8, PKCS#1 or SEC1;
    /// RSA, ECDSA or Ed25519, usable by [`crypto_provider`]) and
    /// `client_ca` (CA certificates; when given, every client must present
    /// a certificate that chains to one of them).
    ///
    /// # Errors
    /// [`TlsFileError`] naming the file: unreadable, malformed PEM, no
    /// certificate, no key, a key the provider cannot use, a key that does
    /// not match the chain's first certificate, or a client CA that is not
    /// a usable CA certificate.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsFileError> {
        let fail = |file: TlsFile, path: &Path| {
            let path = path.to_path_buf();
            move |reason: String| TlsFileError::new(file, &path, reason)
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
        let client_roots = match client_ca {
            None => None,
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in read_certificates(ca).map_err(fail(TlsFile::ClientCa, ca))? {
                    roots.add(c).map_err(|e| {
                        fail(TlsFile::ClientCa, ca)(format!("not a usable CA certificate: {e}"))
                    })?;
                }
                Some(Arc::new(roots))
            }
        };
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            client_ca: client_ca.map(Path::to_path_buf),
            chain: Arc::new(chain),
            key_der: Arc::new(key_der),
            client_roots,
        })
    }

    /// `api_tls_cert`, as configured (resolved against the config file's
    /// directory).
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// `api_tls_key`, as configured.
    pub fn key_path(&self) -> &Path {
        &self.key
    }

    /// `api_tls_client_ca`, as configured, if any.
    pub fn client_ca_path(&self) -> Option<&Path> {
        self.client_ca.as_deref()
    }

    /// The server's certificate chain, end entity first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The server's private key.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        self.key_der.clone_key()
    }

    /// The CA certificates client certificates must chain to, if any.
    pub fn client_roots(&self) -> Option<&Arc<RootCertStore>> {
        self.client_roots.as_ref()
    }

    /// Whether clients must present a certificate (`api_tls_client_ca`).
    pub fn requires_client_certificate(&self) -> bool {
        self.client_ca.is_some()
    }
}
