//! The record-plugin comparison: where the keep-all record-transform fixture
//! is, the gateway config that puts it on the bench link, the plugin host's
//! own measure read from the gateway metrics, and the derived figures
//! (throughput ratio with / without the plugin, plugin cost per record in
//! ns) with their printed table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use linkgate_tests::prometheus::metric_value;

use crate::report::Phase;

/// Environment variable: path of the keep-all plugin component (default
/// [`default_keep_all_path`]).
pub const PLUGIN_ENV: &str = "LINKGATE_BENCH_PLUGIN";
/// Name of the plugin in the gateway config (the `plugin` metric label).
pub const PLUGIN_NAME: &str = "keep-all";
/// Record sizes compared (bytes, 8-byte key + value).
pub const RECORD_SIZES: [usize; 2] = [100, 1024];

/// `plugins/target/wasm32-wasip2/release/linkgate_test_keep_all.wasm` of
/// this source tree, where `tests/bin/build-plugins.sh` writes it.
pub fn default_keep_all_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target/wasm32-wasip2/release/linkgate_test_keep_all.wasm")
}

/// The keep-all component: [`PLUGIN_ENV`] or [`default_keep_all_path`],
/// made absolute (the gateway runs in its own working directory).
///
/// # Errors
/// The file does not exist (build it with `tests/bin/build-plugins.sh`).
pub fn keep_all_path() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os(PLUGIN_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => default_keep_all_path(),
    };
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: run tests/bin/build-plugins.sh (or set {PLUGIN_ENV})",
        path.display()
    );
    path.canonicalize()
        .with_context(|| format!("resolving {}", path.display()))
}

/// The `[[plugins]]` entry declaring the keep-all component at `path` as a
/// record transform named [`PLUGIN_NAME`] (TOML, ends with a newline).
pub fn plugins_section(path: &Path) -> String {
    let path = toml::Value::String(path.display().to_string());
    format!("[[plugins]]\nname = \"{PLUGIN_NAME}\"\npath = {path}\nkind = \"record-transform\"\n")
}

/// The link line putting [`PLUGIN_NAME`] on the link's record-transform
/// chain (TOML, ends with a newline).
pub fn link_line() -> String {
    format!("record_transforms = [\"{PLUGIN_NAME}\"]\n")
}

/// The plugin host's own counters for [`PLUGIN_NAME`], from one scrape of
/// the gateway's `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostMeasure {
    /// `linkgate_plugin_calls_total` (calls, one per non-empty data batch).
    pub calls: f64,
    /// `linkgate_plugin_records_in_total` (records).
    pub records_in: f64,
    /// `linkgate_plugin_records_out_total` (records).
    pub records_out: f64,
    /// `linkgate_plugin_call_seconds_sum` (seconds inside the plugin calls,
    /// as timed by the host).
    pub call_seconds: f64,
}

impl HostMeasure {
    /// The counters of [`PLUGIN_NAME`] in a Prometheus text exposition;
    /// `None` when the plugin made no call (no `calls` sample).
    pub fn from_metrics(text: &str) -> Option<Self> {
        let labels = [("plugin", PLUGIN_NAME)];
        let v = |name: &str| metric_value(text, name, &labels);
        Some(Self {
            calls: v("linkgate_plugin_calls_total")?,
            records_in: v("linkgate_plugin_records_in_total").unwrap_or(0.0),
            records_out: v("linkgate_plugin_records_out_total").unwrap_or(0.0),
            call_seconds: v("linkgate_plugin_call_seconds_sum").unwrap_or(0.0),
        })
    }

    /// Time inside the plugin per record (ns).
    pub fn ns_per_record(&self) -> f64 {
        self.call_seconds * 1e9 / self.records_in.max(1.0)
    }

    /// Time of one call (µs).
    pub fn us_per_call(&self) -> f64 {
        self.call_seconds * 1e6 / self.calls.max(1.0)
    }

    /// Records per call (the source batch size).
    pub fn records_per_call(&self) -> f64 {
        self.records_in / self.calls.max(1.0)
    }
}

/// Gateway CPU and mirrored records when the first mirrored records showed
/// in the metrics (start-up, plugin compile and init, first round).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Startup {
    /// Gateway CPU seconds at that moment.
    pub cpu_seconds: f64,
    /// `linkgate_mirror_records_total` at that moment (records).
    pub records: f64,
}

