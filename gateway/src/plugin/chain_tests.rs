//! Tests of chain logic ([`Chains`]) with plain Rust plugins (no wasm):
//! AND / compose / sequence semantics, every `on_error` policy per kind,
//! result validation, and `transform_batch` on real v2 batches of every
//! codec (one contiguous output batch, untouched bytes when nothing
//! changed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kafka_protocol::records::Compression;

use super::chain::Chains;
use super::error::{ChainError, PluginError};
use super::loaded::{Guest, LoadedPlugin};
use super::records::tests::{record, source_batch, CODECS};
use super::records::{decode, to_wit};
use super::types::*;
use crate::kafka;
use crate::kafka::records::batch::{normalize_for_produce, split_batches, RawBatch};

type FilterFn = Box<dyn Fn(&SourceTopic) -> Result<bool, PluginError> + Send + Sync>;
type GroupFn = Box<dyn Fn(&str) -> Result<bool, PluginError> + Send + Sync>;
type RenameFn = Box<dyn Fn(&str) -> Result<String, PluginError> + Send + Sync>;
type AclFn = Box<dyn Fn(&AclBinding) -> Result<Vec<AclBinding>, PluginError> + Send + Sync>;
type TransformFn = Box<dyn Fn(&RecordBatchIn) -> Result<Vec<Verdict>, PluginError> + Send + Sync>;

/// A plugin made of closures; counts calls.
#[derive(Default)]
struct Fake {
    filter: Option<FilterFn>,
    group: Option<GroupFn>,
    rename: Option<RenameFn>,
    acl: Option<AclFn>,
    transform: Option<TransformFn>,
    calls: Arc<AtomicUsize>,
}

fn unsupported() -> PluginError {
    PluginError::Host {
        message: "not implemented by this fake".into(),
    }
}

impl Guest for Fake {
    fn mirror_topic(&self, t: &SourceTopic) -> Result<bool, PluginError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.filter.as_ref().ok_or_else(unsupported)?(t)
    }
    fn sync_group(&self, g: &str) -> Result<bool, PluginError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.group.as_ref().ok_or_else(unsupported)?(g)
    }
    fn rename_topic(&self, n: &str) -> Result<String, PluginError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.rename.as_ref().ok_or_else(unsupported)?(n)
    }
    fn rename_group(&self, n: &str) -> Result<String, PluginError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.rename.as_ref().ok_or_else(unsupported)?(n)
    }
    fn map_acl(&self, b: &AclBinding) -> Result<Vec<AclBinding>, PluginError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.acl.as_ref().ok_or_else(unsupported)?(b)
    }
    fn transform(&self, b: &RecordBatchIn) -> Result<Vec<Verdict>, PluginError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.transform.as_ref().ok_or_else(unsupported)?(b)
    }
}

fn trap(name: &str) -> PluginError {
    PluginError::Trap {
        plugin: name.into(),
        version: "fake".into(),
        message: "boom".into(),
    }
}

fn plugin(name: &str, kind: PluginKind, on_error: OnError, fake: Fake) -> Arc<LoadedPlugin> {
    Arc::new(LoadedPlugin::fake(name, kind, on_error, fake))
}

fn filter(
    name: &str,
    on_error: OnError,
    f: impl Fn(&SourceTopic) -> Result<bool, PluginError> + Send + Sync + 'static,
) -> (Arc<LoadedPlugin>, Arc<AtomicUsize>) {
    let fake = Fake {
        filter: Some(Box::new(f)),
        ..Fake::default()
    };
    let calls = fake.calls.clone();
    (plugin(name, PluginKind::TopicFilter, on_error, fake), calls)
}

fn group_filter(
    name: &str,
    on_error: OnError,
    f: impl Fn(&str) -> Result<bool, PluginError> + Send + Sync + 'static,
) -> (Arc<LoadedPlugin>, Arc<AtomicUsize>) {
    let fake = Fake {
        group: Some(Box::new(f)),
        ..Fake::default()
    };
    let calls = fake.calls.clone();
    (plugin(name, PluginKind::GroupFilter, on_error, fake), calls)
}

fn renamer(
    name: &str,
    on_error: OnError,
    f: impl Fn(&str) -> Result<String, PluginError> + Send + Sync + 'static,
) -> Arc<LoadedPlugin> {
    plugin(
        name,
        PluginKind::Renamer,
        on_error,
        Fake {
            rename: Some(Box::new(f)),
            ..Fake::default()
        },
    )
}

