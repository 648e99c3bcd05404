//! Durable mirror state in the destination cluster: the internal compacted
//! state topic (`[gateway] state_topic`, default `__linkgate_state`, one
//! partition), holding per mirror partition a **checkpoint** and the
//! **offset map** (source offset to destination offset, batch granularity).
//!
//! Records are JSON, keyed so that log compaction keeps what matters:
//! - `cp/{link}/{topic}/{partition}`: the latest [`Checkpoint`], written
//!   *before* the round it describes is produced (write-ahead intent).
//! - `map/{link}/{topic}/{partition}/{source_offset:020}`: one
//!   [`OffsetMap`] segment start, written only where the distance between
//!   source and destination offsets changes (transaction markers, aborted
//!   data, compaction gaps, a mirror that did not start at 0).
//!
//! - `mt/{link}/{mirror topic}`: the [`MirrorTopicRecord`] of a mirror
//!   topic: which source topic it mirrors, its desired state (active,
//!   paused, stopped) and, once stopped, its per-partition history.
//!   Written before the mirror topic is created, so a mirror's name is
//!   decided once (a later change of the renaming plugins does not move it).
//!
//! - `link/{link}`: the definition of a cluster link created through the
//!   REST API (JSON owned by the control plane; see
//!   [`StateSnapshot::link_definitions`]), tombstoned when the link is
//!   deleted.
//!
//! - `producer/{link}`: the link's [`ProducerClaim`], the idempotent
//!   producer id and epoch of the gateway instance running the link (see
//!   `mirror::claim`).
//! - `fail/{link}/{topic}/{partition}`: a [`PersistedFailure`]: the
//!   partition stays `FAILED` across restarts.
//!
//! A link's own writes (checkpoints, offset map, mirror topics, failures)
//! are idempotent under the link's producer id and epoch
//! ([`StateStore::with_producer`]): a retried write is deduplicated by the
//! broker, and a write after another instance claimed the link is refused
//! (`INVALID_PRODUCER_EPOCH` / `PRODUCER_FENCED`, [`MirrorError::Fenced`]).
//!
//! Keys of other kinds are skipped when read (written by a newer linkgate).
//! Topic and link names cannot contain `/`, so keys split unambiguously.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::BytesMut;
use indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde::{Deserialize, Serialize};

use crate::kafka::records::batch::{self, RawBatch};
use crate::kafka::records::decompress::{decompress, MAX_DECOMPRESSED_BATCH_BYTES};
use crate::kafka::wire;
use crate::kafka::{AclEntry, ClusterClient, KafkaError, OffsetSpec};
use crate::mirror::error::{MirrorError, Side};
pub use crate::mirror::offset_map::OffsetMap;
use crate::mirror::offset_map::{self, RollupChunk, RollupHead};
use crate::mirror::status::FailureCause;

/// The state topic has one partition: all state of a destination is read in
/// one pass at start.
pub const STATE_PARTITION: i32 = 0;

/// Bytes per Fetch when reading the state topic.
const STATE_FETCH_BYTES: i32 = 8 * 1024 * 1024;

/// Tombstones per state topic write when purging a link (records).
const PURGE_CHUNK: usize = 500;

/// `(link, mirror topic, partition)`.
pub type MirrorPartitionId = (String, String, i32);

/// Write-ahead record for one produce round of one mirror partition:
/// source offsets `[source_start, source_end)` go to destination offsets
/// `[destination_start, destination_end)`.
///
/// Recovery compares the destination log end offset (LEO) with it: LEO ==
/// `destination_end` means the round landed (resume fetching at
/// `source_end`); LEO == `destination_start` means it did not (resume at
/// `source_start`); anything else means another writer touched the mirror
/// partition. This is sound because linkgate is the only writer of a mirror
/// partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Source topic id (UUID) when the round was fetched; a different id
    /// later means the source topic was recreated.
    pub source_topic_id: String,
    /// First source offset of the round (the fetch offset).
    pub source_start: i64,
    /// Source offset after the round (the next fetch offset).
    pub source_end: i64,
    /// Destination log end offset before the round.
    pub destination_start: i64,
    /// Destination log end offset after the round.
    pub destination_end: i64,
    /// The round's record batches in order, `(source base offset, record
    /// count)`: a round is produced one batch per partition per Produce
    /// request (Apache Kafka accepts one v2 batch per partition per request),
    /// so a crash can leave it landed up to a batch boundary.
    #[serde(default)]
    pub batches: Vec<(i64, i32)>,
    /// Idempotent producer id the round is produced with (-1 in records of
    /// versions that did not keep it: not verified then).
    #[serde(default = "unknown_i64")]
    pub producer_id: i64,
    /// Producer epoch the round is produced with (-1 unknown).
    #[serde(default = "unknown_i16")]
    pub producer_epoch: i16,
    /// Base sequence of the round's first batch; batch `i` has
    /// [`Checkpoint::sequence_at`]`(i)` (-1 unknown).
    #[serde(default = "unknown_i32")]
    pub base_sequence: i32,
    /// Source leader epoch of the last batch fetched before `source_end`
    /// (-1 unknown): sent as Fetch `last_fetched_epoch` after a restart.
    #[serde(default = "unknown_i32")]
    pub source_leader_epoch: i32,
}

fn unknown_i64() -> i64 {
    -1
}
fn unknown_i16() -> i16 {
    -1
}
fn unknown_i32() -> i32 {
    -1
}

impl Checkpoint {
    /// Whether the record holds the producer identity of its round (written
    /// by a version that keeps it).
    pub fn has_producer(&self) -> bool {
        self.producer_id >= 0 && self.producer_epoch >= 0 && self.base_sequence >= 0
    }

    /// Base sequence of batch `i` of the round (batch `i` follows the
    /// record counts of the batches before it, wrapping after `i32::MAX` as
    /// Kafka does).
    pub fn sequence_at(&self, i: usize) -> i32 {
        self.batches[..i.min(self.batches.len())]
            .iter()
            .fold(self.base_sequence, |seq, (_, count)| {
                batch::increment_sequence(seq, *count)
            })
    }

