//! Assembles a running gateway from a validated config: the plugin registry
//! (every plugin loaded, plugin files watched for hot swap), the
//! [`LinkManager`] (config-file links started at once; links created
//! through the REST API restored in the background from each cluster's
//! state topic), the REST API and the config file watcher. The binary's
//! `run` command is a thin shell around [`Gateway::start`] and
//! [`Gateway::stop`].
//!
//! Config reload (the file changes on disk, debounced): the new file is
//! validated first; a file that does not validate changes nothing and is
//! reported (log line, `linkgate_config_reloads_total{result="failed"}`).
//! Plugins whose settings changed (file, config table, limits, policy) or
//! that are new are loaded and swapped in atomically, keeping the running
//! version when the new one fails. Then the links follow the file
//! ([`LinkManager::apply_file_config`]): new `[[links]]` start, removed
//! ones stop (their state stays in the destination), changed ones restart
//! with the new settings, and a change of plugin chains only is swapped
//! into the running link when every plugin it names is loaded.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio_util::sync::CancellationToken;

use crate::api::{ApiServer, ApiState, ServeError, ServeOptions};
use crate::config::{GatewayConfig, PluginConfig, PluginSource};
use crate::control::manager::LinkManager;
use crate::plugin::{
    bundled, PluginError, PluginHost, PluginRegistry, PluginSpec, WatchHandle, WatchedPlugin,
    DEBOUNCE,
};

/// Metric: config file reloads by `result` (`ok`, `failed`).
pub const CONFIG_RELOADS: &str = "linkgate_config_reloads_total";

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A plugin could not be loaded, or a watcher could not start.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The configured REST API address cannot be served.
    #[error(transparent)]
    Api(#[from] ServeError),
}

/// A running gateway.
pub struct Gateway {
    manager: Arc<LinkManager>,
    api: Option<ApiServer>,
    plugins: Arc<PluginRegistry>,
    watch: Arc<Mutex<Option<WatchHandle>>>,
    config_watch: Option<ConfigWatch>,
    shutdown: CancellationToken,
}

/// The host-side spec of a configured plugin, without its bytes.
fn spec_of(p: &PluginConfig) -> PluginSpec {
    let mut spec = PluginSpec::new(p.name.clone(), p.kind, bytes::Bytes::new())
        .with_on_error(p.on_error)
        .with_timeout(p.timeout)
        .with_memory_limit(usize::try_from(p.memory_limit).unwrap_or(usize::MAX));
    spec.config = p.config.clone();
    spec
}

/// The host-side spec of a configured plugin: its bytes read from its file
/// or taken from the bundled set.
///
/// # Errors
/// [`PluginError::Read`] when the file cannot be read or the bundled name is
/// unknown.
pub fn plugin_spec(p: &PluginConfig) -> Result<PluginSpec, PluginError> {
    let read_err = |path: String, message: String| PluginError::Read {
        plugin: p.name.clone(),
        path,
        message,
    };
    let wasm: bytes::Bytes = match &p.source {
        PluginSource::Path(path) => std::fs::read(path)
            .map_err(|e| read_err(path.display().to_string(), e.to_string()))?
            .into(),
        PluginSource::Bundled(name) => bundled::get(name)
            .ok_or_else(|| read_err(format!("bundled:{name}"), "no such bundled plugin".into()))?
            .into(),
    };
    let mut spec = spec_of(p);
    spec.wasm = wasm;
    Ok(spec)
}

/// Watches the plugin files of `cfg` (hot swap), replacing an earlier watch.
fn watch_plugin_files(
    plugins: &Arc<PluginRegistry>,
    cfg: &GatewayConfig,
    slot: &Mutex<Option<WatchHandle>>,
) -> Result<(), PluginError> {
    let watched: Vec<WatchedPlugin> = cfg
        .plugins
        .iter()
        .filter_map(|p| match &p.source {
            PluginSource::Path(path) => Some(WatchedPlugin {
                path: path.clone(),
                spec: spec_of(p),
            }),
            PluginSource::Bundled(_) => None,
        })
        .collect();
    let handle = if watched.is_empty() {
        None
    } else {
        Some(plugins.watch(watched)?)
    };
    let old = std::mem::replace(&mut *slot.lock().unwrap_or_else(|p| p.into_inner()), handle);
    drop(old);
    Ok(())
}

