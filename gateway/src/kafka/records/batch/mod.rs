//! Record batch pass-through core: Kafka record batches (magic v2, the format
//! of KIP-98, Kafka 0.11+) handled as raw bytes, decompressed only when a
//! batch cannot be produced as it is (offset gaps left by log compaction).
//!
//! This module owns the batch view: the header ([`BatchHeader`]), a whole
//! checked batch ([`RawBatch`]), the errors of source bytes
//! ([`BatchError`]) and the layout constants. By job, its submodules own:
//! - `split`: a partition's `records` field from a Fetch response into
//!   whole batches, zero-copy, each batch's CRC-32C verified
//!   ([`split_batches`]);
//! - `committed`: the `read_committed` rule of the Java consumer, at batch
//!   granularity: aborted transactions and control batches
//!   ([`filter_committed`], [`RawBatch::control_type`]);
//! - `rewrite`: the writer fields (producer id, epoch, base sequence,
//!   transactional bit) for the destination's idempotent producer, with the
//!   CRC-32C recomputed ([`rewrite_for_producer`], [`write_for_producer`],
//!   [`build_produce_records`]);
//! - `normalize`: a fetched batch made acceptable to Apache Kafka as a
//!   producer batch: empty batches dropped, batches with offset gaps
//!   re-encoded, the LogAppendTime bit cleared ([`normalize_for_produce`],
//!   [`normalize_for_produce_runs`], [`needs_reencode`]).
//!
//! Layout of a v2 batch (all integers big-endian; byte positions from the
//! start of the batch; see `DefaultRecordBatch` in Apache Kafka and
//! <https://kafka.apache.org/documentation/#recordbatch>):
//!
//! | bytes | field                  | | bytes | field            |
//! |-------|------------------------|-|-------|------------------|
//! | 0..8  | base offset (i64)      | | 27..35| base timestamp (i64, ms) |
//! | 8..12 | batch length (i32)     | | 35..43| max timestamp (i64, ms)  |
//! | 12..16| partition leader epoch | | 43..51| producer id (i64)        |
//! | 16    | magic (i8) = 2         | | 51..53| producer epoch (i16)     |
//! | 17..21| CRC-32C (u32)          | | 53..57| base sequence (i32)      |
//! | 21..23| attributes (i16)       | | 57..61| record count (i32)       |
//! | 23..27| last offset delta (i32)| | 61..  | records (maybe compressed) |
//!
//! The batch length counts the bytes after itself (so a whole batch is
//! `12 + batch_length` bytes), and the CRC covers bytes `21..` (attributes to
//! the end). The base offset, batch length and partition leader epoch are not
//! covered by the CRC: the broker rewrites them on append.

use bytes::Bytes;
use kafka_protocol::records::Compression;

mod committed;
mod normalize;
mod rewrite;
mod split;

#[cfg(test)]
mod committed_tests;
#[cfg(test)]
mod normalize_tests;
#[cfg(test)]
mod rewrite_tests;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod testing;

pub use committed::{filter_committed, AbortedTxn, CommittedBatches, ControlRecordType};
pub use normalize::{needs_reencode, normalize_for_produce, normalize_for_produce_runs};
pub use rewrite::{
    build_produce_records, increment_sequence, rewrite_for_producer, rewritten_len,
    write_for_producer,
};
pub use split::{split_batches, SplitBatches};

/// Bytes before the batch length field ends: base offset (8) + batch length (4).
/// Kafka's `Records.LOG_OVERHEAD`.
pub const LOG_OVERHEAD: usize = 12;

/// Size in bytes of a v2 batch header, records excluded. Kafka's
/// `DefaultRecordBatch.RECORD_BATCH_OVERHEAD`.
pub const BATCH_HEADER_SIZE: usize = 61;

/// Smallest valid `batch_length` of a v2 batch (a header with no records):
/// `BATCH_HEADER_SIZE - LOG_OVERHEAD` = 49 bytes.
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_SIZE - LOG_OVERHEAD) as i32;

/// Failure code of a mirror partition whose batch decompresses past
/// [`super::decompress::MAX_DECOMPRESSED_BATCH_BYTES`] (linkgate's own code;
/// Kafka has no such limit).
pub const DECOMPRESSED_BATCH_TOO_LARGE: &str = "DECOMPRESSED_BATCH_TOO_LARGE";

/// The only record batch format this module handles (magic byte 2, KIP-98).
pub const MAGIC_V2: i8 = 2;

