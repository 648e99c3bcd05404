//! A transactional source through the real pipeline into a real destination.
//!
//! The test broker (nisshi) has no transactions, so no real client can write
//! control batches or aborted data to a source. This test builds the Fetch
//! response partition a transactional source would return (two producers,
//! one aborted transaction, commit and abort markers, an aborted-transactions
//! list) with kafka-protocol, feeds it through the fetcher's response
//! handling and the committer's write-ahead and produce path into a real
//! nisshi destination, and reads the mirror back with librdkafka: exactly the
//! committed and non-transactional records, in order, with their codecs'
//! contents intact.

use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, PartitionData};
use kafka_protocol::messages::ProducerId;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::kafka::testutil::Broker;
use crate::kafka::ClusterClient;
use crate::mirror::committer::commit_round;
use crate::mirror::fetcher::{handle_partition, make_ready, Round, Target};
use crate::mirror::link::DEFAULT_PARTITION_FETCH_BYTES;
use crate::mirror::status::PartitionState;

mod fetch_sessions;

/// A timestamp an hour ago plus `offset` ms (brokers refuse timestamps
/// too far in the future, `message.timestamp.after.max.ms`).
fn ts(offset: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    now - 3_600_000 + offset
}

/// `n` records from `base`; transactional when `pid >= 0`.
fn records(base: i64, n: i64, pid: i64, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            transactional: pid >= 0,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: if pid >= 0 { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: base + i,
            // Constant offset - sequence keeps one batch (kafka-protocol).
            sequence: if pid >= 0 {
                (base + i) as i32
            } else {
                (base + i) as i32 - 1
            },
            timestamp: ts(base + i),
            key: Some(Bytes::from(format!("{tag}-{}", base + i))),
            value: Some(Bytes::from(format!("value {tag} {}", base + i))),
            headers: IndexMap::new(),
        })
        .collect()
}

/// A commit (`commit`) or abort marker of producer `pid` at `offset`.
fn marker(offset: i64, pid: i64, commit: bool) -> Record {
    let mut key = BytesMut::new();
    key.put_i16(0);
    key.put_i16(i16::from(commit));
    let mut value = BytesMut::new();
    value.put_i16(0);
    value.put_i32(0);
    Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: ts(offset),
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: IndexMap::new(),
    }
}

