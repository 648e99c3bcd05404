//! Link tasks: the periodic control-plane jobs of a running link that are
//! not the data plane (Confluent's link tasks): the consumer offset sync
//! ([`offset_sync::ConsumerOffsetSync`]), the topic config sync
//! ([`topic_configs`]) and the ACL sync ([`acl_sync`]). `AutoCreateMirror`
//! still runs in the link's watcher (`mirror::discover`).
//!
//! - [`LinkTask`]: what a task is (name, schedule read from the current
//!   link config, one run).
//! - [`runner`]: one tokio task per link task and link, never touching the
//!   data plane's locks across an await; re-reads the link config snapshot
//!   ([`LinkTasks::set_config`]) before every run; records the task's
//!   state in the link's [`crate::mirror::LinkStatus`] and its metrics.
//! - [`metrics`]: the `linkgate_link_task_*` metrics.
//!
//! Adding a task: implement [`LinkTask`] in a module of its own and add an
//! instance to the list in [`LinkTasks::start`]; its state, errors and
//! metrics then follow from the framework, and `default_tasks` (REST API)
//! learns which property configures it.

pub mod acl_sync;
pub mod metrics;
pub mod migrate;
pub mod offset_sync;
pub mod runner;
pub mod topic_configs;

#[cfg(test)]
mod sync_tests;

use std::time::Duration;

use futures::future::BoxFuture;

use crate::config::LinkConfig;
use crate::mirror::LinkHandle;

pub use runner::LinkTasks;

/// One error of a task run, shown in the task list as
/// `(error_code, error_message)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// Error code, e.g. `GROUP_HAS_ACTIVE_MEMBERS` or a Kafka error name
    /// (`COORDINATOR_NOT_AVAILABLE`).
    pub code: String,
    /// What went wrong and what it concerns (group, topic).
    pub message: String,
}

/// What one run of a task did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRun {
    /// Items synced (for the offset sync: partition offsets committed).
    pub items: u64,
    /// Errors of single items (a group, a topic); the task is `IN_ERROR`
    /// with them until a run has none.
    pub errors: Vec<TaskError>,
}

/// A periodic link task.
pub trait LinkTask: Send + Sync + 'static {
    /// The Confluent task name (`ConsumerOffsetSync`, ...).
    fn name(&self) -> &'static str;

    /// The time between runs under `config`, or `None` when the task is
    /// not configured (`NOT_CONFIGURED`). Read before every run.
    fn interval(&self, config: &LinkConfig) -> Option<Duration>;

    /// One run against the running link.
    ///
    /// # Errors
    /// A [`TaskError`] when the run as a whole failed (a cluster could not
    /// be reached): the task is `IN_ERROR` with it.
    fn run<'a>(
        &'a self,
        link: &'a LinkHandle,
        config: &'a LinkConfig,
    ) -> BoxFuture<'a, Result<TaskRun, TaskError>>;
}
