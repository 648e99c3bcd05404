//! The committer task of a link: turns each fetched [`Round`] into
//! (1) one write-ahead state record per mirror partition (checkpoint with the
//! round's batch layout, new offset map segments) on the state topic, then
//! (2) idempotent, acks=all Produce requests, one per destination broker per
//! *layer*: layer `i` carries the `i`-th batch of every partition of the
//! round led by that broker (Apache Kafka's `LogValidator` accepts one v2
//! batch per partition per Produce request).
//!
//! A produce that fails or whose outcome is unknown is reconciled against the
//! destination log end offset (the single-writer rule, see
//! [`crate::mirror::state::Checkpoint`]): landed up to a batch boundary
//! (produce the rest under the same producer id, epoch and sequences, so
//! the broker deduplicates a copy still on its way), or moved by someone
//! else (the partition fails with `FOREIGN_WRITE`). A refused producer
//! epoch means another instance claimed the link: the link stops as
//! `FENCED` ([`LinkCtx::fence`]).
//!
//! After each round, partitions whose source position moved without
//! anything to produce (markers, aborted data, records dropped by plugins)
//! get a progress checkpoint, at most every [`PROGRESS_INTERVAL`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::kafka::records::batch::{self, RawBatch};
use crate::kafka::wire;
use crate::kafka::{KafkaError, OffsetSpec};
use crate::mirror::error::MirrorError;
use crate::mirror::fetcher::{FetchedPartition, Round};
use crate::mirror::link::{progress_checkpoint, LinkCtx, ResumeRound, RoundGuard};
use crate::mirror::metrics as m;
use crate::mirror::offset_map::{self, ROLLUP_SEGMENTS};
use crate::mirror::state::{Checkpoint, ProducerIdentity, StateEntry};
use crate::mirror::status::{FailureCause, PartitionKey};

/// Kafka error codes the committer treats specially.
mod code {
    /// Used when a response omits a partition that was sent.
    pub const NETWORK_EXCEPTION: i16 = 13;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const UNKNOWN_PRODUCER_ID: i16 = 59;
    pub const PRODUCER_FENCED: i16 = 90;
}

/// How often, at most, a partition's progress over source offsets that
/// needed nothing on the destination is checkpointed.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// Record batches of one partition in one round at most: bounds the
/// round's checkpoint record (its batch layout, ~30 bytes a batch) well
/// below the state topic's `max.message.bytes`, whatever the batch sizes.
/// The rest is fetched again for the next round.
pub(crate) const MAX_ROUND_BATCHES: usize = 16_384;

/// Sequence refusals (`OUT_OF_ORDER_SEQUENCE_NUMBER`, `UNKNOWN_PRODUCER_ID`)
/// of one round on one partition before it fails: each is reconciled with
/// backoff first (a high watermark behind the leader's log explains a few).
const SEQUENCE_REFUSALS: u32 = 20;

/// One partition's share of a round.
struct Work {
    key: PartitionKey,
    checkpoint: Checkpoint,
    segments: Vec<(i64, i64)>,
    batches: Vec<RawBatch>,
    /// Batches landed so far.
    sent: usize,
    /// Producer identity of the round (this instance's, or an earlier
    /// instance's for an unfinished round re-sent).
    producer: ProducerIdentity,
    /// Sequence of batch `sent`.
    sequence: i32,
    byte_count: u64,
    /// Sequence refusals seen (see [`SEQUENCE_REFUSALS`]).
    sequence_refusals: u32,
    /// Marks the partition's round in flight until the work is dropped
    /// (landed, failed, or given up): promote waits on it and the idle
    /// foreign-write check skips the partition meanwhile.
    _round: RoundGuard,
}

impl Work {
    /// Destination offset where batch `i` lands.
    fn destination_of(&self, i: usize) -> i64 {
        // The checkpoint's layout is these batches' (prepare builds both).
        self.checkpoint.destination_at(i)
    }

    /// Marks batches up to `upto` landed, advancing the sequence.
    fn advance_to(&mut self, upto: usize) {
        while self.sent < upto && self.sent < self.batches.len() {
            self.sequence = batch::increment_sequence(
                self.sequence,
                self.batches[self.sent].header.record_count,
            );
            self.sent += 1;
        }
    }

    fn done(&self) -> bool {
        self.sent >= self.batches.len()
    }
}

