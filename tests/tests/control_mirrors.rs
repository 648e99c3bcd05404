//! End-to-end tests of the mirror-topic control plane through the
//! REST API over real HTTP, with real brokers (nisshi) and records produced
//! and read back with librdkafka: mirror create, pause/resume, promote
//! (refused while lagging), failover, stopped history, foreign writes,
//! auto-create with topic filters, loop prevention between two links in
//! opposite directions, and a gateway restart.
//!
//! Mirror topics are not protected by DENY WRITE ACLs here: nisshi has no
//! ACL storage (its Create/DescribeAcls answer SECURITY_DISABLED), so a
//! write by another client is accepted by the broker; what is tested is
//! that the gateway detects it and fails the mirror with `FOREIGN_WRITE`.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::{assert_stays, highs, QUIET_WINDOW};
use linkgate_tests::{
    consume_partition, create_link, create_topic, entry, link_body, list_topics, names, now_ms,
    produce, start_control_gateway, start_pair, wait_link_state, Api, ApiResponse, Broker, Gateway,
    TestRecord, CLUSTERS, POLL_INTERVAL,
};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(90);
/// `auto.create.mirror.topics.filters` matching no topic of the tests.
const NO_TOPIC: &str =
    r#"{"topicFilters":[{"name":"none.","patternType":"PREFIXED","filterType":"INCLUDE"}]}"#;

/// `n` records with keys `k{from}..`, round-robin over `partitions`; the
/// same arguments give the same records within one test run (timestamps
/// from a base fixed at first use, one ms apart).
fn records(partitions: i32, from: usize, n: usize) -> Vec<TestRecord> {
    static BASE: OnceLock<i64> = OnceLock::new();
    let base = *BASE.get_or_init(|| now_ms() - 60_000);
    (from..from + n)
        .map(|i| {
            let i64_i = i64::try_from(i).unwrap_or(0);
            let p = i32::try_from(i).unwrap_or(0) % partitions;
            TestRecord::new(
                p,
                Some(format!("k{i}").as_bytes()),
                Some(format!("v{i}").as_bytes()),
                base + i64_i,
            )
        })
        .collect()
}

/// [`create_link`] of link `east` on cluster `dst` with `configs`, `ACTIVE`
/// within [`DEADLINE`].
async fn create_east(api: &Api, gw: &Gateway, configs: &[(&str, &str)]) -> anyhow::Result<()> {
    create_link(api, gw, "dst", "east", configs, DEADLINE).await
}

/// `POST .../links/{link}/mirrors:{action}` for `topics`: expects 200 and
/// returns the per-topic results (`data`).
fn mirror_action(
    api: &Api,
    link: &str,
    action: &str,
    topics: &[&str],
    validate_only: bool,
) -> anyhow::Result<Vec<Value>> {
    let query = if validate_only {
        "?validate_only=true"
    } else {
        ""
    };
    let r = api.post(
        &format!("{CLUSTERS}/dst/links/{link}/mirrors:{action}{query}"),
        Some(&json!({ "mirror_topic_names": topics })),
    )?;
    anyhow::ensure!(r.status == 200, "mirrors:{action} {topics:?}: {r}");
    anyhow::ensure!(
        r.json["kind"] == "KafkaAlterMirrorStatusResponseDataList",
        "mirrors:{action}: {r}"
    );
    let data = r.json["data"].as_array().cloned().unwrap_or_default();
    anyhow::ensure!(data.len() == topics.len(), "mirrors:{action}: {r}");
    Ok(data)
}

/// Asserts that a mirror action result has no error.
#[track_caller]
fn assert_ok(result: &Value) {
    assert!(
        result["error_code"].is_null() && result["error_message"].is_null(),
        "mirror action failed: {result}"
    );
}

/// `GET .../links/{link}/mirrors/{mirror}` until its `mirror_status` is
/// `state` (and `more` holds).
async fn wait_mirror(
    api: &Api,
    gw: &Gateway,
    link: &str,
    mirror: &str,
    state: &str,
    more: impl Fn(&ApiResponse) -> bool,
) -> anyhow::Result<ApiResponse> {
    api.wait_for(
        &format!("{CLUSTERS}/-/links/{link}/mirrors/{mirror}"),
        DEADLINE,
        |r| r.status == 200 && r.json["mirror_status"] == state && more(r),
    )
    .await
    .with_context(|| format!("{mirror} to be {state}\n{}", gw.log_tail(40)))
}

/// `mirrors:{action}` of `mirror` on link `east` (not validate-only):
/// asserts its result has no error, then [`wait_mirror`] until the mirror is
/// `state`; returns that answer.
async fn act_then_wait(
    api: &Api,
    gw: &Gateway,
    action: &str,
    mirror: &str,
    state: &str,
) -> anyhow::Result<ApiResponse> {
    assert_ok(&mirror_action(api, "east", action, &[mirror], false)?[0]);
    wait_mirror(api, gw, "east", mirror, state, |_| true).await
}

/// Whether every partition of a mirror answer has lag 0 and has mirrored
/// up to `offsets[p]` (exclusive).
fn caught_up(r: &ApiResponse, offsets: &[i64]) -> bool {
    r.json["mirror_lags"].as_array().is_some_and(|lags| {
        lags.len() == offsets.len()
            && lags.iter().all(|l| {
                let p = l["partition"].as_u64().unwrap_or(u64::MAX) as usize;
                l["lag"] == 0
                    && offsets
                        .get(p)
                        .is_some_and(|o| l["last_source_fetch_offset"] == *o)
            })
    })
}

/// Creates the mirror of source topic `source` on link `link` of cluster
/// `dst` through the API (the mirror name follows from the link's prefix or
/// renamers), retrying while the link is not ready yet (within
/// [`DEADLINE`]); expects 204.
async fn create_mirror(api: &Api, link: &str, source: &str) -> anyhow::Result<()> {
    let r = api
        .post_retrying(
            &format!("{CLUSTERS}/dst/links/{link}/mirrors"),
            Some(&json!({ "source_topic_name": source })),
            DEADLINE,
        )
        .await?;
    anyhow::ensure!(r.status == 204, "mirror {source} on {link}: {r}");
    Ok(())
}

/// [`create_mirror`], then [`wait_mirror`] until `mirror` is `ACTIVE` and
/// [`caught_up`] to `offsets` (one per partition); returns that answer.
async fn mirror_caught_up(
    api: &Api,
    gw: &Gateway,
    link: &str,
    source: &str,
    mirror: &str,
    offsets: &[i64],
) -> anyhow::Result<ApiResponse> {
    create_mirror(api, link, source).await?;
    wait_mirror(api, gw, link, mirror, "ACTIVE", |r| caught_up(r, offsets)).await
}

/// The mirror topic names of a `KafkaMirrorDataList`.
fn mirror_names(list: &ApiResponse) -> BTreeSet<String> {
    names(&list.json["data"], "mirror_topic_name")
        .into_iter()
        .collect()
}

/// Reads `topic`/`partition` on `bootstrap` and compares with `want`.
async fn assert_records(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    want: &[TestRecord],
) -> anyhow::Result<()> {
    let got: Vec<TestRecord> = consume_partition(bootstrap, topic, partition, want.len(), DEADLINE)
        .await
        .with_context(|| format!("reading {topic}/{partition}"))?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    linkgate_tests::assert_same_records(want, &got);
    Ok(())
}

