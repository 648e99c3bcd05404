//! `bench`: linkgate's throughput and CPU cost next to a MirrorMaker-2-style
//! baseline and the destination's raw ingest rate, all measured in one run on
//! the same machine and printed with their ratios. Run by
//! `tests/bin/bench.sh` (which installs the broker and builds release first).
//!
//! Phases, each on fresh nisshi brokers (memory storage) on 127.0.0.1:
//! 1. **ceiling**: a librdkafka producer (lz4, acks=all, idempotent, 1 MB
//!    batches, 10 ms linger) writes the volume to an empty broker; wall time
//!    from the first send to the last delivery report. The source is then
//!    filled the same way (printed as a second ceiling sample).
//! 2. **linkgate**: the release `linkgate` binary mirrors the topic
//!    (`mirror.start.offset.spec = earliest`) to an empty broker; wall time
//!    from the process start until the destination high watermarks of all
//!    partitions equal the source's (polled every 100 ms); CPU is the gateway
//!    process's utime+stime. 13 records of every partition are then compared
//!    on both sides (offset, key, value, headers, timestamp).
//! 3. **baseline**: [`replicator`] in this process copies the same source
//!    to another empty broker, timed the same way; CPU is this process's
//!    utime+stime over the phase (it includes the watermark polling, whose
//!    cost alone is printed for the linkgate phase).
//!
//! Environment: `LINKGATE_BENCH_MB` (volume in MiB, default 1024),
//! `LINKGATE_BENCH_PHASE_DEADLINE_S` (bound on each phase, default 1200),
//! plus the harness variables (`LINKGATE_BIN`, `LINKGATE_NISSHI`, ...). The
//! gateway logs at `info` unless `LINKGATE_GATEWAY_RUST_LOG` says otherwise.

mod cpu;
mod load;
mod replicator;
mod report;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::prometheus::metric_value;
use linkgate_tests::{create_topic, free_port, Broker, Gateway, GATEWAY_LOG_ENV};

use crate::cpu::{broker_pid, CpuClock};
use crate::load::{compare_samples, Load, Watermarks, RECORD_BYTES};
use crate::report::Phase;

/// Environment variable: volume in MiB (default 1024).
const MB_ENV: &str = "LINKGATE_BENCH_MB";
/// Environment variable: bound on each phase in seconds (default 1200).
const DEADLINE_ENV: &str = "LINKGATE_BENCH_PHASE_DEADLINE_S";
/// Partitions of the benchmark topic.
const PARTITIONS: i32 = 8;
/// The benchmark topic.
const TOPIC: &str = "bench";
/// Records compared per partition after each mirror phase (8 x 13 >= 100).
const SAMPLE_PER_PARTITION: usize = 13;

struct Settings {
    mib: u64,
    phase_deadline: Duration,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("{name}={v:?} is not a positive integer")),
                _ => Ok(default),
            }
        };
        Ok(Self {
            mib: number(MB_ENV, 1024)?,
            phase_deadline: Duration::from_secs(number(DEADLINE_ENV, 1200)?),
        })
    }
}

/// CPU seconds of this process and of up to two brokers, to take deltas.
struct CpuSnapshot {
    own: f64,
    source: Option<f64>,
    destination: Option<f64>,
}

struct Meter<'a> {
    clock: &'a CpuClock,
    source_pid: Option<u32>,
    destination_pid: Option<u32>,
}

impl Meter<'_> {
    fn snapshot(&self) -> anyhow::Result<CpuSnapshot> {
        Ok(CpuSnapshot {
            own: self.clock.own_seconds()?,
            source: self.source_pid.and_then(|p| self.clock.seconds(p).ok()),
            destination: self
                .destination_pid
                .and_then(|p| self.clock.seconds(p).ok()),
        })
    }

    /// `(own, source broker, destination broker)` CPU seconds since `before`.
    fn since(&self, before: &CpuSnapshot) -> anyhow::Result<(f64, Option<f64>, Option<f64>)> {
        let now = self.snapshot()?;
        let delta = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        Ok((
            now.own - before.own,
            delta(now.source, before.source),
            delta(now.destination, before.destination),
        ))
    }
}

