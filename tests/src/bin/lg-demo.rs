//! `lg-demo`: a small librdkafka client for the quickstart (Debian's kcat is
//! built on a librdkafka too old for some brokers). Creates topics, produces
//! sample records, waits until a mirror caught up, and prints records.

use std::time::Duration;

use anyhow::Context;
use linkgate_tests::{
    consume_partition, create_topic, fetch_watermarks, now_ms, partition_count, produce,
    random_payload, wait_until, TestRecord,
};

const USAGE: &str = "usage:
  lg-demo create-topic BOOTSTRAP TOPIC PARTITIONS
  lg-demo produce BOOTSTRAP TOPIC COUNT CODEC
  lg-demo wait-mirrored SOURCE DESTINATION TOPIC TIMEOUT_S
  lg-demo show BOOTSTRAP TOPIC PARTITION COUNT";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["create-topic", bootstrap, topic, partitions] => {
            create_topic(
                bootstrap,
                topic,
                partitions.parse().context("PARTITIONS")?,
                &[],
            )
            .await?;
            println!("created topic {topic} with {partitions} partitions on {bootstrap}");
        }
        ["produce", bootstrap, topic, count, codec] => {
            let count: usize = count.parse().context("COUNT")?;
            let partitions = partition_count(bootstrap, topic)
                .await?
                .context("no such topic")? as i32;
            let mut rng = rand::rng();
            let now = now_ms();
            let records: Vec<TestRecord> = (0..count)
                .map(|i| {
                    let value = format!("order {i}: {}", hex(&random_payload(&mut rng, 24)));
                    TestRecord::new(
                        i as i32 % partitions,
                        Some(format!("customer-{}", i % 97).as_bytes()),
                        Some(value.as_bytes()),
                        now,
                    )
                    .with_header("source", Some(b"lg-demo"))
                })
                .collect();
            produce(bootstrap, topic, &records, codec).await?;
            println!("produced {count} records ({codec}) to {topic} on {bootstrap}");
        }
        ["wait-mirrored", source, destination, topic, timeout] => {
            let partitions = partition_count(source, topic)
                .await?
                .context("no such source topic")? as i32;
            let deadline = Duration::from_secs(timeout.parse().context("TIMEOUT_S")?);
            wait_until(&format!("{topic} mirrored"), deadline, || async {
                let mut behind = 0;
                for p in 0..partitions {
                    let s = fetch_watermarks(source, topic, p)
                        .await
                        .map(|w| w.1)
                        .unwrap_or(0);
                    let d = fetch_watermarks(destination, topic, p)
                        .await
                        .map(|w| w.1)
                        .unwrap_or(0);
                    behind += (s - d).max(0);
                }
                behind == 0
            })
            .await?;
            for p in 0..partitions {
                let (_, s) = fetch_watermarks(source, topic, p).await?;
                let (_, d) = fetch_watermarks(destination, topic, p).await?;
                println!(
                    "  {topic}/{p}: source high watermark {s}, destination high watermark {d}"
                );
            }
        }
        ["show", bootstrap, topic, partition, count] => {
            let records = consume_partition(
                bootstrap,
                topic,
                partition.parse()?,
                count.parse()?,
                Duration::from_secs(30),
            )
            .await?;
            for (offset, r) in records {
                println!(
                    "  offset {offset}: key={} value={} headers={} timestamp={}",
                    r.key
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default(),
                    r.value
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default(),
                    r.headers.len(),
                    r.timestamp
                );
            }
        }
        _ => anyhow::bail!("{USAGE}"),
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
