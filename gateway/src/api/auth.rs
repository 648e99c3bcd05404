//! Bearer-token check of the mutating REST calls (`[gateway] api_token`):
//! with a token configured, every request whose method is not GET or HEAD
//! must carry `Authorization: Bearer <token>` (RFC 6750 §2.1), else it is
//! answered 401 with the error JSON and `WWW-Authenticate: Bearer` before
//! any handler runs. GET and HEAD stay open. The token is compared in
//! constant time (SHA-256 digests compared with `subtle`) and never logged
//! or echoed.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
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

/// Middleware: lets GET and HEAD through; any other method needs the
/// bearer token.
pub(crate) async fn require_token(
    State(token): State<Arc<ApiToken>>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    match bearer(req.headers()) {
        Some(presented) if token.matches(presented) => next.run(req).await,
        Some(_) => ApiError::Unauthorized { invalid: true }.into_response(),
        None => ApiError::Unauthorized { invalid: false }.into_response(),
    }
}