/// A mirror created through the API on a prefixed link
/// (`source_topic_name` + prefixed mirror name; validate-only creates
/// nothing, a second create is 409, a missing source topic 404) mirrors the
/// records produced with librdkafka. Paused, it mirrors nothing (the
/// destination high watermarks stay while the source grows) and promote is
/// refused because of the lag; resumed, it catches up; promoted with lag 0
/// it is `STOPPED`, hidden from the default list but listed with
/// `include_stopped` with its last source fetch offsets, and a librdkafka
/// producer writes to it without the mirror being reported `FAILED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_pause_resume_promote_then_write() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_east(
        &api,
        &gw,
        &[("bootstrap.servers", &s), ("cluster.link.prefix", "east.")],
    )
    .await?;
    create_topic(&s, "orders", 2, &[]).await?;
    let first = records(2, 0, 10);
    produce(&s, "orders", &first, "lz4").await?;

    let mirrors = format!("{CLUSTERS}/dst/links/east/mirrors");
    let body = json!({"source_topic_name": "orders", "mirror_topic_name": "east.orders"});
    let r = api
        .post_retrying(
            &format!("{mirrors}?validate_only=true"),
            Some(&body),
            DEADLINE,
        )
        .await?;
    assert_eq!(r.status, 204, "validate_only mirror create: {r}");
    assert_eq!(api.get(&format!("{mirrors}/east.orders"))?.status, 404);
    assert!(
        !list_topics(&d).await?.contains("east.orders"),
        "validate_only created the topic"
    );
    let r = api.post(
        &mirrors,
        Some(&json!({"source_topic_name": "ghost", "mirror_topic_name": "east.ghost"})),
    )?;
    assert_eq!(r.status, 404, "missing source topic: {r}");
    assert!(r.message().contains("ghost"), "{r}");

    let r = api.post(&mirrors, Some(&body))?;
    assert_eq!(r.status, 204, "mirror create: {r}");
    let r = api.post(&mirrors, Some(&body))?;
    assert_eq!(r.status, 409, "second mirror create: {r}");
    for p in 0..2 {
        let want: Vec<TestRecord> = first.iter().filter(|r| r.partition == p).cloned().collect();
        assert_records(&d, "east.orders", p, &want).await?;
    }
    let m = wait_mirror(&api, &gw, "east", "east.orders", "ACTIVE", |r| {
        caught_up(r, &[5, 5])
    })
    .await?;
    assert_eq!(m.json["source_topic_name"], "orders", "{m}");
    assert_eq!(m.json["link_name"], "east", "{m}");

    // Paused: nothing new arrives; promote is refused for the lag.
    act_then_wait(&api, &gw, "pause", "east.orders", "PAUSED").await?;
    let second = records(2, 10, 6);
    produce(&s, "orders", &second, "zstd").await?;
    assert_stays(&d, "east.orders", &[5, 5]).await?;
    let dry = mirror_action(&api, "east", "promote", &["east.orders"], true)?;
    assert_eq!(
        dry[0]["error_code"], 400,
        "validate_only promote with lag: {}",
        dry[0]
    );
    let r = api.post(
        &format!("{mirrors}:explode"),
        Some(&json!({"mirror_topic_names": ["east.orders"]})),
    )?;
    assert!(matches!(r.status, 400 | 404), "unknown action: {r}");
    let refused = mirror_action(&api, "east", "promote", &["east.orders"], false)?;
    assert_eq!(
        refused[0]["error_code"], 400,
        "promote with lag: {}",
        refused[0]
    );
    let message = refused[0]["error_message"].as_str().unwrap_or("");
    assert!(message.contains("lag"), "promote with lag: {}", refused[0]);
    let m = api.get(&format!("{mirrors}/east.orders"))?;
    assert_eq!(
        m.json["mirror_status"], "PAUSED",
        "refused promote changed state: {m}"
    );

    // Resumed: catches up.
    assert_ok(&mirror_action(&api, "east", "resume", &["east.orders"], false)?[0]);
    let all: Vec<TestRecord> = first.iter().chain(&second).cloned().collect();
    for p in 0..2 {
        let want: Vec<TestRecord> = all.iter().filter(|r| r.partition == p).cloned().collect();
        assert_records(&d, "east.orders", p, &want).await?;
    }
    wait_mirror(&api, &gw, "east", "east.orders", "ACTIVE", |r| {
        caught_up(r, &[8, 8])
    })
    .await?;

    // Promote: validate_only changes nothing; then STOPPED with lag 0.
    assert_ok(&mirror_action(&api, "east", "promote", &["east.orders"], true)?[0]);
    let m = api.get(&format!("{mirrors}/east.orders"))?;
    assert_eq!(
        m.json["mirror_status"], "ACTIVE",
        "validate_only promote: {m}"
    );
    let promoted = mirror_action(&api, "east", "promote", &["east.orders"], false)?;
    assert_ok(&promoted[0]);
    let lags = promoted[0]["mirror_lags"]
        .as_array()
        .context("mirror_lags")?;
    assert_eq!(lags.len(), 2, "{}", promoted[0]);
    assert!(lags.iter().all(|l| l["lag"] == 0), "{}", promoted[0]);
    wait_mirror(&api, &gw, "east", "east.orders", "STOPPED", |_| true).await?;

    // Listing: hidden by default, shown with include_stopped, history kept.
    let list = api.get(&mirrors)?;
    assert!(
        !mirror_names(&list).contains("east.orders"),
        "stopped listed: {list}"
    );
    let list = api.get(&format!("{mirrors}?include_stopped=true"))?;
    let stopped = entry(&list.json["data"], "mirror_topic_name", "east.orders")
        .with_context(|| format!("stopped mirror not listed: {list}"))?;
    assert_eq!(stopped["mirror_status"], "STOPPED", "{stopped}");
    let offsets: Vec<&Value> = stopped["mirror_lags"]
        .as_array()
        .map(|l| l.iter().map(|x| &x["last_source_fetch_offset"]).collect())
        .unwrap_or_default();
    assert_eq!(offsets, [&json!(8), &json!(8)], "{stopped}");
    let every = api.get(&format!(
        "{CLUSTERS}/dst/links/-/mirrors?include_stopped=true"
    ))?;
    assert!(mirror_names(&every).contains("east.orders"), "{every}");

    // Writable: a real client produces to the promoted topic; the mirror
    // stays STOPPED (not FAILED) and the source is no longer mirrored.
    let local = vec![TestRecord::new(0, Some(b"local"), Some(b"write"), now_ms())];
    produce(&d, "east.orders", &local, "none").await?;
    produce(&s, "orders", &records(2, 16, 4), "none").await?;
    let start = Instant::now();
    while start.elapsed() < QUIET_WINDOW {
        let m = api.get(&format!("{mirrors}/east.orders"))?;
        assert_eq!(
            m.json["mirror_status"], "STOPPED",
            "after a local write: {m}"
        );
        assert_eq!(
            highs(&d, "east.orders", 2).await?,
            [9, 8],
            "promoted topic changed"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    // A stopped mirror cannot be resumed.
    let r = mirror_action(&api, "east", "resume", &["east.orders"], false)?;
    assert_eq!(
        r[0]["error_code"], 400,
        "resume of a stopped mirror: {}",
        r[0]
    );
    Ok(())
}

/// Failover stops a lagging mirror at once (validate-only changes nothing)
/// and keeps its history; mirror actions through link `-`; per-topic errors
/// for an unknown mirror (404 inside a 200 answer) and 404 for an unknown
/// link. A record produced with librdkafka to a mirror that is still
/// mirrored is detected: the mirror goes `FAILED` with `FOREIGN_WRITE`,
/// also when the source gets nothing new (idle check); a failed mirror
/// can be failed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_foreign_write_detection() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_east(&api, &gw, &[("bootstrap.servers", &s)]).await?;
    let mirrors = format!("{CLUSTERS}/dst/links/east/mirrors");
    for t in ["a", "b", "c"] {
        create_topic(&s, t, 1, &[]).await?;
        produce(&s, t, &records(1, 0, 3), "none").await?;
        mirror_caught_up(&api, &gw, "east", t, t, &[3]).await?;
    }

    // Lagging a: pause, produce; failover anyway.
    act_then_wait(&api, &gw, "pause", "a", "PAUSED").await?;
    produce(&s, "a", &records(1, 3, 2), "none").await?;
    assert_ok(&mirror_action(&api, "east", "failover", &["a"], true)?[0]);
    let m = api.get(&format!("{mirrors}/a"))?;
    assert_eq!(
        m.json["mirror_status"], "PAUSED",
        "validate_only failover: {m}"
    );
    assert_ok(&mirror_action(&api, "-", "failover", &["a"], false)?[0]);
    let m = wait_mirror(&api, &gw, "east", "a", "STOPPED", |_| true).await?;
    assert_eq!(
        m.json["mirror_lags"][0]["last_source_fetch_offset"], 3,
        "{m}"
    );
    assert!(m.json["state_time_ms"].as_i64().is_some(), "{m}");
    let list = api.get(&format!("{mirrors}?include_stopped=true"))?;
    assert_eq!(
        mirror_names(&list),
        BTreeSet::from(["a".to_owned(), "b".to_owned(), "c".to_owned()]),
        "{list}"
    );
    assert_eq!(
        mirror_names(&api.get(&mirrors)?),
        BTreeSet::from(["b".to_owned(), "c".to_owned()])
    );
    assert_stays(&d, "a", &[3]).await?;

    // Per-topic errors and unknown link.
    let r = mirror_action(&api, "east", "pause", &["nope", "b"], false)?;
    assert_eq!(r[0]["mirror_topic_name"], "nope", "{r:?}");
    assert_eq!(r[0]["error_code"], 404, "{r:?}");
    assert_ok(&r[1]);
    assert_ok(&mirror_action(&api, "east", "resume", &["b"], false)?[0]);
    let r = api.post(
        &format!("{CLUSTERS}/dst/links/nolink/mirrors:pause"),
        Some(&json!({"mirror_topic_names": ["b"]})),
    )?;
    assert_eq!(r.status, 404, "unknown link: {r}");
    let r = api.post_raw(
        &format!("{mirrors}:pause"),
        r#"{"mirror_topic_names": "b"}"#,
    )?;
    assert_eq!(r.status, 400, "malformed action body: {r}");
    wait_mirror(&api, &gw, "east", "b", "ACTIVE", |_| true).await?;

    // Foreign write to the still-mirrored b, then more source records.
    produce(
        &d,
        "b",
        &[TestRecord::new(0, Some(b"intruder"), Some(b"x"), now_ms())],
        "none",
    )
    .await?;
    produce(&s, "b", &records(1, 3, 2), "none").await?;
    let failed = wait_mirror(&api, &gw, "east", "b", "FAILED", |_| true).await?;
    assert_eq!(
        failed.json["mirror_lags"][0]["error_code"], "FOREIGN_WRITE",
        "{failed}"
    );
    // The foreign record stays; the gateway wrote nothing after it.
    assert_stays(&d, "b", &[4]).await?;
    // A failed mirror can still be failed over: STOPPED, writable.
    act_then_wait(&api, &gw, "failover", "b", "STOPPED").await?;

    // An idle mirror (nothing new on the source) detects a foreign write too.
    produce(
        &d,
        "c",
        &[TestRecord::new(0, Some(b"intruder"), Some(b"x"), now_ms())],
        "none",
    )
    .await?;
    let failed = wait_mirror(&api, &gw, "east", "c", "FAILED", |_| true).await?;
    assert_eq!(
        failed.json["mirror_lags"][0]["error_code"], "FOREIGN_WRITE",
        "{failed}"
    );
    Ok(())
}

