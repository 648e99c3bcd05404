//! Integration tests of the Kafka client layer against a real
//! Kafka-protocol broker (nisshi, started per test by [`super::testutil`]),
//! plus connection-failure tests that need no broker.
//!
//! Not covered here because nisshi 0.8.1 lacks it: transactional
//! InitProducerId, and ListOffsets by timestamp (unreliable on nisshi, so
//! only earliest/latest are checked).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchRequest, MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::testutil::{free_port, Broker};
use super::{
    deny_write_binding, link_error_code, probe, BrokerConnection, ClusterClient, ClusterSettings,
    CreateOutcome, KafkaError, OffsetSpec, SECURITY_DISABLED,
};

/// Connect a cluster client, retrying briefly: the broker may accept TCP a
/// moment before it serves Metadata.
async fn client(broker: &Broker, name: &str) -> std::sync::Arc<ClusterClient> {
    super::testutil::connect(broker.settings(name)).await
}

/// Encode `n` records (key `k{i}`, value `v{i}`) as one v2 batch, no
/// compression, written by idempotent producer `(pid, epoch)` with sequence
/// numbers from `first_seq`.
fn batch((pid, epoch): (i64, i16), first_seq: i32, n: i32) -> Bytes {
    let now = 1_700_000_000_000;
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            // The encoder keeps records in one batch while offset - sequence
            // is constant.
            offset: i64::from(i),
            sequence: first_seq + i,
            timestamp: now + i64::from(i),
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
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
    .expect("encode batch");
    buf.freeze()
}

/// Produce `records` to `topic`/`partition` on its leader with acks=all;
/// returns the base offset.
async fn produce(client: &ClusterClient, topic: &str, partition: i32, records: Bytes) -> i64 {
    let leader = client.leader(topic, partition).await.expect("leader");
    let conn = client.broker(leader).await.expect("leader connection");
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let (version, resp) = conn.send(&req).await.expect("produce");
    assert!(
        version <= 12,
        "Produce must be capped at v12, used v{version}"
    );
    let p = resp
        .responses
        .first()
        .and_then(|t| t.partition_responses.first())
        .expect("produce response partition");
    assert_eq!(
        p.error_code, 0,
        "produce error {}: {:?} {:?}",
        p.error_code, p.error_message, p.record_errors
    );
    p.base_offset
}

