//! Logging from a plugin: on wasm32 through the host's `log` import
//! (WIT `linkgate:plugin/host@0.1.0#log`; the gateway tags each line with the
//! plugin's name and version and cuts lines past 4096 bytes); natively to
//! stderr, so unit tests show the same lines.
//!
//! Use the macros [`trace!`](crate::trace), [`debug!`](crate::debug),
//! [`info!`](crate::info), [`warn!`](crate::warn), [`error!`](crate::error)
//! (`format!` syntax) or the function [`log`].

use std::fmt;

/// Severity of a log line (WIT `host.log-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something is off but the plugin carries on.
    Warn,
    /// Something failed.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        })
    }
}

/// Writes one line at `level`. On wasm32 this calls the host's `log`
/// import (never fails; the host cuts lines past 4096 bytes); natively it
/// prints `[linkgate-plugin LEVEL] message` to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::bindings::topic_filter::linkgate::plugin::host as wit;
        let level = match level {
            Level::Trace => wit::LogLevel::Trace,
            Level::Debug => wit::LogLevel::Debug,
            Level::Info => wit::LogLevel::Info,
            Level::Warn => wit::LogLevel::Warn,
            Level::Error => wit::LogLevel::Error,
        };
        wit::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("[linkgate-plugin {level}] {message}");
    }
}

/// Logs a `format!`-style message at [`Level::Trace`] (see [`log`](crate::log::log)).
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Trace, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at [`Level::Debug`] (see [`log`](crate::log::log)).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at [`Level::Info`] (see [`log`](crate::log::log)).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at [`Level::Warn`] (see [`log`](crate::log::log)).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at [`Level::Error`] (see [`log`](crate::log::log)).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)+))
    };
}

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn levels_order_and_names() {
        assert!(Level::Trace < Level::Error);
        assert_eq!(Level::Warn.to_string(), "WARN");
        // Natively the macros print to stderr; this checks they expand.
        crate::info!("plugin says {} {}", 1, "two");
        crate::warn!("warn");
        crate::error!("error");
        crate::debug!("debug");
        crate::trace!("trace");
    }
}