/// Runs until the fetcher is gone or `shutdown` is cancelled. A round being
/// produced when shutdown comes is finished or left for recovery (its
/// checkpoint is written first).
pub(crate) async fn run(
    ctx: Arc<LinkCtx>,
    mut rx: mpsc::Receiver<Round>,
    shutdown: CancellationToken,
) {
    let mut reconciles = JoinSet::new();
    loop {
        let round = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = rx.recv() => match r { Some(r) => r, None => break },
        };
        commit_round(&ctx, round, &shutdown, &mut reconciles).await;
        persist_progress(&ctx).await;
        roll_up_maps(&ctx).await;
        while reconciles.try_join_next().is_some() {}
    }
    // Reconciles end at shutdown (recovery takes over at the next start).
    while reconciles.join_next().await.is_some() {}
}

/// Commits one round: write-ahead, then produce. A partition whose produce
/// failed or whose outcome is unknown is reconciled in its own task
/// (`reconciles`), so that it never holds up the other partitions; it is
/// not fetched meanwhile (`Slot::reconciling`).
pub(crate) async fn commit_round(
    ctx: &Arc<LinkCtx>,
    round: Round,
    shutdown: &CancellationToken,
    reconciles: &mut JoinSet<()>,
) {
    let mut work = prepare(ctx, round);
    // 1. Write-ahead (checkpoints, offset map segments) and, concurrently,
    // the single-writer check: each mirror partition's log end offset must
    // still be where linkgate left it.
    let mut entries = Vec::with_capacity(work.len() * 2);
    work.retain(|w| {
        let id = ctx.id(&w.key);
        match StateEntry::checkpoint(&id, &w.checkpoint) {
            Ok(cp) => {
                for (s, d) in &w.segments {
                    entries.push(StateEntry::segment(&id, *s, *d, false));
                }
                entries.push(cp);
                true
            }
            Err(e) => {
                let (code, message) = ("STATE_ENCODING".into(), e.to_string());
                ctx.fail(&w.key, FailureCause::Error { code, message });
                false
            }
        }
    });
    if work.is_empty() {
        return;
    }
    let partitions: Vec<PartitionKey> = work.iter().map(|w| w.key.clone()).collect();
    let (written, leo) = tokio::join!(
        ctx.state.write(&entries),
        ctx.destination
            .list_offsets(&partitions, OffsetSpec::Latest)
    );
    if let Err(MirrorError::Fenced { message }) = &written {
        ctx.fence(message);
        return;
    }
    if let Err(e) = written {
        m::add_error(&ctx.name, e.kind());
        tracing::warn!(link = %ctx.name, error = %e, "cannot write checkpoints; fetching the round again");
        for w in &work {
            ctx.rewind(&w.key, w.checkpoint.source_start);
        }
        return;
    }
    let work: Vec<Work> = match leo {
        Ok(leo) => work
            .into_iter()
            .filter(|w| match leo.get(&w.key) {
                Some(found) if *found != w.checkpoint.destination_start => {
                    ctx.fail(
                        &w.key,
                        FailureCause::ForeignWrite {
                            expected: w.checkpoint.destination_start,
                            found: *found,
                        },
                    );
                    false
                }
                _ => true,
            })
            .collect(),
        // Unknown: the produce response's base offset still catches it.
        Err(e) => {
            tracing::debug!(link = %ctx.name, error = %e, "log end offset check skipped");
            work
        }
    };
    // 2. Produce: per destination leader, layer by layer.
    let mut by_leader: BTreeMap<i32, Vec<Work>> = BTreeMap::new();
    let mut to_reconcile = Vec::new();
    // Leader lookups in parallel: one topic's slow metadata holds up none.
    let leaders = futures::future::join_all(
        work.iter()
            .map(|w| ctx.destination.leader(&w.key.0, w.key.1)),
    )
    .await;
    for (w, leader) in work.into_iter().zip(leaders) {
        match leader {
            Ok(l) => by_leader.entry(l).or_default().push(w),
            Err(e) => {
                tracing::warn!(link = %ctx.name, topic = %w.key.0, partition = w.key.1, error = %e,
                    "no destination leader");
                to_reconcile.push(w);
            }
        }
    }
    let produces = by_leader
        .into_iter()
        .map(|(leader, works)| produce_layers(ctx, leader, works));
    for (done, failed) in futures::future::join_all(produces).await {
        for w in done {
            landed(ctx, &w);
        }
        to_reconcile.extend(failed);
    }
    for w in to_reconcile {
        if let Some(slot) = ctx.slots().get_mut(&w.key) {
            slot.reconciling = true;
        }
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        reconciles.spawn(async move {
            let key = w.key.clone();
            reconcile(&ctx, w, &shutdown).await;
            if let Some(slot) = ctx.slots().get_mut(&key) {
                slot.reconciling = false;
            }
        });
    }
}

