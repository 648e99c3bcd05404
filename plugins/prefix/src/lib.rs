//! Bundled renamer (`bundled = "prefix"`, kind `renamer`): names mirror
//! topics (and optionally consumer groups) with a fixed prefix, like
//! Confluent's `cluster.link.prefix` and `consumer.group.prefix.enable`.
//!
//! Config:
//! - `prefix` (required, non-empty, only topic-name characters `[a-zA-Z0-9._-]`,
//!   e.g. `east.`): `rename-topic` returns `prefix + name`. A result longer
//!   than 249 bytes is returned as it is and refused by the gateway as an
//!   invalid name.
//! - `consumer.group.prefix.enable` (`true`/`false`, default `false`):
//!   `rename-group` returns `prefix + name` when true, the name unchanged
//!   otherwise.

use linkgate_plugin_sdk::{export_renamer, is_topic_name_byte, Config, Renamer};

/// The configured prefix.
#[derive(Debug)]
pub struct Prefix {
    prefix: String,
    groups: bool,
}

impl Renamer for Prefix {
    fn init(config: &Config) -> Result<Self, String> {
        config.reject_unknown(&["prefix", "consumer.group.prefix.enable"], &[])?;
        let prefix = config.require("prefix")?;
        if prefix.is_empty() {
            return Err("config key `prefix` must not be empty".to_string());
        }
        if !prefix.bytes().all(is_topic_name_byte) {
            return Err(format!(
                "config key `prefix`: `{prefix}` has characters not allowed in topic names (allowed: a-z A-Z 0-9 . _ -)"
            ));
        }
        let groups = config.get_bool("consumer.group.prefix.enable", false)?;
        Ok(Prefix {
            prefix: prefix.to_string(),
            groups,
        })
    }

    fn rename_topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn rename_group(&self, name: &str) -> String {
        if self.groups {
            format!("{}{name}", self.prefix)
        } else {
            name.to_string()
        }
    }
}

export_renamer!(Prefix);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::config;

    #[test]
    fn prefixes_topics_groups_only_when_enabled() {
        let r = Prefix::init(&config(&[("prefix", "east.")])).unwrap();
        assert_eq!(r.rename_topic("orders"), "east.orders");
        assert_eq!(r.rename_group("billing"), "billing");

        let r = Prefix::init(&config(&[
            ("prefix", "east."),
            ("consumer.group.prefix.enable", "true"),
        ]))
        .unwrap();
        assert_eq!(r.rename_topic("orders"), "east.orders");
        assert_eq!(r.rename_group("billing"), "east.billing");

        let r = Prefix::init(&config(&[
            ("prefix", "dc_1-"),
            ("consumer.group.prefix.enable", "false"),
        ]))
        .unwrap();
        assert_eq!(r.rename_group("billing"), "billing");
        assert_eq!(r.rename_topic("t"), "dc_1-t");
    }

    #[test]
    fn refuses_bad_prefixes_and_flags() {
        let err = |pairs: &[(&str, &str)]| Prefix::init(&config(pairs)).unwrap_err();
        assert_eq!(err(&[]), "config key `prefix` is required");
        assert!(err(&[("prefix", "")]).contains("must not be empty"));
        assert!(err(&[("prefix", "east/")]).contains("not allowed"));
        assert!(err(&[("prefix", "ost ")]).contains("not allowed"));
        assert!(err(&[("prefix", "é.")]).contains("not allowed"));
        assert!(
            err(&[("prefix", "a."), ("consumer.group.prefix.enable", "yes")])
                .contains("true or false")
        );
        assert!(err(&[("prefix", "a."), ("cluster.link.prefix", "b.")]).contains("unknown"));
    }
}
