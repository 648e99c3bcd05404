//! [`LinkManager`]: the gateway's links as a dynamic set. It owns every
//! running [`MirrorLink`] (config-file links and links created through the
//! REST API), answers the API's reads ([`ApiState`]) and carries out its
//! mutations ([`ControlPlane`]).
//!
//! - Config-file links start with the gateway and follow config reloads
//!   ([`LinkManager::apply_file_config`]); the API may not alter or delete
//!   them (`ManagedByConfigFile`).
//! - API links are persisted as `link/{name}` in their destination
//!   cluster's state topic ([`LinkDefinition`]) before they start, and
//!   come back at the next start ([`LinkManager::spawn_restore`]). A
//!   persisted link whose name is also in the config file is not started:
//!   the file wins.
//! - Mutations are serialised by one async mutex; reads never wait on
//!   them: [`ApiState::links`] reads an `arc-swap` snapshot of the link
//!   list, republished after every change.
//! - Restarting a link (alter, config change) cancels its token, waits for
//!   its tasks to finish their in-flight rounds and starts it again with
//!   the new config; mirror positions come back from the state topic.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::api::{
    default_tasks, ApiState, LinkHealth, LinkProperty, LinkState, LinkTask, LinkView, ANY_CLUSTER,
};
use crate::config::{validate_link_name, GatewayConfig, LinkConfig, PluginConfig};
use crate::control::definition::{invalid_config, LinkDefinition};
use crate::control::{
    ControlError, ControlPlane, GroupMigration, GroupMigrationRequest, LinkConfigChange,
    LinkDeletion, MirrorAction, MirrorActionResult, NewLink, NewMirror,
};
use crate::kafka::{link_error_code, ClusterClient, ClusterSettings};
use crate::mirror::link::chain_names;
use crate::mirror::registry::MirrorRegistry;
use crate::mirror::state::{StateEntry, StateStore};
use crate::mirror::{LinkDeps, LinkStatus, MirrorLink, PartitionState};
use crate::plugin::PluginRegistry;
use crate::tasks::LinkTasks;

/// Link properties an existing link keeps for life, with the reason
/// (Confluent: the source cluster and the prefix cannot change).
const NOT_ALTERABLE: [(&str, &str); 2] = [
    (
        "bootstrap.servers",
        "the source cluster of a link cannot change; create a new link",
    ),
    (
        "cluster.link.prefix",
        "mirror topic names are fixed when mirrors are created; create a new link",
    ),
];

/// How often a mirror create waits for its link to be connected.
const MIRROR_CREATE_POLL: Duration = Duration::from_millis(50);

/// Where a running link is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOrigin {
    /// A `[[links]]` entry of the gateway config file.
    File,
    /// Created through the REST API (persisted in its destination cluster).
    Api,
}

/// One running link as the API reads it: the config it runs with, its
/// definition (API links) and its live status table.
pub struct ManagedLink {
    origin: LinkOrigin,
    config: LinkConfig,
    definition: Option<LinkDefinition>,
    status: LinkStatus,
}

impl ManagedLink {
    /// File or API.
    pub fn origin(&self) -> LinkOrigin {
        self.origin
    }

    /// The persisted definition of an API link (`None` for file links).
    pub fn definition(&self) -> Option<&LinkDefinition> {
        self.definition.as_ref()
    }

    /// Mirror topics whose partitions are not all `STOPPED`, sorted.
    pub fn unstopped_mirrors(&self) -> Vec<String> {
        let table = self.status.lock();
        let mut all = BTreeSet::new();
        let mut open = BTreeSet::new();
        for ((topic, _), ps) in table.iter() {
            all.insert(topic.clone());
            if ps.state != PartitionState::Stopped {
                open.insert(topic.clone());
            }
        }
        drop(table);
        // Configured mirrors with no partition known yet are not stopped.
        for t in &self.config.mirror_topics {
            if self.config.renamers.is_empty() && !all.contains(t) {
                open.insert(t.clone());
            }
        }
        open.into_iter().collect()
    }
}