/// A sequence refusal: the broker's producer state for the partition does
/// not continue where this round's sequence is.
fn is_sequence_refusal(code: i16) -> bool {
    matches!(
        code,
        code::OUT_OF_ORDER_SEQUENCE_NUMBER | code::UNKNOWN_PRODUCER_ID
    )
}

/// The broker saw a later epoch of the producer id on the partition.
fn is_fenced(code: i16) -> bool {
    matches!(code, code::INVALID_PRODUCER_EPOCH | code::PRODUCER_FENCED)
}

/// Builds the work items of a round (batches already made ready by the
/// fetcher, see `ready`): drops stale or inactive partitions, assigns
/// destination offsets and offset map segments.
fn prepare(ctx: &LinkCtx, round: Round) -> Vec<Work> {
    let mut out = Vec::new();
    let mut rewinds = Vec::new();
    for fp in round.partitions {
        let FetchedPartition {
            key,
            generation,
            fetch_offset,
            batches: mut normalized,
            mut next_fetch_offset,
            last_leader_epoch,
            ..
        } = fp;
        let status = ctx.status.lock();
        let mut slots = ctx.slots();
        let Some(slot) = slots.get_mut(&key) else {
            continue;
        };
        if slot.generation != generation {
            continue;
        }
        let fetching = status.get(&key).is_some_and(|s| s.state.is_fetching());
        if !fetching || slot.reconciling {
            // Paused or stopping since it was fetched, or an earlier round
            // is being reconciled: fetch it again from here later (drops
            // later rounds too).
            drop(slots);
            drop(status);
            ctx.rewind(&key, fetch_offset);
            continue;
        }
        if normalized.is_empty() {
            // Nothing to produce (control batches, aborted data, all
            // records dropped by transforms): mirrored as soon as the
            // rounds before it landed, which they have (rounds are
            // committed one at a time, in order).
            slot.source_next = slot.source_next.max(next_fetch_offset);
            continue;
        }
        let mut producer = ctx.producer();
        let mut sequence = slot.sequence;
        if let Some(r) = slot.resume.take() {
            let n = resumed_prefix(&r, &normalized);
            if n == 0 {
                tracing::warn!(link = %ctx.name, topic = %key.0, partition = key.1,
                    "the unfinished round of an earlier instance does not fetch as it was recorded (source compacted, or a record plugin changed); producing it under this instance's producer id");
            } else {
                producer = r.producer;
                sequence = r.sequence;
                if n < normalized.len() {
                    next_fetch_offset = normalized[n].header.base_offset;
                    normalized.truncate(n);
                    rewinds.push((key.clone(), next_fetch_offset));
                } else if n < r.batches.len() {
                    // Fetched in part: the rest comes with the next round.
                    let sequence = normalized.iter().fold(r.sequence, |s, b| {
                        batch::increment_sequence(s, b.header.record_count)
                    });
                    slot.resume = Some(ResumeRound {
                        producer: r.producer,
                        sequence,
                        batches: r.batches[n..].to_vec(),
                    });
                }
            }
        }
        if normalized.len() > MAX_ROUND_BATCHES {
            next_fetch_offset = normalized[MAX_ROUND_BATCHES].header.base_offset;
            // (A round being re-sent is never longer: it was capped too.)
            normalized.truncate(MAX_ROUND_BATCHES);
            rewinds.push((key.clone(), next_fetch_offset));
        }
        let destination_start = slot.destination_next;
        let mut dst = destination_start;
        let mut last = slot.last_segment;
        let mut segments = Vec::new();
        let mut layout = Vec::with_capacity(normalized.len());
        let mut byte_count = 0u64;
        for b in &normalized {
            let linear = last.map(|(s, d)| d + (b.header.base_offset - s));
            if linear != Some(dst) {
                segments.push((b.header.base_offset, dst));
                last = Some((b.header.base_offset, dst));
            }
            layout.push((b.header.base_offset, b.header.record_count));
            dst += i64::from(b.header.record_count);
            byte_count += b.bytes.len() as u64;
        }
        out.push(Work {
            checkpoint: Checkpoint {
                source_topic_id: slot.source_topic_id.clone(),
                source_start: fetch_offset,
                source_end: next_fetch_offset,
                destination_start,
                destination_end: dst,
                batches: layout,
                producer_id: producer.id,
                producer_epoch: producer.epoch,
                base_sequence: sequence,
                source_leader_epoch: last_leader_epoch,
            },
            key,
            segments,
            batches: normalized,
            sent: 0,
            producer,
            sequence,
            byte_count,
            sequence_refusals: 0,
            _round: slot.rounds.begin(),
        });
    }
    // Data fetched past a re-sent round: fetched again after it.
    for (key, offset) in rewinds {
        ctx.rewind(&key, offset);
    }
    out
}

