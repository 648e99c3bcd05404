//! `ConsumerOffsetSync`: the committed offsets of the source's consumer
//! groups, translated through each mirror partition's exact offset map and
//! committed on the destination (Confluent's `consumer.offset.sync.enable`,
//! `consumer.offset.sync.ms`, `consumer.offset.group.filters`; linkgate's
//! group filter chain, `linkgate.group.filters`).
//!
//! Which groups: the link's group filter chain (plugins of kind
//! `group-filter`, [`crate::plugin::Chains::sync_group`]: every filter must
//! say yes), resolved from the settings of the run, so a changed filter or
//! chain takes effect at the next run. `consumer.offset.group.filters` is
//! the bundled `group-filter` plugin at the head of the chain. Without any
//! group filter no group is synced (Confluent's default). A group filter
//! failing for a group (`on_error = "fail"`) leaves that group out of the
//! run with a `PLUGIN_ERROR` (the task goes `IN_ERROR` with the reason);
//! the other groups are synced.
//!
//! One run: ListGroups on the source; for each group the chain includes
//! (and `group migrate` has not excluded), OffsetFetch on the source, kept
//! to the link's mirrored partitions; each committed offset translated
//! ([`crate::mirror::OffsetMap::translate_committed`]: the destination offset
//! of the first mirrored record at or after it; below the mirror's start,
//! the mirror's first record; beyond what is mirrored, left for a later
//! run); the destination name from the renamer chain
//! (`consumer.group.prefix.enable`); DescribeGroups on the destination, and
//! a group with members there is left alone and reported (`NON_EMPTY_GROUP`,
//! the task goes `IN_ERROR` for it); OffsetCommit on the destination with
//! the source's metadata string.
//!
//! Never backwards: a translated offset below the destination's committed
//! one is committed only when the source group itself moved back since
//! the last offset this gateway synced for it (a reset on the source is
//! mirrored). What was synced, and which groups `group migrate` took out,
//! is kept per source group in the state topic
//! ([`crate::mirror::state::GroupSyncRecord`], written when it changes and
//! read at a link's first run), so a restart neither syncs a migrated group
//! again nor misses a later source reset.
//! A group deleted on the source keeps its offsets on the destination.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio::sync::watch;

use super::{LinkTask, TaskError, TaskRun};
use crate::config::{LinkConfig, OffsetSyncConfig};
use crate::kafka::error::error_name;
use crate::kafka::{link_error_code, CommittedOffset, GroupOffsets, KafkaError};
use crate::mirror::offset_map::CommittedTranslation;
use crate::mirror::state::{GroupSyncRecord, StateEntry, SyncedGroupOffset};
use crate::mirror::LinkHandle;
use crate::plugin::Chains;

/// The Confluent task name.
pub const TASK: &str = "ConsumerOffsetSync";

/// Error code of a group that has members on the destination (Kafka's
/// `NON_EMPTY_GROUP`: its offsets cannot be set from outside).
pub const NON_EMPTY_GROUP: &str = "NON_EMPTY_GROUP";

/// Error code of a group the group filter chain failed on, or of a run
/// whose group filter chain cannot be built (a plugin not loaded).
pub const PLUGIN_ERROR: &str = "PLUGIN_ERROR";

/// `(mirror topic, partition)`.
type PartitionKey = (String, i32);

/// Last `(source offset, destination offset)` committed per mirror
/// partition of one group.
type Synced = BTreeMap<PartitionKey, (i64, i64)>;

/// Where a sync found or put one group's partitions, to remember.
type Remember = Vec<(PartitionKey, (i64, i64))>;

/// What the sync remembers of one source group, as its state topic record
/// ([`GroupSyncRecord`]) holds it.
#[derive(Debug, Default)]
struct GroupMemory {
    /// Taken out of the sync by `group migrate`.
    excluded: bool,
    synced: Synced,
    /// Changed since its record was last written (a failed write is
    /// tried again at the next sync of the group).
    dirty: bool,
}

impl GroupMemory {
    fn from_record(r: &GroupSyncRecord) -> Self {
        Self {
            excluded: r.excluded,
            synced: r
                .synced
                .iter()
                .map(|o| {
                    (
                        (o.topic.clone(), o.partition),
                        (o.source_offset, o.destination_offset),
                    )
                })
                .collect(),
            dirty: false,
        }
    }

