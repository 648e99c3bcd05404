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
//! (produce the rest), or moved by someone else (the partition fails with
//! `FOREIGN_WRITE`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::kafka::{KafkaError, OffsetSpec};
use crate::mirror::batch::{self, RawBatch};
use crate::mirror::fetcher::{FetchedPartition, Round};
use crate::mirror::link::{LinkCtx, RoundGuard};
use crate::mirror::state::{Checkpoint, StateEntry};
use crate::mirror::status::{FailureCause, PartitionKey};
use crate::mirror::{metrics as m, wire};

/// Kafka error codes the committer treats specially.
mod code {
    /// Used when a response omits a partition that was sent.
    pub const NETWORK_EXCEPTION: i16 = 13;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const UNKNOWN_PRODUCER_ID: i16 = 59;
}

/// One partition's share of a round.
struct Work {
    key: PartitionKey,
    checkpoint: Checkpoint,
    segments: Vec<(i64, i64)>,
    batches: Vec<RawBatch>,
    /// Batches landed so far.
    sent: usize,
    /// Producer `(id, epoch)` that `sequence` belongs to.
    producer: (i64, i16),
    /// Sequence of batch `sent`.
    sequence: i32,
    byte_count: u64,
    /// Marks the partition's round in flight until the work is dropped
    /// (landed, failed, or given up): promote waits on it and the idle
    /// foreign-write check skips the partition meanwhile.
    _round: RoundGuard,
}

impl Work {
    /// Destination offset where batch `i` lands.
    fn destination_of(&self, i: usize) -> i64 {
        self.checkpoint.destination_start
            + self.batches[..i.min(self.batches.len())]
                .iter()
                .map(|b| i64::from(b.header.record_count))
                .sum::<i64>()
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

    /// Follows a producer id renewal: sequences restart at 0.
    fn sync_producer(&mut self, current: (i64, i16)) {
        if self.producer != current {
            self.producer = current;
            self.sequence = 0;
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
    loop {
        let round = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = rx.recv() => match r { Some(r) => r, None => break },
        };
        commit_round(&ctx, round, &shutdown).await;
    }
}

pub(crate) async fn commit_round(ctx: &LinkCtx, round: Round, shutdown: &CancellationToken) {
    let work = prepare(ctx, round);
    if work.is_empty() {
        return;
    }
    // 1. Write-ahead (checkpoints, offset map segments) and, concurrently,
    // the single-writer check: each mirror partition's log end offset must
    // still be where linkgate left it.
    let mut entries = Vec::with_capacity(work.len() * 2);
    for w in &work {
        let id = ctx.id(&w.key);
        for (s, d) in &w.segments {
            entries.push(StateEntry::segment(&id, *s, *d, false));
        }
        entries.push(StateEntry::checkpoint(&id, &w.checkpoint));
    }
    let partitions: Vec<PartitionKey> = work.iter().map(|w| w.key.clone()).collect();
    let (written, leo) = tokio::join!(
        ctx.state.write(&entries),
        ctx.destination
            .list_offsets(&partitions, OffsetSpec::Latest)
    );
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
    for w in work {
        match ctx.destination.leader(&w.key.0, w.key.1).await {
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
        reconcile(ctx, w, shutdown).await;
    }
}

fn is_producer_state_error(code: i16) -> bool {
    matches!(
        code,
        code::OUT_OF_ORDER_SEQUENCE_NUMBER
            | code::INVALID_PRODUCER_EPOCH
            | code::UNKNOWN_PRODUCER_ID
    )
}

/// Builds the work items of a round (batches already made ready by the
/// fetcher, see `ready`): drops stale or inactive partitions, assigns
/// destination offsets and offset map segments.
fn prepare(ctx: &LinkCtx, round: Round) -> Vec<Work> {
    let producer = ctx.producer();
    let mut out = Vec::new();
    for fp in round.partitions {
        let FetchedPartition {
            key,
            generation,
            fetch_offset,
            batches: normalized,
            next_fetch_offset,
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
        if !fetching {
            // Paused or stopping since it was fetched: fetch it again
            // from here when it is resumed (drops later rounds too).
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
            },
            key,
            segments,
            batches: normalized,
            sent: 0,
            producer,
            sequence: slot.sequence,
            byte_count,
            _round: slot.rounds.begin(),
        });
    }
    out
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
        let current = ctx.producer();
        for w in works.iter_mut() {
            w.sync_producer(current);
        }
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
                    if is_producer_state_error(code) {
                        tracing::warn!(link = %ctx.name, error = %e, "destination forgot the producer state; renewing the producer id");
                        renew_producer(ctx).await;
                        broken.push((*i, true));
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
                    w.producer.0,
                    w.producer.1,
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
        slot.sequence = if w.producer == ctx.producer() {
            w.sequence
        } else {
            0
        };
        if let Some(seg) = w.segments.last() {
            slot.last_segment = Some(*seg);
        }
    }
    if let Some(ps) = ctx.status.lock().get_mut(&w.key) {
        ps.destination_log_end_offset = w.checkpoint.destination_end;
    }
    let records = (w.checkpoint.destination_end - w.checkpoint.destination_start).max(0) as u64;
    m::add_mirrored(&ctx.name, &w.key.0, w.key.1, records, w.byte_count);
}

/// Gets a new idempotent producer id (after the destination forgot ours);
/// sequences restart at 0 for every partition.
async fn renew_producer(ctx: &LinkCtx) {
    match ctx.destination.init_producer_id().await {
        Ok(p) => {
            *ctx.producer.lock().unwrap_or_else(|e| e.into_inner()) = p;
            for slot in ctx.slots().values_mut() {
                slot.sequence = 0;
            }
            tracing::info!(link = %ctx.name, producer_id = p.0, "new destination producer id");
        }
        Err(e) => tracing::warn!(link = %ctx.name, error = %e, "InitProducerId failed"),
    }
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
                let boundary = (w.sent..=w.batches.len()).find(|i| w.destination_of(*i) == leo);
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
