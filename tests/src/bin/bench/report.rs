//! The printed result: one row per phase (throughput, records/s, CPU per GiB
//! of the measured process, broker CPU) and the ratios between phases.

use std::fmt::Write as _;
use std::time::Duration;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// Measurements of one phase.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Row label.
    pub name: String,
    /// Which process the `cpu_seconds` column belongs to.
    pub measured: &'static str,
    /// Wall time of the phase (see the phase's definition in `main.rs`).
    pub wall: Duration,
    /// Record bytes moved (keys + values).
    pub bytes: u64,
    /// Records moved.
    pub records: u64,
    /// CPU seconds of the measured process.
    pub cpu_seconds: f64,
    /// CPU seconds of the source broker during the phase (`None`: no source).
    pub source_broker_cpu: Option<f64>,
    /// CPU seconds of the destination broker during the phase.
    pub destination_broker_cpu: Option<f64>,
}

impl Phase {
    /// Throughput, MiB of record bytes per second.
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / MIB / self.wall.as_secs_f64().max(1e-9)
    }

    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// CPU seconds of the measured process per GiB of record bytes.
    pub fn cpu_per_gib(&self) -> f64 {
        self.cpu_seconds / (self.bytes as f64 / GIB).max(1e-12)
    }

    /// Average CPU use of the measured process, in cores.
    pub fn cores(&self) -> f64 {
        self.cpu_seconds / self.wall.as_secs_f64().max(1e-9)
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

/// Writes the column header and one row per phase to `out`.
pub fn write_rows<'a>(out: &mut String, phases: impl IntoIterator<Item = &'a Phase>) {
    let _ = writeln!(
        out,
        "{:<34} {:>8} {:>10} {:>9} {:>7} {:>6} {:>6} {:>9} {:>9}  CPU of",
        "phase",
        "MiB/s",
        "records/s",
        "CPU s/GiB",
        "wall s",
        "CPU s",
        "cores",
        "src brk s",
        "dst brk s",
    );
    for p in phases {
        let _ = writeln!(
            out,
            "{:<34} {:>8.1} {:>10.0} {:>9.2} {:>7.2} {:>6.2} {:>6.2} {:>9} {:>9}  {}",
            p.name,
            p.mib_per_s(),
            p.records_per_s(),
            p.cpu_per_gib(),
            p.wall.as_secs_f64(),
            p.cpu_seconds,
            p.cores(),
            opt(p.source_broker_cpu),
            opt(p.destination_broker_cpu),
            p.measured
        );
    }
}

/// The table and ratios. `ceiling`, `linkgate` and `baseline` are the three
/// rows compared; `extra` rows (e.g. a second ceiling sample) are printed
/// but not used in ratios.
pub fn render(
    header: &str,
    ceiling: &Phase,
    linkgate: &Phase,
    baseline: &Phase,
    extra: &[Phase],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}");
    write_rows(
        &mut out,
        [ceiling, linkgate, baseline].into_iter().chain(extra),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "linkgate / baseline throughput:   {:>6.2}x",
        linkgate.mib_per_s() / baseline.mib_per_s().max(1e-9)
    );
    let _ = writeln!(
        out,
        "baseline / linkgate CPU per GiB:  {:>6.2}x",
        baseline.cpu_per_gib() / linkgate.cpu_per_gib().max(1e-9)
    );
    let _ = writeln!(
        out,
        "linkgate / ceiling throughput:    {:>6.2}x",
        linkgate.mib_per_s() / ceiling.mib_per_s().max(1e-9)
    );
    out
}

/// The ratios the benchmark is held to, each with its target: linkgate /
/// ceiling throughput (>= 0.90), linkgate / baseline CPU per GiB (<= 0.10),
/// keep-all plugin / none throughput per record size (>= 0.85 at 1 KiB).
pub fn targets(
    ceiling: &Phase,
    linkgate: &Phase,
    baseline: &Phase,
    plugin: &[crate::plugin::Comparison],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "targets (ratios measured in this run):");
    let _ = writeln!(
        out,
        "  linkgate / ceiling throughput:            {:>6.2}x  (target >= 0.90)",
        linkgate.mib_per_s() / ceiling.mib_per_s().max(1e-9)
    );
    let _ = writeln!(
        out,
        "  linkgate / baseline CPU per GiB:          {:>6.3}x  (target <= 0.100)",
        linkgate.cpu_per_gib() / baseline.cpu_per_gib().max(1e-9)
    );
    for c in plugin {
        let target = if c.record_bytes >= 1024 {
            "(target >= 0.85)"
        } else {
            "(no target)"
        };
        let _ = writeln!(
            out,
            "  keep-all plugin / none, {:>5} B records: {:>6.2}x  {target}",
            c.record_bytes,
            c.ratio()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(name: &str, secs: u64, cpu: f64) -> Phase {
        Phase {
            name: name.to_owned(),
            measured: "x",
            wall: Duration::from_secs(secs),
            bytes: 1 << 30,
            records: 1 << 20,
            cpu_seconds: cpu,
            source_broker_cpu: None,
            destination_broker_cpu: Some(1.0),
        }
    }

    #[test]
    fn ratios() {
        let c = phase("ceiling", 4, 4.0);
        let l = phase("linkgate", 8, 2.0);
        let b = phase("baseline", 16, 8.0);
        assert!((l.mib_per_s() - 128.0).abs() < 1e-9);
        assert!((b.cpu_per_gib() - 8.0).abs() < 1e-9);
        let text = render("h", &c, &l, &b, &[]);
        assert!(
            text.contains("linkgate / baseline throughput:     2.00x"),
            "{text}"
        );
        assert!(
            text.contains("baseline / linkgate CPU per GiB:    4.00x"),
            "{text}"
        );
        assert!(
            text.contains("linkgate / ceiling throughput:      0.50x"),
            "{text}"
        );
    }
}
