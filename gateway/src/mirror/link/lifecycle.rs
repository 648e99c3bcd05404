//! The mirror topic lifecycle of one running link, run by its watcher task
//! one command at a time: create a mirror topic (REST `POST .../mirrors`,
//! `kafka-mirrors --create`), pause, resume, promote and fail over
//! (`POST .../mirrors:pause|:resume|:promote|:failover`). Desired states
//! are persisted in the mirror's `mt/{link}/{mirror}` record before the
//! data plane sees them, so they survive a restart. Also the DENY WRITE ACL
//! protection of mirror topics (`linkgate.mirror.write.deny.enable`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::command::{ControlError, MirrorAction, MirrorActionResult, NewMirror, PartitionLag};
use crate::config::LinkConfig;
use crate::kafka::{CreateOutcome, KafkaError, OffsetSpec};
use crate::mirror::state::{now_ms, DesiredState, MirrorTopicRecord, StateEntry, StoppedPartition};
use crate::mirror::status::{PartitionKey, PartitionState};

use super::{merge_configs, renamed, setup_topic, wait_for_topic, LinkCtx, Topics};

/// How long promote waits for the rounds in flight of a mirror to land.
const PROMOTE_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll interval while waiting for rounds to land.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Creates the DENY WRITE ACL bindings of a mirror topic for the link's
/// `write_deny_principals` (none: protection off, nothing is sent).
///
/// # Errors
/// The destination's CreateAcls error (e.g. `SECURITY_DISABLED` when the
/// destination has no authorizer).
pub(super) async fn protect(
    ctx: &LinkCtx,
    config: &LinkConfig,
    mirror: &str,
) -> Result<(), KafkaError> {
    if config.write_deny_principals.is_empty() {
        return Ok(());
    }
    ctx.destination
        .create_acls(&deny_bindings(config, mirror))
        .await
}

/// One DENY WRITE binding per principal of `write_deny_principals`.
fn deny_bindings(config: &LinkConfig, mirror: &str) -> Vec<crate::kafka::AclBinding> {
    config
        .write_deny_principals
        .iter()
        .map(|p| crate::kafka::deny_write_binding(mirror, p))
        .collect()
}

/// Removes the DENY WRITE ACL bindings of a mirror topic that was stopped
/// or whose creation failed (best effort: a failure is logged).
async fn unprotect(ctx: &LinkCtx, config: &LinkConfig, mirror: &str) {
    if config.write_deny_principals.is_empty() {
        return;
    }
    match ctx
        .destination
        .delete_acls(&deny_bindings(config, mirror))
        .await
    {
        Ok(()) => tracing::info!(link = %ctx.name, topic = mirror, "DENY WRITE ACLs removed"),
        Err(e) => tracing::warn!(link = %ctx.name, topic = mirror, error = %e,
            "cannot remove the DENY WRITE ACLs of the mirror topic; remove them by hand"),
    }
}

/// How long failover waits for the final sync (the source may be down).
const FAILOVER_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// The final sync of a mirror topic before it stops (Confluent runs the
/// consumer offset sync one last time for promoted topics): the hook the
/// control plane installed ([`super::MirrorLink::set_final_sync`]), if any.
///
/// # Errors
/// [`ControlError::Unavailable`] when the sync as a whole failed (a
/// cluster could not be reached); per-group problems are the sync task's
/// to report and are no error here.
async fn final_sync_before_stop(ctx: &LinkCtx, mirror: &str) -> Result<(), ControlError> {
    let hook = ctx
        .final_sync
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let Some(hook) = hook else {
        tracing::debug!(link = %ctx.name, topic = mirror, "final sync: no sync task installed");
        return Ok(());
    };
    let topics = [mirror.to_string()];
    hook.final_sync(&topics).await.map_err(|e| {
        unavailable(format!(
            "mirror topic '{mirror}': the final consumer offset sync failed ({e}); nothing changed, retry"
        ))
    })
}

