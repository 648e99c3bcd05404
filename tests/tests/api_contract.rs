//! The REST API against Confluent's published Kafka REST v3 contract
//! (`tests/contract/`, the cluster-linking operations): every operation of
//! the contract is called on a running gateway between two real brokers
//! (nisshi), every answer's body is validated against the schema the
//! contract gives for that operation and status (JSON Schema, the
//! `jsonschema` crate, see `linkgate_tests::contract`), and at the end no
//! operation of the contract is left without an answer of a status it
//! declares (so none is missing, 404, or refused, 405). The data is checked
//! with librdkafka on both clusters.
//!
//! The two bidirectional-only actions
//! (`mirrors:promote-local-and-{start,pause}-remote-mirror`) are answered
//! 400 (a declared status; linkgate's links are destination links), so
//! their 200 body is not exercised by a real call.

use std::time::Duration;

use anyhow::Context;
use linkgate_tests::contract::Contract;
use linkgate_tests::{
    create_topic, link_body, names, now_ms, produce, start_pair, Api, ApiResponse, Gateway,
    TestRecord, CLUSTERS,
};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);

/// Contract path templates (without the `/kafka/v3` base).
const LINKS: &str = "/clusters/{cluster_id}/links";
const LINK: &str = "/clusters/{cluster_id}/links/{link_name}";
const CONFIGS: &str = "/clusters/{cluster_id}/links/{link_name}/configs";
const CONFIG: &str = "/clusters/{cluster_id}/links/{link_name}/configs/{config_name}";
const ALTER: &str = "/clusters/{cluster_id}/links/{link_name}/configs:alter";
const MIRRORS: &str = "/clusters/{cluster_id}/links/{link_name}/mirrors";
const ALL_MIRRORS: &str = "/clusters/{cluster_id}/links/-/mirrors";
const MIRROR: &str = "/clusters/{cluster_id}/links/{link_name}/mirrors/{mirror_topic_name}";

/// `POST .../mirrors:<action>` of the contract.
fn action(name: &str) -> String {
    format!("{MIRRORS}:{name}")
}

/// Polls `GET path` until `pred` holds; the last answer.
async fn wait_for(
    api: &Api,
    gw: &Gateway,
    path: &str,
    what: &str,
    pred: impl FnMut(&ApiResponse) -> bool,
) -> anyhow::Result<ApiResponse> {
    api.wait_for(path, DEADLINE, pred)
        .await
        .with_context(|| format!("{what}\n{}", gw.log_tail(30)))
}

/// A mirror is in `state` (and, for `ACTIVE`, caught up at `offsets` per
/// partition).
fn mirror_is(r: &ApiResponse, state: &str, offsets: &[i64]) -> bool {
    r.status == 200
        && r.json["mirror_status"] == state
        && (offsets.is_empty()
            || r.json["mirror_lags"].as_array().is_some_and(|lags| {
                lags.len() == offsets.len()
                    && lags.iter().zip(offsets).all(|(l, o)| {
                        l["lag"] == 0 && l["last_source_fetch_offset"].as_i64() == Some(*o)
                    })
            }))
}

/// The body of a mirror action on `topics`.
fn topics(names: &[&str]) -> Value {
    json!({ "mirror_topic_names": names })
}

/// Asserts a mirror action answered 200 with no per-topic error.
#[track_caller]
fn assert_done(r: &ApiResponse, what: &str) {
    assert_eq!(r.status, 200, "{what}: {r}");
    for t in r.json["data"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        assert!(t["error_code"].is_null(), "{what}: {t}");
    }
    assert!(
        r.json["data"].as_array().is_some_and(|d| !d.is_empty()),
        "{what}: {r}"
    );
}