impl LinkView for ManagedLink {
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
            .map(|(name, value)| {
                let fixed =
                    self.origin == LinkOrigin::File || NOT_ALTERABLE.iter().any(|(p, _)| p == name);
                LinkProperty::new(name.clone(), value.clone()).read_only(fixed)
            })
            .collect()
    }

    fn source_cluster_id(&self) -> String {
        self.definition
            .as_ref()
            .and_then(|d| d.source_cluster_id.clone())
            .unwrap_or_else(|| self.config.source.name.clone())
    }

    /// The health the link reports ([`LinkStatus::health`]); `PAUSED` when
    /// it reports `ACTIVE` but is configured paused.
    fn health(&self) -> LinkHealth {
        let health = self.status.health();
        if health.state == LinkState::Active && self.config.paused {
            LinkHealth::ok(LinkState::Paused)
        } else {
            health
        }
    }

    /// [`default_tasks`], with the configured state the link task
    /// framework recorded ([`LinkStatus::task_configured`], which follows
    /// live config changes), and an `ACTIVE` task that has errors
    /// ([`LinkStatus::task_errors`]) shown `IN_ERROR` with them.
    fn tasks(&self) -> Vec<LinkTask> {
        let health = self.health();
        default_tasks(&self.config, &health)
            .into_iter()
            .map(|mut task| {
                match self.status.task_configured(&task.name) {
                    Some(false) => task.state = "NOT_CONFIGURED".to_string(),
                    Some(true) if task.state == "NOT_CONFIGURED" => {
                        task.state = match health.state {
                            LinkState::Active => "ACTIVE",
                            LinkState::Paused => "LINK_PAUSED",
                            LinkState::Unavailable => "LINK_UNAVAILABLE",
                            LinkState::Failed => "LINK_FAILED",
                        }
                        .to_string();
                    }
                    _ => {}
                }
                let errors = self.status.task_errors(&task.name);
                if task.state == "ACTIVE" && !errors.is_empty() {
                    task.state = "IN_ERROR".to_string();
                    task.errors = errors;
                }
                task
            })
            .collect()
    }

    fn source_topic(&self, mirror_topic: &str) -> String {
        self.status
            .source_topic(mirror_topic)
            .unwrap_or_else(|| mirror_topic.to_string())
    }
}

/// A started link and what stopping it needs.
struct Running {
    view: Arc<ManagedLink>,
    link: MirrorLink,
    /// Its link tasks (consumer offset sync), stopped with `token`.
    tasks: LinkTasks,
    token: CancellationToken,
}

impl Running {
    fn name(&self) -> &str {
        &self.view.config.name
    }
}

/// The gateway's links (see the module doc). Shared as `Arc<LinkManager>`
/// by the runtime, the REST API and the restore tasks.
pub struct LinkManager {
    cfg: ArcSwap<GatewayConfig>,
    plugins: Arc<PluginRegistry>,
    registry: Arc<MirrorRegistry>,
    shutdown: CancellationToken,
    /// What readers see; republished after each change.
    views: ArcSwap<Vec<Arc<ManagedLink>>>,
    /// The running links, file links first (file order), then API links.
    running: tokio::sync::Mutex<Vec<Running>>,
    /// Background restore tasks (one per `[clusters]` alias).
    restores: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Aliases whose persisted links have not been read yet: creating a
    /// link there waits for them (bounded by the cluster's request timeout,
    /// then 503), so it cannot overwrite a persisted link of the same name.
    restoring: tokio::sync::watch::Sender<std::collections::BTreeSet<String>>,
}

