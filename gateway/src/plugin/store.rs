//! What a plugin instance sees of the gateway: the per-store data
//! ([`StoreData`]) with its sandboxed WASI context, its resource limiter, the
//! `linkgate:plugin/host` import (`log`) and the linker every plugin is
//! instantiated with.
//!
//! Sandbox (the WIT says a plugin has no files, sockets, environment or
//! clocks), on WASI 0.2 as linked by `wasmtime-wasi`:
//! - no preopened directories, no environment variables, no arguments;
//! - stdin is closed, stdout is discarded, stderr is kept in a 1 KiB tail
//!   that a trap message quotes (a Rust panic message lands there);
//! - TCP, UDP and name lookup are denied;
//! - the wall clock reads the Unix epoch and the monotonic clock reads 0,
//!   always; timers (`monotonic-clock.subscribe-*`, used by `sleep`) trap,
//!   so a plugin cannot block past its deadline in a host call;
//! - random numbers come from the host (Rust's `HashMap` seeds need them).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::host;

/// Longest `log` line kept, in bytes (WIT `host.log`); longer ones are cut.
pub const MAX_LOG_LINE: usize = 4096;
/// Bytes of a plugin's stderr kept for trap messages (the last ones).
const STDERR_TAIL: usize = 1024;
/// Table elements a plugin instance may have (8 bytes of host memory each).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Name and version of a plugin, for logs.
#[derive(Debug)]
pub(crate) struct Ident {
    pub name: String,
    pub version: String,
}

/// Data of one plugin store.
pub(crate) struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: Limits,
    ident: Arc<Ident>,
    stderr: StderrTail,
}

impl StoreData {
    /// Fresh data: sandboxed WASI context, memory limit of `memory_limit`
    /// bytes per linear memory.
    pub(crate) fn new(ident: Arc<Ident>, memory_limit: usize) -> StoreData {
        let stderr = StderrTail::default();
        let mut b = WasiCtx::builder();
        b.stdout(wasmtime_wasi::p2::pipe::SinkOutputStream)
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock)
            .monotonic_clock(FrozenMonotonicClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        StoreData {
            wasi: b.build(),
            table: ResourceTable::new(),
            limits: Limits::new(memory_limit),
            ident,
            stderr,
        }
    }

    /// Resets the per-call state: the stderr tail and the memory-denied flag.
    pub(crate) fn begin_call(&mut self) {
        self.stderr.clear();
        self.limits.denied = false;
    }

    /// The last bytes the plugin wrote to stderr (lossy UTF-8, trimmed).
    pub(crate) fn stderr_tail(&self) -> String {
        self.stderr.text()
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// `linkgate:plugin/host.log`: one line into the gateway's tracing log at the
/// plugin's level, with `plugin` and `version` fields, cut at
/// [`MAX_LOG_LINE`] bytes.
impl host::Host for StoreData {
    fn log(&mut self, level: host::LogLevel, message: String) {
        let message = cut(&message, MAX_LOG_LINE);
        let (plugin, version) = (&self.ident.name, &self.ident.version);
        match level {
            host::LogLevel::Trace => {
                tracing::trace!(plugin = %plugin, version = %version, "{message}")
            }
            host::LogLevel::Debug => {
                tracing::debug!(plugin = %plugin, version = %version, "{message}")
            }
            host::LogLevel::Info => {
                tracing::info!(plugin = %plugin, version = %version, "{message}")
            }
            host::LogLevel::Warn => {
                tracing::warn!(plugin = %plugin, version = %version, "{message}")
            }
            host::LogLevel::Error => {
                tracing::error!(plugin = %plugin, version = %version, "{message}")
            }
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes ending on a character
/// boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// `wasi:clocks/monotonic-clock` without timers: reads 0, and
/// `subscribe-instant` / `subscribe-duration` trap.
impl wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host for StoreData {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, _when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        Err(wasmtime::Error::msg(
            "linkgate plugins have no timers (wasi:clocks/monotonic-clock.subscribe-instant)",
        ))
    }

    fn subscribe_duration(&mut self, _when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        Err(wasmtime::Error::msg(
            "linkgate plugins have no timers (wasi:clocks/monotonic-clock.subscribe-duration, e.g. sleep)",
        ))
    }
}

/// The linker every plugin is instantiated with: WASI 0.2 (sync bindings,
/// timers replaced as described in the module doc) and
/// `linkgate:plugin/host`.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<StoreData>> {
    let mut linker = Linker::<StoreData>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    linker.allow_shadowing(true);
    wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<
        StoreData,
        HasSelf<StoreData>,
    >(&mut linker, |d| d)?;
    linker.allow_shadowing(false);
    host::add_to_linker::<StoreData, HasSelf<StoreData>>(&mut linker, |d| d)?;
    Ok(linker)
}

/// Memory and table limits of a store ([`StoreLimits`]), remembering
/// whether a memory growth was refused during the current call.
pub(crate) struct Limits {
    inner: StoreLimits,
    pub(crate) denied: bool,
}

impl Limits {
    fn new(memory_limit: usize) -> Limits {
        Limits {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .table_elements(MAX_TABLE_ELEMENTS)
                .trap_on_grow_failure(false)
                .build(),
            denied: false,
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        if !ok {
            self.denied = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Wall clock stuck at the Unix epoch.
struct FrozenWallClock;

impl wasmtime_wasi::HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// Monotonic clock stuck at 0 (also answered by the shadowing `Host` impl
/// above; kept so that every WASI path sees the same clock).
struct FrozenMonotonicClock;

impl wasmtime_wasi::HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}

/// A plugin's stderr: keeps the last [`STDERR_TAIL`] bytes, never fails and
/// never blocks.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<Vec<u8>>>);

impl StderrTail {
    fn push(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let keep = bytes.len().min(STDERR_TAIL);
        buf.extend_from_slice(bytes.get(bytes.len() - keep..).unwrap_or(&[]));
        if buf.len() > 2 * STDERR_TAIL {
            let excess = buf.len() - STDERR_TAIL;
            buf.drain(..excess);
        }
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn text(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let start = buf.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(buf.get(start..).unwrap_or(&[]))
            .trim()
            .to_string()
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl wasmtime_wasi::cli::IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // WASI 0.3 streams are not linked; nothing reaches this.
        Box::new(tokio::io::sink())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_char_boundaries() {
        assert_eq!(cut("hello", 10), "hello");
        assert_eq!(cut("hello", 3), "hel");
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("", 0), "");
    }

    #[test]
    fn stderr_tail_keeps_the_last_bytes() {
        let t = StderrTail::default();
        t.push(b"first ");
        t.push(&vec![b'x'; 3000]);
        t.push(b" panicked at boom");
        let text = t.text();
        assert_eq!(text.len(), STDERR_TAIL);
        assert!(text.ends_with("panicked at boom"));
        t.clear();
        assert_eq!(t.text(), "");
    }

    #[test]
    fn limits_record_a_denied_growth() {
        let mut l = Limits::new(1 << 20);
        assert!(l.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!l.denied);
        assert!(!l.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(l.denied);
    }

    #[test]
    fn the_linker_builds() {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = wasmtime::Engine::new(&config).unwrap();
        linker(&engine).unwrap();
    }
}
