//! End-to-end tests of the consumer offset sync (`ConsumerOffsetSync`,
//! `consumer.offset.sync.*`, `consumer.offset.group.filters`) with real
//! brokers (nisshi) and real consumer groups (librdkafka) on both sides.
//!
//! The offset map is not the identity: the mirror starts at `latest` over
//! a source that already holds records, and the bundled `record-filter`
//! plugin drops every record whose offset is a multiple of 3. Consumer
//! groups commit on the source at several positions (below the mirror's
//! start, inside, on a dropped record, at the end); after a sync a
//! librdkafka consumer of the same group on the destination reads exactly
//! the mirrored records at or after its source position.
//!
//! Which groups are synced is the link's group filter chain: the
//! `consumer.offset.group.filters` JSON (served by the bundled
//! `group-filter` plugin) and, in the chain test, a user-written group
//! filter plugin (the `group-suffix` fixture of `plugins/testing`).
//!
//! nisshi keeps no commit metadata string, so that it is carried over is
//! checked by the sync task's unit tests, not here. Transaction markers,
//! aborted data and compaction gaps cannot be written to nisshi; their
//! translation is tested in `gateway/src/tasks/sync_tests.rs` from
//! constructed Fetch responses against a real destination.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::{
    create_link, create_topic, fetch_watermarks, now_ms, produce, start_pair, Api, Gateway,
    TestRecord, CLUSTERS,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(90);
/// Records on the source before the mirror starts (at `latest`).
const BEFORE: i64 = 20;
/// Records on the source in all.
const TOTAL: i64 = 40;

const PLUGINS: &str = r#"
[[plugins]]
name = "no-debug"
bundled = "record-filter"
kind = "record-transform"
timeout_ms = 5000
[plugins.config]
"drop.header" = "debug"
"#;

/// Groups starting `app-` are synced, except `app-skip`.
const FILTERS: &str = r#"{"groupFilters":[
  {"name":"app-","patternType":"PREFIXED","filterType":"INCLUDE"},
  {"name":"app-skip","patternType":"LITERAL","filterType":"EXCLUDE"}]}"#;
/// [`FILTERS`] plus the group `other`.
const FILTERS_WITH_OTHER: &str = r#"{"groupFilters":[
  {"name":"app-","patternType":"PREFIXED","filterType":"INCLUDE"},
  {"name":"other","patternType":"LITERAL","filterType":"INCLUDE"},
  {"name":"app-skip","patternType":"LITERAL","filterType":"EXCLUDE"}]}"#;

/// Whether the record at source offset `i` is mirrored: produced after the
/// mirror started and not dropped by the filter (multiples of 3 carry the
/// `debug` header).
fn mirrored(i: i64) -> bool {
    i >= BEFORE && i % 3 != 0
}

/// The destination offset a consumer at source offset `source` must move
/// to: the number of mirrored records before it.
fn translated(source: i64) -> i64 {
    (0..source).filter(|i| mirrored(*i)).count() as i64
}

/// The keys of the mirrored records at or after source offset `source`.
fn keys_from(source: i64) -> Vec<String> {
    (source.max(0)..TOTAL)
        .filter(|i| mirrored(*i))
        .map(|i| format!("k{i}"))
        .collect()
}

fn records(from: i64, to: i64) -> Vec<TestRecord> {
    let base = now_ms() - 60_000;
    (from..to)
        .map(|i| {
            let r = TestRecord::new(
                0,
                Some(format!("k{i}").as_bytes()),
                Some(format!("v{i}").as_bytes()),
                base + i,
            );
            if i % 3 == 0 {
                r.with_header("debug", Some(b"1"))
            } else {
                r
            }
        })
        .collect()
}

fn group_client(bootstrap: &str, group: &str) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .set("session.timeout.ms", "6000")
        .create()
        .context("creating consumer")
}

/// Commits `offset` for `group` on `orders`/0 with librdkafka (as a
/// consumer that is not subscribed: a simple-consumer commit).
fn commit(bootstrap: &str, group: &str, offset: i64) -> anyhow::Result<()> {
    tokio::task::block_in_place(|| {
        let c = group_client(bootstrap, group)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("orders", 0, Offset::Offset(offset))?;
        c.commit(&tpl, CommitMode::Sync)
            .with_context(|| format!("commit {group} at {offset}"))
    })
}