/// How many of `batches` (from the start) are the batches of the
/// unfinished round `r`, by source base offset and record count.
pub(crate) fn resumed_prefix(r: &ResumeRound, batches: &[RawBatch]) -> usize {
    batches
        .iter()
        .zip(&r.batches)
        .take_while(|(b, (offset, count))| {
            b.header.base_offset == *offset && b.header.record_count == *count
        })
        .count()
}

/// Produces the works to one destination broker, one layer per request.
/// Returns `(landed, to reconcile)`.
async fn produce_layers(
    ctx: &LinkCtx,
    leader: i32,
    mut works: Vec<Work>,
) -> (Vec<Work>, Vec<Work>) {
    let mut failed = Vec::new();
    loop {
        let layer: Vec<usize> = (0..works.len()).filter(|i| !works[*i].done()).collect();
        if layer.is_empty() {
            break;
        }
        let outcome = produce_once(ctx, leader, layer.iter().map(|i| &works[*i])).await;
        let mut broken = Vec::new();
        match outcome {
            Ok(codes) => {
                for (i, (code, base)) in layer.iter().zip(codes) {
                    let w = &mut works[*i];
                    if code == 0 {
                        let expected = w.destination_of(w.sent);
                        if base != expected {
                            ctx.fail(
                                &w.key,
                                FailureCause::ForeignWrite {
                                    expected,
                                    found: base,
                                },
                            );
                            broken.push((*i, false));
                        } else {
                            w.advance_to(w.sent + 1);
                        }
                        continue;
                    }
                    let e = crate::kafka::error::broker_error(
                        ctx.destination.name(),
                        format!("produce to {} partition {}", w.key.0, w.key.1),
                        code,
                    );
                    m::add_error(&ctx.name, "destination");
                    if is_fenced(code) {
                        ctx.fence(&e.to_string());
                        broken.push((*i, false));
                    } else if is_sequence_refusal(code) {
                        w.sequence_refusals += 1;
                        if w.sequence_refusals > SEQUENCE_REFUSALS {
                            ctx.fail(&w.key, FailureCause::from(&e));
                            broken.push((*i, false));
                        } else {
                            tracing::warn!(link = %ctx.name, error = %e, "sequence refused; reconciling with the destination log end offset");
                            broken.push((*i, true));
                        }
                    } else if e.is_retriable() || code == code::DUPLICATE_SEQUENCE_NUMBER {
                        tracing::warn!(link = %ctx.name, error = %e, "produce refused; reconciling");
                        ctx.destination.invalidate(&w.key.0);
                        broken.push((*i, true));
                    } else {
                        ctx.fail(&w.key, FailureCause::from(&e));
                        broken.push((*i, false));
                    }
                }
            }
            Err(e) => {
                m::add_error(&ctx.name, "destination");
                tracing::warn!(link = %ctx.name, error = %e, "produce failed; reconciling with the destination log end offset");
                for i in &layer {
                    ctx.destination.invalidate(&works[*i].key.0);
                    broken.push((*i, true));
                }
            }
        }
        // Remove broken works (highest index first to keep indices valid).
        broken.sort_by_key(|b| std::cmp::Reverse(b.0));
        for (i, retry) in broken {
            let w = works.swap_remove(i);
            if retry {
                failed.push(w);
            }
        }
    }
    (works, failed)
}