    /// Destination offset where batch `i` of the round lands.
    pub fn destination_at(&self, i: usize) -> i64 {
        self.destination_start
            + self.batches[..i.min(self.batches.len())]
                .iter()
                .map(|(_, c)| i64::from(*c))
                .sum::<i64>()
    }

    /// The batch boundary of the round at destination offset
    /// `destination_leo` (0 = nothing landed, `batches.len()` = all), if
    /// it is one. A round without batches (a progress record) has one
    /// boundary, at its start.
    pub fn boundary_at(&self, destination_leo: i64) -> Option<usize> {
        (0..=self.batches.len()).find(|i| self.destination_at(*i) == destination_leo)
    }

    /// The source offset to resume fetching at when the destination log end
    /// offset is `destination_leo`: `Some` when it is the start, the end, or a
    /// batch boundary of the round; `None` when it is anything else (another
    /// writer).
    pub fn resume_offset(&self, destination_leo: i64) -> Option<i64> {
        if destination_leo == self.destination_end {
            return Some(self.source_end);
        }
        if destination_leo == self.destination_start {
            return Some(self.source_start);
        }
        let i = self.boundary_at(destination_leo)?;
        self.batches.get(i).map(|(source, _)| *source)
    }
}

/// The state an operator asked a mirror topic to be in (persisted in its
/// [`MirrorTopicRecord`], so it survives a gateway restart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Mirrored (the default, and what records written before this field
    /// existed mean).
    #[default]
    Active,
    /// Paused (`kafka-mirrors --pause`): not fetched until resumed.
    Paused,
    /// Promoted or failed over: an ordinary writable topic, never fetched,
    /// recovered or checked for foreign writes again.
    Stopped,
}

impl DesiredState {
    /// Upper-case name as in Confluent's mirror states (`ACTIVE`, `PAUSED`,
    /// `STOPPED`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Paused => "PAUSED",
            Self::Stopped => "STOPPED",
        }
    }
}

/// History of one partition of a stopped mirror topic, kept until the link
/// is deleted (`kafka-mirrors --describe` of a `STOPPED` mirror).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedPartition {
    /// Partition index.
    pub partition: i32,
    /// Next source offset that was not mirrored when the mirror stopped
    /// (every source offset below it is on the destination).
    pub last_source_fetch_offset: i64,
    /// Destination log end offset linkgate had written when it stopped.
    pub destination_log_end_offset: i64,
}

/// What a mirror topic mirrors, and the state an operator put it in.
/// Fields added after the first version are `serde(default)`, so records
/// written by an older linkgate still read (as an `ACTIVE` mirror).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MirrorTopicRecord {
    /// Source topic name.
    pub source_topic: String,
    /// Source topic id (UUID) when the mirror was created.
    pub source_topic_id: String,
    /// Desired state (`active`, `paused`, `stopped`).
    #[serde(default)]
    pub state: DesiredState,
    /// When `state` last changed (ms since the Unix epoch; 0 unknown).
    #[serde(default)]
    pub state_time_ms: i64,
    /// Replication factor the mirror topic is created with (`None`: the
    /// destination's default, CreateTopics -1).
    #[serde(default)]
    pub replication_factor: Option<i16>,
    /// Topic config overrides applied over the source topic's configs
    /// when the mirror topic is created, in the order given.
    #[serde(default)]
    pub configs: Vec<(String, String)>,
    /// Per-partition history of a `stopped` mirror (empty otherwise).
    #[serde(default)]
    pub stopped_partitions: Vec<StoppedPartition>,
    /// Kafka cluster id (or alias) where the mirrored data originates: the
    /// source cluster, or, when the source topic is itself a mirror topic
    /// (a chain of links), that mirror's origin. Auto-create never mirrors
    /// a topic back to its origin. `None` in records of older versions.
    #[serde(default)]
    pub origin_cluster: Option<String>,
}

/// Now in ms since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Deserialize)]
struct SegmentValue {
    destination_offset: i64,
}

/// Everything read from the state topic.
#[derive(Debug, Default, Clone)]
pub struct StateSnapshot {
    /// Latest checkpoint per mirror partition.
    pub checkpoints: HashMap<MirrorPartitionId, Checkpoint>,
    /// Offset map per mirror partition (segments only; the end is set from
    /// the checkpoint by recovery).
    pub maps: HashMap<MirrorPartitionId, OffsetMap>,
    /// Mirror topics per `(link, mirror topic)`.
    pub mirror_topics: HashMap<(String, String), MirrorTopicRecord>,
    /// Link definitions written by the control plane, by link name (raw
    /// JSON; the control plane parses it).
    pub link_definitions: HashMap<String, Vec<u8>>,
    /// Producer claims by link name.
    pub producers: HashMap<String, ProducerClaim>,
    /// Persisted failures per mirror partition.
    pub failures: HashMap<MirrorPartitionId, PersistedFailure>,
    /// Roll-up heads of offset maps (see [`crate::mirror::offset_map`]).
    pub rollups: HashMap<MirrorPartitionId, RollupHead>,
    /// Source offsets of the single segment records (`map/...`) per mirror
    /// partition: the roll-up deletes them.
    pub singles: HashMap<MirrorPartitionId, BTreeSet<i64>>,
    /// Keys of roll-up chunks no head names (left by a crash): deleted at
    /// the next roll-up or link purge.
    pub stale_chunks: HashMap<MirrorPartitionId, Vec<String>>,
    /// ACL bindings a link's ACL sync created on the destination, by link
    /// and record key (`acl/{link}/{digest}`, see [`StateEntry::synced_acl`]).
    pub synced_acls: HashMap<String, BTreeMap<String, AclEntry>>,
    /// What a link's consumer offset sync remembers of each source group,
    /// by link and record key (`group/{link}/{digest}`, see
    /// [`StateEntry::group_sync`]).
    pub synced_groups: HashMap<String, BTreeMap<String, GroupSyncRecord>>,
    /// Chunks read, by partition and `(generation, chunk)`, until the heads
    /// are known.
    chunks: HashMap<MirrorPartitionId, ChunksRead>,
}

