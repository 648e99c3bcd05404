//! Host-side plugin vocabulary: the plugin kinds and `on_error` policies of
//! the gateway config, the [`PluginSpec`] a plugin is loaded from, and the
//! WIT types of `linkgate:plugin/types@0.1.0` (re-exported from the generated
//! bindings, so a value crosses into the guest without conversion).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;

use super::bindings::types as wit;

/// A topic of the source cluster as a topic filter sees it (WIT
/// `source-topic`): name, partition count, non-default configs
/// (DescribeConfigs), internal flag.
pub use wit::SourceTopic;

/// One ACL binding (WIT `acl-binding`, Kafka `AclBinding`).
pub use wit::AclBinding;

/// ACL resource kind (WIT `resource-type`, Kafka `ResourceType`; the
/// client layer's is [`crate::kafka::ResourceType`]).
pub use wit::ResourceType;

/// ACL resource pattern kind (WIT `pattern-type`, Kafka `PatternType`).
pub use wit::PatternType;

/// ACL operation (WIT `acl-operation`, Kafka `AclOperation`).
pub use wit::AclOperation;

/// ACL permission (WIT `acl-permission`, Kafka `AclPermissionType`).
pub use wit::AclPermission;

/// One record header (WIT `header`): string key, nullable bytes value.
pub use wit::Header;

/// One decoded record (WIT `kafka-record`): source offset, timestamp (ms,
/// -1 = none), nullable key and value, headers in order.
pub use wit::KafkaRecord;

/// The records of one source batch as given to a record transform (WIT
/// `record-batch`: topic, partition, records in offset order, at least one).
pub use wit::RecordBatch as RecordBatchIn;

/// New content for a record (WIT `replacement`); its offset stays the
/// source record's. `timestamp` must be >= -1 (ms, -1 = none).
pub use wit::Replacement;

/// What happens to one record (WIT `verdict`): `Keep`, `Drop` or
/// `Replace(Replacement)`.
pub use wit::Verdict;

/// Kind of a plugin: which WIT world its component exports. The config
/// names (`kind = "..."` of a `[[plugins]]` entry) are the world names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// `topic-filter`: which source topics a link mirrors (`mirror-topic`).
    TopicFilter,
    /// `group-filter`: which source consumer groups the offset sync takes
    /// (`sync-group`).
    GroupFilter,
    /// `renamer`: mirror topic and consumer group names (`rename-topic`,
    /// `rename-group`).
    Renamer,
    /// `acl-mapper`: source ACL bindings to destination bindings (`map-acl`).
    AclMapper,
    /// `record-transform`: keeps, drops or replaces records, one call per
    /// record batch (`transform`).
    RecordTransform,
}

impl PluginKind {
    /// Every kind, in config order.
    pub const ALL: [PluginKind; 5] = [
        PluginKind::TopicFilter,
        PluginKind::GroupFilter,
        PluginKind::Renamer,
        PluginKind::AclMapper,
        PluginKind::RecordTransform,
    ];

