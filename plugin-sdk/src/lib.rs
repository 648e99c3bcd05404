//! Guest SDK for linkgate plugins: WebAssembly components (target
//! `wasm32-wasip2`) implementing one world of the WIT package
//! `linkgate:plugin@0.1.0` (shipped in this crate as `wit/linkgate-plugin.wit`,
//! also [`WIT`]).
//!
//! A plugin is a `cdylib` crate that implements one trait —
//! [`TopicFilter`], [`GroupFilter`], [`Renamer`], [`AclMapper`] or
//! [`RecordTransform`] — over the plain types of this crate
//! ([`SourceTopic`], [`AclBinding`], [`RecordBatch`], [`Verdict`],
//! [`Config`], ...) and exports it with the matching macro. The generated component bindings stay inside the SDK, so
//! the same plugin code builds natively and is unit-tested with
//! `cargo test` and the helpers of [`testing`]. Log lines go to the
//! gateway's log through [`info!`], [`warn!`] and friends.
//!
//! `init` runs once per plugin instance with the `[plugins.config]` table of
//! the gateway config; its `Ok` value is kept in a static for every later
//! call. Calls before a successful `init` answer a safe default (topic
//! filter: not mirrored; group filter: not synced; renamer: unchanged; ACL
//! mapper: binding unchanged; transform: keep every record) and log a
//! warning. A panic traps the instance and is
//! handled by the plugin's `on_error` policy in the gateway.
//!
//! # Topic filter
//!
//! ```
//! use linkgate_plugin_sdk::{export_topic_filter, Config, SourceTopic, TopicFilter};
//!
//! /// Mirrors topics starting with `prefix`, except compacted ones.
//! pub struct PrefixFilter {
//!     prefix: String,
//! }
//!
//! impl TopicFilter for PrefixFilter {
//!     fn init(config: &Config) -> Result<Self, String> {
//!         Ok(PrefixFilter { prefix: config.require("prefix")?.to_string() })
//!     }
//!
//!     fn mirror_topic(&self, topic: &SourceTopic) -> bool {
//!         topic.name.starts_with(&self.prefix) && topic.config("cleanup.policy") != Some("compact")
//!     }
//! }
//!
//! export_topic_filter!(PrefixFilter);
//!
//! // Natively (e.g. in the crate's #[cfg(test)] module):
//! use linkgate_plugin_sdk::testing;
//! let f = PrefixFilter::init(&testing::config(&[("prefix", "orders.")])).unwrap();
//! assert!(f.mirror_topic(&testing::topic("orders.eu")));
//! assert!(!f.mirror_topic(&testing::topic("payments")));
//! assert!(PrefixFilter::init(&testing::config(&[])).is_err());
//! ```
//!
//! # Group filter
//!
//! ```
//! use linkgate_plugin_sdk::{export_group_filter, Config, GroupFilter};
//!
//! /// Syncs the offsets of groups of one team (`team.<name>.*`), except
//! /// their test groups.
//! pub struct TeamGroups {
//!     prefix: String,
//! }
//!
//! impl GroupFilter for TeamGroups {
//!     fn init(config: &Config) -> Result<Self, String> {
//!         Ok(TeamGroups { prefix: format!("team.{}.", config.require("team")?) })
//!     }
//!
//!     fn sync_group(&self, group: &str) -> bool {
//!         group.starts_with(&self.prefix) && !group.ends_with(".test")
//!     }
//! }
//!
//! export_group_filter!(TeamGroups);
//!
//! use linkgate_plugin_sdk::testing;
//! let f = TeamGroups::init(&testing::config(&[("team", "billing")])).unwrap();
//! assert_eq!(
//!     testing::synced_groups(&f, &["team.billing.app", "team.billing.test", "team.ops.app"]),
//!     ["team.billing.app"]
//! );
//! ```
//!
//! # Renamer
//!
//! ```
//! use linkgate_plugin_sdk::{export_renamer, is_valid_topic_name, Config, Renamer};
//!
//! /// Prefixes mirror topic names; group names stay as they are.
//! pub struct Prefix {
//!     prefix: String,
//! }
//!
//! impl Renamer for Prefix {
//!     fn init(config: &Config) -> Result<Self, String> {
//!         let prefix = config.require("prefix")?;
//!         if !is_valid_topic_name(prefix) {
//!             return Err(format!("prefix `{prefix}` is not a valid topic name"));
//!         }
//!         Ok(Prefix { prefix: prefix.to_string() })
//!     }
//!
//!     fn rename_topic(&self, name: &str) -> String {
//!         format!("{}{name}", self.prefix)
//!     }
//!
//!     fn rename_group(&self, name: &str) -> String {
//!         name.to_string()
//!     }
//! }
//!
//! export_renamer!(Prefix);
//!
//! use linkgate_plugin_sdk::testing;
//! let r = Prefix::init(&testing::config(&[("prefix", "east.")])).unwrap();
//! assert_eq!(r.rename_topic("orders"), "east.orders");
//! assert_eq!(r.rename_group("billing"), "billing");
//! ```
//!
//! # ACL mapper
//!
//! ```
//! use linkgate_plugin_sdk::{export_acl_mapper, AclBinding, AclMapper, AclOperation, Config};
//!
//! /// Renames one principal and drops DELETE bindings.
//! pub struct RenamePrincipal {
//!     from: String,
//!     to: String,
//! }
//!
//! impl AclMapper for RenamePrincipal {
//!     fn init(config: &Config) -> Result<Self, String> {
//!         Ok(RenamePrincipal {
//!             from: config.require("from")?.to_string(),
//!             to: config.require("to")?.to_string(),
//!         })
//!     }
//!
//!     fn map_acl(&self, binding: &AclBinding) -> Vec<AclBinding> {
//!         if binding.operation == AclOperation::Delete {
//!             return Vec::new();
//!         }
//!         let mut out = binding.clone();
//!         if out.principal == self.from {
//!             out.principal = self.to.clone();
//!         }
//!         vec![out]
//!     }
//! }
//!
//! export_acl_mapper!(RenamePrincipal);
//!
//! use linkgate_plugin_sdk::{testing, ResourceType};
//! let m = RenamePrincipal::init(&testing::config(&[("from", "User:alice"), ("to", "User:bob")]))
//!     .unwrap();
//! let read = testing::acl("User:alice", ResourceType::Topic, "orders");
//! assert_eq!(m.map_acl(&read)[0].principal, "User:bob");
//! let delete = AclBinding { operation: AclOperation::Delete, ..read };
//! assert!(m.map_acl(&delete).is_empty());
//! ```
//!
//! # Record transform
//!
//! ```
//! use linkgate_plugin_sdk::{
//!     export_record_transform, info, Config, Header, RecordBatch, RecordTransform, Verdict,
//! };
//!
//! /// Drops records carrying header `skip`; stamps the others with `origin`.
//! pub struct Stamp {
//!     origin: String,
//! }
//!
//! impl RecordTransform for Stamp {
//!     fn init(config: &Config) -> Result<Self, String> {
//!         let origin = config.get("origin").unwrap_or("source").to_string();
//!         info!("stamping records with origin {origin}");
//!         Ok(Stamp { origin })
//!     }
//!
//!     fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
//!         batch
//!             .records
//!             .iter()
//!             .map(|record| {
//!                 if record.header("skip").is_some() {
//!                     return Verdict::Drop;
//!                 }
//!                 let mut replacement = record.to_replacement();
//!                 replacement.headers.push(Header::new("origin", self.origin.as_str()));
//!                 Verdict::Replace(replacement)
//!             })
//!             .collect()
//!     }
//! }
//!
//! export_record_transform!(Stamp);
//!
//! use linkgate_plugin_sdk::testing;
//! let t = Stamp::init(&testing::config(&[("origin", "dc1")])).unwrap();
//! let batch = testing::batch(vec![
//!     testing::record("k1", "v1"),
//!     testing::with_header(testing::record("k2", "v2"), "skip", ""),
//! ]);
//! let mirrored = testing::apply(&batch, &t.transform(&batch));
//! assert_eq!(mirrored.len(), 1);
//! assert_eq!(mirrored[0].header("origin").unwrap().value.as_deref(), Some(&b"dc1"[..]));
//! ```

