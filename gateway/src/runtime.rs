//! Assembles a running gateway from a validated config: the plugin registry
//! (every plugin loaded, plugin files watched for hot swap), one
//! [`MirrorLink`] per link, the REST API (read side) and the config file
//! watcher. The binary's `run`
//! command is a thin shell around [`Gateway::start`] and [`Gateway::stop`].
//!
//! Config reload (the file changes on disk, debounced): the new file is
//! validated first; a file that does not validate changes nothing and is
//! reported (log line, `linkgate_config_reloads_total{result="failed"}`).
//! Plugins whose settings changed (file, config table, limits, policy) or
//! that are new are loaded and swapped in atomically, keeping the running
//! version when the new one fails. Then each link's plugin chains are
//! swapped to the new ones when every plugin they name is loaded. Other
//! link settings are read at start only: a change to them is logged and
//! takes effect at the next start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio_util::sync::CancellationToken;

use crate::api::{ApiServer, LinkProperty, LinkView, ServeError};
use crate::config::{GatewayConfig, LinkConfig, PluginConfig, PluginSource};
use crate::mirror::link::chain_names;
use crate::mirror::registry::MirrorRegistry;
use crate::mirror::LinkStatus;
use crate::mirror::{LinkDeps, MirrorLink};
use crate::plugin::{
    bundled, ChainNames, PluginError, PluginHost, PluginRegistry, PluginSpec, WatchHandle,
    WatchedPlugin, DEBOUNCE,
};
use arc_swap::ArcSwap;

/// Each link's name and its swappable plugin chains.
type LinkChains = Vec<(String, Arc<ArcSwap<ChainNames>>)>;

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

/// What the REST API sees of a running link: its config as started and its
/// live status table.
struct RunningLinkView {
    config: LinkConfig,
    status: LinkStatus,
}

impl LinkView for RunningLinkView {
    fn config(&self) -> &LinkConfig {
        &self.config
    }

    fn status(&self) -> &LinkStatus {
        &self.status
    }

    fn properties(&self) -> Vec<LinkProperty> {
        self.config
            .properties
            .iter()
            .map(|(name, value)| LinkProperty::new(name.clone(), value.clone()))
            .collect()
    }

    fn source_topic(&self, mirror_topic: &str) -> String {
        self.status
            .source_topic(mirror_topic)
            .unwrap_or_else(|| mirror_topic.to_string())
    }
}

/// A running gateway.
pub struct Gateway {
    links: Vec<MirrorLink>,
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
    /// the links in the background.
    ///
    /// The REST API is served on `[gateway] api_listen`; when that is the
    /// default address and it is taken, the gateway runs without the API
    /// (error log).
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
        let deps = LinkDeps {
            state_topic: cfg.state_topic.clone(),
            plugins: plugins.clone(),
            registry: Arc::new(MirrorRegistry::new()),
        };
        let links: Vec<MirrorLink> = cfg
            .links
            .iter()
            .cloned()
            .map(|l| MirrorLink::start(l, deps.clone(), shutdown.child_token()))
            .collect();
        let views: Vec<Arc<dyn LinkView>> = links
            .iter()
            .map(|l| {
                Arc::new(RunningLinkView {
                    config: l.config().clone(),
                    status: l.status().clone(),
                }) as Arc<dyn LinkView>
            })
            .collect();
        let api = match crate::api::serve(
            cfg.api_listen,
            Arc::new(views),
            None,
            shutdown.child_token(),
        )
        .await
        {
            Ok(server) => {
                tracing::info!(api = %server.local_addr(), "REST API listening");
                Some(server)
            }
            Err(e) if !cfg.api_listen_explicit => {
                tracing::error!(error = %e, "REST API disabled: its default address is not available; set [gateway] api_listen");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let chains: LinkChains = links
            .iter()
            .map(|l| (l.name().to_string(), l.chains_handle()))
            .collect();
        let config_watch = match config_path {
            Some(path) => Some(ConfigWatch::start(
                path.to_path_buf(),
                cfg.clone(),
                plugins.clone(),
                watch.clone(),
                chains,
            )?),
            None => None,
        };
        Ok(Gateway {
            links,
            api,
            plugins,
            watch,
            config_watch,
            shutdown,
        })
    }

    /// The running links.
    pub fn links(&self) -> &[MirrorLink] {
        &self.links
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
        tokio::time::timeout(
            grace,
            futures::future::join_all(self.links.into_iter().map(|l| l.join())),
        )
        .await
        .is_ok()
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
        chains: LinkChains,
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
                if let Some(next) = apply_reload(&file, &current, &plugins, &watch, &chains).await {
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

/// Applies a changed config file (see the module doc). Returns the new
/// config when it validated.
pub async fn apply_reload(
    path: &Path,
    current: &GatewayConfig,
    plugins: &Arc<PluginRegistry>,
    watch: &Mutex<Option<WatchHandle>>,
    chains: &LinkChains,
) -> Option<GatewayConfig> {
    let next = match GatewayConfig::load(path) {
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
    for link in &next.links {
        let Some((_, handle)) = chains.iter().find(|(name, _)| *name == link.name) else {
            tracing::warn!(link = %link.name, "new link in the config file; it starts at the next start");
            continue;
        };
        let names = chain_names(link);
        if **handle.load() == names {
            continue;
        }
        let missing: Vec<&String> = [
            &names.topic_filters,
            &names.renamers,
            &names.acl_mappers,
            &names.record_transforms,
        ]
        .into_iter()
        .flatten()
        .filter(|n| plugins.get(n).is_none())
        .collect();
        if missing.is_empty() {
            handle.store(Arc::new(names));
            tracing::info!(link = %link.name, "link plugin chains updated from the changed config");
        } else {
            failed += 1;
            tracing::error!(link = %link.name, ?missing, "plugins named by the link are not loaded; keeping its current chains");
        }
    }
    let without_chains = |c: &GatewayConfig| {
        c.links
            .iter()
            .map(|l| {
                let mut l = l.clone();
                l.topic_filters.clear();
                l.renamers.clear();
                l.acl_mappers.clear();
                l.record_transforms.clear();
                format!("{l:?}")
            })
            .collect::<Vec<_>>()
    };
    if without_chains(current) != without_chains(&next) {
        tracing::warn!(
            "link settings other than plugin chains changed in the config file; they take effect at the next start"
        );
    }
    let result = if failed == 0 { "ok" } else { "failed" };
    metrics::counter!(CONFIG_RELOADS, "result" => result).increment(1);
    Some(next)
}
