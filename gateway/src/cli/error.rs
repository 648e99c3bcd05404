//! The one error type of the CLI commands ([`CliError`]): which side failed
//! (the command line or a local input file, the network path to the API,
//! the API itself, the answer's shape, per-topic failures of a mirror
//! action, or the local output) and whether running the command again can
//! help.

/// Why a `linkgate link|mirror` command failed. Messages are one line, name
/// the API URL (without any user info) or the API's own message, and never
/// contain link property values.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No HTTP answer from the API: connection refused, unresolvable host,
    /// timeout, malformed URL. Retriable once the gateway runs and listens
    /// on `[gateway] api_listen`.
    #[error("cannot reach the linkgate API at {url}: {reason}")]
    Unreachable {
        /// URL asked for.
        url: String,
        /// The HTTP client's reason.
        reason: String,
    },
    /// The TLS connection to an `https://` API failed: its certificate is
    /// not trusted (unknown CA) or not made for the URL's host (hostname
    /// mismatch), it requires a client certificate or refused the one
    /// presented, or it does not speak TLS. The reason says which, in
    /// words. Not retriable as is: a certificate or a flag must change.
    #[error("TLS connection to the linkgate API at {url} failed: {reason}")]
    Tls {
        /// URL asked for.
        url: String,
        /// What failed, in words.
        reason: String,
    },
    /// The API answered with its error JSON (`{"error_code", "message"}`,
    /// Kafka REST v3). Not retriable as is, except "not found" (404): the
    /// link or mirror may exist later.
    #[error("{message} (HTTP {status} from {url})")]
    Api {
        /// URL asked for.
        url: String,
        /// HTTP status.
        status: u16,
        /// The API's `message` (or the body when it is not error JSON).
        message: String,
    },
    /// The API answered 2xx with a body that is not the expected JSON: a
    /// different server or an incompatible gateway version. Not retriable.
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse {
        /// URL asked for.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A flag value is malformed or flags contradict each other (e.g. a
    /// `--config` item without `=`, a property both added and deleted).
    /// Never contains property values. Not retriable as is.
    #[error("{0}")]
    Usage(String),
    /// A local input file (`--config-file`, `--add-config-file`,
    /// `--topic-filters-json-file`, `--api-ca`, `--api-cert`, `--api-key`)
    /// cannot be read or parsed. The reason
    /// names a line or column, never the file's content. Not retriable as is.
    #[error("cannot use {path}: {reason}")]
    Input {
        /// The file as given on the command line.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A mirror action (`promote`, `failover`, `pause`, `unpause`) was
    /// answered, but failed for some of the topics (each topic's error is in
    /// the printed table). Retriable for some causes (e.g. lag not yet 0 on
    /// promote), so reported as retriable.
    #[error("{action} failed for {} of {total} mirror topic(s): {}", failed.len(), failed.join(","))]
    TopicsFailed {
        /// The command (`promote`, `failover`, `pause`, `unpause`).
        action: &'static str,
        /// Mirror topics that failed.
        failed: Vec<String>,
        /// Mirror topics asked for.
        total: usize,
    },
    /// Writing to stdout failed (e.g. a closed pipe). Not retriable.
    #[error("cannot write the output: {0}")]
    Output(String),
}

impl CliError {
    /// Whether running the same command again can succeed.
    #[allow(dead_code)] // part of the error contract; the binary only prints errors
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Api { status, .. } => *status == 404 || *status >= 500,
            Self::TopicsFailed { .. } => true,
            Self::Tls { .. }
            | Self::BadResponse { .. }
            | Self::Usage(_)
            | Self::Input { .. }
            | Self::Output(_) => false,
        }
    }
}
