//! The gateway's REST API from a test: blocking JSON requests (GET, POST,
//! PUT, DELETE) with an optional bearer token, and the config text of a
//! gateway that has clusters and an API but links only through the API.
//!
//! Every status is returned to the caller (never turned into an error), so
//! tests assert on 204, 400, 401, 404 and 409 alike. A 204 or an empty body
//! is returned as JSON `null`.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::wait::{free_port, wait_until};

/// Path prefix of the Kafka REST v3 cluster resources.
pub const CLUSTERS: &str = "/kafka/v3/clusters";

/// Timeout of one API request: 30 s (link validation connects to clusters,
/// a mirror action may run a final sync).
pub const API_TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP answer: status and body parsed as JSON (`null` when empty).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status code, e.g. 204.
    pub status: u16,
    /// The body as JSON; `Value::Null` for an empty body.
    pub json: Value,
}

impl std::fmt::Display for ApiResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.json)
    }
}

impl ApiResponse {
    /// The `message` of a Kafka REST error body, or "" when absent.
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }
}

/// A client of one gateway's REST API: base URL such as
/// `http://127.0.0.1:40000` and an optional bearer token sent as
/// `Authorization: Bearer <token>` with every request.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
}

impl Api {
    /// A client for `base` (no trailing slash), without a token.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            token: None,
        }
    }

    /// The same client sending `token` as bearer token (`None`: no header).
    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            base: self.base.clone(),
            token: token.map(str::to_owned),
        }
    }

    /// The client for the `[gateway] api_listen` address of `config_toml`.
    ///
    /// # Errors
    /// The config is not TOML or has no string `gateway.api_listen`.
    pub fn for_config(config_toml: &str) -> anyhow::Result<Self> {
        let table: toml::Table =
            toml::from_str(config_toml).context("test config is not valid TOML")?;
        let listen = table
            .get("gateway")
            .and_then(|g| g.get("api_listen"))
            .and_then(|m| m.as_str())
            .context("test config has no string gateway.api_listen")?;
        Ok(Self::new(format!("http://{listen}")))
    }

    /// Base URL, e.g. `http://127.0.0.1:40000`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET {base}{path}`.
    ///
    /// # Errors
    /// Transport failure, or a non-empty body that is not JSON.
    pub fn get(&self, path: &str) -> anyhow::Result<ApiResponse> {
        self.request("GET", path, None)
    }

    /// `POST {base}{path}` with `body` as JSON (`None`: empty body).
    ///
    /// # Errors
    /// As [`Api::get`].
    pub fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<ApiResponse> {
        self.request("POST", path, body.map(Value::to_string).as_deref())
    }

    /// `POST {base}{path}` with `body` sent verbatim as `application/json`
    /// (for malformed-body tests).
    ///
    /// # Errors
    /// As [`Api::get`].
    pub fn post_raw(&self, path: &str, body: &str) -> anyhow::Result<ApiResponse> {
        self.request("POST", path, Some(body))
    }

    /// `PUT {base}{path}` with `body` as JSON.
    ///
    /// # Errors
    /// As [`Api::get`].
    pub fn put(&self, path: &str, body: &Value) -> anyhow::Result<ApiResponse> {
        self.request("PUT", path, Some(&body.to_string()))
    }

    /// `DELETE {base}{path}`.
    ///
    /// # Errors
    /// As [`Api::get`].
    pub fn delete(&self, path: &str) -> anyhow::Result<ApiResponse> {
        self.request("DELETE", path, None)
    }

    /// Polls `GET {base}{path}` (every 100 ms, see [`crate::wait_until`])
    /// until `pred` holds for the answer, and returns that answer.
    ///
    /// # Errors
    /// Not true within `deadline`; the error shows the last answer (or
    /// transport error).
    pub async fn wait_for<F>(
        &self,
        path: &str,
        deadline: Duration,
        mut pred: F,
    ) -> anyhow::Result<ApiResponse>
    where
        F: FnMut(&ApiResponse) -> bool,
    {
        let mut last = String::from("no answer");
        let mut hit = None;
        let waited = wait_until(&format!("GET {path} to match"), deadline, || {
            let ok = match self.get(path) {
                Ok(r) => {
                    last = r.to_string();
                    let ok = pred(&r);
                    if ok {
                        hit = Some(r);
                    }
                    ok
                }
                Err(e) => {
                    last = format!("{e:#}");
                    false
                }
            };
            std::future::ready(ok)
        })
        .await;
        match (waited, hit) {
            (Ok(()), Some(r)) => Ok(r),
            (Err(e), _) => Err(e.context(format!("last answer: {last}"))),
            (Ok(()), None) => anyhow::bail!("GET {path}: matched without an answer"),
        }
    }

    /// Waits (blocking, polling every 100 ms) until the API answers `GET
    /// /kafka/v3/clusters/-/links` with 200: the gateway's `/metrics`
    /// readiness does not cover the API, which is bound after the links
    /// start.
    ///
    /// # Errors
    /// No 200 within `deadline` (the error shows the last answer).
    pub fn wait_ready(&self, deadline: Duration) -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        loop {
            match self.get(&format!("{CLUSTERS}/-/links")) {
                Ok(r) if r.status == 200 => return Ok(()),
                other if start.elapsed() >= deadline => {
                    anyhow::bail!(
                        "REST API {} not ready after {deadline:?}: {other:?}",
                        self.base
                    )
                }
                _ => std::thread::sleep(crate::wait::POLL_INTERVAL),
            }
        }
    }

    /// `POST {base}{path}` with `body`, sent again every 100 ms while the
    /// answer is 503 (retriable: e.g. a link still connecting), until
    /// `deadline`; returns the first other answer.
    ///
    /// # Errors
    /// Transport failure, or still 503 at the deadline (the error shows it).
    pub async fn post_retrying(
        &self,
        path: &str,
        body: Option<&Value>,
        deadline: Duration,
    ) -> anyhow::Result<ApiResponse> {
        let mut answer = None;
        let mut failure = None;
        let waited = wait_until(
            &format!("POST {path} to answer other than 503"),
            deadline,
            || {
                let done = match self.post(path, body) {
                    Ok(r) if r.status == 503 => {
                        answer = Some(r);
                        false
                    }
                    Ok(r) => {
                        answer = Some(r);
                        true
                    }
                    Err(e) => {
                        failure = Some(e);
                        true
                    }
                };
                std::future::ready(done)
            },
        )
        .await;
        if let Some(e) = failure {
            return Err(e);
        }
        match (waited, answer) {
            (Ok(()), Some(r)) => Ok(r),
            (Err(e), last) => Err(e.context(format!("last answer: {last:?}"))),
            (Ok(()), None) => anyhow::bail!("POST {path}: no answer"),
        }
    }

    /// One request: `method` is GET, POST, PUT or DELETE; `body` (JSON text)
    /// only for POST and PUT.
    ///
    /// # Errors
    /// Unknown method, transport failure, or a non-empty body that is not JSON.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<ApiResponse> {
        let url = format!("{}{path}", self.base);
        let (status, text) = http_request(method, &url, self.token.as_deref(), body)?;
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{method} {url} -> {status}: body is not JSON: {text}"))?
        };
        Ok(ApiResponse { status, json })
    }
}

