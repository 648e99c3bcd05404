//! End-to-end tests of the mirror pipeline: two real Kafka-protocol brokers
//! (nisshi) on 127.0.0.1, the `linkgate` binary between them, records
//! produced and read back with librdkafka, compared record by record.
//!
//! Transactional sources (control batches, aborted data) cannot be produced
//! to the test broker (it has no transactions); that path is covered with
//! constructed Fetch responses in `gateway/src/kafka/records/batch.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use linkgate::kafka::records::batch::split_batches;
use linkgate::kafka::wire;
use linkgate::kafka::{ClusterClient, ClusterSettings};
use linkgate_tests::{
    assert_same_records, consume_partition, create_topic, fetch_watermarks, link_config, produce,
    random_payload, wait_until, Broker, Gateway, TestRecord, CODECS,
};
use rand::{rngs::StdRng, Rng, SeedableRng};

const DEADLINE: Duration = Duration::from_secs(120);

/// A gateway config mirroring `topics` from `src` to `dst` on one link.
fn config(src: &Broker, dst: &Broker, topics: &[&str], extra: &str) -> String {
    let list = topics
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    link_config(
        src,
        dst,
        "test-link",
        "",
        &format!("mirror_topics = [{list}]"),
        extra,
    )
}

/// Records for `partitions` partitions: keys, null keys, null values,
/// headers (one null-valued), distinct CreateTime timestamps.
fn sample_records(
    rng: &mut StdRng,
    partitions: i32,
    per_partition: usize,
    value_len: usize,
) -> Vec<TestRecord> {
    let mut out = Vec::new();
    // Recent timestamps: brokers delete records older than retention.ms.
    let base_ts = linkgate_tests::now_ms() - 3_600_000;
    for i in 0..per_partition {
        for p in 0..partitions {
            let n = i as i64 * i64::from(partitions) + i64::from(p);
            let key = match i % 5 {
                0 => None,
                _ => Some(format!("key-{p}-{i}").into_bytes()),
            };
            let value = match i % 7 {
                3 => None,
                _ => Some(random_payload(rng, value_len)),
            };
            let mut r = TestRecord {
                partition: p,
                key,
                value,
                headers: Vec::new(),
                timestamp: base_ts + n * 1000,
            };
            if i % 3 == 0 {
                r = r
                    .with_header("trace-id", Some(format!("t{n}").as_bytes()))
                    .with_header("empty", None);
            }
            out.push(r);
        }
    }
    out
}

fn by_partition(records: &[TestRecord]) -> BTreeMap<i32, Vec<TestRecord>> {
    let mut m: BTreeMap<i32, Vec<TestRecord>> = BTreeMap::new();
    for r in records {
        m.entry(r.partition).or_default().push(r.clone());
    }
    m
}

/// Reads every partition of `topic` on `bootstrap` and compares it with
/// `expected`, record by record; the partition's high watermark must be the
/// expected count (no extra records after them, e.g. a duplicated tail).
async fn assert_mirrored(
    bootstrap: &str,
    topic: &str,
    expected: &[TestRecord],
) -> anyhow::Result<()> {
    for (p, want) in by_partition(expected) {
        let got = consume_partition(bootstrap, topic, p, want.len(), DEADLINE)
            .await
            .with_context(|| format!("reading mirror {topic}/{p}"))?;
        let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
        assert_same_records(&want, &got);
        let (_, high) = fetch_watermarks(bootstrap, topic, p).await?;
        assert_eq!(
            usize::try_from(high).ok(),
            Some(want.len()),
            "{topic}/{p}: high watermark {high}, expected {} records",
            want.len()
        );
    }
    Ok(())
}

