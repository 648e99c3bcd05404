//! Producing a round's batches to the destination and settling the ones
//! without a clear answer: a pipeline of up to [`IN_FLIGHT`] Produce
//! requests per destination broker (one batch per partition per request,
//! the batches of a request adding up to at most the link's
//! `linkgate.producer.max.request.size`, see [`Planner`]), answers taken in
//! request order, and the reconcile of a partition whose pipeline broke.
//! The invariant it keeps is in the [`committer`](super::committer) module
//! doc.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesOrdered, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::kafka::records::batch::{self, RawBatch};
use crate::kafka::wire;
use crate::kafka::{BrokerConnection, KafkaError, OffsetSpec};
use crate::mirror::committer::landed;
use crate::mirror::link::{LinkCtx, RoundGuard};
use crate::mirror::metrics as m;
use crate::mirror::state::{Checkpoint, ProducerIdentity};
use crate::mirror::status::{FailureCause, PartitionKey};
use kafka_protocol::messages::ProduceRequest;

/// Produce requests in flight per destination broker connection at most,
/// each with at most one batch per partition: at most 5 unanswered batches
/// per partition, the bound Apache Kafka keeps producer state for (the
/// broker answers a resend of one of a producer's last 5 batches as a
/// duplicate, KIP-98 `max.in.flight.requests.per.connection` <= 5).
pub(crate) const IN_FLIGHT: usize = 5;

/// Sequence refusals (`OUT_OF_ORDER_SEQUENCE_NUMBER`, `UNKNOWN_PRODUCER_ID`)
/// of one round on one partition before it fails: each is reconciled with
/// backoff first (a high watermark behind the leader's log explains a few).
const SEQUENCE_REFUSALS: u32 = 20;

/// Kafka error codes the producer treats specially.
mod code {
    /// Used when a response omits a partition that was sent.
    pub const NETWORK_EXCEPTION: i16 = 13;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const UNKNOWN_PRODUCER_ID: i16 = 59;
    pub const PRODUCER_FENCED: i16 = 90;
}

/// One partition's share of a round.
pub(crate) struct Work {
    pub key: PartitionKey,
    /// The round's own checkpoint (its layout is `batches`').
    pub checkpoint: Checkpoint,
    /// New offset map segments `(source, destination)` of the round.
    pub segments: Vec<(i64, i64)>,
    pub batches: Vec<RawBatch>,
    /// Batches landed so far.
    pub sent: usize,
    /// Producer identity of the round (this instance's, or an earlier
    /// instance's for an unfinished round re-sent).
    pub producer: ProducerIdentity,
    /// Sequence of batch `sent`.
    pub sequence: i32,
    pub byte_count: u64,
    /// Sequence refusals seen (see [`SEQUENCE_REFUSALS`]).
    pub sequence_refusals: u32,
    /// Written ahead while the partition's previous round was still being
    /// produced (its state record is the union of both rounds): produced
    /// only if that round landed in full.
    pub follows_in_flight: bool,
    /// Marks the partition's round in flight until the work is dropped
    /// (landed, failed, or given up): promote waits on it and the idle
    /// foreign-write check skips the partition meanwhile.
    pub _round: RoundGuard,
}

impl Work {
    /// Destination offset where batch `i` lands.
    pub fn destination_of(&self, i: usize) -> i64 {
        // The checkpoint's layout is these batches' (prepare builds both).
        self.checkpoint.destination_at(i)
    }

    /// Marks batches up to `upto` landed, advancing the sequence.
    pub fn advance_to(&mut self, upto: usize) {
        while self.sent < upto && self.sent < self.batches.len() {
            self.sequence = batch::increment_sequence(
                self.sequence,
                self.batches[self.sent].header.record_count,
            );
            self.sent += 1;
        }
    }

