//! A loaded plugin version ([`LoadedPlugin`]): typed calls per kind, each
//! validated against the WIT contract and counted in the plugin metrics.
//! The calls go to a [`Guest`] backend: the wasm instance in production, a
//! plain Rust fake in the chain tests.

use std::time::{Duration, Instant, SystemTime};

use super::error::PluginError;
use super::metrics;
use super::types::{
    AclBinding, AclOperation, AclPermission, KafkaRecord, OnError, PatternType, PluginKind,
    RecordBatchIn, ResourceType, SourceTopic, Verdict,
};
use super::validate;

/// Name used for every self-check input (topic, group, resource).
pub const SELF_CHECK_NAME: &str = "linkgate-self-check";

/// What answers a plugin's calls. Each method is the raw WIT call, not yet
/// validated; a backend answers only the calls of its kind.
pub(crate) trait Guest: Send + Sync {
    fn mirror_topic(&self, topic: &SourceTopic) -> Result<bool, PluginError>;
    fn sync_group(&self, group: &str) -> Result<bool, PluginError>;
    fn rename_topic(&self, name: &str) -> Result<String, PluginError>;
    fn rename_group(&self, name: &str) -> Result<String, PluginError>;
    fn map_acl(&self, binding: &AclBinding) -> Result<Vec<AclBinding>, PluginError>;
    fn transform(&self, batch: &RecordBatchIn) -> Result<Vec<Verdict>, PluginError>;
}

impl Guest for super::guest::WasmGuest {
    fn mirror_topic(&self, topic: &SourceTopic) -> Result<bool, PluginError> {
        super::guest::WasmGuest::mirror_topic(self, topic)
    }
    fn sync_group(&self, group: &str) -> Result<bool, PluginError> {
        super::guest::WasmGuest::sync_group(self, group)
    }
    fn rename_topic(&self, name: &str) -> Result<String, PluginError> {
        super::guest::WasmGuest::rename_topic(self, name)
    }
    fn rename_group(&self, name: &str) -> Result<String, PluginError> {
        super::guest::WasmGuest::rename_group(self, name)
    }
    fn map_acl(&self, binding: &AclBinding) -> Result<Vec<AclBinding>, PluginError> {
        super::guest::WasmGuest::map_acl(self, binding)
    }
    fn transform(&self, batch: &RecordBatchIn) -> Result<Vec<Verdict>, PluginError> {
        super::guest::WasmGuest::transform(self, batch)
    }
}

/// The backend of a [`LoadedPlugin`].
pub(crate) enum Backend {
    /// A compiled component (production).
    Wasm(Box<super::guest::WasmGuest>),
    /// Any other implementation (tests).
    #[cfg(test)]
    Fake(Box<dyn Guest>),
}

impl Backend {
    fn guest(&self) -> &dyn Guest {
        match self {
            Backend::Wasm(g) => g.as_ref(),
            #[cfg(test)]
            Backend::Fake(g) => g.as_ref(),
        }
    }
}

/// One loaded, initialised and self-checked plugin version, ready for
/// calls. Shared as `Arc<LoadedPlugin>`; a hot swap replaces the `Arc` in
/// the registry while holders of the old one finish their calls on it.
///
/// Calls are synchronous and bounded by the plugin's deadline
/// ([`LoadedPlugin::timeout`], epoch interruption) and memory limit; calls
/// to one plugin version run one at a time (one instance keeps the state
/// `init` built). Call them from a context that may block for up to the
/// deadline: a blocking thread (`tokio::task::spawn_blocking`) or
/// `tokio::task::block_in_place` on a multi-thread runtime (the host
/// enters `block_in_place` itself when called on an async worker thread of
/// a multi-thread runtime, and uses a helper thread on a current-thread
/// runtime).
///
/// Every call error is also counted (`linkgate_plugin_errors_total`); after
/// a trap, timeout or memory error the instance is rebuilt on the next
/// call.
pub struct LoadedPlugin {
    pub(crate) name: String,
    pub(crate) kind: PluginKind,
    pub(crate) version: String,
    pub(crate) on_error: OnError,
    pub(crate) timeout: Duration,
    pub(crate) memory_limit: usize,
    pub(crate) loaded_at: SystemTime,
    pub(crate) backend: Backend,
    /// `plugin` and `version` metric labels of every call.
    pub(crate) labels: metrics::CallLabels,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("on_error", &self.on_error)
            .field("timeout", &self.timeout)
            .field("memory_limit", &self.memory_limit)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's kind (world).
    pub fn kind(&self) -> PluginKind {
        self.kind
    }

