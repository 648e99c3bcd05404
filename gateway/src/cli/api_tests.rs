//! Round trips of every CLI command through the gateway's real REST API:
//! `linkgate::api::serve` on loopback over a [`FakeState`] (fixed links,
//! status tables the test fills) and a recording [`FakeControl`], with the
//! bearer token on. Checks the control-plane requests the API built from
//! what the CLI sent, and the CLI's output and exit result.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use linkgate::api::fake::{ControlCall, FakeControl, FakeLink, FakeState};
use linkgate::control::{
    ControlError, LinkConfigChange, LinkDeletion, MirrorAction, NewLink, NewMirror, PartitionLag,
};
use linkgate::mirror::{LinkStatus, PartitionState, PartitionStatus};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::tests::run_argv;
use super::CliError;

const TOKEN: &str = "api-t0ken";

/// A gateway API on loopback: link `east` (`src` -> `dst`) with mirror
/// topics `orders` (ACTIVE), `paused` (PAUSED) and `done` (STOPPED, with
/// its history), and a recording control plane.
struct Api {
    url: String,
    control: Arc<FakeControl>,
    shutdown: CancellationToken,
    _runtime: tokio::runtime::Runtime,
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn put(status: &LinkStatus, topic: &str, state: PartitionState, offset: i64, hw: i64) {
    status.lock().insert(
        (topic.to_string(), 0),
        PartitionStatus {
            state,
            state_time: at(1_700_000_000_000),
            next_fetch_offset: offset,
            last_fetch_high_watermark: hw,
            last_fetch_time: Some(at(1_700_000_000_000)),
            destination_log_end_offset: offset,
        },
    );
}

impl Api {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let east = FakeLink::new("east", "src", "dst", &[]).expect("fake link");
        put(&east.status, "orders", PartitionState::Active, 10, 10);
        put(&east.status, "paused", PartitionState::Paused, 5, 8);
        put(&east.status, "done", PartitionState::Stopped, 42, 42);
        let (state, control) = FakeState::with_control(vec![east.shared()]);
        let shutdown = CancellationToken::new();
        let server = runtime
            .block_on(linkgate::api::serve(
                "127.0.0.1:0".parse().expect("address"),
                Arc::new(state),
                linkgate::api::ServeOptions::with_token(Some(TOKEN)),
                shutdown.clone(),
            ))
            .expect("serve");
        Self {
            url: format!("http://{}", server.local_addr()),
            control,
            shutdown,
            _runtime: runtime,
        }
    }

    /// Runs `linkgate <args> --api <url>`: the result and stdout.
    fn run(&self, args: &[&str]) -> (Result<(), CliError>, String) {
        let mut argv = vec!["linkgate"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--api", &self.url]);
        run_argv(&argv)
    }

    /// Runs a command with the token that must succeed: its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--token", TOKEN]);
        let (result, out) = self.run(&all);
        result.unwrap_or_else(|e| panic!("{args:?}: {e}"));
        out
    }

