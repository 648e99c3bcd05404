//! Builders for the two data-plane requests, Fetch (API key 1; full, or in
//! an incremental fetch session, KIP-227) and Produce (API key 0), with both
//! topic names and ids filled in (the client layer caps the versions and the
//! encoder writes what the version carries), and an encoder of Produce
//! bodies that writes each batch into the request once.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::kafka::records::batch::{self, RawBatch};

/// `isolation_level` 1: READ_COMMITTED (KIP-98): the broker returns records
/// up to the last stable offset and lists aborted transactions.
pub const READ_COMMITTED: i8 = 1;
/// `isolation_level` 0: READ_UNCOMMITTED.
pub const READ_UNCOMMITTED: i8 = 0;

/// Highest Fetch version that addresses topics by name (v13+ use topic ids,
/// KIP-516).
pub const FETCH_BY_NAME_MAX_VERSION: i16 = 12;

/// One partition to fetch.
#[derive(Debug, Clone)]
pub struct FetchTarget {
    /// Topic name (sent in Fetch v4-v12).
    pub topic: String,
    /// Topic id (sent in Fetch v13+; nil when unknown, then fetch at v12).
    pub topic_id: uuid::Uuid,
    /// Partition index.
    pub partition: i32,
    /// Offset of the first record wanted.
    pub offset: i64,
    /// Upper bound on bytes returned for this partition (the broker still
    /// returns one whole batch when the first batch is larger, KIP-74).
    pub max_bytes: i32,
    /// Leader epoch from metadata (Fetch v9+, KIP-320): a broker with
    /// another epoch answers FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH
    /// instead of data from a stale or newer leader. -1: not checked.
    pub current_leader_epoch: i32,
    /// Leader epoch of the last batch fetched before `offset` (Fetch v12+):
    /// the broker answers a `diverging_epoch` when its log diverged there
    /// (truncated and refilled). -1: not checked.
    pub last_fetched_epoch: i32,
}

/// Lowest Fetch version carrying `current_leader_epoch` (KIP-320).
pub const FETCH_LEADER_EPOCH_MIN_VERSION: i16 = 9;
/// Lowest Fetch version carrying `last_fetched_epoch` (KIP-320).
pub const FETCH_LAST_FETCHED_EPOCH_MIN_VERSION: i16 = 12;

impl FetchTarget {
    /// The target as Fetch `version` can carry it: the epochs a version
    /// below v9 (`current_leader_epoch`) or v12 (`last_fetched_epoch`) has no
    /// field for are set to -1 (not checked), since the encoder refuses a
    /// value it cannot write. Against such a broker a diverged source log is
    /// not detected by Fetch.
    pub fn fit_to_version(mut self, version: i16) -> Self {
        if version < FETCH_LEADER_EPOCH_MIN_VERSION {
            self.current_leader_epoch = -1;
        }
        if version < FETCH_LAST_FETCHED_EPOCH_MIN_VERSION {
            self.last_fetched_epoch = -1;
        }
        self
    }
}

/// A partition an incremental Fetch asks the broker to drop from its fetch
/// session (`forgotten_topics_data`, Fetch v7+, KIP-227).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgottenPartition {
    /// Topic name (sent in Fetch v7-v12).
    pub topic: String,
    /// Topic id (sent in Fetch v13+).
    pub topic_id: uuid::Uuid,
    /// Partition index.
    pub partition: i32,
}

/// Builds a full (sessionless, KIP-227 session id 0 / epoch -1) consumer
/// Fetch request for several partitions, grouped by topic in input order.
/// Both the name and the id of each topic are filled in; the encoder writes
/// the one the negotiated version carries.
///
/// `max_wait_ms`: how long the broker may wait for `min_bytes`;
/// `max_bytes`: bound on the whole response.
pub fn fetch_request(
    targets: &[FetchTarget],
    isolation_level: i8,
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
) -> FetchRequest {
    session_fetch_request(
        targets.iter(),
        &[],
        (0, -1),
        isolation_level,
        max_wait_ms,
        min_bytes,
        max_bytes,
    )
}

