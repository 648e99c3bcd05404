//! End-to-end test of the mutating operator CLI: every `linkgate
//! link ...` and `linkgate mirror ...` command run once through the built
//! binary against a running gateway (real HTTP, real brokers, records read
//! back with librdkafka), `--output json` parsed and asserted, one table
//! checked, and failures checked by exit code and message.

use std::time::Duration;

use anyhow::Context;
use linkgate_tests::{
    consume_partition, create_topic, entry, free_port, list_topics, names, now_ms, produce,
    run_cli, start_pair, wait_until, CliRun, Gateway, TestRecord, CLUSTERS,
};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(90);

/// Runs the CLI; fails unless it exits 0.
fn ok(api: &str, args: &[&str]) -> anyhow::Result<CliRun> {
    let run = run_cli(args, api, None)?;
    anyhow::ensure!(run.success(), "{run}");
    Ok(run)
}

/// Runs the CLI with `--output json`; fails unless it exits 0; returns stdout as JSON.
fn json(api: &str, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    ok(api, &all)?.json()
}

/// Runs the CLI; fails unless it exits non-zero.
fn fails(api: &str, args: &[&str]) -> anyhow::Result<CliRun> {
    let run = run_cli(args, api, None)?;
    anyhow::ensure!(
        run.code.is_some_and(|c| c != 0),
        "expected a failure exit code: {run}"
    );
    Ok(run)
}

/// The `field` of the entry of a JSON array whose `key` is `name`.
fn field<'a>(list: &'a Value, key: &str, name: &str, field: &str) -> Option<&'a Value> {
    entry(list, key, name).map(|e| &e[field])
}

/// The arguments of `link alter --link east` followed by `extra`.
fn alter_east<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["link", "alter", "--link", "east"];
    args.extend_from_slice(extra);
    args
}

/// The `value` of property `name` of link `east` as listed by
/// `link describe --link east --output json` (`None` when not listed).
fn east_config(api: &str, name: &str) -> anyhow::Result<Option<Value>> {
    let configs = json(api, &["link", "describe", "--link", "east"])?;
    Ok(field(&configs, "name", name, "value").cloned())
}

/// `n` one-partition records with keys `k{from}..` and fixed timestamps.
fn records(from: usize, n: usize, base: i64) -> Vec<TestRecord> {
    (from..from + n)
        .map(|i| {
            TestRecord::new(
                0,
                Some(format!("k{i}").as_bytes()),
                Some(b"v"),
                base + i64::try_from(i).unwrap_or(0),
            )
        })
        .collect()
}

/// `mirror describe --link east --topics <topic> --output json` until the
/// mirror is `state` with every partition at lag 0 and
/// `last_source_fetch_offset` = `offset`.
async fn wait_described(
    api: &str,
    gw: &Gateway,
    topic: &str,
    state: &str,
    offset: i64,
) -> anyhow::Result<()> {
    let args = ["mirror", "describe", "--link", "east", "--topics", topic];
    wait_until(
        &format!("{topic} {state} at {offset}"),
        DEADLINE,
        || async {
            json(api, &args).is_ok_and(|j| {
                j[0]["mirror_status"] == state
                    && j[0]["mirror_lags"].as_array().is_some_and(|l| {
                        !l.is_empty()
                            && l.iter()
                                .all(|p| p["lag"] == 0 && p["last_source_fetch_offset"] == offset)
                    })
            })
        },
    )
    .await
    .with_context(|| format!("{:?}\n{}", json(api, &args), gw.log_tail(30)))
}

