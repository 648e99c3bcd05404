//! The ACL mapper's boundary: the client layer's [`kafka::AclBinding`]
//! to and from the WIT `acl-binding` a guest sees ([`to_wit`],
//! [`from_wit`]), variant for variant.

use crate::kafka;

use super::types::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};

/// The WIT binding of a client layer binding.
pub(crate) fn to_wit(b: &kafka::AclBinding) -> AclBinding {
    AclBinding {
        resource_type: match b.resource_type {
            kafka::ResourceType::Unknown => ResourceType::Unknown,
            kafka::ResourceType::Any => ResourceType::Any,
            kafka::ResourceType::Topic => ResourceType::Topic,
            kafka::ResourceType::Group => ResourceType::Group,
            kafka::ResourceType::Cluster => ResourceType::Cluster,
            kafka::ResourceType::TransactionalId => ResourceType::TransactionalId,
            kafka::ResourceType::DelegationToken => ResourceType::DelegationToken,
            kafka::ResourceType::User => ResourceType::User,
        },
        resource_name: b.resource_name.clone(),
        pattern_type: match b.pattern_type {
            kafka::PatternType::Unknown => PatternType::Unknown,
            kafka::PatternType::Any => PatternType::Any,
            kafka::PatternType::Match => PatternType::Match,
            kafka::PatternType::Literal => PatternType::Literal,
            kafka::PatternType::Prefixed => PatternType::Prefixed,
        },
        principal: b.principal.clone(),
        host: b.host.clone(),
        operation: match b.operation {
            kafka::AclOperation::Unknown => AclOperation::Unknown,
            kafka::AclOperation::Any => AclOperation::Any,
            kafka::AclOperation::All => AclOperation::All,
            kafka::AclOperation::Read => AclOperation::Read,
            kafka::AclOperation::Write => AclOperation::Write,
            kafka::AclOperation::Create => AclOperation::Create,
            kafka::AclOperation::Delete => AclOperation::Delete,
            kafka::AclOperation::Alter => AclOperation::Alter,
            kafka::AclOperation::Describe => AclOperation::Describe,
            kafka::AclOperation::ClusterAction => AclOperation::ClusterAction,
            kafka::AclOperation::DescribeConfigs => AclOperation::DescribeConfigs,
            kafka::AclOperation::AlterConfigs => AclOperation::AlterConfigs,
            kafka::AclOperation::IdempotentWrite => AclOperation::IdempotentWrite,
            kafka::AclOperation::CreateTokens => AclOperation::CreateTokens,
            kafka::AclOperation::DescribeTokens => AclOperation::DescribeTokens,
        },
        permission: match b.permission {
            kafka::AclPermission::Unknown => AclPermission::Unknown,
            kafka::AclPermission::Any => AclPermission::Any,
            kafka::AclPermission::Deny => AclPermission::Deny,
            kafka::AclPermission::Allow => AclPermission::Allow,
        },
    }
}

/// The client layer binding of a WIT binding.
pub(crate) fn from_wit(b: AclBinding) -> kafka::AclBinding {
    kafka::AclBinding {
        resource_type: match b.resource_type {
            ResourceType::Unknown => kafka::ResourceType::Unknown,
            ResourceType::Any => kafka::ResourceType::Any,
            ResourceType::Topic => kafka::ResourceType::Topic,
            ResourceType::Group => kafka::ResourceType::Group,
            ResourceType::Cluster => kafka::ResourceType::Cluster,
            ResourceType::TransactionalId => kafka::ResourceType::TransactionalId,
            ResourceType::DelegationToken => kafka::ResourceType::DelegationToken,
            ResourceType::User => kafka::ResourceType::User,
        },
        resource_name: b.resource_name,
        pattern_type: match b.pattern_type {
            PatternType::Unknown => kafka::PatternType::Unknown,
            PatternType::Any => kafka::PatternType::Any,
            PatternType::Match => kafka::PatternType::Match,
            PatternType::Literal => kafka::PatternType::Literal,
            PatternType::Prefixed => kafka::PatternType::Prefixed,
        },
        principal: b.principal,
        host: b.host,
        operation: match b.operation {
            AclOperation::Unknown => kafka::AclOperation::Unknown,
            AclOperation::Any => kafka::AclOperation::Any,
            AclOperation::All => kafka::AclOperation::All,
            AclOperation::Read => kafka::AclOperation::Read,
            AclOperation::Write => kafka::AclOperation::Write,
            AclOperation::Create => kafka::AclOperation::Create,
            AclOperation::Delete => kafka::AclOperation::Delete,
            AclOperation::Alter => kafka::AclOperation::Alter,
            AclOperation::Describe => kafka::AclOperation::Describe,
            AclOperation::ClusterAction => kafka::AclOperation::ClusterAction,
            AclOperation::DescribeConfigs => kafka::AclOperation::DescribeConfigs,
            AclOperation::AlterConfigs => kafka::AclOperation::AlterConfigs,
            AclOperation::IdempotentWrite => kafka::AclOperation::IdempotentWrite,
            AclOperation::CreateTokens => kafka::AclOperation::CreateTokens,
            AclOperation::DescribeTokens => kafka::AclOperation::DescribeTokens,
        },
        permission: match b.permission {
            AclPermission::Unknown => kafka::AclPermission::Unknown,
            AclPermission::Any => kafka::AclPermission::Any,
            AclPermission::Deny => kafka::AclPermission::Deny,
            AclPermission::Allow => kafka::AclPermission::Allow,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_wit() {
        for code in -1..=15 {
            let b = kafka::AclBinding {
                resource_type: kafka::ResourceType::from_code(code),
                resource_name: "orders".into(),
                pattern_type: kafka::PatternType::from_code(code),
                principal: "User:alice".into(),
                host: "*".into(),
                operation: kafka::AclOperation::from_code(code),
                permission: kafka::AclPermission::from_code(code),
            };
            assert_eq!(from_wit(to_wit(&b)), b);
        }
    }
}