/// Builds a consumer Fetch request in a fetch session (KIP-227, Fetch v7+):
/// `session` is `(session_id, session_epoch)` (`(0, 0)` asks for a new
/// session, `(id, 0)` ends session `id` and asks for a new one, `(id, n)`
/// with n >= 1 is incremental), `targets` the partitions it carries (in an
/// incremental request only those added or changed) and `forget` the
/// partitions to drop from the session, grouped by topic in input order.
/// Below v7 the encoder writes no session fields; `forget` must then be
/// empty (else encoding fails).
pub fn session_fetch_request<'a>(
    targets: impl IntoIterator<Item = &'a FetchTarget>,
    forget: &[ForgottenPartition],
    session: (i32, i32),
    isolation_level: i8,
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    // Topic name -> index in `topics`: one lookup per partition however
    // many topics the request holds.
    let mut index: HashMap<&str, usize> = HashMap::new();
    for t in targets {
        let part = FetchPartition::default()
            .with_partition(t.partition)
            .with_current_leader_epoch(t.current_leader_epoch)
            .with_fetch_offset(t.offset)
            .with_last_fetched_epoch(t.last_fetched_epoch)
            .with_log_start_offset(-1)
            .with_partition_max_bytes(t.max_bytes);
        match index.get(t.topic.as_str()).and_then(|i| topics.get_mut(*i)) {
            Some(ft) => ft.partitions.push(part),
            None => {
                index.insert(&t.topic, topics.len());
                topics.push(
                    FetchTopic::default()
                        .with_topic(topic_name(&t.topic))
                        .with_topic_id(t.topic_id)
                        .with_partitions(vec![part]),
                );
            }
        }
    }
    let mut forgotten: Vec<ForgottenTopic> = Vec::new();
    let mut index: HashMap<(&str, uuid::Uuid), usize> = HashMap::new();
    for f in forget {
        let key = (f.topic.as_str(), f.topic_id);
        match index.get(&key).and_then(|i| forgotten.get_mut(*i)) {
            Some(ft) => ft.partitions.push(f.partition),
            None => {
                index.insert(key, forgotten.len());
                forgotten.push(
                    ForgottenTopic::default()
                        .with_topic(topic_name(&f.topic))
                        .with_topic_id(f.topic_id)
                        .with_partitions(vec![f.partition]),
                );
            }
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_isolation_level(isolation_level)
        .with_session_id(session.0)
        .with_session_epoch(session.1)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten)
}

/// One partition's records for a Produce request.
#[derive(Debug, Clone)]
pub struct ProduceTarget {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// One or more complete v2 record batches.
    pub records: Bytes,
}

/// Builds a Produce request with `acks` (-1 = all in-sync replicas) and a
/// broker-side `timeout_ms`, grouping partitions by topic in input order.
pub fn produce_request(targets: Vec<ProduceTarget>, acks: i16, timeout_ms: i32) -> ProduceRequest {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for t in targets {
        let part = PartitionProduceData::default()
            .with_index(t.partition)
            .with_records(Some(t.records));
        match topics.iter_mut().find(|tp| tp.name.0.as_str() == t.topic) {
            Some(tp) => tp.partition_data.push(part),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(topic_name(&t.topic))
                    .with_partition_data(vec![part]),
            ),
        }
    }
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(topics)
}

/// A topic name for kafka-protocol messages.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// One partition's batch for [`encode_produce_body`], sent with the
/// writer fields of the destination producer.
#[derive(Debug, Clone, Copy)]
pub struct ProduceBatch<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition index.
    pub partition: i32,
    /// The batch as fetched (made producible, see `batch::normalize_for_produce`).
    pub batch: &'a RawBatch,
    /// Producer id written into the batch.
    pub producer_id: i64,
    /// Producer epoch written into the batch.
    pub producer_epoch: i16,
    /// Base sequence written into the batch.
    pub base_sequence: i32,
}

/// Lowest Produce version [`encode_produce_body`] writes (v3: the first
/// with `transactional_id` and v2 record batches, KIP-98).
pub const PRODUCE_ENCODE_MIN_VERSION: i16 = 3;
/// Highest Produce version [`encode_produce_body`] writes (v13+ address
/// topics by id).
pub const PRODUCE_ENCODE_MAX_VERSION: i16 = 12;

