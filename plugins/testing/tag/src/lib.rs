//! Test fixture (record-transform): appends header
//! `linkgate-version: <config "version">` to every record (same timestamp,
//! key, value and other headers). `version` is required. Used by hot-swap
//! tests to see which plugin version handled a record.

use linkgate_plugin_sdk::{
    export_record_transform, Config, Header, RecordBatch, RecordTransform, Verdict,
};

/// The header key added to every record.
pub const HEADER_KEY: &str = "linkgate-version";

/// Tags records with the configured version.
pub struct Tag {
    version: String,
}

impl RecordTransform for Tag {
    fn init(config: &Config) -> Result<Self, String> {
        Ok(Tag {
            version: config.require("version")?.to_string(),
        })
    }

    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
        batch
            .records
            .iter()
            .map(|r| {
                let mut replacement = r.to_replacement();
                replacement
                    .headers
                    .push(Header::new(HEADER_KEY, self.version.as_bytes()));
                Verdict::Replace(replacement)
            })
            .collect()
    }
}

export_record_transform!(Tag);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{apply, batch, config, record, with_header};

    #[test]
    fn appends_version_header() {
        let t = Tag::init(&config(&[("version", "2")])).unwrap();
        let b = batch(vec![
            with_header(record("k", "v"), "h", "x"),
            record("k2", "v2"),
        ]);
        let out = apply(&b, &t.transform(&b));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].headers.len(), 2);
        assert_eq!(out[0].headers[1], Header::new(HEADER_KEY, "2"));
        assert_eq!(
            out[1].header(HEADER_KEY).and_then(|h| h.value.as_deref()),
            Some(&b"2"[..])
        );
        assert_eq!(
            (out[1].key.as_deref(), out[1].value.as_deref()),
            (Some(&b"k2"[..]), Some(&b"v2"[..]))
        );
        assert_eq!(out[1].timestamp, b.records[1].timestamp);
    }

    #[test]
    fn version_is_required() {
        assert_eq!(
            Tag::init(&config(&[])).err().as_deref(),
            Some("config key `version` is required")
        );
    }
}
