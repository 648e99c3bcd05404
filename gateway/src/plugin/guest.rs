//! One compiled plugin version and its live instance ([`WasmGuest`]): the
//! component's `InstancePre`, one instance + store kept across calls behind a
//! mutex (so the state `init` built lives on), per-call deadline and memory
//! accounting, and the mapping of wasmtime failures to [`PluginError`].
//!
//! Why one kept instance instead of a store per call: a plugin keeps what
//! `init` parsed (prefixes, compiled regexes) in its instance; a fresh store
//! per call would have to run `init` again on every call. Calls of one plugin
//! version are therefore serialised; each is bounded by the deadline. A call
//! that fails (trap, timeout, memory) throws the instance away: a trapped
//! instance may be in any state, so the next call instantiates and runs
//! `init` again (that time counts toward that call).
//!
//! Calls are synchronous CPU work. WASI's sync bindings reach into tokio
//! when a plugin writes to stderr (a panic message), which panics on an
//! async worker thread; so a call made on a tokio multi-thread runtime runs
//! inside `tokio::task::block_in_place` (a no-op on a blocking thread), and
//! one made on a current-thread runtime runs on a scoped helper thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

use super::bindings::{acl_mapper, group_filter, record_transform, renamer, topic_filter};
use super::error::PluginError;
use super::host::HostInner;
use super::store::{Ident, StoreData};
use super::types::{AclBinding, PluginKind, RecordBatchIn, SourceTopic, Verdict};

/// The typed `InstancePre` of one world.
enum WorldPre {
    TopicFilter(topic_filter::TopicFilterPre<StoreData>),
    GroupFilter(group_filter::GroupFilterPre<StoreData>),
    Renamer(renamer::RenamerPre<StoreData>),
    AclMapper(acl_mapper::AclMapperPre<StoreData>),
    RecordTransform(record_transform::RecordTransformPre<StoreData>),
}

/// The typed exports of one live instance.
enum World {
    TopicFilter(topic_filter::TopicFilter),
    GroupFilter(group_filter::GroupFilter),
    Renamer(renamer::Renamer),
    AclMapper(acl_mapper::AclMapper),
    RecordTransform(record_transform::RecordTransform),
}

/// A live, initialised instance and its store.
struct Live {
    store: Store<StoreData>,
    world: World,
}

/// One compiled plugin version (see the module doc).
pub(crate) struct WasmGuest {
    host: Arc<HostInner>,
    pre: WorldPre,
    ident: Arc<Ident>,
    kind: PluginKind,
    config: Vec<(String, String)>,
    timeout: Duration,
    memory_limit: usize,
    live: Mutex<Option<Live>>,
}

impl WasmGuest {
    /// Types the `InstancePre` as the world of `kind`. A component that
    /// lacks an export of the world, or has one of another type, is
    /// `WrongWorld` with wasmtime's reason in `found`.
    pub(crate) fn new(
        host: Arc<HostInner>,
        pre: InstancePre<StoreData>,
        ident: Arc<Ident>,
        kind: PluginKind,
        config: Vec<(String, String)>,
        timeout: Duration,
        memory_limit: usize,
    ) -> Result<WasmGuest, PluginError> {
        let typed = match kind {
            PluginKind::TopicFilter => {
                topic_filter::TopicFilterPre::new(pre).map(WorldPre::TopicFilter)
            }
            PluginKind::GroupFilter => {
                group_filter::GroupFilterPre::new(pre).map(WorldPre::GroupFilter)
            }
            PluginKind::Renamer => renamer::RenamerPre::new(pre).map(WorldPre::Renamer),
            PluginKind::AclMapper => acl_mapper::AclMapperPre::new(pre).map(WorldPre::AclMapper),
            PluginKind::RecordTransform => {
                record_transform::RecordTransformPre::new(pre).map(WorldPre::RecordTransform)
            }
        };
        let pre = typed.map_err(|e| PluginError::WrongWorld {
            plugin: ident.name.clone(),
            version: ident.version.clone(),
            expected: kind.world(),
            found: format!("a component whose exports do not match: {e:#}"),
        })?;
        Ok(WasmGuest {
            host,
            pre,
            ident,
            kind,
            config,
            timeout,
            memory_limit,
            live: Mutex::new(None),
        })
    }