    fn record(&self, group: &str) -> GroupSyncRecord {
        GroupSyncRecord {
            group: group.to_string(),
            excluded: self.excluded,
            synced: self
                .synced
                .iter()
                .map(|((topic, partition), (s, d))| SyncedGroupOffset {
                    topic: topic.clone(),
                    partition: *partition,
                    source_offset: *s,
                    destination_offset: *d,
                })
                .collect(),
        }
    }
}

/// What the sync remembers between runs.
#[derive(Debug, Default)]
struct Memory {
    /// The state topic's records were read into this memory.
    loaded: bool,
    /// Per source group.
    groups: HashMap<String, GroupMemory>,
    /// When a run that synced each source group (with no error for it)
    /// started.
    last_synced: HashMap<String, SystemTime>,
}

impl Memory {
    fn is_excluded(&self, group: &str) -> bool {
        self.groups.get(group).is_some_and(|g| g.excluded)
    }
}

/// The consumer offset sync of one link (see the module doc).
#[derive(Debug, Default)]
pub struct ConsumerOffsetSync {
    memory: Mutex<Memory>,
    /// One run at a time (periodic, final sync of a promote, migrate).
    runs: tokio::sync::Mutex<()>,
    /// The link's current config, for what runs outside the schedule
    /// (`group migrate` asks the group filter chain); `None`: no group
    /// filter.
    config: Option<watch::Receiver<Arc<LinkConfig>>>,
}

/// One partition offset of a group as the sync sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSync {
    /// Mirror topic on the destination.
    pub mirror_topic: String,
    /// Partition.
    pub partition: i32,
    /// The source group's committed offset.
    pub source_offset: i64,
    /// The translated destination offset (`None`: beyond what is mirrored).
    pub translated: Option<i64>,
    /// The destination group's committed offset (`None`: none).
    pub destination_offset: Option<i64>,
}

fn kafka_task_error(what: String, e: &KafkaError) -> TaskError {
    let code = e
        .error_code()
        .map_or_else(|| link_error_code(e).to_string(), error_name);
    TaskError {
        code,
        message: format!("{what}: {e}"),
    }
}

