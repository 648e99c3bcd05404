//! TLS to brokers (`security.protocol` `SSL` / `SASL_SSL`) through rustls:
//! the client configuration built from the Java client's `ssl.*` properties
//! (PEM stores only), the handshake, and its failures in words.
//!
//! - Trust: `ssl.truststore.location` (PEM file) or
//!   `ssl.truststore.certificates` (inline PEM); neither: the system's roots
//!   (`rustls-native-certs`).
//! - Client certificate (mTLS): `ssl.keystore.location` (one PEM file with
//!   chain and key) or `ssl.keystore.certificate.chain` + `ssl.keystore.key`
//!   (inline PEM); `ssl.key.password` decrypts an encrypted PKCS#8 key.
//! - `ssl.endpoint.identification.algorithm`: `https` (default: the
//!   certificate must name the broker's host or IP) or empty (chain still
//!   verified, host name not).
//! - `ssl.enabled.protocols`: `TLSv1.2`, `TLSv1.3` (default both).
//!
//! SNI is sent for host names (not for IP addresses, RFC 6066 section 3).
//! Sessions are not resumed: every connection runs a full handshake.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::security::SecurityPropertyError;
use crate::secret::Secret;

/// TLS settings of one cluster: a ready rustls client configuration.
/// Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<rustls::ClientConfig>,
    /// `ssl.endpoint.identification.algorithm=https`.
    pub verify_hostname: bool,
    /// Whether a client certificate is configured (mTLS).
    pub client_auth: bool,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("verify_hostname", &self.verify_hostname)
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

/// The `ssl.*` property names [`TlsSettings::from_properties`] reads.
pub const TLS_PROPERTIES: [&str; 12] = [
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "ssl.enabled.protocols",
];

/// Largest PEM file read for a trust or key store (1 MiB).
const MAX_PEM_FILE_BYTES: u64 = 1024 * 1024;

fn prop_err(property: &str, message: impl Into<String>) -> SecurityPropertyError {
    SecurityPropertyError {
        property: property.to_string(),
        message: message.into(),
    }
}

