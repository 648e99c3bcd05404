//! The benchmark's load and checks, all through librdkafka: the record set
//! (fixed-size records, 1 KiB by default, round-robin over the partitions,
//! payloads from
//! [`linkgate_tests::random_payload`]), a fast producer that writes it and
//! counts delivery reports, a watermark reader that polls until a
//! destination topic has caught up with the source, and a sampled
//! record-by-record comparison of both sides.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::{consume_partition, first_difference, random_payload};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

/// Bytes of one record of the main phases: 8-byte key + value (1 KiB).
pub const RECORD_BYTES: usize = 1024;
/// Key bytes of one record (the record index, big endian).
pub const KEY_BYTES: usize = 8;
/// Value bytes of one record of the main phases.
pub const VALUE_BYTES: usize = RECORD_BYTES - KEY_BYTES;
/// Bytes in one MiB.
const MIB: u64 = 1024 * 1024;
/// Distinct values cycled through (4 MiB, far beyond lz4's 64 KiB window, so
/// a batch compresses only as well as the payloads themselves do).
const VALUE_POOL: usize = 4096;
/// CreateTime of record 0 (ms); record `i` has `BASE_TIMESTAMP_MS + i`.
const BASE_TIMESTAMP_MS: i64 = 1_700_000_000_000;
/// Watermark poll interval while waiting for a mirror to catch up.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often progress is printed while waiting.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);
/// Timeout of one librdkafka watermark query.
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);

/// Producer settings shared by the load producer and the baseline replicator:
/// lz4, acks=all, idempotent, 1 MB batches, 10 ms linger, a large local queue.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("compression.type", "lz4")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "10")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "2000000")
        .set("message.timeout.ms", "300000")
        .set("log_level", "3");
    c
}

/// The record set of one run: `records` records of `record_bytes` bytes
/// over `partitions` partitions.
pub struct Load {
    /// Number of records.
    pub records: u64,
    /// Number of partitions (record `i` goes to partition `i % partitions`).
    pub partitions: i32,
    /// Bytes of one record (key + value).
    pub record_bytes: usize,
    values: Vec<Vec<u8>>,
}

impl Load {
    /// `mib` MiB of 1 KiB records (`mib * 1024` records), values generated
    /// from a fixed seed.
    pub fn new(mib: u64, partitions: i32) -> Self {
        Self::with_record_bytes(mib, partitions, RECORD_BYTES)
    }

    /// `mib` MiB of `record_bytes`-byte records (8-byte key + value;
    /// `mib * 1 MiB / record_bytes` records, rounded down), values generated
    /// from a fixed seed. `record_bytes` below [`KEY_BYTES`] + 1 is raised
    /// to it.
    pub fn with_record_bytes(mib: u64, partitions: i32, record_bytes: usize) -> Self {
        let record_bytes = record_bytes.max(KEY_BYTES + 1);
        let mut rng = StdRng::seed_from_u64(0x6c69_6e6b);
        let values = (0..VALUE_POOL)
            .map(|_| random_payload(&mut rng, record_bytes - KEY_BYTES))
            .collect();
        Self {
            records: mib * MIB / record_bytes as u64,
            partitions,
            record_bytes,
            values,
        }
    }

    /// Total record bytes (keys + values).
    pub fn bytes(&self) -> u64 {
        self.records * self.record_bytes as u64
    }

    /// Partition, key, value and timestamp of record `i`.
    fn record(&self, i: u64) -> (i32, [u8; KEY_BYTES], &[u8], i64) {
        let partition = (i % self.partitions.max(1) as u64) as i32;
        let value = self
            .values
            .get((i % VALUE_POOL as u64) as usize)
            .map_or(&[][..], Vec::as_slice);
        (
            partition,
            i.to_be_bytes(),
            value,
            BASE_TIMESTAMP_MS + i as i64,
        )
    }

    /// Writes every record to `topic` on `bootstrap` with the
    /// [`producer_config`] producer and waits for all delivery reports.
    /// Returns the time from the first send to the last delivery report.
    ///
    /// # Errors
    /// Any failed delivery, or not done within `deadline`.
    pub fn produce(
        &self,
        bootstrap: &str,
        topic: &str,
        deadline: Duration,
    ) -> anyhow::Result<Duration> {
        let producer: ThreadedProducer<CountingContext> = producer_config(bootstrap)
            .create_with_context(CountingContext::default())
            .context("creating load producer")?;
        let start = Instant::now();
        for i in 0..self.records {
            let (partition, key, value, ts) = self.record(i);
            let record = BaseRecord::to(topic)
                .partition(partition)
                .key(&key[..])
                .payload(value)
                .timestamp(ts);
            send_with_backpressure(&producer, record, start, deadline)
                .with_context(|| format!("producing record {i} to {topic}"))?;
            // An atomic load: cheap enough for every record.
            producer.context().check()?;
        }
        producer.context().wait_all(self.records, start, deadline)?;
        Ok(start.elapsed())
    }
}

