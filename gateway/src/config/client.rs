//! Kafka client properties of one cluster, by the Java client's names, into
//! [`ClusterSettings`]: a `[clusters.ALIAS]` section of the file, or the
//! source properties of a link created through the REST API.
//!
//! Accepted: [`CLIENT_PROPERTIES`] (`bootstrap.servers`, timeouts) and the
//! connection security properties ([`crate::kafka::is_security_property`]:
//! `security.protocol`, `ssl.*`, `sasl.*`). Every value may be a config
//! provider reference ([`super::provider`]), resolved here.

use crate::kafka::{is_security_property, ClusterSettings, Security, SecurityProtocol};

use super::ConfigError;

/// Client properties other than security ones (Kafka client names).
pub const CLIENT_PROPERTIES: [&str; 3] = [
    "bootstrap.servers",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
];

/// Whether `name` is a Kafka client property of a cluster connection:
/// [`CLIENT_PROPERTIES`] or a security property.
pub fn is_client_property(name: &str) -> bool {
    CLIENT_PROPERTIES.contains(&name) || is_security_property(name)
}

/// `value` with its config provider references resolved; the error names
/// `key` and the reference, never a value.
pub(super) fn resolve(key: &str, value: &str) -> Result<String, ConfigError> {
    super::provider::resolve(key, value).map_err(|e| ConfigError::Invalid {
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// A comma-separated `host:port` list (`bootstrap.servers`), each entry
/// optionally prefixed with a listener protocol as in `SASL_SSL://host:9092`
/// (Confluent's examples); returns the addresses and the prefix's protocol
/// (every prefixed entry must name the same one).
///
/// # Errors
/// An empty list, an entry that is not `host:port`, an unknown or mixed
/// protocol prefix.
pub(super) fn parse_bootstrap(
    text: &str,
    key: &str,
) -> Result<(Vec<String>, Option<SecurityProtocol>), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        key: key.to_string(),
        message,
    };
    let mut servers = Vec::new();
    let mut prefix: Option<SecurityProtocol> = None;
    for entry in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let addr = match entry.split_once("://") {
            Some((proto, rest)) => {
                let p = SecurityProtocol::parse(proto)
                    .map_err(|m| invalid(format!("{entry:?}: the prefix {m}")))?;
                if prefix.is_some_and(|q| q != p) {
                    return Err(invalid(
                        "the entries name different security protocols".into(),
                    ));
                }
                prefix = Some(p);
                rest
            }
            None => entry,
        };
        let ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            return Err(invalid(format!("{entry:?} is not host:port")));
        }
        servers.push(addr.to_string());
    }
    if servers.is_empty() {
        return Err(invalid("must list at least one host:port".into()));
    }
    Ok((servers, prefix))
}

/// Builds a cluster's settings from client properties (`(name, value)`,
/// values unresolved), over `base` when given (an API link whose
/// `source_cluster_id` names an alias: properties given override it; when
/// any security property is given, the security comes from the properties
/// alone, else it is the base's). Without `base`, `bootstrap.servers` is
/// required (`missing_bootstrap` says what to do). `key` names a property in
/// errors. Properties that are not client properties are ignored.
///
/// # Errors
/// [`ConfigError::Invalid`] naming the property: a reference that does not
/// resolve, a bad address list or timeout, a `SASL_SSL://` prefix that
/// contradicts `security.protocol`, every security property error.
pub(super) fn cluster_settings(
    name: &str,
    client_id: &str,
    properties: &[(String, String)],
    base: Option<ClusterSettings>,
    key: &dyn Fn(&str) -> String,
    missing_bootstrap: &dyn Fn() -> String,
) -> Result<ClusterSettings, ConfigError> {
    let invalid = |property: &str, message: String| ConfigError::Invalid {
        key: key(property),
        message,
    };
    let mut resolved = Vec::new();
    for (prop, value) in properties.iter().filter(|(p, _)| is_client_property(p)) {
        resolved.push((prop.clone(), resolve(&key(prop), value)?));
    }
    let get = |p: &str| {
        resolved
            .iter()
            .find(|(k, _)| k == p)
            .map(|(_, v)| v.as_str())
    };
    let bootstrap = get("bootstrap.servers")
        .map(|text| parse_bootstrap(text, &key("bootstrap.servers")))
        .transpose()?;
    let mut settings = match (base, bootstrap.as_ref()) {
        (Some(mut base), servers) => {
            if let Some((servers, _)) = servers {
                base.bootstrap_servers = servers.clone();
            }
            base
        }
        (None, Some((servers, _))) => {
            let mut s = ClusterSettings::new(name, servers.clone());
            s.client_id = client_id.to_string();
            s
        }
        (None, None) => return Err(invalid("bootstrap.servers", missing_bootstrap())),
    };
    if let Some(text) = get("request.timeout.ms") {
        settings.request_timeout = super::parse_ms(&key("request.timeout.ms"), text)?;
    }
    if let Some(text) = get("socket.connection.setup.timeout.ms") {
        settings.connect_timeout =
            super::parse_ms(&key("socket.connection.setup.timeout.ms"), text)?;
    }
    let mut security: Vec<(String, String)> = resolved
        .iter()
        .filter(|(k, _)| is_security_property(k))
        .cloned()
        .collect();
    if let Some(prefixed) = bootstrap.and_then(|(_, p)| p) {
        match get("security.protocol").map(SecurityProtocol::parse) {
            Some(Ok(given)) if given != prefixed => {
                return Err(invalid(
                    "bootstrap.servers",
                    format!(
                        "the {}:// prefix contradicts security.protocol={}",
                        prefixed.name(),
                        given.name()
                    ),
                ))
            }
            Some(_) => {}
            None => security.push(("security.protocol".into(), prefixed.name().into())),
        }
    }
    if !security.is_empty() {
        settings.security =
            Security::from_properties(&security).map_err(|e| invalid(&e.property, e.message))?;
        if settings
            .security
            .tls
            .as_ref()
            .is_some_and(|t| !t.verify_hostname)
        {
            tracing::warn!(cluster = %settings.name, "ssl.endpoint.identification.algorithm is empty: broker certificates are checked against the truststore but not against the broker's host name");
        }
    }
    Ok(settings)
}
