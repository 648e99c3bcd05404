//! Handlers of the mutating endpoints: create, alter and delete links,
//! set or reset one link property (`configs/{config_name}`), create mirror
//! topics, the mirror actions (`mirrors:promote`, `:failover`, `:pause`,
//! `:resume`) and the bidirectional-only ones (always 400). Each parses and checks the whole
//! request (path, query, body) before it calls the
//! [`ControlPlane`] of [`ApiState::control`], so a malformed request
//! changes nothing; without a control plane every one answers 501.

use std::collections::{BTreeSet, HashMap};

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::body::{
    self, AlterConfigsBody, AlterMirrorsBody, CreateLinkBody, CreateMirrorBody, UpdateConfigBody,
};
use super::model::{self, DataList};
use super::routes::{
    find_link, links_of, not_allowed, path_err, query_err, ApiError, Shared, ANY_CLUSTER, ANY_LINK,
};
use super::view::ApiState;
use crate::control::{
    ControlError, ControlPlane, LinkConfigChange, LinkDeletion, MirrorAction, MirrorActionResult,
    NewLink, NewMirror,
};

/// Query of `POST .../links`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateLinkQuery {
    link_name: Option<String>,
    validate_only: Option<String>,
    validate_link: Option<String>,
}

/// Query of `DELETE .../links/{link}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteLinkQuery {
    force: Option<String>,
    validate_only: Option<String>,
}

/// Query of the other mutating endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateOnlyQuery {
    validate_only: Option<String>,
}

/// The control plane, or 501.
fn control(state: &dyn ApiState) -> Result<&dyn ControlPlane, ApiError> {
    state.control().ok_or(ApiError::NotImplemented)
}

/// Parses the query of `uri` into `T` (unknown parameters refused).
fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(query_err)
}

/// Refuses `-` where one link must be named.
fn named_link(link: &str) -> Result<(), ApiError> {
    if link == ANY_LINK {
        return Err(ApiError::BadRequest(
            "name a cluster link; '-' (any link) is only for listing mirrors and mirror actions"
                .to_string(),
        ));
    }
    Ok(())
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /kafka/v3/clusters/{cluster_id}/links?link_name=L
/// [&validate_only=][&validate_link=]`, body [`CreateLinkBody`] -> 204.
pub(crate) async fn create_link(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let control = control(state.as_ref())?;
    let Path(cluster) = path.map_err(path_err)?;
    let q: CreateLinkQuery = query(&uri)?;
    let validate_only = body::flag("validate_only", q.validate_only.as_deref(), false)?;
    let validate_link = body::flag("validate_link", q.validate_link.as_deref(), true)?;
    let link_name = q
        .link_name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("the link_name query parameter is required".into()))?;
    named_link(&link_name)?;
    if cluster == ANY_CLUSTER {
        return Err(ApiError::BadRequest(
            "name the destination cluster: '-' is not allowed when creating a link".into(),
        ));
    }
    let req: CreateLinkBody = body::parse_json(&headers, bytes)?;
    if req.source_cluster_id.as_deref() == Some("") {
        return Err(ApiError::BadRequest(
            "source_cluster_id must not be empty".into(),
        ));
    }
    let configs = body::config_pairs("configs", req.configs)?;
    control
        .create_link(NewLink {
            link_name,
            destination_cluster: cluster,
            source_cluster_id: req.source_cluster_id,
            configs,
            validate_only,
            validate_link,
        })
        .await?;
    Ok(no_content())
}

