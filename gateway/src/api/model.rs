//! JSON response bodies of the REST API, shaped like Kafka REST v3
//! cluster-linking payloads (`KafkaLinkData`, `KafkaLinkConfigData`,
//! `KafkaMirrorData`, `KafkaAlterMirrorStatusResponseData`, and their
//! `*List` wrappers), their construction from a [`LinkView`] or a mirror
//! action result, and the mirror state aggregation rule. Request bodies are
//! in [`super::body`].
//!
//! `metadata.self` is the request path (relative: the gateway does not know
//! the address clients use). Times are ms since the Unix epoch; durations ms.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::view::{LinkProperty, LinkView};
use crate::control::{ControlError, MirrorActionResult};
use crate::mirror::{PartitionState, PartitionStatus};

/// `metadata` of a resource: `{"self": "<path>"}`.
#[derive(Debug, Serialize)]
pub struct Metadata {
    /// Path of this resource, e.g. `/kafka/v3/clusters/dst/links/east`.
    #[serde(rename = "self")]
    pub self_: String,
    /// Next page; never set for a resource (not serialized when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `metadata` of a list: `{"self": "<path>", "next": null}` (Kafka REST v3
/// `ResourceCollectionMetadata`; lists are not paginated, `next` is always
/// `null`).
#[derive(Debug, Serialize)]
pub struct ListMetadata {
    /// Path of this list (the request path).
    #[serde(rename = "self")]
    pub self_: String,
    /// Next page: always `null`.
    pub next: Option<String>,
}

/// A list wrapper: `{"kind": "...List", "metadata": {...}, "data": [...]}`.
#[derive(Debug, Serialize)]
pub struct DataList<T> {
    /// `KafkaLinkDataList`, `KafkaLinkConfigDataList`, `KafkaMirrorDataList`
    /// or `KafkaAlterMirrorStatusResponseDataList`.
    pub kind: &'static str,
    /// List metadata.
    pub metadata: ListMetadata,
    /// The items.
    pub data: Vec<T>,
}

impl<T> DataList<T> {
    /// A list at `path`.
    pub fn new(kind: &'static str, path: String, data: Vec<T>) -> Self {
        Self {
            kind,
            metadata: ListMetadata {
                self_: path,
                next: None,
            },
            data,
        }
    }
}

/// One task of a link (`tasks[]`).
#[derive(Debug, Serialize)]
pub struct TaskData {
    /// Task name.
    pub task_name: String,
    /// Task state.
    pub state: String,
    /// Errors (empty unless `IN_ERROR`).
    pub errors: Vec<TaskError>,
}

/// One task error.
#[derive(Debug, Serialize)]
pub struct TaskError {
    /// Error code, e.g. `REMOTE_LINK_NOT_FOUND_ERROR`.
    pub error_code: String,
    /// Message.
    pub error_message: String,
}

/// `KafkaLinkData`.
#[derive(Debug, Serialize)]
pub struct LinkData {
    /// Always `KafkaLinkData`.
    pub kind: &'static str,
    /// Resource metadata.
    pub metadata: Metadata,
    /// Link name.
    pub link_name: String,
    /// The link's id in Kafka's `Uuid` text form (22 characters of
    /// URL-safe base64), see [`cluster_link_id`].
    pub cluster_link_id: String,
    /// The same id as a hyphenated UUID (Confluent's deprecated `link_id`).
    pub link_id: String,
    /// Source cluster id or alias.
    pub source_cluster_id: String,
    /// Destination cluster id or alias.
    pub destination_cluster_id: String,
    /// Mirror topic names, sorted.
    pub topic_names: Vec<String>,
    /// `ACTIVE`, `PAUSED`, `UNAVAILABLE` or `FAILED`.
    pub link_state: &'static str,
    /// `NO_ERROR` or an error code.
    pub link_error: String,
    /// Error message, empty when `NO_ERROR`.
    pub link_error_message: String,
    /// Task statuses; present only with `?include_tasks=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskData>>,
}

/// `KafkaLinkConfigData`.
#[derive(Debug, Serialize)]
pub struct LinkConfigData {
    /// Always `KafkaLinkConfigData`.
    pub kind: &'static str,
    /// Resource metadata.
    pub metadata: Metadata,
    /// Destination cluster id or alias.
    pub cluster_id: String,
    /// Link name.
    pub link_name: String,
    /// Property name.
    pub name: String,
    /// Value; the empty string when `sensitive` (the contract's `value` is
    /// a non-null string; the secret itself is never sent).
    pub value: String,
    /// Whether the value is a secret.
    pub sensitive: bool,
    /// Whether the value cannot be changed through the API (a property
    /// fixed at creation, or any property of a link from the config file).
    pub read_only: bool,
    /// Whether the value is the default: always `false`, only properties
    /// that are set are listed.
    pub default: bool,
    /// Where the value comes from: `DYNAMIC_CLUSTER_LINK_CONFIG` (set on
    /// the link), Confluent's config source names.
    pub source: &'static str,
    /// Synonym property names (none: link properties have no synonyms).
    pub synonyms: Vec<String>,
}

/// `source` of a property set on the link (Confluent
/// `DYNAMIC_CLUSTER_LINK_CONFIG`).
pub const SOURCE_DYNAMIC_CLUSTER_LINK_CONFIG: &str = "DYNAMIC_CLUSTER_LINK_CONFIG";

/// One `mirror_lags[]` entry.
#[derive(Debug, Serialize)]
pub struct MirrorLag {
    /// Partition index.
    pub partition: i32,
    /// Records behind the source high watermark seen by the last fetch.
    pub lag: i64,
    /// Source offset replicated up to (exclusive): every record before it is
    /// on the destination. Equals the next offset to fetch.
    pub last_source_fetch_offset: i64,
    /// Per-partition details, only in the single mirror describe.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub detail: Option<PartitionDetail>,
}

/// Per-partition fields of `kafka-mirrors --describe` (single mirror GET).
#[derive(Debug, Serialize)]
pub struct PartitionDetail {
    /// Partition state (`PENDING`, `ACTIVE`, `PAUSED`, `SOURCE_UNAVAILABLE`,
    /// `FAILED`).
    pub state: &'static str,
    /// Partition state time, ms since the epoch.
    pub state_time_ms: i64,
    /// `DestLogEndOffset`: destination log end offset after linkgate's last
    /// produce.
    pub dest_log_end_offset: i64,
    /// `LastFetchSourceHighWatermark` (-1 before any fetch).
    pub last_fetch_source_high_watermark: i64,
    /// `TimeSinceLastFetchMs`; `null` before any fetch.
    pub time_since_last_fetch_ms: Option<i64>,
    /// Failure cause or unavailability code (`FAILED`,
    /// `SOURCE_UNAVAILABLE`), else `null`.
    pub error_code: Option<String>,
    /// Failure or unavailability message, else `null`.
    pub error_message: Option<String>,
}

/// `KafkaMirrorData`.
#[derive(Debug, Serialize)]
pub struct MirrorData {
    /// Always `KafkaMirrorData`.
    pub kind: &'static str,
    /// Resource metadata.
    pub metadata: Metadata,
    /// Link name.
    pub link_name: String,
    /// Mirror topic name on the destination.
    pub mirror_topic_name: String,
    /// Source topic name.
    pub source_topic_name: String,
    /// Aggregated state in the contract's `MirrorTopicStatus` values, see
    /// [`contract_status`].
    pub mirror_status: &'static str,
    /// When the aggregated state was reached, ms since the epoch; the time
    /// of the answer while no partition is known.
    pub state_time_ms: i64,
    /// Number of partitions known.
    pub num_partitions: usize,
    /// One entry per partition, by partition index.
    pub mirror_lags: Vec<MirrorLag>,
}

/// ms from `earlier` to `t`; 0 when `t` is before `earlier`, saturating.
fn ms_since(t: SystemTime, earlier: SystemTime) -> i64 {
    t.duration_since(earlier)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn epoch_ms(t: SystemTime) -> i64 {
    ms_since(t, UNIX_EPOCH)
}

/// Rank of a partition state outside the stop states: the worst (highest)
/// rank wins.
fn rank(state: &PartitionState) -> u8 {
    match state {
        PartitionState::Active => 0,
        PartitionState::Pending => 1,
        PartitionState::Paused => 2,
        PartitionState::SourceUnavailable(_) => 3,
        PartitionState::Failed(_) => 4,
        // Handled before ranking (see `aggregate_status`).
        PartitionState::PendingStopped | PartitionState::Stopped => 5,
    }
}

fn is_stop_state(state: &PartitionState) -> bool {
    matches!(
        state,
        PartitionState::PendingStopped | PartitionState::Stopped
    )
}

/// Aggregates partition states into a mirror topic state and its time.
///
/// Rule:
/// - No partition known yet: `PENDING` with no time.
/// - Stop states first (promote and failover stop every partition of a
///   topic together, so a stop state anywhere means the topic is being
///   stopped): when any partition is `PENDING_STOPPED` or `STOPPED`, the
///   topic is `STOPPED` if every partition is `STOPPED`, else
///   `PENDING_STOPPED`, whatever the other partitions' states (a `FAILED`
///   partition of a topic being failed over does not make it `FAILED`).
/// - Otherwise the worst partition state wins, in the order
///   `FAILED` > `SOURCE_UNAVAILABLE` > `PAUSED` > `PENDING` > `ACTIVE`
///   (one failed partition makes the topic `FAILED`; the topic is `ACTIVE`
///   only when every partition is).
///
/// The state time is when the topic reached that state: the latest
/// partition state time when every partition is in it (the last one
/// arrived), else the earliest state time among the partitions in it (the
/// first one that dragged the topic there). `STOPPED`: the latest stop
/// (the last partition to stop); `PENDING_STOPPED`: the earliest state time
/// among the partitions in a stop state (when the stop began).
pub fn aggregate_status<'a>(
    partitions: impl IntoIterator<Item = &'a PartitionStatus>,
) -> (&'static str, Option<SystemTime>) {
    let parts: Vec<&PartitionStatus> = partitions.into_iter().collect();
    if parts.iter().any(|p| is_stop_state(&p.state)) {
        let stopping = parts.iter().filter(|p| is_stop_state(&p.state));
        return if parts.iter().all(|p| p.state == PartitionState::Stopped) {
            ("STOPPED", stopping.map(|p| p.state_time).max())
        } else {
            ("PENDING_STOPPED", stopping.map(|p| p.state_time).min())
        };
    }
    let Some(worst) = parts.iter().map(|p| rank(&p.state)).max() else {
        return ("PENDING", None);
    };
    let in_worst: Vec<&&PartitionStatus> =
        parts.iter().filter(|p| rank(&p.state) == worst).collect();
    let name = in_worst
        .first()
        .map(|p| p.state.name())
        .unwrap_or("PENDING");
    let time = if in_worst.len() == parts.len() {
        in_worst.iter().map(|p| p.state_time).max()
    } else {
        in_worst.iter().map(|p| p.state_time).min()
    };
    (name, time)
}

/// Whether a mirror topic state is hidden from mirror lists unless
/// `include_stopped=true`: `STOPPED` (promoted or failed over; Confluent's
/// `--include-stopped-topics`). `PENDING_STOPPED` mirrors stay listed.
/// The values of the contract's `MirrorTopicStatus` (Kafka REST v3), the
/// only ones `mirror_status` takes and `?mirror_status=` accepts.
pub const MIRROR_TOPIC_STATUSES: [&str; 7] = [
    "ACTIVE",
    "FAILED",
    "PAUSED",
    "STOPPED",
    "PENDING_STOPPED",
    "PENDING_SYNCHRONIZE",
    "PENDING_MIRROR",
];

/// The contract's `MirrorTopicStatus` of a mirror topic whose
/// [`aggregate_status`] is `status`: `PENDING` (no partition set up yet)
/// is `PENDING_MIRROR`; `SOURCE_UNAVAILABLE` (the source cannot be
/// reached now; the mirror resumes by itself) is not a mirror state of the
/// contract, so such partitions count as `ACTIVE` and the topic takes the
/// worst state of the others (`PAUSED`, `PENDING_MIRROR` or `ACTIVE`). The
/// single mirror describe still shows each partition's own `state`, and
/// the link's `link_state` shows the unavailability.
pub fn contract_status<'a>(
    status: &'static str,
    partitions: impl IntoIterator<Item = &'a PartitionStatus>,
) -> &'static str {
    match status {
        "PENDING" => "PENDING_MIRROR",
        "SOURCE_UNAVAILABLE" => {
            let states: Vec<&PartitionState> = partitions.into_iter().map(|p| &p.state).collect();
            if states.iter().any(|s| **s == PartitionState::Paused) {
                "PAUSED"
            } else if states.iter().any(|s| **s == PartitionState::Pending) {
                "PENDING_MIRROR"
            } else {
                "ACTIVE"
            }
        }
        other => other,
    }
}

