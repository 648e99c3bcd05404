//! One running cluster link's data plane: the shared partition table and the
//! start-up sequence (connect, read state, create mirror topics, recover each
//! mirror partition from its checkpoint), then the fetcher, committer and
//! watcher tasks. The watcher also runs the mirror topic lifecycle asked for
//! through [`MirrorLink::create_mirror`] and [`MirrorLink::alter_mirror`]
//! (submodule `lifecycle`), one command at a time. Submodules: `run` (the
//! link's task: start-up, task wiring, watcher loop), `slot` (a mirror
//! partition's data-plane position), `health` (link health and start-up
//! retries), `recovery` (mirror topic set-up and partition recovery),
//! `watch` (the watcher's periodic checks), `lifecycle` (mirror commands),
//! `handle` (read access for link tasks).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::command::{ControlError, MirrorAction, MirrorActionResult, NewMirror};
use crate::config::{LinkConfig, StartOffsetSpec};
use crate::kafka::{ClusterClient, KafkaError, OffsetSpec};
use crate::mirror::error::{MirrorError, Side};
use crate::mirror::registry::{cluster_key, MirrorEntry, MirrorRegistry};
use crate::mirror::state::{
    now_ms, Checkpoint, DesiredState, MirrorPartitionId, MirrorTopicRecord, PersistedFailure,
    ProducerIdentity, StateEntry, StateSnapshot, StateStore,
};
use crate::mirror::status::{
    FailureCause, LinkHealth, LinkState, LinkStatus, PartitionKey, PartitionState, PartitionStatus,
};
use crate::mirror::{discover, metrics as m, verify};

mod handle;
mod health;
mod lifecycle;
#[cfg(test)]
mod lifecycle_tests;
mod recovery;
mod run;
mod slot;
mod watch;

pub use handle::{FinalSyncHook, LinkHandle, MirroredPartition};
use health::{retry_until_shutdown, set_health};
pub(crate) use recovery::progress_checkpoint;
use recovery::{setup_topic, wait_for_topic};
use run::{run_link, Expect, Shared};
pub(crate) use slot::{ResumeRound, RoundGuard, Slot};
pub(crate) use watch::check_idle_writes;
use watch::{check_new_partitions, check_topic_ids};
#[cfg(test)]
mod recovery_tests;

use crate::plugin::{ChainNames, PluginRegistry};
use arc_swap::ArcSwap;

/// Default per-partition fetch size (bytes). Grows for a partition whose
/// next batch is larger.
pub(crate) const DEFAULT_PARTITION_FETCH_BYTES: i32 = 8 * 1024 * 1024;
/// How often the watcher rechecks source topic ids, checks idle mirror
/// partitions for foreign writes and retries topics that could not be set
/// up.
const WATCH_INTERVAL: Duration = Duration::from_secs(5);
/// Control commands waiting for the watcher (commands).
const COMMAND_QUEUE: usize = 16;

/// The instant `after` from now, saturating: durations come from link
/// properties (`metadata.max.age.ms`, `request.timeout.ms`, any positive
/// u64 ms), and `Instant + Duration` panics past the clock's range.
fn instant_after(after: Duration) -> tokio::time::Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = tokio::time::Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

/// Everything the tasks of one link share.
pub(crate) struct LinkCtx {
    pub name: String,
    pub source: Arc<ClusterClient>,
    pub destination: Arc<ClusterClient>,
    /// The state topic, written as `producer` (shared with the tasks that
    /// persist failures).
    pub state: Arc<StateStore>,
    pub slots: Mutex<BTreeMap<PartitionKey, Slot>>,
    pub status: LinkStatus,
    /// The idempotent producer identity this instance claimed for the link.
    pub producer: ProducerIdentity,
    /// Cancelled when the link's tasks must stop: shutdown, or another
    /// instance fenced this one ([`LinkCtx::fence`]).
    pub stop: CancellationToken,
    /// Loaded plugins (hot-swapped behind an `ArcSwap`).
    pub plugins: Arc<PluginRegistry>,
    /// The link's plugin chains, by plugin name; swapped on config reload.
    pub chain_names: Arc<ArcSwap<ChainNames>>,
    /// The gateway's state topic (never mirrored).
    pub state_topic: String,
    /// What promote and failover run before a mirror topic stops.
    pub final_sync: handle::FinalSyncSlot,
    /// The link's metric handles.
    pub metrics: Arc<m::LinkMetrics>,
    /// Bytes of record batches one Produce request holds at most
    /// (`linkgate.producer.max.request.size`, fixed for the link's run).
    pub max_request_size: usize,
}