/// Reads a PEM file named by `property`, bounded by [`MAX_PEM_FILE_BYTES`].
fn read_pem_file(property: &str, path: &str) -> Result<Vec<u8>, SecurityPropertyError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| prop_err(property, format!("cannot read {path}: {e}")))?;
    if meta.len() > MAX_PEM_FILE_BYTES {
        return Err(prop_err(
            property,
            format!(
                "{path} is {} bytes; a PEM store is at most {MAX_PEM_FILE_BYTES} bytes",
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(|e| prop_err(property, format!("cannot read {path}: {e}")))
}

/// The message for a JKS or PKCS12 store: how to convert it to PEM.
fn not_pem(property: &str, kind: &str) -> SecurityPropertyError {
    let how = if property.starts_with("ssl.truststore") {
        "keytool -exportcert -rfc -keystore truststore.jks -alias <alias> > ca.pem \
         (or: openssl pkcs12 -in truststore.p12 -nokeys -out ca.pem), then \
         ssl.truststore.type=PEM and ssl.truststore.location=ca.pem"
    } else {
        "openssl pkcs12 -in keystore.p12 -out keystore.pem (for JKS first: keytool \
         -importkeystore -srckeystore keystore.jks -destkeystore keystore.p12 \
         -deststoretype PKCS12), then ssl.keystore.type=PEM and \
         ssl.keystore.location=keystore.pem"
    };
    prop_err(
        property,
        format!("{kind} stores are not supported, only PEM; convert it: {how}"),
    )
}

fn certificates(
    property: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, SecurityPropertyError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| prop_err(property, format!("not valid PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(prop_err(
            property,
            "holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)",
        ));
    }
    Ok(certs)
}

/// The private key in `pem`: an `ENCRYPTED PRIVATE KEY` (PKCS#8, decrypted
/// with `password`), or a plain PKCS#8, PKCS#1 or SEC1 key.
fn private_key(
    property: &str,
    pem: &[u8],
    password: Option<&Secret>,
) -> Result<PrivateKeyDer<'static>, SecurityPropertyError> {
    const BEGIN: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &[u8] = b"-----END ENCRYPTED PRIVATE KEY-----";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    if let Some(start) = find(pem, BEGIN) {
        let Some(password) = password else {
            return Err(prop_err(
                property,
                "the private key is encrypted: set ssl.key.password",
            ));
        };
        let block = pem
            .get(start..)
            .and_then(|rest| find(rest, END).and_then(|end| rest.get(..end + END.len())))
            .ok_or_else(|| prop_err(property, "the encrypted private key block has no END line"))?;
        let (_, der) = pkcs8::der::pem::decode_vec(block).map_err(|e| {
            prop_err(
                property,
                format!("the encrypted private key is not valid PEM: {e}"),
            )
        })?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| {
            prop_err(
                property,
                format!("the encrypted private key is not PKCS#8: {e}"),
            )
        })?;
        let doc = info.decrypt(password.expose()).map_err(|_| {
            prop_err(
                "ssl.key.password",
                "cannot decrypt the private key (wrong password or unsupported cipher; \
                 PBES2 with AES is supported)",
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            doc.as_bytes().to_vec(),
        )));
    }
    if password.is_some() {
        return Err(prop_err(
            "ssl.key.password",
            "is set but the private key is not encrypted (no ENCRYPTED PRIVATE KEY block); \
             remove ssl.key.password or encrypt the key",
        ));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        prop_err(
            property,
            format!("holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })
}

impl TlsSettings {
    /// Builds the TLS client configuration from `ssl.*` properties, read by
    /// name through `get` (already resolved; `None` when unset).
    ///
    /// Errors: a [`SecurityPropertyError`] naming the property at fault:
    /// a JKS/PKCS12 store (with how to convert it), an unreadable or empty
    /// PEM, both a file and an inline value, a chain without a key, an
    /// encrypted key without (or with a wrong) `ssl.key.password`, an
    /// unknown protocol version. Messages never hold key material.
    pub fn from_properties(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SecurityPropertyError> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        for store in ["ssl.truststore.type", "ssl.keystore.type"] {
            if let Some(kind) = set(store) {
                let kind = kind.trim().to_ascii_uppercase();
                if kind != "PEM" {
                    return Err(not_pem(store, &kind));
                }
            }
        }
        for pw in ["ssl.truststore.password", "ssl.keystore.password"] {
            if set(pw).is_some() {
                return Err(prop_err(
                    pw,
                    "is not used with PEM stores (Kafka refuses it too); an encrypted key's \
                     password goes in ssl.key.password",
                ));
            }
        }

        // Trust anchors.
        let mut roots = RootCertStore::empty();
        let trust =
            match (
                set("ssl.truststore.location"),
                set("ssl.truststore.certificates"),
            ) {
                (Some(_), Some(_)) => return Err(prop_err(
                    "ssl.truststore.certificates",
                    "set either ssl.truststore.location or ssl.truststore.certificates, not both",
                )),
                (Some(path), None) => Some((
                    "ssl.truststore.location",
                    read_pem_file("ssl.truststore.location", path.trim())?,
                )),
                (None, Some(pem)) => Some(("ssl.truststore.certificates", pem.into_bytes())),
                (None, None) => None,
            };
        match trust {
            Some((property, pem)) => {
                for cert in certificates(property, &pem)? {
                    roots.add(cert).map_err(|e| {
                        prop_err(property, format!("a certificate is not a usable CA: {e}"))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(prop_err(
                        "ssl.truststore.location",
                        "no truststore is configured and the system has no CA certificates; \
                         set ssl.truststore.location to a PEM file of the CAs to trust",
                    ));
                }
            }
        }

        // Protocol versions.
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        match set("ssl.enabled.protocols") {
            None => versions.extend([&rustls::version::TLS13, &rustls::version::TLS12]),
            Some(list) => {
                for v in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    match v {
                        "TLSv1.3" => versions.push(&rustls::version::TLS13),
                        "TLSv1.2" => versions.push(&rustls::version::TLS12),
                        other => {
                            return Err(prop_err(
                                "ssl.enabled.protocols",
                                format!("{other:?} is not supported; use TLSv1.2 and/or TLSv1.3"),
                            ))
                        }
                    }
                }
                if versions.is_empty() {
                    return Err(prop_err(
                        "ssl.enabled.protocols",
                        "lists no protocol; use TLSv1.2,TLSv1.3",
                    ));
                }
            }
        }

        let verify_hostname = match get("ssl.endpoint.identification.algorithm") {
            None => true,
            Some(v) if v.trim().eq_ignore_ascii_case("https") => true,
            Some(v) if v.trim().is_empty() => false,
            Some(v) => {
                return Err(prop_err(
                    "ssl.endpoint.identification.algorithm",
                    format!("{v:?} is not supported; use https (default) or an empty value"),
                ))
            }
        };

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| prop_err("ssl.enabled.protocols", e.to_string()))?;
        let roots = Arc::new(roots);
        let builder = if verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| prop_err("ssl.truststore.location", e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoHostnameVerifier { inner }))
        };

        // Client certificate.
        let key_password = set("ssl.key.password").map(Secret::new);
        let identity = match (
            set("ssl.keystore.location"),
            set("ssl.keystore.certificate.chain"),
            set("ssl.keystore.key"),
        ) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(prop_err(
                    "ssl.keystore.location",
                    "set either ssl.keystore.location or ssl.keystore.certificate.chain with \
                     ssl.keystore.key, not both",
                ))
            }
            (Some(path), None, None) => {
                let pem = read_pem_file("ssl.keystore.location", path.trim())?;
                Some((
                    certificates("ssl.keystore.location", &pem)?,
                    private_key("ssl.keystore.location", &pem, key_password.as_ref())?,
                ))
            }
            (None, Some(chain), Some(key)) => Some((
                certificates("ssl.keystore.certificate.chain", chain.as_bytes())?,
                private_key("ssl.keystore.key", key.as_bytes(), key_password.as_ref())?,
            )),
            (None, Some(_), None) => {
                return Err(prop_err(
                    "ssl.keystore.key",
                    "required with ssl.keystore.certificate.chain",
                ))
            }
            (None, None, Some(_)) => {
                return Err(prop_err(
                    "ssl.keystore.certificate.chain",
                    "required with ssl.keystore.key",
                ))
            }
            (None, None, None) => {
                if key_password.is_some() {
                    return Err(prop_err(
                        "ssl.key.password",
                        "is set but no keystore is configured",
                    ));
                }
                None
            }
        };
        let client_auth = identity.is_some();
        let mut config = match identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                prop_err(
                    "ssl.keystore.key",
                    format!("the key does not match the certificate or is unsupported: {e}"),
                )
            })?,
            None => builder.with_no_client_auth(),
        };
        // No session resumption (librdkafka does none either): an OpenSSL
        // server that verifies client certificates without a session id
        // context answers every resumption attempt with an internal_error
        // alert, which would fail connections at random.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(TlsSettings {
            config: Arc::new(config),
            verify_hostname,
            client_auth,
        })
    }

    /// Runs the TLS handshake on `tcp` to the broker at `host` (the host part
    /// of its `host:port` address: a DNS name, sent as SNI, or an IP address).
    ///
    /// Errors: the reason in words ([`describe_tls_error`]); the caller
    /// wraps it with the cluster and address.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> Result<TlsStream<TcpStream>, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare.to_string())
            .map_err(|_| format!("{host:?} is not a valid host name or IP address for TLS"))?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| describe_tls_error(&e, host))
    }
}