fn mapper(
    name: &str,
    on_error: OnError,
    f: impl Fn(&AclBinding) -> Result<Vec<AclBinding>, PluginError> + Send + Sync + 'static,
) -> Arc<LoadedPlugin> {
    plugin(
        name,
        PluginKind::AclMapper,
        on_error,
        Fake {
            acl: Some(Box::new(f)),
            ..Fake::default()
        },
    )
}

fn transform(
    name: &str,
    on_error: OnError,
    f: impl Fn(&RecordBatchIn) -> Result<Vec<Verdict>, PluginError> + Send + Sync + 'static,
) -> (Arc<LoadedPlugin>, Arc<AtomicUsize>) {
    let fake = Fake {
        transform: Some(Box::new(f)),
        ..Fake::default()
    };
    let calls = fake.calls.clone();
    (
        plugin(name, PluginKind::RecordTransform, on_error, fake),
        calls,
    )
}

fn topic(name: &str) -> SourceTopic {
    SourceTopic {
        name: name.into(),
        partitions: 3,
        configs: vec![],
        internal: false,
    }
}

#[test]
fn topic_filters_and_together_and_stop_at_the_first_no() {
    let (yes, yes_calls) = filter("yes", OnError::Fail, |_| Ok(true));
    let (orders, _) = filter("orders", OnError::Fail, |t| {
        Ok(t.name.starts_with("orders"))
    });
    let (after, after_calls) = filter("after", OnError::Fail, |_| Ok(true));
    let chains = Chains {
        topic_filters: vec![yes, orders, after],
        ..Chains::default()
    };
    assert_eq!(chains.mirror_topic(&topic("orders.eu")), Ok(true));
    assert_eq!(after_calls.load(Ordering::SeqCst), 1);
    assert_eq!(chains.mirror_topic(&topic("payments")), Ok(false));
    assert_eq!(after_calls.load(Ordering::SeqCst), 1, "no call after a no");

    let mut internal = topic("__consumer_offsets");
    internal.internal = true;
    let before = yes_calls.load(Ordering::SeqCst);
    assert_eq!(chains.mirror_topic(&internal), Ok(false));
    assert_eq!(
        yes_calls.load(Ordering::SeqCst),
        before,
        "internal topics never reach plugins"
    );

    assert_eq!(Chains::default().mirror_topic(&topic("x")), Ok(true));
}

#[test]
fn group_filters_and_together_and_stop_at_the_first_no() {
    let (yes, _) = group_filter("yes", OnError::Fail, |_| Ok(true));
    let (app, _) = group_filter("app", OnError::Fail, |g| Ok(g.starts_with("app-")));
    let (after, after_calls) = group_filter("after", OnError::Fail, |g| Ok(g != "app-x"));
    let chains = Chains {
        group_filters: vec![yes, app, after],
        ..Chains::default()
    };
    assert_eq!(chains.sync_group("app-1"), Ok(true));
    assert_eq!(
        chains.sync_group("app-x"),
        Ok(false),
        "the last filter says no"
    );
    assert_eq!(after_calls.load(Ordering::SeqCst), 2);
    assert_eq!(chains.sync_group("billing"), Ok(false));
    assert_eq!(after_calls.load(Ordering::SeqCst), 2, "no call after a no");
    assert_eq!(Chains::default().sync_group("g"), Ok(true));
    // A group filter is not asked about topics, nor a topic filter about
    // groups.
    assert_eq!(chains.mirror_topic(&topic("t")), Ok(true));
}

