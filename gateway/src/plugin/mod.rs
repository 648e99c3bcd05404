//! The WebAssembly plugin host: every rule of a cluster link (which topics
//! are mirrored, which consumer groups the offset sync takes, mirror topic
//! and group names, ACL mapping, record filtering and transformation) is a WebAssembly component exporting one
//! world of `wit/linkgate-plugin.wit` (package `linkgate:plugin@0.1.0`).
//! This is the only module that uses wasmtime.
//!
//! Pieces:
//! - [`PluginHost`] (`host`): one wasmtime engine with epoch interruption
//!   (1 ms tick, [`EPOCH_TICK`]); loads a [`PluginSpec`] into a
//!   [`LoadedPlugin`]: compile, world check, link, instantiate, `init`,
//!   self-check. Version = short SHA-256 of the bytes ([`content_version`]).
//! - [`LoadedPlugin`] (`loaded`): typed, validated, counted calls per kind.
//!   One instance per plugin version keeps `init`'s state (`guest`); each
//!   call has a deadline and the instance a memory limit; a failed call
//!   rebuilds the instance. Sandbox and host imports: `store`.
//! - [`Chains`] (`chain`): how the plugins of each kind combine, with
//!   `on_error` (`fail` / `skip` / `pass`) applied, and
//!   [`Chains::transform_batch`], which decodes a fetched v2 batch, runs
//!   the record transforms and re-encodes the survivors into one batch
//!   (`records`).
//! - [`PluginRegistry`] (`registry`): the served versions by name behind an
//!   `ArcSwap`, atomic hot swap with rollback on failure, status; plus a
//!   debounced file watcher ([`PluginRegistry::watch`], `watch`).
//! - Metric names: [`metrics`].
//!
//! Threads: loading compiles (CPU, up to seconds) and runs on tokio's
//! blocking pool ([`PluginHost::load`]) or the caller's thread
//! ([`PluginHost::load_blocking`]). Calls are synchronous and bounded by
//! the plugin's deadline; call them from a context that may block
//! (`spawn_blocking`, `block_in_place`); see [`LoadedPlugin`].

mod acl;
mod bindings;
pub mod bundled;
mod chain;
mod error;
mod guest;
mod host;
mod loaded;
pub mod metrics;
pub(crate) mod records;
mod registry;
mod store;
mod types;
pub mod validate;
mod watch;

#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod guest_tests;

pub use chain::{Chains, TransformOutcome};
pub use error::{ChainError, PluginError};
pub use host::{content_version, PluginHost, EPOCH_TICK, VERSION_HEX_LEN};
pub use loaded::{LoadedPlugin, SELF_CHECK_NAME};
pub use registry::{ChainNames, PluginRegistry, PluginSet, PluginStatus};
pub use store::MAX_LOG_LINE;
pub use types::{
    AclBinding, AclOperation, AclPermission, Header, KafkaRecord, OnError, ParseNameError,
    PatternType, PluginKind, PluginSpec, RecordBatchIn, Replacement, ResourceType, SourceTopic,
    Verdict,
};
pub use watch::{WatchHandle, WatchedPlugin, DEBOUNCE};
