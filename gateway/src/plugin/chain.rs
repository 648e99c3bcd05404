//! Plugin chains ([`Chains`]): the plugins of each kind a link uses, in
//! order, and how their answers combine, with each plugin's `on_error`
//! policy applied (plugins contract, `notes/plugins-contract.md`):
//! topic filters AND, group filters AND, renamers compose, ACL mappers run in sequence, record
//! transforms run in sequence on a decoded batch
//! ([`Chains::transform_batch`]).
//!
//! A `Chains` value is an immutable snapshot: it holds `Arc`s of the plugin
//! versions it was built from, so work started on it finishes on those
//! versions even if the registry swaps in new ones meanwhile.
//!
//! Failures absorbed by `skip` or `pass` are logged (warn) and counted
//! (`linkgate_plugin_on_error_total`), never silent.

use std::sync::Arc;

use kafka_protocol::records::Record;

use crate::kafka;
use crate::kafka::records::batch::RawBatch;

use super::acl;
use super::error::{ChainError, PluginError};
use super::loaded::LoadedPlugin;
use super::metrics;
use super::records;
use super::types::{KafkaRecord, OnError, RecordBatchIn, SourceTopic, Verdict};

/// The plugins of one link, per kind, in chain order.
#[derive(Debug, Clone, Default)]
pub struct Chains {
    /// Topic filters, combined with AND.
    pub topic_filters: Vec<Arc<LoadedPlugin>>,
    /// Consumer group filters of the offset sync, combined with AND (a link
    /// task setting: built by [`super::PluginRegistry::group_filters_for`],
    /// not part of [`super::ChainNames`]).
    pub group_filters: Vec<Arc<LoadedPlugin>>,
    /// Renamers, composed in order (topic and group names).
    pub renamers: Vec<Arc<LoadedPlugin>>,
    /// ACL mappers, in sequence.
    pub acl_mappers: Vec<Arc<LoadedPlugin>>,
    /// Record transforms, in sequence. Empty: batches pass as bytes and
    /// [`Chains::transform_batch`] need not (and should not) be called.
    pub record_transforms: Vec<Arc<LoadedPlugin>>,
}

/// Result of [`Chains::transform_batch`] for one source batch.
#[derive(Debug, Clone)]
pub struct TransformOutcome {
    /// The batches to produce: the source batch itself (same bytes) when
    /// no record was dropped or replaced; otherwise the records left,
    /// re-encoded as one batch per run of consecutive source offsets (each
    /// at its records' source offsets, source codec, writer fields -1; see
    /// `records` module doc), so that every produced batch starts at the
    /// source offset of its first record and the offset map stays exact
    /// record by record; empty when every record was dropped (or the batch
    /// held none). Take the next fetch offset from the **input** batch
    /// header.
    pub batches: Vec<RawBatch>,
    /// Records in the source batch.
    pub records_in: usize,
    /// Records in `batch` (0 when `None`).
    pub records_out: usize,
    /// `records_in - records_out`: dropped by a transform, or by
    /// `on_error = skip`.
    pub dropped: usize,
    /// Records of `batch` whose content came from a replacement.
    pub replaced: usize,
    /// Failed calls absorbed by `skip` or `pass`.
    pub plugin_errors: usize,
    /// Whether `batch` was re-encoded (false: the source bytes as fetched).
    pub reencoded: bool,
}

impl TransformOutcome {
    /// Every one of the `records_in` records dropped: nothing to produce.
    fn all_dropped(records_in: usize, plugin_errors: usize) -> Self {
        TransformOutcome {
            batches: Vec::new(),
            records_in,
            records_out: 0,
            dropped: records_in,
            replaced: 0,
            plugin_errors,
            reencoded: false,
        }
    }
}

/// Logs and counts a failure absorbed by `skip` / `pass`.
fn absorbed(plugin: &LoadedPlugin, action: OnError, err: &PluginError, what: &str, records: usize) {
    tracing::warn!(
        plugin = %plugin.name(),
        version = %plugin.version(),
        kind = %plugin.kind(),
        on_error = %action,
        error = %err,
        "plugin call failed; {what}"
    );
    metrics::add_on_error(plugin.name(), plugin.version(), action.as_str(), records);
}