impl ConsumerOffsetSync {
    /// The offset sync of a link whose current config `config` gives (the
    /// link tasks' config channel, [`super::LinkTasks`]).
    pub fn new(config: watch::Receiver<Arc<LinkConfig>>) -> Self {
        Self {
            config: Some(config),
            ..Self::default()
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads what the link's offset sync kept in the state topic into
    /// memory, once per instance (the link's first run, or `group migrate`).
    ///
    /// # Errors
    /// A `STATE_UNAVAILABLE` [`TaskError`] when the state topic cannot be
    /// read; nothing is synced then (a migrated group must stay out).
    pub async fn load(&self, link: &LinkHandle) -> Result<(), TaskError> {
        if self.memory().loaded {
            return Ok(());
        }
        let snapshot = link.state().load().await.map_err(|e| TaskError {
            code: "STATE_UNAVAILABLE".into(),
            message: format!("cannot read what the consumer offset sync kept: {e}"),
        })?;
        let mut memory = self.memory();
        if memory.loaded {
            return Ok(());
        }
        for r in snapshot
            .synced_groups
            .get(link.name())
            .into_iter()
            .flat_map(|m| m.values())
        {
            memory
                .groups
                .insert(r.group.clone(), GroupMemory::from_record(r));
        }
        memory.loaded = true;
        Ok(())
    }

    /// Writes `group`'s record to the state topic (after a change); a
    /// written record clears the group's `dirty`.
    async fn persist(&self, link: &LinkHandle, group: &str) -> Result<(), TaskError> {
        let record = self
            .memory()
            .groups
            .get(group)
            .map(|g| g.record(group))
            .unwrap_or_else(|| GroupMemory::default().record(group));
        link.state()
            .write(&[StateEntry::group_sync(link.name(), group, Some(&record))])
            .await
            .map_err(|e| TaskError {
                code: "STATE_UNAVAILABLE".into(),
                message: format!(
                    "cannot keep the offset sync's record of consumer group '{group}': {e}"
                ),
            })?;
        if let Some(g) = self.memory().groups.get_mut(group) {
            g.dirty = false;
        }
        Ok(())
    }

    /// Sets `group`'s exclusion and writes its record when that changed it;
    /// on a failed write the memory is put back.
    async fn set_excluded(
        &self,
        link: &LinkHandle,
        group: &str,
        excluded: bool,
    ) -> Result<(), TaskError> {
        self.load(link).await?;
        let was = std::mem::replace(
            &mut self
                .memory()
                .groups
                .entry(group.to_string())
                .or_default()
                .excluded,
            excluded,
        );
        if was == excluded {
            return Ok(());
        }
        let written = self.persist(link, group).await;
        if written.is_err() {
            if let Some(g) = self.memory().groups.get_mut(group) {
                g.excluded = was;
            }
        }
        written
    }

    /// Remembers where `group` was synced (`remember`) and writes its
    /// record when that, or an earlier sync whose write failed, changed it.
    async fn remember(
        &self,
        link: &LinkHandle,
        group: &str,
        remember: Remember,
    ) -> Result<(), TaskError> {
        let changed = {
            let mut memory = self.memory();
            let g = memory.groups.entry(group.to_string()).or_default();
            for (k, v) in remember {
                g.dirty |= g.synced.insert(k, v) != Some(v);
            }
            g.dirty
        };
        if changed {
            self.persist(link, group).await?;
        }
        Ok(())
    }

    /// Takes source group `group` out of every later sync (`group
    /// migrate`), kept in the state topic across restarts, until
    /// [`Self::include`].
    ///
    /// # Errors
    /// As [`Self::load`], and a `STATE_UNAVAILABLE` [`TaskError`] when the
    /// record cannot be written (the group is then not taken out).
    pub async fn exclude(&self, link: &LinkHandle, group: &str) -> Result<(), TaskError> {
        self.set_excluded(link, group, true).await
    }

    /// Puts a group taken out by [`Self::exclude`] back.
    ///
    /// # Errors
    /// As [`Self::exclude`].
    pub async fn include(&self, link: &LinkHandle, group: &str) -> Result<(), TaskError> {
        self.set_excluded(link, group, false).await
    }

    /// Whether `group` was taken out by [`Self::exclude`] (read from the
    /// state topic first).
    ///
    /// # Errors
    /// As [`Self::load`].
    pub async fn is_excluded(&self, link: &LinkHandle, group: &str) -> Result<bool, TaskError> {
        self.load(link).await?;
        Ok(self.memory().is_excluded(group))
    }

    /// When the last run that synced `group` without error started.
    pub fn last_synced(&self, group: &str) -> Option<SystemTime> {
        self.memory().last_synced.get(group).copied()
    }

    /// Whether the link's group filter chain, as configured now, takes
    /// source group `group` (`group migrate` reports it; the periodic
    /// sync decides with the chain of its own run). `Ok(false)` without a
    /// group filter.
    ///
    /// # Errors
    /// A [`PLUGIN_ERROR`] [`TaskError`] when the chain cannot be built or a
    /// filter with `on_error = "fail"` fails for the group.
    pub fn filters_include(&self, link: &LinkHandle, group: &str) -> Result<bool, TaskError> {
        let names = match &self.config {
            Some(c) => c.borrow().offset_sync.group_filters.clone(),
            None => Vec::new(),
        };
        match group_filter_chain(link, &names)? {
            None => Ok(false),
            Some(chains) => group_passes(&chains, group),
        }
    }

    /// One sync of every group `config` includes, or, with `only`, of
    /// those groups' offsets of the mirror topics `only` (promote's final
    /// sync). Per-group problems are in the returned errors.
    ///
    /// # Errors
    /// A [`TaskError`] when the source's groups cannot be listed.
    pub async fn sync(
        &self,
        link: &LinkHandle,
        config: &OffsetSyncConfig,
        only: Option<&[String]>,
    ) -> Result<TaskRun, TaskError> {
        let _one = self.runs.lock().await;
        let started = SystemTime::now();
        let mirrored = mirrored_by_source(link, only);
        let mut run = TaskRun::default();
        if mirrored.is_empty() {
            return Ok(run);
        }
        let Some(chains) = group_filter_chain(link, &config.group_filters)? else {
            return Ok(run);
        };
        self.load(link).await?;
        let groups = link.source().list_groups().await.map_err(|e| {
            kafka_task_error("listing the source cluster's consumer groups".into(), &e)
        })?;
        for g in groups {
            let group = g.group_id;
            if self.memory().is_excluded(&group) {
                continue;
            }
            match group_passes(&chains, &group) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    run.errors.push(e);
                    continue;
                }
            }
            match self.sync_group(link, &group, &mirrored).await {
                Ok(committed) => {
                    run.items += committed;
                    self.memory().last_synced.insert(group, started);
                }
                Err(e) => run.errors.push(e),
            }
        }
        Ok(run)
    }

