//! The fetcher task of a link: one read_committed Fetch request per source
//! broker for all the link's active partitions led by that broker, all
//! brokers in parallel. Fetched batches are filtered (control batches and
//! aborted transactions dropped) and handed to the committer as one
//! [`Round`]; the fetcher goes on with the next fetch while the committer
//! produces (pipelining, bounded by the channel).
//!
//! Per source broker connection the fetcher keeps an incremental fetch
//! session (KIP-227, [`crate::kafka::fetch_session`]) where the broker grants
//! one: requests then carry only the partitions whose fetch position, size
//! or epochs changed, so idle partitions cost nothing. A broker that grants
//! none is fetched with full sessionless requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use kafka_protocol::messages::fetch_response::PartitionData;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::kafka::conn::BrokerConnection;
use crate::kafka::fetch_session::{Answered, FetchSession};
use crate::kafka::records::batch::{self, AbortedTxn, RawBatch};
use crate::kafka::wire;
use crate::kafka::{KafkaError, OffsetSpec};
use crate::mirror::link::LinkCtx;
use crate::mirror::status::{FailureCause, PartitionKey, PartitionState};
use crate::mirror::{metrics as m, ready};
use crate::plugin::PluginError;

/// How long a source broker may hold a Fetch waiting for data (ms).
const MAX_WAIT_MS: i32 = 500;
/// Bound on one Fetch response (bytes).
const MAX_FETCH_BYTES: i32 = 64 * 1024 * 1024;
/// Upper bound the per-partition fetch size may grow to (bytes).
const MAX_PARTITION_FETCH_BYTES: i32 = 64 * 1024 * 1024;

/// Fetched data of one partition, ready to produce.
#[derive(Debug)]
pub(crate) struct FetchedPartition {
    pub key: PartitionKey,
    /// Source topic name (record transforms see it).
    pub source_topic: String,
    /// Slot generation when fetched: stale data is dropped by the committer.
    pub generation: u64,
    /// Offset the fetch asked for (start of the round).
    pub fetch_offset: i64,
    /// Data batches to mirror, in order, made ready to produce (normalized,
    /// record transforms applied) before the committer sees them. Empty when
    /// the fetched range holds nothing to mirror (only control batches or
    /// aborted data, or every record dropped by a transform): the committer
    /// then only records that the range is done.
    pub batches: Vec<RawBatch>,
    /// Next offset to fetch after this data.
    pub next_fetch_offset: i64,
    /// Source leader epoch of the last batch fetched (-1 unknown).
    pub last_leader_epoch: i32,
}

/// All partitions fetched in one fetch cycle that carry data.
#[derive(Debug, Default)]
pub(crate) struct Round {
    pub partitions: Vec<FetchedPartition>,
}