/// Every cluster-linking operation of the contract, called for real; each
/// answer validates against its schema, and none is left out. On the way:
/// a mirror created right after its link (no wait in between, as a script
/// or a Terraform plan does) is accepted (204) and mirrors every record;
/// link data carries `cluster_link_id` / `link_id` besides linkgate's own
/// fields; config entries carry `read_only`, `source`, `synonyms`; one
/// config is read, set and reset by name; `?mirror_status=` filters mirror
/// lists; alter-mirror results carry `metadata`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_contract_operation_answers_in_the_contracts_shapes() -> anyhow::Result<()> {
    let contract = Contract::load()?;
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let source = src.bootstrap();
    let now = now_ms();
    let records: Vec<TestRecord> = (0..6)
        .map(|i| {
            let value = format!("order-{i}");
            TestRecord::new(i % 2, Some(b"k"), Some(value.as_bytes()), now)
        })
        .collect();
    create_topic(&source, "orders", 2, &[]).await?;
    produce(&source, "orders", &records, "none").await?;
    create_topic(&source, "payments", 1, &[]).await?;
    create_topic(&source, "held", 1, &[]).await?;
    let base = format!("{CLUSTERS}/dst/links");
    let east = format!("{base}/east");

    // Create the link, then at once its mirrors.
    let body = link_body(&[
        ("bootstrap.servers", &source),
        ("metadata.max.age.ms", "20000"),
    ]);
    let r = api.post(&format!("{base}?link_name=east"), Some(&body))?;
    contract.check("POST", LINKS, &r)?;
    assert_eq!(r.status, 204, "create link: {r}");
    for topic in ["orders", "payments", "held"] {
        let r = api.post(
            &format!("{east}/mirrors"),
            Some(&json!({"source_topic_name": topic})),
        )?;
        contract.check("POST", MIRRORS, &r)?;
        assert_eq!(r.status, 204, "mirror {topic} right after its link: {r}");
    }

    // Links.
    let r = api.get(&base)?;
    contract.check("GET", LINKS, &r)?;
    assert_eq!(names(&r.json["data"], "link_name"), ["east"], "{r}");
    let r = api.get(&east)?;
    contract.check("GET", LINK, &r)?;
    let id = r.json["cluster_link_id"].as_str().unwrap_or("");
    assert_eq!(id.len(), 22, "{r}");
    assert!(
        r.json["link_id"].as_str().is_some_and(|i| i.len() == 36),
        "{r}"
    );
    assert!(
        r.json["link_state"].is_string() && r.json["link_error"].is_string(),
        "{r}"
    );
    let with_tasks = api.get(&format!("{east}?include_tasks=true"))?;
    contract.check("GET", LINK, &with_tasks)?;
    assert_eq!(with_tasks.json["tasks"].as_array().map(Vec::len), Some(4));

    // Configs: the list, one by name, set and reset by name, batch alter.
    let r = api.get(&format!("{east}/configs"))?;
    contract.check("GET", CONFIGS, &r)?;
    let entries = r.json["data"].as_array().context("configs")?;
    let servers = entries
        .iter()
        .find(|c| c["name"] == "bootstrap.servers")
        .context("bootstrap.servers listed")?;
    assert_eq!(servers["read_only"], true, "{servers}");
    assert_eq!(
        servers["source"], "DYNAMIC_CLUSTER_LINK_CONFIG",
        "{servers}"
    );
    let one = format!("{east}/configs/metadata.max.age.ms");
    let r = api.get(&one)?;
    contract.check("GET", CONFIG, &r)?;
    assert_eq!(
        (r.json["value"].as_str(), &r.json["read_only"]),
        (Some("20000"), &json!(false))
    );
    let r = api.put(&one, &json!({"value": "60000"}))?;
    contract.check("PUT", CONFIG, &r)?;
    assert_eq!(r.status, 204, "set one config: {r}");
    let r = api.get(&one)?;
    contract.check("GET", CONFIG, &r)?;
    assert_eq!(r.json["value"], "60000", "{r}");
    let r = api.delete(&one)?;
    contract.check("DELETE", CONFIG, &r)?;
    assert_eq!(r.status, 204, "reset one config: {r}");
    let r = api.get(&one)?;
    contract.check("GET", CONFIG, &r)?;
    assert_eq!(r.status, 404, "a reset config is no longer set: {r}");
    let r = api.put(
        &format!("{east}/configs:alter"),
        &json!({"data": [{"name": "metadata.max.age.ms", "value": "30000"}]}),
    )?;
    contract.check("PUT", ALTER, &r)?;
    assert_eq!(r.status, 204, "configs:alter: {r}");

    // Mirrors: the first one caught up, as the destination shows it.
    let orders = format!("{east}/mirrors/orders");
    let r = wait_for(&api, &gw, &orders, "orders ACTIVE, caught up", |r| {
        mirror_is(r, "ACTIVE", &[3, 3])
    })
    .await?;
    contract.check("GET", MIRROR, &r)?;
    for p in 0..2 {
        let (_, high) = linkgate_tests::fetch_watermarks(&dst.bootstrap(), "orders", p).await?;
        assert_eq!(high, 3, "orders/{p} on the destination");
    }
    for topic in ["payments", "held"] {
        let r = wait_for(&api, &gw, &format!("{east}/mirrors/{topic}"), topic, |r| {
            mirror_is(r, "ACTIVE", &[])
        })
        .await?;
        contract.check("GET", MIRROR, &r)?;
    }
    let r = api.get(&format!("{east}/mirrors"))?;
    contract.check("GET", MIRRORS, &r)?;
    assert_eq!(names(&r.json["data"], "mirror_topic_name").len(), 3, "{r}");
    let r = api.get(&format!(
        "{CLUSTERS}/dst/links/-/mirrors?mirror_status=ACTIVE"
    ))?;
    contract.check("GET", ALL_MIRRORS, &r)?;
    assert_eq!(names(&r.json["data"], "mirror_topic_name").len(), 3, "{r}");

    // Pause, filter, resume.
    let r = api.post(&format!("{east}/mirrors:pause"), Some(&topics(&["held"])))?;
    contract.check("POST", &action("pause"), &r)?;
    assert_done(&r, "pause");
    assert_eq!(
        r.json["data"][0]["metadata"]["self"],
        format!("{east}/mirrors/held"),
        "{r}"
    );
    wait_for(
        &api,
        &gw,
        &format!("{east}/mirrors/held"),
        "held PAUSED",
        |r| mirror_is(r, "PAUSED", &[]),
    )
    .await?;
    let r = api.get(&format!("{east}/mirrors?mirror_status=PAUSED"))?;
    contract.check("GET", MIRRORS, &r)?;
    assert_eq!(names(&r.json["data"], "mirror_topic_name"), ["held"], "{r}");
    let r = api.get(&format!("{east}/mirrors?mirror_status=ACTIVE"))?;
    contract.check("GET", MIRRORS, &r)?;
    assert_eq!(
        names(&r.json["data"], "mirror_topic_name"),
        ["orders", "payments"],
        "{r}"
    );
    let r = api.post(&format!("{east}/mirrors:resume"), Some(&topics(&["held"])))?;
    contract.check("POST", &action("resume"), &r)?;
    assert_done(&r, "resume");

    // Promote and fail over; the stopped mirror is listed by its state.
    let r = api.post(
        &format!("{east}/mirrors:promote"),
        Some(&topics(&["payments"])),
    )?;
    contract.check("POST", &action("promote"), &r)?;
    assert_done(&r, "promote");
    let r = api.post(
        &format!("{east}/mirrors:failover"),
        Some(&topics(&["held"])),
    )?;
    contract.check("POST", &action("failover"), &r)?;
    assert_done(&r, "failover");
    wait_for(
        &api,
        &gw,
        &format!("{east}/mirrors?mirror_status=STOPPED"),
        "payments and held STOPPED",
        |r| names(&r.json["data"], "mirror_topic_name") == ["held", "payments"],
    )
    .await?;
    let r = api.get(&format!(
        "{CLUSTERS}/dst/links/-/mirrors?mirror_status=STOPPED"
    ))?;
    contract.check("GET", ALL_MIRRORS, &r)?;
    assert_eq!(names(&r.json["data"], "mirror_topic_name").len(), 2, "{r}");

    // Bidirectional-only actions: a declared 400.
    for name in [
        "promote-local-and-start-remote-mirror",
        "promote-local-and-pause-remote-mirror",
    ] {
        let r = api.post(
            &format!("{east}/mirrors:{name}"),
            Some(&topics(&["orders"])),
        )?;
        contract.check("POST", &action(name), &r)?;
        assert_eq!(r.status, 400, "{name}: {r}");
    }

    // Delete the link (its last mirror is failed over first).
    let r = api.delete(&format!("{east}?force=true"))?;
    contract.check("DELETE", LINK, &r)?;
    assert_eq!(r.status, 200, "delete: {r}");

    let missing = contract.uncovered();
    assert!(
        missing.is_empty(),
        "operations without a declared answer: {missing:?}"
    );
    Ok(())
}