/// Starts a broker and finds its pid (for CPU accounting).
fn start_broker(cluster_id: &str) -> anyhow::Result<(Broker, Option<u32>)> {
    let broker =
        Broker::start(cluster_id).with_context(|| format!("starting broker {cluster_id}"))?;
    let pid = broker_pid(broker.port());
    if pid.is_none() {
        eprintln!("[bench] warning: pid of broker {cluster_id} not found; its CPU is not reported");
    }
    Ok((broker, pid))
}

/// Writes the volume to `TOPIC` on an empty broker with the load producer.
fn produce_phase(
    rt: &tokio::runtime::Runtime,
    clock: &CpuClock,
    load: &Load,
    settings: &Settings,
    broker: &Broker,
    broker_pid: Option<u32>,
    name: &'static str,
) -> anyhow::Result<(Phase, Vec<i64>)> {
    rt.block_on(create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]))?;
    let meter = Meter {
        clock,
        source_pid: None,
        destination_pid: broker_pid,
    };
    let before = meter.snapshot()?;
    let wall = load.produce(&broker.bootstrap(), TOPIC, settings.phase_deadline)?;
    let (own, _, dst) = meter.since(&before)?;
    let highs = Watermarks::new(&broker.bootstrap(), TOPIC, PARTITIONS)?.highs()?;
    let total: i64 = highs.iter().sum();
    anyhow::ensure!(
        u64::try_from(total).ok() == Some(load.records),
        "{name}: broker holds {total} records after producing {}",
        load.records
    );
    let phase = Phase {
        name,
        measured: "producer (this process)",
        wall,
        bytes: load.bytes(),
        records: load.records,
        cpu_seconds: own,
        source_broker_cpu: None,
        destination_broker_cpu: dst,
    };
    Ok((phase, highs))
}

fn gateway_config(src: &Broker, dst: &Broker) -> String {
    format!(
        r#"[gateway]
metrics_listen = "127.0.0.1:{port}"

[clusters.src]
"bootstrap.servers" = "{src}"
[clusters.dst]
"bootstrap.servers" = "{dst}"

[[links]]
name = "bench"
source = "src"
destination = "dst"
mirror_topics = ["{TOPIC}"]
[links.config]
"mirror.start.offset.spec" = "earliest"
"#,
        port = free_port(),
        src = src.bootstrap(),
        dst = dst.bootstrap(),
    )
}

/// Fails when the gateway process has exited (zombie or gone).
fn gateway_alive(clock: &CpuClock, gateway: &Gateway, pid: u32) -> anyhow::Result<()> {
    match clock.sample(pid) {
        Ok(s) if s.state != 'Z' => Ok(()),
        _ => anyhow::bail!(
            "linkgate exited during the benchmark\n{}",
            gateway.log_tail(40)
        ),
    }
}

/// Per-request averages from the gateway's metrics, to see where time goes.
fn gateway_diagnostics(metrics: &str, wall: Duration) -> String {
    let v = |name: &str| metric_value(metrics, name, &[]).unwrap_or(0.0);
    let fetches = v("linkgate_fetch_latency_seconds_count");
    let fetch_s = v("linkgate_fetch_latency_seconds_sum");
    let produces = v("linkgate_produce_latency_seconds_count");
    let produce_s = v("linkgate_produce_latency_seconds_sum");
    let records = v("linkgate_mirror_records_total");
    let bytes = v("linkgate_mirror_bytes_total");
    let errors = v("linkgate_mirror_errors_total");
    let per = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    format!(
        "linkgate metrics: {records:.0} records, {:.1} MiB of batches ({:.2}x lz4 vs record bytes); errors {errors:.0}\n\
         \x20 fetch:   {fetches:.0} requests, avg {:.1} ms, {:.2} s total = {:.0}% of the wall time, avg {:.2} MiB per fetch\n\
         \x20 produce: {produces:.0} requests, avg {:.1} ms, {:.2} s total = {:.0}% of the wall time, avg {:.2} MiB per request",
        bytes / 1048576.0,
        per(records * RECORD_BYTES as f64, bytes),
        per(fetch_s * 1000.0, fetches),
        fetch_s,
        per(fetch_s * 100.0, wall.as_secs_f64()),
        per(bytes / 1048576.0, fetches),
        per(produce_s * 1000.0, produces),
        produce_s,
        per(produce_s * 100.0, wall.as_secs_f64()),
        per(bytes / 1048576.0, produces),
    )
}

