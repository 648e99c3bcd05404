//! Producing and reading records with librdkafka (the `rdkafka` crate), the
//! real client nobody here wrote: topic creation, idempotent produce with an
//! explicit partition and timestamp per record, read-back of one partition
//! from the beginning, watermarks, payload generation and record comparison.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::seq::IndexedRandom;
use rand::Rng;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::security::ClientSecurity;
use crate::wait::{wait_until, POLL_INTERVAL};

/// Deadline for librdkafka admin and metadata operations in this module: 30 s.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(30);

/// Compression codecs accepted by [`produce`] (librdkafka `compression.type`).
pub const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// One record as a client sees it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TestRecord {
    /// Partition the record is produced to / was read from.
    pub partition: i32,
    /// Record key; `None` is a null key (distinct from an empty key).
    pub key: Option<Vec<u8>>,
    /// Record value; `None` is a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers in order; a header value may be null.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp in ms since the epoch (CreateTime when produced; when read,
    /// whatever the broker returned, -1 if none). Keep it recent (see
    /// [`now_ms`]): brokers delete records older than the topic's
    /// `retention.ms` (7 days by default) by this timestamp.
    pub timestamp: i64,
}

impl TestRecord {
    /// A record without headers.
    pub fn new(partition: i32, key: Option<&[u8]>, value: Option<&[u8]>, timestamp: i64) -> Self {
        Self {
            partition,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: Vec::new(),
            timestamp,
        }
    }

    /// Appends a header (builder style).
    pub fn with_header(mut self, name: &str, value: Option<&[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.map(<[u8]>::to_vec)));
        self
    }

    fn from_message(msg: &BorrowedMessage<'_>) -> Self {
        let headers = msg
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            partition: msg.partition(),
            key: msg.key().map(<[u8]>::to_vec),
            value: msg.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: msg.timestamp().to_millis().unwrap_or(-1),
        }
    }
}

impl fmt::Debug for TestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TestRecord {{ partition: {}, timestamp: {}, key: {}, value: {}, headers: [",
            self.partition,
            self.timestamp,
            show_bytes(self.key.as_deref()),
            show_bytes(self.value.as_deref())
        )?;
        for (i, (k, v)) in self.headers.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{k:?}: {}", show_bytes(v.as_deref()))?;
        }
        write!(f, "] }}")
    }
}

/// The current time in ms since the Unix epoch (for record timestamps).
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Creates `topic` with `partitions` partitions, replication factor 1 and the
/// given topic configs (CreateTopics via librdkafka's AdminClient), then waits
/// (up to 30 s) until Metadata shows every partition with a leader.
///
/// # Errors
/// Client creation, the broker's per-topic error (e.g. TopicAlreadyExists), or
/// the topic not visible in time.
pub async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    create_topic_with(
        bootstrap,
        &ClientSecurity::plaintext(),
        topic,
        partitions,
        configs,
    )
    .await
}

/// [`create_topic`] with the client security `security` (TLS, SASL).
///
/// # Errors
/// As [`create_topic`].
pub async fn create_topic_with(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, security)
        .create()
        .context("creating AdminClient")?;
    let new_topic = configs.iter().fold(
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
        |t, (k, v)| t.set(k, v),
    );
    let opts = AdminOptions::new().operation_timeout(Some(CLIENT_DEADLINE));
    let results = admin
        .create_topics([&new_topic], &opts)
        .await
        .with_context(|| format!("CreateTopics {topic} on {bootstrap}"))?;
    for result in results {
        if let Err((name, code)) = result {
            anyhow::bail!("CreateTopics {name} on {bootstrap} failed: {code}");
        }
    }
    let expected = usize::try_from(partitions).unwrap_or(0);
    wait_until(
        &format!("topic {topic} with {partitions} led partitions on {bootstrap}"),
        CLIENT_DEADLINE,
        || async {
            matches!(
                partition_leaders(bootstrap, security, topic).await,
                Ok(Some(leaders)) if leaders.len() == expected && leaders.iter().all(|l| *l >= 0)
            )
        },
    )
    .await
}

/// Number of partitions of `topic` per Metadata, `None` if the topic does not exist.
///
/// # Errors
/// Client creation or Metadata request failure.
pub async fn partition_count(bootstrap: &str, topic: &str) -> anyhow::Result<Option<usize>> {
    partition_count_with(bootstrap, &ClientSecurity::plaintext(), topic).await
}

/// [`partition_count`] with the client security `security`.
///
/// # Errors
/// As [`partition_count`].
pub async fn partition_count_with(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
) -> anyhow::Result<Option<usize>> {
    Ok(partition_leaders(bootstrap, security, topic)
        .await?
        .map(|l| l.len()))
}

