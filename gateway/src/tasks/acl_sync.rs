//! The `AclSync` link task (Confluent's `acl.sync.enable`, `acl.sync.ms`,
//! `acl.filters`): makes the source cluster's matching ACL bindings true on
//! the destination, and removes again only the bindings it created.
//!
//! # One run
//! 1. **Source.** DescribeAcls once per `acl.filters` entry; the union of
//!    the answers, without duplicates, less the bindings linkgate links made
//!    on the source ([`MadeByLinks`]).
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
use std::time::Duration;

use futures::future::BoxFuture;

use super::{LinkTask, TaskError, TaskRun};
use crate::config::LinkConfig;
use crate::kafka::{
    describe_binding, AclBinding, AclEntry, AclOperation, AclPermission, ClusterClient, KafkaError,
    PatternType, ResourceType,
};
use crate::mirror::state::StateEntry;
use crate::mirror::LinkHandle;
use crate::plugin::Chains;

/// The Confluent task name.
pub const TASK: &str = "AclSync";

/// How long the list of bindings that cluster links made on the source is
/// reused before the source's state topic is read again.
const SOURCE_LINKS_REFRESH: Duration = Duration::from_secs(60);

/// What linkgate links made on the source cluster (read from the source's
/// own state topic, where links that write into it keep their records):
/// bindings their ACL sync created, and the mirror topics (not stopped)
/// whose DENY WRITE protection they created. Such bindings are not synced
/// (Confluent: ACLs a cluster link created are not synced by default).
#[derive(Debug, Default, Clone)]
pub struct MadeByLinks {
    /// Bindings created by the ACL sync of any link into the source.
    pub synced: BTreeSet<AclEntry>,
    /// Mirror topics in the source cluster.
    pub mirror_topics: BTreeSet<String>,
}

impl MadeByLinks {
    /// Whether `b` (a source binding) was made by a link: one of
    /// [`MadeByLinks::synced`], or a LITERAL DENY WRITE on one of
    /// [`MadeByLinks::mirror_topics`] (`linkgate.mirror.write.deny.enable`).
    pub fn made(&self, b: &AclBinding) -> bool {
        self.synced.contains(&AclEntry::from(b))
            || (b.resource_type == ResourceType::Topic
                && b.pattern_type == PatternType::Literal
                && b.operation == AclOperation::Write
                && b.permission == AclPermission::Deny
                && self.mirror_topics.contains(&b.resource_name))
    }

    /// Reads them from `state_topic` on `source`; empty when the cluster
    /// has no state topic or it may not be read (TOPIC_AUTHORIZATION_FAILED).
    ///
    /// # Errors
    /// Any other failure reading the state topic, as text.
    pub async fn read(
        source: &std::sync::Arc<ClusterClient>,
        state_topic: &str,
    ) -> Result<Self, String> {
        let store = match crate::mirror::state::StateStore::open_existing(
            source.clone(),
            state_topic,
        )
        .await
        {
            Ok(None) => return Ok(Self::default()),
            Ok(Some(store)) => store,
            Err(e) => return Err(format!("cannot open the source cluster's state topic: {e}")),
        };
        let snapshot = match store.load().await {
            Ok(s) => s,
            Err(crate::mirror::MirrorError::Kafka { source, .. })
                if source.error_code()
                    == Some(kafka_protocol::ResponseError::TopicAuthorizationFailed.code()) =>
            {
                return Ok(Self::default())
            }
            Err(e) => return Err(format!("cannot read the source cluster's state topic: {e}")),
        };
        Ok(Self {
            synced: snapshot
                .synced_acls
                .values()
                .flat_map(|m| m.values().cloned())
                .collect(),
            mirror_topics: snapshot
                .mirror_topics
                .iter()
                .filter(|(_, r)| r.state != crate::mirror::state::DesiredState::Stopped)
                .map(|((_, mirror), _)| mirror.clone())
                .collect(),
        })
    }
}

/// The ACL sync of one link (see the module doc): configured when
/// `acl.sync.enable` is true, every `acl.sync.ms`.
#[derive(Debug, Default)]
pub struct AclSync {
    /// Bindings this link created on the destination: read from the state
    /// topic at the first run, then kept in step with the records written.
    owned: tokio::sync::Mutex<Option<BTreeSet<AclEntry>>>,
    /// What links made on the source, and when it was read.
    made_by_links: tokio::sync::Mutex<Option<(std::time::Instant, MadeByLinks)>>,
}

impl LinkTask for AclSync {
    fn name(&self) -> &'static str {
        TASK
    }

    fn interval(&self, config: &LinkConfig) -> Option<Duration> {
        config.acl_sync.enable.then_some(config.acl_sync.interval)
    }

    fn run<'a>(
        &'a self,
        link: &'a LinkHandle,
        config: &'a LinkConfig,
    ) -> BoxFuture<'a, Result<TaskRun, TaskError>> {
        Box::pin(self.sync(link, config))
    }
}

fn kafka_error(what: &str, e: &KafkaError) -> TaskError {
    TaskError {
        code: e.status_name(),
        message: format!("{what}: {e}"),
    }
}