/// Every link and mirror command once through the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_manages_links_and_mirrors() -> anyhow::Result<()> {
    let (src, dst, gw, rest, _) = start_pair(None, "", DEADLINE)?;
    let (s, d) = (src.bootstrap(), dst.bootstrap());
    let api = rest.base();
    let base = now_ms() - 60_000;
    for t in ["orders", "slow", "auto.clicks"] {
        create_topic(&s, t, 1, &[]).await?;
        produce(&s, t, &records(0, 5, base), "none").await?;
    }
    let files = tempfile::tempdir()?;
    let props = files.path().join("link.properties");
    std::fs::write(
        &props,
        "# link properties\ncluster.link.prefix=east.\nmetadata.max.age.ms=1000\nauto.create.mirror.topics.enable=true\n",
    )?;
    let filters = files.path().join("filters.json");
    std::fs::write(
        &filters,
        r#"{"topicFilters": [{"name": "auto.", "patternType": "PREFIXED", "filterType": "INCLUDE"}]}"#,
    )?;
    let topic_props = files.path().join("topic.properties");
    std::fs::write(&topic_props, "cleanup.policy=delete\n")?;
    let topic_props_path = topic_props.to_str().context("utf-8 path")?;
    let bootstrap = format!("bootstrap.servers={s}");
    let props_path = props.to_str().context("utf-8 path")?;
    let filters_path = filters.to_str().context("utf-8 path")?;
    let create = [
        "link",
        "create",
        "--link",
        "east",
        "--cluster",
        "dst",
        "--config",
        &bootstrap,
        "--config-file",
        props_path,
        "--topic-filters-json-file",
        filters_path,
    ];

    // link create --validate-only: nothing created.
    let mut args = create.to_vec();
    args.push("--validate-only");
    let out = json(api, &args)?;
    assert_eq!(out["link_name"], "east", "{out}");
    assert_eq!(out["validate_only"], true, "{out}");
    assert_eq!(json(api, &["link", "list"])?, Value::Array(vec![]));

    // link create.
    let out = json(api, &create)?;
    assert_eq!(out["validate_only"], false, "{out}");
    wait_until("link east ACTIVE", DEADLINE, || async {
        json(api, &["link", "list"])
            .is_ok_and(|j| field(&j, "link_name", "east", "link_state") == Some(&"ACTIVE".into()))
    })
    .await
    .with_context(|| gw.log_tail(30))?;

    // Failure: unreachable bootstrap, exit code non-zero with the code.
    let closed = format!("bootstrap.servers=127.0.0.1:{}", free_port());
    let run = fails(
        api,
        &[
            "link",
            "create",
            "--link",
            "dead",
            "--cluster",
            "dst",
            "--config",
            &closed,
        ],
    )?;
    assert!(run.stdout.is_empty(), "{run}");
    assert!(
        run.stderr.contains("BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR"),
        "{run}"
    );
    // --exclude-validate-link creates it anyway.
    let out = json(
        api,
        &[
            "link",
            "create",
            "--link",
            "lazy",
            "--cluster",
            "dst",
            "--config",
            &closed,
            "--exclude-validate-link",
        ],
    )?;
    assert_eq!(out["link_name"], "lazy", "{out}");

    // link list: table and JSON with topics (auto.clicks auto-created).
    wait_until("auto-created east.auto.clicks", DEADLINE, || async {
        json(api, &["link", "list", "--include-topics"]).is_ok_and(|j| {
            field(&j, "link_name", "east", "topic_names")
                == Some(&serde_json::json!(["east.auto.clicks"]))
        })
    })
    .await
    .with_context(|| gw.log_tail(30))?;
    let table = ok(api, &["link", "list"])?;
    let row: Vec<&str> = table
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&"east"))
        .with_context(|| format!("no east row: {table}"))?;
    assert!(row.contains(&"ACTIVE"), "{table}");
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some("lazy")),
        "{table}"
    );

    // link describe: the properties given, from the file and the flags.
    let configs = json(api, &["link", "describe", "--link", "east"])?;
    let value = |name: &str| field(&configs, "name", name, "value").cloned();
    assert_eq!(
        value("cluster.link.prefix"),
        Some("east.".into()),
        "{configs}"
    );
    assert_eq!(
        value("bootstrap.servers"),
        Some(s.clone().into()),
        "{configs}"
    );
    assert_eq!(
        value("metadata.max.age.ms"),
        Some("1000".into()),
        "{configs}"
    );
    let stored: Value = value("auto.create.mirror.topics.filters")
        .and_then(|v| v.as_str().and_then(|t| serde_json::from_str(t).ok()))
        .with_context(|| format!("filters: {configs}"))?;
    assert_eq!(stored["topicFilters"][0]["name"], "auto.", "{configs}");

    // link task-list.
    let tasks = json(api, &["link", "task-list", "--link", "east"])?;
    assert_eq!(tasks.as_array().map(Vec::len), Some(4), "{tasks}");
    assert_eq!(
        field(&tasks, "task_name", "AutoCreateMirror", "state"),
        Some(&"ACTIVE".into()),
        "{tasks}"
    );
    assert_eq!(
        field(&tasks, "task_name", "ConsumerOffsetSync", "state"),
        Some(&"NOT_CONFIGURED".into()),
        "{tasks}"
    );

    // link alter: validate-only, set, delete, refused.
    let max_age = "metadata.max.age.ms";
    ok(
        api,
        &alter_east(&[
            "--add-config",
            "metadata.max.age.ms=2000",
            "--validate-only",
        ]),
    )?;
    assert_eq!(east_config(api, max_age)?, Some("1000".into()));
    let out = json(
        api,
        &alter_east(&["--add-config", "metadata.max.age.ms=2000"]),
    )?;
    assert_eq!(out["link_name"], "east", "{out}");
    assert_eq!(east_config(api, max_age)?, Some("2000".into()));
    ok(api, &alter_east(&["--delete-config", max_age]))?;
    assert_ne!(east_config(api, max_age)?, Some("2000".into()));
    let run = fails(
        api,
        &alter_east(&["--add-config", "cluster.link.prefix=west."]),
    )?;
    assert!(run.stderr.contains("cluster.link.prefix"), "{run}");

    // mirror create: validate-only, then for real; data arrives.
    let mirror = [
        "mirror",
        "create",
        "--mirror-topic",
        "east.orders",
        "--link",
        "east",
        "--source-topic",
        "orders",
    ];
    let mut args = mirror.to_vec();
    args.push("--validate-only");
    ok(api, &args)?;
    assert!(
        !list_topics(&d).await?.contains("east.orders"),
        "validate-only created it"
    );
    json(api, &mirror)?;
    let got = consume_partition(&d, "east.orders", 0, 5, DEADLINE).await?;
    let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
    linkgate_tests::assert_same_records(&records(0, 5, base), &got);
    ok(
        api,
        &[
            "mirror",
            "create",
            "--mirror-topic",
            "east.slow",
            "--link",
            "east",
            "--source-topic",
            "slow",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=7200000",
            "--config-file",
            topic_props_path,
        ],
    )?;
    linkgate_tests::assert_topic_configs(
        &d,
        "east.slow",
        &[("retention.ms", "7200000"), ("cleanup.policy", "delete")],
    )
    .await?;
    wait_described(api, &gw, "east.orders", "ACTIVE", 5).await?;
    wait_described(api, &gw, "east.slow", "ACTIVE", 5).await?;

    // mirror list.
    let list = json(api, &["mirror", "list", "--link", "east"])?;
    let mut names: Vec<&str> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["mirror_topic_name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    names.sort_unstable();
    assert_eq!(
        names,
        ["east.auto.clicks", "east.orders", "east.slow"],
        "{list}"
    );

    // mirror pause / unpause.
    let out = json(
        api,
        &["mirror", "pause", "--topics", "east.slow", "--link", "east"],
    )?;
    assert!(out[0]["error_code"].is_null(), "{out}");
    wait_until("east.slow PAUSED", DEADLINE, || async {
        json(
            api,
            &[
                "mirror",
                "describe",
                "--link",
                "east",
                "--topics",
                "east.slow",
            ],
        )
        .is_ok_and(|j| j[0]["mirror_status"] == "PAUSED")
    })
    .await?;
    produce(&s, "slow", &records(5, 2, base), "none").await?;

    // mirror promote: refused while lagging (exit non-zero, "lag").
    let run = fails(
        api,
        &[
            "mirror",
            "promote",
            "--topics",
            "east.slow",
            "--link",
            "east",
        ],
    )?;
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("lag"),
        "{run}"
    );
    json(
        api,
        &[
            "mirror",
            "unpause",
            "--topics",
            "east.slow",
            "--link",
            "east",
        ],
    )?;
    wait_described(api, &gw, "east.slow", "ACTIVE", 7).await?;

    // mirror promote (lag 0) and failover.
    let out = json(
        api,
        &[
            "mirror",
            "promote",
            "--topics",
            "east.orders",
            "--link",
            "east",
        ],
    )?;
    assert!(out[0]["error_code"].is_null(), "{out}");
    let out = json(api, &["mirror", "failover", "--topics", "east.slow"])?;
    assert!(out[0]["error_code"].is_null(), "{out}");
    for t in ["east.orders", "east.slow"] {
        wait_until(&format!("{t} STOPPED"), DEADLINE, || async {
            json(
                api,
                &["mirror", "describe", "--link", "east", "--topics", t],
            )
            .is_ok_and(|j| j[0]["mirror_status"] == "STOPPED")
        })
        .await
        .with_context(|| gw.log_tail(30))?;
    }
    let list = json(api, &["mirror", "list", "--link", "east"])?;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "stopped listed: {list}"
    );
    let list = json(api, &["mirror", "list", "--include-stopped"])?;
    assert_eq!(
        field(&list, "mirror_topic_name", "east.slow", "mirror_status"),
        Some(&"STOPPED".into()),
        "{list}"
    );
    // Promoted: a real client writes to it.
    produce(&d, "east.orders", &records(100, 1, base), "none").await?;

    // link delete: refused with an active mirror, forced works.
    let run = fails(api, &["link", "delete", "--link", "east"])?;
    assert!(run.stderr.contains("east.auto.clicks"), "{run}");
    ok(
        api,
        &[
            "link",
            "delete",
            "--link",
            "east",
            "--force",
            "--validate-only",
        ],
    )?;
    assert!(json(api, &["link", "list"])?
        .as_array()
        .is_some_and(|a| a.iter().any(|l| l["link_name"] == "east")));
    let out = json(api, &["link", "delete", "--link", "east", "--force"])?;
    assert_eq!(out["force"], true, "{out}");
    ok(api, &["link", "delete", "--link", "lazy"])?;
    assert_eq!(json(api, &["link", "list"])?, Value::Array(vec![]));
    let r = rest.get(&format!("{CLUSTERS}/-/links"))?;
    assert_eq!(r.json["data"], Value::Array(vec![]), "{r}");
    Ok(())
}