#[test]
fn a_failing_group_filter_follows_on_error() {
    let chain = |on_error| {
        let (bad, _) = group_filter("bad", on_error, |_| Err(trap("bad")));
        let (no, _) = group_filter("no", OnError::Fail, |_| Ok(false));
        (
            Chains {
                group_filters: vec![bad.clone()],
                ..Chains::default()
            },
            Chains {
                group_filters: vec![bad, no],
                ..Chains::default()
            },
        )
    };
    let e = chain(OnError::Fail).0.sync_group("g").unwrap_err();
    assert!(e.to_string().contains("group-filter chain"), "{e}");
    match e {
        ChainError::Failed {
            plugin,
            kind,
            source,
        } => {
            assert_eq!(plugin, "bad");
            assert_eq!(kind, PluginKind::GroupFilter);
            assert_eq!(source.kind(), "trap");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(chain(OnError::Skip).0.sync_group("g"), Ok(false));
    assert_eq!(chain(OnError::Pass).0.sync_group("g"), Ok(true));
    assert_eq!(
        chain(OnError::Pass).1.sync_group("g"),
        Ok(false),
        "a passed filter leaves the decision to the others"
    );
}

#[test]
fn a_failing_topic_filter_follows_on_error() {
    let chain = |on_error| {
        let (bad, _) = filter("bad", on_error, |_| Err(trap("bad")));
        Chains {
            topic_filters: vec![bad],
            ..Chains::default()
        }
    };
    match chain(OnError::Fail).mirror_topic(&topic("t")) {
        Err(ChainError::Failed {
            plugin,
            kind,
            source,
        }) => {
            assert_eq!(plugin, "bad");
            assert_eq!(kind, PluginKind::TopicFilter);
            assert_eq!(source.kind(), "trap");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(chain(OnError::Skip).mirror_topic(&topic("t")), Ok(false));
    assert_eq!(chain(OnError::Pass).mirror_topic(&topic("t")), Ok(true));
}

#[test]
fn renamers_compose_and_results_are_validated() {
    let chains = Chains {
        renamers: vec![
            renamer("a", OnError::Fail, |n| Ok(format!("a.{n}"))),
            renamer("b", OnError::Fail, |n| Ok(format!("b.{n}"))),
        ],
        ..Chains::default()
    };
    assert_eq!(chains.rename_topic("orders"), Ok(Some("b.a.orders".into())));
    assert_eq!(chains.rename_group("g"), Ok(Some("b.a.g".into())));
    assert_eq!(
        Chains::default().rename_topic("orders"),
        Ok(Some("orders".into()))
    );

    // An invalid topic name is an InvalidResult of the plugin, handled by
    // its on_error like a trap.
    let bad = |on_error| Chains {
        renamers: vec![
            renamer("bad", on_error, |n| Ok(format!("{n} with spaces"))),
            renamer("b", OnError::Fail, |n| Ok(format!("b.{n}"))),
        ],
        ..Chains::default()
    };
    match bad(OnError::Fail).rename_topic("orders") {
        Err(ChainError::Failed { source, .. }) => {
            assert_eq!(source.kind(), "invalid_result");
            assert!(source.to_string().contains("' '"), "{source}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(bad(OnError::Skip).rename_topic("orders"), Ok(None));
    assert_eq!(
        bad(OnError::Pass).rename_topic("orders"),
        Ok(Some("b.orders".into()))
    );
    // Group names only need to be non-empty.
    assert_eq!(
        bad(OnError::Fail).rename_group("g"),
        Ok(Some("b.g with spaces".into()))
    );
    let empty = Chains {
        renamers: vec![renamer("empty", OnError::Skip, |_| Ok(String::new()))],
        ..Chains::default()
    };
    assert_eq!(empty.rename_group("g"), Ok(None));
}

/// A client layer binding, as the ACL sync gives it to the chain.
fn binding(principal: &str) -> kafka::AclBinding {
    kafka::AclBinding {
        resource_type: kafka::ResourceType::Topic,
        resource_name: "orders".into(),
        pattern_type: kafka::PatternType::Literal,
        principal: principal.into(),
        host: "*".into(),
        operation: kafka::AclOperation::Read,
        permission: kafka::AclPermission::Allow,
    }
}

#[test]
fn acl_mappers_run_in_sequence_over_every_binding() {
    let split = mapper("split", OnError::Fail, |b| {
        let mut w = b.clone();
        w.operation = AclOperation::Write;
        Ok(vec![b.clone(), w])
    });
    let rename = mapper("rename", OnError::Fail, |b| {
        let mut m = b.clone();
        m.principal = m.principal.replace("alice", "bob");
        Ok(vec![m])
    });
    let chains = Chains {
        acl_mappers: vec![split, rename],
        ..Chains::default()
    };
    let out = chains.map_acl(&binding("User:alice")).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|b| b.principal == "User:bob"));
    assert_eq!(out[1].operation, kafka::AclOperation::Write);

    let dropper = mapper("drop", OnError::Fail, |_| Ok(vec![]));
    let (calls_guard, calls) = {
        let fake = Fake {
            acl: Some(Box::new(|b: &AclBinding| Ok(vec![b.clone()]))),
            ..Fake::default()
        };
        let c = fake.calls.clone();
        (
            plugin("after", PluginKind::AclMapper, OnError::Fail, fake),
            c,
        )
    };
    let chains = Chains {
        acl_mappers: vec![dropper, calls_guard],
        ..Chains::default()
    };
    assert_eq!(chains.map_acl(&binding("User:a")), Ok(vec![]));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing left to map");
    assert_eq!(
        Chains::default().map_acl(&binding("User:a")),
        Ok(vec![binding("User:a")])
    );
}

#[test]
fn a_failing_acl_mapper_follows_on_error() {
    let chain = |on_error| Chains {
        acl_mappers: vec![mapper("bad", on_error, |_| Err(trap("bad")))],
        ..Chains::default()
    };
    assert!(matches!(
        chain(OnError::Fail).map_acl(&binding("User:a")),
        Err(ChainError::Failed { .. })
    ));
    assert_eq!(chain(OnError::Skip).map_acl(&binding("User:a")), Ok(vec![]));
    assert_eq!(
        chain(OnError::Pass).map_acl(&binding("User:a")),
        Ok(vec![binding("User:a")])
    );
}

/// A source batch of 5 records at offsets 100, 101, 103, 104, 107 (gaps, as
/// after compaction), with a transactional writer and headers.
fn five(codec: Compression) -> RawBatch {
    let recs: Vec<_> = [100i64, 101, 103, 104, 107]
        .iter()
        .enumerate()
        .map(|(i, &o)| record(o, 1_000 + i as i64, &format!("k{o}"), &[("src", "x")]))
        .collect();
    source_batch(&recs, codec)
}

fn keys(batch: &RawBatch) -> Vec<String> {
    decode(batch)
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap_or(b"")).into_owned())
        .collect()
}

fn all_keys(batches: &[RawBatch]) -> Vec<String> {
    batches.iter().flat_map(keys).collect()
}

fn assert_one_contiguous_batch(out: &RawBatch, base: i64, n: usize, codec: Compression) {
    let split = split_batches(&out.bytes).unwrap();
    assert_eq!(split.batches.len(), 1, "exactly one batch");
    assert_eq!(split.partial_trailing_bytes, 0);
    assert_eq!(out.header.base_offset, base);
    assert_eq!(out.header.record_count as usize, n);
    assert_eq!(out.header.last_offset_delta as usize, n - 1);
    assert_eq!(out.header.compression().unwrap(), codec);
    assert_eq!(out.header.producer_id, -1);
    assert_eq!(out.header.base_sequence, -1);
    assert!(!out.header.is_transactional());
    let offsets: Vec<i64> = decode(out).unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (base..base + n as i64).collect::<Vec<_>>());
    // The pipeline's normalisation leaves it as is (no gaps, no LogAppendTime).
    let normalized = normalize_for_produce(out.clone()).unwrap().unwrap();
    assert_eq!(normalized.bytes, out.bytes);
}

#[test]
fn keep_all_returns_the_source_bytes_untouched() {
    let (keep, calls) = transform("keep", OnError::Fail, |b| {
        Ok(vec![Verdict::Keep; b.records.len()])
    });
    let chains = Chains {
        record_transforms: vec![keep],
        ..Chains::default()
    };
    let batch = five(Compression::Lz4);
    let out = chains.transform_batch(&batch, "orders", 2).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!out.reencoded);
    assert_eq!(out.batches.len(), 1);
    assert_eq!(out.batches[0].bytes, batch.bytes);
    assert_eq!(
        (out.records_in, out.records_out, out.dropped, out.replaced),
        (5, 5, 0, 0)
    );
}

#[test]
fn transforms_run_in_sequence_and_output_one_batch_per_source_run_for_every_codec() {
    for codec in CODECS {
        let seen_by_second: Arc<Mutex<Vec<i64>>> = Arc::default();
        let seen = seen_by_second.clone();
        // First: drop offset 101, tag 104 with a header and a new timestamp.
        let (first, _) = transform("first", OnError::Fail, |b| {
            assert_eq!(b.topic, "orders");
            assert_eq!(b.partition, 2);
            Ok(b.records
                .iter()
                .map(|r| match r.offset {
                    101 => Verdict::Drop,
                    104 => {
                        let mut headers = r.headers.clone();
                        headers.push(Header {
                            key: "tag".into(),
                            value: Some(b"1".to_vec()),
                        });
                        Verdict::Replace(Replacement {
                            timestamp: 9_999,
                            key: r.key.clone(),
                            value: Some(b"masked".to_vec()),
                            headers,
                        })
                    }
                    _ => Verdict::Keep,
                })
                .collect())
        });
        // Second: sees what the first left; drops offset 107.
        let (second, _) = transform("second", OnError::Fail, move |b| {
            seen.lock()
                .unwrap()
                .extend(b.records.iter().map(|r| r.offset));
            // The replaced record arrives replaced.
            let r104 = b.records.iter().find(|r| r.offset == 104).unwrap();
            assert_eq!(r104.value.as_deref(), Some(&b"masked"[..]));
            assert_eq!(r104.timestamp, 9_999);
            Ok(b.records
                .iter()
                .map(|r| {
                    if r.offset == 107 {
                        Verdict::Drop
                    } else {
                        Verdict::Keep
                    }
                })
                .collect())
        });
        let chains = Chains {
            record_transforms: vec![first, second],
            ..Chains::default()
        };
        let batch = five(codec);
        let out = chains.transform_batch(&batch, "orders", 2).unwrap();
        assert_eq!(
            *seen_by_second.lock().unwrap(),
            vec![100, 103, 104, 107],
            "{codec:?}"
        );
        assert_eq!(out.records_in, 5);
        assert_eq!(out.records_out, 3);
        assert_eq!(out.dropped, 2);
        assert_eq!(out.replaced, 1);
        assert!(out.reencoded);
        // One batch per run of consecutive source offsets: [100], [103, 104].
        assert_eq!(out.batches.len(), 2, "{codec:?}");
        assert_one_contiguous_batch(&out.batches[0], 100, 1, codec);
        assert_one_contiguous_batch(&out.batches[1], 103, 2, codec);
        assert_eq!(all_keys(&out.batches), vec!["k100", "k103", "k104"]);
        let recs: Vec<KafkaRecord> = out
            .batches
            .iter()
            .flat_map(|b| decode(b).unwrap())
            .map(|r| to_wit(&r))
            .collect();
        assert_eq!(recs[0].timestamp, 1_000);
        assert_eq!(recs[1].timestamp, 1_002);
        assert_eq!(recs[2].timestamp, 9_999);
        assert_eq!(recs[0].value.as_deref(), Some(&b"value-100"[..]));
        assert_eq!(recs[2].value.as_deref(), Some(&b"masked"[..]));
        let tags: Vec<&str> = recs[2].headers.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(tags, vec!["src", "tag"]);
    }
}

#[test]
fn dropping_everything_gives_no_batch_and_stops_the_chain() {
    let (drop_all, _) = transform("drop", OnError::Fail, |b| {
        Ok(vec![Verdict::Drop; b.records.len()])
    });
    let (after, after_calls) = transform("after", OnError::Fail, |b| {
        Ok(vec![Verdict::Keep; b.records.len()])
    });
    let chains = Chains {
        record_transforms: vec![drop_all, after],
        ..Chains::default()
    };
    let out = chains
        .transform_batch(&five(Compression::Gzip), "t", 0)
        .unwrap();
    assert!(out.batches.is_empty());
    assert_eq!((out.records_in, out.records_out, out.dropped), (5, 0, 5));
    assert_eq!(
        after_calls.load(Ordering::SeqCst),
        0,
        "no call with zero records"
    );
}

#[test]
fn a_failing_transform_follows_on_error() {
    let chain = |on_error| {
        let (bad, _) = transform("bad", on_error, |_| Err(trap("bad")));
        let (dropper, _) = transform("drop-first", OnError::Fail, |b| {
            Ok(b.records
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { Verdict::Drop } else { Verdict::Keep })
                .collect())
        });
        Chains {
            record_transforms: vec![bad, dropper],
            ..Chains::default()
        }
    };
    let batch = five(Compression::Snappy);
    match chain(OnError::Fail).transform_batch(&batch, "t", 0) {
        Err(e @ ChainError::Failed { .. }) => {
            assert_eq!(e.kind(), "plugin_trap");
            assert!(!e.is_retriable());
        }
        other => panic!("{other:?}"),
    }
    let skip = chain(OnError::Skip)
        .transform_batch(&batch, "t", 0)
        .unwrap();
    assert!(skip.batches.is_empty());
    assert_eq!(
        (skip.dropped, skip.records_out, skip.plugin_errors),
        (5, 0, 1)
    );
    // pass: the failing transform leaves the records as they are; the next
    // one still runs.
    let pass = chain(OnError::Pass)
        .transform_batch(&batch, "t", 0)
        .unwrap();
    assert_eq!(pass.plugin_errors, 1);
    assert_eq!(pass.records_out, 4);
    assert_eq!(
        all_keys(&pass.batches),
        vec!["k101", "k103", "k104", "k107"]
    );
}

