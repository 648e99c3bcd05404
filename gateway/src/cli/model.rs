//! The parts of the REST API's JSON bodies the CLI tables show, read
//! leniently (`#[serde(default)]`): the shapes of `gateway/src/api/model.rs`
//! (`KafkaLinkData`, `KafkaLinkConfigData`, `KafkaMirrorData`; Kafka REST v3
//! cluster linking). Times are ms since the Unix epoch.

use serde::Deserialize;

/// `KafkaLinkData`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Link {
    /// Link name.
    pub link_name: String,
    /// Source cluster id or alias.
    pub source_cluster_id: String,
    /// Destination cluster id or alias.
    pub destination_cluster_id: String,
    /// Mirror topic names.
    pub topic_names: Vec<String>,
    /// `ACTIVE`, `PAUSED`, `UNAVAILABLE` or `FAILED`.
    pub link_state: String,
    /// `NO_ERROR` or an error code.
    pub link_error: String,
    /// Error message (empty without error).
    pub link_error_message: String,
    /// Tasks, when asked with `include_tasks=true`.
    pub tasks: Vec<Task>,
}

/// One `tasks[]` entry of a link.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Task {
    /// Task name, e.g. `AutoCreateMirror`.
    pub task_name: String,
    /// Task state, e.g. `ACTIVE`, `IN_ERROR`, `NOT_CONFIGURED`.
    pub state: String,
    /// Errors (empty unless `IN_ERROR`).
    pub errors: Vec<TaskError>,
}

/// One task error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TaskError {
    /// Error code.
    pub error_code: String,
    /// Message.
    pub error_message: String,
}

/// `KafkaLinkConfigData`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkConfig {
    /// Property name.
    pub name: String,
    /// Value; `None` for sensitive properties (the API never sends them).
    pub value: Option<String>,
    /// Whether the value is a secret.
    pub sensitive: bool,
}

/// `KafkaMirrorData`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Mirror {
    /// Link name.
    pub link_name: String,
    /// Mirror topic name on the destination.
    pub mirror_topic_name: String,
    /// Source topic name.
    pub source_topic_name: String,
    /// Aggregated mirror state.
    pub mirror_status: String,
    /// When that state was reached, ms since the epoch.
    pub state_time_ms: Option<i64>,
    /// Number of partitions known.
    pub num_partitions: usize,
    /// One entry per partition.
    pub mirror_lags: Vec<PartitionLag>,
}

/// One `mirror_lags[]` entry; the detail fields are present only in the
/// single-mirror GET.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PartitionLag {
    /// Partition index.
    pub partition: i32,
    /// Records behind the source high watermark seen by the last fetch.
    pub lag: i64,
    /// Source offset replicated up to (exclusive).
    pub last_source_fetch_offset: i64,
    /// Partition state.
    pub state: Option<String>,
    /// Destination log end offset after the last produce.
    pub dest_log_end_offset: Option<i64>,
    /// Source high watermark seen by the last fetch (-1 before any).
    pub last_fetch_source_high_watermark: Option<i64>,
    /// ms since the last fetch; `None` before any.
    pub time_since_last_fetch_ms: Option<i64>,
    /// Failure or unavailability code.
    pub error_code: Option<String>,
    /// Failure or unavailability message.
    pub error_message: Option<String>,
}

/// `KafkaAlterMirrorStatusResponseData`: the outcome of a mirror action
/// (promote, failover, pause, resume) for one mirror topic.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MirrorOutcome {
    /// Mirror topic name.
    pub mirror_topic_name: String,
    /// `null` on success, else the HTTP status of this topic's failure
    /// (e.g. 400).
    pub error_code: Option<i64>,
    /// `null` on success, else why the action failed for this topic.
    pub error_message: Option<String>,
    /// Per-partition lag when the action was decided.
    pub mirror_lags: Vec<PartitionLag>,
}

impl MirrorOutcome {
    /// Whether the action failed for this topic.
    pub fn failed(&self) -> bool {
        self.error_code.is_some() || self.error_message.is_some()
    }
}
