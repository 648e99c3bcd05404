//! In-memory stand-ins for tests, with no broker: [`FakeLink`] (a
//! [`LinkView`] whose config, properties, health and status table the test
//! fills directly), [`FakeControl`] (a [`ControlPlane`] that records every
//! call and answers as told) and [`FakeState`] (an [`ApiState`] over both).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;

use super::view::{ApiState, LinkHealth, LinkProperty, LinkView};
use crate::config::{ConfigError, GatewayConfig, LinkConfig};
use crate::control::{
    ControlError, ControlPlane, LinkConfigChange, LinkDeletion, MirrorAction, MirrorActionResult,
    NewLink, NewMirror, PartitionLag,
};
use crate::mirror::LinkStatus;

/// A link whose every answer is a public field.
#[derive(Debug, Clone)]
pub struct FakeLink {
    /// Config (name, cluster aliases, paused, auto-create, mirror topics).
    pub config: LinkConfig,
    /// Properties returned as configured (the API hides sensitive values).
    pub properties: Vec<LinkProperty>,
    /// Health; `None` derives it from `config.paused`.
    pub health: Option<LinkHealth>,
    /// Status table (shared: tests update it after building the router).
    pub status: LinkStatus,
    /// Mirror topic -> source topic where they differ.
    pub sources: BTreeMap<String, String>,
}

impl FakeLink {
    /// A link `name` from cluster alias `source` to `destination`, mirroring
    /// `topics`, unpaused, auto-create off, no properties, empty status. The
    /// config is built by [`GatewayConfig::parse`] from a minimal config
    /// text, so it gets every default the config loader gives.
    ///
    /// # Errors
    /// [`ConfigError`] when a name is not valid in a config file.
    pub fn new(
        name: &str,
        source: &str,
        destination: &str,
        topics: &[&str],
    ) -> Result<Self, ConfigError> {
        let topics = topics
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "[clusters.{source:?}]\n\"bootstrap.servers\" = \"127.0.0.1:1\"\n\
             [clusters.{destination:?}]\n\"bootstrap.servers\" = \"127.0.0.1:1\"\n\
             [[links]]\nname = {name:?}\nsource = {source:?}\ndestination = {destination:?}\n\
             mirror_topics = [{topics}]\n"
        );
        let gateway = GatewayConfig::parse(&text, "fake link")?;
        let config = gateway
            .links
            .into_iter()
            .next()
            .ok_or_else(|| ConfigError::Invalid {
                key: "links".to_string(),
                message: "fake link config produced no link".to_string(),
            })?;
        Ok(Self {
            config,
            properties: Vec::new(),
            health: None,
            status: LinkStatus::default(),
            sources: BTreeMap::new(),
        })
    }

    /// Boxes this link for an [`super::ApiState`] list.
    pub fn shared(self) -> Arc<dyn LinkView> {
        Arc::new(self)
    }
}

impl LinkView for FakeLink {
    fn config(&self) -> &LinkConfig {
        &self.config
    }

    fn status(&self) -> &LinkStatus {
        &self.status
    }

    fn properties(&self) -> Vec<LinkProperty> {
        self.properties.clone()
    }

    fn health(&self) -> LinkHealth {
        self.health
            .clone()
            .unwrap_or_else(|| LinkHealth::configured(&self.config))
    }

    fn source_topic(&self, mirror_topic: &str) -> String {
        self.sources
            .get(mirror_topic)
            .cloned()
            .unwrap_or_else(|| mirror_topic.to_string())
    }
}

/// One call received by a [`FakeControl`], with its request as passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCall {
    /// [`ControlPlane::create_link`].
    CreateLink(NewLink),
    /// [`ControlPlane::alter_link_configs`].
    AlterLinkConfigs(LinkConfigChange),
    /// [`ControlPlane::delete_link`].
    DeleteLink(LinkDeletion),
    /// [`ControlPlane::create_mirror`].
    CreateMirror(NewMirror),
    /// [`ControlPlane::alter_mirrors`].
    AlterMirrors {
        /// Link, `None` for `-`.
        link: Option<String>,
        /// Mirror topics, as asked.
        mirror_topics: Vec<String>,
        /// The action.
        action: MirrorAction,
        /// Check only.
        validate_only: bool,
    },
}

#[derive(Debug, Default)]
struct Script {
    calls: Vec<ControlCall>,
    fail: Option<ControlError>,
    topic_errors: HashMap<String, ControlError>,
    lags: HashMap<String, Vec<PartitionLag>>,
}