/// Auto-create on a link created through the API, with
/// `auto.create.mirror.topics.filters` (include a prefix, include a literal,
/// exclude a longer prefix) and `cluster.link.prefix`: exactly the matching
/// source topics become mirrors, prefixed, also one created later; the
/// excluded, the unmatched and internal (`__`-prefixed) topics never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_create_follows_filters_and_skips_internal_topics() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    for t in [
        "orders.eu",
        "orders.internal.audit",
        "payments",
        "payments.old",
        "__hidden",
    ] {
        create_topic(&s, t, 1, &[]).await?;
        produce(&s, t, &records(1, 0, 2), "none").await?;
    }
    let filters = json!({"topicFilters": [
        {"name": "orders.", "patternType": "PREFIXED", "filterType": "INCLUDE"},
        {"name": "payments", "patternType": "LITERAL", "filterType": "INCLUDE"},
        {"name": "__", "patternType": "PREFIXED", "filterType": "INCLUDE"},
        {"name": "orders.internal", "patternType": "PREFIXED", "filterType": "EXCLUDE"}
    ]})
    .to_string();
    create_east(
        &api,
        &gw,
        &[
            ("bootstrap.servers", &s),
            ("cluster.link.prefix", "east."),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", &filters),
            ("metadata.max.age.ms", "1000"),
        ],
    )
    .await?;
    let mirrors = format!("{CLUSTERS}/dst/links/east/mirrors");
    let expected = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let want = expected(&["east.orders.eu", "east.payments"]);
    api.wait_for(&mirrors, DEADLINE, |r| mirror_names(r) == want)
        .await
        .with_context(|| gw.log_tail(40))?;
    for m in &want {
        wait_mirror(&api, &gw, "east", m, "ACTIVE", |r| caught_up(r, &[2])).await?;
    }

    // A topic created later is picked up by the rescan.
    create_topic(&s, "orders.asia", 1, &[]).await?;
    produce(&s, "orders.asia", &records(1, 0, 3), "none").await?;
    let want = expected(&["east.orders.asia", "east.orders.eu", "east.payments"]);
    api.wait_for(&mirrors, DEADLINE, |r| mirror_names(r) == want)
        .await
        .with_context(|| gw.log_tail(40))?;
    assert_records(&d, "east.orders.asia", 0, &records(1, 0, 3)).await?;

    // Over several rescans, nothing else appears, under any name.
    let start = Instant::now();
    while start.elapsed() < QUIET_WINDOW {
        let listed = api.get(&format!("{mirrors}?include_stopped=true"))?;
        assert_eq!(mirror_names(&listed), want, "{listed}");
        let topics = list_topics(&d).await?;
        let mirrored: BTreeSet<String> = topics
            .iter()
            .filter(|t| t.starts_with("east."))
            .cloned()
            .collect();
        assert_eq!(mirrored, want, "destination topics: {topics:?}");
        for t in ["orders.eu", "payments", "__hidden", "east.__hidden"] {
            assert!(!topics.contains(t), "{t} on the destination: {topics:?}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }

    // Altered filters: `payments.old` is now included too.
    let filters = json!({"topicFilters": [
        {"name": "orders.", "patternType": "PREFIXED", "filterType": "INCLUDE"},
        {"name": "payments", "patternType": "PREFIXED", "filterType": "INCLUDE"},
        {"name": "orders.internal", "patternType": "PREFIXED", "filterType": "EXCLUDE"}
    ]})
    .to_string();
    let r = api.put(
        &format!("{CLUSTERS}/dst/links/east/configs:alter"),
        &json!({"data": [{"name": "auto.create.mirror.topics.filters", "value": filters}]}),
    )?;
    assert_eq!(r.status, 204, "alter filters: {r}");
    let want = expected(&[
        "east.orders.asia",
        "east.orders.eu",
        "east.payments",
        "east.payments.old",
    ]);
    api.wait_for(&mirrors, DEADLINE, |r| mirror_names(r) == want)
        .await
        .with_context(|| gw.log_tail(40))?;
    assert_records(&d, "east.payments.old", 0, &records(1, 0, 2)).await?;
    Ok(())
}

/// Two links in opposite directions between the same two clusters, both
/// auto-creating every topic (`*`). Without a prefix: `a` is mirrored to B
/// and `b` to A, and neither is mirrored back (each exists on the other
/// side only as a mirror of the other link, which the name alone would not
/// reveal). With prefixes (`fromA.` on A->B, `fromB.` on B->A) the prefixed
/// mirror is never mirrored again (no `fromB.fromA.a`). Each gateway state
/// topic (`__linkgate_state`, on both clusters) is never mirrored.
/// Checked on both clusters' topic lists and the gateway's mirror lists
/// over several rescans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_links_do_not_mirror_back() -> anyhow::Result<()> {
    for prefixes in [None, Some(("fromA.", "fromB."))] {
        loop_case(prefixes)
            .await
            .with_context(|| format!("prefixes {prefixes:?}"))?;
    }
    Ok(())
}

async fn loop_case(prefixes: Option<(&str, &str)>) -> anyhow::Result<()> {
    let ca = Broker::start("ca")?;
    let cb = Broker::start("cb")?;
    let (a, b) = (ca.bootstrap(), cb.bootstrap());
    create_topic(&a, "a", 1, &[]).await?;
    produce(&a, "a", &records(1, 0, 3), "none").await?;
    create_topic(&b, "b", 1, &[]).await?;
    produce(&b, "b", &records(1, 0, 4), "none").await?;
    let (gw, api, _) = start_control_gateway(&[("ca", &ca), ("cb", &cb)], None, "", DEADLINE)?;
    let all = r#"{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;
    let (pa, pb) = prefixes.unwrap_or(("", ""));
    for (name, dest, source, prefix) in [("ab", "cb", &a, pa), ("ba", "ca", &b, pb)] {
        let mut configs = vec![
            ("bootstrap.servers", source.as_str()),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", all),
            ("metadata.max.age.ms", "1000"),
        ];
        if !prefix.is_empty() {
            configs.push(("cluster.link.prefix", prefix));
        }
        create_link(&api, &gw, dest, name, &configs, DEADLINE).await?;
    }
    let (ma, mb) = (format!("{pa}a"), format!("{pb}b"));
    // a -> B as `ma`, b -> A as `mb`.
    assert_records(&b, &ma, 0, &records(1, 0, 3))
        .await
        .with_context(|| gw.log_tail(40))?;
    assert_records(&a, &mb, 0, &records(1, 0, 4))
        .await
        .with_context(|| gw.log_tail(40))?;
    let ab = format!("{CLUSTERS}/cb/links/ab/mirrors?include_stopped=true");
    let ba = format!("{CLUSTERS}/ca/links/ba/mirrors?include_stopped=true");
    let one = |n: &str| BTreeSet::from([n.to_owned()]);
    let start = Instant::now();
    while start.elapsed() < QUIET_WINDOW {
        let r = api.get(&ab)?;
        assert_eq!(mirror_names(&r), one(&ma), "link ab: {r}");
        let r = api.get(&ba)?;
        assert_eq!(mirror_names(&r), one(&mb), "link ba: {r}");
        let every = api.get(&format!(
            "{CLUSTERS}/-/links/-/mirrors?include_stopped=true"
        ))?;
        assert_eq!(mirror_names(&every).len(), 2, "{every}");
        // `links/-` on one destination: only the mirrors on that cluster.
        for (dest, mirror) in [("cb", &ma), ("ca", &mb)] {
            let r = api.get(&format!("{CLUSTERS}/{dest}/links/-/mirrors"))?;
            assert_eq!(mirror_names(&r), one(mirror), "mirrors on {dest}: {r}");
        }
        for (bootstrap, own, mirrored) in [(&a, "a", &mb), (&b, "b", &ma)] {
            let topics: BTreeSet<String> = list_topics(bootstrap)
                .await?
                .into_iter()
                .filter(|t| !t.starts_with("__"))
                .collect();
            let want = BTreeSet::from([own.to_owned(), mirrored.clone()]);
            assert_eq!(topics, want, "topics of {bootstrap}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    // The mirrors are healthy (not FAILED by a write-back).
    wait_mirror(&api, &gw, "ab", &ma, "ACTIVE", |r| caught_up(r, &[3])).await?;
    wait_mirror(&api, &gw, "ba", &mb, "ACTIVE", |r| caught_up(r, &[4])).await?;
    Ok(())
}

/// A gateway restart (SIGTERM and restart; then SIGKILL and a new process
/// in a fresh directory) keeps what was made through the API: the link (with its configs) comes back from the destination
/// cluster's state topic, a paused mirror stays paused (nothing mirrored
/// after the restart), a promoted mirror stays stopped with its last source
/// fetch offset, an active mirror resumes and mirrors new records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_links_and_mirror_states() -> anyhow::Result<()> {
    let (src, dst, mut gw, api, config) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_east(
        &api,
        &gw,
        &[("bootstrap.servers", &s), ("cluster.link.prefix", "east.")],
    )
    .await?;
    let mirrors = format!("{CLUSTERS}/dst/links/east/mirrors");
    for t in ["held", "done", "live"] {
        create_topic(&s, t, 1, &[]).await?;
        produce(&s, t, &records(1, 0, 5), "none").await?;
        mirror_caught_up(&api, &gw, "east", t, &format!("east.{t}"), &[5]).await?;
    }
    let held = act_then_wait(&api, &gw, "pause", "east.held", "PAUSED").await?;
    let held_time = held.json["state_time_ms"]
        .as_i64()
        .context("state_time_ms")?;
    let done = act_then_wait(&api, &gw, "promote", "east.done", "STOPPED").await?;
    let done_time = done.json["state_time_ms"]
        .as_i64()
        .context("state_time_ms")?;
    // An altered property persists; a deleted link stays deleted.
    let r = api.put(
        &format!("{CLUSTERS}/dst/links/east/configs:alter"),
        &json!({"data": [{"name": "metadata.max.age.ms", "value": "4321"}]}),
    )?;
    assert_eq!(r.status, 204, "alter: {r}");
    create_link(
        &api,
        &gw,
        "dst",
        "gone",
        &[("bootstrap.servers", &s)],
        DEADLINE,
    )
    .await?;
    let r = api.delete(&format!("{CLUSTERS}/dst/links/gone"))?;
    assert_eq!(r.status, 200, "delete gone: {r}");

    for (round, kill) in [(1_usize, false), (2, true)] {
        let restarted_at = now_ms();
        if kill {
            // SIGKILL, then a new process in a new directory: what comes
            // back can only come from the destination cluster.
            gw.kill9()?;
            gw = Gateway::start(&config)?;
            api.wait_ready(DEADLINE)?;
        } else {
            let status = gw.terminate()?;
            assert!(status.success(), "SIGTERM exit: {status}");
            gw.restart()?;
        }
        let ctx = || format!("restart {round}\n{}", gw.log_tail(40));
        let link = wait_link_state(&api, &gw, "dst", "east", "ACTIVE", DEADLINE)
            .await
            .with_context(ctx)?;
        assert_eq!(link.json["destination_cluster_id"], "dst", "{link}");
        let configs = api.get(&format!("{CLUSTERS}/dst/links/east/configs"))?;
        let prefix = configs.json["data"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == "cluster.link.prefix"))
            .map(|c| c["value"].clone());
        assert_eq!(prefix, Some(json!("east.")), "{configs}");
        let age = configs.json["data"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == "metadata.max.age.ms"))
            .map(|c| c["value"].clone());
        assert_eq!(age, Some(json!("4321")), "altered property lost: {configs}");
        let all = api.get(&format!("{CLUSTERS}/-/links"))?;
        let names: Vec<&Value> = all.json["data"]
            .as_array()
            .map(|a| a.iter().map(|l| &l["link_name"]).collect())
            .unwrap_or_default();
        assert_eq!(
            names,
            [&json!("east")],
            "deleted link back after restart: {all}"
        );

        let held = wait_mirror(&api, &gw, "east", "east.held", "PAUSED", |_| true)
            .await
            .with_context(ctx)?;
        assert_eq!(
            held.json["state_time_ms"].as_i64(),
            Some(held_time),
            "pause time changed by the restart: {held}"
        );
        let done = wait_mirror(&api, &gw, "east", "east.done", "STOPPED", |_| true)
            .await
            .with_context(ctx)?;
        assert_eq!(
            done.json["mirror_lags"][0]["last_source_fetch_offset"], 5,
            "{done}"
        );
        // The stop time survives, to the ms (not re-stamped by the restart).
        let stop = done.json["state_time_ms"]
            .as_i64()
            .context("state_time_ms")?;
        assert!(
            stop < restarted_at && stop == done_time,
            "stop time changed from {done_time} (restart at {restarted_at}): {done}"
        );
        let listed = api.get(&format!("{mirrors}?include_stopped=true"))?;
        assert_eq!(
            mirror_names(&listed),
            ["east.done", "east.held", "east.live"]
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<BTreeSet<_>>(),
            "{listed}"
        );
        // live mirrors new records; held and done do not.
        let from = 5 + 2 * (round - 1);
        for t in ["held", "done", "live"] {
            produce(&s, t, &records(1, from, 2), "none").await?;
        }
        let live = i64::try_from(from + 2)?;
        wait_mirror(&api, &gw, "east", "east.live", "ACTIVE", |r| {
            caught_up(r, &[live])
        })
        .await
        .with_context(ctx)?;
        assert_stays(&d, "east.held", &[5]).await?;
        assert_eq!(highs(&d, "east.done", 1).await?, [5]);
    }
    // Resuming the held mirror after the restarts catches up.
    assert_ok(&mirror_action(&api, "east", "resume", &["east.held"], false)?[0]);
    wait_mirror(&api, &gw, "east", "east.held", "ACTIVE", |r| {
        caught_up(r, &[9])
    })
    .await?;
    assert_records(&d, "east.held", 0, &records(1, 0, 9)).await?;
    Ok(())
}

/// Mirror create options and refusals: the mirror name derived by the
/// link's prefix, the source topic's configs copied with the request's
/// overrides over them, the replication factor; refused without changing
/// anything: a mirror name the prefix does not give, no name at all, an
/// internal topic, an unknown field, a name taken by a regular destination
/// topic (409). With `linkgate.mirror.write.deny.enable` the mirror needs
/// DENY WRITE ACLs, which nisshi cannot store (no authorizer): the create
/// is refused with a message naming the property and leaves no topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_create_options_and_refusals() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_topic(
        &s,
        "conf",
        2,
        &[
            ("max.message.bytes", "2097152"),
            ("retention.ms", "3600000"),
        ],
    )
    .await?;
    produce(&s, "conf", &records(2, 0, 4), "none").await?;
    create_topic(&s, "taken", 1, &[]).await?;
    create_topic(&d, "east.taken", 1, &[]).await?;
    create_east(
        &api,
        &gw,
        &[("bootstrap.servers", &s), ("cluster.link.prefix", "east.")],
    )
    .await?;
    let mirrors = format!("{CLUSTERS}/dst/links/east/mirrors");

    let refusals: [(&str, &str, u16); 6] = [
        (
            "mirror name without its prefix",
            r#"{"mirror_topic_name": "conf"}"#,
            400,
        ),
        (
            "mirror name the prefix does not give",
            r#"{"source_topic_name": "conf", "mirror_topic_name": "west.conf"}"#,
            400,
        ),
        ("no name", r#"{"replication_factor": 1}"#, 400),
        (
            "internal topic",
            r#"{"source_topic_name": "__consumer_offsets"}"#,
            400,
        ),
        (
            "unknown field",
            r#"{"source_topic_name": "conf", "colour": "red"}"#,
            400,
        ),
        (
            "taken by a regular topic",
            r#"{"source_topic_name": "taken"}"#,
            409,
        ),
    ];
    for (what, body, status) in refusals {
        let mut answer = api.post_raw(&mirrors, body)?;
        if answer.status == 503 {
            // The link may still be connecting: retried like a client would.
            let json: Value = serde_json::from_str(body)?;
            answer = api.post_retrying(&mirrors, Some(&json), DEADLINE).await?;
        }
        assert_eq!(answer.status, status, "{what}: {answer}");
        assert_eq!(answer.json["error_code"], status, "{what}: {answer}");
    }
    let listed = api.get(&format!("{mirrors}?include_stopped=true"))?;
    assert_eq!(
        mirror_names(&listed),
        BTreeSet::new(),
        "refusals created: {listed}"
    );
    let topics = list_topics(&d).await?;
    assert!(
        !topics.contains("east.conf") && !topics.contains("west.conf"),
        "{topics:?}"
    );
    assert_eq!(
        highs(&d, "east.taken", 1).await?,
        [0],
        "the regular topic was written"
    );

    // Derived name, configs copied with overrides, replication factor.
    let body = json!({
        "source_topic_name": "conf",
        "replication_factor": 1,
        "configs": [{"name": "retention.ms", "value": "123456789"}]
    });
    let r = api.post_retrying(&mirrors, Some(&body), DEADLINE).await?;
    assert_eq!(r.status, 204, "mirror create: {r}");
    let m = wait_mirror(&api, &gw, "east", "east.conf", "ACTIVE", |r| {
        caught_up(r, &[2, 2])
    })
    .await?;
    assert_eq!(m.json["source_topic_name"], "conf", "{m}");
    assert_eq!(m.json["num_partitions"], 2, "{m}");
    linkgate_tests::assert_topic_configs(
        &d,
        "east.conf",
        &[
            ("retention.ms", "123456789"),
            ("max.message.bytes", "2097152"),
        ],
    )
    .await?;

    // Write protection without an authorizer: refused, nothing left.
    create_link(
        &api,
        &gw,
        "dst",
        "guarded",
        &[
            ("bootstrap.servers", &s),
            ("cluster.link.prefix", "g."),
            ("linkgate.mirror.write.deny.enable", "true"),
        ],
        DEADLINE,
    )
    .await?;
    let guarded = format!("{CLUSTERS}/dst/links/guarded/mirrors");
    let r = api
        .post_retrying(
            &guarded,
            Some(&json!({"source_topic_name": "conf"})),
            DEADLINE,
        )
        .await?;
    assert!(
        matches!(r.status, 400..=599) && r.status != 503,
        "write deny on nisshi: {r}"
    );
    assert!(
        r.message().contains("linkgate.mirror.write.deny.enable"),
        "{r}"
    );
    assert_eq!(api.get(&format!("{guarded}/g.conf"))?.status, 404);
    assert!(
        !list_topics(&d).await?.contains("g.conf"),
        "refused mirror left its topic"
    );
    Ok(())
}

