//! Incremental fetch sessions (KIP-227) through the real fetcher.
//!
//! The test broker (nisshi) grants no fetch sessions: it answers session id
//! 0, so against it the fetcher falls back to full sessionless fetches (the
//! end-to-end tests in `tests/tests/mirror.rs` check that it keeps
//! mirroring and never fetches incrementally). The session path is covered
//! here with constructed protocol bytes: a scripted source broker on
//! loopback answers ApiVersions and Metadata itself and hands every Fetch
//! request, decoded, to the test, which checks its shape (session id,
//! epoch, partitions and positions carried, forgotten partitions) and
//! answers with a Fetch response built with kafka-protocol. The mirrored
//! records land on a real nisshi destination and are read back with
//! librdkafka.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, MetadataResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable, Encodable, StrBytes};
use kafka_protocol::records::Compression;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::kafka::scripted::FakeBroker;
use crate::kafka::testutil::Broker;
use crate::kafka::wire::topic_name;
use crate::kafka::{ClusterClient, ClusterSettings};
use crate::mirror::fetcher::Round;
use crate::mirror::link::LinkCtx;
use crate::mirror::status::PartitionState;
use crate::mirror::{committer, fetcher};

const TOPIC: &str = "orders";
const TOPIC_ID: uuid::Uuid = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
const PARTITIONS: i32 = 3;
/// Leader epoch of every partition in the scripted metadata.
const LEADER_EPOCH: i32 = 5;
/// How long a test waits for the next Fetch request or round.
const WAIT: Duration = Duration::from_secs(30);

const FETCH_SESSION_ID_NOT_FOUND: i16 =
    kafka_protocol::ResponseError::FetchSessionIdNotFound.code();

/// One Fetch request the scripted source received, and its answer.
struct FetchCall {
    version: i16,
    req: FetchRequest,
    reply: oneshot::Sender<FetchResponse>,
}

impl FetchCall {
    /// `(session_id, session_epoch)`.
    fn session(&self) -> (i32, i32) {
        (self.req.session_id, self.req.session_epoch)
    }

    /// The partitions carried, `(partition, fetch_offset)`, sorted; all of
    /// topic [`TOPIC_ID`], with the metadata's leader epoch.
    fn partitions(&self) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for t in &self.req.topics {
            assert_eq!(t.topic_id, TOPIC_ID, "fetch by topic id");
            for p in &t.partitions {
                assert_eq!(p.current_leader_epoch, LEADER_EPOCH, "KIP-320 leader epoch");
                out.push((p.partition, p.fetch_offset));
            }
        }
        out.sort_unstable();
        out
    }

    /// The forgotten partitions, sorted.
    fn forgotten(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for t in &self.req.forgotten_topics_data {
            assert_eq!(t.topic_id, TOPIC_ID, "forgotten by topic id");
            out.extend(&t.partitions);
        }
        out.sort_unstable();
        out
    }

    fn answer(self, resp: FetchResponse) {
        self.reply
            .send(resp)
            .expect("the source still serves the connection");
    }
}

/// A source broker on 127.0.0.1: ApiVersions (see
/// [`FakeBroker::api_versions`]) and Metadata (node 0 leading every
/// partition of [`TOPIC`]) answered by itself, Fetch requests handed to the
/// test. Stops when dropped.
struct ScriptedSource {
    addr: String,
    fetches: mpsc::UnboundedReceiver<FetchCall>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedSource {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let (tx, fetches) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                conns.spawn(serve(stream, port, tx.clone()));
            }
        });
        Self {
            addr: format!("127.0.0.1:{port}"),
            fetches,
            task,
        }
    }

    /// The next Fetch request (bounded wait).
    async fn next_fetch(&mut self) -> FetchCall {
        tokio::time::timeout(WAIT, self.fetches.recv())
            .await
            .expect("a Fetch request in time")
            .expect("the source is running")
    }
}

