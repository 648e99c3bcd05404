//! End-to-end tests of the topic config sync (`TopicConfigsSync`,
//! `topic.config.sync.ms`) and the ACL sync (`AclSync`, `acl.sync.*`,
//! `acl.filters`) against real brokers (nisshi), read back with librdkafka.
//!
//! nisshi has neither CreatePartitions nor ACL storage: the partition count
//! sync and the ACL reconciliation are tested against constructed protocol
//! responses in the gateway's unit tests (`tasks::topic_configs`,
//! `tasks::acl_sync`, `mirror::link::watch`, `kafka::integration_tests`);
//! here the ACL sync shows the clear `IN_ERROR` status nisshi causes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate::kafka::{ClusterClient, ClusterSettings, ConfigChange};
use linkgate_tests::{
    create_link, create_topic, start_pair, topic_configs, Api, Gateway, CLUSTERS,
};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);

/// The task `name` in link `east`'s task list.
fn task(api: &Api, name: &str) -> anyhow::Result<Value> {
    let r = api.get(&format!("{CLUSTERS}/dst/links/east?include_tasks=true"))?;
    anyhow::ensure!(r.status == 200, "link: {r}");
    r.json["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["task_name"] == name))
        .cloned()
        .with_context(|| format!("no {name} task: {r}"))
}

async fn wait_task(
    api: &Api,
    gw: &Gateway,
    name: &str,
    f: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut last = Value::Null;
    while start.elapsed() < DEADLINE {
        last = task(api, name)?;
        if f(&last) {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("task {name}: last {last}\n{}", gw.log_tail(40))
}

/// Polls the destination's configs of `topic` until `f` holds.
async fn wait_configs(
    bootstrap: &str,
    topic: &str,
    gw: &Gateway,
    what: &str,
    f: impl Fn(&BTreeMap<String, String>) -> bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let start = Instant::now();
    let mut last = BTreeMap::new();
    while start.elapsed() < DEADLINE {
        last = topic_configs(bootstrap, topic).await?;
        if f(&last) {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("{what}: configs of {topic} {last:?}\n{}", gw.log_tail(40))
}

fn get<'a>(c: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
    c.get(k).map(String::as_str)
}

/// A source topic's config changes reach its mirror topic at the next
/// sync: a changed value, a new config, a removed one. An excluded config
/// (`unclean.leader.election.enable`) is not copied, and an override given
/// when the mirror was created stays. The task is `ACTIVE` with no errors
/// and its metrics count the changes. The source is altered with
/// IncrementalAlterConfigs (nisshi has no legacy AlterConfigs, which is
/// what librdkafka sends), the destination read with librdkafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_follow_the_source_and_overrides_stay() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_topic(
        &s,
        "cfg",
        1,
        &[("retention.ms", "3600000"), ("segment.ms", "7200000")],
    )
    .await?;
    create_link(
        &api,
        &gw,
        "dst",
        "east",
        &[("bootstrap.servers", &s), ("topic.config.sync.ms", "300")],
        DEADLINE,
    )
    .await?;
    let r = api
        .post_retrying(
            &format!("{CLUSTERS}/dst/links/east/mirrors"),
            Some(&json!({
                "source_topic_name": "cfg",
                "configs": [{"name": "segment.ms", "value": "600000"}]
            })),
            DEADLINE,
        )
        .await?;
    anyhow::ensure!(r.status == 204 || r.status == 201, "create mirror: {r}");
    wait_configs(&d, "cfg", &gw, "mirror created", |c| {
        get(c, "retention.ms") == Some("3600000") && get(c, "segment.ms") == Some("600000")
    })
    .await?;

    let source = ClusterClient::connect(ClusterSettings::new("src", vec![s.clone()])).await?;
    source
        .alter_topic_configs(
            "cfg",
            &[
                ConfigChange::Set {
                    name: "retention.ms".into(),
                    value: "7200000".into(),
                },
                ConfigChange::Set {
                    name: "max.message.bytes".into(),
                    value: "500000".into(),
                },
                ConfigChange::Set {
                    name: "segment.ms".into(),
                    value: "1200000".into(),
                },
                ConfigChange::Set {
                    name: "unclean.leader.election.enable".into(),
                    value: "true".into(),
                },
            ],
        )
        .await?;
    let synced = wait_configs(&d, "cfg", &gw, "source changes synced", |c| {
        get(c, "retention.ms") == Some("7200000") && get(c, "max.message.bytes") == Some("500000")
    })
    .await?;
    assert_eq!(get(&synced, "segment.ms"), Some("600000"), "override kept");
    assert_ne!(
        get(&synced, "unclean.leader.election.enable"),
        Some("true"),
        "excluded config copied: {synced:?}"
    );

    source
        .alter_topic_configs(
            "cfg",
            &[ConfigChange::Delete {
                name: "max.message.bytes".into(),
            }],
        )
        .await?;
    wait_configs(&d, "cfg", &gw, "removed config removed", |c| {
        get(c, "max.message.bytes") != Some("500000")
    })
    .await?;

    let t = wait_task(&api, &gw, "TopicConfigsSync", |t| t["state"] == "ACTIVE").await?;
    assert_eq!(t["errors"], json!([]), "{t}");
    let items = gw
        .metric_value(
            "linkgate_link_task_items_synced_total",
            &[("link", "east"), ("task", "TopicConfigsSync")],
        )
        .unwrap_or(0.0);
    assert!(items >= 2.0, "config changes counted: {items}");
    Ok(())
}

/// `acl.sync.enable` needs `acl.filters` (a clear 400 naming the
/// property); with both, the task runs and, against a broker without an
/// authorizer, is `IN_ERROR` with Kafka's `SECURITY_DISABLED`, while the
/// link itself stays `ACTIVE`. Turning the sync off on the running link
/// (`configs:alter`) makes it `NOT_CONFIGURED` again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_sync_reports_a_cluster_without_an_authorizer() -> anyhow::Result<()> {
    let (src, _dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let s = src.bootstrap();
    let links = format!("{CLUSTERS}/dst/links");
    let refused = api.post(
        &format!("{links}?link_name=bad"),
        Some(&json!({
            "source_cluster_id": "src",
            "configs": [
                {"name": "bootstrap.servers", "value": s},
                {"name": "acl.sync.enable", "value": "true"}
            ]
        })),
    )?;
    assert_eq!(refused.status, 400, "{refused}");
    assert!(refused.message().contains("acl.filters"), "{refused}");

    let filters = r#"{"aclFilters":[{"resourceFilter":{"resourceType":"any","patternType":"any"},"accessFilter":{"operation":"any","permissionType":"any"}}]}"#;
    create_link(
        &api,
        &gw,
        "dst",
        "east",
        &[
            ("bootstrap.servers", &s),
            ("acl.sync.enable", "true"),
            ("acl.sync.ms", "1000"),
            ("acl.filters", filters),
        ],
        DEADLINE,
    )
    .await?;
    let t = wait_task(&api, &gw, "AclSync", |t| t["state"] == "IN_ERROR").await?;
    let text = t.to_string();
    assert!(text.contains("SECURITY_DISABLED"), "{t}");
    let link = api.get(&format!("{links}/east"))?;
    assert_eq!(link.json["link_state"], "ACTIVE", "{link}");

    let r = api.put(
        &format!("{links}/east/configs:alter"),
        &json!({"data": [{"name": "acl.sync.enable", "value": "false"}]}),
    )?;
    assert_eq!(r.status, 204, "{r}");
    wait_task(&api, &gw, "AclSync", |t| t["state"] == "NOT_CONFIGURED").await?;
    Ok(())
}
