//! Mirror partition states and the status table that the data plane updates
//! and the control plane (metrics, the REST API) reads, with the link's
//! health (state and error) and its task errors.
//!
//! States follow Confluent's mirror topic states where they apply at
//! partition level: `PENDING`, `ACTIVE`, `PAUSED`, `FAILED` (with a cause),
//! `SOURCE_UNAVAILABLE`, `PENDING_STOPPED` and `STOPPED` (promote and
//! failover; a stopped partition keeps its last source fetch offset and
//! destination log end offset as history).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::config::LinkConfig;

/// Why a mirror partition stopped. A failed partition waits for an operator;
/// it is never silently resumed (the cause is persisted in the state topic).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// The source topic was deleted and recreated: its topic id changed.
    SourceTopicRecreated {
        /// Topic id recorded when mirroring started.
        expected: String,
        /// Topic id the source reports now.
        found: String,
    },
    /// Retention or deletion on the source removed records that were never
    /// mirrored: the next fetch offset is below the source's log start offset.
    SourceLogTruncated {
        /// Offset the mirror needed next.
        fetch_offset: i64,
        /// The source's log start offset.
        log_start_offset: i64,
    },
    /// The source log ends below what was already mirrored (the source
    /// partition was truncated or replaced).
    SourceBehindMirror {
        /// Offset the mirror needed next.
        fetch_offset: i64,
        /// The source's high watermark.
        high_watermark: i64,
    },
    /// The source partition's log diverged from what was mirrored: its
    /// leader no longer has the batches up to the fetch position for the
    /// leader epoch they were fetched in (an unclean leader election, a
    /// truncated and refilled log; Fetch v12+ `diverging_epoch`, KIP-320).
    SourceDiverged {
        /// Offset the mirror needed next.
        fetch_offset: i64,
        /// Leader epoch of the last batch mirrored.
        epoch: i32,
        /// Where the source's log for that epoch ends now.
        end_offset: i64,
    },
    /// Someone other than linkgate wrote to the mirror partition: the
    /// destination log end offset is not what the gateway wrote.
    ForeignWrite {
        /// Destination offset linkgate expected.
        expected: i64,
        /// Destination offset found.
        found: i64,
    },
    /// A record batch on the mirror partition inside a round linkgate
    /// recorded is not the one it wrote (producer id, epoch, base sequence
    /// or record count differ from the checkpoint).
    ForeignBatch {
        /// Destination offset of the batch.
        offset: i64,
        /// What differs.
        detail: String,
    },
    /// The destination already held records when mirroring began, with no
    /// linkgate checkpoint: it is not a mirror this link created.
    NotAMirror {
        /// Destination log end offset found.
        log_end_offset: i64,
    },
    /// A record batch larger than the link's Produce request limit
    /// (`linkgate.producer.max.request.size`): it cannot be sent in any
    /// request, so nothing of the partition from it on is produced (Kafka's
    /// producer refuses such data with `RecordTooLargeException`, error
    /// `MESSAGE_TOO_LARGE`).
    BatchTooLarge {
        /// Source base offset of the batch.
        source_offset: i64,
        /// Bytes of the batch as it would be sent.
        bytes: u64,
        /// The limit (bytes).
        limit: u64,
    },
    /// A non-retriable error (corrupt batch, refused produce).
    Error {
        /// Kafka error name or linkgate error kind.
        code: String,
        /// Full message.
        message: String,
    },
}

impl FailureCause {
    /// Whether resuming the mirror may mirror the partition again once an
    /// operator removed the cause: a refusal or limit of the destination
    /// (`MESSAGE_TOO_LARGE`, `INVALID_TIMESTAMP`, ...) or of the link
    /// ([`FailureCause::BatchTooLarge`]), a plugin error, an
    /// unreadable batch. Not for causes that mean the mirror can no longer
    /// match its source (foreign writes, a recreated, truncated or replaced
    /// source, a destination topic that is not or no longer the mirror).
    pub fn is_resumable(&self) -> bool {
        match self {
            Self::Error { code, .. } => code != "MIRROR_TOPIC_DELETED",
            Self::BatchTooLarge { .. } => true,
            _ => false,
        }
    }

