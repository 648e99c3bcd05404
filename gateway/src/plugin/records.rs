//! Record batches for record transforms: decoding a fetched v2 batch into
//! records (kafka-protocol `RecordBatchDecoder`, any codec, decompressed
//! with a bound by `kafka::records::decompress`) and encoding the
//! records a chain kept into **one** v2 batch (`RecordBatchEncoder`) in the
//! source batch's codec.
//!
//! The encoded batch (Kafka `DefaultRecordBatch`, KIP-98 layout):
//! - base offset = the source offset of the first record (the chain
//!   encodes one batch per run of consecutive source offsets, so offsets
//!   stay the source's), offset deltas `0..n-1`
//!   (contiguous: Kafka refuses a producer batch with offset gaps,
//!   `LogValidator.validateBatch`), records in source offset order;
//! - producer id -1, producer epoch -1, base sequence -1, not
//!   transactional, not control, no delete horizon, CreateTime timestamps:
//!   the pipeline rewrites the writer fields before producing
//!   (`kafka::records::batch::rewrite_for_producer`);
//! - partition leader epoch copied from the source batch;
//! - record timestamps as decoded (ms; for a LogAppendTime source batch
//!   these are the records' CreateTime values, as in
//!   `kafka::records::batch::normalize_for_produce`), or the replacement's.
//!
//! kafka-protocol starts a new batch whenever `offset - sequence` changes
//! between records, so record `i` gets sequence `i - 1` (base sequence -1)
//! to keep the offsets contiguous in one batch; the result is checked to be
//! exactly one batch.
//!
//! Limitation (kafka-protocol 0.18 keeps headers in an `IndexMap`): when a
//! record has two headers with the same key, the decoder keeps one (the
//! last value, at the first position), so a batch that goes through a
//! record transform loses duplicate header keys, even for records that are
//! kept. Header keys that are not UTF-8 fail the decode.

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::kafka::records::batch::{RawBatch, MAGIC_V2};
use crate::kafka::records::decompress::{
    decompress, DecompressError, MAX_DECOMPRESSED_BATCH_BYTES,
};

use super::types::{Header, KafkaRecord};

/// Smallest encoded v2 record, in bytes: length varint, attributes,
/// timestamp delta, offset delta, key length, value length and header count,
/// at least one byte each (Kafka `DefaultRecord`).
const MIN_RECORD_SIZE: usize = 7;

/// Why a source batch could not be decoded into records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The records section decompresses to more than `limit_bytes`.
    TooLarge {
        /// Codec name.
        codec: &'static str,
        /// The limit, in bytes.
        limit_bytes: usize,
    },
    /// Corrupt records section or counts: the decoder's message.
    Malformed(String),
}

/// Decodes every record of `batch` (a data batch, CRC checked by the
/// decoder). The records section is decompressed first, at most
/// [`MAX_DECOMPRESSED_BATCH_BYTES`] (`kafka::records::decompress`), and the header's
/// record count is checked against the decompressed size before the
/// decoder reserves room for that many records.
pub(crate) fn decode(batch: &RawBatch) -> Result<Vec<Record>, DecodeError> {
    let malformed = DecodeError::Malformed;
    let count = usize::try_from(batch.header.record_count).map_err(|_| {
        malformed(format!(
            "negative record count {}",
            batch.header.record_count
        ))
    })?;
    let codec = batch
        .header
        .compression()
        .map_err(|e| malformed(e.to_string()))?;
    let plain =
        decompress(batch.records_section(), codec, MAX_DECOMPRESSED_BATCH_BYTES).map_err(|e| {
            match e {
                DecompressError::TooLarge { codec, limit_bytes } => {
                    DecodeError::TooLarge { codec, limit_bytes }
                }
                DecompressError::Corrupt { .. } => malformed(e.to_string()),
            }
        })?;
    if plain.len() / MIN_RECORD_SIZE < count {
        return Err(malformed(format!(
            "the header says {count} records, {} uncompressed bytes hold at most {}",
            plain.len(),
            plain.len() / MIN_RECORD_SIZE
        )));
    }
    let set = RecordBatchDecoder::decode_with_custom_compression(
        &mut batch.bytes.clone(),
        Some(|_: &mut Bytes, _: Compression| Ok(plain.clone())),
    )
    .map_err(|e| malformed(format!("{e:#}")))?;
    if set.records.len() != count {
        return Err(malformed(format!(
            "decoded {} records, the header says {count}",
            set.records.len()
        )));
    }
    Ok(set.records)
}

