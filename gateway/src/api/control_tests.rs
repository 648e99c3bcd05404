//! Router tests of the mutating endpoints over [`FakeState`] /
//! [`FakeControl`]: the request each endpoint passes to the control plane,
//! success shapes, error statuses (400/404/409/413/415/501/503 and
//! per-topic errors inside a 200 mirror action), `include_stopped`, the `-`
//! link, and the bearer token, also over real HTTP through [`serve`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::fake::{ControlCall, FakeControl, FakeLink, FakeState};
use super::*;
use crate::control::{
    ControlError, LinkConfigChange, LinkDeletion, MirrorAction, NewLink, NewMirror, PartitionLag,
};
use crate::mirror::{LinkStatus, PartitionState, PartitionStatus};

/// An answer: status, headers, JSON body (`Null` when empty).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

fn stopped(time: SystemTime) -> PartitionStatus {
    PartitionStatus {
        state: PartitionState::Stopped,
        state_time: time,
        next_fetch_offset: 7,
        last_fetch_high_watermark: 7,
        last_fetch_time: None,
        destination_log_end_offset: 7,
    }
}

/// east (dst): orders, payments; west (dst): w1; far (other): x. Returns
/// the state, its control plane and east's status table.
fn setup() -> Result<(Arc<dyn ApiState>, Arc<FakeControl>, LinkStatus)> {
    let east = FakeLink::new("east", "src", "dst", &["orders", "payments"])?;
    let status = east.status.clone();
    let west = FakeLink::new("west", "src", "dst", &["w1"])?;
    let far = FakeLink::new("far", "dst", "other", &["x"])?;
    let (state, control) =
        FakeState::with_control(vec![east.shared(), west.shared(), far.shared()]);
    Ok((Arc::new(state), control, status))
}

