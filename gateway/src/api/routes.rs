//! The axum router: Kafka REST v3 cluster-linking read endpoints, their
//! query parameters, and the Kafka REST error JSON
//! (`{"error_code": <http status>, "message": "..."}`) for every failure,
//! including unknown paths (404) and unsupported methods (405).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use serde::Deserialize;

use super::model::{self, DataList};
use super::view::{ApiState, LinkView};

/// The `{cluster_id}` that matches any destination cluster.
pub const ANY_CLUSTER: &str = "-";

/// A request the API refuses. Never retriable as is: the request (path,
/// method or parameters) must change. Messages name the link, mirror or
/// cluster asked for and never contain property values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No destination cluster with this id or alias (HTTP 404).
    #[error("Cluster '{0}' not found")]
    ClusterNotFound(String),
    /// No link with this name on the cluster (HTTP 404).
    #[error("Cluster link '{0}' does not exist")]
    LinkNotFound(String),
    /// The topic is not a mirror topic of the link (HTTP 404).
    #[error("Topic '{mirror}' is not a mirror topic of cluster link '{link}'")]
    MirrorNotFound {
        /// Link name.
        link: String,
        /// Mirror topic asked for.
        mirror: String,
    },
    /// No such endpoint (HTTP 404).
    #[error("No endpoint at {0}")]
    NoRoute(String),
    /// The endpoint exists but not for this method (HTTP 405).
    #[error("Method {0} is not allowed here; this endpoint supports GET")]
    MethodNotAllowed(String),
    /// A malformed path or query parameter (HTTP 400).
    #[error("Bad request: {0}")]
    BadRequest(String),
}

impl ApiError {
    /// HTTP status, also used as `error_code`.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ClusterNotFound(_)
            | Self::LinkNotFound(_)
            | Self::MirrorNotFound { .. }
            | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Whether sending the same request again can succeed: only for "not
    /// found" errors (the link or mirror may be created meanwhile).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::ClusterNotFound(_) | Self::LinkNotFound(_) | Self::MirrorNotFound { .. }
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({
            "error_code": status.as_u16(),
            "message": self.to_string(),
        });
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        resp
    }
}

type Shared = Arc<dyn ApiState>;

/// Query of the link endpoints.
#[derive(Debug, Deserialize)]
struct LinkQuery {
    /// `include_tasks=true|false`.
    include_tasks: Option<String>,
}

impl LinkQuery {
    fn include_tasks(&self) -> Result<bool, ApiError> {
        match self.include_tasks.as_deref() {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::BadRequest(format!(
                "include_tasks must be true or false, got '{v}'"
            ))),
        }
    }
}

fn path_err(e: PathRejection) -> ApiError {
    ApiError::BadRequest(e.body_text())
}

fn query_err(e: QueryRejection) -> ApiError {
    ApiError::BadRequest(e.body_text())
}

/// The links of `cluster` (any with `-`); 404 for an unknown cluster.
fn links_of(state: &dyn ApiState, cluster: &str) -> Result<Vec<Arc<dyn LinkView>>, ApiError> {
    let links = state.links();
    if cluster == ANY_CLUSTER {
        return Ok(links);
    }
    if !state.cluster_ids().iter().any(|c| c == cluster) {
        return Err(ApiError::ClusterNotFound(cluster.to_string()));
    }
    Ok(links
        .into_iter()
        .filter(|l| l.destination_cluster_id() == cluster)
        .collect())
}

fn find_link(
    state: &dyn ApiState,
    cluster: &str,
    name: &str,
) -> Result<Arc<dyn LinkView>, ApiError> {
    links_of(state, cluster)?
        .into_iter()
        .find(|l| l.name() == name)
        .ok_or_else(|| ApiError::LinkNotFound(name.to_string()))
}