/// Leader broker id of each partition of `topic` (-1 while leaderless), `None` if unknown topic.
async fn partition_leaders(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
) -> anyhow::Result<Option<Vec<i32>>> {
    let bootstrap = bootstrap.to_owned();
    let security = security.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let client = metadata_client(&bootstrap, &security)?;
        let metadata = client
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .with_context(|| format!("Metadata for {topic} from {bootstrap}"))?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Ok(None);
        };
        if t.error().is_some() || t.partitions().is_empty() {
            return Ok(None);
        }
        let mut leaders: Vec<(i32, i32)> = t
            .partitions()
            .iter()
            .map(|p| (p.id(), p.leader()))
            .collect();
        leaders.sort_unstable();
        Ok(Some(leaders.into_iter().map(|(_, l)| l).collect()))
    })
    .await
    .context("metadata task panicked")?
}

/// Low and high watermark offsets of one partition (ListOffsets via librdkafka).
///
/// # Errors
/// Client creation or request failure within 10 s.
pub async fn fetch_watermarks(
    bootstrap: &str,
    topic: &str,
    partition: i32,
) -> anyhow::Result<(i64, i64)> {
    fetch_watermarks_with(bootstrap, &ClientSecurity::plaintext(), topic, partition).await
}

/// [`fetch_watermarks`] with the client security `security`.
///
/// # Errors
/// As [`fetch_watermarks`].
pub async fn fetch_watermarks_with(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
    partition: i32,
) -> anyhow::Result<(i64, i64)> {
    let bootstrap = bootstrap.to_owned();
    let security = security.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        metadata_client(&bootstrap, &security)?
            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
            .with_context(|| format!("watermarks of {topic}/{partition} on {bootstrap}"))
    })
    .await
    .context("watermark task panicked")?
}

/// A librdkafka config with `bootstrap.servers` and the settings of
/// `security` (see [`ClientSecurity::apply`]): the start of every client
/// this module makes.
pub fn client_config(bootstrap: &str, security: &ClientSecurity) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    security.apply(&mut config);
    config
}

fn metadata_client(bootstrap: &str, security: &ClientSecurity) -> anyhow::Result<BaseConsumer> {
    client_config(bootstrap, security)
        .set("group.id", "linkgate-tests-metadata")
        .set("log_level", "3")
        .create()
        .context("creating metadata client")
}

/// Produces `records` in order to `topic` with an idempotent librdkafka
/// producer (`acks=all`, `enable.idempotence=true`), each record to its own
/// `partition` with its own CreateTime `timestamp`, compressed with
/// `compression` (one of [`CODECS`]). Waits for every delivery report.
///
/// # Errors
/// Unknown codec, client creation, any record not delivered (the first failure
/// is reported with its index), or a delivery to another partition.
pub async fn produce(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
    compression: &str,
) -> anyhow::Result<()> {
    produce_with(
        bootstrap,
        &ClientSecurity::plaintext(),
        topic,
        records,
        compression,
    )
    .await
}

/// [`produce`] with the client security `security` (TLS, SASL).
///
/// # Errors
/// As [`produce`].
pub async fn produce_with(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
    records: &[TestRecord],
    compression: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        CODECS.contains(&compression),
        "unknown compression {compression:?}, expected one of {CODECS:?}"
    );
    let producer: FutureProducer = client_config(bootstrap, security)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", compression)
        .set("linger.ms", "5")
        .set("message.max.bytes", "4194304")
        .set("message.timeout.ms", "60000")
        .create()
        .context("creating producer")?;
    let enqueue_deadline = Instant::now() + Duration::from_secs(60);
    let mut deliveries = Vec::with_capacity(records.len());
    for (index, r) in records.iter().enumerate() {
        let headers = r.headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: v.as_deref(),
            })
        });
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .partition(r.partition)
            .timestamp(r.timestamp)
            .headers(headers);
        if let Some(k) = &r.key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            record = record.payload(v.as_slice());
        }
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < enqueue_deadline =>
                {
                    // Local queue full: let the producer thread drain it.
                    record = back;
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                Err((e, _)) => {
                    return Err(e).with_context(|| format!("enqueueing record {index} for {topic}"))
                }
            }
        }
    }
    for (index, delivery) in deliveries.into_iter().enumerate() {
        let expected_partition = records.get(index).map_or(-1, |r| r.partition);
        match delivery.await {
            Ok(Ok(d)) => anyhow::ensure!(
                d.partition == expected_partition,
                "record {index} delivered to partition {} instead of {expected_partition}",
                d.partition
            ),
            Ok(Err((e, _))) => {
                return Err(e).with_context(|| {
                    format!(
                        "delivering record {index} to {topic}/{expected_partition} on {bootstrap}"
                    )
                })
            }
            Err(_) => anyhow::bail!("delivery report of record {index} lost (producer dropped)"),
        }
    }
    Ok(())
}

