//! Generated guest bindings of `wit/linkgate-plugin.wit` (wasm32 only) and
//! the conversions between them and the SDK's plain types.
//!
//! One `wit_bindgen::generate!` per world. `pub_export_macro` makes each
//! world's export macro usable from the plugin crate and keeps the world's
//! exports out of the custom sections linked into every plugin: only the
//! world that a plugin exports (through the SDK's `export_*!` macro) ends up
//! in its component. The `types` and `host` interfaces are generated once,
//! in `topic_filter`, and shared by the other worlds through `with`.
//! Plugin authors never use this module directly.

#![allow(missing_docs, clippy::too_many_arguments)]

/// Bindings of world `topic-filter`; also owns the shared `types` and `host` interfaces.
pub mod topic_filter {
    wit_bindgen::generate!({
        path: "wit",
        world: "topic-filter",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "$crate::__private::bindings::topic_filter",
    });
}

/// Bindings of world `group-filter`.
pub mod group_filter {
    wit_bindgen::generate!({
        path: "wit",
        world: "group-filter",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "$crate::__private::bindings::group_filter",
        with: {
            "linkgate:plugin/types@0.1.0": crate::bindings::topic_filter::linkgate::plugin::types,
            "linkgate:plugin/host@0.1.0": crate::bindings::topic_filter::linkgate::plugin::host,
        },
    });
}

/// Bindings of world `renamer`.
pub mod renamer {
    wit_bindgen::generate!({
        path: "wit",
        world: "renamer",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "$crate::__private::bindings::renamer",
        with: {
            "linkgate:plugin/types@0.1.0": crate::bindings::topic_filter::linkgate::plugin::types,
            "linkgate:plugin/host@0.1.0": crate::bindings::topic_filter::linkgate::plugin::host,
        },
    });
}

/// Bindings of world `acl-mapper`.
pub mod acl_mapper {
    wit_bindgen::generate!({
        path: "wit",
        world: "acl-mapper",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "$crate::__private::bindings::acl_mapper",
        with: {
            "linkgate:plugin/types@0.1.0": crate::bindings::topic_filter::linkgate::plugin::types,
            "linkgate:plugin/host@0.1.0": crate::bindings::topic_filter::linkgate::plugin::host,
        },
    });
}

/// Bindings of world `record-transform`.
pub mod record_transform {
    wit_bindgen::generate!({
        path: "wit",
        world: "record-transform",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "$crate::__private::bindings::record_transform",
        with: {
            "linkgate:plugin/types@0.1.0": crate::bindings::topic_filter::linkgate::plugin::types,
            "linkgate:plugin/host@0.1.0": crate::bindings::topic_filter::linkgate::plugin::host,
        },
    });
}

/// The generated WIT `types` interface.
pub use topic_filter::linkgate::plugin::types as wit;

use crate::{
    AclBinding, AclOperation, AclPermission, Header, KafkaRecord, PatternType, RecordBatch,
    Replacement, ResourceType, SourceTopic, Verdict,
};

/// Maps each variant of a field-less enum between the SDK and the bindings,
/// both ways; the matches are exhaustive so a WIT change breaks the build.
macro_rules! map_enum {
    ($sdk:ident <-> $wit:ty { $($v:ident),+ $(,)? }) => {
        impl From<$wit> for $sdk {
            fn from(v: $wit) -> Self {
                match v { $( <$wit>::$v => $sdk::$v, )+ }
            }
        }
        impl From<$sdk> for $wit {
            fn from(v: $sdk) -> Self {
                match v { $( $sdk::$v => <$wit>::$v, )+ }
            }
        }
    };
}

map_enum!(ResourceType <-> wit::ResourceType {
    Unknown, Any, Topic, Group, Cluster, TransactionalId, DelegationToken, User,
});
map_enum!(PatternType <-> wit::PatternType { Unknown, Any, Match, Literal, Prefixed });
map_enum!(AclOperation <-> wit::AclOperation {
    Unknown, Any, All, Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens,
});
map_enum!(AclPermission <-> wit::AclPermission { Unknown, Any, Deny, Allow });

impl From<wit::SourceTopic> for SourceTopic {
    fn from(t: wit::SourceTopic) -> Self {
        SourceTopic {
            name: t.name,
            partitions: t.partitions,
            configs: t.configs,
            internal: t.internal,
        }
    }
}

impl From<wit::AclBinding> for AclBinding {
    fn from(b: wit::AclBinding) -> Self {
        AclBinding {
            resource_type: b.resource_type.into(),
            resource_name: b.resource_name,
            pattern_type: b.pattern_type.into(),
            principal: b.principal,
            host: b.host,
            operation: b.operation.into(),
            permission: b.permission.into(),
        }
    }
}

impl From<AclBinding> for wit::AclBinding {
    fn from(b: AclBinding) -> Self {
        wit::AclBinding {
            resource_type: b.resource_type.into(),
            resource_name: b.resource_name,
            pattern_type: b.pattern_type.into(),
            principal: b.principal,
            host: b.host,
            operation: b.operation.into(),
            permission: b.permission.into(),
        }
    }
}

impl From<wit::Header> for Header {
    fn from(h: wit::Header) -> Self {
        Header {
            key: h.key,
            value: h.value,
        }
    }
}

impl From<Header> for wit::Header {
    fn from(h: Header) -> Self {
        wit::Header {
            key: h.key,
            value: h.value,
        }
    }
}

impl From<wit::KafkaRecord> for KafkaRecord {
    fn from(r: wit::KafkaRecord) -> Self {
        KafkaRecord {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().map(Header::from).collect(),
        }
    }
}

impl From<wit::RecordBatch> for RecordBatch {
    fn from(b: wit::RecordBatch) -> Self {
        RecordBatch {
            topic: b.topic,
            partition: b.partition,
            records: b.records.into_iter().map(KafkaRecord::from).collect(),
        }
    }
}

impl From<Replacement> for wit::Replacement {
    fn from(r: Replacement) -> Self {
        wit::Replacement {
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().map(wit::Header::from).collect(),
        }
    }
}

impl From<Verdict> for wit::Verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Keep => wit::Verdict::Keep,
            Verdict::Drop => wit::Verdict::Drop,
            Verdict::Replace(r) => wit::Verdict::Replace(r.into()),
        }
    }
}