impl LinkCtx {
    /// A context for tests of the link's tasks: no plugins, no chains,
    /// the state topic `state` written idempotently as `producer`.
    #[cfg(test)]
    pub(crate) fn for_test(
        name: &str,
        source: Arc<ClusterClient>,
        destination: Arc<ClusterClient>,
        state: StateStore,
        producer: ProducerIdentity,
        slots: BTreeMap<PartitionKey, Slot>,
        status: LinkStatus,
    ) -> Self {
        use crate::plugin::PluginHost;
        let state_topic = state.topic().to_string();
        Self {
            name: name.to_string(),
            source,
            destination,
            state: Arc::new(state.with_producer(producer)),
            slots: Mutex::new(slots),
            status,
            producer,
            stop: CancellationToken::new(),
            plugins: Arc::new(PluginRegistry::new(PluginHost::new().expect("plugin host"))),
            chain_names: Arc::new(ArcSwap::from_pointee(ChainNames::default())),
            state_topic,
            final_sync: Arc::default(),
            metrics: Arc::new(m::LinkMetrics::new(name)),
            max_request_size: crate::config::DEFAULT_MAX_REQUEST_SIZE,
        }
    }

    pub fn slots(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn producer(&self) -> ProducerIdentity {
        self.producer
    }

    /// Stops the link's tasks because another gateway instance claimed the
    /// link: health `FAILED` with error `FENCED`. Nothing is failed or
    /// written: the other instance mirrors from where this one stopped.
    pub fn fence(&self, why: &str) {
        if self.stop.is_cancelled() {
            return;
        }
        m::add_error(&self.name, "fenced");
        set_health(
            &self.name,
            &self.status,
            LinkHealth {
                state: LinkState::Failed,
                error: "FENCED".to_string(),
                error_message: format!(
                    "another gateway instance runs this link now; this one stopped mirroring it: {why}"
                ),
            },
        );
        self.stop.cancel();
    }

    /// Changes a partition's state (status table, metric, log line on
    /// change). `STOPPED` is final: a stopped partition keeps its state.
    pub fn set_state(&self, key: &PartitionKey, state: PartitionState) {
        self.set_state_at(key, state, SystemTime::now());
    }

    /// [`LinkCtx::set_state`] with the state time given: the time a
    /// persisted state (pause, stop) was recorded, so the state time shown
    /// is the same before and after a restart.
    pub fn set_state_at(&self, key: &PartitionKey, state: PartitionState, time: SystemTime) {
        self.change_state(key, state, time);
    }

    /// [`LinkCtx::set_state_at`]; whether the state changed.
    fn change_state(&self, key: &PartitionKey, state: PartitionState, time: SystemTime) -> bool {
        let mut st = self.status.lock();
        let Some(ps) = st.get_mut(key) else {
            return false;
        };
        if ps.state == state || ps.state == PartitionState::Stopped {
            return false;
        }
        match &state {
            PartitionState::Failed(cause) => tracing::error!(link = %self.name, topic = %key.0,
                partition = key.1, code = cause.code(), "mirror partition FAILED: {cause}"),
            PartitionState::SourceUnavailable(why) => tracing::warn!(link = %self.name,
                topic = %key.0, partition = key.1, "mirror partition SOURCE_UNAVAILABLE: {why}"),
            other => tracing::info!(link = %self.name, topic = %key.0, partition = key.1,
                "mirror partition {}", other.name()),
        }
        m::set_state(&self.name, &key.0, key.1, &state);
        ps.state = state;
        ps.state_time = time;
        true
    }

    pub fn state_of(&self, key: &PartitionKey) -> Option<PartitionState> {
        self.status.lock().get(key).map(|s| s.state.clone())
    }

    /// Fails a partition for good: `FAILED` with the cause, persisted in
    /// the state topic (`fail/...`, written in the background) so that a
    /// restart keeps it failed.
    pub fn fail(&self, key: &PartitionKey, cause: FailureCause) {
        let now = SystemTime::now();
        if !self.change_state(key, PartitionState::Failed(cause.clone()), now) {
            return;
        }
        m::add_error(&self.name, "partition_failed");
        // The same instant as the state time: a restart shows it unchanged.
        let time_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let failure = PersistedFailure { cause, time_ms };
        let entry = StateEntry::failure(&self.id(key), Some(&failure));
        let state = self.state.clone();
        let (link, topic, partition) = (self.name.clone(), key.0.clone(), key.1);
        tokio::spawn(async move {
            let written = match entry {
                Ok(e) => state.write(&[e]).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::warn!(link, topic, partition, error = %e,
                    "cannot record the failure in the state topic; a restart checks the partition again");
            }
        });
    }

    /// Makes the fetcher start again from `offset` and drop data in flight.
    /// No effect on a partition without a slot (stopped).
    pub fn rewind(&self, key: &PartitionKey, offset: i64) {
        match self.slots().get_mut(key) {
            Some(slot) => {
                slot.generation += 1;
                slot.fetch_offset = offset;
            }
            None => return,
        }
        if let Some(ps) = self.status.lock().get_mut(key) {
            ps.next_fetch_offset = offset;
        }
    }

    /// The partitions of `mirror` that have a slot (not stopped).
    pub fn partitions_of(&self, mirror: &str) -> Vec<PartitionKey> {
        self.slots()
            .keys()
            .filter(|k| k.0 == mirror)
            .cloned()
            .collect()
    }

    pub fn id(&self, key: &PartitionKey) -> MirrorPartitionId {
        (self.name.clone(), key.0.clone(), key.1)
    }
}

/// What a link needs from the gateway besides its own config.
#[derive(Clone)]
pub struct LinkDeps {
    /// The gateway's state topic on the destination (`[gateway] state_topic`).
    pub state_topic: String,
    /// Loaded plugins.
    pub plugins: Arc<PluginRegistry>,
    /// Every mirror topic of every link of this gateway (loop prevention).
    pub registry: Arc<MirrorRegistry>,
}

/// A request to the running link's watcher task.
enum Command {
    Create {
        req: NewMirror,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    Alter {
        mirror: String,
        action: MirrorAction,
        validate_only: bool,
        reply: oneshot::Sender<MirrorActionResult>,
    },
}

/// A started link: its status table and its tasks.
pub struct MirrorLink {
    name: String,
    config: LinkConfig,
    status: LinkStatus,
    chain_names: Arc<ArcSwap<ChainNames>>,
    commands: mpsc::Sender<Command>,
    /// Set once the link is connected, its state loaded and its watcher
    /// takes commands.
    running: Arc<AtomicBool>,
    /// Read access for link tasks, set once the link is connected.
    handle: Arc<std::sync::OnceLock<LinkHandle>>,
    /// What promote and failover run before a mirror topic stops.
    final_sync: handle::FinalSyncSlot,
    task: tokio::task::JoinHandle<()>,
}

/// The plugin chain names of a link config.
pub fn chain_names(config: &LinkConfig) -> ChainNames {
    ChainNames {
        topic_filters: config.topic_filters.clone(),
        renamers: config.renamers.clone(),
        acl_mappers: config.acl_mappers.clone(),
        record_transforms: config.record_transforms.clone(),
    }
}

impl MirrorLink {
    /// Starts a link in the background: the returned value is available at
    /// once; partitions go from `PENDING` to `ACTIVE` (or `PAUSED`) as set-up
    /// completes. Connection failures are retried with backoff until
    /// `shutdown` is cancelled; meanwhile the link's health is `UNAVAILABLE`
    /// with the Confluent link error code and a message naming the cluster
    /// and address.
    pub fn start(config: LinkConfig, deps: LinkDeps, shutdown: CancellationToken) -> Self {
        Self::start_expecting(config, deps, None, shutdown)
    }