/// The WIT view of a decoded record (copies key, value and headers).
pub(crate) fn to_wit(record: &Record) -> KafkaRecord {
    KafkaRecord {
        offset: record.offset,
        timestamp: record.timestamp,
        key: record.key.as_ref().map(|b| b.to_vec()),
        value: record.value.as_ref().map(|b| b.to_vec()),
        headers: record
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k.to_string(),
                value: v.as_ref().map(|b| b.to_vec()),
            })
            .collect(),
    }
}

/// A kafka-protocol record with the content of `record` (a replacement as
/// the chain saw it). Duplicate header keys collapse (see the module doc).
pub(crate) fn from_wit(record: KafkaRecord) -> Record {
    let mut headers = IndexMap::with_capacity(record.headers.len());
    for h in record.headers {
        headers.insert(StrBytes::from_string(h.key), h.value.map(Bytes::from));
    }
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: record.offset,
        sequence: -1,
        timestamp: record.timestamp,
        key: record.key.map(Bytes::from),
        value: record.value.map(Bytes::from),
        headers,
    }
}

/// Encodes `records` (in order, at least one) into one v2 batch as the
/// module doc describes. Errors: timestamps too far apart to encode as
/// deltas, a record or batch too large, or anything but exactly one batch
/// out of the encoder.
pub(crate) fn encode(
    mut records: Vec<Record>,
    base_offset: i64,
    partition_leader_epoch: i32,
    codec: Compression,
) -> Result<RawBatch, String> {
    if records.is_empty() {
        return Err("no records to encode".to_string());
    }
    let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
    for (i, r) in records.iter_mut().enumerate() {
        let delta = i64::try_from(i).map_err(|e| e.to_string())?;
        r.offset = base_offset
            .checked_add(delta)
            .ok_or_else(|| format!("offset {base_offset} + {delta} overflows"))?;
        r.sequence = i32::try_from(delta - 1).map_err(|_| "too many records".to_string())?;
        r.transactional = false;
        r.control = false;
        r.delete_horizon = false;
        r.partition_leader_epoch = partition_leader_epoch;
        r.producer_id = -1;
        r.producer_epoch = -1;
        r.timestamp_type = TimestampType::Creation;
        min_ts = min_ts.min(r.timestamp);
        max_ts = max_ts.max(r.timestamp);
    }
    if max_ts.checked_sub(min_ts).is_none() {
        return Err(format!(
            "record timestamps {min_ts} and {max_ts} ms are too far apart for one batch"
        ));
    }
    let encoded = encode_v2(&records, codec)?;
    let n = records.len();
    if usize::try_from(encoded.header.record_count).ok() != Some(n)
        || encoded.header.has_offset_gaps()
    {
        return Err(format!(
            "encoded batch has {} records and last offset delta {} for {n} records",
            encoded.header.record_count, encoded.header.last_offset_delta
        ));
    }
    Ok(encoded)
}

