//! Kafka client layer on `kafka-protocol`: the only module that speaks the wire
//! protocol to brokers.
//!
//! - [`conn`]: one multiplexed broker connection (framing, correlation ids,
//!   several requests in flight, request timeouts, ApiVersions negotiation).
//! - [`cluster`]: a cluster client (bootstrap, metadata cache, leader routing,
//!   retry with backoff, admin helpers).
//! - [`security`]: `security.protocol` with its TLS ([`tls`]) and SASL
//!   ([`sasl`]) settings; [`authenticate`] runs SASL on a connection.
//! - [`acl`]: ACL admin requests (CreateAcls, DeleteAcls, DescribeAcls)
//!   and the DENY WRITE binding that protects mirror topics;
//!   [`acl_binding`]: the binding values and their wire codes.
//! - [`groups`]: consumer group admin requests (FindCoordinator,
//!   ListGroups, DescribeGroups, OffsetFetch, OffsetCommit).
//! - [`probe`]: a one-shot reachability check returning the cluster id.
//! - [`error`]: typed errors naming the cluster and broker that failed.
//! - [`records`]: the record batch codec (magic v2 parsing, read_committed
//!   filtering, writer-field rewrite with CRC-32C, bounded decompression).
//! - [`retry`]: the retry loop (backoff, deadline, cancellation).
//! - [`wire`]: Fetch and Produce request builders.
//! - [`fetch_session`]: the client side of an incremental fetch session (KIP-227).

pub mod acl;
pub mod acl_binding;
mod authenticate;
pub mod cluster;
pub mod conn;
pub mod error;
pub mod fetch_session;
pub mod groups;
pub mod probe;
pub mod records;
pub mod retry;
pub mod sasl;
pub mod security;
pub mod tls;
pub mod topic_configs;
pub mod wire;

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
pub(crate) mod scripted;

#[cfg(test)]
mod integration_tests;

#[cfg(test)]
mod groups_tests;

pub use acl::deny_write_binding;
pub use acl_binding::{
    describe_binding, AclBinding, AclEntry, AclOperation, AclPermission, PatternType, ResourceType,
};
pub use cluster::{
    ClusterClient, ClusterSettings, CreateOutcome, OffsetSpec, PartitionInfo, TopicInfo,
};
pub use conn::{BoxedStream, BrokerConnection, BrokerStream, MAX_FRAME_BYTES, VERSION_CAPS};
pub use error::{broker_error, link_error_code, KafkaError, SECURITY_DISABLED};
pub use groups::{CommittedOffset, GroupDescription, GroupOffsets, ListedGroup};
pub use probe::{probe, ClusterIdentity};
pub use security::{is_security_property, Security, SecurityPropertyError, SecurityProtocol};
pub use topic_configs::ConfigChange;
