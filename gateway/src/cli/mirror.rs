//! `linkgate mirror create|list|describe|promote|failover|pause|unpause`:
//! the flags of `kafka-mirrors`, the request bodies they become (Kafka REST
//! v3 `CreateMirrorTopicRequest`, `AlterMirrorsRequest`), and their output.
//! A mirror action answers per topic; the command exits non-zero when any
//! topic failed.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use linkgate::api::body::CreateMirrorBody;
use linkgate::control::MirrorAction;
use serde_json::Value;

use super::client::ApiClient;
use super::error::CliError;
use super::input;
use super::model::{Mirror, MirrorOutcome};
use super::{data_of, done_json, parse_all, print, render, ApiArgs};

/// `linkgate mirror ...`.
///
/// `Debug` shows nothing of the arguments: they can hold secrets
/// (property values, user info in `--api`).
#[derive(Args)]
pub struct MirrorArgs {
    #[command(subcommand)]
    command: MirrorCommand,
    #[command(flatten)]
    api: ApiArgs,
}

impl std::fmt::Debug for MirrorArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorArgs").finish_non_exhaustive()
    }
}

/// Which mirror topics a mirror action applies to.
#[derive(Debug, Args)]
struct ActionArgs {
    /// Mirror topics, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_name = "TOPIC,...")]
    topics: Vec<String>,
    /// The link of the mirror topics (default: whichever link has them).
    #[arg(long)]
    link: Option<String>,
    /// Only check; change nothing.
    #[arg(long)]
    validate_only: bool,
}

/// `linkgate mirror` subcommands.
#[derive(Debug, Subcommand)]
enum MirrorCommand {
    /// Create a mirror topic on a link.
    Create {
        /// Name of the mirror topic (default: the name the link gives
        /// --source-topic, e.g. with cluster.link.prefix).
        #[arg(long, required_unless_present = "source_topic", value_name = "TOPIC")]
        mirror_topic: Option<String>,
        /// Link to mirror over.
        #[arg(long)]
        link: String,
        /// Source topic (default: the mirror topic's name; needed when the
        /// link renames, e.g. with cluster.link.prefix).
        #[arg(long, value_name = "TOPIC")]
        source_topic: Option<String>,
        /// Replication factor of the mirror topic (default: the destination
        /// cluster's).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i16).range(1..))]
        replication_factor: Option<i16>,
        /// Topic config overrides, `name=value[,name=value]...` (split as
        /// `link create --config`); repeatable.
        #[arg(long, value_name = "NAME=VALUE,...")]
        config: Vec<String>,
        /// A Java .properties file of topic config overrides; --config wins
        /// for a name in both.
        #[arg(long, value_name = "FILE")]
        config_file: Option<PathBuf>,
        /// Only check that the mirror topic can be created; change nothing.
        #[arg(long)]
        validate_only: bool,
    },
    /// List mirror topics: link, source topic, status, state time, lag.
    List {
        /// Only the mirror topics of this link (default: every link).
        #[arg(long)]
        link: Option<String>,
        /// Also list mirror topics stopped by promote or failover.
        #[arg(long)]
        include_stopped: bool,
        /// Only the mirror topics in this state (the REST API's
        /// `mirror_status`, any case): ACTIVE, FAILED, PAUSED, STOPPED,
        /// PENDING_STOPPED, PENDING_SYNCHRONIZE, PENDING_MIRROR. STOPPED
        /// ones are listed by it without --include-stopped.
        #[arg(long, value_name = "STATE")]
        mirror_status: Option<String>,
    },
    /// Describe mirror topics per partition (state, offsets, lag, last
    /// fetch), stopped ones included.
    Describe {
        /// Only the mirror topics of this link (default: every link).
        #[arg(long)]
        link: Option<String>,
        /// Mirror topics, comma-separated (default: every mirror topic).
        #[arg(long, value_delimiter = ',', value_name = "TOPIC,...")]
        topics: Vec<String>,
    },
    /// Stop mirroring once lag is 0 (after the final syncs): the topics
    /// become ordinary writable topics.
    Promote(ActionArgs),
    /// Stop mirroring now, whatever the lag: the topics become ordinary
    /// writable topics.
    Failover(ActionArgs),
    /// Pause mirroring of the topics.
    Pause(ActionArgs),
    /// Resume mirroring of paused topics.
    Unpause(ActionArgs),
}

