//! A throw-away PKI for one test, made with rcgen: a self-signed CA
//! ([`TestCa`]) issuing server and client certificates ([`TestCert`]),
//! including deliberately bad ones (wrong host name, expired) for the
//! failure cases.
//!
//! Every certificate and key is written as PEM into the CA's own temp
//! directory (removed when the CA and all its certificates are dropped) and
//! kept as PEM text too, so a test can hand a client either a file path
//! (`ssl.truststore.location`, `ssl.ca.location`) or the inline text
//! (`ssl.truststore.certificates`, `ssl.keystore.key`). Keys are ECDSA P-256
//! in unencrypted PKCS#8 (`BEGIN PRIVATE KEY`); [`TestCert::encrypted_key`]
//! adds a password-protected PKCS#8 copy (`BEGIN ENCRYPTED PRIVATE KEY`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use pkcs8::der::pem::LineEnding;
use pkcs8::pkcs5::pbes2;
use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use tempfile::TempDir;

use crate::process::temp_dir;

/// Host names and addresses a certificate for a loopback broker must cover:
/// `127.0.0.1` (as an IP address SAN) and `localhost` (as a DNS SAN).
pub const LOOPBACK_SANS: [&str; 2] = ["127.0.0.1", "localhost"];

/// The only SAN of [`TestCa::wrong_host_cert`]: a DNS name no test connects to.
pub const WRONG_HOST: &str = "wrong.example";

/// PBKDF2 iterations of [`TestCert::encrypted_key`] (low: test keys only).
const PBKDF2_ITERATIONS: u32 = 2048;

/// A self-signed certificate authority for one test, with its certificate
/// in `<dir>/<name>-ca.crt`.
pub struct TestCa {
    name: String,
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_path: PathBuf,
    dir: Arc<TempDir>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("name", &self.name)
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

/// Which side of a TLS connection a certificate is for (its extended key usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertUsage {
    /// `serverAuth`: a broker or proxy listener.
    Server,
    /// `clientAuth`: a client presenting a certificate (mTLS).
    Client,
}

/// What [`TestCa::issue`] puts into a certificate.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Subject common name; also the base of the file names.
    pub common_name: String,
    /// Subject alternative names: entries that parse as an IP address become
    /// IP address SANs, the others DNS name SANs.
    pub sans: Vec<String>,
    /// Server or client certificate.
    pub usage: CertUsage,
    /// When true, the validity ended in the past (2000-01-01 to 2001-01-01);
    /// else it runs from 1975 to 4096.
    pub expired: bool,
}

/// A certificate issued by a [`TestCa`] with its private key, as PEM files
/// and text. The files live in the CA's directory, which stays as long as
/// the CA or one of its certificates is alive.
#[derive(Clone)]
pub struct TestCert {
    name: String,
    cert_pem: String,
    chain_pem: String,
    key_pem: String,
    chain_path: PathBuf,
    key_path: PathBuf,
    keystore_path: PathBuf,
    ca_pem: String,
    ca_path: PathBuf,
    dir: Arc<TempDir>,
}

