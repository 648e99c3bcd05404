//! A partition's `records` field split into whole batches, zero-copy, each
//! checked ([`split_batches`], [`SplitBatches`]).

use bytes::Bytes;

use super::{
    be_i32, be_i64, check_magic, check_whole_batch, BatchError, BatchHeader, RawBatch,
    HEADER_SIZE_UP_TO_MAGIC, LOG_OVERHEAD, MAGIC_POS, MIN_BATCH_LENGTH,
};

/// The whole batches of one partition's `records`, and what was left over.
#[derive(Debug, Clone)]
pub struct SplitBatches {
    /// Whole, CRC-checked batches in log order (zero-copy slices).
    pub batches: Vec<RawBatch>,
    /// Bytes at the end that do not form a whole batch (0 if none). Fetch
    /// may cut the last batch at `max_bytes` (Fetch API, all versions); the
    /// caller refetches from [`SplitBatches::partial_base_offset`], or from
    /// the next offset of the last whole batch.
    pub partial_trailing_bytes: usize,
    /// Base offset of the cut batch, if its first 8 bytes were present.
    pub partial_base_offset: Option<i64>,
    /// Full size in bytes (`12 + batch_length`) of the cut batch, if its
    /// first 12 bytes were present. When `batches` is empty this is the
    /// fetch size needed to make progress (partition `max_bytes` too small).
    pub partial_batch_size: Option<usize>,
}

/// Split a partition's `records` field (Fetch response, any version with v2
/// batches) into whole batches, zero-copy (`Bytes::slice`).
///
/// - A trailing partial batch is not an error: it is left out and reported
///   in [`SplitBatches::partial_trailing_bytes`] (as Kafka's
///   `ByteBufferLogInputStream` does; the magic is still checked once its
///   byte is present).
/// - Each whole batch's CRC-32C is verified ([`BatchError::CrcMismatch`]).
/// - Magic < 2 gives [`BatchError::UnsupportedMagic`], > 2
///   [`BatchError::UnknownMagic`]; a batch length below 49
///   [`BatchError::BadBatchLength`]; codec ids 5-7
///   [`BatchError::UnknownCompression`]; negative record count or last
///   offset delta [`BatchError::BadCounts`].
///
/// The first error stops the split; the batches before it are discarded
/// with it (the caller refetches or fails the partition).
pub fn split_batches(records: &Bytes) -> Result<SplitBatches, BatchError> {
    let mut batches = Vec::new();
    let mut pos = 0usize;
    loop {
        let rest = records.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok(SplitBatches {
                batches,
                partial_trailing_bytes: 0,
                partial_base_offset: None,
                partial_batch_size: None,
            });
        }
        let base_offset = be_i64(rest, 0);
        let batch_length = be_i32(rest, 8);
        let partial = |batches: Vec<RawBatch>, size: Option<usize>| SplitBatches {
            batches,
            partial_trailing_bytes: rest.len(),
            partial_base_offset: base_offset,
            partial_batch_size: size,
        };
        let (Some(base_offset), Some(batch_length)) = (base_offset, batch_length) else {
            return Ok(partial(batches, None));
        };
        if batch_length < 0 {
            return Err(BatchError::BadBatchLength {
                base_offset,
                position: pos,
                batch_length,
            });
        }
        let total = LOG_OVERHEAD + batch_length as usize;
        if rest.len() >= HEADER_SIZE_UP_TO_MAGIC {
            let magic = rest.get(MAGIC_POS).map(|m| *m as i8).unwrap_or(0);
            check_magic(magic, base_offset, pos)?;
            if batch_length < MIN_BATCH_LENGTH {
                return Err(BatchError::BadBatchLength {
                    base_offset,
                    position: pos,
                    batch_length,
                });
            }
        }
        if rest.len() < total || rest.len() < HEADER_SIZE_UP_TO_MAGIC {
            return Ok(partial(batches, Some(total)));
        }
        let bytes = records.slice(pos..pos + total);
        let header = BatchHeader::parse_unchecked(&bytes).ok_or(BatchError::TruncatedHeader {
            base_offset: Some(base_offset),
            available: bytes.len(),
        })?;
        batches.push(check_whole_batch(header, bytes, pos)?);
        pos += total;
    }
}
