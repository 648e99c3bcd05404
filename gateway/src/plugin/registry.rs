//! The plugin registry ([`PluginRegistry`]): the plugin versions the gateway
//! currently serves, by name, as one immutable [`PluginSet`] behind an
//! `ArcSwap`, hot swap ([`PluginRegistry::reload`]), per-plugin status, and
//! chain snapshots for links ([`PluginSet::chains`]).
//!
//! Hot swap: a reload compiles, instantiates, initialises and self-checks
//! the new version first, off the data plane, and only then swaps a new
//! set in with one atomic store. A reader sees either the old set or the
//! new one, never a mix; work started on an old `Arc<LoadedPlugin>` (or a
//! `Chains` built from an old set) finishes on that version. A failed load
//! changes nothing but the status (last error, failure count) and the
//! reload metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use super::chain::Chains;
use super::error::PluginError;
use super::host::PluginHost;
use super::loaded::LoadedPlugin;
use super::metrics;
use super::types::{PluginKind, PluginSpec};

/// The plugin names a link's chains use, per kind, in chain order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainNames {
    /// Topic filter names.
    pub topic_filters: Vec<String>,
    /// Renamer names.
    pub renamers: Vec<String>,
    /// ACL mapper names.
    pub acl_mappers: Vec<String>,
    /// Record transform names.
    pub record_transforms: Vec<String>,
}

/// One immutable set of loaded plugins, by name.
#[derive(Debug, Default)]
pub struct PluginSet {
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    generation: u64,
}

impl PluginSet {
    /// The plugin of that name.
    pub fn get(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.get(name)
    }

    /// All plugins, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.plugins.values()
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Counts the swaps that made this set (0 for the first, empty one). A
    /// data-plane task that caches `Chains` rebuilds them when the
    /// registry's generation differs from the one it built them from.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The chains of `names`, with this set's versions.
    ///
    /// Errors: [`PluginError::NotLoaded`] for a name with no plugin,
    /// [`PluginError::KindMismatch`] for a name listed under another kind
    /// than the plugin's.
    pub fn chains(&self, names: &ChainNames) -> Result<Chains, PluginError> {
        let pick = |list: &[String], kind: PluginKind, call: &'static str| {
            list.iter()
                .map(|name| {
                    let p = self.get(name).ok_or_else(|| PluginError::NotLoaded {
                        plugin: name.clone(),
                    })?;
                    if p.kind() != kind {
                        return Err(PluginError::KindMismatch {
                            plugin: name.clone(),
                            kind: p.kind(),
                            call,
                        });
                    }
                    Ok(p.clone())
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Chains {
            group_filters: Vec::new(),
            topic_filters: pick(
                &names.topic_filters,
                PluginKind::TopicFilter,
                "mirror-topic",
            )?,
            renamers: pick(&names.renamers, PluginKind::Renamer, "rename-topic")?,
            acl_mappers: pick(&names.acl_mappers, PluginKind::AclMapper, "map-acl")?,
            record_transforms: pick(
                &names.record_transforms,
                PluginKind::RecordTransform,
                "transform",
            )?,
        })
    }
}

impl PluginSet {
    /// The consumer group filter chain of `names` (in order), with this
    /// set's versions: a [`Chains`] with only `group_filters` set. The
    /// group filters are a setting of a link's offset sync task, read with
    /// the task's settings before every run, so they are not part of
    /// [`ChainNames`].
    ///
    /// Errors: [`PluginError::NotLoaded`] for a name with no plugin,
    /// [`PluginError::KindMismatch`] for a plugin of another kind.
    pub fn group_filters(&self, names: &[String]) -> Result<Chains, PluginError> {
        let group_filters = names
            .iter()
            .map(|name| {
                let p = self.get(name).ok_or_else(|| PluginError::NotLoaded {
                    plugin: name.clone(),
                })?;
                if p.kind() != PluginKind::GroupFilter {
                    return Err(PluginError::KindMismatch {
                        plugin: name.clone(),
                        kind: p.kind(),
                        call: "sync-group",
                    });
                }
                Ok(p.clone())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Chains {
            group_filters,
            ..Chains::default()
        })
    }
}

/// Status of one plugin name, for the API and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStatus {
    /// Plugin name.
    pub name: String,
    /// Kind of the last load attempt.
    pub kind: PluginKind,
    /// Version served now; `None` if no load has succeeded yet.
    pub version: Option<String>,
    /// When the served version was swapped in.
    pub loaded_at: Option<SystemTime>,
    /// Message of the last failed load, kept until a load succeeds.
    pub last_error: Option<String>,
    /// [`PluginError::kind`] of the last failed load.
    pub last_error_kind: Option<&'static str>,
    /// When the last load failed.
    pub last_error_at: Option<SystemTime>,
    /// Successful loads (the first included).
    pub reloads_ok: u64,
    /// Failed loads.
    pub reloads_failed: u64,
}

impl PluginStatus {
    fn new(name: &str, kind: PluginKind) -> PluginStatus {
        PluginStatus {
            name: name.to_string(),
            kind,
            version: None,
            loaded_at: None,
            last_error: None,
            last_error_kind: None,
            last_error_at: None,
            reloads_ok: 0,
            reloads_failed: 0,
        }
    }
}

/// The plugins the gateway serves, hot-swappable (see the module doc).
/// Share it as `Arc<PluginRegistry>`.
pub struct PluginRegistry {
    host: PluginHost,
    set: ArcSwap<PluginSet>,
    status: Mutex<BTreeMap<String, PluginStatus>>,
    /// Serialises the read-modify-write of `set` (loads run unlocked).
    swap: Mutex<()>,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("plugins", &self.set.load().len())
            .field("generation", &self.set.load().generation)
            .finish_non_exhaustive()
    }
}

