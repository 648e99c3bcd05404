//! The gateway's TOML config file: the serde model ([`file`]) and its
//! validation into the runtime settings the rest of the gateway reads
//! ([`GatewayConfig`], [`LinkConfig`]).
//!
//! The file names clusters by alias and links by name; link properties use
//! Confluent Cluster Linking's property names (`mirror.start.offset.spec`,
//! `cluster.link.paused`). Validation turns every problem into a
//! [`ConfigError`] naming the key at fault; nothing is half-applied.

mod file;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::kafka::ClusterSettings;
pub use crate::plugin::{OnError, PluginKind};

pub use file::ConfigFile;

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
    /// A plugin bundled with linkgate: `topic-filter`, `prefix`, `acl-map`,
    /// `record-filter`, `json-mask`.
    Bundled(String),
}

/// Names of the bundled plugins.
pub const BUNDLED_PLUGINS: [&str; 5] = [
    "topic-filter",
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
/// with the link's Confluent properties already parsed.
#[derive(Debug, Clone)]
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
        let mut config = Self::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
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
    ///
    /// # Errors
    /// As [`GatewayConfig::load`].
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        Self::validate(file)
    }

    fn validate(file: ConfigFile) -> Result<Self, ConfigError> {
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
        let client_id = gw.client_id.unwrap_or_else(|| "linkgate".to_string());
        let state_topic = gw
            .state_topic
            .unwrap_or_else(|| DEFAULT_STATE_TOPIC.to_string());
        validate_topic_name(&state_topic).map_err(|m| invalid("gateway.state_topic".into(), m))?;

        let mut clusters = BTreeMap::new();
        for (alias, c) in &file.clusters {
            let key = format!("clusters.{alias}");
            let servers: Vec<String> = c
                .bootstrap_servers
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if servers.is_empty() {
                return Err(invalid(
                    format!("{key}.\"bootstrap.servers\""),
                    "must list at least one host:port".into(),
                ));
            }
            for s in &servers {
                let ok = s
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !ok {
                    return Err(invalid(
                        format!("{key}.\"bootstrap.servers\""),
                        format!("{s:?} is not host:port"),
                    ));
                }
            }
            let mut settings = ClusterSettings::new(alias.clone(), servers);
            settings.client_id = client_id.clone();
            if let Some(ms) = c.request_timeout_ms {
                settings.request_timeout =
                    positive_ms(ms, &format!("{key}.\"request.timeout.ms\""))?;
            }
            if let Some(ms) = c.connect_timeout_ms {
                settings.connect_timeout =
                    positive_ms(ms, &format!("{key}.\"socket.connection.setup.timeout.ms\""))?;
            }
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

        let mut links = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, l) in file.links.into_iter().enumerate() {
            let key = format!("links[{i}]");
            if l.name.is_empty()
                || !l
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("{:?}: a link name is non-empty and uses only ASCII letters, digits, '.', '_' and '-'", l.name),
                ));
            }
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
            let mut seen = std::collections::BTreeSet::new();
            for t in &l.mirror_topics {
                validate_topic_name(t).map_err(|m| invalid(format!("{key}.mirror_topics"), m))?;
                if t == &state_topic || t.starts_with("__") {
                    return Err(invalid(
                        format!("{key}.mirror_topics"),
                        format!("{t:?} is an internal topic and cannot be mirrored"),
                    ));
                }
                if !seen.insert(t.clone()) {
                    return Err(invalid(
                        format!("{key}.mirror_topics"),
                        format!("{t:?} is listed twice"),
                    ));
                }
            }
            let mut start_offset = StartOffsetSpec::Earliest;
            let mut paused = false;
            let mut auto_create = false;
            let mut metadata_max_age = Duration::from_millis(300_000);
            let mut prefix: Option<String> = None;
            let mut group_prefix = false;
            let mut filters_json: Option<String> = None;
            let mut properties = Vec::new();
            for (prop, value) in &l.config {
                let pkey = format!("{key}.config.\"{prop}\"");
                let text = property_text(value).ok_or_else(|| {
                    invalid(pkey.clone(), "expected a string, number or boolean".into())
                })?;
                properties.push((prop.clone(), text.clone()));
                match prop.as_str() {
                    "mirror.start.offset.spec" => {
                        start_offset =
                            StartOffsetSpec::parse(&text).map_err(|m| invalid(pkey, m))?;
                    }
                    "cluster.link.paused" => paused = parse_bool(&pkey, &text)?,
                    "auto.create.mirror.topics.enable" => auto_create = parse_bool(&pkey, &text)?,
                    "consumer.group.prefix.enable" => group_prefix = parse_bool(&pkey, &text)?,
                    "cluster.link.prefix" => {
                        if !text.is_empty() {
                            validate_topic_name(&text).map_err(|m| {
                                invalid(
                                    pkey,
                                    format!("the prefix must be usable in topic names: {m}"),
                                )
                            })?;
                            prefix = Some(text);
                        }
                    }
                    "auto.create.mirror.topics.filters" => {
                        serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
                            invalid(
                                pkey,
                                format!(
                                    "expected a JSON object like {{\"topicFilters\":[...]}}: {e}"
                                ),
                            )
                        })?;
                        filters_json = Some(text);
                    }
                    "metadata.max.age.ms" => {
                        let ms: u64 = text.parse().map_err(|_| {
                            invalid(
                                pkey.clone(),
                                format!("expected a number of ms, got {text:?}"),
                            )
                        })?;
                        metadata_max_age = positive_ms(ms, &pkey)?;
                    }
                    other => {
                        return Err(invalid(
                            pkey,
                            format!(
                                "unknown or not yet supported link property {other:?} (supported: {})",
                                SUPPORTED_LINK_PROPERTIES.join(", ")
                            ),
                        ));
                    }
                }
            }
            // Chains: declared plugins of the right kind, plus the ones that
            // serve link properties (bundled plugins).
            let chain = |names: Vec<String>, kind: PluginKind, field: &str| {
                for n in &names {
                    match declared.get(n) {
                        Some(k) if *k == kind => {}
                        Some(k) => {
                            return Err(invalid(
                                format!("{key}.{field}"),
                                format!(
                                    "plugin {n:?} is a {}, not a {}",
                                    k.as_str(),
                                    kind.as_str()
                                ),
                            ))
                        }
                        None => {
                            return Err(invalid(
                                format!("{key}.{field}"),
                                format!("no plugin named {n:?} in [[plugins]]"),
                            ))
                        }
                    }
                }
                Ok(names)
            };
            let mut topic_filters =
                chain(l.topic_filters, PluginKind::TopicFilter, "topic_filters")?;
            let mut renamers = chain(l.renamers, PluginKind::Renamer, "renamers")?;
            let acl_mappers = chain(l.acl_mappers, PluginKind::AclMapper, "acl_mappers")?;
            let record_transforms = chain(
                l.record_transforms,
                PluginKind::RecordTransform,
                "record_transforms",
            )?;
            if let Some(json) = filters_json {
                let name = format!("{}/auto.create.mirror.topics.filters", l.name);
                plugins.push(bundled(
                    &name,
                    "topic-filter",
                    PluginKind::TopicFilter,
                    vec![("filters".into(), json)],
                ));
                topic_filters.insert(0, name);
            }
            if let Some(prefix) = prefix {
                let name = format!("{}/cluster.link.prefix", l.name);
                plugins.push(bundled(
                    &name,
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
                renamers.push(name);
            }
            links.push(LinkConfig {
                name: l.name,
                source,
                destination,
                mirror_topics: l.mirror_topics,
                start_offset,
                paused,
                auto_create,
                metadata_max_age,
                topic_filters,
                renamers,
                acl_mappers,
                record_transforms,
                properties,
                write_deny_principals: Vec::new(),
            });
        }
        Ok(Self {
            metrics_listen,
            client_id,
            state_topic,
            links,
            plugins,
            api_listen,
            api_listen_explicit,
        })
    }
}

/// Link properties linkgate understands (Confluent's names).
pub const SUPPORTED_LINK_PROPERTIES: [&str; 7] = [
    "mirror.start.offset.spec",
    "cluster.link.paused",
    "cluster.link.prefix",
    "consumer.group.prefix.enable",
    "auto.create.mirror.topics.enable",
    "auto.create.mirror.topics.filters",
    "metadata.max.age.ms",
];

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
}
