//! `soak`: a long run of one gateway mirroring at a fixed rate while it is
//! killed (`kill -9`) and restarted periodically and its record plugin is
//! swapped, then a record-by-record comparison of source and destination.
//! Run by `tests/bin/soak.sh`; not part of the default tests.
//!
//! Knobs (environment): `LINKGATE_SOAK_MINUTES` (default 30),
//! `LINKGATE_SOAK_RATE` (records/s, default 1000), `LINKGATE_SOAK_KILL_S`
//! (seconds between kills, default 300), `LINKGATE_SOAK_SWAP_S` (seconds
//! between plugin swaps, default 120), `LINKGATE_SOAK_PLUGINS` (directory of
//! the test plugins, default `plugins/target/wasm32-wasip2/release`).
//!
//! Memory and file descriptors are sampled from `/proc` a fixed time after
//! each start (`LINKGATE_SOAK_KILL_S` minus 10 s, before the kill), so each
//! instance is measured at the same age: a gateway whose start-up state or
//! leaks grow over the run shows here. Fails (exit 1) when the resident set
//! at the last sample exceeds 1.5 x the first plus 32 MiB, when the open
//! descriptors grew by more than 16, or when the destination differs from
//! the source in any record (key, value, headers without the plugin's tag,
//! timestamp, order) or in count.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::{
    client_config, consume_partition, create_topic, fetch_watermarks, first_difference,
    link_config, now_ms, wait_until, Broker, ClientSecurity, Gateway, TestRecord,
};
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "soak";
const PARTITIONS: i32 = 4;
/// The header the `tag` test plugin adds; stripped before comparing.
const TAG: &str = "linkgate-version";

fn env_u64(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().with_context(|| format!("{name}={v:?}")),
        _ => Ok(default),
    }
}

/// `(resident set in KiB, open file descriptors)` of process `pid`.
fn sample(pid: u32) -> anyhow::Result<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    Ok((rss, fds))
}