impl PluginRegistry {
    /// An empty registry loading plugins with `host`.
    pub fn new(host: PluginHost) -> PluginRegistry {
        PluginRegistry {
            host,
            set: ArcSwap::from_pointee(PluginSet::default()),
            status: Mutex::new(BTreeMap::new()),
            swap: Mutex::new(()),
        }
    }

    /// The host plugins are loaded with.
    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// The current set (one atomic load; never blocks).
    pub fn snapshot(&self) -> Arc<PluginSet> {
        self.set.load_full()
    }

    /// The current version of plugin `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.set.load().get(name).cloned()
    }

    /// Generation of the current set ([`PluginSet::generation`]).
    pub fn generation(&self) -> u64 {
        self.set.load().generation
    }

    /// Chains of `names` from the current set ([`PluginSet::chains`]).
    pub fn chains_for(&self, names: &ChainNames) -> Result<Chains, PluginError> {
        self.snapshot().chains(names)
    }

    /// The group filter chain of `names` from the current set
    /// ([`PluginSet::group_filters`]).
    pub fn group_filters_for(&self, names: &[String]) -> Result<Chains, PluginError> {
        self.snapshot().group_filters(names)
    }

    /// Loads `spec` ([`PluginHost::load`], on the blocking pool) and, if
    /// that fully succeeds, swaps it in under `spec.name`, replacing any
    /// previous version atomically. On failure the previous version (if
    /// any) stays, the status records the error, and the error is returned.
    /// Must be called inside a tokio runtime.
    pub async fn reload(&self, spec: PluginSpec) -> Result<(), PluginError> {
        let (name, kind) = (spec.name.clone(), spec.kind);
        let loaded = self.host.load(spec).await;
        self.finish_reload(&name, kind, loaded)
    }

    /// [`PluginRegistry::reload`] on the calling thread (a blocking context:
    /// the file watcher, `spawn_blocking`, tests).
    pub fn reload_blocking(&self, spec: PluginSpec) -> Result<(), PluginError> {
        let (name, kind) = (spec.name.clone(), spec.kind);
        let loaded = self.host.load_blocking(spec);
        self.finish_reload(&name, kind, loaded)
    }

    /// Swaps in a loaded plugin, or records a failed load.
    pub(crate) fn finish_reload(
        &self,
        name: &str,
        kind: PluginKind,
        loaded: Result<Arc<LoadedPlugin>, PluginError>,
    ) -> Result<(), PluginError> {
        match loaded {
            Ok(plugin) => {
                self.install(plugin);
                Ok(())
            }
            Err(err) => {
                metrics::add_reload(name, false);
                if let Some(version) = error_version(&err) {
                    metrics::add_error(name, version, err.kind());
                }
                let kept = self.get(name).map(|p| p.version().to_string());
                tracing::warn!(
                    plugin = %name,
                    kind = %kind,
                    error = %err,
                    kept_version = kept.as_deref().unwrap_or("none"),
                    "plugin load failed; the previous version (if any) stays"
                );
                let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
                let entry = status
                    .entry(name.to_string())
                    .or_insert_with(|| PluginStatus::new(name, kind));
                entry.kind = kind;
                entry.last_error = Some(err.to_string());
                entry.last_error_kind = Some(err.kind());
                entry.last_error_at = Some(SystemTime::now());
                entry.reloads_failed += 1;
                Err(err)
            }
        }
    }

    /// Swaps `plugin` in under its name.
    fn install(&self, plugin: Arc<LoadedPlugin>) {
        let name = plugin.name().to_string();
        let previous = {
            let _guard = self.swap.lock().unwrap_or_else(|p| p.into_inner());
            let current = self.set.load_full();
            let mut plugins = current.plugins.clone();
            let previous = plugins.insert(name.clone(), plugin.clone());
            self.set.store(Arc::new(PluginSet {
                plugins,
                generation: current.generation + 1,
            }));
            previous
        };
        if let Some(old) = &previous {
            if old.version() != plugin.version() {
                metrics::set_loaded(&name, old.version(), false);
            }
        }
        metrics::set_loaded(&name, plugin.version(), true);
        metrics::add_reload(&name, true);
        tracing::info!(
            plugin = %name,
            kind = %plugin.kind(),
            version = %plugin.version(),
            previous = previous.as_ref().map(|p| p.version()).unwrap_or("none"),
            "plugin loaded"
        );
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let entry = status
            .entry(name.clone())
            .or_insert_with(|| PluginStatus::new(&name, plugin.kind()));
        entry.kind = plugin.kind();
        entry.version = Some(plugin.version().to_string());
        entry.loaded_at = Some(plugin.loaded_at());
        entry.last_error = None;
        entry.last_error_kind = None;
        entry.last_error_at = None;
        entry.reloads_ok += 1;
    }

    /// Removes plugin `name` (config change). Chains built before keep
    /// their `Arc`. Returns the removed version.
    pub fn remove(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        let removed = {
            let _guard = self.swap.lock().unwrap_or_else(|p| p.into_inner());
            let current = self.set.load_full();
            if !current.plugins.contains_key(name) {
                None
            } else {
                let mut plugins = current.plugins.clone();
                let removed = plugins.remove(name);
                self.set.store(Arc::new(PluginSet {
                    plugins,
                    generation: current.generation + 1,
                }));
                removed
            }
        };
        if let Some(p) = &removed {
            metrics::set_loaded(name, p.version(), false);
        }
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        removed
    }

    /// Status of every plugin name that was loaded or tried, by name.
    pub fn status(&self) -> Vec<PluginStatus> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Status of one plugin name.
    pub fn status_of(&self, name: &str) -> Option<PluginStatus> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

