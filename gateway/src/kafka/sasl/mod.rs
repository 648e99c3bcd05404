//! Client side of the SASL mechanisms the gateway uses to authenticate to
//! Kafka brokers: PLAIN (RFC 4616), SCRAM-SHA-256 and SCRAM-SHA-512
//! (RFC 5802, RFC 7677) and OAUTHBEARER (RFC 7628), configured from Kafka
//! client properties (`sasl.mechanism`, `sasl.jaas.config`, `sasl.login.*`,
//! `sasl.oauthbearer.*`).
//!
//! Owns the mechanism logic only: which bytes the client sends and how it
//! checks what the server answers. The bytes are carried by Kafka's
//! SaslHandshake and SaslAuthenticate requests (KIP-43, KIP-152), which the
//! connection layer sends; a broker's own refusal (SaslAuthenticate error
//! `SASL_AUTHENTICATION_FAILED`, code 58, with its error message) is also
//! handled there.
//!
//! - [`jaas`]: the `sasl.jaas.config` parser (Kafka's `JaasConfig`).
//! - [`plain`], [`scram`], [`oauth`]: the mechanisms; [`oauth`] also gets,
//!   caches and refreshes the bearer token.
//! - [`SaslConfig`]: the validated configuration of one cluster;
//!   [`SaslSession`]: one authentication exchange on one connection.
//! - [`SaslError`] for exchanges and token retrieval, [`SaslPropertyError`]
//!   for configuration.
//!
//! Secrets (passwords, tokens, client secrets, every JAAS option value) are
//! held as [`Secret`] and appear in no error message, `Debug` output or log
//! line.

pub mod jaas;
pub mod oauth;
pub mod plain;
pub mod scram;

use std::sync::Arc;

use crate::secret::Secret;

use self::jaas::{JaasConfig, LoginModuleKind};
use self::oauth::{OAuthBearerClient, OAuthBearerConfig, TokenCache};
use self::scram::{ScramClient, ScramHash};

/// Kafka client property naming the mechanism (`SaslConfigs.SASL_MECHANISM`).
pub const SASL_MECHANISM: &str = "sasl.mechanism";
/// Kafka client property holding the JAAS login module configuration
/// (`SaslConfigs.SASL_JAAS_CONFIG`).
pub const SASL_JAAS_CONFIG: &str = "sasl.jaas.config";

/// Every Kafka client property [`SaslConfig::from_properties`] reads.
pub const PROPERTIES: [&str; 14] = [
    SASL_MECHANISM,
    SASL_JAAS_CONFIG,
    oauth::TOKEN_ENDPOINT_URL,
    oauth::LOGIN_CALLBACK_HANDLER_CLASS,
    oauth::LOGIN_CONNECT_TIMEOUT_MS,
    oauth::LOGIN_READ_TIMEOUT_MS,
    oauth::LOGIN_REFRESH_WINDOW_FACTOR,
    oauth::LOGIN_REFRESH_WINDOW_JITTER,
    oauth::LOGIN_REFRESH_MIN_PERIOD_SECONDS,
    oauth::LOGIN_REFRESH_BUFFER_SECONDS,
    oauth::CLIENT_ID,
    oauth::CLIENT_SECRET,
    oauth::SCOPE,
    oauth::HEADER_URLENCODE,
];

/// Longest excerpt of server-supplied text kept in an error message, in
/// characters.
const MAX_EXCERPT_CHARS: usize = 300;

/// A SASL mechanism the gateway can use, by its IANA/Kafka name
/// (`sasl.mechanism`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512` (RFC 5802 with SHA-512, Kafka's `ScramMechanism`).
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628, KIP-255).
    OAuthBearer,
}

impl SaslMechanism {
    /// Every supported mechanism, in the order used in messages.
    pub const ALL: [SaslMechanism; 4] = [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
        SaslMechanism::OAuthBearer,
    ];

