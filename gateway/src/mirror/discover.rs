//! Auto-create mirror topics (`auto.create.mirror.topics.enable`,
//! `auto.create.mirror.topics.filters`): the periodic scan of the source
//! cluster's topics that adds new matching topics to a link's pending set.

use std::collections::BTreeMap;

use crate::mirror::link::LinkCtx;
use crate::mirror::metrics as m;

/// Auto-create (`auto.create.mirror.topics.enable`): lists the source
/// topics and adds to `pending` every one that is not mirrored yet, not
/// internal (`__`-prefixed or flagged internal, or the state topic), and
/// passes the topic filter chain (with its source configs).
pub(crate) async fn discover(
    ctx: &LinkCtx,
    names: &BTreeMap<String, String>,
    pending: &mut Vec<String>,
) {
    let topics = match ctx.source.topics().await {
        Ok(t) => t,
        Err(e) => {
            m::add_error(&ctx.name, "source");
            tracing::warn!(link = %ctx.name, error = %e, "cannot list source topics for auto-create");
            return;
        }
    };
    let chains = match ctx.plugins.chains_for(&ctx.chain_names.load()) {
        Ok(c) => c,
        Err(e) => {
            m::add_error(&ctx.name, "plugin");
            tracing::warn!(link = %ctx.name, error = %e, "topic filter chain unavailable");
            return;
        }
    };
    for t in topics {
        if t.is_internal
            || t.name.starts_with("__")
            || t.name == ctx.state_topic
            || names.contains_key(&t.name)
            || pending.contains(&t.name)
        {
            continue;
        }
        let configs = ctx
            .source
            .describe_topic_configs(&t.name)
            .await
            .unwrap_or_default();
        let topic = crate::plugin::SourceTopic {
            name: t.name.clone(),
            partitions: t.partitions.len() as u32,
            configs,
            internal: t.is_internal,
        };
        match tokio::task::block_in_place(|| chains.mirror_topic(&topic)) {
            Ok(true) => {
                tracing::info!(link = %ctx.name, topic = %t.name, "auto-create: new mirror topic");
                pending.push(t.name);
            }
            Ok(false) => {}
            Err(e) => {
                m::add_error(&ctx.name, "plugin");
                tracing::warn!(link = %ctx.name, topic = %t.name, error = %e, "topic filter failed; topic not mirrored");
            }
        }
    }
}
