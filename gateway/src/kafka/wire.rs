//! Builders for the two data-plane requests, Fetch (API key 1) and Produce
//! (API key 0), addressed by topic name (Fetch up to v12, Produce up to v12;
//! the client layer caps the versions).

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

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
    let mut topics: Vec<FetchTopic> = Vec::new();
    for t in targets {
        let part = FetchPartition::default()
            .with_partition(t.partition)
            .with_current_leader_epoch(t.current_leader_epoch)
            .with_fetch_offset(t.offset)
            .with_last_fetched_epoch(t.last_fetched_epoch)
            .with_log_start_offset(-1)
            .with_partition_max_bytes(t.max_bytes);
        match topics.iter_mut().find(|ft| ft.topic.0.as_str() == t.topic) {
            Some(ft) => ft.partitions.push(part),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(topic_name(&t.topic))
                    .with_topic_id(t.topic_id)
                    .with_partitions(vec![part]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_isolation_level(isolation_level)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
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