impl Gateway {
    /// Loads every plugin (a plugin that fails to load stops the start with
    /// its error: there is no earlier version to keep), watches the plugin
    /// files and, when `config_path` is given, the config file, and starts
    /// the links in the background: the config file's links at once, then
    /// for every `[clusters]` alias the links created through the API and
    /// persisted there (retried with backoff while the cluster cannot be
    /// reached; a persisted link named like a config-file link is not
    /// started: the file wins).
    ///
    /// The REST API is served on `[gateway] api_listen` over the
    /// [`LinkManager`] (reads and mutations), with `[gateway] api_token` as
    /// the bearer token of mutating calls (and of reads with
    /// `api_token_on_reads`), over TLS when `api_tls_cert` is set; when
    /// `api_listen` is the default address and it is taken, the gateway
    /// runs without the API (error log).
    ///
    /// # Errors
    /// The first plugin that cannot be read, compiled, initialised or
    /// self-checked, a watcher that cannot start, or a configured API
    /// address that cannot be bound.
    pub async fn start(
        cfg: &GatewayConfig,
        config_path: Option<&Path>,
    ) -> Result<Gateway, StartError> {
        let plugins = Arc::new(PluginRegistry::new(PluginHost::new()?));
        for p in &cfg.plugins {
            plugins.reload(plugin_spec(p)?).await?;
            tracing::info!(plugin = %p.name, kind = p.kind.as_str(),
                version = plugins.get(&p.name).map(|l| l.version().to_string()).unwrap_or_default(),
                "plugin loaded");
        }
        let watch = Arc::new(Mutex::new(None));
        watch_plugin_files(&plugins, cfg, &watch)?;
        let shutdown = CancellationToken::new();
        let manager = LinkManager::new(cfg, plugins.clone(), shutdown.clone());
        manager.start_file_links().await;
        manager.spawn_restore();
        let options = ServeOptions::from_config(cfg)?;
        let api = match crate::api::serve(
            cfg.api_listen,
            manager.clone() as Arc<dyn ApiState>,
            options,
            shutdown.child_token(),
        )
        .await
        {
            Ok(server) => {
                tracing::info!(
                    api = %server.local_addr(),
                    tls = server.is_tls(),
                    client_certificates = cfg
                        .api_tls
                        .as_ref()
                        .is_some_and(|t| t.requires_client_certificate()),
                    "REST API listening"
                );
                Some(server)
            }
            Err(e) if !cfg.api_listen_explicit => {
                tracing::error!(error = %e, "REST API disabled: its default address is not available; set [gateway] api_listen");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let config_watch = match config_path {
            Some(path) => Some(ConfigWatch::start(
                path.to_path_buf(),
                cfg.clone(),
                plugins.clone(),
                watch.clone(),
                manager.clone(),
            )?),
            None => None,
        };
        Ok(Gateway {
            manager,
            api,
            plugins,
            watch,
            config_watch,
            shutdown,
        })
    }

    /// The link manager: the running links (config file and API).
    pub fn manager(&self) -> &Arc<LinkManager> {
        &self.manager
    }

    /// The plugin registry.
    pub fn plugins(&self) -> &Arc<PluginRegistry> {
        &self.plugins
    }

    /// Stops the watchers and the links: in-flight rounds finish or are left
    /// for recovery at the next start. Waits at most `grace`; returns false
    /// when links were still running then.
    pub async fn stop(self, grace: Duration) -> bool {
        drop(self.config_watch);
        drop(self.watch.lock().unwrap_or_else(|p| p.into_inner()).take());
        self.shutdown.cancel();
        if let Some(api) = self.api {
            if let Err(e) = api.join().await {
                tracing::warn!(error = %e, "REST API stopped with an error");
            }
        }
        self.manager.stop_all(grace).await
    }
}

/// The config file watcher: a debounced notify watcher on the file's
/// directory (editors replace files) feeding a tokio task that runs
/// [`apply_reload`]. Dropping it stops both.
pub struct ConfigWatch {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConfigWatch {
    fn start(
        path: PathBuf,
        current: GatewayConfig,
        plugins: Arc<PluginRegistry>,
        watch: Arc<Mutex<Option<WatchHandle>>>,
        manager: Arc<LinkManager>,
    ) -> Result<Self, PluginError> {
        let host_err = |message: String| PluginError::Host { message };
        let file = path
            .canonicalize()
            .map_err(|e| host_err(format!("config file {}: {e}", path.display())))?;
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let wanted = file.clone();
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            if let Ok(events) = result {
                if events.iter().any(|e| e.event.paths.contains(&wanted)) {
                    let _ = tx.send(());
                }
            }
        })
        .map_err(|e| host_err(format!("starting the config watcher failed: {e}")))?;
        debouncer
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| host_err(format!("watching {} failed: {e}", dir.display())))?;
        let task = tokio::spawn(async move {
            let mut current = current;
            while rx.recv().await.is_some() {
                while rx.try_recv().is_ok() {}
                if let Some(next) = apply_reload(&file, &current, &plugins, &watch, &manager).await
                {
                    current = next;
                }
            }
        });
        Ok(Self {
            _debouncer: debouncer,
            task,
        })
    }
}

/// Applies a changed config file (see the module doc): plugins first,
/// then the links through `manager`. Returns the new config when it
/// validated.
pub async fn apply_reload(
    path: &Path,
    current: &GatewayConfig,
    plugins: &Arc<PluginRegistry>,
    watch: &Mutex<Option<WatchHandle>>,
    manager: &Arc<LinkManager>,
) -> Option<GatewayConfig> {
    // Reading and parsing a file is blocking work: off the async workers.
    let owned = path.to_path_buf();
    let loaded = match tokio::task::spawn_blocking(move || GatewayConfig::load(&owned)).await {
        Ok(r) => r,
        Err(e) => {
            metrics::counter!(CONFIG_RELOADS, "result" => "failed").increment(1);
            tracing::error!(error = %e, "reading the changed config file failed; keeping the running config");
            return None;
        }
    };
    let next = match loaded {
        Ok(c) => c,
        Err(e) => {
            metrics::counter!(CONFIG_RELOADS, "result" => "failed").increment(1);
            tracing::error!(error = %e, "config file changed but does not validate; keeping the running config");
            return None;
        }
    };
    let mut failed = 0;
    for p in &next.plugins {
        if current.plugins.iter().any(|old| old == p) {
            continue;
        }
        let result = match plugin_spec(p) {
            Ok(spec) => plugins.reload(spec).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tracing::info!(plugin = %p.name, "plugin reloaded from the changed config"),
            Err(e) => {
                failed += 1;
                tracing::error!(plugin = %p.name, error = %e, "plugin reload failed; the running version stays");
            }
        }
    }
    if let Err(e) = watch_plugin_files(plugins, &next, watch) {
        tracing::error!(error = %e, "cannot watch the plugin files of the new config");
    }
    failed += manager.apply_file_config(&next).await;
    let result = if failed == 0 { "ok" } else { "failed" };
    metrics::counter!(CONFIG_RELOADS, "result" => result).increment(1);
    Some(next)
}