/// Runs until `shutdown` is cancelled or the committer is gone.
pub(crate) async fn run(ctx: Arc<LinkCtx>, tx: mpsc::Sender<Round>, shutdown: CancellationToken) {
    let mut idle_backoff = Duration::from_millis(50);
    // By source broker (node id); kept while the broker leads nothing.
    let mut sessions: HashMap<i32, BrokerSession> = HashMap::new();
    while !shutdown.is_cancelled() {
        let targets = active_targets(&ctx);
        if targets.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        // Group by source leader.
        let mut by_leader: BTreeMap<i32, Vec<Target>> = BTreeMap::new();
        // In parallel: a topic whose metadata is slow holds up no other.
        let leaders = futures::future::join_all(
            targets
                .iter()
                .map(|t| ctx.source.leader(&t.source.0, t.source.1)),
        )
        .await;
        for (mut t, leader) in targets.into_iter().zip(leaders) {
            match leader {
                Ok(leader) => {
                    t.leader_epoch = ctx
                        .source
                        .cached_leader_epoch(&t.source.0, t.source.1)
                        .unwrap_or(-1);
                    by_leader.entry(leader).or_default().push(t)
                }
                Err(e) => unavailable(&ctx, &t.key, &e),
            }
        }
        let fetches: Vec<_> = by_leader
            .into_iter()
            .map(|(leader, targets)| {
                let ctx = ctx.clone();
                let mut session = sessions.remove(&leader).unwrap_or_default();
                async move {
                    let result = fetch_from(&ctx, leader, &targets, &mut session).await;
                    (leader, session, targets, result)
                }
            })
            .collect();
        let results = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = futures::future::join_all(fetches) => r,
        };
        let mut round = Round::default();
        let mut had_error = false;
        for (leader, session, targets, result) in results {
            sessions.insert(leader, session);
            match result {
                Ok(Answer::Data { parts, implied }) => {
                    for (t, data) in targets.iter().zip(parts) {
                        match data {
                            Some(data) => {
                                if let Some(fp) = handle_partition(&ctx, t, data).await {
                                    round.partitions.push(fp);
                                }
                            }
                            None if implied => unchanged(&ctx, t),
                            None => {
                                tracing::debug!(link = %ctx.name, topic = %t.key.0, partition = t.key.1,
                                    "partition missing from fetch response");
                            }
                        }
                    }
                }
                Ok(Answer::SessionLost) => {
                    // Nothing fetched: the next request is full. Backed off
                    // like an error, so a broker that keeps refusing costs
                    // no busy loop.
                    had_error = true;
                    tracing::debug!(link = %ctx.name, broker = leader,
                        "fetch session lost; the next fetch is full");
                }
                Err(e) => {
                    had_error = true;
                    m::add_error(&ctx.name, "source");
                    tracing::warn!(link = %ctx.name, error = %e, "fetch failed");
                    for t in &targets {
                        ctx.source.invalidate(&t.source.0);
                    }
                }
            }
        }
        ctx.metrics.set_fetch_sessions(
            sessions
                .values()
                .filter(|s| s.session.session_id().is_some())
                .count(),
        );
        // A record transform chain that cannot load holds the round (and
        // the fetcher) until it can: rounds queued before it are still
        // committed, nothing is dropped or fetched twice.
        let mut chain_backoff = Duration::from_millis(200);
        while let Err(e) = make_ready(&ctx, &mut round) {
            m::add_error(&ctx.name, "plugin");
            tracing::warn!(link = %ctx.name, error = %e,
                "record transform chain unavailable; holding the fetched round, retrying in {chain_backoff:?}");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(chain_backoff) => {}
            }
            chain_backoff = (chain_backoff * 2).min(Duration::from_secs(5));
        }
        if !round.partitions.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                sent = tx.send(round) => if sent.is_err() { break },
            }
        }
        if had_error {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(idle_backoff) => {}
            }
            idle_backoff = (idle_backoff * 2).min(Duration::from_secs(2));
        } else {
            idle_backoff = Duration::from_millis(50);
        }
    }
    ctx.metrics.set_fetch_sessions(0);
}

/// Normalizes the round's batches and runs the record transform chain on
/// them (one snapshot of the chain for the whole round). Partitions left
/// without data, or failed, are removed from the round.
///
/// # Errors
/// The link's record transform chain cannot load: the round is left as it
/// was (the caller retries).
pub(crate) fn make_ready(ctx: &LinkCtx, round: &mut Round) -> Result<(), PluginError> {
    if round.partitions.is_empty() {
        return Ok(());
    }
    let names = ctx.chain_names.load();
    let chains = if names.record_transforms.is_empty() {
        None
    } else {
        Some(ctx.plugins.chains_for(&names)?)
    };
    let mut run = || {
        round.partitions.retain_mut(|fp| {
            let batches = std::mem::take(&mut fp.batches);
            // Left empty: kept, so the committer records that these source
            // offsets need nothing on the destination.
            match ready::produce_ready(ctx, &fp.key, &fp.source_topic, batches, chains.as_ref()) {
                Some(b) => {
                    fp.batches = b;
                    true
                }
                None => false,
            }
        })
    };
    if chains.is_some() {
        // Plugin calls are synchronous CPU work bounded by their deadline.
        tokio::task::block_in_place(run);
    } else {
        run();
    }
    Ok(())
}

/// One partition of a Fetch request, with the slot state it was built from.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Mirror partition (mirror topic name, partition).
    pub(crate) key: PartitionKey,
    /// Source partition (source topic name, partition).
    pub(crate) source: PartitionKey,
    /// Source topic id recorded for the mirror (nil if unknown).
    pub(crate) topic_id: uuid::Uuid,
    pub(crate) generation: u64,
    pub(crate) offset: i64,
    pub(crate) max_bytes: i32,
    /// Source leader epoch from metadata (-1 unknown).
    pub(crate) leader_epoch: i32,
    /// Leader epoch of the last batch fetched before `offset` (-1 unknown).
    pub(crate) last_fetched_epoch: i32,
}

fn active_targets(ctx: &LinkCtx) -> Vec<Target> {
    let status = ctx.status.lock();
    ctx.slots()
        .iter()
        .filter(|(k, s)| !s.reconciling && status.get(*k).is_some_and(|s| s.state.is_fetching()))
        .map(|(k, s)| Target {
            key: k.clone(),
            source: (s.source_topic.clone(), k.1),
            topic_id: s.source_topic_id.parse().unwrap_or_default(),
            generation: s.generation,
            offset: s.fetch_offset,
            max_bytes: s.fetch_max_bytes,
            leader_epoch: -1,
            last_fetched_epoch: s.last_fetched_epoch,
        })
        .collect()
}

