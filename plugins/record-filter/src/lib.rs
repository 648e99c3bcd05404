//! Bundled record filter (`bundled = "record-filter"`, kind
//! `record-transform`): drops records by header or key pattern; every other
//! record is kept unchanged.
//!
//! Config (at least one of `drop.header`, `drop.key.regex`):
//! - `drop.header`: a record carrying a header with this key is dropped.
//! - `drop.header.value`: only with `drop.header`; the header's value must
//!   also equal this (UTF-8 bytes; a null header value never equals).
//! - `drop.key.regex`: a record whose key (decoded as UTF-8, invalid bytes
//!   replaced by U+FFFD) matches this regular expression as a whole is
//!   dropped; a null key never matches.
//!
//! A record is dropped when either rule matches.

use linkgate_plugin_sdk::{
    export_record_transform, Config, KafkaRecord, RecordBatch, RecordTransform, Verdict,
};
use regex::Regex;

/// The configured drop rules.
#[derive(Debug)]
pub struct RecordFilter {
    header: Option<(String, Option<Vec<u8>>)>,
    key: Option<Regex>,
}

impl RecordFilter {
    /// True if `record` is to be dropped.
    fn drops(&self, record: &KafkaRecord) -> bool {
        let by_header = self.header.as_ref().is_some_and(|(name, wanted)| {
            record.headers.iter().any(|h| {
                h.key == *name
                    && match wanted {
                        None => true,
                        Some(w) => h.value.as_deref() == Some(w.as_slice()),
                    }
            })
        });
        let by_key = self.key.as_ref().is_some_and(|re| {
            record
                .key
                .as_deref()
                .is_some_and(|k| re.is_match(&String::from_utf8_lossy(k)))
        });
        by_header || by_key
    }
}

impl RecordTransform for RecordFilter {
    fn init(config: &Config) -> Result<Self, String> {
        config.reject_unknown(&["drop.header", "drop.header.value", "drop.key.regex"], &[])?;
        let value = config
            .get("drop.header.value")
            .map(|v| v.as_bytes().to_vec());
        let header = match config.get("drop.header") {
            Some("") => return Err("config key `drop.header` must not be empty".to_string()),
            Some(name) => Some((name.to_string(), value)),
            None if value.is_some() => {
                return Err("config key `drop.header.value` needs `drop.header`".to_string())
            }
            None => None,
        };
        let key = match config.get("drop.key.regex") {
            Some(pattern) => {
                let invalid =
                    |e: regex::Error| format!("config key `drop.key.regex`: invalid regex: {e}");
                // Checked alone first so the pattern cannot escape the anchoring group.
                Regex::new(pattern).map_err(invalid)?;
                Some(Regex::new(&format!("^(?:{pattern})$")).map_err(invalid)?)
            }
            None => None,
        };
        if header.is_none() && key.is_none() {
            return Err("record-filter needs `drop.header` or `drop.key.regex`".to_string());
        }
        Ok(RecordFilter { header, key })
    }

    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
        batch
            .records
            .iter()
            .map(|r| {
                if self.drops(r) {
                    Verdict::Drop
                } else {
                    Verdict::Keep
                }
            })
            .collect()
    }
}

export_record_transform!(RecordFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{batch, config, record, record_opt, with_header};
    use linkgate_plugin_sdk::Header;

    fn verdicts(f: &RecordFilter, records: Vec<KafkaRecord>) -> Vec<Verdict> {
        let b = batch(records);
        let v = f.transform(&b);
        assert_eq!(v.len(), b.records.len());
        v
    }

    #[test]
    fn drops_by_header_presence() {
        let f = RecordFilter::init(&config(&[("drop.header", "internal")])).unwrap();
        let mut null_value = record("k3", "v");
        null_value.headers.push(Header {
            key: "internal".into(),
            value: None,
        });
        assert_eq!(
            verdicts(
                &f,
                vec![
                    record("k1", "v"),
                    with_header(record("k2", "v"), "internal", "yes"),
                    null_value,
                    with_header(record("k4", "v"), "Internal", "yes"),
                ]
            ),
            vec![Verdict::Keep, Verdict::Drop, Verdict::Drop, Verdict::Keep]
        );
    }

    #[test]
    fn drops_by_header_value() {
        let f = RecordFilter::init(&config(&[
            ("drop.header", "env"),
            ("drop.header.value", "test"),
        ]))
        .unwrap();
        let mut null_value = record("k", "v");
        null_value.headers.push(Header {
            key: "env".into(),
            value: None,
        });
        assert_eq!(
            verdicts(
                &f,
                vec![
                    with_header(record("k", "v"), "env", "test"),
                    with_header(record("k", "v"), "env", "prod"),
                    with_header(with_header(record("k", "v"), "env", "prod"), "env", "test"),
                    null_value,
                ]
            ),
            vec![Verdict::Drop, Verdict::Keep, Verdict::Drop, Verdict::Keep]
        );
    }

    #[test]
    fn drops_by_whole_key_match() {
        let f = RecordFilter::init(&config(&[("drop.key.regex", "tmp-[0-9]+")])).unwrap();
        assert_eq!(
            verdicts(
                &f,
                vec![
                    record("tmp-12", "v"),
                    record("tmp-12x", "v"),
                    record("user-1", "v"),
                    record_opt(None, Some(b"v")),
                    record(&b"tmp-\xff"[..], "v"),
                ]
            ),
            vec![
                Verdict::Drop,
                Verdict::Keep,
                Verdict::Keep,
                Verdict::Keep,
                Verdict::Keep
            ]
        );
        let lossy = RecordFilter::init(&config(&[("drop.key.regex", "tmp-\u{fffd}")])).unwrap();
        assert_eq!(
            verdicts(&lossy, vec![record(&b"tmp-\xff"[..], "v")]),
            vec![Verdict::Drop]
        );
    }

    #[test]
    fn either_rule_drops() {
        let f =
            RecordFilter::init(&config(&[("drop.header", "x"), ("drop.key.regex", "a")])).unwrap();
        assert_eq!(
            verdicts(
                &f,
                vec![
                    record("a", "1"),
                    with_header(record("b", "2"), "x", ""),
                    record("c", "3")
                ]
            ),
            vec![Verdict::Drop, Verdict::Drop, Verdict::Keep]
        );
    }

    #[test]
    fn refuses_bad_configs() {
        let err = |pairs: &[(&str, &str)]| RecordFilter::init(&config(pairs)).unwrap_err();
        assert!(err(&[]).contains("needs"));
        assert!(err(&[("drop.header.value", "x")]).contains("needs `drop.header`"));
        assert!(err(&[("drop.header", "")]).contains("must not be empty"));
        assert!(err(&[("drop.key.regex", "[")]).contains("invalid regex"));
        assert!(err(&[("drop.key.regex", "a)|(b")]).contains("invalid regex"));
        assert!(err(&[("drop.header", "x"), ("drop.value", "y")]).contains("unknown"));
    }
}
