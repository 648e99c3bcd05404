//! The committer task of a link: turns each fetched [`Round`] into
//! (1) one write-ahead state record per mirror partition (checkpoint with the
//! round's batch layout, new offset map segments) on the state topic, then
//! (2) idempotent, acks=all Produce requests ([`produce`](super::produce)):
//! per destination broker a pipeline of up to 5 requests in flight, each
//! carrying the next batch of every partition of the round led by that
//! broker (Apache Kafka's `LogValidator` accepts one v2 batch per partition
//! per Produce request), as many as fit the link's
//! `linkgate.producer.max.request.size`.
//!
//! Rounds overlap: while round N is produced, round N+1 (the rounds queued
//! by the fetcher, merged) is laid out and written ahead; the fetcher
//! fetches meanwhile. A produce that fails or whose outcome is unknown is
//! reconciled against the destination log end offset (the single-writer
//! rule, see [`crate::mirror::state::Checkpoint`]): landed up to a batch
//! boundary (produce the rest under the same producer id, epoch and
//! sequences, so the broker deduplicates a copy still on its way), or moved
//! by someone else (the partition fails with `FOREIGN_WRITE`). A refused
//! producer epoch means another instance claimed the link: the link stops
//! as `FENCED` ([`LinkCtx::fence`]).
//!
//! # Exactly once: the invariant
//!
//! For every mirror partition, at every moment:
//!
//! 1. **Covered.** Every batch that may be on its way to the destination or
//!    may have landed there unconfirmed is in the layout of the partition's
//!    latest durable state record (`cp/`, compacted: only the latest
//!    counts), with the producer id, epoch and base sequence it is sent
//!    with. A round's record is durable before any of its batches is sent.
//!    A round written ahead while the previous round of the partition is
//!    still being produced is recorded as the union of both (the previous
//!    round's start, both layouts, the previous base sequence), so that a
//!    crash at any point leaves a record that covers everything unsettled.
//! 2. **One sequence per batch.** Batch `i` of a layout is always sent with
//!    `Checkpoint::sequence_at(i)`, however often it is sent; a partition has
//!    at most 5 unanswered batches (one per request, at most 5 requests in
//!    flight per broker connection). The broker appends a batch only when its
//!    sequence follows the last one it appended for the producer on that
//!    partition, so no batch lands twice and none lands out of order; it
//!    answers a resend of one of the last 5 as a duplicate, with its offset.
//! 3. **Settled in order.** Answers are taken in request order. A partition's
//!    first answer other than success at the laid-out offset (an error, no
//!    answer, a lost connection) stops sending for it, and its later answers
//!    in that pipeline are ignored: refusals that follow from it
//!    (`OUT_OF_ORDER_SEQUENCE_NUMBER`), or successes that the log end offset
//!    shows. The reconcile then reads the destination log end offset, which
//!    must be a batch boundary of the layout at or after the last confirmed
//!    batch (else `FOREIGN_WRITE`), and sends the rest again with the same
//!    sequences (2 makes a late copy of an earlier send harmless).
//! 4. **Rounds in order.** A round is produced only after the previous round
//!    of its partition landed in full (confirmed offsets, or a finished
//!    reconcile). A round written ahead whose predecessor did not land in
//!    full is dropped and fetched again once the reconcile is done; its
//!    durable union record still covers what is unsettled (1).
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
use crate::kafka::OffsetSpec;
use crate::mirror::error::MirrorError;
use crate::mirror::fetcher::{FetchedPartition, Round};
use crate::mirror::link::{progress_checkpoint, LinkCtx, ResumeRound};
use crate::mirror::metrics as m;
use crate::mirror::offset_map::{self, ROLLUP_SEGMENTS};
use crate::mirror::produce::{self, Work};
use crate::mirror::state::{Checkpoint, ProducerIdentity, StateEntry};
use crate::mirror::status::{FailureCause, PartitionKey};