/// Roll-up chunks of one partition by `(generation, chunk)`: segment starts.
type ChunksRead = BTreeMap<(u64, u32), Vec<(i64, i64)>>;

/// The idempotent producer identity a gateway instance claimed for a link
/// (`producer/{link}`). A starting instance claims the epoch after the
/// recorded one, which fences the instance before it (Kafka refuses a
/// lower epoch of a producer id per partition, KIP-98/KIP-360).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerClaim {
    /// Producer id (from InitProducerId on the destination).
    pub producer_id: i64,
    /// Producer epoch of the claiming instance.
    pub producer_epoch: i16,
    /// Random id of the claiming instance (tells two claims of the same
    /// epoch apart: the broker keeps the first, deduplicating the second).
    pub instance: String,
}

/// A mirror partition's failure, kept in the state topic so that a restart
/// never resumes a failed partition by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedFailure {
    /// Why it failed.
    pub cause: FailureCause,
    /// When (ms since the Unix epoch).
    pub time_ms: i64,
}

impl StateSnapshot {
    /// Merges the chunks each roll-up head names into the offset maps and
    /// lists the others as stale.
    fn assemble_rollups(&mut self) {
        for (id, chunks) in std::mem::take(&mut self.chunks) {
            let head = self.rollups.get(&id).copied();
            for ((generation, chunk), segments) in chunks {
                let current = head.is_some_and(|h| h.generation == generation && chunk < h.chunks);
                if current {
                    let map = self.maps.entry(id.clone()).or_default();
                    for (s, d) in segments {
                        map.insert(s, d);
                    }
                } else {
                    self.stale_chunks
                        .entry(id.clone())
                        .or_default()
                        .push(offset_map::chunk_key(&id, generation, chunk));
                }
            }
        }
    }

    /// The complete offset map of a mirror partition, given its destination
    /// log end offset (ListOffsets latest on the mirror partition): the
    /// segments that landed, and the mirrored end derived from the
    /// checkpoint ([`Checkpoint::resume_offset`]). This is what consumer
    /// offset translation reads: `map.translate(source_offset)`.
    ///
    /// `None` when the partition has no checkpoint, or when the log end
    /// offset does not match it (another writer; see `FOREIGN_WRITE`).
    pub fn offset_map(
        &self,
        id: &MirrorPartitionId,
        destination_log_end_offset: i64,
    ) -> Option<OffsetMap> {
        let cp = self.checkpoints.get(id)?;
        let source_end = cp.resume_offset(destination_log_end_offset)?;
        let mut map = self.maps.get(id).cloned().unwrap_or_default();
        map.truncate_destination(destination_log_end_offset);
        map.set_end(source_end, destination_log_end_offset);
        Some(map)
    }
}

/// One record to write to the state topic (`value` `None` is a tombstone).
#[derive(Debug, Clone)]
pub struct StateEntry {
    /// Record key.
    pub key: String,
    /// JSON value, or `None` to delete the key on compaction.
    pub value: Option<Vec<u8>>,
}

/// JSON of a state record; a serialization error is an error, never a
/// tombstone.
fn json<T: Serialize>(key: &str, value: &T) -> Result<Option<Vec<u8>>, MirrorError> {
    serde_json::to_vec(value)
        .map(Some)
        .map_err(|e| MirrorError::State {
            topic: String::new(),
            offset: -1,
            message: format!("cannot encode state record {key}: {e}"),
        })
}

impl StateEntry {
    /// A record with `value` as JSON.
    ///
    /// # Errors
    /// [`MirrorError::State`] when it cannot be serialized.
    pub fn json<T: Serialize>(key: String, value: &T) -> Result<Self, MirrorError> {
        let value = json(&key, value)?;
        Ok(Self { key, value })
    }

    /// The checkpoint record of a mirror partition.
    ///
    /// # Errors
    /// [`MirrorError::State`] when it cannot be serialized.
    pub fn checkpoint(id: &MirrorPartitionId, cp: &Checkpoint) -> Result<Self, MirrorError> {
        let key = format!("cp/{}/{}/{}", id.0, id.1, id.2);
        let value = json(&key, cp)?;
        Ok(Self { key, value })
    }

    /// The record of a mirror topic of a link.
    ///
    /// # Errors
    /// [`MirrorError::State`] when it cannot be serialized.
    pub fn mirror_topic(
        link: &str,
        mirror_topic: &str,
        record: &MirrorTopicRecord,
    ) -> Result<Self, MirrorError> {
        let key = format!("mt/{link}/{mirror_topic}");
        let value = json(&key, record)?;
        Ok(Self { key, value })
    }

    /// The producer claim of a link.
    ///
    /// # Errors
    /// [`MirrorError::State`] when it cannot be serialized.
    pub fn producer_claim(link: &str, claim: &ProducerClaim) -> Result<Self, MirrorError> {
        let key = format!("producer/{link}");
        let value = json(&key, claim)?;
        Ok(Self { key, value })
    }

    /// The failure record of a mirror partition (`None`: delete it).
    ///
    /// # Errors
    /// [`MirrorError::State`] when it cannot be serialized.
    pub fn failure(
        id: &MirrorPartitionId,
        failure: Option<&PersistedFailure>,
    ) -> Result<Self, MirrorError> {
        let key = format!("fail/{}/{}/{}", id.0, id.1, id.2);
        let value = match failure {
            Some(f) => json(&key, f)?,
            None => None,
        };
        Ok(Self { key, value })
    }

    /// The definition of a link created through the API (`None`: the link
    /// was deleted).
    pub fn link_definition(link: &str, json: Option<Vec<u8>>) -> Self {
        Self {
            key: format!("link/{link}"),
            value: json,
        }
    }

