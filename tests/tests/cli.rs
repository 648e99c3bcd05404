//! End-to-end test of the read-only operator CLI (`linkgate link ...`,
//! `linkgate mirror ...`): the built binary queries the REST API of a
//! gateway mirroring between two real brokers; tables and `--output json`
//! are checked, and so are the failures (unknown link, unreachable API).

use std::process::{Command, Output};
use std::time::Duration;

use anyhow::Context;
use linkgate_tests::{free_port, gateway_bin, wait_until, ApiScenario};

const DEADLINE: Duration = Duration::from_secs(120);

/// Result of one CLI run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `linkgate <args>` (without `LINKGATE_API` from the environment
/// unless `env_api` is given). The CLI's own request timeout (10 s) bounds it.
fn cli(args: &[&str], env_api: Option<&str>) -> anyhow::Result<Run> {
    let mut cmd = Command::new(gateway_bin());
    cmd.args(args)
        .env_remove("LINKGATE_API")
        .env("RUST_LOG", "warn");
    if let Some(api) = env_api {
        cmd.env("LINKGATE_API", api);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .with_context(|| format!("running linkgate {args:?}"))?;
    Ok(Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Runs `linkgate <args>`, expects exit code 0 and returns stdout.
fn ok(args: &[&str]) -> anyhow::Result<String> {
    let run = cli(args, None)?;
    anyhow::ensure!(run.code == Some(0), "linkgate {args:?}: {run}");
    Ok(run.stdout)
}

/// The whitespace-separated words of the table row starting with `first`s.
fn row<'a>(table: &'a str, first: &[&str]) -> Option<Vec<&'a str>> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.starts_with(first))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_lists_and_describes_links_and_mirrors() -> anyhow::Result<()> {
    let scenario = ApiScenario::start(DEADLINE).await?;
    let gw = &scenario.gateway;
    let api = scenario.api.as_str();

    // Mirrored: the CLI's JSON shows lag 0 and 10 records fetched per partition.
    let describe_json = ["mirror", "describe", "--link", "east", "--topics", "orders"];
    wait_until("lag 0 through the CLI", DEADLINE, || async {
        let mut args = describe_json.to_vec();
        args.extend(["--api", api, "--output", "json"]);
        ok(&args)
            .ok()
            .and_then(|out| serde_json::from_str::<serde_json::Value>(&out).ok())
            .is_some_and(|j| {
                j[0]["mirror_status"] == "ACTIVE"
                    && j[0]["mirror_lags"].as_array().is_some_and(|l| {
                        l.len() == 2
                            && l.iter()
                                .all(|p| p["lag"] == 0 && p["last_source_fetch_offset"] == 10)
                    })
            })
    })
    .await
    .with_context(|| gw.log_tail(20))?;

    // link list: table (API from the environment) and JSON.
    let run = cli(&["link", "list", "--include-topics"], Some(api))?;
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.starts_with(" Link Name"), "{run}");
    assert_eq!(
        row(&run.stdout, &["east"]),
        Some(vec![
            "east", "src", "dst", "ACTIVE", "NO_ERROR", "1", "orders"
        ]),
        "{run}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["link", "list", "--api", api, "--output", "json"])?)?;
    assert_eq!(json[0]["link_name"], "east", "{json}");
    assert_eq!(json[0]["topic_names"][0], "orders", "{json}");

    // link describe: name=value sensitive=... lines.
    let out = ok(&["link", "describe", "--link", "east", "--api", api])?;
    assert!(
        out.lines()
            .any(|l| l == "mirror.start.offset.spec=earliest sensitive=false"),
        "{out}"
    );

    // link task-list: the four tasks of a link, with a state each.
    let out = ok(&["link", "task-list", "--link", "east", "--api", api])?;
    let tasks = out.lines().skip(1).count();
    assert_eq!(tasks, 4, "{out}");
    assert!(row(&out, &["AutoCreateMirror"]).is_some(), "{out}");

    // mirror list: every link's mirrors, and one link's.
    for args in [
        vec!["mirror", "list", "--api", api],
        vec!["mirror", "list", "--link", "east", "--api", api],
    ] {
        let out = ok(&args)?;
        let r = row(&out, &["orders", "east", "orders", "ACTIVE"]).context(out.clone())?;
        assert_eq!(r.get(5..), Some(&["2", "0"][..]), "{out}");
    }

    // mirror describe: the topic line and one row per partition, lag 0.
    let mut args = describe_json.to_vec();
    args.extend(["--api", api]);
    let out = ok(&args)?;
    assert!(
        out.lines()
            .any(|l| l.starts_with("Topic: orders LinkName: east ") && l.contains("State: ACTIVE")),
        "{out}"
    );
    assert!(
        row(&out, &["Topic", "Partition", "State", "DestLogEndOffset"]).is_some(),
        "{out}"
    );
    for p in ["0", "1"] {
        let r = row(&out, &["orders", p]).context(out.clone())?;
        // Topic Partition State DestLogEndOffset LastFetchSourceHighWatermark
        // Lag TimeSinceLastFetchMs LastSourceFetchOffset
        assert_eq!(r.len(), 8, "{out}");
        assert_eq!(r[2..6], ["ACTIVE", "10", "10", "0"], "{out}");
        assert!(r[6].parse::<u64>().is_ok(), "{out}");
        assert_eq!(r[7], "10", "{out}");
    }

    // Unknown link: exit 1 with the API's message naming it.
    for args in [
        vec!["link", "describe", "--link", "nope", "--api", api],
        vec![
            "mirror", "describe", "--link", "nope", "--topics", "orders", "--api", api,
        ],
    ] {
        let run = cli(&args, None)?;
        assert_eq!(run.code, Some(1), "{run}");
        assert!(run.stderr.contains("'nope'"), "{run}");
        assert!(run.stdout.is_empty(), "{run}");
    }
    // Unknown mirror topic of a known link.
    let run = cli(
        &[
            "mirror", "describe", "--link", "east", "--topics", "ghost", "--api", api,
        ],
        None,
    )?;
    assert_eq!(run.code, Some(1), "{run}");
    assert!(run.stderr.contains("ghost"), "{run}");

    // Unreachable API: exit 1, one line naming the URL.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let run = cli(&["link", "list", "--api", &dead], None)?;
    assert_eq!(run.code, Some(1), "{run}");
    assert!(run.stderr.contains(&dead), "{run}");
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{run}");
    Ok(())
}
