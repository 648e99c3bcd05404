//! Blocking HTTP client of a running gateway's REST API (`ureq`): GET one
//! path, return its JSON body or a [`CliError`] naming the URL.

use std::time::Duration;

use super::error::CliError;

/// Default base URL of the API (`[gateway] api_listen` default).
pub const DEFAULT_API: &str = "http://127.0.0.1:8090";

/// Deadline of one request, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Base path of the cluster-link endpoints for any destination cluster
/// (Kafka REST v3 `{cluster_id}` = `-`).
const LINKS: &str = "/kafka/v3/clusters/-/links";

/// A client of one gateway's REST API.
pub struct ApiClient {
    base: String,
    agent: ureq::Agent,
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:8090`; a
    /// trailing `/` is ignored). Nothing is sent yet.
    pub fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// GET `path` (starting with `/`): the JSON body of a 2xx answer.
    ///
    /// Errors: [`CliError::Unreachable`] without an HTTP answer,
    /// [`CliError::Api`] for a non-2xx answer (with the API's `message`),
    /// [`CliError::BadResponse`] for a 2xx body that is not JSON.
    pub fn get(&self, path: &str) -> Result<serde_json::Value, CliError> {
        let url = format!("{}{path}", self.base);
        let shown = redact_userinfo(&url);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| CliError::Unreachable {
                url: shown.clone(),
                reason: one_line(&e.to_string()),
            })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| CliError::BadResponse {
                url: shown.clone(),
                reason: one_line(&e.to_string()),
            })?;
        let json = serde_json::from_str::<serde_json::Value>(&body);
        if !(200..300).contains(&status) {
            let message = json
                .ok()
                .and_then(|j| {
                    j.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| one_line(&body));
            return Err(CliError::Api {
                url: shown,
                status,
                message,
            });
        }
        json.map_err(|e| CliError::BadResponse {
            url: shown,
            reason: format!("not JSON: {e}"),
        })
    }

    /// `GET /kafka/v3/clusters/-/links[/{link}]?include_tasks=...`.
    pub fn links(
        &self,
        link: Option<&str>,
        include_tasks: bool,
    ) -> Result<serde_json::Value, CliError> {
        let one = link.map(|l| format!("/{}", segment(l))).unwrap_or_default();
        self.get(&format!("{LINKS}{one}?include_tasks={include_tasks}"))
    }

    /// `GET /kafka/v3/clusters/-/links/{link}/configs`.
    pub fn configs(&self, link: &str) -> Result<serde_json::Value, CliError> {
        self.get(&format!("{LINKS}/{}/configs", segment(link)))
    }

    /// `GET /kafka/v3/clusters/-/links/{link}/mirrors`.
    pub fn mirrors(&self, link: &str) -> Result<serde_json::Value, CliError> {
        self.get(&format!("{LINKS}/{}/mirrors", segment(link)))
    }

    /// `GET /kafka/v3/clusters/-/links/{link}/mirrors/{mirror}`.
    pub fn mirror(&self, link: &str, mirror: &str) -> Result<serde_json::Value, CliError> {
        self.get(&format!(
            "{LINKS}/{}/mirrors/{}",
            segment(link),
            segment(mirror)
        ))
    }
}

/// Percent-encodes a path segment (RFC 3986: everything but unreserved
/// characters), so a name never changes the path.
fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` without user info (`http://user:secret@host` -> `http://***@host`):
/// credentials never reach error messages.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest.get(..authority_end).and_then(|a| a.rfind('@')) {
        Some(at) => format!("{scheme}://***{}", rest.get(at..).unwrap_or_default()),
        None => url.to_string(),
    }
}

/// `s` on one line (newlines folded), for one-line error messages.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("east.orders-1_x~"), "east.orders-1_x~");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn user_info_is_redacted() {
        assert_eq!(
            redact_userinfo("http://u:secret@h:1/kafka/v3"),
            "http://***@h:1/kafka/v3"
        );
        assert_eq!(redact_userinfo("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redact_userinfo("nonsense"), "nonsense");
    }

    #[test]
    fn unreachable_api_names_the_url() {
        // Port 9 (discard) on loopback: nothing listens in the test sandbox;
        // either way the error must name the URL.
        let client = ApiClient::new("http://127.0.0.1:9/");
        let err = client.links(None, false).expect_err("nothing listens");
        let msg = err.to_string();
        assert!(
            msg.contains("http://127.0.0.1:9/kafka/v3/clusters/-/links"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
    }
}