impl LinkManager {
    /// A manager with no running link. `plugins` must hold every
    /// `[[plugins]]` entry of `cfg` (and the property plugins of its file
    /// links); links stop when `shutdown` is cancelled.
    pub fn new(
        cfg: &GatewayConfig,
        plugins: Arc<PluginRegistry>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            cfg: ArcSwap::from_pointee(cfg.clone()),
            plugins,
            registry: Arc::new(MirrorRegistry::new()),
            shutdown,
            views: ArcSwap::from_pointee(Vec::new()),
            running: tokio::sync::Mutex::new(Vec::new()),
            restores: Mutex::new(Vec::new()),
            restoring: tokio::sync::watch::Sender::new(std::collections::BTreeSet::new()),
        })
    }

    /// The gateway-wide mirror registry shared by every link.
    pub fn registry(&self) -> &Arc<MirrorRegistry> {
        &self.registry
    }

    /// The current links (a snapshot; never waits on a mutation).
    pub fn snapshot(&self) -> Arc<Vec<Arc<ManagedLink>>> {
        self.views.load_full()
    }

    /// The running link named `name`, from the snapshot.
    pub fn get(&self, name: &str) -> Option<Arc<ManagedLink>> {
        self.views
            .load()
            .iter()
            .find(|l| l.config.name == name)
            .cloned()
    }

    /// Starts every `[[links]]` entry of the config (call once, at start).
    pub async fn start_file_links(&self) {
        let cfg = self.cfg.load_full();
        let mut running = self.running.lock().await;
        for l in &cfg.links {
            if running.iter().any(|r| r.name() == l.name) {
                continue;
            }
            running.push(self.launch(&cfg, l.clone(), LinkOrigin::File, None));
        }
        self.publish(&running);
    }

    /// Starts a link and returns what stopping it needs.
    fn launch(
        &self,
        cfg: &GatewayConfig,
        config: LinkConfig,
        origin: LinkOrigin,
        definition: Option<LinkDefinition>,
    ) -> Running {
        let token = self.shutdown.child_token();
        let deps = LinkDeps {
            state_topic: cfg.state_topic.clone(),
            plugins: self.plugins.clone(),
            registry: self.registry.clone(),
        };
        // A source_cluster_id that is not a [clusters] alias is the source's
        // Kafka cluster id: the link checks it each time it connects and
        // goes FAILED when the source is another cluster.
        let expected_source_id = definition
            .as_ref()
            .and_then(|d| d.source_cluster_id.clone())
            .filter(|id| !cfg.clusters.contains_key(id));
        let link =
            MirrorLink::start_expecting(config.clone(), deps, expected_source_id, token.clone());
        let tasks = LinkTasks::start(&link, config.clone(), token.clone());
        let view = Arc::new(ManagedLink {
            origin,
            config,
            definition,
            status: link.status().clone(),
        });
        tracing::info!(link = %view.config.name, origin = ?origin, "link started");
        Running {
            view,
            link,
            tasks,
            token,
        }
    }

    /// Stops a link: cancels it and waits until its tasks ended.
    async fn halt(r: Running) {
        r.token.cancel();
        r.link.join().await;
    }

    /// Republishes the reader snapshot.
    fn publish(&self, running: &[Running]) {
        self.views
            .store(Arc::new(running.iter().map(|r| r.view.clone()).collect()));
    }

    /// Loads the plugins serving a link's properties (replacing earlier
    /// versions of the same names). On failure the ones loaded by this call
    /// and not loaded before are removed again.
    async fn load_plugins(&self, plugins: &[PluginConfig]) -> Result<(), ControlError> {
        let mut added = Vec::new();
        for p in plugins {
            let existed = self.plugins.get(&p.name).is_some();
            let result = match crate::runtime::plugin_spec(p) {
                Ok(spec) => self.plugins.reload(spec).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                for name in added {
                    self.plugins.remove(name);
                }
                let property = p
                    .name
                    .split_once('/')
                    .map(|(_, prop)| prop)
                    .unwrap_or(&p.name);
                return Err(ControlError::InvalidConfig {
                    key: property.to_string(),
                    message: format!("the plugin serving this property cannot load: {e}"),
                });
            }
            if !existed {
                added.push(p.name.as_str());
            }
        }
        Ok(())
    }

    /// Puts the property plugins of the running API link `def` back as its
    /// definition gives them (after an alter that loaded others and then
    /// failed). Failures are logged: the link keeps running either way.
    async fn restore_property_plugins(&self, cfg: &GatewayConfig, def: &LinkDefinition) {
        match def.build(cfg) {
            Ok(build) => {
                self.drop_property_plugins(&def.name, &build.plugins);
                if let Err(e) = self.load_plugins(&build.plugins).await {
                    tracing::error!(link = %def.name, error = %e,
                        "cannot restore the link's property plugins after a failed alter");
                }
            }
            Err(e) => tracing::error!(link = %def.name, error = %e,
                "cannot restore the link's property plugins after a failed alter"),
        }
    }

    /// Removes the plugins named `{link}/...` that `keep` does not name.
    fn drop_property_plugins(&self, link: &str, keep: &[PluginConfig]) {
        let prefix = format!("{link}/");
        let names: Vec<String> = self
            .plugins
            .snapshot()
            .iter()
            .map(|p| p.name().to_string())
            .filter(|n| n.starts_with(&prefix) && !keep.iter().any(|k| k.name == *n))
            .collect();
        for n in names {
            self.plugins.remove(&n);
        }
    }

    /// Reads the API links persisted on the cluster `alias` (its state
    /// topic, when it exists) and starts those whose destination is that
    /// alias and that are not running yet. A persisted link whose name is
    /// in the config file is skipped (the file wins; warning). Returns the
    /// names started.
    ///
    /// # Errors
    /// [`ControlError::ClusterNotFound`] for an unknown alias,
    /// [`ControlError::Unavailable`] when the cluster or its state topic
    /// cannot be read (retriable).
    pub async fn restore_from(&self, alias: &str) -> Result<Vec<String>, ControlError> {
        let cfg = self.cfg.load_full();
        let settings = cfg
            .clusters
            .get(alias)
            .cloned()
            .ok_or_else(|| ControlError::ClusterNotFound(alias.to_string()))?;
        let client = connect_bounded(&settings).await?;
        let unavailable = |e: crate::mirror::MirrorError| ControlError::Unavailable {
            message: format!("reading the links persisted on cluster `{alias}` failed: {e}"),
        };
        let Some(store) = StateStore::open_existing(client, &cfg.state_topic)
            .await
            .map_err(unavailable)?
        else {
            return Ok(Vec::new());
        };
        let snapshot = store.load().await.map_err(unavailable)?;
        let mut defs: Vec<(&String, &Vec<u8>)> = snapshot.link_definitions.iter().collect();
        defs.sort_by(|a, b| a.0.cmp(b.0));
        let mut started = Vec::new();
        let mut running = self.running.lock().await;
        for (name, json) in defs {
            let def = match LinkDefinition::from_json(name, json, cfg.secrets_key.as_ref()) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(cluster = %alias, error = %e, "skipping a persisted link");
                    continue;
                }
            };
            if def.destination != alias {
                tracing::warn!(link = %name, cluster = %alias, destination = %def.destination,
                    "persisted link names another destination alias; not started from this cluster");
                continue;
            }
            if cfg.links.iter().any(|l| l.name == *name) {
                tracing::warn!(link = %name, cluster = %alias,
                    "a link persisted through the API has the name of a config-file link; the config file wins");
                continue;
            }
            if running.iter().any(|r| r.name() == name.as_str()) {
                continue;
            }
            let build = match def.build(&cfg) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(link = %name, cluster = %alias, error = %e,
                        "persisted link does not validate against the gateway config; not started");
                    continue;
                }
            };
            if let Err(e) = self.load_plugins(&build.plugins).await {
                tracing::error!(link = %name, error = %e, "persisted link not started");
                continue;
            }
            running.push(self.launch(&cfg, build.link, LinkOrigin::Api, Some(def)));
            started.push(name.clone());
        }
        self.publish(&running);
        if !started.is_empty() {
            tracing::info!(cluster = %alias, links = ?started, "links restored from the state topic");
        }
        Ok(started)
    }

    /// In the background, for every `[clusters]` alias: restores the API
    /// links persisted there ([`LinkManager::restore_from`]), retrying with
    /// backoff (200 ms doubling to 10 s) while the cluster cannot be read,
    /// until it succeeds or the gateway shuts down.
    pub fn spawn_restore(self: &Arc<Self>) {
        let aliases: Vec<String> = self.cfg.load().clusters.keys().cloned().collect();
        self.spawn_restore_for(aliases);
    }

    /// [`LinkManager::spawn_restore`] for the given aliases only.
    fn spawn_restore_for(self: &Arc<Self>, aliases: Vec<String>) {
        let mut tasks = self.restores.lock().unwrap_or_else(|p| p.into_inner());
        self.restoring
            .send_modify(|set| set.extend(aliases.iter().cloned()));
        for alias in aliases {
            let manager = Arc::downgrade(self);
            let shutdown = self.shutdown.clone();
            tasks.push(tokio::spawn(async move {
                use backon::BackoffBuilder;
                let mut delays = backon::ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(10))
                    .without_max_times()
                    .build();
                loop {
                    let Some(m) = manager.upgrade() else { return };
                    let result = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        r = m.restore_from(&alias) => r,
                    };
                    let done = |m: &LinkManager| {
                        m.restoring.send_modify(|set| {
                            set.remove(&alias);
                        });
                    };
                    match result {
                        Ok(_) => {
                            done(&m);
                            return;
                        }
                        Err(e) if e.is_retriable() => {
                            drop(m);
                            let delay = delays.next().unwrap_or(Duration::from_secs(10));
                            tracing::warn!(cluster = %alias, error = %e,
                                "cannot read persisted links yet; retrying in {delay:?}");
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = tokio::time::sleep(delay) => {}
                            }
                        }
                        Err(e) => {
                            done(&m);
                            tracing::error!(cluster = %alias, error = %e, "cannot restore persisted links");
                            return;
                        }
                    }
                }
            }));
        }
    }

    /// Applies a reloaded config file to the links: new `[[links]]` start,
    /// removed ones stop (their state stays in the destination), changed
    /// ones restart with the new config, and a change of plugin chains only
    /// is swapped into the running link. An API link whose name a new file
    /// link takes is stopped (its definition stays persisted): the file
    /// wins. An API link whose config changes under `next` (its cluster
    /// aliases' settings, the plugins it names) restarts; one that no longer
    /// validates keeps running as it was (error log). The plugins of `next`
    /// must be loaded already. A `[clusters]` alias new in `next` is read
    /// for persisted links in the background, as at start. Returns the
    /// number of links whose change could not be applied.
    pub async fn apply_file_config(self: &Arc<Self>, next: &GatewayConfig) -> usize {
        let mut failed = 0;
        let mut running = self.running.lock().await;
        let added: Vec<String> = {
            let old = self.cfg.load();
            next.clusters
                .keys()
                .filter(|a| !old.clusters.contains_key(*a))
                .cloned()
                .collect()
        };
        self.cfg.store(Arc::new(next.clone()));
        let mut kept: Vec<Running> = Vec::new();
        let mut stopping: Vec<Running> = Vec::new();
        for r in running.drain(..) {
            let in_file = next.links.iter().any(|l| l.name == r.name());
            match r.view.origin {
                LinkOrigin::File if !in_file => {
                    tracing::info!(link = %r.name(), "link removed from the config file; stopping it (its state stays)");
                    stopping.push(r);
                }
                LinkOrigin::Api if in_file => {
                    tracing::warn!(link = %r.name(), "a config-file link now has the name of an API link; the config file wins (the API link's definition stays persisted)");
                    stopping.push(r);
                }
                _ => kept.push(r),
            }
        }
        for r in stopping {
            let name = r.name().to_string();
            Self::halt(r).await;
            self.registry.unregister_link(&name);
            self.drop_property_plugins(&name, &next.plugins);
        }
        let mut ordered: Vec<Running> = Vec::new();
        for l in &next.links {
            let Some(i) = kept.iter().position(|r| r.name() == l.name) else {
                tracing::info!(link = %l.name, "new link in the config file");
                ordered.push(self.launch(next, l.clone(), LinkOrigin::File, None));
                continue;
            };
            let r = kept.remove(i);
            if r.view.config == *l {
                ordered.push(r);
            } else if r.view.config.same_but_live(l) {
                let names = chain_names(l);
                let missing: Vec<&String> = [
                    &names.topic_filters,
                    &names.renamers,
                    &names.acl_mappers,
                    &names.record_transforms,
                ]
                .into_iter()
                .flatten()
                .filter(|n| self.plugins.get(n).is_none())
                .collect();
                if missing.is_empty() {
                    r.link.set_chain_names(names);
                    r.tasks.set_config(l.clone());
                    tracing::info!(link = %l.name, "link plugin chains and task settings updated from the changed config");
                    let view = Arc::new(ManagedLink {
                        origin: LinkOrigin::File,
                        config: l.clone(),
                        definition: None,
                        status: r.view.status.clone(),
                    });
                    ordered.push(Running { view, ..r });
                } else {
                    failed += 1;
                    tracing::error!(link = %l.name, ?missing, "plugins named by the link are not loaded; keeping its current chains");
                    ordered.push(r);
                }
            } else {
                tracing::info!(link = %l.name, "link settings changed in the config file; restarting the link");
                Self::halt(r).await;
                ordered.push(self.launch(next, l.clone(), LinkOrigin::File, None));
            }
        }
        // API links keep their order after the file links; one whose
        // config the new gateway config changes (cluster settings of its
        // destination or source alias, plugin declarations) restarts.
        for r in kept {
            let Some(def) = r.view.definition.clone() else {
                ordered.push(r);
                continue;
            };
            match def.build(next) {
                Ok(build) if build.link == r.view.config => ordered.push(r),
                Ok(build) => {
                    tracing::info!(link = %def.name, "the changed config file changes this API link; restarting it");
                    if let Err(e) = self.load_plugins(&build.plugins).await {
                        failed += 1;
                        tracing::error!(link = %def.name, error = %e, "keeping the running link");
                        ordered.push(r);
                        continue;
                    }
                    Self::halt(r).await;
                    ordered.push(self.launch(next, build.link, LinkOrigin::Api, Some(def)));
                }
                Err(e) => {
                    failed += 1;
                    tracing::error!(link = %def.name, error = %e,
                        "API link does not validate against the changed config file; it keeps running as it was");
                    ordered.push(r);
                }
            }
        }
        *running = ordered;
        self.publish(&running);
        drop(running);
        if !added.is_empty() {
            // New clusters may hold links persisted there.
            self.spawn_restore_for(added);
        }
        failed
    }

    /// Stops every link (the gateway shuts down): cancels them and waits at
    /// most `grace` for their in-flight rounds. Returns false when links
    /// were still running then.
    pub async fn stop_all(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        for t in self
            .restores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
        let all: Vec<Running> = {
            let mut running = self.running.lock().await;
            let all = running.drain(..).collect();
            self.publish(&running);
            all
        };
        tokio::time::timeout(
            grace,
            futures::future::join_all(all.into_iter().map(Self::halt)),
        )
        .await
        .is_ok()
    }

    /// Waits until the links persisted on `alias` have been read (before
    /// taking the `running` lock: the restore needs it), at most the
    /// cluster's request timeout.
    ///
    /// # Errors
    /// [`ControlError::Unavailable`] when they are still unread then.
    async fn wait_restored(&self, alias: &str) -> Result<(), ControlError> {
        let timeout = self
            .cfg
            .load()
            .clusters
            .get(alias)
            .map(|c| c.request_timeout)
            .unwrap_or(Duration::from_secs(30));
        let mut rx = self.restoring.subscribe();
        let ready = tokio::time::timeout(timeout, rx.wait_for(|set| !set.contains(alias)))
            .await
            .is_ok_and(|r| r.is_ok());
        if ready {
            return Ok(());
        }
        Err(ControlError::Unavailable {
                message: format!(
                    "the links persisted on cluster `{alias}` have not been read yet (is it reachable?); retry once they are"
                ),
            })
    }

    async fn create(&self, req: NewLink) -> Result<(), ControlError> {
        self.wait_restored(&req.destination_cluster).await?;
        let mut running = self.running.lock().await;
        let cfg = self.cfg.load_full();
        let name = req.link_name.clone();
        validate_link_name(&name).map_err(|message| ControlError::InvalidConfig {
            key: "link_name".into(),
            message,
        })?;
        if running.iter().any(|r| r.name() == name) || cfg.links.iter().any(|l| l.name == name) {
            return Err(ControlError::LinkExists(name));
        }
        let dest = req.destination_cluster.as_str();
        if dest == ANY_CLUSTER {
            return Err(ControlError::InvalidConfig {
                key: "cluster_id".into(),
                message: format!(
                    "name the destination cluster in the path, one of: {}",
                    cfg.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        if !cfg.clusters.contains_key(dest) {
            return Err(ControlError::ClusterNotFound(dest.to_string()));
        }
        let mut def = LinkDefinition::new(
            name.clone(),
            dest,
            req.source_cluster_id.clone(),
            req.configs.clone(),
        );
        let mut build = def.build(&cfg).map_err(invalid_config)?;
        let mut dest_client = None;
        if req.validate_link {
            let source = validate_cluster(&build.link.source, "source").await?;
            let found = source.cluster_id();
            match &req.source_cluster_id {
                Some(id) if !cfg.clusters.contains_key(id) => {
                    if found.as_deref() != Some(id.as_str()) {
                        return Err(ControlError::InvalidConfig {
                            key: "source_cluster_id".into(),
                            message: format!(
                                "the source cluster at {} has cluster id {}, not {id:?}",
                                build.link.source.bootstrap_servers.join(","),
                                found.as_deref().unwrap_or("(none reported)")
                            ),
                        });
                    }
                }
                Some(_) => {}
                None => {
                    // Record the source's Kafka cluster id: shown as the
                    // link's source_cluster_id, checked at each start.
                    if let Some(id) = found {
                        def.source_cluster_id = Some(id);
                        build = def.build(&cfg).map_err(invalid_config)?;
                    }
                }
            }
            dest_client = Some(validate_cluster(&build.link.destination, "destination").await?);
        }
        if req.validate_only {
            return Ok(());
        }
        let dest_client = match dest_client {
            Some(c) => c,
            None => connect_bounded(&build.link.destination).await?,
        };
        self.load_plugins(&build.plugins).await?;
        if let Err(e) = persist(&dest_client, &cfg, &def).await {
            self.drop_property_plugins(&name, &[]);
            return Err(e);
        }
        running.push(self.launch(&cfg, build.link, LinkOrigin::Api, Some(def)));
        self.publish(&running);
        tracing::info!(link = %name, destination = %dest, "cluster link created");
        Ok(())
    }

    async fn alter(&self, req: LinkConfigChange) -> Result<(), ControlError> {
        let mut running = self.running.lock().await;
        let cfg = self.cfg.load_full();
        let name = req.link_name.clone();
        let i = running
            .iter()
            .position(|r| r.name() == name)
            .ok_or_else(|| ControlError::LinkNotFound(name.clone()))?;
        let def = match running
            .get(i)
            .map(|r| (r.view.origin, r.view.definition.clone()))
        {
            Some((LinkOrigin::Api, Some(def))) => def,
            _ => return Err(ControlError::ManagedByConfigFile(name)),
        };
        let fixed = |property: &str, reason: &str| ControlError::NotAlterable {
            link: name.clone(),
            property: property.to_string(),
            reason: reason.to_string(),
        };
        for (property, reason) in NOT_ALTERABLE {
            let now = def.config(property);
            let set = req.set.iter().find(|(k, _)| k == property);
            if set.is_some_and(|(_, v)| now != Some(v.as_str()))
                || (req.reset.iter().any(|k| k == property) && now.is_some())
            {
                return Err(fixed(property, reason));
            }
        }
        let next = def.with_changes(&req.set, &req.reset);
        let build = next.build(&cfg).map_err(invalid_config)?;
        if req.validate_only {
            return Ok(());
        }
        let dest_client = connect_bounded(&build.link.destination).await?;
        let applied = match self.load_plugins(&build.plugins).await {
            Ok(()) => persist(&dest_client, &cfg, &next).await,
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            // A refused alter changes nothing: the running link's property
            // plugins (reloaded in place by `load_plugins`) go back to its
            // current definition's.
            self.restore_property_plugins(&cfg, &def).await;
            return Err(e);
        }
        if let Some(r) = running
            .get_mut(i)
            .filter(|r| r.view.config.same_but_tasks(&build.link))
        {
            // Only link task settings changed: the running link takes them
            // at its tasks' next run.
            r.tasks.set_config(build.link.clone());
            r.view = Arc::new(ManagedLink {
                origin: LinkOrigin::Api,
                config: build.link,
                definition: Some(next),
                status: r.view.status.clone(),
            });
            self.drop_property_plugins(&name, &build.plugins);
            self.publish(&running);
            tracing::info!(link = %name, "cluster link task settings altered; applied without a restart");
            return Ok(());
        }
        let old = running.remove(i);
        Self::halt(old).await;
        self.drop_property_plugins(&name, &build.plugins);
        let started = self.launch(&cfg, build.link, LinkOrigin::Api, Some(next));
        running.insert(i, started);
        self.publish(&running);
        tracing::info!(link = %name, "cluster link configs altered; link restarted");
        Ok(())
    }

    async fn delete(&self, req: LinkDeletion) -> Result<(), ControlError> {
        let mut running = self.running.lock().await;
        let cfg = self.cfg.load_full();
        let name = req.link_name.clone();
        let i = running
            .iter()
            .position(|r| r.name() == name)
            .ok_or_else(|| ControlError::LinkNotFound(name.clone()))?;
        let Some(r) = running.get(i) else {
            return Err(ControlError::LinkNotFound(name));
        };
        if r.view.origin == LinkOrigin::File {
            return Err(ControlError::ManagedByConfigFile(name));
        }
        let open = r.view.unstopped_mirrors();
        if !open.is_empty() && !req.force {
            return Err(ControlError::HasMirrors {
                link: name,
                mirrors: open,
            });
        }
        if req.validate_only {
            // With force: each mirror must be able to fail over.
            for mirror in &open {
                let result = r
                    .link
                    .alter_mirror(mirror, MirrorAction::Failover, true)
                    .await;
                if let Some(e) = result.error {
                    return Err(e);
                }
            }
            return Ok(());
        }
        let dest_client = connect_bounded(&r.view.config.destination).await?;
        for mirror in &open {
            let result = r
                .link
                .alter_mirror(mirror, MirrorAction::Failover, false)
                .await;
            if let Some(e) = result.error {
                return Err(e);
            }
        }
        let r = running.remove(i);
        let (config, definition) = (r.view.config.clone(), r.view.definition.clone());
        Self::halt(r).await;
        if let Err(e) = purge(&dest_client, &cfg.state_topic, &name).await {
            // Nothing is deleted: run the link again.
            running.insert(i, self.launch(&cfg, config, LinkOrigin::Api, definition));
            self.publish(&running);
            return Err(e);
        }
        self.registry.unregister_link(&name);
        self.drop_property_plugins(&name, &[]);
        self.publish(&running);
        tracing::info!(link = %name, force = req.force, "cluster link deleted");
        Ok(())
    }

    /// Creates a mirror topic on a running link. A link that is still
    /// connecting (just created, or restarted) is waited for, at most its
    /// `request.timeout.ms` (the longer of source and destination), so
    /// that a mirror created right after its link is set up rather than
    /// refused; then the refusal is the link's
    /// [`ControlError::Unavailable`] (503).
    async fn create_mirror_on(&self, req: NewMirror) -> Result<(), ControlError> {
        let started = tokio::time::Instant::now();
        loop {
            let running = self.running.lock().await;
            let r = running
                .iter()
                .find(|r| r.name() == req.link_name)
                .ok_or_else(|| ControlError::LinkNotFound(req.link_name.clone()))?;
            let link = &r.view.config;
            let budget = [&link.source, &link.destination]
                .iter()
                .map(|c| c.request_timeout)
                .max()
                .unwrap_or(Duration::from_secs(30));
            if r.link.is_running() || started.elapsed() >= budget {
                return r.link.create_mirror(&req).await;
            }
            // Not connected yet: let the link start (it takes no lock).
            drop(running);
            tokio::time::sleep(MIRROR_CREATE_POLL).await;
        }
    }

    async fn migrate_group_on(
        &self,
        req: GroupMigrationRequest,
    ) -> Result<GroupMigration, ControlError> {
        let (sync, link) = {
            let running = self.running.lock().await;
            let r = running
                .iter()
                .find(|r| r.name() == req.link_name)
                .ok_or_else(|| ControlError::LinkNotFound(req.link_name.clone()))?;
            let link = r.tasks.link().ok_or_else(|| ControlError::Unavailable {
                message: format!(
                    "cluster link '{}' is not connected yet; retry later",
                    req.link_name
                ),
            })?;
            (r.tasks.offset_sync().clone(), link)
        };
        crate::tasks::migrate::migrate(&sync, &link, &req).await
    }

    async fn alter_mirrors_on(
        &self,
        link: Option<String>,
        topics: Vec<String>,
        action: MirrorAction,
        validate_only: bool,
    ) -> Result<Vec<MirrorActionResult>, ControlError> {
        if topics.is_empty() {
            return Err(ControlError::InvalidConfig {
                key: "mirror_topic_names".into(),
                message: "name at least one mirror topic".into(),
            });
        }
        let running = self.running.lock().await;
        let only = match &link {
            Some(name) => Some(
                running
                    .iter()
                    .find(|r| r.name() == name.as_str())
                    .ok_or_else(|| ControlError::LinkNotFound(name.clone()))?,
            ),
            None => None,
        };
        let mut results = Vec::with_capacity(topics.len());
        for topic in topics {
            let target = only.or_else(|| {
                running
                    .iter()
                    .find(|r| r.view.mirror_topics().contains(&topic))
            });
            match target {
                Some(r) => results.push(r.link.alter_mirror(&topic, action, validate_only).await),
                None => results.push(MirrorActionResult {
                    error: Some(ControlError::MirrorNotFound {
                        link: ANY_CLUSTER.to_string(),
                        mirror: topic.clone(),
                    }),
                    mirror_topic_name: topic,
                    lags: Vec::new(),
                }),
            }
        }
        Ok(results)
    }
}

/// Why a cluster could not be reached within its timeouts.
enum Unreachable {
    /// The client's error (names the cluster and each address tried).
    Kafka(crate::kafka::KafkaError),
    /// No answer within the budget; the message names cluster and addresses.
    Timeout(String),
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kafka(e) => write!(f, "{e}"),
            Self::Timeout(m) => f.write_str(m),
        }
    }
}

/// Connects to a cluster within its timeouts (`connect_timeout` plus
/// `request_timeout` per bootstrap address).
async fn connect_within(settings: &ClusterSettings) -> Result<Arc<ClusterClient>, Unreachable> {
    let addresses = u32::try_from(settings.bootstrap_servers.len().max(1)).unwrap_or(u32::MAX);
    let budget = (settings.connect_timeout + settings.request_timeout).saturating_mul(addresses);
    match tokio::time::timeout(budget, ClusterClient::connect(settings.clone())).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(Unreachable::Kafka(e)),
        Err(_) => Err(Unreachable::Timeout(format!(
            "cluster `{}` ({}) did not answer within {} ms",
            settings.name,
            settings.bootstrap_servers.join(","),
            budget.as_millis()
        ))),
    }
}

