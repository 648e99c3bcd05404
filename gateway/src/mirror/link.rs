//! One running cluster link's data plane: the shared partition table and the
//! start-up sequence (connect, read state, create mirror topics, recover each
//! mirror partition from its checkpoint), then the fetcher, committer and
//! watcher tasks.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{LinkConfig, StartOffsetSpec};
use crate::control::{ControlError, MirrorAction, MirrorActionResult, NewMirror};
use crate::kafka::{ClusterClient, ClusterSettings, KafkaError, OffsetSpec};
use crate::mirror::error::{MirrorError, Side};
use crate::mirror::registry::MirrorRegistry;
use crate::mirror::state::{
    Checkpoint, MirrorPartitionId, MirrorTopicRecord, StateEntry, StateSnapshot, StateStore,
};
use crate::mirror::status::{
    FailureCause, LinkStatus, PartitionKey, PartitionState, PartitionStatus,
};
use crate::mirror::{committer, discover, fetcher, metrics as m};
use crate::plugin::{ChainNames, PluginRegistry};
use arc_swap::ArcSwap;

/// Default per-partition fetch size (bytes). Grows for a partition whose
/// next batch is larger.
pub(crate) const DEFAULT_PARTITION_FETCH_BYTES: i32 = 8 * 1024 * 1024;
/// How often the watcher rechecks source topic ids and retries topics that
/// could not be set up (ms).
const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// Data-plane position of one mirror partition. Fetcher and committer share it
/// under a short synchronous lock.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// Source topic name.
    pub source_topic: String,
    /// Source topic id the mirror belongs to.
    pub source_topic_id: String,
    /// Next source offset the fetcher asks for (may run ahead of what landed).
    pub fetch_offset: i64,
    /// Per-partition fetch size (bytes).
    pub fetch_max_bytes: i32,
    /// Bumped on every rewind; fetched data of an older generation is dropped.
    pub generation: u64,
    /// Destination log end offset after the last landed round.
    pub destination_next: i64,
    /// Next base sequence of the idempotent producer for this partition.
    pub sequence: i32,
    /// Last offset map segment start `(source, destination)`.
    pub last_segment: Option<(i64, i64)>,
}

/// Everything the tasks of one link share.
pub(crate) struct LinkCtx {
    pub name: String,
    pub source: Arc<ClusterClient>,
    pub destination: Arc<ClusterClient>,
    pub state: StateStore,
    pub slots: Mutex<BTreeMap<PartitionKey, Slot>>,
    pub status: LinkStatus,
    /// Idempotent producer id and epoch on the destination.
    pub producer: Mutex<(i64, i16)>,
    /// Loaded plugins (hot-swapped behind an `ArcSwap`).
    pub plugins: Arc<PluginRegistry>,
    /// The link's plugin chains, by plugin name; swapped on config reload.
    pub chain_names: Arc<ArcSwap<ChainNames>>,
    /// The gateway's state topic (never mirrored).
    pub state_topic: String,
}

