//! A cluster's connection security, from the Java client's properties:
//! `security.protocol` (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`),
//! the `ssl.*` properties ([`super::tls`]) and the `sasl.*` properties
//! ([`super::sasl`]). Built once per config (re)load into [`Security`],
//! which every connection of the cluster shares.

use std::sync::Arc;

use super::sasl::SaslConfig;
use super::tls::{TlsSettings, TLS_PROPERTIES};
use crate::secret::{property_is_sensitive, Secret};

/// Kafka `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// No TLS, no SASL (the default).
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses Kafka's names (case-insensitive, as Kafka does).
    ///
    /// # Errors
    /// A message listing the four names.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(Self::Plaintext),
            "SSL" => Ok(Self::Ssl),
            "SASL_PLAINTEXT" => Ok(Self::SaslPlaintext),
            "SASL_SSL" => Ok(Self::SaslSsl),
            _ => Err(format!(
                "{text:?} is not a security protocol; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
            )),
        }
    }

    /// Kafka's name, e.g. `SASL_SSL`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections use TLS.
    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// A security property that cannot be used: its name and why. The message
/// never holds the value of a sensitive property.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{property}: {message}")]
pub struct SecurityPropertyError {
    /// The Kafka client property at fault, e.g. `ssl.truststore.location`.
    pub property: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

/// The SASL property names [`Security::from_properties`] reads
/// ([`super::sasl::PROPERTIES`]).
pub use super::sasl::PROPERTIES as SASL_PROPERTIES;

/// Whether `name` is a connection security property linkgate reads:
/// `security.protocol`, [`TLS_PROPERTIES`] or [`SASL_PROPERTIES`].
pub fn is_security_property(name: &str) -> bool {
    name == "security.protocol" || TLS_PROPERTIES.contains(&name) || SASL_PROPERTIES.contains(&name)
}

/// A cluster's connection security: the protocol, the TLS configuration
/// when the protocol uses TLS, the SASL configuration when it uses SASL.
/// Two values are equal when they were built from the same property values.
/// `Debug` shows no secret.
#[derive(Clone, Default)]
pub struct Security {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// Set exactly when `protocol` uses TLS.
    pub tls: Option<TlsSettings>,
    /// Set exactly when `protocol` uses SASL.
    pub sasl: Option<SaslConfig>,
    /// The resolved property values this was built from (for equality and
    /// for [`Security::scrub`]), sorted by name.
    properties: Arc<Vec<(String, Secret)>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls)
            .field("sasl", &self.sasl.as_ref().map(|s| s.mechanism().name()))
            .finish()
    }
}

impl PartialEq for Security {
    fn eq(&self, other: &Self) -> bool {
        self.properties == other.properties
    }
}

impl Security {
    /// Builds the security of a cluster from its properties: `(name,
    /// resolved value)` pairs, where only the names for which
    /// [`is_security_property`] holds are read (others are ignored here).
    ///
    /// Errors: a [`SecurityPropertyError`] naming the property at fault: an
    /// unknown protocol, TLS settings without TLS (`ssl.keystore.*` with
    /// `PLAINTEXT`), SASL settings without SASL, a SASL protocol without
    /// `sasl.jaas.config`, and every TLS or SASL property error.
    pub fn from_properties(properties: &[(String, String)]) -> Result<Self, SecurityPropertyError> {
        let mut own: Vec<(String, Secret)> = properties
            .iter()
            .filter(|(k, _)| is_security_property(k))
            .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
            .collect();
        own.sort_by(|a, b| a.0.cmp(&b.0));
        let get = |name: &str| {
            own.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.expose().to_string())
        };
        let protocol = match get("security.protocol") {
            Some(text) => {
                SecurityProtocol::parse(&text).map_err(|message| SecurityPropertyError {
                    property: "security.protocol".into(),
                    message,
                })?
            }
            None => SecurityProtocol::Plaintext,
        };
        let unused = |names: &[&str], needs: &str| -> Result<(), SecurityPropertyError> {
            // The endpoint check and the protocol list are harmless to leave
            // in a shared client.properties; stores and credentials are not.
            let ignorable = [
                "ssl.endpoint.identification.algorithm",
                "ssl.enabled.protocols",
            ];
            match names
                .iter()
                .find(|n| !ignorable.contains(n) && get(n).is_some_and(|v| !v.trim().is_empty()))
            {
                Some(n) => Err(SecurityPropertyError {
                    property: (*n).to_string(),
                    message: format!(
                        "is set but security.protocol is {}: set security.protocol to {needs} or remove it",
                        protocol.name()
                    ),
                }),
                None => Ok(()),
            }
        };
        let tls = if protocol.tls() {
            Some(TlsSettings::from_properties(&get)?)
        } else {
            unused(&TLS_PROPERTIES, "SSL or SASL_SSL")?;
            None
        };
        let sasl = if protocol.sasl() {
            let config = SaslConfig::from_properties(&get).map_err(|e| SecurityPropertyError {
                property: e.property,
                message: e.message,
            })?;
            Some(config)
        } else {
            unused(&SASL_PROPERTIES, "SASL_PLAINTEXT or SASL_SSL")?;
            None
        };
        Ok(Security {
            protocol,
            tls,
            sasl,
            properties: Arc::new(own),
        })
    }

    /// `text` with every secret of these settings (sensitive property
    /// values and the option values of `sasl.jaas.config`) replaced by
    /// `<redacted>`: for broker error messages, which can echo what was
    /// sent, before they are logged or returned.
    pub fn scrub(&self, text: &str) -> String {
        let mut secrets: Vec<&str> = Vec::new();
        for (name, value) in self.properties.iter() {
            if property_is_sensitive(name) {
                secrets.push(value.expose());
            }
        }
        if let Some(sasl) = &self.sasl {
            secrets.extend(sasl.secret_values());
        }
        crate::secret::scrub(text, secrets)
    }
}
