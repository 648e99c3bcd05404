//! Router tests of the shapes and endpoints that clients generated from
//! Confluent's REST v3 contract rely on: link ids, config entry fields,
//! `configs/{config_name}` (GET, PUT, DELETE), `?mirror_status=`, the
//! contract's mirror states, alter-mirror `metadata`, and the
//! bidirectional-only mirror actions. Over [`FakeState`] /
//! [`FakeControl`]; the end-to-end check against the contract itself is
//! `tests/tests/api_contract.rs`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::fake::{ControlCall, FakeControl, FakeLink, FakeState};
use super::*;
use crate::control::LinkConfigChange;
use crate::mirror::{LinkStatus, PartitionState, PartitionStatus};

const LINKS: &str = "/kafka/v3/clusters/dst/links";

fn part(state: PartitionState, ms: u64) -> PartitionStatus {
    PartitionStatus {
        state,
        state_time: UNIX_EPOCH + Duration::from_millis(ms),
        next_fetch_offset: 3,
        last_fetch_high_watermark: 3,
        last_fetch_time: None,
        destination_log_end_offset: 3,
    }
}

fn put(status: &LinkStatus, topic: &str, partition: i32, p: PartitionStatus) {
    status.lock().insert((topic.to_string(), partition), p);
}

/// east (dst): `live` ACTIVE, `held` PAUSED, `gone` STOPPED, `down`
/// SOURCE_UNAVAILABLE, `new` with no partition; properties: one plain,
/// one fixed, one sensitive.
fn setup() -> Result<(Arc<dyn ApiState>, Arc<FakeControl>)> {
    let mut east = FakeLink::new(
        "east",
        "src",
        "dst",
        &["live", "held", "gone", "down", "new"],
    )?;
    east.properties = vec![
        LinkProperty::new("consumer.offset.sync.ms", "30000"),
        LinkProperty::new("bootstrap.servers", "127.0.0.1:1").read_only(true),
        LinkProperty::new("sasl.jaas.config", "secret-jaas-value"),
    ];
    let status = east.status.clone();
    put(&status, "live", 0, part(PartitionState::Active, 1_000));
    put(&status, "held", 0, part(PartitionState::Paused, 2_000));
    put(&status, "gone", 0, part(PartitionState::Stopped, 3_000));
    put(
        &status,
        "down",
        0,
        part(PartitionState::SourceUnavailable("no route".into()), 4_000),
    );
    let (state, control) = FakeState::with_control(vec![east.shared()]);
    Ok((Arc::new(state), control))
}

/// Sends one request: (status, JSON body or `Null`).
async fn send(
    state: &Arc<dyn ApiState>,
    method: Method,
    uri: &str,
    body: Option<&str>,
) -> Result<(StatusCode, Value)> {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let resp = router(state.clone()).oneshot(req).await?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).with_context(|| format!("{uri}: not JSON"))?
    };
    Ok((status, json))
}

#[tokio::test]
async fn link_data_carries_stable_ids() -> Result<()> {
    let (state, _) = setup()?;
    let (status, link) = send(&state, Method::GET, &format!("{LINKS}/east"), None).await?;
    assert_eq!(status, StatusCode::OK, "{link}");
    let id = link["cluster_link_id"]
        .as_str()
        .context("cluster_link_id")?;
    assert_eq!(id.len(), 22, "Kafka Uuid text form: {id}");
    let uuid: uuid::Uuid = link["link_id"].as_str().context("link_id")?.parse()?;
    assert_eq!(model::cluster_link_id("dst", "east"), id);
    assert_eq!(model::link_uuid("dst", "east"), uuid);
    assert_ne!(model::link_uuid("dst", "west"), uuid);
    assert_eq!(uuid.get_version_num(), 8);
    // The fields that were there stay.
    assert_eq!(link["link_state"], "ACTIVE");
    assert_eq!(link["link_error"], "NO_ERROR");
    Ok(())
}