/// Mirrors the filled source with the linkgate binary to an empty broker.
/// Returns the phase, the CPU this process spent polling watermarks, and
/// the gateway diagnostics.
fn linkgate_phase(
    rt: &tokio::runtime::Runtime,
    clock: &CpuClock,
    load: &Load,
    settings: &Settings,
    src: &Broker,
    src_pid: Option<u32>,
    src_highs: &[i64],
) -> anyhow::Result<(Phase, f64, String)> {
    let (dst, dst_pid) = start_broker("dst")?;
    let config = gateway_config(src, &dst);
    let reader = Watermarks::new(&dst.bootstrap(), TOPIC, PARTITIONS)?;
    let meter = Meter {
        clock,
        source_pid: src_pid,
        destination_pid: dst_pid,
    };
    let before = meter.snapshot()?;
    let start = Instant::now();
    let gateway = Gateway::start(&config).context("starting linkgate")?;
    let ready = start.elapsed();
    let pid = gateway.pid().context("linkgate pid")?;
    let wall = reader
        .wait_for(src_highs, start, settings.phase_deadline, || {
            gateway_alive(clock, &gateway, pid)
        })
        .with_context(|| gateway.log_tail(40))?;
    let gateway_cpu = clock.seconds(pid).context("linkgate CPU time")?;
    let (poller_cpu, src_cpu, dst_cpu) = meter.since(&before)?;
    let diagnostics = match gateway.metrics() {
        Ok(text) => format!(
            "linkgate ready (GET /metrics 200) {:.2} s after start, caught up {:.2} s after start\n{}",
            ready.as_secs_f64(),
            wall.as_secs_f64(),
            gateway_diagnostics(&text, wall)
        ),
        Err(e) => format!("linkgate metrics unavailable: {e:#}"),
    };
    let compared = rt
        .block_on(compare_samples(
            &src.bootstrap(),
            &dst.bootstrap(),
            TOPIC,
            PARTITIONS,
            SAMPLE_PER_PARTITION,
        ))
        .context("linkgate mirror check")?;
    eprintln!("[bench]   linkgate: watermarks equal on all {PARTITIONS} partitions, {compared} sampled records equal");
    let phase = Phase {
        name: "linkgate (pass-through)",
        measured: "linkgate process, start-up included",
        wall,
        bytes: load.bytes(),
        records: load.records,
        cpu_seconds: gateway_cpu,
        source_broker_cpu: src_cpu,
        destination_broker_cpu: dst_cpu,
    };
    Ok((phase, poller_cpu, diagnostics))
}