async fn serve(stream: TcpStream, port: u16, fetches: mpsc::UnboundedSender<FetchCall>) {
    let (mut rd, wr) = stream.into_split();
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    let mut answers = JoinSet::new();
    loop {
        let mut len = [0u8; 4];
        if rd.read_exact(&mut len).await.is_err() {
            break;
        }
        let Some(n) = usize::try_from(i32::from_be_bytes(len))
            .ok()
            .filter(|n| *n <= 1 << 20)
        else {
            break;
        };
        let mut buf = vec![0u8; n];
        if rd.read_exact(&mut buf).await.is_err() {
            break;
        }
        let mut body = Bytes::from(buf);
        let Ok(h) = decode_request_header_from_buffer(&mut body) else {
            break;
        };
        match ApiKey::try_from(h.request_api_key) {
            Ok(ApiKey::ApiVersions) => write(&wr, &h, &FakeBroker::api_versions()).await,
            Ok(ApiKey::Metadata) => write(&wr, &h, &metadata(port)).await,
            Ok(ApiKey::Fetch) => {
                let req = FetchRequest::decode(&mut body, h.request_api_version)
                    .expect("the fetcher's request decodes");
                let (reply, answer) = oneshot::channel();
                let call = FetchCall {
                    version: h.request_api_version,
                    req,
                    reply,
                };
                if fetches.send(call).is_err() {
                    break;
                }
                let wr = wr.clone();
                // Unanswered (the test kept or dropped the call): the
                // fetcher waits, as on a broker holding the fetch.
                answers.spawn(async move {
                    if let Ok(resp) = answer.await {
                        write(&wr, &h, &resp).await;
                    }
                });
            }
            _ => {}
        }
    }
}

/// Writes the answer to request `h`, at its version.
async fn write<T: Encodable>(wr: &tokio::sync::Mutex<OwnedWriteHalf>, h: &RequestHeader, body: &T) {
    let Ok(key) = ApiKey::try_from(h.request_api_key) else {
        return;
    };
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(h.correlation_id)
        .encode(&mut buf, key.response_header_version(h.request_api_version))
        .expect("response header encodes");
    body.encode(&mut buf, h.request_api_version)
        .expect("response encodes");
    let len = i32::try_from(buf.len() - 4).expect("small response");
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    let _ = wr.lock().await.write_all(&buf).await;
}

/// Node 0 on `port` leads every partition of [`TOPIC`], in epoch
/// [`LEADER_EPOCH`].
fn metadata(port: u16) -> MetadataResponse {
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(0))
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(i32::from(port))])
        .with_cluster_id(Some(StrBytes::from_static_str("scripted")))
        .with_controller_id(BrokerId(0))
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(topic_name(TOPIC)))
            .with_topic_id(TOPIC_ID)
            .with_partitions(
                (0..PARTITIONS)
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(BrokerId(0))
                            .with_leader_epoch(LEADER_EPOCH)
                            .with_replica_nodes(vec![BrokerId(0)])
                            .with_isr_nodes(vec![BrokerId(0)])
                    })
                    .collect(),
            )])
}

/// One batch of `n` plain records from `base`, keys `{tag}-{offset}`.
fn batch(base: i64, n: i64, tag: &str) -> Bytes {
    let mut buf = BytesMut::new();
    super::encode(
        &mut buf,
        &super::records(base, n, -1, tag),
        Compression::Lz4,
    );
    buf.freeze()
}

/// One partition of a Fetch response: `records` up to high watermark `hw`.
fn part(partition: i32, hw: i64, records: Option<Bytes>) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_high_watermark(hw)
        .with_last_stable_offset(hw)
        .with_log_start_offset(0)
        .with_records(records)
}

/// A Fetch response in session `session_id` with `parts` of [`TOPIC`].
fn response(session_id: i32, parts: Vec<PartitionData>) -> FetchResponse {
    let topics = if parts.is_empty() {
        Vec::new()
    } else {
        vec![FetchableTopicResponse::default()
            .with_topic(topic_name(TOPIC))
            .with_topic_id(TOPIC_ID)
            .with_partitions(parts)]
    };
    FetchResponse::default()
        .with_session_id(session_id)
        .with_responses(topics)
}

/// A link context mirroring every partition of [`TOPIC`] from `source`
/// (offset 0) into the existing topic of the same name on `broker`.
async fn link(name: &str, source: &ScriptedSource, broker: &Broker) -> Arc<LinkCtx> {
    let mut settings = ClusterSettings::new("src", vec![source.addr.clone()]);
    settings.request_timeout = Duration::from_secs(60);
    let source = ClusterClient::connect(settings)
        .await
        .expect("connect source");
    let destination = ClusterClient::connect(broker.settings("dst"))
        .await
        .expect("connect destination");
    destination
        .create_topic(TOPIC, PARTITIONS, -1, &[])
        .await
        .expect("create topic");
    Arc::new(
        crate::mirror::fetch_testing::active_ctx(
            name,
            source,
            destination,
            TOPIC,
            TOPIC_ID,
            0..PARTITIONS,
        )
        .await,
    )
}

/// Keys of destination partition `partition` of [`TOPIC`] as librdkafka
/// reads them, once `expected` arrived (or the deadline passed).
fn read_keys(bootstrap: &str, partition: i32, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fetch-session-test")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, partition, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < expected && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
        }
    }
    out
}

