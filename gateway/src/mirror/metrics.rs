//! Metric names and recording helpers of the data plane (exported by the
//! Prometheus endpoint that the binary installs). Labels: `link`, `topic`,
//! `partition`, `kind`, `state`.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use crate::kafka::fetch_session::FetchKind;
use crate::mirror::status::PartitionState;

/// Counter: records produced to mirror partitions (records).
pub const RECORDS: &str = "linkgate_mirror_records_total";
/// Counter: record batch bytes produced to mirror partitions (bytes, as on the wire).
pub const BYTES: &str = "linkgate_mirror_bytes_total";
/// Gauge: source high watermark minus next fetch offset (records).
pub const LAG: &str = "linkgate_mirror_lag_records";
/// Gauge: 1 for the current state of a mirror partition, 0 for the others.
pub const STATE: &str = "linkgate_mirror_partition_state";
/// Counter: errors by `kind` (source, destination, state, corrupt_batch, ...).
pub const ERRORS: &str = "linkgate_mirror_errors_total";
/// Histogram: Fetch round trip to a source broker (seconds).
pub const FETCH_LATENCY: &str = "linkgate_fetch_latency_seconds";
/// Counter: Fetch requests to source brokers by `kind`: `incremental` (in a
/// fetch session, KIP-227), `full` (asking for a session) or `sessionless`
/// (requests).
pub const FETCH_REQUESTS: &str = "linkgate_fetch_requests_total";
/// Gauge: source brokers the link's fetcher holds an incremental fetch
/// session with (KIP-227; brokers).
pub const FETCH_SESSIONS: &str = "linkgate_fetch_sessions";
/// Histogram: Produce round trip to a destination broker, acks=all (seconds).
pub const PRODUCE_LATENCY: &str = "linkgate_produce_latency_seconds";
/// Counter: control batches and aborted-transaction batches not mirrored (batches).
pub const SKIPPED_BATCHES: &str = "linkgate_mirror_skipped_batches_total";

/// Sets the state gauge of a partition: 1 for `state`, 0 for all others.
pub fn set_state(link: &str, topic: &str, partition: i32, state: &PartitionState) {
    let current = state.name();
    for name in PartitionState::NAMES {
        gauge!(STATE, "link" => link.to_string(), "topic" => topic.to_string(),
            "partition" => partition.to_string(), "state" => name)
        .set(if name == current { 1.0 } else { 0.0 });
    }
}

/// Counts one error of `kind` on a link.
pub fn add_error(link: &str, kind: &'static str) {
    counter!(ERRORS, "link" => link.to_string(), "kind" => kind).increment(1);
}

/// Counts skipped batches (`reason`: "control" or "aborted").
pub fn add_skipped(link: &str, reason: &'static str, batches: usize) {
    if batches > 0 {
        counter!(SKIPPED_BATCHES, "link" => link.to_string(), "reason" => reason)
            .increment(batches as u64);
    }
}

/// Metric handles of one link, registered once: the hot path records
/// through them without a registry lookup per request.
pub(crate) struct LinkMetrics {
    fetch_latency: Histogram,
    produce_latency: Histogram,
    /// Fetch requests: sessionless, full, incremental.
    fetch_requests: [Counter; 3],
    fetch_sessions: Gauge,
}

impl LinkMetrics {
    /// The handles of link `link`.
    pub(crate) fn new(link: &str) -> Self {
        Self {
            fetch_latency: histogram!(FETCH_LATENCY, "link" => link.to_string()),
            produce_latency: histogram!(PRODUCE_LATENCY, "link" => link.to_string()),
            fetch_requests: [
                FetchKind::Sessionless,
                FetchKind::Full,
                FetchKind::Incremental,
            ]
            .map(|k| counter!(FETCH_REQUESTS, "link" => link.to_string(), "kind" => k.as_str())),
            fetch_sessions: gauge!(FETCH_SESSIONS, "link" => link.to_string()),
        }
    }

    /// Counts one Fetch request of `kind`.
    pub(crate) fn add_fetch(&self, kind: FetchKind) {
        let i = match kind {
            FetchKind::Sessionless => 0,
            FetchKind::Full => 1,
            FetchKind::Incremental => 2,
        };
        self.fetch_requests[i].increment(1);
    }

    /// Sets the number of source brokers with a fetch session in use.
    pub(crate) fn set_fetch_sessions(&self, brokers: usize) {
        self.fetch_sessions.set(brokers as f64);
    }

    /// Records a fetch round trip (seconds).
    pub(crate) fn observe_fetch(&self, seconds: f64) {
        self.fetch_latency.record(seconds);
    }

    /// Records a produce round trip (seconds).
    pub(crate) fn observe_produce(&self, seconds: f64) {
        self.produce_latency.record(seconds);
    }
}

/// Metric handles of one mirror partition, registered on first use and
/// kept with the partition's slot.
#[derive(Clone)]
pub(crate) struct PartitionMetrics {
    records: Counter,
    bytes: Counter,
    lag: Gauge,
}

impl std::fmt::Debug for PartitionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartitionMetrics")
    }
}

impl PartitionMetrics {
    /// The handles of partition `partition` of mirror topic `topic` of `link`.
    pub(crate) fn new(link: &str, topic: &str, partition: i32) -> Self {
        let labels = [
            ("link", link.to_string()),
            ("topic", topic.to_string()),
            ("partition", partition.to_string()),
        ];
        Self {
            records: counter!(RECORDS, &labels),
            bytes: counter!(BYTES, &labels),
            lag: gauge!(LAG, &labels),
        }
    }

    /// Counts records and bytes produced.
    pub(crate) fn add_mirrored(&self, records: u64, bytes: u64) {
        self.records.increment(records);
        self.bytes.increment(bytes);
    }

    /// Sets the lag (records).
    pub(crate) fn set_lag(&self, lag: i64) {
        self.lag.set(lag as f64);
    }
}
