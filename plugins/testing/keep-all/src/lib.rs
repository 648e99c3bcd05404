//! Test fixture (record-transform): keeps every record; accepts any config.
//! The "good" plugin of hot-swap tests.

use linkgate_plugin_sdk::{export_record_transform, Config, RecordBatch, RecordTransform, Verdict};

/// Keeps everything.
pub struct KeepAll;

impl RecordTransform for KeepAll {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(KeepAll)
    }

    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
        vec![Verdict::Keep; batch.records.len()]
    }
}

export_record_transform!(KeepAll);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{batch, config, record};

    #[test]
    fn keeps_every_record() {
        let t = KeepAll::init(&config(&[])).unwrap();
        let v = t.transform(&batch(vec![record("a", "1"), record("b", "2")]));
        assert_eq!(v, vec![Verdict::Keep, Verdict::Keep]);
    }
}