/// How often, at most, a partition's progress over source offsets that
/// needed nothing on the destination is checkpointed.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// Record batches of one partition in one round at most (a round written
/// ahead of its predecessor counts the predecessor's too): bounds the
/// round's checkpoint record (its batch layout, ~30 bytes a batch) well
/// below the state topic's `max.message.bytes`, whatever the batch sizes.
/// The rest is fetched again for the next round.
pub(crate) const MAX_ROUND_BATCHES: usize = 16_384;

/// Bytes of batches the committer merges queued rounds up to (a larger
/// round spreads the write-ahead over more data).
const MERGE_BYTES: u64 = 64 * 1024 * 1024;

/// Where the round being produced leaves a partition, for the round laid
/// out meanwhile.
struct Planned {
    /// The round's checkpoint.
    checkpoint: Checkpoint,
    /// Sequence after the round's last batch.
    sequence_end: i32,
    /// Last offset map segment after the round.
    last_segment: Option<(i64, i64)>,
    producer: ProducerIdentity,
}

/// Rounds in production, by partition.
type Ahead = BTreeMap<PartitionKey, Planned>;

fn planned(ctx: &LinkCtx, works: &[Work]) -> Ahead {
    let slots = ctx.slots();
    works
        .iter()
        .map(|w| {
            let last_segment = w
                .segments
                .last()
                .copied()
                .or_else(|| slots.get(&w.key).and_then(|s| s.last_segment));
            let planned = Planned {
                sequence_end: w.checkpoint.sequence_at(w.checkpoint.batches.len()),
                checkpoint: w.checkpoint.clone(),
                last_segment,
                producer: w.producer,
            };
            (w.key.clone(), planned)
        })
        .collect()
}

/// The state record of a round laid out after `first`, still in production:
/// both rounds as one (see the module doc, invariant 1).
fn union(first: &Checkpoint, then: &Checkpoint) -> Checkpoint {
    Checkpoint {
        source_topic_id: then.source_topic_id.clone(),
        source_start: first.source_start,
        source_end: then.source_end,
        destination_start: first.destination_start,
        destination_end: then.destination_end,
        batches: first.batches.iter().chain(&then.batches).copied().collect(),
        producer_id: first.producer_id,
        producer_epoch: first.producer_epoch,
        base_sequence: first.base_sequence,
        source_leader_epoch: then.source_leader_epoch,
    }
}

/// The fetcher's rounds, merged while they queue up.
struct Inbox {
    rx: mpsc::Receiver<Round>,
    /// A round received that could not be merged into the previous one.
    held: Option<Round>,
}

impl Inbox {
    /// The next round, merged with the rounds queued behind it (up to
    /// [`MERGE_BYTES`]). `None` at shutdown or when the fetcher is gone.
    /// Cancel-safe: it awaits only the first receive.
    async fn next(&mut self, shutdown: &CancellationToken) -> Option<Round> {
        let mut round = match self.held.take() {
            Some(r) => r,
            None => tokio::select! {
                _ = shutdown.cancelled() => return None,
                r = self.rx.recv() => r?,
            },
        };
        let mut bytes = round_bytes(&round);
        while bytes < MERGE_BYTES {
            let Ok(next) = self.rx.try_recv() else { break };
            bytes += round_bytes(&next);
            if let Err(next) = merge(&mut round, next) {
                self.held = Some(next);
                break;
            }
        }
        Some(round)
    }
}

fn round_bytes(round: &Round) -> u64 {
    round
        .partitions
        .iter()
        .flat_map(|p| &p.batches)
        .map(|b| b.bytes.len() as u64)
        .sum()
}

/// Appends `next` to `round` when each of its partitions continues the
/// same partition of `round` (same generation, contiguous offsets) or is
/// new to it; else leaves `round` as it is and returns `next`.
fn merge(round: &mut Round, next: Round) -> Result<(), Round> {
    let fits = next.partitions.iter().all(|n| {
        round
            .partitions
            .iter()
            .find(|p| p.key == n.key)
            .is_none_or(|p| p.generation == n.generation && p.next_fetch_offset == n.fetch_offset)
    });
    if !fits {
        return Err(next);
    }
    for n in next.partitions {
        match round.partitions.iter_mut().find(|p| p.key == n.key) {
            Some(p) => {
                p.batches.extend(n.batches);
                p.next_fetch_offset = n.next_fetch_offset;
                p.last_leader_epoch = n.last_leader_epoch;
            }
            None => round.partitions.push(n),
        }
    }
    Ok(())
}

