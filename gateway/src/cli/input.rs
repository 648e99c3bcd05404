//! Link and topic properties given on the command line or in files, turned
//! into ordered `(name, value)` pairs for the REST bodies:
//!
//! - [`split_configs`]: a `--config` / `--add-config` value,
//!   `k=v[,k=v]...`, split on commas as Kafka's `kafka-configs` /
//!   `kafka-cluster-links` do, with `[...]` grouping a value that contains
//!   commas (the brackets are removed: `k=[a,b]` gives `a,b`). Unlike
//!   Kafka's tools, a value that is a JSON object (`k={"a":1,"b":[2,3]}`) is
//!   kept whole and verbatim (commas, brackets and quoted strings inside
//!   `{...}` do not split), and a value may contain `=`. Other JSON
//!   (arrays, values with a `,` outside braces) needs `--config-file`.
//! - [`read_properties`]: a Java `.properties` file (`--config-file`,
//!   `--add-config-file`) through the `java-properties` crate, read as
//!   UTF-8 (ASCII files read the same as Java's ISO-8859-1; `\uXXXX`
//!   escapes work either way).
//! - [`read_json`]: a JSON file (`--topic-filters-json-file`), checked and
//!   compacted to one line.
//! - [`merge`]: later sources override earlier ones, keeping the first
//!   position of a name.
//!
//! Errors never contain property values or file contents (they may be
//! secrets such as `sasl.jaas.config`), only item positions, names, lines.

use std::path::Path;

use super::error::CliError;

/// Splits one `--config` value (`k=v[,k=v]...`) into `(name, value)` pairs
/// in order. Names and values are trimmed; empty items (`a=1,,b=2`, a
/// trailing comma) are skipped. `flag` names the flag in errors.
///
/// # Errors
/// [`CliError::Usage`] for an item without `=`, an empty name, or an
/// unbalanced `[`/`{`.
pub fn split_configs(flag: &str, text: &str) -> Result<Vec<(String, String)>, CliError> {
    let mut out = Vec::new();
    for (index, item) in split_top_level(flag, text)?.into_iter().enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let position = index + 1;
        let Some((name, value)) = item.split_once('=') else {
            return Err(CliError::Usage(format!(
                "{flag}: item {position} has no '=' (expected name=value)"
            )));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(CliError::Usage(format!(
                "{flag}: item {position} has an empty name"
            )));
        }
        out.push((name.to_string(), unbracket(value.trim()).to_string()));
    }
    Ok(out)
}

/// Splits `text` on the commas that are outside `[...]` and `{...}`;
/// inside braces, double-quoted strings (with `\` escapes) are skipped, so
/// a JSON object stays whole.
fn split_top_level<'a>(flag: &str, text: &'a str) -> Result<Vec<&'a str>, CliError> {
    let unbalanced = || CliError::Usage(format!("{flag}: unbalanced '[' or '{{' in the value"));
    let mut items = Vec::new();
    let mut closers: Vec<char> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if closers.contains(&'}') => in_string = true,
            '[' => closers.push(']'),
            '{' => closers.push('}'),
            // The guard pops the group this character closes; a mismatch
            // is an error, a match falls through to `_`.
            ']' | '}' if closers.pop() != Some(c) => return Err(unbalanced()),
            ',' if closers.is_empty() => {
                items.push(text.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !closers.is_empty() || in_string {
        return Err(unbalanced());
    }
    items.push(text.get(start..).unwrap_or_default());
    Ok(items)
}

/// A value wrapped in one `[...]` group loses the brackets (Kafka's
/// grouping of a list value); any other value is returned as is.
fn unbracket(value: &str) -> &str {
    match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        // Only when the first '[' closes at the very end: "[a],[b]" is not
        // one group.
        Some(inner) if closes_at_end(value) => inner.trim(),
        _ => value,
    }
}

/// Whether the `[` opening `value` is closed by its last character.
fn closes_at_end(value: &str) -> bool {
    let mut depth = 0usize;
    for (i, c) in value.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + c.len_utf8() == value.len();
                }
            }
            _ => {}
        }
    }
    false
}

/// The `(name, value)` pairs of a Java `.properties` file, in file order
/// (a name given twice keeps its first position and its last value, as
/// `java.util.Properties` keeps the last value).
///
/// # Errors
/// [`CliError::Input`] when the file cannot be read or a line is malformed
/// (e.g. a bad `\u` escape); the reason names the line, not its content.
pub fn read_properties(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    let input = |reason: String| CliError::Input {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| input(e.to_string()))?;
    let mut pairs = Vec::new();
    java_properties::PropertiesIter::new_with_encoding(
        std::io::BufReader::new(file),
        encoding_rs::UTF_8,
    )
    .read_into(|k, v| pairs.push((k, v)))
    .map_err(|e| {
        input(match e.line_number() {
            Some(line) => format!("not a .properties file (line {line})"),
            None => "cannot read it as a .properties file".to_string(),
        })
    })?;
    Ok(merge([pairs]))
}

/// The content of a JSON file as one-line JSON text (for a property such
/// as `auto.create.mirror.topics.filters`).
///
/// # Errors
/// [`CliError::Input`] when the file cannot be read or is not JSON (the
/// reason gives the line and column).
pub fn read_json(path: &Path) -> Result<String, CliError> {
    let input = |reason: String| CliError::Input {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| input(e.to_string()))?;
    compact_json(&text).map_err(input)
}

/// `text` checked as JSON and printed on one line.
///
/// # Errors
/// The parse error's category, line and column (never the content).
pub fn compact_json(text: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "not JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    Ok(value.to_string())
}

