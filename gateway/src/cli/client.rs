//! Blocking HTTP client of a running gateway's REST API (`ureq`): the
//! Kafka REST v3 cluster-linking paths under
//! `/kafka/v3/clusters/{cluster}/links` (`{cluster}` from `--cluster`, `-`
//! for any destination), every call with `Authorization: Bearer <token>`
//! when a token is given (the gateway needs it on mutating calls, and on
//! reads with `api_token_on_reads`). Answers are JSON bodies or
//! [`CliError`]s naming the URL and the HTTP status.
//!
//! An `https://` API is reached over TLS (rustls, `ring`): the server's
//! certificate is checked against `--api-ca` or else the system's roots,
//! and `--api-cert` / `--api-key` present a client certificate (for a
//! gateway with `api_tls_client_ca`). TLS failures are [`CliError::Tls`]
//! in words (unknown CA, hostname mismatch, certificate required).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use linkgate::api::tls::{crypto_provider, private_key_from_pem, read_certificates, read_pem};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use linkgate::api::body::{AlterConfigsBody, AlterMirrorsBody, CreateLinkBody, CreateMirrorBody};
use linkgate::api::ANY_LINK;
use serde::Serialize;
use serde_json::Value;

use super::error::CliError;

/// Default base URL of the API (`[gateway] api_listen` default).
pub const DEFAULT_API: &str = "http://127.0.0.1:8090";

/// Deadline of one request, connect to last byte. Mutating calls may
/// connect to clusters (link validation, promote's final checks), so this
/// is well above a Kafka request timeout (30 s by default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The bearer token of the API (`--token` / `LINKGATE_API_TOKEN`,
/// `[gateway] api_token` on the gateway). A secret: its `Debug` output is
/// redacted and it is sent only in the `Authorization` header, never
/// printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

impl FromStr for ApiToken {
    type Err = std::convert::Infallible;

    /// Takes any text: checking happens when the token is used (see
    /// [`ApiToken::header`]), so that a bad token is never echoed by the
    /// argument parser's error message.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

impl ApiToken {
    /// `Bearer <token>`.
    ///
    /// # Errors
    /// [`CliError::Usage`] when the token has characters other than
    /// visible ASCII (what an HTTP header value and RFC 6750's `b64token`
    /// allow); the message never contains the token.
    fn header(&self) -> Result<String, CliError> {
        if self.0.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(format!("Bearer {}", self.0))
        } else {
            Err(CliError::Usage(
                "--token / LINKGATE_API_TOKEN: the API token may only contain visible ASCII characters"
                    .to_string(),
            ))
        }
    }
}

/// HTTP methods the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

/// The client's TLS files (`--api-ca`, `--api-cert`, `--api-key`), used
/// for an `https://` API only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM CA certificates to trust instead of the system's roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

impl ClientTls {
    /// The ureq TLS config: rustls with `ring`, the roots of `ca` (else the
    /// system's, else Mozilla's bundled ones) and the client certificate.
    ///
    /// # Errors
    /// [`CliError::Usage`] for `--api-cert` without `--api-key` or the other
    /// way round; [`CliError::Input`] naming a file that cannot be used
    /// (never its content).
    fn config(&self) -> Result<TlsConfig, CliError> {
        let input = |path: &PathBuf| {
            let path = path.display().to_string();
            move |reason: String| CliError::Input { path, reason }
        };
        let roots = match &self.ca {
            Some(ca) => {
                let certs = read_certificates(ca).map_err(input(ca))?;
                RootCerts::new_with_certs(
                    &certs
                        .iter()
                        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                        .collect::<Vec<_>>(),
                )
            }
            None => system_roots(),
        };
        let client_cert =
            match (&self.cert, &self.key) {
                (None, None) => None,
                (Some(cert), Some(key)) => {
                    let chain: Vec<Certificate<'static>> = read_certificates(cert)
                        .map_err(input(cert))?
                        .iter()
                        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                        .collect();
                    // Checked with linkgate's reader (errors in words, never the
                    // key), then handed to ureq in PEM.
                    let pem = read_pem(key).map_err(input(key))?;
                    private_key_from_pem(&pem).map_err(input(key))?;
                    let key = PrivateKey::from_pem(&pem)
                        .map_err(|_| input(key)("no usable private key in it".to_string()))?;
                    Some(ClientCert::new_with_certs(&chain, key))
                }
                (Some(_), None) | (None, Some(_)) => return Err(CliError::Usage(
                    "--api-cert and --api-key (LINKGATE_API_CERT, LINKGATE_API_KEY) go together: \
                     the client certificate and its private key"
                        .to_string(),
                )),
            };
        Ok(TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(crypto_provider())
            .root_certs(roots)
            .client_cert(client_cert)
            .build())
    }
}

