//! One multiplexed connection to one Kafka broker.
//!
//! Owns the wire framing (4-byte big-endian length prefix, request/response
//! headers from `kafka-protocol`), correlation ids, several requests in flight
//! on one socket, the request timeout, and API version negotiation
//! (ApiVersions, KIP-35 / KIP-511). Higher layers ([`super::cluster`]) decide
//! *which* broker to talk to; this module only talks.
//!
//! Shape: [`BrokerConnection`] owns two tokio tasks. The writer task drains a
//! channel of encoded frames onto the socket; the reader task reads frames,
//! matches them to pending requests by correlation id and hands the response
//! body (a zero-copy [`bytes::Bytes`] slice of the frame) to the waiting
//! caller through a oneshot channel. The caller decodes the typed response, so
//! Fetch record sets stay slices of the frame buffer. When the socket fails
//! every pending request fails with [`KafkaError::Disconnected`]; dropping the
//! last `Arc<BrokerConnection>` aborts both tasks and closes the socket.
//!
//! The byte stream is a boxed [`BrokerStream`] opened by [`open_stream`]
//! (TCP, then TLS when `security.protocol` asks for it); SASL runs on the
//! connection itself once ApiVersions is done ([`super::authenticate`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, Request, StrBytes, VersionRange,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::cluster::ClusterSettings;
use super::error::{broker_error, KafkaError, UNSUPPORTED_VERSION};

/// Largest response frame accepted from a broker, in bytes (256 MiB). A
/// length prefix above this (or negative) is treated as a corrupt stream:
/// every pending request fails with [`KafkaError::Malformed`] and the
/// connection closes. Kafka's own client has no such cap, but a Fetch
/// response is bounded by the request's `max_bytes`, which linkgate keeps far
/// below this.
pub const MAX_FRAME_BYTES: usize = 256 * 1024 * 1024;

/// Highest API versions linkgate will use, per API, below what both the
/// `kafka-protocol` codec and the broker support.
///
/// Produce v13+ (KIP-516, Kafka 4.x) replaces topic names by topic ids; the
/// producer side addresses topics by **name**, so Produce is capped at v12.
/// Fetch goes up to v16: from v13 (KIP-516) it addresses topics by id, which
/// the mirror fetcher uses so that a recreated source topic (new id) can never
/// be read as if it were the old one (the broker answers UNKNOWN_TOPIC_ID).
/// Callers that fetch by name pin v12 with `send_version`. Metadata is capped at
/// v12 (v13 only adds a top-level error code; v12 is the last version whose
/// shape linkgate's metadata handling was written against). Every API not
/// listed here uses the highest version both sides support.
pub const VERSION_CAPS: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 12),
    (ApiKey::Fetch, 16),
    (ApiKey::Metadata, 12),
];

/// The ApiVersions version tried first (v3 is the first flexible version,
/// KIP-511, and carries the client software name/version). On
/// `UNSUPPORTED_VERSION` the connection falls back to the highest version the
/// broker lists for ApiVersions in its (v0-encoded) error response, or v0.
pub const API_VERSIONS_FIRST_TRY: i16 = 3;

/// The cap from [`VERSION_CAPS`] for an API key, if any.
pub fn version_cap(api_key: i16) -> Option<i16> {
    VERSION_CAPS
        .iter()
        .find(|(k, _)| *k as i16 == api_key)
        .map(|(_, v)| *v)
}

/// Highest version in the intersection of linkgate's codec range `ours`, the
/// broker's advertised `(min, max)` range and an optional `cap`; `None` when
/// the intersection is empty or the broker does not advertise the API.
pub fn negotiate(ours: VersionRange, broker: Option<(i16, i16)>, cap: Option<i16>) -> Option<i16> {
    let (bmin, bmax) = broker?;
    let mut range = ours.intersect(&VersionRange {
        min: bmin,
        max: bmax,
    });
    if let Some(cap) = cap {
        range.max = range.max.min(cap);
    }
    (!range.is_empty()).then_some(range.max)
}

/// The protocol name of an API key (`"Fetch"`, `"ApiVersions"`), or
/// `"api key N"` for keys this codec does not know.
pub fn api_name(api_key: i16) -> String {
    match ApiKey::try_from(api_key) {
        Ok(k) => format!("{k:?}"),
        Err(()) => format!("api key {api_key}"),
    }
}

/// [`api_name`] as a metric label value. The names of the APIs that
/// `kafka-protocol` knows are built once and shared, so counting a request
/// allocates nothing; an unknown key gets a fresh name.
fn api_label(api_key: i16) -> metrics::SharedString {
    static NAMES: std::sync::OnceLock<HashMap<i16, metrics::SharedString>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        ApiKey::iter()
            .map(|k| {
                let name = metrics::SharedString::from(Arc::<str>::from(api_name(k as i16)));
                (k as i16, name)
            })
            .collect()
    });
    match names.get(&api_key) {
        Some(name) => name.clone(),
        None => metrics::SharedString::from_owned(api_name(api_key)),
    }
}

/// A byte stream to a broker: plain TCP or TLS over TCP. Anything that is
/// `AsyncRead + AsyncWrite + Send + Unpin + 'static` qualifies.
pub trait BrokerStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> BrokerStream for T {}

/// A boxed [`BrokerStream`], the type every connection runs on.
pub type BoxedStream = Box<dyn BrokerStream>;

/// The host part of a `host:port` broker address (`[v6]` brackets kept).
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

