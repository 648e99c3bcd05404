//! SASL OAUTHBEARER (RFC 7628) as Kafka's `OAuthBearerSaslClient` sends it,
//! and the tokens it carries.
//!
//! Client initial response (Kafka's `OAuthBearerClientInitialResponse`):
//!
//! ```text
//! n,[a=<authzid>],\x01auth=Bearer <token>[\x01<key>=<value>]*\x01\x01
//! ```
//!
//! An empty server answer ends the exchange; an error JSON
//! (`{"status":"invalid_token",...}`, RFC 7628 section 3.2.2) is answered
//! with a single `0x01` (section 3.2.3) and the exchange fails.
//!
//! Token sources ([`TokenSource`]), chosen from the client properties as
//! Kafka's login callback handlers do:
//!
//! - no `sasl.oauthbearer.token.endpoint.url`: an unsecured JWS built from
//!   the `unsecuredLogin*` JAAS options (Kafka's
//!   `OAuthBearerUnsecuredLoginCallbackHandler`); extensions come from the
//!   `unsecuredLoginExtension_<name>` options;
//! - an `http`/`https` URL: the OAuth client credentials grant (KIP-768,
//!   Kafka's `OAuthBearerLoginCallbackHandler` with
//!   `HttpAccessTokenRetriever`/`ClientCredentialsJwtRetriever`);
//!   extensions come from the `extension_<name>` options;
//! - a `file:` URL: the file holds the access token (KIP-768), re-read on
//!   every refresh; extensions as for `http`.
//!
//! [`TokenCache`] keeps one token per cluster and refreshes it as Kafka's
//! `ExpiringCredentialRefreshingLogin` schedules it. Tokens and client
//! secrets are never logged; an endpoint's error body is scrubbed of the
//! client secret before it is put into an error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64URL};
use base64::Engine as _;
use rand::Rng as _;
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use crate::secret::{scrub, Secret};

use super::jaas::JaasConfig;
use super::{excerpt, SaslError, SaslPropertyError, Step, SASL_JAAS_CONFIG};

/// The mechanism name, as sent in SaslHandshake.
pub const MECHANISM: &str = "OAUTHBEARER";

/// `sasl.oauthbearer.token.endpoint.url`: `http(s)` token endpoint or
/// `file:` token file (KIP-768).
pub const TOKEN_ENDPOINT_URL: &str = "sasl.oauthbearer.token.endpoint.url";
/// `sasl.login.callback.handler.class`: only Kafka's own OAUTHBEARER
/// handlers are accepted.
pub const LOGIN_CALLBACK_HANDLER_CLASS: &str = "sasl.login.callback.handler.class";
/// `sasl.login.connect.timeout.ms`: token endpoint connect timeout.
pub const LOGIN_CONNECT_TIMEOUT_MS: &str = "sasl.login.connect.timeout.ms";
/// `sasl.login.read.timeout.ms`: token endpoint read timeout.
pub const LOGIN_READ_TIMEOUT_MS: &str = "sasl.login.read.timeout.ms";
/// `sasl.login.refresh.window.factor`: fraction of the token lifetime after
/// which it is refreshed (0.5..=1.0, default 0.8).
pub const LOGIN_REFRESH_WINDOW_FACTOR: &str = "sasl.login.refresh.window.factor";
/// `sasl.login.refresh.window.jitter`: random fraction added to the factor
/// (0..=0.25, default 0.05).
pub const LOGIN_REFRESH_WINDOW_JITTER: &str = "sasl.login.refresh.window.jitter";
/// `sasl.login.refresh.min.period.seconds`: least time between refreshes
/// (0..=900, default 60).
pub const LOGIN_REFRESH_MIN_PERIOD_SECONDS: &str = "sasl.login.refresh.min.period.seconds";
/// `sasl.login.refresh.buffer.seconds`: time before expiry by which the
/// refresh should happen (0..=3600, default 300).
pub const LOGIN_REFRESH_BUFFER_SECONDS: &str = "sasl.login.refresh.buffer.seconds";
/// `sasl.oauthbearer.client.credentials.client.id` (Kafka 4.1, takes
/// precedence over the JAAS option `clientId`).
pub const CLIENT_ID: &str = "sasl.oauthbearer.client.credentials.client.id";
/// `sasl.oauthbearer.client.credentials.client.secret` (Kafka 4.1, takes
/// precedence over the JAAS option `clientSecret`).
pub const CLIENT_SECRET: &str = "sasl.oauthbearer.client.credentials.client.secret";
/// `sasl.oauthbearer.scope` (Kafka 4.1, takes precedence over the JAAS
/// option `scope`).
pub const SCOPE: &str = "sasl.oauthbearer.scope";
/// `sasl.oauthbearer.header.urlencode`: URL-encode the client id and secret
/// in the Basic authorization (RFC 6749 section 2.3.1; Kafka default
/// `false`).
pub const HEADER_URLENCODE: &str = "sasl.oauthbearer.header.urlencode";

/// Default connect and read timeouts of the token endpoint (Kafka has no
/// default, i.e. waits forever).
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Lifetime assumed for a token whose expiry is unknown (not a JWT with
/// `exp`, no `expires_in`).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Delay before the next attempt after a failed refresh while the current
/// token is still valid (Kafka's
/// `DELAY_SECONDS_BEFORE_NEXT_RETRY_WHEN_RELOGIN_FAILS`).
const RETRY_AFTER_FAILED_REFRESH: Duration = Duration::from_secs(10);
/// HTTP statuses of the token endpoint that are not worth retrying (Kafka's
/// `HttpAccessTokenRetriever.UNRETRYABLE_HTTP_CODES`); any other non-2xx
/// status is taken as transient.
pub const NOT_RETRIED_HTTP_STATUSES: [u16; 17] = [
    400, 401, 402, 403, 404, 405, 406, 407, 409, 410, 411, 412, 413, 414, 415, 501, 505,
];
/// Largest token endpoint response or token file read, in bytes.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// JAAS option prefix of SASL extensions with a token endpoint URL
/// (Kafka's `OAuthBearerLoginCallbackHandler`).
const EXTENSION_PREFIX: &str = "extension_";
/// JAAS option prefix of SASL extensions of unsecured tokens (Kafka's
/// `OAuthBearerUnsecuredLoginCallbackHandler`).
const UNSECURED_EXTENSION_PREFIX: &str = "unsecuredLoginExtension_";

// ---------------------------------------------------------------------------
// The SASL exchange.

/// The OAUTHBEARER client initial response (RFC 7628 section 3.1, Kafka's
/// `OAuthBearerClientInitialResponse.toBytes`):
/// `n,[a=<authzid>],\x01auth=Bearer <token>[\x01<key>=<value>]*\x01\x01`.
/// `authzid` may be empty (Kafka sends none) and is written as a saslname.
/// Errors: [`SaslError::InvalidField`] when the token is not an RFC 6750
/// `b64token` or an extension name is not `[A-Za-z]+` (or is `auth`) or
/// its value not `[\x21-\x7E \t\r\n]+` (Kafka's extension patterns).
pub fn initial_response(
    authzid: &str,
    token: &Secret,
    extensions: &[(String, Secret)],
) -> Result<Vec<u8>, SaslError> {
    validate_token(token)?;
    for (name, value) in extensions {
        validate_extension(name, value).map_err(|reason| SaslError::InvalidField {
            mechanism: MECHANISM,
            field: format!("SASL extension `{}`", excerpt(name)),
            reason,
        })?;
    }
    let mut message = String::from("n,");
    if !authzid.is_empty() {
        message.push_str("a=");
        message.push_str(&super::scram::sasl_name(authzid));
    }
    message.push_str(",\x01auth=Bearer ");
    message.push_str(token.expose());
    for (name, value) in extensions {
        message.push('\x01');
        message.push_str(name);
        message.push('=');
        message.push_str(value.expose());
    }
    message.push_str("\x01\x01");
    Ok(message.into_bytes())
}

/// Checks that `token` is an RFC 6750 section 2.1 `b64token`
/// (`1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`).
fn validate_token(token: &Secret) -> Result<(), SaslError> {
    let body = token.expose().trim_end_matches('=');
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(SaslError::InvalidField {
            mechanism: MECHANISM,
            field: "token".to_string(),
            reason: "is not an RFC 6750 bearer token (b64token)",
        })
    }
}

/// Kafka's extension rules (`OAuthBearerClientInitialResponse`): name
/// `[A-Za-z]+` other than `auth`, value `[\x21-\x7E \t\r\n]+`.
fn validate_extension(name: &str, value: &Secret) -> Result<(), &'static str> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err("has a name that is not [A-Za-z]+");
    }
    if name == "auth" {
        return Err("has the reserved name auth");
    }
    let value = value.expose();
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return Err("has a value that is empty or holds characters other than printable ASCII, space, tab, CR, LF");
    }
    Ok(())
}