/// A source that grants a session, answers incrementally with only some
/// partitions, then answers FETCH_SESSION_ID_NOT_FOUND, and grants a new
/// one; a paused partition is forgotten. Every request has the shape
/// KIP-227 asks for, and the destination holds exactly the source's records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_session_mirrors_exactly_and_recovers_from_a_lost_session() {
    let broker = Broker::start("dst");
    let mut source = ScriptedSource::start().await;
    let ctx = link("session-test", &source, &broker).await;
    let (tx, rx) = mpsc::channel::<Round>(4);
    let fetch = tokio::spawn(fetcher::run(ctx.clone(), tx, ctx.stop.clone()));
    let commit = tokio::spawn(committer::run(ctx.clone(), rx, ctx.stop.clone()));

    // 1. Full, asking for a session: every partition from offset 0.
    let call = source.next_fetch().await;
    assert_eq!(
        call.version, 16,
        "by topic id, the highest version linkgate uses"
    );
    assert_eq!(call.session(), (0, 0), "a full fetch asking for a session");
    assert_eq!(call.partitions(), vec![(0, 0), (1, 0), (2, 0)]);
    assert!(call.forgotten().is_empty());
    call.answer(response(
        77,
        vec![
            part(0, 3, Some(batch(0, 3, "a"))),
            part(1, 2, Some(batch(0, 2, "b"))),
            part(2, 0, None),
        ],
    ));

    // 2. Incremental: only the partitions whose position moved; the idle
    // partition 2 is left out. The answer carries partition 0 only.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (77, 1));
    assert_eq!(call.partitions(), vec![(0, 3), (1, 2)]);
    assert!(call.forgotten().is_empty());
    call.answer(response(77, vec![part(0, 5, Some(batch(3, 2, "c")))]));

    // 3. Partition 1 was absent from the answer: it keeps its position at
    // the broker and is not sent again. The broker lost the session.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (77, 2));
    assert_eq!(call.partitions(), vec![(0, 5)]);
    call.answer(
        FetchResponse::default()
            .with_error_code(FETCH_SESSION_ID_NOT_FOUND)
            .with_session_id(0),
    );

    // 4. Full again, with epoch 0 and no session id: every partition at its
    // position. A new session is granted.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (0, 0), "a lost session starts anew");
    assert_eq!(call.partitions(), vec![(0, 5), (1, 2), (2, 0)]);
    call.answer(response(
        78,
        vec![
            part(0, 5, None),
            part(1, 4, Some(batch(2, 2, "d"))),
            part(2, 0, None),
        ],
    ));

    // 5. Partition 2 is paused while the next incremental fetch waits.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (78, 1));
    assert_eq!(call.partitions(), vec![(1, 4)]);
    ctx.set_state(&(TOPIC.to_string(), 2), PartitionState::Paused);
    let fetched_at = |p: i32| {
        ctx.status
            .lock()
            .get(&(TOPIC.to_string(), p))
            .and_then(|s| s.last_fetch_time)
    };
    let before = fetched_at(0);
    call.answer(response(78, Vec::new()));

    // 6. The paused partition is forgotten; nothing else changed.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (78, 2));
    assert!(call.partitions().is_empty(), "{:?}", call.partitions());
    assert_eq!(call.forgotten(), vec![2]);
    assert!(
        fetched_at(0) > before,
        "a partition absent from an incremental answer counts as fetched, with nothing new"
    );
    // Left unanswered: the fetcher waits as on an idle source.

    let want0 = ["a-0", "a-1", "a-2", "c-3", "c-4"];
    let want1 = ["b-0", "b-1", "d-2", "d-3"];
    for (p, want) in [(0, &want0[..]), (1, &want1[..])] {
        let bootstrap = broker.addr();
        let n = want.len();
        let got = tokio::task::spawn_blocking(move || read_keys(&bootstrap, p, n))
            .await
            .expect("read back");
        assert_eq!(
            got, want,
            "partition {p}: exactly the source's records, in order"
        );
    }
    let keys: Vec<_> = (0..PARTITIONS).map(|p| (TOPIC.to_string(), p)).collect();
    let leo = ctx
        .destination
        .list_offsets(&keys, crate::kafka::OffsetSpec::Latest)
        .await
        .expect("list offsets");
    assert_eq!(
        (0..PARTITIONS)
            .map(|p| leo.get(&(TOPIC.to_string(), p)).copied())
            .collect::<Vec<_>>(),
        vec![Some(5), Some(4), Some(0)],
        "nothing else was produced"
    );
    {
        let slots = ctx.slots();
        assert_eq!(slots[&(TOPIC.to_string(), 0)].fetch_offset, 5);
        assert_eq!(slots[&(TOPIC.to_string(), 1)].fetch_offset, 4);
    }
    ctx.stop.cancel();
    drop(call);
    let _ = tokio::time::timeout(WAIT, fetch)
        .await
        .expect("fetcher stops");
    let _ = tokio::time::timeout(WAIT, commit)
        .await
        .expect("committer stops");
}