    /// [`MirrorLink::start`] for a link whose source must be the cluster
    /// with Kafka cluster id `source_cluster_id` (the `source_cluster_id` of
    /// an API link when it is a cluster id, not a `[clusters]` alias): once
    /// connected, a source reporting another id (Metadata v2+ `cluster_id`)
    /// makes the link `FAILED` (error `UNKNOWN`, the message naming both
    /// ids); it then fetches nothing and refuses mirror commands. `None`, or
    /// a broker that reports no id: not checked.
    pub fn start_expecting(
        config: LinkConfig,
        deps: LinkDeps,
        source_cluster_id: Option<String>,
        shutdown: CancellationToken,
    ) -> Self {
        let status = LinkStatus::default();
        let name = config.name.clone();
        let kept = config.clone();
        let st = status.clone();
        let chains = Arc::new(ArcSwap::from_pointee(chain_names(&config)));
        let ch = chains.clone();
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let running = Arc::new(AtomicBool::new(false));
        let run = running.clone();
        let handle = Arc::new(std::sync::OnceLock::new());
        let final_sync: handle::FinalSyncSlot = Arc::default();
        let shared = Shared {
            handle: handle.clone(),
            final_sync: final_sync.clone(),
        };
        let task = tokio::spawn(async move {
            let expect = Expect { source_cluster_id };
            run_link(
                config,
                deps,
                expect,
                ch,
                st,
                rx,
                run.clone(),
                shared,
                shutdown,
            )
            .await;
            run.store(false, Ordering::SeqCst);
        });
        Self {
            name,
            config: kept,
            status,
            chain_names: chains,
            commands,
            running,
            handle,
            final_sync,
            task,
        }
    }

