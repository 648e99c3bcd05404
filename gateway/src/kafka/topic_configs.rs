//! Topic config and partition-count admin requests on [`ClusterClient`]:
//! [`ClusterClient::describe_topic_configs`] (DescribeConfigs, KIP-133),
//! [`ClusterClient::alter_topic_configs`] (IncrementalAlterConfigs,
//! KIP-339) and [`ClusterClient::create_partitions`] (CreatePartitions,
//! KIP-195). Config changes go to any broker (Kafka forwards them to the
//! controller); CreatePartitions goes to the controller when metadata names
//! one.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::cluster::{topic_name, ClusterClient, NOT_CONTROLLER};
use super::error::{broker_error, KafkaError, UNKNOWN_TOPIC_OR_PARTITION};

/// DescribeConfigs / IncrementalAlterConfigs resource type `TOPIC`.
const RESOURCE_TYPE_TOPIC: i8 = 2;
/// DescribeConfigs config source `DYNAMIC_TOPIC_CONFIG` (KIP-226).
const CONFIG_SOURCE_DYNAMIC_TOPIC: i8 = 1;
/// IncrementalAlterConfigs operation `SET`.
const OP_SET: i8 = 0;
/// IncrementalAlterConfigs operation `DELETE` (back to the default).
const OP_DELETE: i8 = 1;

/// One change of a topic config (IncrementalAlterConfigs, KIP-339).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigChange {
    /// Set `name` to `value` (operation `SET`).
    Set {
        /// Config name, e.g. `retention.ms`.
        name: String,
        /// New value.
        value: String,
    },
    /// Remove the topic's own value of `name`, so the broker default applies
    /// again (operation `DELETE`).
    Delete {
        /// Config name.
        name: String,
    },
}

impl ConfigChange {
    /// The config this change is about.
    pub fn name(&self) -> &str {
        match self {
            ConfigChange::Set { name, .. } | ConfigChange::Delete { name } => name,
        }
    }
}

