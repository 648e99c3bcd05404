//! ACL admin requests: [`ClusterClient::create_acls`] (CreateAcls, KIP-140),
//! [`ClusterClient::delete_acls`] (DeleteAcls) and
//! [`ClusterClient::describe_acls`] (DescribeAcls), with KIP-290 resource
//! pattern types (request versions 1..=3), plus [`deny_write_binding`], the
//! binding that keeps other principals from writing to a mirror topic.
//!
//! Bindings are [`AclBinding`] (`acl_binding`), sent in Kafka's wire codes.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::acl_binding::{
    describe_binding, AclBinding, AclOperation, AclPermission, PatternType, ResourceType,
};
use super::cluster::ClusterClient;
use super::error::{broker_error, KafkaError};

/// The binding that denies `principal` (e.g. `User:*`, or `User:alice`)
/// WRITE on the topic named exactly `topic` from any host: resource TOPIC,
/// pattern LITERAL, operation WRITE, permission DENY, host `*`. linkgate
/// creates it on the destination for mirror topics when
/// `linkgate.mirror.write.deny.enable` is set, and deletes the same binding
/// (as a filter) at promote/failover.
pub fn deny_write_binding(topic: &str, principal: &str) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: topic.to_string(),
        pattern_type: PatternType::Literal,
        principal: principal.to_string(),
        host: "*".to_string(),
        operation: AclOperation::Write,
        permission: AclPermission::Deny,
    }
}

fn creation(b: &AclBinding) -> AclCreation {
    AclCreation::default()
        .with_resource_type(b.resource_type.code())
        .with_resource_name(StrBytes::from_string(b.resource_name.clone()))
        .with_resource_pattern_type(b.pattern_type.code())
        .with_principal(StrBytes::from_string(b.principal.clone()))
        .with_host(StrBytes::from_string(b.host.clone()))
        .with_operation(b.operation.code())
        .with_permission_type(b.permission.code())
}

/// `None` (match any) for an empty filter string.
fn any_if_empty(s: &str) -> Option<StrBytes> {
    (!s.is_empty()).then(|| StrBytes::from_string(s.to_string()))
}

fn filter(b: &AclBinding) -> DeleteAclsFilter {
    DeleteAclsFilter::default()
        .with_resource_type_filter(b.resource_type.code())
        .with_resource_name_filter(any_if_empty(&b.resource_name))
        .with_pattern_type_filter(b.pattern_type.code())
        .with_principal_filter(any_if_empty(&b.principal))
        .with_host_filter(any_if_empty(&b.host))
        .with_operation(b.operation.code())
        .with_permission_type(b.permission.code())
}