/// `records` as they are (offsets, sequences, writer fields) through
/// kafka-protocol's v2 encoder in `codec`, parsed back as one batch.
fn encode_v2(records: &[Record], codec: Compression) -> Result<RawBatch, String> {
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        records.iter(),
        &RecordEncodeOptions {
            version: MAGIC_V2,
            compression: codec,
        },
    )
    .map_err(|e| format!("{e:#}"))?;
    RawBatch::parse(out.freeze())
        .map_err(|e| format!("the encoder did not produce exactly one valid batch: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kafka::records::batch::split_batches;

    pub(crate) const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// A source-like record at `offset` with a transactional writer.
    pub(crate) fn record(offset: i64, ts: i64, key: &str, headers: &[(&str, &str)]) -> Record {
        let mut h = IndexMap::new();
        for (k, v) in headers {
            h.insert(
                StrBytes::from_string(k.to_string()),
                Some(Bytes::from(v.to_string())),
            );
        }
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 7,
            producer_id: 4242,
            producer_epoch: 3,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: 100 + offset as i32,
            timestamp: ts,
            key: Some(Bytes::from(key.to_string())),
            value: Some(Bytes::from(format!("value-{offset}"))),
            headers: h,
        }
    }

    /// One source batch (as fetched) holding `records`.
    pub(crate) fn source_batch(records: &[Record], codec: Compression) -> RawBatch {
        encode_v2(records, codec).unwrap()
    }

    #[test]
    fn decode_then_encode_round_trips_every_codec_as_one_contiguous_batch() {
        for codec in CODECS {
            // Offsets with gaps (compaction) starting at 1000.
            let src: Vec<Record> = [1000, 1001, 1004, 1009]
                .iter()
                .enumerate()
                .map(|(i, &o)| record(o, 5_000 + i as i64 * 10, &format!("k{o}"), &[("h", "v")]))
                .collect();
            let batch = source_batch(&src, codec);
            assert!(batch.header.has_offset_gaps());
            let decoded = decode(&batch).unwrap();
            assert_eq!(decoded.len(), 4, "{codec:?}");
            assert_eq!(decoded[2].offset, 1004);
            assert_eq!(to_wit(&decoded[3]).key.as_deref(), Some(&b"k1009"[..]));

            // Keep records 0, 2, 3.
            let kept: Vec<Record> =
                vec![decoded[0].clone(), decoded[2].clone(), decoded[3].clone()];
            let out = encode(kept, batch.header.base_offset, 7, codec).unwrap();
            let h = out.header;
            assert_eq!(h.base_offset, 1000, "{codec:?}");
            assert_eq!(h.record_count, 3);
            assert_eq!(h.last_offset_delta, 2);
            assert!(!h.has_offset_gaps());
            assert_eq!(h.compression().unwrap(), codec);
            assert_eq!(h.producer_id, -1);
            assert_eq!(h.producer_epoch, -1);
            assert_eq!(h.base_sequence, -1);
            assert!(!h.is_transactional());
            assert_eq!(h.partition_leader_epoch, 7);
            assert_eq!(h.base_timestamp, 5_000);
            assert_eq!(h.max_timestamp, 5_030);
            assert!(out.crc_is_valid());
            // Exactly one batch.
            let split = split_batches(&out.bytes).unwrap();
            assert_eq!(split.batches.len(), 1);
            assert_eq!(split.partial_trailing_bytes, 0);

            let again = decode(&out).unwrap();
            let offsets: Vec<i64> = again.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, vec![1000, 1001, 1002]);
            let keys: Vec<Vec<u8>> = again
                .iter()
                .map(|r| r.key.clone().unwrap().to_vec())
                .collect();
            assert_eq!(
                keys,
                vec![b"k1000".to_vec(), b"k1004".to_vec(), b"k1009".to_vec()]
            );
            let ts: Vec<i64> = again.iter().map(|r| r.timestamp).collect();
            assert_eq!(ts, vec![5_000, 5_020, 5_030]);
            assert_eq!(
                again[1]
                    .headers
                    .get(&StrBytes::from_static_str("h"))
                    .cloned()
                    .flatten(),
                Some(Bytes::from("v"))
            );
        }
    }

    #[test]
    fn a_replacement_round_trips_with_null_key_value_and_no_timestamp() {
        let wit = KafkaRecord {
            offset: 50,
            timestamp: -1,
            key: None,
            value: None,
            headers: vec![
                Header {
                    key: "a".into(),
                    value: None,
                },
                Header {
                    key: "b".into(),
                    value: Some(b"x".to_vec()),
                },
            ],
        };
        let out = encode(vec![from_wit(wit)], 50, 0, Compression::Zstd).unwrap();
        let back = decode(&out).unwrap();
        assert_eq!(back.len(), 1);
        let r = to_wit(&back[0]);
        assert_eq!(r.offset, 50);
        assert_eq!(r.timestamp, -1);
        assert_eq!(r.key, None);
        assert_eq!(r.value, None);
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.headers[0].key, "a");
        assert_eq!(r.headers[0].value, None);
        assert_eq!(r.headers[1].value.as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn timestamps_too_far_apart_are_an_error_not_a_panic() {
        let mut a = record(0, -1, "a", &[]);
        let mut b = record(1, i64::MAX, "b", &[]);
        a.timestamp = -1;
        b.timestamp = i64::MAX;
        let e = encode(vec![a, b], 0, 0, Compression::None).unwrap_err();
        assert!(e.contains("too far apart"), "{e}");
        assert!(encode(vec![], 0, 0, Compression::None).is_err());
    }

    #[test]
    fn a_record_count_larger_than_the_bytes_allow_fails_before_allocating() {
        let batch = source_batch(&[record(0, 1, "k", &[])], Compression::None);
        // Claim 2^31-1 records and fix the CRC so only the count is wrong.
        let mut bytes = batch.bytes.to_vec();
        bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let header = crate::kafka::records::batch::BatchHeader::parse(&bytes).unwrap();
        let forged = RawBatch {
            header,
            bytes: Bytes::from(bytes),
        };
        match decode(&forged).unwrap_err() {
            DecodeError::Malformed(m) => assert!(m.contains("hold at most"), "{m}"),
            e => panic!("{e:?}"),
        }
    }

    /// A zstd batch of a few KiB that inflates past the 64 MiB limit is
    /// refused as too large.
    #[test]
    fn a_decompression_bomb_is_too_large() {
        let bomb = crate::kafka::records::decompress::tests::zstd_bomb_batch(1, 0);
        let e = decode(&bomb).unwrap_err();
        assert_eq!(
            e,
            DecodeError::TooLarge {
                codec: "zstd",
                limit_bytes: MAX_DECOMPRESSED_BATCH_BYTES
            }
        );
    }
}