/// The version an error names, if the bytes were hashed.
fn error_version(err: &PluginError) -> Option<&str> {
    match err {
        PluginError::Compile { version, .. }
        | PluginError::WrongWorld { version, .. }
        | PluginError::Link { version, .. }
        | PluginError::InitRejected { version, .. }
        | PluginError::Trap { version, .. }
        | PluginError::Timeout { version, .. }
        | PluginError::OutOfMemory { version, .. }
        | PluginError::InvalidResult { version, .. } => Some(version),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::loaded::Guest;
    use crate::plugin::types::{AclBinding, OnError, RecordBatchIn, SourceTopic, Verdict};

    struct Yes;
    impl Guest for Yes {
        fn mirror_topic(&self, _: &SourceTopic) -> Result<bool, PluginError> {
            Ok(true)
        }
        fn sync_group(&self, _: &str) -> Result<bool, PluginError> {
            Ok(true)
        }
        fn rename_topic(&self, n: &str) -> Result<String, PluginError> {
            Ok(n.to_string())
        }
        fn rename_group(&self, n: &str) -> Result<String, PluginError> {
            Ok(n.to_string())
        }
        fn map_acl(&self, b: &AclBinding) -> Result<Vec<AclBinding>, PluginError> {
            Ok(vec![b.clone()])
        }
        fn transform(&self, b: &RecordBatchIn) -> Result<Vec<Verdict>, PluginError> {
            Ok(vec![Verdict::Keep; b.records.len()])
        }
    }

    fn registry() -> PluginRegistry {
        PluginRegistry::new(PluginHost::new().unwrap())
    }

    #[test]
    fn install_swaps_and_counts_and_failures_keep_the_old_version() {
        let reg = registry();
        assert_eq!(reg.generation(), 0);
        let p = Arc::new(LoadedPlugin::fake(
            "f",
            PluginKind::TopicFilter,
            OnError::Fail,
            Yes,
        ));
        reg.install(p.clone());
        assert_eq!(reg.generation(), 1);
        assert!(Arc::ptr_eq(&reg.get("f").unwrap(), &p));

        let err = reg
            .reload_blocking(PluginSpec::new(
                "f",
                PluginKind::TopicFilter,
                b"nope".to_vec(),
            ))
            .unwrap_err();
        assert_eq!(err.kind(), "not_wasm");
        assert!(Arc::ptr_eq(&reg.get("f").unwrap(), &p), "old version kept");
        assert_eq!(reg.generation(), 1);
        let st = reg.status_of("f").unwrap();
        assert_eq!(st.version.as_deref(), Some("fake"));
        assert_eq!(st.reloads_ok, 1);
        assert_eq!(st.reloads_failed, 1);
        assert_eq!(st.last_error_kind, Some("not_wasm"));

        let p2 = Arc::new(LoadedPlugin::fake(
            "f",
            PluginKind::TopicFilter,
            OnError::Fail,
            Yes,
        ));
        reg.install(p2.clone());
        let st = reg.status_of("f").unwrap();
        assert_eq!(st.last_error, None, "a success clears the last error");
        assert_eq!(st.reloads_ok, 2);

        assert!(reg.remove("f").is_some());
        assert!(reg.get("f").is_none());
        assert!(reg.remove("f").is_none());
    }

    #[test]
    fn chains_check_names_and_kinds() {
        let reg = registry();
        reg.install(Arc::new(LoadedPlugin::fake(
            "f",
            PluginKind::TopicFilter,
            OnError::Fail,
            Yes,
        )));
        reg.install(Arc::new(LoadedPlugin::fake(
            "r",
            PluginKind::Renamer,
            OnError::Fail,
            Yes,
        )));
        let chains = reg
            .chains_for(&ChainNames {
                topic_filters: vec!["f".into()],
                renamers: vec!["r".into(), "r".into()],
                ..ChainNames::default()
            })
            .unwrap();
        assert_eq!(chains.topic_filters.len(), 1);
        assert_eq!(chains.renamers.len(), 2);
        assert!(!chains.has_record_transforms());

        let e = reg
            .chains_for(&ChainNames {
                record_transforms: vec!["r".into()],
                ..ChainNames::default()
            })
            .unwrap_err();
        assert_eq!(e.kind(), "kind_mismatch");
        reg.install(Arc::new(LoadedPlugin::fake(
            "g",
            PluginKind::GroupFilter,
            OnError::Fail,
            Yes,
        )));
        let groups = reg
            .group_filters_for(&["g".to_string(), "g".to_string()])
            .unwrap();
        assert_eq!(groups.group_filters.len(), 2);
        assert!(groups.topic_filters.is_empty() && groups.renamers.is_empty());
        assert_eq!(groups.sync_group("any"), Ok(true));
        let e = reg.group_filters_for(&["f".to_string()]).unwrap_err();
        assert_eq!(e.kind(), "kind_mismatch");
        assert!(e.to_string().contains("sync-group"), "{e}");
        let e = reg.group_filters_for(&["nope".to_string()]).unwrap_err();
        assert_eq!(e.kind(), "not_loaded");

        let e = reg
            .chains_for(&ChainNames {
                acl_mappers: vec!["missing".into()],
                ..ChainNames::default()
            })
            .unwrap_err();
        assert_eq!(
            e,
            PluginError::NotLoaded {
                plugin: "missing".into()
            }
        );
    }
}
