//! Errors of the plugin host: [`PluginError`] for loading and calling one
//! plugin, [`ChainError`] for running a chain of plugins on data-plane input.
//!
//! Every error is on the gateway side (the plugin runs inside the gateway),
//! never on a Kafka cluster, and names the plugin and, once it is compiled,
//! its version (content hash). Messages never contain plugin config values.

use super::types::PluginKind;

/// Loading or calling one plugin failed.
///
/// `kind()` gives the metric label, `is_retriable()` whether doing the same
/// again can succeed. After any call error the host throws the plugin's
/// instance away and the next call uses a fresh instance (re-instantiated
/// and re-initialised), so one bad call never poisons later ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a WebAssembly component: no `\0asm` magic, or a
    /// core module instead of a component.
    #[error("plugin {plugin}: not a WebAssembly component: {reason}")]
    NotWasm {
        /// Plugin name.
        plugin: String,
        /// What is wrong with the bytes.
        reason: String,
    },
    /// wasmtime could not compile the component (invalid or unsupported
    /// WebAssembly).
    #[error("plugin {plugin} (version {version}): compiling the component failed: {message}")]
    Compile {
        /// Plugin name.
        plugin: String,
        /// Content hash of the bytes.
        version: String,
        /// wasmtime's reason.
        message: String,
    },
    /// The component does not export the world its `kind` requires (e.g. a
    /// renamer configured as a record transform).
    #[error("plugin {plugin} (version {version}): expected a component of world {expected}, found {found}")]
    WrongWorld {
        /// Plugin name.
        plugin: String,
        /// Content hash of the bytes.
        version: String,
        /// The WIT world of the configured kind, e.g.
        /// `linkgate:plugin/record-transform@0.1.0`.
        expected: &'static str,
        /// What the component exports instead (the world it looks like, and
        /// its export names).
        found: String,
    },
    /// The component imports something the host does not provide (only
    /// `linkgate:plugin/host` and WASI 0.2 are linked).
    #[error("plugin {plugin} (version {version}): cannot be linked: {message}")]
    Link {
        /// Plugin name.
        plugin: String,
        /// Content hash of the bytes.
        version: String,
        /// wasmtime's reason (names the missing import).
        message: String,
    },
    /// `init` returned `err(message)`: the plugin refuses its config.
    #[error("plugin {plugin} (version {version}) rejected its config: {message}")]
    InitRejected {
        /// Plugin name.
        plugin: String,
        /// Content hash of the bytes.
        version: String,
        /// The plugin's message.
        message: String,
    },
    /// The plugin trapped (panic, `unreachable`, stack overflow, ...).
    #[error("plugin {plugin} (version {version}) trapped: {message}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// Content hash of the bytes.
        version: String,
        /// The trap, with the tail of what the plugin wrote to stderr
        /// (a Rust panic message) when there is one.
        message: String,
    },
    /// A call ran past its deadline and was interrupted (epoch deadline).
    #[error(
        "plugin {plugin} (version {version}): call interrupted after its {timeout_ms} ms deadline"
    )]
    Timeout {
        /// Plugin name.
        plugin: String,
        /// Content hash of the bytes.
        version: String,
        /// The deadline, ms.
        timeout_ms: u64,
    },
    /// The plugin needed more memory than its limit.
    #[error("plugin {plugin} (version {version}): memory limit of {limit_bytes} bytes exceeded")]
    OutOfMemory {
        /// Plugin name.
        plugin: String,
        /// Content hash of the bytes.
        version: String,
        /// The limit, bytes.
        limit_bytes: usize,
    },
    /// The plugin returned a value the WIT contract forbids (verdict list of
    /// the wrong length, invalid topic name, timestamp below -1, ...).
    #[error("plugin {plugin} (version {version}) returned an invalid result: {message}")]
    InvalidResult {
        /// Plugin name.
        plugin: String,
        /// Content hash of the bytes.
        version: String,
        /// What is invalid.
        message: String,
    },
    /// A call of another kind's function (e.g. `transform` on a renamer):
    /// a bug in the caller.
    #[error("plugin {plugin} is a {kind} plugin and has no {call} function")]
    KindMismatch {
        /// Plugin name.
        plugin: String,
        /// The plugin's kind.
        kind: PluginKind,
        /// The WIT function that was called.
        call: &'static str,
    },
    /// No plugin of that name is loaded (registry lookups).
    #[error("plugin {plugin} is not loaded")]
    NotLoaded {
        /// Plugin name.
        plugin: String,
    },
    /// Reading a plugin file failed (file watcher).
    #[error("plugin {plugin}: reading {path} failed: {message}")]
    Read {
        /// Plugin name.
        plugin: String,
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The host itself failed (engine setup, a background task that
    /// panicked, a watcher that could not start).
    #[error("plugin host: {message}")]
    Host {
        /// What failed.
        message: String,
    },
}

impl PluginError {
    /// Short label for metrics and logs: `not_wasm`, `compile`,
    /// `wrong_world`, `link`, `init`, `trap`, `timeout`, `memory`,
    /// `invalid_result`, `kind_mismatch`, `not_loaded`, `read`, `host`.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::NotWasm { .. } => "not_wasm",
            PluginError::Compile { .. } => "compile",
            PluginError::WrongWorld { .. } => "wrong_world",
            PluginError::Link { .. } => "link",
            PluginError::InitRejected { .. } => "init",
            PluginError::Trap { .. } => "trap",
            PluginError::Timeout { .. } => "timeout",
            PluginError::OutOfMemory { .. } => "memory",
            PluginError::InvalidResult { .. } => "invalid_result",
            PluginError::KindMismatch { .. } => "kind_mismatch",
            PluginError::NotLoaded { .. } => "not_loaded",
            PluginError::Read { .. } => "read",
            PluginError::Host { .. } => "host",
        }
    }

    /// Whether the same call or load can succeed when repeated: `Timeout`
    /// (the deadline may have been missed under CPU pressure), `Read` (the
    /// file may have been mid-write) and `Host`. Plugins are deterministic
    /// for a given input, so traps, memory exhaustion, invalid results and
    /// load errors repeat.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            PluginError::Timeout { .. } | PluginError::Read { .. } | PluginError::Host { .. }
        )
    }

    /// The plugin name, if the error concerns one plugin.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            PluginError::NotWasm { plugin, .. }
            | PluginError::Compile { plugin, .. }
            | PluginError::WrongWorld { plugin, .. }
            | PluginError::Link { plugin, .. }
            | PluginError::InitRejected { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::Timeout { plugin, .. }
            | PluginError::OutOfMemory { plugin, .. }
            | PluginError::InvalidResult { plugin, .. }
            | PluginError::KindMismatch { plugin, .. }
            | PluginError::NotLoaded { plugin }
            | PluginError::Read { plugin, .. } => Some(plugin),
            PluginError::Host { .. } => None,
        }
    }
}