pub fn is_hidden_unless_stopped_included(mirror_status: &str) -> bool {
    mirror_status == "STOPPED"
}

fn error_of(state: &PartitionState) -> (Option<String>, Option<String>) {
    match state {
        PartitionState::Failed(cause) => (Some(cause.code().to_string()), Some(cause.to_string())),
        PartitionState::SourceUnavailable(msg) => {
            (Some("SOURCE_UNAVAILABLE".to_string()), Some(msg.clone()))
        }
        _ => (None, None),
    }
}

/// Base path of a link: `/kafka/v3/clusters/{cluster}/links/{link}`.
pub fn link_path(cluster: &str, link: &str) -> String {
    format!("/kafka/v3/clusters/{cluster}/links/{link}")
}

/// `KafkaLinkData` of a link; tasks included when `include_tasks`.
pub fn link_data(link: &dyn LinkView, include_tasks: bool) -> LinkData {
    let health = link.health();
    let dest = link.destination_cluster_id();
    LinkData {
        kind: "KafkaLinkData",
        metadata: Metadata {
            self_: link_path(&dest, link.name()),
            next: None,
        },
        link_name: link.name().to_string(),
        cluster_link_id: cluster_link_id(&dest, link.name()),
        link_id: link_uuid(&dest, link.name()).hyphenated().to_string(),
        source_cluster_id: link.source_cluster_id(),
        destination_cluster_id: dest,
        topic_names: link.mirror_topics(),
        link_state: health.state.name(),
        link_error: health.error,
        link_error_message: health.error_message,
        tasks: include_tasks.then(|| {
            link.tasks()
                .into_iter()
                .map(|t| TaskData {
                    task_name: t.name,
                    state: t.state,
                    errors: t
                        .errors
                        .into_iter()
                        .map(|(error_code, error_message)| TaskError {
                            error_code,
                            error_message,
                        })
                        .collect(),
                })
                .collect()
        }),
    }
}

