//! One child process of a test (broker or gateway): spawned with stdout and
//! stderr appended to a log file, stopped with SIGKILL or SIGTERM, killed on drop.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

/// A running child process whose output goes to `log`.
#[derive(Debug)]
pub(crate) struct ManagedProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl ManagedProcess {
    /// Spawns `cmd` with stdin closed and stdout/stderr appended to `log`
    /// (created if missing; a restart appends to the same file).
    pub(crate) fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<Self> {
        let out = open_log(log)?;
        let err = out.try_clone().context("cloning log file handle")?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("spawning {cmd:?}"))?;
        Ok(Self {
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// The OS process id, if the process has not been reaped.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `Some(status)` if the process has exited (reaping it), `None` while it runs.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().unwrap_or_default()
    }

    /// Sends SIGKILL and reaps the process. No-op if already stopped.
    pub(crate) fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // kill() fails only if the process already exited; wait() reaps either way.
            let _ = child.kill();
            child.wait().context("waiting for killed process")?;
        }
        Ok(())
    }

    /// Sends SIGTERM and waits up to `deadline` for the exit. If the process
    /// does not exit in time it is killed with SIGKILL and an error is returned.
    pub(crate) fn terminate(&mut self, deadline: Duration) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            anyhow::bail!("process is not running");
        };
        let pid = i32::try_from(child.id()).context("pid out of range")?;
        if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGTERM) {
            // ESRCH: already exited; reap it below.
            if e != nix::errno::Errno::ESRCH {
                return Err(e).context("sending SIGTERM");
            }
        }
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().context("waiting for process")? {
                return Ok(status);
            }
            if start.elapsed() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!(
                    "process {pid} did not exit within {deadline:?} after SIGTERM (killed)\n{}",
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces a stopped process by a new one spawned from `cmd` (same log file).
    /// Kills the old one first if it still runs.
    pub(crate) fn respawn(&mut self, cmd: Command) -> anyhow::Result<()> {
        self.kill9()?;
        *self = Self::spawn(cmd, &self.log)?;
        Ok(())
    }

    /// The last `n` lines of the log file, with a header naming the file.
    pub(crate) fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log, n)
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening log file {}", path.display()))
}

/// The last `n` lines of the file at `path` (lossy UTF-8), headed by its path.
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return format!("--- cannot read log {}: {e}", path.display()),
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    format!(
        "--- last {} lines of {} ---\n{}",
        lines.len() - start,
        path.display(),
        lines[start..].join("\n")
    )
}

/// Environment variable: when set (to anything), test temp directories
/// (config, data, logs) are kept after the test instead of deleted.
pub const KEEP_TEMP_ENV: &str = "LINKGATE_KEEP_TEMP";

/// A new temp directory named `<prefix>XXXXXX`, kept after the test when
/// [`KEEP_TEMP_ENV`] is set.
pub(crate) fn temp_dir(prefix: &str) -> anyhow::Result<TempDir> {
    let mut dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .with_context(|| format!("creating temp dir {prefix}*"))?;
    if std::env::var_os(KEEP_TEMP_ENV).is_some() {
        dir.disable_cleanup(true);
    }
    Ok(dir)
}

/// Called from the `Drop` of a broker or gateway after its process was
/// stopped: while the test is panicking, keeps `dir` and prints where it is
/// and the tail of `log` to stderr (shown by the test runner for a failed test).
pub(crate) fn report_if_panicking(what: &str, dir: &mut TempDir, log: &Path) {
    if std::thread::panicking() {
        dir.disable_cleanup(true);
        eprintln!(
            "{what}: test failed, directory kept: {}\n{}",
            dir.path().display(),
            log_tail(log, 40)
        );
    }
}