/// Stopped mirrors keep their history until their link is deleted: a link
/// whose mirrors are all stopped is deleted without `force`, and a new
/// link of the same name starts without them, also after a gateway
/// restart (nothing of the old link comes back from the state topic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_link_drops_its_stopped_mirrors() -> anyhow::Result<()> {
    let (src, _dst, mut gw, api, _) = start_pair(None, "", DEADLINE)?;
    let s = src.bootstrap();
    create_topic(&s, "t", 1, &[]).await?;
    produce(&s, "t", &records(1, 0, 3), "none").await?;
    let configs = [
        ("bootstrap.servers", s.as_str()),
        ("cluster.link.prefix", "east."),
    ];
    create_east(&api, &gw, &configs).await?;
    let mirrors = format!("{CLUSTERS}/dst/links/east/mirrors");
    mirror_caught_up(&api, &gw, "east", "t", "east.t", &[3]).await?;
    act_then_wait(&api, &gw, "promote", "east.t", "STOPPED").await?;

    let r = api.delete(&format!("{CLUSTERS}/dst/links/east"))?;
    assert_eq!(r.status, 200, "delete with only stopped mirrors: {r}");
    create_east(&api, &gw, &configs).await?;
    let stopped = format!("{mirrors}?include_stopped=true");
    let listed = api.get(&stopped)?;
    assert_eq!(
        mirror_names(&listed),
        BTreeSet::new(),
        "history of the old link: {listed}"
    );
    let old = api.get(&format!("{mirrors}/east.t"))?;
    assert_eq!(
        old.status, 404,
        "old stopped mirror of a deleted link: {old}"
    );

    gw.terminate()?;
    gw.restart()?;
    wait_link_state(&api, &gw, "dst", "east", "ACTIVE", DEADLINE).await?;
    let listed = api.get(&stopped)?;
    assert_eq!(
        mirror_names(&listed),
        BTreeSet::new(),
        "after restart: {listed}"
    );
    Ok(())
}