    /// Instantiates and initialises now (at load time) instead of at the
    /// first call, so that `init` errors surface from the load.
    pub(crate) fn warm_up(&self) -> Result<(), PluginError> {
        self.call(|_, _| Ok(()))
    }

    /// Epoch ticks of one deadline: the timeout in whole ticks, rounded up,
    /// plus one for the partial tick the call starts in.
    fn deadline_ticks(&self) -> u64 {
        let tick = super::host::EPOCH_TICK.as_nanos().max(1);
        let ticks = self.timeout.as_nanos().div_ceil(tick).max(1);
        u64::try_from(ticks).unwrap_or(u64::MAX / 2) + 1
    }

    fn timeout_ms(&self) -> u64 {
        u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// Maps a wasmtime error of a call on `data`'s store.
    fn classify(&self, err: wasmtime::Error, data: &StoreData) -> PluginError {
        let (plugin, version) = (self.ident.name.clone(), self.ident.version.clone());
        if data.limits.denied {
            return PluginError::OutOfMemory {
                plugin,
                version,
                limit_bytes: self.memory_limit,
            };
        }
        if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return PluginError::Timeout {
                plugin,
                version,
                timeout_ms: self.timeout_ms(),
            };
        }
        let mut message = format!("{err:#}");
        let stderr = data.stderr_tail();
        if !stderr.is_empty() {
            message.push_str("; plugin stderr: ");
            message.push_str(&stderr);
        }
        PluginError::Trap {
            plugin,
            version,
            message,
        }
    }

    /// A new instance with `init(config)` done.
    fn instantiate(&self) -> Result<Live, PluginError> {
        let data = StoreData::new(self.ident.clone(), self.memory_limit);
        let mut store = Store::new(&self.host.engine, data);
        store.limiter(|d| &mut d.limits);
        store.set_epoch_deadline(self.deadline_ticks());
        let made = match &self.pre {
            WorldPre::TopicFilter(p) => p.instantiate(&mut store).map(World::TopicFilter),
            WorldPre::GroupFilter(p) => p.instantiate(&mut store).map(World::GroupFilter),
            WorldPre::Renamer(p) => p.instantiate(&mut store).map(World::Renamer),
            WorldPre::AclMapper(p) => p.instantiate(&mut store).map(World::AclMapper),
            WorldPre::RecordTransform(p) => p.instantiate(&mut store).map(World::RecordTransform),
        };
        let world = made.map_err(|e| self.classify(e, store.data()))?;
        store.data_mut().begin_call();
        store.set_epoch_deadline(self.deadline_ticks());
        let config = &self.config;
        let init = match &world {
            World::TopicFilter(w) => w.call_init(&mut store, config),
            World::GroupFilter(w) => w.call_init(&mut store, config),
            World::Renamer(w) => w.call_init(&mut store, config),
            World::AclMapper(w) => w.call_init(&mut store, config),
            World::RecordTransform(w) => w.call_init(&mut store, config),
        };
        match init {
            Ok(Ok(())) => Ok(Live { store, world }),
            Ok(Err(message)) => Err(PluginError::InitRejected {
                plugin: self.ident.name.clone(),
                version: self.ident.version.clone(),
                message,
            }),
            Err(e) => Err(self.classify(e, store.data())),
        }
    }