    /// Version: the first 12 hex digits of the SHA-256 of the component
    /// bytes ([`super::content_version`]).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What a failed call leads to in a chain.
    pub fn on_error(&self) -> OnError {
        self.on_error
    }

    /// Deadline of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Memory limit of the instance, bytes per linear memory.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// When this version finished loading (wall clock).
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    fn expect_kind(&self, kind: PluginKind, call: &'static str) -> Result<(), PluginError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(PluginError::KindMismatch {
                plugin: self.name.clone(),
                kind: self.kind,
                call,
            })
        }
    }

    fn invalid(&self, message: String) -> PluginError {
        PluginError::InvalidResult {
            plugin: self.name.clone(),
            version: self.version.clone(),
            message,
        }
    }

    /// Times `f`, counts the call and, on error, the error.
    fn observed<R>(&self, f: impl FnOnce() -> Result<R, PluginError>) -> Result<R, PluginError> {
        let start = Instant::now();
        let result = f();
        metrics::observe_call(&self.labels, start.elapsed().as_secs_f64());
        if let Err(e) = &result {
            metrics::add_error(&self.name, &self.version, e.kind());
        }
        result
    }

    fn mirror_topic_unobserved(&self, topic: &SourceTopic) -> Result<bool, PluginError> {
        self.expect_kind(PluginKind::TopicFilter, "mirror-topic")?;
        self.backend.guest().mirror_topic(topic)
    }

    fn sync_group_unobserved(&self, group: &str) -> Result<bool, PluginError> {
        self.expect_kind(PluginKind::GroupFilter, "sync-group")?;
        self.backend.guest().sync_group(group)
    }

    fn rename_topic_unobserved(&self, name: &str) -> Result<String, PluginError> {
        self.expect_kind(PluginKind::Renamer, "rename-topic")?;
        let renamed = self.backend.guest().rename_topic(name)?;
        validate::check_topic_name(&renamed)
            .map_err(|m| self.invalid(format!("rename-topic({name:?}): {m}")))?;
        Ok(renamed)
    }

    fn rename_group_unobserved(&self, name: &str) -> Result<String, PluginError> {
        self.expect_kind(PluginKind::Renamer, "rename-group")?;
        let renamed = self.backend.guest().rename_group(name)?;
        validate::check_group_name(&renamed)
            .map_err(|m| self.invalid(format!("rename-group({name:?}): {m}")))?;
        Ok(renamed)
    }

    fn map_acl_unobserved(&self, binding: &AclBinding) -> Result<Vec<AclBinding>, PluginError> {
        self.expect_kind(PluginKind::AclMapper, "map-acl")?;
        self.backend.guest().map_acl(binding)
    }

    fn transform_unobserved(&self, batch: &RecordBatchIn) -> Result<Vec<Verdict>, PluginError> {
        self.expect_kind(PluginKind::RecordTransform, "transform")?;
        let verdicts = self.backend.guest().transform(batch)?;
        validate::check_verdicts(&verdicts, batch.records.len())
            .map_err(|m| self.invalid(format!("transform: {m}")))?;
        Ok(verdicts)
    }

    /// Topic filter: whether to mirror `topic` (WIT `mirror-topic`).
    ///
    /// Errors: [`PluginError::KindMismatch`] on another kind; `Trap`,
    /// `Timeout`, `OutOfMemory`, `InitRejected` (re-init after an earlier
    /// failure).
    pub fn mirror_topic(&self, topic: &SourceTopic) -> Result<bool, PluginError> {
        self.observed(|| self.mirror_topic_unobserved(topic))
    }

    /// Group filter: whether the offset sync takes source consumer group
    /// `group` (WIT `sync-group`). Errors as [`LoadedPlugin::mirror_topic`].
    pub fn sync_group(&self, group: &str) -> Result<bool, PluginError> {
        self.observed(|| self.sync_group_unobserved(group))
    }

    /// Renamer: destination topic name for source topic `name` (WIT
    /// `rename-topic`). The answer must be a valid Kafka topic name (1 to
    /// 249 of `[a-zA-Z0-9._-]`, not `.` or `..`), else
    /// [`PluginError::InvalidResult`]. Other errors as
    /// [`LoadedPlugin::mirror_topic`].
    pub fn rename_topic(&self, name: &str) -> Result<String, PluginError> {
        self.observed(|| self.rename_topic_unobserved(name))
    }

    /// Renamer: destination consumer group for source group `name` (WIT
    /// `rename-group`); an empty answer is [`PluginError::InvalidResult`].
    pub fn rename_group(&self, name: &str) -> Result<String, PluginError> {
        self.observed(|| self.rename_group_unobserved(name))
    }

    /// ACL mapper: the destination bindings for one source binding (WIT
    /// `map-acl`; zero = drop).
    pub fn map_acl(&self, binding: &AclBinding) -> Result<Vec<AclBinding>, PluginError> {
        self.observed(|| self.map_acl_unobserved(binding))
    }

    /// Record transform: one verdict per record of `batch` (WIT
    /// `transform`). Must be exactly `batch.records.len()` verdicts with
    /// replacement timestamps >= -1, else [`PluginError::InvalidResult`].
    /// Counts records in and out (kept + replaced).
    pub fn transform(&self, batch: &RecordBatchIn) -> Result<Vec<Verdict>, PluginError> {
        let verdicts = self.observed(|| self.transform_unobserved(batch))?;
        let out = verdicts
            .iter()
            .filter(|v| !matches!(v, Verdict::Drop))
            .count();
        metrics::add_records(&self.labels, batch.records.len(), out);
        Ok(verdicts)
    }

    /// One call with a dummy input of the plugin's kind, validated but not
    /// counted (see [`super::PluginHost::load_blocking`]).
    pub(crate) fn self_check(&self) -> Result<(), PluginError> {
        match self.kind {
            PluginKind::TopicFilter => self
                .mirror_topic_unobserved(&SourceTopic {
                    name: SELF_CHECK_NAME.to_string(),
                    partitions: 1,
                    configs: Vec::new(),
                    internal: false,
                })
                .map(|_| ()),
            PluginKind::GroupFilter => self.sync_group_unobserved(SELF_CHECK_NAME).map(|_| ()),
            PluginKind::Renamer => {
                self.rename_topic_unobserved(SELF_CHECK_NAME)?;
                self.rename_group_unobserved(SELF_CHECK_NAME).map(|_| ())
            }
            PluginKind::AclMapper => self
                .map_acl_unobserved(&AclBinding {
                    resource_type: ResourceType::Topic,
                    resource_name: SELF_CHECK_NAME.to_string(),
                    pattern_type: PatternType::Literal,
                    principal: format!("User:{SELF_CHECK_NAME}"),
                    host: "*".to_string(),
                    operation: AclOperation::Read,
                    permission: AclPermission::Allow,
                })
                .map(|_| ()),
            PluginKind::RecordTransform => self
                .transform_unobserved(&RecordBatchIn {
                    topic: SELF_CHECK_NAME.to_string(),
                    partition: 0,
                    records: vec![KafkaRecord {
                        offset: 0,
                        timestamp: 0,
                        key: Some(b"key".to_vec()),
                        value: Some(b"value".to_vec()),
                        headers: Vec::new(),
                    }],
                })
                .map(|_| ()),
        }
    }

    /// A plugin answered by `guest` (chain tests).
    #[cfg(test)]
    pub(crate) fn fake(
        name: &str,
        kind: PluginKind,
        on_error: OnError,
        guest: impl Guest + 'static,
    ) -> LoadedPlugin {
        LoadedPlugin {
            name: name.to_string(),
            kind,
            version: "fake".to_string(),
            on_error,
            timeout: Duration::from_millis(100),
            memory_limit: 1 << 20,
            loaded_at: SystemTime::now(),
            backend: Backend::Fake(Box::new(guest)),
            labels: metrics::CallLabels::new(name, "fake"),
        }
    }
}