/// Open the byte stream to a broker at `addr` (`host:port`): resolve the host
/// name, try each resolved socket address in turn, then run the TLS
/// handshake when the cluster's `security.protocol` uses TLS
/// ([`super::tls`]), all within `settings.connect_timeout`. TCP_NODELAY is
/// set.
///
/// Errors: [`KafkaError::Resolve`] (bad address or DNS failure),
/// [`KafkaError::Connect`] (last socket error), [`KafkaError::Tls`] (the
/// handshake failed, with the reason in words), [`KafkaError::Timeout`]
/// (operation `"connect"` or `"TLS handshake"`); each names `addr`.
pub async fn open_stream(
    settings: &ClusterSettings,
    addr: &str,
) -> Result<BoxedStream, KafkaError> {
    let cluster = settings.name.as_str();
    let tcp = async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| KafkaError::Resolve {
                cluster: cluster.to_string(),
                addr: addr.to_string(),
                reason: e.to_string(),
            })?
            .collect();
        let mut last_err = None;
        for sa in addrs {
            match tokio::net::TcpStream::connect(sa).await {
                Ok(stream) => {
                    // Nagle only delays small requests; failure to set it is harmless.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(source) => {
                    let shown = if sa.to_string() == addr {
                        addr.to_string()
                    } else {
                        format!("{addr} ({sa})")
                    };
                    last_err = Some(KafkaError::Connect {
                        cluster: cluster.to_string(),
                        addr: shown,
                        source,
                    });
                }
            }
        }
        Err(last_err.unwrap_or_else(|| KafkaError::Resolve {
            cluster: cluster.to_string(),
            addr: addr.to_string(),
            reason: "the name resolved to no address".to_string(),
        }))
    };
    let attempt = async {
        let tcp = tcp.await?;
        let Some(tls) = &settings.security.tls else {
            return Ok(Box::new(tcp) as BoxedStream);
        };
        match tls.handshake(tcp, host_of(addr)).await {
            Ok(stream) => Ok(Box::new(stream) as BoxedStream),
            Err(reason) => Err(KafkaError::Tls {
                cluster: cluster.to_string(),
                addr: addr.to_string(),
                reason,
            }),
        }
    };
    match tokio::time::timeout(settings.connect_timeout, attempt).await {
        Ok(res) => res,
        Err(_) => Err(KafkaError::Timeout {
            cluster: cluster.to_string(),
            addr: addr.to_string(),
            operation: if settings.security.tls.is_some() {
                "connect and TLS handshake (no TLS answer: is this a PLAINTEXT listener? check security.protocol)".to_string()
            } else {
                "connect".to_string()
            },
            after: settings.connect_timeout,
        }),
    }
}

/// Why a connection was closed; decides the error pending requests get.
#[derive(Clone, Copy, Debug)]
enum CloseKind {
    Disconnected,
    Malformed,
    /// The broker answered with TLS records: a TLS listener.
    TlsListener,
}

struct Pending {
    response_header_version: i16,
    tx: oneshot::Sender<Result<Bytes, KafkaError>>,
}

#[derive(Default)]
struct State {
    /// `Some(reason)` once closed; no request is registered after that.
    closed: Option<(CloseKind, String)>,
    pending: HashMap<i32, Pending>,
    tasks: Vec<AbortHandle>,
}

/// State shared by the connection handle and its reader/writer tasks.
struct Shared {
    cluster: String,
    /// `cluster` as a metric label value, shared (no allocation per request).
    cluster_label: metrics::SharedString,
    addr: String,
    closed: AtomicBool,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked while holding
        // it; the map itself is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, kind: CloseKind, reason: &str) -> KafkaError {
        match kind {
            CloseKind::Disconnected => KafkaError::Disconnected {
                cluster: self.cluster.clone(),
                addr: self.addr.clone(),
                reason: reason.to_string(),
            },
            CloseKind::Malformed => KafkaError::Malformed {
                cluster: self.cluster.clone(),
                addr: self.addr.clone(),
                detail: reason.to_string(),
            },
            CloseKind::TlsListener => KafkaError::Tls {
                cluster: self.cluster.clone(),
                addr: self.addr.clone(),
                reason: reason.to_string(),
            },
        }
    }

    /// Close: mark closed, fail every pending request, abort both tasks.
    /// Idempotent; the first reason wins.
    fn close(&self, kind: CloseKind, reason: &str) {
        let (pending, tasks) = {
            let mut st = self.lock();
            if st.closed.is_none() {
                st.closed = Some((kind, reason.to_string()));
            }
            self.closed.store(true, Ordering::Release);
            (
                std::mem::take(&mut st.pending),
                std::mem::take(&mut st.tasks),
            )
        };
        if !pending.is_empty() {
            tracing::debug!(cluster = %self.cluster, broker = %self.addr, pending = pending.len(), reason, "broker connection closed with requests in flight");
        }
        for (_, p) in pending {
            let _ = p.tx.send(Err(self.error(kind, reason)));
        }
        for t in tasks {
            t.abort();
        }
    }

    fn closed_error(&self) -> KafkaError {
        let st = self.lock();
        match &st.closed {
            Some((kind, reason)) => self.error(*kind, reason),
            None => self.error(CloseKind::Disconnected, "connection closed"),
        }
    }
}

/// Removes a pending entry when the waiting future is dropped or finishes,
/// so cancelled requests do not leak.
struct PendingGuard<'a> {
    shared: &'a Shared,
    correlation_id: i32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().pending.remove(&self.correlation_id);
    }
}

/// One TCP connection to one broker, shared by many tasks (`Arc`), with many
/// requests in flight at once.
///
/// Created by [`BrokerConnection::connect`] (or [`BrokerConnection::from_stream`]),
/// which also runs ApiVersions so that [`BrokerConnection::version_for`]
/// knows the broker's ranges. A closed connection stays closed
/// ([`BrokerConnection::is_closed`]); the cluster client's pool replaces it.
pub struct BrokerConnection {
    shared: Arc<Shared>,
    node_id: i32,
    client_id: StrBytes,
    request_timeout: Duration,
    /// Broker's `(min, max)` per API key, from ApiVersions.
    api_versions: HashMap<i16, (i16, i16)>,
    /// The ApiVersions version that succeeded.
    api_versions_version: i16,
    frames: mpsc::Sender<Bytes>,
    next_correlation_id: AtomicI32,
    /// Held shared while a request frame is queued, exclusively during a
    /// SASL re-authentication (KIP-368: no new request goes out while it
    /// runs; responses to requests already sent still arrive).
    pub(super) send_gate: tokio::sync::RwLock<()>,
}

