//! End-to-end mirroring through network faults. A [`FaultProxy`] sits
//! between the gateway and one broker (the broker advertises the proxy, so
//! the gateway's connections after bootstrap go through it too). While a
//! bounded producer loop writes 20 000 records to the source, the test
//! resets every connection through the proxy several times: at once, or
//! once the broker has answered a Produce (destination side) or Fetch
//! (source side) request whose answer is then lost; it refuses reconnects
//! for a while; and it stalls all bytes from such a request on (held before
//! the broker sees it, delivered late) for longer than the gateway's
//! `request.timeout.ms`. Afterwards every destination partition must hold
//! the source's records exactly: same key, value, headers and timestamp,
//! same order, no duplicate, no loss; the proxy's counters and the
//! gateway's timeout metric must show that each fault hit live
//! connections.
//!
//! Faults are triggered by mirror progress (the gateway's
//! `linkgate_mirror_records_total`), and the producer stays at most
//! [`AHEAD`] batches ahead of the mirror, so every fault lands while
//! records are still on their way. On the destination, a round writes its
//! state record before its mirror batches, so the n-th Produce from now is
//! a state-topic write or a mirror batch depending on n and the round (the
//! schedule mixes odd and even n).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::{
    assert_stays, consume_partition, create_topic, fetch_watermarks, first_difference, highs,
    http_get, link_config, now_ms, produce, prometheus, random_payload, wait_until,
    with_cluster_properties, Broker, FaultProxy, Gateway, ProxiedBroker, TestRecord,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const TOPIC: &str = "payments";
const PARTITIONS: i32 = 4;
/// Produce calls of the producer loop.
const BATCHES: usize = 20;
/// Records per produce call, over all partitions.
const PER_BATCH: usize = 1000;
const TOTAL: u64 = (BATCHES * PER_BATCH) as u64;
/// Value size of a record: 100 bytes.
const VALUE_LEN: usize = 100;
/// Produce calls the producer may run ahead of the mirrored count.
const AHEAD: usize = 3;
/// Time cap of the whole producer loop: 45 s.
const PRODUCE_CAP: Duration = Duration::from_secs(45);
/// `request.timeout.ms` of the faulted cluster in the gateway config.
const REQUEST_TIMEOUT_MS: u64 = 2000;
/// Deadline of each fault step (progress before it, its effect): 30 s.
const FAULT_DEADLINE: Duration = Duration::from_secs(30);
/// Deadline for the destination to hold every record after the faults: 60 s.
const MIRROR_DEADLINE: Duration = Duration::from_secs(60);
/// Gateway timeouts to see during the stall (the first request and at
/// least one retry or reconnect): the stall lasts over two request timeouts.
const STALL_TIMEOUTS: f64 = 2.0;
const LINK: &str = "faults";

/// One fault, injected once the mirror has `at` records.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Reset every connection through the proxy.
    Reset,
    /// Drop the broker's reply to the n-th request from now on of the
    /// scenario's API key (Produce to the destination, Fetch from the
    /// source) and reset every connection: the request took effect, the
    /// gateway does not know.
    LoseReply(u64),
    /// Refuse new connections, reset the open ones, and refuse until the
    /// proxy has turned away two reconnects.
    RefuseAndReset,
    /// Stall all bytes from the n-th request from now on of the scenario's
    /// API key (held before it reaches the broker) until the gateway has
    /// timed out [`STALL_TIMEOUTS`] times; the held bytes are delivered
    /// after.
    StallAtRequest(u64),
}

/// Faults at rising mirror progress (records). The last one plus
/// [`AHEAD`] batches stays below [`TOTAL`], so records follow every fault.
const SCHEDULE: [(u64, Fault); 7] = [
    (2_000, Fault::Reset),
    (4_000, Fault::LoseReply(2)),
    (6_000, Fault::LoseReply(1)),
    (8_000, Fault::Reset),
    (10_000, Fault::LoseReply(4)),
    (12_000, Fault::RefuseAndReset),
    (14_500, Fault::StallAtRequest(2)),
];

