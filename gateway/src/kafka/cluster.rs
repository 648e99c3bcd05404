//! A client for one Kafka cluster: bootstrap, broker connection pool,
//! metadata cache, leader routing, retries, and the admin requests linkgate
//! needs (CreateTopics, ListOffsets, InitProducerId, DeleteTopics; topic
//! configs and partition counts are [`super::topic_configs`]).
//!
//! Owns [`ClusterSettings`], [`ClusterClient`] and the small data types it
//! returns. Talking to one broker is [`super::conn`]'s job; this module
//! decides *which* broker (partition leader, controller, any) and retries
//! retriable failures with exponential backoff (`backon`), bounded by the
//! request timeout. The metadata cache sits behind a `std::sync::Mutex` that
//! is never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, InitProducerIdRequest, ListOffsetsRequest,
    MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::conn::BrokerConnection;
use super::error::{
    broker_error, KafkaError, LEADER_NOT_AVAILABLE, TOPIC_ALREADY_EXISTS,
    UNKNOWN_TOPIC_OR_PARTITION,
};
use super::retry::retry;

/// Kafka error code `NOT_CONTROLLER` (41).
pub(super) const NOT_CONTROLLER: i16 = 41;
/// ListOffsets timestamp meaning "earliest offset" (KIP-79).
const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp meaning "latest offset" (log end offset).
const LATEST_TIMESTAMP: i64 = -1;

/// How to reach one cluster and how patiently.
///
/// Built with [`ClusterSettings::new`] (defaults below) and adjusted field by
/// field. All durations are wall-clock.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    /// Label used in errors, logs and metrics, e.g. `"source"` or a cluster
    /// alias. Not sent to brokers.
    pub name: String,
    /// Bootstrap brokers as `"host:port"`, tried in order.
    pub bootstrap_servers: Vec<String>,
    /// Kafka `client.id` sent in every request header. Default `"linkgate"`.
    pub client_id: String,
    /// How long one request may wait for its response; also the total
    /// backoff budget of a retried operation. Default 30 s.
    pub request_timeout: Duration,
    /// How long resolving and opening a TCP connection may take. Default 10 s.
    pub connect_timeout: Duration,
    /// First retry delay (Kafka `retry.backoff.ms`). Default 100 ms.
    pub retry_backoff: Duration,
    /// Largest retry delay, reached by doubling (Kafka
    /// `retry.backoff.max.ms`, KIP-580). Default 1 s.
    pub retry_backoff_max: Duration,
    /// Cached topic metadata older than this is refreshed before use
    /// (Kafka `metadata.max.age.ms`). Default 5 min.
    pub metadata_max_age: Duration,
    /// `security.protocol` with its TLS and SASL settings. Default
    /// `PLAINTEXT`.
    pub security: super::security::Security,
}

impl ClusterSettings {
    /// Settings with the defaults documented on each field.
    pub fn new(name: impl Into<String>, bootstrap_servers: Vec<String>) -> Self {
        ClusterSettings {
            name: name.into(),
            bootstrap_servers,
            client_id: "linkgate".to_string(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            metadata_max_age: Duration::from_secs(300),
            security: super::security::Security::default(),
        }
    }
}

/// One topic as the Metadata API (v12 at most) describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id (KIP-516, Metadata v10+); nil on older brokers.
    pub topic_id: uuid::Uuid,
    /// Whether the broker flags the topic internal (e.g. `__consumer_offsets`).
    pub is_internal: bool,
    /// Partitions sorted by partition index.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// The partition with index `partition`, if the topic has it.
    pub fn partition(&self, partition: i32) -> Option<&PartitionInfo> {
        self.partitions
            .binary_search_by_key(&partition, |p| p.partition)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// One partition as the Metadata API describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader node id; -1 when there is no leader (election in progress).
    pub leader: i32,
    /// Leader epoch (KIP-320, Metadata v7+); -1 when unknown.
    pub leader_epoch: i32,
    /// Partition-level error code (0 = none; `LEADER_NOT_AVAILABLE` = 5
    /// comes with leader -1; `REPLICA_NOT_AVAILABLE` = 9 keeps a valid leader).
    pub error_code: i16,
    /// Number of replicas (the replication factor).
    pub replicas: usize,
}

/// Which offset [`ClusterClient::list_offsets`] asks for (ListOffsets
/// timestamp semantics, KIP-79).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (timestamp -2).
    Earliest,
    /// The log end offset, i.e. the offset the next record will get
    /// (timestamp -1; READ_UNCOMMITTED, so not the last stable offset).
    Latest,
    /// The earliest offset whose record timestamp is >= this value (ms since
    /// the Unix epoch); the broker answers -1 when there is none.
    Timestamp(i64),
}

