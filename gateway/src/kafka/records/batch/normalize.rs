//! A fetched batch made acceptable to Apache Kafka as a producer batch
//! ([`normalize_for_produce`], [`normalize_for_produce_runs`]): empty
//! batches dropped, batches with offset gaps (log compaction) decoded and
//! re-encoded in their codec, the LogAppendTime bit cleared.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::Compression;

use super::super::decompress::{decompress, DecompressError, MAX_DECOMPRESSED_BATCH_BYTES};
use super::{
    read_varlong, BatchError, BatchHeader, RawBatch, ATTRIBUTES_POS, ATTR_LOG_APPEND_TIME, CRC_POS,
    MAGIC_V2,
};

/// Smallest body of an uncompressed v2 record, after its length varint
/// (Kafka `DefaultRecord`): attributes, timestamp delta, offset delta, key
/// length, value length and header count, at least one byte each.
const MIN_RECORD_BODY: usize = 6;

/// Walk the length prefixes of an uncompressed records section and count the
/// records. `None` if a length is negative, shorter than a record body or
/// runs past the end. Bounded: each step consumes at least 7 bytes.
fn count_record_frames(plain: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    let mut frames = 0usize;
    while pos < plain.len() {
        let len = usize::try_from(read_varlong(plain, &mut pos)?).ok()?;
        if len < MIN_RECORD_BODY {
            return None;
        }
        pos = pos.checked_add(len)?;
        if pos > plain.len() {
            return None;
        }
        frames += 1;
    }
    Some(frames)
}

/// Whether [`normalize_for_produce`] has to decode and re-encode a batch with
/// this header: it holds records (`record_count > 0`) and has offset gaps
/// ([`BatchHeader::has_offset_gaps`]: `record_count != last_offset_delta + 1`,
/// records removed by log compaction). Meant for a metric of re-encoded
/// batches (decompression and compression cost CPU).
///
/// `false` for an empty batch (dropped, not decoded) and for a batch whose
/// only problem is the LogAppendTime bit (one copy and a CRC, no decoding).
pub fn needs_reencode(header: &BatchHeader) -> bool {
    header.record_count > 0 && header.has_offset_gaps()
}

/// Make a fetched source batch acceptable to an Apache Kafka broker as a
/// producer batch (Produce API v3+, magic v2), decoding only when it must.
/// Call it on data batches (after
/// [`filter_committed`](super::filter_committed), which drops control
/// batches) and before [`rewrite_for_producer`](super::rewrite_for_producer)
/// / [`build_produce_records`](super::build_produce_records).
///
/// - **Empty batch** (`record_count` 0, left by log compaction, KIP-98
///   keeps the batch to preserve producer state): `Ok(None)`, nothing to
///   produce. Kafka refuses a batch with no record (`LogValidator`:
///   `INVALID_RECORD`).
/// - **Offset gaps** ([`needs_reencode`]): Kafka's
///   `LogValidator.validateBatch` refuses a client batch whose
///   `last_offset_delta + 1 != record_count` (`INVALID_RECORD`,
///   "Inconsistent batch offset range"). The batch is decoded (kafka-protocol
///   `RecordBatchDecoder`, any codec) and re-encoded (`RecordBatchEncoder`)
///   with the **same codec** and contiguous offset deltas `0..n-1`. Kept:
///   keys, values, headers, record timestamps (ms), base offset, partition
///   leader epoch, producer id and epoch, base sequence (record `i` gets
///   `base_sequence + i`), the transactional bit. Recomputed: base timestamp
///   (smallest record timestamp), max timestamp (largest), last offset
///   delta (`n - 1`), batch length, CRC. The delete-horizon bit (6, KIP-534)
///   is cleared, since the base timestamp no longer holds the source's
///   delete horizon: the destination's log cleaner sets its own when it
///   compacts. One decompression (bounded, [`super::decompress`]), one
///   compression and a few allocations.
/// - **LogAppendTime bit** (attribute bit 3, source topic with
///   `message.timestamp.type=LogAppendTime`, KIP-32): cleared, because Kafka
///   refuses it from a producer (`INVALID_TIMESTAMP`, "Producer should not
///   set timestamp type to LogAppendTime"). Consequence: the record
///   timestamps become the records' CreateTime values (the timestamps the
///   source producer wrote, which the source broker kept inside the batch)
///   instead of the source's append time, which a LogAppendTime batch gives
///   to all its records. The destination topic, created with the source
///   topic's configs, has `message.timestamp.type=LogAppendTime` too and then
///   stamps its own append time on the batch; on a CreateTime destination
///   topic the CreateTime values stay (and the topic's
///   `message.timestamp.before.max.ms` / `after.max.ms` apply to them,
///   KIP-937). For a batch without gaps only the attributes and the CRC
///   change (one copy of the batch): the max timestamp keeps the source's
///   append time (the destination broker recomputes it on append,
///   `LogValidator`) and the records section is byte-identical.
/// - **Otherwise** the batch is returned unchanged: the same [`Bytes`]
///   (zero-copy, no allocation).
///
/// The returned batch has a header consistent with its bytes and a valid
/// CRC-32C ([`split_batches`](super::split_batches) / [`RawBatch::parse`] accept it). After a
/// re-encode, its [`BatchHeader::last_offset`] / [`BatchHeader::next_offset`]
/// no longer describe the source log (`base_offset + n - 1` instead of the
/// source's last offset): take source positions (next fetch offset, offset
/// mapping) from the input's header, before calling this.
///
/// Errors (none retriable: the same bytes fail again):
/// - [`BatchError::BadCounts`] (`position` 0): negative counts, or more
///   records than offsets (`record_count > last_offset_delta + 1`);
/// - [`BatchError::UnknownCompression`]: codec id 5-7 (a batch from
///   [`split_batches`](super::split_batches) / [`RawBatch::parse`] never has one);
/// - [`BatchError::DecompressedTooLarge`]: the records section of a batch
///   with gaps decompresses to more than
///   [`super::decompress::MAX_DECOMPRESSED_BATCH_BYTES`] (64 MiB);
///   decompression stops there;
/// - [`BatchError::Reencode`]: decompression, record decoding or encoding
///   failed (corrupt records section, non UTF-8 header key, a record count
///   other than the number of records in the section, timestamps too far
///   apart to encode).
pub fn normalize_for_produce(batch: RawBatch) -> Result<Option<RawBatch>, BatchError> {
    let h = batch.header;
    if h.record_count < 0 || h.last_offset_delta < 0 {
        return Err(bad_counts(&h));
    }
    if h.record_count == 0 {
        return Ok(None);
    }
    if needs_reencode(&h) {
        return reencode_contiguous(&batch).map(Some);
    }
    if h.timestamp_type_log_append() {
        return Ok(Some(clear_log_append_time(&batch)));
    }
    Ok(Some(batch))
}