fn failed(plugin: &LoadedPlugin, source: PluginError) -> ChainError {
    ChainError::Failed {
        plugin: plugin.name().to_string(),
        kind: plugin.kind(),
        source,
    }
}

impl Chains {
    /// Whether any record transform is on the chain (only then are batches
    /// decoded).
    pub fn has_record_transforms(&self) -> bool {
        !self.record_transforms.is_empty()
    }

    /// Whether to mirror `topic`: every filter must say yes (AND; stops at
    /// the first no). Internal topics are never mirrored (no plugin is
    /// asked). An empty chain says yes: whether auto-creation is on at all
    /// is the link's decision.
    ///
    /// A failing filter: `fail` -> `Err(ChainError::Failed)` (the link
    /// reports it and does not mirror the topic); `skip` -> `Ok(false)`;
    /// `pass` -> the filter counts as yes.
    pub fn mirror_topic(&self, topic: &SourceTopic) -> Result<bool, ChainError> {
        if topic.internal {
            return Ok(false);
        }
        for p in &self.topic_filters {
            match p.mirror_topic(topic) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => match p.on_error() {
                    OnError::Fail => return Err(failed(p, e)),
                    OnError::Skip => {
                        absorbed(p, OnError::Skip, &e, "the topic is not mirrored", 0);
                        return Ok(false);
                    }
                    OnError::Pass => absorbed(p, OnError::Pass, &e, "the filter is ignored", 0),
                },
            }
        }
        Ok(true)
    }

    /// Whether the consumer offset sync takes source group `group`: every
    /// group filter must say yes (AND; stops at the first no). An empty
    /// chain says yes: whether any group is synced at all is the offset
    /// sync's decision (it syncs none without a group filter).
    ///
    /// A failing filter: `fail` -> `Err(ChainError::Failed)` (the offset
    /// sync reports the group `IN_ERROR` and does not sync it); `skip` ->
    /// `Ok(false)`; `pass` -> the filter counts as yes.
    pub fn sync_group(&self, group: &str) -> Result<bool, ChainError> {
        for p in &self.group_filters {
            match p.sync_group(group) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => match p.on_error() {
                    OnError::Fail => return Err(failed(p, e)),
                    OnError::Skip => {
                        absorbed(p, OnError::Skip, &e, "the group is not synced", 0);
                        return Ok(false);
                    }
                    OnError::Pass => absorbed(p, OnError::Pass, &e, "the filter is ignored", 0),
                },
            }
        }
        Ok(true)
    }

    fn rename(
        &self,
        name: &str,
        what: &str,
        call: impl Fn(&LoadedPlugin, &str) -> Result<String, PluginError>,
    ) -> Result<Option<String>, ChainError> {
        let mut current = name.to_string();
        for p in &self.renamers {
            match call(p, &current) {
                Ok(next) => current = next,
                Err(e) => match p.on_error() {
                    OnError::Fail => return Err(failed(p, e)),
                    OnError::Skip => {
                        absorbed(
                            p,
                            OnError::Skip,
                            &e,
                            &format!("the mirror {what} is not created"),
                            0,
                        );
                        return Ok(None);
                    }
                    OnError::Pass => absorbed(
                        p,
                        OnError::Pass,
                        &e,
                        &format!("the {what} name is left unchanged"),
                        0,
                    ),
                },
            }
        }
        Ok(Some(current))
    }

    /// Destination name of a mirror topic: the renamers composed in order
    /// (an empty chain keeps the name). `Ok(None)`: do not create the
    /// mirror topic (a renamer failed with `skip`). A failing renamer with
    /// `fail` -> `Err(ChainError::Failed)` (not created, reported); with
    /// `pass` it leaves the name unchanged.
    pub fn rename_topic(&self, name: &str) -> Result<Option<String>, ChainError> {
        self.rename(name, "topic", |p, n| p.rename_topic(n))
    }

    /// Destination name of a consumer group (offset sync), as
    /// [`Chains::rename_topic`].
    pub fn rename_group(&self, name: &str) -> Result<Option<String>, ChainError> {
        self.rename(name, "group", |p, n| p.rename_group(n))
    }

    /// Destination bindings for one source binding: each mapper gets every
    /// binding the previous one produced (an empty chain returns the
    /// binding). A failing mapper: `fail` -> `Err(ChainError::Failed)`;
    /// `skip` -> `Ok(vec![])` (the source binding is not synced); `pass` ->
    /// the binding it was given passes that mapper unchanged. Mappers see
    /// the binding as the WIT `acl-binding` (`acl`).
    pub fn map_acl(
        &self,
        binding: &kafka::AclBinding,
    ) -> Result<Vec<kafka::AclBinding>, ChainError> {
        let mut current = vec![acl::to_wit(binding)];
        for p in &self.acl_mappers {
            if current.is_empty() {
                break;
            }
            let mut next = Vec::with_capacity(current.len());
            for b in current {
                match p.map_acl(&b) {
                    Ok(mapped) => next.extend(mapped),
                    Err(e) => match p.on_error() {
                        OnError::Fail => return Err(failed(p, e)),
                        OnError::Skip => {
                            absorbed(p, OnError::Skip, &e, "the binding is not synced", 0);
                            return Ok(Vec::new());
                        }
                        OnError::Pass => {
                            absorbed(p, OnError::Pass, &e, "the binding passes unchanged", 0);
                            next.push(b);
                        }
                    },
                }
            }
            current = next;
        }
        Ok(current.into_iter().map(acl::from_wit).collect())
    }

    /// Runs the record transforms on one fetched source batch of
    /// `topic`-`partition` (a data batch as kept by
    /// `kafka::records::batch::filter_committed`; a control batch is returned
    /// unchanged). Callers skip this when [`Chains::has_record_transforms`]
    /// is false: batches are decoded only for record plugins.
    ///
    /// Steps: decode (kafka-protocol, any codec); give the records to each
    /// transform in order, a record dropped by one not given to the later
    /// ones and a replaced record given as replaced; no call once no record
    /// is left; then, if any record was dropped or replaced, encode the
    /// remaining records in the source codec, one batch per run of
    /// consecutive source offsets (see [`TransformOutcome::batches`]).
    ///
    /// A failing transform (trap, timeout, memory, invalid result):
    /// - `fail` -> `Err(ChainError::Failed)`: the pipeline fails the mirror
    ///   partition and waits;
    /// - `skip` -> every record of the batch is dropped (`batches` empty,
    ///   counted in `dropped` and `linkgate_plugin_skipped_records_total`,
    ///   logged);
    /// - `pass` -> that transform leaves the records unchanged (counted,
    ///   logged) and the chain goes on.
    ///
    /// Other errors: [`ChainError::Decode`] (corrupt source records),
    /// [`ChainError::DecompressedTooLarge`] (records section past the
    /// decompression limit), [`ChainError::Encode`] (replacements that do
    /// not fit one batch).
    pub fn transform_batch(
        &self,
        batch: &RawBatch,
        topic: &str,
        partition: i32,
    ) -> Result<TransformOutcome, ChainError> {
        let h = batch.header;
        let count = usize::try_from(h.record_count).unwrap_or(0);
        let unchanged = |plugin_errors: usize| TransformOutcome {
            batches: vec![batch.clone()],
            records_in: count,
            records_out: count,
            dropped: 0,
            replaced: 0,
            plugin_errors,
            reencoded: false,
        };
        if self.record_transforms.is_empty() || h.is_control() {
            return Ok(unchanged(0));
        }
        if h.record_count <= 0 {
            return Ok(TransformOutcome::all_dropped(0, 0));
        }
        let source: Vec<Record> = records::decode(batch).map_err(|e| match e {
            records::DecodeError::TooLarge { codec, limit_bytes } => {
                ChainError::DecompressedTooLarge {
                    topic: topic.to_string(),
                    partition,
                    base_offset: h.base_offset,
                    codec,
                    limit_bytes,
                }
            }
            records::DecodeError::Malformed(message) => ChainError::Decode {
                topic: topic.to_string(),
                partition,
                base_offset: h.base_offset,
                message,
            },
        })?;
        let records_in = source.len();

        // The records still alive, as the next transform sees them, with
        // their index in `source` and whether a replacement made them.
        let mut current = RecordBatchIn {
            topic: topic.to_string(),
            partition,
            records: source.iter().map(records::to_wit).collect(),
        };
        let mut index: Vec<usize> = (0..records_in).collect();
        let mut replaced = vec![false; records_in];
        let mut plugin_errors = 0usize;
        let mut changed = false;

        for p in &self.record_transforms {
            if current.records.is_empty() {
                break;
            }
            let verdicts = match p.transform(&current) {
                Ok(v) => v,
                Err(e) => {
                    plugin_errors += 1;
                    match p.on_error() {
                        OnError::Fail => return Err(failed(p, e)),
                        OnError::Skip => {
                            absorbed(
                                p,
                                OnError::Skip,
                                &e,
                                &format!(
                                    "the {records_in} records of {topic}-{partition} at offset {} are dropped",
                                    h.base_offset
                                ),
                                records_in,
                            );
                            return Ok(TransformOutcome::all_dropped(records_in, plugin_errors));
                        }
                        OnError::Pass => {
                            absorbed(
                                p,
                                OnError::Pass,
                                &e,
                                "the batch passes this transform unchanged",
                                0,
                            );
                            continue;
                        }
                    }
                }
            };
            let taken = std::mem::take(&mut current.records);
            let mut kept = Vec::with_capacity(taken.len());
            let mut kept_index = Vec::with_capacity(taken.len());
            for ((record, idx), verdict) in
                taken.into_iter().zip(index.iter().copied()).zip(verdicts)
            {
                match verdict {
                    Verdict::Keep => {
                        kept.push(record);
                        kept_index.push(idx);
                    }
                    Verdict::Drop => changed = true,
                    Verdict::Replace(r) => {
                        changed = true;
                        if let Some(flag) = replaced.get_mut(idx) {
                            *flag = true;
                        }
                        kept.push(KafkaRecord {
                            offset: record.offset,
                            timestamp: r.timestamp,
                            key: r.key,
                            value: r.value,
                            headers: r.headers,
                        });
                        kept_index.push(idx);
                    }
                }
            }
            current.records = kept;
            index = kept_index;
        }

        if !changed {
            return Ok(unchanged(plugin_errors));
        }
        let records_out = current.records.len();
        let mut replaced_out = 0usize;
        if records_out == 0 {
            return Ok(TransformOutcome::all_dropped(records_in, plugin_errors));
        }
        let mut source: Vec<Option<Record>> = source.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(records_out);
        for (record, idx) in current.records.into_iter().zip(index) {
            if replaced.get(idx).copied().unwrap_or(true) {
                replaced_out += 1;
                out.push(records::from_wit(record));
            } else {
                match source.get_mut(idx).and_then(Option::take) {
                    Some(original) => out.push(original),
                    None => out.push(records::from_wit(record)),
                }
            }
        }
        let codec = h.compression().map_err(|e| ChainError::Decode {
            topic: topic.to_string(),
            partition,
            base_offset: h.base_offset,
            message: e.to_string(),
        })?;
        let mut runs: Vec<Vec<Record>> = Vec::new();
        let mut run: Vec<Record> = Vec::new();
        for record in out {
            if run
                .last()
                .is_some_and(|last| last.offset.checked_add(1) != Some(record.offset))
            {
                runs.push(std::mem::take(&mut run));
            }
            run.push(record);
        }
        runs.push(run);
        let encoded = runs
            .into_iter()
            .map(|run| {
                let base = run.first().map_or(h.base_offset, |r| r.offset);
                records::encode(run, base, h.partition_leader_epoch, codec).map_err(|message| {
                    ChainError::Encode {
                        topic: topic.to_string(),
                        partition,
                        base_offset: base,
                        message,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TransformOutcome {
            batches: encoded,
            records_in,
            records_out,
            dropped: records_in - records_out,
            replaced: replaced_out,
            plugin_errors,
            reencoded: true,
        })
    }
}