impl ClusterClient {
    /// Create ACL bindings (CreateAcls v1..=3, KIP-140/KIP-290), one request
    /// to any broker (the broker forwards to the controller). Creating a
    /// binding that already exists succeeds (Kafka's authorizer treats it
    /// as a no-op). An empty slice sends nothing.
    ///
    /// Errors: the first binding the broker refused, as
    /// [`KafkaError::Broker`] whose context names the binding (see
    /// [`describe_binding`]) and the broker, with the broker's message; e.g.
    /// `SECURITY_DISABLED` (54, not retriable) when the cluster has no
    /// authorizer, `CLUSTER_AUTHORIZATION_FAILED` (31) when the gateway's
    /// principal may not alter ACLs, `INVALID_REQUEST` for a malformed
    /// binding. Retriable codes and transport errors are retried (the
    /// request is idempotent) with the client's backoff; then the last error.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<(), KafkaError> {
        if bindings.is_empty() {
            return Ok(());
        }
        let req =
            CreateAclsRequest::default().with_creations(bindings.iter().map(creation).collect());
        self.retry(
            "create acls",
            |e| e.is_retriable(),
            || async {
                let conn = self.any_broker().await?;
                let (_, resp) = conn.send(&req).await?;
                if resp.results.len() != bindings.len() {
                    return Err(KafkaError::Malformed {
                        cluster: self.name().to_string(),
                        addr: conn.addr().to_string(),
                        detail: format!(
                            "CreateAcls response has {} results for {} bindings",
                            resp.results.len(),
                            bindings.len()
                        ),
                    });
                }
                for (b, r) in bindings.iter().zip(&resp.results) {
                    if r.error_code != 0 {
                        return Err(broker_error(
                            self.name(),
                            format!(
                                "CreateAcls {} on broker {}",
                                describe_binding(b),
                                conn.addr()
                            ),
                            r.error_code,
                        )
                        .with_message(r.error_message.as_deref()));
                    }
                }
                Ok(())
            },
        )
        .await
    }

    /// Delete every ACL binding matching any of `filters` (DeleteAcls
    /// v1..=3), one request to any broker. In a filter, an empty
    /// `resource_name`, `principal` or `host` matches any value (sent as
    /// null), and the `Any` variants of the enums match any value (Kafka's
    /// `AclBindingFilter`). A filter matching nothing succeeds. An empty
    /// slice sends nothing.
    ///
    /// Errors: the first filter (or matching binding) the broker refused, as
    /// [`KafkaError::Broker`] naming the filter and the broker, with the
    /// broker's message (`SECURITY_DISABLED`, `CLUSTER_AUTHORIZATION_FAILED`,
    /// ...). Retriable codes and transport errors are retried with backoff.
    pub async fn delete_acls(&self, filters: &[AclBinding]) -> Result<(), KafkaError> {
        if filters.is_empty() {
            return Ok(());
        }
        let req = DeleteAclsRequest::default().with_filters(filters.iter().map(filter).collect());
        self.retry(
            "delete acls",
            |e| e.is_retriable(),
            || async {
                let conn = self.any_broker().await?;
                let (_, resp) = conn.send(&req).await?;
                if resp.filter_results.len() != filters.len() {
                    return Err(KafkaError::Malformed {
                        cluster: self.name().to_string(),
                        addr: conn.addr().to_string(),
                        detail: format!(
                            "DeleteAcls response has {} results for {} filters",
                            resp.filter_results.len(),
                            filters.len()
                        ),
                    });
                }
                for (f, r) in filters.iter().zip(&resp.filter_results) {
                    let failed = (r.error_code != 0)
                        .then_some((r.error_code, r.error_message.as_deref()))
                        .or_else(|| {
                            r.matching_acls
                                .iter()
                                .find(|m| m.error_code != 0)
                                .map(|m| (m.error_code, m.error_message.as_deref()))
                        });
                    if let Some((code, message)) = failed {
                        return Err(broker_error(
                            self.name(),
                            format!(
                                "DeleteAcls matching {} on broker {}",
                                describe_binding(f),
                                conn.addr()
                            ),
                            code,
                        )
                        .with_message(message));
                    }
                }
                Ok(())
            },
        )
        .await
    }

    /// The ACL bindings matching `filter` (DescribeAcls v1..=3, KIP-290),
    /// from any broker, in the broker's order. The filter's empty
    /// `resource_name`, `principal` or `host` and the `Any` variants match
    /// any value, as in [`ClusterClient::delete_acls`]; pattern type
    /// `Match` matches the bindings that apply to a resource name
    /// (literal, `*` and prefixes of it). At most [`MAX_DESCRIBED_ACLS`]
    /// bindings are kept; more is an error rather than a partial answer.
    ///
    /// Errors: [`KafkaError::Broker`] with the broker's code and message,
    /// e.g. `SECURITY_DISABLED` (54) without an authorizer,
    /// `CLUSTER_AUTHORIZATION_FAILED` (31) when the principal may not
    /// describe ACLs; [`KafkaError::Malformed`] over the limit. Retriable
    /// codes and transport errors are retried with backoff.
    pub async fn describe_acls(&self, filter: &AclBinding) -> Result<Vec<AclBinding>, KafkaError> {
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type.code())
            .with_resource_name_filter(any_if_empty(&filter.resource_name))
            .with_pattern_type_filter(filter.pattern_type.code())
            .with_principal_filter(any_if_empty(&filter.principal))
            .with_host_filter(any_if_empty(&filter.host))
            .with_operation(filter.operation.code())
            .with_permission_type(filter.permission.code());
        self.retry(
            "describe acls",
            |e| e.is_retriable(),
            || async {
                let conn = self.any_broker().await?;
                let (_, resp) = conn.send(&req).await?;
                if resp.error_code != 0 {
                    return Err(broker_error(
                        self.name(),
                        format!(
                            "DescribeAcls matching {} on broker {}",
                            describe_binding(filter),
                            conn.addr()
                        ),
                        resp.error_code,
                    )
                    .with_message(resp.error_message.as_deref()));
                }
                let count: usize = resp.resources.iter().map(|r| r.acls.len()).sum();
                if count > MAX_DESCRIBED_ACLS {
                    return Err(KafkaError::Malformed {
                        cluster: self.name().to_string(),
                        addr: conn.addr().to_string(),
                        detail: format!(
                            "DescribeAcls answered {count} bindings, more than the {MAX_DESCRIBED_ACLS} linkgate keeps"
                        ),
                    });
                }
                Ok(bindings_of(&resp))
            },
        )
        .await
    }
}

/// The most ACL bindings one DescribeAcls answer may hold (a bound on
/// memory driven by the network).
pub const MAX_DESCRIBED_ACLS: usize = 100_000;

/// The bindings of a DescribeAcls response, one per access control entry.
pub(crate) fn bindings_of(resp: &DescribeAclsResponse) -> Vec<AclBinding> {
    resp.resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(move |a| AclBinding {
                resource_type: ResourceType::from_code(r.resource_type),
                resource_name: r.resource_name.to_string(),
                pattern_type: PatternType::from_code(r.pattern_type),
                principal: a.principal.to_string(),
                host: a.host.to_string(),
                operation: AclOperation::from_code(a.operation),
                permission: AclPermission::from_code(a.permission_type),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_write_binding_shape_and_wire_codes() {
        let b = deny_write_binding("orders", "User:*");
        assert_eq!(
            describe_binding(&b),
            "DENY WRITE on TOPIC `orders` (LITERAL) for User:* from host *"
        );
        let c = creation(&b);
        assert_eq!(c.resource_type, 2, "TOPIC");
        assert_eq!(c.resource_pattern_type, 3, "LITERAL");
        assert_eq!(c.operation, 4, "WRITE");
        assert_eq!(c.permission_type, 2, "DENY");
        assert_eq!(c.host.as_str(), "*");
        assert_eq!(c.principal.as_str(), "User:*");
        assert_eq!(c.resource_name.as_str(), "orders");
    }

    #[test]
    fn filter_empty_strings_match_any() {
        let mut f = deny_write_binding("orders", "");
        f.host = String::new();
        let wire = filter(&f);
        assert_eq!(wire.principal_filter, None);
        assert_eq!(wire.host_filter, None);
        assert_eq!(
            wire.resource_name_filter.as_ref().map(|s| s.as_str()),
            Some("orders")
        );
        assert_eq!(wire.pattern_type_filter, 3);
        assert!(describe_binding(&f).contains("for *any* from host *any*"));
    }
}
