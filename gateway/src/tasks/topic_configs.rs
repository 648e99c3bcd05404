//! The `TopicConfigsSync` link task (Confluent's topic config sync,
//! `topic.config.sync.ms`): keeps each active mirror topic's configs and
//! partition count in line with its source topic.
//!
//! # What one run does, per mirror topic
//! - **Configs.** The source topic's dynamic configs (DescribeConfigs,
//!   source `DYNAMIC_TOPIC_CONFIG`; defaults and sensitive values are never
//!   read) minus [`is_excluded`] names, plus the overrides given when the
//!   mirror was created (they win), are the desired configs. The mirror
//!   topic's own dynamic configs are brought to them with one
//!   IncrementalAlterConfigs: `SET` what differs, `DELETE` what the source
//!   no longer sets. Excluded configs on the mirror topic are never touched.
//! - **Partitions.** A source topic with more partitions than its mirror
//!   topic makes the task raise the mirror's count (CreatePartitions); the
//!   data plane then mirrors the new partitions from their first offset.
//!
//! A failure is reported for its mirror topic (`IN_ERROR` with the Kafka
//! error name, e.g. `UNSUPPORTED_VERSION` from a broker without
//! CreatePartitions) and the other topics go on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::future::BoxFuture;

use super::{LinkTask, TaskError, TaskRun};
use crate::config::LinkConfig;
use crate::kafka::{ClusterClient, ConfigChange, KafkaError};
use crate::mirror::LinkHandle;

/// The Confluent task name.
pub const TASK: &str = "TopicConfigsSync";

/// The topic config sync of one link: always configured, every
/// `topic.config.sync.ms` ([`LinkConfig::topic_config_sync`]).
#[derive(Debug, Default)]
pub struct TopicConfigsSync;

impl LinkTask for TopicConfigsSync {
    fn name(&self) -> &'static str {
        TASK
    }

    fn interval(&self, config: &LinkConfig) -> Option<Duration> {
        Some(config.topic_config_sync)
    }

    fn run<'a>(
        &'a self,
        link: &'a LinkHandle,
        _config: &'a LinkConfig,
    ) -> BoxFuture<'a, Result<TaskRun, TaskError>> {
        Box::pin(async move {
            let out = sync(link.source(), link.destination(), &targets(link)).await;
            Ok(TaskRun {
                items: (out.configs_changed + out.partitions_added) as u64,
                errors: out
                    .errors
                    .into_iter()
                    .map(|(code, message)| TaskError { code, message })
                    .collect(),
            })
        })
    }
}

/// The link's mirror topics with at least one `ACTIVE` partition, with
/// their source topics and creation overrides.
fn targets(link: &LinkHandle) -> Vec<MirrorTarget> {
    let mut by_mirror: BTreeMap<String, String> = BTreeMap::new();
    for p in link.mirrored_partitions().into_iter().filter(|p| p.active) {
        by_mirror.entry(p.mirror_topic).or_insert(p.source_topic);
    }
    by_mirror
        .into_iter()
        .map(|(mirror_topic, source_topic)| MirrorTarget {
            overrides: link.status().mirror_overrides(&mirror_topic),
            mirror_topic,
            source_topic,
        })
        .collect()
}

/// Topic configs never copied from a source topic to its mirror topic,
/// matched by exact name. They describe the destination cluster's own
/// durability, placement, throttling and timestamp policy rather than the
/// data: MirrorMaker 2's `DefaultConfigPropertyFilter` default exclusions,
/// their KIP-937 successors, and tiered-storage placement (KIP-405).
pub const EXCLUDED_CONFIGS: [&str; 11] = [
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "message.timestamp.type",
    "unclean.leader.election.enable",
    "min.insync.replicas",
    "remote.storage.enable",
    "local.retention.ms",
    "local.retention.bytes",
];

/// Prefixes of topic configs never copied: vendor configs of Confluent
/// Server (`confluent.placement.constraints`, `confluent.tier.*`, ...),
/// which other brokers refuse and which describe the source cluster.
pub const EXCLUDED_PREFIXES: [&str; 1] = ["confluent."];

/// Whether topic config `name` is left out of config sync:
/// [`EXCLUDED_CONFIGS`] or a name starting with one of
/// [`EXCLUDED_PREFIXES`]. (A mirror topic is created with all of its source
/// topic's dynamic configs; these are the ones the destination may then
/// set on its own.)
pub fn is_excluded(name: &str) -> bool {
    EXCLUDED_CONFIGS.contains(&name) || EXCLUDED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The changes that bring a mirror topic's dynamic configs (`destination`)
/// to its source topic's (`source`) with the mirror's creation `overrides`
/// applied over them. Excluded names are ignored on both sides unless an
/// override names them (an override is always kept). Sorted by config name;
/// empty when nothing differs.
pub fn plan(
    source: &[(String, String)],
    destination: &[(String, String)],
    overrides: &[(String, String)],
) -> Vec<ConfigChange> {
    let overridden: BTreeSet<&str> = overrides.iter().map(|(k, _)| k.as_str()).collect();
    let mut desired: BTreeMap<&str, &str> = source
        .iter()
        .filter(|(k, _)| !is_excluded(k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, v) in overrides {
        desired.insert(k, v);
    }
    let current: BTreeMap<&str, &str> = destination
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut changes: Vec<ConfigChange> = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| ConfigChange::Set {
            name: (*k).to_string(),
            value: (*v).to_string(),
        })
        .collect();
    changes.extend(
        current
            .keys()
            .filter(|k| !desired.contains_key(*k) && !is_excluded(k) && !overridden.contains(*k))
            .map(|k| ConfigChange::Delete {
                name: (*k).to_string(),
            }),
    );
    changes.sort_by(|a, b| a.name().cmp(b.name()));
    changes
}

/// One active mirror topic as the task sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorTarget {
    /// Mirror topic name on the destination.
    pub mirror_topic: String,
    /// Source topic name.
    pub source_topic: String,
    /// Config overrides given when the mirror was created
    /// (`configs` of the mirror's create request), in that order.
    pub overrides: Vec<(String, String)>,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Mirror topics checked without error.
    pub topics_synced: usize,
    /// Config changes applied (SET and DELETE), over all topics.
    pub configs_changed: usize,
    /// Partitions added to mirror topics (CreatePartitions).
    pub partitions_added: usize,
    /// `(error_code, error_message)` per mirror topic that failed, the code
    /// a Kafka error name ([`KafkaError::status_name`]).
    pub errors: Vec<(String, String)>,
}

