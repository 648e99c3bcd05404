//! Data plane: fetch record batches from source partitions and produce them,
//! unchanged but for the writer fields, to mirror topics on the destination.
//!
//! - [`batch`]: record batch (magic v2) parsing, read_committed filtering and
//!   writer-field rewrite with CRC-32C.
//! - [`wire`]: Fetch and Produce request builders.
//! - [`state`]: checkpoints, mirror topic records, producer claims and
//!   failures in the destination's internal state topic.
//! - [`offset_map`]: the exact source-to-destination offset map and its
//!   roll-up in the state topic.
//! - [`status`]: mirror partition states and the status table.
//! - [`link`]: one link's start-up, recovery and tasks; `fetcher` and
//!   `committer` are its two data-plane tasks.
//! - [`metrics`]: metric names.
//! - [`error`]: the pipeline's error type.

pub mod batch;
mod claim;
mod committer;
pub mod decompress;
mod discover;
pub mod error;
mod fetcher;
pub mod link;
pub mod metrics;
pub mod offset_map;
mod ready;
pub mod registry;
pub mod state;
pub mod status;
mod verify;
pub mod wire;

#[cfg(test)]
mod pipeline_tests;

pub use error::{MirrorError, Side};
pub use link::{LinkDeps, MirrorLink};
pub use state::{Checkpoint, OffsetMap, StateSnapshot, StateStore};
pub use status::{FailureCause, LinkStatus, PartitionState, PartitionStatus};