    /// Syncs group `group` now, outside the schedule and whatever the
    /// group filters say (`group migrate`); one run at a time as for
    /// [`Self::sync`]. Returns the number of partition offsets committed.
    ///
    /// # Errors
    /// As [`Self::plan`], and the destination's OffsetCommit error.
    pub async fn sync_group_now(
        &self,
        link: &LinkHandle,
        group: &str,
        mirrored: &BTreeMap<(String, i32), String>,
    ) -> Result<u64, TaskError> {
        let _one = self.runs.lock().await;
        self.load(link).await?;
        self.sync_group(link, group, mirrored).await
    }

    /// Syncs one group; returns the number of partition offsets committed.
    async fn sync_group(
        &self,
        link: &LinkHandle,
        group: &str,
        mirrored: &BTreeMap<(String, i32), String>,
    ) -> Result<u64, TaskError> {
        let plan = self.plan(link, group, mirrored).await?;
        let Some(plan) = plan else { return Ok(0) };
        let (commit, remember) = {
            let memory = self.memory();
            let none = Synced::new();
            let synced = memory.groups.get(group).map_or(&none, |g| &g.synced);
            decide(group, &plan, synced)
        };
        if commit.is_empty() {
            // In sync already: remember where, so that a later reset of the
            // source group is recognised as one.
            self.remember(link, group, remember).await?;
            return Ok(0);
        }
        tracing::debug!(link = %link.name(), group, destination_group = %plan.destination_group,
            offsets = ?commit.iter().map(|((t, p), c)| (t.as_str(), *p, c.offset)).collect::<Vec<_>>(),
            "committing consumer group offsets on the destination");
        link.destination()
            .commit_group_offsets(&plan.destination_group, &commit)
            .await
            .map_err(|e| {
                kafka_task_error(
                    format!(
                        "committing the offsets of consumer group '{group}' on the destination as '{}'",
                        plan.destination_group
                    ),
                    &e,
                )
            })?;
        self.remember(link, group, remember).await?;
        Ok(commit.len() as u64)
    }