/// The next round the fetcher hands on: `(partition, fetch offset, next
/// fetch offset, batch base offsets)` per partition.
async fn next_round(rx: &mut mpsc::Receiver<Round>) -> Vec<(i32, i64, i64, Vec<i64>)> {
    let round = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a round in time")
        .expect("the fetcher runs");
    round
        .partitions
        .iter()
        .map(|p| {
            (
                p.key.1,
                p.fetch_offset,
                p.next_fetch_offset,
                p.batches.iter().map(|b| b.header.base_offset).collect(),
            )
        })
        .collect()
}

/// A rewound position (a round that failed, [`LinkCtx::rewind`]) is sent
/// in the next incremental request, and data fetched before the rewind is
/// dropped; an answer naming a partition outside the session is not used
/// and starts the session anew; a broker that then grants no session
/// (session id 0, as nisshi answers) gets full sessionless fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewinds_reach_the_broker_and_foreign_partitions_reset_the_session() {
    let broker = Broker::start("dst");
    let mut source = ScriptedSource::start().await;
    let ctx = link("rewind-test", &source, &broker).await;
    let (tx, mut rx) = mpsc::channel::<Round>(4);
    let fetch = tokio::spawn(fetcher::run(ctx.clone(), tx, ctx.stop.clone()));
    let p0 = (TOPIC.to_string(), 0);

    let call = source.next_fetch().await;
    assert_eq!(call.session(), (0, 0));
    call.answer(response(
        9,
        vec![
            part(0, 3, Some(batch(0, 3, "a"))),
            part(1, 0, None),
            part(2, 0, None),
        ],
    ));
    assert_eq!(next_round(&mut rx).await, vec![(0, 0, 3, vec![0])]);

    // The round fails while the next fetch is out: the committer rewinds
    // the partition to 0. The answer to the fetch in flight is dropped.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (9, 1));
    assert_eq!(call.partitions(), vec![(0, 3)]);
    ctx.rewind(&p0, 0);
    call.answer(response(9, vec![part(0, 5, Some(batch(3, 2, "c")))]));

    // The rewound position goes to the broker.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (9, 2));
    assert_eq!(
        call.partitions(),
        vec![(0, 0)],
        "the rewound position is sent"
    );
    let mut both = BytesMut::new();
    both.extend_from_slice(&batch(0, 3, "a"));
    both.extend_from_slice(&batch(3, 2, "c"));
    call.answer(response(9, vec![part(0, 5, Some(both.freeze()))]));
    assert_eq!(
        next_round(&mut rx).await,
        vec![(0, 0, 5, vec![0, 3])],
        "fetched again from the rewound position, nothing dropped or doubled"
    );

    // An answer naming a partition outside the session: not used.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (9, 3));
    assert_eq!(call.partitions(), vec![(0, 5)]);
    call.answer(response(
        9,
        vec![
            part(0, 7, Some(batch(5, 2, "e"))),
            part(7, 1, Some(batch(0, 1, "x"))),
        ],
    ));

    // The session starts anew (ending session 9), every partition at the
    // position it had: the data of that answer was not taken.
    let call = source.next_fetch().await;
    assert_eq!(call.session(), (9, 0));
    assert_eq!(call.partitions(), vec![(0, 5), (1, 0), (2, 0)]);
    assert_eq!(ctx.slots()[&p0].fetch_offset, 5);
    // No session granted (session id 0): sessionless fetches follow.
    call.answer(response(
        0,
        vec![
            part(0, 7, Some(batch(5, 2, "e"))),
            part(1, 0, None),
            part(2, 0, None),
        ],
    ));
    assert_eq!(next_round(&mut rx).await, vec![(0, 5, 7, vec![5])]);
    for _ in 0..2 {
        let call = source.next_fetch().await;
        assert_eq!(call.session(), (0, -1), "full and sessionless");
        assert_eq!(call.partitions(), vec![(0, 7), (1, 0), (2, 0)]);
        assert!(call.forgotten().is_empty());
        call.answer(response(
            0,
            vec![part(0, 7, None), part(1, 0, None), part(2, 0, None)],
        ));
    }
    ctx.stop.cancel();
    let _ = tokio::time::timeout(WAIT, fetch)
        .await
        .expect("fetcher stops");
}
