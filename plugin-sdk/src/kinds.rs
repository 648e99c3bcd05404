//! The five plugin kinds as traits, one per WIT world of
//! `linkgate:plugin@0.1.0`. A plugin crate implements exactly one of them and
//! exports it with the matching macro ([`export_topic_filter!`](crate::export_topic_filter),
//! [`export_group_filter!`](crate::export_group_filter),
//! [`export_renamer!`](crate::export_renamer), [`export_acl_mapper!`](crate::export_acl_mapper),
//! [`export_record_transform!`](crate::export_record_transform)).
//!
//! Lifecycle (all kinds): the gateway instantiates the component, calls
//! `init` once with the plugin's config, and on `Ok` keeps the returned
//! value in a static for every later call of the instance; on `Err` the
//! gateway refuses this plugin version and shows the message. Each call
//! runs under the operator's deadline (`timeout_ms`) and memory limit
//! (`memory_limit_bytes`); a panic traps the instance and is handled by the
//! plugin's `on_error` policy. The `Send + Sync + 'static` bounds come from
//! keeping the state in a `static` (use atomics, not `Cell`, for counters).

use crate::{AclBinding, Config, RecordBatch, SourceTopic, Verdict};

/// Decides which source topics a cluster link mirrors (WIT world
/// `topic-filter`; Confluent's `auto.create.mirror.topics.filters`). Filters
/// of a chain combine with AND. Before a successful `init` the exported
/// component answers `false` (not mirrored) and logs a warning.
pub trait TopicFilter: Sized + Send + Sync + 'static {
    /// Builds the filter from its configuration; `Err(message)` refuses it.
    fn init(config: &Config) -> Result<Self, String>;

    /// True: mirror `topic`. Internal topics are never mirrored, whatever
    /// this returns.
    fn mirror_topic(&self, topic: &SourceTopic) -> bool;
}

/// Decides which source consumer groups have their committed offsets synced
/// to the destination (WIT world `group-filter`; Confluent's
/// `consumer.offset.group.filters`). Filters of a chain combine with AND.
/// Before a successful `init` the exported component answers `false` (not
/// synced) and logs a warning.
pub trait GroupFilter: Sized + Send + Sync + 'static {
    /// Builds the filter from its configuration; `Err(message)` refuses it.
    fn init(config: &Config) -> Result<Self, String>;

    /// True: sync the offsets of source consumer group `group` (group id).
    fn sync_group(&self, group: &str) -> bool;
}

/// Names mirror topics and consumer groups on the destination (WIT world
/// `renamer`; Confluent's `cluster.link.prefix`). Renamers of a chain
/// compose in order. Before a successful `init` the exported component
/// returns names unchanged and logs a warning.
pub trait Renamer: Sized + Send + Sync + 'static {
    /// Builds the renamer from its configuration; `Err(message)` refuses it.
    fn init(config: &Config) -> Result<Self, String>;

    /// Destination topic name for source topic `name`. Must be a valid Kafka
    /// topic name (see [`is_valid_topic_name`](crate::is_valid_topic_name));
    /// anything else is an invalid result for the gateway.
    fn rename_topic(&self, name: &str) -> String;

    /// Destination consumer group name for source group `name`; must be
    /// non-empty.
    fn rename_group(&self, name: &str) -> String;
}

/// Maps source ACL bindings to destination ACL bindings (WIT world
/// `acl-mapper`; ACL sync). Mappers of a chain run in sequence. Before a
/// successful `init` the exported component returns the binding unchanged
/// and logs a warning.
pub trait AclMapper: Sized + Send + Sync + 'static {
    /// Builds the mapper from its configuration; `Err(message)` refuses it.
    fn init(config: &Config) -> Result<Self, String>;

    /// Zero (drop), one or more destination bindings for one source binding.
    fn map_acl(&self, binding: &AclBinding) -> Vec<AclBinding>;
}

/// Filters or transforms records, one call per source record batch (WIT
/// world `record-transform`). Transforms of a chain run in sequence. Before
/// a successful `init` the exported component keeps every record and logs a
/// warning.
pub trait RecordTransform: Sized + Send + Sync + 'static {
    /// Builds the transform from its configuration; `Err(message)` refuses it.
    fn init(config: &Config) -> Result<Self, String>;

    /// Exactly one verdict per record of `batch.records`, in the same order;
    /// a list of any other length is an invalid result for the gateway.
    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict>;
}
