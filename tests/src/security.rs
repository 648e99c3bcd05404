//! How a test client reaches a secure broker: [`ClientSecurity`] holds the
//! security protocol, the CA to trust, an optional client certificate (mTLS)
//! and SASL credentials, and renders them as librdkafka properties
//! ([`ClientSecurity::apply`]) and as the Java-client property names the
//! gateway's cluster configs take ([`ClientSecurity::java_properties`],
//! [`ClientSecurity::java_properties_inline`]).

use std::path::{Path, PathBuf};

use rdkafka::config::ClientConfig;

use crate::tls::{TestCa, TestCert};

/// Kafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// `PLAINTEXT`: no TLS, no SASL.
    #[default]
    Plaintext,
    /// `SSL`: TLS, no SASL (a client certificate is optional).
    Ssl,
    /// `SASL_PLAINTEXT`: SASL over plain TCP.
    SaslPlaintext,
    /// `SASL_SSL`: SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The property value: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// True for `SSL` and `SASL_SSL`.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// True for `SASL_PLAINTEXT` and `SASL_SSL`.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// The protocol with TLS and SASL as given.
    pub fn from_parts(tls: bool, sasl: bool) -> Self {
        match (tls, sasl) {
            (false, false) => Self::Plaintext,
            (true, false) => Self::Ssl,
            (false, true) => Self::SaslPlaintext,
            (true, true) => Self::SaslSsl,
        }
    }
}

/// A SCRAM mechanism a nisshi broker can store credentials for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (`nisshi user create --mechanism scram256`).
    Sha256,
    /// SCRAM-SHA-512 (`nisshi user create --mechanism scram512`).
    Sha512,
}

impl ScramMechanism {
    /// The value of `nisshi user create --mechanism`: `scram256` or `scram512`.
    pub fn nisshi_name(self) -> &'static str {
        match self {
            Self::Sha256 => "scram256",
            Self::Sha512 => "scram512",
        }
    }
}

/// A SASL mechanism as a client names it (`sasl.mechanism(s)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN` (username and password in the clear inside the SASL exchange).
    Plain,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    Scram(ScramMechanism),
    /// `OAUTHBEARER` with an unsecured JWT whose `sub` is the username
    /// (librdkafka `enable.sasl.oauthbearer.unsecure.jwt`, Java
    /// `unsecuredLoginStringClaim_sub`); the password is not used.
    OAuthBearerUnsecured,
}

impl SaslMechanism {
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Scram(ScramMechanism::Sha256) => "SCRAM-SHA-256",
            Self::Scram(ScramMechanism::Sha512) => "SCRAM-SHA-512",
            Self::OAuthBearerUnsecured => "OAUTHBEARER",
        }
    }
}

impl From<ScramMechanism> for SaslMechanism {
    fn from(m: ScramMechanism) -> Self {
        Self::Scram(m)
    }
}

/// SASL mechanism and credentials of a client.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    /// The password (unused by OAUTHBEARER).
    pub password: String,
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A PEM file and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFile {
    /// Where the file is.
    pub path: PathBuf,
    /// What it holds.
    pub pem: String,
}

impl PemFile {
    /// Reads the PEM file at `path`.
    ///
    /// # Errors
    /// The file cannot be read as UTF-8 text.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            pem,
        })
    }
}