/// What the fault driver saw when it injected each fault.
#[derive(Debug)]
struct Injected {
    fault: Fault,
    /// Mirrored records when the fault began.
    mirrored: u64,
    /// Connections open through the proxy when the fault began.
    open: u64,
    /// How long forwarding was stalled.
    stalled: Duration,
}

/// The producer's batches: records over [`PARTITIONS`] partitions with
/// keys and null keys, values and null values, headers (one null-valued),
/// distinct recent CreateTime timestamps.
fn batches(seed: u64) -> Vec<Vec<TestRecord>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let base_ts = now_ms() - 3_600_000;
    (0..BATCHES)
        .map(|b| {
            (0..PER_BATCH)
                .map(|i| {
                    let n = b * PER_BATCH + i;
                    let partition = i32::try_from(i).expect("small") % PARTITIONS;
                    let key = (!n.is_multiple_of(11)).then(|| format!("key-{n}").into_bytes());
                    let value = (n % 13 != 5).then(|| random_payload(&mut rng, VALUE_LEN));
                    let mut r = TestRecord {
                        partition,
                        key,
                        value,
                        headers: Vec::new(),
                        timestamp: base_ts + i64::try_from(n).expect("small"),
                    };
                    if n.is_multiple_of(3) {
                        r = r
                            .with_header("seq", Some(n.to_string().as_bytes()))
                            .with_header("none", None);
                    }
                    r
                })
                .collect()
        })
        .collect()
}

fn by_partition(batches: &[Vec<TestRecord>]) -> BTreeMap<i32, Vec<TestRecord>> {
    let mut m: BTreeMap<i32, Vec<TestRecord>> = BTreeMap::new();
    for r in batches.iter().flatten() {
        m.entry(r.partition).or_default().push(r.clone());
    }
    m
}

/// The gateway's `linkgate_mirror_records_total` of [`TOPIC`], summed over
/// partitions (0 while absent or unreachable).
async fn mirrored(metrics_listen: &str) -> u64 {
    metric(
        metrics_listen,
        "linkgate_mirror_records_total",
        &[("topic", TOPIC)],
    )
    .await as u64
}