impl std::fmt::Debug for TestCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCert")
            .field("name", &self.name)
            .field("chain_path", &self.chain_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new self-signed CA with common name `linkgate test CA <name>`, its
    /// certificate written to `<dir>/<name>-ca.crt` in a new temp directory.
    ///
    /// # Errors
    /// Key generation, signing, or writing the file.
    pub fn new(name: &str) -> anyhow::Result<TestCa> {
        let dir = Arc::new(temp_dir(&format!("linkgate-pki-{name}-"))?);
        let key = KeyPair::generate().context("generating CA key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("linkgate test CA {name}"));
        dn.push(DnType::OrganizationName, "linkgate tests");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).context("self-signing CA")?;
        let cert_pem = cert.pem();
        let cert_path = dir.path().join(format!("{name}-ca.crt"));
        write(&cert_path, &cert_pem)?;
        Ok(TestCa {
            name: name.to_owned(),
            issuer: Issuer::new(params, key),
            cert_pem,
            cert_path,
            dir,
        })
    }

    /// The CA name given to [`TestCa::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA certificate as PEM text (one `CERTIFICATE` block).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Path of the PEM file holding the CA certificate.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The directory the CA writes its files into.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A server certificate (`serverAuth`) with common name `sans[0]` and
    /// the given SANs (IP addresses as IP SANs), valid from 1975 to 4096.
    /// For a loopback broker use [`LOOPBACK_SANS`].
    ///
    /// # Errors
    /// No SAN given, an invalid DNS name, signing or writing the files.
    pub fn server_cert(&self, sans: &[&str]) -> anyhow::Result<TestCert> {
        let common_name = sans.first().context("server_cert needs at least one SAN")?;
        self.issue(&CertSpec {
            common_name: (*common_name).to_owned(),
            sans: sans.iter().map(|s| (*s).to_owned()).collect(),
            usage: CertUsage::Server,
            expired: false,
        })
    }

    /// A client certificate (`clientAuth`) with subject common name `cn` and
    /// no SANs, valid from 1975 to 4096.
    ///
    /// # Errors
    /// Signing or writing the files.
    pub fn client_cert(&self, cn: &str) -> anyhow::Result<TestCert> {
        self.issue(&CertSpec {
            common_name: cn.to_owned(),
            sans: Vec::new(),
            usage: CertUsage::Client,
            expired: false,
        })
    }

    /// A valid server certificate whose only SAN is [`WRONG_HOST`]: a client
    /// checking the host name (`ssl.endpoint.identification.algorithm=https`)
    /// must refuse it for `127.0.0.1`/`localhost`.
    ///
    /// # Errors
    /// Signing or writing the files.
    pub fn wrong_host_cert(&self) -> anyhow::Result<TestCert> {
        self.issue(&CertSpec {
            common_name: WRONG_HOST.to_owned(),
            sans: vec![WRONG_HOST.to_owned()],
            usage: CertUsage::Server,
            expired: false,
        })
    }

    /// A server certificate for `sans` (as [`TestCa::server_cert`]) that
    /// expired on 2001-01-01; its file names start with `expired-`.
    ///
    /// # Errors
    /// No SAN given, signing or writing the files.
    pub fn expired_server_cert(&self, sans: &[&str]) -> anyhow::Result<TestCert> {
        let first = sans.first().context("expired_server_cert needs a SAN")?;
        self.issue(&CertSpec {
            common_name: format!("expired-{first}"),
            sans: sans.iter().map(|s| (*s).to_owned()).collect(),
            usage: CertUsage::Server,
            expired: true,
        })
    }

    /// A client certificate for `cn` that expired on 2001-01-01 (files
    /// `expired-<cn>.*`).
    ///
    /// # Errors
    /// Signing or writing the files.
    pub fn expired_client_cert(&self, cn: &str) -> anyhow::Result<TestCert> {
        self.issue(&CertSpec {
            common_name: format!("expired-{cn}"),
            sans: Vec::new(),
            usage: CertUsage::Client,
            expired: true,
        })
    }

    /// Issues a certificate as `spec` says, with a fresh ECDSA P-256 key,
    /// signed by this CA, and writes into the CA directory (`<cn>` with
    /// characters other than alphanumerics, `.` and `-` replaced by `_`):
    /// `<cn>.crt` (the leaf then the CA certificate), `<cn>.key` (PKCS#8 PEM)
    /// and `<cn>.pem` (key then chain, a Java PEM keystore file).
    ///
    /// # Errors
    /// An invalid DNS name, key generation, signing or writing the files.
    pub fn issue(&self, spec: &CertSpec) -> anyhow::Result<TestCert> {
        let key = KeyPair::generate().context("generating key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, spec.common_name.as_str());
        dn.push(DnType::OrganizationName, "linkgate tests");
        params.distinguished_name = dn;
        params.subject_alt_names = spec
            .sans
            .iter()
            .map(|s| match s.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => s
                    .clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .with_context(|| format!("invalid DNS name SAN {s:?}")),
            })
            .collect::<anyhow::Result<_>>()?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match spec.usage {
            CertUsage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            CertUsage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        if spec.expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let serial: [u8; 16] = rand::rng().random();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial[..15]));
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing certificate {}", spec.common_name))?;
        let name: String = spec
            .common_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let cert_pem = cert.pem();
        let chain_pem = format!("{cert_pem}{}", self.cert_pem);
        let key_pem = key.serialize_pem();
        let chain_path = self.dir.path().join(format!("{name}.crt"));
        let key_path = self.dir.path().join(format!("{name}.key"));
        let keystore_path = self.dir.path().join(format!("{name}.pem"));
        write(&chain_path, &chain_pem)?;
        write(&key_path, &key_pem)?;
        write(&keystore_path, &format!("{key_pem}{chain_pem}"))?;
        Ok(TestCert {
            name,
            cert_pem,
            chain_pem,
            key_pem,
            chain_path,
            key_path,
            keystore_path,
            ca_pem: self.cert_pem.clone(),
            ca_path: self.cert_path.clone(),
            dir: Arc::clone(&self.dir),
        })
    }
}