#[tokio::test]
async fn config_entries_and_one_config() -> Result<()> {
    let (state, _) = setup()?;
    let (_, list) = send(&state, Method::GET, &format!("{LINKS}/east/configs"), None).await?;
    let data = list["data"].as_array().context("data")?;
    assert_eq!(data.len(), 3, "{list}");
    for d in data {
        assert_eq!(d["source"], "DYNAMIC_CLUSTER_LINK_CONFIG", "{d}");
        assert_eq!(d["default"], false, "{d}");
        assert_eq!(d["synonyms"], json!([]), "{d}");
        assert!(d["value"].is_string(), "{d}");
    }
    assert_eq!(data[0]["read_only"], false);
    assert_eq!(data[1]["read_only"], true);
    assert_eq!(data[2]["value"], "", "a secret is never sent");

    let uri = format!("{LINKS}/east/configs/consumer.offset.sync.ms");
    let (status, one) = send(&state, Method::GET, &uri, None).await?;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["kind"], "KafkaLinkConfigData");
    assert_eq!(one["metadata"]["self"], uri);
    assert_eq!(one["value"], "30000");
    let (status, err) = send(
        &state,
        Method::GET,
        &format!("{LINKS}/east/configs/cluster.link.paused"),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["error_code"], 404);
    let (_, secret) = send(
        &state,
        Method::GET,
        &format!("{LINKS}/east/configs/sasl.jaas.config"),
        None,
    )
    .await?;
    assert!(
        !secret.to_string().contains("secret-jaas-value"),
        "{secret}"
    );
    Ok(())
}

