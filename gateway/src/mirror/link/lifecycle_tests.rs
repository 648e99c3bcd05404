//! Mirror topic lifecycle of a running [`MirrorLink`] against two real
//! brokers (nisshi): create (ok, validate only, exists, source missing,
//! internal), pause and resume, promote (lag 0, then a real librdkafka
//! producer writes to the promoted topic and the link leaves it alone;
//! lag above 0 refused), failover, restart of the link restoring paused and
//! stopped mirrors with their history, link state purge, and a foreign
//! write on an idle mirror partition.
//!
//! nisshi has no authorizer (CreateAcls answers SECURITY_DISABLED), so the
//! DENY WRITE protection is tested only for its refusal there.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::{LinkDeps, MirrorLink, WATCH_INTERVAL};
use crate::config::{LinkConfig, StartOffsetSpec};
use crate::control::{ControlError, MirrorAction, NewMirror};
use crate::kafka::testutil::Broker;
use crate::kafka::{ClusterClient, OffsetSpec};
use crate::mirror::registry::MirrorRegistry;
use crate::mirror::state::{DesiredState, StateEntry, StateStore};
use crate::mirror::status::{FailureCause, PartitionState};
use crate::plugin::{PluginHost, PluginRegistry};

pub(super) const STATE_TOPIC: &str = "__linkgate_state";
/// Bound on every wait of these tests.
const DEADLINE: Duration = Duration::from_secs(60);

pub(super) struct Env {
    pub(super) src: Broker,
    pub(super) dst: Broker,
    pub(super) source: Arc<ClusterClient>,
    pub(super) destination: Arc<ClusterClient>,
    registry: Arc<MirrorRegistry>,
    plugins: Arc<PluginRegistry>,
}

impl Env {
    pub(super) async fn start() -> Self {
        let src = Broker::start("src");
        let dst = Broker::start("dst");
        let source = ClusterClient::connect(src.settings("src"))
            .await
            .expect("connect source");
        let destination = ClusterClient::connect(dst.settings("dst"))
            .await
            .expect("connect destination");
        Self {
            src,
            dst,
            source,
            destination,
            registry: Arc::new(MirrorRegistry::new()),
            plugins: Arc::new(PluginRegistry::new(PluginHost::new().expect("plugin host"))),
        }
    }

    pub(super) fn config(&self, name: &str) -> LinkConfig {
        LinkConfig {
            name: name.into(),
            source: self.src.settings("src"),
            destination: self.dst.settings("dst"),
            mirror_topics: Vec::new(),
            start_offset: StartOffsetSpec::Earliest,
            paused: false,
            auto_create: false,
            metadata_max_age: Duration::from_secs(300),
            topic_filters: Vec::new(),
            renamers: Vec::new(),
            acl_mappers: Vec::new(),
            record_transforms: Vec::new(),
            properties: Vec::new(),
            write_deny_principals: Vec::new(),
            offset_sync: Default::default(),
            topic_config_sync: crate::config::DEFAULT_TOPIC_CONFIG_SYNC_INTERVAL,
            acl_sync: Default::default(),
            max_request_size: crate::config::DEFAULT_MAX_REQUEST_SIZE,
        }
    }

    /// Starts `config` and waits until it takes commands.
    pub(super) async fn link(&self, config: LinkConfig) -> (MirrorLink, CancellationToken) {
        let shutdown = CancellationToken::new();
        let link = MirrorLink::start(
            config,
            LinkDeps {
                state_topic: STATE_TOPIC.into(),
                plugins: self.plugins.clone(),
                registry: self.registry.clone(),
            },
            shutdown.clone(),
        );
        until("link running", || async { link.is_running() }).await;
        (link, shutdown)
    }

    pub(super) async fn source_topic(&self, topic: &str, records: usize) {
        self.source
            .create_topic(topic, 1, -1, &[])
            .await
            .expect("create source topic");
        if records > 0 {
            produce(&self.src.addr(), topic, records, "src");
            wait_leo(&self.source, topic, records as i64).await;
        }
    }
}