    /// The mechanism name as sent in SaslHandshake and written in
    /// `sasl.mechanism`: `"PLAIN"`, `"SCRAM-SHA-256"`, `"SCRAM-SHA-512"` or
    /// `"OAUTHBEARER"`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Parses a `sasl.mechanism` value (surrounding whitespace ignored, as
    /// Kafka's `ConfigDef` trims strings; names are case-sensitive as in
    /// Kafka). `GSSAPI`, Kafka's default, and any other name are refused with
    /// a message naming the supported mechanisms.
    pub fn parse(name: &str) -> Result<SaslMechanism, SaslPropertyError> {
        let name = name.trim();
        if let Some(m) = Self::ALL.into_iter().find(|m| m.name() == name) {
            return Ok(m);
        }
        let supported = Self::ALL.map(SaslMechanism::name).join(", ");
        let message = if name == "GSSAPI" {
            format!(
                "GSSAPI (Kerberos, Kafka's default when sasl.mechanism is not set) is not \
                 supported; set sasl.mechanism to one of {supported}"
            )
        } else {
            format!(
                "unsupported mechanism `{}`; supported: {supported}",
                excerpt(name)
            )
        };
        Err(SaslPropertyError::new(SASL_MECHANISM, message))
    }

    /// The login module `sasl.jaas.config` must name for this mechanism.
    fn login_module(self) -> LoginModuleKind {
        match self {
            SaslMechanism::Plain => LoginModuleKind::Plain,
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => LoginModuleKind::Scram,
            SaslMechanism::OAuthBearer => LoginModuleKind::OAuthBearer,
        }
    }
}