/// The id of the link `name` on destination cluster `destination`: the
/// first 16 bytes of SHA-256 over both names, as a version 8 (custom)
/// UUID. Derived rather than stored, so every gateway serving the link
/// gives the same id and it survives restarts; a link deleted and created
/// again under the same name keeps its id.
pub fn link_uuid(destination: &str, name: &str) -> uuid::Uuid {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(b"linkgate cluster link\0");
    hash.update(destination.as_bytes());
    hash.update(b"\0");
    hash.update(name.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // RFC 9562: version 8 in the high nibble of byte 6, variant 10 in the
    // top bits of byte 8.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes)
}

/// `cluster_link_id`: [`link_uuid`] in Kafka's `Uuid` text form (URL-safe
/// base64 without padding, 22 characters), as Confluent shows link ids.
pub fn cluster_link_id(destination: &str, name: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(link_uuid(destination, name).as_bytes())
}

/// `KafkaLinkConfigData` of one property of `link`; a sensitive value is
/// the empty string.
pub fn link_config(link: &dyn LinkView, p: LinkProperty) -> LinkConfigData {
    let dest = link.destination_cluster_id();
    LinkConfigData {
        kind: "KafkaLinkConfigData",
        metadata: Metadata {
            self_: format!("{}/configs/{}", link_path(&dest, link.name()), p.name),
            next: None,
        },
        cluster_id: dest,
        link_name: link.name().to_string(),
        value: if p.sensitive { String::new() } else { p.value },
        name: p.name,
        sensitive: p.sensitive,
        read_only: p.read_only,
        default: false,
        source: SOURCE_DYNAMIC_CLUSTER_LINK_CONFIG,
        synonyms: Vec::new(),
    }
}

/// `KafkaLinkConfigData` of every property, see [`link_config`].
pub fn link_configs(link: &dyn LinkView) -> Vec<LinkConfigData> {
    link.properties()
        .into_iter()
        .map(|p| link_config(link, p))
        .collect()
}

/// `KafkaMirrorData` of one mirror topic from a snapshot of the link's
/// status table; `detail` adds the per-partition describe fields, with
/// `TimeSinceLastFetchMs` measured from `now`.
pub fn mirror_data(
    link: &dyn LinkView,
    mirror_topic: &str,
    table: &BTreeMap<(String, i32), PartitionStatus>,
    detail: bool,
    now: SystemTime,
) -> MirrorData {
    let parts: Vec<(i32, &PartitionStatus)> = table
        .iter()
        .filter(|((t, _), _)| t == mirror_topic)
        .map(|((_, p), s)| (*p, s))
        .collect();
    let (status, time) = aggregate_status(parts.iter().map(|(_, s)| *s));
    let status = contract_status(status, parts.iter().map(|(_, s)| *s));
    let base = link_path(&link.destination_cluster_id(), link.name());
    MirrorData {
        kind: "KafkaMirrorData",
        metadata: Metadata {
            self_: format!("{base}/mirrors/{mirror_topic}"),
            next: None,
        },
        link_name: link.name().to_string(),
        mirror_topic_name: mirror_topic.to_string(),
        source_topic_name: link.source_topic(mirror_topic),
        mirror_status: status,
        state_time_ms: epoch_ms(time.unwrap_or(now)),
        num_partitions: parts.len(),
        mirror_lags: parts
            .iter()
            .map(|(partition, s)| MirrorLag {
                partition: *partition,
                lag: s.lag(),
                last_source_fetch_offset: s.next_fetch_offset,
                detail: detail.then(|| {
                    let (error_code, error_message) = error_of(&s.state);
                    PartitionDetail {
                        state: s.state.name(),
                        state_time_ms: epoch_ms(s.state_time),
                        dest_log_end_offset: s.destination_log_end_offset,
                        last_fetch_source_high_watermark: s.last_fetch_high_watermark,
                        time_since_last_fetch_ms: s.last_fetch_time.map(|t| ms_since(now, t)),
                        error_code,
                        error_message,
                    }
                }),
            })
            .collect(),
    }
}

/// `KafkaAlterMirrorStatusResponseData`: the outcome of a mirror action
/// (`POST .../mirrors:promote|:failover|:pause|:resume`) for one mirror
/// topic. A topic that did not take the action carries `error_code` (the
/// HTTP status of its [`crate::control::ControlError`], e.g. 400 for lag
/// not 0, 404 for an unknown mirror) and `error_message` (the error's
/// text); both are `null` on success.
#[derive(Debug, Serialize)]
pub struct AlterMirrorStatusData {
    /// Always `KafkaAlterMirrorStatusResponseData`.
    pub kind: &'static str,
    /// Resource metadata: `self` is the mirror topic's path under the
    /// cluster and link of the request.
    pub metadata: Metadata,
    /// Mirror topic name.
    pub mirror_topic_name: String,
    /// HTTP status of the per-topic error; `null` on success.
    pub error_code: Option<u16>,
    /// Per-topic error message; `null` on success.
    pub error_message: Option<String>,
    /// Per-partition lag when the action was decided (`partition`, `lag`,
    /// `last_source_fetch_offset`).
    pub mirror_lags: Vec<MirrorLag>,
}

/// The response entry of one [`MirrorActionResult`] of a request on
/// `.../clusters/{cluster}/links/{link}`.
pub fn alter_mirror_status(
    cluster: &str,
    link: &str,
    result: &MirrorActionResult,
) -> AlterMirrorStatusData {
    AlterMirrorStatusData {
        kind: "KafkaAlterMirrorStatusResponseData",
        metadata: Metadata {
            self_: format!(
                "{}/mirrors/{}",
                link_path(cluster, link),
                result.mirror_topic_name
            ),
            next: None,
        },
        mirror_topic_name: result.mirror_topic_name.clone(),
        error_code: result.error.as_ref().map(ControlError::status),
        error_message: result.error.as_ref().map(ToString::to_string),
        mirror_lags: result
            .lags
            .iter()
            .map(|l| MirrorLag {
                partition: l.partition,
                lag: l.lag,
                last_source_fetch_offset: l.last_source_fetch_offset,
                detail: None,
            })
            .collect(),
    }
}
