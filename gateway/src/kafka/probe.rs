//! A one-shot reachability check of a cluster: bootstrap with the given
//! settings and report the cluster's identity. Used to validate a link
//! (`validate_link`) before it is created and to diagnose an UNAVAILABLE
//! link; [`super::link_error_code`] turns its error into a Confluent link
//! error code.

use super::cluster::{ClusterClient, ClusterSettings};
use super::error::KafkaError;

/// What [`probe`] learned about a reachable cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterIdentity {
    /// The Kafka cluster id (Metadata v2+ `cluster_id`, KIP-78).
    pub cluster_id: String,
}

/// Connect to the cluster described by `settings` (bootstrap servers in
/// order, `connect_timeout` per address, Metadata with no topics) and
/// return its cluster id. The connections are closed before returning.
///
/// Errors: [`KafkaError::Bootstrap`] naming the cluster and every address
/// tried (map it with [`super::link_error_code`] to
/// `UNRESOLVABLE_BOOTSTRAP_ERROR`, `BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR`,
/// `AUTHENTICATION_ERROR`, `TIMEOUT_ERROR` or `UNKNOWN`);
/// [`KafkaError::Malformed`] when the broker reports no cluster id (brokers
/// older than Kafka 0.10.1, which linkgate does not support).
pub async fn probe(settings: &ClusterSettings) -> Result<ClusterIdentity, KafkaError> {
    let client = ClusterClient::connect(settings.clone()).await?;
    match client.cluster_id() {
        Some(cluster_id) => Ok(ClusterIdentity { cluster_id }),
        None => Err(KafkaError::Malformed {
            cluster: settings.name.clone(),
            addr: settings.bootstrap_servers.join(","),
            detail: "Metadata response carries no cluster id".to_string(),
        }),
    }
}