/// A short description of an OAUTHBEARER server error message (RFC 7628
/// section 3.2.2): its `status`, `scope` and `openid-configuration`
/// members, shortened; or a note that it is not a JSON object.
pub fn server_error_summary(message: &[u8]) -> String {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(message) else {
        return "the server sent an error message that is not a JSON object".to_string();
    };
    let member = |name: &str| map.get(name).and_then(Value::as_str).map(excerpt);
    let mut parts = vec![format!(
        "status {}",
        member("status").unwrap_or_else(|| "(none)".to_string())
    )];
    if let Some(scope) = member("scope") {
        parts.push(format!("scope {scope}"));
    }
    if let Some(config) = member("openid-configuration") {
        parts.push(format!("openid-configuration {config}"));
    }
    parts.join(", ")
}

/// Where an [`OAuthBearerClient`] exchange is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Initial,
    Sent,
    ErrorAcknowledged,
    Done,
    Failed,
}

/// One OAUTHBEARER exchange (Kafka's `OAuthBearerSaslClient` states).
/// `Debug` shows the stage only.
pub struct OAuthBearerClient {
    message: Vec<u8>,
    stage: Stage,
    server_error: Option<String>,
}

impl OAuthBearerClient {
    /// A client sending `token` (see [`initial_response`] for the checks).
    pub fn new(
        token: &Secret,
        authzid: &str,
        extensions: &[(String, Secret)],
    ) -> Result<OAuthBearerClient, SaslError> {
        Ok(OAuthBearerClient {
            message: initial_response(authzid, token, extensions)?,
            stage: Stage::Initial,
            server_error: None,
        })
    }

    /// The initial response; calling it again returns the same bytes.
    pub fn initial_response(&mut self) -> Vec<u8> {
        if self.stage == Stage::Initial {
            self.stage = Stage::Sent;
        }
        self.message.clone()
    }

    /// Handles a server message: empty gives `Step::Done`; anything else is
    /// an error message, answered with `Step::Send([0x01])` (RFC 7628
    /// section 3.2.3, as Kafka does), after which the next call returns
    /// [`SaslError::AuthenticationFailed`] with the server's status.
    pub fn step(&mut self, server_message: &[u8]) -> Result<Step, SaslError> {
        match self.stage {
            Stage::Sent if server_message.is_empty() => {
                self.stage = Stage::Done;
                Ok(Step::Done)
            }
            Stage::Sent => {
                self.server_error = Some(server_error_summary(server_message));
                self.stage = Stage::ErrorAcknowledged;
                Ok(Step::Send(vec![0x01]))
            }
            Stage::ErrorAcknowledged => {
                self.stage = Stage::Failed;
                Err(SaslError::AuthenticationFailed {
                    mechanism: MECHANISM,
                    reason: self.server_error.clone().unwrap_or_default(),
                })
            }
            Stage::Initial => Err(SaslError::UnexpectedServerMessage {
                mechanism: MECHANISM,
                state: "before the initial response",
            }),
            Stage::Done | Stage::Failed => Err(SaslError::UnexpectedServerMessage {
                mechanism: MECHANISM,
                state: "after the exchange ended",
            }),
        }
    }

