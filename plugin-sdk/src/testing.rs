//! Native test helpers (not on wasm32): build the SDK types a plugin gets
//! from the gateway, so plugin authors unit-test their trait impl with a
//! plain `cargo test` on the host target.
//!
//! ```
//! use linkgate_plugin_sdk::{testing, Verdict};
//!
//! let batch = testing::batch(vec![
//!     testing::record("k1", "v1"),
//!     testing::with_header(testing::record("k2", "v2"), "trace", "x"),
//! ]);
//! assert_eq!(batch.records[1].offset, 1);
//! let kept = testing::apply(&batch, &[Verdict::Drop, Verdict::Keep]);
//! assert_eq!(kept.len(), 1);
//! assert_eq!(kept[0].key.as_deref(), Some(&b"k2"[..]));
//! ```

use crate::{
    AclBinding, AclOperation, AclPermission, Config, GroupFilter, Header, KafkaRecord, PatternType,
    RecordBatch, ResourceType, SourceTopic, Verdict,
};

/// Topic name [`batch`] uses.
pub const TEST_TOPIC: &str = "test-topic";

/// Timestamp (ms since the Unix epoch) of records made by [`record`].
pub const TEST_TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// A configuration from `(key, value)` pairs, in order.
pub fn config(pairs: &[(&str, &str)]) -> Config {
    Config::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// A non-internal source topic named `name` with 1 partition and no configs.
pub fn topic(name: &str) -> SourceTopic {
    SourceTopic {
        name: name.to_string(),
        partitions: 1,
        configs: Vec::new(),
        internal: false,
    }
}

/// The groups of `groups` that `filter` syncs (its `sync_group` says yes),
/// in the order given.
pub fn synced_groups<F: GroupFilter>(filter: &F, groups: &[&str]) -> Vec<String> {
    groups
        .iter()
        .filter(|g| filter.sync_group(g))
        .map(|g| g.to_string())
        .collect()
}

/// A record with a non-null key and value, offset 0, timestamp
/// [`TEST_TIMESTAMP_MS`] and no headers ([`batch`] renumbers offsets).
pub fn record(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> KafkaRecord {
    KafkaRecord {
        offset: 0,
        timestamp: TEST_TIMESTAMP_MS,
        key: Some(key.into()),
        value: Some(value.into()),
        headers: Vec::new(),
    }
}

/// A record with an optional (null) key and value, otherwise as [`record`].
pub fn record_opt(key: Option<&[u8]>, value: Option<&[u8]>) -> KafkaRecord {
    KafkaRecord {
        offset: 0,
        timestamp: TEST_TIMESTAMP_MS,
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: Vec::new(),
    }
}

/// `record` with one more header `key: value` appended.
pub fn with_header(mut record: KafkaRecord, key: &str, value: impl Into<Vec<u8>>) -> KafkaRecord {
    record.headers.push(Header::new(key, value));
    record
}

/// A batch of [`TEST_TOPIC`] partition 0 holding `records`, their offsets
/// renumbered 0, 1, 2, ... in order.
pub fn batch(records: Vec<KafkaRecord>) -> RecordBatch {
    RecordBatch {
        topic: TEST_TOPIC.to_string(),
        partition: 0,
        records: records
            .into_iter()
            .zip(0_i64..)
            .map(|(mut r, offset)| {
                r.offset = offset;
                r
            })
            .collect(),
    }
}

/// An ALLOW READ binding of `principal` on the LITERAL resource
/// `resource_type`/`name`, host `*`; change fields with struct update syntax.
pub fn acl(principal: &str, resource_type: ResourceType, name: &str) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.to_string(),
        pattern_type: PatternType::Literal,
        principal: principal.to_string(),
        host: "*".to_string(),
        operation: AclOperation::Read,
        permission: AclPermission::Allow,
    }
}

/// The records the gateway would mirror for `batch` given `verdicts`:
/// kept records as they are, replaced ones with their new content (offset
/// kept), dropped ones left out. Panics (test helper) if the lengths differ,
/// which the gateway treats as an invalid result.
pub fn apply(batch: &RecordBatch, verdicts: &[Verdict]) -> Vec<KafkaRecord> {
    assert_eq!(
        batch.records.len(),
        verdicts.len(),
        "a transform must return one verdict per record"
    );
    batch
        .records
        .iter()
        .zip(verdicts)
        .filter_map(|(r, v)| match v {
            Verdict::Keep => Some(r.clone()),
            Verdict::Drop => None,
            Verdict::Replace(rep) => Some(KafkaRecord {
                offset: r.offset,
                timestamp: rep.timestamp,
                key: rep.key.clone(),
                value: rep.value.clone(),
                headers: rep.headers.clone(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_build_what_they_say() {
        let b = batch(vec![
            record("a", "1"),
            record_opt(None, Some(b"2")),
            record("c", "3"),
        ]);
        assert_eq!(b.topic, TEST_TOPIC);
        assert_eq!(
            b.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(b.records[1].key, None);
        let mut rep = b.records[2].to_replacement();
        rep.value = Some(b"new".to_vec());
        let out = apply(&b, &[Verdict::Keep, Verdict::Drop, Verdict::Replace(rep)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].offset, 2);
        assert_eq!(out[1].value.as_deref(), Some(&b"new"[..]));
        let a = acl("User:alice", ResourceType::Group, "g");
        assert_eq!(a.pattern_type, PatternType::Literal);
        assert_eq!(config(&[("k", "v")]).get("k"), Some("v"));
        assert!(!topic("t").internal);
    }

    struct Even;
    impl GroupFilter for Even {
        fn init(_: &Config) -> Result<Self, String> {
            Ok(Even)
        }
        fn sync_group(&self, group: &str) -> bool {
            group.len() % 2 == 0
        }
    }

    #[test]
    fn synced_groups_keeps_the_order_given() {
        let f = Even::init(&config(&[])).unwrap();
        assert_eq!(synced_groups(&f, &["ab", "a", "cd", ""]), ["ab", "cd", ""]);
    }

    #[test]
    #[should_panic(expected = "one verdict per record")]
    fn apply_rejects_wrong_length() {
        apply(&batch(vec![record("a", "1")]), &[]);
    }
}
