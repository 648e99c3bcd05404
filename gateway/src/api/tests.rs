//! Router tests over [`FakeLink`]s: JSON shapes, 404/405/400 error JSON,
//! hidden sensitive values, task states, mirror state aggregation; and one
//! real HTTP exchange through [`serve`] on 127.0.0.1:0.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::fake::FakeLink;
use super::model::aggregate_status;
use super::*;
use crate::mirror::{FailureCause, LinkStatus, PartitionState, PartitionStatus};

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn part(state: PartitionState, time_ms: u64) -> PartitionStatus {
    PartitionStatus {
        state,
        state_time: at(time_ms),
        next_fetch_offset: 10,
        last_fetch_high_watermark: 15,
        last_fetch_time: None,
        destination_log_end_offset: 10,
    }
}

fn put(status: &LinkStatus, topic: &str, partition: i32, p: PartitionStatus) {
    status.lock().insert((topic.to_string(), partition), p);
}

/// Two links to `dst` (east: orders + payments, one sensitive property;
/// west: paused, auto-create on) and one to `other`.
fn state() -> Result<(Arc<dyn ApiState>, LinkStatus)> {
    let mut east = FakeLink::new("east", "src", "dst", &["orders", "payments"])?;
    east.properties = vec![
        LinkProperty::new("cluster.link.paused", "false"),
        LinkProperty::new("sasl.jaas.config", "secret-jaas-value"),
        LinkProperty::new("local.ssl.key.password", "secret-key-pass"),
    ];
    east.sources.insert("orders".into(), "orders-src".into());
    let status = east.status.clone();
    put(&status, "orders", 0, part(PartitionState::Active, 1_000));
    put(
        &status,
        "orders",
        1,
        PartitionStatus {
            state: PartitionState::Active,
            state_time: at(2_000),
            next_fetch_offset: 100,
            last_fetch_high_watermark: 130,
            last_fetch_time: Some(SystemTime::now()),
            destination_log_end_offset: 100,
        },
    );
    put(&status, "payments", 0, part(PartitionState::Active, 1_000));
    put(
        &status,
        "payments",
        1,
        part(
            PartitionState::Failed(FailureCause::ForeignWrite {
                expected: 10,
                found: 12,
            }),
            3_000,
        ),
    );
    let mut west = FakeLink::new("west", "src", "dst", &[])?;
    west.config.paused = true;
    west.config.auto_create = true;
    let far = FakeLink::new("far", "dst", "other", &["x"])?;
    let links: Vec<Arc<dyn LinkView>> = vec![east.shared(), west.shared(), far.shared()];
    Ok((Arc::new(links), status))
}

async fn call(state: Arc<dyn ApiState>, method: Method, uri: &str) -> Result<(StatusCode, Value)> {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())?;
    let resp = router(state).oneshot(req).await?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
    let json = serde_json::from_slice(&bytes)
        .with_context(|| format!("body of {uri}: {}", String::from_utf8_lossy(&bytes)))?;
    Ok((status, json))
}

async fn get_ok(state: &Arc<dyn ApiState>, uri: &str) -> Result<Value> {
    let (status, body) = call(state.clone(), Method::GET, uri).await?;
    if status != StatusCode::OK {
        return Err(anyhow!("GET {uri}: {status} {body}"));
    }
    Ok(body)
}

