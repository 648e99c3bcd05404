//! Test fixture (group-filter), a user-written consumer group filter:
//! syncs the groups whose id ends with config `suffix` (required), and
//! panics (traps) when asked about the group named by config `trap.group`
//! (optional), so that tests see how the gateway handles a group filter
//! failing for one group.

use linkgate_plugin_sdk::{export_group_filter, Config, GroupFilter};

/// Syncs groups ending with the configured suffix.
pub struct Suffix {
    suffix: String,
    trap: Option<String>,
}

impl GroupFilter for Suffix {
    fn init(config: &Config) -> Result<Self, String> {
        config.reject_unknown(&["suffix", "trap.group"], &[])?;
        Ok(Suffix {
            suffix: config.require("suffix")?.to_string(),
            trap: config.get("trap.group").map(str::to_string),
        })
    }

    fn sync_group(&self, group: &str) -> bool {
        if self.trap.as_deref() == Some(group) {
            panic!("group-suffix fixture: asked about trap group {group}");
        }
        group.ends_with(&self.suffix)
    }
}

export_group_filter!(Suffix);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{config, synced_groups};

    #[test]
    fn syncs_groups_with_the_suffix() {
        let f = Suffix::init(&config(&[("suffix", "-dr")])).unwrap();
        assert_eq!(
            synced_groups(&f, &["app-dr", "app", "dr", "x-dr"]),
            ["app-dr", "x-dr"]
        );
        assert!(Suffix::init(&config(&[])).is_err());
    }

    #[test]
    #[should_panic(expected = "trap group boom")]
    fn traps_on_the_trap_group() {
        let f = Suffix::init(&config(&[("suffix", "-dr"), ("trap.group", "boom")])).unwrap();
        assert!(f.sync_group("a-dr"));
        f.sync_group("boom");
    }
}
