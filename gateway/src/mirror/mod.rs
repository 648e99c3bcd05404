//! Data plane: fetch record batches from source partitions and produce them,
//! unchanged but for the writer fields, to mirror topics on the destination.
//!
//! - [`batch`]: record batch (magic v2) parsing, read_committed filtering and
//!   writer-field rewrite with CRC-32C.

pub mod batch;
