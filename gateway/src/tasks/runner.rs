//! [`LinkTasks`]: the link tasks of one running link, one tokio task each.
//!
//! Every loop of a task reads the link's current config (a `watch`
//! channel the link manager updates on `configs:alter` and config file
//! edits, [`LinkTasks::set_config`]), so an interval, an enable flag or a
//! filter changed on a running link takes effect at the next run; a
//! config change also wakes the task, so a shorter interval or a newly
//! enabled task does not wait out the old interval. A task runs only while
//! the link is connected and `ACTIVE` (the task list shows `LINK_*`
//! otherwise); runs never hold a data-plane lock across an await (they go
//! through [`LinkHandle`]).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::acl_sync::AclSync;
use super::offset_sync::ConsumerOffsetSync;
use super::topic_configs::TopicConfigsSync;
use super::{metrics, LinkTask};
use crate::config::LinkConfig;
use crate::mirror::status::LinkState;
use crate::mirror::{FinalSyncHook, LinkHandle, LinkStatus, MirrorLink};

/// How soon a due task looks again while its link is not running yet
/// (connecting, reading its state) or not `ACTIVE`.
const NOT_READY_RETRY: Duration = Duration::from_millis(500);

/// The link tasks of one running link (see the module doc). Dropping it
/// does not stop them: cancel the token given to [`LinkTasks::start`].
pub struct LinkTasks {
    config: watch::Sender<Arc<LinkConfig>>,
    offset_sync: Arc<ConsumerOffsetSync>,
    cell: Arc<OnceLock<LinkHandle>>,
}

impl LinkTasks {
    /// Starts the tasks of `link` (configured by `config`, the link's
    /// current config) until `stop` is cancelled, and installs the final
    /// consumer offset sync that promote and failover run.
    pub fn start(link: &MirrorLink, config: LinkConfig, stop: CancellationToken) -> Self {
        let (tx, _) = watch::channel(Arc::new(config));
        let offset_sync = Arc::new(ConsumerOffsetSync::new(tx.subscribe()));
        let cell = link.handle_cell();
        // Confluent's order of the task list.
        let tasks: Vec<Arc<dyn LinkTask>> = vec![
            Arc::new(AclSync::default()),
            offset_sync.clone(),
            Arc::new(TopicConfigsSync),
        ];
        for task in tasks {
            tokio::spawn(run_task(
                task,
                cell.clone(),
                tx.subscribe(),
                link.status().clone(),
                link.name().to_string(),
                stop.clone(),
            ));
        }
        link.set_final_sync(Arc::new(FinalOffsetSync {
            sync: offset_sync.clone(),
            cell: cell.clone(),
            config: tx.subscribe(),
        }));
        Self {
            config: tx,
            offset_sync,
            cell,
        }
    }

    /// Gives the tasks the link's changed config; each task reads it
    /// before its next run (and is woken to do so).
    pub fn set_config(&self, config: LinkConfig) {
        self.config.send_replace(Arc::new(config));
    }

    /// The link's consumer offset sync (for `group migrate`).
    pub fn offset_sync(&self) -> &Arc<ConsumerOffsetSync> {
        &self.offset_sync
    }

    /// The running link's handle, once it is connected.
    pub fn link(&self) -> Option<LinkHandle> {
        self.cell.get().cloned()
    }

    /// The config the tasks run with now.
    pub fn config(&self) -> Arc<LinkConfig> {
        self.config.borrow().clone()
    }
}

/// Whether a task may run on `link` now: connected, not stopped, `ACTIVE`
/// and not configured paused.
fn runnable(link: Option<&LinkHandle>, config: &LinkConfig) -> Option<LinkHandle> {
    let link = link?;
    (!link.is_stopped() && !config.paused && link.status().health().state == LinkState::Active)
        .then(|| link.clone())
}

async fn run_task(
    task: Arc<dyn LinkTask>,
    cell: Arc<OnceLock<LinkHandle>>,
    mut config: watch::Receiver<Arc<LinkConfig>>,
    status: LinkStatus,
    link_name: String,
    stop: CancellationToken,
) {
    let name = task.name();
    let mut last_start: Option<Instant> = None;
    loop {
        let cfg = config.borrow_and_update().clone();
        let interval = task.interval(&cfg);
        status.set_task_configured(name, interval.is_some());
        let wait = match interval {
            None => {
                status.set_task_errors(name, Vec::new());
                None
            }
            Some(every) => {
                let now = Instant::now();
                let due = last_start.and_then(|t| t.checked_add(every)).unwrap_or(now);
                if due > now {
                    Some(due - now)
                } else if let Some(link) = runnable(cell.get(), &cfg) {
                    last_start = Some(now);
                    let outcome = tokio::select! {
                        _ = stop.cancelled() => return,
                        r = task.run(&link, &cfg) => r,
                    };
                    let seconds = now.elapsed().as_secs_f64();
                    let (items, errors) = match outcome {
                        Ok(run) => (run.items, run.errors),
                        Err(e) => (0, vec![e]),
                    };
                    metrics::record_run(&link_name, name, seconds, items, errors.len());
                    if !errors.is_empty() {
                        tracing::warn!(link = %link_name, task = name, errors = errors.len(),
                            first = %errors[0].message, "link task run had errors");
                    }
                    status.set_task_errors(
                        name,
                        errors.into_iter().map(|e| (e.code, e.message)).collect(),
                    );
                    continue;
                } else {
                    Some(NOT_READY_RETRY)
                }
            }
        };
        let sleep = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = config.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = sleep => {}
        }
    }
}

/// The final consumer offset sync of promote and failover.
struct FinalOffsetSync {
    sync: Arc<ConsumerOffsetSync>,
    cell: Arc<OnceLock<LinkHandle>>,
    config: watch::Receiver<Arc<LinkConfig>>,
}

impl FinalSyncHook for FinalOffsetSync {
    fn final_sync<'a>(&'a self, mirror_topics: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let cfg = self.config.borrow().clone();
            if !cfg.offset_sync.enable {
                return Ok(());
            }
            let Some(link) = self.cell.get() else {
                return Ok(());
            };
            let run = self
                .sync
                .sync(link, &cfg.offset_sync, Some(mirror_topics))
                .await
                .map_err(|e| e.message)?;
            for e in &run.errors {
                tracing::warn!(link = %link.name(), topics = ?mirror_topics, code = %e.code,
                    "final consumer offset sync: {}", e.message);
            }
            tracing::info!(link = %link.name(), topics = ?mirror_topics, committed = run.items,
                "final consumer offset sync done");
            Ok(())
        })
    }
}