    /// Runs `f` on the live instance (made first if there is none) under a
    /// fresh deadline; see the module doc for threads and failure handling.
    fn call<R: Send>(
        &self,
        f: impl FnOnce(&World, &mut Store<StoreData>) -> wasmtime::Result<R> + Send,
    ) -> Result<R, PluginError> {
        run_outside_async(|| {
            let mut guard = match self.live.lock() {
                Ok(g) => g,
                Err(poisoned) => {
                    // A panic escaped a previous call (caught below, so this
                    // is not expected): start over with a fresh instance.
                    self.live.clear_poison();
                    let mut g = poisoned.into_inner();
                    *g = None;
                    g
                }
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<R, PluginError> {
                if guard.is_none() {
                    *guard = Some(self.instantiate()?);
                }
                let Some(live) = guard.as_mut() else {
                    return Err(self.host_error("instance vanished"));
                };
                live.store.data_mut().begin_call();
                live.store.set_epoch_deadline(self.deadline_ticks());
                f(&live.world, &mut live.store).map_err(|e| self.classify(e, live.store.data()))
            }));
            match outcome {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(err)) => {
                    *guard = None;
                    Err(err)
                }
                Err(panic) => {
                    *guard = None;
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".to_string());
                    Err(PluginError::Trap {
                        plugin: self.ident.name.clone(),
                        version: self.ident.version.clone(),
                        message: format!("the host panicked during the call: {what}"),
                    })
                }
            }
        })
    }

    fn host_error(&self, what: &str) -> PluginError {
        PluginError::Host {
            message: format!("plugin {}: {what}", self.ident.name),
        }
    }

    fn mismatch(&self, call: &'static str) -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!(
            "{} plugin has no {call}",
            self.kind
        )))
    }

    /// Calls `mirror-topic`.
    pub(crate) fn mirror_topic(&self, topic: &SourceTopic) -> Result<bool, PluginError> {
        self.call(|world, store| match world {
            World::TopicFilter(w) => w.call_mirror_topic(store, topic),
            _ => self.mismatch("mirror-topic").map(|_| false),
        })
    }

    /// Calls `sync-group`.
    pub(crate) fn sync_group(&self, group: &str) -> Result<bool, PluginError> {
        self.call(|world, store| match world {
            World::GroupFilter(w) => w.call_sync_group(store, group),
            _ => self.mismatch("sync-group").map(|_| false),
        })
    }

    /// Calls `rename-topic`.
    pub(crate) fn rename_topic(&self, name: &str) -> Result<String, PluginError> {
        self.call(|world, store| match world {
            World::Renamer(w) => w.call_rename_topic(store, name),
            _ => self.mismatch("rename-topic").map(|_| String::new()),
        })
    }

    /// Calls `rename-group`.
    pub(crate) fn rename_group(&self, name: &str) -> Result<String, PluginError> {
        self.call(|world, store| match world {
            World::Renamer(w) => w.call_rename_group(store, name),
            _ => self.mismatch("rename-group").map(|_| String::new()),
        })
    }

    /// Calls `map-acl`.
    pub(crate) fn map_acl(&self, binding: &AclBinding) -> Result<Vec<AclBinding>, PluginError> {
        self.call(|world, store| match world {
            World::AclMapper(w) => w.call_map_acl(store, binding),
            _ => self.mismatch("map-acl").map(|_| Vec::new()),
        })
    }

    /// Calls `transform`.
    pub(crate) fn transform(&self, batch: &RecordBatchIn) -> Result<Vec<Verdict>, PluginError> {
        self.call(|world, store| match world {
            World::RecordTransform(w) => w.call_transform(store, batch),
            _ => self.mismatch("transform").map(|_| Vec::new()),
        })
    }
}

/// Runs `f` where WASI's sync bindings may block on tokio (see the module
/// doc): directly without a runtime, in `block_in_place` on a multi-thread
/// runtime, on a scoped thread on a current-thread runtime.
fn run_outside_async<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => f(),
        Ok(handle) => match handle.runtime_flavor() {
            RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
            _ => std::thread::scope(|s| match s.spawn(f).join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }),
        },
    }
}
