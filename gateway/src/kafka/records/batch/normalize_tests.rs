//! Tests of normalisation for produce: offset gaps re-encoded, LogAppendTime, empty and corrupt batches.

use anyhow::{bail, ensure, Context};
use kafka_protocol::records::{Record, RecordBatchDecoder, TimestampType};

use super::testing::*;
use super::*;
use crate::kafka::records::decompress::CODECS;

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