/// Polls `f` every 50 ms until it is true; panics after [`DEADLINE`].
pub(super) async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    crate::kafka::testutil::wait_until(what, DEADLINE, &mut f).await;
}

/// Asserts `f` stays true for `window` (checked every 100 ms): used only
/// to show that something does not happen.
async fn stays<F>(what: &str, window: Duration, mut f: F)
where
    F: FnMut() -> bool,
{
    let end = Instant::now() + window;
    while Instant::now() < end {
        assert!(f(), "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Produces `n` records to partition 0 of `topic` with librdkafka.
pub(super) fn produce(bootstrap: &str, topic: &str, n: usize, tag: &str) {
    tokio::task::block_in_place(|| {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("linger.ms", "0")
            .create()
            .expect("producer");
        for i in 0..n {
            let key = format!("{tag}-{i}");
            let value = format!("value {tag} {i}");
            p.send(BaseRecord::to(topic).partition(0).key(&key).payload(&value))
                .map_err(|(e, _)| e)
                .expect("send");
        }
        p.flush(Duration::from_secs(30)).expect("flush");
    });
}

pub(super) async fn leo(client: &ClusterClient, topic: &str) -> i64 {
    let tp = vec![(topic.to_string(), 0)];
    client
        .list_offsets(&tp, OffsetSpec::Latest)
        .await
        .ok()
        .and_then(|m| m.get(&tp[0]).copied())
        .unwrap_or(-1)
}

pub(super) async fn wait_leo(client: &ClusterClient, topic: &str, expected: i64) {
    until(&format!("{topic} log end offset {expected}"), || async {
        leo(client, topic).await == expected
    })
    .await;
}

pub(super) fn state_of(link: &MirrorLink, topic: &str) -> Option<&'static str> {
    link.mirror_states()
        .into_iter()
        .find(|(t, _)| t == topic)
        .map(|(_, s)| s)
}

pub(super) async fn wait_state(link: &MirrorLink, topic: &str, state: &str) {
    until(&format!("{topic} {state}"), || async {
        state_of(link, topic) == Some(state)
    })
    .await;
}

pub(super) fn new_mirror(link: &str, source: &str) -> NewMirror {
    NewMirror {
        link_name: link.into(),
        source_topic_name: Some(source.into()),
        mirror_topic_name: None,
        replication_factor: None,
        configs: Vec::new(),
        validate_only: false,
    }
}

/// Waits until promote would pass (lag 0 everywhere).
async fn wait_lag_zero(link: &MirrorLink, topic: &str) {
    until(&format!("{topic} lag 0"), || async {
        link.alter_mirror(topic, MirrorAction::Promote, true)
            .await
            .error
            .is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_mirror_checks_names_and_creates_the_topic() {
    let env = Env::start().await;
    env.source_topic("orders", 3).await;
    let (link, shutdown) = env.link(env.config("l1")).await;

    // validate_only: every check, no topic, no record.
    let mut req = new_mirror("l1", "orders");
    req.configs = vec![("retention.ms".into(), "7200000".into())];
    req.validate_only = true;
    link.create_mirror(&req).await.expect("validate only");
    assert!(env.destination.topic("orders").await.unwrap().is_none());
    assert!(state_of(&link, "orders").is_none());

    req.validate_only = false;
    link.create_mirror(&req).await.expect("create");
    wait_state(&link, "orders", "ACTIVE").await;
    wait_leo(&env.destination, "orders", 3).await;
    let configs = env
        .destination
        .describe_topic_configs("orders")
        .await
        .expect("configs");
    assert!(
        configs.contains(&("retention.ms".into(), "7200000".into())),
        "config override applied: {configs:?}"
    );
    let entry = env
        .registry
        .entries()
        .into_iter()
        .find(|e| e.mirror_topic == "orders")
        .expect("registered");
    assert_eq!(entry.link, "l1");
    assert_eq!(entry.source_topic, "orders");

    // Exists (as a mirror of this link), source missing, internal, names.
    let err = link.create_mirror(&new_mirror("l1", "orders")).await;
    assert!(
        matches!(err, Err(ControlError::MirrorExists { .. })),
        "{err:?}"
    );
    let err = link.create_mirror(&new_mirror("l1", "nope")).await;
    assert!(
        matches!(err, Err(ControlError::SourceTopicNotFound { .. })),
        "{err:?}"
    );
    let err = link
        .create_mirror(&new_mirror("l1", "__consumer_offsets"))
        .await;
    assert!(
        matches!(err, Err(ControlError::InvalidConfig { .. })),
        "{err:?}"
    );
    let mut both = new_mirror("l1", "orders");
    both.mirror_topic_name = Some("other".into());
    let err = link.create_mirror(&both).await;
    assert!(
        matches!(err, Err(ControlError::InvalidConfig { ref key, .. }) if key == "mirror_topic_name"),
        "{err:?}"
    );
    // A regular destination topic of that name.
    env.source_topic("taken", 0).await;
    env.destination
        .create_topic("taken", 1, -1, &[])
        .await
        .expect("create");
    let mut by_mirror = new_mirror("l1", "x");
    by_mirror.source_topic_name = None;
    by_mirror.mirror_topic_name = Some("taken".into());
    let err = link.create_mirror(&by_mirror).await;
    assert!(
        matches!(err, Err(ControlError::MirrorExists { .. })),
        "{err:?}"
    );
    shutdown.cancel();
    link.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_deny_acls_refused_without_an_authorizer_fail_the_creation() {
    let env = Env::start().await;
    env.source_topic("guarded", 1).await;
    let mut config = env.config("l2");
    config.write_deny_principals = vec!["User:*".into()];
    let (link, shutdown) = env.link(config).await;
    let err = link.create_mirror(&new_mirror("l2", "guarded")).await;
    match err {
        Err(ControlError::InvalidConfig { key, message }) => {
            assert_eq!(key, "linkgate.mirror.write.deny.enable");
            assert!(message.contains("SECURITY_DISABLED"), "{message}");
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    assert!(
        env.destination.topic("guarded").await.unwrap().is_none(),
        "no topic left behind"
    );
    let snap = StateStore::open(env.destination.clone(), STATE_TOPIC)
        .await
        .unwrap()
        .load()
        .await
        .unwrap();
    assert!(
        !snap
            .mirror_topics
            .contains_key(&("l2".into(), "guarded".into())),
        "no record left behind"
    );
    shutdown.cancel();
    link.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_promote_failover_survive_a_restart() {
    let env = Env::start().await;
    env.source_topic("a", 2).await;
    env.source_topic("b", 2).await;
    env.source_topic("c", 2).await;
    let (link, shutdown) = env.link(env.config("l3")).await;
    for t in ["a", "b", "c"] {
        link.create_mirror(&new_mirror("l3", t))
            .await
            .expect("create");
        wait_leo(&env.destination, t, 2).await;
    }

    // Pause: not fetched; pausing again is a no-op success.
    let r = link.alter_mirror("a", MirrorAction::Pause, false).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    wait_state(&link, "a", "PAUSED").await;
    let r = link.alter_mirror("a", MirrorAction::Pause, false).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    produce(&env.src.addr(), "a", 3, "more");
    wait_leo(&env.source, "a", 5).await;
    // Promote with lag: refused, state unchanged; the dry run reports it too.
    let r = link.alter_mirror("a", MirrorAction::Promote, false).await;
    match &r.error {
        Some(ControlError::LagNotZero { lags, .. }) => assert_eq!(lags, &vec![(0, 3)]),
        other => panic!("expected LagNotZero, got {other:?}"),
    }
    assert_eq!(r.lags.len(), 1);
    assert_eq!(r.lags[0].lag, 3);
    assert_eq!(r.lags[0].last_source_fetch_offset, 2);
    assert!(r.error.as_ref().unwrap().to_string().contains("has lag 3"));
    assert_eq!(state_of(&link, "a"), Some("PAUSED"));
    let dry = link.alter_mirror("a", MirrorAction::Promote, true).await;
    assert!(matches!(dry.error, Some(ControlError::LagNotZero { .. })));
    assert_eq!(
        leo(&env.destination, "a").await,
        2,
        "paused: nothing mirrored"
    );
    // Resume: mirrored again.
    let r = link.alter_mirror("a", MirrorAction::Resume, false).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    wait_state(&link, "a", "ACTIVE").await;
    wait_leo(&env.destination, "a", 5).await;
    // ... and paused again for the restart.
    let r = link.alter_mirror("a", MirrorAction::Pause, false).await;
    assert!(r.error.is_none(), "{:?}", r.error);

    // Promote with lag 0: validate only changes nothing, then STOPPED.
    wait_lag_zero(&link, "b").await;
    assert_eq!(state_of(&link, "b"), Some("ACTIVE"));
    let r = link.alter_mirror("b", MirrorAction::Promote, false).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.lags.len(), 1);
    assert_eq!(r.lags[0].lag, 0);
    assert_eq!(r.lags[0].last_source_fetch_offset, 2);
    assert_eq!(state_of(&link, "b"), Some("STOPPED"));
    assert!(
        !env.registry.entries().iter().any(|e| e.mirror_topic == "b"),
        "a stopped mirror leaves the registry"
    );
    let r = link.alter_mirror("b", MirrorAction::Resume, false).await;
    assert!(matches!(r.error, Some(ControlError::InvalidState { .. })));
    // The promoted topic is an ordinary topic: a real producer writes to
    // it and the link neither flags it nor mirrors into it any more.
    produce(&env.dst.addr(), "b", 2, "app");
    wait_leo(&env.destination, "b", 4).await;
    produce(&env.src.addr(), "b", 1, "late");
    stays(
        "a promoted topic stays STOPPED and untouched",
        WATCH_INTERVAL + Duration::from_secs(2),
        || state_of(&link, "b") == Some("STOPPED"),
    )
    .await;
    assert_eq!(leo(&env.destination, "b").await, 4);

    // Failover with lag: STOPPED at once, lag reported.
    let r = link.alter_mirror("c", MirrorAction::Pause, false).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    produce(&env.src.addr(), "c", 4, "more");
    wait_leo(&env.source, "c", 6).await;
    let dry = link.alter_mirror("c", MirrorAction::Failover, true).await;
    assert!(dry.error.is_none(), "{:?}", dry.error);
    assert_eq!(
        state_of(&link, "c"),
        Some("PAUSED"),
        "dry run changes nothing"
    );
    let r = link.alter_mirror("c", MirrorAction::Failover, false).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.lags[0].lag, 4);
    assert_eq!(state_of(&link, "c"), Some("STOPPED"));
    let r = link.alter_mirror("c", MirrorAction::Failover, false).await;
    assert!(matches!(r.error, Some(ControlError::InvalidState { .. })));
    let r = link.alter_mirror("zzz", MirrorAction::Pause, false).await;
    assert!(matches!(r.error, Some(ControlError::MirrorNotFound { .. })));
    shutdown.cancel();
    link.join().await;

    // Restart: a new link on the same clusters restores every state.
    let (link, shutdown) = env.link(env.config("l3")).await;
    until("mirror a set up again", || async {
        state_of(&link, "a").is_some_and(|s| s != "PENDING")
    })
    .await;
    assert_eq!(state_of(&link, "a"), Some("PAUSED"));
    assert_eq!(state_of(&link, "b"), Some("STOPPED"));
    assert_eq!(state_of(&link, "c"), Some("STOPPED"));
    let table = link.status().snapshot();
    let c = table.get(&("c".to_string(), 0)).expect("c history");
    assert_eq!(c.next_fetch_offset, 2, "last source fetch offset kept");
    assert_eq!(c.destination_log_end_offset, 2);
    assert_eq!(link.status().source_topic("c").as_deref(), Some("c"));
    let b = table.get(&("b".to_string(), 0)).expect("b history");
    assert_eq!(b.state, PartitionState::Stopped);
    assert_eq!(b.next_fetch_offset, 2);
    let r = link.alter_mirror("a", MirrorAction::Resume, false).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    wait_state(&link, "a", "ACTIVE").await;
    shutdown.cancel();
    link.join().await;

    // Deleting the link's state.
    let store = StateStore::open(env.destination.clone(), STATE_TOPIC)
        .await
        .unwrap();
    // An ACL binding the link's ACL sync created (a name with `/`).
    let owned = crate::kafka::AclEntry {
        resource_type: 2,
        resource_name: "c/with/slash".into(),
        pattern_type: 3,
        principal: "User:a".into(),
        host: "*".into(),
        operation: 3,
        permission: 3,
    };
    store
        .write(&[StateEntry::synced_acl("l3", &owned, true)])
        .await
        .unwrap();
    let before = store.load().await.unwrap();
    assert_eq!(
        before.synced_acls["l3"].values().collect::<Vec<_>>(),
        [&owned],
        "ownership record read back"
    );
    let rec = &before.mirror_topics[&("l3".to_string(), "c".to_string())];
    assert_eq!(rec.state, DesiredState::Stopped);
    assert_eq!(rec.stopped_partitions.len(), 1);
    store.purge_link("l3").await.expect("purge");
    let after = store.load().await.unwrap();
    assert!(after.mirror_topics.keys().all(|(l, _)| l != "l3"));
    assert!(after.checkpoints.keys().all(|(l, _, _)| l != "l3"));
    assert!(after.synced_acls.get("l3").is_none_or(|m| m.is_empty()));
    assert!(after
        .maps
        .iter()
        .all(|((l, _, _), m)| l != "l3" || m.segments().count() == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_write_on_an_idle_mirror_partition_fails_it() {
    let env = Env::start().await;
    env.source_topic("idle", 2).await;
    let (link, shutdown) = env.link(env.config("l4")).await;
    link.create_mirror(&new_mirror("l4", "idle"))
        .await
        .expect("create");
    wait_leo(&env.destination, "idle", 2).await;
    wait_state(&link, "idle", "ACTIVE").await;
    // Rounds land while the check runs: never flagged.
    produce(&env.src.addr(), "idle", 5, "busy");
    wait_leo(&env.destination, "idle", 7).await;
    assert_eq!(state_of(&link, "idle"), Some("ACTIVE"));
    // Someone else writes to the idle mirror partition.
    produce(&env.dst.addr(), "idle", 1, "intruder");
    wait_state(&link, "idle", "FAILED").await;
    let table = link.status().snapshot();
    match &table[&("idle".to_string(), 0)].state {
        PartitionState::Failed(FailureCause::ForeignWrite { expected, found }) => {
            assert_eq!((*expected, *found), (7, 8));
        }
        other => panic!("expected FOREIGN_WRITE, got {other:?}"),
    }
    let r = link.alter_mirror("idle", MirrorAction::Resume, false).await;
    assert!(matches!(r.error, Some(ControlError::InvalidState { .. })));
    let r = link
        .alter_mirror("idle", MirrorAction::Failover, false)
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    shutdown.cancel();
    link.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_source_makes_the_link_unavailable_and_refuses_commands() {
    use crate::api::LinkState;
    let env = Env::start().await;
    let mut config = env.config("l5");
    let closed = format!("127.0.0.1:{}", crate::kafka::testutil::free_port());
    config.source = crate::kafka::ClusterSettings::new("src", vec![closed.clone()]);
    config.source.connect_timeout = Duration::from_secs(2);
    let shutdown = CancellationToken::new();
    let link = MirrorLink::start(
        config,
        LinkDeps {
            state_topic: STATE_TOPIC.into(),
            plugins: env.plugins.clone(),
            registry: env.registry.clone(),
        },
        shutdown.clone(),
    );
    until("link UNAVAILABLE", || async {
        link.status().health().state == LinkState::Unavailable
    })
    .await;
    let health = link.status().health();
    assert_eq!(health.error, "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR");
    assert!(
        health.error_message.contains(&closed) && health.error_message.contains("src"),
        "names cluster and address: {}",
        health.error_message
    );
    assert!(!link.is_running());
    let err = link.create_mirror(&new_mirror("l5", "t")).await;
    match err {
        Err(ControlError::Unavailable { message }) => {
            assert!(message.contains("l5"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let r = link.alter_mirror("t", MirrorAction::Pause, false).await;
    assert!(matches!(r.error, Some(ControlError::Unavailable { .. })));
    shutdown.cancel();
    link.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_with_another_cluster_id_fails_the_link() {
    use crate::api::LinkState;
    let env = Env::start().await;
    let shutdown = CancellationToken::new();
    let link = MirrorLink::start_expecting(
        env.config("l6"),
        LinkDeps {
            state_topic: STATE_TOPIC.into(),
            plugins: env.plugins.clone(),
            registry: env.registry.clone(),
        },
        Some("not-the-id".into()),
        shutdown.clone(),
    );
    until("link FAILED", || async {
        link.status().health().state == LinkState::Failed
    })
    .await;
    let health = link.status().health();
    assert!(
        health.error_message.contains("not-the-id") && health.error_message.contains("'src'"),
        "{}",
        health.error_message
    );
    let err = link.create_mirror(&new_mirror("l6", "t")).await;
    assert!(
        matches!(err, Err(ControlError::Unavailable { .. })),
        "{err:?}"
    );
    shutdown.cancel();
    link.join().await;
}

/// The idle foreign-write check never judges a partition with a round in
/// flight (the destination moves because linkgate is producing), and
/// judges it once the round is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_check_skips_partitions_with_a_round_in_flight() {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use super::{check_idle_writes, LinkCtx, Slot};
    use crate::mirror::state::ProducerIdentity;
    use crate::mirror::status::{LinkStatus, PartitionStatus};

    let broker = Broker::start("dst");
    let destination = ClusterClient::connect(broker.settings("dst"))
        .await
        .expect("connect");
    destination
        .create_topic("t", 1, -1, &[])
        .await
        .expect("create topic");
    // Records the check does not expect: what a landing round looks like.
    produce(&broker.addr(), "t", 3, "landing");
    wait_leo(&destination, "t", 3).await;
    let key = ("t".to_string(), 0);
    let status = LinkStatus::default();
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
    let slot = Slot::new("t", &uuid::Uuid::nil().to_string(), 0, 0);
    let rounds = slot.rounds.clone();
    let state = StateStore::open(destination.clone(), STATE_TOPIC)
        .await
        .expect("state topic");
    let (id, epoch) = destination.init_producer_id().await.expect("producer id");
    let ctx = LinkCtx::for_test(
        "idle-test",
        destination.clone(),
        destination.clone(),
        state,
        ProducerIdentity { id, epoch },
        BTreeMap::from([(key.clone(), slot)]),
        status,
    );
    let round = rounds.begin();
    check_idle_writes(&ctx).await;
    assert_eq!(ctx.state_of(&key), Some(PartitionState::Active));
    drop(round);
    assert_eq!(rounds.in_flight(), 0);
    check_idle_writes(&ctx).await;
    assert_eq!(
        ctx.state_of(&key),
        Some(PartitionState::Failed(FailureCause::ForeignWrite {
            expected: 0,
            found: 3
        }))
    );
}

/// A config-file mirror whose source does not exist yet stays pending; once
/// the source exists, an API create of the same topic succeeds and the
/// watcher's retries leave the mirror as it is (not set up twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_create_of_a_pending_config_mirror_sets_it_up_once() {
    let env = Env::start().await;
    let mut config = env.config("l7");
    config.mirror_topics = vec!["later".into()];
    let (link, shutdown) = env.link(config).await;
    assert!(
        state_of(&link, "later").is_none(),
        "source missing: pending"
    );
    env.source_topic("later", 2).await;
    link.create_mirror(&new_mirror("l7", "later"))
        .await
        .expect("create");
    wait_state(&link, "later", "ACTIVE").await;
    wait_leo(&env.destination, "later", 2).await;
    produce(&env.src.addr(), "later", 1, "more");
    wait_leo(&env.destination, "later", 3).await;
    stays(
        "still ACTIVE across watcher ticks",
        WATCH_INTERVAL + Duration::from_secs(1),
        || state_of(&link, "later") == Some("ACTIVE"),
    )
    .await;
    assert_eq!(leo(&env.destination, "later").await, 3);
    shutdown.cancel();
    link.join().await;
}
