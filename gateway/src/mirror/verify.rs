//! Recovery's identity check: the record batches a checkpoint says landed
//! on a mirror partition must be the ones linkgate wrote. The destination
//! log end offset alone cannot tell a foreign one-record write from the
//! first batch of a round when that batch held one record; the batch
//! headers can (producer id, epoch, base sequence and record count, as
//! Kafka's `ProducerStateManager` keeps them per partition).
//!
//! Some brokers do not keep the producer fields of the batches they store
//! (they answer producer id -1, as nisshi does on sqlite storage after a
//! restart). Whether the destination keeps them is read off the batch
//! before the round, which linkgate wrote: when it shows no producer id,
//! batches without one are checked by offset and record count only.

use crate::kafka::records::batch::{self, BatchHeader};
use crate::kafka::wire;
use crate::kafka::{ClusterClient, KafkaError};
use crate::mirror::state::Checkpoint;
use crate::mirror::status::{FailureCause, PartitionKey};

/// Bytes per Fetch when reading back a round (bytes).
const VERIFY_FETCH_BYTES: i32 = 16 * 1024 * 1024;
/// Fetches per round read back before giving up (a broker that keeps
/// answering without data below its high watermark).
const VERIFY_FETCHES: usize = 64;

/// Checks the batches of `cp`'s round in `[cp.destination_start,
/// destination_leo)` on the mirror partition `key` against the checkpoint.
/// `Ok(Ok(()))` when they match (or the checkpoint predates producer
/// identities, or nothing of the round landed); `Ok(Err(cause))` with a
/// [`FailureCause::ForeignBatch`] when a batch differs.
///
/// # Errors
/// [`KafkaError`] when the destination cannot be read (retry the set-up).
pub(crate) async fn round_on_destination(
    destination: &ClusterClient,
    key: &PartitionKey,
    cp: &Checkpoint,
    destination_leo: i64,
) -> Result<Result<(), FailureCause>, KafkaError> {
    if !cp.has_producer() || destination_leo <= cp.destination_start {
        return Ok(Ok(()));
    }
    // From the batch before the round (linkgate's own), if there is one.
    let from = (cp.destination_start - 1).max(0);
    let headers = read_headers(destination, key, from, destination_leo).await?;
    let kept = headers
        .iter()
        .rev()
        .find(|h| h.next_offset() <= cp.destination_start)
        .is_some_and(|h| h.producer_id >= 0);
    Ok(check_round(cp, &headers, destination_leo, kept))
}

/// The rule of [`round_on_destination`] over the batch headers read up to
/// `destination_leo` (those before `cp.destination_start` are skipped).
/// `producer_ids_kept`: the destination is known to keep producer fields,
/// so a batch without a producer id is not linkgate's.
pub(crate) fn check_round(
    cp: &Checkpoint,
    headers: &[BatchHeader],
    destination_leo: i64,
    producer_ids_kept: bool,
) -> Result<(), FailureCause> {
    let foreign = |offset: i64, detail: String| FailureCause::ForeignBatch { offset, detail };
    let mut headers = headers
        .iter()
        .filter(|h| h.next_offset() > cp.destination_start);
    for (i, (_, count)) in cp.batches.iter().enumerate() {
        let at = cp.destination_at(i);
        if at >= destination_leo {
            return Ok(());
        }
        let Some(h) = headers.next() else {
            return Err(foreign(
                at,
                "the destination returned no batch there".into(),
            ));
        };
        let found = (
            h.producer_id,
            h.producer_epoch,
            h.base_sequence,
            h.record_count,
        );
        let want = if h.producer_id < 0 && !producer_ids_kept {
            // Not kept by this broker: offset and record count only.
            (found.0, found.1, found.2, *count)
        } else {
            (cp.producer_id, cp.producer_epoch, cp.sequence_at(i), *count)
        };
        if h.base_offset != at || found != want {
            return Err(foreign(
                h.base_offset,
                format!(
                    "producer id {}, epoch {}, base sequence {}, {} records at offset {}; linkgate wrote producer id {}, epoch {}, base sequence {}, {} records at offset {at}",
                    found.0, found.1, found.2, found.3, h.base_offset, want.0, want.1, want.2, want.3
                ),
            ));
        }
    }
    Ok(())
}

