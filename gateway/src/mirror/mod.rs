//! Data plane: fetch record batches from source partitions and produce them,
//! unchanged but for the writer fields, to mirror topics on the destination.
//!
//! The record batch codec and the Fetch/Produce request builders are the
//! Kafka layer's ([`crate::kafka::records`], [`crate::kafka::wire`]).
//! - [`state`]: checkpoints, mirror topic records, producer claims and
//!   failures in the destination's internal state topic.
//! - [`offset_map`]: the exact source-to-destination offset map and its
//!   roll-up in the state topic.
//! - [`status`]: mirror partition states and the status table.
//! - [`link`]: one link's start-up, recovery and tasks; `fetcher` and
//!   `committer` are its two data-plane tasks (`produce`: the committer's
//!   Produce pipelines and reconcile).
//! - [`metrics`]: metric names.
//! - [`error`]: the pipeline's error type.

mod claim;
mod committer;
mod discover;
pub mod error;
mod fetcher;
pub mod link;
pub mod metrics;
pub mod offset_map;
mod produce;
mod ready;
pub mod registry;
pub mod state;
pub mod status;
mod verify;

#[cfg(test)]
mod pipeline_tests;

#[cfg(test)]
pub(crate) mod fetch_testing;

pub use error::{MirrorError, Side};
pub use link::{FinalSyncHook, LinkDeps, LinkHandle, MirrorLink, MirroredPartition};
pub use state::{Checkpoint, OffsetMap, StateSnapshot, StateStore};
pub use status::{FailureCause, LinkStatus, PartitionState, PartitionStatus};
