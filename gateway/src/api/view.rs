//! What the REST API reads: the [`ApiState`] and [`LinkView`] traits that the
//! runtime implements, and the value types they return (link properties,
//! link state, task status).
//!
//! These traits are the read side of the control plane; the mutating side
//! is [`crate::control::ControlPlane`], reached through
//! [`ApiState::control`].

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::config::LinkConfig;
use crate::mirror::LinkStatus;

/// One link property (Confluent link configuration entry), as listed by
/// `GET .../links/{link_name}/configs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkProperty {
    /// Property name, e.g. `cluster.link.paused` or `sasl.jaas.config`.
    pub name: String,
    /// Value as text (what the operator configured or the default).
    pub value: String,
    /// A secret (password-typed in Kafka's `ConfigDef`). Its value is never
    /// output by the API: it is shown as the empty string.
    pub sensitive: bool,
    /// The API cannot change it (`read_only` of the config entry): a
    /// property fixed when the link was created, or any property of a link
    /// from the config file.
    pub read_only: bool,
}

impl LinkProperty {
    /// A property whose `sensitive` flag follows [`property_is_sensitive`],
    /// not read-only.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        let sensitive = property_is_sensitive(&name);
        Self {
            name,
            value: value.into(),
            sensitive,
            read_only: false,
        }
    }

    /// This property with `read_only` set to `read_only`.
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}

pub use crate::secret::property_is_sensitive;

pub use crate::mirror::status::{LinkHealth, LinkState};

/// One link task (Confluent `link task list`): `AclSync`,
/// `AutoCreateMirror`, `ConsumerOffsetSync`, `TopicConfigsSync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTask {
    /// Task name, e.g. `AutoCreateMirror`.
    pub name: String,
    /// `ACTIVE`, `IN_ERROR`, `NOT_CONFIGURED`, `LINK_FAILED`,
    /// `LINK_UNAVAILABLE` or `LINK_PAUSED`.
    pub state: String,
    /// `(error_code, error_message)` pairs; empty unless `IN_ERROR`.
    pub errors: Vec<(String, String)>,
}

/// Task names in the order Confluent lists them.
pub const TASK_NAMES: [&str; 4] = [
    "AclSync",
    "AutoCreateMirror",
    "ConsumerOffsetSync",
    "TopicConfigsSync",
];

/// The task list derived from a link's config and health:
/// a task that is not configured is `NOT_CONFIGURED` whatever the link
/// state; a configured task is `LINK_PAUSED` / `LINK_UNAVAILABLE` /
/// `LINK_FAILED` when the link is not `ACTIVE`, else `ACTIVE`.
/// `AclSync` is configured by `acl.sync.enable`, `AutoCreateMirror` by
/// `auto.create.mirror.topics.enable`, `ConsumerOffsetSync` by
/// `consumer.offset.sync.enable`; `TopicConfigsSync` always is.
pub fn default_tasks(config: &LinkConfig, health: &LinkHealth) -> Vec<LinkTask> {
    TASK_NAMES
        .iter()
        .map(|name| {
            let configured = match *name {
                "AclSync" => config.acl_sync.enable,
                "AutoCreateMirror" => config.auto_create,
                "ConsumerOffsetSync" => config.offset_sync.enable,
                // Always on, as in Confluent (`topic.config.sync.ms`).
                "TopicConfigsSync" => true,
                _ => false,
            };
            let state = if !configured {
                "NOT_CONFIGURED"
            } else {
                match health.state {
                    LinkState::Active => "ACTIVE",
                    LinkState::Paused => "LINK_PAUSED",
                    LinkState::Unavailable => "LINK_UNAVAILABLE",
                    LinkState::Failed => "LINK_FAILED",
                }
            };
            LinkTask {
                name: (*name).to_string(),
                state: state.to_string(),
                errors: Vec::new(),
            }
        })
        .collect()
}

/// One cluster link as the API sees it. The runtime implements it over its
/// running link (config, shared status table, properties as configured);
/// every method is cheap and synchronous (no I/O): it reads state the data
/// plane already keeps.
pub trait LinkView: Send + Sync {
    /// The link's validated config.
    fn config(&self) -> &LinkConfig;

    /// The link's status table, updated by the data plane.
    fn status(&self) -> &LinkStatus;

    /// Link properties under Confluent's names, with the sensitive flag.
    /// The API hides sensitive values; implementations may return them.
    fn properties(&self) -> Vec<LinkProperty>;

    /// Link name (default: `config().name`).
    fn name(&self) -> &str {
        &self.config().name
    }

    /// Source cluster id or alias (default: the source cluster alias).
    fn source_cluster_id(&self) -> String {
        self.config().source.name.clone()
    }

    /// Destination cluster id or alias (default: the destination cluster
    /// alias). The `{cluster_id}` path segment is matched against it.
    fn destination_cluster_id(&self) -> String {
        self.config().destination.name.clone()
    }

    /// State and error (default: `PAUSED` when `cluster.link.paused`, else
    /// `ACTIVE`, error `NO_ERROR`).
    fn health(&self) -> LinkHealth {
        LinkHealth::configured(self.config())
    }

    /// Task statuses (default: [`default_tasks`]).
    fn tasks(&self) -> Vec<LinkTask> {
        default_tasks(self.config(), &self.health())
    }

    /// Mirror topic names on the destination, sorted. Default: the topics
    /// in the status table, plus `config().mirror_topics` when the link has
    /// no renamer (then a mirror topic has its source topic's name), so a
    /// configured mirror shows up (as `PENDING`) before its first partition
    /// is known.
    fn mirror_topics(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self
            .status()
            .lock()
            .keys()
            .map(|(topic, _)| topic.clone())
            .collect();
        if self.config().renamers.is_empty() {
            names.extend(self.config().mirror_topics.iter().cloned());
        }
        names.into_iter().collect()
    }

    /// Source topic of a mirror topic (default: the same name, true when
    /// the link has no renamer). The runtime overrides this with the
    /// mapping its renamer chain produced.
    fn source_topic(&self, mirror_topic: &str) -> String {
        mirror_topic.to_string()
    }
}

/// Everything the API server reads: the gateway's current links.
/// Implemented by the runtime (over its reloadable set of links); a
/// `Vec<Arc<dyn LinkView>>` implements it for fixed sets and tests.
pub trait ApiState: Send + Sync {
    /// The current links, in config order.
    fn links(&self) -> Vec<Arc<dyn LinkView>>;

    /// Destination cluster ids/aliases the `{cluster_id}` path segment may
    /// name (besides `-`, which means any). Default: the destination ids of
    /// the current links. An id outside this list is answered with 404.
    fn cluster_ids(&self) -> Vec<String> {
        self.links()
            .iter()
            .map(|l| l.destination_cluster_id())
            .collect()
    }

    /// The mutating side, when this state supports it (the runtime's link
    /// manager does). Default `None`: mutating endpoints answer 501.
    fn control(&self) -> Option<&dyn crate::control::ControlPlane> {
        None
    }
}

impl ApiState for Vec<Arc<dyn LinkView>> {
    fn links(&self) -> Vec<Arc<dyn LinkView>> {
        self.clone()
    }
}