    /// The record that an ACL binding was created on the destination by
    /// `link`'s ACL sync (`present` false: a tombstone, the binding was
    /// deleted again). Key `acl/{link}/{digest}`, the digest the first 16
    /// bytes of the SHA-256 of the binding's JSON, in hex (resource names
    /// may hold `/`).
    pub fn synced_acl(link: &str, entry: &AclEntry, present: bool) -> Self {
        use sha2::Digest;
        // The JSON of plain strings and integers cannot fail to serialize.
        let value = serde_json::to_vec(entry).unwrap_or_default();
        let digest = sha2::Sha256::digest(&value);
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Self {
            key: format!("acl/{link}/{hex}"),
            value: present.then_some(value),
        }
    }

    /// What `link`'s consumer offset sync remembers of a source group
    /// (`None`: a tombstone). Key `group/{link}/{digest}`, the digest the
    /// first 16 bytes of the SHA-256 of the group id, in hex (group ids may
    /// hold `/`).
    pub fn group_sync(link: &str, group: &str, record: Option<&GroupSyncRecord>) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(group.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Self {
            key: format!("group/{link}/{hex}"),
            // Plain strings, integers and booleans cannot fail to serialize.
            value: record.map(|r| serde_json::to_vec(r).unwrap_or_default()),
        }
    }

    /// An offset map segment start (`tombstone`: delete it).
    pub fn segment(id: &MirrorPartitionId, source: i64, destination: i64, tombstone: bool) -> Self {
        // The JSON of `SegmentValue`, which cannot fail to serialize.
        Self {
            key: format!("map/{}/{}/{}/{:020}", id.0, id.1, id.2, source),
            value: (!tombstone)
                .then(|| format!(r#"{{"destination_offset":{destination}}}"#).into_bytes()),
        }
    }
}

/// What a link's consumer offset sync keeps of one source group in the
/// state topic, so that a restart neither syncs a migrated group again nor
/// forgets where the group was last synced (a later source reset is then
/// still recognised as one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSyncRecord {
    /// Source consumer group id.
    pub group: String,
    /// Taken out of the sync by `linkgate group migrate`.
    #[serde(default)]
    pub excluded: bool,
    /// Last offsets committed on the destination, per mirror partition.
    #[serde(default)]
    pub synced: Vec<SyncedGroupOffset>,
}

/// One mirror partition's offsets last committed for a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedGroupOffset {
    /// Mirror topic on the destination.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The source group's committed offset.
    pub source_offset: i64,
    /// The destination offset committed for it.
    pub destination_offset: i64,
}

/// Record bytes per state topic batch: below the 1 MiB default of
/// `max.message.bytes`, with room for the batch and record headers. A write
/// of more is split into several batches (each acknowledged before the
/// next is sent).
pub const STATE_BATCH_BYTES: usize = 900 * 1024;

/// Kafka error codes of the idempotent state writer.
mod code {
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const PRODUCER_FENCED: i16 = 90;
}

/// An idempotent producer identity on the destination (InitProducerId,
/// KIP-98), with the epoch a gateway instance claimed (KIP-360 epoch bump).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    /// Producer id.
    pub id: i64,
    /// Producer epoch.
    pub epoch: i16,
}

/// The idempotent sequence of one link's state writes.
#[derive(Debug)]
struct Sequence {
    producer: ProducerIdentity,
    /// Base sequence of the next batch.
    next: i32,
    /// A batch whose outcome is unknown (sent, no answer): sent again byte
    /// for byte before anything else, so the broker deduplicates it if it
    /// landed. Its sequence numbers are never given to other records.
    pending: Option<(bytes::Bytes, i32)>,
    /// Why the broker refused this identity (another instance claimed the
    /// link): every later write fails with [`MirrorError::Fenced`].
    fenced: Option<String>,
}

/// Reader and writer of the state topic on one destination cluster.
///
/// Plain ([`StateStore::open`]): writes carry no producer id (the control
/// plane's link definitions). With a producer ([`StateStore::with_producer`],
/// a running link): writes are idempotent, in sequence, serialized by an
/// async lock held for the write (the sequence is the order), and fenced by
/// a later epoch of the same producer id.
pub struct StateStore {
    destination: Arc<ClusterClient>,
    topic: String,
    producer: Option<tokio::sync::Mutex<Sequence>>,
}

impl StateStore {
    /// Opens the state topic, creating it if absent: 1 partition,
    /// `cleanup.policy=compact`, replication factor min(3, brokers),
    /// `min.insync.replicas` min(2, brokers) and `max.message.bytes`
    /// 1048588 (Kafka's default, above the [`STATE_BATCH_BYTES`] batches the
    /// writer sends). An existing topic must be compacted: a delete policy
    /// would expire link and mirror records. A replication factor below
    /// what the cluster could give is logged as a warning.
    ///
    /// # Errors
    /// [`MirrorError::Kafka`] with [`Side::State`] when the topic cannot be
    /// created or described; [`MirrorError::StateTopicUnfit`] when it is not
    /// compacted.
    pub async fn open(destination: Arc<ClusterClient>, topic: &str) -> Result<Self, MirrorError> {
        let st = |e| MirrorError::kafka(Side::State, e);
        let brokers = destination.brokers().len().max(1);
        let replication = brokers.min(3);
        let configs = [
            ("cleanup.policy", "compact".to_string()),
            ("min.insync.replicas", brokers.min(2).to_string()),
            ("max.message.bytes", "1048588".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v));
        destination
            .create_topic(topic, 1, replication as i16, &configs)
            .await
            .map_err(st)?;
        let described = destination
            .describe_topic_configs(topic)
            .await
            .map_err(st)?;
        let policy = described
            .iter()
            .find(|(k, _)| k == "cleanup.policy")
            .map(|(_, v)| v.as_str());
        match policy {
            Some(p) if p.split(',').any(|v| v.trim() == "compact") => {}
            // No configs at all: a broker that does not describe them.
            None if described.is_empty() => tracing::warn!(topic,
                "the destination describes no configs of the state topic; cannot check that it is compacted"),
            other => {
                return Err(MirrorError::StateTopicUnfit {
                    topic: topic.to_string(),
                    message: format!(
                        "its cleanup.policy is {}, not compact: link and mirror records would expire; set cleanup.policy=compact on it, or name another state topic ([gateway] state_topic)",
                        other.unwrap_or("not set (the broker default applies)")
                    ),
                })
            }
        }
        if let Some(info) = destination.topic(topic).await.map_err(st)? {
            let have = info.partitions.first().map_or(0, |p| p.replicas);
            if have > 0 && have < replication {
                tracing::warn!(topic, replicas = have, brokers,
                    "the state topic has fewer replicas than the destination could give ({replication}): losing a broker can lose the gateway's state");
            }
        }
        Ok(Self {
            destination,
            topic: topic.to_string(),
            producer: None,
        })
    }

