//! Test fixture (record-transform): `init` refuses every configuration with
//! [`REJECTION`]. For the gateway's handling of a refused plugin version.

use linkgate_plugin_sdk::{export_record_transform, Config, RecordBatch, RecordTransform, Verdict};

/// The error message `init` returns.
pub const REJECTION: &str = "init-rejects: this test plugin refuses every configuration";

/// Never initialised.
pub struct InitRejects;

impl RecordTransform for InitRejects {
    fn init(_config: &Config) -> Result<Self, String> {
        Err(REJECTION.to_string())
    }

    fn transform(&self, batch: &RecordBatch) -> Vec<Verdict> {
        vec![Verdict::Keep; batch.records.len()]
    }
}

export_record_transform!(InitRejects);

#[cfg(test)]
mod tests {
    use super::*;
    use linkgate_plugin_sdk::testing::config;

    #[test]
    fn init_refuses() {
        assert_eq!(
            InitRejects::init(&config(&[("a", "b")])).err().as_deref(),
            Some(REJECTION)
        );
    }
}