/// The checker itself: a body that matches passes; a missing required
/// field, a wrong type, a value outside an enum, a null where the contract
/// has no `nullable`, an undeclared success status, a body where none is
/// declared and an operation outside the contract all fail.
#[test]
fn the_contract_checker_rejects_broken_bodies() -> anyhow::Result<()> {
    let contract = Contract::load()?;
    let link = json!({
        "kind": "KafkaLinkData",
        "metadata": {"self": "/kafka/v3/clusters/dst/links/east", "resource_name": null},
        "link_name": "east",
        "cluster_link_id": "eEBkTffYSESld6EO898x3w",
        "link_id": "7840644d-f7d8-4844-a577-a10ef3df31df",
        "source_cluster_id": null,
        "topic_names": ["orders"],
        "link_state": "ACTIVE",
    });
    assert!(contract.validate("GET", LINK, 200, &link)?);
    let mut broken = Vec::new();
    let mut without_id = link.clone();
    without_id
        .as_object_mut()
        .map(|o| o.remove("cluster_link_id"));
    broken.push(("no cluster_link_id", without_id));
    let mut wrong_type = link.clone();
    wrong_type["topic_names"] = json!("orders");
    broken.push(("topic_names not an array", wrong_type));
    let mut no_self = link.clone();
    no_self["metadata"] = json!({});
    broken.push(("no metadata.self", no_self));
    let mut null_name = link.clone();
    null_name["link_name"] = Value::Null;
    broken.push(("link_name null", null_name));
    for (what, body) in &broken {
        let err = contract
            .validate("GET", LINK, 200, body)
            .expect_err(what)
            .to_string();
        assert!(err.contains("does not match"), "{what}: {err}");
    }

    let mirror = json!({
        "kind": "KafkaMirrorData",
        "metadata": {"self": "/m"},
        "link_name": "east",
        "mirror_topic_name": "orders",
        "source_topic_name": "orders",
        "num_partitions": 1,
        "mirror_lags": [{"partition": 0, "lag": 0, "last_source_fetch_offset": 3}],
        "mirror_status": "ACTIVE",
        "state_time_ms": 1,
    });
    assert!(contract.validate("GET", MIRROR, 200, &mirror)?);
    for (field, value) in [
        ("mirror_status", json!("PENDING")),
        ("mirror_status", json!("SOURCE_UNAVAILABLE")),
        ("state_time_ms", Value::Null),
        ("num_partitions", json!("1")),
    ] {
        let mut bad = mirror.clone();
        bad[field] = value.clone();
        assert!(
            contract.validate("GET", MIRROR, 200, &bad).is_err(),
            "{field}={value} passed"
        );
    }
    let config = json!({
        "kind": "KafkaLinkConfigData", "metadata": {"self": "/c"},
        "cluster_id": "dst", "link_name": "east", "name": "a", "value": "1",
        "sensitive": false, "read_only": false, "default": false,
        "source": "DYNAMIC_CLUSTER_LINK_CONFIG", "synonyms": [],
    });
    assert!(contract.validate("GET", CONFIG, 200, &config)?);
    for field in ["read_only", "source", "synonyms", "default"] {
        let mut bad = config.clone();
        bad.as_object_mut().map(|o| o.remove(field));
        assert!(
            contract.validate("GET", CONFIG, 200, &bad).is_err(),
            "no {field}"
        );
    }
    let mut secret_null = config.clone();
    secret_null["value"] = Value::Null;
    assert!(contract.validate("GET", CONFIG, 200, &secret_null).is_err());

    // Statuses and operations.
    assert!(contract.validate("GET", LINK, 201, &link).is_err(), "201");
    assert!(
        contract.validate("POST", LINKS, 204, &link).is_err(),
        "content on 204"
    );
    assert!(contract.validate("POST", LINKS, 204, &Value::Null)?);
    assert!(
        contract.validate("PATCH", LINK, 200, &link).is_err(),
        "PATCH"
    );
    let error = json!({"error_code": 404, "message": "Cluster link 'x' does not exist"});
    assert!(
        !contract.validate("GET", LINK, 404, &error)?,
        "404 is not declared"
    );
    assert!(contract
        .validate("GET", LINK, 404, &json!({"message": "x"}))
        .is_err());
    assert_eq!(contract.operations().len(), 19);
    assert_eq!(contract.uncovered().len(), 19);
    Ok(())
}
