//! The producer identity of a running link, and how a starting gateway
//! instance takes the link over from an earlier one.
//!
//! A link writes with one idempotent producer id on the destination (its
//! state records and its mirror partitions). A starting instance claims the
//! epoch after the one recorded in `producer/{link}` and writes that claim
//! to the state topic with it: from then on the broker refuses the earlier
//! epoch on the state topic (and, once this instance produced there, on each
//! mirror partition), so an earlier instance still running (a rolling
//! deploy with surge, a zombie after a network partition) gets
//! `INVALID_PRODUCER_EPOCH`/`PRODUCER_FENCED` at its next write and stops
//! the link as `FENCED` ([`MirrorError::Fenced`]). The later instance wins.
//! Kafka's rules: KIP-98 (epochs per producer id per partition) and KIP-360
//! (a producer may bump its own epoch; the first batch of an epoch has
//! sequence 0).

use std::sync::Arc;

use crate::kafka::ClusterClient;
use crate::mirror::error::{MirrorError, Side};
use crate::mirror::state::{
    ProducerClaim, ProducerIdentity, StateEntry, StateSnapshot, StateStore,
};

/// Claims tried before giving up when other instances keep claiming the
/// same link at the same moment.
const CLAIM_ATTEMPTS: usize = 5;

/// A link's state, read after this instance's claim landed.
pub(crate) struct Claimed {
    /// The state topic, written idempotently as `producer`.
    pub state: StateStore,
    /// Everything in the state topic up to and including the claim.
    pub snapshot: StateSnapshot,
    /// The claimed identity (sequences start at 0 on every partition).
    pub producer: ProducerIdentity,
}

/// The identity to claim after `previous`: the next epoch of its producer
/// id, or `None` (ask InitProducerId for a new id) when there is no claim
/// yet or the epoch is exhausted.
pub(crate) fn next_identity(previous: Option<&ProducerClaim>) -> Option<ProducerIdentity> {
    let p = previous?;
    (p.producer_id >= 0 && p.producer_epoch >= 0 && p.producer_epoch < i16::MAX).then(|| {
        ProducerIdentity {
            id: p.producer_id,
            epoch: p.producer_epoch + 1,
        }
    })
}

/// Opens the state topic (creating it if absent), claims the link for this
/// instance and reads the link's state after the claim.
///
/// Two instances claiming the same epoch at once write the same producer
/// id, epoch and sequence: the broker keeps the first and answers the
/// second as a duplicate, so each instance reads the claim back and claims
/// again above the one that landed when it is not its own.
///
/// # Errors
/// [`MirrorError::Kafka`] when the destination cannot be reached or refuses
/// InitProducerId, [`MirrorError::State`] on an unreadable state topic,
/// [`MirrorError::Fenced`] when the claim kept being overtaken.
pub(crate) async fn claim(
    destination: &Arc<ClusterClient>,
    state_topic: &str,
    link: &str,
) -> Result<Claimed, MirrorError> {
    let plain = StateStore::open(destination.clone(), state_topic).await?;
    let mut snapshot = plain.load().await?;
    for _ in 0..CLAIM_ATTEMPTS {
        let producer = match next_identity(snapshot.producers.get(link)) {
            Some(p) => p,
            None => {
                let (id, epoch) = destination
                    .init_producer_id()
                    .await
                    .map_err(|e| MirrorError::kafka(Side::Destination, e))?;
                ProducerIdentity { id, epoch }
            }
        };
        let instance = format!("{:016x}", rand::random::<u64>());
        let claim = ProducerClaim {
            producer_id: producer.id,
            producer_epoch: producer.epoch,
            instance: instance.clone(),
        };
        let state = plain.with_producer(producer);
        match state
            .write(&[StateEntry::producer_claim(link, &claim)?])
            .await
        {
            Ok(()) => {}
            // A later epoch landed first: claim above it.
            Err(MirrorError::Fenced { .. }) => {
                snapshot = plain.load().await?;
                continue;
            }
            Err(e) => return Err(e),
        }
        snapshot = state.load().await?;
        if snapshot
            .producers
            .get(link)
            .is_some_and(|c| c.instance == instance)
        {
            return Ok(Claimed {
                state,
                snapshot,
                producer,
            });
        }
        tracing::info!(
            link,
            producer_id = producer.id,
            epoch = producer.epoch,
            "another gateway instance claimed the link at the same moment; claiming again"
        );
    }
    Err(MirrorError::Fenced {
        message: format!(
            "link {link}: other gateway instances kept claiming it ({CLAIM_ATTEMPTS} claims overtaken)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(id: i64, epoch: i16) -> ProducerClaim {
        ProducerClaim {
            producer_id: id,
            producer_epoch: epoch,
            instance: "x".into(),
        }
    }

    #[test]
    fn next_identity_bumps_the_epoch() {
        assert_eq!(next_identity(None), None);
        assert_eq!(
            next_identity(Some(&claim(7, 0))),
            Some(ProducerIdentity { id: 7, epoch: 1 })
        );
        assert_eq!(next_identity(Some(&claim(7, i16::MAX))), None);
        assert_eq!(next_identity(Some(&claim(-1, 0))), None);
    }
}