fn unavailable(ctx: &LinkCtx, key: &PartitionKey, e: &KafkaError) {
    if matches!(ctx.state_of(key), Some(PartitionState::Active)) {
        ctx.set_state(key, PartitionState::SourceUnavailable(e.to_string()));
    }
}

/// The fetch session with one source broker and the connection it runs on:
/// a new connection starts a new session.
#[derive(Debug, Default)]
struct BrokerSession {
    conn: Weak<BrokerConnection>,
    session: FetchSession,
}

/// What one Fetch to one broker gave.
#[derive(Debug)]
enum Answer {
    /// Partition data in target order; `None`: absent from the answer.
    /// `implied`: the answer was incremental, an absent partition had no
    /// data and no change (its position stays).
    Data {
        parts: Vec<Option<PartitionData>>,
        implied: bool,
    },
    /// The broker refused or lost the fetch session, or answered a
    /// partition outside it: nothing in the answer is used, positions stay
    /// and the next request is full.
    SessionLost,
}

/// One Fetch to one broker, full or incremental in `bs`'s session.
async fn fetch_from(
    ctx: &LinkCtx,
    leader: i32,
    targets: &[Target],
    bs: &mut BrokerSession,
) -> Result<Answer, KafkaError> {
    let conn = ctx.source.broker(leader).await?;
    if !Weak::ptr_eq(&bs.conn, &Arc::downgrade(&conn)) {
        bs.session.reset();
        bs.conn = Arc::downgrade(&conn);
    }
    // By topic id (v13+) when every topic id is known: a recreated topic is
    // then answered with UNKNOWN_TOPIC_ID instead of the new topic's data.
    let mut version = conn.version_for::<kafka_protocol::messages::FetchRequest>()?;
    if targets.iter().any(|t| t.topic_id.is_nil()) {
        version = version.min(wire::FETCH_BY_NAME_MAX_VERSION);
    }
    let fetch_targets: Vec<wire::FetchTarget> = targets
        .iter()
        .map(|t| {
            wire::FetchTarget {
                topic: t.source.0.clone(),
                topic_id: t.topic_id,
                partition: t.key.1,
                offset: t.offset,
                max_bytes: t.max_bytes,
                current_leader_epoch: t.leader_epoch,
                last_fetched_epoch: t.last_fetched_epoch,
            }
            .fit_to_version(version)
        })
        .collect();
    let plan = bs.session.plan(&fetch_targets, version, Instant::now());
    let req = wire::session_fetch_request(
        plan.send.iter().filter_map(|i| fetch_targets.get(*i)),
        &plan.forget,
        (plan.session_id, plan.epoch),
        wire::READ_COMMITTED,
        MAX_WAIT_MS,
        1,
        MAX_FETCH_BYTES,
    );
    let names: BTreeMap<uuid::Uuid, &str> = targets
        .iter()
        .map(|t| (t.topic_id, t.source.0.as_str()))
        .collect();
    ctx.metrics.add_fetch(plan.kind);
    let started = Instant::now();
    let resp = match conn.send_version(&req, version).await {
        Ok(r) => r,
        Err(e) => {
            bs.session.failed();
            return Err(e);
        }
    };
    ctx.metrics.observe_fetch(started.elapsed().as_secs_f64());
    let implied = match bs
        .session
        .answered(resp.error_code, resp.session_id, Instant::now())
    {
        Answered::Full => false,
        Answered::Incremental => true,
        Answered::SessionLost => return Ok(Answer::SessionLost),
        Answered::Error(code) => {
            return Err(crate::kafka::error::broker_error(
                ctx.source.name(),
                "fetch",
                code,
            ))
        }
    };
    let mut by_key: BTreeMap<PartitionKey, PartitionData> = BTreeMap::new();
    let mut strays = 0usize;
    for topic in resp.responses {
        let name = if version > wire::FETCH_BY_NAME_MAX_VERSION {
            match names.get(&topic.topic_id) {
                Some(n) => n.to_string(),
                None => {
                    strays += topic.partitions.len().max(1);
                    continue;
                }
            }
        } else {
            topic.topic.0.to_string()
        };
        for p in topic.partitions {
            by_key.insert((name.clone(), p.partition_index), p);
        }
    }
    let parts: Vec<Option<PartitionData>> =
        targets.iter().map(|t| by_key.remove(&t.source)).collect();
    strays += by_key.len();
    if strays > 0 {
        tracing::debug!(link = %ctx.name, broker = leader, partitions = strays,
            "fetch response names partitions not asked for; ignored");
        if bs.session.session_id().is_some() {
            // The broker's session is not what this side sent: start anew.
            bs.session.failed();
            return Ok(Answer::SessionLost);
        }
    }
    Ok(Answer::Data { parts, implied })
}

