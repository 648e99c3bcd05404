//! Request bodies and query parameters of the mutating REST endpoints, and
//! their strict parsing: a body must be `application/json`, at most
//! [`MAX_BODY_BYTES`], with no unknown field and every field of the right
//! type; a query parameter must be known and well-formed. Anything else is
//! answered 400 (413 for a body too large, 415 for another content type)
//! before the control plane is called.
//!
//! The body types are shaped like Confluent's Kafka REST v3 requests
//! (`CreateLinkRequest`, `AlterConfigBatchRequest`,
//! `CreateMirrorTopicRequest`, `AlterMirrorsRequest`) and derive both
//! `Serialize` and `Deserialize`, so a client (the CLI) can build them.

use std::collections::HashSet;

use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::routes::ApiError;

/// Largest request body accepted, in bytes (1 MiB); a larger one is
/// answered 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// One `{"name": ..., "value": ...}` entry of `configs` (Confluent
/// `ConfigData` of a create request). Both fields are required strings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEntry {
    /// Property name, e.g. `bootstrap.servers`.
    pub name: String,
    /// Value as text.
    pub value: String,
}

/// Body of `POST /kafka/v3/clusters/{cluster_id}/links?link_name=L`
/// (Confluent `CreateLinkRequest`):
/// `{"source_cluster_id": "src", "configs": [{"name": "bootstrap.servers",
/// "value": "127.0.0.1:9092"}]}`. Both fields optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLinkBody {
    /// A `[clusters]` alias or the source's Kafka cluster id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cluster_id: Option<String>,
    /// Link properties and source client properties, in order.
    #[serde(default)]
    pub configs: Vec<ConfigEntry>,
}

/// `SET` or `DELETE` in an alter-configs entry (Kafka
/// `IncrementalAlterConfigs` operations; Confluent `AlterConfigBatchRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConfigOperation {
    /// Set the property to `value`.
    Set,
    /// Reset the property to its default (`value` ignored).
    Delete,
}

/// One entry of an alter-configs `data` list: `{"name": ..., "value": ...,
/// "operation": "SET"|"DELETE"}`. `operation` absent or `null` means `SET`,
/// which needs a `value`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlterConfigEntry {
    /// Property name.
    pub name: String,
    /// New value (required for `SET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `SET` (default) or `DELETE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<ConfigOperation>,
}

/// `value` as `Debug` shows it: `<redacted>` for a property for which
/// [`super::property_is_sensitive`] holds.
fn shown_value<'a>(name: &str, value: &'a str) -> &'a str {
    if super::property_is_sensitive(name) {
        "<redacted>"
    } else {
        value
    }
}

impl std::fmt::Debug for ConfigEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigEntry")
            .field("name", &self.name)
            .field("value", &shown_value(&self.name, &self.value))
            .finish()
    }
}

impl std::fmt::Debug for AlterConfigEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlterConfigEntry")
            .field("name", &self.name)
            .field(
                "value",
                &self.value.as_deref().map(|v| shown_value(&self.name, v)),
            )
            .field("operation", &self.operation)
            .finish()
    }
}

/// Body of `PUT .../links/{link_name}/configs:alter` (Confluent
/// `AlterConfigBatchRequest`): `{"data": [...]}`, at least one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlterConfigsBody {
    /// The changes, applied together.
    pub data: Vec<AlterConfigEntry>,
}

/// Body of `PUT .../links/{link_name}/configs/{config_name}` (Confluent
/// `UpdateLinkConfigRequest`): `{"value": "300000"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfigBody {
    /// New value.
    pub value: String,
}

impl std::fmt::Debug for UpdateConfigBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The property name is in the path: the value may be a secret.
        f.debug_struct("UpdateConfigBody")
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Body of `POST .../links/{link_name}/mirrors` (Confluent
/// `CreateMirrorTopicRequest`): at least one of `source_topic_name` and
/// `mirror_topic_name`; `replication_factor` a positive int16 or -1 (the
/// destination's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMirrorBody {
    /// Source topic name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_topic_name: Option<String>,
    /// Mirror topic name on the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_topic_name: Option<String>,
    /// Replication factor of the mirror topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i16>,
    /// Topic config overrides.
    #[serde(default)]
    pub configs: Vec<ConfigEntry>,
}

/// Body of `POST .../links/{link_name}/mirrors:promote|:failover|:pause|
/// :resume` (Confluent `AlterMirrorsRequest`): `{"mirror_topic_names":
/// ["a", "b"]}`, at least one name, no name twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlterMirrorsBody {
    /// Mirror topics to act on, in the order results are returned.
    pub mirror_topic_names: Vec<String>,
}

/// Parses a boolean query value: `true` / `false`, any case; absent gives
/// `default`.
pub(crate) fn flag(name: &str, value: Option<&str>, default: bool) -> Result<bool, ApiError> {
    match value {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::BadRequest(format!(
            "{name} must be true or false, got '{v}'"
        ))),
    }
}

