//! `linkgate group migrate --link L --group G [--validate-only]`: moves a
//! consumer group from the source to the destination over a link (REST
//! `POST .../links/{link}/groups/{group}:migrate`), printing per partition
//! the source, translated and destination offsets and what to do next.

use std::io::Write;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::error::CliError;
use super::{print, ApiArgs};

/// `linkgate group ...`.
#[derive(Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
    #[command(flatten)]
    api: ApiArgs,
}

impl std::fmt::Debug for GroupArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupArgs").finish_non_exhaustive()
    }
}

/// `linkgate group` subcommands.
#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Migrate a consumer group to the destination: checks that it has no
    /// members on the source, waits until the mirror reached its offsets,
    /// syncs it once more, checks every partition's destination offset,
    /// and takes it out of the link's offset sync.
    Migrate {
        /// The link.
        #[arg(long)]
        link: String,
        /// The consumer group id on the source.
        #[arg(long)]
        group: String,
        /// Only check and show the plan; change nothing.
        #[arg(long)]
        validate_only: bool,
    },
}

/// Runs a `linkgate group` command, writing its output to `out`.
///
/// # Errors
/// [`CliError`] for usage, transport and API errors (one line each).
pub fn run_group(args: &GroupArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let client = args.api.client()?;
    match &args.command {
        GroupCommand::Migrate {
            link,
            group,
            validate_only,
        } => {
            let body = client.migrate_group(link, group, *validate_only)?;
            print(out, args.api.output, &body, &render_migration(&body))
        }
    }
}

/// The table form of a `LinkgateGroupMigration`.
fn render_migration(v: &Value) -> String {
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let offset = |x: &Value| {
        x.as_i64()
            .map_or_else(|| "-".to_string(), |o| o.to_string())
    };
    let mut s = format!(
        "Consumer group {} (destination: {}) over link {}: {}\n",
        text("group_name"),
        text("destination_group_name"),
        text("link_name"),
        if v["migrated"] == true {
            "migrated"
        } else {
            "plan (validate only, nothing changed)"
        }
    );
    s.push_str("TOPIC\tPARTITION\tSOURCE-OFFSET\tTRANSLATED-OFFSET\tDESTINATION-OFFSET\n");
    for p in v["partitions"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            p["mirror_topic_name"].as_str().unwrap_or_default(),
            offset(&p["partition"]),
            offset(&p["source_offset"]),
            offset(&p["translated_offset"]),
            offset(&p["destination_offset"]),
        ));
    }
    s.push_str("Next:\n");
    for step in v["next_steps"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        s.push_str(&format!("  - {}\n", step.as_str().unwrap_or_default()));
    }
    s
}
