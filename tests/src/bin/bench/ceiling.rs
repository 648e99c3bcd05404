//! The throughput ceiling of a pass-through mirror: the destination's ingest
//! of the source's own record batches, already encoded, sent by a minimal
//! idempotent producer.
//!
//! Before the clock starts, the source's batches are read with plain Fetch
//! requests (kafka-protocol over a bare TCP stream), made producible as
//! linkgate makes them (`normalize_for_produce`), given the writer fields of
//! a producer id from InitProducerId on the destination
//! (`rewrite_for_producer`), and encoded into Produce request frames (acks=all,
//! one batch per partition per request, as Apache Kafka requires: request `i`
//! carries the `i`-th batch of every partition). Timed: writing those frames
//! on one connection with up to [`IN_FLIGHT`] requests in flight (Kafka's
//! bound for an idempotent producer; a writer and a reader side by side, so
//! the next request goes out the moment an answer frees a slot), from the
//! first byte written to the last response read; every partition answer
//! must be error code 0.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, InitProducerIdRequest,
    ProduceRequest, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use linkgate::kafka::records::batch::{self, RawBatch};
use linkgate::kafka::wire;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Produce requests in flight at most (Apache Kafka's bound for an
/// idempotent producer, `max.in.flight.requests.per.connection` <= 5).
pub const IN_FLIGHT: usize = 5;
/// Bytes asked for per partition per Fetch while reading the source.
const FETCH_PARTITION_BYTES: i32 = 8 << 20;
/// Largest response frame accepted.
const MAX_FRAME: usize = 256 << 20;
/// Highest Produce version used (the one linkgate caps at).
const PRODUCE_MAX_VERSION: i16 = 12;
/// Highest InitProducerId version used.
const INIT_PRODUCER_ID_MAX_VERSION: i16 = 4;

/// A bare Kafka connection: one frame out, one frame in, in order.
struct Wire {
    stream: TcpStream,
    next_correlation_id: i32,
    versions: HashMap<i16, (i16, i16)>,
}

impl Wire {
    async fn connect(bootstrap: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(bootstrap)
            .await
            .with_context(|| format!("connecting to {bootstrap}"))?;
        stream.set_nodelay(true)?;
        let mut w = Self {
            stream,
            next_correlation_id: 0,
            versions: HashMap::new(),
        };
        let resp: ApiVersionsResponse = w
            .call(
                &ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("linkgate-bench"))
                    .with_client_software_version(StrBytes::from_static_str("1")),
                3,
            )
            .await?;
        anyhow::ensure!(
            resp.error_code == 0,
            "ApiVersions error {}",
            resp.error_code
        );
        w.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(w)
    }

    /// Highest version of `R` both sides speak, at most `cap`.
    fn version<R: Request>(&self, cap: i16) -> anyhow::Result<i16> {
        let (min, max) = self
            .versions
            .get(&R::KEY)
            .copied()
            .with_context(|| format!("broker does not support API key {}", R::KEY))?;
        let v = max.min(cap).min(R::VERSIONS.max);
        anyhow::ensure!(
            v >= min && v >= R::VERSIONS.min,
            "no common version for API key {}",
            R::KEY
        );
        Ok(v)
    }

    /// One length-prefixed request frame.
    fn frame<R: Request>(&mut self, req: &R, version: i16) -> anyhow::Result<Bytes> {
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.next_correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("linkgate-bench")));
        self.next_correlation_id += 1;
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, R::header_version(version))?;
        req.encode(&mut buf, version)?;
        let len = i32::try_from(buf.len() - 4).context("request too large")?;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        Ok(buf.freeze())
    }

    async fn read<R: Request>(&mut self, version: i16) -> anyhow::Result<R::Response> {
        read_response::<R, _>(&mut self.stream, version).await
    }

    async fn call<R: Request>(&mut self, req: &R, version: i16) -> anyhow::Result<R::Response> {
        let frame = self.frame(req, version)?;
        self.stream.write_all(&frame).await?;
        self.read::<R>(version).await
    }
}

/// Reads one response frame of `R` at `version` from `stream`.
async fn read_response<R: Request, S: AsyncRead + Unpin>(
    stream: &mut S,
    version: i16,
) -> anyhow::Result<R::Response> {
    let len = stream.read_i32().await.context("reading a response")?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .with_context(|| format!("response frame of {len} bytes"))?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    let mut body = Bytes::from(body);
    let header_version = ApiKey::try_from(R::KEY)
        .map_err(|()| anyhow::anyhow!("unknown API key {}", R::KEY))?
        .response_header_version(version);
    ResponseHeader::decode(&mut body, header_version)?;
    R::Response::decode(&mut body, version)
}

