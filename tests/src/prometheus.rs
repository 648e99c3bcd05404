//! Reading the Prometheus text exposition format (version 0.0.4) served by the
//! gateway's `GET /metrics`: one sample per line, `name{label="value",...} value [timestamp]`.
//! Comment lines (`# HELP`, `# TYPE`) and lines that do not parse are skipped.

/// One sample line of the exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name as written, including suffixes such as `_count`, `_sum`, `_bucket`.
    pub name: String,
    /// Label pairs in the order written, values unescaped (`\\`, `\"`, `\n`).
    pub labels: Vec<(String, String)>,
    /// Sample value (`NaN`, `+Inf`, `-Inf` accepted).
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when every `(name, value)` in `wanted` is a label of this sample
    /// (other labels of the sample are ignored).
    pub fn has_labels(&self, wanted: &[(&str, &str)]) -> bool {
        wanted.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// Parses every sample line of `text`; malformed lines are skipped.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

/// Sum of the values of all samples named `name` that carry all `labels`
/// (a subset match: `&[("link","demo")]` sums over every topic and partition);
/// `None` when no sample matches.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parse_metrics(text)
        .into_iter()
        .filter(|s| s.name == name && s.has_labels(labels))
        .map(|s| s.value)
        .reduce(|a, b| a + b)
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = line.get(..name_end)?.to_owned();
    let mut rest = line.get(name_end..)?;
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(after_brace)?;
        labels = parsed;
        rest = after;
    }
    let value_text = rest.split_whitespace().next()?;
    let value = value_text.parse::<f64>().ok()?;
    if name.is_empty() {
        return None;
    }
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Parses `k="v",k2="v2"}` and returns the pairs and the text after `}`.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s.get(..eq)?.trim().to_owned();
        s = s.get(eq + 1..)?.trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                other => value.push(other),
            }
        };
        labels.push((key, value));
        s = s.get(end + 1..)?.trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP linkgate_mirror_records_total records produced
# TYPE linkgate_mirror_records_total counter
linkgate_mirror_records_total{link="demo",topic="orders",partition="0"} 10
linkgate_mirror_records_total{link="demo",topic="orders",partition="1"} 5
linkgate_mirror_records_total{link="other",topic="x\"y",partition="0"} 7 1700000000000
linkgate_up 1
linkgate_fetch_latency_seconds_bucket{le="+Inf"} 3
weird{a="b\\c\nd",} NaN
broken{a="b" 1
"#;

    #[test]
    fn parses_samples_and_sums_subset_matches() {
        let samples = parse_metrics(TEXT);
        assert_eq!(samples.len(), 6, "{samples:?}");
        assert_eq!(
            metric_value(TEXT, "linkgate_mirror_records_total", &[("link", "demo")]),
            Some(15.0)
        );
        assert_eq!(
            metric_value(
                TEXT,
                "linkgate_mirror_records_total",
                &[("link", "demo"), ("partition", "1")]
            ),
            Some(5.0)
        );
        assert_eq!(
            metric_value(TEXT, "linkgate_mirror_records_total", &[("topic", "x\"y")]),
            Some(7.0)
        );
        assert_eq!(metric_value(TEXT, "linkgate_up", &[]), Some(1.0));
        assert_eq!(
            metric_value(
                TEXT,
                "linkgate_fetch_latency_seconds_bucket",
                &[("le", "+Inf")]
            ),
            Some(3.0)
        );
        assert_eq!(metric_value(TEXT, "linkgate_missing", &[]), None);
        let weird = samples
            .iter()
            .find(|s| s.name == "weird")
            .expect("weird sample");
        assert_eq!(weird.label("a"), Some("b\\c\nd"));
        assert!(weird.value.is_nan());
    }
}