/// Compression codecs of the record batches of a destination partition, read
/// with linkgate's client layer (librdkafka does not expose batch codecs).
async fn destination_codecs(
    bootstrap: &str,
    topic: &str,
    partition: i32,
) -> anyhow::Result<Vec<String>> {
    let client =
        ClusterClient::connect(ClusterSettings::new("check", vec![bootstrap.to_string()])).await?;
    let leader = client.leader(topic, partition).await?;
    let conn = client.broker(leader).await?;
    let req = wire::fetch_request(
        &[wire::FetchTarget {
            topic: topic.to_string(),
            topic_id: Default::default(),
            partition,
            offset: 0,
            max_bytes: 16 << 20,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
        }],
        wire::READ_UNCOMMITTED,
        100,
        1,
        16 << 20,
    );
    let version = conn
        .version_for::<kafka_protocol::messages::FetchRequest>()?
        .min(wire::FETCH_BY_NAME_MAX_VERSION);
    let resp = conn.send_version(&req, version).await?;
    let part = resp
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .next()
        .context("no partition in fetch response")?;
    anyhow::ensure!(part.error_code == 0, "fetch error {}", part.error_code);
    let split = split_batches(&part.records.unwrap_or_default())?;
    Ok(split
        .batches
        .iter()
        .map(|b| format!("{:?}", b.header.compression().expect("known codec")).to_lowercase())
        .collect())
}

async fn wait_state(gw: &Gateway, topic: &str, partition: i32, state: &str) -> anyhow::Result<()> {
    let p = partition.to_string();
    wait_until(
        &format!("{topic}/{partition} in state {state}"),
        DEADLINE,
        || async {
            gw.metric_value(
                "linkgate_mirror_partition_state",
                &[("topic", topic), ("partition", &p), ("state", state)],
            ) == Some(1.0)
        },
    )
    .await
    .with_context(|| gw.log_tail(40))
}

/// Every codec, several partitions, keys, null keys, null values, headers,
/// CreateTime timestamps and 1 MiB records arrive unchanged, and each
/// destination batch keeps the source batch's codec. nisshi grants no fetch
/// sessions: this runs on the sessionless fallback (checked by metrics).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_every_codec_record_by_record() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut topics = Vec::new();
    let mut expected = BTreeMap::new();
    for codec in CODECS {
        let topic = format!("codec-{codec}");
        create_topic(&src.bootstrap(), &topic, 3, &[]).await?;
        let records = sample_records(&mut rng, 3, 40, 300);
        produce(&src.bootstrap(), &topic, &records, codec).await?;
        expected.insert(topic.clone(), (codec, records));
        topics.push(topic);
    }
    // 1 MiB values.
    create_topic(
        &src.bootstrap(),
        "big",
        1,
        &[("max.message.bytes", "4194304")],
    )
    .await?;
    let big: Vec<TestRecord> = (0..3)
        .map(|i| {
            TestRecord::new(
                0,
                Some(format!("big-{i}").as_bytes()),
                Some(&random_payload(&mut rng, 1 << 20)),
                linkgate_tests::now_ms() - 60_000 + i,
            )
        })
        .collect();
    produce(&src.bootstrap(), "big", &big, "none").await?;

    let mut names: Vec<&str> = topics.iter().map(String::as_str).collect();
    names.push("big");
    // Batches above 1 MiB pass with the default request limit (16 MiB).
    let gw = Gateway::start(&config(&src, &dst, &names, ""))?;
    for (topic, (codec, records)) in &expected {
        assert_mirrored(&dst.bootstrap(), topic, records)
            .await
            .with_context(|| gw.log_tail(40))?;
        for p in 0..3 {
            let codecs = destination_codecs(&dst.bootstrap(), topic, p).await?;
            assert!(
                !codecs.is_empty(),
                "{topic}/{p}: no batch on the destination"
            );
            assert!(
                codecs.iter().all(|c| c == codec),
                "{topic}/{p}: destination batch codecs {codecs:?}, source codec {codec}"
            );
        }
    }
    assert_mirrored(&dst.bootstrap(), "big", &big).await?;
    // Lag reaches 0 and records are counted.
    wait_until("lag 0 on codec-lz4/0", DEADLINE, || async {
        gw.metric_value(
            "linkgate_mirror_lag_records",
            &[("topic", "codec-lz4"), ("partition", "0")],
        ) == Some(0.0)
    })
    .await?;
    assert_eq!(
        gw.metric_value(
            "linkgate_mirror_records_total",
            &[("topic", "codec-lz4"), ("partition", "0")]
        ),
        Some(40.0)
    );
    // nisshi grants no fetch sessions (KIP-227: it answers session id 0):
    // the fetcher asked for one, then mirrored all of the above with full
    // sessionless fetches. The session path is covered with constructed
    // protocol bytes (`gateway/src/mirror/pipeline_tests/fetch_sessions.rs`).
    let fetches = |kind: &str| {
        gw.metric_value("linkgate_fetch_requests_total", &[("kind", kind)])
            .unwrap_or(0.0)
    };
    assert!(fetches("full") >= 1.0, "a session was asked for");
    assert!(
        fetches("sessionless") >= 1.0,
        "sessionless fetches followed"
    );
    assert_eq!(fetches("incremental"), 0.0, "no session was granted");
    assert_eq!(gw.metric_value("linkgate_fetch_sessions", &[]), Some(0.0));
    Ok(())
}