/// Blocking HTTP request (ureq, 30 s timeout): `method` GET, POST, PUT or
/// DELETE to `url`, `Authorization: Bearer <token>` when `token` is given,
/// `body` sent as `application/json` (POST/PUT; POST without body sends an
/// empty one). Returns the status and the body text; any status is returned.
///
/// # Errors
/// Unknown method, transport failure (connection refused, timeout), or a
/// body that is not UTF-8.
pub fn http_request(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(API_TIMEOUT))
        .build()
        .into();
    let auth = token.map(|t| format!("Bearer {t}"));
    macro_rules! with_auth {
        ($req:expr) => {{
            let req = $req;
            match &auth {
                Some(a) => req.header("Authorization", a),
                None => req,
            }
        }};
    }
    let result = match method {
        "GET" => with_auth!(agent.get(url)).call(),
        "DELETE" => with_auth!(agent.delete(url)).call(),
        "POST" | "PUT" => {
            let req = if method == "POST" {
                agent.post(url)
            } else {
                agent.put(url)
            };
            let req = with_auth!(req);
            match body {
                Some(b) => req.content_type("application/json").send(b),
                None => req.send_empty(),
            }
        }
        other => anyhow::bail!("unsupported HTTP method {other}"),
    };
    let mut response = result.with_context(|| format!("{method} {url}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading body of {method} {url}"))?;
    Ok((status, text))
}

/// Config text of a gateway with the given `[clusters]` (alias, bootstrap)
/// and no config-file link unless `extra` adds some (`[[links]]` tables
/// appended verbatim), a free loopback `metrics_listen` and `api_listen`,
/// and `api_token` when given. Links are then created through the API.
pub fn control_config(clusters: &[(&str, String)], api_token: Option<&str>, extra: &str) -> String {
    let mut text = format!(
        "[gateway]\nmetrics_listen = \"127.0.0.1:{}\"\napi_listen = \"127.0.0.1:{}\"\n",
        free_port(),
        free_port()
    );
    if let Some(token) = api_token {
        text.push_str(&format!("api_token = {token:?}\n"));
    }
    for (alias, bootstrap) in clusters {
        text.push_str(&format!(
            "\n[clusters.{alias}]\n\"bootstrap.servers\" = {bootstrap:?}\n"
        ));
    }
    text.push('\n');
    text.push_str(extra);
    text
}