/// Bytes [`encode_produce_body`] writes, at most (a capacity hint that
/// spares the buffer any growth).
pub fn produce_body_len(batches: &[ProduceBatch<'_>]) -> usize {
    // acks, timeout, transactional id, array lengths and tagged fields:
    // well under 32 bytes; per partition: name (len + 5), index, records
    // length, tagged fields.
    32 + batches
        .iter()
        .map(|b| b.topic.len() + 24 + batch::rewritten_len(b.batch))
        .sum::<usize>()
}

/// Encodes the body of a Produce request (API key 0, v3 to v12,
/// `transactional_id` null) into `buf`: partitions grouped by topic in
/// input order, each batch written with its writer fields and CRC-32C
/// straight into `buf` (`batch::write_for_producer`): one copy of each
/// batch, and none more when the request is encoded. The bytes equal
/// kafka-protocol's encoding of the same request.
///
/// Errors: [`ProduceEncodeError`] for a version outside v3 to v12, or a
/// name or batch longer than its length field holds.
pub fn encode_produce_body(
    buf: &mut BytesMut,
    version: i16,
    acks: i16,
    timeout_ms: i32,
    batches: &[ProduceBatch<'_>],
) -> Result<(), ProduceEncodeError> {
    if !(PRODUCE_ENCODE_MIN_VERSION..=PRODUCE_ENCODE_MAX_VERSION).contains(&version) {
        return Err(ProduceEncodeError::Version(version));
    }
    let flexible = version >= 9;
    // Topics in order of first appearance, with their partitions' indices.
    let mut topics: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        match topics.iter_mut().find(|(t, _)| *t == b.topic) {
            Some((_, members)) => members.push(i),
            None => topics.push((b.topic, vec![i])),
        }
    }
    let too_long = |what: &'static str| ProduceEncodeError::TooLong(what);
    // transactional_id: null.
    if flexible {
        put_uvarint(buf, 0);
    } else {
        buf.put_i16(-1);
    }
    buf.put_i16(acks);
    buf.put_i32(timeout_ms);
    put_array_len(buf, flexible, topics.len()).ok_or(too_long("topic array"))?;
    for (topic, members) in &topics {
        if flexible {
            put_uvarint(buf, topic.len() as u64 + 1);
        } else {
            buf.put_i16(i16::try_from(topic.len()).map_err(|_| too_long("topic name"))?);
        }
        buf.put_slice(topic.as_bytes());
        put_array_len(buf, flexible, members.len()).ok_or(too_long("partition array"))?;
        for i in members {
            let b = &batches[*i];
            buf.put_i32(b.partition);
            let len = batch::rewritten_len(b.batch);
            if flexible {
                put_uvarint(buf, len as u64 + 1);
            } else {
                buf.put_i32(i32::try_from(len).map_err(|_| too_long("records"))?);
            }
            batch::write_for_producer(
                buf,
                b.batch,
                b.producer_id,
                b.producer_epoch,
                b.base_sequence,
            );
            if flexible {
                put_uvarint(buf, 0); // partition tagged fields
            }
        }
        if flexible {
            put_uvarint(buf, 0); // topic tagged fields
        }
    }
    if flexible {
        put_uvarint(buf, 0); // request tagged fields
    }
    Ok(())
}

/// [`encode_produce_body`] cannot write the request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProduceEncodeError {
    /// Only v3 to v12 are written.
    #[error("Produce v{0} is not written by linkgate's encoder (v3 to v12)")]
    Version(i16),
    /// A length does not fit its field.
    #[error("Produce request: {0} too long for its length field")]
    TooLong(&'static str),
}

/// An array length: compact (unsigned varint of n + 1) in flexible
/// versions, else i32. `None` when it does not fit.
fn put_array_len(buf: &mut BytesMut, flexible: bool, n: usize) -> Option<()> {
    if flexible {
        put_uvarint(buf, n as u64 + 1);
    } else {
        buf.put_i32(i32::try_from(n).ok()?);
    }
    Some(())
}

/// An unsigned varint (Kafka's `UNSIGNED_VARINT`, protobuf base 128).
fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Encodable;

    /// A v2 batch of `n` uncompressed records from `base` (kafka-protocol's
    /// encoder), as fetched.
    fn raw_batch(base: i64, n: i64) -> RawBatch {
        use kafka_protocol::records::{
            Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 3,
                producer_id: 77,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: base + i,
                sequence: (base + i) as i32,
                timestamp: 1_700_000_000_000 + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; 100 + i as usize])),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .expect("encode");
        RawBatch::parse(buf.freeze()).expect("parse")
    }

    /// A session Fetch carries its session id and epoch and its forgotten
    /// partitions grouped by topic, by name up to v12 and by id from v13;
    /// below v7 no forgotten partitions can be written.
    /// Epochs a version has no field for are dropped, so a Fetch to a broker
    /// below v12 (or v9) still encodes.
    #[test]
    fn targets_fit_older_fetch_versions() {
        let target = FetchTarget {
            topic: "a".into(),
            topic_id: uuid::Uuid::nil(),
            partition: 0,
            offset: 7,
            max_bytes: 1024,
            current_leader_epoch: 3,
            last_fetched_epoch: 2,
        };
        for (version, want) in [
            (4, (-1, -1)),
            (8, (-1, -1)),
            (9, (3, -1)),
            (11, (3, -1)),
            (12, (3, 2)),
        ] {
            let fitted = target.clone().fit_to_version(version);
            assert_eq!(
                (fitted.current_leader_epoch, fitted.last_fetched_epoch),
                want,
                "v{version}"
            );
            let req = fetch_request(&[fitted], READ_COMMITTED, 500, 1, 1 << 20);
            let mut buf = BytesMut::new();
            req.encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("v{version} encodes: {e}"));
        }
        let req = fetch_request(&[target], READ_COMMITTED, 500, 1, 1 << 20);
        assert!(
            req.encode(&mut BytesMut::new(), 11).is_err(),
            "unfitted epochs cannot be written at v11"
        );
    }

    #[test]
    fn session_fetch_request_round_trips() {
        use kafka_protocol::protocol::Decodable;
        let id = |n: u128| uuid::Uuid::from_u128(n);
        let target = FetchTarget {
            topic: "a".into(),
            topic_id: id(1),
            partition: 2,
            offset: 40,
            max_bytes: 1024,
            // Epochs unset: Fetch v7 carries neither.
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
        };
        let forget = |topic: &str, topic_id, partition| ForgottenPartition {
            topic: topic.into(),
            topic_id,
            partition,
        };
        let forgotten = [
            forget("a", id(1), 0),
            forget("b", id(2), 5),
            forget("a", id(1), 1),
        ];
        let req = session_fetch_request(
            [&target],
            &forgotten,
            (77, 4),
            READ_COMMITTED,
            500,
            1,
            1 << 20,
        );
        for version in [7, 12, 13, 16] {
            let mut buf = BytesMut::new();
            req.encode(&mut buf, version).expect("encodes");
            let got = FetchRequest::decode(&mut buf.freeze(), version).expect("decodes");
            assert_eq!((got.session_id, got.session_epoch), (77, 4), "v{version}");
            let by_topic: Vec<(String, uuid::Uuid, Vec<i32>)> = got
                .forgotten_topics_data
                .iter()
                .map(|f| (f.topic.0.to_string(), f.topic_id, f.partitions.clone()))
                .collect();
            let want = if version <= FETCH_BY_NAME_MAX_VERSION {
                vec![
                    ("a".into(), id(0), vec![0, 1]),
                    ("b".into(), id(0), vec![5]),
                ]
            } else {
                vec![
                    (String::new(), id(1), vec![0, 1]),
                    (String::new(), id(2), vec![5]),
                ]
            };
            assert_eq!(by_topic, want, "v{version}");
            let p = &got.topics[0].partitions[0];
            assert_eq!(
                (p.partition, p.fetch_offset, p.partition_max_bytes),
                (2, 40, 1024)
            );
        }
        let mut buf = BytesMut::new();
        assert!(
            req.encode(&mut buf, 6).is_err(),
            "no forgotten partitions below v7"
        );
        let full = fetch_request(&[target], READ_COMMITTED, 500, 1, 1 << 20);
        assert_eq!((full.session_id, full.session_epoch), (0, -1));
        assert!(full.forgotten_topics_data.is_empty());
    }

    /// The hand-written body equals kafka-protocol's encoding of the same
    /// request (the batches rewritten with `rewrite_for_producer`), in every
    /// version it writes, flexible or not.
    #[test]
    fn produce_body_matches_kafka_protocol() {
        let (a, b, c) = (raw_batch(0, 3), raw_batch(10, 2), raw_batch(5, 1));
        let batches = [
            ProduceBatch {
                topic: "t1",
                partition: 0,
                batch: &a,
                producer_id: 9,
                producer_epoch: 2,
                base_sequence: 0,
            },
            ProduceBatch {
                topic: "t2",
                partition: 4,
                batch: &b,
                producer_id: 9,
                producer_epoch: 2,
                base_sequence: 40,
            },
            ProduceBatch {
                topic: "t1",
                partition: 1,
                batch: &c,
                producer_id: 9,
                producer_epoch: 2,
                base_sequence: 7,
            },
        ];
        let targets: Vec<ProduceTarget> = batches
            .iter()
            .map(|p| ProduceTarget {
                topic: p.topic.to_string(),
                partition: p.partition,
                records: batch::rewrite_for_producer(
                    p.batch,
                    p.producer_id,
                    p.producer_epoch,
                    p.base_sequence,
                ),
            })
            .collect();
        let req = produce_request(targets, -1, 30_000);
        for version in PRODUCE_ENCODE_MIN_VERSION..=PRODUCE_ENCODE_MAX_VERSION {
            let mut want = BytesMut::new();
            req.encode(&mut want, version)
                .expect("kafka-protocol encodes");
            let mut got = BytesMut::new();
            encode_produce_body(&mut got, version, -1, 30_000, &batches).expect("encodes");
            assert_eq!(got, want, "Produce v{version}");
            assert!(
                got.len() <= produce_body_len(&batches),
                "v{version}: capacity hint"
            );
        }
        let mut buf = BytesMut::new();
        assert_eq!(
            encode_produce_body(&mut buf, 2, -1, 1, &batches),
            Err(ProduceEncodeError::Version(2))
        );
        assert_eq!(
            encode_produce_body(&mut buf, 13, -1, 1, &batches),
            Err(ProduceEncodeError::Version(13))
        );
    }
}