/// `cluster.link.paused=true` (set with `configs:alter`) stops the link's
/// mirrors: records produced meanwhile do not arrive (bounded observation
/// of the destination high watermark), and a mirror created on the paused
/// link is not fetched either; the `DELETE` operation resumes the link and
/// everything catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_link_mirrors_nothing_until_resumed() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    for t in ["one", "two"] {
        create_topic(&s, t, 1, &[]).await?;
        produce(&s, t, &records(1, 0, 2), "none").await?;
    }
    create_east(&api, &gw, &[("bootstrap.servers", &s)]).await?;
    let link = format!("{CLUSTERS}/dst/links/east");
    let mirrors = format!("{link}/mirrors");
    mirror_caught_up(&api, &gw, "east", "one", "one", &[2]).await?;

    let alter = format!("{link}/configs:alter");
    let r = api.put(
        &alter,
        &json!({"data": [{"name": "cluster.link.paused", "value": "true"}]}),
    )?;
    assert_eq!(r.status, 204, "pause link: {r}");
    api.wait_for(&link, DEADLINE, |r| r.json["link_state"] == "PAUSED")
        .await?;
    produce(&s, "one", &records(1, 2, 3), "none").await?;
    create_mirror(&api, "east", "two").await?;
    assert_stays(&d, "one", &[2]).await?;
    // The lag of a paused link is real: promote checks the source.
    let refused = mirror_action(&api, "east", "promote", &["one"], false)?;
    assert_eq!(
        refused[0]["error_code"], 400,
        "promote on a paused link: {}",
        refused[0]
    );
    assert!(
        refused[0]["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("lag")),
        "{}",
        refused[0]
    );
    for t in ["one", "two"] {
        let m = api.get(&format!("{mirrors}/{t}"))?;
        assert_ne!(
            m.json["mirror_status"], "ACTIVE",
            "{t} on a paused link: {m}"
        );
    }
    if list_topics(&d).await?.contains("two") {
        assert_eq!(
            highs(&d, "two", 1).await?,
            [0],
            "two fetched on a paused link"
        );
    }

    let r = api.put(
        &alter,
        &json!({"data": [{"name": "cluster.link.paused", "operation": "DELETE"}]}),
    )?;
    assert_eq!(r.status, 204, "resume link: {r}");
    wait_mirror(&api, &gw, "east", "one", "ACTIVE", |r| caught_up(r, &[5])).await?;
    wait_mirror(&api, &gw, "east", "two", "ACTIVE", |r| caught_up(r, &[2])).await?;
    assert_records(&d, "one", 0, &records(1, 0, 5)).await?;
    assert_records(&d, "two", 0, &records(1, 0, 2)).await?;
    Ok(())
}

