//! The operator commands `linkgate link list|describe|task-list` and
//! `linkgate mirror list|describe`: read-only, shaped like Confluent's
//! `kafka-cluster-links` / `kafka-mirrors` (flags `--link`, `--topics`,
//! `--include-topics`), talking to a running gateway's REST API (Kafka REST
//! v3 cluster-linking GET endpoints) over HTTP.
//!
//! Output: aligned tables by default; `--output json` prints the API's JSON
//! data (the `data` array of list endpoints, an array of objects otherwise)
//! for scripts. Errors are [`CliError`]s, one line each.

mod client;
mod error;
mod model;
mod render;

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use serde::de::DeserializeOwned;
use serde_json::Value;

use client::ApiClient;
pub use error::CliError;
use model::{Link, LinkConfig, Mirror};

/// Output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned, human-readable tables.
    Table,
    /// The API's JSON data, pretty-printed.
    Json,
}

/// Where the API is and how to print; accepted before or after the
/// subcommand.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Base URL of the gateway's REST API (`[gateway] api_listen`).
    #[arg(long, global = true, env = "LINKGATE_API", default_value = client::DEFAULT_API)]
    pub api: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// `linkgate link ...`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    #[command(subcommand)]
    command: LinkCommand,
    #[command(flatten)]
    api: ApiArgs,
}

/// `linkgate link` subcommands.
#[derive(Debug, Subcommand)]
enum LinkCommand {
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
}

/// `linkgate mirror ...`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    #[command(subcommand)]
    command: MirrorCommand,
    #[command(flatten)]
    api: ApiArgs,
}

/// `linkgate mirror` subcommands.
#[derive(Debug, Subcommand)]
enum MirrorCommand {
    /// List mirror topics: link, source topic, status, state time, lag.
    List {
        /// Only the mirror topics of this link (default: every link).
        #[arg(long)]
        link: Option<String>,
    },
    /// Describe mirror topics per partition (state, offsets, lag, last fetch).
    Describe {
        /// Link name.
        #[arg(long)]
        link: String,
        /// Mirror topics, comma-separated (default: every mirror topic of the link).
        #[arg(long, value_delimiter = ',')]
        topics: Vec<String>,
    },
}

/// Runs a `linkgate link` command and prints its output to stdout.
pub fn run_link(args: &LinkArgs) -> Result<(), CliError> {
    let api = args.api.api.as_str();
    let client = ApiClient::new(api);
    let (json, text) = match &args.command {
        LinkCommand::List {
            link,
            include_topics,
        } => {
            let links: Vec<Value> = match link {
                Some(name) => vec![client.links(Some(name), false)?],
                None => data_of(api, client.links(None, false)?, "links")?,
            };
            let typed: Vec<Link> = parse_all(api, &links)?;
            (Value::Array(links), render::links(&typed, *include_topics))
        }
        LinkCommand::Describe { link } => {
            let configs = data_of(api, client.configs(link)?, "configs")?;
            let typed: Vec<LinkConfig> = parse_all(api, &configs)?;
            (Value::Array(configs), render::configs(link, &typed))
        }
        LinkCommand::TaskList { link } => {
            let body = client.links(Some(link), true)?;
            let typed: Link = parse(api, &body)?;
            let tasks = body
                .get("tasks")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            (tasks, render::tasks(&typed))
        }
    };
    print(args.api.output, &json, &text)
}

/// Renders mirror topics as a human-readable table.
type Renderer = fn(&[Mirror]) -> String;

/// Runs a `linkgate mirror` command and prints its output to stdout.
pub fn run_mirror(args: &MirrorArgs) -> Result<(), CliError> {
    let api = args.api.api.as_str();
    let client = ApiClient::new(api);
    let (mirrors, text): (Vec<Value>, Renderer) = match &args.command {
        MirrorCommand::List { link } => {
            let names = match link {
                Some(name) => vec![name.clone()],
                None => {
                    parse_all::<Link>(api, &data_of(api, client.links(None, false)?, "links")?)?
                        .into_iter()
                        .map(|l| l.link_name)
                        .collect()
                }
            };
            let mut all = Vec::new();
            for name in names {
                all.extend(data_of(api, client.mirrors(&name)?, "mirrors")?);
            }
            (all, render::mirrors)
        }
        MirrorCommand::Describe { link, topics } => {
            let topics = if topics.is_empty() {
                parse::<Link>(api, &client.links(Some(link), false)?)?.topic_names
            } else {
                topics.clone()
            };
            let mirrors = topics
                .iter()
                .map(|t| client.mirror(link, t))
                .collect::<Result<Vec<_>, _>>()?;
            (mirrors, render::mirror_partitions)
        }
    };
    let typed: Vec<Mirror> = parse_all(api, &mirrors)?;
    print(args.api.output, &Value::Array(mirrors), &text(&typed))
}

/// Ends the process after a failed command: prints `error: <one line>` to
/// stderr and exits with code 1 (no backtrace, whatever `RUST_BACKTRACE`
/// says: these are operator errors, not bugs). Returns after success.
pub fn exit_on_error(result: Result<(), CliError>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The `data` array of a `*DataList` body.
fn data_of(api: &str, body: Value, what: &str) -> Result<Vec<Value>, CliError> {
    match body {
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(bad(api, format!("a list of {what} without a data array"))),
        },
        _ => Err(bad(
            api,
            format!("a list of {what} that is not a JSON object"),
        )),
    }
}

/// One API object in its CLI shape.
fn parse<T: DeserializeOwned>(api: &str, v: &Value) -> Result<T, CliError> {
    T::deserialize(v).map_err(|e| bad(api, e.to_string()))
}

fn parse_all<T: DeserializeOwned>(api: &str, vs: &[Value]) -> Result<Vec<T>, CliError> {
    vs.iter().map(|v| parse(api, v)).collect()
}

fn bad(api: &str, reason: String) -> CliError {
    CliError::BadResponse {
        url: api.to_string(),
        reason,
    }
}

/// Prints `text` (table) or `json` (pretty) to stdout.
fn print(output: Output, json: &Value, text: &str) -> Result<(), CliError> {
    let out = match output {
        Output::Table => text.to_string(),
        Output::Json => {
            let mut s =
                serde_json::to_string_pretty(json).map_err(|e| CliError::Output(e.to_string()))?;
            s.push('\n');
            s
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::Output(e.to_string()))
}
