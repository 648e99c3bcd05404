//! Auto-create loop prevention and task status against real brokers (two
//! nisshi clusters): two links in opposite directions (A->B and B->A), with
//! and without `cluster.link.prefix`, first simulated (repeated rounds of
//! scan, create the mirror topic, register it: the registry and prefix
//! rules alone), then as two running [`MirrorLink`]s; no topic ping-pongs
//! between the clusters. Also: mirrors recorded in the source cluster's own
//! state topic, and the `AutoCreateMirror` task errors of a failed and of a
//! good scan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::GatewayConfig;
use crate::kafka::testutil::Broker;
use crate::kafka::ClusterSettings;
use crate::mirror::link::{LinkDeps, MirrorLink};
use crate::mirror::state::{ProducerIdentity, StateEntry};
use crate::mirror::status::LinkStatus;
use crate::plugin::{PluginHost, PluginRegistry};

const STATE_TOPIC: &str = "__linkgate_state";

/// Connect, retrying briefly while the broker starts serving Metadata.
async fn client(settings: ClusterSettings) -> Arc<ClusterClient> {
    crate::kafka::testutil::connect(settings).await
}

/// Create `name` and wait (bounded) until Metadata lists it with an id.
async fn create(c: &ClusterClient, name: &str) -> uuid::Uuid {
    c.create_topic(name, 1, -1, &[])
        .await
        .expect("create topic");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(t) = c.topic(name).await.expect("metadata") {
            if !t.topic_id.is_nil() || Instant::now() >= deadline {
                return t.topic_id;
            }
        }
        assert!(Instant::now() < deadline, "topic {name} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// User topics (no `__*`) of a cluster.
async fn user_topics(c: &ClusterClient) -> BTreeSet<String> {
    c.topics()
        .await
        .expect("list topics")
        .into_iter()
        .filter(|t| !t.name.starts_with("__"))
        .map(|t| t.name)
        .collect()
}

/// One simulated link: what a running link keeps for auto-create.
struct SimLink {
    name: String,
    source: Arc<ClusterClient>,
    destination: Arc<ClusterClient>,
    prefix: String,
    names: BTreeMap<String, String>,
}

impl SimLink {
    /// One auto-create round as the link runs it: candidates from the
    /// source (every candidate passes an empty filter chain), mirror topic
    /// created on the destination, registered. Returns the new mirrors.
    async fn round(&mut self, registry: &MirrorRegistry) -> Vec<String> {
        let topics = self.source.topics().await.expect("list source topics");
        let view = source_view(
            &self.source,
            STATE_TOPIC,
            registry,
            &cluster_key(&self.destination),
        )
        .await
        .expect("source view");
        let picked: Vec<String> = candidates(&self.name, &view, &topics, &self.names, &[])
            .into_iter()
            .map(|t| t.name.clone())
            .collect();
        let mut created = Vec::new();
        for source_topic in picked {
            let mirror = format!("{}{source_topic}", self.prefix);
            let id = create(&self.destination, &mirror).await;
            registry.register(MirrorEntry {
                link: self.name.clone(),
                destination_cluster: cluster_key(&self.destination),
                mirror_topic: mirror.clone(),
                mirror_topic_id: (!id.is_nil()).then(|| id.to_string()),
                source_cluster: cluster_key(&self.source),
                source_topic: source_topic.clone(),
                origin_cluster: cluster_key(&self.source),
            });
            self.names.insert(source_topic, mirror.clone());
            created.push(mirror);
        }
        created
    }
}

/// Links A->B and B->A (prefixes `pa`, `pb`) with auto-create: `orders`
/// on A and `payments` on B each get exactly one mirror on the other side,
/// and further rounds create nothing.
async fn opposite_links(pa: &str, pb: &str) {
    let a = Broker::start("cluster-a");
    let b = Broker::start("cluster-b");
    let ca = client(a.settings("A")).await;
    let cb = client(b.settings("B")).await;
    assert_eq!(cluster_key(&ca), "cluster-a");
    create(&ca, "orders").await;
    create(&cb, "payments").await;

    let registry = MirrorRegistry::new();
    let mut ab = SimLink {
        name: "ab".into(),
        source: ca.clone(),
        destination: cb.clone(),
        prefix: pa.into(),
        names: BTreeMap::new(),
    };
    let mut ba = SimLink {
        name: "ba".into(),
        source: cb.clone(),
        destination: ca.clone(),
        prefix: pb.into(),
        names: BTreeMap::new(),
    };
    for l in [&ab, &ba] {
        registry.register_link(LinkEntry {
            link: l.name.clone(),
            source_cluster: cluster_key(&l.source),
            destination_cluster: cluster_key(&l.destination),
            prefix: (!l.prefix.is_empty()).then(|| l.prefix.clone()),
        });
    }

    assert_eq!(ab.round(&registry).await, [format!("{pa}orders")]);
    assert_eq!(ba.round(&registry).await, [format!("{pb}payments")]);
    for i in 0..3 {
        assert!(ab.round(&registry).await.is_empty(), "round {i}: A->B");
        assert!(ba.round(&registry).await.is_empty(), "round {i}: B->A");
    }
    assert_eq!(
        user_topics(&ca).await,
        BTreeSet::from(["orders".to_string(), format!("{pb}payments")])
    );
    assert_eq!(
        user_topics(&cb).await,
        BTreeSet::from(["payments".to_string(), format!("{pa}orders")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_links_without_prefix_do_not_ping_pong() {
    opposite_links("", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_links_with_prefixes_do_not_ping_pong() {
    opposite_links("a.", "b.").await;
}

/// The prefix rule alone (the mirror not registered, e.g. created by a
/// link that has not registered it yet): `a.orders` on B is not mirrored
/// back by B->A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixed_mirror_unregistered_is_not_mirrored_back() {
    let b = Broker::start("cluster-b");
    let cb = client(b.settings("B")).await;
    create(&cb, "a.orders").await;
    create(&cb, "local").await;
    let registry = MirrorRegistry::new();
    registry.register_link(LinkEntry {
        link: "ab".into(),
        source_cluster: "cluster-a".into(),
        destination_cluster: cluster_key(&cb),
        prefix: Some("a.".into()),
    });
    let view = source_view(&cb, STATE_TOPIC, &registry, "cluster-a")
        .await
        .expect("view");
    let topics = cb.topics().await.expect("topics");
    let got: Vec<&str> = candidates("ba", &view, &topics, &BTreeMap::new(), &[])
        .into_iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(got, ["local"]);
}

/// Mirrors recorded in the source cluster's own state topic (by another
/// linkgate gateway) are skipped; stopped ones are ordinary topics again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_recorded_in_the_source_state_topic_are_skipped() {
    let b = Broker::start("cluster-b");
    let cb = client(b.settings("B")).await;
    for t in ["inventory", "promoted", "plain"] {
        create(&cb, t).await;
    }
    let store = StateStore::open(cb.clone(), STATE_TOPIC)
        .await
        .expect("state topic");
    let record = |state: &str| StateEntry {
        key: String::new(),
        value: Some(
            serde_json::json!({"source_topic": "x", "source_topic_id": "", "state": state})
                .to_string()
                .into_bytes(),
        ),
    };
    store
        .write(&[
            StateEntry {
                key: "mt/far-link/inventory".into(),
                ..record("active")
            },
            StateEntry {
                key: "mt/far-link/promoted".into(),
                ..record("stopped")
            },
        ])
        .await
        .expect("write records");

    let recorded = recorded_mirrors(&cb, STATE_TOPIC).await.expect("read");
    assert_eq!(
        recorded,
        BTreeMap::from([("inventory".to_string(), ("far-link".to_string(), None))])
    );
    let view = source_view(&cb, STATE_TOPIC, &MirrorRegistry::new(), "cluster-a")
        .await
        .expect("view");
    let topics = cb.topics().await.expect("topics");
    let got: Vec<&str> = candidates("ba", &view, &topics, &BTreeMap::new(), &[])
        .into_iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(got, ["plain", "promoted"]);
}

/// A link context over `source` (state topic on `destination`).
async fn ctx(
    source: Arc<ClusterClient>,
    destination: Arc<ClusterClient>,
    status: LinkStatus,
) -> LinkCtx {
    let state = StateStore::open(destination.clone(), STATE_TOPIC)
        .await
        .expect("state topic");
    let (id, epoch) = destination.init_producer_id().await.expect("producer id");
    let producer = ProducerIdentity { id, epoch };
    LinkCtx::for_test(
        "auto",
        source,
        destination,
        state,
        producer,
        BTreeMap::new(),
        status,
    )
}

/// A scan of an unreachable source reports SOURCE_UNAVAILABLE in the
/// `AutoCreateMirror` task; the next good scan clears it and picks the
/// new topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_scan_sets_task_errors_and_good_scan_clears_them() {
    let dest = Broker::start("cluster-d");
    let cd = client(dest.settings("destination")).await;
    let status = LinkStatus::default();

    let gone = Broker::start("cluster-gone");
    let mut settings = gone.settings("source");
    settings.request_timeout = Duration::from_secs(1);
    settings.connect_timeout = Duration::from_millis(500);
    let cs = client(settings).await;
    drop(gone); // the source goes away after connecting
    let c = ctx(cs, cd.clone(), status.clone()).await;
    let mut pending = Vec::new();
    scan(&c, &MirrorRegistry::new(), &BTreeMap::new(), &mut pending).await;
    assert!(pending.is_empty());
    let errors = status.task_errors(TASK);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, SOURCE_UNAVAILABLE);
    assert!(
        errors[0].1.contains("cannot list the source topics") && errors[0].1.contains("`source`"),
        "{errors:?}"
    );

    let src = Broker::start("cluster-s");
    let cs = client(src.settings("source")).await;
    create(&cs, "fresh").await;
    let c = ctx(cs, cd, status.clone()).await;
    scan(&c, &MirrorRegistry::new(), &BTreeMap::new(), &mut pending).await;
    assert_eq!(pending, ["fresh"]);
    assert!(status.task_errors(TASK).is_empty());
}

/// Gateway config text: clusters `a` and `b`, links `ab` (a->b) and `ba`
/// (b->a), both auto-creating with a 300 ms rescan, prefixes `pa`/`pb`
/// (none when empty).
fn two_links_config(a: &Broker, b: &Broker, pa: &str, pb: &str) -> String {
    let prefix = |p: &str| {
        if p.is_empty() {
            String::new()
        } else {
            format!("\"cluster.link.prefix\" = \"{p}\"")
        }
    };
    let link = |name: &str, from: &str, to: &str, p: &str| {
        format!(
            "[[links]]\nname = \"{name}\"\nsource = \"{from}\"\ndestination = \"{to}\"\n\
             [links.config]\n\"auto.create.mirror.topics.enable\" = \"true\"\n\
             \"metadata.max.age.ms\" = \"300\"\n{}\n",
            prefix(p)
        )
    };
    format!(
        "[clusters.a]\n\"bootstrap.servers\" = \"{}\"\n[clusters.b]\n\"bootstrap.servers\" = \"{}\"\n\n{}\n{}",
        a.addr(),
        b.addr(),
        link("ab", "a", "b", pa),
        link("ba", "b", "a", pb),
    )
}

/// Runs links A->B and B->A (auto-create on) through [`MirrorLink`]: over
/// three rescans each cluster has exactly its own topics and one mirror of
/// each of the other's (no topic ping-pongs).
async fn opposite_running_links(pa: &str, pb: &str) {
    let a = Broker::start("cluster-a");
    let b = Broker::start("cluster-b");
    let ca = client(a.settings("A")).await;
    let cb = client(b.settings("B")).await;
    create(&ca, "orders").await;
    create(&cb, "payments").await;

    let cfg =
        GatewayConfig::parse(&two_links_config(&a, &b, pa, pb), "test").expect("gateway config");
    let plugins = Arc::new(PluginRegistry::new(PluginHost::new().expect("plugin host")));
    for p in &cfg.plugins {
        let spec = crate::runtime::plugin_spec(p).expect("plugin spec");
        plugins.reload(spec).await.expect("load plugin");
    }
    let deps = LinkDeps {
        state_topic: STATE_TOPIC.into(),
        plugins,
        registry: Arc::new(MirrorRegistry::new()),
    };
    let shutdown = CancellationToken::new();
    let links: Vec<MirrorLink> = cfg
        .links
        .iter()
        .map(|l| MirrorLink::start(l.clone(), deps.clone(), shutdown.child_token()))
        .collect();

    // Each round adds a topic on each side and waits until exactly the
    // expected topics exist on both clusters. A rescan runs only between
    // rounds (the link's watcher), so by the end of the third round every
    // scan that saw the first mirrors has run and set up all it picked: a
    // topic mirrored back (or a prefixed mirror of a mirror) would have
    // shown up as an extra topic.
    let mut own_a = vec!["orders".to_string()];
    let mut own_b = vec!["payments".to_string()];
    for round in ["", "late-", "last-"] {
        if !round.is_empty() {
            let (ta, tb) = (format!("{round}a"), format!("{round}b"));
            create(&ca, &ta).await;
            create(&cb, &tb).await;
            own_a.push(ta);
            own_b.push(tb);
        }
        let want_a: BTreeSet<String> = own_a
            .iter()
            .cloned()
            .chain(own_b.iter().map(|t| format!("{pb}{t}")))
            .collect();
        let want_b: BTreeSet<String> = own_b
            .iter()
            .cloned()
            .chain(own_a.iter().map(|t| format!("{pa}{t}")))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (now_a, now_b) = (user_topics(&ca).await, user_topics(&cb).await);
            if now_a == want_a && now_b == want_b {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round:?}: A {now_a:?} (want {want_a:?}), B {now_b:?} (want {want_b:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Each link mirrors exactly the other cluster's own topic (a topic
    // mirrored back into the existing source topic would show up here).
    let mirrors =
        |l: &MirrorLink| -> Vec<String> { l.mirror_states().into_iter().map(|(t, _)| t).collect() };
    assert_eq!(links.len(), 2);
    let expect = |own: &[String], p: &str| -> Vec<String> {
        let mut v: Vec<String> = own.iter().map(|t| format!("{p}{t}")).collect();
        v.sort();
        v
    };
    // A mirror topic exists on the destination a moment before its link
    // lists it (set-up goes on after the topic is created).
    let listed = Instant::now() + Duration::from_secs(30);
    while (mirrors(&links[0]) != expect(&own_a, pa) || mirrors(&links[1]) != expect(&own_b, pb))
        && Instant::now() < listed
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mirrors(&links[0]), expect(&own_a, pa), "link ab");
    assert_eq!(mirrors(&links[1]), expect(&own_b, pb), "link ba");
    for l in &links {
        assert!(
            l.status().task_errors(TASK).is_empty(),
            "{}: {:?}",
            l.config().name,
            l.status().task_errors(TASK)
        );
    }
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_opposite_links_without_prefix_do_not_ping_pong() {
    opposite_running_links("", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_opposite_links_with_prefixes_do_not_ping_pong() {
    opposite_running_links("a.", "b.").await;
}