/// The sum of the samples `name` with `labels` on the gateway's `/metrics`
/// (0 while absent or unreachable).
async fn metric(metrics_listen: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let url = format!("http://{metrics_listen}/metrics");
    let body = tokio::task::spawn_blocking(move || http_get(&url))
        .await
        .ok()
        .and_then(Result::ok);
    match body {
        Some((200, text)) => prometheus::metric_value(&text, name, labels).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Produces `batches` to `bootstrap` one after the other (codecs rotating),
/// each only once the mirror is at most [`AHEAD`] batches behind, within
/// [`PRODUCE_CAP`] overall.
async fn produce_paced(
    bootstrap: String,
    metrics_listen: String,
    batches: Vec<Vec<TestRecord>>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    for (i, batch) in batches.iter().enumerate() {
        let floor = (i.saturating_sub(AHEAD) * PER_BATCH) as u64;
        wait_until(
            &format!("{floor} mirrored records before produce call {i}"),
            PRODUCE_CAP.saturating_sub(start.elapsed()),
            || mirrored_at_least(&metrics_listen, floor),
        )
        .await?;
        let codec = ["lz4", "zstd", "none", "snappy", "gzip"][i % 5];
        produce(&bootstrap, TOPIC, batch, codec)
            .await
            .with_context(|| format!("produce call {i} ({codec}) to the source"))?;
        anyhow::ensure!(
            start.elapsed() < PRODUCE_CAP,
            "producer loop over its {PRODUCE_CAP:?} cap after call {i}"
        );
    }
    Ok(())
}

async fn mirrored_at_least(metrics_listen: &str, floor: u64) -> bool {
    mirrored(metrics_listen).await >= floor
}

/// Injects [`SCHEDULE`] on `proxy` (the gateway's path to cluster
/// `cluster`), losing replies to requests with API key `api_key`.
async fn inject_faults(
    proxy: &FaultProxy,
    gw: &Gateway,
    cluster: &str,
    api_key: i16,
) -> anyhow::Result<Vec<Injected>> {
    let listen = gw.metrics_listen().to_owned();
    let mut injected = Vec::new();
    for (at, fault) in SCHEDULE {
        wait_until(
            &format!("{at} mirrored records and a connection through the proxy"),
            FAULT_DEADLINE,
            || {
                let listen = listen.clone();
                async move { mirrored(&listen).await >= at && proxy.stats().open >= 1 }
            },
        )
        .await
        .with_context(|| format!("before {fault:?} at {at}"))?;
        let mirrored_now = mirrored(&listen).await;
        let mut stalled_for = Duration::ZERO;
        let open = match fault {
            Fault::Reset => proxy.reset_all(),
            Fault::LoseReply(nth) => {
                let open = proxy.stats().open;
                let lost = proxy.stats().replies_lost;
                proxy.lose_reply(api_key, nth);
                wait_until(&format!("reply {nth} lost"), FAULT_DEADLINE, || async {
                    proxy.stats().replies_lost > lost
                })
                .await?;
                open
            }
            Fault::RefuseAndReset => {
                let refused = proxy.stats().refused;
                proxy.refuse(true);
                let open = proxy.reset_all();
                let waited = wait_until("two reconnects refused", FAULT_DEADLINE, || async {
                    proxy.stats().refused >= refused + 2
                })
                .await;
                proxy.refuse(false);
                waited?;
                open
            }
            Fault::StallAtRequest(nth) => {
                let labels = [("cluster", cluster), ("kind", "timeout")];
                let before = metric(&listen, "linkgate_kafka_errors_total", &labels).await;
                let open = proxy.stats().open;
                proxy.stall_at_request(api_key, nth);
                wait_until(
                    &format!("the stall at request {nth}"),
                    FAULT_DEADLINE,
                    || async { proxy.is_stalled() },
                )
                .await?;
                let started = Instant::now();
                let waited = wait_until(
                    &format!("{STALL_TIMEOUTS} gateway request timeouts on {cluster}"),
                    FAULT_DEADLINE,
                    || {
                        let listen = listen.clone();
                        async move {
                            metric(&listen, "linkgate_kafka_errors_total", &labels).await
                                >= before + STALL_TIMEOUTS
                        }
                    },
                )
                .await;
                proxy.set_stalled(false);
                waited?;
                stalled_for = started.elapsed();
                open
            }
        };
        injected.push(Injected {
            fault,
            mirrored: mirrored_now,
            open,
            stalled: stalled_for,
        });
    }
    Ok(injected)
}

/// Checks that the faults hit live traffic: each began with connections
/// open and records still to mirror; the stall outlasted the request
/// timeout.
fn assert_faults_hit(injected: &[Injected]) {
    assert_eq!(injected.len(), SCHEDULE.len(), "{injected:?}");
    for i in injected {
        assert!(i.open >= 1, "no connection open at {i:?}");
        assert!(
            i.mirrored < TOTAL,
            "fault after the traffic (all {TOTAL} records mirrored): {i:?}"
        );
        if matches!(i.fault, Fault::StallAtRequest(_)) {
            assert!(
                i.stalled > Duration::from_millis(REQUEST_TIMEOUT_MS),
                "stall shorter than request.timeout.ms: {i:?}"
            );
        }
    }
}

/// Waits until `bootstrap` holds [`TOTAL`] records of [`TOPIC`], then
/// compares every partition with `expected` record by record (offsets
/// 0..n, key, value, headers, timestamp) and checks the high watermark (no
/// extra record); with `quiet`, also that nothing more arrives for
/// [`linkgate_tests::QUIET_WINDOW`] (a late duplicate).
async fn assert_exact_copy(
    bootstrap: &str,
    side: &str,
    expected: &BTreeMap<i32, Vec<TestRecord>>,
    quiet: bool,
) -> anyhow::Result<()> {
    let last = std::sync::Mutex::new(Vec::new());
    let reached = wait_until(
        &format!("{TOTAL} records on the {side}"),
        MIRROR_DEADLINE,
        || async {
            let now = highs(bootstrap, TOPIC, PARTITIONS)
                .await
                .unwrap_or_default();
            let sum = now.iter().sum::<i64>();
            *last.lock().expect("lock") = now;
            sum >= TOTAL as i64
        },
    )
    .await;
    reached.with_context(|| format!("{side} high watermarks {:?}", last.lock().expect("lock")))?;
    let checks = expected
        .iter()
        .map(|(p, want)| assert_partition_copy(bootstrap, side, *p, want));
    let highs_now = futures::future::try_join_all(checks).await?;
    if quiet {
        assert_stays(bootstrap, TOPIC, &highs_now)
            .await
            .with_context(|| format!("{side}: records arrived after the exact copy"))?;
    }
    Ok(())
}

/// Reads `side` [`TOPIC`]/`p` and compares it with `want` (offsets 0..n,
/// then record by record); returns its high watermark, which must be `n`.
async fn assert_partition_copy(
    bootstrap: &str,
    side: &str,
    p: i32,
    want: &[TestRecord],
) -> anyhow::Result<i64> {
    let got = consume_partition(bootstrap, TOPIC, p, want.len(), MIRROR_DEADLINE)
        .await
        .with_context(|| format!("reading {side} {TOPIC}/{p}"))?;
    let gap = got
        .iter()
        .enumerate()
        .find(|(i, (o, _))| i64::try_from(*i).ok() != Some(*o));
    anyhow::ensure!(
        gap.is_none(),
        "{side} {TOPIC}/{p}: offsets not 0..n, first (index, (offset, record)) {gap:?}"
    );
    let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
    if let Some(diff) = first_difference(want, &got) {
        anyhow::bail!("{side} {TOPIC}/{p}: {diff}");
    }
    let (_, high) = fetch_watermarks(bootstrap, TOPIC, p).await?;
    anyhow::ensure!(
        usize::try_from(high).ok() == Some(want.len()),
        "{side} {TOPIC}/{p}: high watermark {high}, expected {} records (duplicates)",
        want.len()
    );
    Ok(high)
}

/// Every mirror partition of [`TOPIC`] is `ACTIVE`.
async fn assert_active(gw: &Gateway) -> anyhow::Result<()> {
    for p in 0..PARTITIONS {
        let partition = p.to_string();
        let labels = [
            ("link", LINK),
            ("topic", TOPIC),
            ("partition", partition.as_str()),
            ("state", "ACTIVE"),
        ];
        let active = metric(
            gw.metrics_listen(),
            "linkgate_mirror_partition_state",
            &labels,
        )
        .await;
        anyhow::ensure!(active == 1.0, "{TOPIC}/{p} is not ACTIVE");
    }
    Ok(())
}

/// `config` with the `bootstrap.servers` of `broker` replaced by `bootstrap`.
fn via(config: &str, broker: &Broker, bootstrap: &str) -> String {
    let quoted = format!("\"{}\"", broker.bootstrap());
    assert!(config.contains(&quoted), "{quoted} not in config");
    config.replacen(&quoted, &format!("\"{bootstrap}\""), 1)
}

/// A gateway config for the link `src` to `dst` where cluster `faulted`
/// (`src` or `dst`) is reached at `bootstrap` with a short request timeout.
fn faulted_config(src: &Broker, dst: &Broker, faulted: &str, bootstrap: &str) -> String {
    let base = link_config(
        src,
        dst,
        LINK,
        "",
        &format!("mirror_topics = [{TOPIC:?}]"),
        "",
    );
    let broker = if faulted == "src" { src } else { dst };
    with_cluster_properties(
        &via(&base, broker, bootstrap),
        faulted,
        &format!(
            "\"request.timeout.ms\" = {REQUEST_TIMEOUT_MS}\n\
             \"socket.connection.setup.timeout.ms\" = 1000"
        ),
    )
}

/// Runs the producer and the faults against a running gateway, then checks
/// the source and the destination. `source` and `destination` are where
/// the test's librdkafka clients connect.
async fn run_faulted_mirror(
    gw: &Gateway,
    proxy: &FaultProxy,
    faulted: &str,
    source: &str,
    destination: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let before = proxy.stats();
    let batches = batches(31);
    let expected = by_partition(&batches);
    let producer = tokio::spawn(produce_paced(
        source.to_owned(),
        gw.metrics_listen().to_owned(),
        batches,
    ));
    // Produce (API key 0) to the destination, Fetch (1) from the source.
    let api_key = if faulted == "dst" { 0 } else { 1 };
    let injected = inject_faults(proxy, gw, faulted, api_key).await;
    let faults_done = started.elapsed();
    let produced = producer.await.context("producer task")?;
    let produced_at = started.elapsed();
    let injected = injected?;
    produced?;
    eprintln!("faults injected: {injected:#?}");
    assert_faults_hit(&injected);

    // The source is what librdkafka wrote (it went through the proxy when
    // the source is the faulted side), then the destination is its copy.
    assert_exact_copy(source, "source", &expected, false).await?;
    let source_checked = started.elapsed();
    assert_exact_copy(destination, "destination", &expected, true).await?;
    assert_active(gw).await?;
    eprintln!(
        "faults done {faults_done:?}, produced {produced_at:?}, source checked \
         {source_checked:?}, destination checked {:?}",
        started.elapsed()
    );

    let stats = proxy.stats().since(&before);
    eprintln!("proxy: {stats:?}, run {:?}", started.elapsed());
    let resets = SCHEDULE
        .iter()
        .filter(|(_, f)| !matches!(f, Fault::StallAtRequest(_)))
        .count() as u64;
    assert!(
        stats.reset >= resets,
        "fewer connections reset than resets: {stats:?}"
    );
    assert!(
        stats.accepted > resets,
        "the gateway did not reconnect after each reset: {stats:?}"
    );
    let lost = SCHEDULE
        .iter()
        .filter(|(_, f)| matches!(f, Fault::LoseReply(_)))
        .count() as u64;
    assert_eq!(stats.replies_lost, lost, "{stats:?}");
    assert!(stats.refused >= 2, "{stats:?}");
    assert_eq!(stats.stalls, 1, "{stats:?}");
    let payload = TOTAL * VALUE_LEN as u64;
    let carried = if faulted == "dst" {
        stats.bytes_to_upstream
    } else {
        stats.bytes_to_client
    };
    assert!(
        carried > payload / 2,
        "the records did not pass the proxy ({carried} bytes): {stats:?}"
    );
    let timeouts = metric(
        gw.metrics_listen(),
        "linkgate_kafka_errors_total",
        &[("cluster", faulted), ("kind", "timeout")],
    )
    .await;
    assert!(
        timeouts >= STALL_TIMEOUTS,
        "{timeouts} timeouts on {faulted}"
    );
    Ok(())
}

/// The destination behind the proxy: produce and state-topic requests are
/// cut by resets, refused reconnects and a stall past the request timeout
/// while the source is written; the mirror is an exact copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_faults_lose_and_duplicate_nothing() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = ProxiedBroker::start("dst")?;
    create_topic(&src.bootstrap(), TOPIC, PARTITIONS, &[]).await?;
    let config = faulted_config(&src, &dst.broker, "dst", &dst.bootstrap());
    let gw = Gateway::start(&config)?;
    let result = run_faulted_mirror(
        &gw,
        &dst.proxy,
        "dst",
        &src.bootstrap(),
        &dst.broker.bootstrap(),
    )
    .await;
    if let Err(e) = result {
        // A panic while the gateway runs keeps its directory and prints its log tail.
        panic!("{e:#}\nproxy: {:?}", dst.proxy.stats());
    }
    Ok(())
}

/// The source behind the proxy: fetches (and the test's producer, which
/// the source's Metadata sends through the proxy too) are cut by resets,
/// refused reconnects and a stall past the request timeout; the mirror is
/// an exact copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_faults_lose_and_duplicate_nothing() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let src = ProxiedBroker::start("src")?;
    let dst = Broker::start("dst")?;
    create_topic(&src.bootstrap(), TOPIC, PARTITIONS, &[]).await?;
    let config = faulted_config(&src.broker, &dst, "src", &src.bootstrap());
    eprintln!("setup {:?}", t0.elapsed());
    let gw = Gateway::start(&config)?;
    eprintln!("gateway {:?}", t0.elapsed());
    let result =
        run_faulted_mirror(&gw, &src.proxy, "src", &src.bootstrap(), &dst.bootstrap()).await;
    if let Err(e) = result {
        panic!("{e:#}\nproxy: {:?}", src.proxy.stats());
    }
    Ok(())
}

