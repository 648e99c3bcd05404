//! Bundled JSON masker (`bundled = "json-mask"`, kind `record-transform`):
//! replaces the values of chosen top-level fields of JSON object record
//! values with a mask string.
//!
//! Config:
//! - `fields` (required): comma list of top-level field names.
//! - `mask` (default `***`): the JSON string the field values become.
//!
//! A record whose value is a JSON object with at least one of the fields is
//! replaced: same timestamp, key and headers, the value re-serialized
//! compactly with field order and number text preserved. Any other record
//! (null value, not JSON, JSON that is not an object, no listed field) is
//! kept unchanged.

use linkgate_plugin_sdk::{
    export_record_transform, Config, KafkaRecord, RecordBatch, RecordTransform, Verdict,
};
use serde_json::Value;

/// The configured fields and mask.
#[derive(Debug)]
pub struct JsonMask {
    fields: Vec<String>,
    mask: String,
}

impl JsonMask {
    /// The masked value of `record`, or `None` if it stays as it is.
    fn masked(&self, record: &KafkaRecord) -> Option<Vec<u8>> {
        let mut json: Value = serde_json::from_slice(record.value.as_deref()?).ok()?;
        let object = json.as_object_mut()?;
        let mut changed = false;
        for field in &self.fields {
            if let Some(v) = object.get_mut(field) {
                *v = Value::String(self.mask.clone());
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        serde_json::to_vec(&json).ok()
    }
}

impl RecordTransform for JsonMask {
    fn init(config: &Config) -> Result<Self, String> {
        config.reject_unknown(&["fields", "mask"], &[])?;
        let fields: Vec<String> = config
            .require("fields")?
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect();
        if fields.is_empty() {
            return Err("config key `fields` lists no field".to_string());
        }
        let mask = config.get("mask").unwrap_or("***").to_string();
        Ok(JsonMask { fields, mask })
    }

    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
        batch
            .records
            .iter()
            .map(|r| match self.masked(r) {
                Some(value) => {
                    let mut replacement = r.to_replacement();
                    replacement.value = Some(value);
                    Verdict::Replace(replacement)
                }
                None => Verdict::Keep,
            })
            .collect()
    }
}

export_record_transform!(JsonMask);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{apply, batch, config, record, record_opt, with_header};

    fn values(m: &JsonMask, records: Vec<KafkaRecord>) -> Vec<Option<String>> {
        let b = batch(records);
        apply(&b, &m.transform(&b))
            .into_iter()
            .map(|r| r.value.map(|v| String::from_utf8(v).unwrap()))
            .collect()
    }

    #[test]
    fn masks_listed_top_level_fields() {
        let m = JsonMask::init(&config(&[("fields", "ssn, card")])).unwrap();
        assert_eq!(
            values(
                &m,
                vec![
                    record(
                        "k",
                        r#"{"name":"ann","ssn":"123-45","card":{"n":1},"amount":12.50}"#
                    ),
                    record("k", r#"{"name":"bob","nested":{"ssn":"1"}}"#),
                ]
            ),
            vec![
                Some(r#"{"name":"ann","ssn":"***","card":"***","amount":12.50}"#.to_string()),
                Some(r#"{"name":"bob","nested":{"ssn":"1"}}"#.to_string()),
            ]
        );
    }

    #[test]
    fn replacement_keeps_key_headers_timestamp() {
        let m = JsonMask::init(&config(&[("fields", "pw"), ("mask", "REDACTED")])).unwrap();
        let b = batch(vec![with_header(
            record("user-1", r#"{"pw":"x"}"#),
            "h",
            "v",
        )]);
        let v = m.transform(&b);
        let Verdict::Replace(rep) = &v[0] else {
            panic!("expected a replacement, got {v:?}");
        };
        assert_eq!(rep.value.as_deref(), Some(&br#"{"pw":"REDACTED"}"#[..]));
        assert_eq!(rep.key.as_deref(), Some(&b"user-1"[..]));
        assert_eq!(rep.timestamp, b.records[0].timestamp);
        assert_eq!(rep.headers, b.records[0].headers);
    }

    #[test]
    fn non_json_and_untouched_values_are_kept() {
        let m = JsonMask::init(&config(&[("fields", "ssn")])).unwrap();
        let b = batch(vec![
            record("k", "plain text"),
            record("k", r#"["ssn"]"#),
            record("k", r#"{"other": 1}"#),
            record_opt(Some(b"k"), None),
            record("k", &b"\xff\xfe"[..]),
            record("k", r#"{"ssn": "1""#),
        ]);
        assert_eq!(m.transform(&b), vec![Verdict::Keep; 6]);
    }

    #[test]
    fn refuses_bad_configs() {
        let err = |pairs: &[(&str, &str)]| JsonMask::init(&config(pairs)).unwrap_err();
        assert_eq!(err(&[]), "config key `fields` is required");
        assert!(err(&[("fields", " , ")]).contains("no field"));
        assert!(err(&[("fields", "a"), ("masks", "x")]).contains("unknown"));
    }
}