#[tokio::test]
async fn put_and_delete_one_config_alter_the_link() -> Result<()> {
    let (state, control) = setup()?;
    let uri = format!("{LINKS}/east/configs/consumer.offset.sync.ms");
    let (status, body) = send(&state, Method::PUT, &uri, Some(r#"{"value": "5000"}"#)).await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = send(&state, Method::DELETE, &uri, None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let calls: Vec<LinkConfigChange> = control
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            ControlCall::AlterLinkConfigs(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[0].set,
        [("consumer.offset.sync.ms".to_string(), "5000".to_string())]
    );
    assert!(calls[0].reset.is_empty() && !calls[0].validate_only);
    assert_eq!(calls[1].reset, ["consumer.offset.sync.ms"]);
    assert!(calls[1].set.is_empty());

    // Malformed bodies and unknown links change nothing.
    for body in [r#"{"value": 5}"#, r#"{"valu": "1"}"#, "{"] {
        let (status, err) = send(&state, Method::PUT, &uri, Some(body)).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
    }
    let (status, _) = send(
        &state,
        Method::DELETE,
        &format!("{LINKS}/nope/configs/a"),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&state, Method::POST, &uri, Some("{}")).await?;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = send(&state, Method::DELETE, &format!("{uri}?force=true"), None).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown query parameter");
    assert_eq!(control.calls().len(), 2);
    let (status, _) = send(
        &state,
        Method::DELETE,
        &format!("{uri}?validate_only=true"),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let calls = control.calls();
    assert!(
        matches!(calls.last(), Some(ControlCall::AlterLinkConfigs(c)) if c.validate_only),
        "{calls:?}"
    );
    Ok(())
}

fn statuses(list: &Value) -> Vec<(String, String)> {
    list["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|m| {
                    (
                        m["mirror_topic_name"].as_str().unwrap_or("").to_string(),
                        m["mirror_status"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn mirror_states_are_the_contracts_and_filter_lists() -> Result<()> {
    let (state, _) = setup()?;
    let (_, all) = send(
        &state,
        Method::GET,
        &format!("{LINKS}/east/mirrors?include_stopped=true"),
        None,
    )
    .await?;
    let got = statuses(&all);
    let want = [
        ("down", "ACTIVE"),
        ("gone", "STOPPED"),
        ("held", "PAUSED"),
        ("live", "ACTIVE"),
        ("new", "PENDING_MIRROR"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect();
    assert_eq!(got, want, "{all}");
    for m in all["data"].as_array().context("data")? {
        assert!(m["state_time_ms"].is_i64(), "{m}");
    }
    // The single describe keeps each partition's own state.
    let (_, down) = send(
        &state,
        Method::GET,
        &format!("{LINKS}/east/mirrors/down"),
        None,
    )
    .await?;
    assert_eq!(
        down["mirror_lags"][0]["state"], "SOURCE_UNAVAILABLE",
        "{down}"
    );

    for (filter, names) in [
        ("ACTIVE", vec!["down", "live"]),
        ("paused", vec!["held"]),
        ("STOPPED", vec!["gone"]),
        ("PENDING_MIRROR", vec!["new"]),
        ("FAILED", vec![]),
    ] {
        for link in ["east", "-"] {
            let (status, list) = send(
                &state,
                Method::GET,
                &format!("{LINKS}/{link}/mirrors?mirror_status={filter}"),
                None,
            )
            .await?;
            assert_eq!(status, StatusCode::OK, "{filter}: {list}");
            let got: Vec<String> = statuses(&list).into_iter().map(|(n, _)| n).collect();
            assert_eq!(got, names, "{link} {filter}: {list}");
        }
    }
    let (status, err) = send(
        &state,
        Method::GET,
        &format!("{LINKS}/east/mirrors?mirror_status=SLEEPING"),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    Ok(())
}

#[test]
fn contract_status_maps_linkgate_states() {
    let su = part(PartitionState::SourceUnavailable("x".into()), 1);
    let paused = part(PartitionState::Paused, 1);
    let pending = part(PartitionState::Pending, 1);
    let active = part(PartitionState::Active, 1);
    let cases: [(&[&PartitionStatus], &str); 5] = [
        (&[], "PENDING_MIRROR"),
        (&[&pending, &active], "PENDING_MIRROR"),
        (&[&su, &active], "ACTIVE"),
        (&[&su, &paused], "PAUSED"),
        (&[&su, &pending], "PENDING_MIRROR"),
    ];
    for (parts, want) in cases {
        let (status, _) = model::aggregate_status(parts.iter().copied());
        let got = model::contract_status(status, parts.iter().copied());
        assert_eq!(got, want, "{status}");
        assert!(model::MIRROR_TOPIC_STATUSES.contains(&got));
    }
}

#[tokio::test]
async fn alter_mirror_results_carry_metadata() -> Result<()> {
    let (state, _) = setup()?;
    for link in ["east", "-"] {
        let (status, list) = send(
            &state,
            Method::POST,
            &format!("{LINKS}/{link}/mirrors:pause"),
            Some(r#"{"mirror_topic_names": ["live"]}"#),
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(
            list["data"][0]["metadata"]["self"],
            format!("{LINKS}/{link}/mirrors/live"),
            "{list}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn bidirectional_actions_exist_and_refuse() -> Result<()> {
    let (state, control) = setup()?;
    for action in [
        "promote-local-and-start-remote-mirror",
        "promote-local-and-pause-remote-mirror",
    ] {
        let uri = format!("{LINKS}/east/mirrors:{action}");
        let (status, err) = send(
            &state,
            Method::POST,
            &uri,
            Some(r#"{"mirror_topic_names": ["live"]}"#),
        )
        .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        let message = err["message"].as_str().unwrap_or("");
        assert!(message.contains("BIDIRECTIONAL"), "{message}");
        let (status, _) = send(&state, Method::GET, &uri, None).await?;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, _) = send(
            &state,
            Method::POST,
            &format!("{LINKS}/nope/mirrors:{action}"),
            Some(r#"{"mirror_topic_names": ["live"]}"#),
        )
        .await?;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert!(control.calls().is_empty());
    Ok(())
}
