//! Typed errors of the Kafka client layer.
//!
//! Owns [`KafkaError`], the one error type returned by [`super::conn`] and
//! [`super::cluster`]. Every variant names the cluster it happened on (the
//! `name` of [`super::ClusterSettings`], e.g. `"source"`), and, where a broker
//! was involved, the broker address. [`KafkaError::is_retriable`] tells
//! whether retrying the same operation can help; for broker error codes it
//! follows the retriable flag of the Kafka protocol (`Errors.java`, as encoded
//! in [`kafka_protocol::ResponseError`]).

use std::time::Duration;

use kafka_protocol::ResponseError;

/// Kafka error code `UNKNOWN_TOPIC_OR_PARTITION` (3).
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka error code `LEADER_NOT_AVAILABLE` (5).
pub const LEADER_NOT_AVAILABLE: i16 = 5;
/// Kafka error code `NOT_LEADER_OR_FOLLOWER` (6).
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// Kafka error code `UNSUPPORTED_VERSION` (35).
pub const UNSUPPORTED_VERSION: i16 = 35;
/// Kafka error code `TOPIC_ALREADY_EXISTS` (36).
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Kafka error code `SECURITY_DISABLED` (54): the cluster has no authorizer,
/// so ACL requests (CreateAcls, DeleteAcls, DescribeAcls) are refused.
pub const SECURITY_DISABLED: i16 = 54;