/// Whether `Content-Type` is `application/json` (any case, parameters
/// such as `charset` allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses a JSON request body into `T`.
///
/// # Errors
/// In this order: [`ApiError::PayloadTooLarge`] (413) above
/// [`MAX_BODY_BYTES`]; [`ApiError::BadRequest`] (400) for an unreadable or
/// empty body; [`ApiError::UnsupportedMediaType`] (415) when a body is sent
/// without `Content-Type: application/json` (this also keeps browsers from
/// sending it cross-site without a CORS preflight); [`ApiError::BadRequest`]
/// (400) for malformed JSON, an unknown field, a wrong type or a missing
/// required field.
pub(crate) fn parse_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(MAX_BODY_BYTES)
        } else {
            ApiError::BadRequest(format!("cannot read the request body: {}", e.body_text()))
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "the request body is empty; a JSON object is expected".to_string(),
        ));
    }
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// `configs` entries as `(name, value)` pairs, refusing an empty or
/// repeated name.
pub(crate) fn config_pairs(
    field: &str,
    configs: Vec<ConfigEntry>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut seen = HashSet::new();
    configs
        .into_iter()
        .map(|c| {
            check_name(field, &c.name, &mut seen)?;
            Ok((c.name, c.value))
        })
        .collect()
}

/// Refuses an empty name or one already in `seen`.
pub(crate) fn check_name(
    field: &str,
    name: &str,
    seen: &mut HashSet<String>,
) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::BadRequest(format!(
            "{field}: a name must not be empty"
        )));
    }
    if !seen.insert(name.to_string()) {
        return Err(ApiError::BadRequest(format!(
            "{field}: '{name}' is given more than once"
        )));
    }
    Ok(())
}

/// Alter-configs entries split by operation.
#[derive(Default)]
pub(crate) struct ConfigChanges {
    /// `(name, value)` to set, in order.
    pub set: Vec<(String, String)>,
    /// Names to reset to their defaults, in order.
    pub reset: Vec<String>,
}

impl std::fmt::Debug for ConfigChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigChanges")
            .field("set", &crate::secret::redacted(&self.set))
            .field("reset", &self.reset)
            .finish()
    }
}

/// Splits alter-configs entries into properties to set and to reset.
///
/// # Errors
/// [`ApiError::BadRequest`] for an empty list, an empty or repeated name,
/// or a `SET` without `value`.
pub(crate) fn split_changes(data: Vec<AlterConfigEntry>) -> Result<ConfigChanges, ApiError> {
    if data.is_empty() {
        return Err(ApiError::BadRequest(
            "data: at least one config change is needed".to_string(),
        ));
    }
    let mut seen = HashSet::new();
    let mut changes = ConfigChanges::default();
    for entry in data {
        check_name("data", &entry.name, &mut seen)?;
        match (entry.operation.unwrap_or(ConfigOperation::Set), entry.value) {
            (ConfigOperation::Set, Some(value)) => changes.set.push((entry.name, value)),
            (ConfigOperation::Set, None) => {
                return Err(ApiError::BadRequest(format!(
                    "data: '{}' has operation SET but no value",
                    entry.name
                )))
            }
            (ConfigOperation::Delete, _) => changes.reset.push(entry.name),
        }
    }
    Ok(changes)
}

/// Checks a mirror action's topic list: not empty, no empty or repeated
/// name.
pub(crate) fn check_mirror_names(names: &[String]) -> Result<(), ApiError> {
    if names.is_empty() {
        return Err(ApiError::BadRequest(
            "mirror_topic_names: at least one mirror topic is needed".to_string(),
        ));
    }
    let mut seen = HashSet::new();
    names
        .iter()
        .try_for_each(|n| check_name("mirror_topic_names", n, &mut seen))
}

/// The replication factor of a create-mirror body: `None` when absent or
/// -1 (the destination's default), else a positive value.
pub(crate) fn replication_factor(value: Option<i16>) -> Result<Option<i16>, ApiError> {
    match value {
        None | Some(-1) => Ok(None),
        Some(n) if n > 0 => Ok(Some(n)),
        Some(n) => Err(ApiError::BadRequest(format!(
            "replication_factor must be positive or -1 (the cluster default), got {n}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_sensitive_values() {
        let body = CreateLinkBody {
            source_cluster_id: None,
            configs: vec![
                ConfigEntry {
                    name: "sasl.jaas.config".into(),
                    value: "password=\"hunter2\"".into(),
                },
                ConfigEntry {
                    name: "bootstrap.servers".into(),
                    value: "h:1".into(),
                },
            ],
        };
        let shown = format!("{body:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("h:1"),
            "{shown}"
        );
        let data = vec![AlterConfigEntry {
            name: "ssl.truststore.password".into(),
            value: Some("hunter2".into()),
            operation: None,
        }];
        let shown = format!("{:?}", AlterConfigsBody { data: data.clone() });
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = format!("{:?}", split_changes(data).unwrap());
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