/// Concatenates the sources in order; a name that appears again replaces
/// the earlier value but keeps the earlier position.
pub fn merge<I>(sources: I) -> Vec<(String, String)>
where
    I: IntoIterator<Item = Vec<(String, String)>>,
{
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in sources.into_iter().flatten() {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_splits_on_top_level_commas() {
        let got = split_configs("--config", " a=1 , b = two,c=x=y,").expect("valid");
        assert_eq!(got, pairs(&[("a", "1"), ("b", "two"), ("c", "x=y")]));
    }

    #[test]
    fn brackets_group_a_list_value_and_are_removed() {
        let got = split_configs(
            "--config",
            "ssl.enabled.protocols=[TLSv1.2,TLSv1.3],linkgate.renamers=[a, b],x=[1],[2]",
        );
        // "x=[1],[2]": "[2]" is a separate item without '='.
        assert!(
            matches!(got, Err(CliError::Usage(ref m)) if m.contains("item 4")),
            "{got:?}"
        );
        let got = split_configs(
            "--config",
            "ssl.enabled.protocols=[TLSv1.2,TLSv1.3],n=[a, b]",
        )
        .expect("valid");
        assert_eq!(
            got,
            pairs(&[("ssl.enabled.protocols", "TLSv1.2,TLSv1.3"), ("n", "a, b")])
        );
    }

    #[test]
    fn json_object_values_survive_whole() {
        let json = r#"{"topicFilters":[{"name":"a,}]b","patternType":"PREFIXED","filterType":"INCLUDE"},{"name":"x\"y,","patternType":"LITERAL","filterType":"EXCLUDE"}]}"#;
        let got = split_configs(
            "--config",
            &format!("auto.create.mirror.topics.enable=true,auto.create.mirror.topics.filters={json},z=1"),
        )
        .expect("valid");
        assert_eq!(
            got,
            pairs(&[
                ("auto.create.mirror.topics.enable", "true"),
                ("auto.create.mirror.topics.filters", json),
                ("z", "1"),
            ])
        );
        let parsed: serde_json::Value = serde_json::from_str(&got[1].1).expect("still JSON");
        assert_eq!(parsed["topicFilters"][1]["name"], "x\"y,");
    }

    #[test]
    fn malformed_config_items_are_usage_errors_without_values() {
        for (text, want) in [
            ("a=1,secretvalue", "item 2 has no '='"),
            ("=v", "item 1 has an empty name"),
            ("a=[1,2", "unbalanced"),
            ("a={\"b\":1", "unbalanced"),
            ("a=1]", "unbalanced"),
            ("a={\"b\":\"x}", "unbalanced"),
        ] {
            let err = split_configs("--add-config", text).expect_err(text);
            let msg = err.to_string();
            assert!(msg.starts_with("--add-config: "), "{msg}");
            assert!(msg.contains(want), "{text}: {msg}");
            assert!(!msg.contains("secretvalue"), "{msg}");
        }
        assert_eq!(split_configs("--config", " , ").expect("empty"), vec![]);
    }

    #[test]
    fn properties_file_keeps_order_escapes_and_last_value() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        write!(
            f,
            "# comment\n! other comment\nbootstrap.servers = 127.0.0.1:9092,127.0.0.1:9093\n\
             sasl.jaas.config=org.Module required \\\n    username=\"u\";\n\
             cluster.link.prefix: east.\nname\\ with\\ space=caf\\u00e9 \u{e9}\n\
             bootstrap.servers=127.0.0.1:9094\n\
             auto.create.mirror.topics.filters={{\"topicFilters\":[{{\"name\":\"*\"}}]}}\n"
        )
        .expect("write");
        let got = read_properties(f.path()).expect("valid");
        assert_eq!(
            got,
            pairs(&[
                ("bootstrap.servers", "127.0.0.1:9094"),
                ("sasl.jaas.config", "org.Module required username=\"u\";"),
                ("cluster.link.prefix", "east."),
                ("name with space", "caf\u{e9} \u{e9}"),
                (
                    "auto.create.mirror.topics.filters",
                    "{\"topicFilters\":[{\"name\":\"*\"}]}"
                ),
            ])
        );
    }

    #[test]
    fn bad_properties_file_names_the_line_not_the_content() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        write!(f, "a=1\nsecret=hunter2\\uZZZZ\n").expect("write");
        let msg = read_properties(f.path())
            .expect_err("bad escape")
            .to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let missing = read_properties(Path::new("/nonexistent/x.properties"))
            .expect_err("missing")
            .to_string();
        assert!(
            missing.starts_with("cannot use /nonexistent/x.properties: "),
            "{missing}"
        );
    }

    #[test]
    fn json_file_is_checked_and_compacted() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        write!(f, "{{\n  \"topicFilters\": [\n    {{\"name\": \"orders\", \"patternType\": \"LITERAL\", \"filterType\": \"INCLUDE\"}}\n  ]\n}}\n").expect("write");
        let got = read_json(f.path()).expect("valid");
        assert!(!got.contains('\n') && !got.contains("  "), "{got}");
        let want = serde_json::json!({"topicFilters": [
            {"name": "orders", "patternType": "LITERAL", "filterType": "INCLUDE"}
        ]});
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&got).expect("JSON"),
            want
        );
        let mut bad = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(bad, "{{\"topicFilters\": [secret").expect("write");
        let msg = read_json(bad.path()).expect_err("not JSON").to_string();
        assert!(msg.contains("line 1"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
    }

    #[test]
    fn merge_overrides_in_place() {
        let got = merge([
            pairs(&[("a", "1"), ("b", "2")]),
            pairs(&[("c", "3"), ("a", "9")]),
        ]);
        assert_eq!(got, pairs(&[("a", "9"), ("b", "2"), ("c", "3")]));
    }
}
