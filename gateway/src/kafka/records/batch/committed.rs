//! The `read_committed` rule of the Java consumer at batch granularity
//! ([`filter_committed`]): data of aborted transactions and control batches
//! (transaction markers) dropped, and the marker type of a control batch
//! ([`RawBatch::control_type`]).

use std::collections::HashSet;

use super::{be_i16, read_varlong, RawBatch, ATTR_CODEC_MASK, BATCH_HEADER_SIZE};

/// Type of the first record of a control batch (Kafka `ControlRecordType`,
/// KIP-98): the record key is `version: i16, type: i16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRecordType {
    /// Type 0: end of an aborted transaction.
    Abort,
    /// Type 1: end of a committed transaction.
    Commit,
    /// Any other type id (KRaft uses 2.. in its metadata log).
    Other(i16),
    /// The key could not be read: records section compressed (Kafka writes
    /// markers uncompressed), truncated, key shorter than 4 bytes or a
    /// negative key version. Kafka's consumer would fail on such a batch.
    Unreadable,
}

impl RawBatch {
    /// For a control batch, the type of its first record (Kafka's consumer
    /// also looks only at the first record, `CompletedFetch.containsAbortMarker`).
    /// `None` if the batch is not a control batch or has no records (an
    /// empty batch left by compaction).
    pub fn control_type(&self) -> Option<ControlRecordType> {
        if !self.header.is_control() || self.header.record_count <= 0 {
            return None;
        }
        if self.header.attributes & ATTR_CODEC_MASK != 0 {
            return Some(ControlRecordType::Unreadable);
        }
        let section = self.bytes.get(BATCH_HEADER_SIZE..).unwrap_or(&[]);
        if section.is_empty() {
            return None;
        }
        let key = match first_record_key(section) {
            Some(k) => k,
            None => return Some(ControlRecordType::Unreadable),
        };
        match (be_i16(key, 0), be_i16(key, 2)) {
            (Some(version), Some(kind)) if version >= 0 => Some(match kind {
                0 => ControlRecordType::Abort,
                1 => ControlRecordType::Commit,
                other => ControlRecordType::Other(other),
            }),
            _ => Some(ControlRecordType::Unreadable),
        }
    }
}

/// Key of the first record of an uncompressed records section (v2 record:
/// length varint, attributes i8, timestamp delta varlong, offset delta
/// varint, key length varint, key). `None` if unreadable or null.
fn first_record_key(section: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    let len = usize::try_from(read_varlong(section, &mut pos)?).ok()?;
    let record = section.get(pos..pos.checked_add(len)?)?;
    let mut p = 1; // attributes
    read_varlong(record, &mut p)?; // timestamp delta
    read_varlong(record, &mut p)?; // offset delta
    let key_len = usize::try_from(read_varlong(record, &mut p)?).ok()?;
    record.get(p..p.checked_add(key_len)?)
}

/// A transaction aborted on the source: one entry of
/// `FetchResponse.partitions[].aborted_transactions` (Fetch v4+, KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// Producer id of the aborted transaction.
    pub producer_id: i64,
    /// Offset of the transaction's first batch in this partition.
    pub first_offset: i64,
}

impl From<&kafka_protocol::messages::fetch_response::AbortedTransaction> for AbortedTxn {
    /// From a Fetch response's `aborted_transactions` entry (v4+).
    fn from(t: &kafka_protocol::messages::fetch_response::AbortedTransaction) -> Self {
        AbortedTxn {
            producer_id: t.producer_id.0,
            first_offset: t.first_offset,
        }
    }
}