/// One linkgate run of the comparison.
#[derive(Debug, Clone)]
pub struct Run {
    /// Throughput and gateway CPU of the whole run.
    pub phase: Phase,
    /// See [`Startup`]; `None` when it could not be sampled.
    pub startup: Option<Startup>,
}

impl Run {
    /// Gateway CPU seconds per record after the first mirrored round:
    /// `(cpu - startup cpu) / (records - startup records)`.
    pub fn steady_cpu_per_record(&self) -> Option<f64> {
        let s = self.startup?;
        let records = self.phase.records as f64 - s.records;
        (records > 0.0).then(|| (self.phase.cpu_seconds - s.cpu_seconds) / records)
    }
}

/// One record size mirrored without and with the plugin, from the same
/// source.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Bytes of one record.
    pub record_bytes: usize,
    /// The source fill (producer -> source broker).
    pub fill: Phase,
    /// linkgate without a plugin.
    pub without: Run,
    /// linkgate with the keep-all plugin on the link.
    pub with: Run,
    /// The host's measure in the run with the plugin.
    pub host: Option<HostMeasure>,
}

impl Comparison {
    /// Throughput with the plugin / without.
    pub fn ratio(&self) -> f64 {
        self.with.phase.mib_per_s() / self.without.phase.mib_per_s().max(1e-9)
    }

    /// Plugin cost from the gateway's CPU time (ns per record):
    /// `(CPU s with - CPU s without) / records * 1e9`, whole runs (plugin
    /// compile and init included).
    pub fn cpu_ns_per_record(&self) -> f64 {
        (self.with.phase.cpu_seconds - self.without.phase.cpu_seconds) * 1e9
            / (self.with.phase.records.max(1) as f64)
    }

    /// The same after the first mirrored round of each run (start-up and
    /// plugin compile excluded), ns per record.
    pub fn steady_cpu_ns_per_record(&self) -> Option<f64> {
        Some((self.with.steady_cpu_per_record()? - self.without.steady_cpu_per_record()?) * 1e9)
    }

    /// Gateway CPU seconds until the first mirrored round, with the plugin
    /// minus without (plugin compile and init, mostly).
    pub fn startup_cpu_delta(&self) -> Option<f64> {
        Some(self.with.startup?.cpu_seconds - self.without.startup?.cpu_seconds)
    }
}

