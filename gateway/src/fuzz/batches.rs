//! Targets `batches` and `records`: the record batch codec on a fetched
//! partition's `records` field (`kafka::records::batch`: `split_batches`,
//! `BatchHeader::parse`, `RawBatch::parse`, control record parsing,
//! `filter_committed`, `normalize_for_produce`, `rewrite_for_producer`,
//! `build_produce_records`) and the record transform decoder
//! (`plugin::records::decode`), in the order the fetcher and
//! `mirror::ready` run them.
//!
//! `batches` corpus files hold a `records` field (batches back to back,
//! maybe a partial one at the end). Generated inputs are mutated, and half
//! of them get every batch's CRC-32C recomputed so that mutations reach the
//! checks behind the CRC.
//!
//! `records` corpus files hold an uncompressed records section (the
//! records of a batch, bytes 61..). Generated inputs mutate it, compress it
//! with any codec and wrap it in a CRC-valid batch header with counts that
//! may or may not match: this reaches the record decoder and the
//! decompressors with every codec.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, TimestampType};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{apply, hex, inputs, mutation, run, write_generated};
use crate::kafka::records::batch::{
    build_produce_records, filter_committed, normalize_for_produce, rewrite_for_producer,
    split_batches, AbortedTxn, BatchError, BatchHeader, RawBatch, BATCH_HEADER_SIZE, LOG_OVERHEAD,
};
use crate::kafka::records::decompress::{CODECS, MAX_DECOMPRESSED_BATCH_BYTES};
use crate::plugin::records::{self, tests::record, tests::source_batch, DecodeError};

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// Recompute the CRC-32C of every whole batch in `records`, walking the
/// length fields; stops at the first one that does not fit.
fn fix_crcs(records: &mut [u8]) {
    let mut pos = 0usize;
    while let Some(len) = records.get(pos + 8..pos + 12) {
        let Ok(len) = usize::try_from(i32::from_be_bytes(len.try_into().unwrap_or([0; 4]))) else {
            return;
        };
        let end = pos + LOG_OVERHEAD + len;
        if len < BATCH_HEADER_SIZE - LOG_OVERHEAD || end > records.len() {
            return;
        }
        let crc = crc32c::crc32c(&records[pos + 21..end]);
        records[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
}

/// A batch with `records`' bytes and header fields overridden, CRC fixed.
fn with_header(batch: &RawBatch, at: usize, field: &[u8]) -> Vec<u8> {
    let mut b = batch.bytes.to_vec();
    b[at..at + field.len()].copy_from_slice(field);
    fix_crcs(&mut b);
    b
}

fn control_record(offset: i64, kind: i16) -> Record {
    let mut key = BytesMut::new();
    key.put_i16(0);
    key.put_i16(kind);
    Record {
        control: true,
        transactional: true,
        key: Some(key.freeze()),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        headers: Default::default(),
        ..record(offset, 10, "", &[])
    }
}

/// Real batches of every kind the pipeline meets, as a fetch returns them.
fn generated_batches() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for codec in CODECS {
        let name = crate::kafka::records::decompress::codec_name(codec);
        let plain: Vec<Record> = (0..3)
            .map(|i| record(i, 1_000 + i, &format!("k{i}"), &[("h", "v")]))
            .collect();
        out.push((
            format!("{name}-contiguous.bin"),
            source_batch(&plain, codec).bytes.to_vec(),
        ));
        // Offsets 0, 2, 5: compaction left gaps (re-encoded on normalise).
        let gaps: Vec<Record> = [0, 2, 5]
            .iter()
            .map(|&o| record(o, 1_000 + o, &format!("k{o}"), &[]))
            .collect();
        out.push((
            format!("{name}-gaps.bin"),
            source_batch(&gaps, codec).bytes.to_vec(),
        ));
    }
    let plain = source_batch(&[record(0, 5, "k", &[])], Compression::None);
    // Transactional (attributes bit 4), LogAppendTime (bit 3), empty.
    out.push((
        "transactional.bin".into(),
        with_header(&plain, 21, &0x0010i16.to_be_bytes()),
    ));
    out.push((
        "log-append-time.bin".into(),
        with_header(&plain, 21, &0x0008i16.to_be_bytes()),
    ));
    let mut empty = plain.bytes[..BATCH_HEADER_SIZE].to_vec();
    empty[8..12].copy_from_slice(&((BATCH_HEADER_SIZE - LOG_OVERHEAD) as i32).to_be_bytes());
    empty[57..61].copy_from_slice(&0i32.to_be_bytes());
    fix_crcs(&mut empty);
    out.push(("empty.bin".into(), empty));
    // A transaction: data, ABORT marker, then a committed one.
    let mut txn = with_header(&plain, 21, &0x0010i16.to_be_bytes());
    let abort = source_batch(&[control_record(1, 0)], Compression::None);
    txn.extend(with_header(&abort, 21, &0x0030i16.to_be_bytes()));
    let commit = source_batch(&[control_record(2, 1)], Compression::None);
    txn.extend(with_header(&commit, 21, &0x0030i16.to_be_bytes()));
    out.push(("transaction-abort-commit.bin".into(), txn));
    // Three batches and half of a fourth (a Fetch cut at max_bytes).
    let mut many = Vec::new();
    for i in 0..3 {
        many.extend_from_slice(&source_batch(&[record(i, 5, "k", &[])], Compression::Lz4).bytes);
    }
    let cut = source_batch(&[record(3, 5, "k", &[])], Compression::None);
    many.extend_from_slice(&cut.bytes[..cut.bytes.len() / 2]);
    out.push(("three-and-a-partial.bin".into(), many));
    // Counts and lengths larger than the bytes present.
    out.push((
        "record-count-i32-max.bin".into(),
        with_header(&plain, 57, &i32::MAX.to_be_bytes()),
    ));
    out.push((
        "last-offset-delta-negative.bin".into(),
        with_header(&plain, 23, &(-1i32).to_be_bytes()),
    ));
    let mut long = plain.bytes.to_vec();
    long[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    out.push(("batch-length-i32-max.bin".into(), long));
    let mut negative = plain.bytes.to_vec();
    negative[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    out.push(("batch-length-negative.bin".into(), negative));
    let mut gaps_huge = source_batch(
        &[record(0, 1, "a", &[]), record(4, 2, "b", &[])],
        Compression::Zstd,
    )
    .bytes
    .to_vec();
    gaps_huge[57..61].copy_from_slice(&0x00ff_ffffi32.to_be_bytes());
    gaps_huge[23..27].copy_from_slice(&i32::MAX.to_be_bytes());
    fix_crcs(&mut gaps_huge);
    out.push(("zstd-gaps-record-count-huge.bin".into(), gaps_huge));
    out
}

/// Every check the pipeline's callers rely on, over one `records` field.
fn check_records(bytes: &[u8]) -> Result<(), TestCaseError> {
    let records = Bytes::copy_from_slice(bytes);
    let split = match split_batches(&records) {
        Ok(split) => split,
        Err(e) => {
            if e.is_retriable() || e.to_string().is_empty() {
                return Err(fail(format!("odd error {e:?}")));
            }
            return Ok(());
        }
    };
    let covered: usize = split.batches.iter().map(|b| b.bytes.len()).sum();
    if covered + split.partial_trailing_bytes != bytes.len() {
        return Err(fail(format!(
            "split covers {covered} + {} of {} bytes",
            split.partial_trailing_bytes,
            bytes.len()
        )));
    }
    let mut aborted = Vec::new();
    for b in &split.batches {
        if !b.crc_is_valid() || BatchHeader::parse(&b.bytes) != Ok(b.header) {
            return Err(fail("a split batch does not parse back".into()));
        }
        RawBatch::parse(b.bytes.clone()).map_err(|e| fail(format!("RawBatch::parse: {e}")))?;
        let _ = b.control_type();
        if b.header.producer_id >= 0 {
            aborted.push(AbortedTxn {
                producer_id: b.header.producer_id,
                first_offset: b.header.base_offset,
            });
        }
        check_batch(b)?;
    }
    let total = split.batches.len();
    let fetch_offset = split
        .batches
        .first()
        .map_or(0, |b| b.header.base_offset.saturating_add(1));
    let committed = filter_committed(split.batches, &aborted, fetch_offset);
    let counted = committed.keep.len()
        + committed.skipped_control
        + committed.skipped_aborted
        + committed.skipped_before_fetch_offset;
    if counted != total || committed.next_fetch_offset < fetch_offset {
        return Err(fail(format!(
            "filter_committed lost batches: {counted} of {total}"
        )));
    }
    let (blob, _) = build_produce_records(&committed.keep, 7, 1, 0);
    let again =
        split_batches(&blob).map_err(|e| fail(format!("produce records do not split: {e}")))?;
    if again.batches.len() != committed.keep.len() || again.partial_trailing_bytes != 0 {
        return Err(fail("produce records split differently".into()));
    }
    Ok(())
}

/// The per-batch steps of `mirror::ready` on one CRC-valid batch.
fn check_batch(b: &RawBatch) -> Result<(), TestCaseError> {
    let rewritten = rewrite_for_producer(b, 7, 1, 0);
    let r = RawBatch::parse(rewritten).map_err(|e| fail(format!("rewritten batch: {e}")))?;
    if r.header.producer_id != 7 || r.header.record_count != b.header.record_count {
        return Err(fail("rewrite changed the wrong fields".into()));
    }
    if !b.header.is_control() {
        match normalize_for_produce(b.clone()) {
            Ok(Some(n)) => {
                let back = RawBatch::parse(n.bytes.clone())
                    .map_err(|e| fail(format!("normalised batch: {e}")))?;
                if back.header != n.header
                    || n.header.has_offset_gaps()
                    || n.header.timestamp_type_log_append()
                    || n.header.record_count != b.header.record_count
                {
                    return Err(fail(format!("normalised header {:?}", n.header)));
                }
            }
            Ok(None) if b.header.record_count == 0 => {}
            Ok(None) => return Err(fail("a batch with records was dropped".into())),
            Err(BatchError::DecompressedTooLarge { limit_bytes, .. })
                if limit_bytes == MAX_DECOMPRESSED_BATCH_BYTES => {}
            Err(
                BatchError::BadCounts { .. }
                | BatchError::Reencode { .. }
                | BatchError::UnknownCompression { .. },
            ) => {}
            Err(e) => return Err(fail(format!("unexpected normalise error {e:?}"))),
        }
    }
    if b.header.record_count > 0 && !b.header.is_control() {
        match records::decode(b) {
            Ok(decoded) => {
                if i32::try_from(decoded.len()).ok() != Some(b.header.record_count) {
                    return Err(fail("decoded another number of records".into()));
                }
                let _: Vec<_> = decoded.iter().map(records::to_wit).collect();
            }
            Err(DecodeError::TooLarge { limit_bytes, .. })
                if limit_bytes == MAX_DECOMPRESSED_BATCH_BYTES => {}
            Err(DecodeError::Malformed(_)) => {}
            Err(e) => return Err(fail(format!("unexpected decode error {e:?}"))),
        }
    }
    Ok(())
}

#[test]
fn fuzz_batch_codec() {
    write_generated("batches", &generated_batches());
    let files = super::corpus("batches");
    for (name, bytes) in &files {
        check_records(bytes).unwrap_or_else(|e| panic!("corpus file {name}: {e}"));
    }
    let seeds: Vec<Vec<u8>> = files.into_iter().map(|(_, b)| b).collect();
    let strategy = (inputs(seeds), any::<bool>()).prop_map(|(mut bytes, fix)| {
        if fix {
            fix_crcs(&mut bytes);
        }
        bytes
    });
    run("batches", strategy, |bytes| check_records(bytes));
}

/// Plain records sections of real batches, and records whose lengths and
/// header counts claim more than is there.
fn generated_sections() -> Vec<(String, Vec<u8>)> {
    let section = |records: &[Record]| {
        source_batch(records, Compression::None).bytes[BATCH_HEADER_SIZE..].to_vec()
    };
    // One record: attributes, timestamp and offset deltas 0, null key and
    // value, then a header count of 2^31 - 1 (zig-zag varint), no header.
    let header_bomb = vec![20, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f];
    // A record length of 2^31 - 1 with four bytes behind it.
    let length_bomb = vec![0xfe, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 1];
    vec![
        (
            "three-records.bin".into(),
            section(&(0..3).map(|i| record(i, i, "k", &[])).collect::<Vec<_>>()),
        ),
        (
            "headers.bin".into(),
            section(&[record(0, 1, "k", &[("a", "1"), ("b", "2")])]),
        ),
        ("header-count-i32-max.bin".into(), header_bomb),
        ("record-length-i32-max.bin".into(), length_bomb),
        (
            "null-key-and-value.bin".into(),
            section(&[Record {
                key: None,
                value: None,
                timestamp_type: TimestampType::Creation,
                ..record(0, 0, "", &[])
            }]),
        ),
    ]
}

/// A CRC-valid batch around `plain`, compressed with `codec`.
fn wrap(plain: &[u8], codec: Compression, record_count: i32, last_offset_delta: i32) -> Vec<u8> {
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    let mut section = BytesMut::new();
    let put = |b: &mut BytesMut| {
        b.extend_from_slice(plain);
        Ok(())
    };
    let attributes: i16 = match codec {
        Compression::None => {
            section.extend_from_slice(plain);
            0
        }
        Compression::Gzip => Gzip::compress(&mut section, put).map(|()| 1).unwrap_or(0),
        Compression::Snappy => Snappy::compress(&mut section, put).map(|()| 2).unwrap_or(0),
        Compression::Lz4 => Lz4::compress(&mut section, put).map(|()| 3).unwrap_or(0),
        Compression::Zstd => Zstd::compress(&mut section, put).map(|()| 4).unwrap_or(0),
    };
    let mut b = BytesMut::new();
    b.put_i64(10);
    b.put_i32(i32::try_from(BATCH_HEADER_SIZE - LOG_OVERHEAD + section.len()).unwrap_or(i32::MAX));
    b.put_i32(0);
    b.put_i8(2);
    b.put_u32(0);
    b.put_i16(attributes);
    b.put_i32(last_offset_delta);
    b.put_i64(1_000);
    b.put_i64(1_000);
    b.put_i64(4242);
    b.put_i16(3);
    b.put_i32(0);
    b.put_i32(record_count);
    b.put_slice(&section);
    let mut b = b.to_vec();
    fix_crcs(&mut b);
    b
}

/// Record frames in a plain section (the header's count when it matches).
fn frames(plain: &[u8]) -> i32 {
    let mut pos = 0usize;
    let mut n = 0i32;
    while pos < plain.len() && n < 1_000_000 {
        let mut raw = 0u64;
        let mut shift = 0;
        loop {
            let Some(&byte) = plain.get(pos) else {
                return n;
            };
            pos += 1;
            raw |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 || shift > 63 {
                break;
            }
        }
        let len = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
        let Ok(len) = usize::try_from(len) else {
            return n;
        };
        pos = pos.saturating_add(len);
        n += 1;
    }
    n
}

#[test]
fn fuzz_record_decoder() {
    write_generated("records", &generated_sections());
    let files = super::corpus("records");
    for (name, plain) in &files {
        for codec in CODECS {
            let n = frames(plain);
            let batch = wrap(plain, codec, n, n.saturating_sub(1).saturating_add(2));
            check_records(&batch)
                .unwrap_or_else(|e| panic!("corpus file {name} ({codec:?}): {e}; {}", hex(&batch)));
        }
    }
    let seeds: Vec<Vec<u8>> = files.into_iter().map(|(_, b)| b).collect();
    let strategy = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 0..8),
        prop::sample::select(CODECS.to_vec()),
        prop_oneof![Just(None), any::<i32>().prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(|(mut plain, mutations, codec, count, gaps)| {
            for m in &mutations {
                apply(&mut plain, m);
            }
            let n = count.unwrap_or_else(|| frames(&plain));
            // With gaps the batch is re-encoded by normalise.
            let delta = if gaps {
                n.saturating_add(3)
            } else {
                n.saturating_sub(1)
            };
            wrap(&plain, codec, n, delta)
        });
    run("records", strategy, |batch| check_records(batch));
}
