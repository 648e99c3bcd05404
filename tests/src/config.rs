//! Gateway config text (TOML) for the end-to-end tests and the benchmark:
//! two clusters and one link between them.

use crate::broker::Broker;
use crate::wait::free_port;

/// A gateway config with clusters `src` and `dst` at the two brokers and one
/// link `name` from `src` to `dst`. `[gateway]` gets a free loopback
/// `metrics_listen` port (read back by [`crate::Gateway::start`]).
///
/// The text pieces are inserted verbatim, so a test can later edit the
/// config with `str::replace` on them:
/// - `plugins`: tables before the link, e.g. `[[plugins]]` entries (or "");
/// - `link_lines`: keys of the `[[links]]` table, e.g.
///   `mirror_topics = ["t"]` and `record_transforms = ["p"]`, one a line;
/// - `properties`: the link's `[links.config]` entries (Confluent cluster
///   link properties such as `"mirror.start.offset.spec" = "earliest"`), one
///   a line.
pub fn link_config(
    src: &Broker,
    dst: &Broker,
    name: &str,
    plugins: &str,
    link_lines: &str,
    properties: &str,
) -> String {
    format!(
        r#"
[gateway]
metrics_listen = "127.0.0.1:{port}"

[clusters.src]
"bootstrap.servers" = "{src}"
[clusters.dst]
"bootstrap.servers" = "{dst}"

{plugins}

[[links]]
name = "{name}"
source = "src"
destination = "dst"
{link_lines}
[links.config]
{properties}
"#,
        port = free_port(),
        src = src.bootstrap(),
        dst = dst.bootstrap(),
    )
}

/// `config` (a [`link_config`] text) with `lines` added to its
/// `[clusters.<alias>]` table: Kafka client properties of that cluster such
/// as `"request.timeout.ms" = 2000`, one a line.
///
/// # Panics
/// When `config` has no `[clusters.<alias>]` line.
pub fn with_cluster_properties(config: &str, alias: &str, lines: &str) -> String {
    let header = format!("[clusters.{alias}]\n");
    assert!(
        config.contains(&header),
        "config has no [clusters.{alias}] table:\n{config}"
    );
    config.replacen(&header, &format!("{header}{lines}\n"), 1)
}
