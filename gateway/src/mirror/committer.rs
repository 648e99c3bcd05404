//! The committer task of a link: turns each fetched [`Round`] into
//! (1) one write-ahead state record per mirror partition (checkpoint and new
//! offset map segments) on the state topic, then (2) one idempotent,
//! acks=all Produce request per destination broker for all its partitions.
//!
//! A produce that fails or whose outcome is unknown is reconciled against the
//! destination log end offset (the single-writer rule, see
//! [`crate::mirror::state::Checkpoint`]): landed, not landed (produce again),
//! or moved by someone else (the partition fails with `FOREIGN_WRITE`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::kafka::{KafkaError, OffsetSpec};
use crate::mirror::batch;
use crate::mirror::fetcher::{FetchedPartition, Round};
use crate::mirror::link::LinkCtx;
use crate::mirror::state::{Checkpoint, StateEntry};
use crate::mirror::status::{FailureCause, PartitionKey, PartitionState};
use crate::mirror::{metrics as m, wire};

/// Kafka error codes the committer treats specially.
mod code {
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const UNKNOWN_PRODUCER_ID: i16 = 59;
    /// Used when a response omits a partition that was sent.
    pub const NETWORK_EXCEPTION: i16 = 13;
}

/// One partition's share of a round, ready to produce.
struct Work {
    key: PartitionKey,
    checkpoint: Checkpoint,
    segments: Vec<(i64, i64)>,
    batches: Vec<batch::RawBatch>,
    records: Bytes,
    next_sequence: i32,
    record_count: u64,
    byte_count: u64,
}

/// Runs until the fetcher is gone or `shutdown` is cancelled. A round being
/// produced when shutdown comes is finished (or left for recovery: its
/// checkpoint is already written).
pub(crate) async fn run(ctx: Arc<LinkCtx>, mut rx: mpsc::Receiver<Round>, shutdown: CancellationToken) {
    loop {
        let round = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = rx.recv() => match r { Some(r) => r, None => break },
        };
        commit_round(&ctx, round, &shutdown).await;
    }
}

async fn commit_round(ctx: &LinkCtx, round: Round, shutdown: &CancellationToken) {
    let work = prepare(ctx, round);
    if work.is_empty() {
        return;
    }
    // 1. Write-ahead: checkpoints and offset map segments.
    let mut entries = Vec::with_capacity(work.len() * 2);
    for w in &work {
        let id = ctx.id(&w.key);
        for (s, d) in &w.segments {
            entries.push(StateEntry::segment(&id, *s, *d, false));
        }
        entries.push(StateEntry::checkpoint(&id, &w.checkpoint));
    }
    if let Err(e) = ctx.state.write(&entries).await {
        m::add_error(&ctx.name, e.kind());
        tracing::warn!(link = %ctx.name, error = %e, "cannot write checkpoints; refetching the round");
        for w in &work {
            ctx.rewind(&w.key, w.checkpoint.source_start);
        }
        return;
    }
    // 2. Produce, one request per destination leader.
    let mut by_leader: BTreeMap<i32, Vec<Work>> = BTreeMap::new();
    let mut unrouted = Vec::new();
    for w in work {
        match ctx.destination.leader(&w.key.0, w.key.1).await {
            Ok(l) => by_leader.entry(l).or_default().push(w),
            Err(e) => {
                tracing::warn!(link = %ctx.name, topic = %w.key.0, partition = w.key.1, error = %e,
                    "no destination leader");
                unrouted.push(w);
            }
        }
    }
    let produces = by_leader.into_iter().map(|(leader, works)| async move {
        let result = produce_to(ctx, leader, &works).await;
        (works, result)
    });
    let results = futures::future::join_all(produces).await;
    let mut to_reconcile = unrouted;
    for (works, result) in results {
        match result {
            Ok(codes) => {
                for (w, (code, base)) in works.into_iter().zip(codes) {
                    if code == 0 {
                        landed(ctx, &w, Some(base));
                    } else {
                        let e = crate::kafka::error::broker_error(
                            ctx.destination.name(),
                            format!("produce to {} partition {}", w.key.0, w.key.1),
                            code,
                        );
                        m::add_error(&ctx.name, "destination");
                        tracing::warn!(link = %ctx.name, error = %e, "produce refused; reconciling");
                        if !e.is_retriable() && !is_producer_state_error(code) {
                            ctx.fail(&w.key, FailureCause::Error { code: e.kind().to_string(), message: e.to_string() });
                            continue;
                        }
                        if is_producer_state_error(code) {
                            renew_producer(ctx).await;
                        }
                        ctx.destination.invalidate(&w.key.0);
                        to_reconcile.push(w);
                    }
                }
            }
            Err(e) => {
                m::add_error(&ctx.name, "destination");
                tracing::warn!(link = %ctx.name, error = %e, "produce failed; reconciling with the destination log end offset");
                for w in works {
                    ctx.destination.invalidate(&w.key.0);
                    to_reconcile.push(w);
                }
            }
        }
    }
    for w in to_reconcile {
        reconcile(ctx, w, shutdown).await;
    }
}

fn is_producer_state_error(code: i16) -> bool {
    matches!(
        code,
        code::OUT_OF_ORDER_SEQUENCE_NUMBER | code::INVALID_PRODUCER_EPOCH | code::UNKNOWN_PRODUCER_ID
    )
}