    /// The config name, which is also the WIT world name: `topic-filter`,
    /// `group-filter`, `renamer`, `acl-mapper`, `record-transform`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::TopicFilter => "topic-filter",
            PluginKind::GroupFilter => "group-filter",
            PluginKind::Renamer => "renamer",
            PluginKind::AclMapper => "acl-mapper",
            PluginKind::RecordTransform => "record-transform",
        }
    }

    /// Fully qualified WIT world, e.g. `linkgate:plugin/renamer@0.1.0`.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::TopicFilter => "linkgate:plugin/topic-filter@0.1.0",
            PluginKind::GroupFilter => "linkgate:plugin/group-filter@0.1.0",
            PluginKind::Renamer => "linkgate:plugin/renamer@0.1.0",
            PluginKind::AclMapper => "linkgate:plugin/acl-mapper@0.1.0",
            PluginKind::RecordTransform => "linkgate:plugin/record-transform@0.1.0",
        }
    }

    /// The functions a component of this world exports (WIT names), `init`
    /// first.
    pub fn exports(self) -> &'static [&'static str] {
        match self {
            PluginKind::TopicFilter => &["init", "mirror-topic"],
            PluginKind::GroupFilter => &["init", "sync-group"],
            PluginKind::Renamer => &["init", "rename-topic", "rename-group"],
            PluginKind::AclMapper => &["init", "map-acl"],
            PluginKind::RecordTransform => &["init", "transform"],
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no plugin kind or `on_error` policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of {expected}")]
pub struct ParseNameError {
    /// What was parsed: `plugin kind` or `on_error policy`.
    pub what: &'static str,
    /// The string given.
    pub value: String,
    /// The accepted names, comma-separated.
    pub expected: &'static str,
}

impl FromStr for PluginKind {
    type Err = ParseNameError;

    /// Parses a config name (`topic-filter`, `group-filter`, `renamer`,
    /// `acl-mapper`, `record-transform`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PluginKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseNameError {
                what: "plugin kind",
                value: s.to_string(),
                expected: "topic-filter, group-filter, renamer, acl-mapper, record-transform",
            })
    }
}

/// What the gateway does when a plugin call fails (trap, timeout, memory
/// limit, invalid result). Per kind (plugins contract):
///
/// | kind             | `fail`                          | `skip`                         | `pass`                       |
/// |------------------|---------------------------------|--------------------------------|------------------------------|
/// | topic-filter     | not mirrored, link reports it   | not mirrored (counted)         | filter ignored (counts yes)  |
/// | group-filter     | group not synced, task IN_ERROR for it | not synced (counted)    | filter ignored (counts yes)  |
/// | renamer          | mirror topic not created (error)| not created (counted)          | name left unchanged          |
/// | acl-mapper       | binding not synced (error)      | binding not synced (counted)   | binding passes unchanged     |
/// | record-transform | mirror partition FAILED, waits  | batch's records dropped (counted) | batch passes this transform unchanged (counted) |
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Report the error; the operation does not happen (see the table).
    #[default]
    Fail,
    /// Leave the item out, counted and logged, never silent.
    Skip,
    /// Act as if the plugin were not there (counted and logged).
    Pass,
}

impl OnError {
    /// The config name: `fail`, `skip` or `pass`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Fail => "fail",
            OnError::Skip => "skip",
            OnError::Pass => "pass",
        }
    }
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OnError {
    type Err = ParseNameError;

    /// Parses `fail`, `skip` or `pass`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(OnError::Fail),
            "skip" => Ok(OnError::Skip),
            "pass" => Ok(OnError::Pass),
            _ => Err(ParseNameError {
                what: "on_error policy",
                value: s.to_string(),
                expected: "fail, skip, pass",
            }),
        }
    }
}

/// Everything needed to load one plugin version: what a `[[plugins]]`
/// entry of the gateway config says, with the `.wasm` file already read.
///
/// `Debug` prints the config keys but not their values (a plugin config may
/// hold credentials) and the size of `wasm`, not its bytes.
#[derive(Clone)]
pub struct PluginSpec {
    /// Unique plugin name (`name = "..."`); labels logs and metrics.
    pub name: String,
    /// The world the component must export.
    pub kind: PluginKind,
    /// The component binary (wasm32-wasip2 output). Its SHA-256 gives the
    /// plugin version.
    pub wasm: Bytes,
    /// The `[plugins.config]` table as key/value strings in file order,
    /// given to `init` as is.
    pub config: Vec<(String, String)>,
    /// What a failed call does.
    pub on_error: OnError,
    /// Deadline of one call (`timeout_ms`, default 100 ms). Enforced by
    /// wasmtime epoch interruption with a 1 ms tick: a call is interrupted
    /// after `timeout` and at most about 1 ms more (plus thread scheduling).
    pub timeout: Duration,
    /// Limit of each linear memory of the plugin's instance, in bytes
    /// (`memory_limit_bytes`, default 64 MiB). The instance lives across
    /// calls, so this bounds its total memory, not one call's.
    pub memory_limit: usize,
}

