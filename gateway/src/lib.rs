//! linkgate: a replication gateway for Apache Kafka.
//!
//! The gateway keeps its own connections to a **source** and a **destination**
//! cluster and mirrors source topics into **mirror topics** on the destination,
//! forwarding record batches without decompressing them.
//!
//! Modules:
//! - [`config`]: the TOML config file, validated into runtime settings.
//! - [`kafka`]: the Kafka client layer built on `kafka-protocol` (connections,
//!   ApiVersions, metadata, leader routing, admin requests).
//! - [`mirror`]: the data plane (fetch, batch pass-through, produce, offset map).
//! - [`plugin`]: the WebAssembly plugin host (wasmtime components, chains, hot swap).
//! - [`command`]: link and mirror command requests, results and refusals,
//!   shared by the data plane and the control plane.
//! - [`control`]: the mutating control-plane operations (links, mirror topics).
//! - [`runtime`]: a running gateway assembled from a config (plugins, links).
//! - [`secret`]: secret values and which properties hold them (the lowest layer).
//!
//! `ARCHITECTURE.md` beside `src/` follows one record batch from fetch to
//! produce and gives the dependency order of the modules.

pub mod api;
pub mod command;
pub mod config;
pub mod control;
pub mod kafka;
pub mod mirror;
pub mod plugin;
pub mod runtime;
pub mod secret;
pub mod tasks;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
pub(crate) mod test_pki;
