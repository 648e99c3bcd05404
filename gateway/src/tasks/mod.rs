//! Link tasks of the control plane: periodic jobs of a running link that
//! keep metadata in step with the source cluster (Confluent's link tasks).
//! They read the data plane, never block it.
//!
//! - [`topic_configs`]: `TopicConfigsSync`, mirror topic configs and
//!   partition counts.
//! - [`acl_sync`]: `AclSync`, source ACL bindings made true on the
//!   destination.

pub mod acl_sync;
pub mod topic_configs;
