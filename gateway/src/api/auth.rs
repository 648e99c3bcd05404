//! Guards of the REST calls ([`AuthPolicy`]):
//! - with `[gateway] api_token` set, every mutating call (every method but
//!   GET and HEAD), and with `api_token_on_reads` every call, must carry
//!   `Authorization: Bearer <token>` (RFC 6750 §2.1), else it is answered
//!   401 with the error JSON and `WWW-Authenticate: Bearer` before any
//!   handler runs. The token is compared in constant time (SHA-256 digests
//!   compared with `subtle`) and never logged or echoed.
//! - without a token and without client certificates (the API then
//!   listens on loopback only), a mutating call's `Host` header must be an
//!   IP address or `localhost`, else 403: a web page whose domain was
//!   re-pointed at 127.0.0.1 (DNS rebinding) cannot drive the API from an
//!   operator's browser. With client certificates (`api_tls_client_ca`)
//!   the TLS handshake has authenticated the client already.
//!
//! GET and HEAD stay open unless `api_token_on_reads` is set.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use std::net::IpAddr;

use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::routes::ApiError;

/// The configured API token, kept as its SHA-256 digest. An empty token
/// matches nothing (fail closed). `Debug` never shows it.
#[derive(Clone)]
pub struct ApiToken {
    digest: [u8; 32],
    empty: bool,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

impl ApiToken {
    /// Keeps `token` (only its digest).
    pub fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
            empty: token.is_empty(),
        }
    }

    /// Whether `presented` is the token, in time independent of where they
    /// differ (and of their lengths: digests are compared).
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let equal: bool = self.digest.ct_eq(&digest).into();
        equal && !self.empty
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme any
/// case); `None` when absent, not text or another scheme.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// How the API authenticates calls: the guards [`super::router_with_auth`]
/// puts in front of the handlers. `Debug` never shows the token.
#[derive(Debug, Clone, Default)]
pub struct AuthPolicy {
    /// `[gateway] api_token`: the bearer token of mutating calls (and of
    /// reads with `token_on_reads`). `None`: no token.
    pub token: Option<ApiToken>,
    /// `[gateway] api_token_on_reads`: GET and HEAD need the token too.
    /// Ignored without a token.
    pub token_on_reads: bool,
    /// Clients are authenticated by a TLS client certificate
    /// (`api_tls_client_ca`): without a token, mutating calls are not
    /// limited to a local `Host`.
    pub client_certificates: bool,
}

impl AuthPolicy {
    /// A policy with `token` (or none) and nothing else.
    pub fn with_token(token: Option<&str>) -> Self {
        Self {
            token: token.map(ApiToken::new),
            ..Self::default()
        }
    }
}

/// The bearer token guard's settings.
#[derive(Debug)]
pub(crate) struct TokenGuard {
    /// The configured token.
    pub(crate) token: ApiToken,
    /// GET and HEAD need it too.
    pub(crate) on_reads: bool,
}

/// Middleware: lets GET and HEAD through (unless the token is needed on
/// reads too); any other method needs the bearer token.
pub(crate) async fn require_token(
    State(guard): State<Arc<TokenGuard>>,
    req: Request,
    next: Next,
) -> Response {
    if !guard.on_reads && matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    match bearer(req.headers()) {
        Some(presented) if guard.token.matches(presented) => next.run(req).await,
        Some(_) => ApiError::Unauthorized { invalid: true }.into_response(),
        None => ApiError::Unauthorized { invalid: false }.into_response(),
    }
}

/// Whether a `Host` header value (`host[:port]`, IPv6 in brackets) names an
/// IP address or `localhost` (any case, trailing dot allowed).
fn is_local_or_ip_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        match rest.split_once(']') {
            Some((v6, after)) => {
                return (after.is_empty() || after.starts_with(':'))
                    && v6.parse::<std::net::Ipv6Addr>().is_ok()
            }
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

/// Middleware used when no token is configured: lets GET and HEAD through;
/// any other method needs a `Host` that is an IP address or `localhost`
/// (absent `Host`, as from HTTP/1.0 clients, is allowed: browsers always
/// send one), else 403.
pub(crate) async fn require_local_host(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let host = req.headers().get(header::HOST).map(|h| h.to_str());
    match host {
        None => next.run(req).await,
        Some(Ok(h)) if is_local_or_ip_host(h.trim()) => next.run(req).await,
        Some(Ok(h)) => ApiError::ForbiddenHost(h.trim().to_string()).into_response(),
        Some(Err(_)) => ApiError::ForbiddenHost("<not text>".to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_local_or_ip_host;

    #[test]
    fn local_hosts() {
        for h in [
            "127.0.0.1",
            "127.0.0.1:8090",
            "localhost",
            "LOCALHOST:8090",
            "localhost.:1",
            "[::1]:8090",
            "[::1]",
            "10.1.2.3:80",
        ] {
            assert!(is_local_or_ip_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:8090",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8090",
            "[::1",
            "[::1]evil.example",
            "",
        ] {
            assert!(!is_local_or_ip_host(h), "{h}");
        }
    }
}