/// Replaces the plugin file atomically with `from`.
fn swap_plugin(from: &Path, to: &Path) -> anyhow::Result<()> {
    let staged = to.with_extension("wasm.new");
    std::fs::copy(from, &staged)?;
    std::fs::rename(&staged, to)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let minutes = env_u64("LINKGATE_SOAK_MINUTES", 30)?;
    let rate = env_u64("LINKGATE_SOAK_RATE", 1000)?.max(10);
    let kill_every = Duration::from_secs(env_u64("LINKGATE_SOAK_KILL_S", 300)?.max(20));
    let swap_every = Duration::from_secs(env_u64("LINKGATE_SOAK_SWAP_S", 120)?.max(5));
    let plugins = PathBuf::from(std::env::var("LINKGATE_SOAK_PLUGINS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../plugins/target/wasm32-wasip2/release"
        )
        .to_string()
    }));
    let keep_all = plugins.join("linkgate_test_keep_all.wasm");
    let tag = plugins.join("linkgate_test_tag.wasm");
    anyhow::ensure!(
        keep_all.is_file() && tag.is_file(),
        "test plugins missing in {}: run tests/bin/build-plugins.sh",
        plugins.display()
    );
    let run_for = Duration::from_secs(minutes * 60);
    println!(
        "[soak] {minutes} min at {rate} records/s, kill -9 every {} s, plugin swap every {} s",
        kill_every.as_secs(),
        swap_every.as_secs()
    );

    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    create_topic(&src.bootstrap(), TOPIC, PARTITIONS, &[]).await?;
    let dir = tempfile::tempdir()?;
    let plugin_path = dir.path().join("swap.wasm");
    std::fs::copy(&keep_all, &plugin_path)?;
    let plugin_table = format!(
        "[[plugins]]\nname = \"swap\"\npath = {:?}\nkind = \"record-transform\"\ntimeout_ms = 5000\n[plugins.config]\nversion = \"2\"\n",
        plugin_path.display().to_string()
    );
    let config = link_config(
        &src,
        &dst,
        "soak",
        &plugin_table,
        &format!("mirror_topics = [\"{TOPIC}\"]\nrecord_transforms = [\"swap\"]"),
        "",
    );
    let mut gateway = Gateway::start(&config)?;

    // Fixed-rate producer: every 100 ms a tenth of the rate, keyed, values
    // numbered; delivery failures only count (the source is the reference).
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let producer: FutureProducer = client_config(&src.bootstrap(), &ClientSecurity::plaintext())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "20")
        .create()
        .context("creating producer")?;
    let produce = {
        let stop = stop.clone();
        let failed = failed.clone();
        tokio::spawn(async move {
            let per_tick = (rate / 10).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut seq: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..per_tick {
                    let p = (seq % PARTITIONS as u64) as i32;
                    let key = format!("k{}", seq % 1000);
                    let value = format!("soak record {seq} {}", "x".repeat(64));
                    let record = FutureRecord::to(TOPIC)
                        .partition(p)
                        .key(key.as_bytes())
                        .payload(value.as_bytes())
                        .timestamp(now_ms());
                    match producer.send_result(record) {
                        Ok(delivery) => {
                            let failed = failed.clone();
                            tokio::spawn(async move {
                                if !matches!(delivery.await, Ok(Ok(_))) {
                                    failed.fetch_add(1, Ordering::Relaxed);
                                }
                            });
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    seq += 1;
                }
            }
            seq
        })
    };

    let started = Instant::now();
    let mut instance_started = Instant::now();
    let mut next_swap = Instant::now() + swap_every;
    let mut tagged = false;
    let mut sampled = false;
    let mut samples: Vec<(u64, usize)> = Vec::new();
    let mut kills = 0;
    let mut swaps = 0;
    let sample_age = kill_every - Duration::from_secs(10);
    while started.elapsed() < run_for {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if !sampled && instance_started.elapsed() >= sample_age {
            let pid = gateway.pid().context("gateway not running")?;
            let s = sample(pid)?;
            println!(
                "[soak] {:>5} s  instance {:>2}  rss {:>7} KiB  fds {:>4}",
                started.elapsed().as_secs(),
                samples.len() + 1,
                s.0,
                s.1
            );
            samples.push(s);
            sampled = true;
        }
        if Instant::now() >= next_swap {
            swap_plugin(if tagged { &keep_all } else { &tag }, &plugin_path)?;
            tagged = !tagged;
            swaps += 1;
            next_swap = Instant::now() + swap_every;
        }
        if instance_started.elapsed() >= kill_every {
            gateway.kill9()?;
            gateway.restart()?;
            kills += 1;
            instance_started = Instant::now();
            sampled = false;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let produced = produce.await?;
    println!(
        "[soak] produced {produced} records ({} not acknowledged), {kills} kills, {swaps} plugin swaps",
        failed.load(Ordering::Relaxed)
    );

    // Equality: the destination catches up with the source, then every
    // record compares equal.
    let mut highs = Vec::new();
    for p in 0..PARTITIONS {
        highs.push(fetch_watermarks(&src.bootstrap(), TOPIC, p).await?.1);
    }
    wait_until("mirror caught up", Duration::from_secs(600), || async {
        let mut behind = false;
        for (p, high) in highs.iter().enumerate() {
            let d = fetch_watermarks(&dst.bootstrap(), TOPIC, p as i32)
                .await
                .map(|w| w.1)
                .unwrap_or(0);
            behind |= d < *high;
        }
        !behind
    })
    .await
    .with_context(|| gateway.log_tail(40))?;
    let strip = |records: Vec<(i64, TestRecord)>| -> Vec<TestRecord> {
        records
            .into_iter()
            .map(|(_, mut r)| {
                r.headers.retain(|(k, _)| k != TAG);
                r
            })
            .collect()
    };
    let mut problems = Vec::new();
    for (p, high) in highs.iter().enumerate() {
        let p = p as i32;
        let n = usize::try_from(*high).unwrap_or(0);
        let deadline = Duration::from_secs(600);
        let want = strip(consume_partition(&src.bootstrap(), TOPIC, p, n, deadline).await?);
        let got = strip(consume_partition(&dst.bootstrap(), TOPIC, p, n, deadline).await?);
        let (_, dst_high) = fetch_watermarks(&dst.bootstrap(), TOPIC, p).await?;
        if dst_high != *high {
            problems.push(format!(
                "{TOPIC}/{p}: destination high watermark {dst_high}, source {high}"
            ));
        }
        if let Some(d) = first_difference(&want, &got) {
            problems.push(format!("{TOPIC}/{p}: {d}"));
        }
        println!("[soak] {TOPIC}/{p}: {n} records compared");
    }

    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        let rss_limit = first.0 * 3 / 2 + 32 * 1024;
        if last.0 > rss_limit {
            problems.push(format!(
                "resident set grew from {} KiB to {} KiB (limit {rss_limit} KiB)",
                first.0, last.0
            ));
        }
        if last.1 > first.1 + 16 {
            problems.push(format!(
                "open file descriptors grew from {} to {}",
                first.1, last.1
            ));
        }
    } else {
        problems.push("no memory sample taken: the run is shorter than one kill interval".into());
    }
    if problems.is_empty() {
        println!("[soak] OK: every record mirrored once, in order; memory and descriptors flat");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("[soak] FAIL: {p}");
        }
        anyhow::bail!(
            "{} problem(s); gateway log tail:\n{}",
            problems.len(),
            gateway.log_tail(40)
        )
    }
}