/// Wait (bounded) until `cond` holds for the topic's metadata.
async fn wait_topic(
    client: &ClusterClient,
    name: &str,
    mut cond: impl FnMut(Option<&super::TopicInfo>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = client.topic(name).await.expect("metadata");
        if cond(t.as_ref()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "topic {name} never reached the expected state: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn connect_and_negotiate_api_versions() {
    let broker = Broker::start("kconn");
    let settings = broker.settings("source");
    let conn = BrokerConnection::connect(&settings, -1, &broker.addr())
        .await
        .expect("connect");
    assert_eq!(conn.addr(), broker.addr());
    assert!(!conn.is_closed());
    assert!(conn.api_versions_version() >= 0);
    assert!(
        conn.broker_versions(ApiKey::ApiVersions as i16).is_some(),
        "broker lists ApiVersions"
    );
    let meta = conn
        .version_for::<MetadataRequest>()
        .expect("Metadata supported");
    let fetch = conn.version_for::<FetchRequest>().expect("Fetch supported");
    let produce = conn
        .version_for::<ProduceRequest>()
        .expect("Produce supported");
    assert!(
        meta <= 12 && fetch <= 16 && produce <= 12,
        "caps: {meta} {fetch} {produce}"
    );
    // Several requests in flight on one connection at once.
    let req = MetadataRequest::default().with_topics(Some(vec![]));
    let all = futures::future::join_all((0..16).map(|_| conn.send(&req))).await;
    for r in all {
        let (v, resp) = r.expect("metadata");
        assert_eq!(v, meta);
        assert_eq!(resp.brokers.len(), 1);
        assert_eq!(resp.brokers[0].port, i32::from(broker.port()));
    }
}

#[tokio::test]
async fn create_describe_metadata_and_delete() {
    let broker = Broker::start("kadmin");
    let client = client(&broker, "dest").await;
    assert_eq!(client.name(), "dest");
    assert_eq!(client.brokers().len(), 1);

    let configs = vec![
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("retention.ms".to_string(), "123456".to_string()),
    ];
    let out = client
        .create_topic("orders", 3, 1, &configs)
        .await
        .expect("create");
    assert_eq!(out, CreateOutcome::Created);
    let again = client
        .create_topic("orders", 3, 1, &configs)
        .await
        .expect("create again");
    assert_eq!(again, CreateOutcome::AlreadyExists);

    wait_topic(&client, "orders", |t| {
        t.is_some_and(|t| t.partitions.len() == 3 && t.partitions.iter().all(|p| p.leader >= 0))
    })
    .await;
    let info = client.topic("orders").await.unwrap().unwrap();
    assert_eq!(info.name, "orders");
    assert!(!info.is_internal);
    assert_eq!(
        info.partitions
            .iter()
            .map(|p| p.partition)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let node = client.brokers()[0].0;
    for p in &info.partitions {
        assert_eq!(p.leader, node);
        assert_eq!(client.leader("orders", p.partition).await.unwrap(), node);
    }
    // Cached leader survives invalidation by refreshing.
    client.invalidate("orders");
    assert_eq!(client.leader("orders", 1).await.unwrap(), node);
    // A partition beyond the count is an UnknownTopic error, not a hang.
    let e = client.leader("orders", 7).await.unwrap_err();
    assert!(
        matches!(
            e,
            KafkaError::UnknownTopic {
                partition: Some(7),
                ..
            }
        ),
        "{e}"
    );

    let described = client
        .describe_topic_configs("orders")
        .await
        .expect("describe");
    for kv in &configs {
        assert!(described.contains(kv), "{kv:?} missing from {described:?}");
    }

    let all = client.topics().await.expect("topics");
    assert!(
        all.iter()
            .any(|t| t.name == "orders" && t.partitions.len() == 3),
        "{all:?}"
    );

    assert_eq!(client.topic("no-such-topic").await.unwrap(), None);
    let e = client.leader("no-such-topic", 0).await.unwrap_err();
    assert_eq!(e.kind(), "unknown_topic", "{e}");
    assert!(e.to_string().contains("dest"), "{e}");

    client.delete_topic("orders").await.expect("delete");
    wait_topic(&client, "orders", |t| t.is_none()).await;
    client
        .delete_topic("orders")
        .await
        .expect("deleting a missing topic is ok");
}

#[tokio::test]
async fn list_offsets_after_produce() {
    let broker = Broker::start("koffsets");
    let client = client(&broker, "source").await;
    client
        .create_topic("events", 2, -1, &[])
        .await
        .expect("create");
    wait_topic(&client, "events", |t| {
        t.is_some_and(|t| t.partitions.len() == 2 && t.partitions.iter().all(|p| p.leader >= 0))
    })
    .await;
    let parts = vec![("events".to_string(), 0), ("events".to_string(), 1)];
    let latest = client
        .list_offsets(&parts, OffsetSpec::Latest)
        .await
        .expect("latest");
    assert_eq!(
        latest,
        HashMap::from([(parts[0].clone(), 0), (parts[1].clone(), 0)])
    );

    let producer = client.init_producer_id().await.expect("producer id");
    assert_eq!(
        produce(&client, "events", 0, batch(producer, 0, 5)).await,
        0
    );
    assert_eq!(
        produce(&client, "events", 0, batch(producer, 5, 3)).await,
        5
    );
    assert_eq!(
        produce(&client, "events", 1, batch(producer, 0, 1)).await,
        0
    );

    let latest = client
        .list_offsets(&parts, OffsetSpec::Latest)
        .await
        .expect("latest");
    assert_eq!(
        latest,
        HashMap::from([(parts[0].clone(), 8), (parts[1].clone(), 1)])
    );
    let earliest = client
        .list_offsets(&parts, OffsetSpec::Earliest)
        .await
        .expect("earliest");
    assert_eq!(
        earliest,
        HashMap::from([(parts[0].clone(), 0), (parts[1].clone(), 0)])
    );

    let e = client
        .list_offsets(&[("missing".to_string(), 0)], OffsetSpec::Latest)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "unknown_topic", "{e}");
}

#[tokio::test]
async fn init_producer_id_gives_distinct_ids() {
    let broker = Broker::start("kpid");
    let client = client(&broker, "dest").await;
    let (pid1, epoch1) = client.init_producer_id().await.expect("init producer id");
    let (pid2, _) = client.init_producer_id().await.expect("init producer id");
    assert!(pid1 >= 0, "producer id {pid1}");
    assert!(epoch1 >= 0, "producer epoch {epoch1}");
    assert_ne!(pid1, pid2, "each idempotent producer gets its own id");
}

#[tokio::test]
async fn connect_to_closed_port_names_the_address() {
    let port = free_port(); // bound then released: nothing listens there now
    let addr = format!("127.0.0.1:{port}");
    let mut settings = ClusterSettings::new("source", vec![addr.clone()]);
    settings.connect_timeout = Duration::from_secs(5);

    let e = BrokerConnection::connect(&settings, -1, &addr)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "connect", "{e}");
    assert!(e.is_retriable());
    assert!(e.to_string().contains(&addr), "{e}");
    assert!(e.to_string().contains("`source`"), "{e}");

    let second = format!("127.0.0.1:{}", free_port());
    settings.bootstrap_servers.push(second.clone());
    let e = ClusterClient::connect(settings).await.unwrap_err();
    assert_eq!(e.kind(), "connect", "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&addr) && msg.contains(&second),
        "every address named: {msg}"
    );
}

#[tokio::test]
async fn unresolvable_host_errors_clearly() {
    let mut settings = ClusterSettings::new("dest", vec![]);
    settings.connect_timeout = Duration::from_secs(5);
    for addr in ["no-such-host.invalid:9092", "missing-port"] {
        let e = BrokerConnection::connect(&settings, -1, addr)
            .await
            .unwrap_err();
        // Without a reachable DNS server the lookup may time out instead.
        assert!(matches!(e.kind(), "resolve" | "timeout"), "{addr}: {e}");
        assert!(e.to_string().contains(addr), "{e}");
        assert!(e.to_string().contains("`dest`"), "{e}");
    }
    let e = ClusterClient::connect(ClusterSettings::new("dest", vec![]))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("no bootstrap servers configured"),
        "{e}"
    );
}