/// [`final_sync_before_stop`] for failover: bounded by
/// [`FAILOVER_SYNC_TIMEOUT`], and a failure is only logged (failover
/// stops the mirror whatever the source's state).
async fn final_sync_before_failover(ctx: &LinkCtx, mirror: &str) {
    match tokio::time::timeout(FAILOVER_SYNC_TIMEOUT, final_sync_before_stop(ctx, mirror)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(link = %ctx.name, topic = mirror, error = %e,
            "failover goes on without the final consumer offset sync"),
        Err(_) => tracing::warn!(link = %ctx.name, topic = mirror,
            "final consumer offset sync did not finish within {} s; failover goes on without it",
            FAILOVER_SYNC_TIMEOUT.as_secs()),
    }
}

fn unavailable(what: impl std::fmt::Display) -> ControlError {
    ControlError::Unavailable {
        message: what.to_string(),
    }
}

/// Whether a topic name is internal (never mirrored): `__*` or the state topic.
fn is_internal(ctx: &LinkCtx, topic: &str) -> bool {
    topic.starts_with("__") || topic == ctx.state_topic
}

impl Topics {
    /// Resolves `(source, mirror)` names of a create request.
    fn resolve_names(
        &self,
        ctx: &LinkCtx,
        req: &NewMirror,
    ) -> Result<(String, String), ControlError> {
        let renames = !ctx.chain_names.load().renamers.is_empty();
        let name_of = |source: &str| {
            renamed(ctx, source).map_err(|e| ControlError::InvalidConfig {
                key: "mirror_topic_name".into(),
                message: format!(
                    "cluster link '{}' cannot name a mirror of source topic '{source}': {e}",
                    ctx.name
                ),
            })
        };
        match (
            req.source_topic_name.as_deref().filter(|s| !s.is_empty()),
            req.mirror_topic_name.as_deref().filter(|s| !s.is_empty()),
        ) {
            (None, None) => Err(ControlError::InvalidConfig {
                key: "mirror_topic_name".into(),
                message: "give the mirror topic name, the source topic name, or both".into(),
            }),
            (Some(source), None) => Ok((source.to_string(), name_of(source)?)),
            (None, Some(mirror)) if renames => Err(ControlError::InvalidConfig {
                key: "source_topic_name".into(),
                message: format!(
                    "cluster link '{}' renames mirror topics (cluster.link.prefix or a renamer plugin); give source_topic_name (--source-topic) for mirror topic '{mirror}'",
                    ctx.name
                ),
            }),
            (None, Some(mirror)) => Ok((mirror.to_string(), mirror.to_string())),
            (Some(source), Some(mirror)) => {
                let expected = name_of(source)?;
                if expected != mirror {
                    return Err(ControlError::InvalidConfig {
                        key: "mirror_topic_name".into(),
                        message: format!(
                            "cluster link '{}' names the mirror of source topic '{source}' '{expected}', not '{mirror}'",
                            ctx.name
                        ),
                    });
                }
                Ok((source.to_string(), expected))
            }
        }
    }

