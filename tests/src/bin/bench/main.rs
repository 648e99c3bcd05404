//! `bench`: linkgate's throughput and CPU cost next to the throughput
//! ceiling of a pass-through mirror and a MirrorMaker-2-style baseline, all
//! measured in one run on the same machine and printed with their ratios and
//! the targets they are held to. Run by `tests/bin/bench.sh` (which installs
//! the broker and builds release first).
//!
//! Phases, each on fresh nisshi brokers (memory storage) on 127.0.0.1:
//! 0. **source fill**: a librdkafka producer (lz4, acks=all, idempotent,
//!    1 MB batches, 10 ms linger) writes the volume to the source; its rate
//!    is printed as a row, not used in ratios.
//! 1. **ceiling** ([`ceiling`]): the source's record batches, read and
//!    encoded into Produce requests before the clock starts, sent to an
//!    empty broker by a minimal idempotent producer with up to 5 requests in
//!    flight, acks=all: what a pass-through mirror cannot beat.
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
//! 4. **record plugin**: for 100 B and then 1 KiB records, a fresh source is
//!    filled once with `LINKGATE_BENCH_PLUGIN_MB` MiB, then mirrored by
//!    linkgate as in phase 2 twice, each time to an empty destination:
//!    without a plugin, then with the keep-all record-transform fixture
//!    (`plugins/testing/keep-all`) on the link's chain. Printed: both runs'
//!    rows, throughput with / without, and the plugin's cost per record
//!    from the gateway's CPU time (whole runs, and after the first mirrored
//!    round, which excludes the plugin's compile and init) and from the
//!    host's `linkgate_plugin_call_seconds` (see [`plugin`]).
//!
//! Environment: `LINKGATE_BENCH_MB` (volume in MiB, default 1024),
//! `LINKGATE_BENCH_PLUGIN_MB` (volume of each plugin-phase source, default
//! 256; 0 skips phase 4), `LINKGATE_BENCH_PLUGIN` (the keep-all component,
//! default built by `tests/bin/build-plugins.sh` in this tree),
//! `LINKGATE_BENCH_PHASE_DEADLINE_S` (bound on each phase, default 1200),
//! plus the harness variables (`LINKGATE_BIN`, `LINKGATE_NISSHI`, ...). The
//! gateway logs at `info` unless `LINKGATE_GATEWAY_RUST_LOG` says otherwise.

mod ceiling;
mod cpu;
mod load;
mod plugin;
mod replicator;
mod report;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::prometheus::metric_value;
use linkgate_tests::{create_topic, link_config, Broker, Gateway, GATEWAY_LOG_ENV};

use crate::cpu::{broker_pid, CpuClock};
use crate::load::{compare_samples, Load, Watermarks, RECORD_BYTES};
use crate::plugin::{Comparison, HostMeasure, Run, Startup};
use crate::report::Phase;

