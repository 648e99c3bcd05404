//! The plugin host ([`PluginHost`]): one wasmtime `Engine` (component model,
//! epoch interruption), the thread that ticks the epoch, the shared linker,
//! and loading a [`PluginSpec`] into a ready [`LoadedPlugin`]: check the
//! bytes, compile, check the world, link, instantiate, `init`, self-check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::{types::ComponentItem, Component, Linker};
use wasmtime::{Config, Engine};

use super::error::PluginError;
use super::guest::WasmGuest;
use super::loaded::{Backend, LoadedPlugin};
use super::store::{self, Ident, StoreData};
use super::types::{PluginKind, PluginSpec};

/// Period of the epoch tick, the unit of call deadlines: a call is
/// interrupted between `timeout` and `timeout + EPOCH_TICK` after it starts
/// (later only if the ticker thread is not scheduled in time).
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Hex digits of the SHA-256 kept as a plugin version.
pub const VERSION_HEX_LEN: usize = 12;

/// Engine, linker and epoch ticker, shared by every plugin loaded by one
/// host. The ticker starts with the first plugin loaded (a gateway without
/// plugins spends no wake-ups on it) and stops when the last holder (host
/// or plugin) is dropped.
pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    linker: Linker<StoreData>,
    stop: Arc<AtomicBool>,
    ticking: AtomicBool,
}