    /// Stable upper-case code, used in metrics and API output.
    pub fn code(&self) -> &str {
        match self {
            Self::SourceTopicRecreated { .. } => "SOURCE_TOPIC_RECREATED",
            Self::SourceLogTruncated { .. } => "SOURCE_LOG_TRUNCATED",
            Self::SourceBehindMirror { .. } => "SOURCE_BEHIND_MIRROR",
            Self::SourceDiverged { .. } => "SOURCE_DIVERGED",
            Self::ForeignWrite { .. } | Self::ForeignBatch { .. } => "FOREIGN_WRITE",
            Self::NotAMirror { .. } => "NOT_A_MIRROR",
            Self::BatchTooLarge { .. } => "MESSAGE_TOO_LARGE",
            Self::Error { code, .. } => code,
        }
    }
}

impl From<&crate::kafka::KafkaError> for FailureCause {
    /// A non-retriable Kafka error: its code is the Kafka error name
    /// (e.g. `INVALID_TIMESTAMP`) when the broker sent one, else the
    /// client error kind.
    fn from(e: &crate::kafka::KafkaError) -> Self {
        Self::Error {
            code: e
                .error_code()
                .map(crate::kafka::error::error_name)
                .unwrap_or_else(|| e.kind().to_string()),
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SourceTopicRecreated { expected, found } => write!(
                f,
                "source topic was recreated: topic id changed from {expected} to {found}"
            ),
            Self::SourceLogTruncated { fetch_offset, log_start_offset } => write!(
                f,
                "source log start offset {log_start_offset} is past the next offset to mirror {fetch_offset}: records were deleted before they were mirrored"
            ),
            Self::SourceBehindMirror { fetch_offset, high_watermark } => write!(
                f,
                "source high watermark {high_watermark} is below the next offset to mirror {fetch_offset}: the source partition was truncated or replaced"
            ),
            Self::ForeignWrite { expected, found } => write!(
                f,
                "destination log end offset is {found}, linkgate expected {expected}: another writer produced to the mirror topic"
            ),
            Self::SourceDiverged { fetch_offset, epoch, end_offset } => write!(
                f,
                "the source log for leader epoch {epoch} now ends at offset {end_offset}, below the next offset to mirror {fetch_offset}: the source partition diverged (unclean leader election or a replaced log); the mirror holds records the source no longer has"
            ),
            Self::ForeignBatch { offset, detail } => write!(
                f,
                "the record batch at destination offset {offset} is not the one linkgate wrote ({detail}): another writer produced to the mirror topic"
            ),
            Self::NotAMirror { log_end_offset } => write!(
                f,
                "destination partition already holds records up to offset {log_end_offset} and has no linkgate checkpoint: it is not a mirror of this link"
            ),
            Self::BatchTooLarge { source_offset, bytes, limit } => write!(
                f,
                "MESSAGE_TOO_LARGE: the record batch at source offset {source_offset} is {bytes} bytes, above the link's Produce request limit of {limit} bytes (linkgate.producer.max.request.size); raise the property (the link restarts) and resume the mirror topic"
            ),
            Self::Error { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

/// State of one mirror partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionState {
    /// Being set up (destination topic, recovery from the checkpoint).
    Pending,
    /// Mirroring.
    Active,
    /// Not fetched: the mirror topic is paused (`kafka-mirrors --pause`,
    /// persisted) or the link is (`cluster.link.paused=true`).
    Paused,
    /// The source partition cannot be reached now; retried with backoff.
    SourceUnavailable(String),
    /// Stopped with a cause; needs an operator.
    Failed(FailureCause),
    /// Promote or failover asked for: fetching has stopped and in-flight
    /// rounds are landing; `STOPPED` follows.
    PendingStopped,
    /// Promoted or failed over: no longer mirrored, the topic is an
    /// ordinary writable topic. Kept (with its last source fetch offset and
    /// state time) until the link is deleted.
    Stopped,
}

impl PartitionState {
    /// Upper-case state name as in Confluent's mirror states.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
            Self::Paused => "PAUSED",
            Self::SourceUnavailable(_) => "SOURCE_UNAVAILABLE",
            Self::Failed(_) => "FAILED",
            Self::PendingStopped => "PENDING_STOPPED",
            Self::Stopped => "STOPPED",
        }
    }

    /// Whether the partition is fetched and produced: `ACTIVE`, or
    /// `SOURCE_UNAVAILABLE` (fetches go on, so it recovers by itself).
    pub fn is_fetching(&self) -> bool {
        matches!(self, Self::Active | Self::SourceUnavailable(_))
    }

    /// All state names, for zeroing the state gauge.
    pub const NAMES: [&'static str; 7] = [
        "PENDING",
        "ACTIVE",
        "PAUSED",
        "SOURCE_UNAVAILABLE",
        "FAILED",
        "PENDING_STOPPED",
        "STOPPED",
    ];
}

/// What the gateway knows about one mirror partition.
#[derive(Debug, Clone)]
pub struct PartitionStatus {
    /// Current state.
    pub state: PartitionState,
    /// When `state` last changed.
    pub state_time: SystemTime,
    /// Next source offset to fetch: every source offset below it has been
    /// fetched (what Confluent reports as the last source fetch offset, and
    /// what the REST API shows as `last_source_fetch_offset`).
    pub next_fetch_offset: i64,
    /// Source high watermark seen by the last fetch (-1 before any fetch).
    pub last_fetch_high_watermark: i64,
    /// Time of the last successful fetch.
    pub last_fetch_time: Option<SystemTime>,
    /// Destination log end offset after the last produce linkgate did.
    pub destination_log_end_offset: i64,
}

impl PartitionStatus {
    /// Records behind: source high watermark minus next fetch offset (0 when
    /// unknown or negative).
    pub fn lag(&self) -> i64 {
        self.last_fetch_high_watermark
            .saturating_sub(self.next_fetch_offset)
            .max(0)
    }
}

/// `(mirror topic, partition)`.
pub type PartitionKey = (String, i32);

/// Creation config overrides (`(name, value)` pairs) by mirror topic.
type MirrorOverrides = BTreeMap<String, Vec<(String, String)>>;

/// `(error_code, error_message)` pairs by link task name.
type TaskErrors = BTreeMap<String, Vec<(String, String)>>;

/// The status of every mirror partition of one link, the link's health
/// (state and error) and its task errors. Cheap to clone (shared). Locks
/// are held only for short, synchronous updates.
#[derive(Debug, Clone)]
pub struct LinkStatus {
    inner: Arc<Mutex<BTreeMap<PartitionKey, PartitionStatus>>>,
    /// Source topic of each mirror topic.
    sources: Arc<Mutex<BTreeMap<String, String>>>,
    /// Config overrides each mirror topic was created with.
    overrides: Arc<Mutex<MirrorOverrides>>,
    /// Link state and error (`ACTIVE` until the link task says otherwise).
    health: Arc<Mutex<LinkHealth>>,
    /// Errors of link tasks by task name (`AutoCreateMirror`, ...):
    /// `(error_code, error_message)` pairs; a task with errors is `IN_ERROR`.
    task_errors: Arc<Mutex<TaskErrors>>,
    /// Whether each task the link task framework runs is configured now
    /// (its settings are read again before every run, so this follows
    /// `configs:alter` and config file edits without a link restart).
    task_configured: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Default for LinkStatus {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            sources: Arc::default(),
            overrides: Arc::default(),
            health: Arc::new(Mutex::new(LinkHealth::ok(LinkState::Active))),
            task_errors: Arc::default(),
            task_configured: Arc::default(),
        }
    }
}

