//! End-to-end tests of the data plane's limits and of failures that must
//! survive restarts: two real Kafka-protocol brokers (nisshi) on 127.0.0.1,
//! the `linkgate` binary between them, records produced and read back with
//! librdkafka and compared record by record.
//!
//! - The link's Produce request limit (`linkgate.producer.max.request.size`):
//!   a destination broker's batches are split over requests under it (seen
//!   by a TCP proxy in front of the destination), and a batch above it fails
//!   only its partition, resumable once the limit is raised.
//! - The destination's `max.message.bytes` (nisshi enforces it per topic,
//!   answering `MESSAGE_TOO_LARGE` as Kafka does): only the partition of the
//!   refused batch fails; raising the limit and resuming mirrors the rest.
//! - A foreign write to a mirror partition while the gateway is down, or
//!   right before it is killed: `FOREIGN_WRITE` after the restart and after
//!   a further one, nothing mirrored over it.
//! - A backlog of one-record batches whose round's checkpoints exceed the
//!   state topic's `max.message.bytes`: the state writes are split, every
//!   state batch fits, and the mirror is exact.
//!
//! nisshi does not let `socket.request.max.bytes` be set (it closes the
//! connection above its fixed 100 MiB), so the request limit is checked by
//! the sizes of the requests the proxy sees, not by a broker refusing them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate::kafka::records::batch::split_batches;
use linkgate::kafka::{wire, ClusterClient, ClusterSettings, ConfigChange};
use linkgate_tests::{
    assert_same_records, consume_partition, create_topic, fetch_watermarks, free_port, link_config,
    produce, produce_one_record_batches, random_payload, wait_until, Api, Broker, Gateway,
    ProxiedBroker, TestRecord, CLUSTERS,
};
use rand::{rngs::StdRng, SeedableRng};
use serde_json::{json, Value};

/// Deadline of each wait on the gateway or the destination.
const DEADLINE: Duration = Duration::from_secs(60);

/// The link's name in every config here.
const LINK: &str = "test-link";

/// A gateway config mirroring `topics` from `src` (bootstrap) to `dst` on
/// link [`LINK`], with a REST API on a free loopback port and the link
/// properties `properties` (TOML lines).
fn config(
    src: &Broker,
    dst: &Broker,
    dst_bootstrap: &str,
    topics: &[&str],
    properties: &str,
) -> String {
    let list = topics
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    link_config(
        src,
        dst,
        LINK,
        "",
        &format!("mirror_topics = [{list}]"),
        properties,
    )
    .replacen(
        "[gateway]\n",
        &format!("[gateway]\napi_listen = \"127.0.0.1:{}\"\n", free_port()),
        1,
    )
    .replace(
        &format!("\"{}\"", dst.bootstrap()),
        &format!("\"{dst_bootstrap}\""),
    )
}

/// A record of partition `p` with a `len`-byte value; its key names the
/// partition and `n`.
fn record(rng: &mut StdRng, p: i32, n: usize, len: usize) -> TestRecord {
    TestRecord::new(
        p,
        Some(format!("k-{p}-{n}").as_bytes()),
        Some(&random_payload(rng, len)),
        linkgate_tests::now_ms() - 60_000 + n as i64,
    )
    .with_header("n", Some(n.to_string().as_bytes()))
}

/// Reads `topic`/`partition` on `bootstrap` and compares it with `want`,
/// record by record; the high watermark must be `want.len()` (nothing
/// else on the partition).
async fn assert_partition(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    want: &[TestRecord],
) -> anyhow::Result<()> {
    let got = consume_partition(bootstrap, topic, partition, want.len(), DEADLINE)
        .await
        .with_context(|| format!("reading {topic}/{partition}"))?;
    let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
    assert_same_records(want, &got);
    let (_, high) = fetch_watermarks(bootstrap, topic, partition).await?;
    assert_eq!(
        usize::try_from(high).ok(),
        Some(want.len()),
        "{topic}/{partition}: high watermark {high}, expected {} records",
        want.len()
    );
    Ok(())
}

