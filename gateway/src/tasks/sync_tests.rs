//! The consumer offset sync across transaction markers, aborted data and
//! compaction gaps.
//!
//! The test broker (nisshi) has no transactions and no log compaction, so
//! no source it serves has such gaps. The source log is therefore a
//! constructed Fetch response (kafka-protocol), run through the real fetch
//! handling, write-ahead and produce path into a real nisshi destination
//! ([`crate::mirror::fetch_testing`]); the consumer groups are real: they
//! commit on a real nisshi source with librdkafka, the real sync task
//! translates and commits them on the destination, and librdkafka reads
//! the committed offsets back and consumes from them there.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{AbortedTransaction, PartitionData};
use kafka_protocol::messages::ProducerId;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::offset_sync::ConsumerOffsetSync;
use crate::config::OffsetSyncConfig;
use crate::kafka::testutil::Broker;
use crate::kafka::ClusterClient;

fn ts(offset: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    now - 3_600_000 + offset
}

/// Records at `offsets` (one batch: offset - sequence is constant);
/// transactional for `pid >= 0`; key `k{offset}`.
fn records(offsets: &[i64], pid: i64) -> Vec<Record> {
    offsets
        .iter()
        .map(|&o| Record {
            transactional: pid >= 0,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: if pid >= 0 { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: o,
            // offset - sequence constant: one batch per call.
            sequence: if pid >= 0 { o as i32 } else { o as i32 - 1 },
            timestamp: ts(o),
            key: Some(Bytes::from(format!("k{o}"))),
            value: Some(Bytes::from(format!("v{o}"))),
            headers: Default::default(),
        })
        .collect()
}

/// A commit (`commit`) or abort marker of producer `pid` at `offset`.
fn marker(offset: i64, pid: i64, commit: bool) -> Record {
    let mut value = BytesMut::new();
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&0i32.to_be_bytes());
    let mut key = BytesMut::new();
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(if commit { 1i16 } else { 0i16 }).to_be_bytes());
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
        headers: Default::default(),
    }
}