    /// `create_mirror` (see [`super::MirrorLink::create_mirror`]).
    pub(super) async fn create(
        &mut self,
        ctx: &Arc<LinkCtx>,
        req: &NewMirror,
    ) -> Result<(), ControlError> {
        let (source, mirror) = self.resolve_names(ctx, req)?;
        for (key, name) in [
            ("source_topic_name", &source),
            ("mirror_topic_name", &mirror),
        ] {
            if is_internal(ctx, name) {
                return Err(ControlError::InvalidConfig {
                    key: key.into(),
                    message: format!(
                        "'{name}' is an internal topic; internal topics are never mirrored"
                    ),
                });
            }
        }
        if let Some(rec) = self.records.get(&mirror) {
            let stopped = if rec.state == DesiredState::Stopped {
                " (stopped)"
            } else {
                ""
            };
            return Err(ControlError::MirrorExists {
                topic: mirror,
                detail: format!(" as a mirror topic of cluster link '{}'{stopped}", ctx.name),
            });
        }
        if let Some(other) = self.names.get(&source) {
            return Err(ControlError::MirrorExists {
                topic: mirror.clone(),
                detail: format!(
                    " or is being mirrored: cluster link '{}' already mirrors source topic '{source}' as '{other}'",
                    ctx.name
                ),
            });
        }
        let dest_cluster = crate::mirror::registry::cluster_key(&ctx.destination);
        if let Some(e) = self
            .registry
            .entries()
            .into_iter()
            .find(|e| e.destination_cluster == dest_cluster && e.mirror_topic == mirror)
        {
            return Err(ControlError::MirrorExists {
                topic: mirror,
                detail: format!(" as a mirror topic of cluster link '{}'", e.link),
            });
        }
        let info = ctx
            .source
            .topic(&source)
            .await
            .map_err(|e| unavailable(format!("cannot describe source topic '{source}': {e}")))?
            .ok_or_else(|| ControlError::SourceTopicNotFound {
                link: ctx.name.clone(),
                topic: source.clone(),
            })?;
        let exists = ctx.destination.topic(&mirror).await.map_err(|e| {
            unavailable(format!("cannot describe destination topic '{mirror}': {e}"))
        })?;
        if exists.is_some() {
            return Err(ControlError::MirrorExists {
                topic: mirror,
                detail: String::new(),
            });
        }
        let source_configs = ctx
            .source
            .describe_topic_configs(&source)
            .await
            .map_err(|e| {
                unavailable(format!(
                    "cannot read the configs of source topic '{source}': {e}"
                ))
            })?;
        let configs = merge_configs(&source_configs, &req.configs);
        if req.validate_only {
            return Ok(());
        }
        let record = MirrorTopicRecord {
            source_topic: source.clone(),
            source_topic_id: info.topic_id.to_string(),
            state: DesiredState::Active,
            state_time_ms: now_ms(),
            replication_factor: req.replication_factor,
            configs: req.configs.clone(),
            stopped_partitions: Vec::new(),
            origin_cluster: Some(self.origin_of(ctx, &source, &info.topic_id.to_string())),
        };
        let entry = StateEntry::mirror_topic(&ctx.name, &mirror, &record)
            .map_err(|e| unavailable(format!("cannot record mirror topic '{mirror}': {e}")))?;
        ctx.state
            .write(&[entry])
            .await
            .map_err(|e| unavailable(format!("cannot record mirror topic '{mirror}': {e}")))?;
        self.names.insert(source.clone(), mirror.clone());
        self.records.insert(mirror.clone(), record);
        let partitions = info.partitions.len();
        let created = ctx
            .destination
            .create_topic(
                &mirror,
                i32::try_from(partitions).unwrap_or(i32::MAX),
                req.replication_factor.unwrap_or(-1),
                &configs,
            )
            .await;
        let failure = match created {
            Ok(CreateOutcome::Created) => None,
            Ok(CreateOutcome::AlreadyExists) => Some(ControlError::MirrorExists {
                topic: mirror.clone(),
                detail: " (created by someone else meanwhile)".into(),
            }),
            Err(e) if e.is_retriable() => Some(unavailable(format!(
                "cannot create mirror topic '{mirror}': {e}"
            ))),
            Err(e) => Some(ControlError::InvalidConfig {
                key: "mirror topic".into(),
                message: format!("the destination refused to create '{mirror}': {e}"),
            }),
        };
        let failure = match failure {
            Some(f) => Some(f),
            None => match wait_for_topic(&ctx.destination, &mirror, partitions).await {
                Err(e) => Some(unavailable(format!("mirror topic '{mirror}': {e}"))),
                Ok(_) => protect(ctx, &self.config, &mirror).await.err().map(|e| {
                    ControlError::InvalidConfig {
                        key: "linkgate.mirror.write.deny.enable".into(),
                        message: format!(
                            "cannot create the DENY WRITE ACLs of mirror topic '{mirror}' on the destination cluster: {e} (the destination needs an authorizer; or turn the property off)"
                        ),
                    }
                }),
            },
        };
        if let Some(f) = failure {
            self.forget(ctx, &source, &mirror).await;
            if !matches!(f, ControlError::MirrorExists { .. }) {
                // Bindings some principals may have got before CreateAcls
                // failed for another go with the topic.
                unprotect(ctx, &self.config, &mirror).await;
                let _ = ctx.destination.delete_topic(&mirror).await;
            }
            return Err(f);
        }
        tracing::info!(link = %ctx.name, topic = %mirror, source = %source, partitions, "mirror topic created");
        self.pending.retain(|s| *s != source);
        if let Err(e) = setup_topic(ctx, self, &source, None).await {
            tracing::warn!(link = %ctx.name, topic = %mirror, error = %e,
                "mirror topic created; set-up retried by the watcher");
            if !self.pending.contains(&source) {
                self.pending.push(source);
            }
        }
        Ok(())
    }