/// Bytes needed to see the magic byte: base offset, length, leader epoch, magic.
const HEADER_SIZE_UP_TO_MAGIC: usize = 17;
const MAGIC_POS: usize = 16;
const CRC_POS: usize = 17;
/// First byte covered by the CRC (the attributes field).
const ATTRIBUTES_POS: usize = 21;

const ATTR_CODEC_MASK: i16 = 0x07;
const ATTR_LOG_APPEND_TIME: i16 = 1 << 3;
const ATTR_TRANSACTIONAL: i16 = 1 << 4;
const ATTR_CONTROL: i16 = 1 << 5;
const ATTR_DELETE_HORIZON: i16 = 1 << 6;

/// A record batch fetched from the source cluster is corrupt or in a format
/// linkgate does not handle.
///
/// Every variant concerns bytes fetched from the **source** cluster (the only
/// bytes this module parses) and names the batch's base offset. `position`
/// is the byte position of the batch inside the partition's `records` field
/// (0 for [`RawBatch::parse`]). None of these errors is retriable: refetching
/// returns the same bytes (see [`BatchError::is_retriable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer than [`BATCH_HEADER_SIZE`] bytes where one whole batch was
    /// expected ([`RawBatch::parse`], [`BatchHeader::parse`]).
    /// [`split_batches`] never returns this: a short tail is a partial batch.
    /// `base_offset` is `None` when fewer than 8 bytes were given.
    #[error(
        "source record batch at offset {}: truncated header ({available} bytes, a v2 header needs {BATCH_HEADER_SIZE})",
        fmt_offset(.base_offset)
    )]
    TruncatedHeader {
        /// Base offset, if at least 8 bytes were present.
        base_offset: Option<i64>,
        /// Bytes available.
        available: usize,
    },

    /// The batch length field is smaller than a v2 header
    /// ([`MIN_BATCH_LENGTH`] = 49) or negative.
    #[error(
        "source record batch at offset {base_offset} (byte {position} of the records): batch length {batch_length} is smaller than a v2 header ({MIN_BATCH_LENGTH} bytes)"
    )]
    BadBatchLength {
        /// Base offset of the batch.
        base_offset: i64,
        /// Byte position of the batch in the records field.
        position: usize,
        /// The batch length field as read.
        batch_length: i32,
    },

    /// [`RawBatch::parse`] was given more or fewer bytes than the batch
    /// length field says (`12 + batch_length`).
    #[error(
        "source record batch at offset {base_offset}: {actual} bytes given but its batch length says {declared}"
    )]
    LengthMismatch {
        /// Base offset of the batch.
        base_offset: i64,
        /// `12 + batch_length`, in bytes.
        declared: usize,
        /// Bytes given.
        actual: usize,
    },

    /// Message format v0 or v1 (magic 0 or 1, before Kafka 0.11): linkgate
    /// only forwards v2 batches. The source topic must use
    /// `message.format.version` 0.11 or later (always the case from Kafka 3.0).
    #[error(
        "source record batch at offset {base_offset} (byte {position} of the records): message format v{magic} is not supported (linkgate needs v2, Kafka 0.11+)"
    )]
    UnsupportedMagic {
        /// Base offset of the batch.
        base_offset: i64,
        /// Byte position of the batch in the records field.
        position: usize,
        /// Magic byte found (0 or 1, or negative if corrupt).
        magic: i8,
    },

    /// Magic byte above 2: no such Kafka record format exists (corrupt data).
    #[error(
        "source record batch at offset {base_offset} (byte {position} of the records): unknown magic byte {magic}"
    )]
    UnknownMagic {
        /// Base offset of the batch.
        base_offset: i64,
        /// Byte position of the batch in the records field.
        position: usize,
        /// Magic byte found.
        magic: i8,
    },

    /// The CRC-32C stored in the batch does not match the one computed over
    /// attributes..end (Kafka `CorruptRecordException`).
    #[error(
        "source record batch at offset {base_offset} (byte {position} of the records): CRC-32C mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    CrcMismatch {
        /// Base offset of the batch.
        base_offset: i64,
        /// Byte position of the batch in the records field.
        position: usize,
        /// CRC found in the batch header.
        stored: u32,
        /// CRC computed over bytes 21.. of the batch.
        computed: u32,
    },

    /// Attribute bits 0-2 hold a codec id Kafka does not define (5, 6 or 7).
    #[error("source record batch at offset {base_offset}: unknown compression codec id {codec}")]
    UnknownCompression {
        /// Base offset of the batch.
        base_offset: i64,
        /// Codec id found (attributes & 0x07).
        codec: i16,
    },

    /// Negative record count or negative last offset delta; from
    /// [`normalize_for_produce`] also more records than offsets
    /// (`record_count > last_offset_delta + 1`), with `position` 0.
    #[error(
        "source record batch at offset {base_offset} (byte {position} of the records): invalid record count {record_count} / last offset delta {last_offset_delta}"
    )]
    BadCounts {
        /// Base offset of the batch.
        base_offset: i64,
        /// Byte position of the batch in the records field.
        position: usize,
        /// Record count field.
        record_count: i32,
        /// Last offset delta field.
        last_offset_delta: i32,
    },

    /// The records section of a batch [`normalize_for_produce`] must
    /// re-encode decompresses to more than `limit_bytes`
    /// ([`super::decompress::MAX_DECOMPRESSED_BATCH_BYTES`]): a
    /// decompression bomb, or a batch too large to rewrite in memory.
    #[error(
        "source record batch at offset {base_offset}: its {codec} records section decompresses to more than {limit_bytes} bytes"
    )]
    DecompressedTooLarge {
        /// Base offset of the batch.
        base_offset: i64,
        /// Codec name (`gzip`, `snappy`, `lz4`, `zstd`).
        codec: &'static str,
        /// The limit, in bytes.
        limit_bytes: usize,
    },

    /// [`normalize_for_produce`] could not decode (decompress, parse the
    /// records) or re-encode a batch with offset gaps: a corrupt records
    /// section whose CRC still matches, a header key that is not UTF-8, or a
    /// record count other than the number of records in the section.
    /// `message` is the
    /// decoder's or encoder's error (lengths, codec; never record data).
    #[error(
        "source record batch at offset {base_offset}: cannot re-encode it without offset gaps: {message}"
    )]
    Reencode {
        /// Base offset of the batch.
        base_offset: i64,
        /// What failed, from kafka-protocol's decoder or encoder.
        message: String,
    },
}

