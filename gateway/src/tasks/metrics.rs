//! Metrics of link task runs. Labels: `link`, `task` (Confluent task name).

use metrics::{counter, gauge, histogram};

/// Gauge: end of the task's last run (seconds since the Unix epoch).
pub const LAST_RUN: &str = "linkgate_link_task_last_run_timestamp_seconds";
/// Histogram: duration of a task run (seconds).
pub const DURATION: &str = "linkgate_link_task_run_seconds";
/// Counter: items a task synced (offset sync: partition offsets committed).
pub const ITEMS: &str = "linkgate_link_task_items_synced_total";
/// Counter: task errors (a failed run, or one per failed item).
pub const ERRORS: &str = "linkgate_link_task_errors_total";

/// Records one run: its end time, duration, items and errors.
pub fn record_run(link: &str, task: &'static str, seconds: f64, items: u64, errors: usize) {
    let labels = [("link", link.to_string()), ("task", task.to_string())];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    gauge!(LAST_RUN, &labels).set(now);
    histogram!(DURATION, &labels).record(seconds);
    counter!(ITEMS, &labels).increment(items);
    counter!(ERRORS, &labels).increment(errors as u64);
}