    /// Drops a mirror this link was creating (record tombstoned).
    async fn forget(&mut self, ctx: &LinkCtx, source: &str, mirror: &str) {
        self.names.remove(source);
        self.records.remove(mirror);
        let tomb = StateEntry {
            key: format!("mt/{}/{mirror}", ctx.name),
            value: None,
        };
        if let Err(e) = ctx.state.write(&[tomb]).await {
            tracing::warn!(link = %ctx.name, topic = mirror, error = %e,
                "cannot remove the record of a mirror topic that was not created");
        }
    }

    /// `alter_mirror` (see [`super::MirrorLink::alter_mirror`]).
    pub(super) async fn alter(
        &mut self,
        ctx: &Arc<LinkCtx>,
        mirror: &str,
        action: MirrorAction,
        validate_only: bool,
    ) -> MirrorActionResult {
        let mut lags = Vec::new();
        let error = self
            .alter_inner(ctx, mirror, action, validate_only, &mut lags)
            .await
            .err();
        if let Some(e) = &error {
            tracing::info!(link = %ctx.name, topic = mirror, action = action.as_str(), validate_only,
                error = %e, "mirror action refused");
        } else if !validate_only {
            tracing::info!(link = %ctx.name, topic = mirror, action = action.as_str(), "mirror action done");
        }
        MirrorActionResult {
            mirror_topic_name: mirror.to_string(),
            error,
            lags,
        }
    }

    async fn alter_inner(
        &mut self,
        ctx: &Arc<LinkCtx>,
        mirror: &str,
        action: MirrorAction,
        validate_only: bool,
        lags: &mut Vec<PartitionLag>,
    ) -> Result<(), ControlError> {
        let Some(record) = self.records.get(mirror).cloned() else {
            return Err(ControlError::MirrorNotFound {
                link: ctx.name.clone(),
                mirror: mirror.to_string(),
            });
        };
        let parts = partitions_of(ctx, mirror);
        let state = topic_state(&record, &parts);
        let invalid = |state: &str| ControlError::InvalidState {
            mirror: mirror.to_string(),
            state: state.to_string(),
            action: action.as_str().to_string(),
        };
        match action {
            MirrorAction::Resume if state == "FAILED" => {
                *lags = status_lags(ctx, mirror);
                self.resume_failed(ctx, mirror, &record, &parts, validate_only)
                    .await
            }
            MirrorAction::Pause | MirrorAction::Resume => {
                *lags = status_lags(ctx, mirror);
                let (target, refused): (DesiredState, &[&str]) = match action {
                    MirrorAction::Pause => (DesiredState::Paused, &["STOPPED", "PENDING_STOPPED"]),
                    _ => (
                        DesiredState::Active,
                        &["STOPPED", "PENDING_STOPPED", "FAILED"],
                    ),
                };
                if refused.contains(&state) {
                    return Err(invalid(state));
                }
                if record.state == target || validate_only {
                    return Ok(());
                }
                self.persist_state(ctx, mirror, target, Vec::new()).await?;
                let at = self
                    .records
                    .get(mirror)
                    .map(|r| super::time_of_ms(r.state_time_ms))
                    .unwrap_or_else(std::time::SystemTime::now);
                let (from, to) = if target == DesiredState::Paused {
                    (None, PartitionState::Paused)
                } else if self.config.paused {
                    return Ok(()); // the link itself is paused
                } else {
                    (Some(PartitionState::Paused), PartitionState::Active)
                };
                for (key, st) in parts {
                    let moves = match &from {
                        Some(f) => st == *f,
                        None => st.is_fetching(),
                    };
                    if moves {
                        ctx.set_state_at(&key, to.clone(), at);
                    }
                }
                Ok(())
            }
            MirrorAction::Promote => {
                if matches!(state, "STOPPED" | "PENDING_STOPPED" | "PENDING") {
                    return Err(invalid(state));
                }
                if state == "FAILED" {
                    return Err(ControlError::InvalidState {
                        mirror: mirror.to_string(),
                        state: "FAILED".into(),
                        action: "promote (use failover)".into(),
                    });
                }
                *lags = fresh_lags(ctx, mirror).await?;
                lag_check(mirror, lags)?;
                if validate_only {
                    return Ok(());
                }
                let previous: Vec<(PartitionKey, PartitionState)> = parts;
                for (key, _) in &previous {
                    ctx.set_state(key, PartitionState::PendingStopped);
                }
                let restore = |ctx: &LinkCtx| {
                    for (key, st) in &previous {
                        if ctx.state_of(key) == Some(PartitionState::PendingStopped) {
                            ctx.set_state(key, st.clone());
                        }
                    }
                };
                if !drain(ctx, mirror).await {
                    restore(ctx);
                    return Err(unavailable(format!(
                        "mirror topic '{mirror}': rounds in flight did not land within {} s; promote not done, retry",
                        PROMOTE_DRAIN_TIMEOUT.as_secs()
                    )));
                }
                if previous
                    .iter()
                    .any(|(k, _)| matches!(ctx.state_of(k), Some(PartitionState::Failed(_))))
                {
                    restore(ctx);
                    return Err(ControlError::InvalidState {
                        mirror: mirror.to_string(),
                        state: "FAILED".into(),
                        action: "promote (use failover)".into(),
                    });
                }
                let again = match fresh_lags(ctx, mirror).await {
                    Ok(l) => l,
                    Err(e) => {
                        restore(ctx);
                        return Err(e);
                    }
                };
                *lags = again;
                if let Err(e) = lag_check(mirror, lags) {
                    restore(ctx);
                    return Err(e);
                }
                if let Err(e) = final_sync_before_stop(ctx, mirror).await {
                    restore(ctx);
                    return Err(e);
                }
                if let Err(e) = self.stop(ctx, mirror).await {
                    restore(ctx);
                    return Err(e);
                }
                Ok(())
            }
            MirrorAction::Failover => {
                if state == "STOPPED" {
                    return Err(invalid(state));
                }
                *lags = match fresh_lags(ctx, mirror).await {
                    Ok(l) => l,
                    Err(_) => status_lags(ctx, mirror),
                };
                if validate_only {
                    return Ok(());
                }
                final_sync_before_failover(ctx, mirror).await;
                self.stop(ctx, mirror).await
            }
        }
    }