impl Drop for HostInner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The WebAssembly plugin host. Cheap to clone (shared engine).
///
/// One `wasmtime::Engine` with the component model and epoch interruption;
/// from the first plugin loaded on, a background thread
/// (`linkgate-plugin-epoch`) increments the epoch every [`EPOCH_TICK`]
/// (1 ms), so deadlines are whole milliseconds. Plugins are
/// compiled with Cranelift when loaded; nothing is compiled on a call.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Creates the engine and linker (the epoch thread starts with the first
    /// plugin loaded).
    ///
    /// Errors: [`PluginError::Host`] if wasmtime rejects the configuration
    /// (unsupported CPU).
    pub fn new() -> Result<PluginHost, PluginError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| PluginError::Host {
            message: format!("creating the wasmtime engine failed: {e:#}"),
        })?;
        let linker = store::linker(&engine).map_err(|e| PluginError::Host {
            message: format!("linking WASI and the host interface failed: {e:#}"),
        })?;
        Ok(PluginHost {
            inner: Arc::new(HostInner {
                engine,
                linker,
                stop: Arc::new(AtomicBool::new(false)),
                ticking: AtomicBool::new(false),
            }),
        })
    }

    /// Starts the epoch thread unless it runs already.
    ///
    /// Errors: [`PluginError::Host`] if the thread cannot be spawned.
    fn start_ticker(&self) -> Result<(), PluginError> {
        let inner = &self.inner;
        if inner
            .ticking
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Ok(());
        }
        let (ticker_engine, ticker_stop) = (inner.engine.clone(), inner.stop.clone());
        let spawned = std::thread::Builder::new()
            .name("linkgate-plugin-epoch".to_string())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            inner.ticking.store(false, Ordering::SeqCst);
            return Err(PluginError::Host {
                message: format!("starting the epoch thread failed: {e}"),
            });
        }
        Ok(())
    }

    /// Loads a plugin (see [`PluginHost::load_blocking`]) on tokio's blocking
    /// pool, so compilation (CPU, up to seconds for a large component) never
    /// runs on an async worker thread. Must be called inside a tokio runtime.
    ///
    /// Errors: those of [`PluginHost::load_blocking`], and
    /// [`PluginError::Host`] if the blocking task panicked or was cancelled.
    pub async fn load(&self, spec: PluginSpec) -> Result<Arc<LoadedPlugin>, PluginError> {
        let host = self.clone();
        let name = spec.name.clone();
        tokio::task::spawn_blocking(move || host.load_blocking(spec))
            .await
            .map_err(|e| PluginError::Host {
                message: format!("loading plugin {name}: the load task failed: {e}"),
            })?
    }

    /// Loads a plugin on the calling thread (use from a blocking context:
    /// a watcher thread, `spawn_blocking`, tests). Steps, each a distinct
    /// error:
    /// 1. the bytes start with the WebAssembly magic and are a component,
    ///    not a core module ([`PluginError::NotWasm`]);
    /// 2. version = first 12 hex digits of the SHA-256 of the bytes;
    /// 3. compile ([`PluginError::Compile`]);
    /// 4. the component exports the functions of the world of `spec.kind`
    ///    ([`PluginError::WrongWorld`], naming the expected world and what
    ///    the component exports);
    /// 5. link against WASI 0.2 + `linkgate:plugin/host`
    ///    ([`PluginError::Link`]);
    /// 6. instantiate and call `init(spec.config)` under the deadline and
    ///    memory limit ([`PluginError::InitRejected`], or `Trap` / `Timeout`
    ///    / `OutOfMemory`);
    /// 7. self-check: one call with a dummy input, its result validated like
    ///    any call (topic filter: `mirror-topic` of topic
    ///    `linkgate-self-check`; group filter: `sync-group` of group
    ///    `linkgate-self-check`; renamer: `rename-topic` and `rename-group`
    ///    of `linkgate-self-check`; ACL mapper: one TOPIC/LITERAL READ ALLOW
    ///    binding; record transform: a batch of one record).
    ///
    /// The self-check is not counted in the call metrics.
    pub fn load_blocking(&self, spec: PluginSpec) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_inner(spec, true)
    }

    /// [`PluginHost::load_blocking`] without the self-check, so tests can
    /// reach call-time failures of plugins that fail every call.
    #[cfg(test)]
    pub(crate) fn load_unchecked(
        &self,
        spec: PluginSpec,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_inner(spec, false)
    }

    fn load_inner(
        &self,
        spec: PluginSpec,
        self_check: bool,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let PluginSpec {
            name,
            kind,
            wasm,
            config,
            on_error,
            timeout,
            memory_limit,
        } = spec;
        check_component_bytes(&name, &wasm)?;
        self.start_ticker()?;
        let version = content_version(&wasm);
        let component =
            Component::new(&self.inner.engine, &wasm).map_err(|e| PluginError::Compile {
                plugin: name.clone(),
                version: version.clone(),
                message: format!("{e:#}"),
            })?;
        check_world(&self.inner.engine, &component, kind, &name, &version)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Link {
                plugin: name.clone(),
                version: version.clone(),
                message: format!("{e:#}"),
            })?;
        let ident = Arc::new(Ident {
            name: name.clone(),
            version: version.clone(),
        });
        let guest = WasmGuest::new(
            self.inner.clone(),
            pre,
            ident,
            kind,
            config,
            timeout,
            memory_limit,
        )?;
        guest.warm_up()?;
        let plugin = LoadedPlugin {
            labels: super::metrics::CallLabels::new(&name, &version),
            name,
            kind,
            version,
            on_error,
            timeout,
            memory_limit,
            loaded_at: SystemTime::now(),
            backend: Backend::Wasm(Box::new(guest)),
        };
        if self_check {
            plugin.self_check()?;
        }
        Ok(Arc::new(plugin))
    }
}

/// First [`VERSION_HEX_LEN`] hex digits of the SHA-256 of `wasm`: the
/// plugin version shown in logs, metrics and status.
pub fn content_version(wasm: &[u8]) -> String {
    let digest = Sha256::digest(wasm);
    let mut hex = String::with_capacity(VERSION_HEX_LEN);
    for byte in digest.iter() {
        if hex.len() >= VERSION_HEX_LEN {
            break;
        }
        hex.push_str(&format!("{byte:02x}"));
    }
    hex.truncate(VERSION_HEX_LEN);
    hex
}

/// The WebAssembly binary magic, `\0asm`.
const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer field of a core module (version 1, layer 0).
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

