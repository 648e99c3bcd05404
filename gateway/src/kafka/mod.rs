//! Kafka client layer on `kafka-protocol`: the only module that speaks the wire
//! protocol to brokers.
//!
//! - [`conn`]: one multiplexed broker connection (framing, correlation ids,
//!   several requests in flight, request timeouts, ApiVersions negotiation).
//! - [`cluster`]: a cluster client (bootstrap, metadata cache, leader routing,
//!   retry with backoff, admin helpers).
//! - [`error`]: typed errors naming the cluster and broker that failed.

pub mod cluster;
pub mod conn;
pub mod error;

pub use cluster::{ClusterClient, ClusterSettings, OffsetSpec, PartitionInfo, TopicInfo};
pub use conn::BrokerConnection;
pub use error::KafkaError;