impl std::fmt::Debug for BrokerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConnection")
            .field("cluster", &self.shared.cluster)
            .field("addr", &self.shared.addr)
            .field("node_id", &self.node_id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Drop for BrokerConnection {
    fn drop(&mut self) {
        self.shared
            .close(CloseKind::Disconnected, "connection dropped");
    }
}

impl BrokerConnection {
    /// Open a connection to the broker `node_id` at `addr` (`host:port`):
    /// TCP connect within `settings.connect_timeout` ([`open_stream`]), then
    /// ApiVersions (v3, falling back on `UNSUPPORTED_VERSION`) within
    /// `settings.request_timeout`. Use a negative `node_id` for a bootstrap
    /// connection whose id is not known yet.
    ///
    /// With a SASL `security.protocol` the connection then authenticates
    /// (SaslHandshake + SaslAuthenticate, [`super::authenticate`]) before it
    /// is returned, and re-authenticates before the session lifetime the
    /// broker gave ends (KIP-368).
    ///
    /// Errors: Resolve/Connect/Tls/Timeout from [`open_stream`]; Timeout,
    /// Disconnected, Malformed or Broker from the ApiVersions exchange;
    /// [`KafkaError::Authentication`] from SASL.
    pub async fn connect(
        settings: &ClusterSettings,
        node_id: i32,
        addr: &str,
    ) -> Result<Arc<Self>, KafkaError> {
        let stream = open_stream(settings, addr).await.inspect_err(|e| {
            // Transport failures are counted by the bootstrap that tried;
            // a refused handshake is counted here.
            if matches!(e, KafkaError::Tls { .. }) {
                e.record();
            }
        })?;
        let conn = match Self::from_stream(settings, node_id, addr, stream).await {
            // A TLS listener drops a plaintext ApiVersions without a word.
            Err(KafkaError::Disconnected {
                cluster,
                addr,
                reason,
            }) if settings.security.tls.is_none() => {
                return Err(KafkaError::Disconnected {
                    cluster,
                    addr,
                    reason: format!(
                        "{reason} before answering ApiVersions; if this is a TLS listener, set \
                         security.protocol to SSL or SASL_SSL"
                    ),
                })
            }
            other => other?,
        };
        if let Some(sasl) = &settings.security.sasl {
            if let Err(e) =
                super::authenticate::authenticate_new(&conn, sasl, &settings.security).await
            {
                e.record();
                return Err(e);
            }
        }
        Ok(conn)
    }

    /// Run the Kafka protocol over an already-open stream (a TLS stream, an
    /// in-memory test stream): starts the reader/writer tasks and negotiates
    /// versions with ApiVersions. Must be called inside a tokio runtime.
    pub async fn from_stream(
        settings: &ClusterSettings,
        node_id: i32,
        addr: &str,
        stream: BoxedStream,
    ) -> Result<Arc<Self>, KafkaError> {
        let mut conn = Self::start(settings, node_id, addr, stream);
        let (version, ranges) = conn.fetch_api_versions().await?;
        conn.api_versions_version = version;
        conn.api_versions = ranges;
        tracing::debug!(cluster = %settings.name, broker = %addr, node_id, api_versions = version, apis = conn.api_versions.len(), "connected to broker");
        Ok(Arc::new(conn))
    }

    fn start(settings: &ClusterSettings, node_id: i32, addr: &str, stream: BoxedStream) -> Self {
        let shared = Arc::new(Shared {
            cluster: settings.name.clone(),
            cluster_label: metrics::SharedString::from(Arc::<str>::from(settings.name.as_str())),
            addr: addr.to_string(),
            closed: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        });
        let (rd, wr) = tokio::io::split(stream);
        let (frames, rx) = mpsc::channel(64);
        let reader = tokio::spawn(read_loop(shared.clone(), rd));
        let writer = tokio::spawn(write_loop(shared.clone(), wr, rx));
        shared.lock().tasks = vec![reader.abort_handle(), writer.abort_handle()];
        BrokerConnection {
            shared,
            node_id,
            client_id: StrBytes::from_string(settings.client_id.clone()),
            request_timeout: settings.request_timeout,
            api_versions: HashMap::new(),
            api_versions_version: 0,
            frames,
            next_correlation_id: AtomicI32::new(0),
            send_gate: tokio::sync::RwLock::new(()),
        }
    }

    /// The broker address this connection was opened to (`host:port`).
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// The broker's node id (negative for a bootstrap connection).
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The cluster name from the settings.
    pub fn cluster(&self) -> &str {
        &self.shared.cluster
    }

    /// True once the socket failed, a frame was malformed, a request timed
    /// out, or [`BrokerConnection::close`] was called. Never reopens.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Close the connection now: pending requests fail with
    /// [`KafkaError::Disconnected`], the socket is closed.
    pub fn close(&self) {
        self.shared
            .close(CloseKind::Disconnected, "closed by linkgate");
    }

    /// Ties a helper task's life to the connection: it is aborted when the
    /// connection closes (at once when it is closed already).
    pub(super) fn add_task(&self, task: AbortHandle) {
        let mut st = self.shared.lock();
        if st.closed.is_some() {
            task.abort();
        } else {
            st.tasks.push(task);
        }
    }

    /// The broker's advertised `(min, max)` versions for an API key, from
    /// ApiVersions; `None` when the broker does not support the API.
    pub fn broker_versions(&self, api_key: i16) -> Option<(i16, i16)> {
        self.api_versions.get(&api_key).copied()
    }

    /// The ApiVersions version that the broker answered (3 on modern brokers).
    pub fn api_versions_version(&self) -> i16 {
        self.api_versions_version
    }

    /// Highest version of request `R` that both sides support: the
    /// intersection of `R::VERSIONS` (the codec), the broker's ApiVersions
    /// range and [`VERSION_CAPS`].
    ///
    /// Errors: [`KafkaError::UnsupportedVersion`] naming the ranges.
    pub fn version_for<R: Request>(&self) -> Result<i16, KafkaError> {
        let broker = self.broker_versions(R::KEY);
        let cap = version_cap(R::KEY);
        negotiate(R::VERSIONS, broker, cap).ok_or_else(|| KafkaError::UnsupportedVersion {
            cluster: self.shared.cluster.clone(),
            addr: self.shared.addr.clone(),
            api: api_name(R::KEY),
            detail: format!(
                "linkgate supports {}{}, broker {}",
                R::VERSIONS,
                cap.map(|c| format!(" (capped at {c})")).unwrap_or_default(),
                match broker {
                    Some((a, b)) => format!("{a}..{b}"),
                    None => "does not support it".to_string(),
                }
            ),
        })
    }

    /// Send `req` at the version from [`BrokerConnection::version_for`] and
    /// await its response (at most `request_timeout`). Returns the version
    /// used and the decoded response. Safe to call from many tasks at once.
    ///
    /// Errors: UnsupportedVersion; Encode; Timeout (the connection is then
    /// closed, as the Java client does); Disconnected; Malformed (body does
    /// not decode). Broker error codes inside the response are *not*
    /// checked here. Produce with `acks=0` is not supported (the broker sends
    /// no response).
    pub async fn send<R: Request>(&self, req: &R) -> Result<(i16, R::Response), KafkaError> {
        let version = self.version_for::<R>()?;
        let resp = self.send_unchecked(req, version).await?;
        Ok((version, resp))
    }

    /// Like [`BrokerConnection::send`] at an explicit `version`, which must
    /// lie in both `R::VERSIONS` and the broker's range ([`VERSION_CAPS`] is
    /// not applied: the caller chose).
    pub async fn send_version<R: Request>(
        &self,
        req: &R,
        version: i16,
    ) -> Result<R::Response, KafkaError> {
        let broker = self.broker_versions(R::KEY);
        let ours = R::VERSIONS;
        let ok = version >= ours.min
            && version <= ours.max
            && broker.is_some_and(|(bmin, bmax)| version >= bmin && version <= bmax);
        if !ok {
            return Err(KafkaError::UnsupportedVersion {
                cluster: self.shared.cluster.clone(),
                addr: self.shared.addr.clone(),
                api: api_name(R::KEY),
                detail: format!(
                    "v{version} requested; linkgate supports {}, broker {}",
                    R::VERSIONS,
                    match broker {
                        Some((a, b)) => format!("{a}..{b}"),
                        None => "does not support it".to_string(),
                    }
                ),
            });
        }
        self.send_unchecked(req, version).await
    }

    async fn send_unchecked<R: Request>(
        &self,
        req: &R,
        version: i16,
    ) -> Result<R::Response, KafkaError> {
        self.send_gated(req, version, true).await
    }

    /// Send at `version` (already checked by the caller); `gated: false`
    /// bypasses [`BrokerConnection::send_gate`], for the requests of a
    /// re-authentication that holds it.
    pub(super) async fn send_gated<R: Request>(
        &self,
        req: &R,
        version: i16,
        gated: bool,
    ) -> Result<R::Response, KafkaError> {
        let body = self
            .round_trip(
                R::KEY,
                version,
                R::header_version(version),
                gated,
                (256, |buf: &mut BytesMut| req.encode(buf, version)),
            )
            .await?;
        self.decode::<R::Response>(body, R::KEY, version)
    }

    /// Like [`BrokerConnection::send`], with the request body written by
    /// `encode_body` (given the buffer and the version from
    /// [`BrokerConnection::version_for`]) straight into the request frame,
    /// which starts with room for `body_len` bytes (a hint: the frame
    /// grows past it if needed). For requests whose bodies hold bulk bytes
    /// (Produce): each byte is written into the frame once.
    ///
    /// Errors: as [`BrokerConnection::send`]; an `encode_body` error is
    /// [`KafkaError::Encode`].
    pub async fn send_encoded<R: Request>(
        &self,
        body_len: usize,
        encode_body: impl FnOnce(&mut BytesMut, i16) -> anyhow::Result<()>,
    ) -> Result<(i16, R::Response), KafkaError> {
        let version = self.version_for::<R>()?;
        let body = self
            .round_trip(
                R::KEY,
                version,
                R::header_version(version),
                true,
                (body_len.saturating_add(256), |buf: &mut BytesMut| {
                    encode_body(buf, version)
                }),
            )
            .await?;
        Ok((version, self.decode::<R::Response>(body, R::KEY, version)?))
    }

    /// Decode a response body; decoder errors and panics become Malformed.
    fn decode<T: Decodable>(
        &self,
        body: Bytes,
        api_key: i16,
        version: i16,
    ) -> Result<T, KafkaError> {
        let mut buf = body;
        let res = std::panic::catch_unwind(AssertUnwindSafe(|| T::decode(&mut buf, version)));
        let detail = match res {
            Ok(Ok(v)) => {
                if buf.has_remaining() {
                    tracing::debug!(cluster = %self.shared.cluster, broker = %self.shared.addr, api = %api_name(api_key), version, trailing = buf.remaining(), "ignoring trailing bytes after response body");
                }
                return Ok(v);
            }
            Ok(Err(e)) => format!(
                "{} v{version} response does not decode: {e:#}",
                api_name(api_key)
            ),
            Err(_) => format!("{} v{version} response decoder panicked", api_name(api_key)),
        };
        let err = KafkaError::Malformed {
            cluster: self.shared.cluster.clone(),
            addr: self.shared.addr.clone(),
            detail,
        };
        err.record();
        Err(err)
    }

    /// Encode one request frame, register it, hand it to the writer and await
    /// the response body (the bytes after the response header). `body`:
    /// the frame's initial capacity and the body's encoder.
    async fn round_trip(
        &self,
        api_key: i16,
        version: i16,
        request_header_version: i16,
        gated: bool,
        body: (usize, impl FnOnce(&mut BytesMut) -> anyhow::Result<()>),
    ) -> Result<Bytes, KafkaError> {
        let res = self
            .round_trip_inner(api_key, version, request_header_version, gated, body)
            .await;
        metrics::counter!(
            "linkgate_kafka_requests_total",
            "cluster" => self.shared.cluster_label.clone(),
            "api" => api_label(api_key)
        )
        .increment(1);
        if let Err(e) = &res {
            e.record();
        }
        res
    }

    async fn round_trip_inner(
        &self,
        api_key: i16,
        version: i16,
        request_header_version: i16,
        gated: bool,
        (capacity, encode_body): (usize, impl FnOnce(&mut BytesMut) -> anyhow::Result<()>),
    ) -> Result<Bytes, KafkaError> {
        if self.is_closed() {
            return Err(self.shared.closed_error());
        }
        let encode_err = |detail: String| KafkaError::Encode {
            cluster: self.shared.cluster.clone(),
            addr: self.shared.addr.clone(),
            api: api_name(api_key),
            version,
            detail,
        };
        let response_header_version = match ApiKey::try_from(api_key) {
            Ok(k) => k.response_header_version(version),
            Err(()) => return Err(encode_err("unknown API key".to_string())),
        };
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut buf = BytesMut::with_capacity(capacity.min(MAX_FRAME_BYTES));
        buf.put_i32(0); // length, filled in below
        header
            .encode(&mut buf, request_header_version)
            .map_err(|e| encode_err(format!("header: {e:#}")))?;
        encode_body(&mut buf).map_err(|e| encode_err(format!("{e:#}")))?;
        let len = i32::try_from(buf.len() - 4).map_err(|_| {
            encode_err(format!(
                "request of {} bytes exceeds the frame size limit",
                buf.len()
            ))
        })?;
        buf[0..4].copy_from_slice(&len.to_be_bytes());

        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.shared.lock();
            if st.closed.is_some() {
                drop(st);
                return Err(self.shared.closed_error());
            }
            st.pending.insert(
                correlation_id,
                Pending {
                    response_header_version,
                    tx,
                },
            );
        }
        let _guard = PendingGuard {
            shared: &self.shared,
            correlation_id,
        };

        let exchange = async {
            let queued = if gated {
                let _gate = self.send_gate.read().await;
                self.frames.send(buf.freeze()).await
            } else {
                self.frames.send(buf.freeze()).await
            };
            if queued.is_err() {
                return Err(self.shared.closed_error());
            }
            match rx.await {
                Ok(res) => res,
                Err(_) => Err(self.shared.closed_error()),
            }
        };
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(res) => res,
            Err(_) => {
                let operation = format!("{} v{version} request", api_name(api_key));
                tracing::warn!(cluster = %self.shared.cluster, broker = %self.shared.addr, %operation, timeout_ms = self.request_timeout.as_millis() as u64, "request timed out; closing connection");
                self.shared.close(
                    CloseKind::Disconnected,
                    &format!("{operation} timed out; connection closed"),
                );
                Err(KafkaError::Timeout {
                    cluster: self.shared.cluster.clone(),
                    addr: self.shared.addr.clone(),
                    operation,
                    after: self.request_timeout,
                })
            }
        }
    }

    /// ApiVersions exchange: v3 first; on `UNSUPPORTED_VERSION` the broker
    /// answers in v0 form listing its ApiVersions range, and we retry with
    /// the highest version it lists (v0 if it lists none).
    async fn fetch_api_versions(&self) -> Result<(i16, HashMap<i16, (i16, i16)>), KafkaError> {
        let key = ApiKey::ApiVersions as i16;
        let mut version = API_VERSIONS_FIRST_TRY;
        loop {
            let req = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("linkgate"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let body = self
                .round_trip(
                    key,
                    version,
                    ApiVersionsRequest::header_version(version),
                    true,
                    (256, |buf: &mut BytesMut| req.encode(buf, version)),
                )
                .await?;
            let code = body.first_chunk::<2>().map(|b| i16::from_be_bytes(*b));
            if code == Some(UNSUPPORTED_VERSION) && version > 0 {
                let fallback = self
                    .decode::<ApiVersionsResponse>(body, key, 0)
                    .ok()
                    .and_then(|r| {
                        r.api_keys
                            .iter()
                            .find(|k| k.api_key == key)
                            .map(|k| k.max_version)
                    })
                    .map(|max| max.clamp(0, version - 1))
                    .unwrap_or(0);
                tracing::debug!(cluster = %self.shared.cluster, broker = %self.shared.addr, tried = version, fallback, "ApiVersions version unsupported, retrying");
                version = fallback;
                continue;
            }
            let resp = self.decode::<ApiVersionsResponse>(body, key, version)?;
            if resp.error_code != 0 {
                return Err(broker_error(
                    &self.shared.cluster,
                    format!("ApiVersions v{version} on broker {}", self.shared.addr),
                    resp.error_code,
                ));
            }
            let ranges = resp
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect();
            return Ok((version, ranges));
        }
    }
}

