//! Tests of read_committed filtering: markers, aborted transactions, fetch offsets.

use anyhow::{ensure, Context};
use bytes::BytesMut;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::testing::*;
use super::*;

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
    let response = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
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
