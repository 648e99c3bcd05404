//! Assembles a running gateway from a validated config: the plugin registry
//! (every plugin loaded, plugin files watched for hot swap) and one
//! [`MirrorLink`] per link. The binary's `run` command is a thin shell around
//! [`Gateway::start`] and [`Gateway::stop`].

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{GatewayConfig, PluginConfig, PluginSource};
use crate::mirror::MirrorLink;
use crate::plugin::{
    bundled, PluginError, PluginHost, PluginRegistry, PluginSpec, WatchHandle, WatchedPlugin,
};

/// A running gateway.
pub struct Gateway {
    links: Vec<MirrorLink>,
    plugins: Arc<PluginRegistry>,
    _watch: Option<WatchHandle>,
    shutdown: CancellationToken,
}

/// The host-side spec of a configured plugin: its bytes read from its file
/// or taken from the bundled set.
///
/// # Errors
/// [`PluginError::Read`] when the file cannot be read or the bundled name is
/// unknown.
pub fn plugin_spec(p: &PluginConfig) -> Result<PluginSpec, PluginError> {
    let wasm: bytes::Bytes = match &p.source {
        PluginSource::Path(path) => std::fs::read(path)
            .map_err(|e| PluginError::Read {
                plugin: p.name.clone(),
                path: path.display().to_string(),
                message: e.to_string(),
            })?
            .into(),
        PluginSource::Bundled(name) => bundled::get(name)
            .ok_or_else(|| PluginError::Read {
                plugin: p.name.clone(),
                path: format!("bundled:{name}"),
                message: "no such bundled plugin".into(),
            })?
            .into(),
    };
    let mut spec = PluginSpec::new(p.name.clone(), p.kind, wasm)
        .with_on_error(p.on_error)
        .with_timeout(p.timeout)
        .with_memory_limit(usize::try_from(p.memory_limit).unwrap_or(usize::MAX));
    spec.config = p.config.clone();
    Ok(spec)
}

impl Gateway {
    /// Loads every plugin (a plugin that fails to load stops the start with
    /// its error: there is no earlier version to keep), starts watching the
    /// plugin files, and starts the links in the background.
    ///
    /// # Errors
    /// The first plugin that cannot be read, compiled, initialised or
    /// self-checked.
    pub async fn start(cfg: &GatewayConfig) -> Result<Gateway, PluginError> {
        let plugins = Arc::new(PluginRegistry::new(PluginHost::new()?));
        let mut watched = Vec::new();
        for p in &cfg.plugins {
            let spec = plugin_spec(p)?;
            plugins.reload(spec.clone()).await?;
            if let PluginSource::Path(path) = &p.source {
                watched.push(WatchedPlugin {
                    path: path.clone(),
                    spec,
                });
            }
            tracing::info!(plugin = %p.name, kind = p.kind.as_str(),
                version = plugins.get(&p.name).map(|l| l.version().to_string()).unwrap_or_default(),
                "plugin loaded");
        }
        let watch = if watched.is_empty() {
            None
        } else {
            Some(plugins.watch(watched)?)
        };
        let shutdown = CancellationToken::new();
        let links = cfg
            .links
            .iter()
            .cloned()
            .map(|l| {
                MirrorLink::start(
                    l,
                    cfg.state_topic.clone(),
                    plugins.clone(),
                    shutdown.child_token(),
                )
            })
            .collect();
        Ok(Gateway {
            links,
            plugins,
            _watch: watch,
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

    /// Stops the links: in-flight rounds finish or are left for recovery at
    /// the next start. Waits at most `grace`; returns false when links were
    /// still running then.
    pub async fn stop(self, grace: Duration) -> bool {
        self.shutdown.cancel();
        tokio::time::timeout(
            grace,
            futures::future::join_all(self.links.into_iter().map(|l| l.join())),
        )
        .await
        .is_ok()
    }
}