/// Waits until the gateway's metrics show `topic`/`partition` in `state`.
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

/// The REST API's description of partition `partition` of mirror topic
/// `topic` (an entry of `mirror_lags`: `state`, `error_code`,
/// `error_message`, ...).
fn mirror_partition(api: &Api, topic: &str, partition: i32) -> anyhow::Result<Value> {
    let r = api.get(&format!("{CLUSTERS}/dst/links/{LINK}/mirrors/{topic}"))?;
    anyhow::ensure!(r.status == 200, "describe mirror {topic}: {r}");
    r.json["mirror_lags"]
        .as_array()
        .and_then(|lags| {
            lags.iter()
                .find(|l| l["partition"].as_i64() == Some(i64::from(partition)))
        })
        .cloned()
        .with_context(|| format!("no partition {partition} in {r}"))
}

/// Resumes mirror topic `topic` through the REST API; the action must
/// succeed for it.
fn resume(api: &Api, topic: &str) -> anyhow::Result<()> {
    let r = api.post(
        &format!("{CLUSTERS}/dst/links/{LINK}/mirrors:resume"),
        Some(&json!({ "mirror_topic_names": [topic] })),
    )?;
    anyhow::ensure!(r.status == 200, "mirrors:resume {topic}: {r}");
    let result = &r.json["data"][0];
    anyhow::ensure!(
        result["error_code"].is_null(),
        "mirrors:resume {topic}: {r}"
    );
    Ok(())
}

/// Sets (`Some`) or removes (`None`) the `max.message.bytes` of `topic` on
/// `bootstrap` (IncrementalAlterConfigs through linkgate's client: the
/// operator's change, not something under test).
async fn set_max_message_bytes(
    bootstrap: &str,
    topic: &str,
    bytes: Option<u64>,
) -> anyhow::Result<()> {
    let client =
        ClusterClient::connect(ClusterSettings::new("op", vec![bootstrap.to_string()])).await?;
    let change = match bytes {
        Some(b) => ConfigChange::Set {
            name: "max.message.bytes".into(),
            value: b.to_string(),
        },
        None => ConfigChange::Delete {
            name: "max.message.bytes".into(),
        },
    };
    client.alter_topic_configs(topic, &[change]).await?;
    Ok(())
}

