//! Proves the end-to-end harness against real brokers: nisshi brokers started
//! by [`Broker`], records written and read back with librdkafka through
//! [`produce`] and [`consume_partition`], with every codec, null keys, null
//! values, headers and fixed CreateTime timestamps; a persistent broker
//! survives `kill -9` and a restart on the same port.
//!
//! The [`linkgate_tests::Gateway`] part of the harness is exercised by the
//! gateway's own end-to-end tests (it needs the `linkgate` binary).

use std::time::Duration;

use linkgate_tests::{
    assert_same_records, consume_partition, create_topic, fetch_watermarks, now_ms,
    partition_count, produce, random_payload, wait_until, Broker, TestRecord, CODECS,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const READ_DEADLINE: Duration = Duration::from_secs(30);

/// `n` records over `partitions` partitions, covering: normal, null and empty
/// keys; null, empty and compressible random values up to 2 KiB; headers
/// with values, null values and repeated names; explicit timestamps from one
/// hour ago on, with repeats. (Timestamps must be recent: brokers delete
/// records older than `retention.ms`, 7 days by default, by their timestamp;
/// nisshi does so when it starts.)
fn sample_records(partitions: i32, n: usize, seed: u64) -> Vec<TestRecord> {
    let ts0 = (now_ms() - 3_600_000) / 1000 * 1000;
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let partition = i32::try_from(i).expect("small index") % partitions;
            let key = match i % 10 {
                3 => None,
                4 => Some(Vec::new()),
                _ => Some(format!("key-{i}").into_bytes()),
            };
            let value = match i % 10 {
                5 => None,
                6 => Some(Vec::new()),
                _ => Some(random_payload(&mut rng, 10 + (i * 37) % 2000)),
            };
            let headers = match i % 3 {
                0 => vec![
                    ("trace".to_owned(), Some(format!("t-{i}").into_bytes())),
                    ("null-header".to_owned(), None),
                    ("trace".to_owned(), Some(vec![0, 255, 1])),
                ],
                1 => vec![("empty".to_owned(), Some(Vec::new()))],
                _ => Vec::new(),
            };
            let timestamp = ts0 + i64::try_from(i / 2).expect("small index") * 1000;
            TestRecord {
                partition,
                key,
                value,
                headers,
                timestamp,
            }
        })
        .collect()
}

fn of_partition(records: &[TestRecord], partition: i32) -> Vec<TestRecord> {
    records
        .iter()
        .filter(|r| r.partition == partition)
        .cloned()
        .collect()
}

/// Reads back every partition of `topic` and compares with `sent`; also checks
/// that offsets start at 0 without gaps and that the high watermark matches.
async fn assert_topic_holds(broker: &Broker, topic: &str, partitions: i32, sent: &[TestRecord]) {
    for p in 0..partitions {
        let expected = of_partition(sent, p);
        let got = consume_partition(&broker.bootstrap(), topic, p, expected.len(), READ_DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{topic}/{p}: {e:#}\n{}", broker.log_tail(30)));
        let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
        let want_offsets: Vec<i64> = (0..i64::try_from(expected.len()).expect("len")).collect();
        assert_eq!(offsets, want_offsets, "{topic}/{p}: offsets");
        let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
        assert!(
            got.iter().all(|r| r.partition == p),
            "{topic}/{p}: partition"
        );
        assert_same_records(&expected, &got);
        let (low, high) = fetch_watermarks(&broker.bootstrap(), topic, p)
            .await
            .expect("watermarks");
        assert_eq!(
            (low, high),
            (0, want_offsets.len() as i64),
            "{topic}/{p}: watermarks"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_brokers_round_trip_every_codec() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    assert_ne!(src.port(), dst.port());
    let records = sample_records(3, 100, 42);
    assert!(records.iter().any(|r| r.key.is_none()) && records.iter().any(|r| r.value.is_none()));
    for codec in CODECS {
        let topic = format!("harness-{codec}");
        for broker in [&src, &dst] {
            create_topic(
                &broker.bootstrap(),
                &topic,
                3,
                &[("cleanup.policy", "delete")],
            )
            .await?;
            assert_eq!(partition_count(&broker.bootstrap(), &topic).await?, Some(3));
            produce(&broker.bootstrap(), &topic, &records, codec).await?;
            assert_topic_holds(broker, &topic, 3, &records).await;
        }
    }
    // The two clusters are independent: a topic created on one is unknown on the other.
    create_topic(&src.bootstrap(), "only-on-src", 1, &[]).await?;
    assert_eq!(
        partition_count(&dst.bootstrap(), "only-on-src").await?,
        None
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_broker_keeps_data_across_kill9_and_restart() -> anyhow::Result<()> {
    let mut broker = Broker::start_persistent("persist")?;
    let port = broker.port();
    let topic = "durable";
    create_topic(&broker.bootstrap(), topic, 2, &[]).await?;
    let first = sample_records(2, 40, 7);
    produce(&broker.bootstrap(), topic, &first, "gzip").await?;
    assert_topic_holds(&broker, topic, 2, &first).await;

    broker.kill9()?;
    broker.restart()?;
    assert_eq!(broker.port(), port, "restart keeps the port");
    assert_topic_holds(&broker, topic, 2, &first).await;

    // The restarted broker accepts new writes after the old ones.
    let mut second = sample_records(2, 20, 8);
    for r in &mut second {
        r.timestamp += 1_000_000;
    }
    produce(&broker.bootstrap(), topic, &second, "zstd").await?;
    let all: Vec<TestRecord> = first.iter().chain(&second).cloned().collect();
    assert_topic_holds(&broker, topic, 2, &all).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_broker_restarts_empty() -> anyhow::Result<()> {
    let mut broker = Broker::start("volatile")?;
    create_topic(&broker.bootstrap(), "gone", 1, &[]).await?;
    broker.kill9()?;
    broker.restart()?;
    assert_eq!(partition_count(&broker.bootstrap(), "gone").await?, None);
    Ok(())
}

#[tokio::test]
async fn wait_until_polls_then_times_out_with_what() {
    let mut calls = 0;
    wait_until("third call", Duration::from_secs(5), || {
        calls += 1;
        let done = calls >= 3;
        async move { done }
    })
    .await
    .expect("condition met on the third call");
    assert_eq!(calls, 3);

    let err = wait_until("never", Duration::from_millis(300), || async { false })
        .await
        .expect_err("must time out");
    assert!(err.to_string().contains("waiting for never"), "{err}");
}
