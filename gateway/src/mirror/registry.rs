//! The gateway-wide registry of mirror topics: every mirror topic of every
//! link of this gateway, with the cluster it lives on and the cluster and
//! topic it mirrors. Auto-create reads it to prevent loops: a topic that is
//! a mirror topic on some cluster is never auto-created as a mirror by a
//! link whose source is that cluster. Clusters are identified by their Kafka
//! cluster id (Metadata `cluster_id`) and topics by topic id (KIP-516) when
//! known, so the check does not rest on names alone.
//!
//! It also lists every running link ([`LinkEntry`]: source and destination
//! cluster ids, `cluster.link.prefix`), for Confluent's prefix rule: a
//! topic whose name starts with the prefix of a link writing into the
//! cluster is a prefixed mirror and is never auto-created again.

use std::sync::Mutex;

use crate::config::LinkConfig;
use crate::kafka::ClusterClient;

/// The link property holding the mirror topic name prefix.
const PREFIX_PROPERTY: &str = "cluster.link.prefix";

/// How the registry identifies a cluster: its Kafka cluster id (Metadata
/// v2+, KIP-78), else the client's configured name.
pub fn cluster_key(client: &ClusterClient) -> String {
    client
        .cluster_id()
        .unwrap_or_else(|| client.name().to_string())
}

/// One mirror topic of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorEntry {
    /// Link name.
    pub link: String,
    /// Kafka cluster id of the destination (where the mirror topic lives);
    /// falls back to the `[clusters]` alias when the id is unknown.
    pub destination_cluster: String,
    /// Mirror topic name on the destination.
    pub mirror_topic: String,
    /// Mirror topic id on the destination, when known.
    pub mirror_topic_id: Option<String>,
    /// Kafka cluster id (or alias) of the source.
    pub source_cluster: String,
    /// Source topic name.
    pub source_topic: String,
    /// Kafka cluster id (or alias) where the data originates: the source
    /// cluster, or the origin of the source topic when that is itself a
    /// mirror topic (a chain of links). Auto-create never mirrors the
    /// mirror topic back to this cluster.
    pub origin_cluster: String,
}

impl MirrorEntry {
    /// Whether `topic` (id `topic_id`, when known) on `cluster` is this
    /// mirror topic: same cluster, and the same topic id when both ids are
    /// known (a topic recreated under the same name is another topic),
    /// else the same name.
    pub fn is(&self, cluster: &str, topic: &str, topic_id: Option<&str>) -> bool {
        self.destination_cluster == cluster
            && match (topic_id, self.mirror_topic_id.as_deref()) {
                (Some(a), Some(b)) => a == b,
                _ => self.mirror_topic == topic,
            }
    }
}

/// One running link, as the loop check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEntry {
    /// Link name.
    pub link: String,
    /// Kafka cluster id (or `[clusters]` alias when unknown) of the source.
    pub source_cluster: String,
    /// Kafka cluster id (or alias) of the destination.
    pub destination_cluster: String,
    /// `cluster.link.prefix`, when the link has one (never empty).
    pub prefix: Option<String>,
}

