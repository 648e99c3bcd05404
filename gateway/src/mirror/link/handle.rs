//! [`LinkHandle`]: read access to a running link for the control plane's
//! link tasks (consumer offset sync and the other periodic tasks): its two
//! cluster clients, the mirror partitions with their exact offset maps
//! (read under the data plane's short synchronous lock, never across an
//! await), its renamer chain for consumer group names, and
//! [`FinalSyncHook`], the hook promote and failover call before a mirror
//! topic is `STOPPED`.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::kafka::ClusterClient;
use crate::mirror::error::MirrorError;
use crate::mirror::offset_map::CommittedTranslation;
use crate::mirror::state::StateStore;
use crate::mirror::status::{LinkStatus, PartitionState};

use super::LinkCtx;

/// One mirror partition of a running link (stopped partitions excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredPartition {
    /// Source topic name.
    pub source_topic: String,
    /// Mirror topic name on the destination.
    pub mirror_topic: String,
    /// Partition index (the same on both sides).
    pub partition: i32,
    /// Source offset after the last landed round: every source offset
    /// below it is mirrored.
    pub source_next: i64,
    /// Destination log end offset after the last landed round.
    pub destination_next: i64,
    /// Whether the partition is being fetched (`ACTIVE`), as opposed to
    /// paused, pending, failed or stopping.
    pub active: bool,
}

/// What runs before promote or failover makes mirror topics `STOPPED`
/// (Confluent: the last consumer offset sync of the promoted topics).
/// Installed by the control plane with [`super::MirrorLink::set_final_sync`].
pub trait FinalSyncHook: Send + Sync {
    /// Syncs what the mirror topics `mirror_topics` need before they stop.
    /// An error is logged by the link; the promote goes on (Confluent does
    /// not refuse a promote for a failed offset sync).
    fn final_sync<'a>(&'a self, mirror_topics: &'a [String]) -> BoxFuture<'a, Result<(), String>>;
}

/// The hook slot shared by a [`super::MirrorLink`] and its tasks.
pub(crate) type FinalSyncSlot = Arc<std::sync::RwLock<Option<Arc<dyn FinalSyncHook>>>>;

/// Read access to a running link ([`super::MirrorLink::handle`]). Cheap to
/// clone.
#[derive(Clone)]
pub struct LinkHandle {
    ctx: Arc<LinkCtx>,
}

impl std::fmt::Debug for LinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkHandle")
            .field("link", &self.ctx.name)
            .finish()
    }
}

impl LinkHandle {
    pub(crate) fn new(ctx: Arc<LinkCtx>) -> Self {
        Self { ctx }
    }

    /// The link name.
    pub fn name(&self) -> &str {
        &self.ctx.name
    }

    /// The source cluster client.
    pub fn source(&self) -> &Arc<ClusterClient> {
        &self.ctx.source
    }

    /// The destination cluster client.
    pub fn destination(&self) -> &Arc<ClusterClient> {
        &self.ctx.destination
    }

    /// The link's status table (partition states, link health, task errors).
    pub fn status(&self) -> &LinkStatus {
        &self.ctx.status
    }

    /// Whether the link's tasks stopped (shutdown, restart or fenced).
    pub fn is_stopped(&self) -> bool {
        self.ctx.stop.is_cancelled()
    }

    /// The link's mirror partitions that are not stopped, by mirror topic
    /// and partition.
    pub fn mirrored_partitions(&self) -> Vec<MirroredPartition> {
        let mut out: Vec<MirroredPartition> = self
            .ctx
            .slots()
            .iter()
            .map(|(key, slot)| MirroredPartition {
                source_topic: slot.source_topic.clone(),
                mirror_topic: key.0.clone(),
                partition: key.1,
                source_next: slot.source_next,
                destination_next: slot.destination_next,
                active: false,
            })
            .collect();
        let status = self.ctx.status.lock();
        for p in &mut out {
            p.active = status
                .get(&(p.mirror_topic.clone(), p.partition))
                .is_some_and(|s| s.state == PartitionState::Active);
        }
        out
    }

    /// Translates committed source offset `source_offset` of mirror topic
    /// `mirror_topic` partition `partition` through the partition's exact
    /// offset map ([`crate::mirror::OffsetMap::translate_committed`]).
    /// `None` when the partition has no slot (not mirrored, or stopped).
    pub fn translate_committed(
        &self,
        mirror_topic: &str,
        partition: i32,
        source_offset: i64,
    ) -> Option<CommittedTranslation> {
        let slots = self.ctx.slots();
        let slot = slots.get(&(mirror_topic.to_string(), partition))?;
        Some(
            slot.map
                .translate_committed(source_offset, slot.source_next, slot.destination_next),
        )
    }

    /// The destination name of consumer group `group`: the link's renamer
    /// chain (the `cluster.link.prefix` plugin prefixes groups when
    /// `consumer.group.prefix.enable` is true). `Ok(None)`: a renamer with
    /// `on_error = "skip"` failed, the group is not synced.
    ///
    /// # Errors
    /// [`MirrorError::Plugin`] when the chain cannot load or a renamer with
    /// `on_error = "fail"` fails.
    pub fn rename_group(&self, group: &str) -> Result<Option<String>, MirrorError> {
        let names = self.ctx.chain_names.load_full();
        if names.renamers.is_empty() {
            return Ok(Some(group.to_string()));
        }
        let chains = self.ctx.plugins.chains_for(&names).map_err(|e| {
            MirrorError::Plugin(crate::plugin::ChainError::Failed {
                plugin: "renamer chain".into(),
                kind: crate::plugin::PluginKind::Renamer,
                source: e,
            })
        })?;
        Ok(tokio::task::block_in_place(|| chains.rename_group(group))?)
    }

    /// The link's plugin chains as configured now (renamers and ACL
    /// mappers for the ACL sync). Calls into the chains block the calling
    /// thread: run them under `tokio::task::block_in_place`.
    ///
    /// # Errors
    /// [`MirrorError::Plugin`] when a chain's plugins cannot be loaded.
    pub fn chains(&self) -> Result<crate::plugin::Chains, MirrorError> {
        let names = self.ctx.chain_names.load_full();
        self.ctx.plugins.chains_for(&names).map_err(|e| {
            MirrorError::Plugin(crate::plugin::ChainError::Failed {
                plugin: "link chains".into(),
                kind: crate::plugin::PluginKind::AclMapper,
                source: e,
            })
        })
    }

    /// The gateway's plugin registry, for the chains a link task resolves
    /// from its own settings (the offset sync's group filters,
    /// [`crate::plugin::PluginRegistry::group_filters_for`]).
    pub fn plugins(&self) -> &Arc<crate::plugin::PluginRegistry> {
        &self.ctx.plugins
    }

    /// The gateway's state topic name (`[gateway] state_topic`), the same on
    /// every cluster a linkgate gateway writes to.
    pub fn state_topic(&self) -> &str {
        &self.ctx.state_topic
    }

    /// The state topic under the link's producer identity: reads
    /// ([`StateStore::load`]) and idempotent writes ([`StateStore::write`])
    /// of the link tasks' records (ACL sync ownership).
    pub fn state(&self) -> &Arc<StateStore> {
        &self.ctx.state
    }
}
