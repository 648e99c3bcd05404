//! [`ControlError`]: why a control-plane request was refused or failed.
//! Each variant has a stable upper-case code ([`ControlError::code`]) and
//! says whether sending the same request again can help; the REST API
//! gives each an HTTP status (`ControlError::status`, in `api`). Messages name the link, mirror topic,
//! cluster and address involved, never a property value that is secret.

/// A refused or failed control-plane request. A refused request changed
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No `[clusters]` alias (or known cluster id) of this name (404).
    #[error("Cluster '{0}' not found")]
    ClusterNotFound(String),
    /// No link of this name (404).
    #[error("Cluster link '{0}' does not exist")]
    LinkNotFound(String),
    /// A link of this name exists already (409).
    #[error("Cluster link '{0}' already exists")]
    LinkExists(String),
    /// The topic is not a mirror topic of the link (404).
    #[error("Topic '{mirror}' is not a mirror topic of cluster link '{link}'")]
    MirrorNotFound {
        /// Link name (`-` for any link).
        link: String,
        /// Mirror topic asked for.
        mirror: String,
    },
    /// The mirror topic exists already, as a mirror or as a regular topic
    /// on the destination (409).
    #[error("Topic '{topic}' already exists on the destination cluster{detail}")]
    MirrorExists {
        /// Topic name.
        topic: String,
        /// Extra context, e.g. " as a mirror topic of link 'a'" (may be empty).
        detail: String,
    },
    /// The source topic does not exist on the source cluster (404).
    #[error("Source topic '{topic}' does not exist on the source cluster of link '{link}'")]
    SourceTopicNotFound {
        /// Link name.
        link: String,
        /// Source topic.
        topic: String,
    },
    /// A property or request field is malformed or unknown (400).
    #[error("Invalid {key}: {message}")]
    InvalidConfig {
        /// The property or field at fault.
        key: String,
        /// What is wrong (never the value of a secret).
        message: String,
    },
    /// The property cannot change on an existing link (400).
    #[error("Property '{property}' of cluster link '{link}' cannot be altered: {reason}")]
    NotAlterable {
        /// Link name.
        link: String,
        /// Property name.
        property: String,
        /// Why.
        reason: String,
    },
    /// The link is defined in the gateway config file; change it there (409).
    #[error("Cluster link '{0}' is defined in the gateway config file; edit the file to change or remove it")]
    ManagedByConfigFile(String),
    /// Validating the link failed: a cluster cannot be reached or refused
    /// the gateway (400). `code` is one of Confluent's link error codes:
    /// `UNRESOLVABLE_BOOTSTRAP_ERROR`, `BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR`,
    /// `AUTHENTICATION_ERROR`, `TIMEOUT_ERROR`, `UNKNOWN`.
    #[error("Cluster link validation failed: {code}: {message}")]
    LinkValidation {
        /// Confluent link error code.
        code: String,
        /// Names the cluster and the address.
        message: String,
    },
    /// The link still has mirror topics that are not stopped (409).
    #[error("Cluster link '{link}' still has mirror topics ({}); promote or fail them over first, or delete with force", .mirrors.join(", "))]
    HasMirrors {
        /// Link name.
        link: String,
        /// Mirror topics not yet stopped.
        mirrors: Vec<String>,
    },
    /// Promote refused: the mirror is behind its source (400).
    #[error("Mirror topic '{mirror}' has lag {} (partitions {}); promote needs lag 0 (stop producers on the source, wait, retry), or use failover", .lags.iter().map(|l| l.1).sum::<i64>(), .lags.iter().map(|l| format!("{}: {}", l.0, l.1)).collect::<Vec<_>>().join(", "))]
    LagNotZero {
        /// Mirror topic.
        mirror: String,
        /// `(partition, lag)` of each partition with lag above 0.
        lags: Vec<(i32, i64)>,
    },
    /// The mirror topic's state does not allow the action (400), e.g.
    /// resuming a `STOPPED` mirror.
    #[error("Mirror topic '{mirror}' is {state}; cannot {action} it")]
    InvalidState {
        /// Mirror topic.
        mirror: String,
        /// Its state, e.g. `STOPPED`.
        state: String,
        /// The action asked for.
        action: String,
    },
    /// A cluster or the state topic cannot be reached now; retriable (503).
    #[error("{message}")]
    Unavailable {
        /// Names the cluster and what failed.
        message: String,
    },
    /// The endpoint or operation is not available in this gateway (501).
    #[error("{0}")]
    Unsupported(String),
    /// The consumer group has no committed offset of the link's mirror
    /// topics on the source (404).
    #[error("Consumer group '{group}' has no committed offsets of the mirror topics of cluster link '{link}' on the source cluster")]
    GroupNotFound {
        /// Link name.
        link: String,
        /// Group id.
        group: String,
    },
    /// `group migrate` cannot go on now: the reason says what to do (409).
    #[error("Consumer group '{group}' cannot be migrated over cluster link '{link}': {reason}")]
    GroupNotMigratable {
        /// Link name.
        link: String,
        /// Group id.
        group: String,
        /// Why, and what to do.
        reason: String,
    },
}

impl ControlError {
    /// Stable upper-case code: for [`ControlError::LinkValidation`] the
    /// Confluent link error code, otherwise the variant's name in
    /// Kafka's error style (e.g. `CLUSTER_LINK_EXISTS`, `MIRROR_LAG_NOT_ZERO`).
    pub fn code(&self) -> &str {
        match self {
            Self::ClusterNotFound(_) => "CLUSTER_NOT_FOUND",
            Self::LinkNotFound(_) => "CLUSTER_LINK_NOT_FOUND",
            Self::LinkExists(_) => "CLUSTER_LINK_EXISTS",
            Self::MirrorNotFound { .. } => "MIRROR_TOPIC_NOT_FOUND",
            Self::MirrorExists { .. } => "TOPIC_ALREADY_EXISTS",
            Self::SourceTopicNotFound { .. } => "UNKNOWN_TOPIC_OR_PARTITION",
            Self::InvalidConfig { .. } => "INVALID_CONFIG",
            Self::NotAlterable { .. } => "INVALID_CONFIG",
            Self::ManagedByConfigFile(_) => "CLUSTER_LINK_IN_CONFIG_FILE",
            Self::LinkValidation { code, .. } => code,
            Self::HasMirrors { .. } => "CLUSTER_LINK_IN_USE",
            Self::LagNotZero { .. } => "MIRROR_LAG_NOT_ZERO",
            Self::InvalidState { .. } => "INVALID_MIRROR_STATE",
            Self::Unavailable { .. } => "UNAVAILABLE",
            Self::Unsupported(_) => "UNSUPPORTED",
            Self::GroupNotFound { .. } => "GROUP_ID_NOT_FOUND",
            Self::GroupNotMigratable { .. } => "GROUP_NOT_MIGRATABLE",
        }
    }

    /// Whether the same request can succeed later unchanged: a cluster
    /// that was unreachable, a mirror that was lagging, a link or mirror
    /// that may be created meanwhile.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. }
                | Self::LinkValidation { .. }
                | Self::LagNotZero { .. }
                | Self::LinkNotFound(_)
                | Self::MirrorNotFound { .. }
                | Self::SourceTopicNotFound { .. }
        )
    }
}