async fn list_links(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LinkQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(cluster) = path.map_err(path_err)?;
    let Query(query) = query.map_err(query_err)?;
    let include_tasks = query.include_tasks()?;
    let data = links_of(state.as_ref(), &cluster)?
        .iter()
        .map(|l| model::link_data(l.as_ref(), include_tasks))
        .collect();
    let list = DataList::new(
        "KafkaLinkDataList",
        format!("/kafka/v3/clusters/{cluster}/links"),
        data,
    );
    Ok(Json(list).into_response())
}

async fn get_link(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<LinkQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((cluster, name)) = path.map_err(path_err)?;
    let Query(query) = query.map_err(query_err)?;
    let include_tasks = query.include_tasks()?;
    let link = find_link(state.as_ref(), &cluster, &name)?;
    Ok(Json(model::link_data(link.as_ref(), include_tasks)).into_response())
}

async fn list_configs(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((cluster, name)) = path.map_err(path_err)?;
    let link = find_link(state.as_ref(), &cluster, &name)?;
    let list = DataList::new(
        "KafkaLinkConfigDataList",
        format!("{}/configs", model::link_path(&cluster, &name)),
        model::link_configs(link.as_ref()),
    );
    Ok(Json(list).into_response())
}

async fn list_mirrors(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((cluster, name)) = path.map_err(path_err)?;
    let link = find_link(state.as_ref(), &cluster, &name)?;
    let table = link.status().snapshot();
    let now = SystemTime::now();
    let data = link
        .mirror_topics()
        .iter()
        .map(|t| model::mirror_data(link.as_ref(), t, &table, false, now))
        .collect();
    let list = DataList::new(
        "KafkaMirrorDataList",
        format!("{}/mirrors", model::link_path(&cluster, &name)),
        data,
    );
    Ok(Json(list).into_response())
}

async fn get_mirror(
    State(state): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((cluster, name, mirror)) = path.map_err(path_err)?;
    let link = find_link(state.as_ref(), &cluster, &name)?;
    if !link.mirror_topics().contains(&mirror) {
        return Err(ApiError::MirrorNotFound { link: name, mirror });
    }
    let table = link.status().snapshot();
    let data = model::mirror_data(link.as_ref(), &mirror, &table, true, SystemTime::now());
    Ok(Json(data).into_response())
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_string())
}

/// A GET-only route whose other methods answer 405 in the error JSON.
fn get_only<H, T>(handler: H) -> MethodRouter<Shared>
where
    H: axum::handler::Handler<T, Shared>,
    T: 'static,
{
    get(handler).fallback(method_not_allowed)
}

/// The API router over `state`:
/// - `GET /kafka/v3/clusters/{cluster_id}/links[?include_tasks=true]`
/// - `GET /kafka/v3/clusters/{cluster_id}/links/{link_name}[?include_tasks=true]`
/// - `GET /kafka/v3/clusters/{cluster_id}/links/{link_name}/configs`
/// - `GET /kafka/v3/clusters/{cluster_id}/links/{link_name}/mirrors`
/// - `GET /kafka/v3/clusters/{cluster_id}/links/{link_name}/mirrors/{mirror_topic_name}`
///
/// `{cluster_id}` is a destination cluster id/alias or `-`. Documented in
/// `gateway/openapi.yaml`.
pub fn router(state: Arc<dyn ApiState>) -> Router {
    const LINKS: &str = "/kafka/v3/clusters/{cluster_id}/links";
    Router::new()
        .route(LINKS, get_only(list_links))
        .route(&format!("{LINKS}/{{link_name}}"), get_only(get_link))
        .route(
            &format!("{LINKS}/{{link_name}}/configs"),
            get_only(list_configs),
        )
        .route(
            &format!("{LINKS}/{{link_name}}/mirrors"),
            get_only(list_mirrors),
        )
        .route(
            &format!("{LINKS}/{{link_name}}/mirrors/{{mirror_topic_name}}"),
            get_only(get_mirror),
        )
        .fallback(no_route)
        .with_state(state)
}
