//! End-to-end tests of WebAssembly plugins in the mirror pipeline, against
//! two real brokers, checked with librdkafka: a topic filter and a prefix
//! (served by the bundled plugins through Confluent's link properties), a
//! record filter, and a hot swap of a record plugin under load.
//!
//! The hot-swap test uses the test fixtures built by
//! `tests/bin/build-plugins.sh` (plugins/testing/keep-all and tag).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use linkgate_tests::{
    consume_partition, create_topic, fetch_watermarks, link_config, now_ms, partition_count,
    produce, random_payload, wait_until, Broker, Gateway, TestRecord,
};
use rand::{rngs::StdRng, SeedableRng};

const DEADLINE: Duration = Duration::from_secs(120);

fn records(rng: &mut StdRng, partitions: i32, per_partition: usize) -> Vec<TestRecord> {
    let ts = now_ms() - 60_000;
    let mut out = Vec::new();
    for i in 0..per_partition {
        for p in 0..partitions {
            out.push(TestRecord::new(
                p,
                Some(format!("k{p}-{i}").as_bytes()),
                Some(&random_payload(rng, 64)),
                ts + i as i64,
            ));
        }
    }
    out
}

async fn read_all(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    expected: usize,
) -> anyhow::Result<Vec<TestRecord>> {
    Ok(
        consume_partition(bootstrap, topic, partition, expected, DEADLINE)
            .await
            .with_context(|| format!("reading {topic}/{partition}"))?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
    )
}

/// `auto.create.mirror.topics.filters` (include a prefix, exclude a longer
/// prefix) with `cluster.link.prefix`: exactly the matching source topics
/// are mirrored, under prefixed names, including a topic created after the
/// gateway started (rescan every `metadata.max.age.ms`); nothing else
/// appears on the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_filter_and_prefix_choose_and_name_mirror_topics() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(1);
    let mut data = Vec::new();
    for topic in [
        "orders.eu",
        "orders.us",
        "orders.internal.audit",
        "payments",
    ] {
        create_topic(&src.bootstrap(), topic, 2, &[]).await?;
        let r = records(&mut rng, 2, 5);
        produce(&src.bootstrap(), topic, &r, "lz4").await?;
        data.push((topic, r));
    }
    let filters = r#"{"topicFilters":[{"name":"orders.","patternType":"PREFIXED","filterType":"INCLUDE"},{"name":"orders.internal","patternType":"PREFIXED","filterType":"EXCLUDE"}]}"#;
    let properties = format!(
        "\"auto.create.mirror.topics.enable\" = true\n\"auto.create.mirror.topics.filters\" = '{filters}'\n\"cluster.link.prefix\" = \"east.\"\n\"metadata.max.age.ms\" = 1000\n"
    );
    let gw = Gateway::start(&link_config(&src, &dst, "east", "", "", &properties))?;

    for (topic, r) in &data {
        let mirrored = topic.starts_with("orders.") && !topic.starts_with("orders.internal");
        if !mirrored {
            continue;
        }
        let name = format!("east.{topic}");
        for p in 0..2 {
            let want: Vec<TestRecord> = r.iter().filter(|x| x.partition == p).cloned().collect();
            let got = read_all(&dst.bootstrap(), &name, p, want.len())
                .await
                .with_context(|| gw.log_tail(30))?;
            linkgate_tests::assert_same_records(&want, &got);
        }
    }
    // A topic created later is picked up by the rescan.
    create_topic(&src.bootstrap(), "orders.asia", 1, &[]).await?;
    let late = records(&mut rng, 1, 4);
    produce(&src.bootstrap(), "orders.asia", &late, "zstd").await?;
    let got = read_all(&dst.bootstrap(), "east.orders.asia", 0, late.len())
        .await
        .with_context(|| gw.log_tail(30))?;
    linkgate_tests::assert_same_records(&late, &got);

    // Nothing else was mirrored, under any name.
    for name in [
        "payments",
        "east.payments",
        "orders.internal.audit",
        "east.orders.internal.audit",
        "orders.eu",
        "east.east.orders.eu",
    ] {
        assert_eq!(
            partition_count(&dst.bootstrap(), name).await?,
            None,
            "{name} must not exist on the destination"
        );
    }
    Ok(())
}

