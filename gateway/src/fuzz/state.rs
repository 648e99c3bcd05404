//! Target `state`: the JSON values of the state topic records, read back
//! from the destination on every start (`StateStore::load`): checkpoints
//! (`cp/...`), mirror topics (`mt/...`), producer claims (`producer/...`),
//! persisted failures (`fail/...`) and link definitions (`link/...`,
//! `LinkDefinition::from_json`). Every input goes to every decoder; an
//! error must be an error, and a decoded value must serialise again.
//!
//! Not covered: the record key parsing and the offset map segment values
//! (`map/...`), private to `StateStore::apply`.

use proptest::test_runner::TestCaseError;
use serde::{de::DeserializeOwned, Serialize};

use super::{run_bytes, write_generated};
use crate::control::definition::LinkDefinition;
use crate::mirror::state::{MirrorTopicRecord, PersistedFailure, ProducerClaim};
use crate::mirror::{Checkpoint, FailureCause};

fn round<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        serde_json::to_vec(&value)
            .map_err(|e| TestCaseError::fail(format!("decoded value does not serialise: {e}")))?;
    }
    Ok(())
}

fn check(_: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    round::<Checkpoint>(bytes)?;
    round::<MirrorTopicRecord>(bytes)?;
    round::<ProducerClaim>(bytes)?;
    round::<PersistedFailure>(bytes)?;
    if let Ok(def) = LinkDefinition::from_json("east", bytes, None) {
        def.to_json(None)
            .map_err(|e| TestCaseError::fail(format!("definition does not serialise: {e}")))?;
    }
    Ok(())
}

fn generated() -> Vec<(String, Vec<u8>)> {
    let checkpoint = Checkpoint {
        source_topic_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        source_start: 100,
        source_end: 200,
        destination_start: 0,
        destination_end: 100,
        batches: vec![(100, 50), (150, 50)],
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: 0,
        source_leader_epoch: 3,
    };
    let mirror = MirrorTopicRecord {
        source_topic: "orders".into(),
        source_topic_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        ..MirrorTopicRecord::default()
    };
    let claim = ProducerClaim {
        producer_id: 7,
        producer_epoch: 1,
        instance: "i-1".into(),
    };
    let failure = PersistedFailure {
        cause: FailureCause::SourceLogTruncated {
            fetch_offset: 5,
            log_start_offset: 9,
        },
        time_ms: 1_700_000_000_000,
    };
    let error = PersistedFailure {
        cause: FailureCause::Error {
            code: "CORRUPT_RECORD_BATCH".into(),
            message: "crc".into(),
        },
        time_ms: 1,
    };
    let link = LinkDefinition::new(
        "east",
        "dst",
        Some("src".into()),
        vec![("bootstrap.servers".into(), "127.0.0.1:9092".into())],
    );
    vec![
        ("cp.json".into(), json(&checkpoint)),
        ("mt.json".into(), json(&mirror)),
        ("producer.json".into(), json(&claim)),
        ("fail-truncated.json".into(), json(&failure)),
        ("fail-error.json".into(), json(&error)),
        (
            "link.json".into(),
            link.to_json(None).expect("definition json"),
        ),
    ]
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialise")
}

#[test]
fn fuzz_state_values() {
    write_generated("state", &generated());
    run_bytes("state", Vec::new(), check);
}