    /// Whether the server accepted the token.
    pub fn is_complete(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The server's error ([`server_error_summary`]), once one was received.
    pub fn server_error(&self) -> Option<&str> {
        self.server_error.as_deref()
    }
}

impl std::fmt::Debug for OAuthBearerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBearerClient")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// JWT claims.

/// The claims object of a JWS compact token `header.claims.signature`
/// (RFC 7515 section 7.1): `None` unless there are exactly three parts and
/// the second is base64url (padding tolerated) of a JSON object.
fn jwt_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    let mut parts = token.split('.');
    let (_header, claims, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = BASE64URL.decode(claims.trim_end_matches('=')).ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A NumericDate claim (RFC 7519 section 2) in whole seconds since the
/// epoch: a non-negative finite JSON number below 10^11 (year 5138),
/// fractions truncated.
fn numeric_date(claims: &serde_json::Map<String, Value>, name: &str) -> Option<u64> {
    let value = claims.get(name)?;
    let seconds = match value.as_u64() {
        Some(s) => s,
        None => {
            let f = value.as_f64()?;
            if !f.is_finite() || f < 0.0 {
                return None;
            }
            // Truncation intended; `as` saturates and the bound below
            // rejects huge values.
            f as u64
        }
    };
    (seconds < 100_000_000_000).then_some(seconds)
}

/// The `exp` claim of a JWT, in seconds since the epoch; `None` for
/// anything that is not a JWS compact token with a numeric `exp` (never
/// panics on garbage).
pub fn jwt_expiry(token: &str) -> Option<u64> {
    numeric_date(&jwt_claims(token)?, "exp")
}

/// The `iat` claim of a JWT, in seconds since the epoch, as for
/// [`jwt_expiry`].
pub fn jwt_issued_at(token: &str) -> Option<u64> {
    numeric_date(&jwt_claims(token)?, "iat")
}

// ---------------------------------------------------------------------------
// Token sources.

/// Where a cluster's token comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenSource {
    /// An unsecured JWS built locally (no token endpoint).
    Unsecured(UnsecuredToken),
    /// The OAuth 2 client credentials grant at an `http(s)` endpoint.
    ClientCredentials(ClientCredentials),
    /// A file holding the access token (`file:` endpoint URL), re-read on
    /// every refresh.
    File(PathBuf),
}

impl TokenSource {
    /// A name for messages: the file path or the endpoint URL without user
    /// info, or `unsecured token`.
    pub fn describe(&self) -> String {
        match self {
            TokenSource::Unsecured(_) => "unsecured token".to_string(),
            TokenSource::ClientCredentials(c) => redact_url(&c.endpoint),
            TokenSource::File(path) => path.display().to_string(),
        }
    }
}

/// An unsecured token as Kafka's `OAuthBearerUnsecuredLoginCallbackHandler`
/// builds it: header `{"alg":"none"}`, claims `exp`, `iat` (seconds since
/// the epoch; Kafka writes them as fractional numbers) and the configured
/// claims, in the JWS compact form `base64url(header).base64url(claims).`
/// with an empty signature. `Debug` shows claim names only.
#[derive(Clone, PartialEq)]
pub struct UnsecuredToken {
    /// Name of the claim holding the principal
    /// (`unsecuredLoginPrincipalClaimName`, default `sub`); must be one of
    /// the string claims.
    pub principal_claim: String,
    /// Token lifetime in seconds (`unsecuredLoginLifetimeSeconds`, default
    /// 3600).
    pub lifetime_secs: u64,
    /// Further claims in option order: `unsecuredLoginStringClaim_<name>`
    /// (string), `unsecuredLoginNumberClaim_<name>` (number),
    /// `unsecuredLoginListClaim_<name>` (array of strings).
    pub claims: Vec<(String, Value)>,
}

impl std::fmt::Debug for UnsecuredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsecuredToken")
            .field("principal_claim", &self.principal_claim)
            .field("lifetime_secs", &self.lifetime_secs)
            .field(
                "claims",
                &self.claims.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl UnsecuredToken {
    /// Reads the `unsecuredLogin*` JAAS options (Kafka's
    /// `OAuthBearerUnsecuredLoginCallbackHandler`). Errors name the option.
    pub fn from_jaas(jaas: &JaasConfig) -> Result<UnsecuredToken, SaslPropertyError> {
        const STRING: &str = "unsecuredLoginStringClaim_";
        const NUMBER: &str = "unsecuredLoginNumberClaim_";
        const LIST: &str = "unsecuredLoginListClaim_";
        let error = |message: String| SaslPropertyError::new(SASL_JAAS_CONFIG, message);
        let principal_claim = jaas
            .option("unsecuredLoginPrincipalClaimName")
            .map(|v| v.expose().trim())
            .filter(|v| !v.is_empty())
            .unwrap_or("sub")
            .to_string();
        let lifetime_secs = match jaas.option("unsecuredLoginLifetimeSeconds") {
            None => 3600,
            Some(v) => v
                .expose()
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&s| s > 0 && s < 100 * 365 * 86_400)
                .ok_or_else(|| {
                    error(
                        "the option unsecuredLoginLifetimeSeconds must be a positive whole number of seconds"
                            .to_string(),
                    )
                })?,
        };
        let mut claims = Vec::new();
        for (option, value) in jaas.options() {
            let (name, value) = if let Some(name) = option.strip_prefix(STRING) {
                (name, Value::String(value.expose().to_string()))
            } else if let Some(name) = option.strip_prefix(NUMBER) {
                let number = value
                    .expose()
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .ok_or_else(|| error(format!("the option {option} must be a number")))?;
                (name, Value::Number(number))
            } else if let Some(name) = option.strip_prefix(LIST) {
                (name, Value::Array(list_claim(value.expose())))
            } else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            if name == "iat" || name == "exp" {
                return Err(error(format!(
                    "the option {option} sets the {name} claim, which is computed"
                )));
            }
            match claims.iter_mut().find(|(k, _)| k == name) {
                Some((_, v)) => *v = value,
                None => claims.push((name.to_string(), value)),
            }
        }
        let has_principal = claims.iter().any(|(k, v)| {
            *k == principal_claim && v.as_str().is_some_and(|s| !s.trim().is_empty())
        });
        if !has_principal {
            return Err(error(format!(
                "OAUTHBEARER without {TOKEN_ENDPOINT_URL} builds an unsecured token and needs \
                 the option unsecuredLoginStringClaim_{principal_claim} (the principal name)"
            )));
        }
        Ok(UnsecuredToken {
            principal_claim,
            lifetime_secs,
            claims,
        })
    }

    /// The token issued at `now_secs` (seconds since the epoch).
    pub fn build(&self, now_secs: u64) -> Secret {
        let header = r#"{"alg":"none"}"#;
        let mut claims = format!(
            r#"{{"exp":{},"iat":{now_secs}"#,
            now_secs.saturating_add(self.lifetime_secs)
        );
        for (name, value) in &self.claims {
            claims.push(',');
            claims.push_str(&Value::String(name.clone()).to_string());
            claims.push(':');
            claims.push_str(&value.to_string());
        }
        claims.push('}');
        Secret::new(format!(
            "{}.{}.",
            BASE64URL.encode(header),
            BASE64URL.encode(claims)
        ))
    }
}

/// A list claim value as Kafka's unsecured handler splits it: the first
/// character is the delimiter, the rest is split on it (Java
/// `String.split`: trailing empty elements dropped), and an empty element
/// is appended when the list starts or ends with the delimiter or holds two
/// in a row.
fn list_claim(value: &str) -> Vec<Value> {
    let mut chars = value.chars();
    let Some(delimiter) = chars.next() else {
        return Vec::new();
    };
    let rest = chars.as_str();
    if rest.is_empty() {
        return Vec::new();
    }
    let mut elements: Vec<&str> = rest.split(delimiter).collect();
    if elements.len() > 1 {
        while elements.last() == Some(&"") {
            elements.pop();
        }
    }
    let mut list: Vec<Value> = elements
        .into_iter()
        .map(|e| Value::String(e.to_string()))
        .collect();
    let doubled: String = [delimiter, delimiter].iter().collect();
    if rest.starts_with(delimiter) || rest.ends_with(delimiter) || rest.contains(&doubled) {
        list.push(Value::String(String::new()));
    }
    list
}

/// The OAuth 2 client credentials grant (RFC 6749 section 4.4) as Kafka's
/// `HttpAccessTokenRetriever`/`ClientCredentialsRequestGenerator` sends it:
/// `POST` with `Accept: application/json`, `Cache-Control: no-cache`,
/// `Content-Type: application/x-www-form-urlencoded`, `Authorization: Basic
/// base64(clientId:clientSecret)` (each URL-encoded first when
/// `url_encode_header`), body `grant_type=client_credentials[&scope=...]`.
/// The answer's `access_token` is the token. Redirects are not followed;
/// proxies come from `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
/// (ureq's default); `https` is verified against the webpki (Mozilla) roots.
/// `Debug` hides the credentials.
#[derive(Clone, PartialEq)]
pub struct ClientCredentials {
    /// The `http` or `https` token endpoint URL.
    pub endpoint: String,
    /// OAuth client id (`clientId`).
    pub client_id: Secret,
    /// OAuth client secret (`clientSecret`).
    pub client_secret: Secret,
    /// Requested scope (`scope`), if any; sent trimmed.
    pub scope: Option<Secret>,
    /// `sasl.oauthbearer.header.urlencode`.
    pub url_encode_header: bool,
    /// Time allowed to resolve and connect (`sasl.login.connect.timeout.ms`),
    /// TLS handshake included.
    pub connect_timeout: Duration,
    /// Time allowed for each of sending the request, waiting for the
    /// response and reading its body (`sasl.login.read.timeout.ms`).
    pub read_timeout: Duration,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &redact_url(&self.endpoint))
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scope", &self.scope)
            .field("url_encode_header", &self.url_encode_header)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl ClientCredentials {
    /// The `Authorization` header value.
    fn authorization(&self) -> Secret {
        let (id, secret) = if self.url_encode_header {
            (
                form_urlencode(self.client_id.expose()),
                form_urlencode(self.client_secret.expose()),
            )
        } else {
            (
                self.client_id.expose().to_string(),
                self.client_secret.expose().to_string(),
            )
        };
        // Standard (not URL-safe) base64, RFC 7617 (KAFKA-14496).
        Secret::new(format!("Basic {}", BASE64.encode(format!("{id}:{secret}"))))
    }

    /// The form body.
    fn body(&self) -> String {
        let mut body = "grant_type=client_credentials".to_string();
        if let Some(scope) = self
            .scope
            .as_ref()
            .map(|s| s.expose().trim())
            .filter(|s| !s.is_empty())
        {
            body.push_str("&scope=");
            body.push_str(&form_urlencode(scope));
        }
        body
    }

    /// Values to scrub from text coming back from the endpoint.
    fn secrets(&self, authorization: &Secret) -> Vec<String> {
        let mut secrets = vec![
            self.client_secret.expose().to_string(),
            form_urlencode(self.client_secret.expose()),
        ];
        if let Some(encoded) = authorization.expose().strip_prefix("Basic ") {
            secrets.push(encoded.to_string());
        }
        if let Some(info) = url_userinfo(&self.endpoint) {
            secrets.push(info.to_string());
        }
        secrets
    }

    /// Posts the request (blocking) and reads the token; `now_ms` dates a
    /// token without `exp`.
    fn fetch_blocking(&self, now_ms: u64) -> Result<FetchedToken, SaslError> {
        let url = redact_url(&self.endpoint);
        let authorization = self.authorization();
        let secrets = self.secrets(&authorization);
        let clean = |text: &str| excerpt(&scrub(text, secrets.iter().map(String::as_str)));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A redirect is an error answer, as with Java's HttpClient
            // default (`Redirect.NEVER`).
            .max_redirects(0)
            .timeout_resolve(Some(self.connect_timeout))
            .timeout_connect(Some(self.connect_timeout))
            .timeout_send_request(Some(self.read_timeout))
            .timeout_send_body(Some(self.read_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_recv_body(Some(self.read_timeout))
            .build()
            .into();
        let mut response = agent
            .post(&self.endpoint)
            .header("Accept", "application/json")
            .header("Authorization", authorization.expose())
            .header("Cache-Control", "no-cache")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(self.body())
            .map_err(|e| SaslError::TokenEndpointUnreachable {
                url: url.clone(),
                reason: clean(&e.to_string()),
            })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => SaslError::InvalidTokenResponse {
                    url: url.clone(),
                    reason: format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
                },
                other => SaslError::TokenEndpointUnreachable {
                    url: url.clone(),
                    reason: clean(&other.to_string()),
                },
            })?;
        if !(200..300).contains(&status) {
            return Err(SaslError::TokenEndpointStatus {
                url,
                status,
                body: clean(text.trim()),
            });
        }
        token_from_response(&text, now_ms)
            .map_err(|reason| SaslError::InvalidTokenResponse { url, reason })
    }
}

/// The token of a 2xx token endpoint answer: `access_token` (trimmed,
/// a `b64token`) with its expiry from the JWT `exp`, else `expires_in`
/// seconds (number or numeric string) after `now_ms`, else
/// [`DEFAULT_TOKEN_LIFETIME`]. The error names fields, never values.
pub(crate) fn token_from_response(text: &str, now_ms: u64) -> Result<FetchedToken, String> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err("the response is not a JSON object".to_string());
    };
    let Some(token) = map
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        let mut fields: Vec<&str> = map.keys().map(String::as_str).take(20).collect();
        fields.sort_unstable();
        return Err(format!(
            "the response has no access_token string (members: {})",
            excerpt(&fields.join(", "))
        ));
    };
    let token = Secret::new(token);
    if validate_token(&token).is_err() {
        return Err("the access_token is not an RFC 6750 bearer token (b64token)".to_string());
    }
    let expires_in = map.get("expires_in").and_then(|v| match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    });
    Ok(FetchedToken::dated(token, now_ms, expires_in))
}

/// A token as fetched, with its validity in milliseconds since the epoch.
pub(crate) struct FetchedToken {
    value: Secret,
    issued_ms: Option<u64>,
    expires_ms: u64,
}

impl FetchedToken {
    /// Dates `value` by its JWT `iat`/`exp`, else `expires_in_secs` after
    /// `now_ms`, else [`DEFAULT_TOKEN_LIFETIME`] after `now_ms`.
    fn dated(value: Secret, now_ms: u64, expires_in_secs: Option<u64>) -> FetchedToken {
        let exp = jwt_expiry(value.expose()).map(|s| s.saturating_mul(1000));
        let issued_ms = jwt_issued_at(value.expose()).map(|s| s.saturating_mul(1000));
        let lifetime_ms = expires_in_secs
            .map(|s| s.saturating_mul(1000))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME.as_secs() * 1000);
        FetchedToken {
            value,
            issued_ms,
            expires_ms: exp.unwrap_or_else(|| now_ms.saturating_add(lifetime_ms)),
        }
    }
}

