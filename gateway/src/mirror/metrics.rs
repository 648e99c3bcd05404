//! Metric names and recording helpers of the data plane (exported by the
//! Prometheus endpoint that the binary installs). Labels: `link`, `topic`,
//! `partition`, `kind`, `state`.

use metrics::{counter, gauge, histogram};

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

/// Sets the lag gauge of a partition (records).
pub fn set_lag(link: &str, topic: &str, partition: i32, lag: i64) {
    gauge!(LAG, "link" => link.to_string(), "topic" => topic.to_string(),
        "partition" => partition.to_string())
    .set(lag as f64);
}

/// Counts records and bytes produced to a mirror partition.
pub fn add_mirrored(link: &str, topic: &str, partition: i32, records: u64, bytes: u64) {
    let labels = [
        ("link", link.to_string()),
        ("topic", topic.to_string()),
        ("partition", partition.to_string()),
    ];
    counter!(RECORDS, &labels).increment(records);
    counter!(BYTES, &labels).increment(bytes);
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

/// Records a fetch round trip (seconds).
pub fn observe_fetch(link: &str, seconds: f64) {
    histogram!(FETCH_LATENCY, "link" => link.to_string()).record(seconds);
}

/// Records a produce round trip (seconds).
pub fn observe_produce(link: &str, seconds: f64) {
    histogram!(PRODUCE_LATENCY, "link" => link.to_string()).record(seconds);
}