/// A client certificate with its key for mTLS.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain (leaf first).
    pub chain: PemFile,
    /// The private key, PKCS#8 PEM, encrypted when `key_password` is set.
    pub key: PemFile,
    /// A Java PEM keystore file: `key` followed by `chain`.
    pub keystore_path: PathBuf,
    /// The password of an encrypted `key`.
    pub key_password: Option<String>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain", &self.chain.path)
            .field("key", &self.key.path)
            .field("keystore_path", &self.keystore_path)
            .field(
                "key_password",
                &self.key_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ClientIdentity {
    /// The certificate of `cert` with its unencrypted key.
    pub fn from_cert(cert: &TestCert) -> Self {
        Self {
            chain: PemFile {
                path: cert.chain_path().to_path_buf(),
                pem: cert.chain_pem().to_owned(),
            },
            key: PemFile {
                path: cert.key_path().to_path_buf(),
                pem: cert.key_pem().to_owned(),
            },
            keystore_path: cert.keystore_path().to_path_buf(),
            key_password: None,
        }
    }

    /// The certificate of `cert` with its key encrypted by `password` (see
    /// [`TestCert::encrypted_key`]); also writes a keystore file
    /// `<name>.enc.pem` holding the encrypted key and the chain.
    ///
    /// # Errors
    /// Encrypting or writing the files.
    pub fn from_cert_encrypted(cert: &TestCert, password: &str) -> anyhow::Result<Self> {
        let (key_path, key_pem) = cert.encrypted_key(password)?;
        let keystore_path = key_path.with_file_name(format!("{}.enc.pem", cert.name()));
        std::fs::write(&keystore_path, format!("{key_pem}{}", cert.chain_pem()))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", keystore_path.display()))?;
        Ok(Self {
            chain: PemFile {
                path: cert.chain_path().to_path_buf(),
                pem: cert.chain_pem().to_owned(),
            },
            key: PemFile {
                path: key_path,
                pem: key_pem,
            },
            keystore_path,
            key_password: Some(password.to_owned()),
        })
    }
}

/// The security settings of one client: protocol, trusted CA, client
/// certificate and SASL credentials. Build it with the constructors and
/// `with_*` methods, or set the public fields directly (a test of a broken
/// setup may combine them any way it likes: nothing is checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSecurity {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// The CA certificate(s) to trust for TLS; `None` leaves the client's
    /// default (the system trust store).
    pub ca: Option<PemFile>,
    /// A client certificate to present (mTLS).
    pub identity: Option<ClientIdentity>,
    /// SASL mechanism and credentials (used with the `SASL_*` protocols).
    pub sasl: Option<SaslCredentials>,
    /// Check the broker's host name against its certificate
    /// (`ssl.endpoint.identification.algorithm=https`, the default); when
    /// false the algorithm is set to none (librdkafka `none`, Java empty).
    pub skip_host_check: bool,
    /// Further librdkafka properties, set last by [`ClientSecurity::apply`]
    /// (e.g. `enable.ssl.certificate.verification=false`); not part of the
    /// Java properties.
    pub librdkafka_extra: Vec<(String, String)>,
}

impl ClientSecurity {
    /// `PLAINTEXT`: what the existing plaintext helpers use.
    pub fn plaintext() -> Self {
        Self::default()
    }

    /// `SSL` trusting `ca`.
    pub fn ssl(ca: &TestCa) -> Self {
        Self {
            protocol: SecurityProtocol::Ssl,
            ca: Some(ca_file(ca)),
            ..Self::default()
        }
    }

    /// `SASL_PLAINTEXT` with SCRAM (or another mechanism) as `username`.
    pub fn sasl_plaintext(
        mechanism: impl Into<SaslMechanism>,
        username: &str,
        password: &str,
    ) -> Self {
        Self {
            protocol: SecurityProtocol::SaslPlaintext,
            ..Self::default()
        }
        .with_sasl(mechanism, username, password)
    }

    /// `SASL_SSL` trusting `ca`, authenticating as `username`.
    pub fn sasl_ssl(
        ca: &TestCa,
        mechanism: impl Into<SaslMechanism>,
        username: &str,
        password: &str,
    ) -> Self {
        Self {
            protocol: SecurityProtocol::SaslSsl,
            ca: Some(ca_file(ca)),
            ..Self::default()
        }
        .with_sasl(mechanism, username, password)
    }

    /// Sets the SASL credentials and turns the protocol into its `SASL_*`
    /// form (`PLAINTEXT` -> `SASL_PLAINTEXT`, `SSL` -> `SASL_SSL`).
    pub fn with_sasl(
        mut self,
        mechanism: impl Into<SaslMechanism>,
        username: &str,
        password: &str,
    ) -> Self {
        self.sasl = Some(SaslCredentials {
            mechanism: mechanism.into(),
            username: username.to_owned(),
            password: password.to_owned(),
        });
        self.protocol = SecurityProtocol::from_parts(self.protocol.uses_tls(), true);
        self
    }

