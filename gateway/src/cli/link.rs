//! `linkgate link create|list|describe|task-list|alter|delete`: the flags
//! of `kafka-cluster-links` / `kafka-configs --cluster-link`, the request
//! bodies they become (Kafka REST v3 `CreateLinkRequest`,
//! `AlterConfigBatchRequest`), and their output.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use linkgate::api::body::{
    AlterConfigEntry, AlterConfigsBody, ConfigEntry, ConfigOperation, CreateLinkBody,
};
use serde_json::Value;

use super::error::CliError;
use super::input;
use super::model::{Link, LinkConfig};
use super::{data_of, done_json, parse, parse_all, print, render, ApiArgs};

/// The link property a `--topic-filters-json[-file]` sets (Confluent).
pub const TOPIC_FILTERS_PROPERTY: &str = "auto.create.mirror.topics.filters";

/// The link property a `--consumer-group-filters-json[-file]` sets
/// (Confluent consumer offset sync group filters).
pub const GROUP_FILTERS_PROPERTY: &str = "consumer.offset.group.filters";

/// The link property an `--acl-filters-json-file` sets (Confluent ACL
/// sync filters).
pub const ACL_FILTERS_PROPERTY: &str = "acl.filters";

/// `linkgate link ...`.
///
/// `Debug` shows nothing of the arguments: they can hold secrets
/// (property values, user info in `--api`).
#[derive(Args)]
pub struct LinkArgs {
    #[command(subcommand)]
    command: LinkCommand,
    #[command(flatten)]
    api: ApiArgs,
}

impl std::fmt::Debug for LinkArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkArgs").finish_non_exhaustive()
    }
}

/// `linkgate link` subcommands.
#[derive(Debug, Subcommand)]
enum LinkCommand {
    /// Create a cluster link to the destination cluster named by --cluster.
    ///
    /// Link properties come from --config-file, then --config (a name given
    /// in both takes the --config value), then the filters flags (topic,
    /// consumer group, ACL), each of which sets one property that must not
    /// also be given by --config or --config-file.
    Create {
        /// Name of the new link (ASCII letters, digits, '.', '_', '-').
        #[arg(long)]
        link: String,
        /// Source cluster: an alias of the gateway's [clusters] (its client
        /// settings are used) or the source's Kafka cluster id (checked
        /// when the link is validated).
        #[arg(long, value_name = "ID")]
        source_cluster_id: Option<String>,
        /// Link properties, `name=value[,name=value]...`; repeatable.
        /// Commas separate items; `[...]` groups a value with commas
        /// (`name=[a,b]` gives `a,b`); a JSON object value (`{...}`) is kept
        /// whole. Other JSON values: use --config-file.
        #[arg(long, value_name = "NAME=VALUE,...")]
        config: Vec<String>,
        /// A Java .properties file of link properties (UTF-8); the way to
        /// give JSON values and secrets (e.g. sasl.jaas.config).
        #[arg(long, value_name = "FILE")]
        config_file: Option<PathBuf>,
        /// JSON for auto.create.mirror.topics.filters
        /// (`{"topicFilters": [...]}`).
        #[arg(long, value_name = "JSON", conflicts_with = "topic_filters_json_file")]
        topic_filters_json: Option<String>,
        /// A JSON file for auto.create.mirror.topics.filters.
        #[arg(long, value_name = "FILE")]
        topic_filters_json_file: Option<PathBuf>,
        /// JSON for consumer.offset.group.filters
        /// (`{"groupFilters": [...]}`).
        #[arg(
            long,
            value_name = "JSON",
            conflicts_with = "consumer_group_filters_json_file"
        )]
        consumer_group_filters_json: Option<String>,
        /// A JSON file for consumer.offset.group.filters.
        #[arg(long, value_name = "FILE")]
        consumer_group_filters_json_file: Option<PathBuf>,
        /// A JSON file for acl.filters (`{"aclFilters": [...]}`).
        #[arg(long, value_name = "FILE")]
        acl_filters_json_file: Option<PathBuf>,
        /// Only check that the link can be created; change nothing.
        #[arg(long)]
        validate_only: bool,
        /// Do not connect to the clusters before creating the link.
        #[arg(long)]
        exclude_validate_link: bool,
    },
    /// List cluster links: name, clusters, state, error, mirror topic count.
    List {
        /// Only this link.
        #[arg(long)]
        link: Option<String>,
        /// Also list each link's mirror topic names.
        #[arg(long)]
        include_topics: bool,
    },
    /// Show a link's properties (`name=value sensitive=...`; sensitive values are never shown).
    Describe {
        /// Link name.
        #[arg(long)]
        link: String,
    },
    /// List a link's tasks with their state and errors.
    TaskList {
        /// Link name.
        #[arg(long)]
        link: String,
    },
    /// Change link properties (not the link name, source cluster or
    /// cluster.link.prefix).
    #[command(group(
        ArgGroup::new("changes")
            .required(true)
            .multiple(true)
            .args(["add_config", "add_config_file", "delete_config"])
    ))]
    Alter {
        /// Link name.
        #[arg(long)]
        link: String,
        /// Properties to set, `name=value[,name=value]...` (as --config of
        /// `link create`); repeatable.
        #[arg(long, value_name = "NAME=VALUE,...")]
        add_config: Vec<String>,
        /// A Java .properties file of properties to set (only those that
        /// change); --add-config wins for a name in both.
        #[arg(long, value_name = "FILE")]
        add_config_file: Option<PathBuf>,
        /// Properties to reset to their defaults, comma-separated.
        #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
        delete_config: Vec<String>,
        /// Only check the change; change nothing.
        #[arg(long)]
        validate_only: bool,
    },
    /// Delete a cluster link.
    Delete {
        /// Link name.
        #[arg(long)]
        link: String,
        /// Delete even if the link has mirror topics (they are failed over
        /// first).
        #[arg(long)]
        force: bool,
        /// Only check that the link can be deleted; change nothing.
        #[arg(long)]
        validate_only: bool,
    },
}

