//! Secret values and the rule for which properties hold them. The lowest
//! layer of the crate: every other module (the Kafka client layer included)
//! may use it, it uses none of them.
//!
//! - [`Secret`]: a string whose `Debug` is redacted, read only through
//!   [`Secret::expose`].
//! - [`property_is_sensitive`]: which Kafka/Confluent property names hold
//!   secrets (password-typed in Kafka's `ConfigDef`).
//! - [`scrub`]: removes known secret values from text that is about to leave
//!   the gateway (a broker's error message, a parser's message).
//! - [`sealed`]: AEAD encryption of secret values stored in a state topic.

pub mod sealed;

/// A secret value (a password, a JAAS config, a private key, a token, the
/// REST API token): its `Debug` output is `Secret(<redacted>)`, so it never
/// reaches a log line through a struct dump. Read it with
/// [`Secret::expose`] only where it is used.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself (never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Whether a property holds a secret: Kafka client properties of type
/// `PASSWORD` (`sasl.jaas.config`, `ssl.key.password`, `ssl.keystore.key`,
/// `ssl.keystore.password`, `ssl.keystore.certificate.chain`,
/// `ssl.truststore.password`, `ssl.truststore.certificates`), any name
/// ending in `.password`, `jaas.config`, `.secret` or `.token` (prefixed
/// client overrides such as `local.sasl.jaas.config`, OAuth client secrets).
pub fn property_is_sensitive(name: &str) -> bool {
    const PASSWORD_TYPED: [&str; 7] = [
        "sasl.jaas.config",
        "ssl.key.password",
        "ssl.keystore.key",
        "ssl.keystore.password",
        "ssl.keystore.certificate.chain",
        "ssl.truststore.password",
        "ssl.truststore.certificates",
    ];
    PASSWORD_TYPED
        .iter()
        .any(|p| name == *p || name.ends_with(&format!(".{p}")))
        || name.ends_with(".password")
        || name.ends_with("jaas.config")
        || name.ends_with(".secret")
        || name.ends_with(".token")
}

/// `text` with every occurrence of each non-empty value of `secrets`
/// replaced by `<redacted>`. Applied to text from outside (a broker's error
/// message, an identity provider's answer) before it is logged or returned,
/// since such text can echo what was sent.
pub fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_string();
    // Longest first: a secret that contains another (a password holding the
    // user name) must go whole.
    let mut secrets: Vec<&str> = secrets.into_iter().collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        // Very short values (1-3 chars) would blank ordinary words; a
        // credential that short is not worth protecting by scrubbing.
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, "<redacted>");
        }
    }
    out
}

/// `(name, value)` properties for `Debug` output: the value of every
/// property for which [`property_is_sensitive`] holds is `<redacted>`.
pub fn redacted(configs: &[(String, String)]) -> Vec<(&str, &str)> {
    configs
        .iter()
        .map(|(k, v)| {
            let shown = if property_is_sensitive(k) {
                "<redacted>"
            } else {
                v.as_str()
            };
            (k.as_str(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn scrub_replaces_values() {
        assert_eq!(
            scrub("bad password hunter22 for alice", ["hunter22", "", "x"]),
            "bad password <redacted> for alice"
        );
        assert_eq!(
            scrub("alice/alice-pw-1", ["alice", "alice-pw-1"]),
            "<redacted>/<redacted>"
        );
    }

    #[test]
    fn sensitive_names() {
        for n in [
            "sasl.jaas.config",
            "local.sasl.jaas.config",
            "ssl.key.password",
            "ssl.keystore.key",
            "sasl.oauthbearer.client.secret",
        ] {
            assert!(property_is_sensitive(n), "{n}");
        }
        for n in [
            "bootstrap.servers",
            "sasl.mechanism",
            "ssl.truststore.location",
        ] {
            assert!(!property_is_sensitive(n), "{n}");
        }
    }
}
