//! Proves the end-to-end harness against real brokers: nisshi brokers started
//! by [`Broker`], records written and read back with librdkafka through
//! [`produce`] and [`consume_partition`], with every codec, null keys, null
//! values, headers and fixed CreateTime timestamps; a persistent broker
//! survives `kill -9` and a restart on the same port.
//!
//! The [`linkgate_tests::Gateway`] part of the harness is exercised by the
//! gateway's own end-to-end tests (it needs the `linkgate` binary).
//!
//! The [`FaultProxy`] is checked against loopback sockets of the test (bytes
//! pass both ways; a reset reaches both peers as a TCP RST; a stall holds
//! every byte until it ends; the reply to a chosen Kafka request is never
//! delivered; refused and unforwardable connections are reset) and, as
//! [`ProxiedBroker`], against librdkafka and nisshi.

use std::time::Duration;

use std::io::ErrorKind;
use std::net::SocketAddr;

use linkgate_tests::{
    assert_same_records, client_config, consume_partition, create_topic, fetch_watermarks, now_ms,
    partition_count, produce, random_payload, wait_until, Broker, ClientSecurity, FaultProxy,
    ProxiedBroker, TestRecord, CODECS,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const READ_DEADLINE: Duration = Duration::from_secs(30);

/// Deadline of one socket operation in the proxy tests: 10 s.
const SOCKET_DEADLINE: Duration = Duration::from_secs(10);

/// How long the proxy tests watch for bytes that must not pass: 500 ms.
const STALL_WINDOW: Duration = Duration::from_millis(500);

/// `n` records over `partitions` partitions, covering: normal, null and empty
/// keys; null, empty and compressible random values up to 2 KiB; headers
/// with values, null values and repeated names; explicit timestamps from one
/// hour ago on, with repeats. (Timestamps must be recent: brokers delete
/// records older than `retention.ms`, 7 days by default, by their timestamp;
/// nisshi does so when it starts.)
fn sample_records(partitions: i32, n: usize, seed: u64) -> Vec<TestRecord> {
    let ts0 = (now_ms() - 3_600_000) / 1000 * 1000;
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let partition = i32::try_from(i).expect("small index") % partitions;
            let key = match i % 10 {
                3 => None,
                4 => Some(Vec::new()),
                _ => Some(format!("key-{i}").into_bytes()),
            };
            let value = match i % 10 {
                5 => None,
                6 => Some(Vec::new()),
                _ => Some(random_payload(&mut rng, 10 + (i * 37) % 2000)),
            };
            let headers = match i % 3 {
                0 => vec![
                    ("trace".to_owned(), Some(format!("t-{i}").into_bytes())),
                    ("null-header".to_owned(), None),
                    ("trace".to_owned(), Some(vec![0, 255, 1])),
                ],
                1 => vec![("empty".to_owned(), Some(Vec::new()))],
                _ => Vec::new(),
            };
            let timestamp = ts0 + i64::try_from(i / 2).expect("small index") * 1000;
            TestRecord {
                partition,
                key,
                value,
                headers,
                timestamp,
            }
        })
        .collect()
}

fn of_partition(records: &[TestRecord], partition: i32) -> Vec<TestRecord> {
    records
        .iter()
        .filter(|r| r.partition == partition)
        .cloned()
        .collect()
}