impl LinkEntry {
    /// The entry of link `config.name` connected to `source` and
    /// `destination` (identified by [`cluster_key`]), with its
    /// `cluster.link.prefix` when set and non-empty.
    pub fn new(config: &LinkConfig, source: &ClusterClient, destination: &ClusterClient) -> Self {
        LinkEntry {
            link: config.name.clone(),
            source_cluster: cluster_key(source),
            destination_cluster: cluster_key(destination),
            prefix: config
                .properties
                .iter()
                .find(|(k, v)| k == PREFIX_PROPERTY && !v.is_empty())
                .map(|(_, v)| v.clone()),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    mirrors: Vec<MirrorEntry>,
    links: Vec<LinkEntry>,
}

/// Every mirror topic and every link of the gateway (shared by all links).
/// Locks are short and synchronous.
#[derive(Debug, Default)]
pub struct MirrorRegistry {
    inner: Mutex<Inner>,
}

impl MirrorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces the entry of `(entry.link, entry.mirror_topic)`.
    pub fn register(&self, entry: MirrorEntry) {
        let mut inner = self.lock();
        inner
            .mirrors
            .retain(|e| !(e.link == entry.link && e.mirror_topic == entry.mirror_topic));
        inner.mirrors.push(entry);
    }

    /// Removes a mirror topic of a link (stopped, or its link deleted).
    pub fn unregister(&self, link: &str, mirror_topic: &str) {
        self.lock()
            .mirrors
            .retain(|e| !(e.link == link && e.mirror_topic == mirror_topic));
    }

    /// Adds or replaces a link (by name). Call once the link is connected
    /// to both clusters (so their ids are known), before its first
    /// auto-create scan, whether or not the link auto-creates: other links'
    /// scans read its prefix.
    pub fn register_link(&self, entry: LinkEntry) {
        let mut inner = self.lock();
        inner.links.retain(|l| l.link != entry.link);
        inner.links.push(entry);
    }

    /// Removes a link and every mirror topic of it (link stopped or
    /// deleted).
    pub fn unregister_link(&self, link: &str) {
        let mut inner = self.lock();
        inner.mirrors.retain(|e| e.link != link);
        inner.links.retain(|l| l.link != link);
    }

    /// A copy of every registered link.
    pub fn links(&self) -> Vec<LinkEntry> {
        self.lock().links.clone()
    }

    /// The entry of the mirror topic that `topic` on `cluster` is, if any:
    /// matched by topic id when both ids are known, else by name.
    pub fn mirror_at(
        &self,
        cluster: &str,
        topic: &str,
        topic_id: Option<&str>,
    ) -> Option<MirrorEntry> {
        self.lock()
            .mirrors
            .iter()
            .find(|e| e.is(cluster, topic, topic_id))
            .cloned()
    }

    /// A copy of every entry.
    pub fn entries(&self) -> Vec<MirrorEntry> {
        self.lock().mirrors.clone()
    }

    /// Number of registered mirror topics.
    pub fn len(&self) -> usize {
        self.lock().mirrors.len()
    }

    /// Whether no mirror topic is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(link: &str, topic: &str, id: Option<&str>) -> MirrorEntry {
        MirrorEntry {
            link: link.into(),
            destination_cluster: "B".into(),
            mirror_topic: topic.into(),
            mirror_topic_id: id.map(str::to_string),
            source_cluster: "A".into(),
            source_topic: topic.into(),
            origin_cluster: "A".into(),
        }
    }

    #[test]
    fn matches_by_id_when_known_else_by_name() {
        let r = MirrorRegistry::new();
        r.register(entry("l", "t", Some("id1")));
        assert!(r.mirror_at("B", "t", Some("id1")).is_some());
        assert!(r.mirror_at("B", "renamed", Some("id1")).is_some());
        assert!(
            r.mirror_at("B", "t", Some("id2")).is_none(),
            "recreated topic with the same name is not the mirror"
        );
        assert!(r.mirror_at("B", "t", None).is_some());
        assert!(r.mirror_at("A", "t", Some("id1")).is_none());
        r.unregister("l", "t");
        assert!(r.is_empty());
    }

    #[test]
    fn unregister_link_drops_its_mirrors_and_entry() {
        let r = MirrorRegistry::new();
        r.register(entry("l", "t", None));
        r.register(entry("other", "u", None));
        r.register_link(LinkEntry {
            link: "l".into(),
            source_cluster: "A".into(),
            destination_cluster: "B".into(),
            prefix: Some("a.".into()),
        });
        r.register_link(LinkEntry {
            link: "l".into(),
            source_cluster: "A".into(),
            destination_cluster: "B".into(),
            prefix: None,
        });
        assert_eq!(r.links().len(), 1, "re-registering replaces");
        assert_eq!(r.links()[0].prefix, None);
        r.unregister_link("l");
        assert!(r.links().is_empty());
        assert_eq!(r.entries().len(), 1);
        assert_eq!(r.entries()[0].link, "other");
    }
}