    pub fn done(&self) -> bool {
        self.sent >= self.batches.len()
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

/// Produces the works of a round (their write-ahead durable), all
/// destination brokers in parallel. Landed works are recorded
/// ([`landed`]); returns the works to reconcile.
pub(crate) async fn produce_round(ctx: &LinkCtx, works: Vec<Work>) -> Vec<Work> {
    let mut by_leader: BTreeMap<i32, Vec<Work>> = BTreeMap::new();
    let mut to_reconcile = Vec::new();
    // Leader lookups in parallel: one topic's slow metadata holds up none.
    let leaders = futures::future::join_all(
        works
            .iter()
            .map(|w| ctx.destination.leader(&w.key.0, w.key.1)),
    )
    .await;
    for (w, leader) in works.into_iter().zip(leaders) {
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
        .map(|(leader, works)| produce_to(ctx, leader, works));
    for (done, failed) in futures::future::join_all(produces).await {
        for w in done {
            landed(ctx, &w);
        }
        to_reconcile.extend(failed);
    }
    to_reconcile
}

/// What became of one work in a pipeline.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Still being produced (or all landed).
    Going,
    /// Broken; reconcile it.
    Reconcile,
    /// Broken for good (failed, fenced): dropped.
    Dropped,
}

/// Chooses the batches of a pipeline's next Produce request: the next
/// batch of every work that has one, first fit in work order from a
/// rotating start, while their bytes add up to at most `limit` (the Kafka
/// producer's `max.request.size`, which its `RecordAccumulator` applies the
/// same way: it counts the batches, not the request's framing). A work left
/// out for lack of room starts the next request, so no partition waits
/// behind the others for more than one request. One batch per work per
/// request keeps each partition's batches in order across requests and at
/// most [`IN_FLIGHT`] of them unanswered.
#[derive(Debug)]
struct Planner {
    /// Bytes of batches per request at most.
    limit: usize,
    /// Work index the next request starts from.
    cursor: usize,
}

/// The next request of a pipeline ([`Planner::plan`]).
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// Works with a batch in the request, in the order taken.
    members: Vec<usize>,
    /// Works whose next batch alone is above the limit, with its bytes: it
    /// can never be sent.
    too_large: Vec<(usize, usize)>,
}

impl Planner {
    fn new(limit: usize) -> Self {
        Self { limit, cursor: 0 }
    }

    /// Plans the next request over works `0..n`; `cost(i)` is the bytes of
    /// work `i`'s next batch as sent, `None` when it has nothing to send now.
    fn plan(&mut self, n: usize, cost: impl Fn(usize) -> Option<usize>) -> Plan {
        let mut plan = Plan::default();
        let mut bytes = 0usize;
        let mut left_out = None;
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let Some(c) = cost(i) else { continue };
            if c > self.limit {
                plan.too_large.push((i, c));
            } else if bytes.saturating_add(c) > self.limit {
                left_out.get_or_insert(i);
            } else {
                bytes += c;
                plan.members.push(i);
            }
        }
        if let Some(i) = left_out {
            self.cursor = i;
        }
        plan
    }
}

/// One request in flight: `(work index, batch index)` per partition in it,
/// and its outcome.
type InFlight = (
    Vec<(usize, usize)>,
    Result<kafka_protocol::messages::ProduceResponse, KafkaError>,
);

/// Produces the works to one destination broker: each request carries the
/// next unsent batch of every work still going, as many as fit the link's
/// request limit ([`Planner`]), up to [`IN_FLIGHT`] requests in flight on
/// the connection, answers taken in request order. A work whose next batch
/// alone is above the limit fails with [`FailureCause::BatchTooLarge`] once
/// its earlier batches landed.
/// A work's first answer other than success at the laid-out offset breaks
/// it: nothing more is sent for it and its later answers in this pipeline
/// are ignored (they are refusals that follow from it, or successes the
/// reconcile reads off the log end offset). Returns `(landed, to
/// reconcile)`; works failed for good are dropped.
pub(crate) async fn produce_to(
    ctx: &LinkCtx,
    leader: i32,
    mut works: Vec<Work>,
) -> (Vec<Work>, Vec<Work>) {
    let mut fate = vec![Fate::Going; works.len()];
    match ctx.destination.broker(leader).await {
        Ok(conn) => pipeline(ctx, &conn, &mut works, &mut fate).await,
        Err(e) => {
            m::add_error(&ctx.name, "destination");
            tracing::warn!(link = %ctx.name, error = %e, "produce failed; reconciling with the destination log end offset");
            for w in &works {
                ctx.destination.invalidate(&w.key.0);
            }
            fate.fill(Fate::Reconcile);
        }
    }
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for (w, f) in works.into_iter().zip(fate) {
        match f {
            Fate::Going => done.push(w),
            Fate::Reconcile => failed.push(w),
            Fate::Dropped => {}
        }
    }
    (done, failed)
}