    /// Presents `cert` (unencrypted key) as the client certificate.
    pub fn with_client_cert(mut self, cert: &TestCert) -> Self {
        self.identity = Some(ClientIdentity::from_cert(cert));
        self
    }

    /// Presents `cert` with its key encrypted by `password` (the client
    /// gets `ssl.key.password`).
    ///
    /// # Errors
    /// Encrypting or writing the key files.
    pub fn with_encrypted_client_cert(
        mut self,
        cert: &TestCert,
        password: &str,
    ) -> anyhow::Result<Self> {
        self.identity = Some(ClientIdentity::from_cert_encrypted(cert, password)?);
        Ok(self)
    }

    /// Trusts the PEM file `ca` instead of the current CA.
    pub fn with_ca(mut self, ca: PemFile) -> Self {
        self.ca = Some(ca);
        self
    }

    /// Turns host name verification off (see [`ClientSecurity::skip_host_check`]).
    pub fn without_host_check(mut self) -> Self {
        self.skip_host_check = true;
        self
    }

    /// Adds a librdkafka property to [`ClientSecurity::librdkafka_extra`].
    pub fn with_librdkafka(mut self, name: &str, value: &str) -> Self {
        self.librdkafka_extra.push(prop(name, value));
        self
    }

    /// The librdkafka properties of these settings, in the order
    /// [`ClientSecurity::apply`] sets them: `security.protocol`; with TLS
    /// `ssl.endpoint.identification.algorithm` (`https` or `none`),
    /// `ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`,
    /// `ssl.key.password`; with SASL `sasl.mechanisms`, `sasl.username`,
    /// `sasl.password` (for OAUTHBEARER instead
    /// `enable.sasl.oauthbearer.unsecure.jwt=true` and
    /// `sasl.oauthbearer.config=principal=<username>`). TLS settings are
    /// only written for `SSL`/`SASL_SSL`, SASL settings only for `SASL_*`;
    /// then [`ClientSecurity::librdkafka_extra`].
    pub fn librdkafka_properties(&self) -> Vec<(String, String)> {
        let mut out = vec![prop("security.protocol", self.protocol.name())];
        if self.protocol.uses_tls() {
            let algorithm = if self.skip_host_check {
                "none"
            } else {
                "https"
            };
            out.push(prop("ssl.endpoint.identification.algorithm", algorithm));
            if let Some(ca) = &self.ca {
                out.push(prop("ssl.ca.location", &path_text(&ca.path)));
            }
            if let Some(id) = &self.identity {
                out.push(prop("ssl.certificate.location", &path_text(&id.chain.path)));
                out.push(prop("ssl.key.location", &path_text(&id.key.path)));
                if let Some(password) = &id.key_password {
                    out.push(prop("ssl.key.password", password));
                }
            }
        }
        if let (true, Some(sasl)) = (self.protocol.uses_sasl(), &self.sasl) {
            out.push(prop("sasl.mechanisms", sasl.mechanism.name()));
            match sasl.mechanism {
                SaslMechanism::OAuthBearerUnsecured => {
                    out.push(prop("enable.sasl.oauthbearer.unsecure.jwt", "true"));
                    out.push(prop(
                        "sasl.oauthbearer.config",
                        &format!("principal={}", sasl.username),
                    ));
                }
                _ => {
                    out.push(prop("sasl.username", &sasl.username));
                    out.push(prop("sasl.password", &sasl.password));
                }
            }
        }
        out.extend(self.librdkafka_extra.iter().cloned());
        out
    }

    /// Sets [`ClientSecurity::librdkafka_properties`] on `config`.
    pub fn apply(&self, config: &mut ClientConfig) {
        for (k, v) in self.librdkafka_properties() {
            config.set(k, v);
        }
    }

    /// The same settings as Java Kafka client properties (what linkgate's
    /// cluster and link configs take), with files by path:
    /// `security.protocol`; with TLS `ssl.endpoint.identification.algorithm`
    /// (`https`, or empty to skip), `ssl.truststore.type=PEM` +
    /// `ssl.truststore.location`, `ssl.keystore.type=PEM` +
    /// `ssl.keystore.location` (key and chain in one file) and
    /// `ssl.key.password` for an encrypted key; with SASL `sasl.mechanism`
    /// and `sasl.jaas.config` (`ScramLoginModule`, `PlainLoginModule` or
    /// `OAuthBearerLoginModule` with `unsecuredLoginStringClaim_sub`;
    /// quotes and backslashes in values escaped with a backslash).
    pub fn java_properties(&self) -> Vec<(String, String)> {
        self.java(false)
    }

