//! `scale`: one gateway mirroring many partitions, for its memory and idle
//! CPU cost. Run by `tests/bin/scale.sh` (release build); not part of the
//! default tests.
//!
//! Two nisshi brokers (memory storage) on 127.0.0.1. The source gets
//! `LINKGATE_SCALE_TOPICS` topics (default 200) of
//! `LINKGATE_SCALE_PARTITIONS` partitions (default 10), one record in each
//! partition (librdkafka). Then, with the release gateway:
//! 1. **baseline**: the link mirroring one of those topics; its resident
//!    memory (`VmRSS`, proc(5)) once that topic caught up and after a settle
//!    time.
//! 2. **scale**: the link mirroring every topic; resident memory and CPU
//!    time once every partition caught up (`linkgate_mirror_records_total`
//!    equals the partition count) and after the same settle time, then CPU
//!    over an idle window of `LINKGATE_SCALE_IDLE_S` seconds (default 30).
//!
//! Printed: memory per mirrored partition (scale RSS - baseline RSS, over
//! the partitions added; goal <= 16 KiB) and idle CPU in % of one core
//! (goal < 2%).

use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::prometheus::metric_value;
use linkgate_tests::{create_topic, link_config, Broker, Gateway, GATEWAY_LOG_ENV};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Wait after catching up before memory is read (allocator and metrics
/// settle; the idle window starts after it).
const SETTLE: Duration = Duration::from_secs(5);
/// Bound on each wait for a gateway to catch up.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(600);

fn number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .with_context(|| format!("{name}={v:?} is not an integer >= 1")),
        _ => Ok(default),
    }
}

fn topic_name(i: u64) -> String {
    format!("scale-{i:04}")
}

/// `(VmRSS in KiB, utime + stime in seconds)` of process `pid` (proc(5)).
fn sample(pid: u32, ticks_per_second: f64) -> anyhow::Result<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat
        .get(stat.rfind(')').context("stat")? + 1..)
        .unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: u64 = fields
        .get(11)
        .and_then(|v| v.parse().ok())
        .context("utime")?;
    let stime: u64 = fields
        .get(12)
        .and_then(|v| v.parse().ok())
        .context("stime")?;
    Ok((rss, (utime + stime) as f64 / ticks_per_second))
}

fn ticks_per_second() -> anyhow::Result<f64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()?;
    let ticks: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
    anyhow::ensure!(ticks > 0.0, "CLK_TCK 0");
    Ok(ticks)
}

/// Starts a gateway mirroring `topics` and waits until it mirrored
/// `records` records, then `SETTLE`. Returns the gateway and the time it
/// took to catch up.
fn mirror(
    src: &Broker,
    dst: &Broker,
    topics: &[String],
    records: u64,
) -> anyhow::Result<(Gateway, Duration)> {
    let list = topics
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = link_config(
        src,
        dst,
        "scale",
        "",
        &format!("mirror_topics = [{list}]"),
        "\"mirror.start.offset.spec\" = \"earliest\"",
    );
    let start = Instant::now();
    let gateway = Gateway::start(&config).context("starting linkgate")?;
    let mut last = 0.0;
    loop {
        let mirrored = gateway
            .metrics()
            .ok()
            .and_then(|t| metric_value(&t, "linkgate_mirror_records_total", &[]))
            .unwrap_or(0.0);
        if mirrored >= records as f64 {
            break;
        }
        if mirrored > last {
            last = mirrored;
        }
        anyhow::ensure!(
            start.elapsed() < CATCH_UP_DEADLINE,
            "{last} of {records} records mirrored after {CATCH_UP_DEADLINE:?}\n{}",
            gateway.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let caught_up = start.elapsed();
    std::thread::sleep(SETTLE);
    Ok((gateway, caught_up))
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os(GATEWAY_LOG_ENV).is_none() {
        std::env::set_var(GATEWAY_LOG_ENV, "warn");
    }
    let topics = number("LINKGATE_SCALE_TOPICS", 200)?;
    let partitions = i32::try_from(number("LINKGATE_SCALE_PARTITIONS", 10)?)?;
    let idle = Duration::from_secs(number("LINKGATE_SCALE_IDLE_S", 30)?);
    let ticks = ticks_per_second()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let src = Broker::start("scale-src")?;
    let dst = Broker::start("scale-dst")?;
    let names: Vec<String> = (0..topics).map(topic_name).collect();
    eprintln!("[scale] creating {topics} topics x {partitions} partitions on the source, one record per partition");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", src.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("log_level", "3")
        .create()
        .context("creating producer")?;
    rt.block_on(async {
        for t in &names {
            create_topic(&src.bootstrap(), t, partitions, &[]).await?;
        }
        let mut deliveries = Vec::new();
        for t in &names {
            for p in 0..partitions {
                let key = format!("{t}/{p}");
                let record = FutureRecord::to(t).partition(p).key(&key).payload("scale");
                deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
            }
        }
        for d in deliveries {
            d.await
                .context("delivery cancelled")?
                .map_err(|(e, _)| e)
                .context("delivery failed")?;
        }
        anyhow::Ok(())
    })?;
    let total = topics * partitions as u64;

    eprintln!("[scale] baseline: the link mirroring one topic ({partitions} partitions)");
    let (base_rss, _) = {
        let (gw, _) = mirror(&src, &dst, &names[..1], partitions as u64)?;
        sample(gw.pid().context("pid")?, ticks)?
    };
    // A fresh destination for the full run.
    drop(dst);
    let dst = Broker::start("scale-dst2")?;
    eprintln!("[scale] scale: the link mirroring {topics} topics = {total} partitions");
    let (gw, caught_up) = mirror(&src, &dst, &names, total)?;
    let pid = gw.pid().context("pid")?;
    let (rss, cpu0) = sample(pid, ticks)?;
    eprintln!(
        "[scale]   caught up in {:.1} s; idle window {idle:?}",
        caught_up.as_secs_f64()
    );
    let fetches = |gw: &Gateway| {
        gw.metrics()
            .ok()
            .and_then(|t| metric_value(&t, "linkgate_fetch_latency_seconds_count", &[]))
            .unwrap_or(0.0)
    };
    let fetches0 = fetches(&gw);
    let t0 = Instant::now();
    std::thread::sleep(idle);
    let (rss_after, cpu1) = sample(pid, ticks)?;
    let fetch_rate = (fetches(&gw) - fetches0) / t0.elapsed().as_secs_f64();
    let idle_cpu = (cpu1 - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let added = total.saturating_sub(partitions as u64).max(1);
    let per_partition = (rss.max(rss_after) as f64 - base_rss as f64) / added as f64;
    println!();
    println!("linkgate scale run: {topics} topics x {partitions} partitions = {total} mirrored partitions, one link");
    println!(
        "  resident memory, 1 topic mirrored:       {:>8} KiB",
        base_rss
    );
    println!("  resident memory, all mirrored:           {:>8} KiB (after the idle window: {rss_after} KiB)", rss);
    println!(
        "  memory per mirrored partition:           {per_partition:>8.1} KiB  (goal <= 16 KiB)"
    );
    println!(
        "  idle CPU over {:>3} s:                     {idle_cpu:>8.2} % of a core  (goal < 2%)",
        idle.as_secs()
    );
    println!("  Fetch requests while idle:               {fetch_rate:>8.2} per s");
    println!(
        "  caught up (one record per partition) in: {:>8.1} s",
        caught_up.as_secs_f64()
    );
    Ok(())
}