/// Reads every batch of `topic` partitions `0..highs.len()` from offset 0 up
/// to `highs[p]` and makes them producible (`normalize_for_produce`, as
/// linkgate does). Returns the batches per partition.
pub async fn read_source(
    bootstrap: &str,
    topic: &str,
    highs: &[i64],
) -> anyhow::Result<Vec<Vec<RawBatch>>> {
    let mut wire = Wire::connect(bootstrap).await?;
    let version = wire.version::<FetchRequest>(wire::FETCH_BY_NAME_MAX_VERSION)?;
    let mut out = Vec::with_capacity(highs.len());
    for (p, high) in highs.iter().enumerate() {
        let partition = i32::try_from(p)?;
        let mut batches = Vec::new();
        let mut offset = 0i64;
        // Bounded: every round moves `offset` by at least one batch.
        while offset < *high {
            let req = wire::fetch_request(
                &[wire::FetchTarget {
                    topic: topic.to_owned(),
                    topic_id: uuid::Uuid::nil(),
                    partition,
                    offset,
                    max_bytes: FETCH_PARTITION_BYTES,
                    current_leader_epoch: -1,
                    last_fetched_epoch: -1,
                }],
                wire::READ_UNCOMMITTED,
                500,
                1,
                FETCH_PARTITION_BYTES,
            );
            let resp = wire.call(&req, version).await?;
            anyhow::ensure!(resp.error_code == 0, "Fetch error {}", resp.error_code);
            let records = resp
                .responses
                .into_iter()
                .flat_map(|t| t.partitions)
                .find(|pd| pd.partition_index == partition)
                .with_context(|| format!("{topic}/{p}: no partition in the Fetch response"))?;
            anyhow::ensure!(
                records.error_code == 0,
                "{topic}/{p}: Fetch error {}",
                records.error_code
            );
            let split = batch::split_batches(&records.records.unwrap_or_default())?;
            let before = offset;
            for b in split.batches {
                let next = b.header.base_offset + i64::from(b.header.last_offset_delta) + 1;
                if next <= offset {
                    continue;
                }
                offset = next;
                if let Some(b) = batch::normalize_for_produce(b)? {
                    batches.push(b);
                }
            }
            anyhow::ensure!(
                offset > before,
                "{topic}/{p}: no progress at offset {offset}"
            );
        }
        out.push(batches);
    }
    Ok(out)
}

/// The ceiling's timed run: wall time and bytes of batches sent.
pub struct Ingest {
    /// From the first request byte written to the last response read.
    pub wall: Duration,
    /// Produce requests sent.
    pub requests: usize,
    /// Batch bytes sent.
    pub batch_bytes: u64,
}

/// Produces `batches` (per partition, from [`read_source`]) to `topic` on
/// the broker at `bootstrap` (which must lead every partition: a single
/// broker) as described in the module doc.
pub async fn ingest(
    bootstrap: &str,
    topic: &str,
    batches: Vec<Vec<RawBatch>>,
) -> anyhow::Result<Ingest> {
    let mut wire = Wire::connect(bootstrap).await?;
    let init_version = wire.version::<InitProducerIdRequest>(INIT_PRODUCER_ID_MAX_VERSION)?;
    let init = wire
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
            init_version,
        )
        .await?;
    anyhow::ensure!(
        init.error_code == 0,
        "InitProducerId error {}",
        init.error_code
    );
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let version = wire.version::<ProduceRequest>(PRODUCE_MAX_VERSION)?;

    // Encoded before the clock starts.
    let layers = batches.iter().map(Vec::len).max().unwrap_or(0);
    let mut sequences = vec![0i32; batches.len()];
    let mut frames = Vec::with_capacity(layers);
    let mut batch_bytes = 0u64;
    for layer in 0..layers {
        let mut targets = Vec::new();
        for (p, partition) in batches.iter().enumerate() {
            let Some(b) = partition.get(layer) else {
                continue;
            };
            batch_bytes += b.bytes.len() as u64;
            targets.push(wire::ProduceTarget {
                topic: topic.to_owned(),
                partition: i32::try_from(p)?,
                records: batch::rewrite_for_producer(b, pid, epoch, sequences[p]),
            });
            sequences[p] = batch::increment_sequence(sequences[p], b.header.record_count);
        }
        let req = wire::produce_request(targets, -1, 30_000);
        frames.push(wire.frame(&req, version)?);
    }
    drop(batches);

    // Writer and reader run side by side: a request goes out as soon as
    // fewer than IN_FLIGHT are unanswered (a permit per request in flight).
    let (mut rd, mut wr) = wire.stream.into_split();
    let permits = Semaphore::new(IN_FLIGHT);
    let start = Instant::now();
    let write = async {
        for frame in &frames {
            permits.acquire().await?.forget();
            wr.write_all(frame).await?;
        }
        anyhow::Ok(())
    };
    let read = async {
        for answered in 0..frames.len() {
            let resp = read_response::<ProduceRequest, _>(&mut rd, version).await?;
            for t in &resp.responses {
                for p in &t.partition_responses {
                    anyhow::ensure!(
                        p.error_code == 0,
                        "produce request {answered}, partition {}: error code {}",
                        p.index,
                        p.error_code
                    );
                }
            }
            permits.add_permits(1);
        }
        anyhow::Ok(())
    };
    tokio::try_join!(write, read)?;
    Ok(Ingest {
        wall: start.elapsed(),
        requests: frames.len(),
        batch_bytes,
    })
}