/// The system's CA certificates (`rustls-native-certs`: the OS store,
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`); Mozilla's bundled roots when none
/// can be loaded.
fn system_roots() -> RootCerts {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return RootCerts::WebPki;
    }
    RootCerts::new_with_certs(
        &found
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect::<Vec<_>>(),
    )
}

/// A client of one gateway's REST API, for one `{cluster_id}`.
pub struct ApiClient {
    base: String,
    cluster: String,
    token: Option<ApiToken>,
    /// A client certificate is configured (for error messages).
    client_cert: bool,
    agent: ureq::Agent,
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:8090` or
    /// `https://gateway.example:8090`; a trailing `/` is ignored) for
    /// destination cluster `cluster` (an alias of the gateway's
    /// `[clusters]`, or `-` for any). `token` is sent on every call; an
    /// empty token counts as none. `tls` is read for an `https://` base
    /// only. Nothing is sent yet.
    ///
    /// # Errors
    /// As [`ClientTls`]'s files: [`CliError::Usage`] or
    /// [`CliError::Input`].
    pub fn new(
        base: &str,
        cluster: &str,
        token: Option<ApiToken>,
        tls: &ClientTls,
    ) -> Result<Self, CliError> {
        let https = is_https(base);
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT));
        if https {
            config = config.tls_config(tls.config()?);
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            cluster: cluster.to_string(),
            token: token.filter(|t| !t.0.is_empty()),
            client_cert: https && tls.cert.is_some(),
            agent: config.build().into(),
        })
    }

    /// The API base URL as given (for error messages), without user info.
    pub fn base(&self) -> String {
        redact_userinfo(&self.base)
    }

    /// `/kafka/v3/clusters/{cluster}/links`.
    fn links_path(&self) -> String {
        format!("/kafka/v3/clusters/{}/links", segment(&self.cluster))
    }

    /// `/kafka/v3/clusters/{cluster}/links/{link}`.
    fn link_path(&self, link: &str) -> String {
        format!("{}/{}", self.links_path(), segment(link))
    }

    /// GET `path` (starting with `/`): the JSON body of a 2xx answer.
    ///
    /// Errors: [`CliError::Unreachable`] without an HTTP answer,
    /// [`CliError::Tls`] when the TLS handshake fails,
    /// [`CliError::Api`] for a non-2xx answer (with the API's `message`),
    /// [`CliError::BadResponse`] for a 2xx body that is not JSON.
    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send::<Value>(Verb::Get, path, None)
    }

    /// Sends one request; `body` (one of the API's request body types,
    /// `linkgate::api::body`) is sent as JSON. Every verb carries the
    /// bearer token when one is given. A 2xx answer without a body (204)
    /// is `Value::Null`.
    fn send<B: Serialize>(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&B>,
    ) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let shown = redact_userinfo(&url);
        let unreachable = |e: ureq::Error| match tls_failure(&e, self.client_cert) {
            Some(reason) => CliError::Tls {
                url: shown.clone(),
                reason,
            },
            None => CliError::Unreachable {
                url: shown.clone(),
                reason: with_http_hint(&url, &e),
            },
        };
        let auth = self.token.as_ref().map(ApiToken::header).transpose()?;
        let json = body
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| CliError::Usage(format!("cannot encode the request body: {e}")))?;
        let result = match verb {
            Verb::Get => with_auth(self.agent.get(&url), auth).call(),
            Verb::Delete => with_auth(self.agent.delete(&url), auth).call(),
            Verb::Post | Verb::Put => {
                let request = if verb == Verb::Post {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                let request = with_auth(request, auth);
                match json {
                    Some(json) => request
                        .header("Content-Type", "application/json")
                        .send(json),
                    None => request.send_empty(),
                }
            }
        };
        let mut response = result.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| CliError::BadResponse {
                url: shown.clone(),
                reason: one_line(&e.to_string()),
            })?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|j| j.get("message").and_then(|m| m.as_str()).map(one_line))
                .unwrap_or_else(|| excerpt(&text));
            return Err(CliError::Api {
                url: shown,
                status,
                message,
            });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str::<Value>(&text).map_err(|e| CliError::BadResponse {
            url: shown,
            reason: format!("not JSON: {e}"),
        })
    }

    /// `GET .../links[/{link}]?include_tasks=...`.
    pub fn links(&self, link: Option<&str>, include_tasks: bool) -> Result<Value, CliError> {
        let path = match link {
            Some(l) => self.link_path(l),
            None => self.links_path(),
        };
        self.get(&format!("{path}?include_tasks={include_tasks}"))
    }

    /// `GET .../links/{link}/configs`.
    pub fn configs(&self, link: &str) -> Result<Value, CliError> {
        self.get(&format!("{}/configs", self.link_path(link)))
    }

    /// `GET .../links/{link or -}/mirrors[?include_stopped=true][&mirror_status=S]`:
    /// the mirror topics of one link, or of every link with `None`; with
    /// `mirror_status`, only those in that state (checked by the API: a
    /// state it does not know is a 400 listing the states).
    pub fn mirrors(
        &self,
        link: Option<&str>,
        include_stopped: bool,
        mirror_status: Option<&str>,
    ) -> Result<Value, CliError> {
        self.get(&format!(
            "{}/mirrors{}",
            self.link_path(link.unwrap_or(ANY_LINK)),
            query(&[
                (
                    "include_stopped",
                    include_stopped.then(|| "true".to_string())
                ),
                ("mirror_status", mirror_status.map(str::to_string)),
            ])
        ))
    }

    /// `GET .../links/{link}/mirrors/{mirror}` (any state).
    pub fn mirror(&self, link: &str, mirror: &str) -> Result<Value, CliError> {
        self.get(&format!(
            "{}/mirrors/{}",
            self.link_path(link),
            segment(mirror)
        ))
    }

    /// `POST .../links?link_name=L[&validate_only=true][&validate_link=false]`
    /// with `body` (`{"source_cluster_id"?, "configs": [...]}`); 204.
    pub fn create_link(
        &self,
        link: &str,
        body: &CreateLinkBody,
        validate_only: bool,
        validate_link: bool,
    ) -> Result<(), CliError> {
        let q = query(&[
            ("link_name", Some(link.to_string())),
            ("validate_only", validate_only.then(|| "true".to_string())),
            (
                "validate_link",
                (!validate_link).then(|| "false".to_string()),
            ),
        ]);
        self.send(Verb::Post, &format!("{}{q}", self.links_path()), Some(body))
            .map(drop)
    }

    /// `PUT .../links/{link}/configs:alter[?validate_only=true]` with `body`
    /// (`{"data": [{"name", "value"?, "operation"}]}`); 204.
    pub fn alter_link(
        &self,
        link: &str,
        body: &AlterConfigsBody,
        validate_only: bool,
    ) -> Result<(), CliError> {
        let q = query(&[("validate_only", validate_only.then(|| "true".to_string()))]);
        let path = format!("{}/configs:alter{q}", self.link_path(link));
        self.send(Verb::Put, &path, Some(body)).map(drop)
    }

    /// `DELETE .../links/{link}[?force=true][&validate_only=true]`; 200, no body.
    pub fn delete_link(
        &self,
        link: &str,
        force: bool,
        validate_only: bool,
    ) -> Result<(), CliError> {
        let q = query(&[
            ("force", force.then(|| "true".to_string())),
            ("validate_only", validate_only.then(|| "true".to_string())),
        ]);
        self.send::<Value>(Verb::Delete, &format!("{}{q}", self.link_path(link)), None)
            .map(drop)
    }

    /// `POST .../links/{link}/mirrors[?validate_only=true]` with `body`
    /// (`{"source_topic_name"?, "mirror_topic_name"?, "replication_factor"?,
    /// "configs"}`); 204.
    pub fn create_mirror(
        &self,
        link: &str,
        body: &CreateMirrorBody,
        validate_only: bool,
    ) -> Result<(), CliError> {
        let q = query(&[("validate_only", validate_only.then(|| "true".to_string()))]);
        let path = format!("{}/mirrors{q}", self.link_path(link));
        self.send(Verb::Post, &path, Some(body)).map(drop)
    }

    /// `POST .../links/{link}/groups/{group}:migrate[?validate_only=true]`
    /// (linkgate's `group migrate`); the 200 body (`LinkgateGroupMigration`).
    pub fn migrate_group(
        &self,
        link: &str,
        group: &str,
        validate_only: bool,
    ) -> Result<Value, CliError> {
        let q = query(&[("validate_only", validate_only.then(|| "true".to_string()))]);
        let path = format!(
            "{}/groups/{}:migrate{q}",
            self.link_path(link),
            segment(group)
        );
        self.send::<Value>(Verb::Post, &path, None)
    }

    /// `POST .../links/{link or -}/mirrors:{action}[?validate_only=true]`
    /// with `{"mirror_topic_names": topics}`; the 200 body
    /// (`KafkaAlterMirrorStatusResponseDataList`). `action`: `promote`,
    /// `failover`, `pause` or `resume`.
    pub fn alter_mirrors(
        &self,
        link: Option<&str>,
        action: &str,
        topics: &[String],
        validate_only: bool,
    ) -> Result<Value, CliError> {
        let q = query(&[("validate_only", validate_only.then(|| "true".to_string()))]);
        let path = format!(
            "{}/mirrors:{action}{q}",
            self.link_path(link.unwrap_or(ANY_LINK))
        );
        let body = AlterMirrorsBody {
            mirror_topic_names: topics.to_vec(),
        };
        self.send(Verb::Post, &path, Some(&body))
    }
}

