//! The gateway's TOML config file: the serde model ([`file`]) and its
//! validation into the runtime settings the rest of the gateway reads
//! ([`GatewayConfig`], [`LinkConfig`]).
//!
//! The file names clusters by alias and links by name; link properties use
//! Confluent Cluster Linking's property names (`mirror.start.offset.spec`,
//! `cluster.link.paused`). Validation turns every problem into a
//! [`ConfigError`] naming the key at fault; nothing is half-applied.

pub mod acl_filters;
pub mod api_tls;
mod client;
mod file;
pub mod offset_sync;
pub mod producer;
pub mod provider;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::kafka::ClusterSettings;
pub use crate::plugin::{OnError, PluginKind};

pub use acl_filters::{AclSyncConfig, ACL_SYNC_PROPERTIES};
pub use api_tls::ApiTlsSettings;
pub use client::{is_client_property, CLIENT_PROPERTIES};
pub use file::ConfigFile;
pub use offset_sync::{validate_group_filters, OffsetSyncConfig, OFFSET_SYNC_PROPERTIES};
pub use producer::{DEFAULT_MAX_REQUEST_SIZE, MAX_REQUEST_SIZE_PROPERTY};

/// Default of `topic.config.sync.ms` (Confluent's): time between runs of
/// the topic config sync.
pub const DEFAULT_TOPIC_CONFIG_SYNC_INTERVAL: Duration = Duration::from_millis(5000);

/// Whether link property `name` is a link task setting, which a running
/// link takes without a restart (the tasks read it before every run).
pub fn is_task_property(name: &str) -> bool {
    OFFSET_SYNC_PROPERTIES.contains(&name)
        || ACL_SYNC_PROPERTIES.contains(&name)
        || name == "topic.config.sync.ms"
}

/// Default Prometheus endpoint address (`[gateway] metrics_listen`).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
/// Default name of the gateway's internal compacted state topic on each
/// destination cluster (`[gateway] state_topic`). It holds mirror
/// checkpoints and the source-to-destination offset map.
pub const DEFAULT_STATE_TOPIC: &str = "__linkgate_state";

/// A config that could not be loaded. Never retriable: the file must change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// Path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema (unknown key,
    /// wrong type). The message comes from the TOML parser and names the line.
    #[error("config file {path} is malformed: {message}")]
    Parse {
        /// Path as given.
        path: String,
        /// Parser message with line and column.
        message: String,
    },
    /// A value is out of range or refers to something that does not exist.
    #[error("invalid config: {key}: {message}")]
    Invalid {
        /// Dotted path of the key at fault, e.g. `links[0].config."mirror.start.offset.spec"`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// Where a new mirror partition starts reading the source
/// (Confluent property `mirror.start.offset.spec`). Applies only to a mirror
/// partition that has no checkpoint yet; a resumed mirror continues where it
/// stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffsetSpec {
    /// The source partition's log start offset (`earliest`, the default).
    Earliest,
    /// The source partition's log end offset at mirror creation (`latest`).
    Latest,
    /// The first offset whose timestamp is at or after this time, in ms since
    /// the Unix epoch (an ISO-8601 timestamp in the file). Resolved with
    /// ListOffsets by timestamp; where the source has no such record the
    /// mirror starts at the log end offset.
    Timestamp(i64),
}

impl StartOffsetSpec {
    /// Parses `earliest`, `latest` or an RFC 3339 / ISO-8601 timestamp such as
    /// `2026-11-21T10:00:00Z` or `2026-11-21T10:00:00.000+01:00`.
    ///
    /// # Errors
    /// A message listing the accepted forms.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "earliest" => Ok(Self::Earliest),
            "latest" => Ok(Self::Latest),
            other => {
                let ts = time::OffsetDateTime::parse(
                    other,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|e| {
                    format!(
                        "expected `earliest`, `latest` or an ISO-8601 timestamp like 2026-11-21T10:00:00Z, got {other:?} ({e})"
                    )
                })?;
                let ms = ts.unix_timestamp_nanos() / 1_000_000;
                i64::try_from(ms)
                    .map(Self::Timestamp)
                    .map_err(|_| format!("timestamp {other:?} is out of range"))
            }
        }
    }
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// A `.wasm` component file (watched for changes).
    Path(PathBuf),
    /// A plugin bundled with linkgate: `topic-filter`, `group-filter`,
    /// `prefix`, `acl-map`, `record-filter`, `json-mask`.
    Bundled(String),
}

/// Names of the bundled plugins.
pub const BUNDLED_PLUGINS: [&str; 6] = [
    "topic-filter",
    "group-filter",
    "prefix",
    "acl-map",
    "record-filter",
    "json-mask",
];

/// Default deadline of one plugin call (`timeout_ms`).
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_millis(100);
/// Default memory limit of a plugin instance (`memory_limit_bytes`, 64 MiB).
pub const DEFAULT_PLUGIN_MEMORY_LIMIT: u64 = 64 * 1024 * 1024;

/// One plugin instance: a component and its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    /// Unique name. Plugins that serve a link property are named
    /// `{link}/{property}`, e.g. `east/cluster.link.prefix`.
    pub name: String,
    /// The component.
    pub source: PluginSource,
    /// Its kind (the world it must export).
    pub kind: PluginKind,
    /// Error policy.
    pub on_error: OnError,
    /// Deadline of one call.
    pub timeout: Duration,
    /// Memory limit of the instance, in bytes.
    pub memory_limit: u64,
    /// Key/value configuration given to `init`, in file order.
    pub config: Vec<(String, String)>,
}

/// One cluster link: which source topics are mirrored to which destination,
/// with the link's Confluent properties already parsed. Two configs are
/// equal when every field is (cluster settings compared field by field).
/// `Debug` redacts the values of sensitive properties
/// ([`crate::secret::property_is_sensitive`]).
#[derive(Clone)]
pub struct LinkConfig {
    /// The cluster link name (unique in the gateway).
    pub name: String,
    /// Connection settings of the source cluster (the one fetched from).
    pub source: ClusterSettings,
    /// Connection settings of the destination cluster (where mirror topics live).
    pub destination: ClusterSettings,
    /// Source topics mirrored by this link; each mirror topic has the same
    /// name on the destination.
    pub mirror_topics: Vec<String>,
    /// `mirror.start.offset.spec` (default `earliest`).
    pub start_offset: StartOffsetSpec,
    /// `cluster.link.paused` (default false): a paused link fetches nothing.
    pub paused: bool,
    /// `auto.create.mirror.topics.enable` (default false): source topics
    /// that pass the topic filter chain become mirror topics.
    pub auto_create: bool,
    /// `metadata.max.age.ms` (default 300000): how often the source is
    /// rescanned for new topics when auto-create is on.
    pub metadata_max_age: Duration,
    /// Topic filter chain (plugin names, AND). Starts with
    /// `{link}/auto.create.mirror.topics.filters` when that property is set.
    pub topic_filters: Vec<String>,
    /// Renamer chain (plugin names, composed in order). Ends with
    /// `{link}/cluster.link.prefix` when that property is set, so the prefix
    /// is the outermost part of the name.
    pub renamers: Vec<String>,
    /// ACL mapper chain (plugin names, in sequence).
    pub acl_mappers: Vec<String>,
    /// Record transform chain (plugin names, in sequence).
    pub record_transforms: Vec<String>,
    /// The `[links.config]` properties as written (text values), for
    /// display (`GET .../links/{link}/configs`).
    pub properties: Vec<(String, String)>,
    /// `linkgate.mirror.write.deny.enable` (default false) with
    /// `linkgate.mirror.write.deny.principals` (default `User:*`): principals
    /// the gateway denies WRITE on its mirror topics with DENY ACL bindings,
    /// removed at promote/failover. Empty: protection off (foreign writes
    /// are still detected and fail the mirror with `FOREIGN_WRITE`).
    pub write_deny_principals: Vec<String>,
    /// `consumer.offset.sync.enable`, `consumer.offset.sync.ms` and the
    /// group filter chain (`consumer.offset.group.filters`,
    /// `group_filters`, `linkgate.group.filters`): the consumer offset sync
    /// task's settings (changeable without restarting the link).
    pub offset_sync: OffsetSyncConfig,
    /// `topic.config.sync.ms` (default 5000): time between runs of the
    /// topic config sync (`TopicConfigsSync`, always configured).
    pub topic_config_sync: Duration,
    /// `acl.sync.enable`, `acl.sync.ms` and `acl.filters`: the ACL sync
    /// task's settings (changeable without restarting the link).
    pub acl_sync: AclSyncConfig,
    /// `linkgate.producer.max.request.size` (bytes, default 16777216): record
    /// batch bytes of one Produce request at most ([`producer`]).
    pub max_request_size: usize,
}

impl std::fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkConfig")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("destination", &self.destination)
            .field("mirror_topics", &self.mirror_topics)
            .field("start_offset", &self.start_offset)
            .field("paused", &self.paused)
            .field("auto_create", &self.auto_create)
            .field("metadata_max_age", &self.metadata_max_age)
            .field("topic_filters", &self.topic_filters)
            .field("renamers", &self.renamers)
            .field("acl_mappers", &self.acl_mappers)
            .field("record_transforms", &self.record_transforms)
            .field("properties", &crate::secret::redacted(&self.properties))
            .field("write_deny_principals", &self.write_deny_principals)
            .field("offset_sync", &self.offset_sync)
            .field("topic_config_sync", &self.topic_config_sync)
            .field("acl_sync", &self.acl_sync)
            .field("max_request_size", &self.max_request_size)
            .finish()
    }
}

impl PartialEq for LinkConfig {
    fn eq(&self, other: &Self) -> bool {
        same_cluster(&self.source, &other.source)
            && same_cluster(&self.destination, &other.destination)
            && self.name == other.name
            && self.mirror_topics == other.mirror_topics
            && self.start_offset == other.start_offset
            && self.paused == other.paused
            && self.auto_create == other.auto_create
            && self.metadata_max_age == other.metadata_max_age
            && self.topic_filters == other.topic_filters
            && self.renamers == other.renamers
            && self.acl_mappers == other.acl_mappers
            && self.record_transforms == other.record_transforms
            && self.properties == other.properties
            && self.write_deny_principals == other.write_deny_principals
            && self.offset_sync == other.offset_sync
            && self.topic_config_sync == other.topic_config_sync
            && self.acl_sync == other.acl_sync
            && self.max_request_size == other.max_request_size
    }
}

