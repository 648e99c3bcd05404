//! `group migrate`: moves one consumer group from the source cluster to
//! the destination over a link, automating Confluent's manual procedure
//! ("Migrating consumer groups"): the group must have no members on the
//! source; the mirror must have reached its committed offsets (waited for,
//! at most [`MIRROR_WAIT`]); the group is synced once more now (after its
//! last commit); every partition's destination offset must then equal the
//! translated source offset; the group is taken out of further syncs. The
//! link's group filter chain is asked about the group, so that the report
//! says whether the periodic sync would take it again if the link were
//! recreated (the exclusion is kept in the link's state, across restarts).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::offset_sync::{mirrored_by_source, ConsumerOffsetSync, GroupPlan, NON_EMPTY_GROUP};
use super::TaskError;
use crate::command::{
    ControlError, GroupMigration, GroupMigrationRequest, GroupPartitionMigration,
};
use crate::mirror::LinkHandle;

/// How long a migration waits for the mirror to reach the group's offsets
/// (below the CLI's 60 s request timeout).
pub const MIRROR_WAIT: Duration = Duration::from_secs(20);
/// Poll interval while waiting for the mirror.
const POLL: Duration = Duration::from_millis(200);

/// Runs (or, with `validate_only`, plans) the migration of `req.group`.
///
/// # Errors
/// [`ControlError::GroupNotMigratable`] (members on the source or the
/// destination, the mirror not there yet, a destination offset that
/// differs from the translated one), [`ControlError::GroupNotFound`] (no
/// committed offset of a mirror topic), [`ControlError::Unavailable`] (a
/// cluster request failed).
pub async fn migrate(
    sync: &ConsumerOffsetSync,
    link: &LinkHandle,
    req: &GroupMigrationRequest,
) -> Result<GroupMigration, ControlError> {
    let group = req.group.as_str();
    let refuse = |reason: String| ControlError::GroupNotMigratable {
        link: link.name().to_string(),
        group: group.to_string(),
        reason,
    };
    let source_group =
        link.source()
            .describe_group(group)
            .await
            .map_err(|e| ControlError::Unavailable {
                message: format!("describing consumer group '{group}' on the source: {e}"),
            })?;
    if !source_group.members.is_empty() {
        return Err(refuse(format!(
            "it has {} member(s) on the source (state {}); stop its consumers there first",
            source_group.members.len(),
            source_group.state
        )));
    }
    let mirrored = mirrored_by_source(link, None);
    let deadline = Instant::now() + MIRROR_WAIT;
    let plan = loop {
        let plan = current_plan(sync, link, group, &mirrored, &refuse).await?;
        if req.validate_only {
            return Ok(report(link, group, &plan, true, false, None));
        }
        let behind: Vec<String> = plan
            .partitions
            .iter()
            .filter(|(p, _)| p.translated.is_none())
            .map(|(p, _)| format!("{}-{} at {}", p.mirror_topic, p.partition, p.source_offset))
            .collect();
        if behind.is_empty() {
            break plan;
        }
        if Instant::now() >= deadline {
            return Err(refuse(format!(
                "the mirror has not reached the group's committed offsets within {} s ({}); retry once it has",
                MIRROR_WAIT.as_secs(),
                behind.join(", ")
            )));
        }
        tokio::time::sleep(POLL).await;
    };
    // Out of the periodic sync first: a periodic run that already looked
    // at the group finishes before this sync (one run at a time), and no
    // later one touches it. Put back if the migration does not complete.
    let was_excluded = sync
        .is_excluded(link, group)
        .await
        .map_err(|e| task_refusal(e, &refuse))?;
    sync.exclude(link, group)
        .await
        .map_err(|e| task_refusal(e, &refuse))?;
    let result = finish(sync, link, group, &mirrored, &refuse).await;
    if result.is_err() && !was_excluded {
        if let Err(e) = sync.include(link, group).await {
            tracing::warn!(link = %link.name(), group, error = %e.message,
                "the group stays out of the offset sync after a failed migration");
        }
    }
    let after = result?;
    tracing::info!(link = %link.name(), group, destination_group = %plan.destination_group,
        "consumer group migrated; excluded from further offset syncs");
    let filters = sync.filters_include(link, group);
    Ok(report(link, group, &after, false, true, Some(filters)))
}

