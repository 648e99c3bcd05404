//! An in-memory [`LinkView`] for tests: a config, properties, a health and a
//! status table the test fills directly.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::view::{LinkHealth, LinkProperty, LinkView};
use crate::config::{ConfigError, GatewayConfig, LinkConfig};
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
