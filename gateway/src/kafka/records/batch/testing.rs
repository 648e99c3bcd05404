//! Test batches for the batch codec's tests: records of every shape,
//! transaction markers, a partition log built batch by batch, record
//! comparison.

use anyhow::{ensure, Context};
use bytes::{BufMut, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;

/// Writer of a batch: producer id, epoch, first sequence, transactional.
#[derive(Clone, Copy)]
pub(super) struct Writer {
    pub(super) pid: i64,
    pub(super) epoch: i16,
    pub(super) seq: i32,
    pub(super) txn: bool,
}
pub(super) const PLAIN: Writer = Writer {
    pid: -1,
    epoch: -1,
    seq: -1,
    txn: false,
};
pub(super) fn txn(pid: i64, epoch: i16, seq: i32) -> Writer {
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
pub(super) fn data_records(base: i64, n: usize, w: Writer, tag: &str) -> Vec<Record> {
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
pub(super) fn marker_record(offset: i64, pid: i64, epoch: i16, kind: i16) -> Record {
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
pub(super) fn encode(records: &[Record], compression: Compression) -> anyhow::Result<Bytes> {
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
pub(super) fn patch_with_crc(bytes: &Bytes, f: impl FnOnce(&mut [u8])) -> Bytes {
    let mut v = bytes.to_vec();
    f(&mut v);
    let crc = crc32c::crc32c(&v[ATTRIBUTES_POS..]);
    v[CRC_POS..ATTRIBUTES_POS].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(v)
}

pub(super) fn concat(parts: &[Bytes]) -> Bytes {
    let mut all = BytesMut::new();
    for p in parts {
        all.extend_from_slice(p);
    }
    all.freeze()
}

/// A partition log under construction: batches at increasing offsets.
pub(super) struct Log {
    pub(super) next: i64,
    pub(super) parts: Vec<Bytes>,
    /// Records of each data batch, by base offset.
    pub(super) records: Vec<(i64, Vec<Record>)>,
}

impl Log {
    pub(super) fn new(start: i64) -> Self {
        Log {
            next: start,
            parts: Vec::new(),
            records: Vec::new(),
        }
    }
    pub(super) fn data(&mut self, n: usize, w: Writer, c: Compression) -> anyhow::Result<i64> {
        let base = self.next;
        let recs = data_records(base, n, w, &format!("p{}", w.pid));
        self.parts.push(encode(&recs, c)?);
        self.records.push((base, recs));
        self.next += n as i64;
        Ok(base)
    }
    pub(super) fn marker(&mut self, pid: i64, epoch: i16, commit: bool) -> anyhow::Result<i64> {
        let base = self.next;
        let rec = marker_record(base, pid, epoch, i16::from(commit));
        self.parts.push(encode(&[rec], Compression::None)?);
        self.next += 1;
        Ok(base)
    }
    pub(super) fn bytes(&self) -> Bytes {
        concat(&self.parts)
    }
    pub(super) fn batches(&self) -> anyhow::Result<Vec<RawBatch>> {
        let split = split_batches(&self.bytes())?;
        ensure!(split.partial_trailing_bytes == 0);
        Ok(split.batches)
    }
    pub(super) fn records_at(&self, base: i64) -> anyhow::Result<&[Record]> {
        self.records
            .iter()
            .find(|(b, _)| *b == base)
            .map(|(_, r)| r.as_slice())
            .context("no data batch at that offset")
    }
}

pub(super) fn bases(batches: &[RawBatch]) -> Vec<i64> {
    batches.iter().map(|b| b.header.base_offset).collect()
}

/// Compare what a consumer sees: key, value, headers, timestamp, offset
/// relative to the batch's base offset.
pub(super) fn assert_same_records(
    got: &[Record],
    want: &[Record],
    want_base: i64,
) -> anyhow::Result<()> {
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
