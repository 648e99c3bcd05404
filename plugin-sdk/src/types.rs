//! Plain Rust mirrors of the WIT `types` interface (`linkgate:plugin/types@0.1.0`).
//!
//! These are what plugin code sees, on wasm32 and natively alike: the export
//! macros convert between them and the generated bindings, so a plugin never
//! touches generated code and its unit tests build on the host target.

use std::fmt;
use std::str::FromStr;

/// A topic of the source cluster, as a topic filter sees it (WIT `source-topic`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceTopic {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: u32,
    /// Topic configs the source reports as set (Kafka DescribeConfigs,
    /// non-default values only), e.g. `("cleanup.policy", "compact")`.
    pub configs: Vec<(String, String)>,
    /// True for Kafka's internal topics (`__consumer_offsets`,
    /// `__transaction_state`). The gateway never mirrors internal topics,
    /// whatever a filter answers.
    pub internal: bool,
}

impl SourceTopic {
    /// The value of topic config `key` (e.g. `"cleanup.policy"`), if the
    /// source reported it as set.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.configs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Error of the `FromStr` implementations of the ACL enums: the text is not
/// one of Kafka's names for the enum (e.g. `"ALTER"`, `"TRANSACTIONAL_ID"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} name `{name}`")]
pub struct ParseNameError {
    /// Which enum was parsed, e.g. `"ACL operation"`.
    pub kind: &'static str,
    /// The text that did not match.
    pub name: String,
}

/// Defines a field-less ACL enum with its Kafka names (upper snake case, as
/// in Kafka's `ResourceType`, `PatternType`, `AclOperation` and
/// `AclPermissionType` and the kafka-acls tool), `Display` and `FromStr`.
macro_rules! kafka_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $kafka:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in WIT declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Kafka's name for this value, e.g. `"TOPIC"` or `"CLUSTER_ACTION"`.
            pub fn kafka_name(self) -> &'static str {
                match self {
                    $( $name::$variant => $kafka, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.kafka_name())
            }
        }

        impl FromStr for $name {
            type Err = ParseNameError;

            /// Parses Kafka's name (ASCII case-insensitive, `-` accepted for `_`,
            /// surrounding whitespace ignored).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().replace('-', "_");
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.kafka_name().eq_ignore_ascii_case(&wanted))
                    .ok_or_else(|| ParseNameError { kind: $kind, name: s.to_string() })
            }
        }
    };
}

kafka_enum! {
    /// Kind of resource an ACL binding applies to (Kafka `ResourceType`, WIT `resource-type`).
    ResourceType, "resource type" {
        /// Unknown to the gateway.
        Unknown = "UNKNOWN",
        /// Any resource type (filters only).
        Any = "ANY",
        /// A topic.
        Topic = "TOPIC",
        /// A consumer group.
        Group = "GROUP",
        /// The cluster (`kafka-cluster`).
        Cluster = "CLUSTER",
        /// A transactional id.
        TransactionalId = "TRANSACTIONAL_ID",
        /// A delegation token.
        DelegationToken = "DELEGATION_TOKEN",
        /// A user principal (KIP-373).
        User = "USER",
    }
}

kafka_enum! {
    /// How the resource name of an ACL binding is matched (Kafka `PatternType`, KIP-290; WIT `pattern-type`).
    PatternType, "pattern type" {
        /// Unknown to the gateway.
        Unknown = "UNKNOWN",
        /// Any pattern type (filters only).
        Any = "ANY",
        /// Match (filters only).
        Match = "MATCH",
        /// The name is the resource name, `*` = every resource.
        Literal = "LITERAL",
        /// The name is a prefix of resource names.
        Prefixed = "PREFIXED",
    }
}

kafka_enum! {
    /// Operation an ACL binding allows or denies (Kafka `AclOperation`, WIT `acl-operation`).
    AclOperation, "ACL operation" {
        /// Unknown to the gateway.
        Unknown = "UNKNOWN",
        /// Any operation (filters only).
        Any = "ANY",
        /// Every operation.
        All = "ALL",
        /// Read.
        Read = "READ",
        /// Write.
        Write = "WRITE",
        /// Create.
        Create = "CREATE",
        /// Delete.
        Delete = "DELETE",
        /// Alter.
        Alter = "ALTER",
        /// Describe.
        Describe = "DESCRIBE",
        /// Cluster action (inter-broker).
        ClusterAction = "CLUSTER_ACTION",
        /// Describe configs.
        DescribeConfigs = "DESCRIBE_CONFIGS",
        /// Alter configs.
        AlterConfigs = "ALTER_CONFIGS",
        /// Idempotent write.
        IdempotentWrite = "IDEMPOTENT_WRITE",
        /// Create delegation tokens (KIP-373).
        CreateTokens = "CREATE_TOKENS",
        /// Describe delegation tokens (KIP-373).
        DescribeTokens = "DESCRIBE_TOKENS",
    }
}

kafka_enum! {
    /// Whether an ACL binding allows or denies (Kafka `AclPermissionType`, WIT `acl-permission`).
    AclPermission, "ACL permission" {
        /// Unknown to the gateway.
        Unknown = "UNKNOWN",
        /// Any permission (filters only).
        Any = "ANY",
        /// Deny.
        Deny = "DENY",
        /// Allow.
        Allow = "ALLOW",
    }
}

