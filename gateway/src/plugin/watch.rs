//! File watcher for hot swap ([`PluginRegistry::watch`]): watches the
//! directories of plugin `.wasm` files (so editors and `cp`/`mv` that
//! replace a file are seen), debounces events (notify-debouncer-full,
//! [`DEBOUNCE`]) and reloads a plugin whose file content changed, on its
//! own thread. The data plane never waits on it; it only sees the swapped
//! set.
//!
//! A file whose content hash equals the served version is not reloaded (a
//! `touch` is free). A file that cannot be read, or a load that fails (for
//! example a half-written file), keeps the served version and is recorded
//! in the plugin's status; the next change event tries again.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};

use super::error::PluginError;
use super::host::content_version;
use super::registry::PluginRegistry;
use super::types::PluginSpec;

/// Quiet time after the last event on a file before it is reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// One plugin file to watch.
#[derive(Debug, Clone)]
pub struct WatchedPlugin {
    /// The `.wasm` file.
    pub path: PathBuf,
    /// The plugin as configured; its `wasm` is replaced by the file's bytes
    /// on each reload (it may be empty here).
    pub spec: PluginSpec,
}

/// A running watcher. Dropping it (or [`WatchHandle::stop`]) stops
/// watching and joins the watcher thread.
pub struct WatchHandle {
    debouncer:
        Option<Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHandle")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl WatchHandle {
    /// Stops watching and waits for the watcher thread to end (it ends
    /// after a reload in progress finishes).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(d) = self.debouncer.take() {
            // Joins the debouncer thread, which owns the event sender: the
            // watcher thread's channel then closes.
            d.stop();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A watched file: directory as watched (canonical) and file name.
struct Target {
    dir: PathBuf,
    file_name: std::ffi::OsString,
    path: PathBuf,
    spec: PluginSpec,
}

impl PluginRegistry {
    /// Watches the given plugin files and reloads a plugin when its file's
    /// content changes (see the module doc). Does not load anything now:
    /// load the plugins first ([`PluginRegistry::reload`]).
    ///
    /// Errors: [`PluginError::Read`] if a file's directory does not exist,
    /// [`PluginError::Host`] if the OS watcher or the thread cannot start.
    pub fn watch(
        self: &Arc<Self>,
        plugins: Vec<WatchedPlugin>,
    ) -> Result<WatchHandle, PluginError> {
        let mut targets = Vec::with_capacity(plugins.len());
        for WatchedPlugin { path, spec } in plugins {
            let read_err = |message: String| PluginError::Read {
                plugin: spec.name.clone(),
                path: path.display().to_string(),
                message,
            };
            let file_name = path
                .file_name()
                .ok_or_else(|| read_err("the path names no file".to_string()))?
                .to_os_string();
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let dir = parent
                .canonicalize()
                .map_err(|e| read_err(format!("its directory: {e}")))?;
            targets.push(Target {
                dir,
                file_name,
                path,
                spec,
            });
        }

        let (tx, rx) = mpsc::channel::<DebounceEventResult>();
        let mut debouncer = new_debouncer(DEBOUNCE, None, tx).map_err(|e| PluginError::Host {
            message: format!("starting the file watcher failed: {e}"),
        })?;
        let dirs: BTreeSet<PathBuf> = targets.iter().map(|t| t.dir.clone()).collect();
        for dir in &dirs {
            debouncer
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|e| PluginError::Host {
                    message: format!("watching {} failed: {e}", dir.display()),
                })?;
        }
        let registry = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("linkgate-plugin-watch".to_string())
            .spawn(move || watch_loop(&registry, &targets, rx))
            .map_err(|e| PluginError::Host {
                message: format!("starting the watcher thread failed: {e}"),
            })?;
        Ok(WatchHandle {
            debouncer: Some(debouncer),
            thread: Some(thread),
        })
    }
}

/// Receives debounced event batches until the debouncer stops.
fn watch_loop(
    registry: &PluginRegistry,
    targets: &[Target],
    rx: mpsc::Receiver<DebounceEventResult>,
) {
    let by_location: HashMap<(&Path, &std::ffi::OsStr), usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| ((t.dir.as_path(), t.file_name.as_os_str()), i))
        .collect();
    for result in rx {
        let events = match result {
            Ok(events) => events,
            Err(errors) => {
                for e in errors {
                    tracing::warn!(error = %e, "plugin file watcher error");
                }
                continue;
            }
        };
        let mut changed = BTreeSet::new();
        for event in &events {
            if matches!(
                event.event.kind,
                EventKind::Access(_) | EventKind::Remove(_)
            ) {
                continue;
            }
            for path in &event.event.paths {
                let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                    continue;
                };
                if let Some(&i) = by_location.get(&(dir, name)) {
                    changed.insert(i);
                }
            }
        }
        for i in changed {
            if let Some(target) = targets.get(i) {
                reload_file(registry, target);
            }
        }
    }
}

/// Reloads one target from its file unless the content is the served one.
fn reload_file(registry: &PluginRegistry, target: &Target) {
    let name = &target.spec.name;
    let bytes = match std::fs::read(&target.path) {
        Ok(b) => b,
        Err(e) => {
            // Logged and recorded in the status by the registry.
            let _ = registry.finish_reload(
                name,
                target.spec.kind,
                Err(PluginError::Read {
                    plugin: name.clone(),
                    path: target.path.display().to_string(),
                    message: e.to_string(),
                }),
            );
            return;
        }
    };
    let version = content_version(&bytes);
    if registry.get(name).is_some_and(|p| p.version() == version) {
        return;
    }
    let mut spec = target.spec.clone();
    spec.wasm = Bytes::from(bytes);
    tracing::info!(plugin = %name, path = %target.path.display(), version = %version,
        "plugin file changed; reloading");
    // Errors are logged and recorded in the status by the registry.
    let _ = registry.reload_blocking(spec);
}