async fn send_to(
    app: axum::Router,
    method: Method,
    uri: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Answer> {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let resp = app.oneshot(req).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .with_context(|| format!("body of {uri}: {}", String::from_utf8_lossy(&bytes)))?
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn send(
    state: &Arc<dyn ApiState>,
    method: Method,
    uri: &str,
    body: Option<&str>,
) -> Result<Answer> {
    send_to(router(state.clone()), method, uri, body, &[]).await
}

fn expect(a: &Answer, status: StatusCode, what: &str) -> Result<()> {
    if a.status != status {
        return Err(anyhow!(
            "{what}: expected {status}, got {} {}",
            a.status,
            a.body
        ));
    }
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(a.body["error_code"], status.as_u16(), "{what}: {}", a.body);
        assert!(!a.message().is_empty(), "{what}: {}", a.body);
    }
    Ok(())
}

const LINKS: &str = "/kafka/v3/clusters/dst/links";

#[tokio::test]
async fn create_link_passes_the_request() -> Result<()> {
    let (state, control, _) = setup()?;
    let body = r#"{"source_cluster_id": "src-id", "configs": [
        {"name": "bootstrap.servers", "value": "127.0.0.1:9092"},
        {"name": "cluster.link.prefix", "value": "pre."}]}"#;
    let a = send(
        &state,
        Method::POST,
        &format!("{LINKS}?link_name=new&validate_only=TRUE&validate_link=false"),
        Some(body),
    )
    .await?;
    expect(&a, StatusCode::NO_CONTENT, "create")?;
    assert!(a.body.is_null());
    // Defaults: validate_only false, validate_link true; configs optional.
    let a = send(
        &state,
        Method::POST,
        &format!("{LINKS}?link_name=n2"),
        Some("{}"),
    )
    .await?;
    expect(&a, StatusCode::NO_CONTENT, "create minimal")?;
    assert_eq!(
        control.calls(),
        [
            ControlCall::CreateLink(NewLink {
                link_name: "new".into(),
                destination_cluster: "dst".into(),
                source_cluster_id: Some("src-id".into()),
                configs: vec![
                    ("bootstrap.servers".into(), "127.0.0.1:9092".into()),
                    ("cluster.link.prefix".into(), "pre.".into()),
                ],
                validate_only: true,
                validate_link: false,
            }),
            ControlCall::CreateLink(NewLink {
                link_name: "n2".into(),
                destination_cluster: "dst".into(),
                source_cluster_id: None,
                configs: vec![],
                validate_only: false,
                validate_link: true,
            }),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn malformed_create_link_is_refused_and_nothing_called() -> Result<()> {
    let (state, control, _) = setup()?;
    let ok = r#"{"configs": []}"#;
    let big = format!(
        r#"{{"configs": [{{"name": "a", "value": "{}"}}]}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    let cases: Vec<(String, Option<&str>, String, StatusCode, &str)> = vec![
        (
            LINKS.into(),
            Some("application/json"),
            ok.into(),
            StatusCode::BAD_REQUEST,
            "link_name",
        ),
        (
            "/kafka/v3/clusters/-/links?link_name=n".into(),
            Some("application/json"),
            ok.into(),
            StatusCode::BAD_REQUEST,
            "destination cluster",
        ),
        (
            format!("{LINKS}?link_name=-"),
            Some("application/json"),
            ok.into(),
            StatusCode::BAD_REQUEST,
            "'-'",
        ),
        (
            format!("{LINKS}?link_name=n"),
            Some("application/json"),
            "{".into(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            format!("{LINKS}?link_name=n"),
            Some("application/json"),
            "".into(),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            format!("{LINKS}?link_name=n"),
            Some("application/json"),
            r#"{"configs": [], "destination": "x"}"#.into(),
            StatusCode::BAD_REQUEST,
            "unknown field `destination`",
        ),
        (
            format!("{LINKS}?link_name=n"),
            Some("application/json"),
            r#"{"configs": "bootstrap.servers=x"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            format!("{LINKS}?link_name=n"),
            Some("application/json"),
            r#"{"configs": [{"name": "a"}]}"#.into(),
            StatusCode::BAD_REQUEST,
            "missing field `value`",
        ),
        (
            format!("{LINKS}?link_name=n"),
            Some("application/json"),
            r#"{"configs": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]}"#.into(),
            StatusCode::BAD_REQUEST,
            "more than once",
        ),
        (
            format!("{LINKS}?link_name=n&validate_only=maybe"),
            Some("application/json"),
            ok.into(),
            StatusCode::BAD_REQUEST,
            "validate_only",
        ),
        (
            format!("{LINKS}?link_name=n&validateOnly=true"),
            Some("application/json"),
            ok.into(),
            StatusCode::BAD_REQUEST,
            "validateOnly",
        ),
        (
            format!("{LINKS}?link_name=n"),
            Some("text/plain"),
            ok.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            format!("{LINKS}?link_name=n"),
            None,
            ok.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            format!("{LINKS}?link_name=n"),
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            format!("{LINKS}?link_name=n"),
            Some("application/json"),
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "bytes",
        ),
    ];
    for (uri, content_type, body, status, needle) in cases {
        let mut req = Request::builder().method(Method::POST).uri(&uri);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = router(state.clone())
            .oneshot(req.body(Body::from(body))?)
            .await?;
        let got = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
        let json: Value = serde_json::from_slice(&bytes)?;
        assert_eq!(got, status, "{uri} {content_type:?}: {json}");
        assert_eq!(json["error_code"], status.as_u16(), "{json}");
        let msg = json["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{uri}: '{needle}' not in {msg}");
    }
    assert_eq!(control.calls(), []);
    Ok(())
}

#[tokio::test]
async fn alter_configs_splits_set_and_reset() -> Result<()> {
    let (state, control, _) = setup()?;
    let body = r#"{"data": [
        {"name": "cluster.link.paused", "value": "true", "operation": "SET"},
        {"name": "consumer.offset.sync.ms", "value": "5000"},
        {"name": "linkgate.renamers", "operation": "DELETE"}]}"#;
    let a = send(
        &state,
        Method::PUT,
        &format!("{LINKS}/east/configs:alter?validate_only=true"),
        Some(body),
    )
    .await?;
    expect(&a, StatusCode::NO_CONTENT, "alter")?;
    assert_eq!(
        control.calls(),
        [ControlCall::AlterLinkConfigs(LinkConfigChange {
            link_name: "east".into(),
            set: vec![
                ("cluster.link.paused".into(), "true".into()),
                ("consumer.offset.sync.ms".into(), "5000".into()),
            ],
            reset: vec!["linkgate.renamers".into()],
            validate_only: true,
        })]
    );

    let (state, control, _) = setup()?;
    let one = r#"{"data": [{"name": "a", "value": "1"}]}"#;
    for (uri, body, status, needle) in [
        (
            format!("{LINKS}/east/configs:alter"),
            r#"{"data": [{"name": "a"}]}"#,
            StatusCode::BAD_REQUEST,
            "no value",
        ),
        (
            format!("{LINKS}/east/configs:alter"),
            r#"{"data": []}"#,
            StatusCode::BAD_REQUEST,
            "at least one",
        ),
        (
            format!("{LINKS}/east/configs:alter"),
            r#"{}"#,
            StatusCode::BAD_REQUEST,
            "missing field `data`",
        ),
        (
            format!("{LINKS}/east/configs:alter"),
            r#"{"data": [{"name": "a", "value": "1", "operation": "APPEND"}]}"#,
            StatusCode::BAD_REQUEST,
            "APPEND",
        ),
        (
            format!("{LINKS}/nope/configs:alter"),
            one,
            StatusCode::NOT_FOUND,
            "'nope'",
        ),
        // far's destination is `other`, not dst.
        (
            format!("{LINKS}/far/configs:alter"),
            one,
            StatusCode::NOT_FOUND,
            "'far'",
        ),
        (
            "/kafka/v3/clusters/nowhere/links/east/configs:alter".into(),
            one,
            StatusCode::NOT_FOUND,
            "'nowhere'",
        ),
        (
            format!("{LINKS}/-/configs:alter"),
            one,
            StatusCode::BAD_REQUEST,
            "name a cluster link",
        ),
    ] {
        let a = send(&state, Method::PUT, &uri, Some(body)).await?;
        expect(&a, status, &uri)?;
        assert!(a.message().contains(needle), "{uri}: {}", a.message());
    }
    assert_eq!(control.calls(), []);
    Ok(())
}

#[tokio::test]
async fn delete_link_and_control_errors() -> Result<()> {
    let (state, control, _) = setup()?;
    let a = send(
        &state,
        Method::DELETE,
        &format!("{LINKS}/east?force=true&validate_only=true"),
        None,
    )
    .await?;
    expect(&a, StatusCode::OK, "delete")?;
    let a = send(
        &state,
        Method::DELETE,
        "/kafka/v3/clusters/-/links/far",
        None,
    )
    .await?;
    expect(&a, StatusCode::OK, "delete any cluster")?;
    assert_eq!(
        control.calls(),
        [
            ControlCall::DeleteLink(LinkDeletion {
                link_name: "east".into(),
                force: true,
                validate_only: true,
            }),
            ControlCall::DeleteLink(LinkDeletion {
                link_name: "far".into(),
                force: false,
                validate_only: false,
            }),
        ]
    );
    for uri in [format!("{LINKS}/nope"), format!("{LINKS}/east?force=yes")] {
        let a = send(&state, Method::DELETE, &uri, None).await?;
        assert!(
            a.status == StatusCode::NOT_FOUND || a.status == StatusCode::BAD_REQUEST,
            "{uri}"
        );
    }
    assert_eq!(control.calls().len(), 2, "no call for a bad delete");

    // Control-plane errors come back with their status and text.
    let cases = [
        (
            ControlError::HasMirrors {
                link: "east".into(),
                mirrors: vec!["orders".into()],
            },
            StatusCode::CONFLICT,
        ),
        (
            ControlError::ManagedByConfigFile("east".into()),
            StatusCode::CONFLICT,
        ),
        (
            ControlError::LinkNotFound("east".into()),
            StatusCode::NOT_FOUND,
        ),
        (
            ControlError::Unavailable {
                message: "state topic of cluster dst at 127.0.0.1:1 cannot be written".into(),
            },
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    for (err, status) in cases {
        control.fail_with(Some(err.clone()));
        let a = send(&state, Method::DELETE, &format!("{LINKS}/east"), None).await?;
        expect(&a, status, &err.to_string())?;
        assert_eq!(a.message(), err.to_string());
    }
    control.fail_with(None);
    Ok(())
}

#[tokio::test]
async fn create_link_control_errors() -> Result<()> {
    let (state, control, _) = setup()?;
    for (err, status) in [
        (
            ControlError::LinkExists("east".into()),
            StatusCode::CONFLICT,
        ),
        (
            ControlError::ClusterNotFound("nowhere".into()),
            StatusCode::NOT_FOUND,
        ),
        (
            ControlError::LinkValidation {
                code: "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR".into(),
                message: "cannot connect to source cluster at 127.0.0.1:1".into(),
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            ControlError::InvalidConfig {
                key: "bootstrap.servers".into(),
                message: "required".into(),
            },
            StatusCode::BAD_REQUEST,
        ),
    ] {
        control.fail_with(Some(err.clone()));
        let a = send(
            &state,
            Method::POST,
            &format!("{LINKS}?link_name=east"),
            Some("{}"),
        )
        .await?;
        expect(&a, status, "create")?;
        assert_eq!(a.message(), err.to_string());
        if let ControlError::LinkValidation { code, .. } = &err {
            assert!(a.message().contains(code.as_str()), "{}", a.message());
        }
    }
    // Every call was made (the control plane decides these).
    assert_eq!(control.calls().len(), 4);
    Ok(())
}

#[tokio::test]
async fn create_mirror_passes_the_request() -> Result<()> {
    let (state, control, _) = setup()?;
    let body = r#"{"source_topic_name": "t", "mirror_topic_name": "pre.t",
        "replication_factor": 3, "configs": [{"name": "retention.ms", "value": "1000"}]}"#;
    let a = send(
        &state,
        Method::POST,
        &format!("{LINKS}/east/mirrors?validate_only=true"),
        Some(body),
    )
    .await?;
    expect(&a, StatusCode::NO_CONTENT, "create mirror")?;
    let a = send(
        &state,
        Method::POST,
        &format!("{LINKS}/east/mirrors"),
        Some(r#"{"source_topic_name": "u", "replication_factor": -1}"#),
    )
    .await?;
    expect(&a, StatusCode::NO_CONTENT, "create mirror, defaults")?;
    assert_eq!(
        control.calls(),
        [
            ControlCall::CreateMirror(NewMirror {
                link_name: "east".into(),
                source_topic_name: Some("t".into()),
                mirror_topic_name: Some("pre.t".into()),
                replication_factor: Some(3),
                configs: vec![("retention.ms".into(), "1000".into())],
                validate_only: true,
            }),
            ControlCall::CreateMirror(NewMirror {
                link_name: "east".into(),
                source_topic_name: Some("u".into()),
                mirror_topic_name: None,
                replication_factor: None,
                configs: vec![],
                validate_only: false,
            }),
        ]
    );

    let (state, control, _) = setup()?;
    for (uri, body, status, needle) in [
        (
            format!("{LINKS}/east/mirrors"),
            r#"{"configs": []}"#,
            StatusCode::BAD_REQUEST,
            "source_topic_name",
        ),
        (
            format!("{LINKS}/east/mirrors"),
            r#"{"mirror_topic_name": "a", "replication_factor": 0}"#,
            StatusCode::BAD_REQUEST,
            "replication_factor",
        ),
        (
            format!("{LINKS}/east/mirrors"),
            r#"{"mirror_topic_name": "a", "replication_factor": 70000}"#,
            StatusCode::BAD_REQUEST,
            "invalid value",
        ),
        (
            format!("{LINKS}/east/mirrors"),
            r#"{"mirror_topic_name": 5}"#,
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            format!("{LINKS}/nope/mirrors"),
            r#"{"mirror_topic_name": "a"}"#,
            StatusCode::NOT_FOUND,
            "'nope'",
        ),
        (
            format!("{LINKS}/-/mirrors"),
            r#"{"mirror_topic_name": "a"}"#,
            StatusCode::BAD_REQUEST,
            "name a cluster link",
        ),
    ] {
        let a = send(&state, Method::POST, &uri, Some(body)).await?;
        expect(&a, status, &uri)?;
        assert!(a.message().contains(needle), "{uri}: {}", a.message());
    }
    assert_eq!(control.calls(), []);

    control.fail_with(Some(ControlError::MirrorExists {
        topic: "a".into(),
        detail: String::new(),
    }));
    let a = send(
        &state,
        Method::POST,
        &format!("{LINKS}/east/mirrors"),
        Some(r#"{"mirror_topic_name": "a"}"#),
    )
    .await?;
    expect(&a, StatusCode::CONFLICT, "mirror exists")?;
    Ok(())
}

#[tokio::test]
async fn mirror_actions_answer_per_topic_status() -> Result<()> {
    let (state, control, _) = setup()?;
    control.set_lags(
        "orders",
        vec![PartitionLag {
            partition: 0,
            lag: 0,
            last_source_fetch_offset: 42,
        }],
    );
    let err = ControlError::LagNotZero {
        mirror: "payments".into(),
        lags: vec![(1, 5)],
    };
    control.fail_topic("payments", err.clone());
    let uri = format!("{LINKS}/east/mirrors:promote");
    let a = send(
        &state,
        Method::POST,
        &uri,
        Some(r#"{"mirror_topic_names": ["orders", "payments"]}"#),
    )
    .await?;
    expect(&a, StatusCode::OK, "promote")?;
    assert_eq!(
        a.body,
        json!({
            "kind": "KafkaAlterMirrorStatusResponseDataList",
            "metadata": {"self": uri, "next": null},
            "data": [
                {
                    "kind": "KafkaAlterMirrorStatusResponseData",
                    "metadata": {"self": format!("{LINKS}/east/mirrors/orders")},
                    "mirror_topic_name": "orders",
                    "error_code": null,
                    "error_message": null,
                    "mirror_lags": [{"partition": 0, "lag": 0, "last_source_fetch_offset": 42}],
                },
                {
                    "kind": "KafkaAlterMirrorStatusResponseData",
                    "metadata": {"self": format!("{LINKS}/east/mirrors/payments")},
                    "mirror_topic_name": "payments",
                    "error_code": 400,
                    "error_message": err.to_string(),
                    "mirror_lags": [],
                },
            ],
        })
    );
    assert!(err.to_string().contains("has lag"));

    for (action, expected) in [
        ("failover", MirrorAction::Failover),
        ("pause", MirrorAction::Pause),
        ("resume", MirrorAction::Resume),
    ] {
        let a = send(
            &state,
            Method::POST,
            &format!("{LINKS}/east/mirrors:{action}?validate_only=true"),
            Some(r#"{"mirror_topic_names": ["orders"]}"#),
        )
        .await?;
        expect(&a, StatusCode::OK, action)?;
        assert_eq!(a.body["data"][0]["error_code"], Value::Null);
        assert_eq!(
            control.calls().last(),
            Some(&ControlCall::AlterMirrors {
                link: Some("east".into()),
                mirror_topics: vec!["orders".into()],
                action: expected,
                validate_only: true,
            })
        );
    }
    assert_eq!(control.calls().len(), 4);
    let ControlCall::AlterMirrors {
        action,
        validate_only,
        ..
    } = &control.calls()[0]
    else {
        return Err(anyhow!("first call: {:?}", control.calls()));
    };
    assert_eq!((*action, *validate_only), (MirrorAction::Promote, false));

    // A whole-call error (e.g. the link vanished meanwhile) is the answer's status.
    control.fail_with(Some(ControlError::LinkNotFound("east".into())));
    let a = send(
        &state,
        Method::POST,
        &uri,
        Some(r#"{"mirror_topic_names": ["orders"]}"#),
    )
    .await?;
    expect(&a, StatusCode::NOT_FOUND, "vanished link")?;
    Ok(())
}

#[tokio::test]
async fn malformed_mirror_actions_call_nothing() -> Result<()> {
    let (state, control, _) = setup()?;
    let one = r#"{"mirror_topic_names": ["orders"]}"#;
    for (uri, body, status, needle) in [
        (
            format!("{LINKS}/east/mirrors:promote"),
            r#"{"mirror_topic_names": []}"#,
            StatusCode::BAD_REQUEST,
            "at least one",
        ),
        (
            format!("{LINKS}/east/mirrors:promote"),
            r#"{"mirror_topic_names": ["a", "a"]}"#,
            StatusCode::BAD_REQUEST,
            "more than once",
        ),
        (
            format!("{LINKS}/east/mirrors:promote"),
            r#"{"mirror_topic_names": "a"}"#,
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            format!("{LINKS}/east/mirrors:promote"),
            r#"{"topics": ["a"]}"#,
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            format!("{LINKS}/east/mirrors:promote"),
            "[",
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            format!("{LINKS}/east/mirrors:promote?force=true"),
            one,
            StatusCode::BAD_REQUEST,
            "force",
        ),
        (
            format!("{LINKS}/east/mirrors:explode"),
            one,
            StatusCode::NOT_FOUND,
            "mirrors:explode",
        ),
        (
            format!("{LINKS}/east/configs:drop"),
            one,
            StatusCode::NOT_FOUND,
            "configs:drop",
        ),
        (
            format!("{LINKS}/nope/mirrors:pause"),
            one,
            StatusCode::NOT_FOUND,
            "'nope'",
        ),
        (
            "/kafka/v3/clusters/nowhere/links/-/mirrors:pause".into(),
            one,
            StatusCode::NOT_FOUND,
            "'nowhere'",
        ),
    ] {
        let a = send(&state, Method::POST, &uri, Some(body)).await?;
        expect(&a, status, &uri)?;
        assert!(a.message().contains(needle), "{uri}: {}", a.message());
    }
    assert_eq!(control.calls(), []);
    Ok(())
}

#[tokio::test]
async fn any_link_mirror_actions() -> Result<()> {
    let (state, control, _) = setup()?;
    // Cluster `-`: the control plane resolves the links.
    let a = send(
        &state,
        Method::POST,
        "/kafka/v3/clusters/-/links/-/mirrors:failover",
        Some(r#"{"mirror_topic_names": ["x", "orders"]}"#),
    )
    .await?;
    expect(&a, StatusCode::OK, "failover any")?;
    assert_eq!(
        control.calls(),
        [ControlCall::AlterMirrors {
            link: None,
            mirror_topics: vec!["x".into(), "orders".into()],
            action: MirrorAction::Failover,
            validate_only: false,
        }]
    );

    // A named cluster: grouped by the cluster's links; `x` is on `other`.
    let (state, control, _) = setup()?;
    let a = send(
        &state,
        Method::POST,
        &format!("{LINKS}/-/mirrors:pause"),
        Some(r#"{"mirror_topic_names": ["w1", "orders", "x", "payments"]}"#),
    )
    .await?;
    expect(&a, StatusCode::OK, "pause on dst")?;
    let got: Vec<(String, Value)> = a.body["data"]
        .as_array()
        .context("data")?
        .iter()
        .map(|d| {
            (
                d["mirror_topic_name"].as_str().unwrap_or("").to_string(),
                d["error_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("w1".to_string(), Value::Null),
            ("orders".to_string(), Value::Null),
            ("x".to_string(), json!(404)),
            ("payments".to_string(), Value::Null),
        ]
    );
    assert_eq!(
        a.body["data"][2]["error_message"],
        "Topic 'x' is not a mirror topic of cluster link '-'"
    );
    assert_eq!(
        control.calls(),
        [
            ControlCall::AlterMirrors {
                link: Some("west".into()),
                mirror_topics: vec!["w1".into()],
                action: MirrorAction::Pause,
                validate_only: false,
            },
            ControlCall::AlterMirrors {
                link: Some("east".into()),
                mirror_topics: vec!["orders".into(), "payments".into()],
                action: MirrorAction::Pause,
                validate_only: false,
            },
        ]
    );
    Ok(())
}

#[tokio::test]
async fn without_control_plane_mutations_are_501() -> Result<()> {
    let east = FakeLink::new("east", "src", "dst", &["orders"])?;
    let state: Arc<dyn ApiState> = Arc::new(FakeState {
        links: vec![east.shared()],
        control: None,
        cluster_ids: None,
    });
    for (method, uri, body) in [
        (Method::POST, format!("{LINKS}?link_name=n"), Some("{}")),
        (Method::DELETE, format!("{LINKS}/east"), None),
        (
            Method::PUT,
            format!("{LINKS}/east/configs:alter"),
            Some(r#"{"data": []}"#),
        ),
        (Method::POST, format!("{LINKS}/east/mirrors"), Some("{}")),
        (
            Method::POST,
            format!("{LINKS}/-/mirrors:promote"),
            Some("{}"),
        ),
    ] {
        let a = send(&state, method.clone(), &uri, body).await?;
        expect(&a, StatusCode::NOT_IMPLEMENTED, &format!("{method} {uri}"))?;
    }
    // Reads still work.
    let a = send(&state, Method::GET, &format!("{LINKS}/east"), None).await?;
    expect(&a, StatusCode::OK, "get")?;
    Ok(())
}

#[tokio::test]
async fn stopped_mirrors_hidden_unless_included() -> Result<()> {
    let (state, _, status) = setup()?;
    let now = SystemTime::now();
    status.lock().insert(("orders".into(), 0), stopped(now));
    status.lock().insert(("orders".into(), 1), stopped(now));
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d["mirror_topic_name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let a = send(&state, Method::GET, &format!("{LINKS}/east/mirrors"), None).await?;
    expect(&a, StatusCode::OK, "list")?;
    assert_eq!(names(&a.body), ["payments"]);
    assert_eq!(
        a.body["metadata"],
        json!({"self": format!("{LINKS}/east/mirrors"), "next": null})
    );
    let a = send(
        &state,
        Method::GET,
        &format!("{LINKS}/east/mirrors?include_stopped=true"),
        None,
    )
    .await?;
    assert_eq!(names(&a.body), ["orders", "payments"]);
    assert_eq!(a.body["data"][0]["mirror_status"], "STOPPED");
    // One mirror is shown in any state.
    let a = send(
        &state,
        Method::GET,
        &format!("{LINKS}/east/mirrors/orders"),
        None,
    )
    .await?;
    expect(&a, StatusCode::OK, "get stopped")?;
    assert_eq!(a.body["mirror_status"], "STOPPED");
    assert_eq!(a.body["mirror_lags"][0]["state"], "STOPPED");
    assert_eq!(a.body["mirror_lags"][0]["last_source_fetch_offset"], 7);
    let a = send(
        &state,
        Method::GET,
        &format!("{LINKS}/east/mirrors?include_stopped=1"),
        None,
    )
    .await?;
    expect(&a, StatusCode::BAD_REQUEST, "bad include_stopped")?;
    assert!(a.message().contains("include_stopped"));
    Ok(())
}

#[tokio::test]
async fn any_link_lists_and_finds_mirrors() -> Result<()> {
    let (state, _, status) = setup()?;
    status
        .lock()
        .insert(("orders".into(), 0), stopped(SystemTime::now()));
    let a = send(&state, Method::GET, &format!("{LINKS}/-/mirrors"), None).await?;
    expect(&a, StatusCode::OK, "dst mirrors")?;
    let got: Vec<(String, String)> = a.body["data"]
        .as_array()
        .context("data")?
        .iter()
        .map(|d| {
            (
                d["link_name"].as_str().unwrap_or("").to_string(),
                d["mirror_topic_name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("east".to_string(), "payments".to_string()),
            ("west".to_string(), "w1".to_string()),
        ]
    );
    assert_eq!(a.body["metadata"]["self"], format!("{LINKS}/-/mirrors"));
    let a = send(
        &state,
        Method::GET,
        "/kafka/v3/clusters/-/links/-/mirrors?include_stopped=true",
        None,
    )
    .await?;
    assert_eq!(a.body["data"].as_array().map(Vec::len), Some(4));
    let a = send(
        &state,
        Method::GET,
        "/kafka/v3/clusters/-/links/-/mirrors/x",
        None,
    )
    .await?;
    expect(&a, StatusCode::OK, "find x")?;
    assert_eq!(a.body["link_name"], "far");
    assert_eq!(
        a.body["metadata"]["self"],
        "/kafka/v3/clusters/other/links/far/mirrors/x"
    );
    let a = send(&state, Method::GET, &format!("{LINKS}/-/mirrors/x"), None).await?;
    expect(&a, StatusCode::NOT_FOUND, "x is not on dst")?;
    assert_eq!(
        a.message(),
        "Topic 'x' is not a mirror topic of cluster link '-'"
    );
    Ok(())
}

#[tokio::test]
async fn token_guards_mutations_only() -> Result<()> {
    let (state, control, _) = setup()?;
    let app = || router_with_token(state.clone(), Some("s3cret-token"));
    let uri = format!("{LINKS}/east");
    for (headers, invalid) in [
        (vec![], false),
        (vec![("authorization", "Bearer wrong")], true),
        (vec![("authorization", "Basic czNjcmV0LXRva2Vu")], false),
        (
            vec![("authorization", "Bearer s3cret-token-and-more")],
            true,
        ),
        (vec![("authorization", "Bearer ")], false),
    ] {
        let a = send_to(app(), Method::DELETE, &uri, None, &headers).await?;
        expect(&a, StatusCode::UNAUTHORIZED, &format!("{headers:?}"))?;
        let www = a
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(www.starts_with("Bearer"), "{www}");
        assert_eq!(www.contains("invalid_token"), invalid, "{headers:?}: {www}");
        assert!(!a.body.to_string().contains("s3cret"), "{}", a.body);
    }
    // Unauthorized requests reach nothing, even a malformed body's parser.
    let a = send_to(
        app(),
        Method::POST,
        &format!("{LINKS}/east/mirrors:promote"),
        Some("{"),
        &[],
    )
    .await?;
    expect(&a, StatusCode::UNAUTHORIZED, "promote without token")?;
    assert_eq!(control.calls(), []);

    let a = send_to(
        app(),
        Method::DELETE,
        &uri,
        None,
        &[("authorization", "Bearer s3cret-token")],
    )
    .await?;
    expect(&a, StatusCode::OK, "with token")?;
    let a = send_to(
        app(),
        Method::DELETE,
        &uri,
        None,
        &[("authorization", "bearer  s3cret-token")],
    )
    .await?;
    expect(&a, StatusCode::OK, "scheme in any case")?;
    assert_eq!(control.calls().len(), 2);
    // GET and HEAD stay open.
    let a = send_to(app(), Method::GET, &uri, None, &[]).await?;
    expect(&a, StatusCode::OK, "get without token")?;
    let a = send_to(app(), Method::HEAD, &uri, None, &[]).await?;
    assert_eq!(a.status, StatusCode::OK);
    Ok(())
}

#[test]
fn api_token_compares_and_hides() {
    let t = ApiToken::new("abc");
    assert!(t.matches("abc"));
    assert!(!t.matches("abd") && !t.matches("ab") && !t.matches(""));
    assert_eq!(format!("{t:?}"), "ApiToken(<redacted>)");
    let empty = ApiToken::new("");
    assert!(!empty.matches(""), "an empty token matches nothing");
}

/// Sends one raw HTTP/1.1 request to `addr`; returns the status line's
/// code, the lower-cased head and the body.
async fn raw_http(addr: std::net::SocketAddr, request: &str) -> Result<(u16, String, String)> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut raw)).await??;
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no header end")?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status")?;
    Ok((code, head.to_ascii_lowercase(), body.to_string()))
}

#[tokio::test]
async fn serve_checks_the_token_over_http() -> Result<()> {
    let (state, control, _) = setup()?;
    let shutdown = CancellationToken::new();
    let server = serve(
        "127.0.0.1:0".parse()?,
        state,
        ServeOptions::with_token(Some("tok-123")),
        shutdown.clone(),
    )
    .await?;
    let addr = server.local_addr();
    let body = r#"{"mirror_topic_names": ["orders"]}"#;
    let post = |auth: &str| {
        format!(
            "POST /kafka/v3/clusters/dst/links/east/mirrors:pause HTTP/1.1\r\nHost: localhost\r\n\
             Connection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let (code, head, text) = raw_http(addr, &post("")).await?;
    assert_eq!(code, 401, "{head}{text}");
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    let json: Value = serde_json::from_str(&text)?;
    assert_eq!(json["error_code"], 401);
    assert_eq!(control.calls(), []);

    let (code, _, text) = raw_http(addr, &post("Authorization: Bearer nope\r\n")).await?;
    assert_eq!(code, 401, "{text}");
    assert_eq!(control.calls(), []);

    let (code, _, text) = raw_http(addr, &post("Authorization: Bearer tok-123\r\n")).await?;
    assert_eq!(code, 200, "{text}");
    let json: Value = serde_json::from_str(&text)?;
    assert_eq!(json["kind"], "KafkaAlterMirrorStatusResponseDataList");
    assert_eq!(json["data"][0]["mirror_topic_name"], "orders");
    assert_eq!(control.calls().len(), 1);

    let (code, _, text) = raw_http(
        addr,
        "GET /kafka/v3/clusters/dst/links/east/mirrors HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await?;
    assert_eq!(code, 200, "{text}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server.join()).await??;
    Ok(())
}

/// `gateway/openapi.yaml` has every served path with its methods, the
/// bearer scheme and the request bodies.
#[test]
fn openapi_documents_every_endpoint() {
    let spec = include_str!("../../openapi.yaml");
    let base = "/kafka/v3/clusters/{cluster_id}/links";
    let paths: [(String, &[&str]); 14] = [
        (base.to_string(), &["get", "post"]),
        (format!("{base}/{{link_name}}"), &["get", "delete"]),
        (format!("{base}/{{link_name}}/configs"), &["get"]),
        (
            format!("{base}/{{link_name}}/configs/{{config_name}}"),
            &["get", "put", "delete"],
        ),
        (
            format!("{base}/{{link_name}}/mirrors:promote-local-and-start-remote-mirror"),
            &["post"],
        ),
        (
            format!("{base}/{{link_name}}/mirrors:promote-local-and-pause-remote-mirror"),
            &["post"],
        ),
        (format!("{base}/{{link_name}}/configs:alter"), &["put"]),
        (format!("{base}/{{link_name}}/mirrors"), &["get", "post"]),
        (format!("{base}/{{link_name}}/mirrors:promote"), &["post"]),
        (format!("{base}/{{link_name}}/mirrors:failover"), &["post"]),
        (format!("{base}/{{link_name}}/mirrors:pause"), &["post"]),
        (format!("{base}/{{link_name}}/mirrors:resume"), &["post"]),
        (
            format!("{base}/{{link_name}}/mirrors/{{mirror_topic_name}}"),
            &["get"],
        ),
        (
            format!("{base}/{{link_name}}/groups/{{group_name}}:migrate"),
            &["post"],
        ),
    ];
    for (path, methods) in paths {
        let key = format!("\n  {path}:\n");
        let start = spec.find(&key).unwrap_or_else(|| panic!("{path} missing"));
        let rest = &spec[start + key.len()..];
        let section = &rest[..rest.find("\n  /").unwrap_or(rest.len())];
        for m in methods {
            assert!(section.contains(&format!("\n    {m}:\n")), "{m} {path}");
        }
    }
    for needle in [
        "bearerToken:",
        "scheme: bearer",
        "CreateLinkRequest:",
        "AlterConfigBatchRequest:",
        "CreateMirrorTopicRequest:",
        "AlterMirrorsRequest:",
        "AlterMirrorStatusResponseDataList:",
        "name: include_stopped",
        "name: validate_link",
        "name: force",
        "name: mirror_status",
        "UpdateLinkConfigRequest:",
        "cluster_link_id:",
        "PENDING_STOPPED, STOPPED",
    ] {
        assert!(spec.contains(needle), "{needle} missing");
    }
}

/// A client that percent-encodes the colon (`mirrors%3Apromote`) reaches
/// the same endpoint; a per-topic "not a mirror" is a 404 inside the 200.
#[tokio::test]
async fn encoded_colon_and_per_topic_not_found() -> Result<()> {
    let (state, control, _) = setup()?;
    control.fail_topic(
        "ghost",
        ControlError::MirrorNotFound {
            link: "east".into(),
            mirror: "ghost".into(),
        },
    );
    let a = send(
        &state,
        Method::POST,
        &format!("{LINKS}/east/mirrors%3Apromote"),
        Some(r#"{"mirror_topic_names": ["ghost", "orders"]}"#),
    )
    .await?;
    expect(&a, StatusCode::OK, "encoded colon")?;
    assert_eq!(a.body["data"][0]["mirror_topic_name"], "ghost");
    assert_eq!(a.body["data"][0]["error_code"], 404);
    assert_eq!(
        a.body["data"][0]["error_message"],
        "Topic 'ghost' is not a mirror topic of cluster link 'east'"
    );
    assert_eq!(a.body["data"][1]["error_code"], Value::Null);
    let a = send(
        &state,
        Method::PUT,
        &format!("{LINKS}/east/configs%3aalter"),
        Some(r#"{"data": [{"name": "a", "value": "1"}]}"#),
    )
    .await?;
    expect(&a, StatusCode::NO_CONTENT, "encoded colon, alter")?;
    assert_eq!(control.calls().len(), 2);
    Ok(())
}

/// Without a token, a mutating call must name an IP address or localhost
/// as `Host` (DNS rebinding guard); reads are not affected.
#[tokio::test]
async fn without_token_mutations_need_a_local_host() -> Result<()> {
    let (state, control, _) = setup()?;
    let app = || router_with_token(state.clone(), None);
    let uri = format!("{LINKS}/east");
    let a = send_to(
        app(),
        Method::DELETE,
        &uri,
        None,
        &[("host", "evil.example:8090")],
    )
    .await?;
    expect(&a, StatusCode::FORBIDDEN, "foreign host")?;
    assert!(a.message().contains("evil.example"), "{}", a.message());
    assert_eq!(control.calls(), []);
    let a = send_to(
        app(),
        Method::GET,
        &uri,
        None,
        &[("host", "evil.example:8090")],
    )
    .await?;
    expect(&a, StatusCode::OK, "reads stay open")?;
    for host in ["127.0.0.1:8090", "localhost:8090", "[::1]:8090"] {
        let a = send_to(app(), Method::DELETE, &uri, None, &[("host", host)]).await?;
        expect(&a, StatusCode::OK, host)?;
    }
    assert_eq!(control.calls().len(), 3);
    Ok(())
}