/// Runs a `linkgate mirror` command, writing its output to `out`.
///
/// # Errors
/// [`CliError`]: bad flags or input files, the API unreachable or
/// refusing, an unexpected answer, `out` failing, or
/// [`CliError::TopicsFailed`] after printing the outcome table when a
/// mirror action failed for some topic.
pub fn run_mirror(args: &MirrorArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let api = args.api.api.as_str();
    let client = args.api.client()?;
    let output = args.api.output;
    match &args.command {
        MirrorCommand::Create {
            mirror_topic,
            link,
            source_topic,
            replication_factor,
            config,
            config_file,
            validate_only,
        } => {
            let mut sources = Vec::new();
            if let Some(path) = config_file {
                sources.push(input::read_properties(path)?);
            }
            for text in config {
                sources.push(input::split_configs("--config", text)?);
            }
            let configs = input::merge(sources);
            let body = create_body(
                mirror_topic.as_deref(),
                source_topic.as_deref(),
                *replication_factor,
                &configs,
            );
            client.create_mirror(link, &body, *validate_only)?;
            let name = match (mirror_topic, source_topic) {
                (Some(m), _) => format!("mirror topic '{m}'"),
                (None, Some(s)) => format!("the mirror topic of source topic '{s}'"),
                (None, None) => "the mirror topic".to_string(),
            };
            let text = render::confirmation(
                &format!("Created {name} on cluster link '{link}'."),
                &format!("{name} can be created on cluster link '{link}'"),
                *validate_only,
            );
            let sent = serde_json::to_value(&body).unwrap_or(Value::Null);
            let json = done_json(link, "create_mirror", *validate_only, &[("mirror", sent)]);
            print(out, output, &json, &text)
        }
        MirrorCommand::List {
            link,
            include_stopped,
            mirror_status,
        } => {
            let mirrors = data_of(
                api,
                client.mirrors(link.as_deref(), *include_stopped, mirror_status.as_deref())?,
                "mirrors",
            )?;
            let typed: Vec<Mirror> = parse_all(api, &mirrors)?;
            print(
                out,
                output,
                &Value::Array(mirrors),
                &render::mirrors(&typed),
            )
        }
        MirrorCommand::Describe { link, topics } => {
            let mirrors = describe(&client, api, link.as_deref(), topics)?;
            let typed: Vec<Mirror> = parse_all(api, &mirrors)?;
            let text = render::mirror_partitions(&typed);
            print(out, output, &Value::Array(mirrors), &text)
        }
        MirrorCommand::Promote(a) => act(
            &client,
            api,
            out,
            output,
            "promote",
            MirrorAction::Promote,
            a,
        ),
        MirrorCommand::Failover(a) => act(
            &client,
            api,
            out,
            output,
            "failover",
            MirrorAction::Failover,
            a,
        ),
        MirrorCommand::Pause(a) => act(&client, api, out, output, "pause", MirrorAction::Pause, a),
        MirrorCommand::Unpause(a) => act(
            &client,
            api,
            out,
            output,
            "unpause",
            MirrorAction::Resume,
            a,
        ),
    }
}

/// `{"source_topic_name"?, "mirror_topic_name"?, "replication_factor"?,
/// "configs": [{"name", "value"}, ...]}`: absent values are left out.
fn create_body(
    mirror_topic: Option<&str>,
    source_topic: Option<&str>,
    replication_factor: Option<i16>,
    configs: &[(String, String)],
) -> CreateMirrorBody {
    CreateMirrorBody {
        source_topic_name: source_topic.map(str::to_string),
        mirror_topic_name: mirror_topic.map(str::to_string),
        replication_factor,
        configs: super::link::config_entries(configs),
    }
}