/// A produce that reaches the destination only after the gateway that sent
/// it was killed and a new one has read the destination (a request queued
/// at the broker when the process died): the dead gateway's data produce
/// is held; the restarted gateway recovers (the log end offset says the
/// round did not land) and its own produce of the round is held too; the
/// old produce lands, then the new one. The new one carries the producer
/// id, epoch and sequences of the old (the unfinished round is re-sent
/// under them), so the broker drops it as a duplicate (KIP-98): the mirror
/// holds every record once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_produce_landing_after_a_restart_is_not_duplicated() -> anyhow::Result<()> {
    const PRODUCE: i16 = 0;
    let src = Broker::start("src")?;
    let dst = ProxiedBroker::start("dst")?;
    create_topic(&src.bootstrap(), TOPIC, 1, &[]).await?;
    let records = |from: usize, n: usize| -> Vec<TestRecord> {
        (from..from + n)
            .map(|i| TestRecord {
                partition: 0,
                key: Some(format!("k{i}").into_bytes()),
                value: Some(format!("value {i}").into_bytes()),
                headers: Vec::new(),
                timestamp: now_ms() - 60_000 + i as i64,
            })
            .collect()
    };
    let mut gw = Gateway::start(&faulted_config(&src, &dst.broker, "dst", &dst.bootstrap()))?;
    let first = records(0, 50);
    produce(&src.bootstrap(), TOPIC, &first, "none").await?;
    let destination = dst.broker.bootstrap();
    let high = || {
        let d = destination.clone();
        async move {
            fetch_watermarks(&d, TOPIC, 0)
                .await
                .map(|w| w.1)
                .unwrap_or(-1)
        }
    };
    wait_until("first records mirrored", MIRROR_DEADLINE, || async {
        high().await == 50
    })
    .await
    .with_context(|| gw.log_tail(40))?;

    // The next round: its checkpoint goes through, its data produce is
    // held; the gateway dies before the produce times out.
    dst.proxy.hold_request(PRODUCE, 2);
    let second = records(50, 50);
    produce(&src.bootstrap(), TOPIC, &second, "none").await?;
    wait_until("the data produce held", FAULT_DEADLINE, || async {
        dst.proxy.stats().holds == 1
    })
    .await
    .with_context(|| gw.log_tail(40))?;
    gw.kill9()?;
    // The restarted gateway's Produce requests: its claim, the round's
    // checkpoint, then the round's data, which is held.
    dst.proxy.hold_request(PRODUCE, 3);
    gw.restart()?;
    wait_until(
        "the restarted gateway's produce held",
        FAULT_DEADLINE,
        || async { dst.proxy.stats().holds == 2 },
    )
    .await
    .with_context(|| gw.log_tail(60))?;
    assert_eq!(high().await, 50, "nothing of the round landed yet");
    // The dead gateway's produce lands, then the new one.
    dst.proxy.release_holds(1);
    wait_until("the old produce landed", FAULT_DEADLINE, || async {
        high().await == 100
    })
    .await?;
    dst.proxy.release_held();
    // No duplicate: the high watermark stays for the quiet window.
    assert_stays(&destination, TOPIC, &[100])
        .await
        .with_context(|| gw.log_tail(60))?;
    let got = consume_partition(&destination, TOPIC, 0, 100, MIRROR_DEADLINE).await?;
    let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
    let mut want = first;
    want.extend(second);
    if let Some(diff) = first_difference(&want, &got) {
        panic!("{diff}\n{}", gw.log_tail(60));
    }
    let labels = [("topic", TOPIC), ("partition", "0"), ("state", "ACTIVE")];
    wait_until("the partition stays ACTIVE", MIRROR_DEADLINE, || async {
        gw.metric_value("linkgate_mirror_partition_state", &labels) == Some(1.0)
    })
    .await
    .with_context(|| gw.log_tail(60))?;
    Ok(())
}