/// Runs a `linkgate link` command, writing its output to `out`.
///
/// # Errors
/// [`CliError`]: bad flags or input files, the API unreachable or
/// refusing, an unexpected answer, or `out` failing.
pub fn run_link(args: &LinkArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let api = args.api.api.as_str();
    let client = args.api.client()?;
    let output = args.api.output;
    match &args.command {
        LinkCommand::Create {
            link,
            source_cluster_id,
            config,
            config_file,
            topic_filters_json,
            topic_filters_json_file,
            consumer_group_filters_json,
            consumer_group_filters_json_file,
            acl_filters_json_file,
            validate_only,
            exclude_validate_link,
        } => {
            let filters = [
                (
                    TOPIC_FILTERS_PROPERTY,
                    filters_json(
                        "--topic-filters-json",
                        topic_filters_json.as_deref(),
                        topic_filters_json_file.as_deref(),
                    )?,
                ),
                (
                    GROUP_FILTERS_PROPERTY,
                    filters_json(
                        "--consumer-group-filters-json",
                        consumer_group_filters_json.as_deref(),
                        consumer_group_filters_json_file.as_deref(),
                    )?,
                ),
                (
                    ACL_FILTERS_PROPERTY,
                    filters_json(
                        "--acl-filters-json-file",
                        None,
                        acl_filters_json_file.as_deref(),
                    )?,
                ),
            ];
            let filters = filters
                .into_iter()
                .filter_map(|(property, json)| json.map(|j| (property, j)))
                .collect();
            let configs = create_configs(config, config_file.as_deref(), filters)?;
            let body = create_body(source_cluster_id.as_deref(), &configs);
            client.create_link(link, &body, *validate_only, !*exclude_validate_link)?;
            let text = render::confirmation(
                &format!("Created cluster link '{link}'."),
                &format!("cluster link '{link}' can be created"),
                *validate_only,
            );
            let json = done_json(link, "create", *validate_only, &[]);
            print(out, output, &json, &text)
        }
        LinkCommand::List {
            link,
            include_topics,
        } => {
            let links: Vec<Value> = match link {
                Some(name) => vec![client.links(Some(name), false)?],
                None => data_of(api, client.links(None, false)?, "links")?,
            };
            let typed: Vec<Link> = parse_all(api, &links)?;
            let text = render::links(&typed, *include_topics);
            print(out, output, &Value::Array(links), &text)
        }
        LinkCommand::Describe { link } => {
            let configs = data_of(api, client.configs(link)?, "configs")?;
            let typed: Vec<LinkConfig> = parse_all(api, &configs)?;
            let text = render::configs(link, &typed);
            print(out, output, &Value::Array(configs), &text)
        }
        LinkCommand::TaskList { link } => {
            let body = client.links(Some(link), true)?;
            let typed: Link = parse(api, &body)?;
            let tasks = body
                .get("tasks")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            print(out, output, &tasks, &render::tasks(&typed))
        }
        LinkCommand::Alter {
            link,
            add_config,
            add_config_file,
            delete_config,
            validate_only,
        } => {
            let body = alter_body(add_config, add_config_file.as_deref(), delete_config)?;
            client.alter_link(link, &body, *validate_only)?;
            let text = render::confirmation(
                &format!("Altered the properties of cluster link '{link}'."),
                &format!("the properties of cluster link '{link}' can be altered"),
                *validate_only,
            );
            let json = done_json(link, "alter", *validate_only, &[]);
            print(out, output, &json, &text)
        }
        LinkCommand::Delete {
            link,
            force,
            validate_only,
        } => {
            client.delete_link(link, *force, *validate_only)?;
            let text = render::confirmation(
                &format!("Deleted cluster link '{link}'."),
                &format!("cluster link '{link}' can be deleted"),
                *validate_only,
            );
            let json = done_json(
                link,
                "delete",
                *validate_only,
                &[("force", Value::from(*force))],
            );
            print(out, output, &json, &text)
        }
    }
}

