//! The data-plane position of one mirror partition ([`Slot`]), shared by
//! the fetcher and the committer under a short lock, with the rounds being
//! produced ([`RoundTracker`]) and the unfinished round recovered from a
//! checkpoint ([`ResumeRound`]).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::mirror::metrics as m;
use crate::mirror::offset_map::{OffsetMap, RollupHead};
use crate::mirror::state::{Checkpoint, ProducerIdentity};
use crate::mirror::status::PartitionKey;

use super::*;

/// Rounds of one mirror partition the committer is producing. The
/// committer holds a [`RoundGuard`] per round it prepared until the round
/// landed, failed or was given up; `started` counts rounds ever prepared, so
/// a reader can tell whether one began while it looked away.
#[derive(Debug, Default)]
pub(crate) struct RoundTracker {
    in_flight: AtomicU32,
    started: AtomicU64,
}

impl RoundTracker {
    /// Marks a round begun; it ends when the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> RoundGuard {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        RoundGuard(self.clone())
    }

    /// Rounds being produced now.
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Rounds prepared since the slot was set up.
    pub(crate) fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }
}

/// One round in flight (see [`RoundTracker`]).
#[derive(Debug)]
pub(crate) struct RoundGuard(Arc<RoundTracker>);

impl Drop for RoundGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Data-plane position of one mirror partition. Fetcher and committer share it
/// under a short synchronous lock. A stopped mirror partition has no slot.
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
    /// Source offset after the last landed round: every source offset below
    /// it is on the destination (or needs nothing there). Lag for promote is
    /// measured from it.
    pub source_next: i64,
    /// Next base sequence of the idempotent producer for this partition.
    pub sequence: i32,
    /// Last offset map segment start `(source, destination)`.
    pub last_segment: Option<(i64, i64)>,
    /// Rounds of this partition in flight in the committer.
    pub rounds: Arc<RoundTracker>,
    /// The partition's checkpoint as last written to the state topic.
    pub checkpoint: Option<Checkpoint>,
    /// A round an earlier instance began and did not finish: re-sent under
    /// its producer identity first (see [`ResumeRound`]).
    pub resume: Option<ResumeRound>,
    /// A round of the partition is being reconciled in its own task: the
    /// partition is not fetched until it is done.
    pub reconciling: bool,
    /// When a progress-only checkpoint was last written.
    pub progress_at: std::time::Instant,
    /// The partition's offset map (segment starts of what landed).
    pub map: OffsetMap,
    /// Source offsets of its segments written as single records since the
    /// last roll-up.
    pub singles: BTreeSet<i64>,
    /// The current roll-up of its map, if any.
    pub rollup: Option<RollupHead>,
    /// Keys of roll-up chunks no head names (deleted at the next roll-up).
    pub stale_chunks: Vec<String>,
    /// The source partition's log start offset, from fetch responses (-1
    /// unknown): the offset map is pruned below it.
    pub source_log_start: i64,
    /// Source leader epoch of the last batch fetched (-1 unknown): Fetch
    /// `last_fetched_epoch` (KIP-320 divergence check).
    pub last_fetched_epoch: i32,
    /// The partition's metric handles, registered on first use.
    pub metrics: Option<m::PartitionMetrics>,
}

/// The unfinished part of a round recovered from a checkpoint: its batches
/// go to the destination again under the producer id, epoch and sequences
/// the earlier write used, so that the broker deduplicates a copy of it
/// that is still on its way (a produce queued at the broker when the
/// earlier instance died, a write the high watermark did not cover yet;
/// KIP-98 idempotence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResumeRound {
    /// The identity the round was produced with.
    pub producer: ProducerIdentity,
    /// Base sequence of the first batch still to produce.
    pub sequence: i32,
    /// The batches still to produce, `(source base offset, record count)`.
    pub batches: Vec<(i64, i32)>,
}

impl Slot {
    /// The partition's metric handles (registered on the first call).
    pub(crate) fn metrics(&mut self, link: &str, key: &PartitionKey) -> &m::PartitionMetrics {
        self.metrics
            .get_or_insert_with(|| m::PartitionMetrics::new(link, &key.0, key.1))
    }

    /// A slot at source offset `fetch_offset` (nothing in flight) and
    /// destination log end offset `destination_next`.
    pub(crate) fn new(
        source_topic: &str,
        source_topic_id: &str,
        fetch_offset: i64,
        destination_next: i64,
    ) -> Self {
        Self {
            source_topic: source_topic.to_string(),
            source_topic_id: source_topic_id.to_string(),
            fetch_offset,
            fetch_max_bytes: DEFAULT_PARTITION_FETCH_BYTES,
            generation: 0,
            destination_next,
            source_next: fetch_offset,
            sequence: 0,
            last_segment: None,
            rounds: Arc::default(),
            checkpoint: None,
            resume: None,
            reconciling: false,
            progress_at: std::time::Instant::now(),
            map: OffsetMap::default(),
            singles: BTreeSet::new(),
            rollup: None,
            stale_chunks: Vec::new(),
            source_log_start: -1,
            last_fetched_epoch: -1,
            metrics: None,
        }
    }
}