impl LinkStatus {
    /// Locks the table (recovering from a poisoned lock: status is advisory).
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, PartitionStatus>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the whole table.
    pub fn snapshot(&self) -> BTreeMap<PartitionKey, PartitionStatus> {
        self.lock().clone()
    }

    /// Records which source topic a mirror topic mirrors.
    pub fn set_source_topic(&self, mirror_topic: &str, source_topic: &str) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mirror_topic.to_string(), source_topic.to_string());
    }

    /// Records the config overrides mirror topic `mirror_topic` was created
    /// with (the `configs` of its create request; kept by the topic config
    /// sync).
    pub fn set_mirror_overrides(&self, mirror_topic: &str, configs: Vec<(String, String)>) {
        self.overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mirror_topic.to_string(), configs);
    }

    /// The config overrides of mirror topic `mirror_topic` (empty: none
    /// recorded).
    pub fn mirror_overrides(&self, mirror_topic: &str) -> Vec<(String, String)> {
        self.overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(mirror_topic)
            .cloned()
            .unwrap_or_default()
    }

    /// The link's current state and error.
    pub fn health(&self) -> LinkHealth {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the link's state and error (logged by the caller).
    pub fn set_health(&self, health: LinkHealth) {
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = health;
    }

    /// Errors of a link task (`AutoCreateMirror`, `ConsumerOffsetSync`,
    /// `AclSync`, `TopicConfigsSync`); empty when it has none.
    pub fn task_errors(&self, task: &str) -> Vec<(String, String)> {
        self.task_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(task)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces a link task's errors (empty: the task is healthy again).
    pub fn set_task_errors(&self, task: &str, errors: Vec<(String, String)>) {
        let mut map = self.task_errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.is_empty() {
            map.remove(task);
        } else {
            map.insert(task.to_string(), errors);
        }
    }

    /// Whether the link task framework runs task `task` now: `Some(false)`
    /// when its settings leave it off (`NOT_CONFIGURED`), `None` when the
    /// framework has not looked at the task yet.
    pub fn task_configured(&self, task: &str) -> Option<bool> {
        self.task_configured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(task)
            .copied()
    }

    /// Records whether task `task` is configured (see
    /// [`LinkStatus::task_configured`]).
    pub fn set_task_configured(&self, task: &str, configured: bool) {
        self.task_configured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task.to_string(), configured);
    }

    /// The source topic of a mirror topic, when known.
    pub fn source_topic(&self, mirror_topic: &str) -> Option<String> {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(mirror_topic)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_become_causes_named_after_the_kafka_error() {
        let e = crate::kafka::error::broker_error("dst", "produce to t partition 0", 32);
        let cause = FailureCause::from(&e);
        assert_eq!(cause.code(), "INVALID_TIMESTAMP");
        assert!(
            cause.to_string().contains("produce to t partition 0"),
            "{cause}"
        );
    }
}

/// State of a cluster link (Confluent `link_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Running.
    Active,
    /// `cluster.link.paused=true`: nothing is fetched.
    Paused,
    /// A cluster cannot be reached now; retried with backoff.
    Unavailable,
    /// Stopped with an error; needs an operator.
    Failed,
}

impl LinkState {
    /// Upper-case name as in Confluent's `link_state`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Paused => "PAUSED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Failed => "FAILED",
        }
    }
}

/// A link's state with its error (Confluent `link_state`, `link_error`,
/// `link_error_message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHealth {
    /// The state.
    pub state: LinkState,
    /// Error code, `NO_ERROR` when healthy; otherwise one of the codes of
    /// Confluent's troubleshooting guide (e.g. `TIMEOUT_ERROR`).
    pub error: String,
    /// Human-readable message naming the cluster and address; empty when
    /// healthy. Never contains secrets.
    pub error_message: String,
}

impl LinkHealth {
    /// A healthy link in `state` (`ACTIVE` or `PAUSED`): error `NO_ERROR`.
    pub fn ok(state: LinkState) -> Self {
        Self {
            state,
            error: "NO_ERROR".to_string(),
            error_message: String::new(),
        }
    }

    /// The health a link has from its config alone: `PAUSED` when
    /// `cluster.link.paused`, else `ACTIVE`; error `NO_ERROR`.
    pub fn configured(config: &LinkConfig) -> Self {
        Self::ok(if config.paused {
            LinkState::Paused
        } else {
            LinkState::Active
        })
    }
}