/// Gets a token from `source` at `now_ms`.
async fn fetch(source: &TokenSource, now_ms: u64) -> Result<FetchedToken, SaslError> {
    match source {
        TokenSource::Unsecured(unsecured) => {
            let value = unsecured.build(now_ms / 1000);
            Ok(FetchedToken::dated(value, now_ms, None))
        }
        TokenSource::ClientCredentials(credentials) => {
            let credentials = credentials.clone();
            let url = redact_url(&credentials.endpoint);
            tokio::task::spawn_blocking(move || credentials.fetch_blocking(now_ms))
                .await
                .map_err(|_| SaslError::TokenEndpointUnreachable {
                    url,
                    reason: "the request thread ended abnormally".to_string(),
                })?
        }
        TokenSource::File(path) => {
            let value = read_token_file(path).await?;
            Ok(FetchedToken::dated(value, now_ms, None))
        }
    }
}

/// The token in the file at `path`: its whole content, trimmed, at most
/// 1 MiB, a `b64token`.
async fn read_token_file(path: &std::path::Path) -> Result<Secret, SaslError> {
    let error = |reason: String| SaslError::TokenFile {
        path: path.display().to_string(),
        reason,
    };
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| error(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| error(e.to_string()))?;
    if bytes.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(error(format!("larger than {MAX_RESPONSE_BYTES} bytes")));
    }
    let text = String::from_utf8(bytes).map_err(|_| error("not UTF-8".to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(error("empty".to_string()));
    }
    let token = Secret::new(token);
    validate_token(&token)
        .map_err(|_| error("does not hold an RFC 6750 bearer token (b64token)".to_string()))?;
    Ok(token)
}

// ---------------------------------------------------------------------------
// Refresh and caching.

/// When to refresh a token, as Kafka's `ExpiringCredentialRefreshingLogin`
/// computes it from the `sasl.login.refresh.*` properties.
#[derive(Clone, Debug, PartialEq)]
pub struct RefreshPolicy {
    /// `sasl.login.refresh.window.factor` (0.5..=1.0, default 0.8).
    pub window_factor: f64,
    /// `sasl.login.refresh.window.jitter` (0..=0.25, default 0.05).
    pub window_jitter: f64,
    /// `sasl.login.refresh.min.period.seconds` (default 60 s).
    pub min_period: Duration,
    /// `sasl.login.refresh.buffer.seconds` (default 300 s).
    pub buffer: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            window_factor: 0.8,
            window_jitter: 0.05,
            min_period: Duration::from_secs(60),
            buffer: Duration::from_secs(300),
        }
    }
}

impl RefreshPolicy {
    /// Reads the `sasl.login.refresh.*` properties (Kafka's ranges).
    pub fn from_properties(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RefreshPolicy, SaslPropertyError> {
        let defaults = RefreshPolicy::default();
        let fraction = |name: &str, default: f64, min: f64, max: f64| match get(name)
            .filter(|v| !v.trim().is_empty())
        {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| (min..=max).contains(f))
                .ok_or_else(|| {
                    SaslPropertyError::new(name, format!("must be a number from {min} to {max}"))
                }),
        };
        let seconds = |name: &str, default: Duration, max: u64| match get(name)
            .filter(|v| !v.trim().is_empty())
        {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= max)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    SaslPropertyError::new(
                        name,
                        format!("must be a whole number of seconds from 0 to {max}"),
                    )
                }),
        };
        Ok(RefreshPolicy {
            window_factor: fraction(
                LOGIN_REFRESH_WINDOW_FACTOR,
                defaults.window_factor,
                0.5,
                1.0,
            )?,
            window_jitter: fraction(
                LOGIN_REFRESH_WINDOW_JITTER,
                defaults.window_jitter,
                0.0,
                0.25,
            )?,
            min_period: seconds(LOGIN_REFRESH_MIN_PERIOD_SECONDS, defaults.min_period, 900)?,
            buffer: seconds(LOGIN_REFRESH_BUFFER_SECONDS, defaults.buffer, 3600)?,
        })
    }

    /// The refresh time (ms since the epoch) of a token valid from
    /// `issued_ms` (now when unknown) to `expires_ms`, computed at `now_ms`;
    /// `jitter` is a random number in `[0, 1)`. As in Kafka: refresh at
    /// `issued + (expires - issued) * (factor + jitter * window_jitter)`,
    /// no later than `buffer` before expiry and no sooner than `min_period`
    /// after now; when the remaining lifetime is shorter than
    /// `min_period + buffer`, at that fraction of the remaining lifetime.
    pub fn refresh_at_ms(
        &self,
        now_ms: u64,
        issued_ms: Option<u64>,
        expires_ms: u64,
        jitter: f64,
    ) -> u64 {
        let pct = self.window_factor + self.window_jitter * jitter.clamp(0.0, 1.0);
        let part = |span_ms: u64| (span_ms as f64 * pct) as u64;
        let min_period_ms = duration_ms(self.min_period);
        let buffer_ms = duration_ms(self.buffer);
        if now_ms.saturating_add(min_period_ms.saturating_add(buffer_ms)) > expires_ms {
            return now_ms.saturating_add(part(expires_ms.saturating_sub(now_ms)));
        }
        let start_ms = issued_ms.unwrap_or(now_ms);
        let proposed = start_ms.saturating_add(part(expires_ms.saturating_sub(start_ms)));
        let buffer_start = expires_ms.saturating_sub(buffer_ms);
        if proposed > buffer_start {
            return buffer_start;
        }
        proposed.max(now_ms.saturating_add(min_period_ms))
    }
}

/// A duration in whole milliseconds, saturating.
fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Now, in milliseconds since the epoch (0 if the clock is before 1970).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_ms)
        .unwrap_or(0)
}

/// The cached token of a [`TokenCache`].
struct Cached {
    token: Secret,
    expires_ms: u64,
    refresh_ms: u64,
}

/// One OAUTHBEARER token shared by every connection of a cluster (wrap in
/// an `Arc`). [`TokenCache::token`] returns the cached token until its
/// refresh time ([`RefreshPolicy`]), then gets a new one from the
/// [`TokenSource`]; concurrent callers wait for that one fetch. When a
/// refresh fails while the current token is still valid, the current token
/// is returned and the next attempt made 10 s later (as Kafka keeps its
/// credential until a re-login succeeds). `Debug` shows no token.
pub struct TokenCache {
    source: TokenSource,
    policy: RefreshPolicy,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("source", &self.source)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache; nothing is fetched until the first
    /// [`TokenCache::token`].
    pub fn new(source: TokenSource, policy: RefreshPolicy) -> TokenCache {
        TokenCache {
            source,
            policy,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Where tokens come from.
    pub fn source(&self) -> &TokenSource {
        &self.source
    }

    /// When tokens are refreshed.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    /// The current token, fetched when none is cached or the cached one is
    /// due for refresh. Errors: those of the source
    /// ([`SaslError::TokenEndpointUnreachable`],
    /// [`SaslError::TokenEndpointStatus`],
    /// [`SaslError::InvalidTokenResponse`], [`SaslError::TokenFile`]) when no
    /// valid token is cached, and [`SaslError::TokenExpired`] for a token
    /// that arrives already expired.
    pub async fn token(&self) -> Result<Secret, SaslError> {
        self.token_at(now_ms()).await
    }

    /// Forgets the cached token, so the next [`TokenCache::token`] fetches a
    /// new one (e.g. after a broker refused it as `invalid_token`).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// [`TokenCache::token`] at the time `now_ms`.
    async fn token_at(&self, now_ms: u64) -> Result<Secret, SaslError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| now_ms < c.refresh_ms) {
            return Ok(c.token.clone());
        }
        let source = self.source.describe();
        let fetched = fetch(&self.source, now_ms).await.and_then(|t| {
            match t.expires_ms.checked_sub(now_ms) {
                Some(left) if left > 0 => Ok(t),
                _ => Err(SaslError::TokenExpired {
                    source_name: source.clone(),
                    seconds_ago: now_ms.saturating_sub(t.expires_ms) / 1000,
                }),
            }
        });
        match fetched {
            Ok(t) => {
                let jitter: f64 = rand::rng().random();
                let refresh_ms =
                    self.policy
                        .refresh_at_ms(now_ms, t.issued_ms, t.expires_ms, jitter);
                tracing::info!(
                    source = %source,
                    valid_for_s = t.expires_ms.saturating_sub(now_ms) / 1000,
                    refresh_in_s = refresh_ms.saturating_sub(now_ms) / 1000,
                    "obtained an OAUTHBEARER token"
                );
                let token = t.value.clone();
                *cached = Some(Cached {
                    token: t.value,
                    expires_ms: t.expires_ms,
                    refresh_ms,
                });
                Ok(token)
            }
            Err(e) => match cached.as_mut().filter(|c| now_ms < c.expires_ms) {
                Some(c) => {
                    tracing::warn!(
                        source = %source,
                        error = %e,
                        expires_in_s = c.expires_ms.saturating_sub(now_ms) / 1000,
                        "OAUTHBEARER token refresh failed; using the current token until it expires"
                    );
                    c.refresh_ms = now_ms
                        .saturating_add(duration_ms(RETRY_AFTER_FAILED_REFRESH))
                        .min(c.expires_ms);
                    Ok(c.token.clone())
                }
                None => Err(e),
            },
        }
    }
}

