//! The control plane's mutating side: what the REST API asks of
//! the gateway to create, alter and delete cluster links and to create,
//! pause, resume, promote and fail over mirror topics.
//!
//! - [`request`], [`error`]: the request and result types ([`NewLink`],
//!   [`LinkConfigChange`], [`LinkDeletion`], [`NewMirror`],
//!   [`MirrorAction`], [`MirrorActionResult`]) and [`ControlError`], from
//!   [`crate::command`] (shared with the data plane).
//! - [`definition`]: [`definition::LinkDefinition`], an API-created link as
//!   persisted in its destination's state topic.
//! - [`manager`]: [`manager::LinkManager`], the running links as a dynamic
//!   set; implements [`ControlPlane`] and [`crate::api::ApiState`].
//! - [`ControlPlane`]: the trait the runtime's link manager implements and
//!   the REST API calls. Every method is async (it may talk to clusters and
//!   write the state topic) and changes nothing when it fails.

pub mod definition;
pub mod manager;

use futures::future::BoxFuture;

pub use crate::command::{error, request};
pub use crate::command::{
    ControlError, GroupMigration, GroupMigrationRequest, LinkConfigChange, LinkDeletion,
    MirrorAction, MirrorActionResult, NewLink, NewMirror, PartitionLag,
};

/// The mutating operations of the control plane, shaped after Confluent's
/// Kafka REST v3 cluster-linking endpoints (`POST .../links`,
/// `PUT .../links/{link}/configs:alter`, `DELETE .../links/{link}`,
/// `POST .../links/{link}/mirrors`, `POST .../links/-/mirrors:promote`,
/// `:failover`, `:pause`, `:resume`).
///
/// With `validate_only` a call runs every check and returns what it would
/// return, but changes nothing.
pub trait ControlPlane: Send + Sync {
    /// Creates a cluster link (`POST /kafka/v3/clusters/{cluster_id}/links
    /// ?link_name=...`). The link is persisted in the destination cluster's
    /// state topic before it starts.
    ///
    /// # Errors
    /// [`ControlError::ClusterNotFound`], [`ControlError::LinkExists`],
    /// [`ControlError::InvalidConfig`], [`ControlError::LinkValidation`]
    /// (a cluster cannot be reached; Confluent's link error codes),
    /// [`ControlError::Unavailable`] (the state topic cannot be written).
    fn create_link(&self, req: NewLink) -> BoxFuture<'_, Result<(), ControlError>>;

    /// Alters link properties (`PUT .../links/{link}/configs:alter`). The
    /// link restarts with the new properties; its mirror topics keep their
    /// positions.
    ///
    /// # Errors
    /// [`ControlError::LinkNotFound`], [`ControlError::NotAlterable`] (link
    /// name, source cluster, `cluster.link.prefix`),
    /// [`ControlError::ManagedByConfigFile`], [`ControlError::InvalidConfig`].
    fn alter_link_configs(&self, req: LinkConfigChange) -> BoxFuture<'_, Result<(), ControlError>>;

    /// Deletes a link (`DELETE .../links/{link}`). Refused while the link
    /// has mirror topics that are not stopped, unless `force`: then they
    /// are failed over first. Stopped mirrors' history goes with the link.
    ///
    /// # Errors
    /// [`ControlError::LinkNotFound`], [`ControlError::HasMirrors`],
    /// [`ControlError::ManagedByConfigFile`], [`ControlError::Unavailable`].
    fn delete_link(&self, req: LinkDeletion) -> BoxFuture<'_, Result<(), ControlError>>;

    /// Creates a mirror topic on a link (`POST .../links/{link}/mirrors`).
    ///
    /// # Errors
    /// [`ControlError::LinkNotFound`], [`ControlError::MirrorExists`],
    /// [`ControlError::InvalidConfig`], [`ControlError::SourceTopicNotFound`],
    /// [`ControlError::Unavailable`].
    fn create_mirror(&self, req: NewMirror) -> BoxFuture<'_, Result<(), ControlError>>;

    /// Applies `action` to each named mirror topic (`POST .../links/{link}/
    /// mirrors:promote|:failover|:pause|:resume`; `link` `None` for `-`,
    /// any link). Returns one result per topic, in the order asked; a topic
    /// that cannot take the action carries its error in its result and the
    /// others still proceed.
    ///
    /// # Errors
    /// [`ControlError::LinkNotFound`] when `link` names no link,
    /// [`ControlError::InvalidConfig`] for an empty topic list.
    fn alter_mirrors(
        &self,
        link: Option<String>,
        mirror_topics: Vec<String>,
        action: MirrorAction,
        validate_only: bool,
    ) -> BoxFuture<'_, Result<Vec<MirrorActionResult>, ControlError>>;

    /// Migrates a consumer group from the source to the destination over a
    /// link (linkgate's `POST .../links/{link}/groups/{group}:migrate`,
    /// `linkgate group migrate`; see [`crate::tasks::migrate`]). Default:
    /// [`ControlError::Unsupported`].
    ///
    /// # Errors
    /// [`ControlError::LinkNotFound`], [`ControlError::GroupNotFound`],
    /// [`ControlError::GroupNotMigratable`], [`ControlError::Unavailable`].
    fn migrate_group(
        &self,
        req: GroupMigrationRequest,
    ) -> BoxFuture<'_, Result<GroupMigration, ControlError>> {
        let _ = req;
        Box::pin(async {
            Err(ControlError::Unsupported(
                "group migrate is not available in this gateway".into(),
            ))
        })
    }
}
