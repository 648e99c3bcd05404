//! Test harness: starts real brokers and the gateway for the end-to-end tests
//! in `tests/tests/*.rs`, and produces/reads records with librdkafka.
//!
//! - [`Broker`]: a nisshi broker (independent Kafka-protocol implementation,
//!   installed by `tests/bin/setup.sh`) on a free loopback port.
//! - [`Gateway`]: the `linkgate` binary run with a TOML config, ready once
//!   `GET /metrics` answers 200.
//! - [`produce`], [`consume_partition`], [`create_topic`]: the real client side.
//! - [`link_config`]: the config text of a gateway with one link between two
//!   brokers.
//! - [`wait_until`]: polling with a deadline instead of sleeps.
//! - [`Api`], [`control_config`]: the REST API with JSON bodies and a bearer
//!   token, and a gateway config without links (links made through the API).
//! - [`run_cli`]: the operator CLI as a child process.
//! - [`list_topics`]: a cluster's topic names.
//! - [`contract`]: Confluent's REST v3 OpenAPI contract as a response
//!   checker (JSON Schema validation, operations covered).
//! - [`control`]: shared control-plane test helpers ([`start_pair`],
//!   [`create_link`], JSON list lookups).
//! - Secure brokers: [`TestCa`]/[`TestCert`] (a test PKI made with rcgen),
//!   [`Broker::start_secure`] with [`BrokerSecurity`] (TLS listener, SCRAM
//!   users), [`TlsFront`]/[`MtlsBroker`] (socat requiring client
//!   certificates), and [`ClientSecurity`] for the client side (librdkafka
//!   properties, Java-client properties for linkgate configs); the record
//!   helpers take one in their `_with` variants.
//! - Network faults: [`FaultProxy`] (a TCP proxy that, on demand, resets
//!   every open connection, loses the reply to a chosen Kafka request,
//!   stalls all bytes or refuses new connections, and counts what it did;
//!   [`FaultStats`]) and [`ProxiedBroker`] (a broker advertising the
//!   proxy's port, so clients stay behind the proxy after bootstrap).
//!
//! Missing binaries make tests panic with an instruction, never skip.

mod broker;
pub mod cli;
mod config;
pub mod contract;
pub mod control;
mod faults;
mod front;
mod gateway;
pub mod http;
mod paths;
mod process;
pub mod prometheus;
mod records;
mod scenario;
mod security;
mod tls;
pub mod topics;
mod wait;

pub use broker::{
    Broker, BrokerSecurity, ScramUser, Storage, TlsListener, BROKER_LOG_ENV, BROKER_READY_DEADLINE,
    USER_CREATE_DEADLINE,
};
pub use cli::{run_cli, CliRun};
pub use config::{link_config, with_cluster_properties};
pub use control::{
    assert_stays, create_link, entry, highs, link_body, names, start_control_gateway, start_pair,
    wait_link_state, QUIET_WINDOW,
};
pub use faults::{FaultProxy, FaultStats, ProxiedBroker};
pub use front::{MtlsBroker, TlsFront, FRONT_READY_DEADLINE};
pub use gateway::{
    http_get, Gateway, GATEWAY_LOG_ENV, GATEWAY_READY_DEADLINE, GATEWAY_RUST_LOG,
    GATEWAY_TERMINATE_DEADLINE,
};
pub use http::{control_config, http_request, Api, ApiResponse, CLUSTERS};
pub use paths::{cache_dir, gateway_bin, nisshi_bin, CACHE_DIR_ENV, GATEWAY_ENV, NISSHI_ENV};
pub use process::KEEP_TEMP_ENV;
pub use records::{
    assert_same_records, client_config, consume_partition, consume_partition_with, create_topic,
    create_topic_with, fetch_watermarks, fetch_watermarks_with, first_difference, now_ms,
    partition_count, partition_count_with, produce, produce_one_record_batches, produce_with,
    random_payload, TestRecord, CLIENT_DEADLINE, CODECS,
};
pub use scenario::ApiScenario;
pub use security::{
    ClientIdentity, ClientSecurity, PemFile, SaslCredentials, SaslMechanism, ScramMechanism,
    SecurityProtocol,
};
pub use tls::{CertSpec, CertUsage, TestCa, TestCert, LOOPBACK_SANS, WRONG_HOST};
pub use topics::{
    assert_topic_configs, list_topics, list_topics_with, topic_configs, topic_configs_with,
};
pub use wait::{free_port, wait_until, POLL_INTERVAL};