/// Each destination broker's batches go out in Produce requests of at most
/// `linkgate.producer.max.request.size` bytes of batches: six partitions
/// with a 12 KB batch each at every position of the round (72 KB, above
/// the 64 KiB limit) reach the destination through a TCP proxy that never
/// sees a larger Produce request, and are mirrored record by record. A
/// 100 KB batch on one partition is above the limit: that partition alone
/// fails with `MESSAGE_TOO_LARGE` naming the batch's source offset and the
/// limit, holding exactly the records before it; after a restart it is
/// still `FAILED`; raised limit and `resume` mirror the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_requests_stay_under_the_limit_and_a_larger_batch_fails_alone() -> anyhow::Result<()>
{
    const PARTITIONS: i32 = 6;
    const WAVES: usize = 10;
    const BIG_WAVE: usize = 5;
    const LIMIT: u64 = 65_536;
    let src = Broker::start("src")?;
    let dst = ProxiedBroker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(61);
    create_topic(&src.bootstrap(), "wide", PARTITIONS, &[]).await?;
    create_topic(&src.bootstrap(), "other", 1, &[]).await?;
    // One produce call per wave: one batch per partition per wave.
    let mut expected: BTreeMap<i32, Vec<TestRecord>> = BTreeMap::new();
    for wave in 0..WAVES {
        let records: Vec<TestRecord> = (0..PARTITIONS)
            .map(|p| {
                let len = if p == 0 && wave == BIG_WAVE {
                    100_000
                } else {
                    12_000
                };
                record(&mut rng, p, wave, len)
            })
            .collect();
        produce(&src.bootstrap(), "wide", &records, "none").await?;
        for r in records {
            expected.entry(r.partition).or_default().push(r);
        }
    }
    let other: Vec<TestRecord> = (0..20).map(|n| record(&mut rng, 0, n, 500)).collect();
    produce(&src.bootstrap(), "other", &other, "none").await?;

    let limited = config(
        &src,
        &dst.broker,
        &dst.bootstrap(),
        &["wide", "other"],
        &format!("\"linkgate.producer.max.request.size\" = {LIMIT}"),
    );
    let mut gw = Gateway::start(&limited)?;
    let api = Api::for_config(&limited)?;
    let d = dst.bootstrap();
    for p in 1..PARTITIONS {
        assert_partition(&d, "wide", p, &expected[&p])
            .await
            .with_context(|| gw.log_tail(40))?;
    }
    assert_partition(&d, "other", 0, &other).await?;
    wait_state(&gw, "wide", 0, "FAILED").await?;
    assert_partition(&d, "wide", 0, &expected[&0][..BIG_WAVE]).await?;
    let failed = mirror_partition(&api, "wide", 0)?;
    assert_eq!(failed["error_code"], "MESSAGE_TOO_LARGE", "{failed}");
    let message = failed["error_message"].as_str().unwrap_or_default();
    for part in [
        format!("source offset {BIG_WAVE}"),
        format!("limit of {LIMIT} bytes"),
        "linkgate.producer.max.request.size".to_string(),
    ] {
        assert!(message.contains(&part), "{part:?} not in {failed}");
    }
    let stats = dst.proxy.stats();
    // The request's framing (header, topic names, partition fields) adds
    // well under 1 KiB to the limit's count of batch bytes here.
    assert!(
        stats.largest_produce_request <= LIMIT + 1024,
        "a Produce request of {} bytes passed the proxy, limit {LIMIT}",
        stats.largest_produce_request
    );
    assert!(
        stats.largest_produce_request > LIMIT / 2,
        "requests carried several batches each: largest {} bytes",
        stats.largest_produce_request
    );
    for p in 1..PARTITIONS {
        wait_state(&gw, "wide", p, "ACTIVE").await?;
    }

    // A restart with the limit raised keeps the failure until resumed.
    let raised = limited.replace(&format!("= {LIMIT}"), "= 1048576");
    gw.restart_with_config(&raised)?;
    let api = Api::for_config(&raised)?;
    wait_state(&gw, "wide", 0, "FAILED").await?;
    assert_eq!(
        mirror_partition(&api, "wide", 0)?["error_code"],
        "MESSAGE_TOO_LARGE"
    );
    resume(&api, "wide")?;
    assert_partition(&d, "wide", 0, &expected[&0])
        .await
        .with_context(|| gw.log_tail(40))?;
    wait_state(&gw, "wide", 0, "ACTIVE").await?;
    Ok(())
}

