//! Tests of the writer-field rewrite, its CRC-32C and produce sequences.

use anyhow::{ensure, Context};
use kafka_protocol::records::RecordBatchDecoder;

use super::testing::*;
use super::*;
use crate::kafka::records::decompress::CODECS;

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