/// A partition of the fetch session absent from an incremental answer: no
/// data and no change at the source since the last answer, so the fetch of
/// it succeeded with nothing new (its position stays).
fn unchanged(ctx: &LinkCtx, t: &Target) {
    if ctx
        .slots()
        .get(&t.key)
        .is_none_or(|s| s.generation != t.generation)
    {
        return;
    }
    if let Some(ps) = ctx.status.lock().get_mut(&t.key) {
        ps.last_fetch_time = Some(SystemTime::now());
    }
    if matches!(
        ctx.state_of(&t.key),
        Some(PartitionState::SourceUnavailable(_))
    ) {
        ctx.set_state(&t.key, PartitionState::Active);
    }
}

/// Applies one partition's fetch result; returns data to produce, if any.
pub(crate) async fn handle_partition(
    ctx: &LinkCtx,
    t: &Target,
    data: PartitionData,
) -> Option<FetchedPartition> {
    const OFFSET_OUT_OF_RANGE: i16 = 1;
    const UNKNOWN_TOPIC_ID: i16 = 100;
    const INCONSISTENT_TOPIC_ID: i16 = 103;
    match data.error_code {
        0 => {}
        OFFSET_OUT_OF_RANGE => {
            offset_out_of_range(ctx, t).await;
            return None;
        }
        UNKNOWN_TOPIC_ID | INCONSISTENT_TOPIC_ID => {
            topic_id_unknown(ctx, t).await;
            return None;
        }
        code => {
            let e = crate::kafka::error::broker_error(
                ctx.source.name(),
                format!(
                    "fetch {} partition {} at offset {}",
                    t.source.0, t.source.1, t.offset
                ),
                code,
            );
            m::add_error(&ctx.name, "source");
            ctx.source.invalidate(&t.source.0);
            if e.is_retriable() {
                unavailable(ctx, &t.key, &e);
            } else {
                ctx.fail(&t.key, FailureCause::from(&e));
            }
            return None;
        }
    }
    if data.diverging_epoch.epoch >= 0 {
        // KIP-320: the source's log no longer holds what was fetched in
        // that epoch up to here.
        ctx.fail(
            &t.key,
            FailureCause::SourceDiverged {
                fetch_offset: t.offset,
                epoch: t.last_fetched_epoch,
                end_offset: data.diverging_epoch.end_offset,
            },
        );
        return None;
    }
    let records = data.records.unwrap_or_default();
    let split = match batch::split_batches(&records) {
        Ok(s) => s,
        Err(e) => {
            m::add_error(&ctx.name, "corrupt_batch");
            ctx.fail(
                &t.key,
                FailureCause::Error {
                    code: "CORRUPT_RECORD_BATCH".into(),
                    message: format!("source topic {} partition {}: {e}", t.source.0, t.source.1),
                },
            );
            return None;
        }
    };
    let aborted: Vec<AbortedTxn> = data
        .aborted_transactions
        .iter()
        .flatten()
        .map(AbortedTxn::from)
        .collect();
    // No whole batch: the next one is larger than the fetch size. Its size
    // is known once its length field arrived; else double the fetch size.
    let grow_to = (split.batches.is_empty() && split.partial_trailing_bytes > 0)
        .then(|| split.partial_batch_size.and_then(|n| i32::try_from(n).ok()));
    let last_leader_epoch = split
        .batches
        .last()
        .map_or(t.last_fetched_epoch, |b| b.header.partition_leader_epoch);
    let committed = batch::filter_committed(split.batches, &aborted, t.offset);
    m::add_skipped(&ctx.name, "control", committed.skipped_control);
    m::add_skipped(&ctx.name, "aborted", committed.skipped_aborted);
    let next = committed.next_fetch_offset.max(t.offset);
    // Update the fetch position unless the partition was rewound meanwhile.
    let lag_metric;
    {
        let mut slots = ctx.slots();
        let slot = slots.get_mut(&t.key)?;
        if slot.generation != t.generation {
            return None;
        }
        slot.fetch_offset = next;
        slot.last_fetched_epoch = last_leader_epoch;
        lag_metric = slot.metrics(&ctx.name, &t.key).clone();
        // Fetch v5+ (KIP-107): the offset map is pruned below it.
        slot.source_log_start = slot.source_log_start.max(data.log_start_offset);
        if let Some(size) = grow_to {
            let want = size.unwrap_or_else(|| slot.fetch_max_bytes.saturating_mul(2));
            if want > MAX_PARTITION_FETCH_BYTES {
                drop(slots);
                ctx.fail(
                    &t.key,
                    FailureCause::Error {
                        code: "RECORD_BATCH_TOO_LARGE".into(),
                        message: format!(
                            "source topic {} partition {}: the record batch at offset {} is {want} bytes, above the {MAX_PARTITION_FETCH_BYTES}-byte fetch limit",
                            t.source.0, t.source.1, t.offset
                        ),
                    },
                );
                return None;
            }
            slot.fetch_max_bytes = want.max(slot.fetch_max_bytes);
            tracing::info!(link = %ctx.name, topic = %t.key.0, partition = t.key.1,
                bytes = slot.fetch_max_bytes, "next batch is larger than the fetch size; growing it");
        }
    }
    {
        let mut status = ctx.status.lock();
        if let Some(ps) = status.get_mut(&t.key) {
            ps.next_fetch_offset = next;
            ps.last_fetch_high_watermark = data.high_watermark;
            ps.last_fetch_time = Some(SystemTime::now());
            lag_metric.set_lag(ps.lag());
        }
    }
    if matches!(
        ctx.state_of(&t.key),
        Some(PartitionState::SourceUnavailable(_))
    ) {
        ctx.set_state(&t.key, PartitionState::Active);
    }
    if committed.keep.is_empty() && next == t.offset {
        return None;
    }
    Some(FetchedPartition {
        key: t.key.clone(),
        source_topic: t.source.0.clone(),
        generation: t.generation,
        fetch_offset: t.offset,
        batches: committed.keep,
        next_fetch_offset: next,
        last_leader_epoch,
    })
}