/// The bundled record-filter plugin on a link's record transform chain drops
/// exactly the records carrying a `debug` header; every other record arrives
/// unchanged and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_filter_drops_exactly_the_matching_records() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    let mut rng = StdRng::seed_from_u64(2);
    create_topic(&src.bootstrap(), "clicks", 2, &[]).await?;
    let mut all = records(&mut rng, 2, 60);
    for (i, r) in all.iter_mut().enumerate() {
        if i % 4 == 1 {
            *r = r.clone().with_header("debug", Some(b"1"));
        }
    }
    produce(&src.bootstrap(), "clicks", &all, "snappy").await?;
    let plugins = r#"
[[plugins]]
name = "no-debug"
bundled = "record-filter"
kind = "record-transform"
# generous: a loaded CI machine must not turn this test into a timeout test
timeout_ms = 5000
[plugins.config]
"drop.header" = "debug"
"#;
    let gw = Gateway::start(&link_config(
        &src,
        &dst,
        "east",
        plugins,
        "mirror_topics = [\"clicks\"]\nrecord_transforms = [\"no-debug\"]",
        "",
    ))?;
    for p in 0..2 {
        let want: Vec<TestRecord> = all
            .iter()
            .filter(|r| r.partition == p && !r.headers.iter().any(|(k, _)| k == "debug"))
            .cloned()
            .collect();
        let got = read_all(&dst.bootstrap(), "clicks", p, want.len())
            .await
            .with_context(|| gw.log_tail(30))?;
        linkgate_tests::assert_same_records(&want, &got);
        // Source fully consumed (lag 0) and nothing more on the destination.
        let p_s = p.to_string();
        wait_until("lag 0", DEADLINE, || async {
            gw.metric_value(
                "linkgate_mirror_lag_records",
                &[("topic", "clicks"), ("partition", &p_s)],
            ) == Some(0.0)
        })
        .await?;
        let (_, high) = fetch_watermarks(&dst.bootstrap(), "clicks", p).await?;
        assert_eq!(
            high as usize,
            want.len(),
            "clicks/{p}: dropped records must not be produced"
        );
    }
    Ok(())
}

/// A test fixture component (`plugins/testing/<name>`).
fn fixture(name: &str) -> PathBuf {
    built(&format!("linkgate_test_{name}.wasm"))
}

