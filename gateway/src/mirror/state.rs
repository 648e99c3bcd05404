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
//! Keys of other kinds are skipped when read (written by a newer linkgate).
//! Topic and link names cannot contain `/`, so keys split unambiguously.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::BytesMut;
use indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde::{Deserialize, Serialize};

use crate::kafka::{ClusterClient, OffsetSpec};
use crate::mirror::batch;
use crate::mirror::error::{MirrorError, Side};
use crate::mirror::wire;

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
}

impl Checkpoint {
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
        let mut dst = self.destination_start;
        for (source, count) in &self.batches {
            if dst == destination_leo {
                return Some(*source);
            }
            dst += i64::from(*count);
        }
        None
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

#[derive(Debug, Serialize, Deserialize)]
struct SegmentValue {
    destination_offset: i64,
}

/// The exact source-offset to destination-offset map of one mirror partition
/// at record batch granularity.
///
/// Stored as segment starts: source offset `s_i` maps to destination offset
/// `d_i`, and the following source offsets map linearly until the segment
/// has covered `d_{i+1} - d_i` records (destination offsets have no gaps);
/// the last segment ends at the mirrored end (`end`). Source offsets that fall
/// in a gap (transaction markers, aborted data, compacted records) map to the
/// next mirrored record, which is what a committed consumer offset ("next
/// record to read") needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    segments: BTreeMap<i64, i64>,
    /// `(source_end, destination_end)` of the last landed round.
    end: Option<(i64, i64)>,
}

impl OffsetMap {
    /// Adds a segment start: source offset `source` is at destination offset
    /// `destination`.
    pub fn insert(&mut self, source: i64, destination: i64) {
        self.segments.insert(source, destination);
    }

    /// Sets the mirrored end: source offsets below `source_end` are mirrored,
    /// the destination log end offset is `destination_end`.
    pub fn set_end(&mut self, source_end: i64, destination_end: i64) {
        self.end = Some((source_end, destination_end));
    }

    /// Drops segments at or past destination offset `destination` (used when
    /// a round did not land).
    pub fn truncate_destination(&mut self, destination: i64) {
        self.segments.retain(|_, d| *d < destination);
    }

    /// The segment starts, `(source offset, destination offset)`, ascending.
    pub fn segments(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.segments.iter().map(|(s, d)| (*s, *d))
    }

    /// The segment that would contain `source` next: the destination offset
    /// the mirror would give source offset `source` if it continued the last
    /// segment linearly. `None` when there is no segment yet.
    pub fn linear_destination(&self, source: i64) -> Option<i64> {
        let (s, d) = self.segments.range(..=source).next_back()?;
        Some(d + (source - s))
    }

    /// Translates a source offset to a destination offset.
    ///
    /// Returns `None` for offsets before the first mirrored batch or past the
    /// mirrored end. A source offset equal to the mirrored end maps to the
    /// destination log end offset.
    pub fn translate(&self, source: i64) -> Option<i64> {
        let (end_src, end_dst) = self.end?;
        if source > end_src {
            return None;
        }
        if source == end_src {
            return Some(end_dst);
        }
        let (s, d) = self.segments.range(..=source).next_back()?;
        let next_dst = self
            .segments
            .range(s + 1..)
            .next()
            .map(|(_, d)| *d)
            .unwrap_or(end_dst);
        let covered = next_dst - d;
        if source - s < covered {
            Some(d + (source - s))
        } else {
            Some(next_dst)
        }
    }
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
}

impl StateSnapshot {
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

impl StateEntry {
    /// The checkpoint record of a mirror partition.
    pub fn checkpoint(id: &MirrorPartitionId, cp: &Checkpoint) -> Self {
        Self {
            key: format!("cp/{}/{}/{}", id.0, id.1, id.2),
            value: serde_json::to_vec(cp).ok(),
        }
    }

    /// The record of a mirror topic of a link.
    pub fn mirror_topic(link: &str, mirror_topic: &str, record: &MirrorTopicRecord) -> Self {
        Self {
            key: format!("mt/{link}/{mirror_topic}"),
            value: serde_json::to_vec(record).ok(),
        }
    }