    /// The same state topic, written idempotently as `producer` from
    /// sequence 0 (the first write of a claimed epoch).
    pub fn with_producer(&self, producer: ProducerIdentity) -> Self {
        Self {
            destination: self.destination.clone(),
            topic: self.topic.clone(),
            producer: Some(tokio::sync::Mutex::new(Sequence {
                producer,
                next: 0,
                pending: None,
                fenced: None,
            })),
        }
    }

    /// Opens the state topic only when it exists already (reading the
    /// links persisted on a cluster without creating anything there):
    /// `Ok(None)` when the cluster has no state topic.
    ///
    /// # Errors
    /// [`MirrorError::Kafka`] with [`Side::State`] when the cluster cannot
    /// be asked.
    pub async fn open_existing(
        destination: Arc<ClusterClient>,
        topic: &str,
    ) -> Result<Option<Self>, MirrorError> {
        let found = destination
            .topic(topic)
            .await
            .map_err(|e| MirrorError::kafka(Side::State, e))?;
        Ok(found.map(|_| Self {
            destination,
            topic: topic.to_string(),
            producer: None,
        }))
    }

    /// The state topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Reads the whole state topic, from its log start offset to its high
    /// watermark. Later records of a key replace earlier ones.
    ///
    /// # Errors
    /// [`MirrorError::Kafka`] (`Side::State`) on fetch failures,
    /// [`MirrorError::State`] on a record that is not linkgate's JSON.
    pub async fn load(&self) -> Result<StateSnapshot, MirrorError> {
        let st = |e| MirrorError::kafka(Side::State, e);
        let tp = vec![(self.topic.clone(), STATE_PARTITION)];
        let start = *self
            .destination
            .list_offsets(&tp, OffsetSpec::Earliest)
            .await
            .map_err(st)?
            .get(&tp[0])
            .unwrap_or(&0);
        let end = *self
            .destination
            .list_offsets(&tp, OffsetSpec::Latest)
            .await
            .map_err(st)?
            .get(&tp[0])
            .unwrap_or(&0);
        let mut snapshot = StateSnapshot::default();
        let mut offset = start;
        let mut empty_fetches = 0u32;
        while offset < end {
            let leader = self
                .destination
                .leader(&self.topic, STATE_PARTITION)
                .await
                .map_err(st)?;
            let conn = self.destination.broker(leader).await.map_err(st)?;
            let req = wire::fetch_request(
                &[wire::FetchTarget {
                    topic: self.topic.clone(),
                    partition: STATE_PARTITION,
                    topic_id: uuid::Uuid::nil(),
                    offset,
                    max_bytes: STATE_FETCH_BYTES,
                    current_leader_epoch: -1,
                    last_fetched_epoch: -1,
                }],
                wire::READ_UNCOMMITTED,
                100,
                1,
                STATE_FETCH_BYTES,
            );
            let version = conn
                .version_for::<kafka_protocol::messages::FetchRequest>()
                .map_err(st)?
                .min(wire::FETCH_BY_NAME_MAX_VERSION);
            let resp = conn.send_version(&req, version).await.map_err(st)?;
            let part = resp
                .responses
                .into_iter()
                .flat_map(|t| t.partitions)
                .find(|p| p.partition_index == STATE_PARTITION);
            let Some(part) = part else {
                return Err(self.corrupt(offset, "fetch response has no partition 0"));
            };
            if part.error_code != 0 {
                return Err(st(crate::kafka::error::broker_error(
                    self.destination.name(),
                    format!("fetch state topic {} at offset {offset}", self.topic),
                    part.error_code,
                )));
            }
            let records = part.records.unwrap_or_default();
            let split =
                batch::split_batches(&records).map_err(|e| self.corrupt(offset, &e.to_string()))?;
            if split.batches.is_empty() {
                empty_fetches += 1;
                if empty_fetches > 50 {
                    return Err(self.corrupt(
                        offset,
                        "the broker returns no record batch below the high watermark",
                    ));
                }
                continue;
            }
            for b in split.batches {
                let next = b.header.next_offset();
                if b.header.is_control() {
                    offset = offset.max(next);
                    continue;
                }
                // Decompressed within the same bound as mirrored batches.
                let codec = b
                    .header
                    .compression()
                    .map_err(|e| self.corrupt(b.header.base_offset, &e.to_string()))?;
                let plain = decompress(b.records_section(), codec, MAX_DECOMPRESSED_BATCH_BYTES)
                    .map_err(|e| self.corrupt(b.header.base_offset, &e.to_string()))?;
                let set = RecordBatchDecoder::decode_with_custom_compression(
                    &mut b.bytes.clone(),
                    Some(|_: &mut bytes::Bytes, _: Compression| Ok(plain.clone())),
                )
                .map_err(|e| self.corrupt(b.header.base_offset, &e.to_string()))?;
                for r in set.records {
                    if r.offset >= offset {
                        self.apply(&mut snapshot, &r)?;
                    }
                }
                offset = offset.max(next);
            }
        }
        snapshot.assemble_rollups();
        Ok(snapshot)
    }

