//! The serde model of the config file, exactly as written on disk. Unknown
//! keys are errors (`deny_unknown_fields`); values are checked later by
//! [`super::GatewayConfig`]. Nothing outside the config module reads these
//! types.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[gateway]`: settings of the gateway process itself.
    #[serde(default)]
    pub gateway: GatewaySection,
    /// `[clusters.ALIAS]`: Kafka clusters by alias.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterSection>,
    /// `[[links]]`: cluster links.
    #[serde(default)]
    pub links: Vec<LinkSection>,
    /// `[[plugins]]`: WebAssembly component plugins.
    #[serde(default)]
    pub plugins: Vec<PluginSection>,
}

/// `[[plugins]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// Unique plugin name, referenced by links.
    pub name: String,
    /// Path of the `.wasm` component (relative to the config file).
    pub path: Option<String>,
    /// Name of a bundled plugin instead of a path.
    pub bundled: Option<String>,
    /// Plugin kind (the WIT world it exports).
    pub kind: String,
    /// `fail`, `skip` or `pass`.
    pub on_error: Option<String>,
    /// Deadline of one call, in ms.
    pub timeout_ms: Option<u64>,
    /// Memory limit of the plugin instance, in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Configuration given to the plugin's `init`.
    #[serde(default)]
    pub config: toml::Table,
}

/// `[gateway]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Prometheus endpoint address, `host:port`.
    pub metrics_listen: Option<String>,
    /// Kafka client id used on every connection.
    pub client_id: Option<String>,
    /// Internal state topic on destination clusters.
    pub state_topic: Option<String>,
    /// REST API address, `host:port`.
    pub api_listen: Option<String>,
    /// Bearer token of the REST API's mutating calls (secret: redacted in
    /// `Debug`).
    pub api_token: Option<super::Secret>,
    /// Key that encrypts secret properties of API links in the state topic
    /// (base64 of 32 bytes; usually a `${env:...}` or `${file:...}`
    /// reference). Secret: redacted in `Debug`.
    pub secrets_key: Option<super::Secret>,
    /// GET and HEAD need `api_token` too (default false).
    pub api_token_on_reads: Option<bool>,
    /// PEM certificate chain of the REST API's TLS (path).
    pub api_tls_cert: Option<String>,
    /// PEM private key of `api_tls_cert` (path).
    pub api_tls_key: Option<String>,
    /// PEM CA certificates that client certificates must chain to (path).
    pub api_tls_client_ca: Option<String>,
}

/// `[clusters.ALIAS]`: Kafka client properties by the Java client's names
/// (`bootstrap.servers`, `security.protocol`, `ssl.*`, `sasl.*`, timeouts),
/// checked by [`super::client`].
pub type ClusterSection = BTreeMap<String, toml::Value>;

/// `[[links]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSection {
    /// Cluster link name.
    pub name: String,
    /// Source cluster alias.
    pub source: String,
    /// Destination cluster alias.
    pub destination: String,
    /// Source topics to mirror.
    #[serde(default)]
    pub mirror_topics: Vec<String>,
    /// Confluent link properties, by their names.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// Topic filter plugins (AND), by plugin name.
    #[serde(default)]
    pub topic_filters: Vec<String>,
    /// Renamer plugins (composed in order), by plugin name.
    #[serde(default)]
    pub renamers: Vec<String>,
    /// ACL mapper plugins (in sequence), by plugin name.
    #[serde(default)]
    pub acl_mappers: Vec<String>,
    /// Record transform plugins (in sequence), by plugin name.
    #[serde(default)]
    pub record_transforms: Vec<String>,
    /// Consumer group filter plugins of the offset sync (AND), by plugin
    /// name.
    #[serde(default)]
    pub group_filters: Vec<String>,
}
