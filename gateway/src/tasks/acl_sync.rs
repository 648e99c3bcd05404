//! The `AclSync` link task (Confluent's `acl.sync.enable`, `acl.sync.ms`,
//! `acl.filters`): makes the source cluster's matching ACL bindings true on
//! the destination, and removes again only the bindings it created.
//!
//! # One run
//! 1. **Source.** DescribeAcls once per `acl.filters` entry; the union of
//!    the answers, without duplicates.
//! 2. **Mapping.** Each binding's resource name goes through the link's
//!    renamer chain the way its resources are named on the destination:
//!    TOPIC names (LITERAL and PREFIXED patterns) as mirror topics, GROUP
//!    names as consumer groups (`cluster.link.prefix`,
//!    `consumer.group.prefix.enable`, renamer plugins); the `*` wildcard and
//!    other resource types keep their names. Then the ACL mapper chain
//!    (`linkgate.acl.mappers`: principal mapping, drop rules) turns it into
//!    zero or more destination bindings.
//! 3. **Destination.** DescribeAcls (any) gives what exists. Missing desired
//!    bindings are created (CreateAcls) and recorded as this link's in the
//!    state topic (`acl/{link}/...`); bindings the link recorded that are no
//!    longer desired are deleted (DeleteAcls, exact match) and their records
//!    removed. A desired binding that already existed before the link
//!    created it belongs to someone else: it is never recorded, so never
//!    deleted. Destination bindings the link did not create are never
//!    touched.
//!
//! When a binding cannot be mapped (a mapper fails), nothing is deleted in
//! that run: the desired set is incomplete. Source and destination errors
//! end the run with the Kafka error name (`SECURITY_DISABLED` from a
//! cluster without an authorizer).

use std::collections::{BTreeMap, BTreeSet};

use crate::kafka::{describe_binding, AclBinding, AclEntry, ClusterClient, KafkaError};
use crate::plugin::{Chains, PatternType, ResourceType};

/// What a run changes on the destination, computed by [`plan`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AclPlan {
    /// Desired bindings missing on the destination: create and record.
    pub create: Vec<AclEntry>,
    /// Recorded bindings no longer desired and still present: delete and
    /// forget.
    pub delete: Vec<AclEntry>,
    /// Recorded bindings no longer desired and already gone: forget.
    pub forget: Vec<AclEntry>,
}

/// The changes that make `desired` true on a destination holding
/// `existing`, given the bindings this link created before (`owned`).
/// `complete` false (some source binding could not be mapped): nothing is
/// deleted or forgotten.
pub fn plan(
    desired: &BTreeSet<AclEntry>,
    existing: &BTreeSet<AclEntry>,
    owned: &BTreeSet<AclEntry>,
    complete: bool,
) -> AclPlan {
    let create = desired.difference(existing).cloned().collect();
    let (delete, forget) = if complete {
        owned
            .difference(desired)
            .cloned()
            .partition(|e| existing.contains(e))
    } else {
        (Vec::new(), Vec::new())
    };
    AclPlan {
        create,
        delete,
        forget,
    }
}

/// The destination name of a binding's resource (step 2 of the module
/// doc); `Ok(None)` when the renamer chain drops the name.
fn renamed(chains: &Chains, b: &AclBinding) -> Result<Option<AclBinding>, String> {
    let named = matches!(b.pattern_type, PatternType::Literal | PatternType::Prefixed)
        && !(b.pattern_type == PatternType::Literal && b.resource_name == "*");
    let name = match b.resource_type {
        ResourceType::Topic if named => chains.rename_topic(&b.resource_name),
        ResourceType::Group if named => chains.rename_group(&b.resource_name),
        _ => return Ok(Some(b.clone())),
    }
    .map_err(|e| e.to_string())?;
    Ok(name.map(|resource_name| AclBinding {
        resource_name,
        ..b.clone()
    }))
}

/// The destination bindings of the source bindings `source`: renamed, then
/// mapped (step 2). Returns the desired set and one message per binding
/// that could not be mapped.
pub fn desired_bindings(
    chains: &Chains,
    source: &[AclBinding],
) -> (BTreeSet<AclEntry>, Vec<String>) {
    let mut desired = BTreeSet::new();
    let mut errors = Vec::new();
    for b in source {
        let mapped = renamed(chains, b).and_then(|r| match r {
            Some(r) => chains.map_acl(&r).map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        });
        match mapped {
            Ok(out) => desired.extend(out.iter().map(AclEntry::from)),
            Err(e) => errors.push(format!("{}: {e}", describe_binding(b))),
        }
    }
    (desired, errors)
}

