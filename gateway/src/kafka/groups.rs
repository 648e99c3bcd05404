//! Consumer group admin requests on [`ClusterClient`]: the group coordinator
//! (FindCoordinator, KIP-98 key type 0), the group list (ListGroups), group
//! members and state (DescribeGroups), committed offsets (OffsetFetch) and
//! committing offsets as an admin client does (OffsetCommit with generation
//! -1 and no member id: Kafka accepts it for a group with no members).
//!
//! Versions: the highest both sides support, below the first version that
//! names topics by id (OffsetFetch v10, OffsetCommit v10) so that requests
//! stay by topic name. Errors carry the broker's error code
//! ([`kafka_protocol::ResponseError`] names it) and, where the response has
//! one, its message.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::cluster::ClusterClient;
use super::conn::BrokerConnection;
use super::error::{broker_error, KafkaError};

/// Highest OffsetFetch version used (v10 names topics by id).
const OFFSET_FETCH_MAX: i16 = 9;
/// Highest OffsetCommit version used (v9 is the consumer protocol of
/// KIP-848; v10 names topics by id).
const OFFSET_COMMIT_MAX: i16 = 8;
/// Highest FindCoordinator version used.
const FIND_COORDINATOR_MAX: i16 = 6;
/// Kafka error code `GROUP_ID_NOT_FOUND` (69).
const GROUP_ID_NOT_FOUND: i16 = 69;

/// One consumer group as ListGroups lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type, `consumer` for Kafka consumers (empty for groups
    /// that only commit offsets).
    pub protocol_type: String,
}

/// A group's state and members (DescribeGroups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// `Empty`, `Stable`, `PreparingRebalance`, `CompletingRebalance`,
    /// `Dead`, ... as the coordinator reports it.
    pub state: String,
    /// Member ids of the group's current members (empty: no consumer is in
    /// the group).
    pub members: Vec<String>,
}

/// One committed offset of a group (OffsetFetch / OffsetCommit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset the group reads.
    pub offset: i64,
    /// The leader epoch committed with it (-1: none).
    pub leader_epoch: i32,
    /// The metadata string committed with it (`None`: null).
    pub metadata: Option<String>,
}

/// Committed offsets by `(topic, partition)`.
pub type GroupOffsets = BTreeMap<(String, i32), CommittedOffset>;