/// Three brokers, a gateway and three auto-creating links in a ring
/// (A->`ab`->B, B->`bc`->C, C->`ca`->A, every topic, no prefix, rescans
/// every second); `x` (3 records) starts on A, `y` (4 records) on B.
struct Ring {
    gw: Gateway,
    api: Api,
    /// Bootstraps of A, B, C.
    boot: [String; 3],
    _brokers: [Broker; 3],
}

async fn ring() -> anyhow::Result<Ring> {
    let brokers = [
        Broker::start("ca")?,
        Broker::start("cb")?,
        Broker::start("cc")?,
    ];
    let boot = [0, 1, 2].map(|i| brokers[i].bootstrap());
    let [a, b, c] = &boot;
    create_topic(a, "x", 1, &[]).await?;
    produce(a, "x", &records(1, 0, 3), "none").await?;
    create_topic(b, "y", 1, &[]).await?;
    produce(b, "y", &records(1, 0, 4), "none").await?;
    let (gw, api, _) = start_control_gateway(
        &[
            ("ca", &brokers[0]),
            ("cb", &brokers[1]),
            ("cc", &brokers[2]),
        ],
        None,
        "",
        DEADLINE,
    )?;
    let all = r#"{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;
    for (name, dest, source) in [("ab", "cb", a), ("bc", "cc", b), ("ca", "ca", c)] {
        let configs = [
            ("bootstrap.servers", source.as_str()),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", all),
            ("metadata.max.age.ms", "1000"),
        ];
        create_link(&api, &gw, dest, name, &configs, DEADLINE).await?;
    }
    Ok(Ring {
        gw,
        api,
        boot,
        _brokers: brokers,
    })
}

/// The mirror topic names of each ring link, in the order ab, bc, ca;
/// fails if any mirror is `FAILED`.
fn ring_mirrors(ring: &Ring) -> anyhow::Result<[BTreeSet<String>; 3]> {
    let mut out: [BTreeSet<String>; 3] = Default::default();
    for (i, (dest, link)) in [("cb", "ab"), ("cc", "bc"), ("ca", "ca")]
        .iter()
        .enumerate()
    {
        let r = ring.api.get(&format!(
            "{CLUSTERS}/{dest}/links/{link}/mirrors?include_stopped=true"
        ))?;
        for m in r.json["data"].as_array().into_iter().flatten() {
            anyhow::ensure!(m["mirror_status"] != "FAILED", "link {link}: {m}");
        }
        out[i] = mirror_names(&r);
    }
    Ok(out)
}

