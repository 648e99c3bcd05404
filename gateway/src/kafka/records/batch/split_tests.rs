//! Tests of splitting a records field into checked batches, and of the header view.

use anyhow::{bail, ensure, Context};
use kafka_protocol::records::RecordBatchDecoder;

use super::testing::*;
use super::*;
use crate::kafka::records::decompress::CODECS;

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