/// `DELETE .../links/{link_name}[?force=][&validate_only=]` -> 200 with
/// an empty body (the contract's `deleteKafkaLink` answers 200, "no
/// content").
pub(crate) async fn delete_link(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let control = control(state.as_ref())?;
    let Path((cluster, link)) = path.map_err(path_err)?;
    let q: DeleteLinkQuery = query(&uri)?;
    let force = body::flag("force", q.force.as_deref(), false)?;
    let validate_only = body::flag("validate_only", q.validate_only.as_deref(), false)?;
    named_link(&link)?;
    find_link(state.as_ref(), &cluster, &link)?;
    control
        .delete_link(LinkDeletion {
            link_name: link,
            force,
            validate_only,
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST .../links/{link_name}/mirrors[?validate_only=]`, body
/// [`CreateMirrorBody`] -> 204.
pub(crate) async fn create_mirror(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let control = control(state.as_ref())?;
    let Path((cluster, link)) = path.map_err(path_err)?;
    let q: ValidateOnlyQuery = query(&uri)?;
    let validate_only = body::flag("validate_only", q.validate_only.as_deref(), false)?;
    named_link(&link)?;
    let req: CreateMirrorBody = body::parse_json(&headers, bytes)?;
    let source = req.source_topic_name.filter(|n| !n.is_empty());
    let mirror = req.mirror_topic_name.filter(|n| !n.is_empty());
    if source.is_none() && mirror.is_none() {
        return Err(ApiError::BadRequest(
            "give source_topic_name, mirror_topic_name or both".into(),
        ));
    }
    let replication_factor = body::replication_factor(req.replication_factor)?;
    let configs = body::config_pairs("configs", req.configs)?;
    find_link(state.as_ref(), &cluster, &link)?;
    control
        .create_mirror(NewMirror {
            link_name: link,
            source_topic_name: source,
            mirror_topic_name: mirror,
            replication_factor,
            configs,
            validate_only,
        })
        .await?;
    Ok(no_content())
}

/// `.../links/{link_name}/{action}`: `configs:alter` (PUT) and
/// `mirrors:promote|failover|pause|resume` (POST); any other segment is
/// 404, another method 405.
pub(crate) async fn link_action(
    State(state): State<Shared>,
    method: Method,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Path((cluster, link, action)) = path.map_err(path_err)?;
    if action == "configs:alter" {
        if method != Method::PUT {
            return Err(not_allowed(&method, "PUT"));
        }
        return alter_configs(state.as_ref(), cluster, link, &uri, &headers, bytes).await;
    }
    let mirror_action = match action.strip_prefix("mirrors:") {
        Some("promote") => MirrorAction::Promote,
        Some("failover") => MirrorAction::Failover,
        Some("pause") => MirrorAction::Pause,
        Some("resume") => MirrorAction::Resume,
        Some(
            remote @ ("promote-local-and-start-remote-mirror"
            | "promote-local-and-pause-remote-mirror"),
        ) => {
            if method != Method::POST {
                return Err(not_allowed(&method, "POST"));
            }
            return bidirectional_only(
                state.as_ref(),
                &cluster,
                &link,
                remote,
                &uri,
                &headers,
                bytes,
            );
        }
        _ => return Err(ApiError::NoRoute(uri.path().to_string())),
    };
    if method != Method::POST {
        return Err(not_allowed(&method, "POST"));
    }
    alter_mirrors(
        state.as_ref(),
        cluster,
        link,
        mirror_action,
        &uri,
        &headers,
        bytes,
    )
    .await
}

/// `POST .../mirrors:promote-local-and-start-remote-mirror` and
/// `...:promote-local-and-pause-remote-mirror` (Confluent: bidirectional
/// links, `link.mode=BIDIRECTIONAL`, promote here and start or pause the
/// mirror on the other cluster). linkgate's links are destination links
/// only, so after the request is checked (link, query, body) the answer is
/// 400 naming the actions that do apply.
fn bidirectional_only(
    state: &dyn ApiState,
    cluster: &str,
    link: &str,
    action: &str,
    uri: &Uri,
    headers: &HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    control(state)?;
    let _: ValidateOnlyQuery = query(uri)?;
    let req: AlterMirrorsBody = body::parse_json(headers, bytes)?;
    body::check_mirror_names(&req.mirror_topic_names)?;
    if link != ANY_LINK {
        find_link(state, cluster, link)?;
    } else {
        links_of(state, cluster)?;
    }
    Err(ApiError::BadRequest(format!(
        "mirrors:{action} needs a bidirectional cluster link (link.mode=BIDIRECTIONAL); \
         linkgate's links are DESTINATION links: use mirrors:promote or mirrors:failover"
    )))
}

/// `PUT .../links/{link_name}/configs/{config_name}[?validate_only=]`,
/// body [`UpdateConfigBody`] -> 204: sets one property (as
/// `configs:alter` with one `SET`).
pub(crate) async fn update_config(
    State(state): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let control = control(state.as_ref())?;
    let Path((cluster, link, config)) = path.map_err(path_err)?;
    let q: ValidateOnlyQuery = query(&uri)?;
    let validate_only = body::flag("validate_only", q.validate_only.as_deref(), false)?;
    named_link(&link)?;
    let req: UpdateConfigBody = body::parse_json(&headers, bytes)?;
    body::check_name("config_name", &config, &mut Default::default())?;
    find_link(state.as_ref(), &cluster, &link)?;
    control
        .alter_link_configs(LinkConfigChange {
            link_name: link,
            set: vec![(config, req.value)],
            reset: Vec::new(),
            validate_only,
        })
        .await?;
    Ok(no_content())
}

/// `DELETE .../links/{link_name}/configs/{config_name}[?validate_only=]`
/// -> 204: resets one property to its default (as `configs:alter` with
/// one `DELETE`).
pub(crate) async fn delete_config(
    State(state): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let control = control(state.as_ref())?;
    let Path((cluster, link, config)) = path.map_err(path_err)?;
    let q: ValidateOnlyQuery = query(&uri)?;
    let validate_only = body::flag("validate_only", q.validate_only.as_deref(), false)?;
    named_link(&link)?;
    body::check_name("config_name", &config, &mut Default::default())?;
    find_link(state.as_ref(), &cluster, &link)?;
    control
        .alter_link_configs(LinkConfigChange {
            link_name: link,
            set: Vec::new(),
            reset: vec![config],
            validate_only,
        })
        .await?;
    Ok(no_content())
}

/// `PUT .../links/{link_name}/configs:alter[?validate_only=]`, body
/// [`AlterConfigsBody`] -> 204.
async fn alter_configs(
    state: &dyn ApiState,
    cluster: String,
    link: String,
    uri: &Uri,
    headers: &HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let control = control(state)?;
    let q: ValidateOnlyQuery = query(uri)?;
    let validate_only = body::flag("validate_only", q.validate_only.as_deref(), false)?;
    named_link(&link)?;
    let req: AlterConfigsBody = body::parse_json(headers, bytes)?;
    let changes = body::split_changes(req.data)?;
    find_link(state, &cluster, &link)?;
    control
        .alter_link_configs(LinkConfigChange {
            link_name: link,
            set: changes.set,
            reset: changes.reset,
            validate_only,
        })
        .await?;
    Ok(no_content())
}

/// `POST .../links/{link_name|-}/mirrors:<action>[?validate_only=]`, body
/// [`AlterMirrorsBody`] -> 200 `KafkaAlterMirrorStatusResponseDataList`,
/// one entry per topic in the order asked; per-topic failures are inside.
///
/// Link `-` on cluster `-`: the control plane finds each topic's link.
/// Link `-` on a named cluster: the topics are grouped by the link of that
/// cluster that has them (one control-plane call per link); a topic no
/// link of the cluster has gets a per-topic 404.
async fn alter_mirrors(
    state: &dyn ApiState,
    cluster: String,
    link: String,
    action: MirrorAction,
    uri: &Uri,
    headers: &HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let control = control(state)?;
    let q: ValidateOnlyQuery = query(uri)?;
    let validate_only = body::flag("validate_only", q.validate_only.as_deref(), false)?;
    let req: AlterMirrorsBody = body::parse_json(headers, bytes)?;
    body::check_mirror_names(&req.mirror_topic_names)?;
    let names = req.mirror_topic_names;
    let mut results = if link != ANY_LINK {
        find_link(state, &cluster, &link)?;
        control
            .alter_mirrors(Some(link.clone()), names.clone(), action, validate_only)
            .await?
    } else if cluster == ANY_CLUSTER {
        control
            .alter_mirrors(None, names.clone(), action, validate_only)
            .await?
    } else {
        alter_by_owner(state, control, &cluster, &names, action, validate_only).await?
    };
    let order: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    results.sort_by_key(|r| {
        order
            .get(r.mirror_topic_name.as_str())
            .copied()
            .unwrap_or(usize::MAX)
    });
    let list = DataList::new(
        "KafkaAlterMirrorStatusResponseDataList",
        uri.path().to_string(),
        results
            .iter()
            .map(|r| model::alter_mirror_status(&cluster, &link, r))
            .collect(),
    );
    Ok(Json(list).into_response())
}

/// A mirror action on link `-` of a named cluster: one control-plane call
/// per link of `cluster` owning some of `names`; a call that fails puts
/// its error on each of its topics.
async fn alter_by_owner(
    state: &dyn ApiState,
    control: &dyn ControlPlane,
    cluster: &str,
    names: &[String],
    action: MirrorAction,
    validate_only: bool,
) -> Result<Vec<MirrorActionResult>, ApiError> {
    let links: Vec<(String, BTreeSet<String>)> = links_of(state, cluster)?
        .iter()
        .map(|l| {
            (
                l.name().to_string(),
                l.mirror_topics().into_iter().collect(),
            )
        })
        .collect();
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let mut results = Vec::new();
    for name in names {
        match links.iter().find(|(_, topics)| topics.contains(name)) {
            Some((link, _)) => match groups.iter_mut().find(|(l, _)| l == link) {
                Some((_, topics)) => topics.push(name.clone()),
                None => groups.push((link.clone(), vec![name.clone()])),
            },
            None => results.push(MirrorActionResult {
                mirror_topic_name: name.clone(),
                error: Some(ControlError::MirrorNotFound {
                    link: ANY_LINK.to_string(),
                    mirror: name.clone(),
                }),
                lags: Vec::new(),
            }),
        }
    }
    for (link, topics) in groups {
        match control
            .alter_mirrors(Some(link), topics.clone(), action, validate_only)
            .await
        {
            Ok(r) => results.extend(r),
            Err(e) => results.extend(topics.into_iter().map(|t| MirrorActionResult {
                mirror_topic_name: t,
                error: Some(e.clone()),
                lags: Vec::new(),
            })),
        }
    }
    Ok(results)
}
