//! Confluent's Kafka REST v3 cluster-linking contract (OpenAPI 3.0,
//! `tests/contract/`) as a response checker: the schema of each
//! operation's response, turned into JSON Schema (2020-12) and validated
//! with the `jsonschema` crate, and a record of which operations a test
//! has called with a status the contract declares.
//!
//! OpenAPI 3.0 to JSON Schema: `nullable: true` adds `null` to `type` (and
//! to `enum`; beside a `$ref` or without `type` the schema becomes
//! `anyOf` with `{"type": "null"}`); `example`, `examples`, `xml`,
//! `discriminator` and `x-*` keys are dropped; `$ref`s
//! (`#/components/...`) resolve inside the converted document. Objects
//! accept fields the contract does not name (no `additionalProperties` in
//! it), so linkgate's own fields (`link_state`, `tasks`, ...) pass.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use serde_json::{Map, Value};

use crate::ApiResponse;

/// Path of the contract file: `LINKGATE_CONTRACT` when set, else
/// `tests/contract/confluent-rest-v3-cluster-linking.openapi.yaml`.
pub fn contract_path() -> PathBuf {
    std::env::var_os("LINKGATE_CONTRACT").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("contract/confluent-rest-v3-cluster-linking.openapi.yaml")
        },
        PathBuf::from,
    )
}

/// One operation: (upper-case method, path template such as
/// `/clusters/{cluster_id}/links`).
pub type Operation = (String, String);

/// The loaded contract and the operations checked so far.
pub struct Contract {
    /// The OpenAPI document as JSON.
    doc: Value,
    /// `components`, converted to JSON Schema.
    components: Value,
    /// Operations answered with a status the contract declares.
    covered: Mutex<BTreeSet<Operation>>,
}

/// OpenAPI 3.0 schema keys that are not JSON Schema (dropped).
fn dropped_key(key: &str) -> bool {
    matches!(key, "example" | "examples" | "xml" | "discriminator") || key.starts_with("x-")
}