impl TestCert {
    /// The file base name (sanitised common name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The leaf certificate alone as PEM text.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The chain as PEM text: the leaf, then the issuing CA certificate.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The issuing CA's certificate as PEM text.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Path of the issuing CA's certificate file ([`TestCa::cert_path`]).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The private key as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Path of the chain PEM file (`<name>.crt`): what `nisshi --cert`,
    /// socat's `cert=` and librdkafka's `ssl.certificate.location` take.
    pub fn chain_path(&self) -> &Path {
        &self.chain_path
    }

    /// Path of the unencrypted PKCS#8 key file (`<name>.key`).
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// Path of `<name>.pem`: the key followed by the chain in one file (a
    /// Java client's `ssl.keystore.type=PEM` + `ssl.keystore.location`).
    pub fn keystore_path(&self) -> &Path {
        &self.keystore_path
    }

    /// The private key encrypted with `password` as PKCS#8 PEM (`BEGIN
    /// ENCRYPTED PRIVATE KEY`; PBES2 with PBKDF2-HMAC-SHA256, 2048
    /// iterations, and AES-256-CBC, which OpenSSL, librdkafka's
    /// `ssl.key.password` and Java read), written to `<name>.enc.key`.
    /// Returns the path and the PEM text.
    ///
    /// # Errors
    /// Parsing the key, encrypting or writing the file.
    pub fn encrypted_key(&self, password: &str) -> anyhow::Result<(PathBuf, String)> {
        let (_, der) = pkcs8::der::pem::decode_vec(self.key_pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("decoding key PEM: {e}"))?;
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| anyhow::anyhow!("parsing PKCS#8 key: {e}"))?;
        let mut rng = rand::rng();
        let salt: [u8; 16] = rng.random();
        let iv: [u8; 16] = rng.random();
        let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
            .map_err(|e| anyhow::anyhow!("PBES2 parameters: {e}"))?;
        let encrypted = info
            .encrypt_with_params(params, password)
            .map_err(|e| anyhow::anyhow!("encrypting PKCS#8 key: {e}"))?;
        let pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("encoding encrypted key PEM: {e}"))?
            .to_string();
        let path = self.dir.path().join(format!("{}.enc.key", self.name));
        write(&path, &pem)?;
        Ok((path, pem))
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_match_text_and_chain_ends_with_ca() {
        let ca = TestCa::new("unit").expect("ca");
        let server = ca.server_cert(&LOOPBACK_SANS).expect("server");
        assert_eq!(
            std::fs::read_to_string(ca.cert_path()).expect("ca file"),
            ca.cert_pem()
        );
        assert_eq!(
            std::fs::read_to_string(server.chain_path()).expect("chain"),
            server.chain_pem()
        );
        assert!(server.chain_pem().starts_with(server.cert_pem()));
        assert!(server.chain_pem().ends_with(ca.cert_pem()));
        assert!(server.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        let keystore = std::fs::read_to_string(server.keystore_path()).expect("keystore");
        assert_eq!(
            keystore,
            format!("{}{}", server.key_pem(), server.chain_pem())
        );
        let (path, pem) = server.encrypted_key("s3cret").expect("encrypted");
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{pem}"
        );
        assert_eq!(std::fs::read_to_string(path).expect("enc file"), pem);
        // The encrypted key decrypts back to the same key with the password only.
        let (_, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).expect("pem");
        let enc = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).expect("info");
        let plain = enc.decrypt("s3cret").expect("decrypt");
        let (_, key_der) = pkcs8::der::pem::decode_vec(server.key_pem().as_bytes()).expect("pem");
        assert_eq!(plain.as_bytes(), key_der.as_slice());
        assert!(enc.decrypt("wrong").is_err());
    }

    #[test]
    fn files_outlive_the_ca_while_a_cert_lives() {
        let ca = TestCa::new("scope").expect("ca");
        let client = ca.client_cert("alice").expect("client");
        drop(ca);
        assert!(client.chain_path().is_file());
        let dir = client.chain_path().parent().expect("dir").to_path_buf();
        drop(client);
        assert!(!dir.exists() || std::env::var_os(crate::KEEP_TEMP_ENV).is_some());
    }
}