/// Runs until the fetcher is gone or `shutdown` is cancelled. A round being
/// produced when shutdown comes is finished; a round written ahead and not
/// produced yet is left for recovery (its checkpoint is durable).
pub(crate) async fn run(ctx: Arc<LinkCtx>, rx: mpsc::Receiver<Round>, shutdown: CancellationToken) {
    let mut reconciles = JoinSet::new();
    let mut inbox = Inbox { rx, held: None };
    // Written ahead, produced next.
    let mut ready: Vec<Work> = Vec::new();
    let mut open = true;
    while open {
        if ready.is_empty() {
            let Some(round) = inbox.next(&shutdown).await else {
                break;
            };
            ready = write_ahead(&ctx, prepare(&ctx, round, &Ahead::new())).await;
        }
        let works = still_follows(&ctx, std::mem::take(&mut ready));
        let ahead = planned(&ctx, &works);
        let produce = produce::produce_round(&ctx, works);
        tokio::pin!(produce);
        // Round N is produced while round N+1 is received, laid out and
        // written ahead.
        let failed = tokio::select! {
            biased;
            failed = &mut produce => failed,
            round = inbox.next(&shutdown) => match round {
                Some(round) => {
                    let next = write_ahead(&ctx, prepare(&ctx, round, &ahead));
                    let (failed, next) = tokio::join!(&mut produce, next);
                    ready = next;
                    failed
                }
                None => {
                    open = false;
                    (&mut produce).await
                }
            },
        };
        spawn_reconciles(&ctx, failed, &shutdown, &mut reconciles);
        persist_progress(&ctx).await;
        roll_up_maps(&ctx).await;
        while reconciles.try_join_next().is_some() {}
    }
    // Reconciles end at shutdown (recovery takes over at the next start).
    while reconciles.join_next().await.is_some() {}
}

/// Commits one round on its own: write-ahead, then produce (the committer
/// task overlaps these across rounds; see [`run`]).
#[cfg(test)]
pub(crate) async fn commit_round(
    ctx: &Arc<LinkCtx>,
    round: Round,
    shutdown: &CancellationToken,
    reconciles: &mut JoinSet<()>,
) {
    let works = write_ahead(ctx, prepare(ctx, round, &Ahead::new())).await;
    let failed = produce::produce_round(ctx, works).await;
    spawn_reconciles(ctx, failed, shutdown, reconciles);
}

/// A partition whose produce failed or whose outcome is unknown is
/// reconciled in its own task (`reconciles`), so that it never holds up the
/// other partitions; it is not fetched meanwhile (`Slot::reconciling`).
fn spawn_reconciles(
    ctx: &Arc<LinkCtx>,
    failed: Vec<Work>,
    shutdown: &CancellationToken,
    reconciles: &mut JoinSet<()>,
) {
    for w in failed {
        if let Some(slot) = ctx.slots().get_mut(&w.key) {
            slot.reconciling = true;
        }
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        reconciles.spawn(async move {
            let key = w.key.clone();
            produce::reconcile(&ctx, w, &shutdown).await;
            if let Some(slot) = ctx.slots().get_mut(&key) {
                slot.reconciling = false;
            }
        });
    }
}

/// Keeps the works that may be produced now: a round written ahead of its
/// predecessor only if that landed in full (invariant 4); the others are
/// fetched again from their start.
fn still_follows(ctx: &LinkCtx, works: Vec<Work>) -> Vec<Work> {
    works
        .into_iter()
        .filter(|w| {
            if !w.follows_in_flight {
                return true;
            }
            let landed = ctx.slots().get(&w.key).is_some_and(|s| {
                !s.reconciling
                    && s.destination_next == w.checkpoint.destination_start
                    && s.sequence == w.sequence
            });
            if !landed {
                ctx.rewind(&w.key, w.checkpoint.source_start);
            }
            landed
        })
        .collect()
}