impl ClusterClient {
    /// The configs set on a topic (DescribeConfigs, KIP-133), sorted by name:
    /// entries whose source is DYNAMIC_TOPIC_CONFIG (KIP-226), skipping
    /// sensitive, read-only and null-valued ones. Empty when none are set.
    ///
    /// Errors: [`KafkaError::UnknownTopic`] when the topic does not exist
    /// (not retried); other broker errors with the broker's message.
    pub async fn describe_topic_configs(
        &self,
        name: &str,
    ) -> Result<Vec<(String, String)>, KafkaError> {
        let req = DescribeConfigsRequest::default()
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TYPE_TOPIC)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configuration_keys(None)])
            .with_include_synonyms(false);
        self.retry(
            "describe configs",
            |e| e.is_retriable() && !matches!(e, KafkaError::UnknownTopic { .. }),
            || async {
                let conn = self.any_broker().await?;
                let (_, resp) = conn.send(&req).await?;
                let r = resp
                    .results
                    .iter()
                    .find(|r| r.resource_name.as_str() == name)
                    .or(resp.results.first())
                    .ok_or_else(|| KafkaError::Malformed {
                        cluster: self.name().to_string(),
                        addr: conn.addr().to_string(),
                        detail: format!(
                            "DescribeConfigs response has no result for topic `{name}`"
                        ),
                    })?;
                match r.error_code {
                    0 => {}
                    UNKNOWN_TOPIC_OR_PARTITION => {
                        return Err(KafkaError::UnknownTopic {
                            cluster: self.name().to_string(),
                            topic: name.to_string(),
                            partition: None,
                        })
                    }
                    code => {
                        return Err(broker_error(
                            self.name(),
                            format!("DescribeConfigs `{name}` on broker {}", conn.addr()),
                            code,
                        )
                        .with_message(r.error_message.as_deref()))
                    }
                }
                let mut out: Vec<(String, String)> = r
                    .configs
                    .iter()
                    .filter(|c| {
                        c.config_source == CONFIG_SOURCE_DYNAMIC_TOPIC
                            && !c.is_sensitive
                            && !c.read_only
                    })
                    .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                    .collect();
                out.sort();
                Ok(out)
            },
        )
        .await
    }

    /// Applies `changes` to topic `name` in one IncrementalAlterConfigs
    /// request (v0..=1, KIP-339); configs not named keep their values.
    /// Nothing is sent when `changes` is empty.
    ///
    /// Errors: [`KafkaError::UnsupportedVersion`] when the broker lacks the
    /// API; [`KafkaError::UnknownTopic`] for a missing topic; other broker
    /// errors (e.g. INVALID_CONFIG, POLICY_VIOLATION,
    /// TOPIC_AUTHORIZATION_FAILED) with the broker's message. Retriable
    /// errors are retried within the request timeout.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        changes: &[ConfigChange],
    ) -> Result<(), KafkaError> {
        if changes.is_empty() {
            return Ok(());
        }
        let configs = changes
            .iter()
            .map(|c| match c {
                ConfigChange::Set { name, value } => AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_config_operation(OP_SET)
                    .with_value(Some(StrBytes::from_string(value.clone()))),
                ConfigChange::Delete { name } => AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_config_operation(OP_DELETE)
                    .with_value(None),
            })
            .collect();
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TYPE_TOPIC)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configs(configs),
        ]);
        self.retry(
            "alter topic configs",
            |e| e.is_retriable() && !matches!(e, KafkaError::UnknownTopic { .. }),
            || async {
                let conn = self.any_broker().await?;
                let (_, resp) = conn.send(&req).await?;
                let r = resp
                    .responses
                    .iter()
                    .find(|r| r.resource_name.as_str() == name)
                    .ok_or_else(|| KafkaError::Malformed {
                        cluster: self.name().to_string(),
                        addr: conn.addr().to_string(),
                        detail: format!(
                            "IncrementalAlterConfigs response does not mention topic `{name}`"
                        ),
                    })?;
                match r.error_code {
                    0 => Ok(()),
                    UNKNOWN_TOPIC_OR_PARTITION => Err(KafkaError::UnknownTopic {
                        cluster: self.name().to_string(),
                        topic: name.to_string(),
                        partition: None,
                    }),
                    code => Err(broker_error(
                        self.name(),
                        format!("IncrementalAlterConfigs `{name}` on broker {}", conn.addr()),
                        code,
                    )
                    .with_message(r.error_message.as_deref())),
                }
            },
        )
        .await
    }

    /// Raises topic `name` to `count` partitions (CreatePartitions v0..=3,
    /// KIP-195; replica placement left to the broker). NOT_CONTROLLER
    /// refreshes the controller and retries. The topic's cached metadata is
    /// dropped afterwards.
    ///
    /// Errors: [`KafkaError::UnsupportedVersion`] when the broker lacks the
    /// API; broker errors such as INVALID_PARTITIONS (`count` not above the
    /// current count) or TOPIC_AUTHORIZATION_FAILED with the broker's
    /// message.
    pub async fn create_partitions(&self, name: &str, count: i32) -> Result<(), KafkaError> {
        let timeout_ms =
            i32::try_from(self.settings().request_timeout.as_millis()).unwrap_or(i32::MAX);
        let req = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name(name))
                .with_count(count)
                .with_assignments(None)])
            .with_timeout_ms(timeout_ms)
            .with_validate_only(false);
        let res = self
            .retry(
                "create partitions",
                |e| e.is_retriable(),
                || async {
                    let conn = self.controller_or_any().await?;
                    let (_, resp) = conn.send(&req).await?;
                    let r = resp
                        .results
                        .iter()
                        .find(|r| r.name.0.as_str() == name)
                        .ok_or_else(|| KafkaError::Malformed {
                            cluster: self.name().to_string(),
                            addr: conn.addr().to_string(),
                            detail: format!(
                                "CreatePartitions response does not mention topic `{name}`"
                            ),
                        })?;
                    match r.error_code {
                        0 => Ok(()),
                        code => {
                            if code == NOT_CONTROLLER {
                                self.forget_controller();
                                let _ = self.refresh_brokers().await;
                            }
                            Err(broker_error(
                                self.name(),
                                format!("CreatePartitions `{name}` on broker {}", conn.addr()),
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
}