#[test]
fn invalid_verdicts_are_plugin_errors() {
    let wrong_len = |on_error| {
        let (t, _) = transform("short", on_error, |_| Ok(vec![Verdict::Keep]));
        Chains {
            record_transforms: vec![t],
            ..Chains::default()
        }
    };
    match wrong_len(OnError::Fail).transform_batch(&five(Compression::None), "t", 0) {
        Err(ChainError::Failed { source, .. }) => {
            assert_eq!(source.kind(), "invalid_result");
            assert!(
                source.to_string().contains("1 verdicts for a batch of 5"),
                "{source}"
            );
        }
        other => panic!("{other:?}"),
    }
    let pass = wrong_len(OnError::Pass)
        .transform_batch(&five(Compression::None), "t", 0)
        .unwrap();
    assert!(!pass.reencoded);
    assert_eq!(pass.records_out, 5);

    let (bad_ts, _) = transform("ts", OnError::Fail, |b| {
        Ok(b.records
            .iter()
            .map(|_| {
                Verdict::Replace(Replacement {
                    timestamp: -2,
                    key: None,
                    value: None,
                    headers: vec![],
                })
            })
            .collect())
    });
    let chains = Chains {
        record_transforms: vec![bad_ts],
        ..Chains::default()
    };
    match chains.transform_batch(&five(Compression::None), "t", 0) {
        Err(ChainError::Failed { source, .. }) => assert_eq!(source.kind(), "invalid_result"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn control_and_corrupt_batches() {
    let (keep, calls) = transform("keep", OnError::Fail, |b| {
        Ok(vec![Verdict::Keep; b.records.len()])
    });
    let chains = Chains {
        record_transforms: vec![keep],
        ..Chains::default()
    };
    // A commit marker (control batch) is passed through without a call.
    let mut marker = record(10, 5, "", &[]);
    marker.control = true;
    marker.transactional = true;
    marker.key = Some(bytes::Bytes::from_static(&[0, 0, 0, 1]));
    marker.value = Some(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0]));
    let control = source_batch(&[marker], Compression::None);
    assert!(control.header.is_control());
    let out = chains.transform_batch(&control, "t", 0).unwrap();
    assert_eq!(out.batches.len(), 1);
    assert_eq!(out.batches[0].bytes, control.bytes);
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A records section that does not decode: Decode error, no call.
    let good = five(Compression::None);
    let mut bytes = good.bytes.to_vec();
    let last = bytes.len() - 1;
    bytes.truncate(last - 3);
    let len = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let corrupt = RawBatch::parse(bytes::Bytes::from(bytes)).unwrap();
    match chains.transform_batch(&corrupt, "t", 3) {
        Err(e @ ChainError::Decode { .. }) => {
            assert_eq!(e.kind(), "decode");
            assert!(e.to_string().contains("t-3"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // No transforms: the batch as it is.
    let out = Chains::default().transform_batch(&good, "t", 0).unwrap();
    assert_eq!(out.batches.len(), 1);
    assert_eq!(out.batches[0].bytes, good.bytes);
}

#[test]
fn calls_of_another_kind_are_refused() {
    let (f, _) = filter("f", OnError::Fail, |_| Ok(true));
    let e = f.rename_topic("x").unwrap_err();
    assert_eq!(e.kind(), "kind_mismatch");
    assert!(e.to_string().contains("topic-filter"), "{e}");
    let e = f.sync_group("g").unwrap_err();
    assert_eq!(e.kind(), "kind_mismatch");
    assert!(e.to_string().contains("sync-group"), "{e}");
    let (g, calls) = group_filter("g", OnError::Fail, |_| Ok(true));
    assert_eq!(
        g.mirror_topic(&topic("t")).unwrap_err().kind(),
        "kind_mismatch"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "refused before the plugin");
}
