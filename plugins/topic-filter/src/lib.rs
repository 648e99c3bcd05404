//! Bundled topic filter (`bundled = "topic-filter"`, kind `topic-filter`):
//! decides which source topics a cluster link mirrors, the way Confluent's
//! `auto.create.mirror.topics.filters` does.
//!
//! Config (all optional, combined):
//! - `filters`: Confluent JSON
//!   `{"topicFilters":[{"name":"orders.","patternType":"PREFIXED","filterType":"INCLUDE"}]}`;
//!   `patternType` is `LITERAL` (exact name; `"*"` = every topic) or
//!   `PREFIXED`, `filterType` is `INCLUDE` or `EXCLUDE` (both required,
//!   case-insensitive).
//! - `regex.include`, `regex.exclude`: regular expressions (Rust `regex`
//!   syntax) that must match the whole topic name.
//!
//! A topic is mirrored when at least one include (JSON or regex) matches it
//! and no exclude does: an exclude wins over an include, and without any
//! include nothing is mirrored.

use linkgate_plugin_sdk::{export_topic_filter, warn, Config, SourceTopic, TopicFilter};
use regex::Regex;
use serde::Deserialize;

/// The `filters` JSON document (Confluent cluster link `topicFilters`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FiltersDoc {
    topic_filters: Vec<FilterEntry>,
}

/// One entry of `topicFilters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FilterEntry {
    name: String,
    pattern_type: String,
    filter_type: String,
}

/// How one rule matches a topic name.
#[derive(Debug)]
enum Matcher {
    /// LITERAL `*`: every topic.
    All,
    /// LITERAL name: exactly this topic.
    Literal(String),
    /// PREFIXED name: topics starting with it.
    Prefixed(String),
    /// A regex anchored to match the whole name.
    Regex(Regex),
}

impl Matcher {
    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::All => true,
            Matcher::Literal(n) => n == name,
            Matcher::Prefixed(p) => name.starts_with(p.as_str()),
            Matcher::Regex(r) => r.is_match(name),
        }
    }
}

/// The configured include and exclude rules.
#[derive(Debug)]
pub struct Filter {
    include: Vec<Matcher>,
    exclude: Vec<Matcher>,
}

/// Compiles `pattern` so it must match the whole topic name. The pattern is
/// checked on its own first, so it cannot break out of the anchoring group
/// (e.g. `a)|(b`).
fn full_match_regex(key: &str, pattern: &str) -> Result<Regex, String> {
    let invalid = |e: regex::Error| format!("config key `{key}`: invalid regex: {e}");
    Regex::new(pattern).map_err(invalid)?;
    Regex::new(&format!("^(?:{pattern})$")).map_err(invalid)
}

/// Parses the `filters` JSON into (includes, excludes).
fn parse_filters(json: &str) -> Result<(Vec<Matcher>, Vec<Matcher>), String> {
    let doc: FiltersDoc = serde_json::from_str(json)
        .map_err(|e| format!("config key `filters`: not a topicFilters JSON document: {e}"))?;
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for (i, f) in doc.topic_filters.into_iter().enumerate() {
        let matcher = match f.pattern_type.to_ascii_uppercase().as_str() {
            "LITERAL" if f.name == "*" => Matcher::All,
            "LITERAL" => Matcher::Literal(f.name),
            "PREFIXED" => Matcher::Prefixed(f.name),
            other => {
                return Err(format!(
                    "config key `filters`: topicFilters[{i}]: patternType `{other}` is not LITERAL or PREFIXED"
                ))
            }
        };
        match f.filter_type.to_ascii_uppercase().as_str() {
            "INCLUDE" => include.push(matcher),
            "EXCLUDE" => exclude.push(matcher),
            other => {
                return Err(format!(
                    "config key `filters`: topicFilters[{i}]: filterType `{other}` is not INCLUDE or EXCLUDE"
                ))
            }
        }
    }
    Ok((include, exclude))
}

impl TopicFilter for Filter {
    fn init(config: &Config) -> Result<Self, String> {
        config.reject_unknown(&["filters", "regex.include", "regex.exclude"], &[])?;
        let (mut include, mut exclude) = match config.get("filters") {
            Some(json) => parse_filters(json)?,
            None => (Vec::new(), Vec::new()),
        };
        if let Some(p) = config.get("regex.include") {
            include.push(Matcher::Regex(full_match_regex("regex.include", p)?));
        }
        if let Some(p) = config.get("regex.exclude") {
            exclude.push(Matcher::Regex(full_match_regex("regex.exclude", p)?));
        }
        if include.is_empty() {
            warn!("topic-filter has no INCLUDE rule: no topic will be mirrored");
        }
        Ok(Filter { include, exclude })
    }