/// One Produce request with the next batch of each given work; per partition
/// `(error code, base offset)` in input order.
async fn produce_once<'a>(
    ctx: &LinkCtx,
    leader: i32,
    works: impl Iterator<Item = &'a Work> + Clone,
) -> Result<Vec<(i16, i64)>, KafkaError> {
    let conn = ctx.destination.broker(leader).await?;
    let req = wire::produce_request(
        works
            .clone()
            .map(|w| wire::ProduceTarget {
                topic: w.key.0.clone(),
                partition: w.key.1,
                records: batch::rewrite_for_producer(
                    &w.batches[w.sent],
                    w.producer.id,
                    w.producer.epoch,
                    w.sequence,
                ),
            })
            .collect(),
        -1,
        ctx.destination
            .settings()
            .request_timeout
            .as_millis()
            .min(i32::MAX as u128) as i32,
    );
    let started = Instant::now();
    let (_, resp) = conn.send(&req).await?;
    m::observe_produce(&ctx.name, started.elapsed().as_secs_f64());
    let mut by_key: BTreeMap<PartitionKey, (i16, i64)> = BTreeMap::new();
    for t in resp.responses {
        let name = t.name.0.to_string();
        for p in t.partition_responses {
            by_key.insert((name.clone(), p.index), (p.error_code, p.base_offset));
        }
    }
    Ok(works
        .map(|w| {
            by_key
                .remove(&w.key)
                .unwrap_or((code::NETWORK_EXCEPTION, -1))
        })
        .collect())
}

/// Records a fully landed round.
fn landed(ctx: &LinkCtx, w: &Work) {
    if let Some(slot) = ctx.slots().get_mut(&w.key) {
        slot.destination_next = w.checkpoint.destination_end;
        slot.source_next = w.checkpoint.source_end;
        // A re-sent round of an earlier instance leaves this instance's
        // sequence where it was.
        if w.producer == ctx.producer() {
            slot.sequence = w.sequence;
        }
        if let Some(seg) = w.segments.last() {
            slot.last_segment = Some(*seg);
        }
        for (s, d) in &w.segments {
            slot.map.insert(*s, *d);
            slot.singles.insert(*s);
        }
        slot.checkpoint = Some(w.checkpoint.clone());
    }
    if let Some(ps) = ctx.status.lock().get_mut(&w.key) {
        ps.destination_log_end_offset = w.checkpoint.destination_end;
    }
    let records = (w.checkpoint.destination_end - w.checkpoint.destination_start).max(0) as u64;
    m::add_mirrored(&ctx.name, &w.key.0, w.key.1, records, w.byte_count);
}

/// Writes a progress checkpoint for each partition whose source position
/// moved past its checkpoint with nothing to produce, at most every
/// [`PROGRESS_INTERVAL`] per partition: source retention can then never
/// turn a quiet partition (only markers, aborted data or dropped records)
/// into `SOURCE_LOG_TRUNCATED` after a restart.
async fn persist_progress(ctx: &LinkCtx) {
    let now = Instant::now();
    let due: Vec<(PartitionKey, Checkpoint)> = ctx
        .slots()
        .iter()
        .filter(|(_, s)| {
            s.checkpoint
                .as_ref()
                .is_some_and(|cp| cp.source_end < s.source_next)
                && s.resume.is_none()
                && s.rounds.in_flight() == 0
                && now.duration_since(s.progress_at) >= PROGRESS_INTERVAL
        })
        .map(|(k, s)| {
            let cp = progress_checkpoint(
                &s.source_topic_id,
                s.source_next,
                s.destination_next,
                ctx.producer(),
                s.sequence,
            );
            (k.clone(), cp)
        })
        .collect();
    if due.is_empty() {
        return;
    }
    let mut entries = Vec::with_capacity(due.len());
    for (key, cp) in &due {
        match StateEntry::checkpoint(&ctx.id(key), cp) {
            Ok(e) => entries.push(e),
            Err(e) => tracing::warn!(link = %ctx.name, error = %e, "progress checkpoint skipped"),
        }
    }
    match ctx.state.write(&entries).await {
        Ok(()) => {
            let mut slots = ctx.slots();
            for (key, cp) in due {
                if let Some(slot) = slots.get_mut(&key) {
                    slot.progress_at = now;
                    slot.checkpoint = Some(cp);
                }
            }
        }
        Err(MirrorError::Fenced { message }) => ctx.fence(&message),
        Err(e) => {
            m::add_error(&ctx.name, e.kind());
            tracing::warn!(link = %ctx.name, error = %e, "cannot write progress checkpoints; retried after the next round");
        }
    }
}

