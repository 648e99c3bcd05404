//! Bundled ACL mapper (`bundled = "acl-map"`, kind `acl-mapper`): rewrites
//! source ACL bindings (Kafka DescribeAcls) for the destination (CreateAcls).
//!
//! Config:
//! - `principal.<from>` = `<to>`: bindings of principal `<from>` (e.g.
//!   `principal.User:alice` = `User:bob`) get principal `<to>`.
//! - `resource.prefix`: prefix added to the resource name of TOPIC and GROUP
//!   bindings with pattern LITERAL or PREFIXED, to follow a prefixing
//!   renamer. The LITERAL wildcard `*` (every topic or group) becomes
//!   PREFIXED `<prefix>` (every prefixed one), since a literal `<prefix>*`
//!   would name a single odd resource.
//! - `drop.principal`: comma list of principals whose bindings are dropped
//!   (matched against the source principal, before mapping).
//! - `drop.operation`: comma list of Kafka operation names (e.g.
//!   `ALTER,DELETE`) whose bindings are dropped.
//!
//! Each binding yields zero (dropped) or one binding.

use std::collections::{HashMap, HashSet};

use linkgate_plugin_sdk::{
    export_acl_mapper, AclBinding, AclMapper, AclOperation, Config, PatternType, ResourceType,
};

/// The configured mapping.
#[derive(Debug)]
pub struct AclMap {
    principals: HashMap<String, String>,
    resource_prefix: Option<String>,
    drop_principals: HashSet<String>,
    drop_operations: HashSet<AclOperation>,
}

impl AclMapper for AclMap {
    fn init(config: &Config) -> Result<Self, String> {
        config.reject_unknown(
            &["resource.prefix", "drop.principal", "drop.operation"],
            &["principal."],
        )?;
        let mut principals = HashMap::new();
        for (from, to) in config.with_prefix("principal.") {
            if from.is_empty() || to.is_empty() {
                return Err(format!(
                    "config key `principal.{from}`: both principals must be non-empty"
                ));
            }
            principals.insert(from.to_string(), to.to_string());
        }
        let resource_prefix = match config.get("resource.prefix") {
            Some("") => return Err("config key `resource.prefix` must not be empty".to_string()),
            other => other.map(str::to_string),
        };
        let drop_principals = config
            .get_list("drop.principal")
            .into_iter()
            .map(str::to_string)
            .collect();
        let drop_operations = config
            .get_list("drop.operation")
            .into_iter()
            .map(|op| {
                op.parse::<AclOperation>()
                    .map_err(|e| format!("config key `drop.operation`: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(AclMap {
            principals,
            resource_prefix,
            drop_principals,
            drop_operations,
        })
    }

    fn map_acl(&self, binding: &AclBinding) -> Vec<AclBinding> {
        if self.drop_principals.contains(&binding.principal)
            || self.drop_operations.contains(&binding.operation)
        {
            return Vec::new();
        }
        let mut out = binding.clone();
        if let Some(to) = self.principals.get(&binding.principal) {
            out.principal = to.clone();
        }
        if let Some(prefix) = &self.resource_prefix {
            let named = matches!(out.resource_type, ResourceType::Topic | ResourceType::Group);
            match out.pattern_type {
                PatternType::Literal if named && out.resource_name == "*" => {
                    out.pattern_type = PatternType::Prefixed;
                    out.resource_name = prefix.clone();
                }
                PatternType::Literal | PatternType::Prefixed if named => {
                    out.resource_name = format!("{prefix}{}", out.resource_name);
                }
                _ => {}
            }
        }
        vec![out]
    }
}

export_acl_mapper!(AclMap);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{acl, config};
    use linkgate_plugin_sdk::AclPermission;

    #[test]
    fn maps_principals() {
        let m = AclMap::init(&config(&[
            ("principal.User:alice", "User:bob"),
            ("principal.User:carol", "User:dave"),
        ]))
        .unwrap();
        let out = m.map_acl(&acl("User:alice", ResourceType::Topic, "orders"));
        assert_eq!(out, vec![acl("User:bob", ResourceType::Topic, "orders")]);
        let other = acl("User:eve", ResourceType::Topic, "orders");
        assert_eq!(m.map_acl(&other), vec![other.clone()]);
    }

    #[test]
    fn prefixes_topic_and_group_resources() {
        let m = AclMap::init(&config(&[("resource.prefix", "east.")])).unwrap();
        let literal = acl("User:a", ResourceType::Topic, "orders");
        assert_eq!(m.map_acl(&literal)[0].resource_name, "east.orders");

        let prefixed = AclBinding {
            pattern_type: PatternType::Prefixed,
            ..acl("User:a", ResourceType::Group, "billing-")
        };
        let out = &m.map_acl(&prefixed)[0];
        assert_eq!(
            (out.resource_name.as_str(), out.pattern_type),
            ("east.billing-", PatternType::Prefixed)
        );

        let all_topics = acl("User:a", ResourceType::Topic, "*");
        let out = &m.map_acl(&all_topics)[0];
        assert_eq!(
            (out.resource_name.as_str(), out.pattern_type),
            ("east.", PatternType::Prefixed)
        );

        for untouched in [
            acl("User:a", ResourceType::Cluster, "kafka-cluster"),
            acl("User:a", ResourceType::TransactionalId, "tx"),
            AclBinding {
                pattern_type: PatternType::Match,
                ..acl("User:a", ResourceType::Topic, "orders")
            },
        ] {
            assert_eq!(m.map_acl(&untouched), vec![untouched.clone()]);
        }
    }

    #[test]
    fn drops_principals_and_operations() {
        let m = AclMap::init(&config(&[
            ("drop.principal", "User:admin, User:ops"),
            ("drop.operation", "ALTER,delete"),
            ("principal.User:admin", "User:root"),
        ]))
        .unwrap();
        assert!(m
            .map_acl(&acl("User:admin", ResourceType::Topic, "t"))
            .is_empty());
        assert!(m
            .map_acl(&acl("User:ops", ResourceType::Topic, "t"))
            .is_empty());
        let alter = AclBinding {
            operation: AclOperation::Alter,
            ..acl("User:x", ResourceType::Topic, "t")
        };
        assert!(m.map_acl(&alter).is_empty());
        let delete_deny = AclBinding {
            operation: AclOperation::Delete,
            permission: AclPermission::Deny,
            ..acl("User:x", ResourceType::Topic, "t")
        };
        assert!(m.map_acl(&delete_deny).is_empty());
        let read = acl("User:x", ResourceType::Topic, "t");
        assert_eq!(m.map_acl(&read), vec![read.clone()]);
    }

    #[test]
    fn refuses_bad_configs() {
        let err = |pairs: &[(&str, &str)]| AclMap::init(&config(pairs)).unwrap_err();
        assert!(err(&[("drop.operation", "ALTER,FLY")]).contains("FLY"));
        assert!(err(&[("principal.", "User:x")]).contains("non-empty"));
        assert!(err(&[("principal.User:x", "")]).contains("non-empty"));
        assert!(err(&[("resource.prefix", "")]).contains("must not be empty"));
        assert!(err(&[("drop.principals", "User:x")]).contains("unknown"));
    }
}