/// Hot swap of a record plugin while records flow: the plugin file changes
/// from keep-all to tag (adds a `linkgate-version` header) under load. Every
/// record arrives exactly once and in order, each processed by exactly one
/// version, and per partition the switch happens at one point (untagged
/// records, then only tagged ones).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_of_a_record_plugin_under_load_loses_and_duplicates_nothing() -> anyhow::Result<()>
{
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    const PARTITIONS: i32 = 3;
    create_topic(&src.bootstrap(), "events", PARTITIONS, &[]).await?;
    let dir = tempfile::tempdir()?;
    let plugin_path = dir.path().join("swap.wasm");
    std::fs::copy(fixture("keep_all"), &plugin_path)?;
    let plugins = format!(
        "[[plugins]]\nname = \"swap\"\npath = {:?}\nkind = \"record-transform\"\ntimeout_ms = 5000\n[plugins.config]\nversion = \"2\"\n",
        plugin_path.display().to_string()
    );
    let gw = Gateway::start(&link_config(
        &src,
        &dst,
        "east",
        &plugins,
        "mirror_topics = [\"events\"]\nrecord_transforms = [\"swap\"]",
        "",
    ))?;

    let mut rng = StdRng::seed_from_u64(3);
    let bursts: Vec<Vec<TestRecord>> = (0..16).map(|_| records(&mut rng, PARTITIONS, 40)).collect();
    let all: Vec<TestRecord> = bursts.iter().flatten().cloned().collect();
    let bootstrap = src.bootstrap();
    let (swapped_tx, mut swapped_rx) = tokio::sync::watch::channel(false);
    let producer = tokio::spawn(async move {
        for (i, burst) in bursts.iter().enumerate() {
            // Half the load before the swap, half after it was applied.
            if i == 8 {
                let _ = swapped_rx.wait_for(|s| *s).await;
            }
            produce(&bootstrap, "events", burst, "lz4").await?;
        }
        anyhow::Ok(())
    });
    // Swap while the first half flows: wait for some mirrored records first.
    wait_until("first records mirrored", DEADLINE, || async {
        gw.metric_value("linkgate_mirror_records_total", &[("topic", "events")])
            .unwrap_or(0.0)
            > 0.0
    })
    .await
    .with_context(|| gw.log_tail(30))?;
    let staged = dir.path().join("swap.wasm.new");
    std::fs::copy(fixture("tag"), &staged)?;
    std::fs::rename(&staged, &plugin_path)?; // atomic replace
    wait_until("plugin reloaded", DEADLINE, || async {
        gw.metric_value(
            "linkgate_plugin_reloads_total",
            &[("plugin", "swap"), ("result", "ok")],
        )
        .unwrap_or(0.0)
            >= 2.0
    })
    .await
    .with_context(|| gw.log_tail(30))?;
    swapped_tx.send(true)?;
    producer.await??;

    let mut tagged_total = 0;
    for p in 0..PARTITIONS {
        let want: Vec<TestRecord> = all.iter().filter(|r| r.partition == p).cloned().collect();
        let got = read_all(&dst.bootstrap(), "events", p, want.len())
            .await
            .with_context(|| gw.log_tail(30))?;
        let (_, high) = fetch_watermarks(&dst.bootstrap(), "events", p).await?;
        assert_eq!(high as usize, want.len(), "events/{p}: no duplicates");
        let tags: Vec<bool> = got
            .iter()
            .map(|r| {
                r.headers
                    .iter()
                    .any(|(k, v)| k == "linkgate-version" && v.as_deref() == Some(b"2"))
            })
            .collect();
        let switch = tags.iter().position(|t| *t).unwrap_or(tags.len());
        assert!(
            tags[switch..].iter().all(|t| *t),
            "events/{p}: untagged record after the switch at {switch}"
        );
        tagged_total += tags.len() - switch;
        let stripped: Vec<TestRecord> = got
            .into_iter()
            .map(|mut r| {
                r.headers.retain(|(k, _)| k != "linkgate-version");
                r
            })
            .collect();
        linkgate_tests::assert_same_records(&want, &stripped);
    }
    // The second half was produced after the swap, so it went through `tag`.
    assert!(
        tagged_total >= all.len() / 2,
        "only {tagged_total} records tagged"
    );
    assert!(
        tagged_total < all.len(),
        "the first records went through keep-all"
    );
    Ok(())
}

fn built(file: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target/wasm32-wasip2/release")
        .join(file);
    assert!(
        path.is_file(),
        "{} is missing: run tests/bin/build-plugins.sh",
        path.display()
    );
    path
}