/// The non-internal topics of a cluster.
async fn user_topics(bootstrap: &str) -> anyhow::Result<BTreeSet<String>> {
    Ok(list_topics(bootstrap)
        .await?
        .into_iter()
        .filter(|t| !t.starts_with("__"))
        .collect())
}

/// A ring of three links never loops: `x` is mirrored from A to B, `y`
/// from B to C; over several rescans no topic is mirrored back into the
/// cluster it started on (A's `x` and B's `y` are never written by the
/// gateway, no mirror of `x` on link `ca` nor of `y` on link `ab`), no
/// mirror fails, and no cluster holds anything but `x` and `y`. (Whether a
/// mirror topic travels on along the ring is the next test's subject.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_of_three_links_never_loops() -> anyhow::Result<()> {
    let ring = ring().await?;
    let [a, b, c] = &ring.boot;
    assert_records(b, "x", 0, &records(1, 0, 3))
        .await
        .with_context(|| ring.gw.log_tail(40))?;
    assert_records(c, "y", 0, &records(1, 0, 4))
        .await
        .with_context(|| ring.gw.log_tail(40))?;
    let start = Instant::now();
    while start.elapsed() < QUIET_WINDOW {
        let [ab, bc, ca] = ring_mirrors(&ring)?;
        assert!(ab.contains("x") && !ab.contains("y"), "link ab: {ab:?}");
        assert!(bc.contains("y"), "link bc: {bc:?}");
        assert!(!ca.contains("x"), "link ca mirrors x back to A: {ca:?}");
        for bootstrap in [a, b, c] {
            let topics = user_topics(bootstrap).await?;
            assert!(
                topics.iter().all(|t| t == "x" || t == "y"),
                "topics of {bootstrap}: {topics:?}"
            );
        }
        assert_eq!(highs(a, "x", 1).await?, [3], "origin x written");
        assert_eq!(highs(b, "y", 1).await?, [4], "origin y written");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Ok(())
}

/// Along a ring of three links a topic travels on to every cluster but the
/// one it started on (the issue's rule: a mirror topic is never
/// auto-created as a mirror on a link whose destination is its source):
/// `x` A -> B -> C, `y` B -> C -> A; the mirror lists are exactly
/// ab {x}, bc {x, y}, ca {y} and every cluster holds `x` and `y`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_of_three_links_forwards_mirrors_but_not_to_their_origin() -> anyhow::Result<()> {
    let ring = ring().await?;
    let [a, b, c] = &ring.boot;
    for (bootstrap, topic, n) in [(b, "x", 3), (c, "x", 3), (c, "y", 4), (a, "y", 4)] {
        assert_records(bootstrap, topic, 0, &records(1, 0, n))
            .await
            .with_context(|| ring.gw.log_tail(40))?;
    }
    let names = |v: &[&str]| v.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>();
    let start = Instant::now();
    while start.elapsed() < QUIET_WINDOW {
        assert_eq!(
            ring_mirrors(&ring)?,
            [names(&["x"]), names(&["x", "y"]), names(&["y"])]
        );
        for bootstrap in [a, b, c] {
            assert_eq!(user_topics(bootstrap).await?, names(&["x", "y"]));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Ok(())
}

/// Plugin chains on an API link (`linkgate.renamers`,
/// `linkgate.record.transforms`, naming `[[plugins]]` of the gateway
/// config): the mirror name comes from the renamer (`r.` + source name)
/// and records with a `debug` header are dropped, checked with librdkafka;
/// `configs:alter` removing the transform lets them through afterwards. A
/// plugin that is not declared, or of the wrong kind, is refused (400).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_link_plugin_chains_rename_and_transform() -> anyhow::Result<()> {
    let plugins = r#"
[[plugins]]
name = "pfx"
bundled = "prefix"
kind = "renamer"
[plugins.config]
prefix = "r."

[[plugins]]
name = "nodebug"
bundled = "record-filter"
kind = "record-transform"
timeout_ms = 5000
[plugins.config]
"drop.header" = "debug"
"#;
    let (src, dst, gw, api, _) = start_pair(None, plugins, DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    let links = format!("{CLUSTERS}/dst/links");
    for (what, configs) in [
        ("undeclared plugin", vec![("linkgate.renamers", "nope")]),
        ("wrong kind", vec![("linkgate.renamers", "nodebug")]),
    ] {
        let mut all = vec![("bootstrap.servers", s.as_str())];
        all.extend(configs);
        let r = api.post(&format!("{links}?link_name=bad"), Some(&link_body(&all)))?;
        assert_eq!(r.status, 400, "{what}: {r}");
        assert!(r.message().contains("linkgate.renamers"), "{what}: {r}");
    }
    assert_eq!(api.get(&format!("{links}/bad"))?.status, 404);

    create_east(
        &api,
        &gw,
        &[
            ("bootstrap.servers", &s),
            ("linkgate.renamers", "pfx"),
            ("linkgate.record.transforms", "nodebug"),
        ],
    )
    .await?;
    create_topic(&s, "t", 1, &[]).await?;
    let mut first = records(1, 0, 6);
    for r in first.iter_mut().skip(1).step_by(2) {
        *r = r.clone().with_header("debug", Some(b"1"));
    }
    produce(&s, "t", &first, "none").await?;
    mirror_caught_up(&api, &gw, "east", "t", "r.t", &[6]).await?;
    let m = api.get(&format!("{links}/east/mirrors/r.t"))?;
    assert_eq!(m.json["source_topic_name"], "t", "{m}");
    let kept: Vec<TestRecord> = first.iter().step_by(2).cloned().collect();
    assert_records(&d, "r.t", 0, &kept).await?;
    assert_eq!(highs(&d, "r.t", 1).await?, [3], "debug records mirrored");

    // Without the transform, debug records pass.
    let r = api.put(
        &format!("{links}/east/configs:alter"),
        &json!({"data": [{"name": "linkgate.record.transforms", "operation": "DELETE"}]}),
    )?;
    assert_eq!(r.status, 204, "alter transforms: {r}");
    let later = vec![records(1, 6, 1)[0].clone().with_header("debug", Some(b"1"))];
    // The alter may restart the link: wait until it mirrors again.
    api.wait_for(&format!("{links}/east"), DEADLINE, |r| {
        r.json["link_state"] == "ACTIVE"
    })
    .await?;
    produce(&s, "t", &later, "none").await?;
    wait_mirror(&api, &gw, "east", "r.t", "ACTIVE", |r| caught_up(r, &[7])).await?;
    let mut all = kept;
    all.extend(later);
    assert_records(&d, "r.t", 0, &all).await?;
    Ok(())
}

/// A running link whose source broker goes down reports `UNAVAILABLE`
/// with `BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR` naming the address (its
/// mirror's partition first goes `SOURCE_UNAVAILABLE`); when the broker is back (sqlite
/// storage, same port) the link is `ACTIVE` again and mirrors the records
/// produced since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_unavailable_while_source_down_then_recovers() -> anyhow::Result<()> {
    source_outage(true).await
}

