//! The writer fields of a batch rewritten for the destination's idempotent
//! producer (producer id, epoch, base sequence, transactional bit cleared)
//! with the CRC-32C recomputed, one copy per batch ([`rewrite_for_producer`],
//! [`write_for_producer`], [`build_produce_records`]), and the producer's
//! sequence arithmetic ([`increment_sequence`]).

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    RawBatch, ATTRIBUTES_POS, ATTR_TRANSACTIONAL, BATCH_HEADER_SIZE, CRC_POS, LOG_OVERHEAD,
    MAGIC_V2,
};

/// Kafka's `DefaultRecordBatch.incrementSequence`: `sequence + increment`,
/// wrapping to 0 after `i32::MAX` (KIP-98 idempotent producer). A negative
/// `increment` counts as 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    let increment = increment.max(0);
    if sequence > i32::MAX - increment {
        increment
            .wrapping_sub(i32::MAX.wrapping_sub(sequence))
            .wrapping_sub(1)
    } else {
        sequence.wrapping_add(increment)
    }
}

/// Append the rewritten batch to `out` (see [`rewrite_for_producer`]).
fn write_rewritten(
    out: &mut BytesMut,
    batch: &RawBatch,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) {
    let h = &batch.header;
    let records = batch.bytes.get(BATCH_HEADER_SIZE..).unwrap_or(&[]);
    let batch_length =
        i32::try_from(records.len() + (BATCH_HEADER_SIZE - LOG_OVERHEAD)).unwrap_or(i32::MAX);
    let start = out.len();
    out.reserve(BATCH_HEADER_SIZE + records.len());
    out.put_i64(0); // base offset: assigned by the destination broker
    out.put_i32(batch_length);
    out.put_i32(-1); // partition leader epoch: set by the destination broker
    out.put_i8(MAGIC_V2);
    out.put_u32(0); // CRC, filled below
    out.put_i16(h.attributes & !ATTR_TRANSACTIONAL);
    out.put_i32(h.last_offset_delta);
    out.put_i64(h.base_timestamp);
    out.put_i64(h.max_timestamp);
    out.put_i64(producer_id);
    out.put_i16(producer_epoch);
    out.put_i32(base_sequence);
    out.put_i32(h.record_count);
    out.put_slice(records);
    let crc = crc32c::crc32c(out.get(start + ATTRIBUTES_POS..).unwrap_or(&[]));
    if let Some(slot) = out.get_mut(start + CRC_POS..start + ATTRIBUTES_POS) {
        slot.copy_from_slice(&crc.to_be_bytes());
    }
}

/// Bytes [`write_for_producer`] writes for `batch` (its whole length as
/// fetched: header and records section).
pub fn rewritten_len(batch: &RawBatch) -> usize {
    BATCH_HEADER_SIZE + batch.bytes.len().saturating_sub(BATCH_HEADER_SIZE)
}

/// [`rewrite_for_producer`] appending to `out` (no allocation of its own):
/// for encoding a Produce request with each batch copied once, straight
/// into the request.
pub fn write_for_producer(
    out: &mut BytesMut,
    batch: &RawBatch,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) {
    write_rewritten(out, batch, producer_id, producer_epoch, base_sequence);
}

/// Rewrite the writer fields of a batch for the destination's idempotent
/// producer (Produce API v3+, KIP-98) and recompute the CRC-32C over
/// attributes..end. One allocation and one copy of the batch.
///
/// Set: base offset 0 and partition leader epoch -1 (the broker assigns
/// both), `producer_id`, `producer_epoch`, `base_sequence`, and the
/// transactional bit cleared. The batch length is recomputed from the
/// records section (equal to the source's for a batch from
/// [`split_batches`](super::split_batches)). Every other field and the records section (bytes
/// 61.., still compressed) are copied unchanged from `batch.header` and
/// `batch.bytes`, so for a batch from [`split_batches`](super::split_batches) everything from the
/// attributes onward other than those fields is byte-identical to the
/// source: codec, timestamp type, delete-horizon bit, timestamps, last
/// offset delta and record count included.
///
/// The caller must not forward batches Apache Kafka refuses from a client:
/// control batches (`is_control`), batches with
/// [`BatchHeader::has_offset_gaps`](super::BatchHeader::has_offset_gaps)
/// and, on Kafka, batches with
/// [`BatchHeader::timestamp_type_log_append`](super::BatchHeader::timestamp_type_log_append)
/// ([`normalize_for_produce`](super::normalize_for_produce) fixes the last
/// two).
pub fn rewrite_for_producer(
    batch: &RawBatch,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Bytes {
    let mut out = BytesMut::new();
    write_rewritten(&mut out, batch, producer_id, producer_epoch, base_sequence);
    out.freeze()
}

/// Rewrite (as [`rewrite_for_producer`]) and concatenate batches of one
/// partition into one `records` blob for a Produce request, giving them
/// consecutive base sequences from `first_sequence`: each batch consumes
/// `record_count` sequences, wrapping after `i32::MAX`
/// ([`increment_sequence`]). For a batch without offset gaps this equals
/// `last_offset_delta + 1`, which is what the broker's sequence check uses.
/// Returns the blob and the sequence for the next batch.
///
/// Caution: Apache Kafka accepts only **one** v2 batch per partition in a
/// Produce request (`LogValidator.getFirstBatchAndMaybeValidateNoMoreBatches`:
/// `INVALID_RECORD`, "Compressed outer record has more than one batch").
/// Against Kafka call this with one batch per partition per request (up to 5
/// requests in flight keep the idempotent producer's ordering).
pub fn build_produce_records(
    batches: &[RawBatch],
    producer_id: i64,
    producer_epoch: i16,
    first_sequence: i32,
) -> (Bytes, i32) {
    let total: usize = batches
        .iter()
        .map(|b| BATCH_HEADER_SIZE + b.bytes.len().saturating_sub(BATCH_HEADER_SIZE))
        .sum();
    let mut out = BytesMut::with_capacity(total);
    let mut sequence = first_sequence;
    for batch in batches {
        write_rewritten(&mut out, batch, producer_id, producer_epoch, sequence);
        sequence = increment_sequence(sequence, batch.header.record_count);
    }
    (out.freeze(), sequence)
}
