//! ACL binding values of the client layer: [`AclBinding`] (Kafka's
//! `AclBinding`: a resource pattern and an access control entry) with its
//! enums [`ResourceType`], [`PatternType`], [`AclOperation`] and
//! [`AclPermission`], their Kafka wire codes (`code`, `from_code`) and
//! upper-case names (`name`), [`describe_binding`] for error messages, and
//! [`AclEntry`], a binding in wire codes for ordered sets and the state
//! topic.
//!
//! The codes are those of Kafka's `ResourceType`, `PatternType`,
//! `AclOperation` and `AclPermissionType` (KIP-140, KIP-290).

/// ACL resource kind (Kafka `ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// UNKNOWN (0): a code this gateway does not know.
    Unknown,
    /// ANY (1): matches any resource type (filters only).
    Any,
    /// TOPIC (2).
    Topic,
    /// GROUP (3).
    Group,
    /// CLUSTER (4).
    Cluster,
    /// TRANSACTIONAL_ID (5).
    TransactionalId,
    /// DELEGATION_TOKEN (6).
    DelegationToken,
    /// USER (7).
    User,
}

/// ACL resource pattern kind (Kafka `PatternType`, KIP-290).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternType {
    /// UNKNOWN (0).
    Unknown,
    /// ANY (1): matches any pattern type (filters only).
    Any,
    /// MATCH (2): the bindings that apply to a name (filters only).
    Match,
    /// LITERAL (3): the name exactly, or `*` for every resource.
    Literal,
    /// PREFIXED (4): every name starting with the resource name.
    Prefixed,
}

/// ACL operation (Kafka `AclOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclOperation {
    /// UNKNOWN (0).
    Unknown,
    /// ANY (1): matches any operation (filters only).
    Any,
    /// ALL (2).
    All,
    /// READ (3).
    Read,
    /// WRITE (4).
    Write,
    /// CREATE (5).
    Create,
    /// DELETE (6).
    Delete,
    /// ALTER (7).
    Alter,
    /// DESCRIBE (8).
    Describe,
    /// CLUSTER_ACTION (9).
    ClusterAction,
    /// DESCRIBE_CONFIGS (10).
    DescribeConfigs,
    /// ALTER_CONFIGS (11).
    AlterConfigs,
    /// IDEMPOTENT_WRITE (12).
    IdempotentWrite,
    /// CREATE_TOKENS (13).
    CreateTokens,
    /// DESCRIBE_TOKENS (14).
    DescribeTokens,
}

/// ACL permission (Kafka `AclPermissionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclPermission {
    /// UNKNOWN (0).
    Unknown,
    /// ANY (1): matches any permission (filters only).
    Any,
    /// DENY (2).
    Deny,
    /// ALLOW (3).
    Allow,
}

/// One ACL binding (Kafka `AclBinding`: resource pattern + access control
/// entry). As a filter (DeleteAcls, DescribeAcls), an empty
/// `resource_name`, `principal` or `host` and the `Any` variants match any
/// value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBinding {
    /// Resource type.
    pub resource_type: ResourceType,
    /// Resource name (or prefix, with [`PatternType::Prefixed`]).
    pub resource_name: String,
    /// How `resource_name` matches.
    pub pattern_type: PatternType,
    /// Principal, e.g. `User:alice`.
    pub principal: String,
    /// Host, `*` for any.
    pub host: String,
    /// Operation.
    pub operation: AclOperation,
    /// Permission.
    pub permission: AclPermission,
}

impl ResourceType {
    /// Kafka wire code (`ResourceType.code()`: UNKNOWN 0, ANY 1, TOPIC 2,
    /// GROUP 3, CLUSTER 4, TRANSACTIONAL_ID 5, DELEGATION_TOKEN 6, USER 7).
    pub fn code(self) -> i8 {
        match self {
            Self::Unknown => 0,
            Self::Any => 1,
            Self::Topic => 2,
            Self::Group => 3,
            Self::Cluster => 4,
            Self::TransactionalId => 5,
            Self::DelegationToken => 6,
            Self::User => 7,
        }
    }

    /// The resource type of a wire code; an unknown code is `Unknown`.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Any,
            2 => Self::Topic,
            3 => Self::Group,
            4 => Self::Cluster,
            5 => Self::TransactionalId,
            6 => Self::DelegationToken,
            7 => Self::User,
            _ => Self::Unknown,
        }
    }

    /// Kafka's upper-case name (`ResourceType.name()`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Any => "ANY",
            Self::Topic => "TOPIC",
            Self::Group => "GROUP",
            Self::Cluster => "CLUSTER",
            Self::TransactionalId => "TRANSACTIONAL_ID",
            Self::DelegationToken => "DELEGATION_TOKEN",
            Self::User => "USER",
        }
    }
}

impl PatternType {
    /// Kafka wire code (`PatternType.code()`: UNKNOWN 0, ANY 1, MATCH 2,
    /// LITERAL 3, PREFIXED 4).
    pub fn code(self) -> i8 {
        match self {
            Self::Unknown => 0,
            Self::Any => 1,
            Self::Match => 2,
            Self::Literal => 3,
            Self::Prefixed => 4,
        }
    }

