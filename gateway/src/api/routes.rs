//! The axum router: Kafka REST v3 cluster-linking endpoints (the read
//! handlers live here, the mutating ones in [`super::mutate`]), their query
//! parameters, and the Kafka REST error JSON
//! (`{"error_code": <http status>, "message": "..."}`) for every failure,
//! including unknown paths (404), unsupported methods (405, with `Allow`)
//! and missing credentials (401, with `WWW-Authenticate`).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, MethodRouter};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::{require_local_host, require_token, AuthPolicy, TokenGuard};
use super::body::{flag, MAX_BODY_BYTES};
use super::model::{self, DataList};
use super::mutate;
use super::view::{ApiState, LinkView};
use crate::control::ControlError;

/// The `{cluster_id}` that matches any destination cluster.
pub const ANY_CLUSTER: &str = "-";

/// The `{link_name}` that means every link (mirror lists and mirror
/// actions).
pub const ANY_LINK: &str = "-";

/// A request the API refuses or that failed. Messages name the link,
/// mirror or cluster asked for and never contain property values or the
/// API token.
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
        /// Link name (`-` for any link).
        link: String,
        /// Mirror topic asked for.
        mirror: String,
    },
    /// The property is not set on the link (HTTP 404).
    #[error("Config '{config}' is not set on cluster link '{link}'")]
    ConfigNotFound {
        /// Link name.
        link: String,
        /// Property asked for.
        config: String,
    },
    /// No such endpoint (HTTP 404).
    #[error("No endpoint at {0}")]
    NoRoute(String),
    /// The endpoint exists but not for this method (HTTP 405; the `Allow`
    /// header lists `allow`).
    #[error("Method {method} is not allowed here; this endpoint supports {allow}")]
    MethodNotAllowed {
        /// Method asked for.
        method: String,
        /// Methods the endpoint serves, e.g. `GET, HEAD, POST`.
        allow: &'static str,
    },
    /// A malformed path, query parameter or body (HTTP 400).
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// A mutating call (or, with `api_token_on_reads`, any call) without
    /// the configured bearer token (`invalid` false) or with another token
    /// (`invalid` true) (HTTP 401, with `WWW-Authenticate: Bearer`).
    #[error("{}", if *.invalid { "Invalid bearer token" } else { "Authentication required: this call needs 'Authorization: Bearer <api_token>'" })]
    Unauthorized {
        /// A token was sent but is not the configured one.
        invalid: bool,
    },
    /// A mutating call without an API token configured whose `Host` is a
    /// DNS name other than `localhost` (HTTP 403): refused so that a web
    /// page re-pointed at the loopback address (DNS rebinding) cannot drive
    /// the API.
    #[error("Host '{0}' is not accepted for calls that change state when no api_token is configured; use an IP address or localhost, or set [gateway] api_token")]
    ForbiddenHost(String),
    /// The request body is larger than the limit in bytes (HTTP 413).
    #[error("Request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The request body is not `Content-Type: application/json` (HTTP 415).
    #[error("Request body must be sent with Content-Type: application/json")]
    UnsupportedMediaType,
    /// This gateway serves no mutating control plane (HTTP 501).
    #[error(
        "This gateway does not support changing cluster links or mirror topics through the API"
    )]
    NotImplemented,
    /// The control plane refused or failed the request; the HTTP status is
    /// [`ControlError::status`].
    #[error("{0}")]
    Control(#[from] ControlError),
}

impl ApiError {
    /// HTTP status, also used as `error_code`.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ClusterNotFound(_)
            | Self::LinkNotFound(_)
            | Self::MirrorNotFound { .. }
            | Self::ConfigNotFound { .. }
            | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::ForbiddenHost(_) => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Self::Control(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// Whether sending the same request again can succeed: for "not
    /// found" errors (the link or mirror may be created meanwhile) and
    /// retriable control-plane errors ([`ControlError::is_retriable`]).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::ClusterNotFound(_) | Self::LinkNotFound(_) | Self::MirrorNotFound { .. } => true,
            Self::Control(e) => e.is_retriable(),
            _ => false,
        }
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
        match &self {
            Self::MethodNotAllowed { allow, .. } => {
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Unauthorized { invalid } => {
                let value = if *invalid {
                    "Bearer realm=\"linkgate\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"linkgate\""
                };
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
            }
            _ => {}
        }
        resp
    }
}

pub(crate) type Shared = Arc<dyn ApiState>;

/// Query of the link endpoints.
#[derive(Debug, Deserialize)]
struct LinkQuery {
    /// `include_tasks=true|false`.
    include_tasks: Option<String>,
}

/// Query of the mirror list endpoints.
#[derive(Debug, Deserialize)]
struct MirrorsQuery {
    /// `include_stopped=true|false` (default false).
    include_stopped: Option<String>,
    /// `mirror_status=<MirrorTopicStatus>`: only mirrors in that state.
    mirror_status: Option<String>,
}