fn check_component_bytes(name: &str, wasm: &[u8]) -> Result<(), PluginError> {
    let not_wasm = |reason: &str| PluginError::NotWasm {
        plugin: name.to_string(),
        reason: reason.to_string(),
    };
    if wasm.get(..4) != Some(WASM_MAGIC.as_slice()) {
        return Err(not_wasm(&format!(
            "{} bytes that do not start with the WebAssembly magic \\0asm",
            wasm.len()
        )));
    }
    if wasm.get(4..8) == Some(CORE_MODULE_VERSION.as_slice()) {
        return Err(not_wasm(
            "a core WebAssembly module, not a component: build the plugin for \
             wasm32-wasip2 (or wrap it with `wasm-tools component new`)",
        ));
    }
    Ok(())
}

/// The world a set of export names looks like, if any.
fn world_of_exports(exports: &[String]) -> Option<PluginKind> {
    PluginKind::ALL.into_iter().find(|k| {
        k.exports()
            .iter()
            .skip(1)
            .all(|e| exports.iter().any(|x| x == e))
    })
}

fn check_world(
    engine: &Engine,
    component: &Component,
    kind: PluginKind,
    name: &str,
    version: &str,
) -> Result<(), PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(export, item)| match item.ty {
            ComponentItem::ComponentFunc(_) => export.to_string(),
            _ => format!("{export} (not a function)"),
        })
        .collect();
    let missing: Vec<&str> = kind
        .exports()
        .iter()
        .copied()
        .filter(|e| !exports.iter().any(|x| x == e))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let looks_like = match world_of_exports(&exports) {
        Some(other) => format!("a {} component ({})", other.as_str(), other.world()),
        None => "a component of no linkgate plugin world".to_string(),
    };
    Err(PluginError::WrongWorld {
        plugin: name.to_string(),
        version: version.to_string(),
        expected: kind.world(),
        found: format!(
            "{looks_like} exporting [{}]; missing [{}]",
            exports.join(", "),
            missing.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_a_short_sha256() {
        // SHA-256 of the empty string: e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(content_version(b""), "e3b0c44298fc");
        assert_eq!(content_version(b"abc"), "ba7816bf8f01");
        assert_eq!(content_version(b"abc").len(), VERSION_HEX_LEN);
    }

    #[test]
    fn bytes_that_are_not_a_component_are_refused_before_compiling() {
        let e = check_component_bytes("p", b"hello world").unwrap_err();
        assert_eq!(e.kind(), "not_wasm");
        assert!(e.to_string().contains("magic"), "{e}");
        let e = check_component_bytes("p", b"\0asm\x01\0\0\0").unwrap_err();
        assert!(e.to_string().contains("core WebAssembly module"), "{e}");
        assert!(check_component_bytes("p", b"").is_err());
        assert!(check_component_bytes("p", b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn export_names_identify_a_world() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            world_of_exports(&names(&["init", "rename-topic", "rename-group"])),
            Some(PluginKind::Renamer)
        );
        assert_eq!(
            world_of_exports(&names(&["init", "transform"])),
            Some(PluginKind::RecordTransform)
        );
        assert_eq!(
            world_of_exports(&names(&["init", "sync-group"])),
            Some(PluginKind::GroupFilter)
        );
        assert_eq!(world_of_exports(&names(&["run"])), None);
    }

    #[test]
    fn a_host_starts_and_garbage_does_not_load() {
        let host = PluginHost::new().unwrap();
        let err = host
            .load_blocking(PluginSpec::new(
                "junk",
                PluginKind::Renamer,
                b"junk".to_vec(),
            ))
            .err()
            .unwrap();
        assert_eq!(err.kind(), "not_wasm");
        // A component header followed by garbage fails to compile.
        let err = host
            .load_blocking(PluginSpec::new(
                "junk",
                PluginKind::Renamer,
                b"\0asm\x0d\0\x01\0garbage".to_vec(),
            ))
            .err()
            .unwrap();
        assert_eq!(err.kind(), "compile", "{err}");
    }
}
