//! Metric names and recording helpers of the plugin host (exported by the
//! Prometheus endpoint that the binary installs). Labels: `plugin` (name),
//! `version` (content hash), `kind` (error label, [`PluginError::kind`]),
//! `result` (`ok` / `failed`), `action` (`skip` / `pass`).
//!
//! [`PluginError::kind`]: super::PluginError::kind

use std::sync::Arc;

use metrics::{counter, gauge, histogram, Label, SharedString};

/// Counter: calls into a plugin (calls), self-check calls excluded.
pub const CALLS: &str = "linkgate_plugin_calls_total";
/// Counter: records given to a record transform (records).
pub const RECORDS_IN: &str = "linkgate_plugin_records_in_total";
/// Counter: records a record transform kept or replaced (records).
pub const RECORDS_OUT: &str = "linkgate_plugin_records_out_total";
/// Counter: failed calls and loads by `kind` (`trap`, `timeout`, `memory`,
/// `invalid_result`, `init`, ...).
pub const ERRORS: &str = "linkgate_plugin_errors_total";
/// Histogram: duration of one call, instantiation after a trap included
/// (seconds).
pub const CALL_SECONDS: &str = "linkgate_plugin_call_seconds";
/// Gauge: 1 for the version of a plugin the registry currently serves, 0
/// for versions it replaced.
pub const LOADED: &str = "linkgate_plugin_loaded";
/// Counter: reloads (registry loads and hot swaps) by `result` (`ok`,
/// `failed`).
pub const RELOADS: &str = "linkgate_plugin_reloads_total";
/// Counter: failed calls absorbed by an `on_error` policy, by `action`
/// (`skip`, `pass`). `fail` surfaces as an error instead.
pub const ON_ERROR: &str = "linkgate_plugin_on_error_total";
/// Counter: records dropped because a record transform failed with
/// `on_error = skip` (records).
pub const SKIPPED_RECORDS: &str = "linkgate_plugin_skipped_records_total";

/// The `plugin` (name) and `version` labels of one plugin version, built
/// once per load: the values are shared, so counting a call clones no
/// strings.
#[derive(Debug, Clone)]
pub struct CallLabels([Label; 2]);

impl CallLabels {
    /// Labels for plugin `plugin` at content version `version`.
    pub fn new(plugin: &str, version: &str) -> Self {
        let shared = |v: &str| SharedString::from(Arc::<str>::from(v));
        CallLabels([
            Label::new("plugin", shared(plugin)),
            Label::new("version", shared(version)),
        ])
    }
}

/// Counts one call and records its duration (seconds).
pub fn observe_call(labels: &CallLabels, seconds: f64) {
    counter!(CALLS, labels.0.iter()).increment(1);
    histogram!(CALL_SECONDS, labels.0.iter()).record(seconds);
}

/// Counts records into and out of a record transform call.
pub fn add_records(labels: &CallLabels, records_in: usize, records_out: usize) {
    counter!(RECORDS_IN, labels.0.iter()).increment(records_in as u64);
    counter!(RECORDS_OUT, labels.0.iter()).increment(records_out as u64);
}

/// Counts one error of `kind` ([`super::PluginError::kind`]).
pub fn add_error(plugin: &str, version: &str, kind: &'static str) {
    counter!(ERRORS, "plugin" => plugin.to_string(), "version" => version.to_string(),
        "kind" => kind)
    .increment(1);
}

/// Sets the loaded gauge of a plugin version (1 current, 0 replaced).
pub fn set_loaded(plugin: &str, version: &str, current: bool) {
    gauge!(LOADED, "plugin" => plugin.to_string(), "version" => version.to_string())
        .set(if current { 1.0 } else { 0.0 });
}

/// Counts one reload with `result` `ok` or `failed`.
pub fn add_reload(plugin: &str, ok: bool) {
    counter!(RELOADS, "plugin" => plugin.to_string(),
        "result" => if ok { "ok" } else { "failed" })
    .increment(1);
}

/// Counts one failed call handled by `on_error` = `skip` or `pass`, and the
/// records a skip dropped.
pub fn add_on_error(plugin: &str, version: &str, action: &'static str, skipped_records: usize) {
    let labels = [
        ("plugin", plugin.to_string()),
        ("version", version.to_string()),
    ];
    counter!(ON_ERROR, "plugin" => plugin.to_string(), "version" => version.to_string(),
        "action" => action)
    .increment(1);
    if skipped_records > 0 {
        counter!(SKIPPED_RECORDS, &labels).increment(skipped_records as u64);
    }
}
