//! Record batch pass-through core: Kafka record batches (magic v2, the format
//! of KIP-98, Kafka 0.11+) handled as raw bytes, decompressed only when a
//! batch cannot be produced as it is (offset gaps left by log compaction).
//!
//! This module owns:
//! - splitting a partition's `records` field from a Fetch response into whole
//!   batches, zero-copy, verifying each batch's CRC-32C
//!   ([`split_batches`]);
//! - the `read_committed` rule of the Java consumer, at batch granularity
//!   ([`filter_committed`]);
//! - rewriting the writer fields (producer id, epoch, base sequence,
//!   transactional bit) for the destination's idempotent producer and
//!   recomputing the CRC ([`rewrite_for_producer`], [`build_produce_records`]);
//! - making a fetched batch acceptable to Apache Kafka as a producer batch:
//!   dropping empty batches, re-encoding batches with offset gaps, clearing
//!   the LogAppendTime bit ([`normalize_for_produce`], [`needs_reencode`]).
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

use std::collections::HashSet;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::Compression;

use super::decompress::{decompress, DecompressError, MAX_DECOMPRESSED_BATCH_BYTES};

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
/// [`split_batches`]).
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
/// [`split_batches`]). Every other field and the records section (bytes
/// 61.., still compressed) are copied unchanged from `batch.header` and
/// `batch.bytes`, so for a batch from [`split_batches`] everything from the
/// attributes onward other than those fields is byte-identical to the
/// source: codec, timestamp type, delete-horizon bit, timestamps, last
/// offset delta and record count included.
///
/// The caller must not forward batches Apache Kafka refuses from a client:
/// control batches (`is_control`), batches with
/// [`BatchHeader::has_offset_gaps`] and, on Kafka, batches with
/// [`BatchHeader::timestamp_type_log_append`] ([`normalize_for_produce`]
/// fixes the last two).
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
/// Call it on data batches (after [`filter_committed`], which drops control
/// batches) and before [`rewrite_for_producer`] / [`build_produce_records`].
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
/// CRC-32C ([`split_batches`] / [`RawBatch::parse`] accept it). After a
/// re-encode, its [`BatchHeader::last_offset`] / [`BatchHeader::next_offset`]
/// no longer describe the source log (`base_offset + n - 1` instead of the
/// source's last offset): take source positions (next fetch offset, offset
/// mapping) from the input's header, before calling this.
///
/// Errors (none retriable: the same bytes fail again):
/// - [`BatchError::BadCounts`] (`position` 0): negative counts, or more
///   records than offsets (`record_count > last_offset_delta + 1`);
/// - [`BatchError::UnknownCompression`]: codec id 5-7 (a batch from
///   [`split_batches`] / [`RawBatch::parse`] never has one);
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

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{bail, ensure, Context};
    use indexmap::IndexMap;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, PartitionData,
    };
    use kafka_protocol::messages::{FetchResponse, ProducerId, TopicName};
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use kafka_protocol::records::{
        Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use crate::kafka::records::decompress::CODECS;

    /// Writer of a batch: producer id, epoch, first sequence, transactional.
    #[derive(Clone, Copy)]
    struct Writer {
        pid: i64,
        epoch: i16,
        seq: i32,
        txn: bool,
    }
    const PLAIN: Writer = Writer {
        pid: -1,
        epoch: -1,
        seq: -1,
        txn: false,
    };
    fn txn(pid: i64, epoch: i16, seq: i32) -> Writer {
        Writer {
            pid,
            epoch,
            seq,
            txn: true,
        }
    }

    /// `n` records at offsets `base..base+n` with a mix of shapes: key and
    /// value with two headers, null key with a null-valued header, tombstone
    /// (null value), empty key and value.
    fn data_records(base: i64, n: usize, w: Writer, tag: &str) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let offset = base + i as i64;
                let mut headers = IndexMap::new();
                let (key, value) = match i % 4 {
                    0 => {
                        headers.insert(
                            StrBytes::from_string(format!("h-{tag}")),
                            Some(Bytes::from(format!("hv-{offset}"))),
                        );
                        headers.insert(StrBytes::from_static_str("trace"), Some(Bytes::new()));
                        (
                            Some(Bytes::from(format!("{tag}-k{offset}"))),
                            Some(Bytes::from(format!("{tag}-v{offset}").repeat(20))),
                        )
                    }
                    1 => {
                        headers.insert(StrBytes::from_static_str("null-header"), None);
                        (None, Some(Bytes::from(format!("{tag}-v{offset}"))))
                    }
                    2 => (Some(Bytes::from(format!("{tag}-k{offset}"))), None),
                    _ => {
                        headers.insert(StrBytes::from_static_str("x"), Some(Bytes::from("y")));
                        (Some(Bytes::new()), Some(Bytes::new()))
                    }
                };
                Record {
                    transactional: w.txn,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 7,
                    producer_id: w.pid,
                    producer_epoch: w.epoch,
                    timestamp_type: TimestampType::Creation,
                    offset,
                    sequence: w.seq.wrapping_add(i as i32),
                    timestamp: 1_700_000_000_000 + offset * 10 + (i as i64 % 3),
                    key,
                    value,
                    headers,
                }
            })
            .collect()
    }

    /// A transaction marker (Kafka `EndTransactionMarker`): key is
    /// version 0 + type (0 abort, 1 commit), value is version 0 + coordinator
    /// epoch (i32).
    fn marker_record(offset: i64, pid: i64, epoch: i16, kind: i16) -> Record {
        let mut key = BytesMut::new();
        key.put_i16(0);
        key.put_i16(kind);
        let mut value = BytesMut::new();
        value.put_i16(0);
        value.put_i32(12);
        Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: 7,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: 1_700_000_000_000 + offset * 10,
            key: Some(key.freeze()),
            value: Some(value.freeze()),
            headers: IndexMap::new(),
        }
    }

    /// Encode records that must form exactly one batch.
    fn encode(records: &[Record], compression: Compression) -> anyhow::Result<Bytes> {
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )?;
        let bytes = buf.freeze();
        let infos = RecordBatchDecoder::decode_batch_info(&mut bytes.clone())?;
        ensure!(
            infos.len() == 1,
            "test records made {} batches",
            infos.len()
        );
        Ok(bytes)
    }

    /// Apply `f` to a copy of the batch, then store a fresh CRC.
    fn patch_with_crc(bytes: &Bytes, f: impl FnOnce(&mut [u8])) -> Bytes {
        let mut v = bytes.to_vec();
        f(&mut v);
        let crc = crc32c::crc32c(&v[ATTRIBUTES_POS..]);
        v[CRC_POS..ATTRIBUTES_POS].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(v)
    }

    fn concat(parts: &[Bytes]) -> Bytes {
        let mut all = BytesMut::new();
        for p in parts {
            all.extend_from_slice(p);
        }
        all.freeze()
    }

    /// A partition log under construction: batches at increasing offsets.
    struct Log {
        next: i64,
        parts: Vec<Bytes>,
        /// Records of each data batch, by base offset.
        records: Vec<(i64, Vec<Record>)>,
    }

    impl Log {
        fn new(start: i64) -> Self {
            Log {
                next: start,
                parts: Vec::new(),
                records: Vec::new(),
            }
        }
        fn data(&mut self, n: usize, w: Writer, c: Compression) -> anyhow::Result<i64> {
            let base = self.next;
            let recs = data_records(base, n, w, &format!("p{}", w.pid));
            self.parts.push(encode(&recs, c)?);
            self.records.push((base, recs));
            self.next += n as i64;
            Ok(base)
        }
        fn marker(&mut self, pid: i64, epoch: i16, commit: bool) -> anyhow::Result<i64> {
            let base = self.next;
            let rec = marker_record(base, pid, epoch, i16::from(commit));
            self.parts.push(encode(&[rec], Compression::None)?);
            self.next += 1;
            Ok(base)
        }
        fn bytes(&self) -> Bytes {
            concat(&self.parts)
        }
        fn batches(&self) -> anyhow::Result<Vec<RawBatch>> {
            let split = split_batches(&self.bytes())?;
            ensure!(split.partial_trailing_bytes == 0);
            Ok(split.batches)
        }
        fn records_at(&self, base: i64) -> anyhow::Result<&[Record]> {
            self.records
                .iter()
                .find(|(b, _)| *b == base)
                .map(|(_, r)| r.as_slice())
                .context("no data batch at that offset")
        }
    }

    fn bases(batches: &[RawBatch]) -> Vec<i64> {
        batches.iter().map(|b| b.header.base_offset).collect()
    }

    /// Compare what a consumer sees: key, value, headers, timestamp, offset
    /// relative to the batch's base offset.
    fn assert_same_records(got: &[Record], want: &[Record], want_base: i64) -> anyhow::Result<()> {
        ensure!(
            got.len() == want.len(),
            "{} records, want {}",
            got.len(),
            want.len()
        );
        let got_base = got.first().map(|r| r.offset).unwrap_or(0);
        for (g, w) in got.iter().zip(want) {
            ensure!(g.key == w.key, "key {:?} != {:?}", g.key, w.key);
            ensure!(g.value == w.value, "value differs at offset {}", w.offset);
            ensure!(
                g.headers == w.headers,
                "headers differ at offset {}",
                w.offset
            );
            ensure!(
                g.timestamp == w.timestamp,
                "timestamp differs at offset {}",
                w.offset
            );
            ensure!(
                g.offset - got_base == w.offset - want_base,
                "relative offset {} != {}",
                g.offset - got_base,
                w.offset - want_base
            );
        }
        Ok(())
    }

    #[test]
    fn split_round_trip_every_codec_zero_copy() -> anyhow::Result<()> {
        for codec in CODECS {
            let mut log = Log::new(100);
            log.data(5, PLAIN, codec)?;
            log.data(
                3,
                Writer {
                    pid: 42,
                    epoch: 2,
                    seq: 17,
                    txn: false,
                },
                codec,
            )?;
            log.data(4, txn(43, 1, 0), codec)?;
            log.marker(43, 1, true)?;
            let all = log.bytes();
            let split = split_batches(&all)?;
            ensure!(split.partial_trailing_bytes == 0 && split.partial_base_offset.is_none());
            ensure!(
                split.batches.len() == 4,
                "{codec:?}: {} batches",
                split.batches.len()
            );

            let infos = RecordBatchDecoder::decode_batch_info(&mut all.clone())?;
            let mut pos = 0usize;
            for (i, (b, info)) in split.batches.iter().zip(&infos).enumerate() {
                // Zero-copy: each batch is a view into the fetched buffer.
                ensure!(
                    b.bytes.as_ptr() == all[pos..].as_ptr(),
                    "{codec:?} batch {i} was copied"
                );
                ensure!(b.bytes[..] == log.parts[i][..]);
                ensure!(b.bytes.len() == LOG_OVERHEAD + b.header.batch_length as usize);
                pos += b.bytes.len();
                // Header fields agree with kafka-protocol's decoding.
                let h = b.header;
                ensure!(h.base_offset == info.min_offset);
                ensure!(h.record_count == info.record_count);
                ensure!(h.producer_id == info.producer_id);
                ensure!(h.producer_epoch == info.producer_epoch);
                ensure!(h.base_sequence == info.base_sequence);
                ensure!(h.partition_leader_epoch == info.partition_leader_epoch);
                ensure!(h.is_transactional() == info.transactional);
                ensure!(h.is_control() == info.control);
                ensure!(h.base_timestamp == info.min_timestamp);
                ensure!(h.magic == MAGIC_V2);
                ensure!(!h.timestamp_type_log_append() && !h.has_delete_horizon());
                ensure!(!h.has_offset_gaps());
                ensure!(b.crc_is_valid());
                let expected_codec = if h.is_control() {
                    Compression::None
                } else {
                    codec
                };
                ensure!(h.compression()? == expected_codec);
                // Records section is a view too.
                ensure!(b.records_section().as_ptr() == b.bytes[BATCH_HEADER_SIZE..].as_ptr());
            }
            ensure!(pos == all.len());
            // Offsets chain: each batch starts at the previous next_offset.
            let h: Vec<_> = split.batches.iter().map(|b| b.header).collect();
            ensure!(h[0].last_offset() == 104 && h[0].next_offset() == 105);
            ensure!(h[1].base_offset == 105 && h[2].base_offset == 108 && h[3].base_offset == 112);
            ensure!(h[1].base_sequence == 17 && h[3].base_sequence == -1);
            // The data decodes back to the records that were encoded.
            for b in &split.batches[..3] {
                let set = RecordBatchDecoder::decode(&mut b.bytes.clone())?;
                let base = b.header.base_offset;
                assert_same_records(&set.records, log.records_at(base)?, base)?;
            }
            ensure!(split.batches[3].control_type() == Some(ControlRecordType::Commit));
            ensure!(split.batches[2].control_type().is_none());
        }
        Ok(())
    }

    #[test]
    fn empty_records_give_no_batches() -> anyhow::Result<()> {
        let split = split_batches(&Bytes::new())?;
        ensure!(split.batches.is_empty() && split.partial_trailing_bytes == 0);
        Ok(())
    }

    #[test]
    fn partial_trailing_batch_is_left_out_and_reported() -> anyhow::Result<()> {
        let mut log = Log::new(0);
        log.data(3, PLAIN, Compression::None)?;
        log.data(3, PLAIN, Compression::Zstd)?;
        let third = log.data(6, PLAIN, Compression::Gzip)?;
        let all = log.bytes();
        let last_len = log.parts[2].len();
        let whole = all.len() - last_len;
        for cut in [1, 7, 8, 11, 12, 16, 17, 40, 61, last_len - 1] {
            let fetched = all.slice(..whole + cut);
            let split = split_batches(&fetched)?;
            ensure!(
                split.batches.len() == 2,
                "cut {cut}: {} batches",
                split.batches.len()
            );
            ensure!(split.partial_trailing_bytes == cut, "cut {cut}");
            let want_base = (cut >= 8).then_some(third);
            ensure!(split.partial_base_offset == want_base, "cut {cut}");
            let want_size = (cut >= 12).then_some(last_len);
            ensure!(split.partial_batch_size == want_size, "cut {cut}");
            ensure!(split.batches[1].header.next_offset() == third);
        }
        // Only a partial batch: nothing whole, and the needed size is known.
        let split = split_batches(&log.parts[0].slice(..30))?;
        ensure!(split.batches.is_empty() && split.partial_trailing_bytes == 30);
        ensure!(split.partial_batch_size == Some(log.parts[0].len()));
        Ok(())
    }

    #[test]
    fn crc_mismatch_is_detected_on_a_flipped_byte() -> anyhow::Result<()> {
        let mut log = Log::new(500);
        log.data(2, PLAIN, Compression::None)?;
        let second = log.data(4, PLAIN, Compression::Lz4)?;
        let first_len = log.parts[0].len();
        let all = log.bytes();
        // Flip a byte in the compressed records, then one in the attributes.
        for at in [
            all.len() - 3,
            first_len + ATTRIBUTES_POS + 1,
            first_len + 40,
        ] {
            let mut v = all.to_vec();
            v[at] ^= 0x01;
            let err = split_batches(&Bytes::from(v))
                .err()
                .context("corruption not detected")?;
            match &err {
                BatchError::CrcMismatch {
                    base_offset,
                    position,
                    stored,
                    computed,
                } => {
                    ensure!(*base_offset == second && *position == first_len);
                    ensure!(stored != computed);
                }
                other => bail!("unexpected error {other:?}"),
            }
            ensure!(!err.is_retriable());
            ensure!(err.base_offset() == Some(second));
            ensure!(err.to_string().contains("offset 502"), "{err}");
        }
        // The partition leader epoch is outside the CRC (the broker rewrites
        // it), so a change there is not an error.
        let mut v = all.to_vec();
        v[first_len + 13] ^= 0xff;
        ensure!(split_batches(&Bytes::from(v))?.batches.len() == 2);
        Ok(())
    }

    #[test]
    fn old_and_unknown_magic_are_refused() -> anyhow::Result<()> {
        let batch = encode(&data_records(9, 2, PLAIN, "m"), Compression::None)?;
        for (magic, want_unsupported) in [(0u8, true), (1, true), (3, false)] {
            let mut v = batch.to_vec();
            v[MAGIC_POS] = magic;
            let whole = Bytes::from(v);
            for input in [whole.clone(), whole.slice(..20)] {
                match split_batches(&input) {
                    Err(BatchError::UnsupportedMagic {
                        base_offset: 9,
                        magic: m,
                        ..
                    }) if want_unsupported && m == magic as i8 => {}
                    Err(BatchError::UnknownMagic { base_offset: 9, .. }) if !want_unsupported => {}
                    other => bail!("magic {magic}: {other:?}"),
                }
            }
            ensure!(matches!(
                RawBatch::parse(whole),
                Err(BatchError::UnsupportedMagic { .. } | BatchError::UnknownMagic { .. })
            ));
        }
        Ok(())
    }

    #[test]
    fn malformed_lengths_codecs_and_counts_are_refused() -> anyhow::Result<()> {
        let batch = encode(&data_records(3, 2, PLAIN, "l"), Compression::None)?;
        for bad_len in [-5i32, 0, 48] {
            let mut v = batch.to_vec();
            v[8..12].copy_from_slice(&bad_len.to_be_bytes());
            let err = split_batches(&Bytes::from(v))
                .err()
                .context("bad length accepted")?;
            ensure!(
                matches!(err, BatchError::BadBatchLength { base_offset: 3, batch_length, .. } if batch_length == bad_len),
                "{err:?}"
            );
        }
        let codec5 = patch_with_crc(&batch, |v| v[22] |= 0x05);
        ensure!(matches!(
            split_batches(&codec5),
            Err(BatchError::UnknownCompression {
                base_offset: 3,
                codec: 5
            })
        ));
        let negative = patch_with_crc(&batch, |v| {
            v[57..61].copy_from_slice(&(-1i32).to_be_bytes())
        });
        ensure!(matches!(
            split_batches(&negative),
            Err(BatchError::BadCounts { .. })
        ));

        // RawBatch::parse wants exactly one whole batch.
        let ok = RawBatch::parse(batch.clone())?;
        ensure!(ok.header.record_count == 2);
        let mut longer = batch.to_vec();
        longer.push(0);
        ensure!(matches!(
            RawBatch::parse(Bytes::from(longer)),
            Err(BatchError::LengthMismatch { base_offset: 3, .. })
        ));
        ensure!(matches!(
            RawBatch::parse(batch.slice(..10)),
            Err(BatchError::TruncatedHeader {
                base_offset: Some(3),
                available: 10
            })
        ));
        let err = BatchHeader::parse(&batch[..5])
            .err()
            .context("accepted 5 bytes")?;
        ensure!(err.base_offset().is_none() && err.to_string().contains("(unknown)"));
        Ok(())
    }

    #[test]
    fn rewrite_sets_writer_fields_and_keeps_the_rest_byte_identical() -> anyhow::Result<()> {
        for codec in CODECS {
            let recs = data_records(1000, 9, txn(77, 3, 10), "rw");
            let src_bytes = encode(&recs, codec)?;
            let src = RawBatch::parse(src_bytes.clone())?;
            ensure!(src.header.is_transactional());

            let out = rewrite_for_producer(&src, 5, 1, 42);
            let dst = RawBatch::parse(out.clone()).context("rewritten batch invalid")?;
            let h = dst.header;
            ensure!(h.base_offset == 0 && h.partition_leader_epoch == -1);
            ensure!(h.producer_id == 5 && h.producer_epoch == 1 && h.base_sequence == 42);
            ensure!(!h.is_transactional() && !h.is_control());
            ensure!(h.compression()? == codec);
            ensure!(h.attributes == src.header.attributes & !(1 << 4));
            ensure!(h.batch_length == src.header.batch_length && out.len() == src_bytes.len());
            ensure!(dst.crc_is_valid());
            // last offset delta, timestamps: identical bytes.
            ensure!(out[23..43] == src_bytes[23..43]);
            // record count and the (compressed) records: identical bytes.
            ensure!(
                out[57..] == src_bytes[57..],
                "{codec:?}: records section changed"
            );
            // The source batch is untouched.
            ensure!(src.bytes == src_bytes);

            let set = RecordBatchDecoder::decode(&mut out.clone())?;
            ensure!(set.compression == codec);
            assert_same_records(&set.records, &recs, 1000)?;
            for (i, r) in set.records.iter().enumerate() {
                ensure!(r.producer_id == 5 && r.producer_epoch == 1 && !r.transactional);
                ensure!(r.sequence == 42 + i as i32 && r.offset == i as i64);
            }
        }
        Ok(())
    }

    #[test]
    fn rewrite_keeps_timestamp_type_and_delete_horizon_bits() -> anyhow::Result<()> {
        let mut recs = data_records(0, 3, PLAIN, "ts");
        for r in &mut recs {
            r.delete_horizon = true;
        }
        let src = encode(&recs, Compression::Snappy)?;
        let src = RawBatch::parse(patch_with_crc(&src, |v| v[22] |= 1 << 3))?;
        ensure!(src.header.timestamp_type_log_append() && src.header.has_delete_horizon());
        let out = RawBatch::parse(rewrite_for_producer(&src, 1, 0, 0))?;
        ensure!(out.header.timestamp_type_log_append() && out.header.has_delete_horizon());
        ensure!(out.header.compression()? == Compression::Snappy);
        Ok(())
    }

    #[test]
    fn offset_gaps_are_detected() -> anyhow::Result<()> {
        // A compacted batch: offsets 10, 12, 15 (record_count 3, delta 5).
        let mut recs = data_records(10, 3, PLAIN, "gap");
        for (r, off) in recs.iter_mut().zip([10i64, 12, 15]) {
            r.offset = off;
            r.sequence = (off - 11) as i32; // keep offset - sequence constant: one batch
        }
        let gappy = RawBatch::parse(encode(&recs, Compression::None)?)?;
        ensure!(gappy.header.record_count == 3 && gappy.header.last_offset_delta == 5);
        ensure!(gappy.header.has_offset_gaps() && gappy.header.next_offset() == 16);
        let dense = RawBatch::parse(encode(&data_records(10, 3, PLAIN, "d"), Compression::None)?)?;
        ensure!(!dense.header.has_offset_gaps());
        Ok(())
    }

    #[test]
    fn produce_records_get_consecutive_sequences_with_wrap() -> anyhow::Result<()> {
        ensure!(increment_sequence(5, 3) == 8);
        ensure!(increment_sequence(i32::MAX, 1) == 0);
        ensure!(increment_sequence(i32::MAX - 1, 3) == 1);
        ensure!(increment_sequence(i32::MAX - 2, 2) == i32::MAX);
        ensure!(increment_sequence(7, -4) == 7);

        let mut log = Log::new(0);
        log.data(3, txn(8, 0, 0), Compression::Zstd)?;
        log.data(2, PLAIN, Compression::None)?;
        log.data(4, txn(8, 0, 3), Compression::Gzip)?;
        let batches = log.batches()?;
        let (blob, next) = build_produce_records(&batches, 900, 4, i32::MAX - 1);
        ensure!(next == 7, "next sequence {next}");
        let out = split_batches(&blob)?;
        ensure!(out.partial_trailing_bytes == 0 && out.batches.len() == 3);
        let seqs: Vec<i32> = out.batches.iter().map(|b| b.header.base_sequence).collect();
        ensure!(seqs == vec![i32::MAX - 1, 1, 3], "{seqs:?}");
        for (o, s) in out.batches.iter().zip(&batches) {
            ensure!(o.header.producer_id == 900 && o.header.producer_epoch == 4);
            ensure!(!o.header.is_transactional() && o.header.base_offset == 0);
            ensure!(o.bytes[BATCH_HEADER_SIZE..] == s.bytes[BATCH_HEADER_SIZE..]);
            ensure!(o.bytes == rewrite_for_producer(s, 900, 4, o.header.base_sequence));
        }
        let (empty, same) = build_produce_records(&[], 1, 1, 5);
        ensure!(empty.is_empty() && same == 5);
        Ok(())
    }

    #[test]
    fn control_type_reads_the_marker() -> anyhow::Result<()> {
        let abort = RawBatch::parse(encode(&[marker_record(4, 1, 0, 0)], Compression::None)?)?;
        let commit = RawBatch::parse(encode(&[marker_record(4, 1, 0, 1)], Compression::None)?)?;
        let other = RawBatch::parse(encode(&[marker_record(4, 1, 0, 3)], Compression::None)?)?;
        let zipped = RawBatch::parse(encode(&[marker_record(4, 1, 0, 0)], Compression::Gzip)?)?;
        ensure!(abort.control_type() == Some(ControlRecordType::Abort));
        ensure!(commit.control_type() == Some(ControlRecordType::Commit));
        ensure!(other.control_type() == Some(ControlRecordType::Other(3)));
        ensure!(zipped.control_type() == Some(ControlRecordType::Unreadable));
        // A key of 2 bytes cannot be a marker key.
        let mut short = marker_record(4, 1, 0, 0);
        short.key = Some(Bytes::from_static(&[0, 0]));
        let short = RawBatch::parse(encode(&[short], Compression::None)?)?;
        ensure!(short.control_type() == Some(ControlRecordType::Unreadable));
        Ok(())
    }

    #[test]
    fn committed_transaction_is_kept_and_marker_dropped() -> anyhow::Result<()> {
        let mut log = Log::new(0);
        let a = log.data(3, txn(1, 0, 0), Compression::None)?;
        let b = log.data(2, txn(1, 0, 3), Compression::Lz4)?;
        log.marker(1, 0, true)?;
        let out = filter_committed(log.batches()?, &[], 0);
        ensure!(bases(&out.keep) == vec![a, b]);
        ensure!(out.skipped_control == 1 && out.skipped_aborted == 0);
        ensure!(out.next_fetch_offset == 6 && !out.first_batch_straddles);
        Ok(())
    }

    #[test]
    fn aborted_transaction_data_and_markers_are_dropped() -> anyhow::Result<()> {
        let mut log = Log::new(20);
        let first = log.data(3, txn(1, 0, 0), Compression::Gzip)?;
        log.data(1, txn(1, 0, 3), Compression::Gzip)?;
        log.marker(1, 0, false)?;
        let aborted = [AbortedTxn {
            producer_id: 1,
            first_offset: first,
        }];
        let out = filter_committed(log.batches()?, &aborted, 20);
        ensure!(out.keep.is_empty());
        ensure!(out.skipped_aborted == 2 && out.skipped_control == 1);
        ensure!(out.next_fetch_offset == 25);
        Ok(())
    }

    #[test]
    fn interleaved_producers_one_aborted_one_committed() -> anyhow::Result<()> {
        let mut log = Log::new(0);
        log.data(2, txn(1, 0, 0), Compression::None)?; // 0-1 P1 (aborted)
        let p2a = log.data(2, txn(2, 5, 0), Compression::Zstd)?; // 2-3 P2
        log.data(2, txn(1, 0, 2), Compression::None)?; // 4-5 P1 (aborted)
        let plain = log.data(1, PLAIN, Compression::Snappy)?; // 6
        let p2b = log.data(1, txn(2, 5, 2), Compression::Zstd)?; // 7 P2
        log.marker(1, 0, false)?; // 8 abort P1
        log.marker(2, 5, true)?; // 9 commit P2
        let p1c = log.data(2, txn(1, 0, 4), Compression::None)?; // 10-11 P1, new txn
        log.marker(1, 0, true)?; // 12 commit P1
                                 // Given out of order on purpose: the rule sorts by first offset.
        let aborted = [
            AbortedTxn {
                producer_id: 3,
                first_offset: 100,
            },
            AbortedTxn {
                producer_id: 1,
                first_offset: 0,
            },
        ];
        let out = filter_committed(log.batches()?, &aborted, 0);
        ensure!(
            bases(&out.keep) == vec![p2a, plain, p2b, p1c],
            "{:?}",
            bases(&out.keep)
        );
        ensure!(out.skipped_aborted == 2 && out.skipped_control == 3);
        ensure!(out.next_fetch_offset == 13 && out.unreadable_control == 0);
        Ok(())
    }

    #[test]
    fn aborted_transaction_spanning_two_fetches() -> anyhow::Result<()> {
        // P1's transaction began at offset 5, in an earlier fetch; this fetch
        // starts at 10. The broker lists the transaction (it overlaps the
        // fetched range) with its first offset below the fetch offset.
        let mut log = Log::new(10);
        log.data(2, txn(1, 0, 5), Compression::Lz4)?; // 10-11 P1 (aborted)
        let other = log.data(2, txn(2, 0, 0), Compression::Lz4)?; // 12-13 P2
        log.marker(1, 0, false)?; // 14
        let later = log.data(1, txn(1, 0, 7), Compression::None)?; // 15 P1 next txn
        log.marker(2, 0, true)?; // 16
        let aborted = [AbortedTxn {
            producer_id: 1,
            first_offset: 5,
        }];
        let out = filter_committed(log.batches()?, &aborted, 10);
        ensure!(
            bases(&out.keep) == vec![other, later],
            "{:?}",
            bases(&out.keep)
        );
        ensure!(out.skipped_aborted == 1 && out.skipped_control == 2);
        ensure!(out.next_fetch_offset == 17);
        Ok(())
    }

    #[test]
    fn non_transactional_batches_are_always_kept() -> anyhow::Result<()> {
        let mut log = Log::new(0);
        let a = log.data(2, PLAIN, Compression::None)?;
        // Idempotent, not transactional, same producer id as an aborted txn.
        let idem = Writer {
            pid: 1,
            epoch: 0,
            seq: 0,
            txn: false,
        };
        let b = log.data(2, idem, Compression::Gzip)?;
        let c = log.data(3, PLAIN, Compression::Zstd)?;
        let aborted = [AbortedTxn {
            producer_id: 1,
            first_offset: 0,
        }];
        let out = filter_committed(log.batches()?, &aborted, 0);
        ensure!(bases(&out.keep) == vec![a, b, c]);
        ensure!(out.skipped_aborted == 0 && out.skipped_control == 0);
        ensure!(out.next_fetch_offset == 7);
        Ok(())
    }

    #[test]
    fn batches_below_fetch_offset_and_straddling_batch() -> anyhow::Result<()> {
        let mut log = Log::new(0);
        log.data(5, PLAIN, Compression::None)?; // 0-4
        let second = log.data(5, PLAIN, Compression::None)?; // 5-9
        let third = log.data(2, PLAIN, Compression::None)?; // 10-11

        let out = filter_committed(log.batches()?, &[], 5);
        ensure!(bases(&out.keep) == vec![second, third] && !out.first_batch_straddles);
        ensure!(out.skipped_before_fetch_offset == 1);
        ensure!(out.skipped_control == 0 && out.skipped_aborted == 0);

        let out = filter_committed(log.batches()?, &[], 7);
        ensure!(bases(&out.keep) == vec![second, third] && out.first_batch_straddles);
        ensure!(out.next_fetch_offset == 12);

        // Everything below: nothing kept, the fetch offset does not go back.
        let out = filter_committed(log.batches()?, &[], 40);
        ensure!(out.keep.is_empty() && out.next_fetch_offset == 40);
        ensure!(out.skipped_before_fetch_offset == 3);

        // No batch at all.
        let out = filter_committed(Vec::new(), &[], 77);
        ensure!(out.keep.is_empty() && out.next_fetch_offset == 77);
        Ok(())
    }

    #[test]
    fn markers_below_fetch_offset_still_close_aborted_ranges() -> anyhow::Result<()> {
        // The fetch returned from offset 0 although 3 was asked: P1's abort
        // marker at 2 is below the fetch offset but still ends its range, so
        // P1's next (committed) transaction at 3 is kept.
        let mut log = Log::new(0);
        log.data(2, txn(1, 0, 0), Compression::None)?; // 0-1
        log.marker(1, 0, false)?; // 2
        let kept = log.data(2, txn(1, 0, 2), Compression::None)?; // 3-4
        log.marker(1, 0, true)?; // 5
        let aborted = [AbortedTxn {
            producer_id: 1,
            first_offset: 0,
        }];
        let out = filter_committed(log.batches()?, &aborted, 3);
        ensure!(bases(&out.keep) == vec![kept]);
        ensure!(out.skipped_before_fetch_offset == 2 && out.skipped_control == 1);
        ensure!(out.skipped_aborted == 0 && out.next_fetch_offset == 6);
        Ok(())
    }

    #[test]
    fn unreadable_marker_ends_the_aborted_range() -> anyhow::Result<()> {
        let mut log = Log::new(0);
        log.data(1, txn(1, 0, 0), Compression::None)?; // 0 aborted
        log.parts
            .push(encode(&[marker_record(1, 1, 0, 0)], Compression::Gzip)?); // 1
        log.next = 2;
        let kept = log.data(1, txn(1, 0, 1), Compression::None)?; // 2
        let aborted = [AbortedTxn {
            producer_id: 1,
            first_offset: 0,
        }];
        let out = filter_committed(log.batches()?, &aborted, 0);
        ensure!(bases(&out.keep) == vec![kept]);
        ensure!(out.unreadable_control == 1 && out.skipped_control == 1);
        ensure!(out.skipped_aborted == 1);
        Ok(())
    }

    /// Whole path on a Fetch response (v12) holding transactional batches of
    /// two producers, control batches and an aborted-transactions list:
    /// encode, decode, split, filter, build the Produce records, decode them
    /// and check exactly the committed records remain, in order.
    ///
    /// The test broker (nisshi) has no transactions, so this path is covered
    /// with constructed protocol bytes.
    #[test]
    fn fetch_response_with_transactions_end_to_end() -> anyhow::Result<()> {
        let mut log = Log::new(0);
        let c1 = log.data(3, txn(1001, 2, 0), Compression::Gzip)?;
        let a1 = log.data(2, txn(2002, 0, 0), Compression::Zstd)?;
        let c2 = log.data(2, txn(1001, 2, 3), Compression::Snappy)?;
        let p1 = log.data(4, PLAIN, Compression::Lz4)?;
        log.data(3, txn(2002, 0, 2), Compression::None)?;
        log.marker(1001, 2, true)?;
        log.marker(2002, 0, false)?;
        let c3 = log.data(5, txn(2002, 0, 5), Compression::Zstd)?;
        log.marker(2002, 0, true)?;
        let end = log.next;
        let committed = [c1, c2, p1, c3];

        let records = log.bytes();
        let cut = records.slice(..records.len() - 20);
        let partition = |index: i32, records: Bytes| {
            PartitionData::default()
                .with_partition_index(index)
                .with_high_watermark(end)
                .with_last_stable_offset(end)
                .with_log_start_offset(0)
                .with_aborted_transactions(Some(vec![AbortedTransaction::default()
                    .with_producer_id(ProducerId(2002))
                    .with_first_offset(a1)]))
                .with_records(Some(records))
        };
        let response =
            FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![partition(0, records.clone()), partition(1, cut)])]);
        let mut wire = BytesMut::new();
        response.encode(&mut wire, 12)?;
        let mut wire = wire.freeze();
        let decoded = FetchResponse::decode(&mut wire, 12)?;

        let topic = decoded.responses.first().context("no topic")?;
        let part = topic.partitions.first().context("no partition")?;
        let fetched = part.records.clone().context("no records")?;
        ensure!(fetched == records);
        let aborted: Vec<AbortedTxn> = part
            .aborted_transactions
            .iter()
            .flatten()
            .map(AbortedTxn::from)
            .collect();
        ensure!(
            aborted
                == vec![AbortedTxn {
                    producer_id: 2002,
                    first_offset: a1
                }]
        );

        let split = split_batches(&fetched)?;
        ensure!(split.partial_trailing_bytes == 0 && split.batches.len() == 9);
        let filtered = filter_committed(split.batches, &aborted, 0);
        ensure!(
            bases(&filtered.keep) == committed.to_vec(),
            "{:?}",
            bases(&filtered.keep)
        );
        ensure!(filtered.skipped_aborted == 2 && filtered.skipped_control == 3);
        ensure!(filtered.next_fetch_offset == end);

        let (blob, next_seq) = build_produce_records(&filtered.keep, 31, 7, 0);
        let mut want: Vec<Record> = Vec::new();
        for base in committed {
            want.extend_from_slice(log.records_at(base)?);
        }
        ensure!(next_seq == want.len() as i32);
        let sets = RecordBatchDecoder::decode_all(&mut blob.clone())?;
        ensure!(sets.len() == committed.len());
        let codecs: Vec<Compression> = sets.iter().map(|s| s.compression).collect();
        ensure!(
            codecs
                == vec![
                    Compression::Gzip,
                    Compression::Snappy,
                    Compression::Lz4,
                    Compression::Zstd
                ]
        );
        let got: Vec<Record> = sets.into_iter().flat_map(|s| s.records).collect();
        ensure!(
            got.len() == want.len(),
            "{} records, want {}",
            got.len(),
            want.len()
        );
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            ensure!(g.key == w.key && g.value == w.value, "record {i} differs");
            ensure!(
                g.headers == w.headers && g.timestamp == w.timestamp,
                "record {i} differs"
            );
            ensure!(
                g.producer_id == 31 && g.producer_epoch == 7,
                "record {i} writer"
            );
            ensure!(!g.transactional && !g.control, "record {i} flags");
            ensure!(g.sequence == i as i32, "record {i} sequence {}", g.sequence);
        }

        // The second partition was cut at max_bytes: its last batch is left
        // out and reported, the rest is usable.
        let cut_part = topic.partitions.get(1).context("no second partition")?;
        let cut_records = cut_part.records.clone().context("no records")?;
        let split = split_batches(&cut_records)?;
        ensure!(split.batches.len() == 8 && split.partial_trailing_bytes > 0);
        let last_marker = log.next - 1;
        ensure!(split.partial_base_offset == Some(last_marker));
        Ok(())
    }

    /// A batch as left by log compaction: records at offsets 10, 12 and 15
    /// (record count 3, last offset delta 5), written by producer 42 epoch 3
    /// from sequence 100, transactional. Record 1's timestamp is the
    /// smallest (base timestamp != first record's).
    fn gappy_records() -> Vec<Record> {
        let mut recs = data_records(10, 3, txn(42, 3, 100), "gap");
        for (r, off) in recs.iter_mut().zip([10i64, 12, 15]) {
            r.offset = off;
            // offset - sequence constant, so the encoder makes one batch.
            r.sequence = 100 + (off - 10) as i32;
        }
        recs[1].timestamp = 1_600_000_000_000;
        recs
    }

    fn gappy_batch(codec: Compression) -> anyhow::Result<RawBatch> {
        let b = RawBatch::parse(encode(&gappy_records(), codec)?)?;
        ensure!(b.header.record_count == 3 && b.header.last_offset_delta == 5);
        ensure!(b.header.has_offset_gaps() && needs_reencode(&b.header));
        Ok(b)
    }

    /// Checks shared by every re-encoded gappy batch; returns its records.
    fn check_reencoded(
        out: &RawBatch,
        src: &RawBatch,
        codec: Compression,
    ) -> anyhow::Result<Vec<Record>> {
        let h = out.header;
        ensure!(!h.has_offset_gaps() && !needs_reencode(&h));
        ensure!(h.record_count == 3 && h.last_offset_delta == 2);
        ensure!(h.compression()? == codec, "{codec:?}: codec changed");
        ensure!(h.base_offset == src.header.base_offset);
        ensure!(h.partition_leader_epoch == src.header.partition_leader_epoch);
        ensure!(h.producer_id == 42 && h.producer_epoch == 3 && h.base_sequence == 100);
        ensure!(h.is_transactional() && !h.is_control());
        ensure!(!h.timestamp_type_log_append() && !h.has_delete_horizon());
        ensure!(
            h.base_timestamp == 1_600_000_000_000,
            "{}",
            h.base_timestamp
        );
        let max = gappy_records().iter().map(|r| r.timestamp).max();
        ensure!(
            Some(h.max_timestamp) == max,
            "max timestamp {}",
            h.max_timestamp
        );
        ensure!(out.crc_is_valid());
        // A valid batch for the splitter, and the header matches the bytes.
        let split = split_batches(&out.bytes)?;
        ensure!(split.batches.len() == 1 && split.partial_trailing_bytes == 0);
        ensure!(split.batches[0].header == h);
        ensure!(out.bytes.len() == LOG_OVERHEAD + h.batch_length as usize);

        let set = RecordBatchDecoder::decode(&mut out.bytes.clone())?;
        ensure!(set.compression == codec);
        let want = gappy_records();
        ensure!(set.records.len() == want.len());
        for (i, (g, w)) in set.records.iter().zip(&want).enumerate() {
            ensure!(g.key == w.key && g.value == w.value, "{codec:?} record {i}");
            ensure!(g.headers == w.headers, "{codec:?} record {i} headers");
            ensure!(g.timestamp == w.timestamp, "{codec:?} record {i} timestamp");
            ensure!(g.timestamp_type == TimestampType::Creation);
            ensure!(g.offset == 10 + i as i64, "offset {}", g.offset);
            ensure!(g.sequence == 100 + i as i32 && g.producer_id == 42);
        }
        Ok(set.records)
    }

    #[test]
    fn normalize_reencodes_offset_gaps_with_the_same_codec() -> anyhow::Result<()> {
        for codec in CODECS {
            let src = gappy_batch(codec)?;
            let src_bytes = src.bytes.clone();
            let out = normalize_for_produce(src.clone())?.context("batch dropped")?;
            check_reencoded(&out, &src, codec)?;
            ensure!(src.bytes == src_bytes, "source batch modified");

            // What the committer then sends is accepted by the splitter and
            // consumes exactly 3 sequences.
            let (blob, next) = build_produce_records(&[out], 7, 1, 50);
            ensure!(next == 53);
            let sent = split_batches(&blob)?;
            ensure!(sent.batches.len() == 1 && !sent.batches[0].header.has_offset_gaps());
        }
        Ok(())
    }

    #[test]
    fn normalize_runs_keeps_source_offsets_one_batch_per_run() -> anyhow::Result<()> {
        for codec in CODECS {
            // Offsets 10, 12, 15: three runs of one record each.
            let src = gappy_batch(codec)?;
            let out = normalize_for_produce_runs(src.clone())?;
            ensure!(out.len() == 3, "{codec:?}: {} batches", out.len());
            for (b, base) in out.iter().zip([10i64, 12, 15]) {
                ensure!(b.header.base_offset == base && b.header.record_count == 1);
                ensure!(!b.header.has_offset_gaps());
                ensure!(b.header.compression()? == codec);
            }
            // A batch without gaps passes as it is.
            let plain = RawBatch::parse(encode(&data_records(20, 3, txn(9, 1, 0), "p"), codec)?)?;
            let same = normalize_for_produce_runs(plain.clone())?;
            ensure!(same.len() == 1 && same[0].bytes == plain.bytes);
            // Runs of several records keep their order and contents.
            let mut recs = data_records(30, 5, txn(9, 1, 0), "r");
            for (r, off) in recs.iter_mut().zip([30i64, 31, 33, 34, 35]) {
                r.offset = off;
                r.sequence = (off - 30) as i32;
            }
            let gappy = RawBatch::parse(encode(&recs, codec)?)?;
            let runs = normalize_for_produce_runs(gappy)?;
            let layout: Vec<(i64, i32)> = runs
                .iter()
                .map(|b| (b.header.base_offset, b.header.record_count))
                .collect();
            ensure!(layout == [(30, 2), (33, 3)], "{codec:?}: {layout:?}");
        }
        Ok(())
    }

    #[test]
    fn normalize_gappy_batch_clears_log_append_time_and_delete_horizon() -> anyhow::Result<()> {
        for codec in [Compression::None, Compression::Zstd] {
            let mut recs = gappy_records();
            for r in &mut recs {
                r.delete_horizon = true;
            }
            let append_time = 1_800_000_000_000i64;
            let bytes = patch_with_crc(&encode(&recs, codec)?, |v| {
                v[22] |= 1 << 3;
                v[35..43].copy_from_slice(&append_time.to_be_bytes());
            });
            let src = RawBatch::parse(bytes)?;
            ensure!(src.header.timestamp_type_log_append() && src.header.has_delete_horizon());
            ensure!(needs_reencode(&src.header));
            let out = normalize_for_produce(src.clone())?.context("batch dropped")?;
            // check_reencoded asserts both bits are clear, the timestamps are
            // the records' CreateTime values and the max timestamp is the
            // largest of them, not the append time.
            check_reencoded(&out, &src, codec)?;
        }
        Ok(())
    }

    #[test]
    fn normalize_clears_log_append_time_and_keeps_the_rest() -> anyhow::Result<()> {
        for codec in CODECS {
            let recs = data_records(300, 4, txn(9, 1, 0), "lat");
            let append_time = 1_800_000_000_000i64;
            let bytes = patch_with_crc(&encode(&recs, codec)?, |v| {
                v[22] |= 1 << 3;
                v[35..43].copy_from_slice(&append_time.to_be_bytes());
            });
            let src = RawBatch::parse(bytes.clone())?;
            ensure!(src.header.timestamp_type_log_append() && !needs_reencode(&src.header));

            let out = normalize_for_produce(src.clone())?.context("batch dropped")?;
            let h = out.header;
            ensure!(!h.timestamp_type_log_append());
            ensure!(h.attributes == src.header.attributes & !(1 << 3));
            ensure!(h.compression()? == codec && h.is_transactional());
            ensure!(out.crc_is_valid());
            ensure!(h.crc != src.header.crc);
            ensure!(
                BatchHeader {
                    attributes: src.header.attributes,
                    crc: src.header.crc,
                    ..h
                } == src.header,
                "{codec:?}: other header fields changed"
            );
            // Only the CRC and the attributes differ, byte for byte.
            ensure!(out.bytes.len() == bytes.len());
            ensure!(out.bytes[..CRC_POS] == bytes[..CRC_POS]);
            ensure!(out.bytes[ATTRIBUTES_POS + 2..] == bytes[ATTRIBUTES_POS + 2..]);
            ensure!(h.max_timestamp == append_time);
            let split = split_batches(&out.bytes)?;
            ensure!(split.batches.len() == 1 && split.batches[0].header == h);

            // Consumers now see the CreateTime of each record.
            let set = RecordBatchDecoder::decode(&mut out.bytes.clone())?;
            assert_same_records(&set.records, &recs, 300)?;
            ensure!(set
                .records
                .iter()
                .all(|r| r.timestamp_type == TimestampType::Creation));
        }
        Ok(())
    }

    #[test]
    fn normalize_passes_clean_batches_unchanged_without_copy() -> anyhow::Result<()> {
        let mut log = Log::new(40);
        log.data(5, PLAIN, Compression::None)?;
        log.data(3, txn(4, 0, 0), Compression::Lz4)?;
        log.data(1, PLAIN, Compression::Zstd)?;
        let batches = log.batches()?;
        // A delete-horizon batch without gaps is not touched either.
        let mut horizon = data_records(0, 2, PLAIN, "dh");
        for r in &mut horizon {
            r.delete_horizon = true;
        }
        let horizon = RawBatch::parse(encode(&horizon, Compression::Gzip)?)?;
        ensure!(horizon.header.has_delete_horizon());

        for b in batches.into_iter().chain([horizon]) {
            ensure!(!needs_reencode(&b.header));
            let (ptr, len, header) = (b.bytes.as_ptr(), b.bytes.len(), b.header);
            let out = normalize_for_produce(b)?.context("batch dropped")?;
            ensure!(
                out.bytes.as_ptr() == ptr && out.bytes.len() == len,
                "copied"
            );
            ensure!(out.header == header);
        }
        Ok(())
    }

    /// A batch emptied by compaction: header only, record count 0, the last
    /// offset delta of the original batch kept.
    fn empty_batch(attributes_or: u8) -> anyhow::Result<RawBatch> {
        let full = encode(&data_records(70, 5, txn(3, 0, 0), "e"), Compression::None)?;
        let header_only = full.slice(..BATCH_HEADER_SIZE);
        let bytes = patch_with_crc(&header_only, |v| {
            v[8..12].copy_from_slice(&MIN_BATCH_LENGTH.to_be_bytes());
            v[57..61].copy_from_slice(&0i32.to_be_bytes());
            v[22] |= attributes_or;
        });
        let b = RawBatch::parse(bytes)?;
        ensure!(b.header.record_count == 0 && b.header.last_offset_delta == 4);
        Ok(b)
    }

    #[test]
    fn normalize_drops_empty_batches() -> anyhow::Result<()> {
        for attrs in [0u8, 1 << 3, 1 << 6] {
            let b = empty_batch(attrs)?;
            ensure!(b.header.has_offset_gaps() && !needs_reencode(&b.header));
            ensure!(normalize_for_produce(b)?.is_none());
        }
        Ok(())
    }

    #[test]
    fn normalize_refuses_corrupt_gappy_batches() -> anyhow::Result<()> {
        let plain = gappy_batch(Compression::None)?;
        let counts = |count: i32, delta: i32| {
            patch_with_crc(&plain.bytes, |v| {
                v[23..27].copy_from_slice(&delta.to_be_bytes());
                v[57..61].copy_from_slice(&count.to_be_bytes());
            })
        };

        // More records than offsets: corrupt counts.
        let more = RawBatch::parse(counts(7, 5))?;
        match normalize_for_produce(more) {
            Err(BatchError::BadCounts {
                base_offset: 10,
                position: 0,
                record_count: 7,
                last_offset_delta: 5,
            }) => {}
            other => bail!("more records than offsets: {other:?}"),
        }

        // A count other than the records present, in either direction, and a
        // huge one (must fail before any allocation of that size).
        for (count, delta) in [(2, 5), (4, 5), (1_000_000_000, i32::MAX - 1)] {
            let b = RawBatch::parse(counts(count, delta))?;
            ensure!(needs_reencode(&b.header));
            let err = normalize_for_produce(b)
                .err()
                .with_context(|| format!("count {count} accepted"))?;
            ensure!(
                matches!(&err, BatchError::Reencode { base_offset: 10, message } if message.contains("holds 3 records")),
                "{err}"
            );
            ensure!(!err.is_retriable() && err.base_offset() == Some(10));
            ensure!(err.to_string().contains("offset 10"), "{err}");
        }

        // A compressed section that does not decompress, CRC recomputed.
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = gappy_batch(codec)?;
            let len = b.bytes.len();
            let broken = patch_with_crc(&b.bytes, |v| {
                for byte in &mut v[BATCH_HEADER_SIZE..len] {
                    *byte = 0xa5;
                }
            });
            let err = normalize_for_produce(RawBatch::parse(broken)?)
                .err()
                .context("garbage decompressed")?;
            ensure!(
                matches!(
                    err,
                    BatchError::Reencode {
                        base_offset: 10,
                        ..
                    }
                ),
                "{codec:?}: {err:?}"
            );
        }

        // Record lengths that run past the end of the section.
        let cut = plain.bytes.slice(..plain.bytes.len() - 1);
        let cut = patch_with_crc(&cut, |v| {
            let len = (v.len() - LOG_OVERHEAD) as i32;
            v[8..12].copy_from_slice(&len.to_be_bytes());
        });
        let err = normalize_for_produce(RawBatch::parse(cut)?)
            .err()
            .context("truncated record accepted")?;
        ensure!(
            err.to_string().contains("malformed record lengths"),
            "{err}"
        );

        // Negative counts on a hand-made RawBatch (parse refuses them).
        let mut neg = plain.clone();
        neg.header.record_count = -1;
        ensure!(matches!(
            normalize_for_produce(neg),
            Err(BatchError::BadCounts { .. })
        ));
        Ok(())
    }

    /// A batch with offset gaps whose zstd records section (a few KiB)
    /// inflates past the 64 MiB limit fails as too large, promptly,
    /// instead of being inflated whole.
    #[test]
    fn normalize_refuses_a_decompression_bomb() {
        let bomb = crate::kafka::records::decompress::tests::zstd_bomb_batch(1, 5);
        assert!(bomb.bytes.len() < 8 * 1024);
        let started = std::time::Instant::now();
        let e = normalize_for_produce(bomb).unwrap_err();
        assert_eq!(
            e,
            BatchError::DecompressedTooLarge {
                base_offset: 100,
                codec: "zstd",
                limit_bytes: crate::kafka::records::decompress::MAX_DECOMPRESSED_BATCH_BYTES,
            }
        );
        assert_eq!(e.failure_code(), DECOMPRESSED_BATCH_TOO_LARGE);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let corrupt = BatchError::BadCounts {
            base_offset: 0,
            position: 0,
            record_count: -1,
            last_offset_delta: 0,
        };
        assert_eq!(corrupt.failure_code(), "CORRUPT_RECORD_BATCH");
    }
}
