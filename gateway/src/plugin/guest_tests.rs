//! Tests that load the real guest components built from `plugins/` (the
//! bundled plugins and the `plugins/testing` fixtures) through the host:
//! each bundled plugin answers as configured, each bad plugin fails with
//! its own error and leaves the host usable, calls work from every kind of
//! thread, and a hot swap under concurrent calls is atomic.
//!
//! The components must be built first: `tests/bin/build-plugins.sh`
//! (`cargo build --release --target wasm32-wasip2` in `plugins/`). A missing
//! file fails the test with that instruction; nothing is skipped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::records::Compression;

use super::records::tests::{record, source_batch};
use super::records::{decode, to_wit};
use super::*;
use crate::kafka::records::batch::split_batches;

/// Directory of the built plugin components.
fn wasm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target/wasm32-wasip2/release")
}

/// Path of `linkgate_<name>.wasm`.
fn wasm_path(name: &str) -> PathBuf {
    wasm_dir().join(format!("linkgate_{name}.wasm"))
}

/// The bytes of `linkgate_<name>.wasm`; panics with the build instruction
/// if it is missing.
fn wasm(name: &str) -> Bytes {
    let path = wasm_path(name);
    match std::fs::read(&path) {
        Ok(b) => Bytes::from(b),
        Err(e) => panic!(
            "plugin component {} is missing ({e}): build the plugins first with \
             tests/bin/build-plugins.sh (from the repository root)",
            path.display()
        ),
    }
}

fn host() -> PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new().expect("plugin host"))
        .clone()
}

/// Deadline of the plugins of tests that are not about deadlines: the
/// machine's 2 cores are shared with other builds, and an epoch deadline is
/// wall-clock time.
const RELAXED_TIMEOUT: Duration = Duration::from_secs(10);

fn spec(name: &str, kind: PluginKind, file: &str, config: &[(&str, &str)]) -> PluginSpec {
    PluginSpec::new(name, kind, wasm(file))
        .with_config(config.iter().copied())
        .with_timeout(RELAXED_TIMEOUT)
}

fn load(name: &str, kind: PluginKind, file: &str, config: &[(&str, &str)]) -> Arc<LoadedPlugin> {
    host()
        .load_blocking(spec(name, kind, file, config))
        .unwrap_or_else(|e| panic!("loading {file}: {e}"))
}

fn batch_in(n: i64) -> RecordBatchIn {
    RecordBatchIn {
        topic: "orders".into(),
        partition: 0,
        records: (0..n)
            .map(|i| KafkaRecord {
                offset: 10 + i,
                timestamp: 1_000 + i,
                key: Some(format!("k{i}").into_bytes()),
                value: Some(format!("v{i}").into_bytes()),
                headers: vec![],
            })
            .collect(),
    }
}

/// The keep-all fixture answers one call: the host is still usable.
fn assert_host_usable() {
    let keep = load("usable", PluginKind::RecordTransform, "test_keep_all", &[]);
    assert_eq!(
        keep.transform(&batch_in(2)).unwrap(),
        vec![Verdict::Keep, Verdict::Keep]
    );
}

#[test]
fn bundled_topic_filter_and_prefix_answer_as_configured() {
    let filter = load(
        "filter",
        PluginKind::TopicFilter,
        "topic_filter",
        &[(
            "filters",
            r#"{"topicFilters":[{"name":"orders.","patternType":"PREFIXED","filterType":"INCLUDE"}]}"#,
        )],
    );
    assert_eq!(filter.kind(), PluginKind::TopicFilter);
    assert_eq!(filter.version(), content_version(&wasm("topic_filter")));
    let topic = |name: &str| SourceTopic {
        name: name.into(),
        partitions: 1,
        configs: vec![("cleanup.policy".into(), "compact".into())],
        internal: false,
    };
    assert_eq!(filter.mirror_topic(&topic("orders.eu")), Ok(true));
    assert_eq!(filter.mirror_topic(&topic("payments")), Ok(false));

    let prefix = load(
        "prefix",
        PluginKind::Renamer,
        "prefix",
        &[
            ("prefix", "east."),
            ("consumer.group.prefix.enable", "true"),
        ],
    );
    assert_eq!(prefix.rename_topic("orders").as_deref(), Ok("east.orders"));
    assert_eq!(
        prefix.rename_group("billing").as_deref(),
        Ok("east.billing")
    );

    let chains = Chains {
        topic_filters: vec![filter],
        renamers: vec![prefix.clone(), prefix],
        ..Chains::default()
    };
    assert_eq!(chains.mirror_topic(&topic("orders.us")), Ok(true));
    assert_eq!(
        chains.rename_topic("orders.us"),
        Ok(Some("east.east.orders.us".into()))
    );

    // A prefix with a character topic names cannot hold: init refuses it.
    let err = host()
        .load_blocking(spec(
            "prefix",
            PluginKind::Renamer,
            "prefix",
            &[("prefix", "east/")],
        ))
        .unwrap_err();
    assert_eq!(err.kind(), "init", "{err}");
}