impl std::fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An error of a SASL exchange, of reading `sasl.jaas.config`, or of getting
/// an OAUTHBEARER token. Messages name options and fields, never their
/// values; text from a server is shortened to 300 characters and, for a
/// token endpoint, scrubbed of the client secret
/// ([`crate::secret::scrub`]).
#[derive(Debug, thiserror::Error)]
pub enum SaslError {
    /// `sasl.jaas.config` does not follow `Class flag (key=value)* ;`
    /// (Kafka's `JaasConfig` grammar). `line` and `column` count from 1, the
    /// column in characters.
    #[error("sasl.jaas.config: expected {expected} at line {line}, column {column}")]
    JaasSyntax {
        /// Line of the offending token (1-based).
        line: usize,
        /// Column of the offending token, in characters (1-based).
        column: usize,
        /// What the grammar expected there.
        expected: &'static str,
    },
    /// `sasl.jaas.config` parses but cannot be used: no login module, more
    /// than one, or an unknown control flag.
    #[error("sasl.jaas.config: {0}")]
    Jaas(String),
    /// A field the client would send cannot be carried by the mechanism
    /// (for example a NUL character in a PLAIN password, an invalid
    /// OAUTHBEARER extension name).
    #[error("{mechanism}: the {field} {reason}")]
    InvalidField {
        /// Mechanism name, e.g. `"PLAIN"`.
        mechanism: &'static str,
        /// The field, e.g. `"password"`.
        field: String,
        /// What is wrong with it (never its value).
        reason: &'static str,
    },
    /// A server message does not follow the mechanism's grammar (RFC 5802
    /// section 7 for SCRAM) or asks for something the client refuses (too
    /// few or too many SCRAM iterations, a nonce not extending ours).
    #[error("{mechanism}: malformed or unacceptable server message: {reason}")]
    MalformedServerMessage {
        /// Mechanism name.
        mechanism: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The server refused the authentication inside the mechanism: a SCRAM
    /// `e=` attribute (RFC 5802 section 7) or an OAUTHBEARER error JSON
    /// (RFC 7628 section 3.2.2). `reason` carries the server's text.
    #[error("{mechanism} authentication failed: {reason}")]
    AuthenticationFailed {
        /// Mechanism name.
        mechanism: &'static str,
        /// The server's error (status, scope, error text), shortened.
        reason: String,
    },
    /// The SCRAM server signature (`v=`) does not verify: the server does
    /// not hold the credential (RFC 5802 section 3).
    #[error("{mechanism}: the server signature does not verify; the server does not know the credential")]
    ServerSignatureMismatch {
        /// Mechanism name.
        mechanism: &'static str,
    },
    /// A server message arrived when the exchange expected none (before the
    /// initial response, or after the exchange ended).
    #[error("{mechanism}: unexpected server message {state}")]
    UnexpectedServerMessage {
        /// Mechanism name.
        mechanism: &'static str,
        /// Where the exchange was, e.g. `"after the exchange ended"`.
        state: &'static str,
    },
    /// A cryptographic primitive refused its input (HMAC key length); does
    /// not happen with the hashes used.
    #[error("{mechanism}: {what} failed")]
    Crypto {
        /// Mechanism name.
        mechanism: &'static str,
        /// The primitive.
        what: &'static str,
    },
    /// The OAuth token endpoint could not be reached or did not answer in
    /// time (DNS, connect, TLS, read timeout). `url` is shown without user
    /// info.
    #[error("OAUTHBEARER token endpoint {url} unreachable: {reason}")]
    TokenEndpointUnreachable {
        /// Endpoint URL, user info removed.
        url: String,
        /// Why (scrubbed of secrets).
        reason: String,
    },
    /// The OAuth token endpoint answered with a non-2xx HTTP status.
    /// Retriable unless the status is one Kafka's `HttpAccessTokenRetriever`
    /// does not retry ([`oauth::NOT_RETRIED_HTTP_STATUSES`]).
    #[error("OAUTHBEARER token endpoint {url} answered HTTP {status}: {body}")]
    TokenEndpointStatus {
        /// Endpoint URL, user info removed.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The response body, scrubbed of the client secret and shortened.
        body: String,
    },
    /// The OAuth token endpoint answered 2xx without a usable
    /// `access_token` (not JSON, missing, empty, or not a bearer token).
    #[error("OAUTHBEARER token endpoint {url}: {reason}")]
    InvalidTokenResponse {
        /// Endpoint URL, user info removed.
        url: String,
        /// What is wrong (names fields, never shows a token).
        reason: String,
    },
    /// The token file of a `file:` token endpoint URL (KIP-768) could not be
    /// read, is empty, or holds no bearer token.
    #[error("OAUTHBEARER token file {path}: {reason}")]
    TokenFile {
        /// File path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The token obtained has already expired (its JWT `exp` is in the
    /// past), e.g. a token file that is not being renewed.
    #[error("OAUTHBEARER token from {source_name} expired {seconds_ago} s ago")]
    TokenExpired {
        /// Where it came from (file path or endpoint URL).
        source_name: String,
        /// Seconds since its expiry.
        seconds_ago: u64,
    },
}

impl SaslError {
    /// Whether trying again later can succeed: true for an unreachable token
    /// endpoint, a retriable HTTP status, an unreadable or expired token
    /// file/token; false for configuration errors, refused credentials and
    /// malformed server messages.
    pub fn is_retriable(&self) -> bool {
        match self {
            SaslError::TokenEndpointUnreachable { .. }
            | SaslError::TokenFile { .. }
            | SaslError::TokenExpired { .. } => true,
            SaslError::TokenEndpointStatus { status, .. } => {
                !oauth::NOT_RETRIED_HTTP_STATUSES.contains(status)
            }
            SaslError::JaasSyntax { .. }
            | SaslError::Jaas(_)
            | SaslError::InvalidField { .. }
            | SaslError::MalformedServerMessage { .. }
            | SaslError::AuthenticationFailed { .. }
            | SaslError::ServerSignatureMismatch { .. }
            | SaslError::UnexpectedServerMessage { .. }
            | SaslError::Crypto { .. }
            | SaslError::InvalidTokenResponse { .. } => false,
        }
    }
}

/// A SASL configuration property that is missing or invalid. `message` says
/// what is wrong and never holds a secret value (a JAAS option value, a
/// password).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{property}: {message}")]
pub struct SaslPropertyError {
    /// The Kafka client property, e.g. `"sasl.jaas.config"`.
    pub property: String,
    /// What is wrong with it.
    pub message: String,
}

impl SaslPropertyError {
    /// An error about `property`.
    pub fn new(property: &str, message: impl Into<String>) -> Self {
        Self {
            property: property.to_string(),
            message: message.into(),
        }
    }
}

/// The SASL configuration of one cluster, read from Kafka client properties
/// by [`SaslConfig::from_properties`]. Cheap to clone; clones of an
/// OAUTHBEARER configuration share one [`TokenCache`], so every connection
/// to the cluster uses (and refreshes) the same token. `Debug` shows no
/// credential; `PartialEq` compares the configured values (not the cached
/// token).
#[derive(Clone, Debug, PartialEq)]
pub struct SaslConfig {
    credentials: Credentials,
    /// Every option value of `sasl.jaas.config`, for [`SaslConfig::secret_values`].
    jaas_values: Vec<Secret>,
}

/// The per-mechanism part of [`SaslConfig`].
#[derive(Clone, Debug, PartialEq)]
enum Credentials {
    Plain {
        username: Secret,
        password: Secret,
    },
    Scram {
        hash: ScramHash,
        username: Secret,
        password: Secret,
        token_auth: bool,
    },
    OAuthBearer(OAuthBearerConfig),
}

impl SaslConfig {
    /// Reads the SASL properties through `get`, which returns a property's
    /// (already resolved) value by its Kafka client property name:
    ///
    /// - `sasl.mechanism` (default `GSSAPI` as in Kafka, which is refused);
    /// - `sasl.jaas.config` (required, exactly one login module; the module
    ///   must fit the mechanism: PLAIN needs `PlainLoginModule`, SCRAM
    ///   `ScramLoginModule`, OAUTHBEARER `OAuthBearerLoginModule`; PLAIN and
    ///   SCRAM need the options `username` and `password`, SCRAM reads
    ///   `tokenauth` for delegation tokens);
    /// - for OAUTHBEARER, the `sasl.oauthbearer.*` and `sasl.login.*`
    ///   properties listed at [`OAuthBearerConfig::from_properties`].
    ///
    /// Nothing is fetched yet; an OAUTHBEARER token is obtained by the first
    /// [`SaslConfig::start`].
    pub fn from_properties(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SaslConfig, SaslPropertyError> {
        let mechanism = get(SASL_MECHANISM)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "GSSAPI".to_string());
        let mechanism = SaslMechanism::parse(&mechanism)?;
        let text = get(SASL_JAAS_CONFIG)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                SaslPropertyError::new(
                    SASL_JAAS_CONFIG,
                    format!(
                        "required for sasl.mechanism {mechanism} (a JAAS file named by \
                         java.security.auth.login.config is not read)"
                    ),
                )
            })?;
        let jaas = JaasConfig::parse(&text)
            .map_err(|e| SaslPropertyError::new(SASL_JAAS_CONFIG, jaas_message(&e)))?;
        let wanted = mechanism.login_module();
        if jaas.module_kind() != Some(wanted) {
            return Err(SaslPropertyError::new(
                SASL_JAAS_CONFIG,
                format!(
                    "sasl.mechanism {mechanism} needs the login module {}",
                    wanted.class_name()
                ),
            ));
        }
        let credentials = match mechanism {
            SaslMechanism::Plain => {
                let (username, password) = username_password(&jaas, mechanism)?;
                for (field, value) in [("username", &username), ("password", &password)] {
                    if value.expose().contains('\0') {
                        return Err(SaslPropertyError::new(
                            SASL_JAAS_CONFIG,
                            format!("the {field} option contains a NUL character, which PLAIN cannot carry"),
                        ));
                    }
                }
                Credentials::Plain { username, password }
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let (username, password) = username_password(&jaas, mechanism)?;
                let hash = if mechanism == SaslMechanism::ScramSha256 {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                };
                let token_auth = jaas
                    .option("tokenauth")
                    .is_some_and(|v| v.expose().eq_ignore_ascii_case("true"));
                Credentials::Scram {
                    hash,
                    username,
                    password,
                    token_auth,
                }
            }
            SaslMechanism::OAuthBearer => {
                Credentials::OAuthBearer(OAuthBearerConfig::from_properties(&jaas, get)?)
            }
        };
        let jaas_values = jaas.options().map(|(_, v)| v.clone()).collect();
        Ok(SaslConfig {
            credentials,
            jaas_values,
        })
    }