/// UNKNOWN_TOPIC_ID: the topic id the mirror was created with is gone. A
/// topic of the same name with another id means it was recreated (FAILED);
/// no topic means it was deleted (SOURCE_UNAVAILABLE until it comes back).
async fn topic_id_unknown(ctx: &LinkCtx, t: &Target) {
    ctx.source.invalidate(&t.source.0);
    match ctx.source.topic(&t.source.0).await {
        Ok(Some(info)) if info.topic_id != t.topic_id => ctx.fail(
            &t.key,
            FailureCause::SourceTopicRecreated {
                expected: t.topic_id.to_string(),
                found: info.topic_id.to_string(),
            },
        ),
        Ok(Some(_)) => {} // metadata not propagated yet: retry
        Ok(None) => {
            if matches!(ctx.state_of(&t.key), Some(PartitionState::Active)) {
                ctx.set_state(
                    &t.key,
                    PartitionState::SourceUnavailable(format!(
                        "source topic {} was deleted",
                        t.source.0
                    )),
                );
            }
        }
        Err(e) => unavailable(ctx, &t.key, &e),
    }
}

/// OFFSET_OUT_OF_RANGE: decide between retention (log start past us) and a
/// truncated source (high watermark below us). Never skips data silently.
async fn offset_out_of_range(ctx: &LinkCtx, t: &Target) {
    let tp = vec![t.source.clone()];
    let start = ctx.source.list_offsets(&tp, OffsetSpec::Earliest).await;
    let end = ctx.source.list_offsets(&tp, OffsetSpec::Latest).await;
    match (start, end) {
        (Ok(start), Ok(end)) => {
            let log_start = start.get(&t.source).copied().unwrap_or(-1);
            let hw = end.get(&t.source).copied().unwrap_or(-1);
            if t.offset < log_start {
                ctx.fail(
                    &t.key,
                    FailureCause::SourceLogTruncated {
                        fetch_offset: t.offset,
                        log_start_offset: log_start,
                    },
                );
            } else if t.offset > hw {
                ctx.fail(
                    &t.key,
                    FailureCause::SourceBehindMirror {
                        fetch_offset: t.offset,
                        high_watermark: hw,
                    },
                );
            } else {
                tracing::debug!(link = %ctx.name, topic = %t.key.0, partition = t.key.1,
                    "OFFSET_OUT_OF_RANGE but offset {} is within [{log_start}, {hw}]; retrying", t.offset);
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            m::add_error(&ctx.name, "source");
            unavailable(ctx, &t.key, &e);
        }
    }
}