/// An error of the Kafka client layer.
///
/// Every message starts with ``cluster `NAME`:`` and, where a broker was
/// involved, names its address (`host:port`). Use [`KafkaError::kind`] as a
/// metrics label, [`KafkaError::is_retriable`] to decide on a retry and
/// [`KafkaError::error_code`] to react to a specific Kafka error code.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The host name of a broker address could not be resolved (DNS), or
    /// resolved to no address. Retriable: DNS failures are often transient.
    #[error("cluster `{cluster}`: cannot resolve broker address {addr}: {reason}")]
    Resolve {
        /// Cluster name.
        cluster: String,
        /// The `host:port` that was looked up.
        addr: String,
        /// Why the lookup failed.
        reason: String,
    },
    /// The TCP connection to a broker could not be opened (refused,
    /// unreachable, ...). Retriable.
    #[error("cluster `{cluster}`: cannot connect to broker {addr}: {source}")]
    Connect {
        /// Cluster name.
        cluster: String,
        /// The broker address (`host:port`, or the resolved socket address).
        addr: String,
        /// The I/O error from the operating system.
        #[source]
        source: std::io::Error,
    },
    /// None of the bootstrap servers could be reached (each failed to resolve,
    /// connect or answer). Retriable.
    #[error("cluster `{cluster}`: no bootstrap server reachable; tried {}", tried_list(.tried))]
    Bootstrap {
        /// Cluster name.
        cluster: String,
        /// Every address tried, with the reason it failed.
        tried: Vec<(String, String)>,
        /// The link error code of each failure, in the order of `tried`
        /// (see [`link_error_code`]).
        codes: Vec<&'static str>,
    },
    /// An operation did not finish within its deadline (connect timeout or
    /// request timeout). Retriable.
    #[error("cluster `{cluster}`: {operation} to broker {addr} timed out after {} ms", .after.as_millis())]
    Timeout {
        /// Cluster name.
        cluster: String,
        /// The broker address.
        addr: String,
        /// What timed out, e.g. `"connect"` or `"Metadata v12 request"`.
        operation: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// The connection was closed (by the broker, by an I/O error, or by
    /// linkgate after a request timeout) before the response arrived.
    /// Retriable (on a new connection).
    #[error("cluster `{cluster}`: connection to broker {addr} lost: {reason}")]
    Disconnected {
        /// Cluster name.
        cluster: String,
        /// The broker address.
        addr: String,
        /// Why the connection is gone.
        reason: String,
    },
    /// Broker and linkgate share no version of an API (from ApiVersions), or
    /// a caller asked for a version outside the supported range. Not retriable.
    #[error("cluster `{cluster}`: broker {addr} and linkgate share no usable version of {api}: {detail}")]
    UnsupportedVersion {
        /// Cluster name.
        cluster: String,
        /// The broker address.
        addr: String,
        /// The API name, e.g. `"Fetch"`.
        api: String,
        /// The ranges involved.
        detail: String,
    },
    /// The broker sent bytes that do not decode as the expected response (or
    /// a frame larger than the limit). Not retriable: the connection is closed.
    #[error("cluster `{cluster}`: malformed response from broker {addr}: {detail}")]
    Malformed {
        /// Cluster name.
        cluster: String,
        /// The broker address.
        addr: String,
        /// What was wrong.
        detail: String,
    },
    /// A request could not be encoded at the chosen version (a field the
    /// version cannot carry, a string too long). A bug in the caller; not
    /// retriable.
    #[error(
        "cluster `{cluster}`: cannot encode {api} v{version} request for broker {addr}: {detail}"
    )]
    Encode {
        /// Cluster name.
        cluster: String,
        /// The broker address.
        addr: String,
        /// The API name.
        api: String,
        /// The version tried.
        version: i16,
        /// The encoder's message.
        detail: String,
    },
    /// The broker answered with a Kafka error code. Retriable exactly when the
    /// Kafka protocol marks the code retriable.
    #[error("cluster `{cluster}`: {context}: broker error {} ({code}){}", error_name(*.code), message_suffix(.message))]
    Broker {
        /// Cluster name.
        cluster: String,
        /// What was being done, e.g. `"ListOffsets orders-3 on broker 1 (10.0.0.1:9092)"`.
        context: String,
        /// The Kafka error code.
        code: i16,
        /// The broker's error message, when the response carries one.
        message: Option<String>,
    },
    /// The cluster does not know the topic (Metadata said
    /// `UNKNOWN_TOPIC_OR_PARTITION`), or the partition is beyond the topic's
    /// partition count. Retriable as in Kafka (the topic may be being created),
    /// but callers usually treat it as final.
    #[error("cluster `{cluster}`: unknown topic or partition {topic}{}", partition_suffix(*.partition))]
    UnknownTopic {
        /// Cluster name.
        cluster: String,
        /// Topic name.
        topic: String,
        /// The partition asked for, when a partition was asked for.
        partition: Option<i32>,
    },
    /// The TLS handshake with a broker failed: untrusted CA, host name
    /// mismatch, expired certificate, a client certificate refused, or a
    /// broker that does not speak TLS. `reason` says which in words and
    /// which `ssl.*` property to check. Not retriable: the configuration or
    /// the certificates must change (the link keeps retrying with backoff).
    #[error("cluster `{cluster}`: TLS with broker {addr} failed: {reason}")]
    Tls {
        /// Cluster name.
        cluster: String,
        /// The broker address.
        addr: String,
        /// What failed, in words.
        reason: String,
    },
    /// SASL authentication with a broker failed (KIP-152 SaslAuthenticate
    /// error, a mechanism the broker does not enable, a server message that
    /// does not verify, an OAuth token that cannot be had). `reason` holds
    /// the broker's message with every secret of the cluster's settings
    /// removed. Not retriable by the operation; retriable (`true`) only when
    /// an identity provider could not be reached.
    #[error(
        "cluster `{cluster}`: SASL {mechanism} authentication with broker {addr} failed: {reason}"
    )]
    Authentication {
        /// Cluster name.
        cluster: String,
        /// The broker address.
        addr: String,
        /// The SASL mechanism, e.g. `SCRAM-SHA-512`.
        mechanism: String,
        /// What failed, in words (scrubbed of secrets).
        reason: String,
        /// Kafka error code from the broker, when it sent one
        /// (`SASL_AUTHENTICATION_FAILED` 58, `UNSUPPORTED_SASL_MECHANISM` 33,
        /// `ILLEGAL_SASL_STATE` 34).
        code: Option<i16>,
        /// Whether trying again later can help (token endpoint down).
        retriable: bool,
    },
    /// A node id that the cluster metadata does not list. Retriable (metadata
    /// may catch up).
    #[error("cluster `{cluster}`: broker node {node_id} is not in the cluster metadata")]
    UnknownBroker {
        /// Cluster name.
        cluster: String,
        /// The node id asked for.
        node_id: i32,
    },
}