/// The last sync of a migrating group and the check of every partition's
/// destination offset against the translated source offset.
async fn finish(
    sync: &ConsumerOffsetSync,
    link: &LinkHandle,
    group: &str,
    mirrored: &BTreeMap<(String, i32), String>,
    refuse: &(dyn Fn(String) -> ControlError + Sync),
) -> Result<GroupPlan, ControlError> {
    sync.sync_group_now(link, group, mirrored)
        .await
        .map_err(|e| task_refusal(e, refuse))?;
    let after = current_plan(sync, link, group, mirrored, refuse).await?;
    let differing: Vec<String> = after
        .partitions
        .iter()
        .filter(|(p, _)| p.translated.is_none() || p.destination_offset != p.translated)
        .map(|(p, _)| {
            format!(
                "{}-{}: destination {}, translated source {}",
                p.mirror_topic,
                p.partition,
                p.destination_offset
                    .map_or_else(|| "none".to_string(), |o| o.to_string()),
                p.translated
                    .map_or_else(|| "not mirrored".to_string(), |o| o.to_string())
            )
        })
        .collect();
    if !differing.is_empty() {
        return Err(refuse(format!(
            "its destination offsets differ from the translated source offsets ({}); the destination group moved on by itself: reset it there (kafka-consumer-groups --reset-offsets) and retry",
            differing.join("; ")
        )));
    }
    Ok(after)
}

async fn current_plan(
    sync: &ConsumerOffsetSync,
    link: &LinkHandle,
    group: &str,
    mirrored: &BTreeMap<(String, i32), String>,
    refuse: &(dyn Fn(String) -> ControlError + Sync),
) -> Result<GroupPlan, ControlError> {
    sync.plan(link, group, mirrored)
        .await
        .map_err(|e| task_refusal(e, refuse))?
        .ok_or_else(|| ControlError::GroupNotFound {
            link: link.name().to_string(),
            group: group.to_string(),
        })
}

fn task_refusal(e: TaskError, refuse: &(dyn Fn(String) -> ControlError + Sync)) -> ControlError {
    if e.code == NON_EMPTY_GROUP {
        refuse(format!("{}; stop them first", e.message))
    } else {
        ControlError::Unavailable { message: e.message }
    }
}

/// The migration's result. `filters`: what the link's group filter chain
/// says about the group now (after a migration).
fn report(
    link: &LinkHandle,
    group: &str,
    plan: &GroupPlan,
    validate_only: bool,
    migrated: bool,
    filters: Option<Result<bool, TaskError>>,
) -> GroupMigration {
    let dest = &plan.destination_group;
    let as_dest = if dest == group {
        String::new()
    } else {
        format!(" (named '{dest}' there)")
    };
    let exclude = format!(r#"{{"name":"{group}","patternType":"LITERAL","filterType":"EXCLUDE"}}"#);
    let next_steps = if migrated {
        let link_name = link.name();
        let keep_out = match filters {
            Some(Ok(false)) => format!("Link '{link_name}' no longer syncs this group: its group filters do not include it."),
            Some(Err(e)) => format!("Link '{link_name}' no longer syncs this group, across restarts, until the link is deleted; its group filter chain failed on the group ({}): fix it, and to keep the group out of a recreated link too, add {exclude} to the link's consumer.offset.group.filters.", e.message),
            Some(Ok(true)) | None => format!("Link '{link_name}' no longer syncs this group, across restarts, until the link is deleted; to keep it out of a recreated link too, add {exclude} to the link's consumer.offset.group.filters."),
        };
        vec![
            format!("Start the consumers of group '{group}' on the destination cluster{as_dest}: they resume at the destination offsets above."),
            keep_out,
        ]
    } else {
        vec![
            format!("Run without --validate-only: the group is synced once more, each partition checked at its translated offset, and the group taken out of the offset sync."),
            format!("Then start the consumers of group '{group}' on the destination cluster{as_dest}."),
        ]
    };
    GroupMigration {
        link_name: link.name().to_string(),
        group_name: group.to_string(),
        destination_group_name: dest.clone(),
        validate_only,
        migrated,
        partitions: plan
            .partitions
            .iter()
            .map(|(p, _)| GroupPartitionMigration {
                mirror_topic_name: p.mirror_topic.clone(),
                partition: p.partition,
                source_offset: p.source_offset,
                translated_offset: p.translated,
                destination_offset: p.destination_offset,
            })
            .collect(),
        next_steps,
    }
}