/// A TLS handshake failure in words, for an operator: what failed and which
/// setting to check.
pub fn describe_tls_error(e: &std::io::Error, host: &str) -> String {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::UnknownIssuer => {
                "the broker's certificate is not signed by a trusted CA (unknown issuer); \
                 check ssl.truststore.location / ssl.truststore.certificates"
                    .to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "hostname mismatch: the broker's certificate is not valid for {host}; fix the \
                 certificate's subject alternative names, connect with a name it lists, or set \
                 ssl.endpoint.identification.algorithm= (empty) to skip the host check"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the broker's certificate has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the broker's certificate is not valid yet (check the clocks)".to_string()
            }
            CertificateError::Revoked => "the broker's certificate is revoked".to_string(),
            CertificateError::BadEncoding => "the broker's certificate does not decode".to_string(),
            CertificateError::BadSignature => {
                "the broker's certificate has a bad signature".to_string()
            }
            other => format!("the broker's certificate was refused: {other:?}"),
        },
        Some(rustls::Error::AlertReceived(alert)) => match alert {
            rustls::AlertDescription::CertificateRequired
            | rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::HandshakeFailure => format!(
                "the broker refused the handshake ({alert:?}); if it requires a client \
                 certificate (mTLS), check ssl.keystore.* and that the broker trusts its CA"
            ),
            other => format!("the broker sent TLS alert {other:?}"),
        },
        Some(rustls::Error::InvalidMessage(_))
        | Some(rustls::Error::InappropriateMessage { .. }) => {
            "the broker did not answer with TLS; is this a PLAINTEXT or SASL_PLAINTEXT listener? \
             check security.protocol"
                .to_string()
        }
        Some(other) => format!("TLS error: {other}"),
        None => match e.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => format!(
                "the broker closed the connection during the TLS handshake ({e}); is this a \
                 PLAINTEXT or SASL_PLAINTEXT listener, or does it require a client certificate? \
                 check security.protocol and ssl.keystore.*"
            ),
            _ => format!("TLS handshake failed: {e}"),
        },
    }
}