#[tokio::test]
async fn closed_port_is_bootstrap_tcp_connection_failed() {
    let addr = format!("127.0.0.1:{}", free_port()); // bound then released
    let mut settings = ClusterSettings::new("src-cluster", vec![addr.clone()]);
    settings.connect_timeout = Duration::from_secs(5);
    let e = ClusterClient::connect(settings.clone()).await.unwrap_err();
    assert_eq!(
        link_error_code(&e),
        "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("`src-cluster`") && msg.contains(&addr),
        "{msg}"
    );
    let e = probe(&settings).await.unwrap_err();
    assert_eq!(
        link_error_code(&e),
        "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
        "{e}"
    );
}

#[tokio::test]
async fn unresolvable_host_is_unresolvable_bootstrap() {
    let addr = "no-such-host.invalid:9092";
    let mut settings = ClusterSettings::new("dest-cluster", vec![addr.to_string()]);
    settings.connect_timeout = Duration::from_secs(5);
    let e = ClusterClient::connect(settings).await.unwrap_err();
    // `.invalid` never resolves (RFC 6761); the resolver answers at once
    // even without network access.
    assert_eq!(link_error_code(&e), "UNRESOLVABLE_BOOTSTRAP_ERROR", "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("`dest-cluster`") && msg.contains(addr),
        "{msg}"
    );
}

#[tokio::test]
async fn probe_returns_cluster_id() {
    let broker = Broker::start("probe-cluster");
    let _ready = client(&broker, "warmup").await;
    let id = probe(&broker.settings("source")).await.expect("probe");
    assert_eq!(id.cluster_id, "probe-cluster");
}

#[tokio::test]
async fn acls_without_authorizer_fail_with_security_disabled() {
    let broker = Broker::start("acl-cluster");
    let client = client(&broker, "destination").await;
    client.create_acls(&[]).await.expect("nothing to create");
    let binding = deny_write_binding("mirrored", "User:*");
    let e = client
        .create_acls(std::slice::from_ref(&binding))
        .await
        .unwrap_err();
    assert_eq!(e.error_code(), Some(SECURITY_DISABLED), "{e}");
    assert!(!e.is_retriable());
    let msg = e.to_string();
    assert!(
        msg.contains("SECURITY_DISABLED")
            && msg.contains("DENY WRITE on TOPIC `mirrored` (LITERAL) for User:*")
            && msg.contains("`destination`"),
        "{msg}"
    );
    let e = client.delete_acls(&[binding]).await.unwrap_err();
    assert_eq!(e.error_code(), Some(SECURITY_DISABLED), "{e}");
    assert!(
        e.to_string().contains("DeleteAcls matching DENY WRITE"),
        "{e}"
    );
}

/// IncrementalAlterConfigs SET and DELETE against a real broker, read back
/// with DescribeConfigs. CreatePartitions is not offered by nisshi 0.8.1:
/// the call must fail with a clear, non-retried error naming the API
/// instead of hanging; the request encoding itself is checked against the
/// scripted broker in `topic_configs` unit tests.
#[tokio::test]
async fn alter_topic_configs_and_create_partitions() {
    use super::ConfigChange;
    let broker = Broker::start("kconfigs");
    let client = client(&broker, "dest").await;
    client
        .create_topic("t", 1, 1, &[("retention.ms".into(), "1000".into())])
        .await
        .expect("create");
    wait_topic(&client, "t", |t| t.is_some()).await;
    client
        .alter_topic_configs(
            "t",
            &[
                ConfigChange::Set {
                    name: "max.message.bytes".into(),
                    value: "65536".into(),
                },
                ConfigChange::Delete {
                    name: "retention.ms".into(),
                },
            ],
        )
        .await
        .expect("alter");
    let described = client.describe_topic_configs("t").await.expect("describe");
    assert!(
        described.contains(&("max.message.bytes".into(), "65536".into())),
        "{described:?}"
    );
    assert!(
        !described.iter().any(|(k, _)| k == "retention.ms"),
        "DELETE left retention.ms: {described:?}"
    );
    client
        .alter_topic_configs("t", &[])
        .await
        .expect("no changes, no request");
    let e = client
        .alter_topic_configs(
            "missing",
            &[ConfigChange::Delete {
                name: "retention.ms".into(),
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, KafkaError::UnknownTopic { .. }) || e.error_code().is_some(),
        "{e}"
    );

    let started = Instant::now();
    let e = client.create_partitions("t", 3).await.unwrap_err();
    assert!(!e.is_retriable(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(20), "{e}");
    assert!(
        e.to_string().contains("CreatePartitions"),
        "error names the API: {e}"
    );
}