/// Rolls up the offset map of each partition with at least
/// [`ROLLUP_SEGMENTS`] single segment records ([`offset_map`]), pruned
/// below the source log start offset. A failed write leaves the map as it
/// was (tried again after the next round).
async fn roll_up_maps(ctx: &LinkCtx) {
    let due: Vec<PartitionKey> = ctx
        .slots()
        .iter()
        .filter(|(_, s)| s.singles.len() >= ROLLUP_SEGMENTS && s.rounds.in_flight() == 0)
        .map(|(k, _)| k.clone())
        .collect();
    for key in due {
        let id = ctx.id(&key);
        let planned = {
            let slots = ctx.slots();
            let Some(slot) = slots.get(&key) else {
                continue;
            };
            let mut map = slot.map.clone();
            map.prune_below(slot.source_log_start);
            let singles: Vec<i64> = slot.singles.iter().copied().collect();
            offset_map::rollup_entries(&id, &map, slot.rollup, &singles).map(
                |(mut entries, head)| {
                    entries.extend(slot.stale_chunks.iter().map(|k| StateEntry {
                        key: k.clone(),
                        value: None,
                    }));
                    (entries, head, map, singles)
                },
            )
        };
        let (entries, head, map, singles) = match planned {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(link = %ctx.name, error = %e, "offset map roll-up skipped");
                continue;
            }
        };
        match ctx.state.write(&entries).await {
            Ok(()) => {
                if let Some(slot) = ctx.slots().get_mut(&key) {
                    slot.map = map;
                    for s in &singles {
                        slot.singles.remove(s);
                    }
                    slot.rollup = Some(head);
                    slot.stale_chunks.clear();
                }
                tracing::debug!(link = %ctx.name, topic = %key.0, partition = key.1,
                    generation = head.generation, chunks = head.chunks, "offset map rolled up");
            }
            Err(MirrorError::Fenced { message }) => {
                ctx.fence(&message);
                return;
            }
            Err(e) => {
                m::add_error(&ctx.name, e.kind());
                tracing::warn!(link = %ctx.name, error = %e, "offset map roll-up failed; retried after the next round");
                return;
            }
        }
    }
}

/// Whether fresh destination metadata says the topic does not exist.
async fn mirror_topic_gone(ctx: &LinkCtx, topic: &str) -> bool {
    ctx.destination.invalidate(topic);
    matches!(ctx.destination.topic(topic).await, Ok(None))
}

/// Finishes a round whose produce outcome is unknown: reads the destination
/// log end offset, which must sit at a batch boundary of the round, and
/// produces the remaining batches. Retries with backoff until done, the
/// partition fails, its mirror is stopped (failover), or shutdown (then
/// recovery takes over at the next start).
async fn reconcile(ctx: &LinkCtx, mut w: Work, shutdown: &CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        // Stopped (failover) meanwhile: the topic is no longer a mirror.
        if shutdown.is_cancelled() || !ctx.slots().contains_key(&w.key) {
            return;
        }
        let tp = vec![w.key.clone()];
        match ctx.destination.list_offsets(&tp, OffsetSpec::Latest).await {
            Ok(leo) => {
                let leo = leo.get(&w.key).copied().unwrap_or(-1);
                let boundary = w.checkpoint.boundary_at(leo).filter(|i| *i >= w.sent);
                match boundary {
                    None => {
                        ctx.fail(
                            &w.key,
                            FailureCause::ForeignWrite {
                                expected: w.destination_of(w.sent),
                                found: leo,
                            },
                        );
                        return;
                    }
                    Some(i) => w.advance_to(i),
                }
                if w.done() {
                    landed(ctx, &w);
                    return;
                }
                match ctx.destination.leader(&w.key.0, w.key.1).await {
                    Ok(leader) => {
                        let (mut done, failed) = produce_layers(ctx, leader, vec![w]).await;
                        if let Some(d) = done.pop() {
                            landed(ctx, &d);
                            return;
                        }
                        match failed.into_iter().next() {
                            Some(f) => w = f,
                            None => return, // failed for good
                        }
                    }
                    Err(e) => tracing::warn!(link = %ctx.name, error = %e, "no destination leader"),
                }
            }
            Err(e) => {
                m::add_error(&ctx.name, "destination");
                tracing::warn!(link = %ctx.name, error = %e, "cannot read destination log end offset");
                if matches!(e, KafkaError::UnknownTopic { .. })
                    && mirror_topic_gone(ctx, &w.key.0).await
                {
                    let message = format!(
                        "mirror topic {} no longer exists on the destination cluster `{}` (deleted there); fail the mirror over or delete it, then create it again to mirror anew",
                        w.key.0,
                        ctx.destination.name()
                    );
                    let code = "MIRROR_TOPIC_DELETED".to_string();
                    ctx.fail(&w.key, FailureCause::Error { code, message });
                    return;
                }
            }
        }
        ctx.destination.invalidate(&w.key.0);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