/// The destination refuses a batch larger than the mirror topic's
/// `max.message.bytes` (lowered there by an operator after the topic
/// config sync ran): that partition fails with the broker's
/// `MESSAGE_TOO_LARGE` and holds exactly the records before the batch; the
/// topic's other partition and another mirror topic go on, record by
/// record. Raising `max.message.bytes` and resuming mirrors the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_refusing_a_large_batch_fails_only_its_partition() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(67);
    create_topic(&src.bootstrap(), "sized", 2, &[]).await?;
    create_topic(&src.bootstrap(), "other", 1, &[]).await?;
    let mut expected: BTreeMap<i32, Vec<TestRecord>> = BTreeMap::new();
    let mut wave = |rng: &mut StdRng, n: usize, big: bool| -> Vec<TestRecord> {
        let records: Vec<TestRecord> = (0..2)
            .map(|p| record(rng, p, n, if big && p == 0 { 100_000 } else { 300 }))
            .collect();
        for r in &records {
            expected.entry(r.partition).or_default().push(r.clone());
        }
        records
    };
    let first = wave(&mut rng, 0, false);
    produce(&src.bootstrap(), "sized", &first, "none").await?;
    let other: Vec<TestRecord> = (0..10).map(|n| record(&mut rng, 0, n, 300)).collect();
    produce(&src.bootstrap(), "other", &other[..5], "none").await?;
    // The sync runs at start, then only after an hour: it does not undo
    // the lowered limit during the test.
    let text = config(
        &src,
        &dst,
        &dst.bootstrap(),
        &["sized", "other"],
        "\"topic.config.sync.ms\" = 3600000",
    );
    let gw = Gateway::start(&text)?;
    let api = Api::for_config(&text)?;
    let d = dst.bootstrap();
    for p in 0..2 {
        assert_partition(&d, "sized", p, &first[p as usize..=p as usize]).await?;
    }
    wait_until("the topic config sync ran", DEADLINE, || async {
        gw.metric_value(
            "linkgate_link_task_last_run_timestamp_seconds",
            &[("task", "TopicConfigsSync")],
        )
        .is_some()
    })
    .await
    .with_context(|| gw.log_tail(40))?;
    set_max_message_bytes(&d, "sized", Some(50_000)).await?;

    for (n, big) in [(1, false), (2, true), (3, false)] {
        let records = wave(&mut rng, n, big);
        produce(&src.bootstrap(), "sized", &records, "none").await?;
    }
    produce(&src.bootstrap(), "other", &other[5..], "none").await?;
    wait_state(&gw, "sized", 0, "FAILED").await?;
    assert_partition(&d, "sized", 1, &expected[&1])
        .await
        .with_context(|| gw.log_tail(40))?;
    assert_partition(&d, "other", 0, &other).await?;
    assert_partition(&d, "sized", 0, &expected[&0][..2]).await?;
    let failed = mirror_partition(&api, "sized", 0)?;
    assert_eq!(failed["error_code"], "MESSAGE_TOO_LARGE", "{failed}");
    assert!(
        failed["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("sized partition 0")),
        "the message names the partition: {failed}"
    );
    wait_state(&gw, "sized", 1, "ACTIVE").await?;

    set_max_message_bytes(&d, "sized", None).await?;
    resume(&api, "sized")?;
    assert_partition(&d, "sized", 0, &expected[&0])
        .await
        .with_context(|| gw.log_tail(40))?;
    wait_state(&gw, "sized", 0, "ACTIVE").await?;
    Ok(())
}