/// Batch headers of a partition from `from` to `to` (READ_UNCOMMITTED, by
/// topic name).
async fn read_headers(
    client: &ClusterClient,
    key: &PartitionKey,
    from: i64,
    to: i64,
) -> Result<Vec<BatchHeader>, KafkaError> {
    let mut out = Vec::new();
    let mut offset = from;
    for _ in 0..VERIFY_FETCHES {
        if offset >= to {
            return Ok(out);
        }
        let leader = client.leader(&key.0, key.1).await?;
        let conn = client.broker(leader).await?;
        let req = wire::fetch_request(
            &[wire::FetchTarget {
                topic: key.0.clone(),
                partition: key.1,
                topic_id: uuid::Uuid::nil(),
                offset,
                max_bytes: VERIFY_FETCH_BYTES,
                current_leader_epoch: -1,
                last_fetched_epoch: -1,
            }],
            wire::READ_UNCOMMITTED,
            100,
            1,
            VERIFY_FETCH_BYTES,
        );
        let version = conn
            .version_for::<kafka_protocol::messages::FetchRequest>()?
            .min(wire::FETCH_BY_NAME_MAX_VERSION);
        let resp = conn.send_version(&req, version).await?;
        let what = || format!("read back {} partition {} at offset {offset}", key.0, key.1);
        let part = resp
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == key.1)
            .ok_or_else(|| crate::kafka::error::broker_error(client.name(), what(), 13))?;
        if part.error_code != 0 {
            return Err(crate::kafka::error::broker_error(
                client.name(),
                what(),
                part.error_code,
            ));
        }
        let records = part.records.unwrap_or_default();
        let split = batch::split_batches(&records).map_err(|e| KafkaError::Malformed {
            cluster: client.name().to_string(),
            addr: conn.addr().to_string(),
            detail: format!("{}: {e}", what()),
        })?;
        for b in split.batches {
            if b.header.base_offset < to {
                offset = offset.max(b.header.next_offset());
                out.push(b.header);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp() -> Checkpoint {
        Checkpoint {
            source_topic_id: "A".into(),
            source_start: 100,
            source_end: 106,
            destination_start: 50,
            destination_end: 56,
            batches: vec![(100, 1), (101, 5)],
            producer_id: 7,
            producer_epoch: 2,
            base_sequence: 10,
            source_leader_epoch: -1,
        }
    }

    fn header(base: i64, count: i32, pid: i64, epoch: i16, seq: i32) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn own_batches_pass() {
        let c = cp();
        let ours = [header(50, 1, 7, 2, 10), header(51, 5, 7, 2, 11)];
        assert_eq!(check_round(&c, &ours, 56, true), Ok(()));
        assert_eq!(check_round(&c, &ours[..1], 51, true), Ok(()));
        assert_eq!(check_round(&c, &[], 50, true), Ok(()));
        // The batch before the round is skipped.
        let with_previous = [header(40, 10, 7, 2, 0), header(50, 1, 7, 2, 10)];
        assert_eq!(check_round(&c, &with_previous, 51, true), Ok(()));
        // A broker that does not keep producer fields: offsets and counts.
        let stripped = [header(50, 1, -1, -1, 0), header(51, 5, -1, -1, 0)];
        assert_eq!(check_round(&c, &stripped, 56, false), Ok(()));
        assert!(check_round(&c, &[header(50, 2, -1, -1, 0)], 52, false).is_err());
    }

    #[test]
    fn a_foreign_batch_on_a_round_boundary_is_caught() {
        // A one-record foreign write lands where the round's first batch
        // (one record) would have: the log end offset 51 is a boundary.
        let c = cp();
        let foreign = [header(50, 1, 99, 0, 0)];
        match check_round(&c, &foreign, 51, false) {
            Err(FailureCause::ForeignBatch { offset: 50, detail }) => {
                assert!(detail.contains("producer id 99"), "{detail}")
            }
            other => panic!("expected a foreign batch, got {other:?}"),
        }
        // Same producer, wrong sequence (another instance's round).
        let replayed = [header(50, 1, 7, 2, 3)];
        assert!(check_round(&c, &replayed, 51, false).is_err());
        // Without a producer id on a broker that keeps them.
        assert!(check_round(&c, &[header(50, 1, -1, -1, -1)], 51, true).is_err());
        // Nothing returned where a batch should be.
        assert!(check_round(&c, &[], 51, true).is_err());
    }
}
