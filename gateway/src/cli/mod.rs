//! The operator commands `linkgate link create|list|describe|task-list|
//! alter|delete` and `linkgate mirror create|list|describe|promote|failover|
//! pause|unpause`, shaped like Confluent's `kafka-cluster-links`,
//! `kafka-configs --cluster-link` and `kafka-mirrors` (flags `--link`,
//! `--config`, `--config-file`, `--topic-filters-json-file`,
//! `--include-topics`, `--include-stopped`, `--topics`, `--validate-only`,
//! `--force`), talking to a running gateway's REST API (Kafka REST v3
//! cluster-linking endpoints) over HTTP or HTTPS.
//!
//! Global flags: `--api` / `LINKGATE_API` (base URL, `http://` or
//! `https://`), `--token` / `LINKGATE_API_TOKEN` (bearer token, sent on
//! every call; never printed), `--api-ca` / `LINKGATE_API_CA` (PEM CA of
//! an `https://` API instead of the system's roots), `--api-cert` +
//! `--api-key` / `LINKGATE_API_CERT` + `LINKGATE_API_KEY` (PEM client
//! certificate and key, for a gateway with `api_tls_client_ca`),
//! `--cluster` (destination cluster alias, `-` for any), `--output
//! table|json`.
//!
//! Output: aligned tables and one-line confirmations by default; `--output
//! json` prints the API's JSON data (the `data` array of list endpoints, an
//! array of objects otherwise; a small `{"link_name", "operation",
//! "validate_only"}` object for calls the API answers with 204) for scripts.
//! Errors are [`CliError`]s, one line each; the process exits 1 on any
//! error, including a mirror action that failed for some topic.
//!
//! - [`link`]: the `link` commands. [`mirror`]: the `mirror` commands.
//! - [`client`]: the HTTP client. [`input`]: `--config` values and files.
//! - [`model`]: the API shapes read. [`render`]: the tables.

mod client;
mod error;
mod group;
mod input;
mod link;
mod mirror;
mod model;
mod render;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
#[path = "../test_pki.rs"]
mod test_pki;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::de::DeserializeOwned;
use serde_json::Value;

use client::{ApiClient, ApiToken, ClientTls};
pub use error::CliError;
pub use group::{run_group, GroupArgs};
pub use link::{run_link, LinkArgs};
pub use mirror::{run_mirror, MirrorArgs};

/// Output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned, human-readable tables.
    Table,
    /// The API's JSON data, pretty-printed.
    Json,
}

/// Where the API is, which destination cluster, how to authenticate and
/// how to print; accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Base URL of the gateway's REST API (`[gateway] api_listen`).
    #[arg(long, global = true, env = "LINKGATE_API", default_value = client::DEFAULT_API)]
    pub api: String,
    /// Bearer token of the API (`[gateway] api_token`), sent on every call.
    /// Prefer the environment variable: a command line is visible to other
    /// users.
    #[arg(
        long,
        global = true,
        env = "LINKGATE_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<ApiToken>,
    /// PEM CA certificate(s) to trust for an `https://` API instead of the
    /// system's roots (the CA that signed `[gateway] api_tls_cert`).
    #[arg(long, global = true, env = "LINKGATE_API_CA", value_name = "FILE")]
    pub api_ca: Option<PathBuf>,
    /// PEM client certificate for an `https://` API that requires one
    /// (`[gateway] api_tls_client_ca`); needs `--api-key`.
    #[arg(long, global = true, env = "LINKGATE_API_CERT", value_name = "FILE")]
    pub api_cert: Option<PathBuf>,
    /// PEM private key of `--api-cert` (PKCS#8, PKCS#1 or SEC1, not
    /// encrypted).
    #[arg(long, global = true, env = "LINKGATE_API_KEY", value_name = "FILE")]
    pub api_key: Option<PathBuf>,
    /// Destination cluster: an alias of the gateway's `[clusters]`, or `-`
    /// for any (`link create` needs a real alias).
    #[arg(long, global = true, default_value = "-", value_name = "CLUSTER")]
    pub cluster: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl ApiArgs {
    /// A client of the API these flags name.
    ///
    /// # Errors
    /// For an `https://` API, a TLS file that cannot be used
    /// ([`CliError::Input`]) or `--api-cert` without `--api-key`
    /// ([`CliError::Usage`]).
    fn client(&self) -> Result<ApiClient, CliError> {
        let tls = ClientTls {
            ca: self.api_ca.clone(),
            cert: self.api_cert.clone(),
            key: self.api_key.clone(),
        };
        ApiClient::new(&self.api, &self.cluster, self.token.clone(), &tls)
    }
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

/// The `--output json` body of a call the API answers with 204:
/// `{"link_name", "operation", "validate_only"}` plus `extra` fields.
fn done_json(link: &str, operation: &str, validate_only: bool, extra: &[(&str, Value)]) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("link_name".into(), Value::from(link));
    o.insert("operation".into(), Value::from(operation));
    o.insert("validate_only".into(), Value::from(validate_only));
    for (k, v) in extra {
        o.insert((*k).to_string(), v.clone());
    }
    Value::Object(o)
}

/// Writes `text` (table) or `json` (pretty) to `out`.
fn print(out: &mut dyn Write, output: Output, json: &Value, text: &str) -> Result<(), CliError> {
    let s = match output {
        Output::Table => text.to_string(),
        Output::Json => {
            let mut s =
                serde_json::to_string_pretty(json).map_err(|e| CliError::Output(e.to_string()))?;
            s.push('\n');
            s
        }
    };
    out.write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Output(e.to_string()))
}