fn names(v: &Value, field: &str) -> Vec<String> {
    v["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn list_links_by_alias_and_dash() -> Result<()> {
    let (state, _) = state()?;
    let body = get_ok(&state, "/kafka/v3/clusters/dst/links").await?;
    assert_eq!(body["kind"], "KafkaLinkDataList");
    assert_eq!(body["metadata"]["self"], "/kafka/v3/clusters/dst/links");
    assert_eq!(names(&body, "link_name"), ["east", "west"]);
    let east = &body["data"][0];
    assert_eq!(east["kind"], "KafkaLinkData");
    assert_eq!(
        east["metadata"]["self"],
        "/kafka/v3/clusters/dst/links/east"
    );
    assert_eq!(east["source_cluster_id"], "src");
    assert_eq!(east["destination_cluster_id"], "dst");
    assert_eq!(east["link_state"], "ACTIVE");
    assert_eq!(east["link_error"], "NO_ERROR");
    assert_eq!(east["link_error_message"], "");
    assert_eq!(
        east["topic_names"],
        serde_json::json!(["orders", "payments"])
    );
    assert!(east.get("tasks").is_none(), "tasks only on request: {east}");
    assert_eq!(body["data"][1]["link_state"], "PAUSED");

    let all = get_ok(&state, "/kafka/v3/clusters/-/links").await?;
    assert_eq!(names(&all, "link_name"), ["east", "west", "far"]);
    let other = get_ok(&state, "/kafka/v3/clusters/other/links").await?;
    assert_eq!(names(&other, "link_name"), ["far"]);
    Ok(())
}

#[tokio::test]
async fn tasks_follow_config_and_link_state() -> Result<()> {
    let (state, _) = state()?;
    let east = get_ok(
        &state,
        "/kafka/v3/clusters/dst/links/east?include_tasks=true",
    )
    .await?;
    let tasks = east["tasks"].as_array().context("tasks")?;
    let got: Vec<(&str, &str)> = tasks
        .iter()
        .filter_map(|t| Some((t["task_name"].as_str()?, t["state"].as_str()?)))
        .collect();
    assert_eq!(
        got,
        [
            ("AclSync", "NOT_CONFIGURED"),
            ("AutoCreateMirror", "NOT_CONFIGURED"),
            ("ConsumerOffsetSync", "NOT_CONFIGURED"),
            ("TopicConfigsSync", "ACTIVE"),
        ]
    );
    assert_eq!(tasks[0]["errors"], serde_json::json!([]));

    // west is paused with auto-create on: the configured task is LINK_PAUSED.
    let list = get_ok(&state, "/kafka/v3/clusters/-/links?include_tasks=TRUE").await?;
    let west = &list["data"][1];
    assert_eq!(west["link_name"], "west");
    assert_eq!(west["tasks"][1]["task_name"], "AutoCreateMirror");
    assert_eq!(west["tasks"][1]["state"], "LINK_PAUSED");
    assert_eq!(west["tasks"][0]["state"], "NOT_CONFIGURED");

    let (status, body) = call(
        state,
        Method::GET,
        "/kafka/v3/clusters/dst/links/east?include_tasks=yes",
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("include_tasks"),
        "{body}"
    );
    Ok(())
}

#[test]
fn auto_create_task_active_when_enabled_and_link_active() -> Result<()> {
    let mut link = FakeLink::new("l", "a", "b", &[])?;
    link.config.auto_create = true;
    let tasks = link.tasks();
    assert_eq!(tasks[1].name, "AutoCreateMirror");
    assert_eq!(tasks[1].state, "ACTIVE");
    link.health = Some(LinkHealth {
        state: LinkState::Unavailable,
        error: "TIMEOUT_ERROR".into(),
        error_message: "source cluster src at 127.0.0.1:1 timed out".into(),
    });
    assert_eq!(link.tasks()[1].state, "LINK_UNAVAILABLE");
    link.health = Some(LinkHealth {
        state: LinkState::Failed,
        error: "UNKNOWN".into(),
        error_message: "x".into(),
    });
    assert_eq!(link.tasks()[1].state, "LINK_FAILED");
    assert_eq!(link.tasks()[0].state, "NOT_CONFIGURED");
    Ok(())
}

#[tokio::test]
async fn link_error_is_reported() -> Result<()> {
    let mut link = FakeLink::new("l", "a", "b", &[])?;
    link.health = Some(LinkHealth {
        state: LinkState::Unavailable,
        error: "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR".into(),
        error_message: "cannot connect to source cluster a at 127.0.0.1:1".into(),
    });
    let state: Arc<dyn ApiState> = Arc::new(vec![link.shared()]);
    let body = get_ok(&state, "/kafka/v3/clusters/b/links/l").await?;
    assert_eq!(body["link_state"], "UNAVAILABLE");
    assert_eq!(body["link_error"], "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR");
    assert_eq!(
        body["link_error_message"],
        "cannot connect to source cluster a at 127.0.0.1:1"
    );
    Ok(())
}

#[tokio::test]
async fn configs_hide_sensitive_values() -> Result<()> {
    let (state, _) = state()?;
    let (status, body) = call(
        state.clone(),
        Method::GET,
        "/kafka/v3/clusters/-/links/east/configs",
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["kind"], "KafkaLinkConfigDataList");
    let text = body.to_string();
    assert!(!text.contains("secret-jaas-value"), "{text}");
    assert!(!text.contains("secret-key-pass"), "{text}");
    let data = body["data"].as_array().context("data")?;
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["kind"], "KafkaLinkConfigData");
    assert_eq!(data[0]["name"], "cluster.link.paused");
    assert_eq!(data[0]["value"], "false");
    assert_eq!(data[0]["sensitive"], false);
    assert_eq!(data[0]["link_name"], "east");
    assert_eq!(data[0]["cluster_id"], "dst");
    assert_eq!(data[0]["read_only"], false);
    assert_eq!(data[0]["default"], false);
    assert_eq!(data[0]["source"], "DYNAMIC_CLUSTER_LINK_CONFIG");
    assert_eq!(data[0]["synonyms"], serde_json::json!([]));
    for d in &data[1..] {
        assert_eq!(d["sensitive"], true, "{d}");
        // The contract's `value` is a string: a secret is sent as "".
        assert_eq!(d["value"], "", "{d}");
    }
    Ok(())
}