/// [`connect_within`] for a cluster the gateway needs now (state topic):
/// a failure is [`ControlError::Unavailable`] (retriable).
async fn connect_bounded(settings: &ClusterSettings) -> Result<Arc<ClusterClient>, ControlError> {
    connect_within(settings)
        .await
        .map_err(|e| ControlError::Unavailable {
            message: e.to_string(),
        })
}

/// Validates that a link's cluster answers ([`connect_within`]) and maps a
/// failure to [`ControlError::LinkValidation`] with Confluent's link error
/// code ([`link_error_code`]; `TIMEOUT_ERROR` when the budget ran out) and
/// a message naming the side, the cluster and the addresses tried.
async fn validate_cluster(
    settings: &ClusterSettings,
    side: &str,
) -> Result<Arc<ClusterClient>, ControlError> {
    connect_within(settings).await.map_err(|e| {
        let code = match &e {
            Unreachable::Kafka(k) => link_error_code(k),
            Unreachable::Timeout(_) => "TIMEOUT_ERROR",
        };
        ControlError::LinkValidation {
            code: code.to_string(),
            message: format!("{side} cluster: {e}"),
        }
    })
}

/// Writes a link definition to the destination's state topic (creating
/// the topic if needed).
async fn persist(
    destination: &Arc<ClusterClient>,
    cfg: &GatewayConfig,
    def: &LinkDefinition,
) -> Result<(), ControlError> {
    let state_topic = cfg.state_topic.as_str();
    let json = def.to_json(cfg.secrets_key.as_ref())?;
    let unavailable = |e: crate::mirror::MirrorError| {
        ControlError::Unavailable {
        message: format!(
            "cannot persist cluster link '{}' in the state topic {state_topic} of cluster `{}`: {e}",
            def.name,
            destination.name()
        ),
    }
    };
    let store = StateStore::open(destination.clone(), state_topic)
        .await
        .map_err(unavailable)?;
    store
        .write(&[StateEntry::link_definition(&def.name, Some(json))])
        .await
        .map_err(unavailable)
}

