//! The consumer offset sync properties of a link (Confluent's
//! `consumer.offset.sync.enable`, `consumer.offset.sync.ms`,
//! `consumer.offset.group.filters`), parsed and validated into
//! [`OffsetSyncConfig`]. The group filter JSON is Confluent's:
//! `{"groupFilters":[{"name":"orders-","patternType":"PREFIXED","filterType":"INCLUDE"}]}`,
//! `patternType` `LITERAL` (default) or `PREFIXED`, `filterType` `INCLUDE`
//! (default) or `EXCLUDE`; the literal name `*` matches every group; a
//! group is synced when an include matches it and no exclude does.

use std::time::Duration;

use serde::Deserialize;

/// Default of `consumer.offset.sync.ms`.
pub const DEFAULT_OFFSET_SYNC_INTERVAL: Duration = Duration::from_millis(30_000);

/// How a filter name matches a group id (Confluent `patternType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupPatternType {
    /// The group id equals the name (`*`: every group).
    Literal,
    /// The group id starts with the name.
    Prefixed,
}

/// Whether matching groups are synced or left out (Confluent `filterType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupFilterType {
    /// Matching groups are synced.
    Include,
    /// Matching groups are not synced, whatever an include says.
    Exclude,
}

/// One entry of `groupFilters`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFilter {
    /// Group id, prefix, or `*` (literal) for every group.
    pub name: String,
    /// `LITERAL` (default) or `PREFIXED`.
    #[serde(rename = "patternType", default = "literal")]
    pub pattern_type: GroupPatternType,
    /// `INCLUDE` (default) or `EXCLUDE`.
    #[serde(rename = "filterType", default = "include")]
    pub filter_type: GroupFilterType,
}

fn literal() -> GroupPatternType {
    GroupPatternType::Literal
}

fn include() -> GroupFilterType {
    GroupFilterType::Include
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFiltersJson {
    #[serde(rename = "groupFilters")]
    group_filters: Vec<GroupFilter>,
}

impl GroupFilter {
    fn matches(&self, group: &str) -> bool {
        match self.pattern_type {
            GroupPatternType::Literal => self.name == "*" || self.name == group,
            GroupPatternType::Prefixed => group.starts_with(&self.name),
        }
    }
}

/// Parsed `consumer.offset.group.filters`. Empty: no group is synced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilters {
    /// The filters in the order given.
    pub filters: Vec<GroupFilter>,
}

impl GroupFilters {
    /// Parses Confluent's group filter JSON.
    ///
    /// # Errors
    /// A message naming what is wrong (not JSON, unknown field, unknown
    /// `patternType`/`filterType`, empty name) and the expected shape.
    pub fn parse(json: &str) -> Result<Self, String> {
        let shape = r#"expected {"groupFilters":[{"name":"...","patternType":"LITERAL"|"PREFIXED","filterType":"INCLUDE"|"EXCLUDE"}]}"#;
        let parsed: GroupFiltersJson =
            serde_json::from_str(json).map_err(|e| format!("{shape}: {e}"))?;
        if let Some(i) = parsed.group_filters.iter().position(|f| f.name.is_empty()) {
            return Err(format!("groupFilters[{i}] has an empty name; {shape}"));
        }
        Ok(Self {
            filters: parsed.group_filters,
        })
    }

    /// Whether group `group` is synced: some `INCLUDE` filter matches it
    /// and no `EXCLUDE` filter does.
    pub fn includes(&self, group: &str) -> bool {
        let matching = |t: GroupFilterType| {
            self.filters
                .iter()
                .any(|f| f.filter_type == t && f.matches(group))
        };
        matching(GroupFilterType::Include) && !matching(GroupFilterType::Exclude)
    }
}

/// The consumer offset sync settings of a link. Changeable on a running
/// link: the sync task reads them again before every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetSyncConfig {
    /// `consumer.offset.sync.enable` (default false).
    pub enable: bool,
    /// `consumer.offset.sync.ms` (default 30000): time between syncs.
    pub interval: Duration,
    /// `consumer.offset.group.filters` (default: none, no group synced).
    pub group_filters: GroupFilters,
}

impl Default for OffsetSyncConfig {
    fn default() -> Self {
        Self {
            enable: false,
            interval: DEFAULT_OFFSET_SYNC_INTERVAL,
            group_filters: GroupFilters::default(),
        }
    }
}

/// The link properties [`OffsetSyncConfig`] is read from.
pub const OFFSET_SYNC_PROPERTIES: [&str; 3] = [
    "consumer.offset.sync.enable",
    "consumer.offset.sync.ms",
    "consumer.offset.group.filters",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn f(json: &str) -> GroupFilters {
        GroupFilters::parse(json).expect("valid filters")
    }

    #[test]
    fn literal_prefixed_star_and_exclude_wins() {
        let all =
            f(r#"{"groupFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#);
        assert!(all.includes("anything"));
        let some = f(r#"{"groupFilters":[
            {"name":"app-","patternType":"PREFIXED","filterType":"INCLUDE"},
            {"name":"app-test","patternType":"PREFIXED","filterType":"EXCLUDE"},
            {"name":"billing"}]}"#);
        assert!(some.includes("app-1"));
        assert!(!some.includes("app-test-2"));
        assert!(some.includes("billing"));
        assert!(!some.includes("billing2"));
        assert!(!some.includes("other"));
        let excluded = f(r#"{"groupFilters":[{"name":"*"},{"name":"x","filterType":"EXCLUDE"}]}"#);
        assert!(!excluded.includes("x"));
        assert!(excluded.includes("y"));
        assert!(!GroupFilters::default().includes("any"));
        // `*` is literal-only: as a prefix it is an ordinary character.
        let star_prefix = f(r#"{"groupFilters":[{"name":"*","patternType":"PREFIXED"}]}"#);
        assert!(!star_prefix.includes("g"));
    }

    #[test]
    fn bad_json_names_the_shape() {
        for bad in [
            "not json",
            r#"{"topicFilters":[]}"#,
            r#"{"groupFilters":[{"name":"a","patternType":"MATCH"}]}"#,
            r#"{"groupFilters":[{"name":"a","filterType":"DENY"}]}"#,
            r#"{"groupFilters":[{"name":""}]}"#,
            r#"{"groupFilters":[{"name":"a","extra":1}]}"#,
        ] {
            let e = GroupFilters::parse(bad).expect_err(bad);
            assert!(e.contains("groupFilters"), "{bad}: {e}");
        }
    }
}