/// Whether the first bytes of a would-be response frame are a TLS record
/// header (content type alert 21 or handshake 22, version 3.x): the reply of
/// a TLS listener to a plaintext Kafka request.
fn looks_like_tls(head: &[u8; 4]) -> bool {
    matches!(head, [21 | 22, 3, 0..=4, _])
}

/// The length of a response frame from its 4-byte big-endian prefix: 4
/// (the correlation id) to [`MAX_FRAME_BYTES`]. Anything else closes the
/// connection, as a TLS listener's answer when the prefix is a TLS record
/// header, as Malformed otherwise; nothing is allocated by such a prefix.
fn frame_length(prefix: [u8; 4]) -> Result<usize, (CloseKind, String)> {
    let len = i32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(l) if (4..=MAX_FRAME_BYTES).contains(&l) => Ok(l),
        _ if looks_like_tls(&prefix) => Err((
            CloseKind::TlsListener,
            "the broker answered with TLS; is this an SSL or SASL_SSL listener? \
             set security.protocol to SSL or SASL_SSL"
                .to_string(),
        )),
        _ => Err((
            CloseKind::Malformed,
            format!("response frame length {len} outside 4..={MAX_FRAME_BYTES} bytes"),
        )),
    }
}

/// The big-endian i32 at the start of `buf`, if it has 4 bytes.
fn peek_i32(buf: &[u8]) -> Option<i32> {
    buf.first_chunk::<4>().map(|b| i32::from_be_bytes(*b))
}