    /// What syncing `group` would do now: its destination name, and per
    /// mirrored partition its source offset, translation and destination
    /// offset. `None` when the group has no offsets of mirrored partitions
    /// or a renamer with `on_error = "skip"` leaves it out.
    ///
    /// # Errors
    /// A [`TaskError`] for the group: [`NON_EMPTY_GROUP`] when it has
    /// members on the destination; Kafka errors of the requests; a renamer
    /// failure.
    pub async fn plan(
        &self,
        link: &LinkHandle,
        group: &str,
        mirrored: &BTreeMap<(String, i32), String>,
    ) -> Result<Option<GroupPlan>, TaskError> {
        let source =
            link.source()
                .fetch_group_offsets(group)
                .await
                .map_err(|e| {
                    kafka_task_error(
                format!("reading the committed offsets of consumer group '{group}' on the source"),
                &e,
            )
                })?;
        let relevant: Vec<(&(String, i32), &CommittedOffset, &String)> = source
            .iter()
            .filter_map(|(tp, c)| mirrored.get(tp).map(|m| (tp, c, m)))
            .collect();
        if relevant.is_empty() {
            return Ok(None);
        }
        let destination_group = match link.rename_group(group) {
            Ok(Some(g)) => g,
            Ok(None) => return Ok(None),
            Err(e) => {
                return Err(TaskError {
                    code: "UNKNOWN".into(),
                    message: format!(
                        "naming consumer group '{group}' on the destination failed: {e}"
                    ),
                })
            }
        };
        let dest = link.destination();
        let described = dest.describe_group(&destination_group).await.map_err(|e| {
            kafka_task_error(
                format!("describing consumer group '{destination_group}' on the destination"),
                &e,
            )
        })?;
        if !described.members.is_empty() {
            return Err(TaskError {
                code: NON_EMPTY_GROUP.into(),
                message: format!(
                    "consumer group '{group}' has {} member(s) on the destination (as '{destination_group}', state {}); its offsets are not synced while consumers use it there",
                    described.members.len(),
                    described.state
                ),
            });
        }
        let current = dest
            .fetch_group_offsets(&destination_group)
            .await
            .map_err(|e| {
                kafka_task_error(
                    format!(
                        "reading the committed offsets of consumer group '{destination_group}' on the destination"
                    ),
                    &e,
                )
            })?;
        let mut partitions = Vec::with_capacity(relevant.len());
        for ((_, partition), c, mirror) in relevant {
            let translated = match link.translate_committed(mirror, *partition, c.offset) {
                Some(CommittedTranslation::At(d)) => Some(d),
                Some(CommittedTranslation::NotYetMirrored { .. }) | None => None,
            };
            partitions.push((
                PartitionSync {
                    mirror_topic: mirror.clone(),
                    partition: *partition,
                    source_offset: c.offset,
                    translated,
                    destination_offset: current
                        .get(&(mirror.clone(), *partition))
                        .map(|d| d.offset),
                },
                c.clone(),
            ));
        }
        Ok(Some(GroupPlan {
            destination_group,
            partitions,
        }))
    }
}

/// The offsets to commit for `group` under `plan`, and what to remember
/// as synced (the partitions committed, and those already in sync): the
/// translated offsets that differ from the destination's, except those
/// below it when the source group did not move back since the last sync
/// (`synced`); each with the source's metadata string and no leader epoch
/// (the destination's epochs are its own).
fn decide(group: &str, plan: &GroupPlan, synced: &Synced) -> (GroupOffsets, Remember) {
    let mut commit = GroupOffsets::new();
    let mut remember = Vec::new();
    for (p, c) in &plan.partitions {
        let Some(target) = p.translated else { continue };
        let key = (p.mirror_topic.clone(), p.partition);
        if p.destination_offset == Some(target) {
            remember.push((key, (p.source_offset, target)));
            continue;
        }
        if p.destination_offset.is_some_and(|d| target < d) {
            let source_moved_back = synced.get(&key).is_some_and(|(s, _)| p.source_offset < *s);
            if !source_moved_back {
                tracing::debug!(group, topic = %p.mirror_topic, partition = p.partition,
                    target, "destination offset ahead of the translated source offset; left as it is");
                continue;
            }
        }
        commit.insert(
            (p.mirror_topic.clone(), p.partition),
            CommittedOffset {
                offset: target,
                leader_epoch: -1,
                metadata: c.metadata.clone(),
            },
        );
        remember.push((key, (p.source_offset, target)));
    }
    (commit, remember)
}

/// What a sync of one group would do ([`ConsumerOffsetSync::plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPlan {
    /// The group's name on the destination.
    pub destination_group: String,
    /// Each mirrored partition the group committed an offset for, with the
    /// source's committed offset as read.
    pub partitions: Vec<(PartitionSync, CommittedOffset)>,
}

/// The group filter chain of `names` with the versions loaded now; `None`
/// when there is no group filter (no group is synced).
///
/// # Errors
/// A [`PLUGIN_ERROR`] [`TaskError`] when a plugin of the chain is not
/// loaded or is of another kind.
fn group_filter_chain(link: &LinkHandle, names: &[String]) -> Result<Option<Chains>, TaskError> {
    if names.is_empty() {
        return Ok(None);
    }
    link.plugins()
        .group_filters_for(names)
        .map(Some)
        .map_err(|e| TaskError {
            code: PLUGIN_ERROR.into(),
            message: format!("the group filter chain cannot be built; no group is synced: {e}"),
        })
}