    fn apply(&self, snap: &mut StateSnapshot, r: &Record) -> Result<(), MirrorError> {
        let Some(key) = r.key.as_ref().and_then(|k| std::str::from_utf8(k).ok()) else {
            return Err(self.corrupt(r.offset, "record key is not UTF-8"));
        };
        let parts: Vec<&str> = key.split('/').collect();
        let bad = |m: &str| self.corrupt(r.offset, &format!("key {key:?}: {m}"));
        let id = |link: &str, topic: &str, p: &str| -> Result<MirrorPartitionId, MirrorError> {
            let p = p.parse().map_err(|_| bad("bad partition"))?;
            Ok((link.to_string(), topic.to_string(), p))
        };
        // A tombstone removes the key's entry; a value replaces it.
        fn upsert<K: Eq + std::hash::Hash, T: serde::de::DeserializeOwned>(
            map: &mut HashMap<K, T>,
            key: K,
            value: Option<&bytes::Bytes>,
            bad: impl Fn(&str) -> MirrorError,
        ) -> Result<(), MirrorError> {
            match value {
                None => {
                    map.remove(&key);
                }
                Some(v) => {
                    let parsed = serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
                    map.insert(key, parsed);
                }
            }
            Ok(())
        }
        let value = r.value.as_ref();
        match parts.as_slice() {
            ["cp", link, topic, p] => {
                upsert(&mut snap.checkpoints, id(link, topic, p)?, value, bad)?
            }
            ["mt", link, topic] => upsert(
                &mut snap.mirror_topics,
                ((*link).to_string(), (*topic).to_string()),
                value,
                bad,
            )?,
            ["map", link, topic, p, src] => {
                let id = id(link, topic, p)?;
                let src: i64 = src.parse().map_err(|_| bad("bad source offset"))?;
                let singles = snap.singles.entry(id.clone()).or_default();
                let map = snap.maps.entry(id).or_default();
                match value {
                    None => {
                        map.remove(src);
                        singles.remove(&src);
                    }
                    Some(v) => {
                        let seg: SegmentValue =
                            serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
                        map.insert(src, seg.destination_offset);
                        singles.insert(src);
                    }
                }
            }
            ["mapr", link, topic, p] => upsert(&mut snap.rollups, id(link, topic, p)?, value, bad)?,
            ["mapc", link, topic, p, generation, chunk] => {
                let at = (
                    generation.parse().map_err(|_| bad("bad generation"))?,
                    chunk.parse().map_err(|_| bad("bad chunk"))?,
                );
                let chunks = snap.chunks.entry(id(link, topic, p)?).or_default();
                match value {
                    None => {
                        chunks.remove(&at);
                    }
                    Some(v) => {
                        let c: RollupChunk =
                            serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
                        chunks.insert(at, c.segments);
                    }
                }
            }
            ["producer", link] => upsert(&mut snap.producers, (*link).to_string(), value, bad)?,
            ["acl", link, _] => {
                let set = snap.synced_acls.entry((*link).to_string()).or_default();
                match value {
                    None => {
                        set.remove(key);
                    }
                    Some(v) => {
                        let e: AclEntry =
                            serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
                        set.insert(key.to_string(), e);
                    }
                }
            }
            ["group", link, _] => {
                let set = snap.synced_groups.entry((*link).to_string()).or_default();
                match value {
                    None => {
                        set.remove(key);
                    }
                    Some(v) => {
                        let r: GroupSyncRecord =
                            serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
                        set.insert(key.to_string(), r);
                    }
                }
            }
            ["fail", link, topic, p] => {
                upsert(&mut snap.failures, id(link, topic, p)?, value, bad)?
            }
            ["link", link] => match value {
                None => {
                    snap.link_definitions.remove(*link);
                }
                Some(v) => {
                    snap.link_definitions
                        .insert((*link).to_string(), v.to_vec());
                }
            },
            _ => {
                tracing::debug!(topic = %self.topic, offset = r.offset, key, "state record of an unknown kind skipped");
            }
        }
        Ok(())
    }

    fn corrupt(&self, offset: i64, message: &str) -> MirrorError {
        MirrorError::State {
            topic: self.topic.clone(),
            offset,
            message: message.to_string(),
        }
    }