fn encode(buf: &mut BytesMut, records: &[Record], compression: Compression) {
    RecordBatchEncoder::encode(
        buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode test batch");
}

/// The destination partition's records as librdkafka reads them:
/// `(key, value)` in offset order.
fn read_back(bootstrap: &str, topic: &str, expected: usize) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "pipeline-test")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < expected && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            out.push((text(m.key()), text(m.payload())));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_fetch_response_through_the_pipeline_into_a_real_broker() {
    let broker = Broker::start("dst");
    let destination = ClusterClient::connect(broker.settings("dst"))
        .await
        .expect("connect");
    destination
        .create_topic("orders", 1, -1, &[])
        .await
        .expect("create topic");

    // Source log: committed txn of producer 10 (offsets 0-2, gzip), aborted
    // txn of producer 20 (3-4, zstd), plain records (5-6, lz4), commit of 10
    // (7), abort of 20 (8), committed txn of 20 (9-10, snappy), commit (11).
    let mut log = BytesMut::new();
    encode(&mut log, &records(0, 3, 10, "committed"), Compression::Gzip);
    encode(&mut log, &records(3, 2, 20, "aborted"), Compression::Zstd);
    encode(&mut log, &records(5, 2, -1, "plain"), Compression::Lz4);
    encode(&mut log, &[marker(7, 10, true)], Compression::None);
    encode(&mut log, &[marker(8, 20, false)], Compression::None);
    encode(&mut log, &records(9, 2, 20, "later"), Compression::Snappy);
    encode(&mut log, &[marker(11, 20, true)], Compression::None);
    let data = PartitionData::default()
        .with_partition_index(0)
        .with_high_watermark(12)
        .with_last_stable_offset(12)
        .with_log_start_offset(0)
        .with_aborted_transactions(Some(vec![AbortedTransaction::default()
            .with_producer_id(ProducerId(20))
            .with_first_offset(3)]))
        .with_records(Some(log.freeze()));

    let key = ("orders".to_string(), 0);
    // The source client is only used on error paths of the fetch handling.
    let ctx = crate::mirror::fetch_testing::active_ctx(
        "txn-test",
        destination.clone(),
        destination.clone(),
        "orders",
        uuid::Uuid::nil(),
        0..1,
    )
    .await;
    let target = Target {
        key: key.clone(),
        source: key.clone(),
        topic_id: uuid::Uuid::nil(),
        generation: 0,
        offset: 0,
        max_bytes: DEFAULT_PARTITION_FETCH_BYTES,
        leader_epoch: -1,
        last_fetched_epoch: -1,
    };

    let fetched = handle_partition(&ctx, &target, data)
        .await
        .expect("data to mirror");
    assert_eq!(
        fetched.next_fetch_offset, 12,
        "the fetch position moves past the markers"
    );
    let mut round = Round {
        partitions: vec![fetched],
    };
    make_ready(&ctx, &mut round).expect("no record transform chain");
    let ctx = std::sync::Arc::new(ctx);
    let mut reconciles = tokio::task::JoinSet::new();
    commit_round(&ctx, round, &CancellationToken::new(), &mut reconciles).await;
    while reconciles.join_next().await.is_some() {}
    assert_eq!(ctx.state_of(&key), Some(PartitionState::Active));

    let got = read_back(&broker.addr(), "orders", 7);
    let want: Vec<(String, String)> = [
        (0, "committed"),
        (1, "committed"),
        (2, "committed"),
        (5, "plain"),
        (6, "plain"),
        (9, "later"),
        (10, "later"),
    ]
    .iter()
    .map(|(o, tag)| (format!("{tag}-{o}"), format!("value {tag} {o}")))
    .collect();
    assert_eq!(
        got, want,
        "exactly the committed and plain records, in order"
    );
    let leo = destination
        .list_offsets(std::slice::from_ref(&key), crate::kafka::OffsetSpec::Latest)
        .await
        .expect("list offsets");
    assert_eq!(leo.get(&key), Some(&7), "nothing else was produced");
    // The offset map skips the aborted range and the markers.
    let snapshot = ctx.state.load().await.expect("state");
    let map = snapshot
        .offset_map(&("txn-test".into(), "orders".into(), 0), 7)
        .expect("offset map");
    assert_eq!(map.translate(0), Some(0));
    assert_eq!(
        map.translate(3),
        Some(3),
        "aborted records map to the next mirrored record"
    );
    assert_eq!(map.translate(5), Some(3));
    assert_eq!(
        map.translate(7),
        Some(5),
        "markers map to the next mirrored record"
    );
    assert_eq!(map.translate(9), Some(5));
    assert_eq!(map.translate(12), Some(7));

    // The next fetch carries the leader epoch of the last batch fetched; a
    // source whose log for that epoch now ends below the fetch position
    // answers a diverging epoch (KIP-320), which fails the partition
    // instead of mixing two histories. (The test broker never diverges:
    // the response is constructed.)
    let next = ctx.slots()[&key].clone();
    assert_eq!(next.fetch_offset, 12);
    assert_eq!(
        next.last_fetched_epoch, 0,
        "epoch of the last batch fetched"
    );
    let target = Target {
        offset: next.fetch_offset,
        generation: next.generation,
        last_fetched_epoch: next.last_fetched_epoch,
        ..target
    };
    let diverged = PartitionData::default()
        .with_partition_index(0)
        .with_high_watermark(9)
        .with_diverging_epoch(
            kafka_protocol::messages::fetch_response::EpochEndOffset::default()
                .with_epoch(0)
                .with_end_offset(9),
        );
    assert!(handle_partition(&ctx, &target, diverged).await.is_none());
    match ctx.state_of(&key) {
        Some(PartitionState::Failed(crate::mirror::FailureCause::SourceDiverged {
            fetch_offset: 12,
            epoch: 0,
            end_offset: 9,
        })) => {}
        other => panic!("expected SOURCE_DIVERGED, got {other:?}"),
    }
}
