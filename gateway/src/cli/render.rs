//! Human-readable output of the CLI commands: aligned tables (`comfy-table`,
//! no borders, one header row) and the `name=value` and `Topic: ...` lines
//! shaped like Confluent's `kafka-configs --describe --cluster-link` and
//! `kafka-mirrors --describe`, the per-topic outcome table of mirror
//! actions, and the one-line confirmations of mutating commands. Pure
//! functions from the API shapes to text.

use comfy_table::{presets, ContentArrangement, Table};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::model::{Link, LinkConfig, Mirror, MirrorOutcome};

/// Shown for an absent value.
const NONE: &str = "-";

/// An aligned table: a header row, then `rows`; lines end without padding.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    let mut out = t.trim_fmt();
    out.push('\n');
    out
}

/// A time in ms since the epoch as RFC 3339 UTC, whole seconds.
fn time_of(ms: Option<i64>) -> String {
    ms.and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| NONE.to_string())
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| NONE.to_string(), |v| v.to_string())
}

/// `link list`: one row per link (name, clusters, state, error, mirror topic
/// count; with `include_topics` the topic names, comma-separated).
pub fn links(links: &[Link], include_topics: bool) -> String {
    let mut header = vec![
        "Link Name",
        "Source Cluster",
        "Destination Cluster",
        "State",
        "Error",
        "Mirror Topics",
    ];
    if include_topics {
        header.push("Topic Names");
    }
    let rows = links
        .iter()
        .map(|l| {
            let mut row = vec![
                l.link_name.clone(),
                l.source_cluster_id.clone(),
                l.destination_cluster_id.clone(),
                l.link_state.clone(),
                l.link_error.clone(),
                l.topic_names.len().to_string(),
            ];
            if include_topics {
                row.push(l.topic_names.join(","));
            }
            row
        })
        .collect();
    table(&header, rows)
}

/// `link describe`: a title line, then `name=value sensitive=bool` per
/// property; a sensitive value is shown as `null` (the API never sends it).
pub fn configs(link: &str, configs: &[LinkConfig]) -> String {
    let mut out = format!("Configs of cluster link {link}:\n");
    for c in configs {
        let value = match (&c.value, c.sensitive) {
            (Some(v), false) => v.as_str(),
            _ => "null",
        };
        out.push_str(&format!("{}={value} sensitive={}\n", c.name, c.sensitive));
    }
    out
}

/// `link task-list`: one row per task (name, state, errors as
/// `CODE: message`, `; `-separated).
pub fn tasks(link: &Link) -> String {
    let rows = link
        .tasks
        .iter()
        .map(|t| {
            let errors = t
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.error_code, e.error_message))
                .collect::<Vec<_>>()
                .join("; ");
            vec![
                t.task_name.clone(),
                t.state.clone(),
                if errors.is_empty() {
                    NONE.to_string()
                } else {
                    errors
                },
            ]
        })
        .collect();
    table(&["Task Name", "State", "Errors"], rows)
}

/// `mirror list`: one row per mirror topic (mirror topic, link, source
/// topic, status, state time, partitions, total lag in records).
pub fn mirrors(mirrors: &[Mirror]) -> String {
    let rows = mirrors
        .iter()
        .map(|m| {
            vec![
                m.mirror_topic_name.clone(),
                m.link_name.clone(),
                m.source_topic_name.clone(),
                m.mirror_status.clone(),
                time_of(m.state_time_ms),
                m.num_partitions.to_string(),
                m.mirror_lags.iter().map(|p| p.lag).sum::<i64>().to_string(),
            ]
        })
        .collect();
    table(
        &[
            "Mirror Topic",
            "Link",
            "Source Topic",
            "Status",
            "State Time",
            "Partitions",
            "Lag",
        ],
        rows,
    )
}

/// `mirror describe` (the shape of `kafka-mirrors --describe`): one
/// `Topic: ... LinkName: ... State: ... StateTime: ...` line per mirror
/// topic, then one table of every partition (Topic, Partition, State,
/// DestLogEndOffset, LastFetchSourceHighWatermark, Lag,
/// TimeSinceLastFetchMs, LastSourceFetchOffset, and Error when a partition
/// has one).
pub fn mirror_partitions(mirrors: &[Mirror]) -> String {
    let mut out = String::new();
    for m in mirrors {
        out.push_str(&format!(
            "Topic: {} LinkName: {} MirrorTopic: {} SourceTopic: {} State: {} StateTime: {}\n",
            m.mirror_topic_name,
            m.link_name,
            m.mirror_topic_name,
            m.source_topic_name,
            m.mirror_status,
            time_of(m.state_time_ms)
        ));
    }
    let with_errors = mirrors
        .iter()
        .flat_map(|m| &m.mirror_lags)
        .any(|p| p.error_code.is_some());
    let mut header = vec![
        "Topic",
        "Partition",
        "State",
        "DestLogEndOffset",
        "LastFetchSourceHighWatermark",
        "Lag",
        "TimeSinceLastFetchMs",
        "LastSourceFetchOffset",
    ];
    if with_errors {
        header.push("Error");
    }
    let rows = mirrors
        .iter()
        .flat_map(|m| m.mirror_lags.iter().map(move |p| (m, p)))
        .map(|(m, p)| {
            let mut row = vec![
                m.mirror_topic_name.clone(),
                p.partition.to_string(),
                opt(p.state.as_deref()),
                opt(p.dest_log_end_offset),
                opt(p.last_fetch_source_high_watermark),
                p.lag.to_string(),
                opt(p.time_since_last_fetch_ms),
                p.last_source_fetch_offset.to_string(),
            ];
            if with_errors {
                row.push(match (&p.error_code, &p.error_message) {
                    (Some(c), Some(msg)) => format!("{c}: {msg}"),
                    (Some(c), None) => c.clone(),
                    _ => NONE.to_string(),
                });
            }
            row
        })
        .collect();
    out.push_str(&table(&header, rows));
    out
}