/// Running a chain of plugins failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A plugin with `on_error = "fail"` failed. For a record transform the
    /// pipeline fails the mirror partition (it waits for an operator); for
    /// the other kinds the link reports the error and the item (topic,
    /// mirror topic, binding) is left out.
    #[error("{kind} chain stopped by plugin {plugin} (on_error = fail): {source}")]
    Failed {
        /// The failing plugin's name.
        plugin: String,
        /// Its kind.
        kind: PluginKind,
        /// What went wrong.
        #[source]
        source: PluginError,
    },
    /// A source record batch could not be decoded for the record
    /// transforms (corrupt records section, or more records than its size
    /// allows). Source side, not retriable: refetching returns the same
    /// bytes.
    #[error("source batch at offset {base_offset} of {topic}-{partition} cannot be decoded for record transforms: {message}")]
    Decode {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Base offset of the batch.
        base_offset: i64,
        /// Decoder message.
        message: String,
    },
    /// A source batch's records section decompresses to more than
    /// `limit_bytes` (`kafka::records::decompress::MAX_DECOMPRESSED_BATCH_BYTES`);
    /// decompression stopped there. Not retriable.
    #[error("source batch at offset {base_offset} of {topic}-{partition} cannot be decoded for record transforms: its {codec} records section decompresses to more than {limit_bytes} bytes")]
    DecompressedTooLarge {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Base offset of the batch.
        base_offset: i64,
        /// Codec name.
        codec: &'static str,
        /// The limit, in bytes.
        limit_bytes: usize,
    },
    /// The transformed records could not be encoded into one batch (a
    /// replacement's timestamps too far apart from the others, a record
    /// larger than 2 GiB). Not retriable.
    #[error("transformed batch at offset {base_offset} of {topic}-{partition} cannot be encoded: {message}")]
    Encode {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Base offset of the source batch.
        base_offset: i64,
        /// Encoder message.
        message: String,
    },
}

impl ChainError {
    /// Short label: `plugin_<PluginError::kind>` for `Failed`, `decode`,
    /// `decompressed_too_large`, `encode`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainError::Failed { source, .. } => match source.kind() {
                "trap" => "plugin_trap",
                "timeout" => "plugin_timeout",
                "memory" => "plugin_memory",
                "invalid_result" => "plugin_invalid_result",
                "init" => "plugin_init",
                _ => "plugin_other",
            },
            ChainError::Decode { .. } => "decode",
            ChainError::DecompressedTooLarge { .. } => "decompressed_too_large",
            ChainError::Encode { .. } => "encode",
        }
    }

    /// Whether retrying the same input can succeed: only a plugin error
    /// that is itself retriable ([`PluginError::is_retriable`]).
    pub fn is_retriable(&self) -> bool {
        match self {
            ChainError::Failed { source, .. } => source.is_retriable(),
            ChainError::Decode { .. }
            | ChainError::DecompressedTooLarge { .. }
            | ChainError::Encode { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_retriability() {
        let t = PluginError::Timeout {
            plugin: "p".into(),
            version: "abc".into(),
            timeout_ms: 5,
        };
        assert_eq!(t.kind(), "timeout");
        assert!(t.is_retriable());
        assert!(t.to_string().contains("5 ms"), "{t}");
        let trap = PluginError::Trap {
            plugin: "p".into(),
            version: "abc".into(),
            message: "boom".into(),
        };
        assert!(!trap.is_retriable());
        assert_eq!(trap.plugin(), Some("p"));
        let chain = ChainError::Failed {
            plugin: "p".into(),
            kind: PluginKind::RecordTransform,
            source: t,
        };
        assert_eq!(chain.kind(), "plugin_timeout");
        assert!(chain.is_retriable());
        assert!(
            chain.to_string().contains("record-transform chain"),
            "{chain}"
        );
        let ww = PluginError::WrongWorld {
            plugin: "p".into(),
            version: "v".into(),
            expected: PluginKind::RecordTransform.world(),
            found: "renamer".into(),
        };
        assert!(ww
            .to_string()
            .contains("linkgate:plugin/record-transform@0.1.0"));
        assert!(ww.to_string().contains("renamer"));
    }
}