/// Against a gateway with `api_token`: a mutating command without a token
/// exits non-zero naming the 401 and changes nothing; with `--token` or
/// `LINKGATE_API_TOKEN` it succeeds; reading needs no token; the token is
/// never printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sends_the_bearer_token() -> anyhow::Result<()> {
    const TOKEN: &str = "cli-t0k3n-93be";
    let (src, _dst, _gw, rest, _) = start_pair(Some(TOKEN), "", DEADLINE)?;
    let api = rest.base();
    let bootstrap = format!("bootstrap.servers={}", src.bootstrap());
    let create = |link: &'static str| {
        vec![
            "link".to_owned(),
            "create".to_owned(),
            "--link".to_owned(),
            link.to_owned(),
            "--cluster".to_owned(),
            "dst".to_owned(),
            "--config".to_owned(),
            bootstrap.clone(),
        ]
    };
    let args = create("east");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = fails(api, &args)?;
    assert!(run.stderr.contains("401"), "{run}");
    assert_eq!(json(api, &["link", "list"])?, Value::Array(vec![]));

    let run = run_cli(&args, api, Some(TOKEN))?;
    assert!(run.success(), "{run}");
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "{run}"
    );
    // The token from the environment.
    let args = create("west");
    let mut cmd = std::process::Command::new(linkgate_tests::gateway_bin());
    cmd.args(&args)
        .args(["--api", api])
        .env("LINKGATE_API_TOKEN", TOKEN)
        .env("RUST_LOG", "warn");
    let out = cmd.output()?;
    assert!(out.status.success(), "{out:?}");
    let list = json(api, &["link", "list"])?;
    let mut listed = names(&list, "link_name");
    listed.sort_unstable();
    assert_eq!(listed, ["east", "west"], "{list}");
    Ok(())
}
