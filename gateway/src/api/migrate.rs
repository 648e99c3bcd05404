//! `POST /kafka/v3/clusters/{cluster_id}/links/{link_name}/groups/{group_name}:migrate
//! [?validate_only=]` (linkgate; not in Confluent's API): migrates a
//! consumer group over the link ([`crate::control::ControlPlane::migrate_group`])
//! and answers 200 with a `LinkgateGroupMigration` (the group, its
//! destination name, per partition the source, translated and destination
//! offsets, and the next steps).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::body;
use super::routes::{find_link, not_allowed, path_err, query_err, ApiError, ANY_LINK};
use super::view::ApiState;
use crate::control::GroupMigrationRequest;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateQuery {
    validate_only: Option<String>,
}

/// The handler (see the module doc). Another last segment than
/// `{group}:migrate` is 404; another method than POST 405.
pub(crate) async fn migrate_group(
    State(state): State<std::sync::Arc<dyn ApiState>>,
    method: Method,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let Path((cluster, link, segment)) = path.map_err(path_err)?;
    let Some(group) = segment.strip_suffix(":migrate").filter(|g| !g.is_empty()) else {
        return Err(ApiError::NoRoute(uri.path().to_string()));
    };
    if method != Method::POST {
        return Err(not_allowed(&method, "POST"));
    }
    let control = state.control().ok_or(ApiError::NotImplemented)?;
    let q: MigrateQuery = Query::<MigrateQuery>::try_from_uri(&uri)
        .map(|Query(q)| q)
        .map_err(query_err)?;
    let validate_only = body::flag("validate_only", q.validate_only.as_deref(), false)?;
    if link == ANY_LINK {
        return Err(ApiError::BadRequest("name a cluster link".into()));
    }
    find_link(state.as_ref(), &cluster, &link)?;
    let result = control
        .migrate_group(GroupMigrationRequest {
            link_name: link,
            group: group.to_string(),
            validate_only,
        })
        .await?;
    let mut json = serde_json::to_value(&result)
        .map_err(|e| ApiError::BadRequest(format!("cannot render the result: {e}")))?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("kind".into(), "LinkgateGroupMigration".into());
    }
    Ok(Json(json).into_response())
}