impl LinkConfig {
    /// Whether `other` differs from this config only in its plugin chains
    /// (topic filters, renamers, ACL mappers, record transforms): such a
    /// change is applied to a running link by swapping its chains.
    pub fn same_but_chains(&self, other: &Self) -> bool {
        let strip = |c: &Self| {
            let mut c = c.clone();
            c.topic_filters.clear();
            c.renamers.clear();
            c.acl_mappers.clear();
            c.record_transforms.clear();
            c
        };
        strip(self) == strip(other)
    }

    /// Whether `other` differs from this config only in what a running
    /// link takes without a restart: its plugin chains and its link task
    /// settings ([`is_task_property`]: [`OffsetSyncConfig`],
    /// `topic.config.sync.ms`, [`AclSyncConfig`]).
    pub fn same_but_live(&self, other: &Self) -> bool {
        let strip = |c: &Self| {
            let mut c = c.clone();
            c.offset_sync = OffsetSyncConfig::default();
            c.topic_config_sync = DEFAULT_TOPIC_CONFIG_SYNC_INTERVAL;
            c.acl_sync = AclSyncConfig::default();
            c.properties.retain(|(k, _)| !is_task_property(k));
            c
        };
        strip(self).same_but_chains(&strip(other))
    }

    /// Whether `other` differs from this config only in its link task
    /// settings ([`LinkConfig::same_but_live`] without the chains).
    pub fn same_but_tasks(&self, other: &Self) -> bool {
        self.same_but_live(other)
            && self.topic_filters == other.topic_filters
            && self.renamers == other.renamers
            && self.acl_mappers == other.acl_mappers
            && self.record_transforms == other.record_transforms
    }
}

/// Field-by-field equality of cluster settings (`ClusterSettings` has no
/// `PartialEq` of its own).
fn same_cluster(a: &ClusterSettings, b: &ClusterSettings) -> bool {
    a.name == b.name
        && a.bootstrap_servers == b.bootstrap_servers
        && a.client_id == b.client_id
        && a.request_timeout == b.request_timeout
        && a.connect_timeout == b.connect_timeout
        && a.retry_backoff == b.retry_backoff
        && a.retry_backoff_max == b.retry_backoff_max
        && a.metadata_max_age == b.metadata_max_age
        && a.security == b.security
}

/// The validated gateway config: one immutable value per (re)load.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address of the Prometheus endpoint (`GET /metrics`).
    pub metrics_listen: SocketAddr,
    /// Client id sent to every broker.
    pub client_id: String,
    /// Internal state topic name on each destination cluster.
    pub state_topic: String,
    /// The links, in file order.
    pub links: Vec<LinkConfig>,
    /// Every plugin instance: the `[[plugins]]` entries, then the ones that
    /// serve link properties.
    pub plugins: Vec<PluginConfig>,
    /// Address of the REST API (`[gateway] api_listen`, default
    /// [`DEFAULT_API_LISTEN`]).
    pub api_listen: SocketAddr,
    /// Whether `api_listen` was set in the file (a default address that is
    /// taken only disables the API with an error log; a configured one that
    /// cannot be bound stops the start).
    pub api_listen_explicit: bool,
    /// `[gateway] api_token`: the bearer token every mutating REST call
    /// must carry (`Authorization: Bearer <token>`). Required when
    /// `api_listen` is not a loopback address (unless `api_tls_client_ca`
    /// authenticates clients). Redacted in `Debug`.
    pub api_token: Option<Secret>,
    /// `[gateway] api_token_on_reads` (default false): GET and HEAD need
    /// the token too. Only with `api_token`.
    pub api_token_on_reads: bool,
    /// `[gateway] api_tls_cert`, `api_tls_key`, `api_tls_client_ca`: the
    /// REST API's TLS, its files read and checked at load (relative paths
    /// are relative to the config file). `None`: plain HTTP. `Debug`
    /// shows the paths only.
    pub api_tls: Option<ApiTlsSettings>,
    /// `[clusters.ALIAS]` client settings by alias (destinations of API
    /// links, sources named by `source_cluster_id`).
    pub clusters: BTreeMap<String, ClusterSettings>,
    /// `[gateway] secrets_key` (base64 of 32 bytes, references resolved):
    /// the key that seals secret properties of API links in the state topic
    /// ([`crate::secret::sealed`]). `None`: such links must give their
    /// secrets as config provider references.
    pub secrets_key: Option<SealingKey>,
}

pub use crate::secret::sealed::SealingKey;
pub use crate::secret::Secret;

/// A TOML error as `message (line L, column C)`, without the source line
/// that `toml`'s `Display` quotes: that line can hold a secret
/// (`api_token`). On such a line the parser's message, which can quote the
/// value too (`invalid type: integer ...`), is left out as well.
fn parse_message(e: &toml::de::Error, text: &str) -> String {
    let Some(start) = e.span().map(|s| s.start) else {
        return e.message().to_string();
    };
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or_default();
    if line_text.contains("api_token") {
        format!(
            "the api_token value is malformed (line {line}, column {column}; not shown: a secret)"
        )
    } else {
        format!("{} (line {line}, column {column})", e.message())
    }
}