impl AclSync {
    async fn sync(&self, link: &LinkHandle, config: &LinkConfig) -> Result<TaskRun, TaskError> {
        let mut owned_slot = self.owned.lock().await;
        if owned_slot.is_none() {
            let snapshot = link.state().load().await.map_err(|e| TaskError {
                code: "STATE_UNAVAILABLE".into(),
                message: format!("cannot read the ACL bindings this link created: {e}"),
            })?;
            let mine = snapshot
                .synced_acls
                .get(link.name())
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            *owned_slot = Some(mine);
        }
        let owned = owned_slot.get_or_insert_with(BTreeSet::new);
        let filters: Vec<AclBinding> = config
            .acl_sync
            .filters
            .iter()
            .map(AclEntry::binding)
            .collect();
        let mut source = matching(link.source(), &filters)
            .await
            .map_err(|e| kafka_error("cannot describe the source cluster's ACLs", &e))?;
        let made = {
            let mut slot = self.made_by_links.lock().await;
            match slot.as_ref() {
                Some((at, made)) if at.elapsed() < SOURCE_LINKS_REFRESH => made.clone(),
                _ => {
                    let made = MadeByLinks::read(link.source(), link.state_topic())
                        .await
                        .map_err(|message| TaskError {
                            code: "SOURCE_UNAVAILABLE".into(),
                            message,
                        })?;
                    *slot = Some((std::time::Instant::now(), made.clone()));
                    made
                }
            }
        };
        source.retain(|b| !made.made(b));
        let chains = link.chains().map_err(|e| TaskError {
            code: "PLUGIN_ERROR".into(),
            message: e.to_string(),
        })?;
        let (desired, map_errors) =
            tokio::task::block_in_place(|| desired_bindings(&chains, &source));
        let existing: BTreeSet<AclEntry> = link
            .destination()
            .describe_acls(&any_filter())
            .await
            .map_err(|e| kafka_error("cannot describe the destination cluster's ACLs", &e))?
            .iter()
            .map(AclEntry::from)
            .collect();
        let plan = plan(&desired, &existing, owned, map_errors.is_empty());
        let mut errors: Vec<TaskError> = map_errors
            .into_iter()
            .map(|message| TaskError {
                code: "PLUGIN_ERROR".into(),
                message,
            })
            .collect();
        let mut items = 0u64;
        if !plan.create.is_empty() {
            let bindings: Vec<AclBinding> = plan.create.iter().map(AclEntry::binding).collect();
            // Recorded first: a crash after the create leaves a record of a
            // binding that exists (deleted later if no longer desired), never
            // a created binding without a record.
            let records: Vec<StateEntry> = plan
                .create
                .iter()
                .map(|e| StateEntry::synced_acl(link.name(), e, true))
                .collect();
            match link.state().write(&records).await {
                Err(e) => errors.push(TaskError {
                    code: "STATE_UNAVAILABLE".into(),
                    message: format!("cannot record ACL bindings before creating them: {e}"),
                }),
                Ok(()) => {
                    owned.extend(plan.create.iter().cloned());
                    match link.destination().create_acls(&bindings).await {
                        Ok(()) => items += bindings.len() as u64,
                        Err(e) => errors.push(kafka_error("cannot create ACL bindings", &e)),
                    }
                }
            }
        }
        let mut gone = plan.forget.clone();
        if !plan.delete.is_empty() {
            let bindings: Vec<AclBinding> = plan.delete.iter().map(AclEntry::binding).collect();
            match link.destination().delete_acls(&bindings).await {
                Ok(()) => {
                    items += bindings.len() as u64;
                    gone.extend(plan.delete.iter().cloned());
                }
                Err(e) => errors.push(kafka_error("cannot delete ACL bindings", &e)),
            }
        }
        // Deleted or found gone: forget them.
        if !gone.is_empty() {
            let tombstones: Vec<StateEntry> = gone
                .iter()
                .map(|e| StateEntry::synced_acl(link.name(), e, false))
                .collect();
            match link.state().write(&tombstones).await {
                Ok(()) => {
                    for e in &gone {
                        owned.remove(e);
                    }
                }
                Err(e) => errors.push(TaskError {
                    code: "STATE_UNAVAILABLE".into(),
                    message: format!("cannot record deleted ACL bindings: {e}"),
                }),
            }
        }
        if items > 0 {
            tracing::info!(link = %link.name(), created = plan.create.len(), deleted = plan.delete.len(),
                "ACL bindings synced to the destination");
        }
        Ok(TaskRun { items, errors })
    }
}

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
        operation: AclOperation::Any,
        permission: AclPermission::Any,
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

    #[test]
    fn bindings_links_made_on_the_source_are_not_synced() {
        let deny = crate::kafka::deny_write_binding("east.orders", "User:*");
        let mut made = MadeByLinks::default();
        assert!(!made.made(&deny));
        made.mirror_topics.insert("east.orders".into());
        assert!(
            made.made(&deny),
            "protection of a mirror topic in the source"
        );
        let mut allow = deny.clone();
        allow.permission = AclPermission::Allow;
        assert!(!made.made(&allow), "an ALLOW is the operator's");
        let mut other = deny.clone();
        other.resource_name = "orders".into();
        assert!(!made.made(&other), "not a mirror topic");
        made.synced.insert(AclEntry::from(&other));
        assert!(made.made(&other), "created by a link's ACL sync");
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