/// `mirror.start.offset.spec = latest` mirrors only records produced after
/// the mirror started; `earliest` (the default) mirrors the whole log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_offset_spec_latest_and_earliest() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(11);
    create_topic(&src.bootstrap(), "events", 2, &[]).await?;
    let before = sample_records(&mut rng, 2, 10, 50);
    produce(&src.bootstrap(), "events", &before, "lz4").await?;

    let mut gw = Gateway::start(&config(
        &src,
        &dst,
        &["events"],
        "\"mirror.start.offset.spec\" = \"latest\"",
    ))?;
    for p in 0..2 {
        wait_state(&gw, "events", p, "ACTIVE").await?;
    }
    // Stopped before anything new arrived: the start position is recorded,
    // so records produced while it is down are not skipped by asking for
    // "latest" again at the restart.
    let status = gw.terminate()?;
    assert!(status.success(), "SIGTERM exit status {status:?}");
    let while_down = sample_records(&mut rng, 2, 5, 50);
    produce(&src.bootstrap(), "events", &while_down, "lz4").await?;
    gw.restart()?;
    let after = sample_records(&mut rng, 2, 15, 50);
    produce(&src.bootstrap(), "events", &after, "lz4").await?;
    let mut mirrored = while_down.clone();
    mirrored.extend(after.iter().cloned());
    assert_mirrored(&dst.bootstrap(), "events", &mirrored)
        .await
        .with_context(|| gw.log_tail(40))?;
    for p in 0..2 {
        let (_, high) = fetch_watermarks(&dst.bootstrap(), "events", p).await?;
        assert_eq!(
            high, 20,
            "destination events/{p} holds only the records produced after start"
        );
    }
    drop(gw);

    // Earliest on a second topic of a fresh destination.
    let dst2 = Broker::start("dst2")?;
    let _gw = Gateway::start(&config(
        &src,
        &dst2,
        &["events"],
        "\"mirror.start.offset.spec\" = \"earliest\"",
    ))?;
    let mut all = before.clone();
    all.extend(mirrored);
    assert_mirrored(&dst2.bootstrap(), "events", &all).await?;
    Ok(())
}