/// The REST API's TLS from `[gateway] api_tls_cert`, `api_tls_key` and
/// `api_tls_client_ca` (paths relative to `base`), its files read and
/// checked; `None` without a certificate.
///
/// # Errors
/// [`ConfigError::Invalid`] naming the key: a certificate without a key or
/// the other way round, a client CA without a certificate, or a file that
/// cannot be used (the reason never holds the file's content).
fn api_tls(gw: &file::GatewaySection, base: &Path) -> Result<Option<ApiTlsSettings>, ConfigError> {
    use api_tls::TlsFile;
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: key.to_string(),
        message,
    };
    let (cert, key) = match (&gw.api_tls_cert, &gw.api_tls_key) {
        (Some(cert), Some(key)) => (base.join(cert), base.join(key)),
        (Some(_), None) => {
            return Err(invalid(
                "gateway.api_tls_key",
                "required with api_tls_cert: the PEM file of the certificate's private key".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(invalid(
                "gateway.api_tls_cert",
                "required with api_tls_key: the PEM file of the certificate chain".into(),
            ))
        }
        (None, None) => {
            if gw.api_tls_client_ca.is_some() {
                return Err(invalid(
                    "gateway.api_tls_client_ca",
                    "needs api_tls_cert and api_tls_key: client certificates are checked only \
                     when the API is served over TLS"
                        .into(),
                ));
            }
            return Ok(None);
        }
    };
    let client_ca = gw.api_tls_client_ca.as_ref().map(|ca| base.join(ca));
    ApiTlsSettings::load(&cert, &key, client_ca.as_deref())
        .map(Some)
        .map_err(|e| {
            let key = match e.file {
                TlsFile::Cert => "gateway.api_tls_cert",
                TlsFile::Key => "gateway.api_tls_key",
                TlsFile::ClientCa => "gateway.api_tls_client_ca",
            };
            invalid(key, e.to_string())
        })
}

/// Default REST API address (loopback only).
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8090";

impl GatewayConfig {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError::Read`], [`ConfigError::Parse`] (unknown keys are errors)
    /// or [`ConfigError::Invalid`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Self::parse_at(&text, &path.display().to_string(), base)?;
        for p in &mut config.plugins {
            if let PluginSource::Path(file) = &mut p.source {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        Ok(config)
    }

    /// Parses and validates config text; `origin` names it in errors.
    /// Relative file paths of `[gateway]` (TLS files) are relative to the
    /// current directory.
    ///
    /// # Errors
    /// As [`GatewayConfig::load`].
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse_at(text, origin, Path::new(""))
    }

    /// [`GatewayConfig::parse`] with relative `[gateway]` file paths
    /// resolved against `base`.
    fn parse_at(text: &str, origin: &str, base: &Path) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: parse_message(&e, text),
        })?;
        Self::validate(file, base)
    }

    fn validate(file: ConfigFile, base: &Path) -> Result<Self, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid { key, message };
        let gw = file.gateway;
        let metrics_listen: SocketAddr = gw
            .metrics_listen
            .as_deref()
            .unwrap_or(DEFAULT_METRICS_LISTEN)
            .parse()
            .map_err(|e| {
                invalid(
                    "gateway.metrics_listen".into(),
                    format!("expected host:port with a numeric IP, e.g. 127.0.0.1:9464 ({e})"),
                )
            })?;
        let api_listen_explicit = gw.api_listen.is_some();
        let api_listen: SocketAddr = gw
            .api_listen
            .as_deref()
            .unwrap_or(DEFAULT_API_LISTEN)
            .parse()
            .map_err(|e| {
                invalid(
                    "gateway.api_listen".into(),
                    format!("expected host:port with a numeric IP, e.g. 127.0.0.1:8090 ({e})"),
                )
            })?;
        let api_tls = api_tls(&gw, base)?;
        let api_token = match gw.api_token {
            Some(t) => Some(Secret::new(client::resolve(
                "gateway.api_token",
                t.expose(),
            )?)),
            None => None,
        };
        if api_token
            .as_ref()
            .is_some_and(|t| t.expose().trim().is_empty())
        {
            return Err(invalid(
                "gateway.api_token".into(),
                "must not be empty; remove it or set a long random value".into(),
            ));
        }
        let client_certificates = api_tls
            .as_ref()
            .is_some_and(ApiTlsSettings::requires_client_certificate);
        if api_token.is_none() && !client_certificates && !api_listen.ip().is_loopback() {
            return Err(invalid(
                "gateway.api_listen".into(),
                format!(
                    "{api_listen} is not a loopback address: set [gateway] api_token so that \
                     mutating REST calls need `Authorization: Bearer <token>`, or \
                     api_tls_client_ca so that clients need a certificate, or listen on 127.0.0.1"
                ),
            ));
        }
        let secrets_key = match &gw.secrets_key {
            Some(text) => {
                let key = "gateway.secrets_key";
                let resolved = client::resolve(key, text.expose())?;
                Some(
                    SealingKey::from_base64(&resolved)
                        .map_err(|e| invalid(key.into(), e.to_string()))?,
                )
            }
            None => None,
        };
        let api_token_on_reads = gw.api_token_on_reads.unwrap_or(false);
        if api_token_on_reads && api_token.is_none() {
            return Err(invalid(
                "gateway.api_token_on_reads".into(),
                "needs [gateway] api_token: the token reads would need".into(),
            ));
        }
        let client_id = gw.client_id.unwrap_or_else(|| "linkgate".to_string());
        let state_topic = gw
            .state_topic
            .unwrap_or_else(|| DEFAULT_STATE_TOPIC.to_string());
        validate_topic_name(&state_topic).map_err(|m| invalid("gateway.state_topic".into(), m))?;

        let mut clusters = BTreeMap::new();
        for (alias, section) in &file.clusters {
            let key = |p: &str| format!("clusters.{alias}.\"{p}\"");
            let mut properties = Vec::new();
            for (prop, value) in section {
                if !is_client_property(prop) {
                    return Err(invalid(
                        key(prop),
                        format!(
                            "unknown or not yet supported client property {prop:?} (supported: {}, \
                             security.protocol, ssl.*, sasl.*: see the README's Security section)",
                            CLIENT_PROPERTIES.join(", ")
                        ),
                    ));
                }
                let text = property_text(value).ok_or_else(|| {
                    invalid(key(prop), "expected a string, number or boolean".into())
                })?;
                properties.push((prop.clone(), text));
            }
            let settings =
                client::cluster_settings(alias, &client_id, &properties, None, &key, &|| {
                    "required: the cluster's host:port list".to_string()
                })?;
            clusters.insert(alias.clone(), settings);
        }

        let mut plugins = Vec::new();
        for (i, p) in file.plugins.into_iter().enumerate() {
            plugins.push(validate_plugin(i, p)?);
        }
        let declared: BTreeMap<String, PluginKind> = plugins
            .iter()
            .map(|p: &PluginConfig| (p.name.clone(), p.kind))
            .collect();
        if declared.len() != plugins.len() {
            return Err(invalid(
                "plugins".into(),
                "plugin names must be unique".into(),
            ));
        }

        let ctx = LinkContext {
            clusters: &clusters,
            declared: &declared,
            state_topic: &state_topic,
            client_id: &client_id,
        };
        let mut links = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, l) in file.links.into_iter().enumerate() {
            let key = format!("links[{i}]");
            validate_link_name(&l.name).map_err(|m| invalid(format!("{key}.name"), m))?;
            if !names.insert(l.name.clone()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("duplicate link name {:?}", l.name),
                ));
            }
            let cluster = |alias: &str, which: &str| {
                clusters.get(alias).cloned().ok_or_else(|| {
                    invalid(
                        format!("{key}.{which}"),
                        format!(
                            "no cluster {alias:?} in [clusters] (known: {})",
                            clusters.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )
                })
            };
            let source = cluster(&l.source, "source")?;
            let destination = cluster(&l.destination, "destination")?;
            let mut properties = Vec::new();
            for (prop, value) in &l.config {
                let text = property_text(value).ok_or_else(|| {
                    invalid(
                        format!("{key}.config.\"{prop}\""),
                        "expected a string, number or boolean".into(),
                    )
                })?;
                properties.push((prop.clone(), text));
            }
            let input = LinkInput {
                name: l.name,
                source: LinkSource::Cluster(source),
                destination,
                mirror_topics: l.mirror_topics,
                properties,
                chains: [
                    l.topic_filters,
                    l.renamers,
                    l.acl_mappers,
                    l.record_transforms,
                    l.group_filters,
                ],
            };
            let prop_key = |p: &str| format!("{key}.config.\"{p}\"");
            let field_key = |f: &str| format!("{key}.{f}");
            let built = build_link(input, &ctx, &prop_key, &field_key)?;
            plugins.extend(built.plugins);
            links.push(built.link);
        }
        Ok(Self {
            metrics_listen,
            client_id,
            state_topic,
            links,
            plugins,
            api_listen,
            api_listen_explicit,
            api_token,
            api_token_on_reads,
            api_tls,
            clusters,
            secrets_key,
        })
    }

    /// The `[[plugins]]` entries by name and kind (not the ones that serve
    /// link properties, whose names hold a `/`).
    fn declared_plugins(&self) -> BTreeMap<String, PluginKind> {
        self.plugins
            .iter()
            .filter(|p| !p.name.contains('/'))
            .map(|p| (p.name.clone(), p.kind))
            .collect()
    }

    /// Validates a link created through the REST API (or read back from a
    /// destination's state topic) into its [`LinkConfig`] and the bundled
    /// plugins that serve its properties, with the same rules as a
    /// `[[links]]` entry of the file.
    ///
    /// - `destination`: a `[clusters]` alias.
    /// - `source_cluster_id`: a `[clusters]` alias (its client settings are
    ///   the source's) or a Kafka cluster id (only a label here; checked
    ///   against the source when the link is validated).
    /// - `properties`: Confluent link properties by name
    ///   ([`SUPPORTED_LINK_PROPERTIES`], [`LINKGATE_LINK_PROPERTIES`]) and
    ///   the source's client properties ([`is_client_property`]: bootstrap,
    ///   timeouts, `security.protocol`, `ssl.*`, `sasl.*`), text values or
    ///   config provider references, each name at most once.
    ///   `bootstrap.servers` is required unless `source_cluster_id` is an
    ///   alias (whose settings the properties then override; given any
    ///   security property, the source's security comes from the
    ///   properties alone).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] whose `key` is the property at fault (e.g.
    /// `bootstrap.servers`), or `link_name` / `destination`. Messages never
    /// hold the value of a sensitive property.
    pub fn api_link(
        &self,
        name: &str,
        destination: &str,
        source_cluster_id: Option<&str>,
        properties: &[(String, String)],
    ) -> Result<LinkBuild, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        validate_link_name(name).map_err(|m| invalid("link_name", m))?;
        let destination = self.clusters.get(destination).cloned().ok_or_else(|| {
            invalid(
                "destination",
                format!(
                    "no cluster {destination:?} in [clusters] (known: {})",
                    self.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for (k, _) in properties {
            if !seen.insert(k.as_str()) {
                return Err(invalid(k, "given more than once".into()));
            }
        }
        let source = match source_cluster_id.and_then(|id| self.clusters.get(id)) {
            Some(settings) => LinkSource::Api {
                label: settings.name.clone(),
                base: Some(settings.clone()),
            },
            None => LinkSource::Api {
                label: source_cluster_id
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{name}-source")),
                base: None,
            },
        };
        let declared = self.declared_plugins();
        let ctx = LinkContext {
            clusters: &self.clusters,
            declared: &declared,
            state_topic: &self.state_topic,
            client_id: &self.client_id,
        };
        let input = LinkInput {
            name: name.to_string(),
            source,
            destination,
            mirror_topics: Vec::new(),
            properties: properties.to_vec(),
            chains: Default::default(),
        };
        let key = |p: &str| p.to_string();
        build_link(input, &ctx, &key, &key)
    }
}

/// A link validated from its properties: its config and the bundled plugin
/// instances that serve its properties (`{link}/cluster.link.prefix`,
/// `{link}/auto.create.mirror.topics.filters`,
/// `{link}/consumer.offset.group.filters`), which must be loaded before the
/// link starts.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkBuild {
    /// The link.
    pub link: LinkConfig,
    /// Plugins serving its properties (names start with `{link}/`).
    pub plugins: Vec<PluginConfig>,
}

/// Where a link's source cluster settings come from.
enum LinkSource {
    /// A `[clusters]` alias of the file (file links): source client
    /// properties are refused (they belong in `[clusters.ALIAS]`).
    Cluster(ClusterSettings),
    /// An API link: `bootstrap.servers` and the client timeouts come from
    /// the properties, over `base` (the alias named by `source_cluster_id`)
    /// when given. `label` names the cluster in errors and metrics.
    Api {
        label: String,
        base: Option<ClusterSettings>,
    },
}

/// One link before validation.
struct LinkInput {
    name: String,
    source: LinkSource,
    destination: ClusterSettings,
    mirror_topics: Vec<String>,
    /// Properties as text, in the order given.
    properties: Vec<(String, String)>,
    /// Chains named in the file's link fields: topic filters, renamers,
    /// ACL mappers, record transforms, group filters.
    chains: [Vec<String>; 5],
}

/// What link validation needs from the rest of the config.
struct LinkContext<'a> {
    clusters: &'a BTreeMap<String, ClusterSettings>,
    declared: &'a BTreeMap<String, PluginKind>,
    state_topic: &'a str,
    client_id: &'a str,
}

/// The chain kinds in [`LinkInput::chains`] order: kind, file field,
/// link property.
const CHAINS: [(PluginKind, &str, &str); 5] = [
    (
        PluginKind::TopicFilter,
        "topic_filters",
        "linkgate.topic.filters",
    ),
    (PluginKind::Renamer, "renamers", "linkgate.renamers"),
    (PluginKind::AclMapper, "acl_mappers", "linkgate.acl.mappers"),
    (
        PluginKind::RecordTransform,
        "record_transforms",
        "linkgate.record.transforms",
    ),
    (
        PluginKind::GroupFilter,
        "group_filters",
        "linkgate.group.filters",
    ),
];

/// The one link validation, for file links and API links: parses every
/// property, checks the chains against the declared plugins and adds the
/// bundled plugins that serve properties. `prop_key` names a property in
/// errors, `field_key` a file field.
fn build_link(
    input: LinkInput,
    ctx: &LinkContext<'_>,
    prop_key: &dyn Fn(&str) -> String,
    field_key: &dyn Fn(&str) -> String,
) -> Result<LinkBuild, ConfigError> {
    let invalid = |key: String, message: String| ConfigError::Invalid { key, message };
    let name = input.name;
    let mut seen = std::collections::BTreeSet::new();
    for t in &input.mirror_topics {
        validate_topic_name(t).map_err(|m| invalid(field_key("mirror_topics"), m))?;
        if t == ctx.state_topic || t.starts_with("__") {
            return Err(invalid(
                field_key("mirror_topics"),
                format!("{t:?} is an internal topic and cannot be mirrored"),
            ));
        }
        if !seen.insert(t.clone()) {
            return Err(invalid(
                field_key("mirror_topics"),
                format!("{t:?} is listed twice"),
            ));
        }
    }
    let api = matches!(input.source, LinkSource::Api { .. });
    let mut start_offset = StartOffsetSpec::Earliest;
    let mut paused = false;
    let mut auto_create = false;
    let mut metadata_max_age = Duration::from_millis(300_000);
    let mut prefix: Option<String> = None;
    let mut group_prefix = false;
    let mut filters_json: Option<String> = None;
    let mut group_filters_json: Option<String> = None;
    let mut deny_enable = false;
    let mut deny_principals = vec!["User:*".to_string()];
    let mut offset_sync = OffsetSyncConfig::default();
    let mut topic_config_sync = DEFAULT_TOPIC_CONFIG_SYNC_INTERVAL;
    let mut acl_sync = AclSyncConfig::default();
    let mut max_request_size = DEFAULT_MAX_REQUEST_SIZE;
    let mut chains = input.chains;
    let mut property_chains: [Vec<String>; 5] = Default::default();
    for (prop, text) in &input.properties {
        let pkey = prop_key(prop);
        if is_client_property(prop) {
            if !api {
                return Err(invalid(
                    pkey,
                    "a source client property of a config-file link belongs in its \
                     [clusters.ALIAS] section"
                        .into(),
                ));
            }
            // Read by client::cluster_settings below.
            continue;
        }
        let text = &client::resolve(&pkey, text)?;
        match prop.as_str() {
            "mirror.start.offset.spec" => {
                start_offset = StartOffsetSpec::parse(text).map_err(|m| invalid(pkey, m))?;
            }
            "cluster.link.paused" => paused = parse_bool(&pkey, text)?,
            "auto.create.mirror.topics.enable" => auto_create = parse_bool(&pkey, text)?,
            "consumer.group.prefix.enable" => group_prefix = parse_bool(&pkey, text)?,
            "cluster.link.prefix" => {
                if !text.is_empty() {
                    validate_topic_name(text).map_err(|m| {
                        invalid(
                            pkey,
                            format!("the prefix must be usable in topic names: {m}"),
                        )
                    })?;
                    prefix = Some(text.clone());
                }
            }
            "auto.create.mirror.topics.filters" => {
                serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
                    invalid(
                        pkey,
                        format!("expected a JSON object like {{\"topicFilters\":[...]}}: {e}"),
                    )
                })?;
                filters_json = Some(text.clone());
            }
            "metadata.max.age.ms" => metadata_max_age = parse_ms(&pkey, text)?,
            "consumer.offset.sync.enable" => offset_sync.enable = parse_bool(&pkey, text)?,
            "consumer.offset.sync.ms" => offset_sync.interval = parse_ms(&pkey, text)?,
            "consumer.offset.group.filters" => {
                validate_group_filters(text).map_err(|m| invalid(pkey, m))?;
                group_filters_json = Some(text.clone());
            }
            "topic.config.sync.ms" => topic_config_sync = parse_ms(&pkey, text)?,
            "acl.sync.enable" => acl_sync.enable = parse_bool(&pkey, text)?,
            "acl.sync.ms" => {
                acl_sync.interval = parse_ms(&pkey, text)?;
                if acl_sync.interval < acl_filters::MIN_ACL_SYNC_INTERVAL {
                    return Err(invalid(
                        pkey,
                        format!(
                            "must be at least {} ms",
                            acl_filters::MIN_ACL_SYNC_INTERVAL.as_millis()
                        ),
                    ));
                }
            }
            "acl.filters" => {
                acl_sync.filters = acl_filters::parse(text)
                    .map_err(|m| invalid(pkey, m))?
                    .iter()
                    .map(crate::kafka::AclEntry::from)
                    .collect();
            }
            "linkgate.mirror.write.deny.enable" => deny_enable = parse_bool(&pkey, text)?,
            "linkgate.mirror.write.deny.principals" => {
                deny_principals = parse_principals(&pkey, text)?;
            }
            MAX_REQUEST_SIZE_PROPERTY => {
                max_request_size = producer::parse_max_request_size(&pkey, text)?;
            }
            "link.mode" => check_placement(&pkey, text, "DESTINATION")?,
            "connection.mode" => check_placement(&pkey, text, "OUTBOUND")?,
            other => {
                let Some(i) = CHAINS.iter().position(|c| c.2 == other) else {
                    return Err(invalid(
                        pkey,
                        format!(
                            "unknown or not yet supported link property {other:?} (supported: {})",
                            supported_properties(api).join(", ")
                        ),
                    ));
                };
                let names: Vec<String> = text
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(slot) = property_chains.get_mut(i) {
                    *slot = names;
                }
            }
        }
    }
    if acl_sync.enable && acl_sync.filters.is_empty() {
        return Err(invalid(
            prop_key("acl.filters"),
            "acl.sync.enable is true but no acl.filters are given: set the ACL bindings to sync, \
             e.g. {\"aclFilters\":[{\"resourceFilter\":{\"resourceType\":\"any\",\"patternType\":\"any\"},\"accessFilter\":{\"operation\":\"any\",\"permissionType\":\"any\"}}]}"
                .into(),
        ));
    }
    // Chains: declared plugins of the right kind, plus the ones that serve
    // link properties (bundled plugins).
    for (i, (kind, field, prop)) in CHAINS.iter().enumerate() {
        let check = |names: &[String], key: String| -> Result<(), ConfigError> {
            for n in names {
                match ctx.declared.get(n) {
                    Some(k) if k == kind => {}
                    Some(k) => {
                        return Err(invalid(
                            key,
                            format!("plugin {n:?} is a {}, not a {}", k.as_str(), kind.as_str()),
                        ))
                    }
                    None => {
                        return Err(invalid(
                            key,
                            format!("no plugin named {n:?} in [[plugins]]"),
                        ))
                    }
                }
            }
            Ok(())
        };
        if let (Some(from_fields), Some(from_prop)) = (chains.get_mut(i), property_chains.get(i)) {
            check(from_fields, field_key(field))?;
            check(from_prop, prop_key(prop))?;
            from_fields.extend(from_prop.iter().cloned());
        }
    }
    let [mut topic_filters, mut renamers, acl_mappers, record_transforms, mut group_filters] =
        chains;
    let mut plugins = Vec::new();
    if let Some(json) = filters_json {
        let plugin = format!("{name}/auto.create.mirror.topics.filters");
        plugins.push(bundled(
            &plugin,
            "topic-filter",
            PluginKind::TopicFilter,
            vec![("filters".into(), json)],
        ));
        topic_filters.insert(0, plugin);
    }
    if let Some(json) = group_filters_json {
        let plugin = format!("{name}/consumer.offset.group.filters");
        plugins.push(bundled(
            &plugin,
            "group-filter",
            PluginKind::GroupFilter,
            vec![("filters".into(), json)],
        ));
        group_filters.insert(0, plugin);
    }
    offset_sync.group_filters = group_filters;
    if let Some(prefix) = prefix {
        let plugin = format!("{name}/cluster.link.prefix");
        plugins.push(bundled(
            &plugin,
            "prefix",
            PluginKind::Renamer,
            vec![
                ("prefix".into(), prefix),
                (
                    "consumer.group.prefix.enable".into(),
                    group_prefix.to_string(),
                ),
            ],
        ));
        renamers.push(plugin);
    }
    let source = match input.source {
        LinkSource::Cluster(settings) => settings,
        LinkSource::Api { label, base } => client::cluster_settings(
            &label,
            ctx.client_id,
            &input.properties,
            base,
            prop_key,
            &|| {
                format!(
                    "required: the source cluster's host:port list (or name one of the \
                     [clusters] aliases as source_cluster_id: {})",
                    ctx.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            },
        )?,
    };
    Ok(LinkBuild {
        link: LinkConfig {
            name,
            source,
            destination: input.destination,
            mirror_topics: input.mirror_topics,
            start_offset,
            paused,
            auto_create,
            metadata_max_age,
            topic_filters,
            renamers,
            acl_mappers,
            record_transforms,
            properties: input.properties,
            write_deny_principals: if deny_enable {
                deny_principals
            } else {
                Vec::new()
            },
            offset_sync,
            topic_config_sync,
            acl_sync,
            max_request_size,
        },
        plugins,
    })
}

/// The link name rule: non-empty, at most 249 characters, ASCII letters,
/// digits, `.`, `_` and `-` (so it fits in state topic keys and plugin
/// names, which use `/` as separator).
///
/// # Errors
/// A message stating the rule.
pub fn validate_link_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 249
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "{name:?}: a link name is 1 to 249 characters of ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// A positive number of ms given as text.
fn parse_ms(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let ms: u64 = text.trim().parse().map_err(|_| ConfigError::Invalid {
        key: key.to_string(),
        message: format!("expected a number of ms, got {text:?}"),
    })?;
    positive_ms(ms, key)
}

/// `linkgate.mirror.write.deny.principals`: a comma-separated list of
/// Kafka principals `Type:name` (e.g. `User:*`, `User:alice`).
fn parse_principals(key: &str, text: &str) -> Result<Vec<String>, ConfigError> {
    let principals: Vec<String> = text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if principals.is_empty() {
        return Err(ConfigError::Invalid {
            key: key.to_string(),
            message: "must list at least one principal like User:*".into(),
        });
    }
    for p in &principals {
        if !p
            .split_once(':')
            .is_some_and(|(t, n)| !t.is_empty() && !n.is_empty())
        {
            return Err(ConfigError::Invalid {
                key: key.to_string(),
                message: format!("{p:?} is not a principal of the form Type:name, e.g. User:alice"),
            });
        }
    }
    Ok(principals)
}

/// Every property name a link accepts: file links take the link
/// properties, API links also the source client properties.
fn supported_properties(api: bool) -> Vec<&'static str> {
    let mut all: Vec<&'static str> = SUPPORTED_LINK_PROPERTIES.to_vec();
    all.extend(LINKGATE_LINK_PROPERTIES);
    if api {
        all.extend(CLIENT_PROPERTIES);
        all.extend(["security.protocol", "ssl.*", "sasl.*"]);
    }
    all
}

/// linkgate's own link properties: plugin chains (comma-separated
/// `[[plugins]]` names), the DENY WRITE protection of mirror topics and
/// the Produce request limit ([`producer`]).
pub const LINKGATE_LINK_PROPERTIES: [&str; 8] = [
    "linkgate.topic.filters",
    "linkgate.group.filters",
    "linkgate.renamers",
    "linkgate.acl.mappers",
    "linkgate.record.transforms",
    "linkgate.mirror.write.deny.enable",
    "linkgate.mirror.write.deny.principals",
    MAX_REQUEST_SIZE_PROPERTY,
];

/// Link properties linkgate understands (Confluent's names).
pub const SUPPORTED_LINK_PROPERTIES: [&str; 16] = [
    "link.mode",
    "connection.mode",
    "mirror.start.offset.spec",
    "cluster.link.paused",
    "cluster.link.prefix",
    "consumer.group.prefix.enable",
    "auto.create.mirror.topics.enable",
    "auto.create.mirror.topics.filters",
    "metadata.max.age.ms",
    "consumer.offset.sync.enable",
    "consumer.offset.sync.ms",
    "consumer.offset.group.filters",
    "topic.config.sync.ms",
    "acl.sync.enable",
    "acl.sync.ms",
    "acl.filters",
];

/// `link.mode` / `connection.mode`: only Confluent's defaults
/// (`DESTINATION`, `OUTBOUND`) are accepted. linkgate dials both clusters
/// itself, so a source-initiated link has nothing to do: run the gateway
/// where it reaches both clusters, or chain two links through a cluster
/// both sides reach (README, "Network placement").
fn check_placement(key: &str, text: &str, default: &str) -> Result<(), ConfigError> {
    if text.trim().eq_ignore_ascii_case(default) {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        key: key.to_string(),
        message: format!(
            "only {default} is supported, got {text:?}: linkgate is neither the source nor the \
             destination cluster but dials both itself, so there is no source-initiated \
             (SOURCE/INBOUND) side; run the gateway where it can reach both clusters, or chain \
             two links through a jump cluster that both sides can reach (see the README, \
             \"Network placement\")"
        ),
    })
}

fn parse_bool(key: &str, text: &str) -> Result<bool, ConfigError> {
    text.parse::<bool>().map_err(|_| ConfigError::Invalid {
        key: key.to_string(),
        message: format!("expected true or false, got {text:?}"),
    })
}

fn bundled(
    name: &str,
    plugin: &str,
    kind: PluginKind,
    config: Vec<(String, String)>,
) -> PluginConfig {
    PluginConfig {
        name: name.to_string(),
        source: PluginSource::Bundled(plugin.to_string()),
        kind,
        on_error: OnError::Fail,
        timeout: DEFAULT_PLUGIN_TIMEOUT,
        memory_limit: DEFAULT_PLUGIN_MEMORY_LIMIT,
        config,
    }
}

fn validate_plugin(i: usize, p: file::PluginSection) -> Result<PluginConfig, ConfigError> {
    let key = format!("plugins[{i}]");
    let invalid = |field: &str, message: String| ConfigError::Invalid {
        key: format!("{key}.{field}"),
        message,
    };
    if p.name.is_empty() || p.name.contains('/') {
        return Err(invalid(
            "name",
            format!("{:?}: a plugin name is non-empty and has no '/'", p.name),
        ));
    }
    let kind: PluginKind = p
        .kind
        .parse()
        .map_err(|e: crate::plugin::ParseNameError| invalid("kind", e.to_string()))?;
    let source = match (p.path, p.bundled) {
        (Some(path), None) => PluginSource::Path(PathBuf::from(path)),
        (None, Some(b)) if BUNDLED_PLUGINS.contains(&b.as_str()) => PluginSource::Bundled(b),
        (None, Some(b)) => {
            return Err(invalid(
                "bundled",
                format!(
                    "{b:?}: no such bundled plugin (known: {})",
                    BUNDLED_PLUGINS.join(", ")
                ),
            ))
        }
        _ => {
            return Err(invalid(
                "path",
                "give exactly one of path or bundled".into(),
            ))
        }
    };
    let on_error = match p.on_error.as_deref() {
        None | Some("fail") => OnError::Fail,
        Some("skip") => OnError::Skip,
        Some("pass") => OnError::Pass,
        Some(other) => {
            return Err(invalid(
                "on_error",
                format!("{other:?}: expected fail, skip or pass"),
            ))
        }
    };
    let timeout = match p.timeout_ms {
        None => DEFAULT_PLUGIN_TIMEOUT,
        Some(ms) => positive_ms(ms, &format!("{key}.timeout_ms"))?,
    };
    let memory_limit = match p.memory_limit_bytes {
        None => DEFAULT_PLUGIN_MEMORY_LIMIT,
        Some(b) if b >= 1024 * 1024 => b,
        Some(b) => {
            return Err(invalid(
                "memory_limit_bytes",
                format!("{b} is below the minimum of 1048576 bytes"),
            ))
        }
    };
    let mut config = Vec::new();
    for (k, v) in p.config {
        let text = property_text(&v).ok_or_else(|| {
            invalid(
                &format!("config.{k}"),
                "expected a string, number or boolean".into(),
            )
        })?;
        config.push((k, text));
    }
    Ok(PluginConfig {
        name: p.name,
        source,
        kind,
        on_error,
        timeout,
        memory_limit,
        config,
    })
}

fn positive_ms(ms: u64, key: &str) -> Result<Duration, ConfigError> {
    if ms == 0 {
        return Err(ConfigError::Invalid {
            key: key.to_string(),
            message: "must be a positive number of ms".into(),
        });
    }
    Ok(Duration::from_millis(ms))
}

/// A property value as text: TOML strings, integers and booleans are accepted
/// (Confluent properties are strings in `.properties` files).
fn property_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Kafka's topic name rule (`org.apache.kafka.common.internals.Topic.validate`),
/// the same check the plugin host applies to renamer results.
fn validate_topic_name(name: &str) -> Result<(), String> {
    crate::plugin::validate::check_topic_name(name)
        .map_err(|m| format!("{name:?} is not a valid topic name: {m}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[gateway]
metrics_listen = "127.0.0.1:19464"

[clusters.src]
"bootstrap.servers" = "127.0.0.1:9092"
[clusters.dst]
"bootstrap.servers" = "127.0.0.1:9093, 127.0.0.1:9094"

[[links]]
name = "demo"
source = "src"
destination = "dst"
mirror_topics = ["orders", "payments"]
[links.config]
"mirror.start.offset.spec" = "2026-11-21T10:00:00Z"
"cluster.link.paused" = true
"#;

    #[test]
    fn parses_a_full_config() {
        let c = GatewayConfig::parse(GOOD, "t").unwrap();
        assert_eq!(c.metrics_listen.port(), 19464);
        assert_eq!(c.state_topic, DEFAULT_STATE_TOPIC);
        let l = &c.links[0];
        assert_eq!(l.name, "demo");
        assert_eq!(l.source.bootstrap_servers, vec!["127.0.0.1:9092"]);
        assert_eq!(l.destination.bootstrap_servers.len(), 2);
        assert_eq!(l.mirror_topics, vec!["orders", "payments"]);
        assert_eq!(
            l.start_offset,
            StartOffsetSpec::Timestamp(1_795_255_200_000)
        );
        assert!(l.paused);
    }

    #[test]
    fn start_offset_spec_forms() {
        assert_eq!(
            StartOffsetSpec::parse("earliest"),
            Ok(StartOffsetSpec::Earliest)
        );
        assert_eq!(
            StartOffsetSpec::parse("latest"),
            Ok(StartOffsetSpec::Latest)
        );
        assert_eq!(
            StartOffsetSpec::parse("1970-01-01T00:00:01.5Z"),
            Ok(StartOffsetSpec::Timestamp(1500))
        );
        assert!(StartOffsetSpec::parse("yesterday")
            .unwrap_err()
            .contains("earliest"));
    }

    fn err(text: &str) -> String {
        GatewayConfig::parse(text, "t").unwrap_err().to_string()
    }

    #[test]
    fn rejects_bad_input_with_the_key_at_fault() {
        assert!(err("[gateway]\nbogus = 1").contains("unknown field"));
        assert!(err(&GOOD.replace("\"src\"\ndest", "\"nope\"\ndest")).contains("links[0].source"));
        assert!(err(&GOOD.replace("127.0.0.1:9092", "localhost")).contains("not host:port"));
        assert!(
            err(&GOOD.replace("\"orders\"", "\"bad topic\"")).contains("not a valid topic name")
        );
        assert!(err(&GOOD.replace("\"orders\"", "\"__consumer_offsets\"")).contains("internal"));
        assert!(
            err(&GOOD.replace("cluster.link.paused", "cluster.link.bogus"))
                .contains("not yet supported")
        );
        assert!(err(&GOOD.replace(
            "\"cluster.link.paused\" = true",
            "\"cluster.link.paused\" = \"maybe\""
        ))
        .contains("true or false"));
        assert!(err(&GOOD.replace("19464", "x")).contains("gateway.metrics_listen"));
        assert!(err("this is = not toml [").contains("malformed"));
        let e = err("[gateway]\napi_token = \"s3cret-token\n");
        assert!(!e.contains("s3cret") && e.contains("line 2"), "{e}");
        let e = err("[gateway]\napi_token = 12345678\n");
        assert!(!e.contains("12345678") && e.contains("line 2"), "{e}");
        let e = err("[gateway]\nnope = 1\n");
        assert!(e.contains("nope") && e.contains("line 2"), "{e}");
        let dup = format!("{GOOD}\n[[links]]\nname = \"demo\"\nsource = \"src\"\ndestination = \"dst\"\nmirror_topics = []\n");
        assert!(err(&dup).contains("duplicate link name"));
    }

    const PLUGINS: &str = r##"
[clusters.src]
"bootstrap.servers" = "127.0.0.1:9092"

[[plugins]]
name = "mask"
path = "masks/mask.wasm"
kind = "record-transform"
on_error = "skip"
timeout_ms = 50
[plugins.config]
fields = "ssn,card"
mask = "#"

[[plugins]]
name = "orders-only"
bundled = "topic-filter"
kind = "topic-filter"
[plugins.config]
"regex.include" = "orders.*"

[[links]]
name = "east"
source = "src"
destination = "src"
record_transforms = ["mask"]
topic_filters = ["orders-only"]
[links.config]
"cluster.link.prefix" = "east."
"consumer.group.prefix.enable" = "true"
"auto.create.mirror.topics.enable" = true
"auto.create.mirror.topics.filters" = '{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}'
"metadata.max.age.ms" = 1000
"##;

    #[test]
    fn plugins_and_property_served_chains() {
        let c = GatewayConfig::parse(PLUGINS, "t").unwrap();
        let mask = &c.plugins[0];
        assert_eq!(mask.kind, PluginKind::RecordTransform);
        assert_eq!(mask.on_error, OnError::Skip);
        assert_eq!(mask.timeout, Duration::from_millis(50));
        assert_eq!(mask.memory_limit, DEFAULT_PLUGIN_MEMORY_LIMIT);
        assert_eq!(
            mask.config,
            vec![
                ("fields".to_string(), "ssn,card".to_string()),
                ("mask".to_string(), "#".to_string())
            ]
        );
        let l = &c.links[0];
        assert!(l.auto_create);
        assert_eq!(l.metadata_max_age, Duration::from_millis(1000));
        assert_eq!(
            l.topic_filters,
            vec!["east/auto.create.mirror.topics.filters", "orders-only"]
        );
        assert_eq!(l.renamers, vec!["east/cluster.link.prefix"]);
        let prefix = c
            .plugins
            .iter()
            .find(|p| p.name == "east/cluster.link.prefix")
            .unwrap();
        assert_eq!(prefix.source, PluginSource::Bundled("prefix".into()));
        assert!(prefix.config.contains(&(
            "consumer.group.prefix.enable".to_string(),
            "true".to_string()
        )));
    }

    #[test]
    fn relative_plugin_paths_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("linkgate.toml");
        std::fs::write(&file, PLUGINS).unwrap();
        let c = GatewayConfig::load(&file).unwrap();
        assert_eq!(
            c.plugins[0].source,
            PluginSource::Path(dir.path().join("masks/mask.wasm"))
        );
    }

    #[test]
    fn rejects_bad_plugin_entries() {
        assert!(err(&PLUGINS.replace(
            "record_transforms = [\"mask\"]",
            "record_transforms = [\"nope\"]"
        ))
        .contains("no plugin named"));
        assert!(err(&PLUGINS.replace(
            "record_transforms = [\"mask\"]",
            "record_transforms = [\"orders-only\"]"
        ))
        .contains("is a topic-filter, not a record-transform"));
        assert!(
            err(&PLUGINS.replace("kind = \"record-transform\"", "kind = \"magic\""))
                .contains("plugins[0].kind")
        );
        assert!(
            err(&PLUGINS.replace("on_error = \"skip\"", "on_error = \"ignore\""))
                .contains("fail, skip or pass")
        );
        assert!(
            err(&PLUGINS.replace("bundled = \"topic-filter\"", "bundled = \"nope\""))
                .contains("no such bundled plugin")
        );
        assert!(err(&PLUGINS.replace("path = \"masks/mask.wasm\"", ""))
            .contains("exactly one of path or bundled"));
        assert!(
            err(&PLUGINS.replace("\"east.\"", "\"bad prefix!\"")).contains("cluster.link.prefix")
        );
        assert!(err(&PLUGINS.replace("'{\"topicFilters\"", "'{oops")).contains("JSON"));
    }

    #[test]
    fn api_token_is_redacted_and_required_off_loopback() {
        let with_token = format!(
            "[gateway]\napi_listen = \"0.0.0.0:8090\"\napi_token = \"s3cret-token\"\n{}",
            GOOD.replace("[gateway]", "")
        );
        let c = GatewayConfig::parse(&with_token, "t").unwrap();
        assert_eq!(
            c.api_token.as_ref().map(Secret::expose),
            Some("s3cret-token")
        );
        let dump = format!("{c:?}");
        assert!(!dump.contains("s3cret-token"), "{dump}");
        assert!(dump.contains("<redacted>"));
        let mut link = c.links.first().cloned().expect("GOOD has a link");
        link.properties
            .push(("sasl.jaas.config".into(), "password=\"hunter2\"".into()));
        let dump = format!("{link:?}");
        assert!(
            !dump.contains("hunter2") && dump.contains("sasl.jaas.config"),
            "{dump}"
        );
        let open = GOOD.replace("[gateway]", "[gateway]\napi_listen = \"0.0.0.0:8090\"");
        let e = err(&open);
        assert!(
            e.contains("gateway.api_listen") && e.contains("api_token"),
            "{e}"
        );
        let loopback = GOOD.replace("[gateway]", "[gateway]\napi_listen = \"127.0.0.1:18090\"");
        assert!(GatewayConfig::parse(&loopback, "t")
            .unwrap()
            .api_token
            .is_none());
        assert!(
            err(&GOOD.replace("[gateway]", "[gateway]\napi_token = \" \""))
                .contains("gateway.api_token")
        );
    }

    /// `GOOD` with `lines` added to `[gateway]`.
    fn gateway_with(lines: &str) -> String {
        GOOD.replace("[gateway]", &format!("[gateway]\n{lines}"))
    }

    /// The key and message of the config error of `text` loaded from a
    /// file in `dir` (so relative paths are relative to `dir`).
    fn load_err(dir: &Path, text: &str) -> (String, String) {
        let file = dir.join("linkgate.toml");
        std::fs::write(&file, text).unwrap();
        match GatewayConfig::load(&file) {
            Err(ConfigError::Invalid { key, message }) => (key, message),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn api_tls_settings_are_read_and_checked_at_load() {
        use crate::test_pki::{PemDir, TestCa};
        let ca = TestCa::new("config test CA");
        let files = PemDir::new();
        let server = ca.server(&["localhost"]);
        files.write("api.pem", &server.cert_pem);
        files.write("api-key.pem", &server.key_pem);
        files.write("other-key.pem", &ca.server(&["localhost"]).key_pem);
        files.write("clients.pem", &ca.cert_pem());
        let dir = files.path();

        // Relative paths are relative to the config file.
        let tls = "api_tls_cert = \"api.pem\"\napi_tls_key = \"api-key.pem\"\n";
        let file = dir.join("linkgate.toml");
        std::fs::write(&file, gateway_with(tls)).unwrap();
        let c = GatewayConfig::load(&file).unwrap();
        let api_tls = c.api_tls.as_ref().expect("TLS configured");
        assert!(!api_tls.requires_client_certificate());
        assert!(!c.api_token_on_reads);
        let dump = format!("{c:?}");
        assert!(
            dump.contains("api.pem") && !dump.contains("PRIVATE KEY"),
            "{dump}"
        );
        let key_body = server.key_pem.lines().nth(1).unwrap_or_default();
        assert!(!dump.contains(key_body), "{dump}");
        assert!(GatewayConfig::parse(GOOD, "t").unwrap().api_tls.is_none());

        // One without the other names the missing key.
        let (key, m) = load_err(dir, &gateway_with("api_tls_cert = \"api.pem\""));
        assert_eq!(key, "gateway.api_tls_key", "{m}");
        let (key, m) = load_err(dir, &gateway_with("api_tls_key = \"api-key.pem\""));
        assert_eq!(key, "gateway.api_tls_cert", "{m}");
        // Unreadable, wrong content, a key of another certificate.
        let (key, m) = load_err(
            dir,
            &gateway_with("api_tls_cert = \"nope.pem\"\napi_tls_key = \"api-key.pem\""),
        );
        assert_eq!(key, "gateway.api_tls_cert");
        assert!(m.contains("nope.pem") && m.contains("cannot read"), "{m}");
        let (key, m) = load_err(
            dir,
            &gateway_with("api_tls_cert = \"api.pem\"\napi_tls_key = \"api.pem\""),
        );
        assert_eq!(key, "gateway.api_tls_key");
        assert!(m.contains("no private key"), "{m}");
        let (key, m) = load_err(
            dir,
            &gateway_with("api_tls_cert = \"api-key.pem\"\napi_tls_key = \"api-key.pem\""),
        );
        assert_eq!(key, "gateway.api_tls_cert");
        assert!(m.contains("no certificate") && !m.contains(key_body), "{m}");
        let (key, m) = load_err(
            dir,
            &gateway_with("api_tls_cert = \"api.pem\"\napi_tls_key = \"other-key.pem\""),
        );
        assert_eq!(key, "gateway.api_tls_key");
        assert!(m.contains("does not match"), "{m}");

        // A client CA needs TLS; with TLS it requires client certificates
        // and stands in for api_token off loopback.
        let (key, m) = load_err(dir, &gateway_with("api_tls_client_ca = \"clients.pem\""));
        assert_eq!(key, "gateway.api_tls_client_ca");
        assert!(m.contains("api_tls_cert"), "{m}");
        let (key, m) = load_err(
            dir,
            &gateway_with(&format!("{tls}api_tls_client_ca = \"missing-ca.pem\"")),
        );
        assert_eq!(key, "gateway.api_tls_client_ca");
        assert!(m.contains("missing-ca.pem"), "{m}");
        let (key, _) = load_err(
            dir,
            &gateway_with(&format!("{tls}api_listen = \"0.0.0.0:8090\"")),
        );
        assert_eq!(key, "gateway.api_listen");
        std::fs::write(
            &file,
            gateway_with(&format!(
                "{tls}api_tls_client_ca = \"clients.pem\"\napi_listen = \"0.0.0.0:8090\""
            )),
        )
        .unwrap();
        let c = GatewayConfig::load(&file).unwrap();
        assert!(c.api_token.is_none());
        assert!(c.api_tls.as_ref().unwrap().requires_client_certificate());
    }

    #[test]
    fn api_token_on_reads_needs_a_token() {
        let (key, m) = match GatewayConfig::parse(&gateway_with("api_token_on_reads = true"), "t") {
            Err(ConfigError::Invalid { key, message }) => (key, message),
            other => panic!("expected an invalid config, got {other:?}"),
        };
        assert_eq!(key, "gateway.api_token_on_reads");
        assert!(m.contains("api_token"), "{m}");
        let c = GatewayConfig::parse(
            &gateway_with("api_token = \"s3cret-token\"\napi_token_on_reads = true"),
            "t",
        )
        .unwrap();
        assert!(c.api_token_on_reads);
        let c = GatewayConfig::parse(&gateway_with("api_token_on_reads = false"), "t").unwrap();
        assert!(!c.api_token_on_reads);
    }

    fn props(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn api_err(c: &GatewayConfig, source: Option<&str>, list: &[(&str, &str)]) -> (String, String) {
        match c.api_link("api", "dst", source, &props(list)) {
            Err(ConfigError::Invalid { key, message }) => (key, message),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn api_links_take_source_client_properties() {
        let c = GatewayConfig::parse(GOOD, "t").unwrap();
        let b = c
            .api_link(
                "api",
                "dst",
                None,
                &props(&[
                    ("bootstrap.servers", "10.0.0.1:9092, 10.0.0.2:9092"),
                    ("request.timeout.ms", "1500"),
                    ("socket.connection.setup.timeout.ms", "700"),
                    ("cluster.link.paused", "true"),
                ]),
            )
            .unwrap();
        let l = &b.link;
        assert_eq!(l.name, "api");
        assert_eq!(l.source.name, "api-source");
        assert_eq!(
            l.source.bootstrap_servers,
            vec!["10.0.0.1:9092", "10.0.0.2:9092"]
        );
        assert_eq!(l.source.request_timeout, Duration::from_millis(1500));
        assert_eq!(l.source.connect_timeout, Duration::from_millis(700));
        assert_eq!(l.source.client_id, c.client_id);
        assert_eq!(l.destination.name, "dst");
        assert!(l.paused);
        assert!(l.mirror_topics.is_empty());
        assert!(b.plugins.is_empty());
        assert!(l.write_deny_principals.is_empty());
        assert_eq!(l.properties.len(), 4);

        // A [clusters] alias as source_cluster_id: its settings.
        let b = c.api_link("api", "dst", Some("src"), &[]).unwrap();
        assert_eq!(b.link.source.name, "src");
        assert_eq!(b.link.source.bootstrap_servers, vec!["127.0.0.1:9092"]);
        // A Kafka cluster id is only a label.
        let b = c
            .api_link(
                "api",
                "dst",
                Some("kafka-id-1"),
                &props(&[("bootstrap.servers", "h:1")]),
            )
            .unwrap();
        assert_eq!(b.link.source.name, "kafka-id-1");
        // Equal inputs give equal configs; a changed property does not.
        let a1 = c.api_link("api", "dst", Some("src"), &[]).unwrap();
        let a2 = c.api_link("api", "dst", Some("src"), &[]).unwrap();
        assert_eq!(a1, a2);
        let a3 = c
            .api_link(
                "api",
                "dst",
                Some("src"),
                &props(&[("request.timeout.ms", "5")]),
            )
            .unwrap();
        assert_ne!(a1.link, a3.link);
    }

    #[test]
    fn api_link_errors_name_the_property() {
        let c = GatewayConfig::parse(GOOD, "t").unwrap();
        let (k, m) = api_err(&c, None, &[]);
        assert_eq!(k, "bootstrap.servers");
        assert!(m.contains("required"), "{m}");
        assert_eq!(
            api_err(&c, None, &[("bootstrap.servers", "nohost")]).0,
            "bootstrap.servers"
        );
        assert_eq!(
            api_err(&c, Some("src"), &[("request.timeout.ms", "0")]).0,
            "request.timeout.ms"
        );
        assert_eq!(
            api_err(
                &c,
                Some("src"),
                &[("socket.connection.setup.timeout.ms", "x")]
            )
            .0,
            "socket.connection.setup.timeout.ms"
        );
        let (k, m) = api_err(&c, Some("src"), &[("sasl.jaas.config", "secret-value")]);
        assert_eq!(k, "sasl.jaas.config");
        assert!(
            m.contains("security.protocol is PLAINTEXT") && !m.contains("secret-value"),
            "{m}"
        );
        let (k, m) = api_err(
            &c,
            Some("src"),
            &[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "PLAIN"),
                (
                    "sasl.jaas.config",
                    "PlainLoginModule required username=\"u\" password=\"secret-value\"",
                ),
            ],
        );
        assert_eq!(k, "sasl.jaas.config");
        assert!(m.contains(";") && !m.contains("secret-value"), "{m}");
        let (k, m) = api_err(
            &c,
            Some("src"),
            &[
                ("cluster.link.paused", "true"),
                ("cluster.link.paused", "false"),
            ],
        );
        assert_eq!(k, "cluster.link.paused");
        assert!(m.contains("more than once"));
        assert_eq!(
            api_err(&c, Some("src"), &[("linkgate.renamers", "nope")]).0,
            "linkgate.renamers"
        );
        assert_eq!(
            api_err(
                &c,
                Some("src"),
                &[("linkgate.mirror.write.deny.principals", "alice")]
            )
            .0,
            "linkgate.mirror.write.deny.principals"
        );
        assert_eq!(
            api_err(
                &c,
                Some("src"),
                &[("linkgate.mirror.write.deny.enable", "yes")]
            )
            .0,
            "linkgate.mirror.write.deny.enable"
        );
        match c.api_link("bad name", "dst", Some("src"), &[]) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "link_name"),
            other => panic!("{other:?}"),
        }
        match c.api_link("ok", "nope", Some("src"), &[]) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "destination"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn link_and_connection_mode_accept_only_the_defaults() {
        let c = GatewayConfig::parse(GOOD, "t").unwrap();
        let ok = [
            ("bootstrap.servers", "h:1"),
            ("link.mode", "DESTINATION"),
            ("connection.mode", "outbound"),
        ];
        assert!(c.api_link("api", "dst", None, &props(&ok)).is_ok());
        for (prop, value) in [
            ("link.mode", "SOURCE"),
            ("link.mode", "BIDIRECTIONAL"),
            ("connection.mode", "INBOUND"),
        ] {
            let (k, m) = api_err(&c, None, &[("bootstrap.servers", "h:1"), (prop, value)]);
            assert_eq!(k, prop);
            assert!(
                m.contains("dials both") && m.contains("jump cluster"),
                "{m}"
            );
        }
    }

    #[test]
    fn cluster_security_properties_and_references() {
        std::env::set_var("LINKGATE_TEST_JAAS_CONFIG_MOD", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"pw-from-env\";");
        let text = GOOD.replace(
            "[clusters.dst]",
            "[clusters.dst]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"SCRAM-SHA-512\"\n\"sasl.jaas.config\" = \"${env:LINKGATE_TEST_JAAS_CONFIG_MOD}\"",
        );
        let c = GatewayConfig::parse(&text, "t").unwrap();
        let dst = c.clusters.get("dst").unwrap();
        assert_eq!(
            dst.security.protocol,
            crate::kafka::SecurityProtocol::SaslPlaintext
        );
        assert!(!format!("{c:?}").contains("pw-from-env"));
        let missing = GOOD.replace(
            "[clusters.dst]",
            "[clusters.dst]\n\"ssl.truststore.location\" = \"${env:LINKGATE_TEST_UNSET_VAR}\"",
        );
        let e = GatewayConfig::parse(&missing, "t").unwrap_err().to_string();
        assert!(
            e.contains("ssl.truststore.location") && e.contains("LINKGATE_TEST_UNSET_VAR"),
            "{e}"
        );
        let unknown = GOOD.replace(
            "[clusters.dst]",
            "[clusters.dst]\n\"ssl.cipher.suites\" = \"x\"",
        );
        let e = GatewayConfig::parse(&unknown, "t").unwrap_err().to_string();
        assert!(
            e.contains("ssl.cipher.suites") && e.contains("Security"),
            "{e}"
        );
        let mixed = GOOD.replace(
            "\"bootstrap.servers\" = \"127.0.0.1:9093",
            "\"security.protocol\" = \"SSL\"\n\"bootstrap.servers\" = \"SASL_SSL://127.0.0.1:9093",
        );
        let e = GatewayConfig::parse(&mixed, "t").unwrap_err().to_string();
        assert!(e.contains("contradicts security.protocol=SSL"), "{e}");
    }

    #[test]
    fn write_deny_principals() {
        let c = GatewayConfig::parse(GOOD, "t").unwrap();
        let on = |extra: &[(&str, &str)]| {
            let mut list = vec![("linkgate.mirror.write.deny.enable", "true")];
            list.extend_from_slice(extra);
            c.api_link("api", "dst", Some("src"), &props(&list))
                .unwrap()
                .link
                .write_deny_principals
        };
        assert_eq!(on(&[]), vec!["User:*"]);
        assert_eq!(
            on(&[(
                "linkgate.mirror.write.deny.principals",
                "User:alice, User:bob"
            )]),
            vec!["User:alice", "User:bob"]
        );
        let off = c
            .api_link(
                "api",
                "dst",
                Some("src"),
                &props(&[("linkgate.mirror.write.deny.principals", "User:alice")]),
            )
            .unwrap();
        assert!(off.link.write_deny_principals.is_empty());
        // File links take the same properties.
        let file = GOOD.replace(
            "\"cluster.link.paused\" = true",
            "\"linkgate.mirror.write.deny.enable\" = true",
        );
        let c = GatewayConfig::parse(&file, "t").unwrap();
        assert_eq!(c.links[0].write_deny_principals, vec!["User:*"]);
    }

    #[test]
    fn chain_properties_and_property_plugins_for_api_links() {
        let c = GatewayConfig::parse(PLUGINS, "t").unwrap();
        let b = c
            .api_link(
                "west",
                "src",
                Some("src"),
                &props(&[
                    ("linkgate.record.transforms", "mask"),
                    ("linkgate.topic.filters", " orders-only ,"),
                    ("cluster.link.prefix", "west."),
                ]),
            )
            .unwrap();
        assert_eq!(b.link.record_transforms, vec!["mask"]);
        assert_eq!(b.link.topic_filters, vec!["orders-only"]);
        assert_eq!(b.link.renamers, vec!["west/cluster.link.prefix"]);
        assert_eq!(b.plugins.len(), 1);
        assert_eq!(b.plugins[0].name, "west/cluster.link.prefix");
        // A property-served plugin of another link is not a [[plugins]] name.
        let e = c.api_link(
            "west",
            "src",
            Some("src"),
            &props(&[("linkgate.renamers", "east/cluster.link.prefix")]),
        );
        assert!(matches!(e, Err(ConfigError::Invalid { key, .. }) if key == "linkgate.renamers"));
        let e = c.api_link(
            "west",
            "src",
            Some("src"),
            &props(&[("linkgate.topic.filters", "mask")]),
        );
        assert!(
            matches!(&e, Err(ConfigError::Invalid { message, .. }) if message.contains("not a topic-filter")),
            "{e:?}"
        );
    }

    #[test]
    fn consumer_offset_sync_properties() {
        let c = GatewayConfig::parse(PLUGINS, "t").unwrap();
        let filters =
            r#"{"groupFilters":[{"name":"app-","patternType":"PREFIXED","filterType":"INCLUDE"}]}"#;
        let b = c
            .api_link(
                "west",
                "src",
                Some("src"),
                &props(&[
                    ("consumer.offset.sync.enable", "true"),
                    ("consumer.offset.sync.ms", "1500"),
                    ("consumer.offset.group.filters", filters),
                ]),
            )
            .unwrap();
        let o = &b.link.offset_sync;
        assert!(o.enable);
        assert_eq!(o.interval, Duration::from_millis(1500));
        // The JSON is served by the bundled group filter, head of the chain.
        assert_eq!(o.group_filters, ["west/consumer.offset.group.filters"]);
        assert_eq!(b.plugins.len(), 1);
        let served = &b.plugins[0];
        assert_eq!(served.name, "west/consumer.offset.group.filters");
        assert_eq!(served.source, PluginSource::Bundled("group-filter".into()));
        assert_eq!(served.kind, PluginKind::GroupFilter);
        assert_eq!(
            served.config,
            vec![("filters".to_string(), filters.to_string())]
        );
        let plain = c.api_link("west", "src", Some("src"), &props(&[])).unwrap();
        assert_eq!(plain.link.offset_sync, OffsetSyncConfig::default());
        // Only the sync settings differ: applied without a restart.
        assert!(plain.link.same_but_tasks(&b.link));
        assert!(plain.link.same_but_live(&b.link));
        let paused = c
            .api_link(
                "west",
                "src",
                Some("src"),
                &props(&[("cluster.link.paused", "true")]),
            )
            .unwrap();
        assert!(!plain.link.same_but_tasks(&paused.link));
        for (k, v, needle) in [
            ("consumer.offset.sync.ms", "0", "ms"),
            ("consumer.offset.sync.enable", "yes", "true"),
            (
                "consumer.offset.group.filters",
                "{\"groupFilters\":[{\"name\":\"a\",\"patternType\":\"REGEX\"}]}",
                "groupFilters",
            ),
        ] {
            let e = c.api_link("west", "src", Some("src"), &props(&[(k, v)]));
            assert!(
                matches!(&e, Err(ConfigError::Invalid { key, message }) if key == k && message.contains(needle)),
                "{k}={v}: {e:?}"
            );
        }
    }

    const GROUP_PLUGINS: &str = r##"
[clusters.src]
"bootstrap.servers" = "127.0.0.1:9092"

[[plugins]]
name = "suffix"
path = "groups.wasm"
kind = "group-filter"
[plugins.config]
suffix = "-dr"

[[plugins]]
name = "more"
bundled = "group-filter"
kind = "group-filter"
[plugins.config]
filters = '{"groupFilters":[{"name":"*"}]}'

[[plugins]]
name = "orders-only"
bundled = "topic-filter"
kind = "topic-filter"

[[links]]
name = "east"
source = "src"
destination = "src"
group_filters = ["suffix"]
[links.config]
"consumer.offset.sync.enable" = true
"consumer.offset.group.filters" = '{"groupFilters":[{"name":"app-","patternType":"PREFIXED"}]}'
"linkgate.group.filters" = "more"
"##;

    /// The group filter chain: the JSON property's bundled plugin first,
    /// then the file field, then `linkgate.group.filters`; a change of any
    /// of them is a live task setting (no restart), and a plugin of another
    /// kind is refused naming the property or field.
    #[test]
    fn group_filter_chain_from_property_field_and_chain_property() {
        let c = GatewayConfig::parse(GROUP_PLUGINS, "t").unwrap();
        let east = &c.links[0];
        assert_eq!(
            east.offset_sync.group_filters,
            ["east/consumer.offset.group.filters", "suffix", "more"]
        );
        assert!(east.topic_filters.is_empty());
        let served = c
            .plugins
            .iter()
            .find(|p| p.name == "east/consumer.offset.group.filters")
            .expect("property plugin");
        assert_eq!(served.source, PluginSource::Bundled("group-filter".into()));
        assert_eq!(served.kind, PluginKind::GroupFilter);

        let changed = |from: &str, to: &str| {
            let text = GROUP_PLUGINS.replace(from, to);
            assert_ne!(text, GROUP_PLUGINS, "{from}");
            GatewayConfig::parse(&text, "t").unwrap().links[0].clone()
        };
        for other in [
            changed("group_filters = [\"suffix\"]", "group_filters = []"),
            changed("\"linkgate.group.filters\" = \"more\"", ""),
            changed("\"name\":\"app-\"", "\"name\":\"billing-\""),
        ] {
            assert_ne!(*east, other);
            assert!(east.same_but_live(&other), "{other:?}");
            assert!(east.same_but_tasks(&other), "{other:?}");
        }
        let no_json = changed(
            "\"consumer.offset.group.filters\" = '{\"groupFilters\":[{\"name\":\"app-\",\"patternType\":\"PREFIXED\"}]}'",
            "",
        );
        assert_eq!(no_json.offset_sync.group_filters, ["suffix", "more"]);

        let refused = |from: &str, to: &str| {
            GatewayConfig::parse(&GROUP_PLUGINS.replace(from, to), "t").unwrap_err()
        };
        let e = refused(
            "group_filters = [\"suffix\"]",
            "group_filters = [\"orders-only\"]",
        );
        assert!(
            matches!(&e, ConfigError::Invalid { key, message }
                if key == "links[0].group_filters" && message.contains("not a group-filter")),
            "{e:?}"
        );
        let e = refused(
            "\"linkgate.group.filters\" = \"more\"",
            "\"linkgate.group.filters\" = \"nope\"",
        );
        assert!(
            matches!(&e, ConfigError::Invalid { key, message }
                if key.ends_with("\"linkgate.group.filters\"") && message.contains("no plugin named")),
            "{e:?}"
        );
        let e = refused("\"name\":\"app-\"", "\"name\":\"\"");
        assert!(
            matches!(&e, ConfigError::Invalid { key, message }
                if key.ends_with("\"consumer.offset.group.filters\"") && message.contains("empty name")),
            "{e:?}"
        );

        // An API link names declared group filters with the property.
        let b = c
            .api_link(
                "west",
                "src",
                Some("src"),
                &props(&[("linkgate.group.filters", "suffix, more")]),
            )
            .unwrap();
        assert_eq!(b.link.offset_sync.group_filters, ["suffix", "more"]);
        assert!(b.plugins.is_empty());
        let plain = c.api_link("west", "src", Some("src"), &props(&[])).unwrap();
        assert!(plain.link.same_but_tasks(&b.link));
    }

    #[test]
    fn file_links_take_chain_properties_but_not_source_client_properties() {
        let file = PLUGINS.replace(
            "\"metadata.max.age.ms\" = 1000",
            "\"metadata.max.age.ms\" = 1000\n\"linkgate.record.transforms\" = \"mask\"",
        );
        let c = GatewayConfig::parse(&file, "t").unwrap();
        assert_eq!(c.links[0].record_transforms, vec!["mask", "mask"]);
        let e = err(&GOOD.replace(
            "\"cluster.link.paused\" = true",
            "\"bootstrap.servers\" = \"127.0.0.1:1\"",
        ));
        assert!(
            e.contains("links[0].config.\"bootstrap.servers\"") && e.contains("[clusters"),
            "{e}"
        );
        let c = GatewayConfig::parse(GOOD, "t").unwrap();
        assert_eq!(c.clusters.len(), 2);
        let changed =
            GatewayConfig::parse(&GOOD.replace("\"cluster.link.paused\" = true", ""), "t").unwrap();
        assert_ne!(c.links[0], changed.links[0]);
        assert!(!c.links[0].same_but_chains(&changed.links[0]));
        let mut chains_only = c.links[0].clone();
        chains_only.renamers.push("x".into());
        assert!(c.links[0].same_but_chains(&chains_only));
        assert_ne!(c.links[0], chains_only);
    }
}