/// The JSON of a filters flag pair: `text` (the `--...-json` flag, named
/// `flag`) or the file `path` (`--...-json-file`), checked as JSON and
/// compacted to one line; `None` when neither is given.
///
/// # Errors
/// [`CliError::Usage`] for `text` that is not JSON, [`CliError::Input`]
/// for a file that cannot be read or is not JSON (the message names the
/// file and where the JSON breaks, never its content).
fn filters_json(
    flag: &str,
    text: Option<&str>,
    path: Option<&Path>,
) -> Result<Option<String>, CliError> {
    match (text, path) {
        (Some(text), _) => input::compact_json(text)
            .map(Some)
            .map_err(|reason| CliError::Usage(format!("{flag}: {reason}"))),
        (None, Some(path)) => input::read_json(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// The link properties of `link create`: `config_file`, then each
/// `--config` value, then each `(property, JSON)` of the filters flags.
///
/// # Errors
/// [`CliError::Input`] for an unreadable file, [`CliError::Usage`] for a
/// malformed `--config` or a filters property also given by `--config` or
/// `--config-file`.
fn create_configs(
    config: &[String],
    config_file: Option<&Path>,
    filters: Vec<(&str, String)>,
) -> Result<Vec<(String, String)>, CliError> {
    let mut sources = Vec::new();
    if let Some(path) = config_file {
        sources.push(input::read_properties(path)?);
    }
    for text in config {
        sources.push(input::split_configs("--config", text)?);
    }
    let mut configs = input::merge(sources);
    for (property, json) in filters {
        if configs.iter().any(|(n, _)| n == property) {
            return Err(CliError::Usage(format!(
                "{property} is given both by a filters JSON flag and by --config or --config-file"
            )));
        }
        configs.push((property.to_string(), json));
    }
    Ok(configs)
}

/// `{"source_cluster_id"?: id, "configs": [{"name", "value"}, ...]}`.
fn create_body(source_cluster_id: Option<&str>, configs: &[(String, String)]) -> CreateLinkBody {
    CreateLinkBody {
        source_cluster_id: source_cluster_id.map(str::to_string),
        configs: config_entries(configs),
    }
}

/// `configs` as the API's `{"name", "value"}` entries.
pub(super) fn config_entries(configs: &[(String, String)]) -> Vec<ConfigEntry> {
    configs
        .iter()
        .map(|(name, value)| ConfigEntry {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// `{"data": [{"name", "value", "operation": "SET"}, ..., {"name",
/// "operation": "DELETE"}, ...]}` of `link alter`.
///
/// # Errors
/// [`CliError::Input`] for an unreadable file, [`CliError::Usage`] for a
/// malformed `--add-config`, an empty `--delete-config` name, or a name
/// both set and deleted.
fn alter_body(
    add_config: &[String],
    add_config_file: Option<&Path>,
    delete_config: &[String],
) -> Result<AlterConfigsBody, CliError> {
    let mut sources = Vec::new();
    if let Some(path) = add_config_file {
        sources.push(input::read_properties(path)?);
    }
    for text in add_config {
        sources.push(input::split_configs("--add-config", text)?);
    }
    let set = input::merge(sources);
    let mut deletes: Vec<&str> = Vec::new();
    for name in delete_config.iter().map(|n| n.trim()) {
        if name.is_empty() {
            return Err(CliError::Usage(
                "--delete-config: empty property name".into(),
            ));
        }
        if set.iter().any(|(n, _)| n == name) {
            return Err(CliError::Usage(format!(
                "property '{name}' is both added and deleted"
            )));
        }
        if !deletes.contains(&name) {
            deletes.push(name);
        }
    }
    if set.is_empty() && deletes.is_empty() {
        return Err(CliError::Usage(
            "nothing to alter: give --add-config, --add-config-file or --delete-config".into(),
        ));
    }
    let data = set
        .iter()
        .map(|(name, value)| AlterConfigEntry {
            name: name.clone(),
            value: Some(value.clone()),
            operation: Some(ConfigOperation::Set),
        })
        .chain(deletes.iter().map(|name| AlterConfigEntry {
            name: (*name).to_string(),
            value: None,
            operation: Some(ConfigOperation::Delete),
        }))
        .collect();
    Ok(AlterConfigsBody { data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn as_json<T: serde::Serialize>(body: &T) -> Value {
        serde_json::to_value(body).expect("encodes")
    }

    #[test]
    fn create_configs_layer_file_flags_and_filters() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        write!(
            f,
            "bootstrap.servers=127.0.0.1:9092\ncluster.link.prefix=east.\n"
        )
        .expect("write");
        let configs = create_configs(
            &["cluster.link.prefix=west.,a=[1,2]".into(), "b=2".into()],
            Some(f.path()),
            vec![(TOPIC_FILTERS_PROPERTY, r#"{"topicFilters":[]}"#.into())],
        )
        .expect("valid");
        let names: Vec<(&str, &str)> = configs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("bootstrap.servers", "127.0.0.1:9092"),
                ("cluster.link.prefix", "west."),
                ("a", "1,2"),
                ("b", "2"),
                (TOPIC_FILTERS_PROPERTY, r#"{"topicFilters":[]}"#),
            ]
        );
        let twice = create_configs(
            &[format!("{TOPIC_FILTERS_PROPERTY}={{}}")],
            None,
            vec![(TOPIC_FILTERS_PROPERTY, "{}".into())],
        )
        .expect_err("twice");
        assert!(matches!(twice, CliError::Usage(_)), "{twice}");
    }

    #[test]
    fn create_body_omits_an_absent_source_cluster_id() {
        let configs = vec![("bootstrap.servers".to_string(), "h:1".to_string())];
        assert_eq!(
            as_json(&create_body(None, &configs)),
            json!({"configs": [{"name": "bootstrap.servers", "value": "h:1"}]})
        );
        assert_eq!(
            as_json(&create_body(Some("src"), &[])),
            json!({"source_cluster_id": "src", "configs": []})
        );
    }

    #[test]
    fn alter_body_sets_then_deletes() {
        let body = alter_body(
            &["cluster.link.paused=true,a=1".into()],
            None,
            &["request.timeout.ms".into(), " b ".into(), "b".into()],
        )
        .expect("valid");
        assert_eq!(
            as_json(&body),
            json!({"data": [
                {"name": "cluster.link.paused", "value": "true", "operation": "SET"},
                {"name": "a", "value": "1", "operation": "SET"},
                {"name": "request.timeout.ms", "operation": "DELETE"},
                {"name": "b", "operation": "DELETE"},
            ]})
        );
        for (add, delete) in [
            (vec!["a=1".to_string()], vec!["a".to_string()]),
            (vec![], vec![" ".to_string()]),
            (vec![" , ".to_string()], vec![]),
        ] {
            let err = alter_body(&add, None, &delete).expect_err("usage");
            assert!(matches!(err, CliError::Usage(_)), "{err}");
        }
    }
}