/// Exactly once across crashes: while records are produced, the gateway is
/// killed with SIGKILL several times (and stopped once with SIGTERM) and
/// restarted; afterwards every partition of the destination equals the
/// source, record by record: no loss, no duplicates, same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_across_kill9() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    const PARTITIONS: i32 = 4;
    create_topic(&src.bootstrap(), "orders", PARTITIONS, &[]).await?;
    let mut rng = StdRng::seed_from_u64(23);
    // 12 bursts of 4 x 150 records, produced in the background.
    let bursts: Vec<Vec<TestRecord>> = (0..12)
        .map(|_| sample_records(&mut rng, PARTITIONS, 150, 200))
        .collect();
    let all: Vec<TestRecord> = bursts.iter().flatten().cloned().collect();
    let bootstrap = src.bootstrap();
    let producer = tokio::spawn(async move {
        for (i, burst) in bursts.iter().enumerate() {
            let codec = ["lz4", "zstd", "none", "snappy"][i % 4];
            produce(&bootstrap, "orders", burst, codec).await?;
        }
        anyhow::Ok(())
    });

    let mut gw = Gateway::start(&config(&src, &dst, &["orders"], ""))?;
    let mut last = 0i64;
    for round in 0..5 {
        // Wait for progress on the destination, then crash at a random moment.
        wait_until("mirror progress", DEADLINE, || {
            let dst = dst.bootstrap();
            async move {
                let mut total = 0;
                for p in 0..PARTITIONS {
                    total += fetch_watermarks(&dst, "orders", p)
                        .await
                        .map(|w| w.1)
                        .unwrap_or(0);
                }
                total > last
            }
        })
        .await
        .with_context(|| gw.log_tail(40))?;
        let mut total = 0;
        for p in 0..PARTITIONS {
            total += fetch_watermarks(&dst.bootstrap(), "orders", p).await?.1;
        }
        last = total;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        if round == 2 {
            let status = gw.terminate()?;
            assert!(status.success(), "SIGTERM exit status {status:?}");
        } else {
            gw.kill9()?;
        }
        gw.restart()?;
    }
    producer.await??;
    assert_mirrored(&dst.bootstrap(), "orders", &all)
        .await
        .with_context(|| gw.log_tail(60))?;
    for p in 0..PARTITIONS {
        let (_, high) = fetch_watermarks(&dst.bootstrap(), "orders", p).await?;
        assert_eq!(high, 12 * 150, "orders/{p}: destination has extra records");
    }
    // The offset map in the destination's state topic, read through the
    // library: this source has no gaps, so it is the identity.
    let client = ClusterClient::connect(ClusterSettings::new("dst", vec![dst.bootstrap()])).await?;
    let state =
        linkgate::mirror::StateStore::open(client, linkgate::config::DEFAULT_STATE_TOPIC).await?;
    let snapshot = state.load().await?;
    for p in 0..PARTITIONS {
        let (_, high) = fetch_watermarks(&dst.bootstrap(), "orders", p).await?;
        let map = snapshot
            .offset_map(&("test-link".to_string(), "orders".to_string(), p), high)
            .with_context(|| format!("no offset map for orders/{p}"))?;
        for offset in [0, 1, high / 2, high - 1, high] {
            assert_eq!(
                map.translate(offset),
                Some(offset),
                "orders/{p} offset {offset}"
            );
        }
        assert_eq!(map.translate(high + 1), None);
    }
    Ok(())
}

/// Sum of the high watermarks of `topic`'s partitions on `bootstrap`.
async fn total_high(bootstrap: &str, topic: &str, partitions: i32) -> i64 {
    let mut total = 0;
    for p in 0..partitions {
        total += fetch_watermarks(bootstrap, topic, p)
            .await
            .map(|w| w.1)
            .unwrap_or(0);
    }
    total
}

/// Two gateways run the same link (a rolling deploy with surge, a zombie
/// after a network partition): the later one claims the link with the next
/// producer epoch, the earlier one is refused at its next write and stops
/// the link as `FENCED` (without failing partitions), and the destination
/// holds every record exactly once, in order, while records keep arriving
/// during the take-over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_fences_the_first() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    const PARTITIONS: i32 = 3;
    create_topic(&src.bootstrap(), "orders", PARTITIONS, &[]).await?;
    let mut rng = StdRng::seed_from_u64(31);
    let bursts: Vec<Vec<TestRecord>> = (0..10)
        .map(|_| sample_records(&mut rng, PARTITIONS, 100, 200))
        .collect();
    let all: Vec<TestRecord> = bursts.iter().flatten().cloned().collect();
    produce(&src.bootstrap(), "orders", &bursts[0], "lz4").await?;
    let first = Gateway::start(&config(&src, &dst, &["orders"], ""))?;
    let dst_bootstrap = dst.bootstrap();
    wait_until("the first gateway mirrors", DEADLINE, || {
        let dst = dst_bootstrap.clone();
        async move { total_high(&dst, "orders", PARTITIONS).await >= 300 }
    })
    .await
    .with_context(|| first.log_tail(40))?;
    let bootstrap = src.bootstrap();
    let rest = bursts[1..].to_vec();
    let producer = tokio::spawn(async move {
        for (i, burst) in rest.iter().enumerate() {
            produce(&bootstrap, "orders", burst, ["zstd", "none", "lz4"][i % 3]).await?;
        }
        anyhow::Ok(())
    });
    let second = Gateway::start(&config(&src, &dst, &["orders"], ""))?;
    let logs = || {
        format!(
            "first:\n{}\nsecond:\n{}",
            first.log_tail(40),
            second.log_tail(40)
        )
    };
    wait_until("the first gateway is fenced", DEADLINE, || async {
        first
            .metric_value(
                "linkgate_mirror_errors_total",
                &[("link", "test-link"), ("kind", "fenced")],
            )
            .is_some_and(|v| v >= 1.0)
    })
    .await
    .with_context(logs)?;
    producer.await??;
    assert_mirrored(&dst.bootstrap(), "orders", &all)
        .await
        .with_context(logs)?;
    assert!(
        first.log_tail(400).contains("FENCED"),
        "the fenced gateway says why: {}",
        first.log_tail(40)
    );
    for p in 0..PARTITIONS {
        let partition = p.to_string();
        let labels = [
            ("topic", "orders"),
            ("partition", partition.as_str()),
            ("state", "ACTIVE"),
        ];
        assert_eq!(
            second.metric_value("linkgate_mirror_partition_state", &labels),
            Some(1.0),
            "orders/{p} is mirrored by the second gateway"
        );
        let labels = [
            ("topic", "orders"),
            ("partition", partition.as_str()),
            ("state", "FAILED"),
        ];
        assert_ne!(
            first.metric_value("linkgate_mirror_partition_state", &labels),
            Some(1.0),
            "the fenced gateway fails no partition: {}",
            first.log_tail(40)
        );
    }
    Ok(())
}