/// The confirmation of a mutating command: `done` (e.g. `Created cluster
/// link 'east'.`), or with `validate_only` the check that passed
/// (`checked`, e.g. `cluster link 'east' can be created`) and that nothing
/// was changed.
pub fn confirmation(done: &str, checked: &str, validate_only: bool) -> String {
    if validate_only {
        format!("Validation passed: {checked}. Nothing was changed (--validate-only).\n")
    } else {
        format!("{done}\n")
    }
}

/// A mirror action's outcome (promote, failover, pause, unpause): one row
/// per mirror topic (mirror topic, partitions, total lag in records,
/// result `OK` or `ERROR <code>: <message>`), then with `validate_only` a
/// line saying that nothing was changed.
pub fn mirror_outcomes(outcomes: &[MirrorOutcome], validate_only: bool) -> String {
    let rows = outcomes
        .iter()
        .map(|o| {
            let result = if o.failed() {
                let code = o.error_code.map(|c| format!(" {c}")).unwrap_or_default();
                let message = o.error_message.as_deref().unwrap_or("failed");
                format!("ERROR{code}: {message}")
            } else {
                "OK".to_string()
            };
            vec![
                o.mirror_topic_name.clone(),
                o.mirror_lags.len().to_string(),
                o.mirror_lags.iter().map(|p| p.lag).sum::<i64>().to_string(),
                result,
            ]
        })
        .collect();
    let mut out = table(&["Mirror Topic", "Partitions", "Lag", "Result"], rows);
    if validate_only {
        out.push_str("Validate only: nothing was changed.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::model::PartitionLag;

    #[test]
    fn confirmations_say_whether_anything_changed() {
        assert_eq!(
            confirmation(
                "Created cluster link 'east'.",
                "cluster link 'east' can be created",
                false
            ),
            "Created cluster link 'east'.\n"
        );
        let dry = confirmation(
            "Created cluster link 'east'.",
            "cluster link 'east' can be created",
            true,
        );
        assert!(dry.contains("cluster link 'east' can be created"), "{dry}");
        assert!(dry.contains("Nothing was changed"), "{dry}");
        assert!(!dry.contains("Created"), "{dry}");
    }

    #[test]
    fn mirror_outcomes_show_result_partitions_and_lag() {
        let lag = |partition, lag| PartitionLag {
            partition,
            lag,
            ..PartitionLag::default()
        };
        let out = mirror_outcomes(
            &[
                MirrorOutcome {
                    mirror_topic_name: "orders".into(),
                    mirror_lags: vec![lag(0, 0), lag(1, 0)],
                    ..MirrorOutcome::default()
                },
                MirrorOutcome {
                    mirror_topic_name: "payments".into(),
                    error_code: Some(400),
                    error_message: Some("mirror topic 'payments' has lag 7".into()),
                    mirror_lags: vec![lag(0, 3), lag(1, 4)],
                },
            ],
            true,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert_eq!(
            words(lines[0]),
            ["Mirror", "Topic", "Partitions", "Lag", "Result"]
        );
        assert_eq!(words(lines[1]), ["orders", "2", "0", "OK"]);
        assert_eq!(
            words(lines[2]),
            [
                "payments",
                "2",
                "7",
                "ERROR",
                "400:",
                "mirror",
                "topic",
                "'payments'",
                "has",
                "lag",
                "7"
            ]
        );
        assert_eq!(lines[3], "Validate only: nothing was changed.");
        assert!(!mirror_outcomes(&[], false).contains("Validate"));
    }

    #[test]
    fn stopped_mirror_keeps_its_history_in_describe() {
        let m = Mirror {
            link_name: "east".into(),
            mirror_topic_name: "orders".into(),
            source_topic_name: "orders".into(),
            mirror_status: "STOPPED".into(),
            state_time_ms: Some(1_700_000_000_000),
            num_partitions: 1,
            mirror_lags: vec![PartitionLag {
                partition: 0,
                lag: 0,
                last_source_fetch_offset: 42,
                state: Some("STOPPED".into()),
                dest_log_end_offset: Some(42),
                last_fetch_source_high_watermark: Some(42),
                time_since_last_fetch_ms: Some(1234),
                ..PartitionLag::default()
            }],
        };
        let out = mirror_partitions(&[m]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].contains("State: STOPPED StateTime: 2023-11-14T22:13:20Z"),
            "{out}"
        );
        assert_eq!(
            words(lines[2]),
            ["orders", "0", "STOPPED", "42", "42", "0", "1234", "42"]
        );
        let pending = mirror_partitions(&[Mirror {
            mirror_topic_name: "t".into(),
            mirror_status: "PENDING_STOPPED".into(),
            ..Mirror::default()
        }]);
        assert!(pending.contains("State: PENDING_STOPPED "), "{pending}");
    }

    fn words(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn link_table_is_aligned_with_a_header() {
        let l = |name: &str, topics: &[&str]| Link {
            link_name: name.into(),
            source_cluster_id: "src".into(),
            destination_cluster_id: "dst".into(),
            topic_names: topics.iter().map(|t| t.to_string()).collect(),
            link_state: "ACTIVE".into(),
            link_error: "NO_ERROR".into(),
            ..Link::default()
        };
        let out = links(
            &[
                l("east", &["orders", "payments"]),
                l("a-much-longer-name", &[]),
            ],
            true,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(
            words(lines[1]),
            [
                "east",
                "src",
                "dst",
                "ACTIVE",
                "NO_ERROR",
                "2",
                "orders,payments"
            ]
        );
        // Columns line up: "Source Cluster" starts where "src" does.
        let col = |line: &str, s: &str| line.find(s);
        assert_eq!(col(lines[0], "Source Cluster"), col(lines[1], "src"));
        assert_eq!(col(lines[1], "src"), col(lines[2], "src"));
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{out:?}");
    }

    #[test]
    fn sensitive_values_are_null() {
        let out = configs(
            "east",
            &[
                LinkConfig {
                    name: "mirror.start.offset.spec".into(),
                    value: Some("earliest".into()),
                    sensitive: false,
                },
                LinkConfig {
                    name: "sasl.jaas.config".into(),
                    value: Some("leaked".into()),
                    sensitive: true,
                },
            ],
        );
        assert!(
            out.contains("mirror.start.offset.spec=earliest sensitive=false\n"),
            "{out}"
        );
        assert!(
            out.contains("sasl.jaas.config=null sensitive=true\n"),
            "{out}"
        );
        assert!(!out.contains("leaked"));
    }

    #[test]
    fn mirror_describe_has_one_row_per_partition_and_errors_when_any() {
        let m = Mirror {
            link_name: "east".into(),
            mirror_topic_name: "orders".into(),
            source_topic_name: "orders".into(),
            mirror_status: "FAILED".into(),
            state_time_ms: Some(1_700_000_000_123),
            num_partitions: 2,
            mirror_lags: vec![
                PartitionLag {
                    partition: 0,
                    lag: 0,
                    last_source_fetch_offset: 10,
                    state: Some("ACTIVE".into()),
                    dest_log_end_offset: Some(10),
                    last_fetch_source_high_watermark: Some(10),
                    time_since_last_fetch_ms: Some(5),
                    ..PartitionLag::default()
                },
                PartitionLag {
                    partition: 1,
                    lag: 3,
                    state: Some("FAILED".into()),
                    error_code: Some("SOURCE_LOG_TRUNCATED".into()),
                    error_message: Some("gone".into()),
                    ..PartitionLag::default()
                },
            ],
        };
        let out = mirror_partitions(&[m]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(
            lines[0].starts_with("Topic: orders LinkName: east "),
            "{out}"
        );
        assert!(
            lines[0].ends_with("StateTime: 2023-11-14T22:13:20Z"),
            "{out}"
        );
        assert_eq!(words(lines[1]).last(), Some(&"Error"));
        assert_eq!(
            words(lines[2]),
            ["orders", "0", "ACTIVE", "10", "10", "0", "5", "10", "-"]
        );
        assert_eq!(
            words(lines[3]),
            [
                "orders",
                "1",
                "FAILED",
                "-",
                "-",
                "3",
                "-",
                "0",
                "SOURCE_LOG_TRUNCATED:",
                "gone"
            ]
        );
    }

    #[test]
    fn mirror_list_sums_lag() {
        let m = Mirror {
            link_name: "east".into(),
            mirror_topic_name: "orders".into(),
            source_topic_name: "orders".into(),
            mirror_status: "PENDING".into(),
            num_partitions: 2,
            mirror_lags: vec![
                PartitionLag {
                    lag: 2,
                    ..PartitionLag::default()
                },
                PartitionLag {
                    lag: 5,
                    ..PartitionLag::default()
                },
            ],
            ..Mirror::default()
        };
        let out = mirrors(&[m]);
        let row: Vec<&str> = out.lines().nth(1).map(words).unwrap_or_default();
        assert_eq!(row, ["orders", "east", "orders", "PENDING", "-", "2", "7"]);
    }
}
