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

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod integration_tests;

pub use cluster::{
    ClusterClient, ClusterSettings, CreateOutcome, OffsetSpec, PartitionInfo, TopicInfo,
};
pub use conn::{BoxedStream, BrokerConnection, BrokerStream, MAX_FRAME_BYTES, VERSION_CAPS};
pub use error::{broker_error, link_error_code, KafkaError};
