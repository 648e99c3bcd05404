//! [`LinkDefinition`]: a cluster link created through the REST API, as
//! persisted in its destination cluster's state topic under `link/{name}`
//! (JSON, see [`crate::mirror::state`]), and its conversion to a running
//! [`LinkConfig`](crate::config::LinkConfig) with the validation the config file's links get
//! ([`GatewayConfig::api_link`]).
//!
//! In memory the definition holds every property as given, secrets
//! included. In the state topic a sensitive property ([`property_is_sensitive`])
//! is either a config provider reference (`${env:NAME}`, `${file:...}`,
//! kept as written and resolved when the link is built) or sealed with the
//! gateway's `[gateway] secrets_key` ([`crate::secret::sealed`], bound to
//! `link/{name}/{property}`); without a key an inline secret is refused.
//! Secrets never leave through logs, errors or the API: the `Debug` output
//! redacts every sensitive property, and the API hides their values.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::provider::has_reference;
use crate::config::{ConfigError, GatewayConfig, LinkBuild};
use crate::control::ControlError;
use crate::secret::property_is_sensitive;
use crate::secret::sealed::{self, SealingKey};

/// A link created through the API. JSON shape:
/// `{"name": "l", "destination": "<alias>", "source_cluster_id": null | "id",
///   "configs": [["bootstrap.servers", "h:9092"], ...], "created_ms": 1700000000000}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDefinition {
    /// Link name (unique in the gateway).
    pub name: String,
    /// Destination cluster: a `[clusters]` alias of the gateway config.
    pub destination: String,
    /// `source_cluster_id` as given at creation: a `[clusters]` alias or the
    /// source's Kafka cluster id; `None` when not given.
    pub source_cluster_id: Option<String>,
    /// Link properties by name, text values, in the order given (each name
    /// once).
    pub configs: Vec<(String, String)>,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
}

impl std::fmt::Debug for LinkDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let configs = crate::secret::redacted(&self.configs);
        f.debug_struct("LinkDefinition")
            .field("name", &self.name)
            .field("destination", &self.destination)
            .field("source_cluster_id", &self.source_cluster_id)
            .field("configs", &configs)
            .field("created_ms", &self.created_ms)
            .finish()
    }
}