    fn mirror_topic(&self, topic: &SourceTopic) -> bool {
        let name = topic.name.as_str();
        self.include.iter().any(|m| m.matches(name))
            && !self.exclude.iter().any(|m| m.matches(name))
    }
}

export_topic_filter!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{config, topic};

    fn filter(pairs: &[(&str, &str)]) -> Filter {
        Filter::init(&config(pairs)).expect("valid config")
    }

    fn mirrored(f: &Filter, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .filter(|n| f.mirror_topic(&topic(n)))
            .map(|n| n.to_string())
            .collect()
    }

    const NAMES: &[&str] = &["orders", "orders.eu", "orders.us", "payments", "ordersx"];

    #[test]
    fn literal_star_includes_everything_and_exclude_wins() {
        let f = filter(&[(
            "filters",
            r#"{"topicFilters":[
                {"name":"*","patternType":"LITERAL","filterType":"INCLUDE"},
                {"name":"orders.","patternType":"PREFIXED","filterType":"EXCLUDE"},
                {"name":"payments","patternType":"LITERAL","filterType":"EXCLUDE"}]}"#,
        )]);
        assert_eq!(mirrored(&f, NAMES), vec!["orders", "ordersx"]);
    }

    #[test]
    fn prefixed_and_literal_includes() {
        let f = filter(&[(
            "filters",
            r#"{"topicFilters":[
                {"name":"orders.","patternType":"PREFIXED","filterType":"INCLUDE"},
                {"name":"payments","patternType":"literal","filterType":"include"}]}"#,
        )]);
        assert_eq!(
            mirrored(&f, NAMES),
            vec!["orders.eu", "orders.us", "payments"]
        );
    }

    #[test]
    fn no_include_mirrors_nothing() {
        let f = filter(&[(
            "filters",
            r#"{"topicFilters":[{"name":"x","patternType":"LITERAL","filterType":"EXCLUDE"}]}"#,
        )]);
        assert!(mirrored(&f, NAMES).is_empty());
        assert!(mirrored(&filter(&[]), NAMES).is_empty());
    }

    #[test]
    fn regexes_must_match_the_whole_name() {
        let f = filter(&[
            ("regex.include", "orders.*"),
            ("regex.exclude", r"orders\.us"),
        ]);
        assert_eq!(mirrored(&f, NAMES), vec!["orders", "orders.eu", "ordersx"]);
        let f = filter(&[("regex.include", "order")]);
        assert!(
            mirrored(&f, NAMES).is_empty(),
            "a partial match is not a match"
        );
    }

    #[test]
    fn json_and_regex_combine() {
        let f = filter(&[
            (
                "filters",
                r#"{"topicFilters":[{"name":"payments","patternType":"LITERAL","filterType":"INCLUDE"}]}"#,
            ),
            ("regex.include", r"orders\..*"),
            ("regex.exclude", ".*us"),
        ]);
        assert_eq!(mirrored(&f, NAMES), vec!["orders.eu", "payments"]);
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = |pairs: &[(&str, &str)]| Filter::init(&config(pairs)).unwrap_err();
        assert!(bad(&[("filters", "not json")]).contains("filters"));
        assert!(bad(&[("filters", r#"{"topicFilter":[]}"#)]).contains("filters"));
        assert!(bad(&[(
            "filters",
            r#"{"topicFilters":[{"name":"a","patternType":"MATCH","filterType":"INCLUDE"}]}"#
        )])
        .contains("patternType"));
        assert!(bad(&[(
            "filters",
            r#"{"topicFilters":[{"name":"a","patternType":"LITERAL","filterType":"MAYBE"}]}"#
        )])
        .contains("filterType"));
        assert!(bad(&[(
            "filters",
            r#"{"topicFilters":[{"name":"a","patternType":"LITERAL"}]}"#
        )])
        .contains("filters"));
        assert!(bad(&[("regex.include", "(")]).contains("regex.include"));
        assert!(bad(&[("regex.exclude", "a)|(b")]).contains("regex.exclude"));
        assert!(bad(&[("regex.includes", "a")]).contains("unknown config key"));
    }
}
