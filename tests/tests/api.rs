//! End-to-end test of the REST API (read side, Kafka REST v3 shapes) of a
//! running gateway mirroring between two real brokers; every answer is
//! also validated against Confluent's contract (`linkgate_tests::contract`).

use std::time::Duration;

use anyhow::Context;
use linkgate_tests::contract::Contract;
use linkgate_tests::{http_get, wait_until, ApiScenario};

const DEADLINE: Duration = Duration::from_secs(120);

/// The contract's single mirror path.
const MIRROR: &str = "/clusters/{cluster_id}/links/{link_name}/mirrors/{mirror_topic_name}";

/// GET `url`: (HTTP status, JSON body).
fn get(url: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let (status, body) = http_get(url)?;
    let json =
        serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON: {body}"))?;
    Ok((status, json))
}

/// `get` whose answer is validated as the answer of the contract's `GET
/// template`.
fn checked(
    contract: &Contract,
    template: &str,
    url: &str,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let (status, json) = get(url)?;
    contract.validate("GET", template, status, &json)?;
    Ok((status, json))
}

/// Links, link configs and mirror topics are listed and described; the
/// mirror's partitions show their lag, and unknown names answer 404 with the
/// Kafka REST error JSON. Every answer matches Confluent's contract; the
/// link, defined in the config file, lists its properties as read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_lists_and_describes_links_and_mirrors() -> anyhow::Result<()> {
    let contract = Contract::load()?;
    let get = |template: &str, url: &str| checked(&contract, template, url);
    let scenario = ApiScenario::start(DEADLINE).await?;
    let gw = &scenario.gateway;
    let base = format!("{}/kafka/v3/clusters", scenario.api);

    let (status, links) = get(
        "/clusters/{cluster_id}/links",
        &format!("{base}/-/links?include_tasks=true"),
    )?;
    assert_eq!(status, 200, "{links}");
    let link = &links["data"][0];
    assert_eq!(link["link_name"], "east", "{links}");
    assert_eq!(link["destination_cluster_id"], "dst");
    assert_eq!(link["link_state"], "ACTIVE");
    assert!(
        link["tasks"].as_array().is_some_and(|t| t.len() == 4),
        "{link}"
    );

    let (status, configs) = get(
        "/clusters/{cluster_id}/links/{link_name}/configs",
        &format!("{base}/dst/links/east/configs"),
    )?;
    assert_eq!(status, 200);
    let spec = configs["data"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "mirror.start.offset.spec"))
        .context("mirror.start.offset.spec listed")?;
    assert_eq!(spec["value"], "earliest");
    assert_eq!(
        spec["read_only"], true,
        "a link from the config file: {spec}"
    );
    let (status, one) = get(
        "/clusters/{cluster_id}/links/{link_name}/configs/{config_name}",
        &format!("{base}/dst/links/east/configs/mirror.start.offset.spec"),
    )?;
    assert_eq!(
        (status, &one["value"]),
        (200, &serde_json::json!("earliest"))
    );

    // Lag reaches 0 on both partitions, as the API reports it.
    wait_until("lag 0 in the API", DEADLINE, || async {
        get(MIRROR, &format!("{base}/-/links/east/mirrors/orders")).is_ok_and(|(s, m)| {
            s == 200
                && m["mirror_status"] == "ACTIVE"
                && m["mirror_lags"].as_array().is_some_and(|l| {
                    l.len() == 2
                        && l.iter()
                            .all(|p| p["lag"] == 0 && p["last_source_fetch_offset"] == 10)
                })
        })
    })
    .await
    .with_context(|| {
        format!(
            "{:?}\n{}",
            get(MIRROR, &format!("{base}/-/links/east/mirrors/orders")),
            gw.log_tail(20)
        )
    })?;
    let (_, mirrors) = get(
        "/clusters/{cluster_id}/links/{link_name}/mirrors",
        &format!("{base}/-/links/east/mirrors"),
    )?;
    assert_eq!(
        mirrors["data"][0]["mirror_topic_name"], "orders",
        "{mirrors}"
    );
    assert_eq!(mirrors["data"][0]["source_topic_name"], "orders");

    let (status, err) = get(
        "/clusters/{cluster_id}/links/{link_name}",
        &format!("{base}/-/links/nope"),
    )?;
    assert_eq!(status, 404);
    assert_eq!(err["error_code"], 404);
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains("nope")),
        "{err}"
    );
    let (status, _) = get(MIRROR, &format!("{base}/-/links/east/mirrors/ghost"))?;
    assert_eq!(status, 404);
    Ok(())
}