#[test]
fn sensitive_names() {
    for name in [
        "sasl.jaas.config",
        "local.sasl.jaas.config",
        "ssl.key.password",
        "ssl.truststore.password",
        "ssl.keystore.key",
        "basic.auth.password",
    ] {
        assert!(property_is_sensitive(name), "{name}");
    }
    for name in [
        "cluster.link.paused",
        "sasl.mechanism",
        "ssl.keystore.location",
    ] {
        assert!(!property_is_sensitive(name), "{name}");
    }
}

#[tokio::test]
async fn list_mirrors_aggregates_partitions() -> Result<()> {
    let (state, _) = state()?;
    let body = get_ok(&state, "/kafka/v3/clusters/dst/links/east/mirrors").await?;
    assert_eq!(body["kind"], "KafkaMirrorDataList");
    assert_eq!(names(&body, "mirror_topic_name"), ["orders", "payments"]);
    let orders = &body["data"][0];
    assert_eq!(orders["kind"], "KafkaMirrorData");
    assert_eq!(orders["link_name"], "east");
    assert_eq!(orders["source_topic_name"], "orders-src");
    assert_eq!(orders["mirror_status"], "ACTIVE");
    // All partitions ACTIVE: the topic became ACTIVE with the last one.
    assert_eq!(orders["state_time_ms"], 2_000);
    assert_eq!(orders["num_partitions"], 2);
    assert_eq!(
        orders["mirror_lags"],
        serde_json::json!([
            {"partition": 0, "lag": 5, "last_source_fetch_offset": 10},
            {"partition": 1, "lag": 30, "last_source_fetch_offset": 100},
        ])
    );
    let payments = &body["data"][1];
    assert_eq!(payments["source_topic_name"], "payments");
    assert_eq!(payments["mirror_status"], "FAILED");
    assert_eq!(payments["state_time_ms"], 3_000);
    Ok(())
}

#[tokio::test]
async fn configured_mirror_without_partitions_is_pending() -> Result<()> {
    let link = FakeLink::new("l", "a", "b", &["new-topic"])?;
    let state: Arc<dyn ApiState> = Arc::new(vec![link.shared()]);
    let body = get_ok(&state, "/kafka/v3/clusters/b/links/l/mirrors/new-topic").await?;
    assert_eq!(body["mirror_status"], "PENDING_MIRROR");
    // No partition known: the time of the answer.
    assert!(
        body["state_time_ms"].as_i64().is_some_and(|t| t > 0),
        "{body}"
    );
    assert_eq!(body["num_partitions"], 0);
    assert_eq!(body["mirror_lags"], serde_json::json!([]));
    Ok(())
}