// ---------------------------------------------------------------------------
// Configuration.

/// The OAUTHBEARER part of a [`super::SaslConfig`]: the SASL extensions to
/// send and the cluster's shared [`TokenCache`]. `PartialEq` compares the
/// extensions, token source and refresh policy (not the cached token).
#[derive(Clone, Debug)]
pub struct OAuthBearerConfig {
    extensions: Vec<(String, Secret)>,
    cache: Arc<TokenCache>,
}

impl PartialEq for OAuthBearerConfig {
    fn eq(&self, other: &Self) -> bool {
        self.extensions == other.extensions
            && self.cache.source == other.cache.source
            && self.cache.policy == other.cache.policy
    }
}

impl OAuthBearerConfig {
    /// Reads the OAUTHBEARER configuration from the parsed
    /// `sasl.jaas.config` and the properties behind `get`:
    ///
    /// - `sasl.oauthbearer.token.endpoint.url`: unset for an unsecured token
    ///   ([`UnsecuredToken::from_jaas`]); `http(s)://` for the client
    ///   credentials grant with `clientId`, `clientSecret`, optional
    ///   `scope` (JAAS options, or the Kafka 4.1 properties
    ///   `sasl.oauthbearer.client.credentials.client.id`,
    ///   `sasl.oauthbearer.client.credentials.client.secret`,
    ///   `sasl.oauthbearer.scope`, which win), `sasl.oauthbearer.header.urlencode`,
    ///   `sasl.login.connect.timeout.ms` and `sasl.login.read.timeout.ms`
    ///   (default 10 000 each); `file:` for a token file;
    /// - `sasl.login.callback.handler.class`: unset, or Kafka's
    ///   `OAuthBearerLoginCallbackHandler` (requires the endpoint URL) or
    ///   `OAuthBearerUnsecuredLoginCallbackHandler` (unsecured token, the
    ///   URL is then ignored as in Kafka); any other handler is refused;
    /// - `sasl.login.refresh.*` ([`RefreshPolicy::from_properties`]);
    /// - extensions: JAAS options `extension_<name>` with an endpoint URL,
    ///   `unsecuredLoginExtension_<name>` for unsecured tokens.
    pub fn from_properties(
        jaas: &JaasConfig,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<OAuthBearerConfig, SaslPropertyError> {
        let policy = RefreshPolicy::from_properties(get)?;
        let non_blank = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let handler = non_blank(LOGIN_CALLBACK_HANDLER_CLASS);
        let handler_name = handler
            .as_deref()
            .map(|h| h.rsplit('.').next().unwrap_or(h));
        let url = non_blank(TOKEN_ENDPOINT_URL);
        let source = match (handler_name, url) {
            (Some(name), _)
                if name != "OAuthBearerLoginCallbackHandler"
                    && name != "OAuthBearerUnsecuredLoginCallbackHandler" =>
            {
                return Err(SaslPropertyError::new(
                    LOGIN_CALLBACK_HANDLER_CLASS,
                    format!(
                        "`{}` is not supported; only Kafka's OAuthBearerLoginCallbackHandler \
                         (with {TOKEN_ENDPOINT_URL}) and the unsecured default are",
                        excerpt(handler.as_deref().unwrap_or(name))
                    ),
                ))
            }
            (Some("OAuthBearerUnsecuredLoginCallbackHandler"), _) | (None, None) => {
                TokenSource::Unsecured(UnsecuredToken::from_jaas(jaas)?)
            }
            (Some(_), None) => {
                return Err(SaslPropertyError::new(
                    TOKEN_ENDPOINT_URL,
                    "required with OAuthBearerLoginCallbackHandler",
                ))
            }
            (_, Some(url)) => endpoint_source(&url, jaas, get)?,
        };
        let prefix = match source {
            TokenSource::Unsecured(_) => UNSECURED_EXTENSION_PREFIX,
            _ => EXTENSION_PREFIX,
        };
        let mut extensions = Vec::new();
        for (option, value) in jaas.options() {
            let Some(name) = option.strip_prefix(prefix) else {
                continue;
            };
            validate_extension(name, value).map_err(|reason| {
                SaslPropertyError::new(
                    SASL_JAAS_CONFIG,
                    format!("the SASL extension option {} {reason}", excerpt(option)),
                )
            })?;
            extensions.push((name.to_string(), value.clone()));
        }
        Ok(OAuthBearerConfig {
            extensions,
            cache: Arc::new(TokenCache::new(source, policy)),
        })
    }

    /// The SASL extensions sent with the token, in option order.
    pub fn extensions(&self) -> &[(String, Secret)] {
        &self.extensions
    }

    /// The cluster's shared token cache.
    pub fn cache(&self) -> &Arc<TokenCache> {
        &self.cache
    }
}

/// The token source of a `sasl.oauthbearer.token.endpoint.url`.
fn endpoint_source(
    url: &str,
    jaas: &JaasConfig,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<TokenSource, SaslPropertyError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("file:") {
        return file_url_path(url)
            .map(TokenSource::File)
            .map_err(|m| SaslPropertyError::new(TOKEN_ENDPOINT_URL, m));
    }
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(SaslPropertyError::new(
            TOKEN_ENDPOINT_URL,
            format!(
                "`{}` is not an http, https or file URL",
                excerpt(&redact_url(url))
            ),
        ));
    }
    let valid_uri = url
        .parse::<ureq::http::Uri>()
        .ok()
        .is_some_and(|u| u.host().is_some_and(|h| !h.is_empty()));
    if !valid_uri {
        return Err(SaslPropertyError::new(
            TOKEN_ENDPOINT_URL,
            format!("`{}` is not a valid URL", excerpt(&redact_url(url))),
        ));
    }
    // Kafka 4.1 properties win over the JAAS options.
    let setting = |property: &str, option: &str| -> Option<Secret> {
        get(property)
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .or_else(|| jaas.option(option).filter(|v| !v.is_empty()).cloned())
    };
    let required = |property: &str, option: &str| {
        setting(property, option).ok_or_else(|| {
            SaslPropertyError::new(
                SASL_JAAS_CONFIG,
                format!(
                    "the token endpoint needs the option {option} (or the property {property})"
                ),
            )
        })
    };
    let client_id = required(CLIENT_ID, "clientId")?;
    let client_secret = required(CLIENT_SECRET, "clientSecret")?;
    let scope = setting(SCOPE, "scope");
    let url_encode_header = match get(HEADER_URLENCODE).map(|v| v.trim().to_ascii_lowercase()) {
        None => false,
        Some(v) if v.is_empty() || v == "false" => false,
        Some(v) if v == "true" => true,
        Some(_) => {
            return Err(SaslPropertyError::new(
                HEADER_URLENCODE,
                "must be true or false",
            ))
        }
    };
    Ok(TokenSource::ClientCredentials(ClientCredentials {
        endpoint: url.to_string(),
        client_id,
        client_secret,
        scope,
        url_encode_header,
        connect_timeout: timeout(get, LOGIN_CONNECT_TIMEOUT_MS)?,
        read_timeout: timeout(get, LOGIN_READ_TIMEOUT_MS)?,
    }))
}

/// A timeout property in milliseconds (1..=2147483647, Kafka's INT), or
/// [`DEFAULT_LOGIN_TIMEOUT`] when unset.
fn timeout(
    get: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Duration, SaslPropertyError> {
    match get(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(DEFAULT_LOGIN_TIMEOUT),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| (1..=i32::MAX as u64).contains(ms))
            .map(Duration::from_millis)
            .ok_or_else(|| {
                SaslPropertyError::new(name, "must be a positive whole number of milliseconds")
            }),
    }
}

/// The path of a `file:` URL: `file:/p`, `file:///p`, `file://localhost/p`
/// or `file:p`, percent-decoded.
fn file_url_path(url: &str) -> Result<PathBuf, String> {
    let rest = url.get("file:".len()..).unwrap_or_default();
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let slash = authority_and_path
                .find('/')
                .unwrap_or(authority_and_path.len());
            let (host, path) = authority_and_path.split_at(slash);
            if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
                return Err("a file URL with a host other than localhost is not supported".into());
            }
            path
        }
        None => rest,
    };
    let decoded = percent_decode(path).ok_or("the file URL has an invalid percent escape")?;
    if decoded.is_empty() {
        return Err("the file URL names no file".into());
    }
    Ok(PathBuf::from(decoded))
}

/// `%XX` escapes decoded; `None` for a bad escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Java's `URLEncoder.encode(s, UTF_8)`: `A-Za-z0-9.-*_` kept, space as
/// `+`, every other UTF-8 byte as `%XX`.
fn form_urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The user info (`user:password`) of a URL, if any.
fn url_userinfo(url: &str) -> Option<&str> {
    let (_, after_scheme) = url.split_once("://")?;
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = after_scheme.get(..end)?;
    authority.rsplit_once('@').map(|(info, _)| info)
}