    /// The secret values of this configuration, to [`crate::secret::scrub`]
    /// from text a broker or identity provider sends back: every
    /// `sasl.jaas.config` option value except `true`, `false` and plain
    /// numbers (which would blank ordinary words), and the OAuth client id
    /// and secret however they were given.
    pub fn secret_values(&self) -> Vec<&str> {
        let mut values: Vec<&str> = self
            .jaas_values
            .iter()
            .map(Secret::expose)
            .filter(|v| {
                !v.is_empty()
                    && !v.eq_ignore_ascii_case("true")
                    && !v.eq_ignore_ascii_case("false")
                    && !v.bytes().all(|b| b.is_ascii_digit())
            })
            .collect();
        if let Credentials::OAuthBearer(config) = &self.credentials {
            if let oauth::TokenSource::ClientCredentials(c) = config.cache().source() {
                values.push(c.client_id.expose());
                values.push(c.client_secret.expose());
            }
        }
        values.sort_unstable();
        values.dedup();
        values
    }

    /// The configured mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        match &self.credentials {
            Credentials::Plain { .. } => SaslMechanism::Plain,
            Credentials::Scram {
                hash: ScramHash::Sha256,
                ..
            } => SaslMechanism::ScramSha256,
            Credentials::Scram {
                hash: ScramHash::Sha512,
                ..
            } => SaslMechanism::ScramSha512,
            Credentials::OAuthBearer(_) => SaslMechanism::OAuthBearer,
        }
    }

    /// The shared token cache of an OAUTHBEARER configuration (`None` for
    /// the other mechanisms), e.g. to [`TokenCache::invalidate`] it after the
    /// broker refused the token.
    pub fn token_cache(&self) -> Option<&Arc<TokenCache>> {
        match &self.credentials {
            Credentials::OAuthBearer(o) => Some(o.cache()),
            _ => None,
        }
    }

    /// Starts one authentication exchange (one connection). For OAUTHBEARER
    /// this gets the cluster's token from its [`TokenCache`], fetching it
    /// when none is cached or the cached one is due for refresh; errors are
    /// those of [`TokenCache::token`] and of building the initial response.
    pub async fn start(&self) -> Result<SaslSession, SaslError> {
        let mechanism = self.mechanism();
        let state = match &self.credentials {
            Credentials::Plain { username, password } => SessionState::Plain {
                message: plain::initial_response("", username.expose(), password)?,
                stage: PlainStage::Initial,
            },
            Credentials::Scram {
                hash,
                username,
                password,
                token_auth,
            } => {
                let mut client = ScramClient::new(*hash, username.expose(), password);
                if *token_auth {
                    client = client.with_token_auth();
                }
                SessionState::Scram(client)
            }
            Credentials::OAuthBearer(config) => {
                let token = config.cache().token().await?;
                SessionState::OAuthBearer(OAuthBearerClient::new(&token, "", config.extensions())?)
            }
        };
        Ok(SaslSession { mechanism, state })
    }
}