    /// Read access to the running link for link tasks; `None` until it is
    /// connected and its state is loaded.
    pub fn handle(&self) -> Option<LinkHandle> {
        self.handle.get().cloned()
    }

    /// The cell [`MirrorLink::handle`] reads, for tasks started before the
    /// link is connected.
    pub fn handle_cell(&self) -> Arc<std::sync::OnceLock<LinkHandle>> {
        self.handle.clone()
    }

    /// Installs what promote and failover run before mirror topics stop
    /// (the final consumer offset sync).
    pub fn set_final_sync(&self, hook: Arc<dyn FinalSyncHook>) {
        *self.final_sync.write().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Replaces the link's plugin chains (config reload). Takes effect at the
    /// next produce round (record transforms) or the next topic decision
    /// (filters, renamers); existing mirror topics keep their names.
    pub fn set_chain_names(&self, names: ChainNames) {
        self.chain_names.store(Arc::new(names));
    }

    /// The link's current plugin chains.
    pub fn chain_names_now(&self) -> Arc<ChainNames> {
        self.chain_names.load_full()
    }

    /// A handle to swap the link's plugin chains from elsewhere (the config
    /// watcher).
    pub fn chains_handle(&self) -> Arc<ArcSwap<ChainNames>> {
        self.chain_names.clone()
    }

    /// The link name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The link's config as started.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Status of every mirror partition.
    pub fn status(&self) -> &LinkStatus {
        &self.status
    }

    /// Whether the link is connected and takes mirror commands
    /// ([`MirrorLink::create_mirror`], [`MirrorLink::alter_mirror`]).
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Why commands are refused now: [`ControlError::Unavailable`] naming
    /// the link and its health.
    fn not_running(&self) -> ControlError {
        let h = self.status.health();
        let detail = if h.error_message.is_empty() {
            "it is still starting (connecting to its clusters, reading its state)".to_string()
        } else {
            format!("{} {}: {}", h.state.name(), h.error, h.error_message)
        };
        ControlError::Unavailable {
            message: format!(
                "cluster link '{}' is not connected yet ({detail}); retry later",
                self.name
            ),
        }
    }

    /// Creates a mirror topic on this running link (REST `POST .../mirrors`,
    /// `kafka-mirrors --create`).
    ///
    /// Names: with both names given, the mirror name must be the one the
    /// link's renamer chain gives the source; with only the source, the
    /// mirror is named by the chain; with only the mirror name, the source
    /// has the same name (refused on a renaming link). Checks: not an
    /// internal topic (`__*`, the state topic), the source exists, the
    /// destination has no topic of that name. Then the `mt/{link}/{mirror}`
    /// record is written, the topic is created (source topic configs with
    /// `req.configs` over them, `req.replication_factor` or the broker
    /// default), protected with DENY WRITE ACLs when the link asks for it
    /// (`linkgate.mirror.write.deny.enable`), registered in the gateway's
    /// [`MirrorRegistry`] and mirrored (`PENDING`, then `ACTIVE`, or
    /// `PAUSED` on a paused link). With `req.validate_only`, every check
    /// runs and nothing changes.
    ///
    /// # Errors
    /// [`ControlError::InvalidConfig`], [`ControlError::MirrorExists`],
    /// [`ControlError::SourceTopicNotFound`], [`ControlError::Unavailable`]
    /// (the link is not connected yet, a cluster or the state topic cannot
    /// be reached). A failed creation leaves no record and no topic behind.
    pub async fn create_mirror(&self, req: &NewMirror) -> Result<(), ControlError> {
        if !self.is_running() {
            return Err(self.not_running());
        }
        let (reply, answer) = oneshot::channel();
        let cmd = Command::Create {
            req: req.clone(),
            reply,
        };
        if self.commands.send(cmd).await.is_err() {
            return Err(self.not_running());
        }
        answer.await.unwrap_or_else(|_| Err(self.not_running()))
    }

    /// Applies a mirror action to one mirror topic of this link; the result
    /// carries the error, if any, and each partition's lag when the action
    /// was decided.
    ///
    /// - `Pause`: `PAUSED` (persisted; not fetched until resumed). Pausing
    ///   a paused mirror succeeds and changes nothing.
    /// - `Resume`: `ACTIVE` again (the link itself may still be paused).
    ///   A `STOPPED`, `PENDING_STOPPED` or `FAILED` mirror cannot resume
    ///   ([`ControlError::InvalidState`]).
    /// - `Promote`: refused with [`ControlError::LagNotZero`] while any
    ///   partition lags (a fresh ListOffsets latest on the source against
    ///   what landed). Else `PENDING_STOPPED` (no more fetches), the rounds
    ///   in flight land (bounded wait), lag is checked again (back to the
    ///   previous state and `LagNotZero` if it rose), the final consumer
    ///   offset and topic config syncs run, then `STOPPED`: persisted with
    ///   each partition's history, DENY WRITE ACLs removed, unregistered.
    /// - `Failover`: `STOPPED` at once, whatever the lag (a round in flight
    ///   may still land).
    ///
    /// `validate_only`: every check runs (lag included), nothing changes.
    pub async fn alter_mirror(
        &self,
        mirror_topic: &str,
        action: MirrorAction,
        validate_only: bool,
    ) -> MirrorActionResult {
        let refused = |e| MirrorActionResult {
            mirror_topic_name: mirror_topic.to_string(),
            error: Some(e),
            lags: Vec::new(),
        };
        if !self.is_running() {
            return refused(self.not_running());
        }
        let (reply, answer) = oneshot::channel();
        let cmd = Command::Alter {
            mirror: mirror_topic.to_string(),
            action,
            validate_only,
            reply,
        };
        if self.commands.send(cmd).await.is_err() {
            return refused(self.not_running());
        }
        answer.await.unwrap_or_else(|_| refused(self.not_running()))
    }

    /// Topic-level state of each mirror topic of this link, by name:
    /// `PENDING`, `ACTIVE`, `PAUSED`, `PENDING_STOPPED`, `STOPPED`,
    /// `FAILED` or `SOURCE_UNAVAILABLE` (the most telling partition state:
    /// failed over unavailable over paused over pending over active).
    pub fn mirror_states(&self) -> Vec<(String, &'static str)> {
        let mut out: BTreeMap<String, &'static str> = BTreeMap::new();
        for ((topic, _), ps) in self.status.lock().iter() {
            let name = ps.state.name();
            let e = out.entry(topic.clone()).or_insert(name);
            if state_rank(name) > state_rank(e) {
                *e = name;
            }
        }
        out.into_iter().collect()
    }

    /// Waits until the link's tasks ended (after `shutdown` was cancelled).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Which partition state names a topic-level state: the higher wins.
fn state_rank(name: &str) -> u8 {
    match name {
        "ACTIVE" => 0,
        "PENDING" => 1,
        "PAUSED" => 2,
        "SOURCE_UNAVAILABLE" => 3,
        "PENDING_STOPPED" => 4,
        "STOPPED" => 5,
        _ => 6, // FAILED
    }
}

/// The mirror topics of a running link, owned by its watcher task: every
/// change of the set (set-up, create, pause, stop) goes through it, one at
/// a time.
pub(crate) struct Topics {
    pub(crate) config: Arc<LinkConfig>,
    /// State read at start, or again for a resume (checkpoints and offset
    /// maps for recovery).
    pub(crate) snapshot: Arc<StateSnapshot>,
    registry: Arc<MirrorRegistry>,
    /// Mirror topic by source topic (stopped mirrors included, so that
    /// auto-create never mirrors their source again).
    pub(crate) names: BTreeMap<String, String>,
    /// Record of each mirror topic, by mirror topic.
    pub(crate) records: BTreeMap<String, MirrorTopicRecord>,
    /// Source topics to set up (retried every watcher tick).
    pub(crate) pending: Vec<String>,
}

impl Topics {
    /// The topics of a link from its state: stopped mirrors come back
    /// `STOPPED` in the status table with their history (never set up);
    /// the others, and `config.mirror_topics`, are pending.
    fn new(
        config: Arc<LinkConfig>,
        snapshot: Arc<StateSnapshot>,
        registry: Arc<MirrorRegistry>,
        ctx: &LinkCtx,
    ) -> Self {
        let records: BTreeMap<String, MirrorTopicRecord> = snapshot
            .mirror_topics
            .iter()
            .filter(|((l, _), _)| *l == ctx.name)
            .map(|((_, mirror), rec)| (mirror.clone(), rec.clone()))
            .collect();
        let names: BTreeMap<String, String> = records
            .iter()
            .map(|(mirror, rec)| (rec.source_topic.clone(), mirror.clone()))
            .collect();
        let mut pending: Vec<String> = Vec::new();
        for source in &config.mirror_topics {
            let stopped = names
                .get(source)
                .and_then(|m| records.get(m))
                .is_some_and(|r| r.state == DesiredState::Stopped);
            if !stopped && !pending.contains(source) {
                pending.push(source.clone());
            }
        }
        for (mirror, rec) in &records {
            if rec.state == DesiredState::Stopped {
                restore_stopped(ctx, mirror, rec);
            } else if !pending.contains(&rec.source_topic) {
                pending.push(rec.source_topic.clone());
            }
        }
        Self {
            config,
            snapshot,
            registry,
            names,
            records,
            pending,
        }
    }

    /// Sets up every pending source topic; topics that fail stay pending and
    /// are retried.
    pub(crate) async fn setup_pending(&mut self, ctx: &Arc<LinkCtx>) {
        let mut still = Vec::new();
        for source in std::mem::take(&mut self.pending) {
            match setup_topic(ctx, self, &source, None).await {
                Ok(()) => {}
                Err(e) => {
                    m::add_error(&ctx.name, e.kind());
                    tracing::warn!(link = %ctx.name, topic = %source, error = %e,
                        "mirror topic not set up yet; retrying every {WATCH_INTERVAL:?}");
                    still.push(source);
                }
            }
        }
        // Commands may have added topics meanwhile (none run concurrently,
        // but keep whatever is there).
        for s in still {
            if !self.pending.contains(&s) {
                self.pending.push(s);
            }
        }
    }

    /// One auto-create scan ([`discover::scan`]) with the gateway-wide
    /// registry: new matching source topics become pending.
    async fn scan(&mut self, ctx: &LinkCtx) {
        discover::scan(ctx, &self.registry, &self.names, &mut self.pending).await;
    }

    async fn run_command(&mut self, ctx: &Arc<LinkCtx>, cmd: Command) {
        match cmd {
            Command::Create { req, reply } => {
                let r = self.create(ctx, &req).await;
                let _ = reply.send(r);
            }
            Command::Alter {
                mirror,
                action,
                validate_only,
                reply,
            } => {
                let r = self.alter(ctx, &mirror, action, validate_only).await;
                let _ = reply.send(r);
            }
        }
    }

    /// Where the data of source topic `source` originates: the origin of
    /// the mirror topic it is, when it is one on the source cluster (a
    /// chain of links of this gateway), else the source cluster.
    pub(super) fn origin_of(&self, ctx: &LinkCtx, source: &str, source_topic_id: &str) -> String {
        let source_cluster = cluster_key(&ctx.source);
        let id = (!source_topic_id.is_empty() && source_topic_id != uuid::Uuid::nil().to_string())
            .then_some(source_topic_id);
        self.registry
            .mirror_at(&source_cluster, source, id)
            .map(|e| e.origin_cluster)
            .unwrap_or(source_cluster)
    }

    /// The gateway-wide registry entry of a mirror topic of this link.
    fn register(&self, ctx: &LinkCtx, mirror: &str, mirror_topic_id: uuid::Uuid, source: &str) {
        self.registry.register(MirrorEntry {
            link: ctx.name.clone(),
            destination_cluster: cluster_key(&ctx.destination),
            mirror_topic: mirror.to_string(),
            mirror_topic_id: (!mirror_topic_id.is_nil()).then(|| mirror_topic_id.to_string()),
            source_cluster: cluster_key(&ctx.source),
            source_topic: source.to_string(),
            origin_cluster: self
                .records
                .get(mirror)
                .and_then(|r| r.origin_cluster.clone())
                .unwrap_or_else(|| cluster_key(&ctx.source)),
        });
    }
}

/// Puts a stopped mirror's partitions in the status table as `STOPPED`,
/// with the history its record keeps.
fn restore_stopped(ctx: &LinkCtx, mirror: &str, rec: &MirrorTopicRecord) {
    ctx.status.set_source_topic(mirror, &rec.source_topic);
    let time = time_of_ms(rec.state_time_ms);
    let mut st = ctx.status.lock();
    for p in &rec.stopped_partitions {
        st.insert(
            (mirror.to_string(), p.partition),
            PartitionStatus {
                state: PartitionState::Stopped,
                state_time: time,
                next_fetch_offset: p.last_source_fetch_offset,
                last_fetch_high_watermark: p.last_source_fetch_offset,
                last_fetch_time: None,
                destination_log_end_offset: p.destination_log_end_offset,
            },
        );
        m::set_state(&ctx.name, mirror, p.partition, &PartitionState::Stopped);
    }
}

/// The mirror topic name the link's renamer chain gives a source topic
/// (the source name itself when the link does not rename).
pub(crate) fn renamed(ctx: &LinkCtx, source: &str) -> Result<String, MirrorError> {
    let names_now = ctx.chain_names.load_full();
    if names_now.renamers.is_empty() {
        return Ok(source.to_string());
    }
    let chains = ctx.plugins.chains_for(&names_now).map_err(|e| {
        MirrorError::Plugin(crate::plugin::ChainError::Failed {
            plugin: "renamer chain".into(),
            kind: crate::plugin::PluginKind::Renamer,
            source: e,
        })
    })?;
    tokio::task::block_in_place(|| chains.rename_topic(source))?.ok_or_else(|| {
        MirrorError::NotNamed {
            topic: source.to_string(),
        }
    })
}

/// The mirror topic name for a source topic: the one recorded when the
/// mirror was created, else decided now and recorded in the state topic
/// before the mirror topic is created.
async fn mirror_name(
    ctx: &LinkCtx,
    topics: &mut Topics,
    source: &str,
    source_topic_id: &str,
) -> Result<String, MirrorError> {
    if let Some(mirror) = topics.names.get(source) {
        return Ok(mirror.clone());
    }
    let mirror = renamed(ctx, source)?;
    let record = MirrorTopicRecord {
        source_topic: source.to_string(),
        source_topic_id: source_topic_id.to_string(),
        state_time_ms: now_ms(),
        origin_cluster: Some(topics.origin_of(ctx, source, source_topic_id)),
        ..MirrorTopicRecord::default()
    };
    ctx.state
        .write(&[StateEntry::mirror_topic(&ctx.name, &mirror, &record)?])
        .await?;
    topics.names.insert(source.to_string(), mirror.clone());
    topics.records.insert(mirror.clone(), record);
    Ok(mirror)
}

/// `base` with `overrides` applied over it (same name: replaced; new name:
/// added), sorted by name.
pub(crate) fn merge_configs(
    base: &[(String, String)],
    overrides: &[(String, String)],
) -> Vec<(String, String)> {
    let mut map: BTreeMap<String, String> = base.iter().cloned().collect();
    for (k, v) in overrides {
        map.insert(k.clone(), v.clone());
    }
    map.into_iter().collect()
}

/// The time of a state recorded at `ms` (ms since the epoch).
pub(crate) fn time_of_ms(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
