//! End-to-end tests of the CLI commands over real HTTP on loopback: each
//! command is parsed from its argv (as `linkgate link|mirror ...`), run
//! against a capturing axum server, and the request it sent (method, path
//! and query, `Authorization`, JSON body) and its output are checked.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{run_link, run_mirror, CliError, LinkArgs, MirrorArgs};

/// The CLI's command tree, as `linkgate` wires it.
#[derive(Parser)]
struct TestCli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    Link(LinkArgs),
    Mirror(MirrorArgs),
}

/// One request the server received.
#[derive(Debug, Clone)]
struct Captured {
    method: String,
    /// Path and query.
    uri: String,
    authorization: Option<String>,
    body: String,
}

impl Captured {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The answer to a request: status and body.
type Reply = fn(&Captured) -> (u16, Value);

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Captured>>>,
    shutdown: CancellationToken,
    // Keeps the server's worker threads alive.
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    /// A loopback server answering every request with `reply`.
    fn start(reply: Reply) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let state = (requests.clone(), reply);
        let app = Router::new().fallback(handle).with_state(state);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = shutdown.clone();
        runtime.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        Self {
            addr,
            requests,
            shutdown,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Captured> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Runs `linkgate <args>` against this server: the result and stdout.
    fn run(&self, args: &[&str]) -> (Result<(), CliError>, String) {
        let url = self.url();
        let mut argv = vec!["linkgate"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--api", &url]);
        run_argv(&argv)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

type Shared = (Arc<Mutex<Vec<Captured>>>, Reply);

async fn handle(State((requests, reply)): State<Shared>, req: Request) -> Response {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let captured = Captured {
        method,
        uri,
        authorization,
        body,
    };
    let (status, json) = reply(&captured);
    if let Ok(mut r) = requests.lock() {
        r.push(captured);
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NO_CONTENT {
        return status.into_response();
    }
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(json.to_string()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Parses and runs one argv (`["linkgate", ...]`): the result and
/// stdout. A parse error fails the test.
pub(super) fn run_argv(argv: &[&str]) -> (Result<(), CliError>, String) {
    let cli = TestCli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let mut out = Vec::new();
    let result = match &cli.command {
        Top::Link(a) => run_link(a, &mut out),
        Top::Mirror(a) => run_mirror(a, &mut out),
    };
    (result, String::from_utf8_lossy(&out).into_owned())
}

fn no_content(_: &Captured) -> (u16, Value) {
    (204, Value::Null)
}

fn only(server: &Server) -> Captured {
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests[0].clone()
}

const TOKEN: &str = "t0ken-s3cret";

#[test]
fn link_create_sends_every_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let props = dir.path().join("link.properties");
    std::fs::write(
        &props,
        "bootstrap.servers=127.0.0.1:9092\nsasl.jaas.config=Login required password=\"p\";\n",
    )
    .expect("write");
    let filters = dir.path().join("filters.json");
    std::fs::write(
        &filters,
        "{\"topicFilters\": [{\"name\": \"orders\", \"patternType\": \"PREFIXED\", \"filterType\": \"INCLUDE\"}]}\n",
    )
    .expect("write");
    let server = Server::start(no_content);
    let (result, out) = server.run(&[
        "link",
        "create",
        "--cluster",
        "dst",
        "--link",
        "east",
        "--source-cluster-id",
        "src-id",
        "--config-file",
        props.to_str().unwrap_or_default(),
        "--config",
        "cluster.link.prefix=east.,auto.create.mirror.topics.enable=true",
        "--config",
        "linkgate.renamers=[a,b]",
        "--topic-filters-json-file",
        filters.to_str().unwrap_or_default(),
        "--validate-only",
        "--exclude-validate-link",
        "--token",
        TOKEN,
    ]);
    result.expect("create");
    assert!(out.contains("Nothing was changed"), "{out}");
    let req = only(&server);
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.uri,
        "/kafka/v3/clusters/dst/links?link_name=east&validate_only=true&validate_link=false"
    );
    assert_eq!(req.authorization.as_deref(), Some("Bearer t0ken-s3cret"));
    let body = req.json();
    assert_eq!(body["source_cluster_id"], "src-id");
    let configs: Vec<(String, String)> = body["configs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let names: Vec<&str> = configs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "bootstrap.servers",
            "sasl.jaas.config",
            "cluster.link.prefix",
            "auto.create.mirror.topics.enable",
            "linkgate.renamers",
            "auto.create.mirror.topics.filters",
        ]
    );
    assert_eq!(configs[1].1, "Login required password=\"p\";");
    assert_eq!(configs[4].1, "a,b");
    let filters: Value = serde_json::from_str(&configs[5].1).expect("filters JSON");
    assert_eq!(filters["topicFilters"][0]["patternType"], "PREFIXED");
    assert!(!out.contains(TOKEN) && !out.contains("password"), "{out}");
}

/// `--consumer-group-filters-json-file` and `--acl-filters-json-file`
/// (as `kafka-cluster-links --create`) send the files' JSON, compacted, as
/// `consumer.offset.group.filters` and `acl.filters`; a missing file or
/// one that is not JSON fails before any request, naming the file.
#[test]
fn link_create_sends_group_and_acl_filters_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let groups = dir.path().join("groups.json");
    std::fs::write(
        &groups,
        "{\"groupFilters\": [\n  {\"name\": \"*\", \"patternType\": \"LITERAL\", \"filterType\": \"INCLUDE\"}\n]}\n",
    )
    .expect("write");
    let acls = dir.path().join("acls.json");
    std::fs::write(
        &acls,
        "{\"aclFilters\": [{\"resourceFilter\": {\"resourceType\": \"any\", \"patternType\": \"any\"},\n \"accessFilter\": {\"operation\": \"any\", \"permissionType\": \"any\"}}]}",
    )
    .expect("write");
    let server = Server::start(no_content);
    let path = |p: &std::path::Path| p.to_str().unwrap_or_default().to_string();
    let (groups_arg, acls_arg) = (path(&groups), path(&acls));
    let (result, _) = server.run(&[
        "link",
        "create",
        "--cluster",
        "dst",
        "--link",
        "east",
        "--config",
        "bootstrap.servers=127.0.0.1:9092",
        "--consumer-group-filters-json-file",
        &groups_arg,
        "--acl-filters-json-file",
        &acls_arg,
    ]);
    result.expect("create");
    let body = only(&server).json();
    let value = |name: &str| -> Value {
        body["configs"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name))
            .and_then(|c| c["value"].as_str())
            .map(|v| serde_json::from_str(v).expect("JSON value"))
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        value("consumer.offset.group.filters"),
        json!({"groupFilters": [{"name": "*", "patternType": "LITERAL", "filterType": "INCLUDE"}]}),
        "{body}"
    );
    assert_eq!(
        value("acl.filters")["aclFilters"][0]["accessFilter"]["operation"],
        "any",
        "{body}"
    );
    let sent = body["configs"][1]["value"].as_str().unwrap_or_default();
    assert!(!sent.contains('\n'), "compacted: {sent}");

    // The JSON given inline, and the property twice: refused.
    let (result, _) = server.run(&[
        "link",
        "create",
        "--cluster",
        "dst",
        "--link",
        "east",
        "--config",
        "bootstrap.servers=h:1,consumer.offset.group.filters={}",
        "--consumer-group-filters-json",
        "{\"groupFilters\": []}",
    ]);
    let err = result.expect_err("given twice");
    assert!(matches!(err, CliError::Usage(_)), "{err}");

    // A missing file and a file that is not JSON: clear errors, no request.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"aclFilters\": [").expect("write");
    let missing = dir.path().join("missing.json");
    for (flag, file) in [
        ("--acl-filters-json-file", path(&broken)),
        ("--consumer-group-filters-json-file", path(&missing)),
    ] {
        let (result, _) = server.run(&[
            "link",
            "create",
            "--cluster",
            "dst",
            "--link",
            "east",
            "--config",
            "bootstrap.servers=h:1",
            flag,
            &file,
        ]);
        let err = result.expect_err("bad file");
        let text = err.to_string();
        assert!(matches!(err, CliError::Input { .. }), "{flag}: {text}");
        assert!(text.contains(&file), "{flag}: names the file: {text}");
    }
    let (result, _) = server.run(&[
        "link",
        "create",
        "--cluster",
        "dst",
        "--link",
        "east",
        "--config",
        "bootstrap.servers=h:1",
        "--consumer-group-filters-json",
        "{not json",
    ]);
    let err = result.expect_err("bad inline JSON");
    assert!(
        matches!(err, CliError::Usage(_))
            && err.to_string().contains("--consumer-group-filters-json"),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1, "no request after the first");
}

#[test]
fn link_create_without_options_sends_no_query_flags_and_no_token() {
    let server = Server::start(no_content);
    let (result, out) = server.run(&[
        "link",
        "create",
        "--cluster",
        "dst",
        "--link",
        "east",
        "--config",
        "bootstrap.servers=127.0.0.1:9092",
        "--output",
        "json",
    ]);
    result.expect("create");
    let req = only(&server);
    assert_eq!(req.uri, "/kafka/v3/clusters/dst/links?link_name=east");
    assert_eq!(req.authorization, None);
    assert_eq!(
        req.json(),
        json!({"configs": [{"name": "bootstrap.servers", "value": "127.0.0.1:9092"}]})
    );
    let printed: Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(
        printed,
        json!({"link_name": "east", "operation": "create", "validate_only": false})
    );
}

#[test]
fn link_alter_and_delete() {
    let server = Server::start(no_content);
    let (result, out) = server.run(&[
        "link",
        "alter",
        "--link",
        "east",
        "--add-config",
        "cluster.link.paused=true",
        "--delete-config",
        "request.timeout.ms,linkgate.renamers",
        "--token",
        TOKEN,
    ]);
    result.expect("alter");
    assert_eq!(out, "Altered the properties of cluster link 'east'.\n");
    let (result, out) = server.run(&[
        "link",
        "delete",
        "--link",
        "east",
        "--force",
        "--validate-only",
        "--token",
        TOKEN,
    ]);
    result.expect("delete");
    assert!(out.contains("cluster link 'east' can be deleted"), "{out}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(
        requests[0].uri,
        "/kafka/v3/clusters/-/links/east/configs:alter"
    );
    assert_eq!(
        requests[0].json(),
        json!({"data": [
            {"name": "cluster.link.paused", "value": "true", "operation": "SET"},
            {"name": "request.timeout.ms", "operation": "DELETE"},
            {"name": "linkgate.renamers", "operation": "DELETE"},
        ]})
    );
    assert_eq!(requests[1].method, "DELETE");
    assert_eq!(
        requests[1].uri,
        "/kafka/v3/clusters/-/links/east?force=true&validate_only=true"
    );
    assert!(requests
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer t0ken-s3cret")));
}

#[test]
fn link_alter_needs_a_change() {
    let err = TestCli::try_parse_from(["linkgate", "link", "alter", "--link", "east"])
        .err()
        .map(|e| e.kind());
    assert_eq!(err, Some(clap::error::ErrorKind::MissingRequiredArgument));
}

#[test]
fn api_errors_are_one_line_with_status_and_never_show_the_token() {
    fn unauthorized(_: &Captured) -> (u16, Value) {
        (
            401,
            json!({"error_code": 401, "message": "Missing or invalid\nbearer token"}),
        )
    }
    let server = Server::start(unauthorized);
    let (result, _) = server.run(&["link", "delete", "--link", "east", "--token", TOKEN]);
    let err = result.expect_err("401");
    assert!(matches!(err, CliError::Api { status: 401, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("Missing or invalid bearer token (HTTP 401 from http://"),
        "{msg}"
    );
    assert!(!msg.contains('\n') && !msg.contains(TOKEN), "{msg}");
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[test]
fn mirror_create_sends_topic_names_factor_and_configs() {
    let server = Server::start(no_content);
    let (result, out) = server.run(&[
        "mirror",
        "create",
        "--link",
        "east",
        "--mirror-topic",
        "east.orders",
        "--source-topic",
        "orders",
        "--replication-factor",
        "3",
        "--config",
        "retention.ms=1000,cleanup.policy=[compact,delete]",
        "--cluster",
        "dst",
        "--token",
        TOKEN,
    ]);
    result.expect("create");
    assert_eq!(
        out,
        "Created mirror topic 'east.orders' on cluster link 'east'.\n"
    );
    let req = only(&server);
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, "/kafka/v3/clusters/dst/links/east/mirrors");
    assert_eq!(req.authorization.as_deref(), Some("Bearer t0ken-s3cret"));
    assert_eq!(
        req.json(),
        json!({
            "source_topic_name": "orders",
            "mirror_topic_name": "east.orders",
            "replication_factor": 3,
            "configs": [
                {"name": "retention.ms", "value": "1000"},
                {"name": "cleanup.policy", "value": "compact,delete"},
            ]
        })
    );
    // Neither topic named: refused by the parser.
    assert!(TestCli::try_parse_from(["linkgate", "mirror", "create", "--link", "east"]).is_err());
    assert!(TestCli::try_parse_from([
        "linkgate",
        "mirror",
        "create",
        "--link",
        "east",
        "--mirror-topic",
        "t",
        "--replication-factor",
        "0"
    ])
    .is_err());
}

fn mirror_json(link: &str, topic: &str, status: &str) -> Value {
    json!({
        "kind": "KafkaMirrorData",
        "link_name": link,
        "mirror_topic_name": topic,
        "source_topic_name": topic,
        "mirror_status": status,
        "state_time_ms": 1_700_000_000_000_i64,
        "num_partitions": 1,
        "mirror_lags": [{
            "partition": 0, "lag": 0, "last_source_fetch_offset": 42,
            "state": status, "state_time_ms": 1_700_000_000_000_i64,
            "dest_log_end_offset": 42, "last_fetch_source_high_watermark": 42,
            "time_since_last_fetch_ms": 10, "error_code": null, "error_message": null
        }]
    })
}

/// Lists `east/orders` (ACTIVE) and `west/payments` (STOPPED) under any
/// link; a single mirror GET answers that mirror.
fn mirrors_api(req: &Captured) -> (u16, Value) {
    let path = req.uri.split('?').next().unwrap_or_default();
    match path {
        "/kafka/v3/clusters/-/links/-/mirrors" => (
            200,
            json!({"kind": "KafkaMirrorDataList", "metadata": {"self": path}, "data": [
                mirror_json("east", "orders", "ACTIVE"),
                mirror_json("west", "payments", "STOPPED"),
            ]}),
        ),
        "/kafka/v3/clusters/-/links/east/mirrors/orders" => {
            (200, mirror_json("east", "orders", "ACTIVE"))
        }
        "/kafka/v3/clusters/-/links/west/mirrors/payments" => {
            (200, mirror_json("west", "payments", "STOPPED"))
        }
        _ => (
            404,
            json!({"error_code": 404, "message": format!("No endpoint at {path}")}),
        ),
    }
}

#[test]
fn mirror_list_of_every_link_with_stopped_ones() {
    let server = Server::start(mirrors_api);
    let (result, out) = server.run(&["mirror", "list", "--include-stopped", "--token", TOKEN]);
    result.expect("list");
    let req = only(&server);
    assert_eq!(req.method, "GET");
    assert_eq!(
        req.uri,
        "/kafka/v3/clusters/-/links/-/mirrors?include_stopped=true"
    );
    // GETs carry the token too (a gateway with api_token_on_reads needs it).
    assert_eq!(req.authorization.as_deref(), Some("Bearer t0ken-s3cret"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[2].trim_start().starts_with("payments") && lines[2].contains("STOPPED"),
        "{out}"
    );
}

#[test]
fn mirror_list_of_one_link_hides_stopped_by_default() {
    fn empty(_: &Captured) -> (u16, Value) {
        (200, json!({"kind": "KafkaMirrorDataList", "data": []}))
    }
    let server = Server::start(empty);
    let (result, _) = server.run(&["mirror", "list", "--link", "east"]);
    result.expect("list");
    assert_eq!(only(&server).uri, "/kafka/v3/clusters/-/links/east/mirrors");
}

#[test]
fn mirror_list_by_state_sends_the_mirror_status_filter() {
    fn empty(_: &Captured) -> (u16, Value) {
        (200, json!({"kind": "KafkaMirrorDataList", "data": []}))
    }
    let server = Server::start(empty);
    let (result, _) = server.run(&["mirror", "list", "--mirror-status", "PAUSED"]);
    result.expect("list");
    assert_eq!(
        only(&server).uri,
        "/kafka/v3/clusters/-/links/-/mirrors?mirror_status=PAUSED"
    );
    let server = Server::start(empty);
    let (result, _) = server.run(&[
        "mirror",
        "list",
        "--link",
        "east",
        "--include-stopped",
        "--mirror-status",
        "pending_mirror",
    ]);
    result.expect("list");
    assert_eq!(
        only(&server).uri,
        "/kafka/v3/clusters/-/links/east/mirrors?include_stopped=true&mirror_status=pending_mirror"
    );
}

#[test]
fn mirror_describe_finds_the_link_of_each_topic() {
    let server = Server::start(mirrors_api);
    let (result, out) = server.run(&["mirror", "describe", "--topics", "payments"]);
    result.expect("describe");
    let uris: Vec<String> = server.requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(
        uris,
        [
            "/kafka/v3/clusters/-/links/-/mirrors?include_stopped=true",
            "/kafka/v3/clusters/-/links/west/mirrors/payments",
        ]
    );
    assert!(
        out.starts_with("Topic: payments LinkName: west MirrorTopic: payments SourceTopic: payments State: STOPPED StateTime: 2023-11-14T22:13:20Z\n"),
        "{out}"
    );
    assert!(out.contains("LastSourceFetchOffset"), "{out}");

    let (result, _) = server.run(&["mirror", "describe", "--topics", "nope"]);
    let msg = result.expect_err("unknown topic").to_string();
    assert!(msg.contains("'nope' is not a mirror topic"), "{msg}");

    // Every mirror of every link, stopped ones included.
    let (result, out) = server.run(&["mirror", "describe", "--output", "json"]);
    result.expect("describe all");
    let printed: Value = serde_json::from_str(&out).expect("JSON");
    let names: Vec<&str> = printed
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["mirror_topic_name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["orders", "payments"]);
}

#[test]
fn mirror_describe_with_link_and_topics_asks_directly() {
    let server = Server::start(mirrors_api);
    let (result, _) = server.run(&["mirror", "describe", "--link", "east", "--topics", "orders"]);
    result.expect("describe");
    assert_eq!(
        only(&server).uri,
        "/kafka/v3/clusters/-/links/east/mirrors/orders"
    );
}

/// Mirror actions: `bad` fails with lag, every other topic succeeds.
fn actions_api(req: &Captured) -> (u16, Value) {
    let names: Vec<String> = req.json()["mirror_topic_names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let data: Vec<Value> = names
        .iter()
        .map(|n| {
            if n == "bad" {
                json!({"kind": "KafkaAlterMirrorStatusResponseData", "mirror_topic_name": n,
                       "error_code": 400, "error_message": "mirror topic 'bad' has lag 5",
                       "mirror_lags": [{"partition": 0, "lag": 5, "last_source_fetch_offset": 1}]})
            } else {
                json!({"kind": "KafkaAlterMirrorStatusResponseData", "mirror_topic_name": n,
                       "error_code": null, "error_message": null,
                       "mirror_lags": [{"partition": 0, "lag": 0, "last_source_fetch_offset": 42}]})
            }
        })
        .collect();
    (
        200,
        json!({"kind": "KafkaAlterMirrorStatusResponseDataList", "metadata": {"self": "", "next": null}, "data": data}),
    )
}

#[test]
fn mirror_actions_post_to_their_endpoints() {
    let server = Server::start(actions_api);
    for (command, action) in [
        ("promote", "promote"),
        ("failover", "failover"),
        ("pause", "pause"),
        ("unpause", "resume"),
    ] {
        let (result, out) = server.run(&["mirror", command, "--topics", "a,b", "--token", TOKEN]);
        result.unwrap_or_else(|e| panic!("{command}: {e}"));
        let lines: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[1], ["a", "1", "0", "OK"]);
        let req = server.requests().pop().expect("a request");
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.uri,
            format!("/kafka/v3/clusters/-/links/-/mirrors:{action}")
        );
        assert_eq!(req.authorization.as_deref(), Some("Bearer t0ken-s3cret"));
        assert_eq!(req.json(), json!({"mirror_topic_names": ["a", "b"]}));
    }
    let (result, out) = server.run(&[
        "mirror",
        "failover",
        "--topics",
        "a",
        "--link",
        "east",
        "--validate-only",
    ]);
    result.expect("failover");
    assert!(
        out.ends_with("Validate only: nothing was changed.\n"),
        "{out}"
    );
    assert_eq!(
        server.requests().pop().map(|r| r.uri).unwrap_or_default(),
        "/kafka/v3/clusters/-/links/east/mirrors:failover?validate_only=true"
    );
}

#[test]
fn a_failed_topic_is_printed_and_fails_the_command() {
    let server = Server::start(actions_api);
    let (result, out) = server.run(&["mirror", "promote", "--topics", "ok,bad"]);
    let err = result.expect_err("bad has lag");
    assert_eq!(
        err.to_string(),
        "promote failed for 1 of 2 mirror topic(s): bad"
    );
    let bad = out
        .lines()
        .find(|l| l.trim_start().starts_with("bad"))
        .unwrap_or_default();
    assert!(
        bad.contains("ERROR 400: mirror topic 'bad' has lag 5"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("ok") && l.ends_with("OK")),
        "{out}"
    );

    // JSON output: the API's data, and still a failure.
    let (result, out) = server.run(&["mirror", "promote", "--topics", "bad", "--output", "json"]);
    assert!(matches!(result, Err(CliError::TopicsFailed { .. })));
    let printed: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(printed[0]["error_code"], 400);
}

#[test]
fn a_topic_missing_from_the_answer_counts_as_failed() {
    fn nothing(_: &Captured) -> (u16, Value) {
        (
            200,
            json!({"kind": "KafkaAlterMirrorStatusResponseDataList", "data": []}),
        )
    }
    let server = Server::start(nothing);
    let (result, out) = server.run(&["mirror", "pause", "--topics", "x"]);
    assert!(matches!(result, Err(CliError::TopicsFailed { ref failed, .. }) if failed == &["x"]));
    assert!(out.contains("no result"), "{out}");
}