    /// Like [`ClientSecurity::java_properties`] but with the PEM text inline
    /// instead of file paths: `ssl.truststore.certificates` (CA PEM),
    /// `ssl.keystore.certificate.chain` and `ssl.keystore.key` (chain and
    /// key PEM), each with `ssl.*.type=PEM`.
    pub fn java_properties_inline(&self) -> Vec<(String, String)> {
        self.java(true)
    }

    fn java(&self, inline: bool) -> Vec<(String, String)> {
        let mut out = vec![prop("security.protocol", self.protocol.name())];
        if self.protocol.uses_tls() {
            let algorithm = if self.skip_host_check { "" } else { "https" };
            out.push(prop("ssl.endpoint.identification.algorithm", algorithm));
            if let Some(ca) = &self.ca {
                out.push(prop("ssl.truststore.type", "PEM"));
                if inline {
                    out.push(prop("ssl.truststore.certificates", &ca.pem));
                } else {
                    out.push(prop("ssl.truststore.location", &path_text(&ca.path)));
                }
            }
            if let Some(id) = &self.identity {
                out.push(prop("ssl.keystore.type", "PEM"));
                if inline {
                    out.push(prop("ssl.keystore.certificate.chain", &id.chain.pem));
                    out.push(prop("ssl.keystore.key", &id.key.pem));
                } else {
                    out.push(prop("ssl.keystore.location", &path_text(&id.keystore_path)));
                }
                if let Some(password) = &id.key_password {
                    out.push(prop("ssl.key.password", password));
                }
            }
        }
        if let (true, Some(sasl)) = (self.protocol.uses_sasl(), &self.sasl) {
            out.push(prop("sasl.mechanism", sasl.mechanism.name()));
            out.push(prop("sasl.jaas.config", &jaas_config(sasl)));
        }
        out
    }
}

/// The `sasl.jaas.config` value of a Java client for `sasl`.
fn jaas_config(sasl: &SaslCredentials) -> String {
    let user = jaas_quote(&sasl.username);
    let password = jaas_quote(&sasl.password);
    match sasl.mechanism {
        SaslMechanism::Plain => format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username={user} password={password};"
        ),
        SaslMechanism::Scram(_) => format!(
            "org.apache.kafka.common.security.scram.ScramLoginModule required \
             username={user} password={password};"
        ),
        SaslMechanism::OAuthBearerUnsecured => format!(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub={user};"
        ),
    }
}

/// `"value"` with `\` and `"` escaped by a backslash (JAAS config quoting).
fn jaas_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn ca_file(ca: &TestCa) -> PemFile {
    PemFile {
        path: ca.cert_path().to_path_buf(),
        pem: ca.cert_pem().to_owned(),
    }
}