#![warn(missing_docs)]

mod config;
mod export;
mod kinds;
pub mod log;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod types;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings;

pub use config::{Config, ConfigError};
pub use kinds::{AclMapper, GroupFilter, RecordTransform, Renamer, TopicFilter};
pub use types::{
    is_topic_name_byte, is_valid_topic_name, AclBinding, AclOperation, AclPermission, Header,
    KafkaRecord, ParseNameError, PatternType, RecordBatch, Replacement, ResourceType, SourceTopic,
    Verdict, MAX_TOPIC_NAME_LEN,
};

/// The WIT contract this SDK implements (`wit/linkgate-plugin.wit`), package
/// [`WIT_PACKAGE`].
pub const WIT: &str = include_str!("../wit/linkgate-plugin.wit");

/// The WIT package name and version this SDK implements.
pub const WIT_PACKAGE: &str = "linkgate:plugin@0.1.0";

/// Support for the `export_*!` macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::bindings;
    pub use crate::export::*;
}

#[cfg(test)]
mod tests {
    /// The SDK's WIT copy must be byte-identical to the gateway's contract
    /// at the repository root (`wit/linkgate-plugin.wit`).
    #[test]
    fn wit_copy_matches_repository_contract() {
        let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/linkgate-plugin.wit");
        let contract = std::fs::read_to_string(repo)
            .unwrap_or_else(|e| panic!("cannot read the contract {repo}: {e}"));
        assert!(
            contract == super::WIT,
            "plugin-sdk/wit/linkgate-plugin.wit differs from wit/linkgate-plugin.wit; copy the contract over"
        );
    }

    #[test]
    fn wit_package_matches_file() {
        assert!(super::WIT.contains(&format!("package {};", super::WIT_PACKAGE)));
    }
}
