//! A plugin's configuration (WIT `types.config`): the `[plugins.config]`
//! table of its `[[plugins]]` entry in the gateway config file, as string
//! key/value pairs in file order, with typed accessors for `init`.

use std::fmt;

/// Why a configuration value could not be used. Converts into `String` so
/// `?` works inside `init(config) -> Result<Self, String>`. Messages name
/// the key but never the value (values may be secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required key is absent.
    #[error("config key `{key}` is required")]
    Missing {
        /// The missing key.
        key: String,
    },
    /// A key is present but its value is not usable.
    #[error("config key `{key}`: expected {expected}")]
    Invalid {
        /// The offending key.
        key: String,
        /// What the value should look like, e.g. `"true or false"`.
        expected: String,
    },
    /// A key the plugin does not know (often a typo).
    #[error("unknown config key `{key}`")]
    Unknown {
        /// The unknown key.
        key: String,
    },
}

impl From<ConfigError> for String {
    fn from(e: ConfigError) -> String {
        e.to_string()
    }
}

/// The configuration given to a plugin's `init`: key/value strings in file
/// order. Keys are not unique by construction; when a key repeats, the
/// accessors see the last value (later entries override earlier ones).
///
/// `Debug` prints the keys only, never the values.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// A configuration from key/value pairs in file order.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Config { entries }
    }

    /// The value of `key`, if present (the last one if it repeats).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or [`ConfigError::Missing`].
    pub fn require(&self, key: &str) -> Result<&str, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError::Missing {
            key: key.to_string(),
        })
    }

    /// `key` as a boolean: `"true"` or `"false"` (ASCII case-insensitive,
    /// surrounding whitespace ignored, as Kafka parses boolean configs);
    /// `default` when absent; [`ConfigError::Invalid`] for any other value.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(str::trim) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(ConfigError::Invalid {
                key: key.to_string(),
                expected: "true or false".to_string(),
            }),
        }
    }

    /// `key` as a comma-separated list: items trimmed, empty items dropped;
    /// an empty list when the key is absent.
    pub fn get_list(&self, key: &str) -> Vec<&str> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every entry whose key starts with `prefix`, as (key without the
    /// prefix, value), in file order; e.g. `with_prefix("principal.")` on
    /// `principal.User:alice = User:bob` yields `("User:alice", "User:bob")`.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v)))
    }

    /// [`ConfigError::Unknown`] for the first key that is neither in
    /// `known` nor starts with one of `known_prefixes`, so a typo in the
    /// gateway config is refused by `init` instead of silently ignored.
    pub fn reject_unknown(
        &self,
        known: &[&str],
        known_prefixes: &[&str],
    ) -> Result<(), ConfigError> {
        match self
            .iter()
            .find(|(k, _)| !known.contains(k) && !known_prefixes.iter().any(|p| k.starts_with(p)))
        {
            Some((k, _)) => Err(ConfigError::Unknown { key: k.to_string() }),
            None => Ok(()),
        }
    }

    /// Every entry, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries (repeated keys counted each time).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl From<Vec<(String, String)>> for Config {
    fn from(entries: Vec<(String, String)>) -> Self {
        Config::new(entries)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "keys",
                &self.entries.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn get_require_last_wins() {
        let c = cfg(&[("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(c.get("a"), Some("3"));
        assert_eq!(c.require("b"), Ok("2"));
        assert_eq!(
            c.require("zz"),
            Err(ConfigError::Missing { key: "zz".into() })
        );
        let s: String = c.require("zz").unwrap_err().into();
        assert_eq!(s, "config key `zz` is required");
        assert_eq!(c.len(), 3);
        assert!(!c.is_empty());
        assert!(Config::default().is_empty());
    }

    #[test]
    fn booleans() {
        let c = cfg(&[("t", " TRUE "), ("f", "false"), ("x", "yes")]);
        assert_eq!(c.get_bool("t", false), Ok(true));
        assert_eq!(c.get_bool("f", true), Ok(false));
        assert_eq!(c.get_bool("absent", true), Ok(true));
        let err = c.get_bool("x", false).unwrap_err();
        assert_eq!(err.to_string(), "config key `x`: expected true or false");
    }

    #[test]
    fn lists_and_prefixes() {
        let c = cfg(&[
            ("drop", " ALTER, ,DELETE ,"),
            ("principal.User:alice", "User:bob"),
            ("other", "x"),
            ("principal.User:carol", "User:dave"),
        ]);
        assert_eq!(c.get_list("drop"), vec!["ALTER", "DELETE"]);
        assert!(c.get_list("absent").is_empty());
        let mapped: Vec<_> = c.with_prefix("principal.").collect();
        assert_eq!(
            mapped,
            vec![("User:alice", "User:bob"), ("User:carol", "User:dave")]
        );
        assert_eq!(c.iter().count(), 4);
    }

    #[test]
    fn unknown_keys() {
        let c = cfg(&[("prefix", "a"), ("principal.User:x", "User:y")]);
        assert_eq!(c.reject_unknown(&["prefix"], &["principal."]), Ok(()));
        assert_eq!(
            c.reject_unknown(&["prefix"], &[]),
            Err(ConfigError::Unknown {
                key: "principal.User:x".into()
            })
        );
    }

    #[test]
    fn debug_hides_values() {
        let c = cfg(&[("password", "hunter2")]);
        let shown = format!("{c:?}");
        assert!(shown.contains("password"));
        assert!(!shown.contains("hunter2"));
    }
}