    /// Writes a mirror's new desired state (and history) to its record.
    async fn persist_state(
        &mut self,
        ctx: &LinkCtx,
        mirror: &str,
        state: DesiredState,
        history: Vec<StoppedPartition>,
    ) -> Result<(), ControlError> {
        let Some(rec) = self.records.get(mirror) else {
            return Err(ControlError::MirrorNotFound {
                link: ctx.name.clone(),
                mirror: mirror.to_string(),
            });
        };
        let mut rec = rec.clone();
        rec.state = state;
        rec.state_time_ms = now_ms();
        rec.stopped_partitions = history;
        let written = match StateEntry::mirror_topic(&ctx.name, mirror, &rec) {
            Ok(entry) => ctx.state.write(&[entry]).await,
            Err(e) => Err(e),
        };
        written.map_err(|e| {
            unavailable(format!(
                "cannot record the new state of mirror topic '{mirror}': {e}"
            ))
        })?;
        self.records.insert(mirror.to_string(), rec);
        Ok(())
    }

    /// Resume of a `FAILED` mirror: each failed partition whose cause an
    /// operator can remove ([`FailureCause::is_resumable`]: a refusal or a
    /// limit of the destination, a plugin error) is recovered again as at
    /// start (its failure record deleted, the state re-read, checkpoint and
    /// destination log checked); causes that mean the data can no longer
    /// match (foreign writes, a recreated or truncated source) refuse it.
    async fn resume_failed(
        &mut self,
        ctx: &Arc<LinkCtx>,
        mirror: &str,
        record: &MirrorTopicRecord,
        parts: &[(PartitionKey, PartitionState)],
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let mut failed = std::collections::BTreeSet::new();
        for (key, st) in parts {
            if let PartitionState::Failed(cause) = st {
                if !cause.is_resumable() {
                    return Err(ControlError::InvalidState {
                        mirror: mirror.to_string(),
                        state: format!("FAILED ({})", cause.code()),
                        action: MirrorAction::Resume.as_str().to_string(),
                    });
                }
                failed.insert(key.1);
            }
        }
        if validate_only || failed.is_empty() {
            return Ok(());
        }
        let mut entries = Vec::new();
        for p in &failed {
            let id = ctx.id(&(mirror.to_string(), *p));
            entries.push(StateEntry::failure(&id, None).map_err(unavailable)?);
        }
        ctx.state
            .write(&entries)
            .await
            .map_err(|e| unavailable(format!("cannot clear the failure of '{mirror}': {e}")))?;
        let snapshot = ctx
            .state
            .load()
            .await
            .map_err(|e| unavailable(format!("cannot read the link state: {e}")))?;
        self.snapshot = Arc::new(snapshot);
        setup_topic(ctx, self, &record.source_topic, Some(&failed))
            .await
            .map_err(|e| unavailable(format!("cannot recover '{mirror}': {e}")))?;
        tracing::info!(link = %ctx.name, topic = mirror, partitions = ?failed, "failed mirror partitions resumed");
        Ok(())
    }