fn tried_list(tried: &[(String, String)]) -> String {
    if tried.is_empty() {
        return "nothing (no bootstrap servers configured)".to_string();
    }
    tried
        .iter()
        .map(|(addr, why)| format!("{addr} ({why})"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn message_suffix(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

fn partition_suffix(partition: Option<i32>) -> String {
    match partition {
        Some(p) => format!(" partition {p}"),
        None => String::new(),
    }
}

/// The Kafka name of an error code in `UPPER_SNAKE_CASE` as in the protocol
/// guide (e.g. `6` -> `"NOT_LEADER_OR_FOLLOWER"`), `"UNKNOWN_CODE"` for
/// codes this kafka-protocol version does not know, `"NONE"` for 0.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(_)) => "UNKNOWN_CODE".to_string(),
        Some(e) => {
            let camel = e.to_string();
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

/// Whether the Kafka protocol marks an error code retriable (per
/// [`kafka_protocol::ResponseError::is_retriable`]); `false` for 0 and for
/// unknown codes.
pub fn code_is_retriable(code: i16) -> bool {
    ResponseError::try_from_code(code).is_some_and(|e| e.is_retriable())
}

impl KafkaError {
    /// Whether retrying the operation (possibly on a fresh connection or
    /// after a metadata refresh) can succeed.
    ///
    /// True for resolve/connect/bootstrap failures, timeouts, disconnects,
    /// unknown brokers/topics, and broker error codes that Kafka marks
    /// retriable (`NOT_LEADER_OR_FOLLOWER`, `LEADER_NOT_AVAILABLE`,
    /// `UNKNOWN_TOPIC_OR_PARTITION`, `REQUEST_TIMED_OUT`,
    /// `NOT_ENOUGH_REPLICAS`, `NOT_CONTROLLER`, ...). False for malformed
    /// responses, unsupported versions, encoding bugs and non-retriable codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Resolve { .. }
            | KafkaError::Connect { .. }
            | KafkaError::Bootstrap { .. }
            | KafkaError::Timeout { .. }
            | KafkaError::Disconnected { .. }
            | KafkaError::UnknownTopic { .. }
            | KafkaError::UnknownBroker { .. } => true,
            KafkaError::UnsupportedVersion { .. }
            | KafkaError::Malformed { .. }
            | KafkaError::Encode { .. }
            | KafkaError::Tls { .. } => false,
            KafkaError::Authentication { retriable, .. } => *retriable,
            KafkaError::Broker { code, .. } => code_is_retriable(*code),
        }
    }

    /// The cluster name (`ClusterSettings::name`) the error happened on.
    pub fn cluster(&self) -> &str {
        match self {
            KafkaError::Resolve { cluster, .. }
            | KafkaError::Connect { cluster, .. }
            | KafkaError::Bootstrap { cluster, .. }
            | KafkaError::Timeout { cluster, .. }
            | KafkaError::Disconnected { cluster, .. }
            | KafkaError::UnsupportedVersion { cluster, .. }
            | KafkaError::Malformed { cluster, .. }
            | KafkaError::Encode { cluster, .. }
            | KafkaError::Broker { cluster, .. }
            | KafkaError::UnknownTopic { cluster, .. }
            | KafkaError::UnknownBroker { cluster, .. }
            | KafkaError::Tls { cluster, .. }
            | KafkaError::Authentication { cluster, .. } => cluster,
        }
    }

    /// The broker address involved, when one broker was involved.
    pub fn broker_addr(&self) -> Option<&str> {
        match self {
            KafkaError::Resolve { addr, .. }
            | KafkaError::Connect { addr, .. }
            | KafkaError::Timeout { addr, .. }
            | KafkaError::Disconnected { addr, .. }
            | KafkaError::UnsupportedVersion { addr, .. }
            | KafkaError::Malformed { addr, .. }
            | KafkaError::Encode { addr, .. }
            | KafkaError::Tls { addr, .. }
            | KafkaError::Authentication { addr, .. } => Some(addr),
            _ => None,
        }
    }

    /// The Kafka error code, when the broker sent one (`Broker`), or the
    /// code the condition corresponds to (`UnknownTopic` ->
    /// `UNKNOWN_TOPIC_OR_PARTITION` = 3). `None` for client-side failures.
    pub fn error_code(&self) -> Option<i16> {
        match self {
            KafkaError::Broker { code, .. } => Some(*code),
            KafkaError::UnknownTopic { .. } => Some(UNKNOWN_TOPIC_OR_PARTITION),
            KafkaError::Authentication { code, .. } => *code,
            _ => None,
        }
    }

    /// The Kafka error name that describes this failure in task and API
    /// status: the name of the broker's code (`INVALID_CONFIG`,
    /// `UNKNOWN_TOPIC_OR_PARTITION`), `UNSUPPORTED_VERSION` when the broker
    /// lacks the API (Kafka's `UnsupportedVersionException`, code 35), else
    /// the link error code of [`link_error_code`] (`TIMEOUT_ERROR`, ...).
    pub fn status_name(&self) -> String {
        match (self, self.error_code()) {
            (_, Some(code)) => error_name(code),
            (KafkaError::UnsupportedVersion { .. }, None) => "UNSUPPORTED_VERSION".to_string(),
            (e, None) => link_error_code(e).to_string(),
        }
    }

    /// A short, fixed label for metrics and logs: `"resolve"`, `"connect"`,
    /// `"timeout"`, `"disconnected"`, `"unsupported_version"`, `"malformed"`,
    /// `"encode"`, `"broker_error"`, `"unknown_topic"`, `"unknown_broker"`.
    /// `Bootstrap` reports `"connect"`.
    pub fn kind(&self) -> &'static str {
        match self {
            KafkaError::Resolve { .. } => "resolve",
            KafkaError::Connect { .. } | KafkaError::Bootstrap { .. } => "connect",
            KafkaError::Timeout { .. } => "timeout",
            KafkaError::Disconnected { .. } => "disconnected",
            KafkaError::UnsupportedVersion { .. } => "unsupported_version",
            KafkaError::Malformed { .. } => "malformed",
            KafkaError::Encode { .. } => "encode",
            KafkaError::Broker { .. } => "broker_error",
            KafkaError::UnknownTopic { .. } => "unknown_topic",
            KafkaError::UnknownBroker { .. } => "unknown_broker",
            KafkaError::Tls { .. } => "tls",
            KafkaError::Authentication { .. } => "authentication",
        }
    }

    /// Attach the broker's `error_message` to a `Broker` error (no-op for
    /// other variants and for `None`/empty messages).
    pub fn with_message(mut self, msg: Option<&str>) -> Self {
        if let (KafkaError::Broker { message, .. }, Some(m)) = (&mut self, msg) {
            if !m.is_empty() {
                *message = Some(m.to_string());
            }
        }
        self
    }

    /// Count this error in `linkgate_kafka_errors_total{cluster,kind}`.
    pub(crate) fn record(&self) {
        metrics::counter!(
            "linkgate_kafka_errors_total",
            "cluster" => self.cluster().to_string(),
            "kind" => self.kind()
        )
        .increment(1);
    }
}

/// Build a [`KafkaError::Broker`] from a Kafka error code sent by a broker.
///
/// `context` says what was being done and where (topic, partition, broker
/// address), e.g. `"Produce orders-3 on broker 2 (10.0.0.2:9092)"`. The
/// message names the error as in the Kafka protocol guide
/// (`NOT_LEADER_OR_FOLLOWER (6)`); retriability follows
/// [`kafka_protocol::ResponseError::is_retriable`]. Counted in
/// `linkgate_kafka_errors_total{kind="broker_error"}`.
pub fn broker_error(cluster: &str, context: impl Into<String>, code: i16) -> KafkaError {
    let err = KafkaError::Broker {
        cluster: cluster.to_string(),
        context: context.into(),
        code,
        message: None,
    };
    err.record();
    err
}

/// Kafka error code `CLUSTER_AUTHORIZATION_FAILED` (31).
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// Kafka error codes of SASL failures: `UNSUPPORTED_SASL_MECHANISM` (33),
/// `ILLEGAL_SASL_STATE` (34), `SASL_AUTHENTICATION_FAILED` (58).
const SASL_ERRORS: [i16; 3] = [33, 34, 58];

/// The Confluent cluster link error code of a client error, as listed in
/// Confluent's Cluster Linking troubleshooting guide:
/// `UNRESOLVABLE_BOOTSTRAP_ERROR` (no bootstrap address resolves),
/// `BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR` (TCP connect refused or
/// unreachable), `AUTHENTICATION_ERROR` (SASL failed or the cluster refused
/// the gateway's principal), `TIMEOUT_ERROR` (connect or request deadline
/// passed), `UNKNOWN` otherwise.
///
/// For [`KafkaError::Bootstrap`] the codes of the addresses tried decide:
/// an authentication failure anywhere wins; then unresolvable when no
/// address resolved; then a refused connection; then a timeout.
pub fn link_error_code(e: &KafkaError) -> &'static str {
    match e {
        KafkaError::Resolve { .. } => "UNRESOLVABLE_BOOTSTRAP_ERROR",
        KafkaError::Connect { .. } => "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
        KafkaError::Timeout { .. } => "TIMEOUT_ERROR",
        // Kafka's SslAuthenticationException is an AuthenticationException.
        KafkaError::Tls { .. } | KafkaError::Authentication { .. } => "AUTHENTICATION_ERROR",
        KafkaError::Broker { code, .. }
            if SASL_ERRORS.contains(code) || *code == CLUSTER_AUTHORIZATION_FAILED =>
        {
            "AUTHENTICATION_ERROR"
        }
        KafkaError::Bootstrap { codes, .. } => {
            let any = |c: &str| codes.contains(&c);
            if any("AUTHENTICATION_ERROR") {
                "AUTHENTICATION_ERROR"
            } else if !codes.is_empty()
                && codes.iter().all(|c| *c == "UNRESOLVABLE_BOOTSTRAP_ERROR")
            {
                "UNRESOLVABLE_BOOTSTRAP_ERROR"
            } else if any("BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR") {
                "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR"
            } else if any("TIMEOUT_ERROR") {
                "TIMEOUT_ERROR"
            } else {
                "UNKNOWN"
            }
        }
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_error_names_code_and_cluster() {
        let e = broker_error("source", "ListOffsets t-0 on broker 1 (127.0.0.1:9092)", 6);
        let s = e.to_string();
        assert_eq!(
            s,
            "cluster `source`: ListOffsets t-0 on broker 1 (127.0.0.1:9092): broker error NOT_LEADER_OR_FOLLOWER (6)"
        );
        assert!(e.is_retriable());
        assert_eq!(e.error_code(), Some(6));
        assert_eq!(e.cluster(), "source");
        assert_eq!(e.kind(), "broker_error");
        let e = e.with_message(Some("leader moved"));
        assert!(e.to_string().ends_with("(6): leader moved"));
    }

    #[test]
    fn retriability_follows_kafka() {
        for code in [3, 5, 6, 7, 19, 20, 41] {
            assert!(broker_error("c", "x", code).is_retriable(), "code {code}");
        }
        for code in [-1, 1, 10, 35, 36, 29, 9999] {
            assert!(!broker_error("c", "x", code).is_retriable(), "code {code}");
        }
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_CODE");
    }

    #[test]
    fn transport_errors() {
        let e = KafkaError::Timeout {
            cluster: "dest".into(),
            addr: "h:1".into(),
            operation: "connect".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "cluster `dest`: connect to broker h:1 timed out after 1500 ms"
        );
        assert!(e.is_retriable());
        assert_eq!(e.kind(), "timeout");
        assert_eq!(e.error_code(), None);
        assert_eq!(e.broker_addr(), Some("h:1"));
        let m = KafkaError::Malformed {
            cluster: "dest".into(),
            addr: "h:1".into(),
            detail: "x".into(),
        };
        assert!(!m.is_retriable());
        let b = KafkaError::Bootstrap {
            cluster: "s".into(),
            tried: vec![
                ("a:1".into(), "refused".into()),
                ("b:2".into(), "timeout".into()),
            ],
            codes: vec!["BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR", "TIMEOUT_ERROR"],
        };
        assert_eq!(link_error_code(&b), "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR");
        assert_eq!(
            b.to_string(),
            "cluster `s`: no bootstrap server reachable; tried a:1 (refused); b:2 (timeout)"
        );
        let u = KafkaError::UnknownTopic {
            cluster: "s".into(),
            topic: "t".into(),
            partition: Some(4),
        };
        assert_eq!(
            u.to_string(),
            "cluster `s`: unknown topic or partition t partition 4"
        );
        assert_eq!(u.error_code(), Some(3));
    }
}
