//! Test support for the layers above the data plane: a running link's
//! [`LinkHandle`] whose mirror partition was fed a constructed Fetch
//! response through the real fetch handling, write-ahead and produce path
//! into a real destination, so its exact offset map holds what a source
//! the test broker cannot be (transaction markers, aborted data,
//! compaction gaps) would give.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use kafka_protocol::messages::fetch_response::PartitionData;
use tokio_util::sync::CancellationToken;

use crate::kafka::ClusterClient;
use crate::mirror::committer::commit_round;
use crate::mirror::fetcher::{handle_partition, make_ready, Round, Target};
use crate::mirror::link::{LinkCtx, LinkHandle, Slot, DEFAULT_PARTITION_FETCH_BYTES};
use crate::mirror::state::{ProducerIdentity, StateStore};
use crate::mirror::status::{LinkStatus, PartitionState, PartitionStatus};

/// A link context `link` for tests of the fetch path: the state topic
/// `__linkgate_state` on `destination`, a new producer id, and every
/// partition of `partitions` of `topic` (source topic id `topic_id`)
/// active and fetching from offset 0.
pub(crate) async fn active_ctx(
    link: &str,
    source: Arc<ClusterClient>,
    destination: Arc<ClusterClient>,
    topic: &str,
    topic_id: uuid::Uuid,
    partitions: std::ops::Range<i32>,
) -> LinkCtx {
    let state = StateStore::open(destination.clone(), "__linkgate_state")
        .await
        .expect("state topic");
    let producer = destination.init_producer_id().await.expect("producer id");
    let status = LinkStatus::default();
    let mut slots = BTreeMap::new();
    for p in partitions {
        let key = (topic.to_string(), p);
        status.lock().insert(
            key.clone(),
            PartitionStatus {
                state: PartitionState::Active,
                state_time: SystemTime::now(),
                next_fetch_offset: 0,
                last_fetch_high_watermark: -1,
                last_fetch_time: None,
                destination_log_end_offset: 0,
            },
        );
        slots.insert(key, Slot::new(topic, &topic_id.to_string(), 0, 0));
    }
    LinkCtx::for_test(
        link,
        source,
        destination,
        state,
        ProducerIdentity {
            id: producer.0,
            epoch: producer.1,
        },
        slots,
        status,
    )
}

/// Mirrors `data`, the Fetch response partition 0 of `topic` (fetched from
/// offset 0), into the existing topic `topic` of `destination` as link
/// `link` and returns the link's handle (source client `source`). Panics
/// when the round does not land: test support only.
pub(crate) async fn link_after_fetch(
    link: &str,
    source: Arc<ClusterClient>,
    destination: Arc<ClusterClient>,
    topic: &str,
    data: PartitionData,
) -> LinkHandle {
    let key = (topic.to_string(), 0);
    let ctx = active_ctx(link, source, destination, topic, uuid::Uuid::nil(), 0..1).await;
    let target = Target {
        key: key.clone(),
        source: key.clone(),
        topic_id: uuid::Uuid::nil(),
        generation: 0,
        offset: 0,
        max_bytes: DEFAULT_PARTITION_FETCH_BYTES,
        leader_epoch: -1,
        last_fetched_epoch: -1,
    };
    let fetched = handle_partition(&ctx, &target, data)
        .await
        .expect("data to mirror");
    let mut round = Round {
        partitions: vec![fetched],
    };
    make_ready(&ctx, &mut round).expect("no record transform chain");
    let ctx = Arc::new(ctx);
    let mut reconciles = tokio::task::JoinSet::new();
    commit_round(&ctx, round, &CancellationToken::new(), &mut reconciles).await;
    while reconciles.join_next().await.is_some() {}
    assert_eq!(ctx.state_of(&key), Some(PartitionState::Active));
    LinkHandle::new(ctx)
}