    /// `STOPPED`: persisted with each partition's history, then the slots
    /// go (no more fetch, produce, recovery or foreign-write check), the
    /// status table shows `STOPPED`, ACLs are removed and the mirror leaves
    /// the registry.
    async fn stop(&mut self, ctx: &LinkCtx, mirror: &str) -> Result<(), ControlError> {
        let history: Vec<StoppedPartition> = ctx
            .slots()
            .iter()
            .filter(|(k, _)| k.0 == mirror)
            .map(|(k, s)| StoppedPartition {
                partition: k.1,
                last_source_fetch_offset: s.source_next,
                destination_log_end_offset: s.destination_next,
            })
            .collect();
        self.persist_state(ctx, mirror, DesiredState::Stopped, history.clone())
            .await?;
        ctx.slots().retain(|k, _| k.0 != mirror);
        {
            let mut st = ctx.status.lock();
            for h in &history {
                if let Some(ps) = st.get_mut(&(mirror.to_string(), h.partition)) {
                    ps.next_fetch_offset = h.last_source_fetch_offset;
                    ps.destination_log_end_offset = h.destination_log_end_offset;
                }
            }
        }
        let at = self
            .records
            .get(mirror)
            .map(|r| super::time_of_ms(r.state_time_ms))
            .unwrap_or_else(std::time::SystemTime::now);
        for h in &history {
            ctx.set_state_at(
                &(mirror.to_string(), h.partition),
                PartitionState::Stopped,
                at,
            );
        }
        if let Some(source) = self.records.get(mirror).map(|r| r.source_topic.clone()) {
            self.pending.retain(|s| *s != source);
        }
        unprotect(ctx, &self.config, mirror).await;
        self.registry.unregister(&ctx.name, mirror);
        Ok(())
    }
}

/// Partition states of a mirror topic, by partition.
fn partitions_of(ctx: &LinkCtx, mirror: &str) -> Vec<(PartitionKey, PartitionState)> {
    ctx.status
        .lock()
        .iter()
        .filter(|(k, _)| k.0 == mirror)
        .map(|(k, s)| (k.clone(), s.state.clone()))
        .collect()
}

/// The topic-level state: `STOPPED` from the record, else the most telling
/// partition state (`PENDING` when no partition is set up yet).
fn topic_state(
    record: &MirrorTopicRecord,
    parts: &[(PartitionKey, PartitionState)],
) -> &'static str {
    if record.state == DesiredState::Stopped {
        return "STOPPED";
    }
    if parts.is_empty() {
        return "PENDING";
    }
    let has = |f: fn(&PartitionState) -> bool| parts.iter().any(|(_, s)| f(s));
    if has(|s| matches!(s, PartitionState::PendingStopped)) {
        "PENDING_STOPPED"
    } else if has(|s| matches!(s, PartitionState::Failed(_))) {
        "FAILED"
    } else if has(|s| matches!(s, PartitionState::Pending)) {
        "PENDING"
    } else if has(|s| matches!(s, PartitionState::SourceUnavailable(_))) {
        "SOURCE_UNAVAILABLE"
    } else if has(|s| matches!(s, PartitionState::Paused)) {
        "PAUSED"
    } else {
        "ACTIVE"
    }
}