/// A plugin file replaced by something that is not a component: the gateway
/// stays up, counts the failed reload and keeps filtering with the running
/// version. Then a config file edit changes the plugin's config: the plugin
/// is reloaded with it and the new rule applies to later records. Finally an
/// edit takes the plugin off the link's chain, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plugin_swap_keeps_the_running_version_and_config_reload_applies() -> anyhow::Result<()>
{
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    create_topic(&src.bootstrap(), "logs", 1, &[]).await?;
    let dir = tempfile::tempdir()?;
    let plugin_path = dir.path().join("filter.wasm");
    std::fs::copy(built("linkgate_record_filter.wasm"), &plugin_path)?;
    let plugins = |header: &str| {
        format!(
            "[[plugins]]\nname = \"f\"\npath = {:?}\nkind = \"record-transform\"\ntimeout_ms = 10000\n[plugins.config]\n\"drop.header\" = \"{header}\"\n",
            plugin_path.display().to_string()
        )
    };
    let config = link_config(
        &src,
        &dst,
        "east",
        &plugins("debug"),
        "mirror_topics = [\"logs\"]\nrecord_transforms = [\"f\"]",
        "",
    );
    let gw = Gateway::start(&config)?;
    let ts = now_ms();
    let batch = |tag: &str, n: i64| -> Vec<TestRecord> {
        (0..6)
            .map(|i| {
                let r = TestRecord::new(
                    0,
                    Some(format!("{tag}-{i}").as_bytes()),
                    Some(b"v"),
                    ts + n * 10 + i,
                );
                match i % 3 {
                    0 => r.with_header("debug", Some(b"1")),
                    1 => r.with_header("trace", Some(b"1")),
                    _ => r,
                }
            })
            .collect()
    };
    let keep = |rs: &[TestRecord], dropped: &str| -> Vec<TestRecord> {
        rs.iter()
            .filter(|r| !r.headers.iter().any(|(k, _)| k == dropped))
            .cloned()
            .collect()
    };
    let mut expected = Vec::new();
    let first = batch("a", 0);
    produce(&src.bootstrap(), "logs", &first, "none").await?;
    expected.extend(keep(&first, "debug"));
    linkgate_tests::assert_same_records(
        &expected,
        &read_all(&dst.bootstrap(), "logs", 0, expected.len()).await?,
    );

    // Not a component: the reload fails, the running version stays.
    std::fs::write(dir.path().join("filter.wasm.new"), b"not a wasm component")?;
    std::fs::rename(dir.path().join("filter.wasm.new"), &plugin_path)?;
    wait_until("failed reload counted", DEADLINE, || async {
        gw.metric_value(
            "linkgate_plugin_reloads_total",
            &[("plugin", "f"), ("result", "failed")],
        )
        .unwrap_or(0.0)
            >= 1.0
    })
    .await
    .with_context(|| gw.log_tail(30))?;
    let second = batch("b", 1);
    produce(&src.bootstrap(), "logs", &second, "none").await?;
    expected.extend(keep(&second, "debug"));
    linkgate_tests::assert_same_records(
        &expected,
        &read_all(&dst.bootstrap(), "logs", 0, expected.len()).await?,
    );

    // Restore the component, then change its config in the config file.
    std::fs::copy(
        built("linkgate_record_filter.wasm"),
        dir.path().join("filter.wasm.new"),
    )?;
    std::fs::rename(dir.path().join("filter.wasm.new"), &plugin_path)?;
    let edited = config.replace(&plugins("debug"), &plugins("trace"));
    assert_ne!(edited, config);
    std::fs::write(gw.config_path(), edited)?;
    wait_until("config reloaded", DEADLINE, || async {
        gw.metric_value("linkgate_config_reloads_total", &[("result", "ok")])
            .unwrap_or(0.0)
            >= 1.0
    })
    .await
    .with_context(|| gw.log_tail(30))?;
    let third = batch("c", 2);
    produce(&src.bootstrap(), "logs", &third, "none").await?;
    expected.extend(keep(&third, "trace"));
    linkgate_tests::assert_same_records(
        &expected,
        &read_all(&dst.bootstrap(), "logs", 0, expected.len()).await?,
    );

    // Take the plugin off the link's chain: later records all pass.
    let unchained = std::fs::read_to_string(gw.config_path())?
        .replace("record_transforms = [\"f\"]", "record_transforms = []");
    std::fs::write(gw.config_path(), unchained)?;
    wait_until("second config reload", DEADLINE, || async {
        gw.metric_value("linkgate_config_reloads_total", &[("result", "ok")])
            .unwrap_or(0.0)
            >= 2.0
    })
    .await
    .with_context(|| gw.log_tail(30))?;
    let fourth = batch("d", 3);
    produce(&src.bootstrap(), "logs", &fourth, "none").await?;
    expected.extend(fourth);
    linkgate_tests::assert_same_records(
        &expected,
        &read_all(&dst.bootstrap(), "logs", 0, expected.len()).await?,
    );
    let (_, high) = fetch_watermarks(&dst.bootstrap(), "logs", 0).await?;
    assert_eq!(high as usize, expected.len());
    Ok(())
}