    /// The pattern type of a wire code; an unknown code is `Unknown`.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Any,
            2 => Self::Match,
            3 => Self::Literal,
            4 => Self::Prefixed,
            _ => Self::Unknown,
        }
    }

    /// Kafka's upper-case name (`PatternType.name()`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Any => "ANY",
            Self::Match => "MATCH",
            Self::Literal => "LITERAL",
            Self::Prefixed => "PREFIXED",
        }
    }
}

impl AclOperation {
    /// Kafka wire code (`AclOperation.code()`: UNKNOWN 0, ANY 1, ALL 2,
    /// READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
    /// CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
    /// IDEMPOTENT_WRITE 12, CREATE_TOKENS 13, DESCRIBE_TOKENS 14).
    pub fn code(self) -> i8 {
        match self {
            Self::Unknown => 0,
            Self::Any => 1,
            Self::All => 2,
            Self::Read => 3,
            Self::Write => 4,
            Self::Create => 5,
            Self::Delete => 6,
            Self::Alter => 7,
            Self::Describe => 8,
            Self::ClusterAction => 9,
            Self::DescribeConfigs => 10,
            Self::AlterConfigs => 11,
            Self::IdempotentWrite => 12,
            Self::CreateTokens => 13,
            Self::DescribeTokens => 14,
        }
    }

    /// The operation of a wire code; an unknown code is `Unknown`.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Any,
            2 => Self::All,
            3 => Self::Read,
            4 => Self::Write,
            5 => Self::Create,
            6 => Self::Delete,
            7 => Self::Alter,
            8 => Self::Describe,
            9 => Self::ClusterAction,
            10 => Self::DescribeConfigs,
            11 => Self::AlterConfigs,
            12 => Self::IdempotentWrite,
            13 => Self::CreateTokens,
            14 => Self::DescribeTokens,
            _ => Self::Unknown,
        }
    }

    /// Kafka's upper-case name (`AclOperation.name()`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Any => "ANY",
            Self::All => "ALL",
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Create => "CREATE",
            Self::Delete => "DELETE",
            Self::Alter => "ALTER",
            Self::Describe => "DESCRIBE",
            Self::ClusterAction => "CLUSTER_ACTION",
            Self::DescribeConfigs => "DESCRIBE_CONFIGS",
            Self::AlterConfigs => "ALTER_CONFIGS",
            Self::IdempotentWrite => "IDEMPOTENT_WRITE",
            Self::CreateTokens => "CREATE_TOKENS",
            Self::DescribeTokens => "DESCRIBE_TOKENS",
        }
    }
}

impl AclPermission {
    /// Kafka wire code (`AclPermissionType.code()`: UNKNOWN 0, ANY 1,
    /// DENY 2, ALLOW 3).
    pub fn code(self) -> i8 {
        match self {
            Self::Unknown => 0,
            Self::Any => 1,
            Self::Deny => 2,
            Self::Allow => 3,
        }
    }

    /// The permission of a wire code; an unknown code is `Unknown`.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Any,
            2 => Self::Deny,
            3 => Self::Allow,
            _ => Self::Unknown,
        }
    }

    /// Kafka's upper-case name (`AclPermissionType.name()`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Any => "ANY",
            Self::Deny => "DENY",
            Self::Allow => "ALLOW",
        }
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
        b.permission.name(),
        b.operation.name(),
        b.resource_type.name(),
        or_any(&b.resource_name),
        b.pattern_type.name(),
        or_any(&b.principal),
        or_any(&b.host),
    )
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
            resource_type: b.resource_type.code(),
            resource_name: b.resource_name.clone(),
            pattern_type: b.pattern_type.code(),
            principal: b.principal.clone(),
            host: b.host.clone(),
            operation: b.operation.code(),
            permission: b.permission.code(),
        }
    }
}

impl AclEntry {
    /// The binding this entry stands for (unknown codes become `Unknown`).
    pub fn binding(&self) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::from_code(self.resource_type),
            resource_name: self.resource_name.clone(),
            pattern_type: PatternType::from_code(self.pattern_type),
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation: AclOperation::from_code(self.operation),
            permission: AclPermission::from_code(self.permission),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_codes_round_trip_and_follow_kafka() {
        for code in 0..=7 {
            assert_eq!(ResourceType::from_code(code).code(), code);
        }
        for code in 0..=4 {
            assert_eq!(PatternType::from_code(code).code(), code);
        }
        for code in 0..=14 {
            assert_eq!(AclOperation::from_code(code).code(), code);
        }
        for code in 0..=3 {
            assert_eq!(AclPermission::from_code(code).code(), code);
        }
        assert_eq!(ResourceType::Topic.code(), 2);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclOperation::IdempotentWrite.code(), 12);
        assert_eq!(AclPermission::Allow.code(), 3);
        assert_eq!(ResourceType::from_code(99), ResourceType::Unknown);
        assert_eq!(AclOperation::from_code(-1), AclOperation::Unknown);
    }
}
