//! The watcher's periodic checks of a running link: recreated or deleted
//! source topics, and foreign writes on idle mirror partitions.

use super::*;

/// Fails the partitions of source topics whose topic id changed. Returns
/// whether the source could not be asked (a sign it is unreachable).
pub(super) async fn check_topic_ids(ctx: &Arc<LinkCtx>) -> bool {
    let mut trouble = false;
    // source topic -> (expected topic id, mirror topic)
    let topics: HashMap<String, (String, String)> = ctx
        .slots()
        .iter()
        .map(|(k, s)| {
            (
                s.source_topic.clone(),
                (s.source_topic_id.clone(), k.0.clone()),
            )
        })
        .collect();
    for (topic, (expected, mirror)) in topics {
        let found = match ctx.source.topic(&topic).await {
            Ok(Some(info)) => info.topic_id.to_string(),
            Ok(None) => {
                for k in ctx.partitions_of(&mirror) {
                    if matches!(ctx.state_of(&k), Some(PartitionState::Active)) {
                        ctx.set_state(
                            &k,
                            PartitionState::SourceUnavailable(format!(
                                "source topic {topic} does not exist on the source cluster"
                            )),
                        );
                    }
                }
                continue;
            }
            Err(e) => {
                tracing::debug!(link = %ctx.name, topic = %topic, error = %e, "topic id check failed");
                trouble = true;
                continue;
            }
        };
        for k in ctx.partitions_of(&mirror) {
            if found != expected {
                if !matches!(ctx.state_of(&k), Some(PartitionState::Failed(_))) {
                    ctx.fail(
                        &k,
                        FailureCause::SourceTopicRecreated {
                            expected: expected.clone(),
                            found: found.clone(),
                        },
                    );
                }
            } else if matches!(ctx.state_of(&k), Some(PartitionState::SourceUnavailable(_))) {
                ctx.set_state(&k, PartitionState::Active);
            }
        }
    }
    trouble
}

/// Foreign writes on idle mirror partitions (returns whether the
/// destination could not be asked): for each `ACTIVE`, `PAUSED`
/// or `SOURCE_UNAVAILABLE` partition with no round in flight, the
/// destination log end offset (ListOffsets latest) must be what linkgate
/// wrote; otherwise the partition fails with `FOREIGN_WRITE`. A partition
/// where a round began while the offsets were read is not judged (its
/// [`RoundTracker`] count moved), so a landing round never looks foreign.
pub(crate) async fn check_idle_writes(ctx: &LinkCtx) -> bool {
    let idle: Vec<(PartitionKey, u64, i64)> = {
        let status = ctx.status.lock();
        ctx.slots()
            .iter()
            .filter(|(k, s)| {
                s.rounds.in_flight() == 0
                    && status.get(*k).is_some_and(|p| {
                        matches!(
                            p.state,
                            PartitionState::Active
                                | PartitionState::Paused
                                | PartitionState::SourceUnavailable(_)
                        )
                    })
            })
            .map(|(k, s)| (k.clone(), s.rounds.started(), s.destination_next))
            .collect()
    };
    if idle.is_empty() {
        return false;
    }
    let keys: Vec<PartitionKey> = idle.iter().map(|i| i.0.clone()).collect();
    let leo = match ctx
        .destination
        .list_offsets(&keys, OffsetSpec::Latest)
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(link = %ctx.name, error = %e, "idle foreign-write check skipped");
            return true;
        }
    };
    for (key, started, expected) in idle {
        let Some(found) = leo.get(&key).copied() else {
            continue;
        };
        let unchanged = ctx.slots().get(&key).is_some_and(|s| {
            s.rounds.in_flight() == 0
                && s.rounds.started() == started
                && s.destination_next == expected
        });
        if unchanged && found != expected {
            let still = matches!(
                ctx.state_of(&key),
                Some(
                    PartitionState::Active
                        | PartitionState::Paused
                        | PartitionState::SourceUnavailable(_)
                )
            );
            if still {
                ctx.fail(&key, FailureCause::ForeignWrite { expected, found });
            }
        }
    }
    false
}