fn group_id(name: &str) -> GroupId {
    GroupId(StrBytes::from_string(name.to_string()))
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

impl ClusterClient {
    fn malformed(&self, conn: &BrokerConnection, detail: String) -> KafkaError {
        KafkaError::Malformed {
            cluster: self.name().to_string(),
            addr: conn.addr().to_string(),
            detail,
        }
    }

    /// The node id of the coordinator of consumer group `group`
    /// (FindCoordinator, key type 0, asked of any broker; v4+ batched form).
    ///
    /// Errors: broker errors (COORDINATOR_NOT_AVAILABLE is retried with
    /// backoff), transport errors.
    pub async fn group_coordinator(&self, group: &str) -> Result<i32, KafkaError> {
        self.retry(
            "find coordinator",
            |e| e.is_retriable(),
            || async {
                let conn = self.any_broker().await?;
                let version = conn
                    .version_for::<FindCoordinatorRequest>()?
                    .min(FIND_COORDINATOR_MAX);
                let mut req = FindCoordinatorRequest::default().with_key_type(0);
                if version >= 4 {
                    req = req.with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]);
                } else {
                    req = req.with_key(StrBytes::from_string(group.to_string()));
                }
                let resp = conn.send_version(&req, version).await?;
                let (code, message, node) = if version >= 4 {
                    let c = resp
                        .coordinators
                        .iter()
                        .find(|c| c.key.as_str() == group)
                        .or(resp.coordinators.first())
                        .ok_or_else(|| {
                            self.malformed(
                                &conn,
                                format!("FindCoordinator response lacks group `{group}`"),
                            )
                        })?;
                    (c.error_code, c.error_message.clone(), c.node_id.0)
                } else {
                    (resp.error_code, resp.error_message.clone(), resp.node_id.0)
                };
                if code != 0 {
                    return Err(broker_error(
                        self.name(),
                        format!(
                            "FindCoordinator for group `{group}` on broker {}",
                            conn.addr()
                        ),
                        code,
                    )
                    .with_message(message.as_deref()));
                }
                Ok(node)
            },
        )
        .await
    }

    /// Runs `op` on the connection to `group`'s coordinator, finding it
    /// again after a retriable error (NOT_COORDINATOR,
    /// COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, transport),
    /// with backoff.
    async fn on_coordinator<T, F, Fut>(
        &self,
        what: &str,
        group: &str,
        op: F,
    ) -> Result<T, KafkaError>
    where
        F: Fn(Arc<BrokerConnection>) -> Fut,
        Fut: std::future::Future<Output = Result<T, KafkaError>>,
    {
        self.retry(
            what,
            |e| e.is_retriable(),
            || async {
                let node = self.group_coordinator(group).await?;
                let conn = self.broker(node).await?;
                op(conn).await
            },
        )
        .await
    }

    /// Every group the cluster knows (ListGroups to each broker, merged,
    /// sorted by group id).
    ///
    /// Errors: the first broker error or transport error.
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>, KafkaError> {
        let mut nodes: Vec<i32> = self.brokers().into_iter().map(|(id, _)| id).collect();
        if nodes.is_empty() {
            nodes.push(self.any_broker().await?.node_id());
        }
        let mut out: BTreeMap<String, ListedGroup> = BTreeMap::new();
        for node in nodes {
            let groups = self
                .retry(
                    "list groups",
                    |e| e.is_retriable(),
                    || async {
                        let conn = if node < 0 {
                            self.any_broker().await?
                        } else {
                            self.broker(node).await?
                        };
                        let (_, resp) = conn.send(&ListGroupsRequest::default()).await?;
                        if resp.error_code != 0 {
                            return Err(broker_error(
                                self.name(),
                                format!("ListGroups on broker {}", conn.addr()),
                                resp.error_code,
                            ));
                        }
                        Ok(resp.groups)
                    },
                )
                .await?;
            for g in groups {
                let id = g.group_id.0.to_string();
                out.insert(
                    id.clone(),
                    ListedGroup {
                        group_id: id,
                        protocol_type: g.protocol_type.to_string(),
                    },
                );
            }
        }
        Ok(out.into_values().collect())
    }

    /// State and members of consumer group `group` (DescribeGroups on its
    /// coordinator). A group the coordinator does not know is reported as
    /// state `Dead` with no members, as Kafka does.
    ///
    /// Errors: broker errors with the broker's message (v6+), transport
    /// errors.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, KafkaError> {
        self.on_coordinator("describe group", group, |conn| async move {
            let req = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
            let (_, resp) = conn.send(&req).await?;
            let g = resp
                .groups
                .iter()
                .find(|g| g.group_id.0.as_str() == group)
                .ok_or_else(|| {
                    self.malformed(
                        &conn,
                        format!("DescribeGroups response lacks group `{group}`"),
                    )
                })?;
            match g.error_code {
                0 => {}
                GROUP_ID_NOT_FOUND => {
                    return Ok(GroupDescription {
                        group_id: group.to_string(),
                        state: "Dead".to_string(),
                        members: Vec::new(),
                    })
                }
                code => {
                    return Err(broker_error(
                        self.name(),
                        format!("DescribeGroups `{group}` on broker {}", conn.addr()),
                        code,
                    )
                    .with_message(g.error_message.as_deref()))
                }
            }
            Ok(GroupDescription {
                group_id: group.to_string(),
                state: g.group_state.to_string(),
                members: g.members.iter().map(|m| m.member_id.to_string()).collect(),
            })
        })
        .await
    }

    /// The offsets group `group` committed (OffsetFetch on its coordinator,
    /// all topics). Partitions without a committed offset (-1) are left
    /// out.
    ///
    /// Errors: the group-level or a partition-level broker error, transport
    /// errors.
    pub async fn fetch_group_offsets(&self, group: &str) -> Result<GroupOffsets, KafkaError> {
        self.on_coordinator("fetch offsets", group, |conn| async move {
            let version = conn
                .version_for::<OffsetFetchRequest>()?
                .min(OFFSET_FETCH_MAX);
            let mut req = OffsetFetchRequest::default();
            if version >= 8 {
                req = req.with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(group_id(group))
                    .with_topics(None)]);
            } else {
                req = req.with_group_id(group_id(group)).with_topics(None);
            }
            let resp = conn.send_version(&req, version).await?;
            let context = || format!("OffsetFetch for group `{group}` on broker {}", conn.addr());
            let mut out = GroupOffsets::new();
            let mut add = |topic: &str,
                           partition: i32,
                           offset: i64,
                           epoch: i32,
                           metadata: Option<&StrBytes>,
                           code: i16|
             -> Result<(), KafkaError> {
                if code != 0 {
                    return Err(broker_error(self.name(), context(), code));
                }
                if offset >= 0 {
                    out.insert(
                        (topic.to_string(), partition),
                        CommittedOffset {
                            offset,
                            leader_epoch: epoch,
                            metadata: metadata.map(|m| m.to_string()),
                        },
                    );
                }
                Ok(())
            };
            if version >= 8 {
                let g = resp
                    .groups
                    .iter()
                    .find(|g| g.group_id.0.as_str() == group)
                    .ok_or_else(|| {
                        self.malformed(&conn, format!("OffsetFetch response lacks group `{group}`"))
                    })?;
                if g.error_code != 0 {
                    return Err(broker_error(self.name(), context(), g.error_code));
                }
                for t in &g.topics {
                    for p in &t.partitions {
                        add(
                            t.name.0.as_str(),
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.metadata.as_ref(),
                            p.error_code,
                        )?;
                    }
                }
            } else {
                if resp.error_code != 0 {
                    return Err(broker_error(self.name(), context(), resp.error_code));
                }
                for t in &resp.topics {
                    for p in &t.partitions {
                        add(
                            t.name.0.as_str(),
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.metadata.as_ref(),
                            p.error_code,
                        )?;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Commits `offsets` for group `group` as an admin client (OffsetCommit
    /// on its coordinator, generation -1, empty member id: accepted only
    /// while the group has no members), with each offset's leader epoch
    /// and metadata string. Nothing is sent for an empty map.
    ///
    /// Errors: the first partition-level broker error (e.g.
    /// UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION when the group has members,
    /// UNKNOWN_TOPIC_OR_PARTITION), transport errors.
    pub async fn commit_group_offsets(
        &self,
        group: &str,
        offsets: &GroupOffsets,
    ) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((topic, partition), c) in offsets {
            by_topic.entry(topic.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(c.offset)
                    .with_committed_leader_epoch(c.leader_epoch)
                    .with_committed_metadata(c.metadata.clone().map(StrBytes::from_string)),
            );
        }
        let req = OffsetCommitRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::default())
            .with_retention_time_ms(-1)
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let req = &req;
        self.on_coordinator("commit offsets", group, |conn| async move {
            let version = conn
                .version_for::<OffsetCommitRequest>()?
                .min(OFFSET_COMMIT_MAX);
            let resp = conn.send_version(req, version).await?;
            for t in &resp.topics {
                for p in &t.partitions {
                    if p.error_code != 0 {
                        return Err(broker_error(
                            self.name(),
                            format!(
                                "OffsetCommit for group `{group}` {}-{} on broker {}",
                                t.name.0.as_str(),
                                p.partition_index,
                                conn.addr()
                            ),
                            p.error_code,
                        ));
                    }
                }
            }
            Ok(())
        })
        .await
    }
}
