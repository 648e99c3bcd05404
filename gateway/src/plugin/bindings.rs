//! Generated wasmtime bindings of the five plugin worlds of
//! `wit/linkgate-plugin.wit` (package `linkgate:plugin@0.1.0`). The `host`
//! and `types` interfaces are generated once (with the `topic-filter`
//! world) and shared by the other worlds, so every world uses the same Rust
//! types. This is the only place that runs `bindgen!`.

/// `topic-filter` world; owns the shared `host` and `types` modules.
pub(crate) mod topic_filter {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "linkgate:plugin/topic-filter",
        additional_derives: [PartialEq],
    });
}

/// `group-filter` world.
pub(crate) mod group_filter {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "linkgate:plugin/group-filter",
        with: {
            "linkgate:plugin/host": super::topic_filter::linkgate::plugin::host,
            "linkgate:plugin/types": super::topic_filter::linkgate::plugin::types,
        },
    });
}

/// `renamer` world.
pub(crate) mod renamer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "linkgate:plugin/renamer",
        with: {
            "linkgate:plugin/host": super::topic_filter::linkgate::plugin::host,
            "linkgate:plugin/types": super::topic_filter::linkgate::plugin::types,
        },
    });
}

/// `acl-mapper` world.
pub(crate) mod acl_mapper {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "linkgate:plugin/acl-mapper",
        with: {
            "linkgate:plugin/host": super::topic_filter::linkgate::plugin::host,
            "linkgate:plugin/types": super::topic_filter::linkgate::plugin::types,
        },
    });
}

/// `record-transform` world.
pub(crate) mod record_transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "linkgate:plugin/record-transform",
        with: {
            "linkgate:plugin/host": super::topic_filter::linkgate::plugin::host,
            "linkgate:plugin/types": super::topic_filter::linkgate::plugin::types,
        },
    });
}

pub(crate) use topic_filter::linkgate::plugin::host;
pub(crate) use topic_filter::linkgate::plugin::types;
