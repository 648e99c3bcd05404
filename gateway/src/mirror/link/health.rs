//! A link's health: set from errors (`UNAVAILABLE` with the Confluent link
//! error code) and from the running link's checks, logged on change; and
//! the start-up retries that report into it ([`retry_until_shutdown`]).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::LinkConfig;
use crate::kafka::retry::retry_cancellable;
use crate::mirror::error::{MirrorError, Side};
use crate::mirror::metrics as m;
use crate::mirror::status::{LinkHealth, LinkState, LinkStatus, PartitionState};

use super::*;

/// The link's health for an error: `UNAVAILABLE` with the Confluent link
/// error code of a client error (`UNKNOWN` for others).
pub(super) fn unavailable_health(e: &MirrorError) -> LinkHealth {
    let code = match e {
        MirrorError::Kafka { source, .. } => crate::kafka::link_error_code(source),
        _ => "UNKNOWN",
    };
    LinkHealth {
        state: LinkState::Unavailable,
        error: code.to_string(),
        error_message: e.to_string(),
    }
}

/// Sets the link's health, logging only a change (not every retry).
pub(super) fn set_health(link: &str, status: &LinkStatus, health: LinkHealth) {
    let old = status.health();
    if old == health {
        return;
    }
    match health.state {
        LinkState::Active | LinkState::Paused => {
            tracing::info!(link, state = health.state.name(), "link state")
        }
        _ => tracing::warn!(link, state = health.state.name(), error = %health.error,
            "link state: {}", health.error_message),
    }
    status.set_health(health);
}

/// Runs `attempt` until it succeeds, with exponential backoff (200 ms
/// doubling to 10 s, backon), counting each failure and reporting it in the
/// link's health (`UNAVAILABLE`, logged when the error changes); `None`
/// when `shutdown` is cancelled first ([`retry_cancellable`]).
pub(super) async fn retry_until_shutdown<T, F, Fut>(
    link: &str,
    what: &str,
    status: &LinkStatus,
    shutdown: &CancellationToken,
    attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, MirrorError>>,
{
    use backon::BackoffBuilder;
    let delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .without_max_times()
        .build();
    let notify = |e: &MirrorError, delay: Duration| {
        m::add_error(link, e.kind());
        tracing::debug!(link, error = %e, "{what} failed, retrying in {delay:?}");
        let mut health = unavailable_health(e);
        health.error_message = format!("{what} failed: {}", health.error_message);
        set_health(link, status, health);
    };
    // Every error is retried and the backoff never ends: only
    // cancellation stops it.
    retry_cancellable(delays, None, shutdown, |_| true, notify, attempt)
        .await
        .ok()
}

/// The link's health when running: `PAUSED` for a paused link, else
/// `ACTIVE`; `FAILED` when its plugin chains cannot load (checked on every
/// watcher tick, so a fixed plugin brings it back).
pub(super) fn running_health(ctx: &LinkCtx, config: &LinkConfig) -> LinkHealth {
    if let Err(e) = ctx.plugins.chains_for(&ctx.chain_names.load()) {
        return LinkHealth {
            state: LinkState::Failed,
            error: "UNKNOWN".to_string(),
            error_message: format!("the link's plugin chain cannot load: {e}"),
        };
    }
    LinkHealth::configured(config)
}

/// The health of a running link, from [`running_health`] and, when there
/// is a sign a cluster is unreachable (a partition `SOURCE_UNAVAILABLE`, a
/// failed metadata or offsets request this tick, or the link already
/// `UNAVAILABLE`), a reachability probe of that cluster
/// ([`crate::kafka::probe`]: bootstrap and Metadata on new connections):
/// `UNAVAILABLE` with the Confluent link error code and a message naming
/// the cluster and address while it fails.
pub(super) async fn running_link_health(
    ctx: &LinkCtx,
    config: &LinkConfig,
    source_trouble: bool,
    destination_trouble: bool,
) -> LinkHealth {
    let base = running_health(ctx, config);
    if base.state == LinkState::Failed {
        return base;
    }
    let was_down = ctx.status.health().state == LinkState::Unavailable;
    let source_down = source_trouble
        || ctx
            .status
            .lock()
            .values()
            .any(|p| matches!(p.state, PartitionState::SourceUnavailable(_)));
    let probes = [
        (source_down, ctx.source.settings(), Side::Source, "source"),
        (
            destination_trouble,
            ctx.destination.settings(),
            Side::Destination,
            "destination",
        ),
    ];
    for (suspect, settings, side, what) in probes {
        if !(suspect || was_down) {
            continue;
        }
        if let Err(e) = crate::kafka::probe(settings).await {
            let mut h = unavailable_health(&MirrorError::kafka(side, e));
            h.error_message = format!("the {what} cluster cannot be reached: {}", h.error_message);
            return h;
        }
    }
    base
}