/// The bindings matching any of `filters` on `cluster`, without duplicates.
///
/// # Errors
/// The first DescribeAcls failure.
pub async fn matching(
    cluster: &ClusterClient,
    filters: &[AclBinding],
) -> Result<Vec<AclBinding>, KafkaError> {
    let mut seen = BTreeMap::new();
    for f in filters {
        for b in cluster.describe_acls(f).await? {
            seen.entry(AclEntry::from(&b)).or_insert(b);
        }
    }
    Ok(seen.into_values().collect())
}

/// The filter matching every binding (DescribeAcls with all fields "any").
pub fn any_filter() -> AclBinding {
    AclBinding {
        resource_type: ResourceType::Any,
        resource_name: String::new(),
        pattern_type: PatternType::Any,
        principal: String::new(),
        host: String::new(),
        operation: crate::plugin::AclOperation::Any,
        permission: crate::plugin::AclPermission::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, principal: &str) -> AclEntry {
        AclEntry {
            resource_type: 2,
            resource_name: name.into(),
            pattern_type: 3,
            principal: principal.into(),
            host: "*".into(),
            operation: 3,
            permission: 3,
        }
    }

    fn set(entries: &[AclEntry]) -> BTreeSet<AclEntry> {
        entries.iter().cloned().collect()
    }

    #[test]
    fn creates_missing_and_deletes_only_its_own() {
        let a = entry("a", "User:x");
        let b = entry("b", "User:x");
        let theirs = entry("c", "User:y");
        let gone = entry("d", "User:x");
        // Desired a, b. The destination has b (made by someone else) and
        // c (someone else's). The link created a (deleted by hand since)
        // and d (no longer desired, already gone).
        let p = plan(
            &set(&[a.clone(), b.clone()]),
            &set(&[b.clone(), theirs.clone()]),
            &set(&[a.clone(), gone.clone()]),
            true,
        );
        assert_eq!(p.create, vec![a.clone()]);
        assert!(p.delete.is_empty(), "c is not the link's: {p:?}");
        assert_eq!(p.forget, vec![gone.clone()]);

        // The source dropped b; the link owns b: deleted.
        let p = plan(
            &set(std::slice::from_ref(&a)),
            &set(&[a.clone(), b.clone()]),
            &set(&[a.clone(), b.clone()]),
            true,
        );
        assert!(p.create.is_empty());
        assert_eq!(p.delete, vec![b.clone()]);

        // Incomplete mapping: nothing removed.
        let p = plan(
            &set(&[]),
            &set(std::slice::from_ref(&a)),
            &set(std::slice::from_ref(&a)),
            false,
        );
        assert_eq!(p, AclPlan::default());
    }

    /// Bindings as a DescribeAcls response carries them (constructed and
    /// decoded: the test broker has no ACL storage), through an empty chain.
    #[test]
    fn described_bindings_become_desired_entries() {
        use kafka_protocol::messages::describe_acls_response::{
            AclDescription, DescribeAclsResource,
        };
        use kafka_protocol::messages::DescribeAclsResponse;
        use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
        let resp = DescribeAclsResponse::default().with_resources(vec![
            DescribeAclsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("orders"))
                .with_pattern_type(4)
                .with_acls(vec![
                    AclDescription::default()
                        .with_principal(StrBytes::from_static_str("User:a"))
                        .with_host(StrBytes::from_static_str("*"))
                        .with_operation(3)
                        .with_permission_type(3),
                    AclDescription::default()
                        .with_principal(StrBytes::from_static_str("User:b"))
                        .with_host(StrBytes::from_static_str("10.0.0.1"))
                        .with_operation(4)
                        .with_permission_type(2),
                ]),
            DescribeAclsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_static_str("kafka-cluster"))
                .with_pattern_type(3)
                .with_acls(vec![AclDescription::default()
                    .with_principal(StrBytes::from_static_str("User:a"))
                    .with_host(StrBytes::from_static_str("*"))
                    .with_operation(12)
                    .with_permission_type(3)]),
        ]);
        let mut buf = bytes::BytesMut::new();
        resp.encode(&mut buf, 3).expect("encode");
        let decoded = DescribeAclsResponse::decode(&mut buf.freeze(), 3).expect("decode");
        let bindings = crate::kafka::acl::bindings_of(&decoded);
        assert_eq!(bindings.len(), 3);
        let (desired, errors) = desired_bindings(&Chains::default(), &bindings);
        assert!(errors.is_empty());
        let mut deny = entry("orders", "User:b");
        deny.pattern_type = 4;
        deny.host = "10.0.0.1".into();
        deny.operation = 4;
        deny.permission = 2;
        assert!(desired.contains(&deny), "{desired:?}");
        assert!(desired
            .iter()
            .any(|e| e.resource_type == 4 && e.operation == 12));
        assert_eq!(
            desired
                .iter()
                .map(AclEntry::binding)
                .map(|b| AclEntry::from(&b))
                .collect::<BTreeSet<_>>(),
            desired,
            "entries round-trip through bindings"
        );
    }
}
