//! A link's task: start-up (connect to both clusters, check the source
//! cluster id, read and claim the link state), then the fetcher and
//! committer tasks and the watcher loop (mirror commands, periodic checks),
//! until the link stops or is fenced.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::LinkConfig;
use crate::kafka::{ClusterClient, ClusterSettings};
use crate::mirror::error::{MirrorError, Side};
use crate::mirror::registry::LinkEntry;
use crate::mirror::status::{LinkHealth, LinkState, LinkStatus};
use crate::mirror::{claim, committer, fetcher, metrics as m};
use crate::plugin::ChainNames;

use super::health::{running_health, running_link_health};
use super::*;

/// Receives the next command; never resolves once every sender is gone.
pub(super) async fn next_command(rx: &mut Option<mpsc::Receiver<Command>>) -> Command {
    if let Some(r) = rx.as_mut() {
        if let Some(c) = r.recv().await {
            return c;
        }
    }
    *rx = None;
    std::future::pending().await
}

/// What a [`MirrorLink`] shares with its running tasks.
pub(super) struct Shared {
    pub(super) handle: Arc<std::sync::OnceLock<LinkHandle>>,
    pub(super) final_sync: handle::FinalSyncSlot,
}

/// What a link checks about its clusters once connected.
pub(super) struct Expect {
    /// Kafka cluster id the source must report.
    pub(super) source_cluster_id: Option<String>,
}

/// `FAILED` health when the source reports another cluster id than
/// expected (`None`: as expected, or not checkable).
pub(super) fn source_id_mismatch(source: &ClusterClient, expect: &Expect) -> Option<LinkHealth> {
    let want = expect.source_cluster_id.as_deref()?;
    let found = source.cluster_id()?;
    (found != want).then(|| LinkHealth {
        state: LinkState::Failed,
        error: "UNKNOWN".to_string(),
        error_message: format!(
            "source cluster `{}` ({}) has cluster id '{found}', the link expects source_cluster_id '{want}'; nothing is mirrored",
            source.name(),
            source.settings().bootstrap_servers.join(",")
        ),
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn run_link(
    config: LinkConfig,
    deps: LinkDeps,
    expect: Expect,
    chain_names: Arc<ArcSwap<ChainNames>>,
    status: LinkStatus,
    commands: mpsc::Receiver<Command>,
    running: Arc<AtomicBool>,
    shared: Shared,
    shutdown: CancellationToken,
) {
    let LinkDeps {
        state_topic,
        plugins,
        registry,
    } = deps;
    let link = config.name.clone();
    let connect = |settings: &ClusterSettings, side: Side| {
        let settings = settings.clone();
        move || {
            let settings = settings.clone();
            async move {
                ClusterClient::connect(settings)
                    .await
                    .map_err(|e| MirrorError::kafka(side, e))
            }
        }
    };
    let Some(source) = retry_until_shutdown(
        &link,
        "connecting to the source cluster",
        &status,
        &shutdown,
        connect(&config.source, Side::Source),
    )
    .await
    else {
        return;
    };
    if let Some(failed) = source_id_mismatch(&source, &expect) {
        set_health(&link, &status, failed);
        shutdown.cancelled().await;
        return;
    }
    let Some(destination) = retry_until_shutdown(
        &link,
        "connecting to the destination cluster",
        &status,
        &shutdown,
        connect(&config.destination, Side::Destination),
    )
    .await
    else {
        return;
    };
    // State, and this instance's claim on the link (fences an earlier one).
    let Some(claimed) =
        retry_until_shutdown(&link, "reading the link state", &status, &shutdown, || {
            claim::claim(&destination, &state_topic, &link)
        })
        .await
    else {
        return;
    };
    let claim::Claimed {
        state,
        snapshot,
        producer,
    } = claimed;
    tracing::info!(link = %link, producer_id = producer.id, producer_epoch = producer.epoch,
        "link state loaded and claimed");
    let ctx = Arc::new(LinkCtx {
        name: link.clone(),
        source,
        destination,
        state: Arc::new(state),
        slots: Mutex::new(BTreeMap::new()),
        status,
        producer,
        stop: shutdown.child_token(),
        plugins,
        chain_names,
        metrics: Arc::new(m::LinkMetrics::new(&link)),
        state_topic,
        final_sync: shared.final_sync,
        max_request_size: config.max_request_size,
    });
    let _ = shared.handle.set(LinkHandle::new(ctx.clone()));
    let config = Arc::new(config);
    // Other links' auto-create scans read it (loop prevention).
    registry.register_link(LinkEntry::new(&config, &ctx.source, &ctx.destination));
    let mut topics = Topics::new(config.clone(), Arc::new(snapshot), registry, &ctx);
    let mut next_scan = tokio::time::Instant::now();
    if config.auto_create {
        topics.scan(&ctx).await;
        next_scan = instant_after(config.metadata_max_age);
    }
    topics.setup_pending(&ctx).await;

    let (tx, rx) = mpsc::channel(4);
    let fetch = tokio::spawn(fetcher::run(ctx.clone(), tx, ctx.stop.clone()));
    let commit = tokio::spawn(committer::run(ctx.clone(), rx, ctx.stop.clone()));
    running.store(true, Ordering::SeqCst);
    // ACTIVE (or PAUSED) once mirror commands are taken.
    set_health(&link, &ctx.status, running_health(&ctx, &config));

    // Watcher: runs mirror commands, retries topics not set up yet,
    // detects recreated source topics and foreign writes on idle partitions.
    let mut commands = Some(commands);
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = ctx.stop.cancelled() => break,
            cmd = next_command(&mut commands) => {
                topics.run_command(&ctx, cmd).await;
                continue;
            }
            _ = tick.tick() => {}
        }
        if config.auto_create && tokio::time::Instant::now() >= next_scan {
            topics.scan(&ctx).await;
            next_scan = instant_after(config.metadata_max_age);
        }
        if !topics.pending.is_empty() {
            topics.setup_pending(&ctx).await;
        }
        let source_trouble = check_topic_ids(&ctx).await;
        check_new_partitions(&ctx, &mut topics).await;
        let destination_trouble = check_idle_writes(&ctx).await;
        let health = running_link_health(&ctx, &config, source_trouble, destination_trouble).await;
        set_health(&link, &ctx.status, health);
    }
    running.store(false, Ordering::SeqCst);
    let _ = fetch.await;
    let _ = commit.await;
    if !shutdown.is_cancelled() {
        // Fenced: keep the link's status (FAILED, FENCED) until it is
        // stopped or changed.
        tracing::error!(link = %link, "link fenced by another gateway instance; not mirroring");
        shutdown.cancelled().await;
    }
    tracing::info!(link = %link, "link stopped");
}