    /// The definition of a link created through the API (`None`: the link
    /// was deleted).
    pub fn link_definition(link: &str, json: Option<Vec<u8>>) -> Self {
        Self {
            key: format!("link/{link}"),
            value: json,
        }
    }

    /// An offset map segment start (`tombstone`: delete it).
    pub fn segment(id: &MirrorPartitionId, source: i64, destination: i64, tombstone: bool) -> Self {
        let value = SegmentValue {
            destination_offset: destination,
        };
        Self {
            key: format!("map/{}/{}/{}/{:020}", id.0, id.1, id.2, source),
            value: if tombstone {
                None
            } else {
                serde_json::to_vec(&value).ok()
            },
        }
    }
}

/// Reader and writer of the state topic on one destination cluster.
pub struct StateStore {
    destination: Arc<ClusterClient>,
    topic: String,
}

impl StateStore {
    /// Opens the state topic, creating it (1 partition, broker-default
    /// replication, `cleanup.policy=compact`) if absent.
    ///
    /// # Errors
    /// [`MirrorError::Kafka`] with [`Side::State`] when the topic cannot be
    /// created or described.
    pub async fn open(destination: Arc<ClusterClient>, topic: &str) -> Result<Self, MirrorError> {
        destination
            .create_topic(
                topic,
                1,
                -1,
                &[("cleanup.policy".to_string(), "compact".to_string())],
            )
            .await
            .map_err(|e| MirrorError::kafka(Side::State, e))?;
        Ok(Self {
            destination,
            topic: topic.to_string(),
        })
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
                let mut bytes = b.bytes.clone();
                let set = RecordBatchDecoder::decode(&mut bytes)
                    .map_err(|e| self.corrupt(b.header.base_offset, &e.to_string()))?;
                for r in set.records {
                    if r.offset >= offset {
                        self.apply(&mut snapshot, &r)?;
                    }
                }
                offset = offset.max(next);
            }
        }
        Ok(snapshot)
    }

    fn apply(&self, snap: &mut StateSnapshot, r: &Record) -> Result<(), MirrorError> {
        let Some(key) = r.key.as_ref().and_then(|k| std::str::from_utf8(k).ok()) else {
            return Err(self.corrupt(r.offset, "record key is not UTF-8"));
        };
        let parts: Vec<&str> = key.split('/').collect();
        let bad = |m: &str| self.corrupt(r.offset, &format!("key {key:?}: {m}"));
        match parts.as_slice() {
            ["cp", link, topic, p] => {
                let id = (
                    (*link).to_string(),
                    (*topic).to_string(),
                    p.parse().map_err(|_| bad("bad partition"))?,
                );
                match &r.value {
                    None => {
                        snap.checkpoints.remove(&id);
                    }
                    Some(v) => {
                        let cp: Checkpoint =
                            serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
                        snap.checkpoints.insert(id, cp);
                    }
                }
            }
            ["mt", link, topic] => {
                let id = ((*link).to_string(), (*topic).to_string());
                match &r.value {
                    None => {
                        snap.mirror_topics.remove(&id);
                    }
                    Some(v) => {
                        let rec: MirrorTopicRecord =
                            serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
                        snap.mirror_topics.insert(id, rec);
                    }
                }
            }
            ["map", link, topic, p, src] => {
                let id = (
                    (*link).to_string(),
                    (*topic).to_string(),
                    p.parse().map_err(|_| bad("bad partition"))?,
                );
                let src: i64 = src.parse().map_err(|_| bad("bad source offset"))?;
                let map = snap.maps.entry(id).or_default();
                match &r.value {
                    None => {
                        map.segments.remove(&src);
                    }
                    Some(v) => {
                        let seg: SegmentValue =
                            serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
                        map.insert(src, seg.destination_offset);
                    }
                }
            }
            ["link", link] => match &r.value {
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
    /// `mt/{link}/...` and the `link/{link}` record found by reading the
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
        for (id, map) in snap.maps.iter().filter(|(id, _)| id.0 == link) {
            for (s, d) in map.segments() {
                entries.push(StateEntry::segment(id, s, d, true));
            }
        }
        for (l, mirror) in snap.mirror_topics.keys().filter(|(l, _)| l == link) {
            entries.push(StateEntry {
                key: format!("mt/{l}/{mirror}"),
                value: None,
            });
        }
        if snap.link_definitions.contains_key(link) {
            entries.push(StateEntry::link_definition(link, None));
        }
        for chunk in entries.chunks(PURGE_CHUNK) {
            self.write(chunk).await?;
        }
        tracing::info!(link, records = entries.len(), topic = %self.topic, "link state purged");
        Ok(())
    }

    /// Appends entries in one uncompressed record batch with acks=all; returns
    /// once the destination acknowledged them.
    ///
    /// # Errors
    /// [`MirrorError::Kafka`] (`Side::State`); the caller must not produce the
    /// round these entries describe.
    pub async fn write(&self, entries: &[StateEntry]) -> Result<(), MirrorError> {
        if entries.is_empty() {
            return Ok(());
        }
        let st = |e| MirrorError::kafka(Side::State, e);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
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
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = async {
                let leader = self
                    .destination
                    .leader(&self.topic, STATE_PARTITION)
                    .await?;
                let conn = self.destination.broker(leader).await?;
                let req = wire::produce_request(
                    vec![wire::ProduceTarget {
                        topic: self.topic.clone(),
                        partition: STATE_PARTITION,
                        records: buf.clone().freeze(),
                    }],
                    -1,
                    i32::try_from(self.destination.settings().request_timeout.as_millis())
                        .unwrap_or(i32::MAX),
                );
                let (_, resp) = conn.send(&req).await?;
                let code = resp
                    .responses
                    .iter()
                    .flat_map(|t| t.partition_responses.iter())
                    .map(|p| p.error_code)
                    .find(|c| *c != 0)
                    .unwrap_or(0);
                if code != 0 {
                    self.destination.invalidate(&self.topic);
                    return Err(crate::kafka::error::broker_error(
                        self.destination.name(),
                        format!("produce to state topic {}", self.topic),
                        code,
                    ));
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retriable() && attempt < 10 => {
                    tracing::warn!(error = %e, attempt, "state topic write failed, retrying");
                    tokio::time::sleep(self.destination.settings().retry_backoff * attempt).await;
                }
                Err(e) => return Err(st(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translate_with_gaps() {
        // src 0..50 -> dst 0..50; src 50 is a commit marker; src 51..61 -> dst 50..60
        // src 61..90 aborted; src 91..100 -> dst 60..69
        let mut m = OffsetMap::default();
        m.insert(0, 0);
        m.insert(51, 50);
        m.insert(91, 60);
        m.set_end(100, 69);
        assert_eq!(m.translate(0), Some(0));
        assert_eq!(m.translate(49), Some(49));
        assert_eq!(m.translate(50), Some(50)); // marker: next record is src 51 = dst 50
        assert_eq!(m.translate(51), Some(50));
        assert_eq!(m.translate(60), Some(59));
        assert_eq!(m.translate(61), Some(60)); // aborted range maps to next mirrored record
        assert_eq!(m.translate(75), Some(60));
        assert_eq!(m.translate(99), Some(68));
        assert_eq!(m.translate(100), Some(69));
        assert_eq!(m.translate(101), None);
        m.truncate_destination(60);
        assert_eq!(m.segments().count(), 2);
    }

    #[test]
    fn translate_from_non_zero_start() {
        let mut m = OffsetMap::default();
        m.insert(1000, 0);
        m.set_end(1010, 10);
        assert_eq!(m.translate(999), None);
        assert_eq!(m.translate(1005), Some(5));
        assert_eq!(m.linear_destination(1010), Some(10));
    }

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
                }
            )
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
        };
        assert_eq!(cp.resume_offset(50), Some(100));
        assert_eq!(cp.resume_offset(60), Some(115));
        assert_eq!(cp.resume_offset(70), Some(130));
        assert_eq!(cp.resume_offset(80), Some(140));
        assert_eq!(cp.resume_offset(65), None);
        assert_eq!(cp.resume_offset(81), None);
    }
}
