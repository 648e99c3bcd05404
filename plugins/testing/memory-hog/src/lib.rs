//! Test fixture (record-transform): `init` accepts any config; `transform`
//! allocates (and touches) 1 MiB after 1 MiB, keeping all of it, until the
//! allocation fails and the instance traps. For the gateway's memory limit
//! (`memory_limit_bytes`). Not unit-tested natively: it would exhaust the
//! test machine's memory.

use std::hint::black_box;

use linkgate_plugin_sdk::{export_record_transform, Config, RecordBatch, RecordTransform, Verdict};

/// Bytes allocated per step (1 MiB).
const STEP_BYTES: usize = 1 << 20;

/// Grows memory without bound on every batch.
pub struct MemoryHog;

impl RecordTransform for MemoryHog {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(MemoryHog)
    }

    fn transform(&self, _batch: &RecordBatch) -> Vec<Verdict> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![0xA5; STEP_BYTES]);
            black_box(&hoard);
        }
    }
}

export_record_transform!(MemoryHog);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::config;

    #[test]
    fn init_accepts_any_config() {
        assert!(MemoryHog::init(&config(&[])).is_ok());
    }
}