async fn pipeline(
    ctx: &LinkCtx,
    conn: &Arc<BrokerConnection>,
    works: &mut [Work],
    fate: &mut [Fate],
) {
    let timeout_ms = ctx
        .destination
        .settings()
        .request_timeout
        .as_millis()
        .min(i32::MAX as u128) as i32;
    // Next batch to send and its sequence, per work.
    let mut next: Vec<(usize, i32)> = works.iter().map(|w| (w.sent, w.sequence)).collect();
    let mut planner = Planner::new(ctx.max_request_size);
    // Bytes of a work's next batch that is alone above the limit: nothing
    // more is sent for the work, which fails once its batches before it
    // are answered.
    let mut too_large: Vec<Option<usize>> = vec![None; works.len()];
    let mut in_flight = FuturesOrdered::new();
    loop {
        while in_flight.len() < IN_FLIGHT {
            let plan = planner.plan(works.len(), |i| {
                let b = next[i].0;
                (fate[i] == Fate::Going && too_large[i].is_none() && b < works[i].batches.len())
                    .then(|| batch::rewritten_len(&works[i].batches[b]))
            });
            for (i, bytes) in plan.too_large {
                too_large[i] = Some(bytes);
            }
            if plan.members.is_empty() {
                break;
            }
            let mut members = Vec::with_capacity(plan.members.len());
            // Owned (a batch is a reference-counted slice of its fetch
            // response), so that the request does not borrow `works`.
            let mut targets: Vec<(PartitionKey, RawBatch, ProducerIdentity, i32)> =
                Vec::with_capacity(plan.members.len());
            for i in plan.members {
                let w = &works[i];
                let (b, sequence) = next[i];
                targets.push((w.key.clone(), w.batches[b].clone(), w.producer, sequence));
                members.push((i, b));
                next[i] = (
                    b + 1,
                    batch::increment_sequence(sequence, w.batches[b].header.record_count),
                );
            }
            let conn = conn.clone();
            let metrics = ctx.metrics.clone();
            // FuturesOrdered polls new futures in the order pushed and the
            // connection queues frames in the order first polled: requests
            // go out in this order (were they not, the broker would refuse
            // the later one's sequence and the reconcile would settle it).
            in_flight.push_back(async move {
                let batches: Vec<wire::ProduceBatch<'_>> = targets
                    .iter()
                    .map(|(key, b, producer, sequence)| wire::ProduceBatch {
                        topic: &key.0,
                        partition: key.1,
                        batch: b,
                        producer_id: producer.id,
                        producer_epoch: producer.epoch,
                        base_sequence: *sequence,
                    })
                    .collect();
                let started = Instant::now();
                // Each batch is copied once, into the request (with its
                // writer fields and CRC).
                let outcome = conn
                    .send_encoded::<ProduceRequest>(wire::produce_body_len(&batches), |buf, v| {
                        Ok(wire::encode_produce_body(buf, v, -1, timeout_ms, &batches)?)
                    })
                    .await
                    .map(|(_, resp)| resp);
                metrics.observe_produce(started.elapsed().as_secs_f64());
                (members, outcome)
            });
        }
        fail_too_large(ctx, works, fate, &next, &too_large, planner.limit);
        let Some((members, outcome)) = in_flight.next().await else {
            break;
        };
        settle(ctx, works, fate, (members, outcome));
    }
}

/// Fails each work whose next batch is alone above the request limit
/// (`too_large`) once every batch sent before it landed (`sent` reached
/// `next`): the partition then stands right before that batch.
fn fail_too_large(
    ctx: &LinkCtx,
    works: &[Work],
    fate: &mut [Fate],
    next: &[(usize, i32)],
    too_large: &[Option<usize>],
    limit: usize,
) {
    for (i, w) in works.iter().enumerate() {
        let Some(bytes) = too_large[i] else { continue };
        if fate[i] != Fate::Going || w.sent != next[i].0 {
            continue;
        }
        let Some(b) = w.batches.get(w.sent) else {
            continue;
        };
        let cause = FailureCause::BatchTooLarge {
            source_offset: b.header.base_offset,
            bytes: bytes as u64,
            limit: limit as u64,
        };
        ctx.fail(&w.key, cause);
        fate[i] = Fate::Dropped;
    }
}