/// Whether `url` is an `https://` URL (scheme in any case).
fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The rustls error inside a ureq error: ureq's own `Rustls` variant, or
/// one wrapped in an I/O error (a failure after the handshake, e.g. the
/// server's alert when it refuses the client certificate in TLS 1.3).
fn rustls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    let mut current: &(dyn std::error::Error + 'static) = match e {
        ureq::Error::Rustls(r) => return Some(r),
        ureq::Error::Io(io) => io,
        other => other,
    };
    loop {
        if let Some(r) = current.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        let inner = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|i| i as &(dyn std::error::Error + 'static));
        current = inner.or_else(|| current.source())?;
    }
}

/// A failed TLS connection in words (RFC 8446 alerts and certificate
/// checks), naming what to change; `None` when `e` is not a TLS failure.
/// `client_cert`: a client certificate was presented.
fn tls_failure(e: &ureq::Error, client_cert: bool) -> Option<String> {
    use rustls::{AlertDescription as Alert, CertificateError as Cert, Error as Tls};
    let r = rustls_error(e)?;
    let text = match r {
        Tls::InvalidCertificate(Cert::UnknownIssuer) => {
            "the API's certificate is not signed by a trusted CA (unknown CA); pass the CA \
             that signed it with --api-ca"
                .to_string()
        }
        Tls::InvalidCertificate(Cert::NotValidForName | Cert::NotValidForNameContext { .. }) => {
            "the API's certificate is not valid for the host name of the URL (hostname \
             mismatch); use a name or address the certificate was made for"
                .to_string()
        }
        Tls::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => {
            "the API's certificate has expired".to_string()
        }
        Tls::InvalidCertificate(Cert::NotValidYet | Cert::NotValidYetContext { .. }) => {
            "the API's certificate is not valid yet".to_string()
        }
        Tls::InvalidCertificate(other) => {
            format!("the API's certificate is not accepted ({other:?})")
        }
        Tls::AlertReceived(Alert::CertificateRequired) => {
            "the API requires a client certificate (certificate required); pass --api-cert \
             and --api-key"
                .to_string()
        }
        Tls::AlertReceived(
            alert @ (Alert::UnknownCA
            | Alert::BadCertificate
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::DecryptError
            | Alert::AccessDenied),
        ) if client_cert => {
            format!(
                "the API refused the client certificate ({alert:?}); it must be signed by the \
                 gateway's api_tls_client_ca, be valid now and match --api-key"
            )
        }
        Tls::AlertReceived(Alert::HandshakeFailure) if !client_cert => {
            "the API refused the TLS handshake (handshake failure); if it requires a client \
             certificate, pass --api-cert and --api-key"
                .to_string()
        }
        Tls::InvalidMessage(_) => {
            "the server did not answer with TLS; is the API served over plain http:// (no \
             api_tls_cert)?"
                .to_string()
        }
        other => format!("TLS failed: {other}"),
    };
    Some(text)
}

