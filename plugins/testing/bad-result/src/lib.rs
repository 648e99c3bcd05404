//! Test fixture (record-transform): returns one verdict more than the batch
//! has records (all `keep`), an invalid result for the gateway.

use linkgate_plugin_sdk::{export_record_transform, Config, RecordBatch, RecordTransform, Verdict};

/// Answers `records + 1` verdicts.
pub struct BadResult;

impl RecordTransform for BadResult {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(BadResult)
    }

    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
        vec![Verdict::Keep; batch.records.len() + 1]
    }
}

export_record_transform!(BadResult);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{batch, config, record};

    #[test]
    fn one_verdict_too_many() {
        let t = BadResult::init(&config(&[])).unwrap();
        assert_eq!(
            t.transform(&batch(vec![record("a", "1"), record("b", "2")]))
                .len(),
            3
        );
    }
}