/// Builds the work items of a round: drops stale or inactive partitions,
/// assigns destination offsets, sequences and offset map segments.
fn prepare(ctx: &LinkCtx, round: Round) -> Vec<Work> {
    let (pid, epoch) = ctx.producer();
    let status = ctx.status.lock();
    let slots = ctx.slots();
    let mut out = Vec::new();
    for fp in round.partitions {
        let FetchedPartition { key, generation, fetch_offset, batches, next_fetch_offset } = fp;
        let Some(slot) = slots.get(&key) else { continue };
        let active = matches!(
            status.get(&key).map(|s| &s.state),
            Some(PartitionState::Active) | Some(PartitionState::SourceUnavailable(_))
        );
        if slot.generation != generation || !active {
            continue;
        }
        let destination_start = slot.destination_next;
        let mut dst = destination_start;
        let mut last = slot.last_segment;
        let mut segments = Vec::new();
        let mut byte_count = 0u64;
        for b in &batches {
            let linear = last.map(|(s, d)| d + (b.header.base_offset - s));
            if linear != Some(dst) {
                segments.push((b.header.base_offset, dst));
                last = Some((b.header.base_offset, dst));
            }
            dst += i64::from(b.header.record_count.max(0));
            byte_count += b.bytes.len() as u64;
        }
        let (records, next_sequence) = batch::build_produce_records(&batches, pid, epoch, slot.sequence);
        out.push(Work {
            checkpoint: Checkpoint {
                source_topic_id: slot.source_topic_id.clone(),
                source_start: fetch_offset,
                source_end: next_fetch_offset,
                destination_start,
                destination_end: dst,
            },
            key,
            segments,
            batches,
            records,
            next_sequence,
            record_count: (dst - destination_start) as u64,
            byte_count,
        });
    }
    out
}

/// Produces the works to one destination broker; per partition `(error
/// code, base offset)` in input order.
async fn produce_to(ctx: &LinkCtx, leader: i32, works: &[Work]) -> Result<Vec<(i16, i64)>, KafkaError> {
    let conn = ctx.destination.broker(leader).await?;
    let req = wire::produce_request(
        works
            .iter()
            .map(|w| wire::ProduceTarget { topic: w.key.0.clone(), partition: w.key.1, records: w.records.clone() })
            .collect(),
        -1,
        ctx.destination.settings().request_timeout.as_millis().min(i32::MAX as u128) as i32,
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
        .iter()
        .map(|w| by_key.remove(&w.key).unwrap_or((code::NETWORK_EXCEPTION, -1)))
        .collect())
}

/// Records a landed round. `base`: the base offset the broker reported, if
/// known; a mismatch means another writer.
fn landed(ctx: &LinkCtx, w: &Work, base: Option<i64>) {
    if let Some(base) = base {
        if base != w.checkpoint.destination_start {
            ctx.fail(&w.key, FailureCause::ForeignWrite { expected: w.checkpoint.destination_start, found: base });
            return;
        }
    }
    if let Some(slot) = ctx.slots().get_mut(&w.key) {
        slot.destination_next = w.checkpoint.destination_end;
        slot.sequence = w.next_sequence;
        if let Some(seg) = w.segments.last() {
            slot.last_segment = Some(*seg);
        }
    }
    if let Some(ps) = ctx.status.lock().get_mut(&w.key) {
        ps.destination_log_end_offset = w.checkpoint.destination_end;
    }
    m::add_mirrored(&ctx.name, &w.key.0, w.key.1, w.record_count, w.byte_count);
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

/// Decides the fate of a round whose produce outcome is unknown by reading
/// the destination log end offset; produces again while it did not land.
async fn reconcile(ctx: &LinkCtx, mut w: Work, shutdown: &CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if shutdown.is_cancelled() {
            // Left for recovery at the next start: the checkpoint is written.
            return;
        }
        let tp = vec![w.key.clone()];
        match ctx.destination.list_offsets(&tp, OffsetSpec::Latest).await {
            Ok(leo) => {
                let leo = leo.get(&w.key).copied().unwrap_or(-1);
                if leo == w.checkpoint.destination_end {
                    landed(ctx, &w, None);
                    return;
                }
                if leo != w.checkpoint.destination_start {
                    ctx.fail(&w.key, FailureCause::ForeignWrite { expected: w.checkpoint.destination_start, found: leo });
                    return;
                }
                // Not landed: produce again with the current producer id.
                let (pid, epoch) = ctx.producer();
                let seq = ctx.slots().get(&w.key).map(|s| s.sequence).unwrap_or(0);
                let (records, next) = batch::build_produce_records(&w.batches, pid, epoch, seq);
                w.records = records;
                w.next_sequence = next;
                match ctx.destination.leader(&w.key.0, w.key.1).await {
                    Ok(leader) => match produce_to(ctx, leader, std::slice::from_ref(&w)).await {
                        Ok(codes) => {
                            let (code, base) = codes.first().copied().unwrap_or((-1, -1));
                            if code == 0 {
                                landed(ctx, &w, Some(base));
                                return;
                            }
                            if code == code::DUPLICATE_SEQUENCE_NUMBER {
                                continue; // landed earlier: the next LEO read says so
                            }
                            if is_producer_state_error(code) {
                                renew_producer(ctx).await;
                            } else {
                                let e = crate::kafka::error::broker_error(ctx.destination.name(), "produce", code);
                                if !e.is_retriable() {
                                    ctx.fail(&w.key, FailureCause::Error { code: e.kind().to_string(), message: e.to_string() });
                                    return;
                                }
                            }
                        }
                        Err(e) => tracing::warn!(link = %ctx.name, error = %e, "produce retry failed"),
                    },
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