fn bad_counts(h: &BatchHeader) -> BatchError {
    BatchError::BadCounts {
        base_offset: h.base_offset,
        position: 0,
        record_count: h.record_count,
        last_offset_delta: h.last_offset_delta,
    }
}

/// A copy of the batch with attribute bit 3 cleared and a fresh CRC.
fn clear_log_append_time(batch: &RawBatch) -> RawBatch {
    let attributes = batch.header.attributes & !ATTR_LOG_APPEND_TIME;
    let mut out = BytesMut::from(&batch.bytes[..]);
    if let Some(slot) = out.get_mut(ATTRIBUTES_POS..ATTRIBUTES_POS + 2) {
        slot.copy_from_slice(&attributes.to_be_bytes());
    }
    let crc = crc32c::crc32c(out.get(ATTRIBUTES_POS..).unwrap_or(&[]));
    if let Some(slot) = out.get_mut(CRC_POS..ATTRIBUTES_POS) {
        slot.copy_from_slice(&crc.to_be_bytes());
    }
    RawBatch {
        header: BatchHeader {
            attributes,
            crc,
            ..batch.header
        },
        bytes: out.freeze(),
    }
}

/// Decode a batch with offset gaps and encode its records again, same codec,
/// offsets `base_offset..base_offset + n` (see [`normalize_for_produce`]).
fn reencode_contiguous(batch: &RawBatch) -> Result<RawBatch, BatchError> {
    let h = batch.header;
    let (mut records, codec) = decode_gappy(batch)?;
    let base_offset = h.base_offset;
    let fail = |message: String| BatchError::Reencode {
        base_offset,
        message,
    };
    for (i, record) in records.iter_mut().enumerate() {
        let delta = i64::try_from(i).map_err(|e| fail(e.to_string()))?;
        record.offset = base_offset
            .checked_add(delta)
            .ok_or_else(|| fail(format!("offset {base_offset} + {delta} overflows")))?;
        record.sequence = h.base_sequence.wrapping_add(delta as i32);
    }
    encode_contiguous(&records, codec, base_offset, batch.bytes.len())
}

/// [`normalize_for_produce`], except that a batch with offset gaps
/// (compaction) becomes one batch per run of consecutive source offsets,
/// each at its records' own source offsets, instead of one batch with
/// renumbered offsets: so each produced batch's base offset is the source
/// offset of its first record and the offset map, kept per batch, stays
/// exact record by record (a committed offset inside a compacted range
/// translates to the next record that was kept). What the pipeline uses.
///
/// # Errors
/// As [`normalize_for_produce`].
pub fn normalize_for_produce_runs(batch: RawBatch) -> Result<Vec<RawBatch>, BatchError> {
    let h = batch.header;
    if h.record_count < 0 || h.last_offset_delta < 0 {
        return Err(bad_counts(&h));
    }
    if !needs_reencode(&h) {
        return Ok(normalize_for_produce(batch)?.into_iter().collect());
    }
    let (mut records, codec) = decode_gappy(&batch)?;
    for record in records.iter_mut() {
        // offset - sequence constant: the encoder keeps a run in one batch.
        let delta = record.offset.wrapping_sub(h.base_offset);
        record.sequence = h.base_sequence.wrapping_add(delta as i32);
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let mut end = start + 1;
        while end < records.len()
            && records.get(end - 1).map(|r| r.offset.wrapping_add(1))
                == records.get(end).map(|r| r.offset)
        {
            end += 1;
        }
        let run = records.get(start..end).unwrap_or(&[]);
        let base = run.first().map_or(h.base_offset, |r| r.offset);
        out.push(encode_contiguous(run, codec, base, 0)?);
        start = end;
    }
    Ok(out)
}

