//! ACL admin requests: [`ClusterClient::create_acls`] (CreateAcls, KIP-140),
//! [`ClusterClient::delete_acls`] (DeleteAcls) and
//! [`ClusterClient::describe_acls`] (DescribeAcls), with KIP-290 resource
//! pattern types (request versions 1..=3), plus [`deny_write_binding`], the
//! binding that keeps other principals from writing to a mirror topic.
//!
//! Bindings are [`AclBinding`], the plugin host's WIT `acl-binding` type
//! (resource type, resource name, pattern type, principal, host, operation,
//! permission), so ACL mapper output goes to the cluster without conversion.
//! Wire codes come from [`crate::plugin::resource_type_code`] and its
//! siblings (Kafka's `ResourceType`, `PatternType`, `AclOperation`,
//! `AclPermissionType` codes).

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::cluster::ClusterClient;
use super::error::{broker_error, KafkaError};
use crate::plugin::{
    acl_operation_code, acl_operation_from_code, acl_permission_code, acl_permission_from_code,
    pattern_type_code, pattern_type_from_code, resource_type_code, resource_type_from_code,
    AclOperation, AclPermission, PatternType, ResourceType,
};

/// One ACL binding (Kafka `AclBinding`: resource pattern + access control
/// entry); the same type as the plugin host's WIT `acl-binding`.
pub use crate::plugin::AclBinding;

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

/// Kafka's upper-case name of a resource type (`ResourceType.name()`).
fn resource_type_name(t: ResourceType) -> &'static str {
    match t {
        ResourceType::Unknown => "UNKNOWN",
        ResourceType::Any => "ANY",
        ResourceType::Topic => "TOPIC",
        ResourceType::Group => "GROUP",
        ResourceType::Cluster => "CLUSTER",
        ResourceType::TransactionalId => "TRANSACTIONAL_ID",
        ResourceType::DelegationToken => "DELEGATION_TOKEN",
        ResourceType::User => "USER",
    }
}

/// Kafka's upper-case name of a pattern type (`PatternType.name()`).
fn pattern_type_name(t: PatternType) -> &'static str {
    match t {
        PatternType::Unknown => "UNKNOWN",
        PatternType::Any => "ANY",
        PatternType::Match => "MATCH",
        PatternType::Literal => "LITERAL",
        PatternType::Prefixed => "PREFIXED",
    }
}

/// Kafka's upper-case name of an operation (`AclOperation.name()`).
fn operation_name(op: AclOperation) -> &'static str {
    match op {
        AclOperation::Unknown => "UNKNOWN",
        AclOperation::Any => "ANY",
        AclOperation::All => "ALL",
        AclOperation::Read => "READ",
        AclOperation::Write => "WRITE",
        AclOperation::Create => "CREATE",
        AclOperation::Delete => "DELETE",
        AclOperation::Alter => "ALTER",
        AclOperation::Describe => "DESCRIBE",
        AclOperation::ClusterAction => "CLUSTER_ACTION",
        AclOperation::DescribeConfigs => "DESCRIBE_CONFIGS",
        AclOperation::AlterConfigs => "ALTER_CONFIGS",
        AclOperation::IdempotentWrite => "IDEMPOTENT_WRITE",
        AclOperation::CreateTokens => "CREATE_TOKENS",
        AclOperation::DescribeTokens => "DESCRIBE_TOKENS",
    }
}

/// Kafka's upper-case name of a permission (`AclPermissionType.name()`).
fn permission_name(p: AclPermission) -> &'static str {
    match p {
        AclPermission::Unknown => "UNKNOWN",
        AclPermission::Any => "ANY",
        AclPermission::Deny => "DENY",
        AclPermission::Allow => "ALLOW",
    }
}

