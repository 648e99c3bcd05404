//! Test fixture (renamer): `rename-topic` answers `bad name!` (not a valid
//! Kafka topic name) and `rename-group` answers the empty string (group
//! names must be non-empty): both invalid results for the gateway.

use linkgate_plugin_sdk::{export_renamer, Config, Renamer};

/// The invalid topic name every topic gets.
pub const BAD_TOPIC_NAME: &str = "bad name!";

/// Renames everything to an invalid name.
pub struct BadRename;

impl Renamer for BadRename {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(BadRename)
    }

    fn rename_topic(&self, _name: &str) -> String {
        BAD_TOPIC_NAME.to_string()
    }

    fn rename_group(&self, _name: &str) -> String {
        String::new()
    }
}

export_renamer!(BadRename);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::{is_valid_topic_name, testing::config};

    #[test]
    fn names_are_invalid() {
        let r = BadRename::init(&config(&[])).unwrap();
        assert!(!is_valid_topic_name(&r.rename_topic("orders")));
        assert_eq!(r.rename_topic("orders"), "bad name!");
        assert!(r.rename_group("g").is_empty());
    }
}