/// The records of a batch with offset gaps, decoded (decompressed at most
/// [`MAX_DECOMPRESSED_BATCH_BYTES`], the record count checked against the
/// records section first), with delete horizon and CreateTime cleared,
/// and the batch's codec.
fn decode_gappy(
    batch: &RawBatch,
) -> Result<(Vec<kafka_protocol::records::Record>, Compression), BatchError> {
    use kafka_protocol::records::{RecordBatchDecoder, TimestampType};

    let h = batch.header;
    let base_offset = h.base_offset;
    let fail = |message: String| BatchError::Reencode {
        base_offset,
        message,
    };
    if i64::from(h.record_count) > i64::from(h.last_offset_delta) + 1 {
        return Err(bad_counts(&h));
    }
    let codec = h.compression()?;
    let count = usize::try_from(h.record_count).map_err(|_| bad_counts(&h))?;

    // Decompress first and count the records by their length prefixes: the
    // decoder reserves room for `record_count` records (a CRC-valid but
    // corrupt count must not become a huge allocation) and ignores bytes
    // after the last one, which Kafka refuses ("Incorrect declared batch
    // size", `DefaultRecordBatch.RecordIterator`).
    let plain =
        decompress(batch.records_section(), codec, MAX_DECOMPRESSED_BATCH_BYTES).map_err(|e| {
            match e {
                DecompressError::TooLarge { codec, limit_bytes } => {
                    BatchError::DecompressedTooLarge {
                        base_offset,
                        codec,
                        limit_bytes,
                    }
                }
                DecompressError::Corrupt { .. } => fail(e.to_string()),
            }
        })?;
    match count_record_frames(&plain) {
        Some(frames) if frames == count => {}
        Some(frames) => {
            return Err(fail(format!(
                "the records section holds {frames} records, the header says {count}"
            )))
        }
        None => {
            return Err(fail(format!(
                "malformed record lengths in {} uncompressed bytes",
                plain.len()
            )))
        }
    }
    let set = RecordBatchDecoder::decode_with_custom_compression(
        &mut batch.bytes.clone(),
        Some(|_: &mut Bytes, _: Compression| Ok(plain.clone())),
    )
    .map_err(|e| fail(format!("{e:#}")))?;
    let mut records = set.records;
    if records.len() != count {
        return Err(fail(format!(
            "decoded {} records, the header says {count}",
            records.len()
        )));
    }
    for record in records.iter_mut() {
        record.delete_horizon = false;
        record.timestamp_type = TimestampType::Creation;
    }
    Ok((records, codec))
}

/// Encodes `records` (consecutive offsets from `base_offset`, at least one)
/// as one v2 batch in `codec`; checks that exactly one batch without gaps
/// holding all of them came out.
fn encode_contiguous(
    records: &[kafka_protocol::records::Record],
    codec: Compression,
    base_offset: i64,
    capacity: usize,
) -> Result<RawBatch, BatchError> {
    use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions};

    let fail = |message: String| BatchError::Reencode {
        base_offset,
        message,
    };
    let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
    for record in records {
        min_ts = min_ts.min(record.timestamp);
        max_ts = max_ts.max(record.timestamp);
    }
    // The encoder subtracts the smallest timestamp from each one.
    if max_ts.checked_sub(min_ts).is_none() {
        return Err(fail(format!(
            "record timestamps {min_ts} and {max_ts} ms are too far apart"
        )));
    }
    let mut out = BytesMut::with_capacity(capacity);
    RecordBatchEncoder::encode(
        &mut out,
        records.iter(),
        &RecordEncodeOptions {
            version: MAGIC_V2,
            compression: codec,
        },
    )
    .map_err(|e| fail(format!("{e:#}")))?;
    let encoded = RawBatch::parse(out.freeze())
        .map_err(|e| fail(format!("re-encoded batch is not one valid batch: {e}")))?;
    let eh = encoded.header;
    if usize::try_from(eh.record_count).ok() != Some(records.len()) || eh.has_offset_gaps() {
        return Err(fail(format!(
            "re-encoded batch has {} records and last offset delta {}",
            eh.record_count, eh.last_offset_delta
        )));
    }
    Ok(encoded)
}