    fn last_call(&self) -> Option<ControlCall> {
        self.control.calls().pop()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn link_create_reaches_the_control_plane() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let props = dir.path().join("link.properties");
    std::fs::write(
        &props,
        "bootstrap.servers=127.0.0.1:9092\ncluster.link.prefix=east.\n",
    )
    .expect("write");
    let out = api.ok(&[
        "link",
        "create",
        "--cluster",
        "dst",
        "--link",
        "west",
        "--config-file",
        props.to_str().unwrap_or_default(),
        "--config",
        "auto.create.mirror.topics.enable=true",
        "--topic-filters-json",
        r#"{"topicFilters": []}"#,
        "--exclude-validate-link",
        "--validate-only",
    ]);
    assert!(out.contains("Nothing was changed"), "{out}");
    assert_eq!(
        api.last_call(),
        Some(ControlCall::CreateLink(NewLink {
            link_name: "west".into(),
            destination_cluster: "dst".into(),
            source_cluster_id: None,
            configs: pairs(&[
                ("bootstrap.servers", "127.0.0.1:9092"),
                ("cluster.link.prefix", "east."),
                ("auto.create.mirror.topics.enable", "true"),
                (
                    "auto.create.mirror.topics.filters",
                    r#"{"topicFilters":[]}"#
                ),
            ]),
            validate_only: true,
            validate_link: false,
        }))
    );
    api.ok(&[
        "link",
        "create",
        "--cluster",
        "dst",
        "--link",
        "west",
        "--source-cluster-id",
        "src",
    ]);
    assert!(matches!(
        api.last_call(),
        Some(ControlCall::CreateLink(NewLink { source_cluster_id: Some(ref s), validate_only: false, validate_link: true, .. })) if s == "src"
    ));
}

#[test]
fn mutating_calls_need_the_token_and_reads_do_not() {
    let api = Api::start();
    let (result, out) = api.run(&["link", "delete", "--link", "east"]);
    let err = result.expect_err("no token");
    assert!(matches!(err, CliError::Api { status: 401, .. }), "{err}");
    assert!(out.is_empty(), "{out}");
    let (result, _) = api.run(&["link", "delete", "--link", "east", "--token", "wrong"]);
    let msg = result.expect_err("wrong token").to_string();
    assert!(msg.contains("HTTP 401"), "{msg}");
    assert!(!msg.contains("wrong") && !msg.contains(TOKEN), "{msg}");
    assert!(api.control.calls().is_empty());
    let (result, out) = api.run(&["link", "list", "--include-topics"]);
    result.expect("GET without a token");
    assert!(out.contains("done,orders,paused"), "{out}");
}

#[test]
fn link_alter_and_delete_reach_the_control_plane() {
    let api = Api::start();
    let out = api.ok(&[
        "link",
        "alter",
        "--link",
        "east",
        "--add-config",
        "metadata.max.age.ms=2000,linkgate.renamers=[a,b]",
        "--delete-config",
        "request.timeout.ms",
    ]);
    assert_eq!(out, "Altered the properties of cluster link 'east'.\n");
    assert_eq!(
        api.last_call(),
        Some(ControlCall::AlterLinkConfigs(LinkConfigChange {
            link_name: "east".into(),
            set: pairs(&[
                ("metadata.max.age.ms", "2000"),
                ("linkgate.renamers", "a,b")
            ]),
            reset: vec!["request.timeout.ms".into()],
            validate_only: false,
        }))
    );
    api.ok(&[
        "link",
        "delete",
        "--link",
        "east",
        "--force",
        "--validate-only",
    ]);
    assert_eq!(
        api.last_call(),
        Some(ControlCall::DeleteLink(LinkDeletion {
            link_name: "east".into(),
            force: true,
            validate_only: true,
        }))
    );
}

#[test]
fn control_errors_come_back_as_one_line_with_the_status() {
    let api = Api::start();
    api.control.fail_with(Some(ControlError::HasMirrors {
        link: "east".into(),
        mirrors: vec!["orders".into(), "paused".into()],
    }));
    let (result, out) = api.run(&["link", "delete", "--link", "east", "--token", TOKEN]);
    let err = result.expect_err("has mirrors");
    assert!(out.is_empty(), "{out}");
    assert!(matches!(err, CliError::Api { status: 409, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("Cluster link 'east' still has mirror topics (orders, paused)"),
        "{msg}"
    );
    assert!(msg.contains("(HTTP 409 from http://127.0.0.1:"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn mirror_create_reaches_the_control_plane() {
    let api = Api::start();
    api.ok(&[
        "mirror",
        "create",
        "--link",
        "east",
        "--source-topic",
        "clicks",
        "--replication-factor",
        "2",
        "--config",
        "retention.ms=1000",
        "--validate-only",
    ]);
    assert_eq!(
        api.last_call(),
        Some(ControlCall::CreateMirror(NewMirror {
            link_name: "east".into(),
            source_topic_name: Some("clicks".into()),
            mirror_topic_name: None,
            replication_factor: Some(2),
            configs: pairs(&[("retention.ms", "1000")]),
            validate_only: true,
        }))
    );
}

#[test]
fn mirror_list_hides_stopped_unless_asked() {
    let api = Api::start();
    let names = |out: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(out).expect("JSON");
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["mirror_topic_name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (r, out) = api.run(&["mirror", "list", "--output", "json"]);
    r.expect("list");
    assert_eq!(names(&out), ["orders", "paused"]);
    let (r, out) = api.run(&[
        "mirror",
        "list",
        "--link",
        "east",
        "--include-stopped",
        "--output",
        "json",
    ]);
    r.expect("list");
    assert_eq!(names(&out), ["done", "orders", "paused"]);
    let (r, out) = api.run(&["mirror", "list", "--include-stopped"]);
    r.expect("table");
    let done: Vec<&str> = out
        .lines()
        .find(|l| l.trim_start().starts_with("done"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        done,
        [
            "done",
            "east",
            "done",
            "STOPPED",
            "2023-11-14T22:13:20Z",
            "1",
            "0"
        ]
    );
}

/// `mirror list --mirror-status` against the real API: only the mirrors in
/// that state (any case; STOPPED ones without `--include-stopped`), and a
/// state the API does not know is refused with the API's message.
#[test]
fn mirror_list_by_state() {
    let api = Api::start();
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["mirror", "list", "--output", "json"];
        all.extend_from_slice(args);
        let (r, out) = api.run(&all);
        r.expect("list");
        let v: Value = serde_json::from_str(&out).expect("JSON");
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["mirror_topic_name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&["--mirror-status", "PAUSED"]), ["paused"]);
    assert_eq!(names(&["--mirror-status", "active"]), ["orders"]);
    assert_eq!(names(&["--mirror-status", "STOPPED"]), ["done"]);
    assert!(names(&["--mirror-status", "FAILED"]).is_empty());
    let (r, _) = api.run(&["mirror", "list", "--mirror-status", "SLEEPING"]);
    let err = r.expect_err("unknown state").to_string();
    assert!(
        err.contains("mirror_status") && err.contains("PENDING_MIRROR"),
        "{err}"
    );
}

#[test]
fn mirror_describe_shows_stopped_and_paused_history() {
    let api = Api::start();
    let (r, out) = api.run(&["mirror", "describe", "--topics", "done,paused"]);
    r.expect("describe");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("Topic: done LinkName: east ") && lines[0].contains("State: STOPPED"),
        "{out}"
    );
    assert!(lines[1].contains("State: PAUSED"), "{out}");
    let row = |topic: &str| -> Vec<&str> {
        lines
            .iter()
            .skip(3)
            .find(|l| l.trim_start().starts_with(topic))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default()
    };
    // Topic Partition State DestLogEndOffset LastFetchSourceHighWatermark
    // Lag TimeSinceLastFetchMs LastSourceFetchOffset.
    let done = row("done");
    assert_eq!(
        done.get(..6),
        Some(&["done", "0", "STOPPED", "42", "42", "0"][..]),
        "{out}"
    );
    assert_eq!(done.last(), Some(&"42"), "{out}");
    let paused = row("paused");
    assert_eq!(
        paused.get(..6),
        Some(&["paused", "0", "PAUSED", "5", "8", "3"][..]),
        "{out}"
    );
}

#[test]
fn mirror_actions_reach_the_control_plane_and_fail_per_topic() {
    let api = Api::start();
    api.control.set_lags(
        "orders",
        vec![PartitionLag {
            partition: 0,
            lag: 0,
            last_source_fetch_offset: 10,
        }],
    );
    api.control.fail_topic(
        "paused",
        ControlError::LagNotZero {
            mirror: "paused".into(),
            lags: vec![(0, 3)],
        },
    );
    for (command, action) in [
        ("failover", MirrorAction::Failover),
        ("pause", MirrorAction::Pause),
        ("unpause", MirrorAction::Resume),
    ] {
        let out = api.ok(&["mirror", command, "--topics", "orders", "--link", "east"]);
        let row: Vec<&str> = out
            .lines()
            .nth(1)
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        assert_eq!(row, ["orders", "1", "0", "OK"], "{command}: {out}");
        assert_eq!(
            api.last_call(),
            Some(ControlCall::AlterMirrors {
                link: Some("east".into()),
                mirror_topics: vec!["orders".into()],
                action,
                validate_only: false,
            })
        );
    }
    let (result, out) = api.run(&[
        "mirror",
        "promote",
        "--topics",
        "orders,paused",
        "--validate-only",
        "--token",
        TOKEN,
    ]);
    let err = result.expect_err("paused has lag");
    assert_eq!(
        err.to_string(),
        "promote failed for 1 of 2 mirror topic(s): paused"
    );
    assert!(
        out.contains("ERROR 400: Mirror topic 'paused' has lag 3"),
        "{out}"
    );
    assert!(
        out.ends_with("Validate only: nothing was changed.\n"),
        "{out}"
    );
    assert_eq!(
        api.last_call(),
        Some(ControlCall::AlterMirrors {
            link: None,
            mirror_topics: vec!["orders".into(), "paused".into()],
            action: MirrorAction::Promote,
            validate_only: true,
        })
    );
}
