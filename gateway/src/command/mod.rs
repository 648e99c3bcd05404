//! The vocabulary of link and mirror commands, shared by the data plane
//! (which runs mirror commands on a running link) and the control plane
//! (which takes them from the REST API): the requests and results
//! ([`request`]) and why one is refused ([`error::ControlError`]). Plain
//! values, independent of any transport; the REST API maps them to HTTP.

pub mod error;
pub mod migrate;
pub mod request;

pub use error::ControlError;
pub use migrate::{GroupMigration, GroupMigrationRequest, GroupPartitionMigration};
pub use request::{
    LinkConfigChange, LinkDeletion, MirrorAction, MirrorActionResult, NewLink, NewMirror,
    PartitionLag,
};