/// The `username` and `password` options of a PLAIN or SCRAM login module.
fn username_password(
    jaas: &JaasConfig,
    mechanism: SaslMechanism,
) -> Result<(Secret, Secret), SaslPropertyError> {
    let get = |name: &str| {
        jaas.option(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| {
                SaslPropertyError::new(
                    SASL_JAAS_CONFIG,
                    format!("sasl.mechanism {mechanism} needs a non-empty `{name}` option"),
                )
            })
    };
    Ok((get("username")?, get("password")?))
}

/// The message of a JAAS parse error without the property name (the
/// property is named by [`SaslPropertyError`]).
fn jaas_message(e: &SaslError) -> String {
    let text = e.to_string();
    text.strip_prefix("sasl.jaas.config: ")
        .map(str::to_string)
        .unwrap_or(text)
}

/// What the exchange does next, returned by [`SaslSession::step`].
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes in the next SaslAuthenticate request.
    Send(Vec<u8>),
    /// The mechanism is satisfied; the exchange is complete on the client's
    /// side.
    Done,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bytes can hold a token or a proof: show the length only.
        match self {
            Step::Send(bytes) => write!(f, "Send({} bytes)", bytes.len()),
            Step::Done => f.write_str("Done"),
        }
    }
}

/// One client-side SASL exchange, created by [`SaslConfig::start`]. Send
/// [`SaslSession::initial_response`] in the first SaslAuthenticate request
/// (after SaslHandshake named [`SaslSession::mechanism`]), then pass each
/// response's `auth_bytes` to [`SaslSession::step`] until it returns
/// [`Step::Done`] or an error:
///
/// - PLAIN: initial = `\0username\0password`; the server's (empty) answer
///   gives `Done`.
/// - SCRAM: initial = client-first; server-first gives `Send(client-final)`;
///   server-final is verified and gives `Done`.
/// - OAUTHBEARER: initial = the bearer message; an empty answer gives
///   `Done`; an error JSON gives `Send([0x01])` (RFC 7628 section 3.2.3) and
///   the next step an [`SaslError::AuthenticationFailed`] with the server's
///   status. The broker usually answers that `0x01` with its own
///   `SASL_AUTHENTICATION_FAILED`; [`SaslSession::server_error`] keeps the
///   status for the caller's message.
pub struct SaslSession {
    mechanism: SaslMechanism,
    state: SessionState,
}

/// The mechanism-specific state of a [`SaslSession`].
enum SessionState {
    Plain { message: Vec<u8>, stage: PlainStage },
    Scram(ScramClient),
    OAuthBearer(OAuthBearerClient),
}

/// Where a PLAIN exchange is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlainStage {
    Initial,
    Sent,
    Done,
}