/// While the source broker of a running link is down its mirror's
/// partition is `SOURCE_UNAVAILABLE` with a message naming the address
/// (the mirror stays `ACTIVE`, the contract's state for it) and the
/// link's `AutoCreateMirror` task is `IN_ERROR` (`SOURCE_UNAVAILABLE`);
/// when the broker
/// is back (sqlite storage, same port) it is `ACTIVE` again and mirrors
/// the records produced since, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_source_unavailable_then_recovers() -> anyhow::Result<()> {
    source_outage(false).await
}

/// The source outage scenario; `check_link`: also expect the link state
/// `UNAVAILABLE` with its code during the outage and `ACTIVE` after.
async fn source_outage(check_link: bool) -> anyhow::Result<()> {
    let mut src = Broker::start_persistent("src")?;
    let dst = Broker::start("dst")?;
    let (gw, api, _) = start_control_gateway(&[("src", &src), ("dst", &dst)], None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_topic(&s, "t", 1, &[]).await?;
    produce(&s, "t", &records(1, 0, 3), "none").await?;
    create_east(
        &api,
        &gw,
        &[
            ("bootstrap.servers", &s),
            ("request.timeout.ms", "3000"),
            ("socket.connection.setup.timeout.ms", "1000"),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", NO_TOPIC),
            ("metadata.max.age.ms", "1000"),
        ],
    )
    .await?;
    let link = format!("{CLUSTERS}/dst/links/east");
    mirror_caught_up(&api, &gw, "east", "t", "t", &[3]).await?;

    src.kill9()?;
    // `SOURCE_UNAVAILABLE` is a partition state; the contract's mirror
    // status stays `ACTIVE` (the link's state shows the outage).
    let m = wait_mirror(&api, &gw, "east", "t", "ACTIVE", |r| {
        r.json["mirror_lags"][0]["state"] == "SOURCE_UNAVAILABLE"
    })
    .await?;
    assert!(
        m.json["mirror_lags"][0]["error_message"]
            .as_str()
            .is_some_and(|e| e.contains(&s)),
        "{m}"
    );
    if check_link {
        let down = api
            .wait_for(&link, DEADLINE, |r| r.json["link_state"] == "UNAVAILABLE")
            .await
            .with_context(|| gw.log_tail(40))?;
        assert_eq!(
            down.json["link_error"], "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
            "{down}"
        );
        assert!(
            down.json["link_error_message"]
                .as_str()
                .is_some_and(|m| m.contains(&s)),
            "message must name {s}: {down}"
        );
    }
    // The auto-create scan cannot list the source: its task says so
    // (IN_ERROR with SOURCE_UNAVAILABLE; LINK_UNAVAILABLE once the link
    // itself is UNAVAILABLE).
    let tasks = format!("{link}?include_tasks=true");
    let auto = |r: &ApiResponse| {
        r.json["tasks"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["task_name"] == "AutoCreateMirror"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let down = api
        .wait_for(&tasks, DEADLINE, |r| {
            let t = auto(r);
            (t["state"] == "IN_ERROR" && t["errors"][0]["error_code"] == "SOURCE_UNAVAILABLE")
                || t["state"] == "LINK_UNAVAILABLE"
        })
        .await
        .with_context(|| gw.log_tail(40))?;
    if auto(&down)["state"] == "IN_ERROR" {
        let message = auto(&down)["errors"][0]["error_message"].clone();
        assert!(message.as_str().is_some_and(|m| !m.is_empty()), "{down}");
    }

    src.restart()?;
    produce(&s, "t", &records(1, 3, 2), "none").await?;
    api.wait_for(&link, DEADLINE, |r| {
        r.json["link_state"] == "ACTIVE" && r.json["link_error"] == "NO_ERROR"
    })
    .await
    .with_context(|| gw.log_tail(40))?;
    wait_mirror(&api, &gw, "east", "t", "ACTIVE", |r| caught_up(r, &[5])).await?;
    assert_records(&d, "t", 0, &records(1, 0, 5)).await?;
    api.wait_for(&tasks, DEADLINE, |r| {
        let t = auto(r);
        t["state"] == "ACTIVE" && t["errors"] == json!([])
    })
    .await
    .with_context(|| gw.log_tail(40))?;
    Ok(())
}

/// API links come back from the destination cluster even when it is down
/// while the gateway starts: the restore is retried, and once the broker
/// is back (sqlite storage, same port) the link is listed `ACTIVE` and its
/// mirror resumes where it stopped (records produced meanwhile arrive,
/// none twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_links_restored_once_the_destination_is_back() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let mut dst = Broker::start_persistent("dst")?;
    let (mut gw, api, config) =
        start_control_gateway(&[("src", &src), ("dst", &dst)], None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_topic(&s, "t", 1, &[]).await?;
    produce(&s, "t", &records(1, 0, 3), "none").await?;
    create_east(&api, &gw, &[("bootstrap.servers", &s)]).await?;
    mirror_caught_up(&api, &gw, "east", "t", "t", &[3]).await?;

    gw.kill9()?;
    dst.kill9()?;
    gw = Gateway::start(&config)?;
    api.wait_ready(DEADLINE)?;
    produce(&s, "t", &records(1, 3, 2), "none").await?;
    let r = api.get(&format!("{CLUSTERS}/dst/links/east"))?;
    assert_ne!(
        r.json["link_state"], "ACTIVE",
        "link ACTIVE while its destination is down: {r}"
    );
    dst.restart()?;
    wait_link_state(&api, &gw, "dst", "east", "ACTIVE", DEADLINE).await?;
    wait_mirror(&api, &gw, "east", "t", "ACTIVE", |r| caught_up(r, &[5])).await?;
    assert_records(&d, "t", 0, &records(1, 0, 5)).await?;
    assert_eq!(highs(&d, "t", 1).await?, [5], "records mirrored twice");
    Ok(())
}

/// Link alters that restart the link while records flow (three changes of
/// `metadata.max.age.ms`, between produce bursts): in the end the mirror
/// holds every source record exactly once, in order (high watermark =
/// record count), read back with librdkafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alters_while_mirroring_lose_and_duplicate_nothing() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_topic(&s, "flow", 2, &[]).await?;
    produce(&s, "flow", &records(2, 0, 40), "lz4").await?;
    create_east(&api, &gw, &[("bootstrap.servers", &s)]).await?;
    let link = format!("{CLUSTERS}/dst/links/east");
    create_mirror(&api, "east", "flow").await?;
    for (i, age) in ["2000", "3000", "4000"].iter().enumerate() {
        let from = 40 + i * 40;
        let batch = records(2, from, 40);
        let burst = produce(&s, "flow", &batch, "zstd");
        let (client, path) = (api.clone(), format!("{link}/configs:alter"));
        let body = json!({"data": [{"name": "metadata.max.age.ms", "value": age}]});
        let alter = tokio::task::spawn_blocking(move || client.put(&path, &body));
        let (produced, altered) = tokio::join!(burst, alter);
        produced?;
        let r = altered??;
        assert_eq!(r.status, 204, "alter {age}: {r}");
    }
    wait_mirror(&api, &gw, "east", "flow", "ACTIVE", |r| {
        caught_up(r, &[80, 80])
    })
    .await?;
    let all = records(2, 0, 160);
    for p in 0..2 {
        let want: Vec<TestRecord> = all.iter().filter(|r| r.partition == p).cloned().collect();
        assert_records(&d, "flow", p, &want).await?;
    }
    assert_eq!(
        highs(&d, "flow", 2).await?,
        [80, 80],
        "duplicates on the destination"
    );
    Ok(())
}