/// Result of `read_committed` filtering for one fetched partition.
#[derive(Debug, Clone)]
pub struct CommittedBatches {
    /// Data batches to mirror, in log order (moved from the input, no copy).
    pub keep: Vec<RawBatch>,
    /// Where the next fetch starts: the largest of `fetch_offset` and the
    /// next offset (`last_offset + 1`) of every batch seen, kept or skipped.
    /// Equals `fetch_offset` when there was no batch.
    pub next_fetch_offset: i64,
    /// Control batches (transaction markers) at or after `fetch_offset`
    /// dropped.
    pub skipped_control: usize,
    /// Data batches of aborted transactions at or after `fetch_offset`
    /// dropped.
    pub skipped_aborted: usize,
    /// Batches wholly below `fetch_offset` (`next_offset <= fetch_offset`),
    /// of any kind, dropped. Not counted in the two fields above.
    pub skipped_before_fetch_offset: usize,
    /// `true` when `keep[0]` starts before `fetch_offset` and ends at or
    /// after it (the fetch offset points inside it). The batch is kept whole
    /// (its records below `fetch_offset` are forwarded again); the pipeline's
    /// offset map deals with the overlap.
    pub first_batch_straddles: bool,
    /// Control batches whose marker type could not be read
    /// ([`ControlRecordType::Unreadable`]). Each one was taken to end its
    /// producer's aborted range (see [`filter_committed`]).
    pub unreadable_control: usize,
}

/// Apply Kafka's `read_committed` consumer rule, at batch granularity, to
/// the batches of one fetched partition (in log order, as from
/// [`split_batches`](super::split_batches)).
///
/// Rule (Java client `CompletedFetch.nextFetchedRecord`, KIP-98):
/// - `aborted` is sorted by `first_offset`. For each batch with a producer
///   id (`>= 0`), every aborted transaction with `first_offset <=
///   batch.last_offset()` not yet consumed adds its producer id to the
///   aborted set.
/// - A control batch whose first record is an ABORT marker removes its
///   producer id from the aborted set. A marker of unreadable type
///   (compressed, truncated: Kafka's consumer would fail) is counted in
///   `unreadable_control` and also removes it: for consistent input the
///   first marker of a producer inside an aborted range is that range's
///   ABORT marker.
/// - A transactional data batch whose producer id is in the aborted set is
///   dropped (`skipped_aborted`).
/// - Control batches are never kept (`skipped_control`).
/// - Non-transactional batches are always kept.
///
/// Batches wholly below `fetch_offset` (a fetch can return the batch that
/// contains the requested offset and, from some brokers, earlier ones) still
/// drive the aborted-set bookkeeping above, as in the Java client, but are
/// dropped and counted only in `skipped_before_fetch_offset`. A batch that
/// straddles `fetch_offset` is kept whole and flagged with
/// `first_batch_straddles`.
pub fn filter_committed(
    batches: Vec<RawBatch>,
    aborted: &[AbortedTxn],
    fetch_offset: i64,
) -> CommittedBatches {
    let mut queue = aborted.to_vec();
    queue.sort_by_key(|t| t.first_offset);
    let mut queue = queue.into_iter().peekable();
    let mut aborted_pids: HashSet<i64> = HashSet::new();

    let mut out = CommittedBatches {
        keep: Vec::with_capacity(batches.len()),
        next_fetch_offset: fetch_offset,
        skipped_control: 0,
        skipped_aborted: 0,
        skipped_before_fetch_offset: 0,
        first_batch_straddles: false,
        unreadable_control: 0,
    };

    for batch in batches {
        let h = batch.header;
        out.next_fetch_offset = out.next_fetch_offset.max(h.next_offset());

        let mut aborted_data = false;
        if h.producer_id >= 0 {
            while let Some(txn) = queue.next_if(|t| t.first_offset <= h.last_offset()) {
                aborted_pids.insert(txn.producer_id);
            }
            if h.is_control() {
                match batch.control_type() {
                    Some(ControlRecordType::Abort) => {
                        aborted_pids.remove(&h.producer_id);
                    }
                    Some(ControlRecordType::Unreadable) => {
                        out.unreadable_control += 1;
                        aborted_pids.remove(&h.producer_id);
                    }
                    _ => {}
                }
            } else if h.is_transactional() && aborted_pids.contains(&h.producer_id) {
                aborted_data = true;
            }
        }

        if h.next_offset() <= fetch_offset {
            out.skipped_before_fetch_offset += 1;
        } else if h.is_control() {
            out.skipped_control += 1;
        } else if aborted_data {
            out.skipped_aborted += 1;
        } else {
            if out.keep.is_empty() && h.base_offset < fetch_offset {
                out.first_batch_straddles = true;
            }
            out.keep.push(batch);
        }
    }
    out
}