impl SaslSession {
    /// The mechanism of this exchange (the name to send in SaslHandshake).
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The client's first message, sent in the first SaslAuthenticate
    /// request. Calling it again returns the same bytes.
    pub fn initial_response(&mut self) -> Vec<u8> {
        match &mut self.state {
            SessionState::Plain { message, stage } => {
                if *stage == PlainStage::Initial {
                    *stage = PlainStage::Sent;
                }
                message.clone()
            }
            SessionState::Scram(client) => client.client_first(),
            SessionState::OAuthBearer(client) => client.initial_response(),
        }
    }

    /// Handles the server's `auth_bytes` from a SaslAuthenticate response.
    /// Errors: the server's message is malformed or refuses the credentials
    /// (SCRAM `e=`, OAUTHBEARER error JSON), the SCRAM server signature does
    /// not verify, or a message arrives out of turn. A SCRAM server-first
    /// message costs the PBKDF2 iterations it asks for (at most
    /// [`scram::MAX_ITERATIONS`]) on the calling thread.
    pub fn step(&mut self, server_message: &[u8]) -> Result<Step, SaslError> {
        match &mut self.state {
            SessionState::Plain { stage, .. } => match *stage {
                PlainStage::Sent => {
                    *stage = PlainStage::Done;
                    Ok(Step::Done)
                }
                PlainStage::Initial => Err(SaslError::UnexpectedServerMessage {
                    mechanism: plain::MECHANISM,
                    state: "before the initial response",
                }),
                PlainStage::Done => Err(SaslError::UnexpectedServerMessage {
                    mechanism: plain::MECHANISM,
                    state: "after the exchange ended",
                }),
            },
            SessionState::Scram(client) => client.step(server_message),
            SessionState::OAuthBearer(client) => client.step(server_message),
        }
    }

    /// Whether the exchange completed successfully on the client's side.
    pub fn is_complete(&self) -> bool {
        match &self.state {
            SessionState::Plain { stage, .. } => *stage == PlainStage::Done,
            SessionState::Scram(client) => client.is_complete(),
            SessionState::OAuthBearer(client) => client.is_complete(),
        }
    }

    /// The error an OAUTHBEARER server returned in the exchange (its JSON
    /// `status` and `scope`, RFC 7628 section 3.2.2), if any. `None` for the
    /// other mechanisms.
    pub fn server_error(&self) -> Option<&str> {
        match &self.state {
            SessionState::OAuthBearer(client) => client.server_error(),
            _ => None,
        }
    }
}

impl std::fmt::Debug for SaslSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSession")
            .field("mechanism", &self.mechanism)
            .field("complete", &self.is_complete())
            .finish_non_exhaustive()
    }
}

