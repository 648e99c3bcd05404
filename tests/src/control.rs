//! Shared helpers of the control-plane end-to-end tests
//! (`tests/tests/control_*.rs`): two brokers and a gateway with the REST API,
//! the body of a link create (Kafka REST v3 `CreateKafkaLink`), creating a
//! link and waiting until it is `ACTIVE`, and reading entries out of the
//! JSON lists the API and the CLI return, and high watermarks that must not
//! move for [`QUIET_WINDOW`].

use std::time::Duration;

/// How long a negative observation lasts (nothing mirrored, no state
/// change): several fetch rounds and auto-create rescans.
pub const QUIET_WINDOW: Duration = Duration::from_secs(4);

use anyhow::Context;
use serde_json::{json, Value};

use crate::{control_config, Api, ApiResponse, Broker, Gateway, CLUSTERS};

/// Starts brokers with cluster aliases `src` and `dst`, then a gateway over
/// both with the REST API, `control_config(.., token, extra)` (no link
/// unless `extra` adds one); returns once its API answers (within
/// `deadline`), as `(src, dst, gateway, api, config text)`. The API client
/// sends `token`. Bind every broker (`_dst` when unused, not `_`): a value
/// bound to `_` is dropped at once, which stops that broker.
///
/// # Errors
/// A broker or the gateway does not start, or the API is not ready in time.
pub fn start_pair(
    token: Option<&str>,
    extra: &str,
    deadline: Duration,
) -> anyhow::Result<(Broker, Broker, Gateway, Api, String)> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let (gw, api, config) =
        start_control_gateway(&[("src", &src), ("dst", &dst)], token, extra, deadline)?;
    Ok((src, dst, gw, api, config))
}

/// Starts a gateway whose clusters are `clusters` (alias, broker), with the
/// REST API, an optional bearer token and `extra` config text; returns it
/// with its API client (sending `token`) and its config text once the API
/// answers (within `deadline`).
///
/// # Errors
/// The gateway does not start or its API is not ready in time.
pub fn start_control_gateway(
    clusters: &[(&str, &Broker)],
    token: Option<&str>,
    extra: &str,
    deadline: Duration,
) -> anyhow::Result<(Gateway, Api, String)> {
    let list: Vec<(&str, String)> = clusters.iter().map(|(a, b)| (*a, b.bootstrap())).collect();
    let config = control_config(&list, token, extra);
    let gw = Gateway::start(&config)?;
    let api = Api::for_config(&config)?.with_token(token);
    api.wait_ready(deadline)?;
    Ok((gw, api, config))
}

/// `{"configs": [{"name": k, "value": v}, ...]}`, the body of a link create
/// (`POST /kafka/v3/clusters/{id}/links?link_name=..`).
pub fn link_body(configs: &[(&str, &str)]) -> Value {
    json!({
        "configs": configs
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect::<Vec<_>>()
    })
}

/// `GET .../clusters/{dest}/links/{name}` until it answers 200 with
/// `link_state` = `state` (within `deadline`); the gateway log tail is
/// added to the error. Returns the last answer.
///
/// # Errors
/// The link is not in `state` in time.
pub async fn wait_link_state(
    api: &Api,
    gw: &Gateway,
    dest: &str,
    name: &str,
    state: &str,
    deadline: Duration,
) -> anyhow::Result<ApiResponse> {
    api.wait_for(&format!("{CLUSTERS}/{dest}/links/{name}"), deadline, |r| {
        r.status == 200 && r.json["link_state"] == state
    })
    .await
    .with_context(|| format!("link {name} to be {state}\n{}", gw.log_tail(30)))
}

/// Creates link `name` with `configs` on destination alias `dest` through
/// the API (expects 204), then waits until it is `ACTIVE` (within
/// `deadline`).
///
/// # Errors
/// The create is not answered 204, or the link is not `ACTIVE` in time.
pub async fn create_link(
    api: &Api,
    gw: &Gateway,
    dest: &str,
    name: &str,
    configs: &[(&str, &str)],
    deadline: Duration,
) -> anyhow::Result<()> {
    let r = api.post(
        &format!("{CLUSTERS}/{dest}/links?link_name={name}"),
        Some(&link_body(configs)),
    )?;
    anyhow::ensure!(r.status == 204, "create link {name}: {r}");
    wait_link_state(api, gw, dest, name, "ACTIVE", deadline).await?;
    Ok(())
}

/// The entry of JSON array `list` whose `key` equals `name` (e.g. the link
/// config named `bootstrap.servers`, the mirror `east.orders`); `None` when
/// `list` is not an array or has no such entry.
pub fn entry<'a>(list: &'a Value, key: &str, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|e| e[key] == name)
}

/// The string values of `key` of every entry of JSON array `list`, in
/// order (entries without a string `key` are skipped); empty when `list` is
/// not an array.
pub fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e[key].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// High watermark of each of `partitions` partitions of `topic` on
/// `bootstrap` (librdkafka, partitions `0..partitions`).
///
/// # Errors
/// A watermark query fails.
pub async fn highs(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<Vec<i64>> {
    let mut out = Vec::new();
    for p in 0..partitions {
        out.push(crate::fetch_watermarks(bootstrap, topic, p).await?.1);
    }
    Ok(out)
}

/// For [`QUIET_WINDOW`], polls the high watermarks of `topic` on
/// `bootstrap` and fails as soon as one differs from `expected` (a
/// negative observation: nothing is mirrored there meanwhile).
///
/// # Errors
/// A watermark moved, or a query failed.
pub async fn assert_stays(bootstrap: &str, topic: &str, expected: &[i64]) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let partitions = i32::try_from(expected.len())?;
    while start.elapsed() < QUIET_WINDOW {
        let now = highs(bootstrap, topic, partitions).await?;
        anyhow::ensure!(
            now == expected,
            "{topic} on {bootstrap} moved: high watermarks {now:?}, expected {expected:?} \
             after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(crate::POLL_INTERVAL).await;
    }
    Ok(())
}