/// Reads back every partition of `topic` and compares with `sent`; also checks
/// that offsets start at 0 without gaps and that the high watermark matches.
async fn assert_topic_holds(broker: &Broker, topic: &str, partitions: i32, sent: &[TestRecord]) {
    for p in 0..partitions {
        let expected = of_partition(sent, p);
        let got = consume_partition(&broker.bootstrap(), topic, p, expected.len(), READ_DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{topic}/{p}: {e:#}\n{}", broker.log_tail(30)));
        let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
        let want_offsets: Vec<i64> = (0..i64::try_from(expected.len()).expect("len")).collect();
        assert_eq!(offsets, want_offsets, "{topic}/{p}: offsets");
        let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
        assert!(
            got.iter().all(|r| r.partition == p),
            "{topic}/{p}: partition"
        );
        assert_same_records(&expected, &got);
        let (low, high) = fetch_watermarks(&broker.bootstrap(), topic, p)
            .await
            .expect("watermarks");
        assert_eq!(
            (low, high),
            (0, want_offsets.len() as i64),
            "{topic}/{p}: watermarks"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_brokers_round_trip_every_codec() -> anyhow::Result<()> {
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    assert_ne!(src.port(), dst.port());
    let records = sample_records(3, 100, 42);
    assert!(records.iter().any(|r| r.key.is_none()) && records.iter().any(|r| r.value.is_none()));
    for codec in CODECS {
        let topic = format!("harness-{codec}");
        for broker in [&src, &dst] {
            create_topic(
                &broker.bootstrap(),
                &topic,
                3,
                &[("cleanup.policy", "delete")],
            )
            .await?;
            assert_eq!(partition_count(&broker.bootstrap(), &topic).await?, Some(3));
            produce(&broker.bootstrap(), &topic, &records, codec).await?;
            assert_topic_holds(broker, &topic, 3, &records).await;
        }
    }
    // The two clusters are independent: a topic created on one is unknown on the other.
    create_topic(&src.bootstrap(), "only-on-src", 1, &[]).await?;
    assert_eq!(
        partition_count(&dst.bootstrap(), "only-on-src").await?,
        None
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_broker_keeps_data_across_kill9_and_restart() -> anyhow::Result<()> {
    let mut broker = Broker::start_persistent("persist")?;
    let port = broker.port();
    let topic = "durable";
    create_topic(&broker.bootstrap(), topic, 2, &[]).await?;
    let first = sample_records(2, 40, 7);
    produce(&broker.bootstrap(), topic, &first, "gzip").await?;
    assert_topic_holds(&broker, topic, 2, &first).await;

    broker.kill9()?;
    broker.restart()?;
    assert_eq!(broker.port(), port, "restart keeps the port");
    assert_topic_holds(&broker, topic, 2, &first).await;

    // The restarted broker accepts new writes after the old ones.
    let mut second = sample_records(2, 20, 8);
    for r in &mut second {
        r.timestamp += 1_000_000;
    }
    produce(&broker.bootstrap(), topic, &second, "zstd").await?;
    let all: Vec<TestRecord> = first.iter().chain(&second).cloned().collect();
    assert_topic_holds(&broker, topic, 2, &all).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_broker_restarts_empty() -> anyhow::Result<()> {
    let mut broker = Broker::start("volatile")?;
    create_topic(&broker.bootstrap(), "gone", 1, &[]).await?;
    broker.kill9()?;
    broker.restart()?;
    assert_eq!(partition_count(&broker.bootstrap(), "gone").await?, None);
    Ok(())
}

#[tokio::test]
async fn wait_until_polls_then_times_out_with_what() {
    let mut calls = 0;
    wait_until("third call", Duration::from_secs(5), || {
        calls += 1;
        let done = calls >= 3;
        async move { done }
    })
    .await
    .expect("condition met on the third call");
    assert_eq!(calls, 3);

    let err = wait_until("never", Duration::from_millis(300), || async { false })
        .await
        .expect_err("must time out");
    assert!(err.to_string().contains("waiting for never"), "{err}");
}

/// A client connected through `proxy` and the upstream side of the same
/// connection, accepted on `upstream`.
async fn proxied_pair(proxy: &FaultProxy, upstream: &TcpListener) -> (TcpStream, TcpStream) {
    let client = tokio::time::timeout(SOCKET_DEADLINE, TcpStream::connect(proxy.addr()))
        .await
        .expect("connect in time")
        .expect("connect to the proxy");
    let (server, _) = tokio::time::timeout(SOCKET_DEADLINE, upstream.accept())
        .await
        .expect("upstream connection in time")
        .expect("accept upstream");
    (client, server)
}

/// Reads exactly `n` bytes within [`SOCKET_DEADLINE`].
async fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(SOCKET_DEADLINE, stream.read_exact(&mut buf))
        .await
        .expect("bytes in time")
        .expect("read");
    buf
}

/// Asserts that nothing can be read from `stream` for [`STALL_WINDOW`].
async fn assert_nothing_arrives(stream: &mut TcpStream, side: &str) {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(STALL_WINDOW, stream.read(&mut buf)).await {
        Err(_) => {}
        Ok(r) => panic!("{side} got {r:?} through a stalled proxy"),
    }
}

/// Asserts that the peer of `stream` reset the connection: the next read
/// fails with `ECONNRESET` (not a clean end of stream) within the deadline.
async fn assert_reset(stream: &mut TcpStream, side: &str) {
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(SOCKET_DEADLINE, stream.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{side}: connection still open after the reset"));
    match read {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("{side}: expected a TCP reset, got {other:?}"),
    }
}

/// A Kafka frame: the 4-byte big-endian size of `parts`, then `parts`.
fn kafka_frame(parts: &[&[u8]]) -> Vec<u8> {
    let body = parts.concat();
    let size = i32::try_from(body.len()).expect("small frame");
    [&size.to_be_bytes()[..], &body].concat()
}

/// Connects to `addr` and asserts that the connection is reset at once:
/// while connecting (the reset came before the connect was checked) or at
/// the first read.
async fn assert_connection_reset(addr: SocketAddr, side: &str) {
    match tokio::time::timeout(SOCKET_DEADLINE, TcpStream::connect(addr))
        .await
        .expect("connect in time")
    {
        Ok(mut stream) => assert_reset(&mut stream, side).await,
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{side}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_proxy_forwards_stalls_resets_and_refuses() {
    let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream_addr = upstream.local_addr().expect("upstream address");
    let proxy = FaultProxy::start(upstream_addr).expect("proxy");
    assert_ne!(proxy.port(), upstream_addr.port());
    assert_eq!(proxy.upstream(), Some(upstream_addr));

    // Bytes pass both ways and are counted.
    let (mut client, mut server) = proxied_pair(&proxy, &upstream).await;
    client.write_all(b"ping").await.expect("client write");
    assert_eq!(read_n(&mut server, 4).await, b"ping");
    server.write_all(b"pong!").await.expect("server write");
    assert_eq!(read_n(&mut client, 5).await, b"pong!");
    let stats = proxy.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.open,
            stats.bytes_to_upstream,
            stats.bytes_to_client
        ),
        (1, 1, 4, 5),
        "{stats:?}"
    );

    // Stalled: nothing passes either way, the connection stays open; the
    // held bytes pass once the stall ends.
    proxy.set_stalled(true);
    assert!(proxy.is_stalled());
    client.write_all(b"held-up").await.expect("client write");
    server.write_all(b"held-down").await.expect("server write");
    tokio::join!(
        assert_nothing_arrives(&mut server, "upstream"),
        assert_nothing_arrives(&mut client, "client")
    );
    let stats = proxy.stats();
    assert_eq!(
        (
            stats.bytes_to_upstream,
            stats.bytes_to_client,
            stats.open,
            stats.stalls
        ),
        (4, 5, 1, 1),
        "{stats:?}"
    );
    // A connection made during the stall is accepted but carries nothing.
    let (mut late_client, mut late_server) = proxied_pair(&proxy, &upstream).await;
    late_client.write_all(b"late").await.expect("late write");
    assert_nothing_arrives(&mut late_server, "late upstream").await;
    proxy.set_stalled(false);
    assert_eq!(read_n(&mut server, 7).await, b"held-up");
    assert_eq!(read_n(&mut client, 9).await, b"held-down");
    assert_eq!(read_n(&mut late_server, 4).await, b"late");

    // A timed stall ends by itself.
    proxy.stall_for(Duration::from_millis(300));
    assert!(proxy.is_stalled());
    client.write_all(b"timed").await.expect("client write");
    wait_until("the timed stall to end", SOCKET_DEADLINE, || async {
        !proxy.is_stalled()
    })
    .await
    .expect("stall over");
    assert_eq!(read_n(&mut server, 5).await, b"timed");
    assert_eq!(proxy.stats().stalls, 2);

    // reset_all: both peers of every open connection get a TCP RST.
    assert_eq!(proxy.reset_all(), 2, "two connections open");
    assert_reset(&mut client, "client").await;
    assert_reset(&mut server, "upstream").await;
    assert_reset(&mut late_client, "late client").await;
    assert_reset(&mut late_server, "late upstream").await;
    wait_until("no open connection", SOCKET_DEADLINE, || async {
        proxy.stats().open == 0
    })
    .await
    .expect("connections closed");
    assert_eq!(proxy.stats().reset, 2);

    // Connections after the reset are forwarded again.
    let (mut client, mut server) = proxied_pair(&proxy, &upstream).await;
    client.write_all(b"again").await.expect("client write");
    assert_eq!(read_n(&mut server, 5).await, b"again");
    // A clean close on one side is passed on as a clean close.
    drop(server);
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(SOCKET_DEADLINE, client.read(&mut buf))
        .await
        .expect("end of stream in time");
    assert_eq!(read.expect("clean close"), 0, "end of stream");
    drop(client);

    // Refusing: new connections are reset at once and never reach upstream.
    proxy.refuse(true);
    assert_connection_reset(proxy.addr(), "refused client").await;
    assert_eq!(proxy.stats().refused, 1);
    proxy.refuse(false);
    let (mut client, mut server) = proxied_pair(&proxy, &upstream).await;
    server.write_all(b"open").await.expect("server write");
    assert_eq!(read_n(&mut client, 4).await, b"open");

    // A lost reply: the reply to the second Produce request (API key 0)
    // is dropped, and every connection is reset; other replies pass. A new
    // connection, framed from its first byte.
    let (mut other_client, mut other_server) = (client, server);
    let (mut client, mut server) = proxied_pair(&proxy, &upstream).await;
    proxy.lose_reply(0, 2);
    for (key, id) in [(1, 1), (0, 2), (3, 3), (0, 4)] {
        let request = kafka_frame(&[&i16::to_be_bytes(key), &[0, 0], &i32::to_be_bytes(id)]);
        client.write_all(&request).await.expect("client write");
        assert_eq!(read_n(&mut server, request.len()).await, request);
        let reply = kafka_frame(&[&i32::to_be_bytes(id), b"ok"]);
        server.write_all(&reply).await.expect("server write");
        if id < 4 {
            assert_eq!(read_n(&mut client, reply.len()).await, reply, "reply {id}");
        }
    }
    assert_reset(&mut client, "client of the lost reply").await;
    assert_reset(&mut server, "upstream of the lost reply").await;
    assert_reset(&mut other_client, "other client").await;
    assert_reset(&mut other_server, "other upstream").await;
    let stats = proxy.stats();
    assert_eq!(
        (stats.replies_lost, stats.reset, stats.bytes_to_client),
        (1, 4, 5 + 9 + 4 + 3 * 10),
        "{stats:?}"
    );

    // A stall at the first Produce request: what came before passes, the
    // request waits until the stall is lifted.
    let (mut client, mut server) = proxied_pair(&proxy, &upstream).await;
    proxy.stall_at_request(0, 1);
    let fetch = kafka_frame(&[&1i16.to_be_bytes(), &[0, 0], &10i32.to_be_bytes()]);
    client.write_all(&fetch).await.expect("client write");
    assert_eq!(read_n(&mut server, fetch.len()).await, fetch);
    assert!(!proxy.is_stalled());
    let produce = kafka_frame(&[&0i16.to_be_bytes(), &[0, 0], &11i32.to_be_bytes(), b"x"]);
    client.write_all(&produce).await.expect("client write");
    wait_until(
        "the stall at the Produce request",
        SOCKET_DEADLINE,
        || async { proxy.is_stalled() },
    )
    .await
    .expect("stalled");
    assert_nothing_arrives(&mut server, "upstream of the held request").await;
    proxy.set_stalled(false);
    assert_eq!(read_n(&mut server, produce.len()).await, produce);
    assert_eq!(proxy.stats().stalls, 3);
    drop((client, server));

    // Upstream gone: the client is reset.
    drop(upstream);
    assert_connection_reset(proxy.addr(), "client without upstream").await;
    let stats = proxy.stats();
    assert_eq!((stats.upstream_failed, stats.accepted), (1, 8), "{stats:?}");

    // Dropping the proxy closes its port.
    let addr: SocketAddr = proxy.addr();
    drop(proxy);
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "proxy port still accepts: {refused:?}");
}

/// A proxy started without upstream resets every connection until it is
/// given one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_proxy_without_upstream_resets_until_set() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy = FaultProxy::start_on(listener, None).expect("proxy");
    assert_eq!(proxy.upstream(), None);
    assert_connection_reset(proxy.addr(), "client before the upstream").await;
    let before = proxy.stats();
    assert_eq!(
        (before.accepted, before.upstream_failed),
        (1, 1),
        "{before:?}"
    );

    let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    proxy.set_upstream(upstream.local_addr().expect("upstream address"));
    let (mut client, mut server) = proxied_pair(&proxy, &upstream).await;
    client.write_all(b"now").await.expect("client write");
    assert_eq!(read_n(&mut server, 3).await, b"now");
    let since = proxy.stats().since(&before);
    assert_eq!(
        (
            since.accepted,
            since.upstream_failed,
            since.bytes_to_upstream,
            since.open
        ),
        (1, 0, 3, 1),
        "{since:?}"
    );
}

/// A broker behind a proxy advertises the proxy's port: librdkafka
/// bootstrapped at the broker's own port still comes back through the
/// proxy, and a consumer whose connections were reset reconnects and reads
/// on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_broker_keeps_clients_behind_the_proxy() -> anyhow::Result<()> {
    let proxied = ProxiedBroker::start("proxied")?;
    let records = sample_records(2, 60, 3);
    create_topic(&proxied.bootstrap(), "behind", 2, &[]).await?;
    produce(&proxied.bootstrap(), "behind", &records[..30], "lz4").await?;
    let after_produce = proxied.proxy.stats();
    assert!(
        after_produce.accepted >= 1 && after_produce.bytes_to_upstream > 0,
        "{after_produce:?}"
    );

    // Bootstrapped at the broker itself: Metadata sends the client to the proxy.
    let direct = proxied.broker.bootstrap();
    let got = consume_partition(&direct, "behind", 0, 15, READ_DEADLINE).await?;
    assert_eq!(got.len(), 15);
    let after_consume = proxied.proxy.stats();
    assert!(
        after_consume.accepted > after_produce.accepted
            && after_consume.bytes_to_client > after_produce.bytes_to_client,
        "the consumer did not come through the proxy: {after_produce:?} then {after_consume:?}"
    );

    // A consumer fetching through the proxy: its connections are reset,
    // it reconnects and reads what is produced afterwards.
    let consumer: StreamConsumer =
        client_config(&proxied.bootstrap(), &ClientSecurity::plaintext())
            .set("group.id", "linkgate-tests-reset")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("reconnect.backoff.ms", "50")
            .set("log_level", "0")
            .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("behind", 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let first = of_partition(&records[..30], 0).len();
    let second = of_partition(&records[30..], 0).len();
    let mut got = Vec::new();
    let mut reset_done = false;
    let deadline = std::time::Instant::now() + READ_DEADLINE;
    while got.len() < first + second {
        if got.len() == first && !reset_done {
            reset_done = true;
            let before = proxied.proxy.stats().reset;
            let open = proxied.proxy.reset_all();
            assert!(
                open >= 1,
                "the consumer holds no connection through the proxy"
            );
            wait_until(
                "the consumer's connections reset",
                READ_DEADLINE,
                || async { proxied.proxy.stats().reset > before },
            )
            .await?;
            produce(&proxied.bootstrap(), "behind", &records[30..], "zstd").await?;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .map_err(|_| {
                anyhow::anyhow!("read {} of {} records in time", got.len(), first + second)
            })?;
        if let Ok(m) = message {
            got.push(m.offset());
        }
    }
    let offsets: Vec<i64> = (0..i64::try_from(first + second)?).collect();
    assert_eq!(
        got, offsets,
        "the consumer read every record once, in order"
    );
    assert_topic_holds(&proxied.broker, "behind", 2, &records).await;
    Ok(())
}