/// Applies the answer of one request of a pipeline (see [`produce_to`]).
fn settle(ctx: &LinkCtx, works: &mut [Work], fate: &mut [Fate], (members, outcome): InFlight) {
    let resp = match outcome {
        Ok(resp) => resp,
        Err(e) => {
            let mut logged = false;
            for (i, _) in members {
                if fate[i] != Fate::Going {
                    continue;
                }
                if !logged {
                    m::add_error(&ctx.name, "destination");
                    tracing::warn!(link = %ctx.name, error = %e, "produce failed; reconciling with the destination log end offset");
                    logged = true;
                }
                ctx.destination.invalidate(&works[i].key.0);
                fate[i] = Fate::Reconcile;
            }
            return;
        }
    };
    let mut by_key: BTreeMap<(&str, i32), (i16, i64)> = BTreeMap::new();
    for t in &resp.responses {
        for p in &t.partition_responses {
            by_key.insert((t.name.0.as_str(), p.index), (p.error_code, p.base_offset));
        }
    }
    for (i, b) in members {
        if fate[i] != Fate::Going {
            continue;
        }
        let w = &mut works[i];
        let (code, base) = by_key
            .get(&(w.key.0.as_str(), w.key.1))
            .copied()
            .unwrap_or((code::NETWORK_EXCEPTION, -1));
        if code == 0 && b == w.sent {
            let expected = w.destination_of(w.sent);
            if base != expected {
                ctx.fail(
                    &w.key,
                    FailureCause::ForeignWrite {
                        expected,
                        found: base,
                    },
                );
                fate[i] = Fate::Dropped;
            } else {
                w.advance_to(w.sent + 1);
            }
            continue;
        }
        if code == 0 {
            // Answers come in request order, so this cannot be; settle it
            // against the log end offset all the same.
            fate[i] = Fate::Reconcile;
            continue;
        }
        let e = crate::kafka::error::broker_error(
            ctx.destination.name(),
            format!("produce to {} partition {}", w.key.0, w.key.1),
            code,
        );
        m::add_error(&ctx.name, "destination");
        fate[i] = if is_fenced(code) {
            ctx.fence(&e.to_string());
            Fate::Dropped
        } else if is_sequence_refusal(code) {
            w.sequence_refusals += 1;
            if w.sequence_refusals > SEQUENCE_REFUSALS {
                ctx.fail(&w.key, FailureCause::from(&e));
                Fate::Dropped
            } else {
                tracing::warn!(link = %ctx.name, error = %e, "sequence refused; reconciling with the destination log end offset");
                Fate::Reconcile
            }
        } else if e.is_retriable() || code == code::DUPLICATE_SEQUENCE_NUMBER {
            tracing::warn!(link = %ctx.name, error = %e, "produce refused; reconciling");
            ctx.destination.invalidate(&w.key.0);
            Fate::Reconcile
        } else {
            ctx.fail(&w.key, FailureCause::from(&e));
            Fate::Dropped
        };
    }
}

/// Whether fresh destination metadata says the topic does not exist.
async fn mirror_topic_gone(ctx: &LinkCtx, topic: &str) -> bool {
    ctx.destination.invalidate(topic);
    matches!(ctx.destination.topic(topic).await, Ok(None))
}