/// Partitions are independent: the destination deletes one mirror topic
/// while records flow into two; that topic's partition fails with
/// `MIRROR_TOPIC_DELETED` and the other mirror topic keeps being mirrored,
/// record by record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_mirror_topic_fails_alone() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    create_topic(&src.bootstrap(), "kept", 1, &[]).await?;
    create_topic(&src.bootstrap(), "dropped", 1, &[]).await?;
    let mut rng = StdRng::seed_from_u64(37);
    let first = sample_records(&mut rng, 1, 20, 50);
    produce(&src.bootstrap(), "kept", &first, "none").await?;
    produce(&src.bootstrap(), "dropped", &first, "none").await?;
    let gw = Gateway::start(&config(&src, &dst, &["kept", "dropped"], ""))?;
    assert_mirrored(&dst.bootstrap(), "dropped", &first).await?;
    assert_mirrored(&dst.bootstrap(), "kept", &first).await?;
    let client = ClusterClient::connect(ClusterSettings::new("dst", vec![dst.bootstrap()])).await?;
    client.delete_topic("dropped").await?;
    let more = sample_records(&mut rng, 1, 30, 50);
    produce(&src.bootstrap(), "dropped", &more, "none").await?;
    produce(&src.bootstrap(), "kept", &more, "none").await?;
    wait_state(&gw, "dropped", 0, "FAILED").await?;
    assert!(
        gw.log_tail(400).contains("MIRROR_TOPIC_DELETED"),
        "the cause is named: {}",
        gw.log_tail(40)
    );
    let mut all = first.clone();
    all.extend(more);
    assert_mirrored(&dst.bootstrap(), "kept", &all)
        .await
        .with_context(|| gw.log_tail(40))?;
    wait_state(&gw, "kept", 0, "ACTIVE").await?;
    Ok(())
}