impl PluginSpec {
    /// Default per-call deadline: 100 ms.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
    /// Default memory limit: 64 MiB.
    pub const DEFAULT_MEMORY_LIMIT: usize = 64 * 1024 * 1024;

    /// A spec with an empty config, `on_error = fail` and the default
    /// timeout and memory limit.
    pub fn new(name: impl Into<String>, kind: PluginKind, wasm: impl Into<Bytes>) -> PluginSpec {
        PluginSpec {
            name: name.into(),
            kind,
            wasm: wasm.into(),
            config: Vec::new(),
            on_error: OnError::Fail,
            timeout: Self::DEFAULT_TIMEOUT,
            memory_limit: Self::DEFAULT_MEMORY_LIMIT,
        }
    }

    /// Sets the config (builder style).
    pub fn with_config<K: Into<String>, V: Into<String>>(
        mut self,
        config: impl IntoIterator<Item = (K, V)>,
    ) -> PluginSpec {
        self.config = config
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Sets the `on_error` policy (builder style).
    pub fn with_on_error(mut self, on_error: OnError) -> PluginSpec {
        self.on_error = on_error;
        self
    }

    /// Sets the per-call deadline (builder style).
    pub fn with_timeout(mut self, timeout: Duration) -> PluginSpec {
        self.timeout = timeout;
        self
    }

    /// Sets the memory limit in bytes (builder style).
    pub fn with_memory_limit(mut self, bytes: usize) -> PluginSpec {
        self.memory_limit = bytes;
        self
    }
}

impl fmt::Debug for PluginSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.config.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("PluginSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("wasm_bytes", &self.wasm.len())
            .field("config_keys", &keys)
            .field("on_error", &self.on_error)
            .field("timeout", &self.timeout)
            .field("memory_limit", &self.memory_limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip_and_unknown_is_an_error() {
        for kind in PluginKind::ALL {
            assert_eq!(kind.as_str().parse::<PluginKind>(), Ok(kind));
            assert!(kind.world().contains(kind.as_str()));
            assert_eq!(kind.exports()[0], "init");
        }
        let err = "record-filter".parse::<PluginKind>().unwrap_err();
        assert!(err.to_string().contains("record-filter"), "{err}");
        assert!(err.to_string().contains("record-transform"), "{err}");
    }

    #[test]
    fn on_error_names_round_trip() {
        for p in [OnError::Fail, OnError::Skip, OnError::Pass] {
            assert_eq!(p.as_str().parse::<OnError>(), Ok(p));
        }
        assert!("ignore".parse::<OnError>().is_err());
        assert_eq!(OnError::default(), OnError::Fail);
    }

    #[test]
    fn serde_names_match_config_names() {
        #[derive(serde::Deserialize)]
        struct Entry {
            kind: PluginKind,
            on_error: OnError,
        }
        let e: Entry = toml::from_str("kind = \"acl-mapper\"\non_error = \"skip\"\n").unwrap();
        assert_eq!(e.kind, PluginKind::AclMapper);
        assert_eq!(e.on_error, OnError::Skip);
    }

    #[test]
    fn spec_defaults_and_debug_hides_config_values_and_bytes() {
        let spec = PluginSpec::new("p", PluginKind::Renamer, vec![0u8; 10])
            .with_config([("password", "hunter2")]);
        assert_eq!(spec.timeout, Duration::from_millis(100));
        assert_eq!(spec.memory_limit, 64 << 20);
        assert_eq!(spec.on_error, OnError::Fail);
        let dbg = format!("{spec:?}");
        assert!(dbg.contains("password"), "{dbg}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("wasm_bytes: 10"), "{dbg}");
    }
}