/// Read frames until the stream ends or breaks; route each response body to
/// its pending request.
async fn read_loop(shared: Arc<Shared>, mut rd: ReadHalf<BoxedStream>) {
    let (kind, reason) = loop {
        let mut len_buf = [0u8; 4];
        if let Err(e) = rd.read_exact(&mut len_buf).await {
            break if e.kind() == std::io::ErrorKind::UnexpectedEof {
                (CloseKind::Disconnected, "closed by the broker".to_string())
            } else {
                (CloseKind::Disconnected, format!("read failed: {e}"))
            };
        }
        let len = match frame_length(len_buf) {
            Ok(len) => len,
            Err(close) => break close,
        };
        // Checked against MAX_FRAME_BYTES above, before this allocation.
        // Not zeroed: the reads fill it, bounded to this frame by `take`.
        let mut frame = BytesMut::with_capacity(len);
        let mut failed = None;
        while frame.len() < len {
            let rest = (len - frame.len()) as u64;
            match (&mut rd).take(rest).read_buf(&mut frame).await {
                Ok(0) => {
                    failed = Some("read failed mid-frame: closed by the broker".to_string());
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    failed = Some(format!("read failed mid-frame: {e}"));
                    break;
                }
            }
        }
        if let Some(reason) = failed {
            break (CloseKind::Disconnected, reason);
        }
        let mut frame = frame.freeze();
        // The length check above guarantees the 4 correlation-id bytes.
        let Some(correlation_id) = peek_i32(&frame) else {
            break (
                CloseKind::Malformed,
                "response frame shorter than its header".to_string(),
            );
        };
        let pending = shared.lock().pending.remove(&correlation_id);
        let Some(pending) = pending else {
            // Late answer to a request whose caller gave up (or garbage).
            tracing::debug!(cluster = %shared.cluster, broker = %shared.addr, correlation_id, "dropping response with no pending request");
            continue;
        };
        match ResponseHeader::decode(&mut frame, pending.response_header_version) {
            Ok(_) => {
                let _ = pending.tx.send(Ok(frame));
            }
            Err(e) => {
                let err = shared.error(
                    CloseKind::Malformed,
                    &format!("response header does not decode: {e:#}"),
                );
                let _ = pending.tx.send(Err(err));
            }
        }
    };
    shared.close(kind, &reason);
}

