//! The baseline replicator, the way MirrorMaker 2 moves data: a librdkafka
//! consumer (read_committed, all partitions assigned from the beginning,
//! large fetches) whose records are produced one by one, to the same
//! partition with the same key, value, headers and timestamp, by an
//! idempotent acks=all lz4 producer. librdkafka decompresses every fetched
//! batch and compresses every produced one, which is the cost linkgate's
//! pass-through avoids.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::create_topic;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::load::{producer_config, send_with_backpressure, CountingContext};

/// What to replicate.
pub struct Job {
    /// Source bootstrap servers.
    pub source: String,
    /// Destination bootstrap servers.
    pub destination: String,
    /// Topic name on both sides.
    pub topic: String,
    /// Partition count (the destination topic is created with it).
    pub partitions: i32,
    /// Records to copy (sum of the source high watermarks).
    pub records: u64,
    /// Bound on the whole run.
    pub deadline: Duration,
}

/// Creates the destination topic, then copies `job.records` records and
/// waits for their delivery reports. Returns the number of records copied.
/// `stop` set by the caller ends the run early with an error.
///
/// # Errors
/// Topic creation, client errors, a failed delivery, `stop`, or the deadline.
pub fn run(
    job: &Job,
    runtime: &tokio::runtime::Handle,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<u64> {
    let start = Instant::now();
    runtime
        .block_on(create_topic(
            &job.destination,
            &job.topic,
            job.partitions,
            &[],
        ))
        .context("creating the destination topic")?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &job.source)
        .set("group.id", "linkgate-bench-baseline")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .set("fetch.max.bytes", "67108864")
        .set("max.partition.fetch.bytes", "8388608")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "262144")
        .set("log_level", "3")
        .create()
        .context("creating baseline consumer")?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..job.partitions {
        assignment
            .add_partition_offset(&job.topic, p, Offset::Beginning)
            .context("building assignment")?;
    }
    consumer
        .assign(&assignment)
        .context("assigning partitions")?;
    let producer: ThreadedProducer<CountingContext> = producer_config(&job.destination)
        .create_with_context(CountingContext::default())
        .context("creating baseline producer")?;

    let mut copied = 0u64;
    let mut last_error = String::from("none");
    while copied < job.records {
        anyhow::ensure!(
            !stop.load(Ordering::Relaxed),
            "stopped after {copied} records"
        );
        anyhow::ensure!(
            start.elapsed() < job.deadline,
            "copied {copied} of {} records within {:?} (last consumer error: {last_error})",
            job.records,
            job.deadline
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => last_error = e.to_string(),
            Some(Ok(msg)) => {
                let mut record: BaseRecord<'_, [u8], [u8]> =
                    BaseRecord::to(&job.topic).partition(msg.partition());
                if let Some(k) = msg.key() {
                    record = record.key(k);
                }
                if let Some(v) = msg.payload() {
                    record = record.payload(v);
                }
                if let Some(ts) = msg.timestamp().to_millis() {
                    record = record.timestamp(ts);
                }
                if let Some(h) = msg.headers() {
                    if h.count() > 0 {
                        record = record.headers(h.detach());
                    }
                }
                send_with_backpressure(&producer, record, start, job.deadline)?;
                copied += 1;
                // An atomic load: cheap enough for every record.
                producer.context().check()?;
            }
        }
    }
    producer
        .context()
        .wait_all(job.records, start, job.deadline)?;
    Ok(copied)
}