/// Environment variable: volume in MiB (default 1024).
const MB_ENV: &str = "LINKGATE_BENCH_MB";
/// Environment variable: volume of each plugin-phase source in MiB (default
/// 256; 0 skips the plugin phase).
const PLUGIN_MB_ENV: &str = "LINKGATE_BENCH_PLUGIN_MB";
/// Interval of the metrics polling that finds a run's first mirrored round.
const STARTUP_POLL: Duration = Duration::from_millis(20);
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
    /// 0: no plugin phase.
    plugin_mib: u64,
    phase_deadline: Duration,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let number = |name: &str, default: u64, min: u64| -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= min)
                    .with_context(|| format!("{name}={v:?} is not an integer >= {min}")),
                _ => Ok(default),
            }
        };
        Ok(Self {
            mib: number(MB_ENV, 1024, 1)?,
            plugin_mib: number(PLUGIN_MB_ENV, 256, 0)?,
            phase_deadline: Duration::from_secs(number(DEADLINE_ENV, 1200, 1)?),
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
    name: &str,
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
        name: name.to_owned(),
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

/// The gateway config of one run; with `plugin`, the keep-all component at
/// that path is declared and put on the link's record-transform chain.
fn gateway_config(src: &Broker, dst: &Broker, plugin: Option<&Path>) -> String {
    let (plugins, chain) = match plugin {
        Some(path) => (plugin::plugins_section(path), plugin::link_line()),
        None => (String::new(), String::new()),
    };
    link_config(
        src,
        dst,
        "bench",
        &plugins,
        &format!("mirror_topics = [\"{TOPIC}\"]\n{chain}"),
        "\"mirror.start.offset.spec\" = \"earliest\"",
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

/// Polls the gateway's metrics every 20 ms until `linkgate_mirror_records_total`
/// is above 0, then samples the gateway's CPU time. `None` when that does
/// not happen within `deadline` of `start` (the phase's own wait reports
/// why).
fn sample_startup(
    clock: &CpuClock,
    gateway: &Gateway,
    pid: u32,
    start: Instant,
    deadline: Duration,
) -> anyhow::Result<Option<Startup>> {
    let max_rounds = deadline.as_millis() / STARTUP_POLL.as_millis() + 1;
    for _ in 0..max_rounds {
        gateway_alive(clock, gateway, pid)?;
        let records = gateway
            .metrics()
            .ok()
            .and_then(|text| metric_value(&text, "linkgate_mirror_records_total", &[]))
            .unwrap_or(0.0);
        if records > 0.0 {
            let cpu_seconds = clock.seconds(pid).context("linkgate CPU time")?;
            return Ok(Some(Startup {
                cpu_seconds,
                records,
            }));
        }
        if start.elapsed() >= deadline {
            break;
        }
        std::thread::sleep(STARTUP_POLL);
    }
    Ok(None)
}

/// Per-request averages from the gateway's metrics, to see where time goes.
/// `record_bytes`: bytes of one record of the run.
fn gateway_diagnostics(metrics: &str, wall: Duration, record_bytes: usize) -> String {
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
        per(records * record_bytes as f64, bytes),
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

/// A filled source: the broker, its pid, its high watermarks and the load
/// written to it.
struct Source<'a> {
    broker: &'a Broker,
    pid: Option<u32>,
    highs: &'a [i64],
    load: &'a Load,
}

/// One linkgate run: the phase, the CPU this process spent polling
/// watermarks, the gateway diagnostics, the gateway CPU at the first
/// mirrored round and the plugin host's measure (runs with the plugin).
struct LinkgateOutcome {
    phase: Phase,
    poller_cpu: f64,
    diagnostics: String,
    startup: Option<Startup>,
    host: Option<HostMeasure>,
}

/// Mirrors the filled source with the linkgate binary to an empty broker
/// (cluster id `dst_cluster`), with the keep-all plugin on the link when
/// `plugin` is given.
fn linkgate_phase(
    rt: &tokio::runtime::Runtime,
    clock: &CpuClock,
    settings: &Settings,
    source: &Source<'_>,
    (name, dst_cluster, plugin): (String, &str, Option<&Path>),
) -> anyhow::Result<LinkgateOutcome> {
    let src = source.broker;
    let (dst, dst_pid) = start_broker(dst_cluster)?;
    let config = gateway_config(src, &dst, plugin);
    let reader = Watermarks::new(&dst.bootstrap(), TOPIC, PARTITIONS)?;
    let meter = Meter {
        clock,
        source_pid: source.pid,
        destination_pid: dst_pid,
    };
    let before = meter.snapshot()?;
    let start = Instant::now();
    let gateway = Gateway::start(&config).context("starting linkgate")?;
    let ready = start.elapsed();
    let pid = gateway.pid().context("linkgate pid")?;
    let startup = sample_startup(clock, &gateway, pid, start, settings.phase_deadline)?;
    let first_round = start.elapsed();
    let wall = reader
        .wait_for(source.highs, start, settings.phase_deadline, || {
            gateway_alive(clock, &gateway, pid)
        })
        .with_context(|| gateway.log_tail(40))?;
    let gateway_cpu = clock.seconds(pid).context("linkgate CPU time")?;
    let (poller_cpu, src_cpu, dst_cpu) = meter.since(&before)?;
    let metrics = gateway.metrics();
    let startup_text = match startup {
        Some(s) => format!(
            "first mirrored round seen {:.2} s after start ({:.0} records, gateway CPU {:.2} s)",
            first_round.as_secs_f64(),
            s.records,
            s.cpu_seconds
        ),
        None => "first mirrored round not seen".to_owned(),
    };
    let diagnostics = match &metrics {
        Ok(text) => format!(
            "linkgate ready (GET /metrics 200) {:.2} s after start, {startup_text}, caught up {:.2} s after start\n{}",
            ready.as_secs_f64(),
            wall.as_secs_f64(),
            gateway_diagnostics(text, wall, source.load.record_bytes)
        ),
        Err(e) => format!("linkgate metrics unavailable: {e:#}"),
    };
    let host = metrics.as_deref().ok().and_then(HostMeasure::from_metrics);
    if plugin.is_some() {
        let h = host.with_context(|| {
            format!(
                "{name}: no linkgate_plugin_calls_total for {} in the metrics\n{}",
                plugin::PLUGIN_NAME,
                gateway.log_tail(40)
            )
        })?;
        anyhow::ensure!(
            h.records_out == h.records_in && h.records_in >= source.load.records as f64,
            "{name}: the plugin saw {} records in, {} out, for {} records",
            h.records_in,
            h.records_out,
            source.load.records
        );
    }
    let compared = rt
        .block_on(compare_samples(
            &src.bootstrap(),
            &dst.bootstrap(),
            TOPIC,
            PARTITIONS,
            SAMPLE_PER_PARTITION,
        ))
        .with_context(|| format!("{name}: mirror check"))?;
    eprintln!("[bench]   {name}: watermarks equal on all {PARTITIONS} partitions, {compared} sampled records equal");
    let phase = Phase {
        name,
        measured: "linkgate process, start-up included",
        wall,
        bytes: source.load.bytes(),
        records: source.load.records,
        cpu_seconds: gateway_cpu,
        source_broker_cpu: src_cpu,
        destination_broker_cpu: dst_cpu,
    };
    Ok(LinkgateOutcome {
        phase,
        poller_cpu,
        diagnostics,
        startup,
        host,
    })
}

/// Phase 4 for one record size: fills a fresh source with
/// `settings.plugin_mib` MiB of `record_bytes`-byte records, then mirrors
/// it without and with the keep-all plugin (fresh destination each).
/// Returns the comparison and both runs' diagnostics.
fn plugin_phase(
    rt: &tokio::runtime::Runtime,
    clock: &CpuClock,
    settings: &Settings,
    plugin_path: &Path,
    record_bytes: usize,
) -> anyhow::Result<(Comparison, String)> {
    let load = Load::with_record_bytes(settings.plugin_mib, PARTITIONS, record_bytes);
    let size = format!("{record_bytes} B");
    eprintln!(
        "[bench]   filling a source with {} records of {size}",
        load.records
    );
    let (src, src_pid) = start_broker("src-plugin")?;
    let (fill, highs) = produce_phase(
        rt,
        clock,
        &load,
        settings,
        &src,
        src_pid,
        &format!("source fill, {size}"),
    )?;
    eprintln!("[bench]   {:.1} MiB/s", fill.mib_per_s());
    let source = Source {
        broker: &src,
        pid: src_pid,
        highs: &highs,
        load: &load,
    };
    let without = linkgate_phase(
        rt,
        clock,
        settings,
        &source,
        (format!("linkgate {size}, no plugin"), "dst-noplugin", None),
    )?;
    eprintln!(
        "[bench]   no plugin: {:.1} MiB/s",
        without.phase.mib_per_s()
    );
    let with = linkgate_phase(
        rt,
        clock,
        settings,
        &source,
        (
            format!("linkgate {size}, keep-all plugin"),
            "dst-plugin",
            Some(plugin_path),
        ),
    )?;
    eprintln!(
        "[bench]   keep-all plugin: {:.1} MiB/s",
        with.phase.mib_per_s()
    );
    let diagnostics = format!(
        "{size}, no plugin: {}\n{size}, keep-all plugin: {}",
        without.diagnostics, with.diagnostics
    );
    let comparison = Comparison {
        record_bytes,
        fill,
        without: Run {
            phase: without.phase,
            startup: without.startup,
        },
        with: Run {
            phase: with.phase,
            startup: with.startup,
        },
        host: with.host,
    };
    Ok((comparison, diagnostics))
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
        name: "baseline (consume + re-produce)".to_owned(),
        measured: "bench process (replicator + polling)",
        wall,
        bytes: load.bytes(),
        records: load.records,
        cpu_seconds: own_cpu,
        source_broker_cpu: src_cpu,
        destination_broker_cpu: dst_cpu,
    })
}

/// Phase 1: reads the source's batches (untimed), then times their
/// ingest by an empty broker ([`ceiling`]).
fn ceiling_phase(
    rt: &tokio::runtime::Runtime,
    clock: &CpuClock,
    load: &Load,
    src: &Broker,
    src_highs: &[i64],
) -> anyhow::Result<Phase> {
    let batches = rt
        .block_on(ceiling::read_source(&src.bootstrap(), TOPIC, src_highs))
        .context("reading the source's batches")?;
    let (dst, dst_pid) = start_broker("ceiling")?;
    rt.block_on(create_topic(&dst.bootstrap(), TOPIC, PARTITIONS, &[]))?;
    let meter = Meter {
        clock,
        source_pid: None,
        destination_pid: dst_pid,
    };
    let before = meter.snapshot()?;
    let ingest = rt
        .block_on(ceiling::ingest(&dst.bootstrap(), TOPIC, batches))
        .context("ceiling producer")?;
    let (own, _, dst_cpu) = meter.since(&before)?;
    let highs = Watermarks::new(&dst.bootstrap(), TOPIC, PARTITIONS)?.highs()?;
    anyhow::ensure!(
        highs.as_slice() == src_highs,
        "ceiling: destination high watermarks {highs:?}, source {src_highs:?}"
    );
    eprintln!(
        "[bench]   ceiling: {} Produce requests, {:.1} MiB of batches, watermarks equal on all {PARTITIONS} partitions",
        ingest.requests,
        ingest.batch_bytes as f64 / 1048576.0
    );
    Ok(Phase {
        name: "ceiling (encoded batches -> broker)".to_owned(),
        measured: "bench process (minimal producer)",
        wall: ingest.wall,
        bytes: load.bytes(),
        records: load.records,
        cpu_seconds: own,
        source_broker_cpu: None,
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
    // Checked first, so a missing fixture fails before the long phases.
    let plugin_path: Option<PathBuf> = if settings.plugin_mib > 0 {
        Some(plugin::keep_all_path()?)
    } else {
        None
    };
    let phases = if plugin_path.is_some() { 4 } else { 3 };
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

    eprintln!("[bench] filling the source (librdkafka producer)");
    let (src, src_pid) = start_broker("src")?;
    let (fill, src_highs) = produce_phase(
        &rt,
        &clock,
        &load,
        &settings,
        &src,
        src_pid,
        "librdkafka producer (source fill)",
    )?;
    eprintln!(
        "[bench]   {:.1} MiB/s; source high watermarks {src_highs:?}",
        fill.mib_per_s()
    );

    eprintln!(
        "[bench] phase 1/{phases}: ceiling (the source's batches, encoded beforehand, -> empty broker, {} requests in flight)",
        ceiling::IN_FLIGHT
    );
    let ceiling = ceiling_phase(&rt, &clock, &load, &src, &src_highs)?;
    eprintln!("[bench]   {:.1} MiB/s", ceiling.mib_per_s());

    eprintln!("[bench] phase 2/{phases}: linkgate");
    let source = Source {
        broker: &src,
        pid: src_pid,
        highs: &src_highs,
        load: &load,
    };
    let linkgate = linkgate_phase(
        &rt,
        &clock,
        &settings,
        &source,
        ("linkgate (pass-through)".to_owned(), "dst", None),
    )?;
    eprintln!("[bench]   {:.1} MiB/s", linkgate.phase.mib_per_s());

    eprintln!("[bench] phase 3/{phases}: baseline (consume + re-produce in this process)");
    let baseline = baseline_phase(&rt, &clock, &load, &settings, &src, src_pid, &src_highs)?;
    eprintln!("[bench]   {:.1} MiB/s", baseline.mib_per_s());
    // The main source is not needed any more: free its memory and CPU.
    drop(src);

    let mut comparisons = Vec::new();
    let mut plugin_diagnostics = Vec::new();
    if let Some(path) = &plugin_path {
        for record_bytes in plugin::RECORD_SIZES {
            eprintln!(
                "[bench] phase 4/4: record plugin ({}) vs none, {record_bytes} B records, {} MiB",
                path.display(),
                settings.plugin_mib
            );
            let (c, d) = plugin_phase(&rt, &clock, &settings, path, record_bytes)?;
            eprintln!(
                "[bench]   with / without: {:.2}x, {:.0} ns per record (gateway CPU)",
                c.ratio(),
                c.cpu_ns_per_record()
            );
            comparisons.push(c);
            plugin_diagnostics.push(d);
        }
    }

    println!();
    print!(
        "{}",
        report::render(&header, &ceiling, &linkgate.phase, &baseline, &[fill])
    );
    println!();
    println!(
        "watermark polling alone cost this process {:.2} CPU s during the linkgate phase \
         (included in the baseline's CPU)",
        linkgate.poller_cpu
    );
    println!("{}", linkgate.diagnostics);
    if !comparisons.is_empty() {
        println!();
        print!(
            "{}",
            plugin::render(
                &format!(
                    "record plugin: keep-all record transform (plugins/testing/keep-all, wasm32-wasip2) on the \
                     link vs the same link without it; {} MiB per record size, one source fill per size, \
                     fresh destination per run",
                    settings.plugin_mib
                ),
                &comparisons
            )
        );
        println!();
        for d in &plugin_diagnostics {
            println!("{d}");
        }
    }
    println!();
    print!(
        "{}",
        report::targets(&ceiling, &linkgate.phase, &baseline, &comparisons)
    );
    Ok(())
}