/// Write-ahead of a round's works (checkpoints, offset map segments) and,
/// concurrently, the single-writer check of the partitions without a round
/// in production: each one's log end offset must still be where linkgate
/// left it. Returns the works to produce: none when the write failed (the
/// partitions are fetched again) or the link was fenced.
async fn write_ahead(ctx: &LinkCtx, mut work: Vec<(Work, Option<Checkpoint>)>) -> Vec<Work> {
    let mut entries = Vec::with_capacity(work.len() * 2);
    work.retain(|(w, record)| {
        let id = ctx.id(&w.key);
        match StateEntry::checkpoint(&id, record.as_ref().unwrap_or(&w.checkpoint)) {
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
        return Vec::new();
    }
    let partitions: Vec<PartitionKey> = work
        .iter()
        .filter(|(w, _)| !w.follows_in_flight)
        .map(|(w, _)| w.key.clone())
        .collect();
    let check = async {
        if partitions.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        ctx.destination
            .list_offsets(&partitions, OffsetSpec::Latest)
            .await
    };
    let (written, leo) = tokio::join!(ctx.state.write(&entries), check);
    if let Err(MirrorError::Fenced { message }) = &written {
        ctx.fence(message);
        return Vec::new();
    }
    if let Err(e) = written {
        m::add_error(&ctx.name, e.kind());
        tracing::warn!(link = %ctx.name, error = %e, "cannot write checkpoints; fetching the round again");
        for (w, _) in &work {
            ctx.rewind(&w.key, w.checkpoint.source_start);
        }
        return Vec::new();
    }
    match leo {
        Ok(leo) => work
            .into_iter()
            .map(|(w, _)| w)
            .filter(|w| match leo.get(&w.key) {
                Some(found) if !w.follows_in_flight && *found != w.checkpoint.destination_start => {
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
            work.into_iter().map(|(w, _)| w).collect()
        }
    }
}

/// Builds the work items of a round (batches already made ready by the
/// fetcher, see `ready`): drops stale or inactive partitions, assigns
/// destination offsets and offset map segments. A partition with a round
/// in production (`ahead`) is laid out after it, and its state record is
/// the union of both rounds (returned beside the work; `None`: the work's
/// own checkpoint). Partitions that cannot follow a round in production
/// (an unfinished round of an earlier instance, a full layout, nothing to
/// produce) are fetched again later.
fn prepare(ctx: &LinkCtx, round: Round, ahead: &Ahead) -> Vec<(Work, Option<Checkpoint>)> {
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
        let before = ahead.get(&key);
        if let Some(p) = before {
            let room = MAX_ROUND_BATCHES.saturating_sub(p.checkpoint.batches.len());
            let follows = p.producer == ctx.producer()
                && slot.resume.is_none()
                && p.checkpoint.source_end == fetch_offset
                && room > 0
                && !normalized.is_empty();
            if !follows {
                drop(slots);
                drop(status);
                ctx.rewind(&key, p.checkpoint.source_end);
                continue;
            }
            if normalized.len() > room {
                next_fetch_offset = normalized[room].header.base_offset;
                normalized.truncate(room);
                rewinds.push((key.clone(), next_fetch_offset));
            }
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
        let mut sequence = before.map_or(slot.sequence, |p| p.sequence_end);
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
        let destination_start =
            before.map_or(slot.destination_next, |p| p.checkpoint.destination_end);
        let mut dst = destination_start;
        let mut last = before.map_or(slot.last_segment, |p| p.last_segment);
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
        let checkpoint = Checkpoint {
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
        };
        let record = before.map(|p| union(&p.checkpoint, &checkpoint));
        let work = Work {
            checkpoint,
            key,
            segments,
            batches: normalized,
            sent: 0,
            producer,
            sequence,
            byte_count,
            sequence_refusals: 0,
            follows_in_flight: before.is_some(),
            _round: slot.rounds.begin(),
        };
        out.push((work, record));
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

/// Records a fully landed round.
pub(crate) fn landed(ctx: &LinkCtx, w: &Work) {
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
    if let Some(slot) = ctx.slots().get_mut(&w.key) {
        slot.metrics(&ctx.name, &w.key)
            .add_mirrored(records, w.byte_count);
    }
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