/// Finishes a round whose produce outcome is unknown: reads the destination
/// log end offset, which must sit at a batch boundary of the round at or
/// after the last batch confirmed, and produces the remaining batches under
/// the same producer identity and sequences. Retries with backoff until
/// done, the partition fails, its mirror is stopped (failover), or shutdown
/// (then recovery takes over at the next start).
pub(crate) async fn reconcile(ctx: &LinkCtx, mut w: Work, shutdown: &CancellationToken) {
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
                        let (mut done, failed) = produce_to(ctx, leader, vec![w]).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every request of a plan sequence: `(work, batch index)` pairs.
    type Requests = Vec<Vec<(usize, usize)>>;

    /// Runs planners over works with batches of `sizes` bytes the way
    /// [`pipeline`] does: up to [`IN_FLIGHT`] requests in flight, the
    /// oldest answered (success) first. Returns the requests and, per work,
    /// the batch found too large.
    fn simulate(sizes: &[Vec<usize>], limit: usize) -> (Requests, Vec<Option<usize>>) {
        let mut planner = Planner::new(limit);
        let mut next = vec![0usize; sizes.len()];
        let mut too_large: Vec<Option<usize>> = vec![None; sizes.len()];
        let mut in_flight: std::collections::VecDeque<Vec<(usize, usize)>> = Default::default();
        let mut answered = vec![0usize; sizes.len()];
        let mut requests = Vec::new();
        loop {
            while in_flight.len() < IN_FLIGHT {
                let plan = planner.plan(sizes.len(), |i| {
                    (too_large[i].is_none() && next[i] < sizes[i].len()).then(|| sizes[i][next[i]])
                });
                for (i, bytes) in plan.too_large {
                    assert_eq!(bytes, sizes[i][next[i]]);
                    too_large[i] = Some(next[i]);
                }
                if plan.members.is_empty() {
                    break;
                }
                let request: Vec<(usize, usize)> =
                    plan.members.iter().map(|&i| (i, next[i])).collect();
                for &i in &plan.members {
                    next[i] += 1;
                    // At most one unanswered batch per request in flight.
                    assert!(next[i] - answered[i] <= IN_FLIGHT, "work {i}");
                }
                requests.push(request.clone());
                in_flight.push_back(request);
            }
            let Some(done) = in_flight.pop_front() else {
                break;
            };
            for (i, b) in done {
                assert_eq!(answered[i], b, "answers in order for work {i}");
                answered[i] += 1;
            }
        }
        (requests, too_large)
    }

    proptest! {
        /// Each request holds at most `limit` bytes of batches and at most
        /// one batch per partition; each partition's batches go out once
        /// each, in order, with at most 5 unanswered; a batch alone above
        /// the limit is reported and nothing after it is sent.
        #[test]
        fn requests_stay_under_the_limit_and_keep_partition_order(
            sizes in proptest::collection::vec(
                proptest::collection::vec(1usize..3000, 0..40), 1..12),
            limit in 1024usize..8192,
        ) {
            let (requests, too_large) = simulate(&sizes, limit);
            let mut seen: Vec<Vec<usize>> = vec![Vec::new(); sizes.len()];
            for r in &requests {
                let bytes: usize = r.iter().map(|(i, b)| sizes[*i][*b]).sum();
                prop_assert!(bytes <= limit, "request of {} bytes, limit {}", bytes, limit);
                let mut works: Vec<usize> = r.iter().map(|(i, _)| *i).collect();
                works.sort_unstable();
                works.dedup();
                prop_assert_eq!(works.len(), r.len(), "one batch per partition per request");
                for (i, b) in r {
                    seen[*i].push(*b);
                }
            }
            for (i, batches) in sizes.iter().enumerate() {
                let stop = batches.iter().position(|s| *s > limit);
                prop_assert_eq!(too_large[i], stop, "work {}", i);
                let sent = stop.unwrap_or(batches.len());
                prop_assert_eq!(&seen[i], &(0..sent).collect::<Vec<_>>(), "work {}", i);
            }
        }
    }

    #[test]
    fn small_batches_share_one_request() {
        let sizes = vec![vec![100; 3]; 4];
        let (requests, _) = simulate(&sizes, 1024);
        assert_eq!(requests.len(), 3);
        assert!(requests.iter().all(|r| r.len() == 4), "{requests:?}");
    }

    #[test]
    fn a_partition_left_out_starts_the_next_request() {
        // 600 + 600 > 1000: work 1 waits for the next request, which then
        // starts with it, so work 0 cannot take every request.
        let mut planner = Planner::new(1000);
        let cost = |_: usize| Some(600);
        assert_eq!(planner.plan(3, cost).members, vec![0]);
        assert_eq!(planner.plan(3, cost).members, vec![1]);
        assert_eq!(planner.plan(3, cost).members, vec![2]);
        assert_eq!(planner.plan(3, cost).members, vec![0]);
        // Smaller batches behind a left-out one still fill the request.
        let mut planner = Planner::new(1000);
        let sizes = [600, 700, 300];
        let plan = planner.plan(3, |i| Some(sizes[i]));
        assert_eq!(plan.members, vec![0, 2]);
        assert_eq!(planner.plan(3, |i| Some(sizes[i])).members, vec![1, 2]);
    }

    #[test]
    fn a_batch_above_the_limit_is_reported_not_planned() {
        let mut planner = Planner::new(1024);
        let sizes = [2000, 100];
        let plan = planner.plan(2, |i| Some(sizes[i]));
        assert_eq!(
            plan,
            Plan {
                members: vec![1],
                too_large: vec![(0, 2000)],
            }
        );
        assert_eq!(planner.plan(0, |_| Some(1)), Plan::default());
    }
}
