//! [`LinkManager`] against real brokers (nisshi, see
//! `crate::kafka::testutil`): create (validation error codes, validate
//! only, exclude validation), persistence across managers, alter, delete,
//! mirror actions by topic, and config-file reloads.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::kafka::testutil::{free_port, Broker};
use crate::plugin::PluginHost;

/// Deadline of every wait on a link's state.
const WAIT: Duration = Duration::from_secs(60);

fn gateway_config(src: &Broker, dst: &Broker, links: &str) -> GatewayConfig {
    let text = format!(
        "[clusters.src]\n\"bootstrap.servers\" = \"{}\"\n\"request.timeout.ms\" = 5000\n\
         \"socket.connection.setup.timeout.ms\" = 2000\n\
         [clusters.dst]\n\"bootstrap.servers\" = \"{}\"\n\"request.timeout.ms\" = 5000\n\
         \"socket.connection.setup.timeout.ms\" = 2000\n{links}",
        src.addr(),
        dst.addr()
    );
    GatewayConfig::parse(&text, "manager test").expect("test config")
}

fn manager(cfg: &GatewayConfig) -> Arc<LinkManager> {
    let plugins = Arc::new(PluginRegistry::new(PluginHost::new().expect("plugin host")));
    LinkManager::new(cfg, plugins, CancellationToken::new())
}

fn new_link(name: &str, configs: &[(&str, &str)]) -> NewLink {
    NewLink {
        link_name: name.to_string(),
        destination_cluster: "dst".to_string(),
        source_cluster_id: None,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        validate_only: false,
        validate_link: true,
    }
}

fn names(m: &LinkManager) -> Vec<String> {
    m.links().iter().map(|l| l.name().to_string()).collect()
}