/// `url` with any user info replaced by `<redacted>`, for messages.
pub fn redact_url(url: &str) -> String {
    match url_userinfo(url) {
        Some(info) => url.replacen(&format!("{info}@"), "<redacted>@", 1),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;

    fn jaas(text: &str) -> JaasConfig {
        JaasConfig::parse(text).unwrap()
    }

    fn oauth_config(
        jaas_text: &str,
        pairs: &[(&str, &str)],
    ) -> Result<OAuthBearerConfig, SaslPropertyError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OAuthBearerConfig::from_properties(&jaas(jaas_text), &|n| map.get(n).cloned())
    }

    const MODULE: &str =
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required";

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            BASE64URL.encode(r#"{"alg":"RS256"}"#),
            BASE64URL.encode(claims)
        )
    }

    // -- initial response and exchange ---------------------------------

    #[test]
    fn initial_response_bytes() {
        let token = Secret::new("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.");
        assert_eq!(
            initial_response("", &token, &[]).unwrap(),
            b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.\x01\x01"
        );
        let ext = [
            ("logicalCluster".to_string(), Secret::new("lkc-123")),
            ("identityPoolId".to_string(), Secret::new("pool-9")),
        ];
        assert_eq!(
            initial_response("", &Secret::new("abc"), &ext).unwrap(),
            b"n,,\x01auth=Bearer abc\x01logicalCluster=lkc-123\x01identityPoolId=pool-9\x01\x01"
        );
        assert_eq!(
            initial_response("us=er,1", &Secret::new("abc"), &[]).unwrap(),
            b"n,a=us=3Der=2C1,\x01auth=Bearer abc\x01\x01"
        );
    }

    #[test]
    fn initial_response_validation_hides_values() {
        for bad in ["", "a b", "tok\x01en", "====", "a=b"] {
            let e = initial_response("", &Secret::new(bad), &[]).unwrap_err();
            assert!(
                e.to_string().contains("token is not an RFC 6750"),
                "{bad:?}: {e}"
            );
        }
        assert!(initial_response("", &Secret::new("a+/~_-.b=="), &[]).is_ok());
        let bad_ext = [
            ("auth", "x"),
            ("with_underscore", "x"),
            ("", "x"),
            ("ok", ""),
            ("ok", "bad\x01value"),
        ];
        for (name, value) in bad_ext {
            let e = initial_response(
                "",
                &Secret::new("t"),
                &[(name.to_string(), Secret::new(value))],
            )
            .unwrap_err();
            assert!(matches!(e, SaslError::InvalidField { .. }), "{e:?}");
            if !value.is_empty() && value != "x" {
                assert!(!e.to_string().contains(value));
            }
        }
    }

    #[test]
    fn exchange_success_and_error_json() {
        let mut c = OAuthBearerClient::new(&Secret::new("t"), "", &[]).unwrap();
        assert!(c.step(b"").is_err(), "before the initial response");
        let mut c = OAuthBearerClient::new(&Secret::new("t"), "", &[]).unwrap();
        c.initial_response();
        assert_eq!(c.step(b"").unwrap(), Step::Done);
        assert!(c.is_complete());
        assert!(c.step(b"").is_err());

        let mut c = OAuthBearerClient::new(&Secret::new("t"), "", &[]).unwrap();
        c.initial_response();
        let error = br#"{"status":"invalid_token","scope":"kafka-cluster","openid-configuration":"https://idp/.well-known"}"#;
        assert_eq!(c.step(error).unwrap(), Step::Send(vec![0x01]));
        assert_eq!(
            c.server_error(),
            Some("status invalid_token, scope kafka-cluster, openid-configuration https://idp/.well-known")
        );
        let e = c.step(b"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "OAUTHBEARER authentication failed: status invalid_token, scope kafka-cluster, openid-configuration https://idp/.well-known"
        );
        assert!(!c.is_complete());
        assert!(c.step(b"").is_err());
    }

    #[test]
    fn server_error_summaries() {
        assert_eq!(
            server_error_summary(br#"{"status":"invalid_token"}"#),
            "status invalid_token"
        );
        assert_eq!(
            server_error_summary(br#"{"scope":"s"}"#),
            "status (none), scope s"
        );
        for garbage in [&b"not json"[..], b"[1,2]", b"\xff", b""] {
            assert!(server_error_summary(garbage).contains("not a JSON object"));
        }
    }

    // -- JWT claims ------------------------------------------------------

    #[test]
    fn jwt_exp_parsing() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000,"iat":1699996400}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(
            jwt_issued_at(&jwt(r#"{"exp":1700000000,"iat":1699996400}"#)),
            Some(1_699_996_400)
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1.7000000005E9}"#)),
            Some(1_700_000_000)
        );
        // Padded base64url is tolerated.
        let padded = format!(
            "h.{}.s",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":5}"#)
        );
        assert_eq!(jwt_expiry(&padded), Some(5));
        let garbage = [
            String::new(),
            ".".into(),
            "..".into(),
            "a.b".into(),
            "a.b.c.d.e".into(),
            "a.!!!.c".into(),
            format!("a.{}.c", BASE64URL.encode("not json")),
            format!("a.{}.c", BASE64URL.encode("[1]")),
            jwt(r#"{"exp":"1700000000"}"#),
            jwt(r#"{"exp":-1}"#),
            jwt(r#"{"exp":1e300}"#),
            jwt(r#"{"sub":"x"}"#),
            "opaque-token-value".into(),
            "\u{0}.\u{1}.\u{2}".into(),
        ];
        for g in garbage {
            assert_eq!(jwt_expiry(&g), None, "{g:?}");
        }
    }

    // -- unsecured tokens ------------------------------------------------

    fn decode_part(part: &str) -> Value {
        serde_json::from_slice(&BASE64URL.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn unsecured_token_shape() {
        let u = UnsecuredToken::from_jaas(&jaas(&format!(
            "{MODULE} unsecuredLoginStringClaim_sub=\"svc\\\"q\" unsecuredLoginLifetimeSeconds=\"120\" \
             unsecuredLoginListClaim_scope=\"|read|write\" unsecuredLoginNumberClaim_n=\"2.5\";"
        )))
        .unwrap();
        let token = u.build(1_700_000_000);
        let text = token.expose();
        assert!(text.ends_with('.'));
        validate_token(&token).unwrap();
        let parts: Vec<&str> = text.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "");
        assert_eq!(decode_part(parts[0]), serde_json::json!({"alg": "none"}));
        assert_eq!(
            decode_part(parts[1]),
            serde_json::json!({
                "exp": 1_700_000_120u64, "iat": 1_700_000_000u64, "sub": "svc\"q",
                "scope": ["read", "write"], "n": 2.5
            })
        );
        // Kafka's claim order: exp, iat, then the options.
        let claims = String::from_utf8(BASE64URL.decode(parts[1]).unwrap()).unwrap();
        assert!(
            claims.starts_with(r#"{"exp":1700000120,"iat":1700000000,"sub":"svc\"q""#),
            "{claims}"
        );
        assert_eq!(jwt_expiry(text), Some(1_700_000_120));
        assert!(!format!("{u:?}").contains("svc"));
    }

    #[test]
    fn unsecured_defaults_and_errors() {
        let u =
            UnsecuredToken::from_jaas(&jaas(&format!("{MODULE} unsecuredLoginStringClaim_sub=x;")))
                .unwrap();
        assert_eq!(u.lifetime_secs, 3600);
        assert_eq!(u.principal_claim, "sub");

        let e = UnsecuredToken::from_jaas(&jaas(&format!("{MODULE};"))).unwrap_err();
        assert!(e.message.contains("unsecuredLoginStringClaim_sub"), "{e}");
        let e = UnsecuredToken::from_jaas(&jaas(&format!(
            "{MODULE} unsecuredLoginStringClaim_sub=\" \";"
        )))
        .unwrap_err();
        assert!(e.message.contains("unsecuredLoginStringClaim_sub"), "{e}");
        let e = UnsecuredToken::from_jaas(&jaas(&format!(
            "{MODULE} unsecuredLoginStringClaim_sub=x unsecuredLoginLifetimeSeconds=soon;"
        )))
        .unwrap_err();
        assert!(e.message.contains("unsecuredLoginLifetimeSeconds"), "{e}");
        assert!(!e.message.contains("soon"));
        let e = UnsecuredToken::from_jaas(&jaas(&format!(
            "{MODULE} unsecuredLoginStringClaim_sub=x unsecuredLoginNumberClaim_exp=5;"
        )))
        .unwrap_err();
        assert!(e.message.contains("exp claim"), "{e}");
        let u = UnsecuredToken::from_jaas(&jaas(&format!(
            "{MODULE} unsecuredLoginPrincipalClaimName=principal unsecuredLoginStringClaim_principal=p;"
        )))
        .unwrap();
        assert_eq!(u.principal_claim, "principal");
    }

    #[test]
    fn list_claims_follow_kafka() {
        let strs = |v: Vec<Value>| {
            v.into_iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(strs(list_claim("|a|b")), ["a", "b"]);
        assert_eq!(strs(list_claim(",a,b,")), ["a", "b", ""]);
        assert_eq!(strs(list_claim(",a,,b")), ["a", "", "b", ""]);
        assert!(list_claim("|").is_empty());
        assert!(list_claim("").is_empty());
    }

    // -- refresh policy --------------------------------------------------

    #[test]
    fn refresh_times_follow_kafka() {
        let p = RefreshPolicy::default();
        let h = 3_600_000;
        // 0.8 of the lifetime without jitter, 0.85 with full jitter.
        assert_eq!(p.refresh_at_ms(0, None, h, 0.0), 2_880_000);
        assert_eq!(p.refresh_at_ms(0, None, h, 0.999_999_999), 3_059_999);
        // Measured from iat when known; never sooner than 60 s from now.
        assert_eq!(p.refresh_at_ms(3_000_000, Some(0), h, 0.0), 3_060_000);
        // Never inside the 300 s buffer before expiry.
        let p1 = RefreshPolicy {
            window_factor: 1.0,
            ..RefreshPolicy::default()
        };
        assert_eq!(p1.refresh_at_ms(0, None, h, 0.0), h - 300_000);
        // A short lifetime (< 60 s + 300 s): the fraction of what is left.
        assert_eq!(
            p.refresh_at_ms(1000, None, 1000 + 100_000, 0.0),
            1000 + 80_000
        );
        // Saturating, never panicking.
        assert_eq!(p.refresh_at_ms(u64::MAX, None, 0, 0.5), u64::MAX);
        let _ = p.refresh_at_ms(0, Some(u64::MAX), u64::MAX, f64::NAN);
    }

    #[test]
    fn refresh_properties() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let p = RefreshPolicy::from_properties(&get(&[
            (LOGIN_REFRESH_WINDOW_FACTOR, "0.6"),
            (LOGIN_REFRESH_WINDOW_JITTER, "0"),
            (LOGIN_REFRESH_MIN_PERIOD_SECONDS, "10"),
            (LOGIN_REFRESH_BUFFER_SECONDS, "0"),
        ]))
        .unwrap();
        assert_eq!(p.window_factor, 0.6);
        assert_eq!(p.min_period, Duration::from_secs(10));
        let e = RefreshPolicy::from_properties(&get(&[(LOGIN_REFRESH_WINDOW_FACTOR, "0.3")]))
            .unwrap_err();
        assert_eq!(e.property, LOGIN_REFRESH_WINDOW_FACTOR);
        let e = RefreshPolicy::from_properties(&get(&[(LOGIN_REFRESH_BUFFER_SECONDS, "3601")]))
            .unwrap_err();
        assert_eq!(e.property, LOGIN_REFRESH_BUFFER_SECONDS);
    }

    // -- configuration ---------------------------------------------------

    #[test]
    fn config_selects_sources_and_extensions() {
        let c = oauth_config(
            &format!("{MODULE} unsecuredLoginStringClaim_sub=svc unsecuredLoginExtension_traceId=123 extension_ignored=x;"),
            &[],
        )
        .unwrap();
        assert!(matches!(c.cache().source(), TokenSource::Unsecured(_)));
        assert_eq!(c.extensions().len(), 1);
        assert_eq!(c.extensions()[0].0, "traceId");

        let c = oauth_config(
            &format!("{MODULE} clientId=\"id\" clientSecret=\"sec\" scope=\"a b\" extension_logicalCluster=\"lkc-1\";"),
            &[
                (TOKEN_ENDPOINT_URL, "https://idp.example/oauth2/token"),
                (LOGIN_CALLBACK_HANDLER_CLASS, "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"),
                (LOGIN_CONNECT_TIMEOUT_MS, "2500"),
            ],
        )
        .unwrap();
        let TokenSource::ClientCredentials(cc) = c.cache().source() else {
            panic!("{c:?}")
        };
        assert_eq!(cc.client_id.expose(), "id");
        assert_eq!(cc.scope.as_ref().map(Secret::expose), Some("a b"));
        assert_eq!(cc.connect_timeout, Duration::from_millis(2500));
        assert_eq!(cc.read_timeout, DEFAULT_LOGIN_TIMEOUT);
        assert!(!cc.url_encode_header);
        assert_eq!(c.extensions()[0].0, "logicalCluster");
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("sec\"") && !debug.contains("lkc-1") && !debug.contains("\"id\""),
            "{debug}"
        );

        // Kafka 4.1 properties win over the JAAS options.
        let c = oauth_config(
            &format!("{MODULE} clientId=\"jaas-id\" clientSecret=\"jaas-secret\";"),
            &[
                (TOKEN_ENDPOINT_URL, "http://127.0.0.1:1/token"),
                (CLIENT_ID, "prop-id"),
                (HEADER_URLENCODE, "TRUE"),
            ],
        )
        .unwrap();
        let TokenSource::ClientCredentials(cc) = c.cache().source() else {
            panic!()
        };
        assert_eq!(cc.client_id.expose(), "prop-id");
        assert_eq!(cc.client_secret.expose(), "jaas-secret");
        assert!(cc.url_encode_header);

        let c = oauth_config(
            &format!("{MODULE};"),
            &[(TOKEN_ENDPOINT_URL, "file:///var/run/token%20file.jwt")],
        )
        .unwrap();
        assert_eq!(
            c.cache().source(),
            &TokenSource::File(PathBuf::from("/var/run/token file.jwt"))
        );
    }

    /// JAAS options, properties, the property at fault, a message excerpt.
    type ConfigCase = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
    );

    #[test]
    fn config_errors() {
        let cases: [ConfigCase; 8] = [
            (
                "clientSecret=s",
                &[(TOKEN_ENDPOINT_URL, "https://idp/token")],
                SASL_JAAS_CONFIG,
                "clientId",
            ),
            (
                "clientId=i",
                &[(TOKEN_ENDPOINT_URL, "https://idp/token")],
                SASL_JAAS_CONFIG,
                "clientSecret",
            ),
            (
                "clientId=i clientSecret=s",
                &[(TOKEN_ENDPOINT_URL, "ftp://idp/token")],
                TOKEN_ENDPOINT_URL,
                "not an http, https or file URL",
            ),
            (
                "clientId=i clientSecret=s",
                &[(TOKEN_ENDPOINT_URL, "https://")],
                TOKEN_ENDPOINT_URL,
                "not a valid URL",
            ),
            (
                "",
                &[(TOKEN_ENDPOINT_URL, "file://remote/token")],
                TOKEN_ENDPOINT_URL,
                "host",
            ),
            (
                "",
                &[(
                    LOGIN_CALLBACK_HANDLER_CLASS,
                    "software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler",
                )],
                LOGIN_CALLBACK_HANDLER_CLASS,
                "not supported",
            ),
            (
                "",
                &[(
                    LOGIN_CALLBACK_HANDLER_CLASS,
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
                )],
                TOKEN_ENDPOINT_URL,
                "required",
            ),
            (
                "clientId=i clientSecret=s",
                &[
                    (TOKEN_ENDPOINT_URL, "https://idp/token"),
                    (LOGIN_READ_TIMEOUT_MS, "0"),
                ],
                LOGIN_READ_TIMEOUT_MS,
                "positive",
            ),
        ];
        for (options, props, property, expected) in cases {
            let e = oauth_config(&format!("{MODULE} {options};"), props).unwrap_err();
            assert_eq!(e.property, property, "{options} {props:?}: {e}");
            assert!(e.message.contains(expected), "{options} {props:?}: {e}");
        }
        let e = oauth_config(
            &format!(
                "{MODULE} unsecuredLoginStringClaim_sub=x unsecuredLoginExtension_bad_name=v;"
            ),
            &[],
        )
        .unwrap_err();
        assert!(
            e.message.contains("unsecuredLoginExtension_bad_name"),
            "{e}"
        );
        let e = oauth_config(
            &format!("{MODULE} clientId=i clientSecret=s extension_auth=v;"),
            &[(TOKEN_ENDPOINT_URL, "https://idp/token")],
        )
        .unwrap_err();
        assert!(e.message.contains("reserved"), "{e}");
    }

    #[test]
    fn url_helpers() {
        assert_eq!(
            redact_url("https://u:p@idp/x?a=b@c"),
            "https://<redacted>@idp/x?a=b@c"
        );
        assert_eq!(redact_url("https://idp/x@y"), "https://idp/x@y");
        assert_eq!(
            form_urlencode("a b&c=d/é*._-~"),
            "a+b%26c%3Dd%2F%C3%A9*._-%7E"
        );
        assert_eq!(percent_decode("%2Fa%20b"), Some("/a b".to_string()));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(file_url_path("file:/t").unwrap(), PathBuf::from("/t"));
        assert_eq!(
            file_url_path("file://localhost/t").unwrap(),
            PathBuf::from("/t")
        );
        assert_eq!(file_url_path("FILE:///t").unwrap(), PathBuf::from("/t"));
        assert!(file_url_path("file://").is_err());
    }

    // -- token endpoint --------------------------------------------------

    /// An HTTP server on 127.0.0.1 answering one connection with
    /// `response`; the join handle yields the request (head and body).
    fn one_shot_server(response: String) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut content_length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        content_length = value.trim().parse().unwrap();
                    }
                }
                head.push_str(&line);
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; content_length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            stream.write_all(response.as_bytes()).unwrap();
            stream.flush().unwrap();
            head + &String::from_utf8(body).unwrap()
        });
        (url, handle)
    }

    fn http_response(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn credentials(url: &str, scope: Option<&str>) -> ClientCredentials {
        ClientCredentials {
            endpoint: url.to_string(),
            client_id: Secret::new("my client"),
            client_secret: Secret::new("s3cr&t:value"),
            scope: scope.map(Secret::new),
            url_encode_header: false,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
        }
    }

    fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
        request.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    #[tokio::test]
    async fn client_credentials_flow() {
        let (url, server) = one_shot_server(http_response(
            "200 OK",
            r#"{"access_token":"opaque-token_1","token_type":"Bearer","expires_in":600}"#,
        ));
        let cache = Arc::new(TokenCache::new(
            TokenSource::ClientCredentials(credentials(&url, Some(" kafka read "))),
            RefreshPolicy::default(),
        ));
        // Concurrent callers share the one fetch: the server answers only
        // one connection.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().expose(), "opaque-token_1");
        }
        let request = server.join().unwrap();
        assert!(
            request.starts_with("POST /oauth2/token HTTP/1.1\r\n"),
            "{request}"
        );
        assert_eq!(
            header(&request, "authorization"),
            Some(format!("Basic {}", BASE64.encode("my client:s3cr&t:value")).as_str())
        );
        assert_eq!(
            header(&request, "content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(header(&request, "accept"), Some("application/json"));
        assert!(
            request.ends_with("\r\n\r\ngrant_type=client_credentials&scope=kafka+read"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn client_credentials_urlencoded_header_and_no_scope() {
        let (url, server) = one_shot_server(http_response("200 OK", r#"{"access_token":"t"}"#));
        let mut cc = credentials(&url, None);
        cc.url_encode_header = true;
        let token = tokio::task::spawn_blocking(move || cc.fetch_blocking(0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(token.value.expose(), "t");
        assert_eq!(token.expires_ms, 3_600_000, "unknown expiry: one hour");
        let request = server.join().unwrap();
        assert_eq!(
            header(&request, "authorization"),
            Some(format!("Basic {}", BASE64.encode("my+client:s3cr%26t%3Avalue")).as_str())
        );
        assert!(
            request.ends_with("\r\n\r\ngrant_type=client_credentials"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn endpoint_error_body_is_scrubbed_and_classified() {
        let body = r#"{"error":"invalid_client","error_description":"bad secret s3cr&t:value"}"#;
        let (url, server) = one_shot_server(http_response("401 Unauthorized", body));
        let cache = TokenCache::new(
            TokenSource::ClientCredentials(credentials(&url, None)),
            RefreshPolicy::default(),
        );
        let e = cache.token().await.unwrap_err();
        server.join().unwrap();
        let SaslError::TokenEndpointStatus { status, body, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*status, 401);
        assert!(
            body.contains("invalid_client") && body.contains("<redacted>"),
            "{body}"
        );
        assert!(!e.to_string().contains("s3cr&t"), "{e}");
        assert!(!e.is_retriable());

        let (url, server) =
            one_shot_server(http_response("503 Service Unavailable", &"x".repeat(1000)));
        let cc = credentials(&url, None);
        let e = tokio::task::spawn_blocking(move || cc.fetch_blocking(0))
            .await
            .unwrap()
            .err()
            .unwrap();
        server.join().unwrap();
        assert!(e.is_retriable());
        assert!(e.to_string().len() < 500, "{e}");
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_retriable() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        drop(listener);
        let cache = TokenCache::new(
            TokenSource::ClientCredentials(credentials(&url, None)),
            RefreshPolicy::default(),
        );
        let e = cache.token().await.unwrap_err();
        assert!(
            matches!(e, SaslError::TokenEndpointUnreachable { .. }),
            "{e:?}"
        );
        assert!(e.is_retriable());
    }

    #[test]
    fn token_responses() {
        let t =
            token_from_response(r#"{"access_token":" abc ","expires_in":"120"}"#, 1000).unwrap();
        assert_eq!(t.value.expose(), "abc");
        assert_eq!(t.expires_ms, 121_000);
        let t = token_from_response(r#"{"access_token":"abc","expires_in":90.5}"#, 0).unwrap();
        assert_eq!(t.expires_ms, 90_000);
        // A JWT's exp wins over expires_in.
        let token = jwt(r#"{"exp":2000000000,"iat":1999990000}"#);
        let t = token_from_response(
            &format!(r#"{{"access_token":"{token}","expires_in":5}}"#),
            0,
        )
        .unwrap();
        assert_eq!(t.expires_ms, 2_000_000_000_000);
        assert_eq!(t.issued_ms, Some(1_999_990_000_000));
        let e = token_from_response(r#"{"id_token":"secret-looking","token_type":"x"}"#, 0)
            .err()
            .unwrap();
        assert_eq!(
            e,
            "the response has no access_token string (members: id_token, token_type)"
        );
        for bad in [
            "not json",
            "[]",
            r#"{"access_token":""}"#,
            r#"{"access_token":5}"#,
        ] {
            assert!(token_from_response(bad, 0).is_err(), "{bad}");
        }
        assert!(token_from_response(r#"{"access_token":"has space"}"#, 0)
            .err()
            .unwrap()
            .contains("b64token"));
    }

    // -- file tokens and caching -----------------------------------------

    fn temp_file(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sasl-oauth-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[tokio::test]
    async fn file_token_is_cached_then_re_read_on_refresh() {
        let path = temp_file("refresh.jwt");
        std::fs::write(&path, "  token-a\n").unwrap();
        let cache = TokenCache::new(TokenSource::File(path.clone()), RefreshPolicy::default());
        let t0 = 1_700_000_000_000;
        assert_eq!(cache.token_at(t0).await.unwrap().expose(), "token-a");
        std::fs::write(&path, "token-b").unwrap();
        assert_eq!(cache.token_at(t0 + 1000).await.unwrap().expose(), "token-a");
        // Unknown lifetime (1 h): refreshed by 0.85 of it.
        assert_eq!(
            cache.token_at(t0 + 3_100_000).await.unwrap().expose(),
            "token-b"
        );

        // A failed refresh keeps the valid token, then fails once expired.
        std::fs::remove_file(&path).unwrap();
        let refresh_b = t0 + 3_100_000 + 3_100_000;
        assert_eq!(cache.token_at(refresh_b).await.unwrap().expose(), "token-b");
        let e = cache
            .token_at(t0 + 3_100_000 + 3_700_000)
            .await
            .unwrap_err();
        assert!(matches!(e, SaslError::TokenFile { .. }), "{e:?}");
        assert!(e.is_retriable());

        std::fs::write(&path, "token-c").unwrap();
        cache.invalidate().await;
        assert_eq!(cache.token_at(t0).await.unwrap().expose(), "token-c");
        std::fs::remove_file(&path).unwrap();
    }

    #[tokio::test]
    async fn file_token_checks() {
        let path = temp_file("expired.jwt");
        std::fs::write(&path, jwt(r#"{"exp":1000}"#)).unwrap();
        let cache = TokenCache::new(TokenSource::File(path.clone()), RefreshPolicy::default());
        let e = cache.token_at(5_000_000).await.unwrap_err();
        assert!(
            matches!(
                e,
                SaslError::TokenExpired {
                    seconds_ago: 4000,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.is_retriable());

        // A JWT file's exp sets the refresh time.
        std::fs::write(&path, jwt(r#"{"exp":2000000000}"#)).unwrap();
        assert!(cache.token_at(1_999_999_000_000).await.is_ok());

        for (content, expected) in [("   \n", "empty"), ("two words", "b64token")] {
            std::fs::write(&path, content).unwrap();
            let e = read_token_file(&path).await.unwrap_err();
            assert!(e.to_string().contains(expected), "{e}");
            assert!(!e.to_string().contains("words"));
        }
        std::fs::remove_file(&path).unwrap();
        let e = read_token_file(&path).await.unwrap_err();
        assert!(matches!(e, SaslError::TokenFile { .. }));
    }

    #[tokio::test]
    async fn unsecured_tokens_come_from_the_cache() {
        let u = UnsecuredToken::from_jaas(&jaas(&format!(
            "{MODULE} unsecuredLoginStringClaim_sub=svc;"
        )))
        .unwrap();
        let cache = TokenCache::new(TokenSource::Unsecured(u), RefreshPolicy::default());
        let token = cache.token().await.unwrap();
        let exp = jwt_expiry(token.expose()).unwrap();
        let now = now_ms() / 1000;
        assert!(exp >= now + 3590 && exp <= now + 3600, "{exp} vs {now}");
        assert_eq!(cache.token().await.unwrap(), token, "cached");
        assert!(!format!("{cache:?}").contains(token.expose()));
    }
}