/// Foreign writes and restarts: a record written to mirror partition 0
/// while the gateway is down, and one written to partition 1 right before
/// the gateway is killed with SIGKILL. After the restart both partitions
/// are `FAILED` with `FOREIGN_WRITE` and hold the mirrored records plus
/// the foreign one, nothing more, while partition 2 mirrors what arrived
/// meanwhile; a further restart (SIGTERM) keeps both failures and their
/// cause, and partition 2 goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_writes_around_a_restart_stay_failed() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(71);
    create_topic(&src.bootstrap(), "audit", 3, &[]).await?;
    let batch = |rng: &mut StdRng, from: usize| -> Vec<TestRecord> {
        (from..from + 5)
            .flat_map(|n| (0..3).map(move |p| (p, n)))
            .map(|(p, n)| record(rng, p, n, 100))
            .collect()
    };
    let mut sent = batch(&mut rng, 0);
    produce(&src.bootstrap(), "audit", &sent, "none").await?;
    let text = config(&src, &dst, &dst.bootstrap(), &["audit"], "");
    let mut gw = Gateway::start(&text)?;
    let api = Api::for_config(&text)?;
    let d = dst.bootstrap();
    let of = |records: &[TestRecord], p: i32| -> Vec<TestRecord> {
        records
            .iter()
            .filter(|r| r.partition == p)
            .cloned()
            .collect()
    };
    for p in 0..3 {
        assert_partition(&d, "audit", p, &of(&sent, p)).await?;
    }
    let intruder =
        |p: i32| TestRecord::new(p, Some(b"intruder"), Some(b"x"), linkgate_tests::now_ms());
    produce(&d, "audit", &[intruder(1)], "none").await?;
    gw.kill9()?;
    produce(&d, "audit", &[intruder(0)], "none").await?;
    let more = batch(&mut rng, 5);
    produce(&src.bootstrap(), "audit", &more, "none").await?;
    sent.extend(more);
    gw.restart()?;

    let check = |gw: &Gateway| {
        for p in 0..2 {
            let part = mirror_partition(&api, "audit", p)?;
            assert_eq!(
                part["state"],
                "FAILED",
                "audit/{p}: {part}\n{}",
                gw.log_tail(40)
            );
            assert_eq!(part["error_code"], "FOREIGN_WRITE", "audit/{p}: {part}");
        }
        anyhow::Ok(())
    };
    for p in 0..2 {
        wait_state(&gw, "audit", p, "FAILED").await?;
    }
    check(&gw)?;
    assert_partition(&d, "audit", 2, &of(&sent, 2))
        .await
        .with_context(|| gw.log_tail(40))?;
    for p in 0..2 {
        let want = of(&sent[..15], p);
        let got = consume_partition(&d, "audit", p, want.len() + 1, DEADLINE).await?;
        let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
        assert_same_records(&want, &got[..want.len()]);
        assert_eq!(
            got[want.len()].key.as_deref(),
            Some(&b"intruder"[..]),
            "audit/{p}: the foreign record follows the mirrored ones"
        );
        let (_, high) = fetch_watermarks(&d, "audit", p).await?;
        assert_eq!(
            high, 6,
            "audit/{p}: nothing mirrored after the foreign write"
        );
    }

    let status = gw.terminate()?;
    assert!(status.success(), "SIGTERM exit status {status:?}");
    let after = batch(&mut rng, 10);
    produce(&src.bootstrap(), "audit", &after, "none").await?;
    sent.extend(after);
    gw.restart()?;
    for p in 0..2 {
        wait_state(&gw, "audit", p, "FAILED").await?;
    }
    check(&gw)?;
    assert_partition(&d, "audit", 2, &of(&sent, 2))
        .await
        .with_context(|| gw.log_tail(40))?;
    for p in 0..2 {
        let (_, high) = fetch_watermarks(&d, "audit", p).await?;
        assert_eq!(
            high, 6,
            "audit/{p}: nothing mirrored after a further restart"
        );
    }
    Ok(())
}

