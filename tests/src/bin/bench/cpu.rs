//! CPU time of processes from `/proc/<pid>/stat` (Linux, proc(5)): user +
//! system time of all threads of a process, in seconds, and finding a broker's
//! pid by its listener argument.

use std::path::Path;
use std::process::Command;

use anyhow::Context;

/// Clock ticks per second of the `utime`/`stime` fields (`getconf CLK_TCK`,
/// sysconf(_SC_CLK_TCK)).
///
/// # Errors
/// `getconf` missing or printing something that is not a positive integer.
pub fn clock_ticks_per_second() -> anyhow::Result<f64> {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("running getconf CLK_TCK")?;
    anyhow::ensure!(
        out.status.success(),
        "getconf CLK_TCK failed: {}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let ticks: u64 = text
        .trim()
        .parse()
        .with_context(|| format!("getconf CLK_TCK printed {text:?}"))?;
    anyhow::ensure!(ticks > 0, "getconf CLK_TCK printed 0");
    Ok(ticks as f64)
}

/// Reads the CPU time of one process.
#[derive(Debug, Clone, Copy)]
pub struct CpuClock {
    ticks_per_second: f64,
}

/// A snapshot of one process from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// `utime + stime` of all threads, seconds (children not included).
    pub cpu_seconds: f64,
    /// Field 3 `state`: `R`, `S`, `D`, `Z` (exited, not reaped), ...
    pub state: char,
}

impl CpuClock {
    /// A clock using `getconf CLK_TCK`.
    ///
    /// # Errors
    /// See [`clock_ticks_per_second`].
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            ticks_per_second: clock_ticks_per_second()?,
        })
    }

    /// CPU seconds and state of process `pid`.
    ///
    /// # Errors
    /// The process does not exist (any more) or its stat line does not parse.
    pub fn sample(&self, pid: u32) -> anyhow::Result<ProcSample> {
        let path = format!("/proc/{pid}/stat");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        parse_stat(&text, self.ticks_per_second)
            .with_context(|| format!("parsing {path}: {text:?}"))
    }

    /// CPU seconds of process `pid` (see [`CpuClock::sample`]).
    pub fn seconds(&self, pid: u32) -> anyhow::Result<f64> {
        Ok(self.sample(pid)?.cpu_seconds)
    }

    /// CPU seconds of this process (all its threads, librdkafka's included).
    pub fn own_seconds(&self) -> anyhow::Result<f64> {
        self.seconds(std::process::id())
    }
}

/// Parses a `/proc/<pid>/stat` line: fields after the `)` that closes `comm`
/// (which may itself hold spaces and parentheses): state is field 3, utime
/// field 14, stime field 15.
fn parse_stat(text: &str, ticks_per_second: f64) -> Option<ProcSample> {
    let after_comm = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // fields[0] is field 3 (state); field n is fields[n - 3].
    let state = fields.first()?.chars().next()?;
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(ProcSample {
        cpu_seconds: (utime + stime) as f64 / ticks_per_second,
        state,
    })
}

/// Pid of the running `nisshi` process whose command line holds the argument
/// `tcp://127.0.0.1:<port>` (its listener), found by scanning `/proc/*/cmdline`.
/// `None` when there is none (or `/proc` cannot be read).
pub fn broker_pid(port: u16) -> Option<u32> {
    let wanted = format!("tcp://127.0.0.1:{port}");
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let mut args = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned());
        let program = args.next()?;
        let is_nisshi = Path::new(&program)
            .file_name()
            .is_some_and(|n| n == "nisshi");
        (is_nisshi && args.any(|a| a == wanted)).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let line = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        let s = parse_stat(line, 100.0).expect("parses");
        assert_eq!(s.state, 'S');
        assert!((s.cpu_seconds - 3.0).abs() < 1e-9, "{s:?}");
        assert_eq!(parse_stat("1234 (x) S 1 2", 100.0), None);
    }

    #[test]
    fn own_process_has_cpu_time() {
        let clock = CpuClock::new().expect("getconf");
        let s = clock.sample(std::process::id()).expect("own stat");
        assert!(s.cpu_seconds >= 0.0);
        assert_ne!(s.state, 'Z', "{s:?}");
    }
}