    /// Deletes everything of `link` from the state topic (link deleted):
    /// writes a tombstone for every `cp/{link}/...`, `map/{link}/...`,
    /// `mapr/...` and `mapc/...` of the link, `mt/{link}/...`,
    /// `fail/{link}/...`, `acl/{link}/...`, `group/{link}/...`, the
    /// `producer/{link}` and the
    /// `link/{link}` record found by reading the
    /// whole topic ([`StateStore::load`]). The link's tasks must be stopped
    /// first (a running link would write its checkpoints again).
    ///
    /// # Errors
    /// As [`StateStore::load`] and [`StateStore::write`]; a partial purge
    /// is completed by calling again.
    pub async fn purge_link(&self, link: &str) -> Result<(), MirrorError> {
        let snap = self.load().await?;
        let mut entries = Vec::new();
        for id in snap.checkpoints.keys().filter(|id| id.0 == link) {
            entries.push(StateEntry {
                key: format!("cp/{}/{}/{}", id.0, id.1, id.2),
                value: None,
            });
        }
        for (id, singles) in snap.singles.iter().filter(|(id, _)| id.0 == link) {
            for s in singles {
                entries.push(StateEntry::segment(id, *s, 0, true));
            }
        }
        for (l, mirror) in snap.mirror_topics.keys().filter(|(l, _)| l == link) {
            entries.push(StateEntry {
                key: format!("mt/{l}/{mirror}"),
                value: None,
            });
        }
        for (id, head) in snap.rollups.iter().filter(|(id, _)| id.0 == link) {
            entries.push(StateEntry {
                key: offset_map::head_key(id),
                value: None,
            });
            for c in 0..head.chunks {
                entries.push(StateEntry {
                    key: offset_map::chunk_key(id, head.generation, c),
                    value: None,
                });
            }
        }
        for (_, keys) in snap.stale_chunks.iter().filter(|(id, _)| id.0 == link) {
            for key in keys {
                entries.push(StateEntry {
                    key: key.clone(),
                    value: None,
                });
            }
        }
        for id in snap.failures.keys().filter(|id| id.0 == link) {
            entries.push(StateEntry::failure(id, None)?);
        }
        if snap.producers.contains_key(link) {
            entries.push(StateEntry {
                key: format!("producer/{link}"),
                value: None,
            });
        }
        if snap.link_definitions.contains_key(link) {
            entries.push(StateEntry::link_definition(link, None));
        }
        // The ACL bindings the link created stay on the destination (a link
        // is deleted after a failover, when clients need them); only the
        // records that the link owns them go.
        for e in snap
            .synced_acls
            .get(link)
            .into_iter()
            .flat_map(|m| m.values())
        {
            entries.push(StateEntry::synced_acl(link, e, false));
        }
        for key in snap
            .synced_groups
            .get(link)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            entries.push(StateEntry {
                key: key.clone(),
                value: None,
            });
        }
        for chunk in entries.chunks(PURGE_CHUNK) {
            self.write(chunk).await?;
        }
        tracing::info!(link, records = entries.len(), topic = %self.topic, "link state purged");
        Ok(())
    }

    /// Appends entries with acks=all, in uncompressed record batches of at
    /// most [`STATE_BATCH_BYTES`] (one batch per request); returns once the
    /// destination acknowledged all of them. Idempotent with a producer: a
    /// batch whose outcome stayed unknown is sent again first by the next
    /// write.
    ///
    /// # Errors
    /// [`MirrorError::Kafka`] (`Side::State`), [`MirrorError::Fenced`] once
    /// the broker refused the producer's epoch; the caller must not produce
    /// the round these entries describe. Batches before the failing one may
    /// have landed.
    pub async fn write(&self, entries: &[StateEntry]) -> Result<(), MirrorError> {
        let mut rest = entries;
        while !rest.is_empty() {
            let mut bytes = 0usize;
            let n = rest
                .iter()
                .position(|e| {
                    bytes += e.key.len() + e.value.as_ref().map_or(0, Vec::len) + 32;
                    bytes > STATE_BATCH_BYTES
                })
                .unwrap_or(rest.len())
                .max(1);
            let (chunk, tail) = rest.split_at(n);
            self.write_batch(chunk).await?;
            rest = tail;
        }
        Ok(())
    }

    async fn write_batch(&self, entries: &[StateEntry]) -> Result<(), MirrorError> {
        let raw = self.encode(entries)?;
        let Some(sequence) = &self.producer else {
            return self
                .send(raw)
                .await
                .map_err(|(e, _)| MirrorError::kafka(Side::State, e));
        };
        let mut seq = sequence.lock().await;
        if let Some(p) = seq.pending.take() {
            self.send_in_sequence(&mut seq, p.0, p.1).await?;
        }
        let batch = RawBatch::parse(raw).map_err(|e| self.corrupt(-1, &e.to_string()))?;
        let count = batch.header.record_count;
        let bytes =
            batch::rewrite_for_producer(&batch, seq.producer.id, seq.producer.epoch, seq.next);
        self.send_in_sequence(&mut seq, bytes, count).await
    }

    /// Sends one batch at the sequence's next number and accounts for the
    /// outcome.
    async fn send_in_sequence(
        &self,
        seq: &mut Sequence,
        bytes: bytes::Bytes,
        count: i32,
    ) -> Result<(), MirrorError> {
        if let Some(why) = &seq.fenced {
            return Err(MirrorError::Fenced {
                message: why.clone(),
            });
        }
        match self.send(bytes.clone()).await {
            Ok(()) => {}
            // Landed earlier (a retry of a batch that had reached the log).
            Err((e, _)) if e.error_code() == Some(code::DUPLICATE_SEQUENCE_NUMBER) => {}
            Err((e, _))
                if matches!(
                    e.error_code(),
                    Some(
                        code::INVALID_PRODUCER_EPOCH
                            | code::PRODUCER_FENCED
                            | code::OUT_OF_ORDER_SEQUENCE_NUMBER
                    )
                ) =>
            {
                let why = format!(
                    "the state topic {} refused producer id {} epoch {}: another gateway instance claimed the link ({e})",
                    self.topic, seq.producer.id, seq.producer.epoch
                );
                seq.fenced = Some(why.clone());
                return Err(MirrorError::Fenced { message: why });
            }
            Err((e, maybe_written)) => {
                if maybe_written {
                    seq.pending = Some((bytes, count));
                }
                return Err(MirrorError::kafka(Side::State, e));
            }
        }
        seq.next = batch::increment_sequence(seq.next, count);
        Ok(())
    }

    /// One uncompressed v2 batch of the entries, without producer id.
    fn encode(&self, entries: &[StateEntry]) -> Result<bytes::Bytes, MirrorError> {
        let now = now_ms();
        let records: Vec<Record> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // kafka-protocol starts a new batch whenever offset - sequence
                // changes; this keeps one batch with base sequence -1 (no
                // idempotence), as Kafka wants one batch per partition.
                sequence: i as i32 - 1,
                timestamp: now,
                key: Some(bytes::Bytes::from(e.key.clone().into_bytes())),
                value: e.value.clone().map(bytes::Bytes::from),
                headers: IndexMap::new(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| self.corrupt(-1, &format!("cannot encode state records: {e}")))?;
        Ok(buf.freeze())
    }

    /// Produces one batch (acks=all), retrying retriable errors. On error,
    /// also whether the batch may have reached the log (a request sent
    /// without an answer).
    async fn send(&self, records: bytes::Bytes) -> Result<(), (KafkaError, bool)> {
        let mut attempt = 0u32;
        let mut maybe_written = false;
        loop {
            attempt += 1;
            let leader = self.destination.leader(&self.topic, STATE_PARTITION).await;
            let result = match leader {
                Ok(leader) => match self.destination.broker(leader).await {
                    Ok(conn) => {
                        let req = wire::produce_request(
                            vec![wire::ProduceTarget {
                                topic: self.topic.clone(),
                                partition: STATE_PARTITION,
                                records: records.clone(),
                            }],
                            -1,
                            i32::try_from(self.destination.settings().request_timeout.as_millis())
                                .unwrap_or(i32::MAX),
                        );
                        match conn.send(&req).await {
                            Ok((_, resp)) => {
                                let code = resp
                                    .responses
                                    .iter()
                                    .flat_map(|t| t.partition_responses.iter())
                                    .map(|p| p.error_code)
                                    .find(|c| *c != 0)
                                    .unwrap_or(0);
                                if code == 0 {
                                    Ok(())
                                } else {
                                    self.destination.invalidate(&self.topic);
                                    Err(crate::kafka::error::broker_error(
                                        self.destination.name(),
                                        format!("produce to state topic {}", self.topic),
                                        code,
                                    ))
                                }
                            }
                            Err(e) => {
                                maybe_written = true;
                                Err(e)
                            }
                        }
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retriable() && attempt < 10 => {
                    tracing::warn!(error = %e, attempt, "state topic write failed, retrying");
                    tokio::time::sleep(self.destination.settings().retry_backoff * attempt).await;
                }
                Err(e) => return Err((e, maybe_written)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_have_stable_keys() {
        let id = ("l".to_string(), "t".to_string(), 3);
        assert_eq!(
            StateEntry::segment(&id, 7, 5, false).key,
            "map/l/t/3/00000000000000000007"
        );
        assert!(StateEntry::segment(&id, 7, 5, true).value.is_none());
        assert_eq!(
            StateEntry::checkpoint(
                &id,
                &Checkpoint {
                    source_topic_id: "x".into(),
                    source_start: 0,
                    source_end: 1,
                    destination_start: 0,
                    destination_end: 1,
                    batches: vec![],
                    producer_id: 1,
                    producer_epoch: 0,
                    base_sequence: 0,
                    source_leader_epoch: -1,
                }
            )
            .unwrap()
            .key,
            "cp/l/t/3"
        );
    }

    #[test]
    fn offset_map_from_snapshot() {
        let id = ("l".to_string(), "t".to_string(), 0);
        let mut snap = StateSnapshot::default();
        snap.checkpoints.insert(
            id.clone(),
            Checkpoint {
                source_topic_id: "x".into(),
                source_start: 51,
                source_end: 71,
                destination_start: 50,
                destination_end: 70,
                batches: vec![(51, 10), (61, 10)],
                producer_id: 1,
                producer_epoch: 0,
                base_sequence: 0,
                source_leader_epoch: -1,
            },
        );
        let mut m = OffsetMap::default();
        m.insert(0, 0);
        m.insert(51, 50);
        snap.maps.insert(id.clone(), m);
        // Round landed: end at source 71 / destination 70.
        let full = snap.offset_map(&id, 70).unwrap();
        assert_eq!(full.translate(71), Some(70));
        assert_eq!(full.translate(60), Some(59));
        // Round landed up to its first batch only.
        let half = snap.offset_map(&id, 60).unwrap();
        assert_eq!(half.translate(61), Some(60));
        assert_eq!(half.translate(62), None);
        // Foreign write.
        assert!(snap.offset_map(&id, 65).is_none());
    }

    #[test]
    fn old_mirror_topic_records_read_as_active() {
        let rec: MirrorTopicRecord =
            serde_json::from_slice(br#"{"source_topic":"t","source_topic_id":"x"}"#).unwrap();
        assert_eq!(rec.state, DesiredState::Active);
        assert!(rec.stopped_partitions.is_empty());
        let stopped = MirrorTopicRecord {
            state: DesiredState::Stopped,
            stopped_partitions: vec![StoppedPartition {
                partition: 0,
                last_source_fetch_offset: 7,
                destination_log_end_offset: 5,
            }],
            ..rec
        };
        let json = serde_json::to_vec(&stopped).unwrap();
        assert!(String::from_utf8_lossy(&json).contains(r#""state":"stopped""#));
        let back: MirrorTopicRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, stopped);
    }

    #[test]
    fn resume_offset_at_batch_boundaries() {
        let cp = Checkpoint {
            source_topic_id: "x".into(),
            source_start: 100,
            source_end: 140,
            destination_start: 50,
            destination_end: 80,
            batches: vec![(100, 10), (115, 10), (130, 10)],
            producer_id: 1,
            producer_epoch: 0,
            base_sequence: i32::MAX - 14,
            source_leader_epoch: -1,
        };
        assert_eq!(cp.resume_offset(50), Some(100));
        assert_eq!(cp.resume_offset(60), Some(115));
        assert_eq!(cp.resume_offset(70), Some(130));
        assert_eq!(cp.resume_offset(80), Some(140));
        assert_eq!(cp.resume_offset(65), None);
        assert_eq!(cp.resume_offset(81), None);
        assert_eq!(cp.boundary_at(70), Some(2));
        assert_eq!(cp.boundary_at(65), None);
        // Sequences wrap after i32::MAX as Kafka's do.
        assert_eq!(cp.sequence_at(1), i32::MAX - 4);
        assert_eq!(cp.sequence_at(2), 5);
        assert_eq!(cp.destination_at(3), 80);
    }

    #[test]
    fn checkpoints_of_older_versions_read_without_producer() {
        let old: Checkpoint = serde_json::from_slice(
            br#"{"source_topic_id":"x","source_start":0,"source_end":5,"destination_start":0,"destination_end":5,"batches":[[0,5]]}"#,
        )
        .unwrap();
        assert!(!old.has_producer());
        let failure = PersistedFailure {
            cause: FailureCause::ForeignBatch {
                offset: 3,
                detail: "producer id 9".into(),
            },
            time_ms: 17,
        };
        let id = ("l".to_string(), "t".to_string(), 2);
        let entry = StateEntry::failure(&id, Some(&failure)).unwrap();
        assert_eq!(entry.key, "fail/l/t/2");
        let back: PersistedFailure = serde_json::from_slice(&entry.value.unwrap()).unwrap();
        assert_eq!(back, failure);
        assert!(StateEntry::failure(&id, None).unwrap().value.is_none());
    }
}