/// The reason of an HTTP failure on one line; for an `http://` URL whose
/// server did not speak HTTP, a hint that it may serve HTTPS.
fn with_http_hint(url: &str, e: &ureq::Error) -> String {
    let reason = one_line(&e.to_string());
    let not_http = matches!(e, ureq::Error::Protocol(_))
        || matches!(e, ureq::Error::Io(io) if matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ));
    if !is_https(url) && not_http {
        format!("{reason} (a gateway with api_tls_cert serves https:// only)")
    } else {
        reason
    }
}

/// Adds `Authorization` when `auth` is set.
fn with_auth<B>(request: ureq::RequestBuilder<B>, auth: Option<String>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(value) => request.header("Authorization", value),
        None => request,
    }
}

/// `?k=v&...` of the parameters that are set (values percent-encoded), or
/// the empty string when none is.
fn query(params: &[(&str, Option<String>)]) -> String {
    let set: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", segment(v))))
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!("?{}", set.join("&"))
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

/// Longest excerpt of a non-JSON error body shown, in characters.
const MAX_EXCERPT_CHARS: usize = 200;

/// A non-JSON error body (e.g. an HTML page from a proxy) on one line,
/// cut to [`MAX_EXCERPT_CHARS`] characters (`...` marks a cut).
fn excerpt(body: &str) -> String {
    let line = one_line(body);
    if line.chars().count() <= MAX_EXCERPT_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(MAX_EXCERPT_CHARS).collect();
    cut.push_str("...");
    cut
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
    fn non_json_bodies_are_cut_to_one_short_line() {
        assert_eq!(excerpt("<h1>Bad\n gateway</h1>\n"), "<h1>Bad gateway</h1>");
        let long = "\u{e9}".repeat(300);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), MAX_EXCERPT_CHARS + 3);
        assert!(cut.ends_with("..."));
    }

    #[test]
    fn query_has_only_set_parameters() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[
                ("link_name", Some("a b".into())),
                ("x", None),
                ("force", Some("true".into()))
            ]),
            "?link_name=a%20b&force=true"
        );
    }

    #[test]
    fn token_is_redacted_and_checked() {
        let t = ApiToken("s3cr3t-token".into());
        assert_eq!(format!("{t:?}"), "ApiToken(***)");
        assert_eq!(t.header().expect("valid"), "Bearer s3cr3t-token");
        let err = ApiToken("bad token".into()).header().expect_err("space");
        assert!(!err.to_string().contains("bad"), "{err}");
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
        let client = ApiClient::new("http://127.0.0.1:9/", "-", None, &ClientTls::default())
            .expect("client");
        let err = client.links(None, false).expect_err("nothing listens");
        let msg = err.to_string();
        assert!(
            msg.contains("http://127.0.0.1:9/kafka/v3/clusters/-/links"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
    }
}
