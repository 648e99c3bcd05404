//! Bundled consumer group filter (`bundled = "group-filter"`, kind
//! `group-filter`): decides which source consumer groups have their
//! committed offsets synced, the way Confluent's
//! `consumer.offset.group.filters` does. The gateway runs it, named
//! `{link}/consumer.offset.group.filters`, at the head of a link's group
//! filter chain when that property is set.
//!
//! Config:
//! - `filters` (required): Confluent JSON
//!   `{"groupFilters":[{"name":"app-","patternType":"PREFIXED","filterType":"INCLUDE"}]}`;
//!   `patternType` is `LITERAL` (the default; exact group id, `"*"` = every
//!   group) or `PREFIXED` (group ids starting with `name`; `*` is an
//!   ordinary character there), `filterType` is `INCLUDE` (the default) or
//!   `EXCLUDE`, both in upper case; `name` must be non-empty; no other
//!   fields.
//!
//! A group is synced when at least one include matches it and no exclude
//! does: an exclude wins over an include, and without any include no group
//! is synced.

use linkgate_plugin_sdk::{export_group_filter, warn, Config, GroupFilter};
use serde::Deserialize;

/// How a filter name matches a group id (Confluent `patternType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum PatternType {
    Literal,
    Prefixed,
}

/// Whether matching groups are synced or left out (Confluent `filterType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum FilterType {
    Include,
    Exclude,
}

fn literal() -> PatternType {
    PatternType::Literal
}

fn include() -> FilterType {
    FilterType::Include
}

/// One entry of `groupFilters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(rename = "patternType", default = "literal")]
    pattern_type: PatternType,
    #[serde(rename = "filterType", default = "include")]
    filter_type: FilterType,
}

/// The `filters` JSON document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FiltersDoc {
    #[serde(rename = "groupFilters")]
    group_filters: Vec<Entry>,
}

/// How one rule matches a group id.
#[derive(Debug, PartialEq, Eq)]
enum Matcher {
    /// LITERAL `*`: every group.
    All,
    /// LITERAL name: exactly this group.
    Literal(String),
    /// PREFIXED name: groups starting with it.
    Prefixed(String),
}

impl Matcher {
    fn matches(&self, group: &str) -> bool {
        match self {
            Matcher::All => true,
            Matcher::Literal(n) => n == group,
            Matcher::Prefixed(p) => group.starts_with(p.as_str()),
        }
    }
}

/// The configured include and exclude rules.
#[derive(Debug)]
pub struct Filter {
    include: Vec<Matcher>,
    exclude: Vec<Matcher>,
}

/// The shape `filters` must have, for error messages.
const SHAPE: &str = r#"expected {"groupFilters":[{"name":"...","patternType":"LITERAL"|"PREFIXED","filterType":"INCLUDE"|"EXCLUDE"}]}"#;

/// Parses the `filters` JSON into a [`Filter`].
fn parse(json: &str) -> Result<Filter, String> {
    let doc: FiltersDoc =
        serde_json::from_str(json).map_err(|e| format!("config key `filters`: {SHAPE}: {e}"))?;
    let mut filter = Filter {
        include: Vec::new(),
        exclude: Vec::new(),
    };
    for (i, e) in doc.group_filters.into_iter().enumerate() {
        if e.name.is_empty() {
            return Err(format!(
                "config key `filters`: groupFilters[{i}] has an empty name; {SHAPE}"
            ));
        }
        let matcher = match e.pattern_type {
            PatternType::Literal if e.name == "*" => Matcher::All,
            PatternType::Literal => Matcher::Literal(e.name),
            PatternType::Prefixed => Matcher::Prefixed(e.name),
        };
        match e.filter_type {
            FilterType::Include => filter.include.push(matcher),
            FilterType::Exclude => filter.exclude.push(matcher),
        }
    }
    Ok(filter)
}

impl GroupFilter for Filter {
    fn init(config: &Config) -> Result<Self, String> {
        config.reject_unknown(&["filters"], &[])?;
        let filter = parse(config.require("filters")?)?;
        if filter.include.is_empty() {
            warn!("group-filter has no INCLUDE rule: no consumer group will be synced");
        }
        Ok(filter)
    }

    fn sync_group(&self, group: &str) -> bool {
        self.include.iter().any(|m| m.matches(group))
            && !self.exclude.iter().any(|m| m.matches(group))
    }
}

export_group_filter!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{config, synced_groups};

    fn filter(json: &str) -> Filter {
        Filter::init(&config(&[("filters", json)])).expect("valid config")
    }

    const GROUPS: &[&str] = &[
        "app-1",
        "app-test-2",
        "billing",
        "billing2",
        "other",
        "*",
        "",
    ];

    #[test]
    fn literal_star_includes_every_group() {
        let f = filter(
            r#"{"groupFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#,
        );
        assert_eq!(synced_groups(&f, GROUPS), GROUPS);
    }

    #[test]
    fn prefixed_and_literal_with_defaults_and_exclude_wins() {
        let f = filter(
            r#"{"groupFilters":[
            {"name":"app-","patternType":"PREFIXED","filterType":"INCLUDE"},
            {"name":"app-test","patternType":"PREFIXED","filterType":"EXCLUDE"},
            {"name":"billing"}]}"#,
        );
        assert_eq!(synced_groups(&f, GROUPS), ["app-1", "billing"]);
        let f = filter(r#"{"groupFilters":[{"name":"*"},{"name":"x","filterType":"EXCLUDE"}]}"#);
        assert!(!f.sync_group("x"));
        assert!(f.sync_group("y"));
        // An exclude wins even over the literal include of the same group.
        let f = filter(
            r#"{"groupFilters":[{"name":"g"},{"name":"g","patternType":"LITERAL","filterType":"EXCLUDE"}]}"#,
        );
        assert!(!f.sync_group("g"));
    }

    #[test]
    fn star_is_literal_only_and_no_include_syncs_nothing() {
        let f = filter(r#"{"groupFilters":[{"name":"*","patternType":"PREFIXED"}]}"#);
        assert_eq!(synced_groups(&f, GROUPS), ["*"]);
        let f = filter(r#"{"groupFilters":[{"name":"x","filterType":"EXCLUDE"}]}"#);
        assert!(synced_groups(&f, GROUPS).is_empty());
        assert!(synced_groups(&filter(r#"{"groupFilters":[]}"#), GROUPS).is_empty());
    }

    #[test]
    fn bad_configs_are_refused_naming_the_shape() {
        for bad in [
            "not json",
            r#"{"topicFilters":[]}"#,
            r#"{"groupFilters":[{"name":"a","patternType":"MATCH"}]}"#,
            r#"{"groupFilters":[{"name":"a","patternType":"literal"}]}"#,
            r#"{"groupFilters":[{"name":"a","filterType":"DENY"}]}"#,
            r#"{"groupFilters":[{"name":""}]}"#,
            r#"{"groupFilters":[{"name":"a","extra":1}]}"#,
            r#"{"groupFilters":[],"more":1}"#,
        ] {
            let e = Filter::init(&config(&[("filters", bad)])).expect_err(bad);
            assert!(
                e.contains("groupFilters") && e.contains("filters"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            Filter::init(&config(&[])).err().as_deref(),
            Some("config key `filters` is required")
        );
        let e = Filter::init(&config(&[
            ("filters", r#"{"groupFilters":[]}"#),
            ("regex", "x"),
        ]))
        .expect_err("unknown key");
        assert!(e.contains("unknown config key"), "{e}");
    }
}