/// Write queued frames; batch flushes when several are queued.
async fn write_loop(
    shared: Arc<Shared>,
    mut wr: WriteHalf<BoxedStream>,
    mut rx: mpsc::Receiver<Bytes>,
) {
    while let Some(frame) = rx.recv().await {
        let mut res = wr.write_all(&frame).await;
        while res.is_ok() {
            match rx.try_recv() {
                Ok(next) => res = wr.write_all(&next).await,
                Err(_) => break,
            }
        }
        if res.is_ok() {
            res = wr.flush().await;
        }
        if let Err(e) = res {
            shared.close(CloseKind::Disconnected, &format!("write failed: {e}"));
            return;
        }
    }
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{FetchRequest, MetadataRequest, ProduceRequest};

    fn settings() -> ClusterSettings {
        let mut s = ClusterSettings::new("test", vec![]);
        s.request_timeout = Duration::from_secs(5);
        s.connect_timeout = Duration::from_secs(2);
        s
    }

    #[test]
    fn negotiate_intersects_and_caps() {
        let ours = VersionRange { min: 4, max: 17 };
        assert_eq!(negotiate(ours, Some((0, 16)), Some(12)), Some(12));
        assert_eq!(negotiate(ours, Some((0, 10)), Some(12)), Some(10));
        assert_eq!(negotiate(ours, Some((0, 20)), None), Some(17));
        assert_eq!(negotiate(ours, Some((0, 3)), None), None);
        assert_eq!(negotiate(ours, Some((13, 20)), Some(12)), None);
        assert_eq!(negotiate(ours, None, None), None);
        assert_eq!(version_cap(ApiKey::Fetch as i16), Some(16));
        assert_eq!(version_cap(ApiKey::Produce as i16), Some(12));
        assert_eq!(version_cap(ApiKey::Metadata as i16), Some(12));
        assert_eq!(version_cap(ApiKey::ListOffsets as i16), None);
        assert_eq!(api_name(1), "Fetch");
        assert_eq!(api_name(9999), "api key 9999");
        assert_eq!(&*api_label(1), "Fetch");
        assert_eq!(&*api_label(ApiKey::ApiVersions as i16), "ApiVersions");
        assert_eq!(&*api_label(9999), "api key 9999");
    }

    use super::super::scripted::{pair, FakeBroker};

    async fn connected() -> (Arc<BrokerConnection>, FakeBroker) {
        let (client, mut broker) = pair();
        let s = settings();
        let (conn, ()) = tokio::join!(
            BrokerConnection::from_stream(&s, 7, "fake:9092", client),
            broker.handshake()
        );
        (conn.expect("connect"), broker)
    }

    #[tokio::test]
    async fn api_versions_negotiates_with_caps() {
        let (conn, _broker) = connected().await;
        assert_eq!(conn.api_versions_version(), 3);
        assert_eq!(conn.node_id(), 7);
        assert_eq!(conn.addr(), "fake:9092");
        // Broker Metadata 0..13, cap 12.
        assert_eq!(conn.version_for::<MetadataRequest>().unwrap(), 12);
        // Broker Fetch 4..17, cap 16.
        assert_eq!(conn.version_for::<FetchRequest>().unwrap(), 16);
        // Broker Produce 3..9, below the cap.
        assert_eq!(conn.version_for::<ProduceRequest>().unwrap(), 9);
        // Not advertised at all.
        let e = conn
            .version_for::<kafka_protocol::messages::CreateTopicsRequest>()
            .unwrap_err();
        assert_eq!(e.kind(), "unsupported_version");
        assert!(e.to_string().contains("CreateTopics"), "{e}");
        assert!(e.to_string().contains("fake:9092"), "{e}");
        // Explicit version outside the broker's range.
        let e = conn
            .send_version(&ProduceRequest::default(), 11)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "unsupported_version");
    }

    #[tokio::test]
    async fn api_versions_falls_back_on_unsupported_version() {
        let (client, mut broker) = pair();
        let s = settings();
        let script = async {
            let (h, _) = broker.read_request().await.unwrap();
            assert_eq!(h.request_api_version, 3);
            // Old broker: UNSUPPORTED_VERSION in v0 form, ApiVersions 0..2.
            let err = ApiVersionsResponse::default()
                .with_error_code(UNSUPPORTED_VERSION)
                .with_api_keys(vec![ApiVersion::default()
                    .with_api_key(ApiKey::ApiVersions as i16)
                    .with_min_version(0)
                    .with_max_version(2)]);
            broker.respond(h.correlation_id, 0, &err, 0).await;
            let (h, _) = broker.read_request().await.unwrap();
            assert_eq!(h.request_api_version, 2);
            broker
                .respond(h.correlation_id, 0, &FakeBroker::api_versions(), 2)
                .await;
        };
        let (conn, ()) = tokio::join!(
            BrokerConnection::from_stream(&s, 1, "old:9092", client),
            script
        );
        let conn = conn.unwrap();
        assert_eq!(conn.api_versions_version(), 2);
        assert_eq!(conn.broker_versions(ApiKey::Fetch as i16), Some((4, 17)));
    }

    #[tokio::test]
    async fn responses_out_of_order_reach_their_callers() {
        let (conn, mut broker) = connected().await;
        let meta = |name: &'static str| {
            MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(StrBytes::from_static_str(name).into())),
            ]))
        };
        let (r1, r2) = (meta("a"), meta("b"));
        let script = async {
            let (h1, _) = broker.read_request().await.unwrap();
            let (h2, _) = broker.read_request().await.unwrap();
            assert_ne!(h1.correlation_id, h2.correlation_id);
            assert_eq!(h1.request_api_version, 12);
            let resp = |id: i32| {
                kafka_protocol::messages::MetadataResponse::default().with_controller_id(id.into())
            };
            // Answer the second first, tagging each with its correlation id.
            let hv = ApiKey::Metadata.response_header_version(12);
            broker
                .respond(h2.correlation_id, hv, &resp(h2.correlation_id), 12)
                .await;
            broker
                .respond(h1.correlation_id, hv, &resp(h1.correlation_id), 12)
                .await;
            (h1.correlation_id, h2.correlation_id)
        };
        let (a, b, (c1, c2)) = tokio::join!(conn.send(&r1), conn.send(&r2), script);
        let (va, a) = a.unwrap();
        let (_, b) = b.unwrap();
        assert_eq!(va, 12);
        // Each caller got the response carrying its own correlation id.
        let (ida, idb) = (*a.controller_id, *b.controller_id);
        assert_eq!((ida, idb), (c1, c2));
    }

    #[test]
    fn tls_record_headers_are_recognised() {
        // An alert record (21) of TLS 1.2, a handshake record (22) of TLS 1.0.
        assert!(looks_like_tls(&[21, 3, 3, 0]));
        assert!(looks_like_tls(&[22, 3, 1, 2]));
        assert!(!looks_like_tls(&[0, 0, 1, 0]));
    }

    /// A TLS listener's answer to a plaintext request (an alert record)
    /// is reported as such, not as a bad frame length.
    #[tokio::test]
    async fn a_tls_answer_to_plaintext_names_security_protocol() {
        let (conn, mut broker) = connected().await;
        let script = async {
            let _ = broker.read_request().await.unwrap();
            broker.write_raw(&[21, 3, 3, 0, 2, 2, 50]).await;
            broker
        };
        let req = MetadataRequest::default();
        let (res, _broker) = tokio::join!(conn.send(&req), script);
        let e = res.unwrap_err();
        assert_eq!(e.kind(), "tls", "{e}");
        assert_eq!(crate::kafka::link_error_code(&e), "AUTHENTICATION_ERROR");
        let e = e.to_string();
        assert!(
            e.contains("answered with TLS") && e.contains("security.protocol"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn oversized_frame_is_malformed_and_closes() {
        let (conn, mut broker) = connected().await;
        let req = MetadataRequest::default();
        let script = async {
            let _ = broker.read_request().await.unwrap();
            broker
                .write_raw(&((MAX_FRAME_BYTES as i32) + 1).to_be_bytes())
                .await;
            broker
        };
        let (res, _broker) = tokio::join!(conn.send(&req), script);
        let e = res.unwrap_err();
        assert_eq!(e.kind(), "malformed", "{e}");
        assert!(e.to_string().contains("fake:9092"), "{e}");
        assert!(conn.is_closed());
        // Later requests fail at once.
        let e = conn.send(&MetadataRequest::default()).await.unwrap_err();
        assert_eq!(e.kind(), "malformed");
    }

    /// Length prefixes of 2 GiB (negative as an i32), i32::MAX, -1, 0 and
    /// one byte above the cap close the connection as Malformed at once:
    /// the reader refuses them before allocating a frame.
    #[tokio::test]
    async fn huge_and_negative_length_prefixes_are_malformed() {
        let prefixes: [[u8; 4]; 6] = [
            0x8000_0000u32.to_be_bytes(),
            i32::MAX.to_be_bytes(),
            (-1i32).to_be_bytes(),
            0i32.to_be_bytes(),
            3i32.to_be_bytes(),
            (MAX_FRAME_BYTES as i32 + 1).to_be_bytes(),
        ];
        for prefix in prefixes {
            let (kind, _) = frame_length(prefix).unwrap_err();
            assert!(matches!(kind, CloseKind::Malformed), "{prefix:?}");
            let (conn, mut broker) = connected().await;
            let script = async {
                let _ = broker.read_request().await.unwrap();
                broker.write_raw(&prefix).await;
                broker
            };
            let started = std::time::Instant::now();
            let req = MetadataRequest::default();
            let (res, _broker) = tokio::join!(conn.send(&req), script);
            let e = res.unwrap_err();
            assert_eq!(e.kind(), "malformed", "{prefix:?}: {e}");
            assert!(e.to_string().contains("outside 4..="), "{e}");
            assert!(conn.is_closed());
            // Far below the 5 s request timeout: refused, not awaited.
            assert!(started.elapsed() < Duration::from_secs(4));
        }
        assert_eq!(frame_length(4i32.to_be_bytes()).unwrap(), 4);
        assert_eq!(
            frame_length((MAX_FRAME_BYTES as i32).to_be_bytes()).unwrap(),
            MAX_FRAME_BYTES
        );
    }

    #[tokio::test]
    async fn garbage_body_is_malformed_not_panic() {
        let (conn, mut broker) = connected().await;
        let req = MetadataRequest::default();
        let script = async {
            let (h, _) = broker.read_request().await.unwrap();
            // Header (correlation id + empty tagged fields) then 3 junk bytes.
            let mut frame = BytesMut::new();
            frame.put_i32(4 + 1 + 3);
            frame.put_i32(h.correlation_id);
            frame.put_u8(0);
            frame.put_slice(&[0xff, 0xff, 0xff]);
            broker.write_raw(&frame).await;
            broker
        };
        let (res, _broker) = tokio::join!(conn.send(&req), script);
        let e = res.unwrap_err();
        assert_eq!(e.kind(), "malformed", "{e}");
        assert!(e.to_string().contains("Metadata v12"), "{e}");
        // Frame boundaries were intact: the connection stays usable.
        assert!(!conn.is_closed());
    }

    #[tokio::test]
    async fn broker_close_fails_pending_with_disconnected() {
        let (conn, mut broker) = connected().await;
        let req = MetadataRequest::default();
        let script = async {
            let _ = broker.read_request().await.unwrap();
            drop(broker);
        };
        let (res, ()) = tokio::join!(conn.send(&req), script);
        let e = res.unwrap_err();
        assert_eq!(e.kind(), "disconnected", "{e}");
        assert!(e.is_retriable());
        assert!(conn.is_closed());
    }

    #[tokio::test]
    async fn request_timeout_closes_connection() {
        let (client, mut broker) = pair();
        let mut s = settings();
        s.request_timeout = Duration::from_millis(200);
        let (conn, ()) = tokio::join!(
            BrokerConnection::from_stream(&s, 1, "slow:1", client),
            broker.handshake()
        );
        let conn = conn.unwrap();
        let e = conn.send(&MetadataRequest::default()).await.unwrap_err();
        assert_eq!(e.kind(), "timeout", "{e}");
        assert!(e.to_string().contains("slow:1"), "{e}");
        assert!(conn.is_closed());
    }

    #[tokio::test]
    async fn dropping_last_handle_closes_socket() {
        let (conn, mut broker) = connected().await;
        drop(conn);
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), broker.io.read(&mut buf))
            .await
            .expect("socket should close promptly")
            .unwrap_or(0);
        assert_eq!(n, 0, "expected EOF after the connection was dropped");
    }

    #[tokio::test]
    async fn cancelled_request_leaves_no_pending_entry() {
        let (conn, mut broker) = connected().await;
        let req = MetadataRequest::default();
        {
            let fut = conn.send(&req);
            // Poll once so the request is registered, then drop it.
            let _ = tokio::time::timeout(Duration::from_millis(1), fut).await;
        }
        assert!(conn.shared.lock().pending.is_empty());
        // The late response is dropped and the connection keeps working.
        let (h, _) = broker.read_request().await.unwrap();
        let hv = ApiKey::Metadata.response_header_version(12);
        broker
            .respond(
                h.correlation_id,
                hv,
                &kafka_protocol::messages::MetadataResponse::default(),
                12,
            )
            .await;
        let script = async {
            let (h, _) = broker.read_request().await.unwrap();
            broker
                .respond(
                    h.correlation_id,
                    hv,
                    &kafka_protocol::messages::MetadataResponse::default()
                        .with_cluster_id(Some(StrBytes::from_static_str("ok"))),
                    12,
                )
                .await;
        };
        let (res, ()) = tokio::join!(conn.send(&req), script);
        assert_eq!(res.unwrap().1.cluster_id.as_deref(), Some("ok"));
    }
}