/// A [`ControlPlane`] that changes nothing: it records each call
/// ([`FakeControl::calls`]) and answers `Ok` (for `alter_mirrors`, one
/// result per topic in the order asked, with the topic's scripted error and
/// lags), or the error set by [`FakeControl::fail_with`] for every call.
#[derive(Debug, Default)]
pub struct FakeControl {
    script: Mutex<Script>,
}

impl FakeControl {
    /// A control plane that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        // A test that panicked while holding the lock poisons it; the data
        // is still consistent (every update is one assignment or push).
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<ControlCall> {
        self.script().calls.clone()
    }

    /// From now on every call fails with `error` (still recorded); `None`
    /// makes calls succeed again.
    pub fn fail_with(&self, error: Option<ControlError>) {
        self.script().fail = error;
    }

    /// `alter_mirrors` reports `error` for `mirror_topic` (the other topics
    /// still succeed).
    pub fn fail_topic(&self, mirror_topic: &str, error: ControlError) {
        self.script()
            .topic_errors
            .insert(mirror_topic.to_string(), error);
    }

    /// `alter_mirrors` reports `lags` for `mirror_topic` (default none).
    pub fn set_lags(&self, mirror_topic: &str, lags: Vec<PartitionLag>) {
        self.script().lags.insert(mirror_topic.to_string(), lags);
    }

    fn record(&self, call: ControlCall) -> Result<(), ControlError> {
        let mut script = self.script();
        script.calls.push(call);
        script.fail.clone().map_or(Ok(()), Err)
    }
}

impl ControlPlane for FakeControl {
    fn create_link(&self, req: NewLink) -> BoxFuture<'_, Result<(), ControlError>> {
        let r = self.record(ControlCall::CreateLink(req));
        Box::pin(async move { r })
    }

    fn alter_link_configs(&self, req: LinkConfigChange) -> BoxFuture<'_, Result<(), ControlError>> {
        let r = self.record(ControlCall::AlterLinkConfigs(req));
        Box::pin(async move { r })
    }

    fn delete_link(&self, req: LinkDeletion) -> BoxFuture<'_, Result<(), ControlError>> {
        let r = self.record(ControlCall::DeleteLink(req));
        Box::pin(async move { r })
    }

    fn create_mirror(&self, req: NewMirror) -> BoxFuture<'_, Result<(), ControlError>> {
        let r = self.record(ControlCall::CreateMirror(req));
        Box::pin(async move { r })
    }

    fn alter_mirrors(
        &self,
        link: Option<String>,
        mirror_topics: Vec<String>,
        action: MirrorAction,
        validate_only: bool,
    ) -> BoxFuture<'_, Result<Vec<MirrorActionResult>, ControlError>> {
        let r = self
            .record(ControlCall::AlterMirrors {
                link,
                mirror_topics: mirror_topics.clone(),
                action,
                validate_only,
            })
            .map(|()| {
                let script = self.script();
                mirror_topics
                    .into_iter()
                    .map(|t| MirrorActionResult {
                        error: script.topic_errors.get(&t).cloned(),
                        lags: script.lags.get(&t).cloned().unwrap_or_default(),
                        mirror_topic_name: t,
                    })
                    .collect()
            });
        Box::pin(async move { r })
    }
}

/// An [`ApiState`] over fixed links and an optional [`FakeControl`]
/// (`None`: mutating endpoints answer 501).
#[derive(Clone)]
pub struct FakeState {
    /// The links, in order.
    pub links: Vec<Arc<dyn LinkView>>,
    /// The control plane.
    pub control: Option<Arc<FakeControl>>,
    /// Cluster ids the path may name; `None`: the links' destinations.
    pub cluster_ids: Option<Vec<String>>,
}

impl FakeState {
    /// A state over `links` with a fresh [`FakeControl`], returned too.
    pub fn with_control(links: Vec<Arc<dyn LinkView>>) -> (Self, Arc<FakeControl>) {
        let control = Arc::new(FakeControl::new());
        (
            Self {
                links,
                control: Some(control.clone()),
                cluster_ids: None,
            },
            control,
        )
    }
}

impl ApiState for FakeState {
    fn links(&self) -> Vec<Arc<dyn LinkView>> {
        self.links.clone()
    }

    fn cluster_ids(&self) -> Vec<String> {
        match &self.cluster_ids {
            Some(ids) => ids.clone(),
            None => self
                .links
                .iter()
                .map(|l| l.destination_cluster_id())
                .collect(),
        }
    }

    fn control(&self) -> Option<&dyn ControlPlane> {
        self.control.as_deref().map(|c| c as &dyn ControlPlane)
    }
}
