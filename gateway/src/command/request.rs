//! Requests and results of the mutating control-plane operations
//! ([`crate::control::ControlPlane`]). Plain values: the REST API builds
//! them from its JSON bodies and query parameters; the CLI reaches them
//! through the REST API.

/// `POST /kafka/v3/clusters/{cluster_id}/links?link_name=NAME`
/// (Confluent `CreateLinkRequest`; `kafka-cluster-links --create`).
#[derive(Clone, PartialEq, Eq)]
pub struct NewLink {
    /// Link name: ASCII letters, digits, `.`, `_`, `-`.
    pub link_name: String,
    /// Destination cluster: the `{cluster_id}` of the path, an alias of
    /// `[clusters]` in the gateway config (or its Kafka cluster id).
    pub destination_cluster: String,
    /// `source_cluster_id` of the body: a `[clusters]` alias (its client
    /// settings are used) or the source's Kafka cluster id (checked when the
    /// link is validated). `None`: the source is given by `bootstrap.servers`
    /// in `configs`.
    pub source_cluster_id: Option<String>,
    /// Link properties by Confluent's names (`cluster.link.prefix`,
    /// `auto.create.mirror.topics.enable`, ...) and source client
    /// properties (`bootstrap.servers`, `request.timeout.ms`, ...), in the
    /// order given. Values are text.
    pub configs: Vec<(String, String)>,
    /// `validate_only=true` / `--validate-only`: check, change nothing.
    pub validate_only: bool,
    /// `false` with `validate_link=false` / `--exclude-validate-link`: do not
    /// connect to the clusters before creating.
    pub validate_link: bool,
}

/// `PUT .../links/{link_name}/configs:alter` (Confluent
/// `AlterConfigBatchRequest`; `kafka-configs --alter --cluster-link`).
#[derive(Clone, PartialEq, Eq)]
pub struct LinkConfigChange {
    /// Link name.
    pub link_name: String,
    /// Properties to set (`operation` `SET` or absent).
    pub set: Vec<(String, String)>,
    /// Properties to reset to their defaults (`operation` `DELETE`).
    pub reset: Vec<String>,
    /// Check only.
    pub validate_only: bool,
}

// `Debug` of the requests that carry link properties redacts sensitive
// values (`sasl.jaas.config`, `*.password`, ...).
impl std::fmt::Debug for NewLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLink")
            .field("link_name", &self.link_name)
            .field("destination_cluster", &self.destination_cluster)
            .field("source_cluster_id", &self.source_cluster_id)
            .field("configs", &crate::secret::redacted(&self.configs))
            .field("validate_only", &self.validate_only)
            .field("validate_link", &self.validate_link)
            .finish()
    }
}

impl std::fmt::Debug for LinkConfigChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkConfigChange")
            .field("link_name", &self.link_name)
            .field("set", &crate::secret::redacted(&self.set))
            .field("reset", &self.reset)
            .field("validate_only", &self.validate_only)
            .finish()
    }
}

/// `DELETE .../links/{link_name}?force=&validate_only=`
/// (`kafka-cluster-links --delete`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDeletion {
    /// Link name.
    pub link_name: String,
    /// Fail over the link's mirror topics first instead of refusing.
    pub force: bool,
    /// Check only.
    pub validate_only: bool,
}

/// `POST .../links/{link_name}/mirrors` (Confluent
/// `CreateMirrorTopicRequest`; `kafka-mirrors --create`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMirror {
    /// Link name.
    pub link_name: String,
    /// Source topic (`source_topic_name`, `--source-topic`). `None`: the
    /// same name as the mirror topic (only for a link that does not rename).
    pub source_topic_name: Option<String>,
    /// Mirror topic name on the destination (`mirror_topic_name`,
    /// `--mirror-topic`). `None`: the name the link's renamers give the
    /// source topic (e.g. `cluster.link.prefix` + source name). When both
    /// are given, the mirror name must be that name. At least one of the
    /// two is given.
    pub mirror_topic_name: Option<String>,
    /// Replication factor of the mirror topic (`replication_factor`,
    /// `--replication-factor`); `None`: the destination's default.
    pub replication_factor: Option<i16>,
    /// Topic config overrides (`configs`, `--config`): applied over the
    /// source topic's configs when the mirror topic is created.
    pub configs: Vec<(String, String)>,
    /// Check only.
    pub validate_only: bool,
}

/// A change of mirror topic state (Confluent `AlterMirrorsRequest`;
/// `kafka-mirrors --promote|--failover|--pause|--unpause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorAction {
    /// Check lag is 0, run the final syncs, then `STOPPED` (writable).
    Promote,
    /// `STOPPED` at once, whatever the lag.
    Failover,
    /// Stop fetching: `PAUSED`.
    Pause,
    /// Fetch again: `ACTIVE`.
    Resume,
}

impl MirrorAction {
    /// The action as in the REST path (`promote`, `failover`, `pause`,
    /// `resume`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::Failover => "failover",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }
}

/// Lag of one mirror partition when an action ran (Confluent
/// `MirrorLag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// Partition index.
    pub partition: i32,
    /// Records the mirror is behind the source high watermark.
    pub lag: i64,
    /// Next source offset to mirror (every source offset below it is on
    /// the destination).
    pub last_source_fetch_offset: i64,
}

/// The outcome for one mirror topic of a [`MirrorAction`] (Confluent
/// `AlterMirrorStatusResponseData`).
#[derive(Debug, Clone)]
pub struct MirrorActionResult {
    /// Mirror topic name.
    pub mirror_topic_name: String,
    /// Why this topic did not take the action; `None` on success.
    pub error: Option<super::ControlError>,
    /// Per-partition lag when the action was decided.
    pub lags: Vec<PartitionLag>,
}
