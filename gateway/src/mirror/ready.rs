//! Makes fetched record batches ready to produce, in the fetcher task (so
//! this work for the next round overlaps the produce of the previous one):
//! normalized for a Kafka producer (`batch::normalize_for_produce_runs`:
//! a compacted batch becomes one batch per run of consecutive source
//! offsets, so the offset map stays exact record by record), then
//! through the link's record transform chain, one plugin version snapshot
//! per fetch round.

use crate::kafka::records::batch::{self, RawBatch};
use crate::mirror::link::LinkCtx;
use crate::mirror::metrics as m;
use crate::mirror::status::{FailureCause, PartitionKey};
use crate::plugin::{ChainError, Chains};

/// Makes fetched batches ready to produce: normalized for a Kafka producer
/// (`batch::normalize_for_produce`), then through the record transform
/// chain. Batches left empty are dropped (their source offsets are still
/// mirrored: the offset map maps them to the next record). `None` when the
/// partition failed (corrupt batch, a batch that decompresses past
/// `decompress::MAX_DECOMPRESSED_BATCH_BYTES`, or a transform with
/// `on_error = fail`).
pub(crate) fn produce_ready(
    ctx: &LinkCtx,
    key: &PartitionKey,
    source_topic: &str,
    batches: Vec<RawBatch>,
    chains: Option<&Chains>,
) -> Option<Vec<RawBatch>> {
    let mut out = Vec::with_capacity(batches.len());
    for b in batches
        .into_iter()
        .flat_map(|b| match batch::normalize_for_produce_runs(b) {
            Ok(runs) => runs.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    {
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                m::add_error(&ctx.name, "corrupt_batch");
                ctx.fail(
                    key,
                    FailureCause::Error {
                        code: e.failure_code().into(),
                        message: format!("source topic {source_topic} partition {}: {e}", key.1),
                    },
                );
                return None;
            }
        };
        let Some(chains) = chains else {
            out.push(b);
            continue;
        };
        match chains.transform_batch(&b, source_topic, key.1) {
            Ok(outcome) => out.extend(outcome.batches),
            Err(e) => {
                m::add_error(&ctx.name, "plugin");
                let code = match &e {
                    ChainError::Failed { .. } => "PLUGIN_FAILED",
                    ChainError::DecompressedTooLarge { .. } => batch::DECOMPRESSED_BATCH_TOO_LARGE,
                    _ => "RECORD_TRANSFORM_ERROR",
                };
                ctx.fail(
                    key,
                    FailureCause::Error {
                        code: code.into(),
                        message: e.to_string(),
                    },
                );
                return None;
            }
        }
    }
    Some(out)
}
