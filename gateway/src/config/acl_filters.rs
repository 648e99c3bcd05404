//! The ACL sync properties of a link (Confluent's `acl.sync.enable`,
//! `acl.sync.ms`, `acl.filters`) as [`AclSyncConfig`]; `acl.filters` is the
//! Confluent JSON that selects which source ACL bindings the sync copies,
//! parsed into DescribeAcls filters.
//!
//! Shape: `{"aclFilters":[{"resourceFilter":{"resourceType":..,"name":..,
//! "patternType":..},"accessFilter":{"principal":..,"host":..,
//! "operation":..,"permissionType":..}}]}`. Enum values are
//! case-insensitive, `_` optional (`transactionalId`, `TRANSACTIONAL_ID`,
//! `describe_configs`, `DescribeConfigs`); a missing or empty `name`,
//! `principal` or `host` matches any, a missing enum is `any`.

use std::time::Duration;

use serde::Deserialize;

use crate::kafka::{AclBinding, AclEntry, AclOperation, AclPermission, PatternType, ResourceType};

/// Default of `acl.sync.ms` (Confluent's).
pub const DEFAULT_ACL_SYNC_INTERVAL: Duration = Duration::from_millis(5000);
/// Smallest `acl.sync.ms` accepted (Confluent's minimum).
pub const MIN_ACL_SYNC_INTERVAL: Duration = Duration::from_millis(1000);

/// The link properties [`AclSyncConfig`] is read from.
pub const ACL_SYNC_PROPERTIES: [&str; 3] = ["acl.sync.enable", "acl.sync.ms", "acl.filters"];

/// The ACL sync settings of a link; changeable on a running link (the
/// task reads them before every run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclSyncConfig {
    /// `acl.sync.enable` (default false).
    pub enable: bool,
    /// `acl.sync.ms` (default 5000, at least 1000): time between syncs.
    pub interval: Duration,
    /// `acl.filters` as DescribeAcls filters in wire codes (see
    /// [`AclEntry::binding`]); empty (the default): nothing is synced.
    pub filters: Vec<AclEntry>,
}

