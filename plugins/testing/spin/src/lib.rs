//! Test fixture (record-transform): `init` accepts any config; `transform`
//! never returns (a busy loop). For the gateway's per-call deadline
//! (`timeout_ms`, epoch interruption). Not unit-tested natively: it would
//! never finish.

use std::hint::black_box;

use linkgate_plugin_sdk::{export_record_transform, Config, RecordBatch, RecordTransform, Verdict};

/// Spins forever on every batch.
pub struct Spin;

impl RecordTransform for Spin {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Spin)
    }

    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
        let mut n = batch.records.len() as u64;
        loop {
            // black_box keeps the optimizer from removing or shortening the loop.
            n = black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export_record_transform!(Spin);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::config;

    #[test]
    fn init_accepts_any_config() {
        assert!(Spin::init(&config(&[("any", "thing")])).is_ok());
    }
}