/// A persisted link definition that cannot be read back (written by an
/// incompatible linkgate or damaged). Not retriable: the record must be
/// rewritten or deleted.
#[derive(Debug, thiserror::Error)]
#[error("link definition {key} in the state topic is not valid JSON of a link: {message}")]
pub struct DefinitionError {
    /// The state topic key, `link/{name}`.
    pub key: String,
    /// The JSON parser's error kind and position (line, column), never the
    /// record's content.
    pub message: String,
}

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl LinkDefinition {
    /// A definition created now.
    pub fn new(
        name: impl Into<String>,
        destination: impl Into<String>,
        source_cluster_id: Option<String>,
        configs: Vec<(String, String)>,
    ) -> Self {
        Self {
            name: name.into(),
            destination: destination.into(),
            source_cluster_id,
            configs,
            created_ms: now_ms(),
        }
    }

    /// Where a sealed property value belongs: `link/{name}/{property}`.
    fn aad(&self, property: &str) -> String {
        format!("link/{}/{property}", self.name)
    }

    /// Whether a property value is an inline secret: a sensitive property
    /// whose value is not a config provider reference.
    fn inline_secret(name: &str, value: &str) -> bool {
        property_is_sensitive(name) && !value.is_empty() && !has_reference(value)
    }

    /// The JSON value stored under `link/{name}`: every inline secret
    /// sealed with `key` (references kept as written).
    ///
    /// # Errors
    /// [`ControlError::InvalidConfig`] naming the property when an inline
    /// secret cannot be sealed (no key: [`LinkDefinition::check_secrets`]
    /// says so first; a value over 1 MiB).
    pub fn to_json(&self, key: Option<&SealingKey>) -> Result<Vec<u8>, ControlError> {
        self.check_secrets(key)?;
        let mut stored = self.clone();
        for (k, v) in &mut stored.configs {
            if let (true, Some(key)) = (Self::inline_secret(k, v), key) {
                *v = sealed::seal(key, &self.aad(k), v).map_err(|e| {
                    ControlError::InvalidConfig {
                        key: k.clone(),
                        message: e.to_string(),
                    }
                })?;
            }
        }
        serde_json::to_vec(&stored).map_err(|e| ControlError::InvalidConfig {
            key: "configs".into(),
            message: format!("cannot be written as JSON: {:?}", e.classify()),
        })
    }

    /// Refuses a definition whose inline secrets could not be stored
    /// sealed: without `key` every sensitive property must be a config
    /// provider reference.
    ///
    /// # Errors
    /// [`ControlError::InvalidConfig`] naming the first such property, with
    /// how to configure a key or use a reference.
    pub fn check_secrets(&self, key: Option<&SealingKey>) -> Result<(), ControlError> {
        if key.is_some() {
            return Ok(());
        }
        match self.configs.iter().find(|(k, v)| Self::inline_secret(k, v)) {
            None => Ok(()),
            Some((k, _)) => Err(ControlError::InvalidConfig {
                key: k.clone(),
                message: "is a secret given inline, and links created through the API are \
                          stored in the destination's state topic, where linkgate never writes a \
                          secret in clear: set [gateway] secrets_key (32 random bytes as base64, \
                          e.g. `openssl rand -base64 32`; usually secrets_key = \
                          \"${env:LINKGATE_SECRETS_KEY}\") so that it is stored encrypted, or give \
                          the value as a reference such as ${env:NAME}, \
                          ${file:/path/creds.properties:key} or ${directory:/path:file}"
                    .into(),
            }),
        }
    }

    /// Reads a stored definition; `name` is the link name of its key.
    /// Sealed values are opened with `key`.
    ///
    /// # Errors
    /// [`DefinitionError`] when the bytes are not a definition, name
    /// another link than their key, or hold a sealed value that `key` does
    /// not open (no key, another key, damaged).
    pub fn from_json(
        name: &str,
        json: &[u8],
        sealing_key: Option<&SealingKey>,
    ) -> Result<Self, DefinitionError> {
        let key = format!("link/{name}");
        // serde_json's Display can quote the record's values (`invalid
        // type: string "..."`), secrets included: report only the kind of
        // error and where.
        let def: Self = serde_json::from_slice(json).map_err(|e| DefinitionError {
            key: key.clone(),
            message: format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
        if def.name != name {
            return Err(DefinitionError {
                key,
                message: format!("the record names link {:?}", def.name),
            });
        }
        let mut def = def;
        let aads: Vec<String> = def.configs.iter().map(|(k, _)| def.aad(k)).collect();
        for ((k, v), aad) in def.configs.iter_mut().zip(aads) {
            if !sealed::is_sealed(v) {
                continue;
            }
            let Some(sealing) = sealing_key else {
                return Err(DefinitionError {
                    key,
                    message: format!(
                        "property {k} is sealed but the gateway has no [gateway] secrets_key; \
                         configure the key it was sealed with"
                    ),
                });
            };
            *v = sealed::open(sealing, &aad, v)
                .map_err(|e| DefinitionError {
                    key: key.clone(),
                    message: format!("property {k}: {e}"),
                })?
                .expose()
                .to_string();
        }
        Ok(def)
    }

    /// The value of property `name`, if set.
    pub fn config(&self, name: &str) -> Option<&str> {
        self.configs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This definition with `set` properties set (replacing a value in
    /// place, or appended) and `reset` properties removed (back to their
    /// defaults).
    pub fn with_changes(&self, set: &[(String, String)], reset: &[String]) -> Self {
        let mut next = self.clone();
        next.configs.retain(|(k, _)| !reset.contains(k));
        for (k, v) in set {
            match next.configs.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v.clone(),
                None => next.configs.push((k.clone(), v.clone())),
            }
        }
        next
    }

    /// Validates the definition against the gateway config: the link's
    /// [`crate::config::LinkConfig`] and the plugins serving its
    /// properties.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the property at fault (see
    /// [`GatewayConfig::api_link`]).
    pub fn build(&self, cfg: &GatewayConfig) -> Result<LinkBuild, ConfigError> {
        self.check_secrets(cfg.secrets_key.as_ref())
            .map_err(|e| match e {
                ControlError::InvalidConfig { key, message } => {
                    ConfigError::Invalid { key, message }
                }
                other => ConfigError::Invalid {
                    key: "configs".into(),
                    message: other.to_string(),
                },
            })?;
        cfg.api_link(
            &self.name,
            &self.destination,
            self.source_cluster_id.as_deref(),
            &self.configs,
        )
    }
}

/// A config error of a link request as the control plane reports it:
/// [`ControlError::InvalidConfig`] naming the property (never its value
/// when it is sensitive: config messages do not quote values of
/// properties they do not parse).
pub fn invalid_config(e: ConfigError) -> ControlError {
    match e {
        ConfigError::Invalid { key, message } => ControlError::InvalidConfig { key, message },
        other => ControlError::InvalidConfig {
            key: "configs".to_string(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::sealed::SealingKey;

    fn def() -> LinkDefinition {
        LinkDefinition::new(
            "east",
            "dst",
            None,
            vec![
                ("bootstrap.servers".into(), "127.0.0.1:9092".into()),
                (
                    "sasl.jaas.config".into(),
                    "user=\"a\" password=\"hunter2\"".into(),
                ),
            ],
        )
    }

    #[test]
    fn json_round_trip_in_the_contract_shape() {
        let d = def();
        let (key, _) = SealingKey::generate();
        let json = d.to_json(Some(&key)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["name"], "east");
        assert_eq!(v["destination"], "dst");
        assert!(v["source_cluster_id"].is_null());
        assert_eq!(v["configs"][0][0], "bootstrap.servers");
        assert_eq!(v["configs"][0][1], "127.0.0.1:9092");
        assert!(v["created_ms"].as_i64().unwrap() > 0);
        assert_eq!(
            LinkDefinition::from_json("east", &json, Some(&key)).unwrap(),
            d
        );
        let e = LinkDefinition::from_json("west", &json, Some(&key)).unwrap_err();
        assert!(e.to_string().contains("link/west"), "{e}");
        let e = LinkDefinition::from_json("east", b"{oops", Some(&key)).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }

    #[test]
    fn inline_secrets_are_sealed_references_kept() {
        let (key, _) = SealingKey::generate();
        let d = def();
        let json = d.to_json(Some(&key)).unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("sealed:v1:"), "{text}");
        // No key, another key, another link name: refused, naming the property.
        for e in [
            LinkDefinition::from_json("east", &json, None).unwrap_err(),
            LinkDefinition::from_json("east", &json, Some(&SealingKey::generate().0)).unwrap_err(),
        ] {
            let e = e.to_string();
            assert!(
                e.contains("sasl.jaas.config") && !e.contains("hunter2"),
                "{e}"
            );
        }
        let moved = text.replace("\"east\"", "\"west\"");
        assert!(LinkDefinition::from_json("west", moved.as_bytes(), Some(&key)).is_err());
        // Without a key an inline secret is refused; a reference is stored as written.
        let e = d.to_json(None).unwrap_err().to_string();
        assert!(
            e.contains("secrets_key") && e.contains("${env:") && !e.contains("hunter2"),
            "{e}"
        );
        let mut by_ref = def();
        by_ref.configs[1].1 = "${file:/etc/linkgate/creds.properties:jaas}".into();
        let json = by_ref.to_json(None).unwrap();
        assert!(String::from_utf8(json.clone())
            .unwrap()
            .contains("${file:/etc/linkgate/creds.properties:jaas}"));
        assert_eq!(
            LinkDefinition::from_json("east", &json, None).unwrap(),
            by_ref
        );
    }

    #[test]
    fn debug_redacts_sensitive_properties() {
        let shown = format!("{:?}", def());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("127.0.0.1:9092"));
        let req = crate::control::NewLink {
            link_name: "east".into(),
            destination_cluster: "dst".into(),
            source_cluster_id: None,
            configs: def().configs,
            validate_only: false,
            validate_link: true,
        };
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("127.0.0.1:9092"),
            "{shown}"
        );
        let change = crate::control::LinkConfigChange {
            link_name: "east".into(),
            set: def().configs,
            reset: vec![],
            validate_only: false,
        };
        let shown = format!("{change:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn damaged_record_errors_do_not_quote_values() {
        let json = br#"{"name":"east","destination":"dst","source_cluster_id":null,
            "configs":[["sasl.jaas.config","hunter2"]],"created_ms":"hunter2"}"#;
        let e = LinkDefinition::from_json("east", json, None).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn changes_replace_append_and_reset() {
        let d = def().with_changes(
            &[
                ("bootstrap.servers".into(), "h:1".into()),
                ("cluster.link.paused".into(), "true".into()),
            ],
            &["sasl.jaas.config".into()],
        );
        assert_eq!(
            d.configs,
            vec![
                ("bootstrap.servers".to_string(), "h:1".to_string()),
                ("cluster.link.paused".to_string(), "true".to_string())
            ]
        );
        assert_eq!(d.config("cluster.link.paused"), Some("true"));
        assert_eq!(d.config("nope"), None);
    }

    #[test]
    fn builds_a_link_config() {
        let cfg = GatewayConfig::parse(
            "[clusters.dst]\n\"bootstrap.servers\" = \"127.0.0.1:9093\"\n",
            "t",
        )
        .unwrap();
        let mut d = def();
        d.configs.truncate(1);
        let b = d.build(&cfg).unwrap();
        assert_eq!(b.link.name, "east");
        assert_eq!(b.link.destination.name, "dst");
        assert_eq!(b.link.source.bootstrap_servers, vec!["127.0.0.1:9092"]);
        let e = invalid_config(def().build(&cfg).unwrap_err());
        assert_eq!(e.code(), "INVALID_CONFIG");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