impl Default for AclSyncConfig {
    fn default() -> Self {
        Self {
            enable: false,
            interval: DEFAULT_ACL_SYNC_INTERVAL,
            filters: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Filters {
    acl_filters: Vec<Filter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    resource_filter: ResourceFilter,
    #[serde(default)]
    access_filter: AccessFilter,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResourceFilter {
    resource_type: Option<String>,
    name: Option<String>,
    pattern_type: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccessFilter {
    principal: Option<String>,
    host: Option<String>,
    operation: Option<String>,
    permission_type: Option<String>,
    /// Confluent's selector of bindings made by other cluster links; not
    /// supported (refused with a message rather than ignored).
    #[serde(alias = "clusterLinkIds ")]
    cluster_link_ids: Option<Vec<String>>,
}

/// Upper-case without `_`, for matching enum names.
fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn pick<T: Copy>(
    what: &str,
    value: Option<&str>,
    any: T,
    table: &[(&str, T)],
) -> Result<T, String> {
    let Some(v) = value else { return Ok(any) };
    let n = norm(v);
    if n == "ANY" {
        return Ok(any);
    }
    table
        .iter()
        .find(|(name, _)| norm(name) == n)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            format!("{what} {v:?} is not one of ANY, {}", names.join(", "))
        })
}

/// Parses `acl.filters` into DescribeAcls filters (bindings whose empty
/// strings and `Any` variants match any value).
///
/// # Errors
/// A message naming the problem: JSON that is not the shape above, an
/// unknown field, an unknown enum value, or an empty `aclFilters` list.
pub fn parse(json: &str) -> Result<Vec<AclBinding>, String> {
    let f: Filters = serde_json::from_str(json).map_err(|e| {
        format!(
            "expected a JSON object like {{\"aclFilters\":[{{\"resourceFilter\":{{...}},\"accessFilter\":{{...}}}}]}}: {e}"
        )
    })?;
    if f.acl_filters.is_empty() {
        return Err("\"aclFilters\" is empty: no ACL binding would be synced".into());
    }
    f.acl_filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let r = &f.resource_filter;
            let a = &f.access_filter;
            let at = |m: String| format!("aclFilters[{i}]: {m}");
            if a.cluster_link_ids
                .as_ref()
                .is_some_and(|ids| !ids.is_empty())
            {
                return Err(at(
                    "\"clusterLinkIds\" is not supported: linkgate cannot tell which source \
                     bindings another cluster link made"
                        .into(),
                ));
            }
            Ok(AclBinding {
                resource_type: pick(
                    "resourceType",
                    r.resource_type.as_deref(),
                    ResourceType::Any,
                    &[
                        ("TOPIC", ResourceType::Topic),
                        ("GROUP", ResourceType::Group),
                        ("CLUSTER", ResourceType::Cluster),
                        ("TRANSACTIONAL_ID", ResourceType::TransactionalId),
                        ("DELEGATION_TOKEN", ResourceType::DelegationToken),
                        ("USER", ResourceType::User),
                    ],
                )
                .map_err(at)?,
                resource_name: r.name.clone().unwrap_or_default(),
                pattern_type: pick(
                    "patternType",
                    r.pattern_type.as_deref(),
                    PatternType::Any,
                    &[
                        ("LITERAL", PatternType::Literal),
                        ("PREFIXED", PatternType::Prefixed),
                        ("MATCH", PatternType::Match),
                    ],
                )
                .map_err(at)?,
                principal: a.principal.clone().unwrap_or_default(),
                host: a.host.clone().unwrap_or_default(),
                operation: pick(
                    "operation",
                    a.operation.as_deref(),
                    AclOperation::Any,
                    &[
                        ("ALL", AclOperation::All),
                        ("READ", AclOperation::Read),
                        ("WRITE", AclOperation::Write),
                        ("CREATE", AclOperation::Create),
                        ("DELETE", AclOperation::Delete),
                        ("ALTER", AclOperation::Alter),
                        ("DESCRIBE", AclOperation::Describe),
                        ("CLUSTER_ACTION", AclOperation::ClusterAction),
                        ("DESCRIBE_CONFIGS", AclOperation::DescribeConfigs),
                        ("ALTER_CONFIGS", AclOperation::AlterConfigs),
                        ("IDEMPOTENT_WRITE", AclOperation::IdempotentWrite),
                        ("CREATE_TOKENS", AclOperation::CreateTokens),
                        ("DESCRIBE_TOKENS", AclOperation::DescribeTokens),
                    ],
                )
                .map_err(at)?,
                permission: pick(
                    "permissionType",
                    a.permission_type.as_deref(),
                    AclPermission::Any,
                    &[
                        ("ALLOW", AclPermission::Allow),
                        ("DENY", AclPermission::Deny),
                    ],
                )
                .map_err(at)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confluent_examples_parse() {
        let all = parse(
            r#"{ "aclFilters": [ { "resourceFilter": { "resourceType": "any", "patternType": "any" },
                 "accessFilter": { "operation": "any", "permissionType": "any" } } ] }"#,
        )
        .expect("all ACLs");
        assert_eq!(all.len(), 1);
        let f = &all[0];
        assert_eq!(
            (f.resource_type, f.pattern_type, f.operation, f.permission),
            (
                ResourceType::Any,
                PatternType::Any,
                AclOperation::Any,
                AclPermission::Any
            )
        );
        assert!(f.resource_name.is_empty() && f.principal.is_empty() && f.host.is_empty());

        let topic = parse(
            r#"{"aclFilters":[{"resourceFilter":{"resourceType":"topic","patternType":"literal","name":"pineapple"},
                "accessFilter":{"principal":"User:sa-12345","operation":"DescribeConfigs","permissionType":"deny"}},
               {"resourceFilter":{"resourceType":"transactionalId"},"accessFilter":{}}]}"#,
        )
        .expect("topic filter");
        assert_eq!(topic[0].resource_type, ResourceType::Topic);
        assert_eq!(topic[0].resource_name, "pineapple");
        assert_eq!(topic[0].pattern_type, PatternType::Literal);
        assert_eq!(topic[0].principal, "User:sa-12345");
        assert_eq!(topic[0].operation, AclOperation::DescribeConfigs);
        assert_eq!(topic[0].permission, AclPermission::Deny);
        assert_eq!(topic[1].resource_type, ResourceType::TransactionalId);
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let e =
            parse(r#"{"aclFilters":[{"resourceFilter":{"resourceType":"table"}}]}"#).unwrap_err();
        assert!(
            e.contains("aclFilters[0]") && e.contains("\"table\""),
            "{e}"
        );
        let e = parse(r#"{"aclFilters":[]}"#).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = parse(r#"{"aclFilter":[]}"#).unwrap_err();
        assert!(e.contains("expected a JSON object"), "{e}");
        let e = parse(r#"{"aclFilters":[{"accessFilter":{"permission":"allow"}}]}"#).unwrap_err();
        assert!(e.contains("permission"), "{e}");
    }
}