/// One OpenAPI 3.0 schema (or any part of the document) as JSON Schema.
pub fn to_json_schema(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !dropped_key(k) && k.as_str() != "nullable")
                .map(|(k, v)| {
                    // `properties` maps names to schemas: convert each, keep
                    // names such as `example` that are also dropped keys.
                    if k == "properties" {
                        let props = v.as_object().map(|p| {
                            p.iter()
                                .map(|(name, s)| (name.clone(), to_json_schema(s)))
                                .collect::<Map<String, Value>>()
                        });
                        (k.clone(), props.map_or(Value::Null, Value::Object))
                    } else {
                        (k.clone(), to_json_schema(v))
                    }
                })
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::Array(e)) = out.get_mut("enum") {
                    e.push(Value::Null);
                }
                match out.get("type").cloned() {
                    Some(Value::String(t)) if !out.contains_key("$ref") => {
                        out.insert("type".into(), serde_json::json!([t, "null"]));
                    }
                    _ => {
                        return serde_json::json!({
                            "anyOf": [Value::Object(out), {"type": "null"}]
                        })
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

impl Contract {
    /// Loads the contract at [`contract_path`].
    ///
    /// # Errors
    /// The file cannot be read or is not YAML.
    pub fn load() -> anyhow::Result<Self> {
        let path = contract_path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("read the contract {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parse the contract {}", path.display()))
    }

    /// A contract from OpenAPI YAML text.
    ///
    /// # Errors
    /// Not YAML, or no `paths`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_norway::from_str(text)?;
        anyhow::ensure!(doc["paths"].is_object(), "no paths");
        let components = to_json_schema(&doc["components"]);
        Ok(Self {
            doc,
            components,
            covered: Mutex::new(BTreeSet::new()),
        })
    }

    /// Every operation of the contract, sorted.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops = Vec::new();
        if let Some(paths) = self.doc["paths"].as_object() {
            for (path, item) in paths {
                for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                    if item.get(method).is_some() {
                        ops.push((method.to_uppercase(), path.clone()));
                    }
                }
            }
        }
        ops.sort();
        ops
    }

    /// The operations not yet [`Contract::check`]ed with a declared status.
    pub fn uncovered(&self) -> Vec<Operation> {
        let covered = self.covered.lock().map(|c| c.clone()).unwrap_or_default();
        self.operations()
            .into_iter()
            .filter(|op| !covered.contains(op))
            .collect()
    }

    /// The JSON Schema of the `status` answer of `method path`; `None` when
    /// the contract declares that status without content. Undeclared
    /// statuses: `5xx` falls back to `5XX`; other error statuses (404,
    /// 409, ...) are checked against `Error` and do not count as covering
    /// the operation.
    ///
    /// # Errors
    /// The operation is not in the contract, the status is a success the
    /// contract does not declare, or the answer is declared without a JSON
    /// body.
    fn schema_of(
        &self,
        method: &str,
        path: &str,
        status: u16,
    ) -> anyhow::Result<(Option<Value>, bool)> {
        let op = self.doc["paths"]
            .get(path)
            .and_then(|p| p.get(method.to_lowercase()))
            .with_context(|| format!("{method} {path} is not in the contract"))?;
        let responses = &op["responses"];
        let declared = responses.get(status.to_string()).or_else(|| {
            (500..600)
                .contains(&status)
                .then(|| responses.get("5XX"))
                .flatten()
        });
        let Some(response) = declared else {
            let keys: Vec<&String> = responses
                .as_object()
                .map(|r| r.keys().collect())
                .unwrap_or_default();
            anyhow::ensure!(
                status >= 400,
                "{method} {path}: status {status} is not declared (declared: {keys:?})"
            );
            let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
            return Ok((Some(error), false));
        };
        let Some(content) = response.get("content") else {
            return Ok((None, true));
        };
        let schema = content
            .get("application/json")
            .and_then(|c| c.get("schema"))
            .with_context(|| {
                format!("{method} {path} {status}: the contract declares no JSON body")
            })?;
        Ok((Some(schema.clone()), true))
    }

    /// Validates `body` as the `status` answer of `method path` (a path
    /// template of the contract, without the `/kafka/v3` base); `true`
    /// when the contract declares that status for the operation.
    ///
    /// # Errors
    /// See [`Contract::check`]; each schema violation is listed with the
    /// JSON pointer of the field and what is wrong.
    pub fn validate(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> anyhow::Result<bool> {
        let (schema, declared) = self.schema_of(method, path, status)?;
        let Some(schema) = schema else {
            anyhow::ensure!(
                body.is_null(),
                "{method} {path} {status}: the contract declares no content, got {body}"
            );
            return Ok(declared);
        };
        let mut root = match to_json_schema(&schema) {
            Value::Object(m) => m,
            other => anyhow::bail!("{method} {path}: schema is not an object: {other}"),
        };
        root.insert("components".into(), self.components.clone());
        let root = Value::Object(root);
        let validator = jsonschema::validator_for(&root)
            .map_err(|e| anyhow::anyhow!("{method} {path} {status}: bad schema: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("at '{}': {e}", e.instance_path()))
            .collect();
        anyhow::ensure!(
            errors.is_empty(),
            "{method} {path} {status}: the body does not match the contract:\n  {}\nbody: {body}",
            errors.join("\n  ")
        );
        Ok(declared)
    }

    /// [`Contract::validate`]s the answer `r` of `method path` and, when
    /// its status is one the contract declares for it, records the
    /// operation as covered. Returns `r` for further checks.
    ///
    /// # Errors
    /// The operation is not in the contract; 405 (not served); a success
    /// status the contract does not declare; a body that does not match
    /// the schema (a missing required field, a wrong type, a value outside
    /// an enum). An error status the contract does not declare (404, 409,
    /// ...) is checked against `Error` and leaves the operation uncovered.
    pub fn check<'a>(
        &self,
        method: &str,
        path: &str,
        r: &'a ApiResponse,
    ) -> anyhow::Result<&'a ApiResponse> {
        anyhow::ensure!(r.status != 405, "{method} {path}: not served (405): {r}");
        let declared = self.validate(method, path, r.status, &r.json)?;
        if declared {
            if let Ok(mut covered) = self.covered.lock() {
                covered.insert((method.to_string(), path.to_string()));
            }
        }
        Ok(r)
    }
}
