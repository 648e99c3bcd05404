//! `group migrate`: moving one consumer group from the source cluster to
//! the destination through a link's consumer offset sync (linkgate's
//! automation of Confluent's manual "Migrating consumer groups" steps).

use serde::Serialize;

/// A request to migrate consumer group `group` over link `link_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMigrationRequest {
    /// The link.
    pub link_name: String,
    /// The source consumer group id.
    pub group: String,
    /// Only check and show the plan; change nothing.
    pub validate_only: bool,
}

/// One partition of a migrated group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPartitionMigration {
    /// Mirror topic on the destination.
    pub mirror_topic_name: String,
    /// Partition.
    pub partition: i32,
    /// The group's committed offset on the source.
    pub source_offset: i64,
    /// That offset translated to the destination (`None`: not mirrored
    /// yet).
    pub translated_offset: Option<i64>,
    /// The destination group's committed offset (`None`: none).
    pub destination_offset: Option<i64>,
}

/// What `group migrate` did (or, validate-only, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMigration {
    /// The link.
    pub link_name: String,
    /// The source group id.
    pub group_name: String,
    /// The group's name on the destination.
    pub destination_group_name: String,
    /// Nothing was changed.
    pub validate_only: bool,
    /// Every partition is at its translated offset on the destination and
    /// the group is out of the sync (false for a validate-only plan).
    pub migrated: bool,
    /// Per partition, as checked last.
    pub partitions: Vec<GroupPartitionMigration>,
    /// What the operator does next.
    pub next_steps: Vec<String>,
}