/// Broker restarts under load: while bursts of records arrive, the
/// destination broker is killed (SIGKILL) and restarted on its sqlite
/// storage, then the source broker; mirroring resumes by itself each time
/// and the mirror is an exact copy, record by record, with no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarts_under_load_lose_and_duplicate_nothing() -> anyhow::Result<()> {
    let mut src = Broker::start_persistent("src")?;
    let mut dst = Broker::start_persistent("dst")?;
    const PARTITIONS: i32 = 2;
    create_topic(&src.bootstrap(), "load", PARTITIONS, &[]).await?;
    let mut rng = StdRng::seed_from_u64(41);
    let bursts: Vec<Vec<TestRecord>> = (0..4)
        .map(|_| sample_records(&mut rng, PARTITIONS, 150, 100))
        .collect();
    let gw = Gateway::start(&config(&src, &dst, &["load"], ""))?;
    let mut expected = 0i64;
    for (i, burst) in bursts.iter().enumerate() {
        produce(
            &src.bootstrap(),
            "load",
            burst,
            ["lz4", "none", "zstd", "gzip"][i],
        )
        .await?;
        expected += burst.len() as i64;
        match i {
            // The destination dies while the burst is being mirrored.
            0 => {
                dst.kill9()?;
                dst.restart()?;
            }
            // Then the source.
            1 => {
                src.kill9()?;
                src.restart()?;
            }
            _ => {}
        }
        let dst_bootstrap = dst.bootstrap();
        wait_until("mirroring resumes and catches up", DEADLINE, || {
            let dst = dst_bootstrap.clone();
            async move { total_high(&dst, "load", PARTITIONS).await >= expected }
        })
        .await
        .with_context(|| gw.log_tail(60))?;
    }
    let all: Vec<TestRecord> = bursts.iter().flatten().cloned().collect();
    assert_mirrored(&dst.bootstrap(), "load", &all)
        .await
        .with_context(|| gw.log_tail(60))?;
    for p in 0..PARTITIONS {
        wait_state(&gw, "load", p, "ACTIVE").await?;
    }
    Ok(())
}

/// `cluster.link.paused = true`: the mirror topic is set up but its
/// partitions are PAUSED and nothing is fetched; after a restart with the
/// link unpaused, everything is mirrored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_link_mirrors_nothing_until_unpaused() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(17);
    create_topic(&src.bootstrap(), "held", 1, &[]).await?;
    let records = sample_records(&mut rng, 1, 10, 20);
    produce(&src.bootstrap(), "held", &records, "gzip").await?;
    let paused = config(&src, &dst, &["held"], "\"cluster.link.paused\" = true");
    let mut gw = Gateway::start(&paused)?;
    wait_state(&gw, "held", 0, "PAUSED").await?;
    let (_, high) = fetch_watermarks(&dst.bootstrap(), "held", 0).await?;
    assert_eq!(high, 0, "a paused link mirrors nothing");
    assert_eq!(
        gw.metric_value("linkgate_mirror_records_total", &[("topic", "held")]),
        None
    );
    gw.restart_with_config(&paused.replace(
        "\"cluster.link.paused\" = true",
        "\"cluster.link.paused\" = false",
    ))?;
    assert_mirrored(&dst.bootstrap(), "held", &records).await?;
    Ok(())
}

/// A record written to a mirror topic by anyone but the gateway is detected:
/// the mirror partition goes to FAILED with FOREIGN_WRITE and mirrors
/// nothing more, rather than interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_write_fails_the_mirror_partition() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(5);
    create_topic(&src.bootstrap(), "audit", 1, &[]).await?;
    let first = sample_records(&mut rng, 1, 10, 20);
    produce(&src.bootstrap(), "audit", &first, "none").await?;
    let gw = Gateway::start(&config(&src, &dst, &["audit"], ""))?;
    assert_mirrored(&dst.bootstrap(), "audit", &first).await?;
    // Someone else writes to the mirror topic.
    produce(
        &dst.bootstrap(),
        "audit",
        &[TestRecord::new(
            0,
            Some(b"intruder"),
            Some(b"x"),
            linkgate_tests::now_ms(),
        )],
        "none",
    )
    .await?;
    let more = sample_records(&mut rng, 1, 5, 20);
    produce(&src.bootstrap(), "audit", &more, "none").await?;
    wait_state(&gw, "audit", 0, "FAILED").await?;
    assert!(
        gw.log_tail(200).contains("FOREIGN_WRITE"),
        "log names the cause:\n{}",
        gw.log_tail(40)
    );
    let (_, high) = fetch_watermarks(&dst.bootstrap(), "audit", 0).await?;
    assert_eq!(high, 11, "nothing mirrored after the foreign write");
    Ok(())
}