/// Produces `records` in order to `topic` as one-record batches
/// (librdkafka `batch.num.messages=1`, `linger.ms=0`, uncompressed,
/// `acks=all`), each to its `partition` with its timestamp, for a log of
/// many small batches. Not idempotent, so requests are pipelined without
/// librdkafka's limit of 5 in flight; no retries (`retries=0`), so the
/// order cannot change: a failed delivery fails the call. Gives up after
/// `deadline`.
///
/// # Errors
/// Client creation, a record not delivered, or `deadline` passed.
pub async fn produce_one_record_batches(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
    deadline: Duration,
) -> anyhow::Result<()> {
    let producer: FutureProducer = client_config(bootstrap, &ClientSecurity::plaintext())
        .set("enable.idempotence", "false")
        .set("acks", "all")
        .set("retries", "0")
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .set("compression.type", "none")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "60000")
        .create()
        .context("creating producer")?;
    let end = Instant::now() + deadline;
    let mut deliveries = Vec::with_capacity(records.len());
    for (index, r) in records.iter().enumerate() {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .partition(r.partition)
            .timestamp(r.timestamp);
        if let Some(k) = &r.key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            record = record.payload(v.as_slice());
        }
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < end =>
                {
                    record = back;
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                Err((e, _)) => {
                    return Err(e).with_context(|| format!("enqueueing record {index} for {topic}"))
                }
            }
        }
    }
    for (index, delivery) in deliveries.into_iter().enumerate() {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, delivery).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err((e, _)))) => {
                return Err(e).with_context(|| format!("delivering record {index} to {topic}"))
            }
            Ok(Err(_)) => anyhow::bail!("delivery report of record {index} lost"),
            Err(_) => anyhow::bail!("record {index} of {topic} not delivered within {deadline:?}"),
        }
    }
    Ok(())
}

/// Reads `topic`/`partition` from the beginning with a librdkafka consumer
/// (manual assign, `isolation.level=read_committed`, `check.crcs=true`, no
/// group commits) until `expected` records were read. Returns `(offset,
/// record)` pairs in offset order; records after the first `expected` are
/// not read.
///
/// # Errors
/// Client creation/assign failure, or fewer than `expected` records read
/// within `deadline` (the error says how many, and the last client error).
pub async fn consume_partition(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    expected: usize,
    deadline: Duration,
) -> anyhow::Result<Vec<(i64, TestRecord)>> {
    consume_partition_with(
        bootstrap,
        &ClientSecurity::plaintext(),
        topic,
        partition,
        expected,
        deadline,
    )
    .await
}

/// [`consume_partition`] with the client security `security` (TLS, SASL).
///
/// # Errors
/// As [`consume_partition`].
pub async fn consume_partition_with(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
    partition: i32,
    expected: usize,
    deadline: Duration,
) -> anyhow::Result<Vec<(i64, TestRecord)>> {
    let group = format!("linkgate-tests-{:016x}", rand::random::<u64>());
    let consumer: StreamConsumer = client_config(bootstrap, security)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .set("check.crcs", "true")
        .create()
        .context("creating consumer")?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .context("building assignment")?;
    consumer
        .assign(&assignment)
        .context("assigning partition")?;
    let start = Instant::now();
    let mut out = Vec::with_capacity(expected);
    let mut last_error: Option<KafkaError> = None;
    while out.len() < expected {
        let remaining = deadline.saturating_sub(start.elapsed());
        match tokio::time::timeout(remaining, consumer.recv()).await {
            Err(_) => {
                let last = last_error.map_or_else(|| "none".to_owned(), |e| e.to_string());
                anyhow::bail!(
                    "read {} of {expected} records from {topic}/{partition} on {bootstrap} \
                     within {deadline:?} (last client error: {last})",
                    out.len()
                );
            }
            Ok(Err(e)) => last_error = Some(e),
            Ok(Ok(msg)) => out.push((msg.offset(), TestRecord::from_message(&msg))),
        }
    }
    Ok(out)
}

/// `len` random bytes with repetition: runs copied from a small random
/// dictionary mixed with single random bytes, so codecs compress it but it is
/// not constant.
pub fn random_payload<R: Rng + ?Sized>(rng: &mut R, len: usize) -> Vec<u8> {
    let dictionary: Vec<Vec<u8>> = (0..8)
        .map(|_| {
            let n = rng.random_range(4..=16);
            (0..n).map(|_| rng.random::<u8>()).collect()
        })
        .collect();
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        match dictionary.choose(rng) {
            Some(word) if rng.random_bool(0.75) => out.extend_from_slice(word),
            _ => out.push(rng.random::<u8>()),
        }
    }
    out.truncate(len);
    out
}

