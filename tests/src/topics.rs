//! The topic names of a cluster as librdkafka's Metadata shows them (for
//! checks that a topic was or was not created on a cluster), and a topic's
//! configs as DescribeConfigs answers them (with a check of expected values).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::records::client_config;
use crate::security::ClientSecurity;

/// Every topic name of the cluster at `bootstrap` (Metadata for all topics
/// via librdkafka, 10 s timeout), internal ones included.
///
/// # Errors
/// Client creation or Metadata failure.
pub async fn list_topics(bootstrap: &str) -> anyhow::Result<BTreeSet<String>> {
    list_topics_with(bootstrap, &ClientSecurity::plaintext()).await
}

/// [`list_topics`] with the client security `security` (TLS, SASL).
///
/// # Errors
/// As [`list_topics`].
pub async fn list_topics_with(
    bootstrap: &str,
    security: &ClientSecurity,
) -> anyhow::Result<BTreeSet<String>> {
    let bootstrap = bootstrap.to_owned();
    let security = security.clone();
    tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = client_config(&bootstrap, &security)
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

/// The configs of `topic` as DescribeConfigs answers them (librdkafka's
/// AdminClient, 30 s timeout): name -> value, `None` values left out.
///
/// # Errors
/// Client creation, request failure or a per-resource error (e.g. unknown topic).
pub async fn topic_configs(
    bootstrap: &str,
    topic: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    topic_configs_with(bootstrap, &ClientSecurity::plaintext(), topic).await
}

/// [`topic_configs`] with the client security `security` (TLS, SASL).
///
/// # Errors
/// As [`topic_configs`].
pub async fn topic_configs_with(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, security)
        .create()
        .context("creating AdminClient")?;
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
        .await
        .with_context(|| format!("DescribeConfigs {topic} on {bootstrap}"))?;
    let mut out = std::collections::BTreeMap::new();
    for result in results {
        let resource =
            result.map_err(|e| anyhow::anyhow!("DescribeConfigs {topic} on {bootstrap}: {e}"))?;
        for entry in resource.entries {
            if let Some(value) = entry.value {
                out.insert(entry.name, value);
            }
        }
    }
    Ok(out)
}

/// Checks that `topic` on `bootstrap` has, per [`topic_configs`], each
/// `(name, value)` of `expected`; configs not named are not checked.
///
/// # Errors
/// [`topic_configs`] fails, or a config is missing or has another value
/// (the message lists every config read).
pub async fn assert_topic_configs(
    bootstrap: &str,
    topic: &str,
    expected: &[(&str, &str)],
) -> anyhow::Result<()> {
    let configs = topic_configs(bootstrap, topic).await?;
    for (name, value) in expected {
        anyhow::ensure!(
            configs.get(*name).map(String::as_str) == Some(*value),
            "{topic} on {bootstrap}: {name} is {:?}, expected {value:?}; configs {configs:?}",
            configs.get(*name)
        );
    }
    Ok(())
}