/// Sets up the partitions a running mirror's source topic gained (Kafka
/// topics only grow: CreatePartitions, KIP-195) once the mirror topic has
/// them too: the `TopicConfigsSync` link task raises the mirror topic's
/// partition count. A new partition is mirrored from its first offset.
/// Source and destination metadata come from the clients' caches (refreshed
/// at `metadata.max.age.ms`, or when the task invalidates them); a failed
/// set-up is logged and tried again at the next tick.
pub(super) async fn check_new_partitions(ctx: &Arc<LinkCtx>, topics: &mut Topics) {
    // mirror topic -> (source topic, partitions set up)
    let mut known: BTreeMap<String, (String, BTreeSet<i32>)> = BTreeMap::new();
    for (k, s) in ctx.slots().iter() {
        known
            .entry(k.0.clone())
            .or_insert_with(|| (s.source_topic.clone(), BTreeSet::new()))
            .1
            .insert(k.1);
    }
    for (mirror, (source, parts)) in known {
        let stopped = topics
            .records
            .get(&mirror)
            .is_some_and(|r| r.state == DesiredState::Stopped);
        if stopped {
            continue;
        }
        let Ok(Some(info)) = ctx.source.topic(&source).await else {
            continue;
        };
        if gained_partitions(&parts, &info, None).is_none() {
            continue;
        }
        let dest = ctx.destination.topic(&mirror).await.ok().flatten();
        let Some(new) = gained_partitions(&parts, &info, Some(dest.as_ref())) else {
            tracing::debug!(link = %ctx.name, topic = %mirror, source = %source,
                "source topic has partitions the mirror topic lacks");
            continue;
        };
        match setup_topic(ctx, topics, &source, Some(&new)).await {
            Ok(()) => {
                tracing::info!(link = %ctx.name, topic = %mirror, partitions = ?new,
                    "mirroring partitions the source topic gained")
            }
            Err(e) => {
                tracing::warn!(link = %ctx.name, topic = %mirror, partitions = ?new, error = %e,
                    "cannot set up new mirror partitions; trying again")
            }
        }
    }
}

/// The partitions of `source` (a source topic's metadata) missing from
/// `known` (the partitions set up), or `None` when there are none. With
/// `destination` given (the mirror topic's metadata, `Some(None)` when it is
/// missing), `None` also unless every one of them exists with a leader on
/// the destination.
fn gained_partitions(
    known: &BTreeSet<i32>,
    source: &crate::kafka::TopicInfo,
    destination: Option<Option<&crate::kafka::TopicInfo>>,
) -> Option<BTreeSet<i32>> {
    let new: BTreeSet<i32> = source
        .partitions
        .iter()
        .map(|p| p.partition)
        .filter(|p| !known.contains(p))
        .collect();
    if new.is_empty() {
        return None;
    }
    match destination {
        None => Some(new),
        Some(Some(d))
            if new
                .iter()
                .all(|p| d.partition(*p).is_some_and(|x| x.leader >= 0)) =>
        {
            Some(new)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::gained_partitions;
    use crate::kafka::{PartitionInfo, TopicInfo};
    use std::collections::BTreeSet;

    /// Topic metadata as a Metadata response describes it (constructed:
    /// the test broker cannot add partitions to a topic).
    fn topic(leaders: &[i32]) -> TopicInfo {
        TopicInfo {
            partitions: leaders
                .iter()
                .enumerate()
                .map(|(i, l)| PartitionInfo {
                    partition: i as i32,
                    leader: *l,
                    leader_epoch: 0,
                    error_code: 0,
                    replicas: 1,
                })
                .collect(),
            name: "t".into(),
            topic_id: uuid::Uuid::nil(),
            is_internal: false,
        }
    }

    #[test]
    fn partitions_are_set_up_once_both_sides_have_them() {
        let known: BTreeSet<i32> = [0, 1].into();
        assert_eq!(gained_partitions(&known, &topic(&[1, 1]), None), None);
        let source = topic(&[1, 1, 1, 1]);
        assert_eq!(
            gained_partitions(&known, &source, None),
            Some([2, 3].into())
        );
        // The mirror topic does not have them yet, or one has no leader.
        assert_eq!(gained_partitions(&known, &source, Some(None)), None);
        let short = topic(&[1, 1, 1]);
        assert_eq!(gained_partitions(&known, &source, Some(Some(&short))), None);
        let leaderless = topic(&[1, 1, 1, -1]);
        assert_eq!(
            gained_partitions(&known, &source, Some(Some(&leaderless))),
            None
        );
        let grown = topic(&[1, 1, 2, 2]);
        assert_eq!(
            gained_partitions(&known, &source, Some(Some(&grown))),
            Some([2, 3].into())
        );
    }
}
