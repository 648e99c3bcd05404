//! Recovery of mirror partitions at link start against two real brokers
//! (nisshi): a failure recorded in the state topic survives a restart with
//! its time, and a foreign write that happens to end on a batch boundary of
//! an unfinished round is caught by the batch headers (producer id, epoch,
//! base sequence), not taken for the round's first batch. A state topic
//! that would expire records (delete policy) is refused. An offset map
//! rolled up in the state topic reads back the same.

use std::time::UNIX_EPOCH;

use super::lifecycle_tests::{
    new_mirror, produce, state_of, until, wait_leo, wait_state, Env, STATE_TOPIC,
};
use crate::mirror::state::{Checkpoint, StateEntry, StateStore};
use crate::mirror::status::{FailureCause, PartitionState};

fn failed_at_ms(link: &super::MirrorLink, topic: &str) -> (FailureCause, u128) {
    let table = link.status().snapshot();
    let ps = &table[&(topic.to_string(), 0)];
    match &ps.state {
        PartitionState::Failed(cause) => (
            cause.clone(),
            ps.state_time
                .duration_since(UNIX_EPOCH)
                .expect("time")
                .as_millis(),
        ),
        other => panic!("{topic}/0 is {other:?}, expected FAILED"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_partition_stays_failed_across_a_restart() {
    let env = Env::start().await;
    env.source_topic("held", 3).await;
    let (link, shutdown) = env.link(env.config("r1")).await;
    link.create_mirror(&new_mirror("r1", "held"))
        .await
        .expect("create");
    wait_leo(&env.destination, "held", 3).await;
    wait_state(&link, "held", "ACTIVE").await;
    produce(&env.dst.addr(), "held", 1, "intruder");
    wait_state(&link, "held", "FAILED").await;
    let (cause, at) = failed_at_ms(&link, "held");
    let store = StateStore::open(env.destination.clone(), STATE_TOPIC)
        .await
        .expect("state topic");
    let id = ("r1".to_string(), "held".to_string(), 0);
    until("failure recorded", || async {
        store
            .load()
            .await
            .is_ok_and(|s| s.failures.get(&id).is_some_and(|f| f.cause == cause))
    })
    .await;
    shutdown.cancel();
    link.join().await;

    let (link, shutdown) = env.link(env.config("r1")).await;
    until("mirror set up again", || async {
        state_of(&link, "held").is_some_and(|s| s != "PENDING")
    })
    .await;
    assert_eq!(
        failed_at_ms(&link, "held"),
        (cause, at),
        "the recorded failure, with its time, not a new judgement"
    );
    // A foreign write cannot be resumed: the mirror no longer matches.
    let r = link
        .alter_mirror("held", crate::control::MirrorAction::Resume, false)
        .await;
    match r.error {
        Some(crate::control::ControlError::InvalidState { state, .. }) => {
            assert_eq!(state, "FAILED (FOREIGN_WRITE)")
        }
        other => panic!("expected InvalidState, got {other:?}"),
    }
    shutdown.cancel();
    link.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_write_on_a_round_boundary_is_caught_at_restart() {
    let env = Env::start().await;
    env.source_topic("edge", 3).await;
    let (link, shutdown) = env.link(env.config("r2")).await;
    link.create_mirror(&new_mirror("r2", "edge"))
        .await
        .expect("create");
    wait_leo(&env.destination, "edge", 3).await;
    wait_state(&link, "edge", "ACTIVE").await;
    shutdown.cancel();
    link.join().await;

    // The link died after recording a round of two one-record batches
    // (source 3 and 4 to destination 3 and 4) and before producing it;
    // meanwhile someone else wrote one record to the mirror partition, so
    // its log end offset (4) is a batch boundary of that round.
    let store = StateStore::open(env.destination.clone(), STATE_TOPIC)
        .await
        .expect("state topic");
    let snap = store.load().await.expect("state");
    let id = ("r2".to_string(), "edge".to_string(), 0);
    let claim = snap.producers.get("r2").expect("the link's producer claim");
    let landed = snap.checkpoints.get(&id).expect("checkpoint").clone();
    let round = Checkpoint {
        source_start: 3,
        source_end: 5,
        destination_start: 3,
        destination_end: 5,
        batches: vec![(3, 1), (4, 1)],
        producer_id: claim.producer_id,
        producer_epoch: claim.producer_epoch,
        base_sequence: landed.sequence_at(landed.batches.len()),
        ..landed
    };
    store
        .write(&[StateEntry::checkpoint(&id, &round).expect("entry")])
        .await
        .expect("write the round");
    produce(&env.src.addr(), "edge", 2, "later");
    produce(&env.dst.addr(), "edge", 1, "intruder");
    wait_leo(&env.destination, "edge", 4).await;

    let (link, shutdown) = env.link(env.config("r2")).await;
    wait_state(&link, "edge", "FAILED").await;
    match failed_at_ms(&link, "edge").0 {
        FailureCause::ForeignBatch { offset, .. } => assert_eq!(offset, 3),
        other => panic!("expected a foreign batch, got {other:?}"),
    }
    assert_eq!(
        super::lifecycle_tests::leo(&env.destination, "edge").await,
        4,
        "nothing more was written to the mirror partition"
    );
    shutdown.cancel();
    link.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_topic_that_is_not_compacted_is_refused() {
    let env = Env::start().await;
    let delete = [("cleanup.policy".to_string(), "delete".to_string())];
    env.destination
        .create_topic("__expiring_state", 1, -1, &delete)
        .await
        .expect("create");
    match StateStore::open(env.destination.clone(), "__expiring_state").await {
        Err(crate::mirror::MirrorError::StateTopicUnfit { topic, message }) => {
            assert_eq!(topic, "__expiring_state");
            assert!(message.contains("cleanup.policy is delete"), "{message}");
        }
        Err(e) => panic!("expected StateTopicUnfit, got {e}"),
        Ok(_) => panic!("a delete-policy state topic was accepted"),
    }
    // Created by the gateway: compacted.
    StateStore::open(env.destination.clone(), "__fresh_state")
        .await
        .expect("open");
    let configs = env
        .destination
        .describe_topic_configs("__fresh_state")
        .await
        .expect("configs");
    assert!(
        configs.contains(&("cleanup.policy".to_string(), "compact".to_string())),
        "{configs:?}"
    );
}

/// A rolled-up offset map reads back as the same map (pruned below the
/// source log start), from a head and chunk records, with its single
/// segment records deleted; a crash between the chunks and the head leaves
/// the earlier roll-up readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_map_rolled_up_reads_back_the_same() {
    use crate::mirror::offset_map::{rollup_entries, CHUNK_SEGMENTS};

    let env = Env::start().await;
    let store = StateStore::open(env.destination.clone(), STATE_TOPIC)
        .await
        .expect("state topic");
    let id = ("r5".to_string(), "gaps".to_string(), 0);
    // One segment per source transaction: a commit marker after every 3
    // records, more segments than one chunk holds.
    let n = CHUNK_SEGMENTS as i64 + 100;
    let singles: Vec<StateEntry> = (0..n)
        .map(|i| StateEntry::segment(&id, i * 4, i * 3, false))
        .collect();
    store.write(&singles).await.expect("segments");
    let snap = store.load().await.expect("load");
    let mut map = snap.maps[&id].clone();
    assert_eq!(map.len() as i64, n);
    assert_eq!(snap.singles[&id].len() as i64, n);

    // Source retention moved the log start to 4000.
    map.prune_below(4000);
    let sources: Vec<i64> = snap.singles[&id].iter().copied().collect();
    let (entries, head) = rollup_entries(&id, &map, None, &sources).expect("roll-up");
    assert_eq!(head.chunks, 1);
    store.write(&entries).await.expect("roll-up written");
    let after = store.load().await.expect("load after roll-up");
    assert!(after.maps[&id] == map, "same segments from the chunks");
    assert!(after.singles[&id].is_empty(), "single records deleted");
    assert_eq!(after.rollups[&id], head);

    // The next generation's chunks land, its head does not (a crash): the
    // first roll-up is what reads back; the orphan chunk is listed stale.
    let (next, _) = rollup_entries(&id, &map, Some(head), &[]).expect("roll-up");
    let chunks_only: Vec<StateEntry> = next
        .into_iter()
        .filter(|e| e.key.starts_with("mapc/") && e.value.is_some())
        .collect();
    store.write(&chunks_only).await.expect("chunks");
    let crashed = store.load().await.expect("load after a crash");
    assert!(crashed.maps[&id] == map, "the first roll-up reads back");
    assert_eq!(
        crashed.stale_chunks[&id],
        vec!["mapc/r5/gaps/0/2/0".to_string()]
    );
}

/// A partition failed on a destination limit (`MESSAGE_TOO_LARGE`: the
/// mirror topic's `max.message.bytes` is below a source batch) is resumed
/// once the limit is raised: recovered again from its checkpoint, the
/// batch lands, nothing else is rewritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_failed_on_a_limit_resumes_once_it_is_raised() {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::messages::IncrementalAlterConfigsRequest;
    use kafka_protocol::protocol::StrBytes;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    use crate::control::MirrorAction;

    let env = Env::start().await;
    env.source_topic("large", 1).await;
    let (link, shutdown) = env.link(env.config("r6")).await;
    let mut req = new_mirror("r6", "large");
    req.configs = vec![("max.message.bytes".into(), "1024".into())];
    link.create_mirror(&req).await.expect("create");
    wait_leo(&env.destination, "large", 1).await;
    wait_state(&link, "large", "ACTIVE").await;

    let big = vec![b'x'; 4000];
    tokio::task::block_in_place(|| {
        let p: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", env.src.addr())
            .create()
            .expect("producer");
        p.send(
            BaseRecord::<(), [u8]>::to("large")
                .partition(0)
                .payload(&big[..]),
        )
        .map_err(|(e, _)| e)
        .expect("send");
        p.flush(std::time::Duration::from_secs(30)).expect("flush");
    });
    wait_state(&link, "large", "FAILED").await;
    match failed_at_ms(&link, "large").0 {
        FailureCause::Error { code, .. } => assert_eq!(code, "MESSAGE_TOO_LARGE"),
        other => panic!("expected MESSAGE_TOO_LARGE, got {other:?}"),
    }

    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("large"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str("max.message.bytes"))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_static_str("1048588")))]),
    ]);
    let conn = env.destination.any_broker().await.expect("broker");
    let (_, resp) = conn.send(&alter).await.expect("alter configs");
    assert!(resp.responses.iter().all(|r| r.error_code == 0), "{resp:?}");
    let r = link
        .alter_mirror("large", MirrorAction::Resume, false)
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    wait_leo(&env.destination, "large", 2).await;
    wait_state(&link, "large", "ACTIVE").await;
    let store = StateStore::open(env.destination.clone(), STATE_TOPIC)
        .await
        .expect("state topic");
    let id = ("r6".to_string(), "large".to_string(), 0);
    assert!(
        !store
            .load()
            .await
            .expect("state")
            .failures
            .contains_key(&id),
        "the failure record is gone"
    );
    shutdown.cancel();
    link.join().await;
}