/// Whether `chains` takes source group `group` ([`Chains::sync_group`]).
///
/// # Errors
/// A [`PLUGIN_ERROR`] [`TaskError`] naming the group and the failing
/// plugin (`on_error = "fail"`).
fn group_passes(chains: &Chains, group: &str) -> Result<bool, TaskError> {
    chains.sync_group(group).map_err(|e| TaskError {
        code: PLUGIN_ERROR.into(),
        message: format!("consumer group '{group}' is not synced: {e}"),
    })
}

/// The link's mirror partitions by `(source topic, partition)`, with their
/// mirror topic; only those of the mirror topics `only`, when given.
pub fn mirrored_by_source(
    link: &LinkHandle,
    only: Option<&[String]>,
) -> BTreeMap<(String, i32), String> {
    link.mirrored_partitions()
        .into_iter()
        .filter(|p| only.is_none_or(|o| o.contains(&p.mirror_topic)))
        .map(|p| ((p.source_topic, p.partition), p.mirror_topic))
        .collect()
}

impl LinkTask for ConsumerOffsetSync {
    fn name(&self) -> &'static str {
        TASK
    }

    fn interval(&self, config: &LinkConfig) -> Option<Duration> {
        config
            .offset_sync
            .enable
            .then_some(config.offset_sync.interval)
    }

    fn run<'a>(
        &'a self,
        link: &'a LinkHandle,
        config: &'a LinkConfig,
    ) -> BoxFuture<'a, Result<TaskRun, TaskError>> {
        Box::pin(self.sync(link, &config.offset_sync, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(
        source: i64,
        translated: Option<i64>,
        dest: Option<i64>,
    ) -> (PartitionSync, CommittedOffset) {
        (
            PartitionSync {
                mirror_topic: "orders".into(),
                partition: 0,
                source_offset: source,
                translated,
                destination_offset: dest,
            },
            CommittedOffset {
                offset: source,
                leader_epoch: 7,
                metadata: Some("consumer-meta".into()),
            },
        )
    }

    fn plan(p: (PartitionSync, CommittedOffset)) -> GroupPlan {
        GroupPlan {
            destination_group: "g".into(),
            partitions: vec![p],
        }
    }

    fn committed(out: &GroupOffsets) -> Option<i64> {
        out.get(&("orders".to_string(), 0)).map(|c| c.offset)
    }

    #[test]
    fn forward_keeps_metadata_drops_epoch() {
        let (c, r) = decide("g", &plan(part(50, Some(40), Some(30))), &Synced::new());
        let got = c.get(&("orders".to_string(), 0)).expect("committed");
        assert_eq!(got.offset, 40);
        assert_eq!(got.metadata.as_deref(), Some("consumer-meta"));
        assert_eq!(got.leader_epoch, -1);
        assert_eq!(r, vec![(("orders".into(), 0), (50, 40))]);
    }

    #[test]
    fn unchanged_and_not_yet_mirrored_commit_nothing() {
        let (c, r) = decide("g", &plan(part(50, Some(40), Some(40))), &Synced::new());
        assert!(c.is_empty());
        assert_eq!(
            r,
            vec![(("orders".into(), 0), (50, 40))],
            "in sync: remembered"
        );
        assert!(decide("g", &plan(part(50, None, Some(10))), &Synced::new())
            .0
            .is_empty());
    }

    #[test]
    fn backwards_only_when_the_source_moved_back() {
        // The destination is ahead and nothing was synced: left alone.
        let ahead = plan(part(50, Some(40), Some(45)));
        assert!(decide("g", &ahead, &Synced::new()).0.is_empty());
        // Synced at source 50 before; the source is still at 50 (the
        // destination moved on by itself): left alone.
        let mut synced = Synced::new();
        synced.insert(("orders".to_string(), 0), (50, 40));
        assert!(decide("g", &ahead, &synced).0.is_empty());
        // The source group was reset from 50 to 10: followed.
        let reset = plan(part(10, Some(5), Some(40)));
        assert_eq!(committed(&decide("g", &reset, &synced).0), Some(5));
        // Without a history (another group's is its own): left alone.
        assert!(decide("h", &reset, &Synced::new()).0.is_empty());
    }
}