fn fmt_offset(offset: &Option<i64>) -> String {
    match offset {
        Some(o) => o.to_string(),
        None => "(unknown)".to_owned(),
    }
}

impl BatchError {
    /// Always `false`: the input is corrupt or unsupported and fetching it
    /// again returns the same bytes. Present for symmetry with the other
    /// linkgate error types.
    pub fn is_retriable(&self) -> bool {
        false
    }

    /// The code a mirror partition fails with (`FailureCause::Error`):
    /// `DECOMPRESSED_BATCH_TOO_LARGE` for
    /// [`BatchError::DecompressedTooLarge`], `CORRUPT_RECORD_BATCH` for the
    /// rest.
    pub fn failure_code(&self) -> &'static str {
        match self {
            BatchError::DecompressedTooLarge { .. } => DECOMPRESSED_BATCH_TOO_LARGE,
            _ => "CORRUPT_RECORD_BATCH",
        }
    }

    /// Base offset of the batch concerned, when known (always, except for a
    /// [`BatchError::TruncatedHeader`] of fewer than 8 bytes).
    pub fn base_offset(&self) -> Option<i64> {
        match self {
            BatchError::TruncatedHeader { base_offset, .. } => *base_offset,
            BatchError::BadBatchLength { base_offset, .. }
            | BatchError::LengthMismatch { base_offset, .. }
            | BatchError::UnsupportedMagic { base_offset, .. }
            | BatchError::UnknownMagic { base_offset, .. }
            | BatchError::CrcMismatch { base_offset, .. }
            | BatchError::UnknownCompression { base_offset, .. }
            | BatchError::BadCounts { base_offset, .. }
            | BatchError::DecompressedTooLarge { base_offset, .. }
            | BatchError::Reencode { base_offset, .. } => Some(*base_offset),
        }
    }
}