/// Deletes everything of a link from the destination's state topic (when
/// it has one): its definition, mirror topic records, checkpoints and
/// offset maps ([`StateStore::purge_link`]). The link must be stopped.
async fn purge(
    destination: &Arc<ClusterClient>,
    state_topic: &str,
    link: &str,
) -> Result<(), ControlError> {
    let unavailable = |e: crate::mirror::MirrorError| {
        ControlError::Unavailable {
        message: format!(
            "cannot delete cluster link '{link}' from the state topic {state_topic} of cluster `{}`: {e}",
            destination.name()
        ),
    }
    };
    let Some(store) = StateStore::open_existing(destination.clone(), state_topic)
        .await
        .map_err(unavailable)?
    else {
        return Ok(());
    };
    store.purge_link(link).await.map_err(unavailable)
}

impl ApiState for LinkManager {
    fn links(&self) -> Vec<Arc<dyn LinkView>> {
        self.views
            .load()
            .iter()
            .map(|l| l.clone() as Arc<dyn LinkView>)
            .collect()
    }

    /// Every `[clusters]` alias: any of them can be a destination.
    fn cluster_ids(&self) -> Vec<String> {
        self.cfg.load().clusters.keys().cloned().collect()
    }

    fn control(&self) -> Option<&dyn ControlPlane> {
        Some(self)
    }
}

impl ControlPlane for LinkManager {
    fn create_link(&self, req: NewLink) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(self.create(req))
    }

    fn alter_link_configs(&self, req: LinkConfigChange) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(self.alter(req))
    }

    fn delete_link(&self, req: LinkDeletion) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(self.delete(req))
    }

    fn create_mirror(&self, req: NewMirror) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(self.create_mirror_on(req))
    }

    fn alter_mirrors(
        &self,
        link: Option<String>,
        mirror_topics: Vec<String>,
        action: MirrorAction,
        validate_only: bool,
    ) -> BoxFuture<'_, Result<Vec<MirrorActionResult>, ControlError>> {
        Box::pin(self.alter_mirrors_on(link, mirror_topics, action, validate_only))
    }

    fn migrate_group(
        &self,
        req: GroupMigrationRequest,
    ) -> BoxFuture<'_, Result<GroupMigration, ControlError>> {
        Box::pin(self.migrate_group_on(req))
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