fn prop(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::LOOPBACK_SANS;

    fn get<'a>(props: &'a [(String, String)], name: &str) -> Option<&'a str> {
        props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn plaintext_sets_only_the_protocol() {
        let p = ClientSecurity::plaintext();
        assert_eq!(
            p.librdkafka_properties(),
            vec![prop("security.protocol", "PLAINTEXT")]
        );
        assert_eq!(p.java_properties(), p.librdkafka_properties());
    }

    #[test]
    fn sasl_ssl_scram_with_client_cert() {
        let ca = TestCa::new("props").expect("ca");
        let client = ca.client_cert("bob").expect("client");
        let _server = ca.server_cert(&LOOPBACK_SANS).expect("server");
        let sec = ClientSecurity::ssl(&ca)
            .with_client_cert(&client)
            .with_sasl(ScramMechanism::Sha512, "bob", "p\"w\\x");
        assert_eq!(sec.protocol, SecurityProtocol::SaslSsl);
        let r = sec.librdkafka_properties();
        assert_eq!(get(&r, "security.protocol"), Some("SASL_SSL"));
        assert_eq!(get(&r, "sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(get(&r, "sasl.username"), Some("bob"));
        assert_eq!(get(&r, "sasl.password"), Some("p\"w\\x"));
        assert_eq!(
            get(&r, "ssl.ca.location"),
            Some(ca.cert_path().to_str().expect("utf-8"))
        );
        assert_eq!(
            get(&r, "ssl.certificate.location"),
            Some(client.chain_path().to_str().expect("utf-8"))
        );
        assert_eq!(
            get(&r, "ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        let j = sec.java_properties();
        assert_eq!(get(&j, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(
            get(&j, "sasl.jaas.config"),
            Some(
                "org.apache.kafka.common.security.scram.ScramLoginModule required \
                 username=\"bob\" password=\"p\\\"w\\\\x\";"
            )
        );
        assert_eq!(get(&j, "ssl.truststore.type"), Some("PEM"));
        assert_eq!(
            get(&j, "ssl.keystore.location"),
            Some(client.keystore_path().to_str().expect("utf-8"))
        );
        assert_eq!(get(&j, "ssl.truststore.certificates"), None);
        let i = sec.java_properties_inline();
        assert_eq!(get(&i, "ssl.truststore.certificates"), Some(ca.cert_pem()));
        assert_eq!(
            get(&i, "ssl.keystore.certificate.chain"),
            Some(client.chain_pem())
        );
        assert_eq!(get(&i, "ssl.keystore.key"), Some(client.key_pem()));
        assert_eq!(get(&i, "ssl.truststore.location"), None);
        assert_eq!(get(&i, "ssl.key.password"), None);
    }

    #[test]
    fn encrypted_key_adds_password_and_skip_host_check() {
        let ca = TestCa::new("enc").expect("ca");
        let client = ca.client_cert("carol").expect("client");
        let sec = ClientSecurity::ssl(&ca)
            .with_encrypted_client_cert(&client, "kpw")
            .expect("encrypted")
            .without_host_check();
        let r = sec.librdkafka_properties();
        assert_eq!(get(&r, "ssl.key.password"), Some("kpw"));
        assert_eq!(
            get(&r, "ssl.endpoint.identification.algorithm"),
            Some("none")
        );
        assert!(get(&r, "ssl.key.location").is_some_and(|p| p.ends_with(".enc.key")));
        let j = sec.java_properties();
        assert_eq!(get(&j, "ssl.endpoint.identification.algorithm"), Some(""));
        assert_eq!(get(&j, "ssl.key.password"), Some("kpw"));
        let keystore = get(&j, "ssl.keystore.location").expect("keystore");
        let text = std::fs::read_to_string(keystore).expect("keystore file");
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(text.ends_with(client.chain_pem()));
        assert!(!format!("{sec:?}").contains("kpw"), "password in Debug");
    }

    #[test]
    fn sasl_plaintext_leaves_tls_out_and_oauth_has_no_password() {
        let sec = ClientSecurity::sasl_plaintext(ScramMechanism::Sha256, "u", "p");
        let r = sec.librdkafka_properties();
        assert_eq!(get(&r, "security.protocol"), Some("SASL_PLAINTEXT"));
        assert_eq!(get(&r, "ssl.endpoint.identification.algorithm"), None);
        assert_eq!(get(&r, "sasl.mechanisms"), Some("SCRAM-SHA-256"));
        let oauth = ClientSecurity::sasl_plaintext(SaslMechanism::OAuthBearerUnsecured, "svc", "");
        let r = oauth.librdkafka_properties();
        assert_eq!(get(&r, "sasl.oauthbearer.config"), Some("principal=svc"));
        assert_eq!(get(&r, "sasl.password"), None);
        let j = oauth.java_properties();
        assert!(
            get(&j, "sasl.jaas.config").is_some_and(|v| v.contains("OAuthBearerLoginModule")
                && v.contains("unsecuredLoginStringClaim_sub=\"svc\""))
        );
        let plain = ClientSecurity::sasl_plaintext(SaslMechanism::Plain, "u", "p");
        assert!(get(&plain.java_properties(), "sasl.jaas.config")
            .is_some_and(|v| v.contains("PlainLoginModule")));
    }
}