/// Lags from what the fetcher last saw (no request): for pause, resume and
/// a failover whose source cannot be asked.
fn status_lags(ctx: &LinkCtx, mirror: &str) -> Vec<PartitionLag> {
    // Lock order of the data plane: status table, then slots.
    let status = ctx.status.lock();
    let slots = ctx.slots();
    status
        .iter()
        .filter(|(k, _)| k.0 == mirror)
        .map(|(k, ps)| {
            let landed = slots
                .get(k)
                .map(|s| s.source_next)
                .unwrap_or(ps.next_fetch_offset);
            PartitionLag {
                partition: k.1,
                lag: ps.last_fetch_high_watermark.saturating_sub(landed).max(0),
                last_source_fetch_offset: landed,
            }
        })
        .collect()
}

/// Lags now: ListOffsets latest on the source against the source offset
/// after the last landed round of each partition of `mirror`. Every
/// partition of the source topic counts (fresh metadata): one the mirror
/// has not set up yet lags by its whole log (log end minus log start).
async fn fresh_lags(ctx: &LinkCtx, mirror: &str) -> Result<Vec<PartitionLag>, ControlError> {
    let mut landed: BTreeMap<i32, (String, i64)> = ctx
        .slots()
        .iter()
        .filter(|(k, _)| k.0 == mirror)
        .map(|(k, s)| (k.1, (s.source_topic.clone(), s.source_next)))
        .collect();
    let unavailable_source = |e: crate::kafka::KafkaError| {
        unavailable(format!(
            "cannot read the source log end offsets of mirror topic '{mirror}': {e}"
        ))
    };
    let source_topic = landed
        .values()
        .next()
        .map(|(t, _)| t.clone())
        .or_else(|| ctx.status.source_topic(mirror));
    if let Some(source_topic) = source_topic {
        ctx.source.invalidate(&source_topic);
        let info = ctx
            .source
            .topic(&source_topic)
            .await
            .map_err(unavailable_source)?;
        let missing: Vec<PartitionKey> = info
            .iter()
            .flat_map(|i| i.partitions.iter())
            .filter(|p| !landed.contains_key(&p.partition))
            .map(|p| (source_topic.clone(), p.partition))
            .collect();
        if !missing.is_empty() {
            let starts = ctx
                .source
                .list_offsets(&missing, OffsetSpec::Earliest)
                .await
                .map_err(unavailable_source)?;
            for k in missing {
                let start = starts.get(&k).copied().unwrap_or(0);
                landed.insert(k.1, (k.0, start));
            }
        }
    }
    let tps: Vec<PartitionKey> = landed.iter().map(|(p, (t, _))| (t.clone(), *p)).collect();
    let ends = ctx
        .source
        .list_offsets(&tps, OffsetSpec::Latest)
        .await
        .map_err(unavailable_source)?;
    Ok(landed
        .into_iter()
        .map(|(p, (t, next))| {
            let end = ends.get(&(t, p)).copied().unwrap_or(next);
            PartitionLag {
                partition: p,
                lag: end.saturating_sub(next).max(0),
                last_source_fetch_offset: next,
            }
        })
        .collect())
}

fn lag_check(mirror: &str, lags: &[PartitionLag]) -> Result<(), ControlError> {
    let lagging: Vec<(i32, i64)> = lags
        .iter()
        .filter(|l| l.lag > 0)
        .map(|l| (l.partition, l.lag))
        .collect();
    if lagging.is_empty() {
        Ok(())
    } else {
        Err(ControlError::LagNotZero {
            mirror: mirror.to_string(),
            lags: lagging,
        })
    }
}

/// Waits (bounded) until no round of `mirror` is in flight; `false` on
/// timeout.
async fn drain(ctx: &LinkCtx, mirror: &str) -> bool {
    let deadline = tokio::time::Instant::now() + PROMOTE_DRAIN_TIMEOUT;
    loop {
        let busy = ctx
            .slots()
            .iter()
            .any(|(k, s)| k.0 == mirror && s.rounds.in_flight() > 0);
        if !busy {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}