/// `text` made safe for an error message: control characters replaced by
/// spaces, cut to 300 characters (with `...` when cut).
pub(crate) fn excerpt(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_EXCERPT_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(pairs: &[(&str, &str)]) -> Result<SaslConfig, SaslPropertyError> {
        let map = props(pairs);
        SaslConfig::from_properties(&|name| map.get(name).cloned())
    }

    const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required username='KEY' password='SECRET-VALUE';";
    const SCRAM_JAAS: &str = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"alice-secret\";";

    #[test]
    fn mechanism_names_round_trip() {
        for m in SaslMechanism::ALL {
            assert_eq!(SaslMechanism::parse(m.name()), Ok(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(
            SaslMechanism::parse(" SCRAM-SHA-512 "),
            Ok(SaslMechanism::ScramSha512)
        );
    }

    #[test]
    fn gssapi_and_unknown_mechanisms_are_refused_with_the_supported_list() {
        let e = SaslMechanism::parse("GSSAPI").unwrap_err();
        assert_eq!(e.property, "sasl.mechanism");
        assert!(e.message.contains("not supported"), "{e}");
        assert!(
            e.message
                .contains("PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"),
            "{e}"
        );
        let e = SaslMechanism::parse("plain").unwrap_err();
        assert!(e.message.contains("unsupported mechanism `plain`"), "{e}");
    }

    #[test]
    fn mechanism_defaults_to_gssapi_which_is_refused() {
        let e = config(&[("sasl.jaas.config", PLAIN_JAAS)]).unwrap_err();
        assert_eq!(e.property, "sasl.mechanism");
        assert!(e.message.starts_with("GSSAPI"), "{e}");
    }

    #[test]
    fn plain_config_and_exchange() {
        let c = config(&[
            ("sasl.mechanism", "PLAIN"),
            ("sasl.jaas.config", PLAIN_JAAS),
        ])
        .unwrap();
        assert_eq!(c.mechanism(), SaslMechanism::Plain);
        assert!(c.token_cache().is_none());
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("SECRET-VALUE") && !debug.contains("KEY"),
            "{debug}"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut s = rt.block_on(c.start()).unwrap();
        assert_eq!(s.mechanism(), SaslMechanism::Plain);
        assert!(matches!(
            s.step(b""),
            Err(SaslError::UnexpectedServerMessage { .. })
        ));
        assert_eq!(s.initial_response(), b"\0KEY\0SECRET-VALUE");
        assert!(!s.is_complete());
        assert_eq!(s.step(b"").unwrap(), Step::Done);
        assert!(s.is_complete());
        assert!(s.step(b"").is_err());
        assert!(!format!("{s:?}").contains("SECRET"));
    }

    #[test]
    fn scram_config_and_exchange_against_a_server() {
        let c = config(&[
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.jaas.config", SCRAM_JAAS),
        ])
        .unwrap();
        assert_eq!(c.mechanism(), SaslMechanism::ScramSha256);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut s = rt.block_on(c.start()).unwrap();
        let first = s.initial_response();
        let server = scram::tests::TestServer::new(ScramHash::Sha256, "alice-secret", 4096);
        let server_first = server.server_first(&first);
        let Step::Send(client_final) = s.step(server_first.as_bytes()).unwrap() else {
            panic!("expected client-final")
        };
        let server_final = server
            .server_final(&first, &server_first, &client_final)
            .expect("the proof verifies");
        assert_eq!(s.step(server_final.as_bytes()).unwrap(), Step::Done);
        assert!(s.is_complete());
    }

    #[test]
    fn scram_token_auth_option_adds_the_extension() {
        let jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"tok\" password=\"hmac\" tokenauth=\"true\";";
        let c = config(&[
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.jaas.config", jaas),
        ])
        .unwrap();
        assert_eq!(c.mechanism(), SaslMechanism::ScramSha512);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut s = rt.block_on(c.start()).unwrap();
        let first = String::from_utf8(s.initial_response()).unwrap();
        assert!(first.starts_with("n,,n=tok,r="), "{first}");
        assert!(first.ends_with(",tokenauth=true"), "{first}");
    }

    #[test]
    fn jaas_config_is_required_and_must_fit_the_mechanism() {
        let e = config(&[("sasl.mechanism", "PLAIN")]).unwrap_err();
        assert_eq!(e.property, "sasl.jaas.config");
        assert!(e.message.contains("required"), "{e}");

        let e = config(&[
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.jaas.config", PLAIN_JAAS),
        ])
        .unwrap_err();
        assert_eq!(e.property, "sasl.jaas.config");
        assert!(
            e.message
                .contains("org.apache.kafka.common.security.scram.ScramLoginModule"),
            "{e}"
        );
        assert!(!e.message.contains("SECRET"), "{e}");

        let e = config(&[
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.jaas.config", SCRAM_JAAS),
        ])
        .unwrap_err();
        assert!(e.message.contains("OAuthBearerLoginModule"), "{e}");
    }

    #[test]
    fn username_and_password_are_required() {
        let jaas =
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\";";
        let e = config(&[("sasl.mechanism", "PLAIN"), ("sasl.jaas.config", jaas)]).unwrap_err();
        assert!(e.message.contains("`password`"), "{e}");
        let jaas =
            "org.apache.kafka.common.security.scram.ScramLoginModule required password=\"p\";";
        let e = config(&[
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.jaas.config", jaas),
        ])
        .unwrap_err();
        assert!(e.message.contains("`username`"), "{e}");
        let jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"a\\0b\";";
        let e = config(&[("sasl.mechanism", "PLAIN"), ("sasl.jaas.config", jaas)]).unwrap_err();
        assert!(e.message.contains("NUL"), "{e}");
    }

    #[test]
    fn jaas_syntax_errors_keep_position_and_hide_values() {
        let jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username='KEY' password='SECRET-VALUE'";
        let e = config(&[("sasl.mechanism", "PLAIN"), ("sasl.jaas.config", jaas)]).unwrap_err();
        assert_eq!(e.property, "sasl.jaas.config");
        assert!(e.message.contains("expected ';'"), "{e}");
        assert!(e.message.contains("line 1"), "{e}");
        assert!(!e.message.contains("SECRET"), "{e}");
        assert!(!e
            .to_string()
            .starts_with("sasl.jaas.config: sasl.jaas.config"));
    }

    #[test]
    fn secret_values_cover_the_jaas_options() {
        let jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"alice-secret\" tokenauth=true;";
        let c = config(&[
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.jaas.config", jaas),
        ])
        .unwrap();
        assert_eq!(c.secret_values(), ["alice", "alice-secret"]);
        let jaas = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=\"jaas-id\" clientSecret=\"jaas-secret\";";
        let c = config(&[
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.jaas.config", jaas),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://idp.example/token",
            ),
            (
                "sasl.oauthbearer.client.credentials.client.secret",
                "prop-secret",
            ),
        ])
        .unwrap();
        assert_eq!(c.secret_values(), ["jaas-id", "jaas-secret", "prop-secret"]);
    }

    #[test]
    fn properties_lists_what_is_read() {
        let seen = std::cell::RefCell::new(Vec::new());
        let jaas = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=i clientSecret=s;";
        let get = |name: &str| {
            seen.borrow_mut().push(name.to_string());
            match name {
                "sasl.mechanism" => Some("OAUTHBEARER".to_string()),
                "sasl.jaas.config" => Some(jaas.to_string()),
                "sasl.oauthbearer.token.endpoint.url" => Some("https://idp/token".to_string()),
                _ => None,
            }
        };
        SaslConfig::from_properties(&get).unwrap();
        for name in seen.borrow().iter() {
            assert!(PROPERTIES.contains(&name.as_str()), "{name}");
        }
        assert_eq!(seen.borrow().len(), PROPERTIES.len());
    }

    #[test]
    fn configs_compare_by_value() {
        let pairs = [
            ("sasl.mechanism", "PLAIN"),
            ("sasl.jaas.config", PLAIN_JAAS),
        ];
        assert_eq!(config(&pairs).unwrap(), config(&pairs).unwrap());
        let other = PLAIN_JAAS.replace("SECRET-VALUE", "OTHER");
        assert_ne!(
            config(&pairs).unwrap(),
            config(&[("sasl.mechanism", "PLAIN"), ("sasl.jaas.config", &other)]).unwrap()
        );
    }

    #[test]
    fn oauth_config_shares_one_token_cache_across_clones() {
        let jaas = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"svc\";";
        let c = config(&[
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.jaas.config", jaas),
        ])
        .unwrap();
        let clone = c.clone();
        assert!(Arc::ptr_eq(
            c.token_cache().unwrap(),
            clone.token_cache().unwrap()
        ));
        assert_eq!(c, clone);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut s = rt.block_on(c.start()).unwrap();
        let first = s.initial_response();
        assert!(first.starts_with(b"n,,\x01auth=Bearer "));
        assert!(first.ends_with(b"\x01\x01"));
        assert_eq!(
            s.step(br#"{"status":"invalid_token","scope":"kafka"}"#)
                .unwrap(),
            Step::Send(vec![0x01])
        );
        assert!(s.server_error().unwrap().contains("invalid_token"));
        let e = s.step(b"").unwrap_err();
        assert!(matches!(e, SaslError::AuthenticationFailed { .. }), "{e}");
        assert!(e.to_string().contains("invalid_token"), "{e}");
        assert!(!e.is_retriable());
    }

    #[test]
    fn retriable_classification() {
        let unreachable = SaslError::TokenEndpointUnreachable {
            url: "https://idp/token".into(),
            reason: "connection refused".into(),
        };
        assert!(unreachable.is_retriable());
        let status = |status| SaslError::TokenEndpointStatus {
            url: "u".into(),
            status,
            body: String::new(),
        };
        assert!(status(503).is_retriable());
        assert!(status(429).is_retriable());
        assert!(!status(401).is_retriable());
        assert!(!status(400).is_retriable());
        assert!(!SaslError::ServerSignatureMismatch {
            mechanism: "SCRAM-SHA-256"
        }
        .is_retriable());
        assert!(!SaslError::MalformedServerMessage {
            mechanism: "SCRAM-SHA-256",
            reason: "x".into()
        }
        .is_retriable());
    }

    #[test]
    fn excerpt_cuts_and_removes_control_characters() {
        assert_eq!(excerpt("a\nb\x01c"), "a b c");
        let long = "x".repeat(400);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), 303);
        assert!(e.ends_with("..."));
    }
}