fn size_label(bytes: usize) -> String {
    if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// The comparison table: the runs as phase rows, then one line per record
/// size with the ratio and the plugin cost per record three ways.
pub fn render(title: &str, comparisons: &[Comparison]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    crate::report::write_rows(
        &mut out,
        comparisons
            .iter()
            .flat_map(|c| [&c.fill, &c.without.phase, &c.with.phase]),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<8} {:>9} {:>9} {:>9} {:>6} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "record",
        "records",
        "MiB/s w/o",
        "MiB/s pl",
        "ratio",
        "CPU s w/o",
        "CPU s pl",
        "ns/rec",
        "ns/rec",
        "ns/rec",
        "start",
        "calls",
        "rec/call",
    );
    let _ = writeln!(
        out,
        "{:<8} {:>9} {:>9} {:>9} {:>6} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "", "", "", "", "pl/w/o", "", "", "CPU", "CPU steady", "host", "CPU s +", "", "",
    );
    for c in comparisons {
        let host = c.host.as_ref();
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>9.1} {:>9.1} {:>5.2}x {:>8.2} {:>8.2} {:>9.0} {:>9} {:>9} {:>8} {:>8} {:>8}",
            size_label(c.record_bytes),
            c.with.phase.records,
            c.without.phase.mib_per_s(),
            c.with.phase.mib_per_s(),
            c.ratio(),
            c.without.phase.cpu_seconds,
            c.with.phase.cpu_seconds,
            c.cpu_ns_per_record(),
            opt(c.steady_cpu_ns_per_record(), 0),
            opt(host.map(HostMeasure::ns_per_record), 0),
            opt(c.startup_cpu_delta(), 2),
            opt(host.map(|h| h.calls), 0),
            opt(host.map(HostMeasure::records_per_call), 0),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "ratio: throughput with the plugin / without. ns/rec CPU: (gateway CPU s with - without) / records * 1e9, \
         whole runs (plugin compile + init included); CPU steady: the same per run after the first mirrored \
         round; host: linkgate_plugin_call_seconds sum / linkgate_plugin_records_in_total (time inside the \
         plugin calls only, not the batch decode around them). start CPU s +: gateway CPU until the first \
         mirrored round, with - without."
    );
    for c in comparisons {
        if let Some(h) = &c.host {
            let _ = writeln!(
                out,
                "{}: plugin host: {:.0} calls, {:.0} records in, {:.0} out, {:.3} s in calls, {:.1} µs per call",
                size_label(c.record_bytes),
                h.calls,
                h.records_in,
                h.records_out,
                h.call_seconds,
                h.us_per_call(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn phase(name: &str, secs: u64, cpu: f64) -> Phase {
        Phase {
            name: name.to_owned(),
            measured: "x",
            wall: Duration::from_secs(secs),
            bytes: 1_000_000_000,
            records: 10_000_000,
            cpu_seconds: cpu,
            source_broker_cpu: None,
            destination_broker_cpu: None,
        }
    }

    #[test]
    fn host_measure_from_metrics() {
        let text = "\
# TYPE linkgate_plugin_calls_total counter
linkgate_plugin_calls_total{plugin=\"keep-all\",version=\"abc\"} 100
linkgate_plugin_calls_total{plugin=\"other\",version=\"x\"} 7
linkgate_plugin_records_in_total{plugin=\"keep-all\",version=\"abc\"} 200000
linkgate_plugin_records_out_total{plugin=\"keep-all\",version=\"abc\"} 200000
linkgate_plugin_call_seconds{plugin=\"keep-all\",version=\"abc\",quantile=\"0.5\"} 0.001
linkgate_plugin_call_seconds_sum{plugin=\"keep-all\",version=\"abc\"} 0.05
linkgate_plugin_call_seconds_count{plugin=\"keep-all\",version=\"abc\"} 100
";
        let h = HostMeasure::from_metrics(text).expect("samples");
        assert_eq!(h.calls, 100.0);
        assert_eq!(h.records_in, 200_000.0);
        assert!((h.ns_per_record() - 250.0).abs() < 1e-6, "{h:?}");
        assert!((h.us_per_call() - 500.0).abs() < 1e-6, "{h:?}");
        assert!((h.records_per_call() - 2000.0).abs() < 1e-9, "{h:?}");
        assert_eq!(
            HostMeasure::from_metrics("linkgate_mirror_records_total 5\n"),
            None
        );
    }

    #[test]
    fn ratio_and_costs() {
        let without = Run {
            phase: phase("w/o", 10, 5.0),
            startup: Some(Startup {
                cpu_seconds: 0.5,
                records: 1_000_000.0,
            }),
        };
        let with = Run {
            phase: phase("with", 20, 8.0),
            startup: Some(Startup {
                cpu_seconds: 1.5,
                records: 1_000_000.0,
            }),
        };
        let c = Comparison {
            record_bytes: 100,
            fill: phase("fill", 5, 1.0),
            without,
            with,
            host: None,
        };
        assert!((c.ratio() - 0.5).abs() < 1e-9);
        // (8 - 5) s / 1e7 records = 300 ns.
        assert!((c.cpu_ns_per_record() - 300.0).abs() < 1e-6);
        // (6.5 / 9e6 - 4.5 / 9e6) s = 222.2 ns.
        let steady = c.steady_cpu_ns_per_record().expect("startup sampled");
        assert!((steady - 2e9 / 9e6).abs() < 1e-6, "{steady}");
        assert!((c.startup_cpu_delta().expect("sampled") - 1.0).abs() < 1e-9);
        let text = render("title", &[c]);
        assert!(text.contains("100 B"), "{text}");
        assert!(text.contains(" 0.50x"), "{text}");
        assert!(text.contains("      300 "), "{text}");
    }

    #[test]
    fn config_snippets_parse_as_toml() {
        let section = plugins_section(Path::new("/a b/\"q\"/k.wasm"));
        let value: toml::Value = toml::from_str(&section).expect("toml");
        let entry = &value["plugins"][0];
        assert_eq!(entry["name"].as_str(), Some(PLUGIN_NAME));
        assert_eq!(entry["path"].as_str(), Some("/a b/\"q\"/k.wasm"));
        assert_eq!(entry["kind"].as_str(), Some("record-transform"));
        let link: toml::Value = toml::from_str(&link_line()).expect("toml");
        assert_eq!(link["record_transforms"][0].as_str(), Some(PLUGIN_NAME));
    }
}