/// The bundled group filter (Confluent `groupFilters`) and a user-written
/// group filter (the `group-suffix` fixture) answer through the host, and
/// their chain ANDs them; the fixture's trap on one group fails that call
/// only, the next call answers again (instance rebuilt).
#[test]
fn bundled_and_user_group_filters_answer_and_chain() {
    let json = load(
        "groups",
        PluginKind::GroupFilter,
        "group_filter",
        &[(
            "filters",
            r#"{"groupFilters":[
                {"name":"app-","patternType":"PREFIXED","filterType":"INCLUDE"},
                {"name":"app-skip","patternType":"LITERAL","filterType":"EXCLUDE"}]}"#,
        )],
    );
    assert_eq!(json.kind(), PluginKind::GroupFilter);
    assert_eq!(json.sync_group("app-1"), Ok(true));
    assert_eq!(json.sync_group("app-skip"), Ok(false));
    assert_eq!(json.sync_group("other"), Ok(false));

    let suffix = load(
        "suffix",
        PluginKind::GroupFilter,
        "test_group_suffix",
        &[("suffix", "-dr"), ("trap.group", "app-boom-dr")],
    );
    let chains = Chains {
        group_filters: vec![json, suffix.clone()],
        ..Chains::default()
    };
    assert_eq!(chains.sync_group("app-1-dr"), Ok(true));
    assert_eq!(
        chains.sync_group("app-1"),
        Ok(false),
        "the user filter says no"
    );
    assert_eq!(chains.sync_group("other-dr"), Ok(false), "the JSON says no");
    let err = chains.sync_group("app-boom-dr").unwrap_err();
    assert_eq!(err.kind(), "plugin_trap", "{err}");
    assert!(err.to_string().contains("trap group app-boom-dr"), "{err}");
    assert_eq!(suffix.sync_group("x-dr"), Ok(true), "usable after the trap");

    // A malformed filter is refused by init, naming the key.
    let err = host()
        .load_blocking(spec(
            "groups",
            PluginKind::GroupFilter,
            "group_filter",
            &[("filters", r#"{"groupFilters":[{"name":""}]}"#)],
        ))
        .unwrap_err();
    assert_eq!(err.kind(), "init", "{err}");
    assert!(err.to_string().contains("empty name"), "{err}");

    // A group filter is not a topic filter, and the other way round.
    for (kind, file, other) in [
        (PluginKind::TopicFilter, "test_group_suffix", "group-filter"),
        (PluginKind::GroupFilter, "topic_filter", "topic-filter"),
    ] {
        let err = host()
            .load_blocking(spec("wrong", kind, file, &[("suffix", "x")]))
            .unwrap_err();
        match &err {
            PluginError::WrongWorld {
                expected, found, ..
            } => {
                assert_eq!(*expected, kind.world());
                assert!(found.contains(other), "{found}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn bundled_acl_map_maps_principals_and_resources() {
    let acl = load(
        "acl",
        PluginKind::AclMapper,
        "acl_map",
        &[
            ("principal.User:alice", "User:bob"),
            ("resource.prefix", "east."),
            ("drop.operation", "ALTER"),
        ],
    );
    let binding = AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: "orders".into(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission: AclPermission::Allow,
    };
    let out = acl.map_acl(&binding).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].principal, "User:bob");
    assert_eq!(out[0].resource_name, "east.orders");
    assert_eq!(out[0].operation, AclOperation::Read);
    let alter = AclBinding {
        operation: AclOperation::Alter,
        ..binding
    };
    assert_eq!(acl.map_acl(&alter), Ok(vec![]));
}

#[test]
fn bundled_record_filter_and_json_mask_transform_a_real_batch() {
    let filter = load(
        "drop-internal",
        PluginKind::RecordTransform,
        "record_filter",
        &[("drop.header", "internal")],
    );
    let mask = load(
        "mask",
        PluginKind::RecordTransform,
        "json_mask",
        &[("fields", "ssn")],
    );
    let chains = Chains {
        record_transforms: vec![filter, mask],
        ..Chains::default()
    };
    for codec in [Compression::None, Compression::Zstd, Compression::Lz4] {
        let mut recs = vec![
            record(500, 1, "a", &[]),
            record(501, 2, "b", &[("internal", "yes")]),
            record(502, 3, "c", &[("x", "y")]),
        ];
        recs[2].value = Some(Bytes::from_static(br#"{"name":"ann","ssn":"123"}"#));
        let batch = source_batch(&recs, codec);
        let out = chains.transform_batch(&batch, "orders", 1).unwrap();
        assert_eq!(
            (out.records_in, out.records_out, out.dropped, out.replaced),
            (3, 2, 1, 1)
        );
        // One batch per run of consecutive source offsets: [500], [502].
        assert_eq!(out.batches.len(), 2);
        let mut got: Vec<KafkaRecord> = Vec::new();
        for (b, base) in out.batches.iter().zip([500, 502]) {
            assert_eq!(split_batches(&b.bytes).unwrap().batches.len(), 1);
            assert_eq!(b.header.base_offset, base);
            assert_eq!(b.header.compression().unwrap(), codec);
            got.extend(decode(b).unwrap().iter().map(to_wit));
        }
        assert_eq!(
            got.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![500, 502]
        );
        assert_eq!(got[0].key.as_deref(), Some(&b"a"[..]));
        assert_eq!(got[1].key.as_deref(), Some(&b"c"[..]));
        assert_eq!(
            got[1].value.as_deref(),
            Some(&br#"{"name":"ann","ssn":"***"}"#[..])
        );
        assert_eq!(got[1].headers.len(), 1);
        assert_eq!(got[1].timestamp, 3);
    }
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    let err = host()
        .load_blocking(PluginSpec::new(
            "text",
            PluginKind::Renamer,
            Bytes::from_static(b"#!/bin/sh\necho not a plugin\n"),
        ))
        .unwrap_err();
    assert_eq!(err.kind(), "not_wasm", "{err}");
    assert_host_usable();
}

#[test]
fn a_component_of_another_world_is_refused_naming_both_worlds() {
    let err = host()
        .load_blocking(spec(
            "prefix",
            PluginKind::RecordTransform,
            "prefix",
            &[("prefix", "a.")],
        ))
        .unwrap_err();
    match &err {
        PluginError::WrongWorld {
            expected, found, ..
        } => {
            assert_eq!(*expected, "linkgate:plugin/record-transform@0.1.0");
            assert!(found.contains("renamer"), "{found}");
            assert!(found.contains("rename-topic"), "{found}");
            assert!(found.contains("transform"), "{found}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retriable());
    assert_host_usable();
}

#[test]
fn a_trapping_plugin_fails_its_load_and_each_call_with_its_panic_message() {
    let err = host()
        .load_blocking(spec("trap", PluginKind::RecordTransform, "test_trap", &[]))
        .unwrap_err();
    assert_eq!(err.kind(), "trap", "{err}");
    assert!(
        err.to_string().contains("trapping on a batch of 1 records"),
        "{err}"
    );

    // Past the self-check: every call traps, and the instance is rebuilt
    // after each trap (a poisoned instance would fail differently).
    let trap = host()
        .load_unchecked(spec("trap", PluginKind::RecordTransform, "test_trap", &[]))
        .unwrap();
    for n in [3, 4] {
        let err = trap.transform(&batch_in(n)).unwrap_err();
        assert_eq!(err.kind(), "trap");
        assert!(
            err.to_string()
                .contains(&format!("trapping on a batch of {n} records")),
            "{err}"
        );
    }
    assert_host_usable();
}

#[test]
fn a_spinning_plugin_is_interrupted_at_its_deadline() {
    let timeout = Duration::from_millis(50);
    let err = host()
        .load_blocking(
            spec("spin", PluginKind::RecordTransform, "test_spin", &[]).with_timeout(timeout),
        )
        .unwrap_err();
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(err.is_retriable());

    let spin = host()
        .load_unchecked(
            spec("spin", PluginKind::RecordTransform, "test_spin", &[]).with_timeout(timeout),
        )
        .unwrap();
    let start = Instant::now();
    let err = spin.transform(&batch_in(1)).unwrap_err();
    let took = start.elapsed();
    assert_eq!(
        err,
        PluginError::Timeout {
            plugin: "spin".into(),
            version: spin.version().into(),
            timeout_ms: 50,
        }
    );
    assert!(
        took >= timeout,
        "interrupted after {took:?}, before the deadline"
    );
    // Re-instantiation plus a loaded 2-core machine: generous, still bounded.
    assert!(
        took < Duration::from_secs(2),
        "interrupted only after {took:?}"
    );
    assert_host_usable();
}

#[test]
fn a_memory_hog_hits_its_limit() {
    let limit = 16 << 20;
    let err = host()
        .load_blocking(
            spec("hog", PluginKind::RecordTransform, "test_memory_hog", &[])
                .with_memory_limit(limit),
        )
        .unwrap_err();
    match &err {
        PluginError::OutOfMemory { limit_bytes, .. } => assert_eq!(*limit_bytes, limit),
        other => panic!("{other:?}"),
    }
    let hog = host()
        .load_unchecked(
            spec("hog", PluginKind::RecordTransform, "test_memory_hog", &[])
                .with_memory_limit(limit),
        )
        .unwrap();
    assert_eq!(hog.transform(&batch_in(1)).unwrap_err().kind(), "memory");
    assert_eq!(hog.transform(&batch_in(1)).unwrap_err().kind(), "memory");
    assert_host_usable();
}

#[test]
fn invalid_results_are_refused() {
    let err = host()
        .load_blocking(spec(
            "bad",
            PluginKind::RecordTransform,
            "test_bad_result",
            &[],
        ))
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_result", "{err}");
    assert!(
        err.to_string().contains("2 verdicts for a batch of 1"),
        "{err}"
    );

    let err = host()
        .load_blocking(spec("bad", PluginKind::Renamer, "test_bad_rename", &[]))
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_result", "{err}");
    assert!(err.to_string().contains("bad name!"), "{err}");

    let rename = host()
        .load_unchecked(spec("bad", PluginKind::Renamer, "test_bad_rename", &[]))
        .unwrap();
    assert_eq!(
        rename.rename_topic("orders").unwrap_err().kind(),
        "invalid_result"
    );
    assert_eq!(
        rename.rename_group("g").unwrap_err().kind(),
        "invalid_result"
    );
    assert_host_usable();
}

#[test]
fn an_init_rejection_carries_the_plugins_message() {
    let err = host()
        .load_blocking(spec(
            "rej",
            PluginKind::RecordTransform,
            "test_init_rejects",
            &[("a", "b")],
        ))
        .unwrap_err();
    match &err {
        PluginError::InitRejected {
            plugin, message, ..
        } => {
            assert_eq!(plugin, "rej");
            assert_eq!(
                message,
                "init-rejects: this test plugin refuses every configuration"
            );
        }
        other => panic!("{other:?}"),
    }
    let err = host()
        .load_blocking(spec("tag", PluginKind::RecordTransform, "test_tag", &[]))
        .unwrap_err();
    assert!(
        err.to_string().contains("config key `version` is required"),
        "{err}"
    );
    assert_host_usable();
}

#[test]
fn calls_work_on_every_kind_of_thread() {
    // The trap fixture writes its panic message to stderr, which goes
    // through WASI's tokio-backed sync bindings.
    let trap = host()
        .load_unchecked(spec("trap", PluginKind::RecordTransform, "test_trap", &[]))
        .unwrap();
    let keep = load("keep", PluginKind::RecordTransform, "test_keep_all", &[]);
    for flavor in ["current", "multi"] {
        let rt = match flavor {
            "current" => tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            _ => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap(),
        };
        let (t, k) = (trap.clone(), keep.clone());
        rt.block_on(async move {
            // Directly on the runtime's thread.
            assert_eq!(
                t.transform(&batch_in(1)).unwrap_err().kind(),
                "trap",
                "{flavor}"
            );
            assert_eq!(k.transform(&batch_in(1)).unwrap(), vec![Verdict::Keep]);
            // In a spawned task (a worker thread on the multi-thread runtime).
            let t2 = t.clone();
            let kind = tokio::spawn(async move { t2.transform(&batch_in(2)).unwrap_err().kind() })
                .await
                .unwrap();
            assert_eq!(kind, "trap", "{flavor}");
            // On the blocking pool.
            let t3 = t.clone();
            let kind =
                tokio::task::spawn_blocking(move || t3.transform(&batch_in(2)).unwrap_err().kind())
                    .await
                    .unwrap();
            assert_eq!(kind, "trap", "{flavor}");
        });
    }
}

#[test]
fn async_load_runs_on_the_blocking_pool() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let plugin = rt
        .block_on(host().load(spec(
            "keep",
            PluginKind::RecordTransform,
            "test_keep_all",
            &[],
        )))
        .unwrap();
    assert_eq!(plugin.transform(&batch_in(1)).unwrap(), vec![Verdict::Keep]);
}

#[test]
fn calls_are_counted_in_the_metrics() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let trap = host()
        .load_unchecked(spec(
            "m-trap",
            PluginKind::RecordTransform,
            "test_trap",
            &[],
        ))
        .unwrap();
    let keep = load("m-keep", PluginKind::RecordTransform, "test_keep_all", &[]);
    ::metrics::with_local_recorder(&recorder, || {
        keep.transform(&batch_in(3)).unwrap();
        trap.transform(&batch_in(1)).unwrap_err();
    });
    let text = handle.render();
    let v = keep.version();
    for line in [
        format!("linkgate_plugin_calls_total{{plugin=\"m-keep\",version=\"{v}\"}} 1"),
        format!("linkgate_plugin_records_in_total{{plugin=\"m-keep\",version=\"{v}\"}} 3"),
        format!("linkgate_plugin_records_out_total{{plugin=\"m-keep\",version=\"{v}\"}} 3"),
        format!(
            "linkgate_plugin_errors_total{{plugin=\"m-trap\",version=\"{}\",kind=\"trap\"}} 1",
            trap.version()
        ),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("linkgate_plugin_call_seconds"), "{text}");
}

/// What one transform call of the hot-swap test saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Keep,
    Tag(String),
}

fn classify(verdicts: &[Verdict]) -> Seen {
    let each: Vec<Seen> = verdicts
        .iter()
        .map(|v| match v {
            Verdict::Keep => Seen::Keep,
            Verdict::Replace(r) => {
                let tag = r
                    .headers
                    .iter()
                    .find(|h| h.key == "linkgate-version")
                    .and_then(|h| h.value.clone())
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_else(|| panic!("replacement without the tag header: {r:?}"));
                Seen::Tag(tag)
            }
            Verdict::Drop => panic!("no fixture drops"),
        })
        .collect();
    let first = each[0].clone();
    assert!(
        each.iter().all(|s| *s == first),
        "one call saw two versions: {each:?}"
    );
    first
}

#[test]
fn hot_swap_under_concurrent_calls_is_atomic() {
    let registry = Arc::new(PluginRegistry::new(host()));
    registry
        .reload_blocking(spec(
            "t",
            PluginKind::RecordTransform,
            "test_keep_all",
            &[("version", "1")],
        ))
        .unwrap();
    let keep_version = registry.get("t").unwrap().version().to_string();
    let swapped = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (registry, swapped, calls) = (registry.clone(), swapped.clone(), calls.clone());
            std::thread::spawn(move || {
                let mut seen: Vec<(bool, Seen)> = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut after_swap = 0;
                while after_swap < 20 && Instant::now() < deadline {
                    let started_after_swap = swapped.load(Ordering::SeqCst);
                    let plugin = registry.get("t").unwrap();
                    let verdicts = plugin.transform(&batch_in(3)).unwrap();
                    seen.push((started_after_swap, classify(&verdicts)));
                    calls.fetch_add(1, Ordering::SeqCst);
                    if started_after_swap {
                        after_swap += 1;
                    }
                }
                seen
            })
        })
        .collect();
    // Let the threads make calls on the old version first.
    let deadline = Instant::now() + Duration::from_secs(30);
    while calls.load(Ordering::SeqCst) < 40 {
        assert!(Instant::now() < deadline, "the callers made too few calls");
        std::thread::yield_now();
    }
    registry
        .reload_blocking(spec(
            "t",
            PluginKind::RecordTransform,
            "test_tag",
            &[("version", "2")],
        ))
        .unwrap();
    swapped.store(true, Ordering::SeqCst);
    let results: Vec<Vec<(bool, Seen)>> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    let tag = Seen::Tag("2".into());
    for seen in &results {
        assert!(
            seen.iter().filter(|(after, _)| *after).count() >= 20,
            "too few calls after the swap"
        );
        // Every call started after the swap returned sees the new version.
        assert!(
            seen.iter()
                .filter(|(after, _)| *after)
                .all(|(_, s)| *s == tag),
            "{seen:?}"
        );
        // Per thread: old, old, ..., new, new: never old after new.
        let first_new = seen.iter().position(|(_, s)| *s == tag).unwrap();
        assert!(seen[first_new..].iter().all(|(_, s)| *s == tag), "{seen:?}");
        assert!(
            seen[..first_new].iter().all(|(_, s)| *s == Seen::Keep),
            "{seen:?}"
        );
    }
    let status = registry.status_of("t").unwrap();
    assert_eq!(status.reloads_ok, 2);
    assert_ne!(status.version.as_deref(), Some(keep_version.as_str()));
    assert_eq!(registry.generation(), 2);

    // A failing reload keeps the served version.
    let err = registry
        .reload_blocking(spec(
            "t",
            PluginKind::RecordTransform,
            "test_init_rejects",
            &[],
        ))
        .unwrap_err();
    assert_eq!(err.kind(), "init");
    let plugin = registry.get("t").unwrap();
    assert_eq!(classify(&plugin.transform(&batch_in(1)).unwrap()), tag);
    let status = registry.status_of("t").unwrap();
    assert_eq!(status.reloads_failed, 1);
    assert_eq!(status.last_error_kind, Some("init"));
    assert_eq!(registry.generation(), 2);
}

#[test]
fn the_file_watcher_reloads_a_changed_plugin_and_keeps_it_on_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.wasm");
    std::fs::write(&path, wasm("test_keep_all")).unwrap();
    let registry = Arc::new(PluginRegistry::new(host()));
    let base = PluginSpec::new("t", PluginKind::RecordTransform, Bytes::new())
        .with_config([("version", "w")])
        .with_timeout(RELAXED_TIMEOUT);
    registry
        .reload_blocking(PluginSpec {
            wasm: Bytes::from(std::fs::read(&path).unwrap()),
            ..base.clone()
        })
        .unwrap();
    let watch = registry
        .watch(vec![WatchedPlugin {
            path: path.clone(),
            spec: base,
        }])
        .unwrap();

    // Replace the file the way deploy tools do: write aside, rename over.
    let tag = wasm("test_tag");
    let aside = dir.path().join("t.wasm.tmp");
    std::fs::write(&aside, &tag).unwrap();
    std::fs::rename(&aside, &path).unwrap();
    let want = content_version(&tag);
    let deadline = Instant::now() + Duration::from_secs(20);
    while registry.get("t").unwrap().version() != want {
        assert!(
            Instant::now() < deadline,
            "the watcher did not reload the plugin"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        classify(&registry.get("t").unwrap().transform(&batch_in(1)).unwrap()),
        Seen::Tag("w".into())
    );

    // A broken file: the load fails, the tag version stays, the status says why.
    std::fs::write(&path, b"not wasm").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while registry.status_of("t").unwrap().reloads_failed == 0 {
        assert!(
            Instant::now() < deadline,
            "the watcher did not try the broken file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(registry.get("t").unwrap().version(), want);
    assert_eq!(
        registry.status_of("t").unwrap().last_error_kind,
        Some("not_wasm")
    );
    watch.stop();
}

#[test]
fn instantiation_cost_is_small() {
    // Not a benchmark: shows the per-instantiation cost that a store per
    // call would pay (an instance rebuild after a failed call pays it once).
    let trap = host()
        .load_unchecked(spec("cost", PluginKind::RecordTransform, "test_trap", &[]))
        .unwrap();
    let rounds = 20;
    let start = Instant::now();
    for _ in 0..rounds {
        trap.transform(&batch_in(1)).unwrap_err();
    }
    let per_call = start.elapsed() / rounds;
    eprintln!("trap + re-instantiate + init: {per_call:?} per call");
    assert!(per_call < Duration::from_secs(1), "{per_call:?}");
}