/// What [`ClusterClient::create_topic`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The broker created the topic.
    Created,
    /// The topic already existed (`TOPIC_ALREADY_EXISTS`); nothing changed.
    AlreadyExists,
}

struct CachedTopic {
    info: TopicInfo,
    fetched_at: Instant,
    stale: bool,
}

#[derive(Default)]
struct MetaCache {
    /// node id -> "host:port"
    brokers: BTreeMap<i32, String>,
    controller_id: Option<i32>,
    cluster_id: Option<String>,
    topics: HashMap<String, CachedTopic>,
}

/// A client for one cluster, shared behind `Arc` by many tasks (`Send + Sync`).
///
/// Holds one pooled [`BrokerConnection`] per broker (node ids >= 0 from
/// metadata; bootstrap connections use ids -1, -2, ... in the order of
/// `bootstrap_servers`) and a metadata cache. Every method that talks to
/// brokers retries retriable errors ([`KafkaError::is_retriable`]) with
/// exponential backoff from `retry_backoff` to `retry_backoff_max`, for at
/// most `request_timeout` of accumulated backoff.
pub struct ClusterClient {
    settings: ClusterSettings,
    meta: Mutex<MetaCache>,
    pool: Mutex<HashMap<i32, Arc<BrokerConnection>>>,
    /// One async lock per node id so concurrent callers open one connection.
    connecting: Mutex<HashMap<i32, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("name", &self.settings.name)
            .field("bootstrap_servers", &self.settings.bootstrap_servers)
            .finish()
    }
}

/// Short reason for the bootstrap error list (the address is printed beside it).
fn short_reason(e: &KafkaError) -> String {
    match e {
        KafkaError::Connect { source, .. } => source.to_string(),
        KafkaError::Resolve { reason, .. } => format!("cannot resolve: {reason}"),
        KafkaError::Timeout {
            operation, after, ..
        } => format!("{operation} timed out after {} ms", after.as_millis()),
        KafkaError::Disconnected { reason, .. } => format!("disconnected: {reason}"),
        KafkaError::Tls { reason, .. } => format!("TLS: {reason}"),
        KafkaError::Authentication {
            mechanism, reason, ..
        } => format!("SASL {mechanism}: {reason}"),
        KafkaError::Malformed { detail, .. } => format!("malformed response: {detail}"),
        other => other.to_string(),
    }
}

