//! Kafka client layer on `kafka-protocol`: the only module that speaks the wire
//! protocol to brokers.
//!
//! - [`conn`]: one multiplexed broker connection (framing, correlation ids,
//!   several requests in flight, request timeouts, ApiVersions negotiation).
//! - [`cluster`]: a cluster client (bootstrap, metadata cache, leader routing,
//!   retry with backoff, admin helpers).
//! - [`acl`]: ACL admin requests (CreateAcls, DeleteAcls) and the DENY
//!   WRITE binding that protects mirror topics.
//! - [`probe`]: a one-shot reachability check returning the cluster id.
//! - [`error`]: typed errors naming the cluster and broker that failed.

pub mod acl;
pub mod cluster;
pub mod conn;
pub mod error;
pub mod probe;

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod integration_tests;

pub use acl::{deny_write_binding, describe_binding, AclBinding};
pub use cluster::{
    ClusterClient, ClusterSettings, CreateOutcome, OffsetSpec, PartitionInfo, TopicInfo,
};
pub use conn::{BoxedStream, BrokerConnection, BrokerStream, MAX_FRAME_BYTES, VERSION_CAPS};
pub use error::{broker_error, link_error_code, KafkaError, SECURITY_DISABLED};
pub use probe::{probe, ClusterIdentity};