/// One ACL binding: resource pattern plus access entry (Kafka `AclBinding`,
/// DescribeAcls/CreateAcls; WIT `acl-binding`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBinding {
    /// Resource kind.
    pub resource_type: ResourceType,
    /// Resource name, e.g. a topic name, or `kafka-cluster`.
    pub resource_name: String,
    /// How `resource_name` matches.
    pub pattern_type: PatternType,
    /// Principal, e.g. `User:alice`.
    pub principal: String,
    /// Host, `*` for any.
    pub host: String,
    /// Operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermission,
}

/// One record header (Kafka record format v2). Keys are strings; values may
/// be null (WIT `header`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Header value; `None` is a null value.
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a non-null value.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// One record of a source record batch, decoded (Kafka record format v2;
/// WIT `kafka-record`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaRecord {
    /// The record's offset in the source partition.
    pub offset: i64,
    /// Timestamp in ms since the Unix epoch (CreateTime), -1 if none.
    pub timestamp: i64,
    /// Key; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

impl KafkaRecord {
    /// The first header named `key`, if any.
    pub fn header(&self, key: &str) -> Option<&Header> {
        self.headers.iter().find(|h| h.key == key)
    }

    /// A replacement with this record's current content, to modify and
    /// return as [`Verdict::Replace`].
    pub fn to_replacement(&self) -> Replacement {
        Replacement {
            timestamp: self.timestamp,
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
        }
    }
}

/// The records of one source record batch, in offset order (WIT `record-batch`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RecordBatch {
    /// Source topic name.
    pub topic: String,
    /// Source partition index.
    pub partition: i32,
    /// The batch's records (the gateway sends at least one).
    pub records: Vec<KafkaRecord>,
}

/// New content for a record; its offset stays the source record's (WIT `replacement`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Replacement {
    /// Timestamp in ms since the Unix epoch; must be >= 0, or -1 for none.
    /// Anything below -1 is an invalid result (handled by the plugin's
    /// `on_error` policy in the gateway).
    pub timestamp: i64,
    /// Key; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Value; `None` is a null value.
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

/// What happens to one record (WIT `verdict`). A transform returns exactly
/// one verdict per record of the batch, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Mirror the record unchanged.
    Keep,
    /// Do not mirror the record.
    Drop,
    /// Mirror this content instead.
    Replace(Replacement),
}

/// Longest valid Kafka topic name, in bytes (Kafka `Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// True if `name` is a valid Kafka topic name: 1 to 249 of `[a-zA-Z0-9._-]`,
/// not `.` or `..` (Kafka `org.apache.kafka.common.internals.Topic.validate`).
/// A renamer's `rename_topic` result must pass this check.
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_NAME_LEN
        && name != "."
        && name != ".."
        && name.bytes().all(is_topic_name_byte)
}

/// True if `b` may appear in a Kafka topic name (`[a-zA-Z0-9._-]`).
pub fn is_topic_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_round_trip() {
        for op in AclOperation::ALL {
            assert_eq!(op.kafka_name().parse::<AclOperation>(), Ok(*op));
        }
        assert_eq!(
            "cluster-action".parse::<AclOperation>(),
            Ok(AclOperation::ClusterAction)
        );
        assert_eq!(
            " Transactional_Id ".parse::<ResourceType>(),
            Ok(ResourceType::TransactionalId)
        );
        assert_eq!("prefixed".parse::<PatternType>(), Ok(PatternType::Prefixed));
        assert_eq!("DENY".parse::<AclPermission>(), Ok(AclPermission::Deny));
        let err = "FLY".parse::<AclOperation>().unwrap_err();
        assert_eq!(err.to_string(), "unknown ACL operation name `FLY`");
    }

    #[test]
    fn topic_names() {
        assert!(is_valid_topic_name("east.orders-v1_x"));
        assert!(is_valid_topic_name(&"a".repeat(249)));
        assert!(!is_valid_topic_name(&"a".repeat(250)));
        assert!(!is_valid_topic_name(""));
        assert!(!is_valid_topic_name("."));
        assert!(!is_valid_topic_name(".."));
        assert!(is_valid_topic_name("..."));
        assert!(!is_valid_topic_name("bad name!"));
        assert!(!is_valid_topic_name("tøpic"));
    }

    #[test]
    fn record_helpers() {
        let r = KafkaRecord {
            offset: 7,
            timestamp: 1_000,
            key: Some(b"k".to_vec()),
            value: None,
            headers: vec![Header::new("a", "1"), Header::new("a", "2")],
        };
        assert_eq!(
            r.header("a").and_then(|h| h.value.as_deref()),
            Some(&b"1"[..])
        );
        assert!(r.header("b").is_none());
        let rep = r.to_replacement();
        assert_eq!(rep.timestamp, 1_000);
        assert_eq!(rep.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(rep.headers.len(), 2);
        let t = SourceTopic {
            name: "t".into(),
            partitions: 3,
            configs: vec![("cleanup.policy".into(), "compact".into())],
            internal: false,
        };
        assert_eq!(t.config("cleanup.policy"), Some("compact"));
        assert_eq!(t.config("retention.ms"), None);
    }
}