fn encode(buf: &mut BytesMut, records: &[Record]) {
    RecordBatchEncoder::encode(
        buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode test batch");
}

fn client(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .create()
        .expect("consumer")
}

fn commit(bootstrap: &str, group: &str, offset: i64) {
    let c = client(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("orders", 0, Offset::Offset(offset))
        .expect("tpl");
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

fn committed(bootstrap: &str, group: &str) -> Option<i64> {
    let c = client(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("orders", 0);
    let got = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    got.find_partition("orders", 0)
        .and_then(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
}

/// Keys a subscribed consumer of `group` reads from its committed offset
/// (at most `n`, within 60 s).
fn read_as_group(bootstrap: &str, group: &str, n: usize) -> Vec<String> {
    let c = client(bootstrap, group);
    c.subscribe(&["orders"]).expect("subscribe");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < n && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_translate_across_markers_aborted_data_and_compaction_gaps() {
    let src = Broker::start("src");
    let dst = Broker::start("dst");
    let source = ClusterClient::connect(src.settings("src"))
        .await
        .expect("source");
    let destination = ClusterClient::connect(dst.settings("dst"))
        .await
        .expect("destination");
    source
        .create_topic("orders", 1, -1, &[])
        .await
        .expect("source topic");
    destination
        .create_topic("orders", 1, -1, &[])
        .await
        .expect("mirror topic");

    // Source log: committed txn of producer 10 (0-2), aborted txn of
    // producer 20 (3-4), plain (5-6), commit marker of 10 (7), abort marker
    // of 20 (8), a compacted batch keeping 9, 11 and 14 of 9..=14, plain
    // (15-16). Mirrored: 0,1,2,5,6,9,11,14,15,16 at destination 0..=9.
    let mut log = BytesMut::new();
    encode(&mut log, &records(&[0, 1, 2], 10));
    encode(&mut log, &records(&[3, 4], 20));
    encode(&mut log, &records(&[5, 6], -1));
    encode(&mut log, &[marker(7, 10, true)]);
    encode(&mut log, &[marker(8, 20, false)]);
    encode(&mut log, &records(&[9, 11, 14], -1));
    encode(&mut log, &records(&[15, 16], -1));
    let data = PartitionData::default()
        .with_partition_index(0)
        .with_high_watermark(17)
        .with_last_stable_offset(17)
        .with_log_start_offset(0)
        .with_aborted_transactions(Some(vec![AbortedTransaction::default()
            .with_producer_id(ProducerId(20))
            .with_first_offset(3)]))
        .with_records(Some(log.freeze()));
    let link = crate::mirror::fetch_testing::link_after_fetch(
        "gaps",
        source.clone(),
        destination.clone(),
        "orders",
        data,
    )
    .await;

    // (group, committed source offset, destination offset it must take).
    let cases: [(&str, i64, i64); 11] = [
        ("g-start", 0, 0),
        ("g-in-txn", 2, 2),
        ("g-aborted", 3, 3),
        ("g-aborted-2", 4, 3),
        ("g-commit-marker", 7, 5),
        ("g-abort-marker", 8, 5),
        ("g-compacted", 10, 6),
        ("g-compacted-2", 12, 7),
        ("g-compacted-3", 13, 7),
        ("g-kept", 14, 7),
        ("g-end", 17, 10),
    ];
    let (s, d) = (src.addr(), dst.addr());
    tokio::task::block_in_place(|| {
        for (group, at, _) in cases {
            commit(&s, group, at);
        }
        commit(&s, "g-beyond", 18);
    });
    let sync = ConsumerOffsetSync::default();
    // The groups are chosen by the bundled group filter, as
    // `consumer.offset.group.filters` configures it.
    let groups = crate::plugin::PluginSpec::new(
        "gaps/consumer.offset.group.filters",
        crate::plugin::PluginKind::GroupFilter,
        crate::plugin::bundled::get("group-filter").expect("bundled group-filter"),
    )
    .with_config([(
        "filters",
        r#"{"groupFilters":[{"name":"g-","patternType":"PREFIXED"}]}"#,
    )])
    .with_timeout(Duration::from_secs(10));
    link.plugins().reload(groups).await.expect("group filter");
    let config = OffsetSyncConfig {
        enable: true,
        interval: Duration::from_secs(1),
        group_filters: vec!["gaps/consumer.offset.group.filters".into()],
    };
    let run = sync.sync(&link, &config, None).await.expect("sync");
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(
        run.items,
        cases.len() as u64,
        "one offset per group but g-beyond"
    );
    tokio::task::block_in_place(|| {
        for (group, at, want) in cases {
            assert_eq!(
                committed(&d, group),
                Some(want),
                "{group} committed {at} on the source"
            );
        }
        assert_eq!(
            committed(&d, "g-beyond"),
            None,
            "an offset beyond the mirrored end waits"
        );
        // A consumer that moves over reads on from the next mirrored record.
        assert_eq!(
            read_as_group(&d, "g-compacted", 4),
            ["k11", "k14", "k15", "k16"]
        );
        assert_eq!(read_as_group(&d, "g-aborted", 2), ["k5", "k6"]);
    });
    // Nothing changed since: the next run commits nothing.
    let again = sync.sync(&link, &config, None).await.expect("sync");
    assert_eq!(again.items, 0);

    // A restart (a new sync reading the state topic) keeps what was synced
    // and which groups `group migrate` took out: the source group g-end
    // reset back to 5 is followed, the excluded g-start is left alone.
    sync.exclude(&link, "g-start").await.expect("exclude");
    tokio::task::block_in_place(|| {
        commit(&s, "g-end", 5);
        commit(&s, "g-start", 14);
    });
    let restarted = ConsumerOffsetSync::default();
    assert!(restarted
        .is_excluded(&link, "g-start")
        .await
        .expect("state topic read"));
    let run = restarted.sync(&link, &config, None).await.expect("sync");
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    tokio::task::block_in_place(|| {
        assert_eq!(
            committed(&d, "g-end"),
            Some(3),
            "a source reset after a restart is followed"
        );
        assert_eq!(
            committed(&d, "g-start"),
            Some(0),
            "a migrated group stays out after a restart"
        );
    });
}