/// A binding in words for error messages, e.g.
/// ``DENY WRITE on TOPIC `orders` (LITERAL) for User:* from host *``.
/// An empty principal, name or host (a filter's "any") prints as `*any*`.
pub fn describe_binding(b: &AclBinding) -> String {
    let or_any = |s: &str| {
        if s.is_empty() {
            "*any*".to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{} {} on {} `{}` ({}) for {} from host {}",
        permission_name(b.permission),
        operation_name(b.operation),
        resource_type_name(b.resource_type),
        or_any(&b.resource_name),
        pattern_type_name(b.pattern_type),
        or_any(&b.principal),
        or_any(&b.host),
    )
}

fn creation(b: &AclBinding) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type_code(b.resource_type))
        .with_resource_name(StrBytes::from_string(b.resource_name.clone()))
        .with_resource_pattern_type(pattern_type_code(b.pattern_type))
        .with_principal(StrBytes::from_string(b.principal.clone()))
        .with_host(StrBytes::from_string(b.host.clone()))
        .with_operation(acl_operation_code(b.operation))
        .with_permission_type(acl_permission_code(b.permission))
}

/// `None` (match any) for an empty filter string.
fn any_if_empty(s: &str) -> Option<StrBytes> {
    (!s.is_empty()).then(|| StrBytes::from_string(s.to_string()))
}

fn filter(b: &AclBinding) -> DeleteAclsFilter {
    DeleteAclsFilter::default()
        .with_resource_type_filter(resource_type_code(b.resource_type))
        .with_resource_name_filter(any_if_empty(&b.resource_name))
        .with_pattern_type_filter(pattern_type_code(b.pattern_type))
        .with_principal_filter(any_if_empty(&b.principal))
        .with_host_filter(any_if_empty(&b.host))
        .with_operation(acl_operation_code(b.operation))
        .with_permission_type(acl_permission_code(b.permission))
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
            .with_resource_type_filter(resource_type_code(filter.resource_type))
            .with_resource_name_filter(any_if_empty(&filter.resource_name))
            .with_pattern_type_filter(pattern_type_code(filter.pattern_type))
            .with_principal_filter(any_if_empty(&filter.principal))
            .with_host_filter(any_if_empty(&filter.host))
            .with_operation(acl_operation_code(filter.operation))
            .with_permission_type(acl_permission_code(filter.permission));
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

/// An ACL binding in Kafka's wire codes (resource type, pattern type,
/// operation, permission as `i8`, KIP-140/KIP-290): ordered, hashable and
/// serializable, for sets of bindings and for the state topic.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AclEntry {
    /// Resource type code (TOPIC 2, GROUP 3, CLUSTER 4, TRANSACTIONAL_ID 5).
    pub resource_type: i8,
    /// Resource name (pattern).
    pub resource_name: String,
    /// Pattern type code (LITERAL 3, PREFIXED 4).
    pub pattern_type: i8,
    /// Principal, e.g. `User:alice`.
    pub principal: String,
    /// Host, `*` for any.
    pub host: String,
    /// Operation code (READ 3, WRITE 4, ...).
    pub operation: i8,
    /// Permission code (DENY 2, ALLOW 3).
    pub permission: i8,
}

impl From<&AclBinding> for AclEntry {
    fn from(b: &AclBinding) -> Self {
        Self {
            resource_type: resource_type_code(b.resource_type),
            resource_name: b.resource_name.clone(),
            pattern_type: pattern_type_code(b.pattern_type),
            principal: b.principal.clone(),
            host: b.host.clone(),
            operation: acl_operation_code(b.operation),
            permission: acl_permission_code(b.permission),
        }
    }
}

impl AclEntry {
    /// The binding this entry stands for (unknown codes become `Unknown`).
    pub fn binding(&self) -> AclBinding {
        AclBinding {
            resource_type: resource_type_from_code(self.resource_type),
            resource_name: self.resource_name.clone(),
            pattern_type: pattern_type_from_code(self.pattern_type),
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation: acl_operation_from_code(self.operation),
            permission: acl_permission_from_code(self.permission),
        }
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
                resource_type: resource_type_from_code(r.resource_type),
                resource_name: r.resource_name.to_string(),
                pattern_type: pattern_type_from_code(r.pattern_type),
                principal: a.principal.to_string(),
                host: a.host.to_string(),
                operation: acl_operation_from_code(a.operation),
                permission: acl_permission_from_code(a.permission_type),
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