#[tokio::test]
async fn describe_mirror_has_partition_details() -> Result<()> {
    let (state, status) = state()?;
    let body = get_ok(&state, "/kafka/v3/clusters/dst/links/east/mirrors/orders").await?;
    assert_eq!(body["kind"], "KafkaMirrorData");
    assert_eq!(
        body["metadata"]["self"],
        "/kafka/v3/clusters/dst/links/east/mirrors/orders"
    );
    let p0 = &body["mirror_lags"][0];
    assert_eq!(p0["state"], "ACTIVE");
    assert_eq!(p0["state_time_ms"], 1_000);
    assert_eq!(p0["dest_log_end_offset"], 10);
    assert_eq!(p0["last_fetch_source_high_watermark"], 15);
    assert_eq!(p0["lag"], 5);
    assert!(
        p0["time_since_last_fetch_ms"].is_null(),
        "never fetched: {p0}"
    );
    assert!(p0["error_code"].is_null());
    let p1 = &body["mirror_lags"][1];
    let since = p1["time_since_last_fetch_ms"].as_i64().context("since")?;
    assert!((0..60_000).contains(&since), "{p1}");

    // The table is live: a later failure shows up with its cause.
    put(
        &status,
        "orders",
        0,
        part(
            PartitionState::Failed(FailureCause::SourceLogTruncated {
                fetch_offset: 10,
                log_start_offset: 50,
            }),
            9_000,
        ),
    );
    let body = get_ok(&state, "/kafka/v3/clusters/-/links/east/mirrors/orders").await?;
    assert_eq!(body["mirror_status"], "FAILED");
    assert_eq!(body["state_time_ms"], 9_000);
    assert_eq!(body["mirror_lags"][0]["error_code"], "SOURCE_LOG_TRUNCATED");
    assert!(body["mirror_lags"][0]["error_message"]
        .as_str()
        .unwrap_or("")
        .contains("log start offset 50"));
    Ok(())
}

#[test]
fn aggregation_worst_state_wins() {
    let failed = PartitionState::Failed(FailureCause::NotAMirror { log_end_offset: 3 });
    let unavailable = PartitionState::SourceUnavailable("leader not available".into());
    let cases: Vec<(Vec<PartitionStatus>, &str, Option<u64>)> = vec![
        (vec![], "PENDING", None),
        (
            vec![
                part(PartitionState::Active, 5),
                part(PartitionState::Active, 7),
            ],
            "ACTIVE",
            Some(7),
        ),
        (
            vec![
                part(PartitionState::Active, 5),
                part(PartitionState::Pending, 3),
            ],
            "PENDING",
            Some(3),
        ),
        (
            vec![
                part(PartitionState::Pending, 5),
                part(PartitionState::Paused, 4),
            ],
            "PAUSED",
            Some(4),
        ),
        (
            vec![
                part(PartitionState::Paused, 5),
                part(unavailable.clone(), 6),
            ],
            "SOURCE_UNAVAILABLE",
            Some(6),
        ),
        (
            vec![
                part(unavailable, 1),
                part(failed.clone(), 8),
                part(failed, 6),
                part(PartitionState::Active, 9),
            ],
            "FAILED",
            Some(6),
        ),
        // Stop states win over any other state: the topic is being stopped.
        (
            vec![
                part(PartitionState::Stopped, 12),
                part(PartitionState::PendingStopped, 10),
                part(
                    PartitionState::Failed(FailureCause::NotAMirror { log_end_offset: 1 }),
                    5,
                ),
            ],
            "PENDING_STOPPED",
            Some(10),
        ),
        (
            vec![
                part(PartitionState::Stopped, 11),
                part(PartitionState::Active, 3),
            ],
            "PENDING_STOPPED",
            Some(11),
        ),
        // STOPPED once the last partition stopped.
        (
            vec![
                part(PartitionState::Stopped, 10),
                part(PartitionState::Stopped, 12),
            ],
            "STOPPED",
            Some(12),
        ),
    ];
    for (parts, name, time) in cases {
        let got = aggregate_status(parts.iter());
        assert_eq!(got, (name, time.map(at)), "{parts:?}");
    }
}