fn host_port(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn topic_info(t: &MetadataResponseTopic) -> Option<TopicInfo> {
    let name = t.name.as_ref()?.0.to_string();
    let mut partitions: Vec<PartitionInfo> = t
        .partitions
        .iter()
        .map(|p| PartitionInfo {
            partition: p.partition_index,
            leader: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            error_code: p.error_code,
            replicas: p.replica_nodes.len(),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Some(TopicInfo {
        name,
        topic_id: t.topic_id,
        is_internal: t.is_internal,
        partitions,
    })
}

pub(super) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

impl ClusterClient {
    /// Connect to the first reachable bootstrap server (in order) and load
    /// the cluster's broker list and controller (Metadata with no topics).
    ///
    /// Errors: [`KafkaError::Bootstrap`] naming every address tried and why
    /// each failed (connect refused, DNS, timeout, broker error).
    pub async fn connect(settings: ClusterSettings) -> Result<Arc<Self>, KafkaError> {
        let client = Arc::new(ClusterClient {
            settings,
            meta: Mutex::new(MetaCache::default()),
            pool: Mutex::new(HashMap::new()),
            connecting: Mutex::new(HashMap::new()),
        });
        let mut tried = Vec::new();
        let mut codes = Vec::new();
        for (i, addr) in client.settings.bootstrap_servers.iter().enumerate() {
            let id = -1 - i as i32;
            let attempt = async {
                let conn = client.connect_node(id, addr).await?;
                client.request_metadata(&conn, Some(&[])).await
            };
            match attempt.await {
                Ok(_) => {
                    tracing::info!(cluster = %client.settings.name, bootstrap = %addr, brokers = client.brokers().len(), "connected to cluster");
                    return Ok(client);
                }
                Err(e) => {
                    tracing::debug!(cluster = %client.settings.name, bootstrap = %addr, error = %e, "bootstrap server failed");
                    codes.push(crate::kafka::error::link_error_code(&e));
                    tried.push((addr.clone(), short_reason(&e)));
                }
            }
        }
        let err = KafkaError::Bootstrap {
            codes,
            cluster: client.settings.name.clone(),
            tried,
        };
        err.record();
        Err(err)
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The cluster name (`settings.name`).
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The cluster id from the last Metadata response (Metadata v2+).
    pub fn cluster_id(&self) -> Option<String> {
        self.lock_meta().cluster_id.clone()
    }

    /// The controller node id from the last Metadata response, if known.
    pub fn controller_id(&self) -> Option<i32> {
        self.lock_meta().controller_id
    }

    /// Known brokers as `(node id, "host:port")`, sorted by node id.
    pub fn brokers(&self) -> Vec<(i32, String)> {
        self.lock_meta()
            .brokers
            .iter()
            .map(|(id, a)| (*id, a.clone()))
            .collect()
    }

    fn lock_meta(&self) -> std::sync::MutexGuard<'_, MetaCache> {
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pool(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Arc<BrokerConnection>>> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The backoff policy from the settings (jittered doubling, total
    /// backoff bounded by `request_timeout`).
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.settings.retry_backoff)
            .with_max_delay(
                self.settings
                    .retry_backoff_max
                    .max(self.settings.retry_backoff),
            )
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .with_total_delay(Some(self.settings.request_timeout))
    }

    /// Run `op` until it succeeds, fails with an error `retry_if` rejects, or
    /// the backoff budget is spent (then the last error is returned); see
    /// [`super::retry::retry`].
    pub(super) async fn retry<T, F, Fut>(
        &self,
        what: &str,
        retry_if: impl FnMut(&KafkaError) -> bool,
        op: F,
    ) -> Result<T, KafkaError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, KafkaError>>,
    {
        let notify = |e: &KafkaError, delay: Duration| {
            tracing::debug!(cluster = %self.settings.name, operation = what, error = %e, delay_ms = delay.as_millis() as u64, "retrying");
        };
        retry(self.backoff().build(), None, retry_if, notify, op).await
    }

    /// Send Metadata for `topics` (`None` = all topics, `Some(&[])` = brokers
    /// only) and fold the answer into the cache.
    async fn request_metadata(
        &self,
        conn: &BrokerConnection,
        topics: Option<&[&str]>,
    ) -> Result<MetadataResponse, KafkaError> {
        let version = conn.version_for::<MetadataRequest>()?;
        let mut req = MetadataRequest::default().with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect()
        }));
        if version >= 4 {
            req = req.with_allow_auto_topic_creation(false);
        }
        let resp = conn.send_version(&req, version).await?;
        self.absorb_metadata(&resp, topics.is_none());
        Ok(resp)
    }

    fn absorb_metadata(&self, resp: &MetadataResponse, all_topics: bool) {
        let now = Instant::now();
        let mut meta = self.lock_meta();
        if !resp.brokers.is_empty() {
            meta.brokers = resp
                .brokers
                .iter()
                .map(|b| (b.node_id.0, host_port(&b.host, b.port)))
                .collect();
        }
        meta.controller_id = (resp.controller_id.0 >= 0).then_some(resp.controller_id.0);
        if let Some(id) = &resp.cluster_id {
            meta.cluster_id = Some(id.to_string());
        }
        if all_topics {
            meta.topics.clear();
        }
        for t in &resp.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            match t.error_code {
                0 => {
                    if let Some(info) = topic_info(t) {
                        meta.topics.insert(
                            name,
                            CachedTopic {
                                info,
                                fetched_at: now,
                                stale: false,
                            },
                        );
                    }
                }
                UNKNOWN_TOPIC_OR_PARTITION => {
                    meta.topics.remove(&name);
                }
                _ => {
                    if let Some(t) = meta.topics.get_mut(&name) {
                        t.stale = true;
                    }
                }
            }
        }
    }

    /// Refresh the broker list and controller (Metadata with no topics).
    pub(super) async fn refresh_brokers(&self) -> Result<(), KafkaError> {
        self.retry(
            "refresh brokers",
            |e| e.is_retriable(),
            || async {
                let conn = self.any_broker().await?;
                self.request_metadata(&conn, Some(&[])).await.map(|_| ())
            },
        )
        .await
    }

    /// One Metadata round for one topic: Ok(None) on UNKNOWN_TOPIC_OR_PARTITION,
    /// Err on other topic-level errors (retriable ones included).
    async fn fetch_topic_once(&self, name: &str) -> Result<Option<TopicInfo>, KafkaError> {
        let conn = self.any_broker().await?;
        let resp = self.request_metadata(&conn, Some(&[name])).await?;
        let Some(t) = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        else {
            return Ok(None);
        };
        match t.error_code {
            0 => Ok(topic_info(t)),
            UNKNOWN_TOPIC_OR_PARTITION => Ok(None),
            code => Err(broker_error(
                &self.settings.name,
                format!("Metadata for topic `{name}` from broker {}", conn.addr()),
                code,
            )),
        }
    }

    /// Fresh metadata for one topic (Metadata API, by name, no
    /// auto-creation); refreshes the cache.
    ///
    /// Returns `Ok(None)` when the cluster answers UNKNOWN_TOPIC_OR_PARTITION.
    /// Retries retriable failures (LEADER_NOT_AVAILABLE while a topic is
    /// being created, disconnects, timeouts) with backoff. Errors: the last
    /// retriable error once the backoff budget is spent; non-retriable topic
    /// errors (e.g. TOPIC_AUTHORIZATION_FAILED) at once.
    pub async fn topic(&self, name: &str) -> Result<Option<TopicInfo>, KafkaError> {
        self.retry(
            "metadata",
            |e| e.is_retriable(),
            || self.fetch_topic_once(name),
        )
        .await
    }

    /// All topics the cluster lists (Metadata with a null topic list),
    /// sorted by name, internal topics included (see `is_internal`). Topics
    /// the broker reports with an error are left out. Replaces the cache.
    pub async fn topics(&self) -> Result<Vec<TopicInfo>, KafkaError> {
        self.retry(
            "metadata (all topics)",
            |e| e.is_retriable(),
            || async {
                let conn = self.any_broker().await?;
                let resp = self.request_metadata(&conn, None).await?;
                let mut out: Vec<TopicInfo> = resp
                    .topics
                    .iter()
                    .filter(|t| t.error_code == 0)
                    .filter_map(topic_info)
                    .collect();
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            },
        )
        .await
    }

    /// Leader epoch of `topic`/`partition` from the last metadata (KIP-320,
    /// Metadata v7+); `None` when unknown or not reported (-1).
    pub fn cached_leader_epoch(&self, topic: &str, partition: i32) -> Option<i32> {
        let meta = self.lock_meta();
        let p = meta.topics.get(topic)?.info.partition(partition)?;
        (p.leader_epoch >= 0).then_some(p.leader_epoch)
    }

    fn cached_leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let meta = self.lock_meta();
        let t = meta.topics.get(topic)?;
        if t.stale || t.fetched_at.elapsed() >= self.settings.metadata_max_age {
            return None;
        }
        let p = t.info.partition(partition)?;
        (p.leader >= 0).then_some(p.leader)
    }

    /// Leader node id of `topic`/`partition`.
    ///
    /// Served from the cache when the entry is fresh (younger than
    /// `metadata_max_age`, not invalidated, leader known); otherwise
    /// refreshes the topic's metadata, retrying with backoff while the
    /// partition has no leader. Errors: [`KafkaError::UnknownTopic`] (topic
    /// missing, or partition beyond the partition count; not retried);
    /// `LEADER_NOT_AVAILABLE` broker error when no leader appeared within
    /// the backoff budget; transport errors.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<i32, KafkaError> {
        if let Some(leader) = self.cached_leader(topic, partition) {
            return Ok(leader);
        }
        self.retry(
            "leader lookup",
            |e| e.is_retriable() && !matches!(e, KafkaError::UnknownTopic { .. }),
            || async {
                let info = self.fetch_topic_once(topic).await?.ok_or_else(|| {
                    KafkaError::UnknownTopic {
                        cluster: self.settings.name.clone(),
                        topic: topic.to_string(),
                        partition: None,
                    }
                })?;
                let p = info
                    .partition(partition)
                    .ok_or_else(|| KafkaError::UnknownTopic {
                        cluster: self.settings.name.clone(),
                        topic: topic.to_string(),
                        partition: Some(partition),
                    })?;
                if p.leader >= 0 {
                    Ok(p.leader)
                } else {
                    let code = if p.error_code != 0 {
                        p.error_code
                    } else {
                        LEADER_NOT_AVAILABLE
                    };
                    Err(broker_error(
                        &self.settings.name,
                        format!("no leader for {topic}-{partition}"),
                        code,
                    ))
                }
            },
        )
        .await
    }

    /// Mark a topic's cached metadata stale so the next [`ClusterClient::leader`]
    /// refreshes it. Call after NOT_LEADER_OR_FOLLOWER,
    /// UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH or a disconnect from
    /// the leader. Cheap; no request is sent.
    pub fn invalidate(&self, topic: &str) {
        if let Some(t) = self.lock_meta().topics.get_mut(topic) {
            t.stale = true;
        }
    }

    fn pooled(&self, node_id: i32) -> Option<Arc<BrokerConnection>> {
        self.lock_pool()
            .get(&node_id)
            .filter(|c| !c.is_closed())
            .cloned()
    }

    /// Open (or reuse) the pooled connection for `node_id` at `addr`; one
    /// connect at a time per node id.
    async fn connect_node(
        &self,
        node_id: i32,
        addr: &str,
    ) -> Result<Arc<BrokerConnection>, KafkaError> {
        if let Some(c) = self.pooled(node_id) {
            return Ok(c);
        }
        let lock = self
            .connecting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(node_id)
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if let Some(c) = self.pooled(node_id) {
            return Ok(c);
        }
        let conn = BrokerConnection::connect(&self.settings, node_id, addr).await?;
        self.lock_pool().insert(node_id, conn.clone());
        Ok(conn)
    }

    fn broker_addr(&self, node_id: i32) -> Option<String> {
        if node_id < 0 {
            let idx = usize::try_from(-1 - i64::from(node_id)).ok()?;
            return self.settings.bootstrap_servers.get(idx).cloned();
        }
        self.lock_meta().brokers.get(&node_id).cloned()
    }

    /// The pooled connection to broker `node_id` (address from metadata),
    /// opening a new one when there is none or the pooled one is closed. An
    /// unknown node id triggers one broker-list refresh.
    ///
    /// Errors: [`KafkaError::UnknownBroker`]; connect errors naming the address.
    pub async fn broker(&self, node_id: i32) -> Result<Arc<BrokerConnection>, KafkaError> {
        if let Some(c) = self.pooled(node_id) {
            return Ok(c);
        }
        let addr = match self.broker_addr(node_id) {
            Some(a) => a,
            None => {
                self.refresh_brokers().await?;
                self.broker_addr(node_id)
                    .ok_or_else(|| KafkaError::UnknownBroker {
                        cluster: self.settings.name.clone(),
                        node_id,
                    })?
            }
        };
        self.connect_node(node_id, &addr).await
    }

    /// Some open connection: a pooled one to a known broker, else a pooled
    /// bootstrap one, else a new one to each known broker in node-id order,
    /// then to each bootstrap server.
    ///
    /// Errors: [`KafkaError::Bootstrap`] listing every address tried.
    pub async fn any_broker(&self) -> Result<Arc<BrokerConnection>, KafkaError> {
        {
            let pool = self.lock_pool();
            let mut open: Vec<&Arc<BrokerConnection>> =
                pool.values().filter(|c| !c.is_closed()).collect();
            // Real nodes (>= 0) first, then bootstrap ids -1, -2, ...
            open.sort_by_key(|c| (c.node_id() < 0, c.node_id().unsigned_abs()));
            if let Some(c) = open.first() {
                return Ok((*c).clone());
            }
        }
        let mut candidates = self.brokers();
        candidates.extend(
            self.settings
                .bootstrap_servers
                .iter()
                .enumerate()
                .map(|(i, a)| (-1 - i as i32, a.clone())),
        );
        let mut tried = Vec::new();
        let mut codes = Vec::new();
        for (id, addr) in candidates {
            match self.connect_node(id, &addr).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    codes.push(crate::kafka::error::link_error_code(&e));
                    tried.push((addr, short_reason(&e)));
                }
            }
        }
        let err = KafkaError::Bootstrap {
            codes,
            cluster: self.settings.name.clone(),
            tried,
        };
        err.record();
        Err(err)
    }

    /// The controller's connection when metadata names one, else any broker.
    pub(super) async fn controller_or_any(&self) -> Result<Arc<BrokerConnection>, KafkaError> {
        match self.controller_id() {
            Some(id) => match self.broker(id).await {
                Ok(c) => Ok(c),
                Err(e) => {
                    tracing::debug!(cluster = %self.settings.name, controller = id, error = %e, "controller unreachable, using any broker");
                    self.any_broker().await
                }
            },
            None => self.any_broker().await,
        }
    }

    pub(super) fn forget_controller(&self) {
        self.lock_meta().controller_id = None;
    }

    /// Create a topic (CreateTopics, sent to the controller if known, else
    /// any broker; KIP-4). `partitions` -1 and `replication_factor` -1 mean
    /// the broker defaults (CreateTopics v4+). `configs` are topic configs
    /// such as `("cleanup.policy", "compact")`.
    ///
    /// Returns [`CreateOutcome::AlreadyExists`] on TOPIC_ALREADY_EXISTS
    /// (also when a retried attempt finds the topic an earlier, timed-out
    /// attempt created). NOT_CONTROLLER refreshes the controller and retries.
    /// Errors: broker errors carrying the broker's message (e.g.
    /// INVALID_CONFIG, INVALID_REPLICATION_FACTOR), transport errors.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> Result<CreateOutcome, KafkaError> {
        let timeout_ms =
            i32::try_from(self.settings.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let req = CreateTopicsRequest::default()
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(StrBytes::from_string(k.clone()))
                                .with_value(Some(StrBytes::from_string(v.clone())))
                        })
                        .collect(),
                )])
            .with_timeout_ms(timeout_ms);
        let res = self
            .retry(
                "create topic",
                |e| e.is_retriable(),
                || async {
                    let conn = self.controller_or_any().await?;
                    let (_, resp) = conn.send(&req).await?;
                    let r = resp
                        .topics
                        .iter()
                        .find(|t| t.name.0.as_str() == name)
                        .ok_or_else(|| KafkaError::Malformed {
                            cluster: self.settings.name.clone(),
                            addr: conn.addr().to_string(),
                            detail: format!(
                                "CreateTopics response does not mention topic `{name}`"
                            ),
                        })?;
                    match r.error_code {
                        0 => Ok(CreateOutcome::Created),
                        TOPIC_ALREADY_EXISTS => Ok(CreateOutcome::AlreadyExists),
                        code => {
                            if code == NOT_CONTROLLER {
                                self.forget_controller();
                                let _ = self.refresh_brokers().await;
                            }
                            Err(broker_error(
                                &self.settings.name,
                                format!("CreateTopics `{name}` on broker {}", conn.addr()),
                                code,
                            )
                            .with_message(r.error_message.as_deref()))
                        }
                    }
                },
            )
            .await;
        self.invalidate(name);
        res
    }

    /// One ListOffsets request to `leader` for `parts`: per-partition result.
    async fn list_offsets_on(
        &self,
        leader: i32,
        parts: &[(String, i32)],
        timestamp: i64,
    ) -> Result<Vec<((String, i32), Result<i64, KafkaError>)>, KafkaError> {
        let conn = self.broker(leader).await?;
        let version = conn.version_for::<ListOffsetsRequest>()?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in parts {
            by_topic.entry(t.as_str()).or_default().push(*p);
        }
        let mut req = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_isolation_level(0)
            .with_topics(
                by_topic
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(
                                ps.iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_current_leader_epoch(-1)
                                            .with_timestamp(timestamp)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        if version >= 10 {
            req = req.with_timeout_ms(
                i32::try_from(self.settings.request_timeout.as_millis()).unwrap_or(i32::MAX),
            );
        }
        let resp = conn.send_version(&req, version).await?;
        let mut out = Vec::with_capacity(parts.len());
        for (t, p) in parts {
            let found = resp
                .topics
                .iter()
                .filter(|rt| rt.name.0.as_str() == t)
                .flat_map(|rt| rt.partitions.iter())
                .find(|rp| rp.partition_index == *p);
            let res = match found {
                None => Err(KafkaError::Malformed {
                    cluster: self.settings.name.clone(),
                    addr: conn.addr().to_string(),
                    detail: format!("ListOffsets response lacks {t}-{p}"),
                }),
                Some(rp) if rp.error_code == 0 => Ok(rp.offset),
                Some(rp) => Err(broker_error(
                    &self.settings.name,
                    format!("ListOffsets {t}-{p} on broker {leader} ({})", conn.addr()),
                    rp.error_code,
                )),
            };
            out.push(((t.clone(), *p), res));
        }
        Ok(out)
    }

    /// Offsets of many partitions (ListOffsets v1+, READ_UNCOMMITTED,
    /// `replica_id` -1), one request per partition leader, sent concurrently.
    ///
    /// Partitions that fail with a retriable error (NOT_LEADER_OR_FOLLOWER,
    /// LEADER_NOT_AVAILABLE, disconnect, ...) get their topic invalidated
    /// and are retried with backoff. Result keyed by `(topic, partition)`;
    /// for [`OffsetSpec::Timestamp`] the value may be -1 (no such record).
    /// Errors: UnknownTopic for missing topics/partitions; the first
    /// non-retriable error; the last retriable one when the budget is spent.
    pub async fn list_offsets(
        &self,
        partitions: &[(String, i32)],
        spec: OffsetSpec,
    ) -> Result<HashMap<(String, i32), i64>, KafkaError> {
        let timestamp = match spec {
            OffsetSpec::Earliest => EARLIEST_TIMESTAMP,
            OffsetSpec::Latest => LATEST_TIMESTAMP,
            OffsetSpec::Timestamp(ts) => ts,
        };
        let mut todo: Vec<(String, i32)> = partitions.to_vec();
        todo.sort();
        todo.dedup();
        let mut result = HashMap::with_capacity(todo.len());
        let mut backoff = self.backoff().build();
        while !todo.is_empty() {
            let mut again = Vec::new();
            let mut last_err = None;
            let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            for (t, p) in todo {
                match self.leader(&t, p).await {
                    Ok(l) => by_leader.entry(l).or_default().push((t, p)),
                    Err(e) if e.is_retriable() && !matches!(e, KafkaError::UnknownTopic { .. }) => {
                        last_err = Some(e);
                        again.push((t, p));
                    }
                    Err(e) => return Err(e),
                }
            }
            let rounds = by_leader.into_iter().map(|(leader, parts)| async move {
                let res = self.list_offsets_on(leader, &parts, timestamp).await;
                (parts, res)
            });
            for (parts, res) in futures::future::join_all(rounds).await {
                match res {
                    Ok(per_partition) => {
                        for (tp, r) in per_partition {
                            match r {
                                Ok(offset) => {
                                    result.insert(tp, offset);
                                }
                                Err(e) if e.is_retriable() => {
                                    self.invalidate(&tp.0);
                                    last_err = Some(e);
                                    again.push(tp);
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Err(e) if e.is_retriable() => {
                        for tp in &parts {
                            self.invalidate(&tp.0);
                        }
                        again.extend(parts);
                        last_err = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if again.is_empty() {
                break;
            }
            match (backoff.next(), last_err) {
                (Some(delay), Some(e)) => {
                    tracing::debug!(cluster = %self.settings.name, error = %e, partitions = again.len(), delay_ms = delay.as_millis() as u64, "retrying ListOffsets");
                    tokio::time::sleep(delay).await;
                }
                (None, Some(e)) => return Err(e),
                (_, None) => {}
            }
            todo = again;
        }
        Ok(result)
    }

    /// A producer id and epoch for an idempotent producer (InitProducerId
    /// with a null transactional id, KIP-98 / KIP-360), from any broker.
    /// Returns `(producer_id, producer_epoch)`.
    ///
    /// Errors: broker errors (e.g. CLUSTER_AUTHORIZATION_FAILED), retried
    /// when retriable (COORDINATOR_LOAD_IN_PROGRESS, ...).
    pub async fn init_producer_id(&self) -> Result<(i64, i16), KafkaError> {
        // The Java producer sends transaction_timeout_ms = Integer.MAX_VALUE
        // for non-transactional producers; the broker ignores it.
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX);
        self.retry(
            "init producer id",
            |e| e.is_retriable(),
            || async {
                let conn = self.any_broker().await?;
                let (_, resp) = conn.send(&req).await?;
                if resp.error_code != 0 {
                    return Err(broker_error(
                        &self.settings.name,
                        format!("InitProducerId on broker {}", conn.addr()),
                        resp.error_code,
                    ));
                }
                Ok((resp.producer_id.0, resp.producer_epoch))
            },
        )
        .await
    }

    /// Delete a topic (DeleteTopics, KIP-4; by name, v6 uses the topic-state
    /// list), sent to the controller if known. A missing topic
    /// (UNKNOWN_TOPIC_OR_PARTITION) counts as success. Used by tests and
    /// tooling.
    pub async fn delete_topic(&self, name: &str) -> Result<(), KafkaError> {
        let timeout_ms =
            i32::try_from(self.settings.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let res = self
            .retry(
                "delete topic",
                |e| e.is_retriable(),
                || async {
                    let conn = self.controller_or_any().await?;
                    let version = conn.version_for::<DeleteTopicsRequest>()?;
                    let mut req = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
                    if version >= 6 {
                        req = req.with_topics(vec![
                            DeleteTopicState::default().with_name(Some(topic_name(name)))
                        ]);
                    } else {
                        req = req.with_topic_names(vec![topic_name(name)]);
                    }
                    let resp = conn.send_version(&req, version).await?;
                    let code = resp
                        .responses
                        .iter()
                        .find(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == name))
                        .or(resp.responses.first())
                        .map(|r| (r.error_code, r.error_message.clone()));
                    match code {
                        None => Err(KafkaError::Malformed {
                            cluster: self.settings.name.clone(),
                            addr: conn.addr().to_string(),
                            detail: format!(
                                "DeleteTopics response does not mention topic `{name}`"
                            ),
                        }),
                        Some((0 | UNKNOWN_TOPIC_OR_PARTITION, _)) => Ok(()),
                        Some((code, message)) => {
                            if code == NOT_CONTROLLER {
                                self.forget_controller();
                                let _ = self.refresh_brokers().await;
                            }
                            Err(broker_error(
                                &self.settings.name,
                                format!("DeleteTopics `{name}` on broker {}", conn.addr()),
                                code,
                            )
                            .with_message(message.as_deref()))
                        }
                    }
                },
            )
            .await;
        self.lock_meta().topics.remove(name);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults() {
        let s = ClusterSettings::new("source", vec!["a:9092".into()]);
        assert_eq!(s.name, "source");
        assert_eq!(s.client_id, "linkgate");
        assert_eq!(s.request_timeout, Duration::from_secs(30));
        assert_eq!(s.connect_timeout, Duration::from_secs(10));
        assert_eq!(s.retry_backoff, Duration::from_millis(100));
        assert_eq!(s.retry_backoff_max, Duration::from_secs(1));
        assert_eq!(s.metadata_max_age, Duration::from_secs(300));
    }

    #[test]
    fn host_port_brackets_ipv6() {
        assert_eq!(host_port("127.0.0.1", 9092), "127.0.0.1:9092");
        assert_eq!(host_port("::1", 9092), "[::1]:9092");
        assert_eq!(host_port("broker-1", 1), "broker-1:1");
    }

    #[test]
    fn topic_info_sorts_partitions() {
        use kafka_protocol::messages::metadata_response::MetadataResponsePartition;
        let t = MetadataResponseTopic::default()
            .with_name(Some(topic_name("t")))
            .with_partitions(vec![
                MetadataResponsePartition::default()
                    .with_partition_index(1)
                    .with_leader_id(2.into()),
                MetadataResponsePartition::default()
                    .with_partition_index(0)
                    .with_leader_id((-1).into())
                    .with_error_code(LEADER_NOT_AVAILABLE),
            ]);
        let info = topic_info(&t).unwrap();
        assert_eq!(
            info.partitions
                .iter()
                .map(|p| p.partition)
                .collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(info.partition(1).map(|p| p.leader), Some(2));
        assert_eq!(
            info.partition(0).map(|p| p.error_code),
            Some(LEADER_NOT_AVAILABLE)
        );
        assert!(info.partition(2).is_none());
    }

    #[test]
    fn client_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<ClusterClient>();
        check::<BrokerConnection>();
    }
}