/// Runs the task once over `targets`: configs, then partition counts, per
/// mirror topic (see the module doc). Topic metadata is read once per
/// cluster per run (Metadata, all topics), which also refreshes the data
/// plane's metadata caches so that it notices new partitions.
pub async fn sync(
    source: &ClusterClient,
    destination: &ClusterClient,
    targets: &[MirrorTarget],
) -> SyncOutcome {
    let mut out = SyncOutcome::default();
    if targets.is_empty() {
        return out;
    }
    let counts = |topics: Vec<crate::kafka::TopicInfo>| -> BTreeMap<String, usize> {
        topics
            .into_iter()
            .map(|t| (t.name, t.partitions.len()))
            .collect()
    };
    let (source_counts, destination_counts) =
        match (source.topics().await, destination.topics().await) {
            (Ok(s), Ok(d)) => (counts(s), counts(d)),
            (Err(e), _) | (_, Err(e)) => {
                out.errors.push((
                    e.status_name(),
                    format!("cannot list topics for partition counts: {e}"),
                ));
                (BTreeMap::new(), BTreeMap::new())
            }
        };
    for t in targets {
        let res = sync_one(source, destination, t, &source_counts, &destination_counts).await;
        match res {
            Ok((changed, added)) => {
                out.topics_synced += 1;
                out.configs_changed += changed;
                out.partitions_added += added;
            }
            Err(e) => out.errors.push((
                e.status_name(),
                format!("mirror topic '{}': {e}", t.mirror_topic),
            )),
        }
    }
    out
}

/// One mirror topic: `(config changes applied, partitions added)`.
async fn sync_one(
    source: &ClusterClient,
    destination: &ClusterClient,
    t: &MirrorTarget,
    source_counts: &BTreeMap<String, usize>,
    destination_counts: &BTreeMap<String, usize>,
) -> Result<(usize, usize), KafkaError> {
    let wanted = source.describe_topic_configs(&t.source_topic).await?;
    let current = destination.describe_topic_configs(&t.mirror_topic).await?;
    let changes = plan(&wanted, &current, &t.overrides);
    if !changes.is_empty() {
        destination
            .alter_topic_configs(&t.mirror_topic, &changes)
            .await?;
        tracing::info!(topic = %t.mirror_topic, source = %t.source_topic,
            changes = ?changes.iter().map(ConfigChange::name).collect::<Vec<_>>(),
            "mirror topic configs synced from the source topic");
    }
    let mut added = 0;
    if let (Some(&want), Some(&have)) = (
        source_counts.get(&t.source_topic),
        destination_counts.get(&t.mirror_topic),
    ) {
        if want > have {
            let count = i32::try_from(want).unwrap_or(i32::MAX);
            destination
                .create_partitions(&t.mirror_topic, count)
                .await?;
            added = want - have;
            tracing::info!(topic = %t.mirror_topic, from = have, to = want,
                "mirror topic partitions raised to the source topic's count");
        }
    }
    Ok((changes.len(), added))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn set(name: &str, value: &str) -> ConfigChange {
        ConfigChange::Set {
            name: name.into(),
            value: value.into(),
        }
    }

    fn delete(name: &str) -> ConfigChange {
        ConfigChange::Delete { name: name.into() }
    }

    #[test]
    fn sets_what_differs_and_deletes_what_the_source_dropped() {
        let source = kv(&[("retention.ms", "1000"), ("cleanup.policy", "compact")]);
        let dest = kv(&[("retention.ms", "5"), ("segment.bytes", "1048576")]);
        assert_eq!(
            plan(&source, &dest, &[]),
            vec![
                set("cleanup.policy", "compact"),
                set("retention.ms", "1000"),
                delete("segment.bytes"),
            ]
        );
        assert!(plan(&source, &source, &[]).is_empty());
    }

    #[test]
    fn excluded_configs_are_neither_copied_nor_removed() {
        let source = kv(&[
            ("min.insync.replicas", "2"),
            ("confluent.placement.constraints", "{}"),
            ("message.timestamp.type", "LogAppendTime"),
            ("retention.ms", "1"),
        ]);
        let dest = kv(&[("min.insync.replicas", "1"), ("retention.ms", "1")]);
        assert!(plan(&source, &dest, &[]).is_empty());
        assert!(is_excluded("confluent.tier.enable"));
        assert!(!is_excluded("max.message.bytes"));
    }

    #[test]
    fn overrides_win_and_stay() {
        let source = kv(&[("retention.ms", "1000")]);
        let overrides = kv(&[("retention.ms", "99"), ("min.insync.replicas", "1")]);
        let dest = kv(&[("retention.ms", "1000")]);
        assert_eq!(
            plan(&source, &dest, &overrides),
            vec![set("min.insync.replicas", "1"), set("retention.ms", "99")]
        );
        let dest = kv(&[("retention.ms", "99"), ("min.insync.replicas", "1")]);
        assert!(plan(&[], &dest, &overrides).is_empty());
    }
}
