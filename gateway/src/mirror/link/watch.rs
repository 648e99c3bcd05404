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