/// Verifies the broker's chain like rustls does but accepts a certificate
/// that does not name the host (`ssl.endpoint.identification.algorithm=`).
#[derive(Debug)]
struct NoHostnameVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for NoHostnameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_pki::{PemDir, TestCa};

    fn build(props: &[(&str, &str)]) -> Result<TlsSettings, SecurityPropertyError> {
        let get = |name: &str| {
            props
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        TlsSettings::from_properties(&get)
    }

    fn err(props: &[(&str, &str)]) -> SecurityPropertyError {
        build(props).expect_err("refused")
    }

    #[test]
    fn pem_stores_file_and_inline() {
        let ca = TestCa::new("ca");
        let client = ca.client("linkgate");
        let dir = PemDir::new();
        let ca_file = dir.write("ca.pem", &ca.cert_pem());
        let keystore = dir.write(
            "client.pem",
            &format!("{}{}", client.cert_pem, client.key_pem),
        );
        let ca_path = ca_file.display().to_string();
        let ks_path = keystore.display().to_string();
        let by_file = build(&[
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &ca_path),
            ("ssl.keystore.type", "pem"),
            ("ssl.keystore.location", &ks_path),
        ])
        .unwrap();
        assert!(by_file.client_auth && by_file.verify_hostname);
        let ca_pem = ca.cert_pem();
        let inline = build(&[
            ("ssl.truststore.certificates", &ca_pem),
            ("ssl.keystore.certificate.chain", &client.cert_pem),
            ("ssl.keystore.key", &client.key_pem),
            ("ssl.endpoint.identification.algorithm", ""),
        ])
        .unwrap();
        assert!(inline.client_auth && !inline.verify_hostname);
        // Debug shows no key material.
        assert!(!format!("{inline:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn jks_and_pkcs12_are_refused_with_how_to_convert() {
        let e = err(&[("ssl.truststore.type", "JKS")]);
        assert_eq!(e.property, "ssl.truststore.type");
        assert!(
            e.message.contains("keytool") && e.message.contains("PEM"),
            "{e}"
        );
        let e = err(&[("ssl.keystore.type", "PKCS12")]);
        assert_eq!(e.property, "ssl.keystore.type");
        assert!(e.message.contains("openssl pkcs12"), "{e}");
        let e = err(&[("ssl.truststore.password", "changeit")]);
        assert!(!e.to_string().contains("changeit"), "{e}");
    }

    #[test]
    fn bad_stores_name_the_property_and_never_quote_keys() {
        let ca = TestCa::new("ca");
        let client = ca.client("linkgate");
        let e = err(&[("ssl.truststore.location", "/nonexistent/ca.pem")]);
        assert_eq!(e.property, "ssl.truststore.location");
        assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
        let e = err(&[("ssl.truststore.certificates", "not a pem")]);
        assert_eq!(e.property, "ssl.truststore.certificates");
        let ca_pem = ca.cert_pem();
        let e = err(&[
            ("ssl.truststore.certificates", &ca_pem),
            ("ssl.truststore.location", "/etc/ca.pem"),
        ]);
        assert!(e.message.contains("not both"), "{e}");
        let e = err(&[
            ("ssl.truststore.certificates", &ca_pem),
            ("ssl.keystore.certificate.chain", &client.cert_pem),
        ]);
        assert_eq!(e.property, "ssl.keystore.key");
        let e = err(&[
            ("ssl.truststore.certificates", &ca_pem),
            ("ssl.keystore.certificate.chain", &client.cert_pem),
            ("ssl.keystore.key", &client.key_pem),
            ("ssl.key.password", "pw-1234"),
        ]);
        assert_eq!(e.property, "ssl.key.password");
        assert!(e.message.contains("not encrypted"), "{e}");
        // A key of another certificate.
        let other = ca.client("other");
        let e = err(&[
            ("ssl.truststore.certificates", &ca_pem),
            ("ssl.keystore.certificate.chain", &client.cert_pem),
            ("ssl.keystore.key", &other.key_pem),
        ]);
        assert_eq!(e.property, "ssl.keystore.key");
        for e in [e.to_string(), format!("{e:?}")] {
            assert!(!e.contains("PRIVATE KEY"), "{e}");
        }
        let e = err(&[
            ("ssl.truststore.certificates", &ca_pem),
            ("ssl.enabled.protocols", "TLSv1.1"),
        ]);
        assert_eq!(e.property, "ssl.enabled.protocols");
        let e = err(&[
            ("ssl.truststore.certificates", &ca_pem),
            ("ssl.endpoint.identification.algorithm", "ldap"),
        ]);
        assert_eq!(e.property, "ssl.endpoint.identification.algorithm");
    }
}