/// Asserts that `dst` holds the same records as `src` in the same order:
/// key, value, headers and timestamp are compared (not the partition).
///
/// # Panics
/// On the first difference, naming the index, the field and both values, or
/// on a length difference, showing the first missing or extra record.
#[track_caller]
pub fn assert_same_records(src: &[TestRecord], dst: &[TestRecord]) {
    if let Some(diff) = first_difference(src, dst) {
        panic!("records differ: {diff}");
    }
}

/// The first difference between `src` and `dst` as [`assert_same_records`]
/// describes it, or `None` when they are the same.
pub fn first_difference(src: &[TestRecord], dst: &[TestRecord]) -> Option<String> {
    for (i, (s, d)) in src.iter().zip(dst).enumerate() {
        let field = if s.key != d.key {
            Some((
                "key",
                show_bytes(s.key.as_deref()),
                show_bytes(d.key.as_deref()),
            ))
        } else if s.value != d.value {
            Some((
                "value",
                show_bytes(s.value.as_deref()),
                show_bytes(d.value.as_deref()),
            ))
        } else if s.headers != d.headers {
            Some(("headers", format!("{s:?}"), format!("{d:?}")))
        } else if s.timestamp != d.timestamp {
            Some((
                "timestamp",
                s.timestamp.to_string(),
                d.timestamp.to_string(),
            ))
        } else {
            None
        };
        if let Some((name, sv, dv)) = field {
            return Some(format!(
                "record {i} (of {} src, {} dst) differs in {name}:\n  src: {sv}\n  dst: {dv}\n  src record: {s:?}\n  dst record: {d:?}",
                src.len(),
                dst.len()
            ));
        }
    }
    match src.len().cmp(&dst.len()) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(format!(
            "dst has {} records, src has {}; first missing: record {}: {:?}",
            dst.len(),
            src.len(),
            dst.len(),
            src.get(dst.len())
        )),
        std::cmp::Ordering::Less => Some(format!(
            "dst has {} records, src has {}; first extra: record {}: {:?}",
            dst.len(),
            src.len(),
            src.len(),
            dst.get(src.len())
        )),
    }
}

/// `null`, or `b"..."` (escaped ASCII, cut after 64 bytes) with the length.
fn show_bytes(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".to_owned(),
        Some(b) => {
            let shown = b.get(..64).unwrap_or(b);
            let more = if b.len() > shown.len() { "..." } else { "" };
            format!("b\"{}\"{more} ({} bytes)", shown.escape_ascii(), b.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn random_payload_compresses_but_varies() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = random_payload(&mut rng, 4096);
        let b = random_payload(&mut rng, 4096);
        assert_eq!(a.len(), 4096);
        assert_ne!(a, b);
        assert!(a.iter().any(|x| *x != a[0]), "payload is constant");
        let distinct_windows: std::collections::HashSet<&[u8]> = a.windows(4).collect();
        assert!(
            distinct_windows.len() < a.len() / 2,
            "no repetition: {}",
            distinct_windows.len()
        );
        assert!(random_payload(&mut rng, 0).is_empty());
        assert_eq!(random_payload(&mut rng, 1).len(), 1);
    }

    #[test]
    fn first_difference_names_field_and_index() {
        let a = TestRecord::new(0, Some(b"k"), Some(b"v"), 10).with_header("h", None);
        let mut b = a.clone();
        assert_eq!(
            first_difference(std::slice::from_ref(&a), std::slice::from_ref(&b)),
            None
        );
        b.timestamp = 11;
        let diff =
            first_difference(&[a.clone(), a.clone()], &[a.clone(), b.clone()]).expect("diff");
        assert!(
            diff.contains("record 1") && diff.contains("timestamp"),
            "{diff}"
        );
        b = a.clone();
        b.key = None;
        let diff = first_difference(std::slice::from_ref(&a), &[b]).expect("diff");
        assert!(diff.contains("key") && diff.contains("null"), "{diff}");
        let diff =
            first_difference(&[a.clone(), a.clone()], std::slice::from_ref(&a)).expect("diff");
        assert!(diff.contains("first missing: record 1"), "{diff}");
        let c = a.clone().with_header("x", Some(b"1"));
        let diff = first_difference(&[a], &[c]).expect("diff");
        assert!(diff.contains("headers"), "{diff}");
    }
}
