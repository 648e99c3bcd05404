//! Checks of plugin results against the WIT contract
//! (`wit/linkgate-plugin.wit`): what a renamer may answer and what a
//! record transform's verdicts must look like. A failed check is an
//! `InvalidResult` error of the plugin; the message says what is wrong
//! without echoing large values.

use super::types::Verdict;

/// Longest Kafka topic name, in bytes (`Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a Kafka topic name (`org.apache.kafka.common.internals.Topic.validate`):
/// 1 to 249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
/// Returns what is wrong.
pub fn check_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".to_string());
    }
    if name == "." || name == ".." {
        return Err(format!("topic name cannot be {name:?}"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(format!(
            "topic name is {} bytes long, the limit is {MAX_TOPIC_NAME_LEN}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name {name:?} contains {bad:?}; allowed are ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Checks a consumer group name from a renamer: non-empty (WIT
/// `rename-group`).
pub fn check_group_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("consumer group name is empty".to_string())
    } else {
        Ok(())
    }
}

/// Checks a record transform's verdicts for a batch of `records` records:
/// exactly one verdict per record, and replacement timestamps >= -1 (ms).
pub fn check_verdicts(verdicts: &[Verdict], records: usize) -> Result<(), String> {
    if verdicts.len() != records {
        return Err(format!(
            "{} verdicts for a batch of {records} records",
            verdicts.len()
        ));
    }
    for (i, v) in verdicts.iter().enumerate() {
        if let Verdict::Replace(r) = v {
            if r.timestamp < -1 {
                return Err(format!(
                    "replacement of record {i} has timestamp {} ms; it must be >= 0, or -1 for none",
                    r.timestamp
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::types::Replacement;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["a", "east.orders", "A-b_c.9", &"x".repeat(249)] {
            assert_eq!(check_topic_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "with space",
            "slash/",
            "ünï",
            &"x".repeat(250),
        ] {
            assert!(check_topic_name(bad).is_err(), "{bad}");
        }
        assert!(check_topic_name("a b").unwrap_err().contains("' '"));
    }

    #[test]
    fn group_names_must_be_non_empty() {
        assert!(check_group_name("").is_err());
        assert!(check_group_name("any thing/goes").is_ok());
    }

    fn replace(ts: i64) -> Verdict {
        Verdict::Replace(Replacement {
            timestamp: ts,
            key: None,
            value: None,
            headers: vec![],
        })
    }

    #[test]
    fn verdicts_need_one_per_record_and_valid_timestamps() {
        assert!(check_verdicts(&[Verdict::Keep, Verdict::Drop], 2).is_ok());
        assert!(check_verdicts(&[replace(-1), replace(0), replace(i64::MAX)], 3).is_ok());
        let e = check_verdicts(&[Verdict::Keep], 2).unwrap_err();
        assert!(e.contains("1 verdicts for a batch of 2"), "{e}");
        assert!(check_verdicts(&[], 1).is_err());
        let e = check_verdicts(&[Verdict::Keep, replace(-2)], 2).unwrap_err();
        assert!(e.contains("record 1") && e.contains("-2"), "{e}");
    }
}
