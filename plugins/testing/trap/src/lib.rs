//! Test fixture (record-transform): `init` accepts any config; `transform`
//! panics, which traps the instance (wasm32 panics abort). For the
//! gateway's trap handling (`on_error`).

use linkgate_plugin_sdk::{export_record_transform, Config, RecordBatch, RecordTransform, Verdict};

/// Panics on every batch.
pub struct Trap;

impl RecordTransform for Trap {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Trap)
    }

    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
        panic!(
            "linkgate test fixture `trap`: trapping on a batch of {} records",
            batch.records.len()
        )
    }
}

export_record_transform!(Trap);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::{batch, config, record};

    #[test]
    #[should_panic(expected = "trapping on a batch of 1 records")]
    fn transform_panics() {
        Trap::init(&config(&[]))
            .unwrap()
            .transform(&batch(vec![record("k", "v")]));
    }
}