/// Record batches of the state topic on `bootstrap` with their sizes
/// (bytes) and their records' keys and value sizes, read with linkgate's
/// client (librdkafka does not expose batches).
async fn state_batches(bootstrap: &str) -> anyhow::Result<Vec<(usize, Vec<(String, usize)>)>> {
    let client =
        ClusterClient::connect(ClusterSettings::new("check", vec![bootstrap.to_string()])).await?;
    let topic = linkgate::config::DEFAULT_STATE_TOPIC;
    let leader = client.leader(topic, 0).await?;
    let conn = client.broker(leader).await?;
    let (_, high) = fetch_watermarks(bootstrap, topic, 0).await?;
    let mut out = Vec::new();
    let mut offset = 0i64;
    let started = Instant::now();
    while offset < high {
        anyhow::ensure!(started.elapsed() < DEADLINE, "state topic not read in time");
        let req = wire::fetch_request(
            &[wire::FetchTarget {
                topic: topic.to_string(),
                topic_id: Default::default(),
                partition: 0,
                offset,
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
        anyhow::ensure!(
            !split.batches.is_empty(),
            "no batch at state offset {offset}"
        );
        for b in &split.batches {
            let mut raw = b.bytes.clone();
            let decoded = kafka_protocol::records::RecordBatchDecoder::decode(&mut raw)?;
            let records = decoded
                .records
                .iter()
                .map(|r| {
                    let key = r
                        .key
                        .as_ref()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .unwrap_or_default();
                    (key, r.value.as_ref().map_or(0, |v| v.len()))
                })
                .collect();
            out.push((b.bytes.len(), records));
            offset = b.header.base_offset + i64::from(b.header.last_offset_delta) + 1;
        }
    }
    Ok(out)
}

/// A backlog of 128000 one-record batches over 16 partitions, there before
/// the gateway starts: the first round takes thousands of batches of every
/// partition, and its checkpoints (each listing its round's batches)
/// add up to more than the state topic's `max.message.bytes` (1048588).
/// The write-ahead is split into state batches that each fit it (nisshi
/// enforces it: a larger one would be refused and the round fetched again
/// forever), and the mirror equals the source record by record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_one_record_batches_splits_the_state_writes() -> anyhow::Result<()> {
    const PARTITIONS: i32 = 16;
    const PER_PARTITION: usize = 8_000;
    const STATE_MAX_MESSAGE_BYTES: usize = 1_048_588;
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    create_topic(&src.bootstrap(), "backlog", PARTITIONS, &[]).await?;
    let base = linkgate_tests::now_ms() - 600_000;
    let records: Vec<TestRecord> = (0..PER_PARTITION)
        .flat_map(|n| (0..PARTITIONS).map(move |p| (p, n)))
        .map(|(p, n)| {
            TestRecord::new(
                p,
                None,
                Some(format!("{p}-{n}").as_bytes()),
                base + n as i64,
            )
        })
        .collect();
    let started = Instant::now();
    // Four producers, each on its own partitions, in parallel.
    let producers = (0..4).map(|k| {
        let mine: Vec<TestRecord> = records
            .iter()
            .filter(|r| r.partition % 4 == k)
            .cloned()
            .collect();
        let bootstrap = src.bootstrap();
        async move {
            produce_one_record_batches(&bootstrap, "backlog", &mine, Duration::from_secs(40)).await
        }
    });
    for produced in futures::future::join_all(producers).await {
        produced?;
    }
    eprintln!(
        "produced {} one-record batches in {:?}",
        records.len(),
        started.elapsed()
    );

    let text = config(&src, &dst, &dst.bootstrap(), &["backlog"], "");
    let gw = Gateway::start(&text)?;
    let d = dst.bootstrap();
    // Partitions read back in parallel.
    let checks = (0..PARTITIONS).map(|p| {
        let want: Vec<TestRecord> = records
            .iter()
            .filter(|r| r.partition == p)
            .cloned()
            .collect();
        let d = d.clone();
        async move { assert_partition(&d, "backlog", p, &want).await }
    });
    for checked in futures::future::join_all(checks).await {
        checked.with_context(|| gw.log_tail(40))?;
    }
    eprintln!("mirrored and compared after {:?}", started.elapsed());
    let batches = state_batches(&d).await?;
    for (bytes, _) in &batches {
        assert!(
            *bytes <= STATE_MAX_MESSAGE_BYTES,
            "a state batch of {bytes} bytes is above the state topic's max.message.bytes"
        );
    }
    // The first checkpoint with batches of each partition: the first round.
    let prefix = format!("cp/{LINK}/backlog/");
    let mut first_round: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, (_, records)) in batches.iter().enumerate() {
        for (key, len) in records {
            // A start checkpoint (no batches) is a few hundred bytes.
            if key.starts_with(&prefix) && *len > 1000 {
                first_round.entry(key.clone()).or_insert((i, *len));
            }
        }
    }
    assert_eq!(first_round.len(), PARTITIONS as usize, "{first_round:?}");
    let total: usize = first_round.values().map(|(_, len)| len).sum();
    let spread: std::collections::BTreeSet<usize> = first_round.values().map(|(i, _)| *i).collect();
    eprintln!("first round's checkpoints: {total} bytes in state batches {spread:?}");
    assert!(
        total > STATE_MAX_MESSAGE_BYTES,
        "the first round's checkpoints take {total} bytes, not more than one state batch holds"
    );
    assert!(
        spread.len() >= 2,
        "the first round's checkpoints are in state batches {spread:?}"
    );
    Ok(())
}