/// The `mirror_status` filter of a mirror list: one of
/// [`model::MIRROR_TOPIC_STATUSES`] (any case); `None` when absent.
fn status_filter(value: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    model::MIRROR_TOPIC_STATUSES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(value))
        .map(|s| Some(*s))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "mirror_status must be one of {}, got '{value}'",
                model::MIRROR_TOPIC_STATUSES.join(", ")
            ))
        })
}

pub(crate) fn path_err(e: PathRejection) -> ApiError {
    ApiError::BadRequest(e.body_text())
}

pub(crate) fn query_err(e: QueryRejection) -> ApiError {
    ApiError::BadRequest(e.body_text())
}

/// The links of `cluster` (any with `-`); 404 for an unknown cluster.
pub(crate) fn links_of(
    state: &dyn ApiState,
    cluster: &str,
) -> Result<Vec<Arc<dyn LinkView>>, ApiError> {
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

/// The link `name` of `cluster`; 404 for an unknown cluster or link.
pub(crate) fn find_link(
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
    let include_tasks = flag("include_tasks", query.include_tasks.as_deref(), false)?;
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
    let include_tasks = flag("include_tasks", query.include_tasks.as_deref(), false)?;
    let link = find_link(state.as_ref(), &cluster, &name)?;
    Ok(Json(model::link_data(link.as_ref(), include_tasks)).into_response())
}

/// `GET .../links/{link}/configs/{config_name}`: one property set on the
/// link; 404 when it is not set.
async fn get_config(
    State(state): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((cluster, name, config)) = path.map_err(path_err)?;
    let link = find_link(state.as_ref(), &cluster, &name)?;
    let property = link
        .properties()
        .into_iter()
        .find(|p| p.name == config)
        .ok_or(ApiError::ConfigNotFound { link: name, config })?;
    Ok(Json(model::link_config(link.as_ref(), property)).into_response())
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

/// `GET .../links/{link}/mirrors`: the mirrors of one link, or of every
/// link of the cluster with `-`; with `mirror_status=S` only those in
/// state `S` (`STOPPED` ones included), else `STOPPED` ones only with
/// `include_stopped=true`.
async fn list_mirrors(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<MirrorsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((cluster, name)) = path.map_err(path_err)?;
    let Query(query) = query.map_err(query_err)?;
    let include_stopped = flag("include_stopped", query.include_stopped.as_deref(), false)?;
    let wanted = status_filter(query.mirror_status.as_deref())?;
    let links = if name == ANY_LINK {
        links_of(state.as_ref(), &cluster)?
    } else {
        vec![find_link(state.as_ref(), &cluster, &name)?]
    };
    let now = SystemTime::now();
    let mut data = Vec::new();
    for link in &links {
        let table = link.status().snapshot();
        data.extend(
            link.mirror_topics()
                .iter()
                .map(|t| model::mirror_data(link.as_ref(), t, &table, false, now))
                .filter(|m| match wanted {
                    Some(status) => m.mirror_status == status,
                    None => {
                        include_stopped
                            || !model::is_hidden_unless_stopped_included(m.mirror_status)
                    }
                }),
        );
    }
    let list = DataList::new(
        "KafkaMirrorDataList",
        format!("{}/mirrors", model::link_path(&cluster, &name)),
        data,
    );
    Ok(Json(list).into_response())
}

/// `GET .../links/{link}/mirrors/{mirror}`: one mirror in any state; with
/// link `-`, the mirror of whichever link of the cluster has it.
async fn get_mirror(
    State(state): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((cluster, name, mirror)) = path.map_err(path_err)?;
    let links = if name == ANY_LINK {
        links_of(state.as_ref(), &cluster)?
    } else {
        vec![find_link(state.as_ref(), &cluster, &name)?]
    };
    let link = links
        .into_iter()
        .find(|l| l.mirror_topics().contains(&mirror))
        .ok_or(ApiError::MirrorNotFound {
            link: name,
            mirror: mirror.clone(),
        })?;
    let table = link.status().snapshot();
    let data = model::mirror_data(link.as_ref(), &mirror, &table, true, SystemTime::now());
    Ok(Json(data).into_response())
}

async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_string())
}

/// A 405 answer naming the methods `allow` (also the `Allow` header).
pub(crate) fn not_allowed(method: &axum::http::Method, allow: &'static str) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow,
    }
}

/// Completes a method router: other methods answer 405 with `allow`.
fn only(route: MethodRouter<Shared>, allow: &'static str) -> MethodRouter<Shared> {
    route.fallback(move |method: axum::http::Method| async move { not_allowed(&method, allow) })
}