/// The single-mirror GET bodies of `mirror describe`: the named `topics`
/// (all of the link's or every link's when empty), stopped ones included,
/// found through the mirror list of `link` (or of every link).
///
/// # Errors
/// [`CliError::Usage`] when a named topic is not a mirror topic there;
/// the API's errors.
fn describe(
    client: &ApiClient,
    api: &str,
    link: Option<&str>,
    topics: &[String],
) -> Result<Vec<Value>, CliError> {
    if let (Some(link), false) = (link, topics.is_empty()) {
        // Both known: no need to list (and the API's 404 names a topic
        // that is not a mirror of the link).
        return topics.iter().map(|t| client.mirror(link, t)).collect();
    }
    let listed: Vec<Mirror> = parse_all(
        api,
        &data_of(api, client.mirrors(link, true, None)?, "mirrors")?,
    )?;
    let wanted: Vec<&Mirror> = if topics.is_empty() {
        listed.iter().collect()
    } else {
        let mut wanted = Vec::new();
        for t in topics {
            let found: Vec<&Mirror> = listed
                .iter()
                .filter(|m| m.mirror_topic_name == *t)
                .collect();
            if found.is_empty() {
                return Err(CliError::Usage(format!(
                    "'{t}' is not a mirror topic of any cluster link at {}",
                    client.base()
                )));
            }
            wanted.extend(found);
        }
        wanted
    };
    wanted
        .iter()
        .map(|m| client.mirror(&m.link_name, &m.mirror_topic_name))
        .collect()
}

/// Runs a mirror action on `args.topics` and prints the per-topic outcome.
/// A topic the API did not answer for counts as failed.
///
/// # Errors
/// The API's errors; [`CliError::TopicsFailed`] (after printing) when the
/// action failed for any topic.
fn act(
    client: &ApiClient,
    api: &str,
    out: &mut dyn Write,
    output: super::Output,
    command: &'static str,
    action: MirrorAction,
    args: &ActionArgs,
) -> Result<(), CliError> {
    let topics: Vec<String> = args
        .topics
        .iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if topics.is_empty() {
        return Err(CliError::Usage("--topics: no mirror topic named".into()));
    }
    let body = client.alter_mirrors(
        args.link.as_deref(),
        action.as_str(),
        &topics,
        args.validate_only,
    )?;
    let data = data_of(api, body, "mirror action results")?;
    let mut outcomes: Vec<MirrorOutcome> = parse_all(api, &data)?;
    for t in &topics {
        if !outcomes.iter().any(|o| o.mirror_topic_name == *t) {
            outcomes.push(MirrorOutcome {
                mirror_topic_name: t.clone(),
                error_message: Some("the API returned no result for this topic".into()),
                ..MirrorOutcome::default()
            });
        }
    }
    let text = render::mirror_outcomes(&outcomes, args.validate_only);
    print(out, output, &Value::Array(data), &text)?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.failed())
        .map(|o| o.mirror_topic_name.clone())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::TopicsFailed {
            action: command,
            failed,
            total: topics.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn as_json(body: &CreateMirrorBody) -> Value {
        serde_json::to_value(body).expect("encodes")
    }

    #[test]
    fn create_body_leaves_out_absent_values() {
        assert_eq!(
            as_json(&create_body(Some("pre.t"), None, None, &[])),
            json!({"mirror_topic_name": "pre.t", "configs": []})
        );
        assert_eq!(
            as_json(&create_body(
                Some("pre.t"),
                Some("t"),
                Some(3),
                &[("retention.ms".into(), "1000".into())]
            )),
            json!({
                "source_topic_name": "t",
                "mirror_topic_name": "pre.t",
                "replication_factor": 3,
                "configs": [{"name": "retention.ms", "value": "1000"}]
            })
        );
    }
}
