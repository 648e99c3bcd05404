//! The consumer offset sync properties of a link (Confluent's
//! `consumer.offset.sync.enable`, `consumer.offset.sync.ms`,
//! `consumer.offset.group.filters`; linkgate's `linkgate.group.filters`),
//! parsed and validated into [`OffsetSyncConfig`].
//!
//! Which groups are synced is decided by the link's group filter chain
//! (plugins of kind `group-filter`, AND). `consumer.offset.group.filters`
//! is served by the bundled `group-filter` plugin at the head of that
//! chain; its JSON is Confluent's:
//! `{"groupFilters":[{"name":"orders-","patternType":"PREFIXED","filterType":"INCLUDE"}]}`,
//! `patternType` `LITERAL` (default) or `PREFIXED`, `filterType` `INCLUDE`
//! (default) or `EXCLUDE`; the literal name `*` matches every group; a
//! group passes when an include matches it and no exclude does. The JSON
//! is checked here ([`validate_group_filters`]) so that a malformed value
//! is refused with the property's name before any plugin is loaded.

use std::time::Duration;

use serde::Deserialize;

/// Default of `consumer.offset.sync.ms`.
pub const DEFAULT_OFFSET_SYNC_INTERVAL: Duration = Duration::from_millis(30_000);

/// How a filter name matches a group id (Confluent `patternType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum GroupPatternType {
    Literal,
    Prefixed,
}

/// Whether matching groups are synced or left out (Confluent `filterType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum GroupFilterType {
    Include,
    Exclude,
}

/// One entry of `groupFilters`; the fields are only checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GroupFilter {
    name: String,
    #[serde(rename = "patternType", default)]
    pattern_type: Option<GroupPatternType>,
    #[serde(rename = "filterType", default)]
    filter_type: Option<GroupFilterType>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFiltersJson {
    #[serde(rename = "groupFilters")]
    group_filters: Vec<GroupFilter>,
}

/// Checks Confluent's group filter JSON (`consumer.offset.group.filters`),
/// the shape the bundled `group-filter` plugin takes as its `filters`.
///
/// # Errors
/// A message naming what is wrong (not JSON, unknown field, unknown
/// `patternType`/`filterType`, empty name) and the expected shape.
pub fn validate_group_filters(json: &str) -> Result<(), String> {
    let shape = r#"expected {"groupFilters":[{"name":"...","patternType":"LITERAL"|"PREFIXED","filterType":"INCLUDE"|"EXCLUDE"}]}"#;
    let parsed: GroupFiltersJson =
        serde_json::from_str(json).map_err(|e| format!("{shape}: {e}"))?;
    if let Some(i) = parsed.group_filters.iter().position(|f| f.name.is_empty()) {
        return Err(format!("groupFilters[{i}] has an empty name; {shape}"));
    }
    Ok(())
}

/// The consumer offset sync settings of a link. Changeable on a running
/// link: the sync task reads them again before every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetSyncConfig {
    /// `consumer.offset.sync.enable` (default false).
    pub enable: bool,
    /// `consumer.offset.sync.ms` (default 30000): time between syncs.
    pub interval: Duration,
    /// The group filter chain (plugin names of kind `group-filter`, AND):
    /// `{link}/consumer.offset.group.filters` first when that property is
    /// set, then the link's `group_filters` (file) and
    /// `linkgate.group.filters` (property). Empty (the default): no group
    /// is synced.
    pub group_filters: Vec<String>,
}

impl Default for OffsetSyncConfig {
    fn default() -> Self {
        Self {
            enable: false,
            interval: DEFAULT_OFFSET_SYNC_INTERVAL,
            group_filters: Vec::new(),
        }
    }
}

/// The link properties [`OffsetSyncConfig`] is read from.
pub const OFFSET_SYNC_PROPERTIES: [&str; 4] = [
    "consumer.offset.sync.enable",
    "consumer.offset.sync.ms",
    "consumer.offset.group.filters",
    "linkgate.group.filters",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confluent_filters_are_accepted() {
        for ok in [
            r#"{"groupFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#,
            r#"{"groupFilters":[{"name":"app-","patternType":"PREFIXED"},{"name":"x","filterType":"EXCLUDE"}]}"#,
            r#"{"groupFilters":[]}"#,
        ] {
            assert_eq!(validate_group_filters(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn bad_json_names_the_shape() {
        for bad in [
            "not json",
            r#"{"topicFilters":[]}"#,
            r#"{"groupFilters":[{"name":"a","patternType":"MATCH"}]}"#,
            r#"{"groupFilters":[{"name":"a","patternType":"literal"}]}"#,
            r#"{"groupFilters":[{"name":"a","filterType":"DENY"}]}"#,
            r#"{"groupFilters":[{"name":""}]}"#,
            r#"{"groupFilters":[{"name":"a","extra":1}]}"#,
        ] {
            let e = validate_group_filters(bad).expect_err(bad);
            assert!(e.contains("groupFilters"), "{bad}: {e}");
        }
    }
}