/// The API router over `state`, without authentication (see
/// [`router_with_token`]):
/// - `GET|POST /kafka/v3/clusters/{cluster_id}/links` (`include_tasks`;
///   POST: `link_name`, `validate_only`, `validate_link`)
/// - `GET|DELETE .../links/{link_name}` (`include_tasks`; DELETE: `force`,
///   `validate_only`)
/// - `GET .../links/{link_name}/configs`
/// - `GET|PUT|DELETE .../links/{link_name}/configs/{config_name}` (PUT
///   body `{"value": "..."}` sets, DELETE resets the property)
/// - `PUT .../links/{link_name}/configs:alter` (`validate_only`)
/// - `GET|POST .../links/{link_name}/mirrors` (GET: `include_stopped`,
///   `mirror_status`; POST: `validate_only`); `{link_name}` `-` lists every
///   link's mirrors
/// - `GET .../links/{link_name}/mirrors/{mirror_topic_name}`
/// - `POST .../links/{link_name}/mirrors:promote|:failover|:pause|:resume`
///   (`validate_only`); `{link_name}` may be `-`
/// - `POST .../links/{link_name}/mirrors:promote-local-and-start-remote-mirror`
///   and `...:promote-local-and-pause-remote-mirror`: bidirectional links
///   only, which linkgate does not have: always 400
/// - `POST .../links/{link_name}/groups/{group_name}:migrate`
///   (`validate_only`; linkgate, see [`super::migrate`])
///
/// `{cluster_id}` is a destination cluster id/alias or `-`. Request bodies
/// are limited to [`MAX_BODY_BYTES`]. Mutating endpoints answer 501 when
/// [`ApiState::control`] is `None`. Documented in `gateway/openapi.yaml`.
pub fn router(state: Arc<dyn ApiState>) -> Router {
    const LINKS: &str = "/kafka/v3/clusters/{cluster_id}/links";
    Router::new()
        .route(
            LINKS,
            only(get(list_links).post(mutate::create_link), "GET, HEAD, POST"),
        )
        .route(
            &format!("{LINKS}/{{link_name}}"),
            only(
                get(get_link).delete(mutate::delete_link),
                "GET, HEAD, DELETE",
            ),
        )
        .route(
            &format!("{LINKS}/{{link_name}}/configs"),
            only(get(list_configs), "GET, HEAD"),
        )
        .route(
            &format!("{LINKS}/{{link_name}}/configs/{{config_name}}"),
            only(
                get(get_config)
                    .put(mutate::update_config)
                    .delete(mutate::delete_config),
                "GET, HEAD, PUT, DELETE",
            ),
        )
        .route(
            &format!("{LINKS}/{{link_name}}/mirrors"),
            only(
                get(list_mirrors).post(mutate::create_mirror),
                "GET, HEAD, POST",
            ),
        )
        .route(
            &format!("{LINKS}/{{link_name}}/mirrors/{{mirror_topic_name}}"),
            only(get(get_mirror), "GET, HEAD"),
        )
        .route(
            &format!("{LINKS}/{{link_name}}/groups/{{group_action}}"),
            any(super::migrate::migrate_group),
        )
        // `configs:alter` and `mirrors:<action>`: a colon inside a segment
        // is not a route pattern, so the whole segment is matched here and
        // parsed (static `configs` / `mirrors` above take precedence).
        .route(
            &format!("{LINKS}/{{link_name}}/{{action}}"),
            any(mutate::link_action),
        )
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// [`router`] with the guards of mutating calls (see [`super::auth`]): with
/// `token` `Some`, every request whose method is not GET or HEAD needs
/// `Authorization: Bearer <token>` (else 401); with `None`, such a request
/// needs a `Host` that is an IP address or `localhost` (else 403). Same as
/// [`router_with_auth`] with [`AuthPolicy::with_token`].
pub fn router_with_token(state: Arc<dyn ApiState>, token: Option<&str>) -> Router {
    router_with_auth(state, &AuthPolicy::with_token(token))
}

/// [`router`] with the guards of `policy` (see [`super::auth`]):
/// - a token: requests whose method is not GET or HEAD, and with
///   `token_on_reads` all requests, need `Authorization: Bearer <token>`
///   (else 401 with `WWW-Authenticate: Bearer`, RFC 6750 §3);
/// - no token and no client certificates: requests whose method is not
///   GET or HEAD need a `Host` that is an IP address or `localhost` (else
///   403);
/// - no token but client certificates: no further guard (the TLS
///   handshake authenticated the client).
pub fn router_with_auth(state: Arc<dyn ApiState>, policy: &AuthPolicy) -> Router {
    let app = router(state);
    match &policy.token {
        Some(token) => app.layer(middleware::from_fn_with_state(
            Arc::new(TokenGuard {
                token: token.clone(),
                on_reads: policy.token_on_reads,
            }),
            require_token,
        )),
        None if policy.client_certificates => app,
        None => app.layer(middleware::from_fn(require_local_host)),
    }
}
