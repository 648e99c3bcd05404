//! The topic names of a cluster as librdkafka's Metadata shows them (for
//! checks that a topic was or was not created on a cluster).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Every topic name of the cluster at `bootstrap` (Metadata for all topics
/// via librdkafka, 10 s timeout), internal ones included.
///
/// # Errors
/// Client creation or Metadata failure.
pub async fn list_topics(bootstrap: &str) -> anyhow::Result<BTreeSet<String>> {
    let bootstrap = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "linkgate-tests-topics")
            .set("log_level", "3")
            .create()
            .context("creating metadata client")?;
        let metadata = client
            .fetch_metadata(None, Duration::from_secs(10))
            .with_context(|| format!("Metadata of all topics from {bootstrap}"))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| t.name().to_owned())
            .collect())
    })
    .await
    .context("metadata task panicked")?
}