/// Copies the filled source with the in-process consume/re-produce baseline
/// to an empty broker.
fn baseline_phase(
    rt: &tokio::runtime::Runtime,
    clock: &CpuClock,
    load: &Load,
    settings: &Settings,
    src: &Broker,
    src_pid: Option<u32>,
    src_highs: &[i64],
) -> anyhow::Result<Phase> {
    let (dst, dst_pid) = start_broker("dst-baseline")?;
    let reader = Watermarks::new(&dst.bootstrap(), TOPIC, PARTITIONS)?;
    let job = replicator::Job {
        source: src.bootstrap(),
        destination: dst.bootstrap(),
        topic: TOPIC.to_owned(),
        partitions: PARTITIONS,
        records: load.records,
        deadline: settings.phase_deadline,
    };
    let meter = Meter {
        clock,
        source_pid: src_pid,
        destination_pid: dst_pid,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let before = meter.snapshot()?;
    let start = Instant::now();
    let thread = {
        let handle = rt.handle().clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("baseline".into())
            .spawn(move || {
                let _ = tx.send(replicator::run(&job, &handle, &stop));
            })
            .context("spawning the baseline thread")?
    };
    let mut finished: Option<u64> = None;
    let waited = reader.wait_for(src_highs, start, settings.phase_deadline, || {
        match rx.try_recv() {
            Ok(Ok(n)) => finished = Some(n),
            Ok(Err(e)) => return Err(e.context("baseline replicator failed")),
            Err(_) => {}
        }
        Ok(())
    });
    let measured = meter.since(&before);
    stop.store(true, Ordering::Relaxed);
    // The replicator ends by itself once everything is delivered (or at its
    // deadline, or at `stop`).
    let _ = thread.join();
    let wall = waited?;
    let (own_cpu, src_cpu, dst_cpu) = measured?;
    if finished.is_none() {
        if let Ok(result) = rx.try_recv() {
            result.context("baseline replicator failed after the destination caught up")?;
        }
    }
    let compared = rt
        .block_on(compare_samples(
            &src.bootstrap(),
            &dst.bootstrap(),
            TOPIC,
            PARTITIONS,
            SAMPLE_PER_PARTITION,
        ))
        .context("baseline mirror check")?;
    eprintln!("[bench]   baseline: watermarks equal on all {PARTITIONS} partitions, {compared} sampled records equal");
    Ok(Phase {
        name: "baseline (consume + re-produce)",
        measured: "bench process (replicator + polling)",
        wall,
        bytes: load.bytes(),
        records: load.records,
        cpu_seconds: own_cpu,
        source_broker_cpu: src_cpu,
        destination_broker_cpu: dst_cpu,
    })
}

fn main() -> anyhow::Result<()> {
    // Before any thread exists: the gateway should not log at debug level
    // while being measured.
    if std::env::var_os(GATEWAY_LOG_ENV).is_none() {
        std::env::set_var(GATEWAY_LOG_ENV, "info");
    }
    let settings = Settings::from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let clock = CpuClock::new()?;
    let load = Load::new(settings.mib, PARTITIONS);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let header = format!(
        "linkgate benchmark: {} MiB = {} records of {RECORD_BYTES} B (8 B key + {} B value, random with repetition), \
         {PARTITIONS} partitions, lz4, acks=all\n\
         machine: {cpus} CPUs, shared; the brokers (nisshi, memory storage) run on the same CPUs as linkgate \
         and the baseline, so every rate includes broker work\n",
        settings.mib,
        load.records,
        load::VALUE_BYTES,
    );
    eprint!("{header}");

    eprintln!("[bench] phase 1/3: ceiling (producer -> empty broker)");
    let ceiling = {
        let (broker, pid) = start_broker("ceiling")?;
        produce_phase(
            &rt,
            &clock,
            &load,
            &settings,
            &broker,
            pid,
            "ceiling (producer -> broker)",
        )?
        .0
    };
    eprintln!("[bench]   {:.1} MiB/s", ceiling.mib_per_s());

    eprintln!("[bench] filling the source");
    let (src, src_pid) = start_broker("src")?;
    let (fill, src_highs) = produce_phase(
        &rt,
        &clock,
        &load,
        &settings,
        &src,
        src_pid,
        "ceiling, 2nd sample (source fill)",
    )?;
    eprintln!(
        "[bench]   {:.1} MiB/s; source high watermarks {src_highs:?}",
        fill.mib_per_s()
    );

    eprintln!("[bench] phase 2/3: linkgate");
    let (linkgate, poller_cpu, diagnostics) =
        linkgate_phase(&rt, &clock, &load, &settings, &src, src_pid, &src_highs)?;
    eprintln!("[bench]   {:.1} MiB/s", linkgate.mib_per_s());

    eprintln!("[bench] phase 3/3: baseline (consume + re-produce in this process)");
    let baseline = baseline_phase(&rt, &clock, &load, &settings, &src, src_pid, &src_highs)?;
    eprintln!("[bench]   {:.1} MiB/s", baseline.mib_per_s());

    println!();
    print!(
        "{}",
        report::render(&header, &ceiling, &linkgate, &baseline, &[fill])
    );
    println!();
    println!(
        "watermark polling alone cost this process {poller_cpu:.2} CPU s during the linkgate phase \
         (included in the baseline's CPU)"
    );
    println!("{diagnostics}");
    Ok(())
}