/// The committed offset of `group` on `orders`/0 as librdkafka reads it
/// (`None`: none).
fn committed(bootstrap: &str, group: &str) -> anyhow::Result<Option<i64>> {
    tokio::task::block_in_place(|| {
        let c = group_client(bootstrap, group)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("orders", 0);
        let got = c.committed_offsets(tpl, Duration::from_secs(10))?;
        Ok(got
            .find_partition("orders", 0)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }))
    })
}

async fn wait_committed(
    bootstrap: &str,
    group: &str,
    want: i64,
    gw: &Gateway,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < DEADLINE {
        last = committed(bootstrap, group)?;
        if last == Some(want) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!(
        "group {group} on the destination at {last:?}, expected {want}\n{}",
        gw.log_tail(40)
    )
}

/// A librdkafka consumer of `group` subscribed to `orders` on the
/// destination reads `want` (keys) from the group's committed position, and
/// nothing is left after them. Returns the consumer (still a member).
fn read_as_group(
    bootstrap: &str,
    group: &str,
    want: &[String],
    end: i64,
) -> anyhow::Result<BaseConsumer> {
    tokio::task::block_in_place(|| {
        let c = group_client(bootstrap, group)?;
        c.subscribe(&["orders"])?;
        let deadline = Instant::now() + DEADLINE;
        let mut got: Vec<(i64, String)> = Vec::new();
        // Joined and positioned: the group's committed offset, or the end.
        while Instant::now() < deadline && got.len() < want.len() {
            match c.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => got.push((
                    m.offset(),
                    String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                )),
                Some(Err(e)) => anyhow::bail!("{group}: {e}"),
                None => {
                    if want.is_empty() && !c.assignment()?.elements().is_empty() {
                        break;
                    }
                }
            }
        }
        let keys: Vec<String> = got.iter().map(|(_, k)| k.clone()).collect();
        anyhow::ensure!(keys == want, "{group} read {got:?}, expected {want:?}");
        if let Some((first, _)) = got.first() {
            anyhow::ensure!(
                end - first == want.len() as i64,
                "{group} started at {first}: {} more records than expected before the end {end}",
                end - first - want.len() as i64
            );
        }
        Ok(c)
    })
}