#[tokio::test]
async fn unknown_link_mirror_cluster_and_path_are_404_json() -> Result<()> {
    let (state, _) = state()?;
    for (uri, needle) in [
        ("/kafka/v3/clusters/dst/links/nope", "'nope'"),
        ("/kafka/v3/clusters/-/links/nope/configs", "'nope'"),
        ("/kafka/v3/clusters/-/links/nope/mirrors", "'nope'"),
        // far exists, but its destination is not dst.
        ("/kafka/v3/clusters/dst/links/far", "'far'"),
        ("/kafka/v3/clusters/dst/links/east/mirrors/ghost", "'ghost'"),
        ("/kafka/v3/clusters/nowhere/links", "'nowhere'"),
        ("/kafka/v3/brokers", "/kafka/v3/brokers"),
    ] {
        let (status, body) = call(state.clone(), Method::GET, uri).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        assert_eq!(body["error_code"], 404, "{uri}: {body}");
        let msg = body["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{uri}: {msg}");
    }
    let (_, body) = call(
        state,
        Method::GET,
        "/kafka/v3/clusters/dst/links/east/mirrors/ghost",
    )
    .await?;
    assert_eq!(
        body["message"],
        "Topic 'ghost' is not a mirror topic of cluster link 'east'"
    );
    Ok(())
}

#[tokio::test]
async fn other_methods_are_405_json_with_allow() -> Result<()> {
    let (state, _) = state()?;
    for (method, uri, allow) in [
        (
            Method::PUT,
            "/kafka/v3/clusters/dst/links",
            "GET, HEAD, POST",
        ),
        (
            Method::POST,
            "/kafka/v3/clusters/dst/links/east",
            "GET, HEAD, DELETE",
        ),
        (
            Method::PUT,
            "/kafka/v3/clusters/dst/links/east/configs",
            "GET, HEAD",
        ),
        (
            Method::POST,
            "/kafka/v3/clusters/dst/links/east/configs:alter",
            "PUT",
        ),
        (
            Method::DELETE,
            "/kafka/v3/clusters/dst/links/east/mirrors",
            "GET, HEAD, POST",
        ),
        (
            Method::PATCH,
            "/kafka/v3/clusters/dst/links/east/mirrors/orders",
            "GET, HEAD",
        ),
        (
            Method::GET,
            "/kafka/v3/clusters/dst/links/east/mirrors:promote",
            "POST",
        ),
        (
            Method::PUT,
            "/kafka/v3/clusters/dst/links/-/mirrors:resume",
            "POST",
        ),
    ] {
        let req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(Body::empty())?;
        let resp = router(state.clone()).oneshot(req).await?;
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}"
        );
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {uri}"
        );
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await?;
        let body: Value = serde_json::from_slice(&bytes)?;
        assert_eq!(body["error_code"], 405, "{method} {uri}");
        let msg = body["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(method.as_str()) && msg.contains(allow),
            "{msg}"
        );
    }
    Ok(())
}

/// One real HTTP/1.1 exchange through [`serve`], then graceful shutdown.
#[tokio::test]
async fn serve_answers_on_loopback_and_stops() -> Result<()> {
    let (state, _) = state()?;
    let shutdown = CancellationToken::new();
    let listen = "127.0.0.1:0".parse()?;
    let server = serve(listen, state, ServeOptions::default(), shutdown.clone()).await?;
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(
        b"GET /kafka/v3/clusters/-/links/east HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut raw)).await??;
    let text = String::from_utf8(raw)?;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    let body = text.split("\r\n\r\n").nth(1).context("no body")?;
    let json: Value = serde_json::from_str(body)?;
    assert_eq!(json["link_name"], "east");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server.join()).await??;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );

    // Binding an address in use fails with Bind.
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let err = serve(
        taken.local_addr()?,
        Arc::new(Vec::<Arc<dyn LinkView>>::new()),
        ServeOptions::default(),
        CancellationToken::new(),
    )
    .await
    .err()
    .context("bind on a taken port succeeded")?;
    assert!(matches!(err, ServeError::Bind { .. }), "{err}");
    Ok(())
}