/// Sends `record`, waiting (1 ms steps) while the local queue is full.
///
/// # Errors
/// Any other send error, or a full queue past `start + deadline`.
pub fn send_with_backpressure<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8]>,
    start: Instant,
    deadline: Duration,
) -> anyhow::Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                anyhow::ensure!(
                    start.elapsed() < deadline,
                    "producer queue still full after {deadline:?}"
                );
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// A producer context that counts delivery reports and keeps the first error.
#[derive(Default)]
pub struct CountingContext {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

impl CountingContext {
    /// Records delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Fails if any delivery failed.
    pub fn check(&self) -> anyhow::Result<()> {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = self
                .first_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            anyhow::bail!(
                "{failed} deliveries failed, first: {}",
                first.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Waits (10 ms steps) until `expected` records were delivered.
    ///
    /// # Errors
    /// A failed delivery, or still short at `start + deadline`.
    pub fn wait_all(
        &self,
        expected: u64,
        start: Instant,
        deadline: Duration,
    ) -> anyhow::Result<()> {
        loop {
            self.check()?;
            let delivered = self.delivered();
            if delivered >= expected {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < deadline,
                "{delivered} of {expected} records delivered after {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Reads the high watermarks of one topic's partitions with one long-lived
/// librdkafka client (ListOffsets), so polling costs little CPU.
pub struct Watermarks {
    consumer: BaseConsumer,
    topic: String,
    partitions: i32,
}

impl Watermarks {
    /// A reader for `topic` partitions `0..partitions` on `bootstrap`.
    pub fn new(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<Self> {
        let consumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "linkgate-bench-watermarks")
            .set("log_level", "0")
            .create()
            .context("creating watermark client")?;
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
            partitions,
        })
    }

    /// High watermark of every partition, in partition order.
    ///
    /// # Errors
    /// Any query failing (e.g. the topic does not exist yet).
    pub fn highs(&self) -> anyhow::Result<Vec<i64>> {
        (0..self.partitions)
            .map(|p| {
                self.consumer
                    .fetch_watermarks(&self.topic, p, WATERMARK_TIMEOUT)
                    .map(|(_, high)| high)
                    .with_context(|| format!("watermarks of {}/{p}", self.topic))
            })
            .collect()
    }

    /// Polls every 100 ms until the high watermarks equal `target` partition
    /// by partition; returns the time elapsed since `start`. `alive` is called
    /// each round and stops the wait with its error (the replicator died).
    /// Progress goes to stderr every 10 s.
    ///
    /// # Errors
    /// A partition beyond its target (duplicates), `alive` failing, or not
    /// caught up at `start + deadline` (with the last query error if any).
    pub fn wait_for(
        &self,
        target: &[i64],
        start: Instant,
        deadline: Duration,
        mut alive: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Duration> {
        let total: i64 = target.iter().sum();
        let mut last_error = String::from("none");
        let mut last_progress = Instant::now();
        let max_rounds = deadline.as_millis() / POLL_INTERVAL.as_millis() + 1;
        for _ in 0..=max_rounds {
            alive()?;
            match self.highs() {
                Ok(highs) => {
                    if let Some((p, (h, t))) = highs
                        .iter()
                        .zip(target)
                        .enumerate()
                        .find(|(_, (h, t))| h > t)
                    {
                        anyhow::bail!(
                            "{}/{p} has {h} records, the source {t}: duplicates",
                            self.topic
                        );
                    }
                    if highs.as_slice() == target {
                        return Ok(start.elapsed());
                    }
                    if last_progress.elapsed() >= PROGRESS_INTERVAL {
                        last_progress = Instant::now();
                        let done: i64 = highs.iter().sum();
                        eprintln!(
                            "[bench]   {:>6.1} s: {done} of {total} records on the destination",
                            start.elapsed().as_secs_f64()
                        );
                    }
                }
                Err(e) => last_error = format!("{e:#}"),
            }
            if start.elapsed() >= deadline {
                break;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        anyhow::bail!(
            "destination {} did not reach {target:?} within {deadline:?} (last query error: {last_error})",
            self.topic
        )
    }
}

/// Reads the first `per_partition` records of every partition of `topic` on
/// both clusters and fails at the first difference in offset, key, value,
/// headers or timestamp. Returns the number of records compared.
///
/// # Errors
/// A read failing or the records differing.
pub async fn compare_samples(
    src: &str,
    dst: &str,
    topic: &str,
    partitions: i32,
    per_partition: usize,
) -> anyhow::Result<usize> {
    let deadline = Duration::from_secs(60);
    let mut compared = 0;
    for p in 0..partitions {
        let a = consume_partition(src, topic, p, per_partition, deadline)
            .await
            .with_context(|| format!("reading source {topic}/{p}"))?;
        let b = consume_partition(dst, topic, p, per_partition, deadline)
            .await
            .with_context(|| format!("reading destination {topic}/{p}"))?;
        let offsets_a: Vec<i64> = a.iter().map(|(o, _)| *o).collect();
        let offsets_b: Vec<i64> = b.iter().map(|(o, _)| *o).collect();
        anyhow::ensure!(
            offsets_a == offsets_b,
            "{topic}/{p}: source offsets {offsets_a:?}, destination offsets {offsets_b:?}"
        );
        let a: Vec<_> = a.into_iter().map(|(_, r)| r).collect();
        let b: Vec<_> = b.into_iter().map(|(_, r)| r).collect();
        if let Some(diff) = first_difference(&a, &b) {
            anyhow::bail!("{topic}/{p}: mirrored records differ from the source: {diff}");
        }
        compared += a.len();
    }
    Ok(compared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_sizes_and_counts() {
        let l = Load::new(2, 8);
        assert_eq!(
            (l.records, l.record_bytes, l.bytes()),
            (2048, 1024, 2 << 20)
        );
        let small = Load::with_record_bytes(1, 8, 100);
        assert_eq!(small.records, (1 << 20) / 100);
        assert_eq!(small.bytes(), small.records * 100);
        for i in [0, 1, 7, 4095, 4096, small.records - 1] {
            let (partition, key, value, ts) = small.record(i);
            assert_eq!(partition, (i % 8) as i32);
            assert_eq!(key.len() + value.len(), 100, "record {i}");
            assert_eq!(ts, BASE_TIMESTAMP_MS + i as i64);
        }
    }
}