impl LinkCtx {
    pub fn slots(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn producer(&self) -> (i64, i16) {
        *self.producer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes a partition's state (status table, metric, log line on change).
    pub fn set_state(&self, key: &PartitionKey, state: PartitionState) {
        let mut st = self.status.lock();
        let Some(ps) = st.get_mut(key) else { return };
        if ps.state == state {
            return;
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
        ps.state_time = SystemTime::now();
    }

    pub fn state_of(&self, key: &PartitionKey) -> Option<PartitionState> {
        self.status.lock().get(key).map(|s| s.state.clone())
    }

    /// Fails a partition for good.
    pub fn fail(&self, key: &PartitionKey, cause: FailureCause) {
        m::add_error(&self.name, "partition_failed");
        self.set_state(key, PartitionState::Failed(cause));
    }

    /// Makes the fetcher start again from `offset` and drop data in flight.
    pub fn rewind(&self, key: &PartitionKey, offset: i64) {
        if let Some(slot) = self.slots().get_mut(key) {
            slot.generation += 1;
            slot.fetch_offset = offset;
        }
        if let Some(ps) = self.status.lock().get_mut(key) {
            ps.next_fetch_offset = offset;
        }
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

/// A started link: its status table and its tasks.
pub struct MirrorLink {
    name: String,
    config: LinkConfig,
    status: LinkStatus,
    chain_names: Arc<ArcSwap<ChainNames>>,
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
    /// `shutdown` is cancelled.
    pub fn start(config: LinkConfig, deps: LinkDeps, shutdown: CancellationToken) -> Self {
        let LinkDeps {
            state_topic,
            plugins,
            registry: _registry,
        } = deps;
        let status = LinkStatus::default();
        let name = config.name.clone();
        let kept = config.clone();
        let st = status.clone();
        let chains = Arc::new(ArcSwap::from_pointee(chain_names(&config)));
        let ch = chains.clone();
        let task = tokio::spawn(async move {
            run_link(config, state_topic, plugins, ch, st, shutdown).await;
        });
        Self {
            name,
            config: kept,
            status,
            chain_names: chains,
            task,
        }
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

    /// Creates a mirror topic on this running link (REST `POST .../mirrors`):
    /// records it in the state topic, creates the topic on the destination
    /// and starts mirroring it.
    ///
    /// # Errors
    /// See [`crate::control::ControlPlane::create_mirror`].
    pub async fn create_mirror(&self, req: &NewMirror) -> Result<(), ControlError> {
        let _ = req;
        Err(ControlError::Unsupported(
            "creating mirror topics through the API is not implemented yet".into(),
        ))
    }

    /// Applies a mirror action to one mirror topic of this link (pause,
    /// resume, promote, failover); the result carries the error, if any.
    pub async fn alter_mirror(
        &self,
        mirror_topic: &str,
        action: MirrorAction,
        validate_only: bool,
    ) -> MirrorActionResult {
        let _ = validate_only;
        MirrorActionResult {
            mirror_topic_name: mirror_topic.to_string(),
            error: Some(ControlError::Unsupported(format!(
                "{} is not implemented yet",
                action.as_str()
            ))),
            lags: Vec::new(),
        }
    }

    /// Waits until the link's tasks ended (after `shutdown` was cancelled).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Runs `attempt` until it succeeds, with exponential backoff (200 ms
/// doubling to 10 s, backon), counting and logging each failure; `None`
/// when `shutdown` is cancelled first.
async fn retry_until_shutdown<T, F, Fut>(
    link: &str,
    what: &str,
    shutdown: &CancellationToken,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, MirrorError>>,
{
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .without_max_times()
        .build();
    loop {
        match attempt().await {
            Ok(v) => return Some(v),
            Err(e) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                m::add_error(link, e.kind());
                tracing::warn!(link, error = %e, "{what} failed, retrying in {delay:?}");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

async fn run_link(
    config: LinkConfig,
    state_topic: String,
    plugins: Arc<PluginRegistry>,
    chain_names: Arc<ArcSwap<ChainNames>>,
    status: LinkStatus,
    shutdown: CancellationToken,
) {
    let link = config.name.clone();
    let connect = |settings: &ClusterSettings, side: Side| {
        let settings = settings.clone();
        move || {
            let settings = settings.clone();
            async move {
                ClusterClient::connect(settings)
                    .await
                    .map_err(|e| MirrorError::kafka(side, e))
            }
        }
    };
    let Some(source) = retry_until_shutdown(
        &link,
        "connecting to the source cluster",
        &shutdown,
        connect(&config.source, Side::Source),
    )
    .await
    else {
        return;
    };
    let Some(destination) = retry_until_shutdown(
        &link,
        "connecting to the destination cluster",
        &shutdown,
        connect(&config.destination, Side::Destination),
    )
    .await
    else {
        return;
    };
    // State store and producer id.
    let Some((state, snapshot, producer)) =
        retry_until_shutdown(&link, "reading the link state", &shutdown, || async {
            let state = StateStore::open(destination.clone(), &state_topic).await?;
            let snapshot = state.load().await?;
            let producer = destination
                .init_producer_id()
                .await
                .map_err(|e| MirrorError::kafka(Side::Destination, e))?;
            Ok::<_, MirrorError>((state, snapshot, producer))
        })
        .await
    else {
        return;
    };
    tracing::info!(link = %link, producer_id = producer.0, "link state loaded");
    let ctx = Arc::new(LinkCtx {
        name: link.clone(),
        source,
        destination,
        state,
        slots: Mutex::new(BTreeMap::new()),
        status,
        producer: Mutex::new(producer),
        plugins,
        chain_names,
        state_topic,
    });
    let config = Arc::new(config);
    let snapshot = Arc::new(snapshot);

    // Mirror topics this link already has, by source topic.
    let mut names: BTreeMap<String, String> = snapshot
        .mirror_topics
        .iter()
        .filter(|((l, _), _)| *l == link)
        .map(|((_, mirror), rec)| (rec.source_topic.clone(), mirror.clone()))
        .collect();
    let mut pending: Vec<String> = config.mirror_topics.clone();
    for source in names.keys() {
        if !pending.contains(source) {
            pending.push(source.clone());
        }
    }
    let mut next_scan = tokio::time::Instant::now();
    if config.auto_create {
        discover::discover(&ctx, &names, &mut pending).await;
        next_scan += config.metadata_max_age;
    }
    setup_pending(&ctx, &config, &snapshot, &mut names, &mut pending).await;

    let (tx, rx) = mpsc::channel(4);
    let fetch = tokio::spawn(fetcher::run(ctx.clone(), tx, shutdown.clone()));
    let commit = tokio::spawn(committer::run(ctx.clone(), rx, shutdown.clone()));

    // Watcher: retries topics not set up yet, detects recreated source topics.
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(WATCH_INTERVAL) => {}
        }
        if config.auto_create && tokio::time::Instant::now() >= next_scan {
            discover::discover(&ctx, &names, &mut pending).await;
            next_scan = tokio::time::Instant::now() + config.metadata_max_age;
        }
        if !pending.is_empty() {
            setup_pending(&ctx, &config, &snapshot, &mut names, &mut pending).await;
        }
        check_topic_ids(&ctx).await;
    }
    let _ = fetch.await;
    let _ = commit.await;
    tracing::info!(link = %link, "link stopped");
}

/// Sets up every pending source topic; topics that fail stay pending and
/// are retried.
async fn setup_pending(
    ctx: &Arc<LinkCtx>,
    config: &LinkConfig,
    snapshot: &StateSnapshot,
    names: &mut BTreeMap<String, String>,
    pending: &mut Vec<String>,
) {
    let mut still = Vec::new();
    for source in pending.drain(..) {
        match setup_topic(ctx, config, snapshot, names, &source).await {
            Ok(()) => {}
            Err(e) => {
                m::add_error(&ctx.name, e.kind());
                tracing::warn!(link = %ctx.name, topic = %source, error = %e,
                    "mirror topic not set up yet; retrying every {WATCH_INTERVAL:?}");
                still.push(source);
            }
        }
    }
    *pending = still;
}

/// The mirror topic name for a source topic: the one recorded when the
/// mirror was created, else decided now and recorded in the state topic
/// before the mirror topic is created.
async fn mirror_name(
    ctx: &LinkCtx,
    names: &mut BTreeMap<String, String>,
    source: &str,
    source_topic_id: &str,
) -> Result<String, MirrorError> {
    if let Some(mirror) = names.get(source) {
        return Ok(mirror.clone());
    }
    let names_now = ctx.chain_names.load_full();
    let mirror = if names_now.renamers.is_empty() {
        source.to_string()
    } else {
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
        })?
    };
    let record = MirrorTopicRecord {
        source_topic: source.to_string(),
        source_topic_id: source_topic_id.to_string(),
    };
    ctx.state
        .write(&[StateEntry::mirror_topic(&ctx.name, &mirror, &record)])
        .await?;
    names.insert(source.to_string(), mirror.clone());
    Ok(mirror)
}

/// Names the mirror topic of a source topic, creates it on the destination
/// if absent, and recovers every partition.
async fn setup_topic(
    ctx: &Arc<LinkCtx>,
    config: &LinkConfig,
    snapshot: &StateSnapshot,
    names: &mut BTreeMap<String, String>,
    source: &str,
) -> Result<(), MirrorError> {
    let src = |e| MirrorError::kafka(Side::Source, e);
    let dst = |e| MirrorError::kafka(Side::Destination, e);
    let info = ctx
        .source
        .topic(source)
        .await
        .map_err(src)?
        .ok_or_else(|| MirrorError::SourceTopicMissing {
            topic: source.to_string(),
        })?;
    let topic_id = info.topic_id.to_string();
    let mirror = mirror_name(ctx, names, source, &topic_id).await?;
    ctx.status.set_source_topic(&mirror, source);
    let topic = mirror.as_str();
    let partitions = info.partitions.len();
    let dest_info = match ctx.destination.topic(topic).await.map_err(dst)? {
        Some(d) => d,
        None => {
            let configs = ctx
                .source
                .describe_topic_configs(source)
                .await
                .map_err(src)?;
            if configs.is_empty() {
                tracing::info!(link = %ctx.name, topic,
                    "source DescribeConfigs returned no topic configs; creating the mirror topic with destination defaults");
            }
            ctx.destination
                .create_topic(topic, partitions as i32, -1, &configs)
                .await
                .map_err(dst)?;
            tracing::info!(link = %ctx.name, topic, source, partitions, configs = configs.len(), "created mirror topic");
            wait_for_topic(&ctx.destination, topic, partitions)
                .await
                .map_err(dst)?
        }
    };
    if dest_info.partitions.len() < partitions {
        return Err(MirrorError::PartitionMismatch {
            topic: topic.to_string(),
            destination: dest_info.partitions.len(),
            source_partitions: partitions,
        });
    }
    let tps: Vec<(String, i32)> = info
        .partitions
        .iter()
        .map(|p| (topic.to_string(), p.partition))
        .collect();
    let leo = ctx
        .destination
        .list_offsets(&tps, OffsetSpec::Latest)
        .await
        .map_err(dst)?;
    let mut tombstones = Vec::new();
    let mut fresh = Vec::new();
    for (t, p) in &tps {
        let key: PartitionKey = (t.clone(), *p);
        let id = ctx.id(&key);
        let dest_leo = leo.get(&key).copied().unwrap_or(0);
        let map = snapshot.maps.get(&id).cloned().unwrap_or_default();
        let outcome = recover(snapshot.checkpoints.get(&id), dest_leo, &topic_id);
        let mut slot = Slot {
            source_topic: source.to_string(),
            source_topic_id: topic_id.clone(),
            fetch_offset: 0,
            fetch_max_bytes: DEFAULT_PARTITION_FETCH_BYTES,
            generation: 0,
            destination_next: dest_leo,
            sequence: 0,
            last_segment: None,
        };
        let state = match outcome {
            Recovery::Resume { fetch_offset } => {
                slot.fetch_offset = fetch_offset;
                for (s, d) in map.segments() {
                    if d >= dest_leo {
                        tombstones.push(StateEntry::segment(&id, s, d, true));
                    } else {
                        slot.last_segment = Some((s, d));
                    }
                }
                tracing::info!(link = %ctx.name, topic = %t, partition = p, fetch_offset,
                    destination_log_end_offset = dest_leo, "resuming mirror partition from checkpoint");
                if config.paused {
                    PartitionState::Paused
                } else {
                    PartitionState::Active
                }
            }
            Recovery::Fresh => {
                fresh.push(key.clone());
                PartitionState::Pending
            }
            Recovery::Failed(cause) => PartitionState::Failed(cause),
        };
        ctx.slots().insert(key.clone(), slot.clone());
        ctx.status.lock().insert(
            key.clone(),
            PartitionStatus {
                state: PartitionState::Pending,
                state_time: SystemTime::now(),
                next_fetch_offset: slot.fetch_offset,
                last_fetch_high_watermark: -1,
                last_fetch_time: None,
                destination_log_end_offset: dest_leo,
            },
        );
        m::set_state(&ctx.name, t, *p, &PartitionState::Pending);
        if state != PartitionState::Pending {
            ctx.set_state(&key, state);
        }
    }
    if !fresh.is_empty() {
        let spec = match config.start_offset {
            StartOffsetSpec::Earliest => OffsetSpec::Earliest,
            StartOffsetSpec::Latest => OffsetSpec::Latest,
            StartOffsetSpec::Timestamp(ms) => OffsetSpec::Timestamp(ms),
        };
        let fresh_source: Vec<PartitionKey> =
            fresh.iter().map(|k| (source.to_string(), k.1)).collect();
        let mut starts = ctx
            .source
            .list_offsets(&fresh_source, spec)
            .await
            .map_err(src)?;
        if matches!(spec, OffsetSpec::Timestamp(_)) {
            // No record at or after the timestamp: start at the log end.
            let missing: Vec<PartitionKey> = fresh_source
                .iter()
                .filter(|k| starts.get(*k).is_none_or(|o| *o < 0))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let ends = ctx
                    .source
                    .list_offsets(&missing, OffsetSpec::Latest)
                    .await
                    .map_err(src)?;
                starts.extend(ends);
            }
        }
        for key in fresh {
            let start = starts
                .get(&(source.to_string(), key.1))
                .copied()
                .unwrap_or(0)
                .max(0);
            ctx.rewind(&key, start);
            tracing::info!(link = %ctx.name, topic = %key.0, partition = key.1, start,
                spec = ?config.start_offset, "new mirror partition");
            ctx.set_state(
                &key,
                if config.paused {
                    PartitionState::Paused
                } else {
                    PartitionState::Active
                },
            );
        }
    }
    if !tombstones.is_empty() {
        ctx.state.write(&tombstones).await?;
    }
    Ok(())
}

async fn wait_for_topic(
    client: &ClusterClient,
    topic: &str,
    partitions: usize,
) -> Result<crate::kafka::TopicInfo, KafkaError> {
    let deadline = tokio::time::Instant::now() + client.settings().request_timeout;
    loop {
        if let Some(t) = client.topic(topic).await? {
            if t.partitions.len() >= partitions && t.partitions.iter().all(|p| p.leader >= 0) {
                return Ok(t);
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(crate::kafka::error::broker_error(
                client.name(),
                format!("topic {topic} created but has no leader yet"),
                5,
            ));
        }
        tokio::time::sleep(client.settings().retry_backoff).await;
    }
}

/// What a mirror partition does at start, from its checkpoint and the
/// destination log end offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// No checkpoint and an empty destination: start per `mirror.start.offset.spec`.
    Fresh,
    /// Continue fetching at this source offset.
    Resume {
        /// Next source offset.
        fetch_offset: i64,
    },
    /// Do not mirror; needs an operator.
    Failed(FailureCause),
}

/// The recovery rule (see [`Checkpoint`]).
pub(crate) fn recover(
    cp: Option<&Checkpoint>,
    destination_leo: i64,
    source_topic_id: &str,
) -> Recovery {
    match cp {
        None if destination_leo == 0 => Recovery::Fresh,
        None => Recovery::Failed(FailureCause::NotAMirror {
            log_end_offset: destination_leo,
        }),
        Some(cp) if cp.source_topic_id != source_topic_id => {
            Recovery::Failed(FailureCause::SourceTopicRecreated {
                expected: cp.source_topic_id.clone(),
                found: source_topic_id.to_string(),
            })
        }
        Some(cp) => match cp.resume_offset(destination_leo) {
            Some(fetch_offset) => Recovery::Resume { fetch_offset },
            None => Recovery::Failed(FailureCause::ForeignWrite {
                expected: cp.destination_end,
                found: destination_leo,
            }),
        },
    }
}

/// Fails the partitions of source topics whose topic id changed.
async fn check_topic_ids(ctx: &Arc<LinkCtx>) {
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
                let keys: Vec<PartitionKey> = ctx
                    .slots()
                    .keys()
                    .filter(|k| k.0 == mirror)
                    .cloned()
                    .collect();
                for k in keys {
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
                continue;
            }
        };
        let keys: Vec<PartitionKey> = ctx
            .slots()
            .keys()
            .filter(|k| k.0 == mirror)
            .cloned()
            .collect();
        for k in keys {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(ss: i64, se: i64, ds: i64, de: i64) -> Checkpoint {
        Checkpoint {
            source_topic_id: "A".into(),
            source_start: ss,
            source_end: se,
            destination_start: ds,
            destination_end: de,
            batches: vec![(ss, 5), (ss + 5, 5)],
        }
    }

    #[test]
    fn recovery_rule() {
        assert_eq!(recover(None, 0, "A"), Recovery::Fresh);
        assert!(matches!(
            recover(None, 5, "A"),
            Recovery::Failed(FailureCause::NotAMirror { log_end_offset: 5 })
        ));
        let c = cp(100, 120, 50, 60);
        assert_eq!(
            recover(Some(&c), 60, "A"),
            Recovery::Resume { fetch_offset: 120 }
        );
        assert_eq!(
            recover(Some(&c), 50, "A"),
            Recovery::Resume { fetch_offset: 100 }
        );
        assert_eq!(
            recover(Some(&c), 55, "A"),
            Recovery::Resume { fetch_offset: 105 }
        );
        assert!(matches!(
            recover(Some(&c), 61, "A"),
            Recovery::Failed(FailureCause::ForeignWrite {
                expected: 60,
                found: 61
            })
        ));
        assert!(matches!(
            recover(Some(&c), 60, "B"),
            Recovery::Failed(FailureCause::SourceTopicRecreated { .. })
        ));
    }
}