/// Polls `check` every 50 ms until it holds or [`WAIT`] passes.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    crate::kafka::testutil::wait_until(what, WAIT, || std::future::ready(check())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_persists_and_a_new_manager_restores_the_link() {
    let (src, dst) = (Broker::start("src"), Broker::start("dst"));
    let cfg = gateway_config(&src, &dst, "");
    let m = manager(&cfg);
    let addr = src.addr();
    let req = new_link("api", &[("bootstrap.servers", &addr)]);

    let mut dry = req.clone();
    dry.validate_only = true;
    m.create_link(dry).await.expect("validate only");
    assert!(names(&m).is_empty(), "validate_only creates nothing");

    m.create_link(req.clone()).await.expect("create");
    let link = m.get("api").expect("running");
    assert_eq!(link.origin(), LinkOrigin::Api);
    assert_eq!(
        link.source_cluster_id(),
        "src",
        "the source's Kafka cluster id"
    );
    assert_eq!(link.destination_cluster_id(), "dst");
    assert_eq!(link.health().state, LinkState::Active);
    assert_eq!(m.cluster_ids(), vec!["dst", "src"]);
    assert!(m.control().is_some());

    assert_eq!(
        m.create_link(req.clone()).await,
        Err(ControlError::LinkExists("api".into()))
    );
    assert!(m.stop_all(WAIT).await);

    let m2 = manager(&cfg);
    assert_eq!(
        m2.restore_from("src").await,
        Ok(Vec::new()),
        "no state topic on src"
    );
    assert_eq!(m2.restore_from("dst").await, Ok(vec!["api".to_string()]));
    let back = m2.get("api").expect("restored");
    assert_eq!(back.origin(), LinkOrigin::Api);
    assert_eq!(back.config().source.bootstrap_servers, vec![addr]);
    assert_eq!(
        back.definition().map(|d| d.source_cluster_id.clone()),
        Some(Some("src".into()))
    );
    assert_eq!(
        m2.restore_from("dst").await,
        Ok(Vec::new()),
        "already running"
    );
    assert_eq!(
        m2.create_link(req).await,
        Err(ControlError::LinkExists("api".into()))
    );
    assert!(m2.stop_all(WAIT).await);

    // A cluster added by a config reload is read for persisted links.
    let mut no_dst = cfg.clone();
    no_dst.clusters.remove("dst");
    let m4 = manager(&no_dst);
    m4.spawn_restore();
    assert_eq!(m4.apply_file_config(&cfg).await, 0);
    wait_for("a link restored from a cluster added by a reload", || {
        m4.get("api").is_some()
    })
    .await;
    assert!(m4.stop_all(WAIT).await);

    // A config-file link of the same name wins over the persisted one.
    let with_file = gateway_config(
        &src,
        &dst,
        "[[links]]\nname = \"api\"\nsource = \"src\"\ndestination = \"dst\"\n",
    );
    let m3 = manager(&with_file);
    m3.start_file_links().await;
    assert_eq!(m3.restore_from("dst").await, Ok(Vec::new()));
    assert_eq!(m3.get("api").map(|l| l.origin()), Some(LinkOrigin::File));
    assert!(m3.stop_all(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refusals_carry_link_error_codes() {
    let (src, dst) = (Broker::start("src"), Broker::start("dst"));
    let cfg = gateway_config(&src, &dst, "");
    let m = manager(&cfg);
    let closed = format!("127.0.0.1:{}", free_port());

    let e = m
        .create_link(new_link("a", &[("bootstrap.servers", &closed)]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR", "{e}");
    assert!(
        e.to_string().contains(&closed) && e.to_string().contains("source"),
        "{e}"
    );
    assert_eq!(e.status(), 400);

    let e = m
        .create_link(new_link(
            "a",
            &[("bootstrap.servers", "no-such-host.invalid:9092")],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "UNRESOLVABLE_BOOTSTRAP_ERROR", "{e}");
    assert!(e.to_string().contains("no-such-host.invalid:9092"), "{e}");

    let mut any = new_link("a", &[("bootstrap.servers", &src.addr())]);
    any.destination_cluster = "-".into();
    let e = m.create_link(any).await.unwrap_err();
    assert!(
        matches!(&e, ControlError::InvalidConfig { message, .. } if message.contains("name the destination cluster")),
        "{e}"
    );
    let mut unknown = new_link("a", &[("bootstrap.servers", &src.addr())]);
    unknown.destination_cluster = "nope".into();
    assert_eq!(
        m.create_link(unknown).await,
        Err(ControlError::ClusterNotFound("nope".into()))
    );
    let e = m
        .create_link(new_link("bad name", &[("bootstrap.servers", &src.addr())]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ControlError::InvalidConfig { key, .. } if key == "link_name"),
        "{e}"
    );
    let e = m
        .create_link(new_link(
            "a",
            &[
                ("bootstrap.servers", &src.addr()),
                ("cluster.link.paused", "maybe"),
            ],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ControlError::InvalidConfig { key, .. } if key == "cluster.link.paused"),
        "{e}"
    );
    let mut wrong_id = new_link("a", &[("bootstrap.servers", &src.addr())]);
    wrong_id.source_cluster_id = Some("some-other-cluster".into());
    let e = m.create_link(wrong_id).await.unwrap_err();
    assert!(
        matches!(&e, ControlError::InvalidConfig { key, message } if key == "source_cluster_id" && message.contains("src")),
        "{e}"
    );
    assert!(names(&m).is_empty(), "a refused create changes nothing");

    // Without validation the link is created and reports the source as
    // unreachable.
    let mut unchecked = new_link("late", &[("bootstrap.servers", &closed)]);
    unchecked.validate_link = false;
    m.create_link(unchecked)
        .await
        .expect("created without validation");
    let link = m.get("late").expect("running");
    wait_for("link state UNAVAILABLE", || {
        link.health().state == LinkState::Unavailable
    })
    .await;
    let health = link.health();
    assert_eq!(
        health.error, "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
        "{health:?}"
    );
    assert!(health.error_message.contains(&closed), "{health:?}");
    assert!(m.stop_all(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_restarts_with_the_new_configs_and_refuses_fixed_ones() {
    let (src, dst) = (Broker::start("src"), Broker::start("dst"));
    let cfg = gateway_config(
        &src,
        &dst,
        "[[links]]\nname = \"file\"\nsource = \"src\"\ndestination = \"dst\"\n",
    );
    let m = manager(&cfg);
    m.start_file_links().await;
    let addr = src.addr();
    m.create_link(new_link("api", &[("bootstrap.servers", &addr)]))
        .await
        .expect("create");
    let change = |set: &[(&str, &str)], reset: &[&str], validate_only: bool| LinkConfigChange {
        link_name: "api".into(),
        set: set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        reset: reset.iter().map(|k| k.to_string()).collect(),
        validate_only,
    };

    m.alter_link_configs(change(&[("cluster.link.paused", "true")], &[], true))
        .await
        .expect("validate only");
    assert!(
        !m.get("api").expect("api").config().paused,
        "validate_only changes nothing"
    );

    m.alter_link_configs(change(
        &[
            ("cluster.link.paused", "true"),
            ("bootstrap.servers", &addr),
        ],
        &[],
        false,
    ))
    .await
    .expect("alter");
    let link = m.get("api").expect("api");
    assert!(link.config().paused);
    assert_eq!(link.health().state, LinkState::Paused);
    assert_eq!(
        link.definition()
            .and_then(|d| d.config("cluster.link.paused")),
        Some("true")
    );
    assert_eq!(names(&m), vec!["file", "api"]);

    for (set, reset) in [
        (vec![("bootstrap.servers", "127.0.0.1:1")], vec![]),
        (vec![("cluster.link.prefix", "p.")], vec![]),
        (vec![], vec!["bootstrap.servers"]),
    ] {
        let e = m
            .alter_link_configs(change(&set, &reset, false))
            .await
            .unwrap_err();
        assert!(matches!(e, ControlError::NotAlterable { .. }), "{e}");
        assert_eq!(e.status(), 400);
    }
    let e = m
        .alter_link_configs(change(&[("metadata.max.age.ms", "x")], &[], false))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ControlError::InvalidConfig { key, .. } if key == "metadata.max.age.ms"),
        "{e}"
    );
    let mut file = change(&[("cluster.link.paused", "true")], &[], false);
    file.link_name = "file".into();
    assert_eq!(
        m.alter_link_configs(file).await,
        Err(ControlError::ManagedByConfigFile("file".into()))
    );
    let mut none = change(&[], &[], false);
    none.link_name = "none".into();
    assert_eq!(
        m.alter_link_configs(none).await,
        Err(ControlError::LinkNotFound("none".into()))
    );
    assert!(m.stop_all(WAIT).await);

    // The change is persisted.
    let m2 = manager(&cfg);
    m2.restore_from("dst").await.expect("restore");
    assert!(m2.get("api").expect("restored").config().paused);
    assert!(m2.stop_all(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_refuses_links_with_mirrors_unless_forced() {
    let (src, dst) = (Broker::start("src"), Broker::start("dst"));
    let cfg = gateway_config(
        &src,
        &dst,
        "[[links]]\nname = \"file\"\nsource = \"src\"\ndestination = \"dst\"\n",
    );
    let source = ClusterClient::connect(src.settings("src"))
        .await
        .expect("source");
    source
        .create_topic("orders", 1, -1, &[])
        .await
        .expect("topic");
    let m = manager(&cfg);
    m.start_file_links().await;
    let addr = src.addr();
    m.create_link(new_link("empty", &[("bootstrap.servers", &addr)]))
        .await
        .expect("create empty");
    m.create_link(new_link(
        "auto",
        &[
            ("bootstrap.servers", &addr),
            ("auto.create.mirror.topics.enable", "true"),
            ("metadata.max.age.ms", "1000"),
        ],
    ))
    .await
    .expect("create auto");
    let deletion = |name: &str, force: bool, validate_only: bool| LinkDeletion {
        link_name: name.into(),
        force,
        validate_only,
    };

    assert_eq!(
        m.delete_link(deletion("file", false, false)).await,
        Err(ControlError::ManagedByConfigFile("file".into()))
    );
    assert_eq!(
        m.delete_link(deletion("nope", false, false)).await,
        Err(ControlError::LinkNotFound("nope".into()))
    );
    m.delete_link(deletion("empty", false, true))
        .await
        .expect("validate only");
    assert!(m.get("empty").is_some());
    m.delete_link(deletion("empty", false, false))
        .await
        .expect("delete empty");
    assert_eq!(names(&m), vec!["file", "auto"]);

    let auto = m.get("auto").expect("auto");
    wait_for("auto-created mirror orders", || {
        auto.mirror_topics().contains(&"orders".to_string())
    })
    .await;
    let e = m
        .delete_link(deletion("auto", false, false))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ControlError::HasMirrors {
            link: "auto".into(),
            mirrors: vec!["orders".into()]
        }
    );
    m.delete_link(deletion("auto", true, true))
        .await
        .expect("forced validate only");
    assert!(m.get("auto").is_some());
    assert_eq!(
        auto.unstopped_mirrors(),
        vec!["orders"],
        "validate_only fails nothing over"
    );
    m.delete_link(deletion("auto", true, false))
        .await
        .expect("forced delete");
    assert_eq!(names(&m), vec!["file"]);
    assert!(m.stop_all(WAIT).await);

    let destination = ClusterClient::connect(dst.settings("dst"))
        .await
        .expect("destination");
    let state = StateStore::open_existing(destination, &cfg.state_topic)
        .await
        .expect("state topic")
        .expect("exists")
        .load()
        .await
        .expect("load");
    assert!(state.link_definitions.is_empty(), "definitions purged");
    assert!(
        !state
            .mirror_topics
            .keys()
            .any(|(l, _)| l == "auto" || l == "empty"),
        "mirror records purged: {:?}",
        state.mirror_topics.keys()
    );
    assert!(!state.checkpoints.keys().any(|id| id.0 == "auto"));
    let m2 = manager(&cfg);
    assert_eq!(
        m2.restore_from("dst").await,
        Ok(Vec::new()),
        "deleted links stay deleted"
    );
    assert!(m2.stop_all(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_requests_find_their_link() {
    let (src, dst) = (Broker::start("src"), Broker::start("dst"));
    let cfg = gateway_config(&src, &dst, "");
    let m = manager(&cfg);
    let e = m
        .create_mirror(NewMirror {
            link_name: "nope".into(),
            source_topic_name: Some("t".into()),
            mirror_topic_name: None,
            replication_factor: None,
            configs: Vec::new(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e, ControlError::LinkNotFound("nope".into()));
    assert_eq!(
        m.alter_mirrors(
            Some("nope".into()),
            vec!["t".into()],
            MirrorAction::Pause,
            false
        )
        .await
        .unwrap_err(),
        ControlError::LinkNotFound("nope".into())
    );
    assert!(matches!(
        m.alter_mirrors(None, Vec::new(), MirrorAction::Pause, false)
            .await,
        Err(ControlError::InvalidConfig { .. })
    ));
    let results = m
        .alter_mirrors(None, vec!["t".into()], MirrorAction::Failover, false)
        .await
        .expect("per-topic results");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].mirror_topic_name, "t");
    assert!(matches!(
        results[0].error,
        Some(ControlError::MirrorNotFound { .. })
    ));
}

/// Offset sync settings changed in the config file (and through
/// `configs:alter` for API links) reach the running link's tasks without
/// a restart: the status table the link started with sees the task
/// configured, then `NOT_CONFIGURED` again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_sync_settings_change_without_a_restart() {
    let (src, dst) = (Broker::start("src"), Broker::start("dst"));
    let link = |props: &str| {
        format!("[[links]]\nname = \"a\"\nsource = \"src\"\ndestination = \"dst\"\n[links.config]\n{props}\n")
    };
    let first = gateway_config(&src, &dst, &link(""));
    let m = manager(&first);
    m.start_file_links().await;
    let status = m.get("a").expect("a").status().clone();
    wait_for("the task seen not configured", || {
        status.task_configured("ConsumerOffsetSync") == Some(false)
    })
    .await;
    let on = gateway_config(
        &src,
        &dst,
        &link("\"consumer.offset.sync.enable\" = \"true\"\n\"consumer.offset.sync.ms\" = \"1000\""),
    );
    assert_eq!(m.apply_file_config(&on).await, 0);
    assert!(m.get("a").expect("a").config().offset_sync.enable);
    wait_for("the running link's task configured", || {
        status.task_configured("ConsumerOffsetSync") == Some(true)
    })
    .await;
    assert_eq!(m.apply_file_config(&first).await, 0);
    wait_for("the running link's task off again", || {
        status.task_configured("ConsumerOffsetSync") == Some(false)
    })
    .await;

    // An API link: configs:alter of the sync settings only, no restart.
    m.create_link(new_link("api", &[("bootstrap.servers", &src.addr())]))
        .await
        .expect("create");
    let api_status = m.get("api").expect("api").status().clone();
    m.alter_link_configs(LinkConfigChange {
        link_name: "api".into(),
        set: vec![("consumer.offset.sync.enable".into(), "true".into())],
        reset: Vec::new(),
        validate_only: false,
    })
    .await
    .expect("alter");
    wait_for("the API link's task configured", || {
        api_status.task_configured("ConsumerOffsetSync") == Some(true)
    })
    .await;
    let api = m.get("api").expect("api");
    assert!(api.config().offset_sync.enable);
    assert!(api
        .definition()
        .is_some_and(|d| d.config("consumer.offset.sync.enable") == Some("true")));
    assert!(m.stop_all(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reload_starts_stops_and_restarts_file_links() {
    let (src, dst) = (Broker::start("src"), Broker::start("dst"));
    let link = |name: &str, extra: &str| {
        format!("[[links]]\nname = \"{name}\"\nsource = \"src\"\ndestination = \"dst\"\n{extra}\n")
    };
    let first = gateway_config(&src, &dst, &(link("a", "") + &link("b", "")));
    let m = manager(&first);
    m.start_file_links().await;
    assert_eq!(names(&m), vec!["a", "b"]);
    let a_status = m.get("a").expect("a").status().clone();

    let next = gateway_config(
        &src,
        &dst,
        &(link("b", "[links.config]\n\"cluster.link.paused\" = true") + &link("c", "")),
    );
    assert_eq!(m.apply_file_config(&next).await, 0);
    assert_eq!(names(&m), vec!["b", "c"]);
    assert!(
        m.get("b").expect("b").config().paused,
        "b restarted with its new config"
    );
    assert!(m.get("a").is_none());
    drop(a_status);

    // Same config: nothing restarts (the status table is the same one).
    let b_before = m.get("b").expect("b");
    assert_eq!(m.apply_file_config(&next).await, 0);
    let b_after = m.get("b").expect("b");
    assert!(Arc::ptr_eq(&b_before, &b_after));

    // A chain-only change naming a plugin that is not loaded is refused.
    let plugins =
        "[[plugins]]\nname = \"f\"\nbundled = \"topic-filter\"\nkind = \"topic-filter\"\n";
    let chained = gateway_config(
        &src,
        &dst,
        &format!(
            "{plugins}{}{}",
            link(
                "b",
                "topic_filters = [\"f\"]\n[links.config]\n\"cluster.link.paused\" = true"
            ),
            link("c", "")
        ),
    );
    assert_eq!(m.apply_file_config(&chained).await, 1);
    assert!(m.get("b").expect("b").config().topic_filters.is_empty());

    // An API link on a [clusters] alias follows that alias's settings.
    let mut api = new_link("api", &[]);
    api.source_cluster_id = Some("src".into());
    m.create_link(api).await.expect("create");
    let mut slower = chained.clone();
    if let Some(s) = slower.clusters.get_mut("src") {
        s.request_timeout = Duration::from_millis(7000);
    }
    assert_eq!(
        m.apply_file_config(&slower).await,
        1,
        "b's chain still refused"
    );
    let api = m.get("api").expect("api");
    assert_eq!(
        api.config().source.request_timeout,
        Duration::from_millis(7000)
    );
    assert_eq!(api.origin(), LinkOrigin::Api);
    assert_eq!(names(&m), vec!["b", "c", "api"]);
    assert!(m.stop_all(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn property_plugins_are_loaded_with_the_link_and_removed_with_it() {
    let (src, dst) = (Broker::start("src"), Broker::start("dst"));
    let cfg = gateway_config(&src, &dst, "");
    let m = manager(&cfg);
    let addr = src.addr();
    let loaded = |m: &LinkManager| {
        let mut names: Vec<String> = m
            .plugins
            .snapshot()
            .iter()
            .map(|p| p.name().to_string())
            .collect();
        names.sort();
        names
    };
    let mut dry = new_link(
        "p",
        &[("bootstrap.servers", &addr), ("cluster.link.prefix", "p.")],
    );
    dry.validate_only = true;
    m.create_link(dry.clone()).await.expect("validate only");
    assert!(loaded(&m).is_empty(), "validate_only loads nothing");
    dry.validate_only = false;
    m.create_link(dry).await.expect("create");
    assert_eq!(loaded(&m), vec!["p/cluster.link.prefix"]);
    assert_eq!(
        m.get("p").expect("p").config().renamers,
        vec!["p/cluster.link.prefix"]
    );

    let filters =
        r#"{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;
    let change = |set: Vec<(String, String)>, reset: Vec<String>| LinkConfigChange {
        link_name: "p".into(),
        set,
        reset,
        validate_only: false,
    };
    m.alter_link_configs(change(
        vec![("auto.create.mirror.topics.filters".into(), filters.into())],
        Vec::new(),
    ))
    .await
    .expect("add filters");
    assert_eq!(
        loaded(&m),
        vec![
            "p/auto.create.mirror.topics.filters",
            "p/cluster.link.prefix"
        ]
    );
    m.alter_link_configs(change(
        Vec::new(),
        vec!["auto.create.mirror.topics.filters".into()],
    ))
    .await
    .expect("reset filters");
    assert_eq!(loaded(&m), vec!["p/cluster.link.prefix"]);

    m.delete_link(LinkDeletion {
        link_name: "p".into(),
        force: false,
        validate_only: false,
    })
    .await
    .expect("delete");
    assert!(loaded(&m).is_empty(), "the link's plugins go with it");
    assert!(m.stop_all(WAIT).await);
}