/// The 61-byte header of a v2 record batch (Kafka `DefaultRecordBatch`,
/// KIP-98), decoded field by field. Offsets are Kafka log offsets,
/// timestamps are ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (bytes 0..8).
    pub base_offset: i64,
    /// Bytes after this field: `total batch size - 12` (bytes 8..12).
    pub batch_length: i32,
    /// Leader epoch when the batch was appended, -1 if none (bytes 12..16).
    pub partition_leader_epoch: i32,
    /// Format version; always 2 here (byte 16).
    pub magic: i8,
    /// CRC-32C of bytes 21.. (bytes 17..21).
    pub crc: u32,
    /// Bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control,
    /// 6 delete horizon (bytes 21..23).
    pub attributes: i16,
    /// Offset of the last record minus `base_offset` (bytes 23..27). Kept
    /// through compaction, so it can exceed `record_count - 1`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record, ms; the delete horizon instead when
    /// attribute bit 6 is set (KIP-534) (bytes 27..35).
    pub base_timestamp: i64,
    /// Largest record timestamp, ms; the log append time when bit 3 is set
    /// (bytes 35..43).
    pub max_timestamp: i64,
    /// Producer id, -1 if none (bytes 43..51).
    pub producer_id: i64,
    /// Producer epoch, -1 if none (bytes 51..53).
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none (bytes 53..57).
    pub base_sequence: i32,
    /// Number of records in the batch (bytes 57..61).
    pub record_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(i64::from_be_bytes(s.try_into().ok()?))
}
fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes(s.try_into().ok()?))
}
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}
fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(i16::from_be_bytes(s.try_into().ok()?))
}

impl BatchHeader {
    /// Decode the header from the first [`BATCH_HEADER_SIZE`] (61) bytes of
    /// `bytes` (extra bytes are ignored).
    ///
    /// Errors: [`BatchError::TruncatedHeader`] when fewer than 61 bytes,
    /// [`BatchError::UnsupportedMagic`] / [`BatchError::UnknownMagic`] when
    /// the magic byte is not 2. Nothing else is checked (no CRC, no length).
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        let truncated = || BatchError::TruncatedHeader {
            base_offset: be_i64(bytes, 0),
            available: bytes.len(),
        };
        if bytes.len() < BATCH_HEADER_SIZE {
            return Err(truncated());
        }
        let base_offset = be_i64(bytes, 0).ok_or_else(truncated)?;
        let magic = bytes
            .get(MAGIC_POS)
            .map(|m| *m as i8)
            .ok_or_else(truncated)?;
        check_magic(magic, base_offset, 0)?;
        Self::parse_unchecked(bytes).ok_or_else(truncated)
    }

    fn parse_unchecked(b: &[u8]) -> Option<BatchHeader> {
        Some(BatchHeader {
            base_offset: be_i64(b, 0)?,
            batch_length: be_i32(b, 8)?,
            partition_leader_epoch: be_i32(b, 12)?,
            magic: *b.get(MAGIC_POS)? as i8,
            crc: be_u32(b, CRC_POS)?,
            attributes: be_i16(b, 21)?,
            last_offset_delta: be_i32(b, 23)?,
            base_timestamp: be_i64(b, 27)?,
            max_timestamp: be_i64(b, 35)?,
            producer_id: be_i64(b, 43)?,
            producer_epoch: be_i16(b, 51)?,
            base_sequence: be_i32(b, 53)?,
            record_count: be_i32(b, 57)?,
        })
    }

    /// Offset of the last record: `base_offset + last_offset_delta`
    /// (Kafka `RecordBatch.lastOffset`). Saturates instead of overflowing
    /// on corrupt values.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset after the batch: `last_offset + 1` (Kafka
    /// `RecordBatch.nextOffset`); where a consumer resumes after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Attribute bit 5: a control batch (transaction marker, KIP-98). Never
    /// mirrored; Kafka refuses control batches from clients.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Attribute bit 4: written inside a transaction (KIP-98).
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Attribute bits 0-2: the codec of the records section (KIP-110 added
    /// zstd = 4).
    ///
    /// Returns `Err(BatchError::UnknownCompression)` for codec ids 5-7.
    /// Batches returned by [`split_batches`] / [`RawBatch::parse`] have been
    /// checked, so for them this is always `Ok`.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        match self.attributes & ATTR_CODEC_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            codec => Err(BatchError::UnknownCompression {
                base_offset: self.base_offset,
                codec,
            }),
        }
    }

    /// Attribute bit 3: timestamps are the broker's log append time (the
    /// source topic has `message.timestamp.type=LogAppendTime`; KIP-32).
    ///
    /// Note: Apache Kafka refuses a produced batch with this bit set
    /// (`INVALID_TIMESTAMP`, "Producer should not set timestamp type to
    /// LogAppendTime", `LogValidator.validateTimestamp`).
    pub fn timestamp_type_log_append(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }

    /// Attribute bit 6: the base timestamp holds the delete horizon set by
    /// the log cleaner (KIP-534).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & ATTR_DELETE_HORIZON != 0
    }

    /// `record_count != last_offset_delta + 1`: the batch has offsets with no
    /// record (compaction removed records from it), or is empty.
    ///
    /// Apache Kafka refuses such a batch from a producer, whatever its codec:
    /// `LogValidator.validateBatch` requires `count > 0` and
    /// `lastOffset - baseOffset + 1 == count` for v2 batches from clients
    /// (`INVALID_RECORD`, "Inconsistent batch offset range"). The pipeline
    /// must therefore not forward such a batch as bytes.
    pub fn has_offset_gaps(&self) -> bool {
        i64::from(self.record_count) != i64::from(self.last_offset_delta) + 1
    }
}