/// `ConsumerOffsetSync` in the link's task list.
fn offset_task(api: &Api) -> anyhow::Result<Value> {
    let r = api.get(&format!("{CLUSTERS}/dst/links/east?include_tasks=true"))?;
    anyhow::ensure!(r.status == 200, "link: {r}");
    r.json["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["task_name"] == "ConsumerOffsetSync"))
        .cloned()
        .with_context(|| format!("no ConsumerOffsetSync task: {r}"))
}

async fn wait_task(
    api: &Api,
    gw: &Gateway,
    what: &str,
    f: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut last = Value::Null;
    while start.elapsed() < DEADLINE {
        last = offset_task(api)?;
        if f(&last) {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("task {what}: last {last}\n{}", gw.log_tail(40))
}

/// A mirror started at `latest` with a record filter: groups committed on
/// the source at several positions move to the destination so that a
/// librdkafka consumer of the group reads exactly the mirrored records from
/// its source position on (below the mirror's start: from its first record;
/// on a dropped record: from the next mirrored one; at the end: nothing).
/// Prefixed include and literal exclude filters are respected, and a group
/// that no filter includes is not synced until `configs:alter` adds it on
/// the running link. A group with a member on the destination is not
/// overwritten and the task reports it `IN_ERROR` (`NON_EMPTY_GROUP`); once
/// the member left it is synced again. A group reset backwards on the
/// source moves back on the destination. Promote syncs the promoted
/// topic's groups one last time before the mirror is `STOPPED`. The task's
/// metrics count what it synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_translate_through_a_non_identity_map() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, PLUGINS, DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_topic(&s, "orders", 1, &[]).await?;
    produce(&s, "orders", &records(0, BEFORE), "none").await?;
    create_link(
        &api,
        &gw,
        "dst",
        "east",
        &[
            ("bootstrap.servers", &s),
            ("mirror.start.offset.spec", "latest"),
            ("linkgate.record.transforms", "no-debug"),
            ("consumer.offset.sync.enable", "true"),
            ("consumer.offset.sync.ms", "300"),
            ("consumer.offset.group.filters", FILTERS),
        ],
        DEADLINE,
    )
    .await?;
    let r = api
        .post_retrying(
            &format!("{CLUSTERS}/dst/links/east/mirrors"),
            Some(&json!({ "source_topic_name": "orders" })),
            DEADLINE,
        )
        .await?;
    anyhow::ensure!(r.status == 204, "create mirror: {r}");
    api.wait_for(
        &format!("{CLUSTERS}/dst/links/east/mirrors/orders"),
        DEADLINE,
        |r| {
            r.status == 200
                && r.json["mirror_status"] == "ACTIVE"
                && r.json["mirror_lags"][0]["last_source_fetch_offset"] == BEFORE
        },
    )
    .await
    .with_context(|| gw.log_tail(40))?;
    produce(&s, "orders", &records(BEFORE, TOTAL), "none").await?;
    let end = translated(TOTAL);
    linkgate_tests::wait_until("the mirror to land every record", DEADLINE, || async {
        fetch_watermarks(&d, "orders", 0)
            .await
            .is_ok_and(|(_, high)| high == end)
    })
    .await
    .with_context(|| gw.log_tail(40))?;

    let positions = [
        ("app-low", 5),
        ("app-mid", 25),
        ("app-gap", 27),
        ("app-end", TOTAL),
    ];
    for (group, at) in positions {
        commit(&s, group, at)?;
    }
    commit(&s, "app-skip", 25)?;
    commit(&s, "other", 25)?;
    for (group, at) in positions {
        wait_committed(&d, group, translated(at), &gw).await?;
    }
    assert_eq!(committed(&d, "app-skip")?, None, "excluded group synced");
    assert_eq!(
        committed(&d, "other")?,
        None,
        "group outside the filters synced"
    );
    for (group, at) in [("app-low", 5), ("app-gap", 27), ("app-end", TOTAL)] {
        drop(read_as_group(&d, group, &keys_from(at), end)?);
    }

    // A member on the destination: not overwritten, reported.
    let member = read_as_group(&d, "app-mid", &keys_from(25), end)?;
    commit(&s, "app-mid", 30)?;
    let task = wait_task(&api, &gw, "IN_ERROR for app-mid", |t| {
        t["state"] == "IN_ERROR"
            && t["errors"].as_array().is_some_and(|e| {
                e.iter().any(|e| {
                    e["error_code"] == "NON_EMPTY_GROUP"
                        && e["error_message"]
                            .as_str()
                            .is_some_and(|m| m.contains("app-mid"))
                })
            })
    })
    .await?;
    assert_eq!(committed(&d, "app-mid")?, Some(translated(25)), "{task}");
    drop(tokio::task::block_in_place(|| {
        member.unsubscribe();
        member
    }));
    wait_committed(&d, "app-mid", translated(30), &gw).await?;
    wait_task(&api, &gw, "ACTIVE again", |t| t["state"] == "ACTIVE").await?;

    // A reset backwards on the source is followed.
    commit(&s, "app-end", 22)?;
    wait_committed(&d, "app-end", translated(22), &gw).await?;

    // The filter changed on the running link takes effect at the next sync.
    let r = api.put(
        &format!("{CLUSTERS}/dst/links/east/configs:alter"),
        &json!({"data": [{"name": "consumer.offset.group.filters", "value": FILTERS_WITH_OTHER}]}),
    )?;
    anyhow::ensure!(r.status == 204, "alter filters: {r}");
    wait_committed(&d, "other", translated(25), &gw).await?;
    assert_eq!(committed(&d, "app-skip")?, None, "excluded group synced");
    let log = std::fs::read_to_string(gw.log_path())?;
    assert!(
        log.contains("applied without a restart") && !log.contains("link restarted"),
        "the filter change restarted the link"
    );
    let labels = [("link", "east"), ("task", "ConsumerOffsetSync")];
    assert!(
        gw.metric_value("linkgate_link_task_items_synced_total", &labels)
            .is_some_and(|v| v >= 7.0),
        "items synced metric"
    );
    assert!(
        gw.metric_value("linkgate_link_task_last_run_timestamp_seconds", &labels)
            .is_some_and(|v| v > 0.0),
        "last run metric"
    );

    // Promote runs a last sync of the promoted topic's groups: with the
    // next periodic sync ten minutes away, the group committed just before
    // the promote is on the destination once the mirror is STOPPED.
    let r = api.put(
        &format!("{CLUSTERS}/dst/links/east/configs:alter"),
        &json!({"data": [{"name": "consumer.offset.sync.ms", "value": "600000"}]}),
    )?;
    anyhow::ensure!(r.status == 204, "alter interval: {r}");
    commit(&s, "app-low", 30)?;
    let r = api.post(
        &format!("{CLUSTERS}/dst/links/east/mirrors:promote"),
        Some(&json!({ "mirror_topic_names": ["orders"] })),
    )?;
    anyhow::ensure!(
        r.status == 200 && r.json["data"][0]["error_code"].is_null(),
        "promote: {r}"
    );
    api.wait_for(
        &format!("{CLUSTERS}/dst/links/east/mirrors/orders"),
        DEADLINE,
        |r| r.status == 200 && r.json["mirror_status"] == "STOPPED",
    )
    .await
    .with_context(|| gw.log_tail(40))?;
    assert_eq!(
        committed(&d, "app-low")?,
        Some(translated(30)),
        "final sync before STOPPED\n{}",
        gw.log_tail(40)
    );
    Ok(())
}

/// `linkgate group migrate` end to end: refused while the group has a
/// member on the source; `--validate-only` shows the translated offsets and
/// changes nothing; then the group is synced, checked at its translated
/// offset on the destination and taken out of the sync (a later commit on
/// the source is not synced), and a librdkafka consumer of the group on
/// the destination reads on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_migrate_end_to_end() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_topic(&s, "orders", 1, &[]).await?;
    let all: Vec<TestRecord> = (0..10)
        .map(|i| {
            TestRecord::new(
                0,
                Some(format!("k{i}").as_bytes()),
                Some(b"v"),
                now_ms() - 1000 + i,
            )
        })
        .collect();
    produce(&s, "orders", &all, "none").await?;
    create_link(
        &api,
        &gw,
        "dst",
        "east",
        &[
            ("bootstrap.servers", &s),
            ("consumer.offset.sync.enable", "true"),
            ("consumer.offset.sync.ms", "300"),
            (
                "consumer.offset.group.filters",
                r#"{"groupFilters":[{"name":"*"}]}"#,
            ),
        ],
        DEADLINE,
    )
    .await?;
    let r = api
        .post_retrying(
            &format!("{CLUSTERS}/dst/links/east/mirrors"),
            Some(&json!({ "source_topic_name": "orders" })),
            DEADLINE,
        )
        .await?;
    anyhow::ensure!(r.status == 204, "create mirror: {r}");
    linkgate_tests::wait_until("the mirror to land every record", DEADLINE, || async {
        fetch_watermarks(&d, "orders", 0)
            .await
            .is_ok_and(|(_, high)| high == 10)
    })
    .await
    .with_context(|| gw.log_tail(40))?;

    // A member on the source: refused.
    let member = tokio::task::block_in_place(|| -> anyhow::Result<BaseConsumer> {
        let c = group_client(&s, "mover")?;
        c.subscribe(&["orders"])?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("orders", 0, Offset::Offset(6))?;
        let deadline = Instant::now() + DEADLINE;
        while c.assignment()?.elements().is_empty() && Instant::now() < deadline {
            c.poll(Duration::from_millis(100));
        }
        c.commit(&tpl, CommitMode::Sync)?;
        Ok(c)
    })?;
    let base = api.base().to_string();
    let cli = |args: &[&str]| linkgate_tests::run_cli(args, &base, None);
    let migrate = [
        "group", "migrate", "--link", "east", "--group", "mover", "--output", "json",
    ];
    let refused = cli(&migrate)?;
    assert!(
        !refused.success() && refused.stderr.contains("member(s) on the source"),
        "{refused}"
    );
    drop(tokio::task::block_in_place(|| {
        member.unsubscribe();
        member
    }));

    // Validate only: the plan, nothing changed (polled until the source
    // group's member has left).
    let mut validate: Vec<&str> = migrate.to_vec();
    validate.push("--validate-only");
    let start = Instant::now();
    let plan = loop {
        let run = cli(&validate)?;
        if run.success() {
            break run.json()?;
        }
        anyhow::ensure!(start.elapsed() < DEADLINE, "validate-only: {run}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(plan["migrated"], false, "{plan}");
    assert_eq!(plan["validate_only"], true, "{plan}");
    assert_eq!(plan["partitions"][0]["source_offset"], 6, "{plan}");
    assert_eq!(plan["partitions"][0]["translated_offset"], 6, "{plan}");

    // Migrate: synced, checked, out of the sync.
    let done = cli(&migrate)?;
    anyhow::ensure!(done.success(), "{done}");
    let done = done.json()?;
    assert_eq!(done["migrated"], true, "{done}");
    assert_eq!(done["destination_group_name"], "mover", "{done}");
    assert_eq!(done["partitions"][0]["destination_offset"], 6, "{done}");
    assert!(
        done["next_steps"][0]
            .as_str()
            .is_some_and(|s| s.contains("Start the consumers")),
        "{done}"
    );
    assert_eq!(committed(&d, "mover")?, Some(6));

    // A later commit on the source is no longer synced: two full runs of
    // the task after it leave the destination where it was.
    commit(&s, "mover", 8)?;
    let labels = [("link", "east"), ("task", "ConsumerOffsetSync")];
    let runs_seen = |gw: &Gateway| gw.metric_value("linkgate_link_task_run_seconds_count", &labels);
    let before = runs_seen(&gw).unwrap_or(0.0);
    linkgate_tests::wait_until("two more sync runs", DEADLINE, || async {
        runs_seen(&gw).is_some_and(|n| n >= before + 2.0)
    })
    .await?;
    assert_eq!(
        committed(&d, "mover")?,
        Some(6),
        "a migrated group was synced again\n{}",
        std::fs::read_to_string(gw.log_path())?
            .lines()
            .filter(|l| l.contains("mover") || l.contains("restart") || l.contains("link started"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The group's consumer on the destination reads on from offset 6.
    let c = read_as_group(&d, "mover", &["k6", "k7", "k8", "k9"].map(String::from), 10)?;
    drop(c);
    Ok(())
}

/// The `[[plugins]]` entry of the user-written group filter fixture
/// (`plugins/testing/group-suffix`, built by `tests/bin/build-plugins.sh`):
/// plugin `dr-only` syncs the groups ending `-dr` and traps on group
/// `app-boom-dr`.
fn dr_only_plugin() -> anyhow::Result<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target/wasm32-wasip2/release/linkgate_test_group_suffix.wasm");
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: run tests/bin/build-plugins.sh",
        path.display()
    );
    let path = path.canonicalize()?;
    Ok(format!(
        r#"
[[plugins]]
name = "dr-only"
path = {path:?}
kind = "group-filter"
timeout_ms = 5000
[plugins.config]
suffix = "-dr"
"trap.group" = "app-boom-dr"
"#,
        path = path.display().to_string()
    ))
}

/// A user-written group filter plugin in the link's group filter chain
/// (`linkgate.group.filters`), after the JSON filters' bundled plugin:
/// only the groups both include are synced (`app-a-dr`; not `app-b`, which
/// only the JSON includes, nor `other-dr`, which only the plugin does).
/// The plugin trapping on one group (`app-boom-dr`) puts the task
/// `IN_ERROR` with `PLUGIN_ERROR` naming that group, while the other
/// groups go on being synced. Taking the plugin out of the chain with
/// `configs:alter` on the running link (no restart) makes the JSON alone
/// decide at the next sync: `app-b` and `app-boom-dr` are synced, the
/// task is `ACTIVE` again, and `other-dr` stays out. Every offset is
/// checked with librdkafka on the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_group_filter_plugin_changes_which_groups_are_synced() -> anyhow::Result<()> {
    let (src, dst, gw, api, _) = start_pair(None, &dr_only_plugin()?, DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    create_topic(&s, "orders", 1, &[]).await?;
    let all: Vec<TestRecord> = (0..10)
        .map(|i| {
            TestRecord::new(
                0,
                Some(format!("k{i}").as_bytes()),
                Some(b"v"),
                now_ms() - 1000 + i,
            )
        })
        .collect();
    produce(&s, "orders", &all, "none").await?;
    create_link(
        &api,
        &gw,
        "dst",
        "east",
        &[
            ("bootstrap.servers", &s),
            ("consumer.offset.sync.enable", "true"),
            ("consumer.offset.sync.ms", "300"),
            (
                "consumer.offset.group.filters",
                r#"{"groupFilters":[{"name":"app-","patternType":"PREFIXED","filterType":"INCLUDE"}]}"#,
            ),
            ("linkgate.group.filters", "dr-only"),
        ],
        DEADLINE,
    )
    .await?;
    let r = api
        .post_retrying(
            &format!("{CLUSTERS}/dst/links/east/mirrors"),
            Some(&json!({ "source_topic_name": "orders" })),
            DEADLINE,
        )
        .await?;
    anyhow::ensure!(r.status == 204, "create mirror: {r}");
    linkgate_tests::wait_until("the mirror to land every record", DEADLINE, || async {
        fetch_watermarks(&d, "orders", 0)
            .await
            .is_ok_and(|(_, high)| high == 10)
    })
    .await
    .with_context(|| gw.log_tail(40))?;

    // The mirror starts at offset 0 with no gaps: destination offsets
    // equal source offsets.
    commit(&s, "app-a-dr", 4)?;
    commit(&s, "app-b", 5)?;
    commit(&s, "other-dr", 6)?;
    commit(&s, "app-boom-dr", 7)?;
    wait_committed(&d, "app-a-dr", 4, &gw).await?;
    let task = wait_task(&api, &gw, "IN_ERROR for app-boom-dr", |t| {
        t["state"] == "IN_ERROR"
            && t["errors"].as_array().is_some_and(|e| {
                e.iter().any(|e| {
                    e["error_code"] == "PLUGIN_ERROR"
                        && e["error_message"].as_str().is_some_and(|m| {
                            m.contains("'app-boom-dr'")
                                && m.contains("dr-only")
                                && m.contains("trap group app-boom-dr")
                        })
                })
            })
    })
    .await?;
    assert_eq!(
        task["errors"].as_array().map(Vec::len),
        Some(1),
        "only the trapping group is in error: {task}"
    );
    // The sync goes on around the failing group.
    commit(&s, "app-a-dr", 8)?;
    wait_committed(&d, "app-a-dr", 8, &gw).await?;
    assert_eq!(committed(&d, "app-b")?, None, "the user filter says no");
    assert_eq!(committed(&d, "other-dr")?, None, "the JSON filter says no");
    assert_eq!(committed(&d, "app-boom-dr")?, None, "its filter failed");

    // Out of the chain on the running link: the JSON alone decides.
    let r = api.put(
        &format!("{CLUSTERS}/dst/links/east/configs:alter"),
        &json!({"data": [{"name": "linkgate.group.filters", "operation": "DELETE"}]}),
    )?;
    anyhow::ensure!(r.status == 204, "alter chain: {r}");
    wait_committed(&d, "app-b", 5, &gw).await?;
    wait_committed(&d, "app-boom-dr", 7, &gw).await?;
    wait_task(&api, &gw, "ACTIVE again", |t| t["state"] == "ACTIVE").await?;
    assert_eq!(committed(&d, "other-dr")?, None, "the JSON filter says no");
    let log = std::fs::read_to_string(gw.log_path())?;
    assert!(
        log.contains("applied without a restart") && !log.contains("link restarted"),
        "the chain change restarted the link"
    );
    Ok(())
}
