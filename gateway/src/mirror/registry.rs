//! The gateway-wide registry of mirror topics: every mirror topic of every
//! link of this gateway, with the cluster it lives on and the cluster and
//! topic it mirrors. Auto-create reads it to prevent loops: a topic that is
//! a mirror topic on some cluster is never auto-created as a mirror by a
//! link whose source is that cluster. Clusters are identified by their Kafka
//! cluster id (Metadata `cluster_id`) and topics by topic id (KIP-516) when
//! known, so the check does not rest on names alone.

use std::sync::Mutex;

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
}

/// Every mirror topic of every running link (shared by all links). Locks
/// are short and synchronous.
#[derive(Debug, Default)]
pub struct MirrorRegistry {
    inner: Mutex<Vec<MirrorEntry>>,
}

impl MirrorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<MirrorEntry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces the entry of `(entry.link, entry.mirror_topic)`.
    pub fn register(&self, entry: MirrorEntry) {
        let mut v = self.lock();
        v.retain(|e| !(e.link == entry.link && e.mirror_topic == entry.mirror_topic));
        v.push(entry);
    }

    /// Removes a mirror topic of a link (stopped, or its link deleted).
    pub fn unregister(&self, link: &str, mirror_topic: &str) {
        self.lock()
            .retain(|e| !(e.link == link && e.mirror_topic == mirror_topic));
    }

    /// Removes every mirror topic of a link.
    pub fn unregister_link(&self, link: &str) {
        self.lock().retain(|e| e.link != link);
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
            .iter()
            .find(|e| {
                e.destination_cluster == cluster
                    && match (topic_id, e.mirror_topic_id.as_deref()) {
                        (Some(a), Some(b)) => a == b,
                        _ => e.mirror_topic == topic,
                    }
            })
            .cloned()
    }

    /// A copy of every entry.
    pub fn entries(&self) -> Vec<MirrorEntry> {
        self.lock().clone()
    }

    /// Number of registered mirror topics.
    pub fn len(&self) -> usize {
        self.lock().len()
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
}