fn check_magic(magic: i8, base_offset: i64, position: usize) -> Result<(), BatchError> {
    if magic < MAGIC_V2 {
        Err(BatchError::UnsupportedMagic {
            base_offset,
            position,
            magic,
        })
    } else if magic > MAGIC_V2 {
        Err(BatchError::UnknownMagic {
            base_offset,
            position,
            magic,
        })
    } else {
        Ok(())
    }
}

/// One whole record batch, as fetched.
#[derive(Debug, Clone)]
pub struct RawBatch {
    /// The decoded header of `bytes`.
    pub header: BatchHeader,
    /// The complete batch on the wire, starting at the base offset:
    /// `12 + header.batch_length` bytes. From [`split_batches`] it is a
    /// zero-copy slice of the fetched records.
    pub bytes: Bytes,
}

impl RawBatch {
    /// Check and wrap exactly one whole batch (no copy).
    ///
    /// Errors: [`BatchError::TruncatedHeader`] (< 61 bytes),
    /// [`BatchError::LengthMismatch`] (`bytes.len() != 12 + batch_length`),
    /// plus the per-batch checks of [`split_batches`] (magic, length, CRC,
    /// codec, counts), with `position` 0.
    pub fn parse(bytes: Bytes) -> Result<RawBatch, BatchError> {
        let header = BatchHeader::parse(&bytes)?;
        if header.batch_length < MIN_BATCH_LENGTH {
            return Err(BatchError::BadBatchLength {
                base_offset: header.base_offset,
                position: 0,
                batch_length: header.batch_length,
            });
        }
        let declared = LOG_OVERHEAD + header.batch_length as usize;
        if declared != bytes.len() {
            return Err(BatchError::LengthMismatch {
                base_offset: header.base_offset,
                declared,
                actual: bytes.len(),
            });
        }
        check_whole_batch(header, bytes, 0)
    }

    /// The records section (bytes 61..), still compressed if the batch is.
    /// Zero-copy. Empty if `bytes` is shorter than a header.
    pub fn records_section(&self) -> Bytes {
        if self.bytes.len() >= BATCH_HEADER_SIZE {
            self.bytes.slice(BATCH_HEADER_SIZE..)
        } else {
            Bytes::new()
        }
    }

    /// Whether the stored CRC matches the CRC-32C of bytes 21.. .
    pub fn crc_is_valid(&self) -> bool {
        match (
            be_u32(&self.bytes, CRC_POS),
            self.bytes.get(ATTRIBUTES_POS..),
        ) {
            (Some(stored), Some(covered)) => stored == crc32c::crc32c(covered),
            _ => false,
        }
    }
}

/// Read a zig-zag varint (up to 10 bytes, as Kafka's varlong) at `*pos`.
fn read_varlong(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for i in 0..10u32 {
        let byte = *b.get(*pos)?;
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

/// Checks on a whole batch whose length is known to be right: CRC, codec,
/// counts.
fn check_whole_batch(
    header: BatchHeader,
    bytes: Bytes,
    position: usize,
) -> Result<RawBatch, BatchError> {
    let computed = crc32c::crc32c(bytes.get(ATTRIBUTES_POS..).unwrap_or(&[]));
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            base_offset: header.base_offset,
            position,
            stored: header.crc,
            computed,
        });
    }
    header.compression()?;
    if header.record_count < 0 || header.last_offset_delta < 0 {
        return Err(BatchError::BadCounts {
            base_offset: header.base_offset,
            position,
            record_count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(RawBatch { header, bytes })
}