/// A malformed config file makes `linkgate run` exit non-zero with a message
/// naming the key at fault.
#[test]
fn bad_config_is_refused_with_a_clear_error() -> anyhow::Result<()> {
    let bad = r#"
[gateway]
metrics_listen = "127.0.0.1:1"
[clusters.src]
"bootstrap.servers" = "127.0.0.1:1"
[[links]]
name = "l"
source = "src"
destination = "nowhere"
mirror_topics = ["t"]
"#;
    let (status, log) = Gateway::run_until_exit(bad, Duration::from_secs(30))?;
    assert!(!status.success());
    assert!(log.contains("links[0].destination"), "log: {log}");
    assert!(log.contains("nowhere"), "log: {log}");
    Ok(())
}

fn admin(
    bootstrap: &str,
) -> anyhow::Result<rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>> {
    Ok(rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

/// A source topic deleted and recreated under the same name (new topic id)
/// while the mirror runs: the mirror partition goes to FAILED with
/// SOURCE_TOPIC_RECREATED and none of the new topic's records reach the
/// destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_source_topic_fails_the_mirror() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(9);
    create_topic(&src.bootstrap(), "ledger", 1, &[]).await?;
    let first = sample_records(&mut rng, 1, 5, 20);
    produce(&src.bootstrap(), "ledger", &first, "none").await?;
    let gw = Gateway::start(&config(&src, &dst, &["ledger"], ""))?;
    assert_mirrored(&dst.bootstrap(), "ledger", &first).await?;

    let opts = rdkafka::admin::AdminOptions::new();
    for r in admin(&src.bootstrap())?
        .delete_topics(&["ledger"], &opts)
        .await?
    {
        r.map_err(|(t, e)| anyhow::anyhow!("delete {t}: {e}"))?;
    }
    wait_until("ledger deleted", DEADLINE, || async {
        linkgate_tests::partition_count(&src.bootstrap(), "ledger")
            .await
            .ok()
            .flatten()
            .is_none()
    })
    .await?;
    create_topic(&src.bootstrap(), "ledger", 1, &[]).await?;
    // More records than were mirrored, so offsets overlap the old topic's.
    let second = sample_records(&mut rng, 1, 20, 20);
    produce(&src.bootstrap(), "ledger", &second, "none").await?;

    wait_state(&gw, "ledger", 0, "FAILED").await?;
    assert!(
        gw.log_tail(400).contains("SOURCE_TOPIC_RECREATED"),
        "{}",
        gw.log_tail(40)
    );
    let (_, high) = fetch_watermarks(&dst.bootstrap(), "ledger", 0).await?;
    assert_eq!(
        high, 5,
        "records of the recreated topic must not be mirrored"
    );
    Ok(())
}

/// Records deleted on the source before they were mirrored (DeleteRecords
/// moves the log start offset past the mirror's position while the gateway is
/// down): on restart the mirror partition goes to FAILED with
/// SOURCE_LOG_TRUNCATED instead of silently skipping the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_log_truncated_below_mirror_position_fails_the_mirror() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(13);
    create_topic(&src.bootstrap(), "metrics", 1, &[]).await?;
    let first = sample_records(&mut rng, 1, 10, 20);
    produce(&src.bootstrap(), "metrics", &first, "none").await?;
    let mut gw = Gateway::start(&config(&src, &dst, &["metrics"], ""))?;
    assert_mirrored(&dst.bootstrap(), "metrics", &first).await?;
    gw.terminate()?;

    produce(
        &src.bootstrap(),
        "metrics",
        &sample_records(&mut rng, 1, 10, 20),
        "none",
    )
    .await?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("metrics", 0, rdkafka::Offset::Offset(15))?;
    admin(&src.bootstrap())?
        .delete_records(&tpl, &rdkafka::admin::AdminOptions::new())
        .await
        .context("DeleteRecords")?;
    let (low, _) = fetch_watermarks(&src.bootstrap(), "metrics", 0).await?;
    assert_eq!(low, 15, "the source log start offset moved");

    gw.restart()?;
    wait_state(&gw, "metrics", 0, "FAILED").await?;
    assert!(
        gw.log_tail(400).contains("SOURCE_LOG_TRUNCATED"),
        "{}",
        gw.log_tail(40)
    );
    let (_, high) = fetch_watermarks(&dst.bootstrap(), "metrics", 0).await?;
    assert_eq!(high, 10, "nothing past the gap is mirrored");
    Ok(())
}
