//! The control-plane REST API: cluster links, their properties,
//! tasks and mirror topics, read and changed over HTTP/1.1 in the shape of
//! Confluent's Kafka REST v3 cluster-linking API (`/kafka/v3/clusters/
//! {cluster_id}/links/...`), documented in `gateway/openapi.yaml`.
//!
//! - [`view`]: the [`ApiState`] / [`LinkView`] traits the runtime implements
//!   (the mutating side is [`crate::control::ControlPlane`], reached through
//!   [`ApiState::control`]).
//! - [`model`]: the JSON response bodies and the mirror state aggregation
//!   rule.
//! - [`body`]: the JSON request bodies and their strict parsing.
//! - [`routes`]: the axum router, the read handlers and the error JSON.
//! - `mutate`: the mutating handlers.
//! - [`auth`]: the guards of the calls (bearer token on mutating calls,
//!   and on reads with `api_token_on_reads`; without a token or client
//!   certificates, a local `Host`).
//! - [`tls`]: HTTPS: the PEM files into a `rustls::ServerConfig`, and the
//!   listener that runs each TLS handshake on its own task.
//! - [`fake`]: an in-memory [`LinkView`], [`crate::control::ControlPlane`]
//!   and [`ApiState`] for tests.
//!
//! [`serve`] binds the listener and runs the router, over plain HTTP or
//! TLS ([`ServeOptions`]), until shutdown.

pub mod auth;
pub mod body;
pub mod fake;
mod migrate;
pub mod model;
mod mutate;
pub mod routes;
mod status;
pub mod tls;
pub mod view;

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod control_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::secret::Secret;

pub use auth::{ApiToken, AuthPolicy};
pub use body::MAX_BODY_BYTES;
pub use routes::{router, router_with_auth, router_with_token, ApiError, ANY_CLUSTER, ANY_LINK};
pub use tls::{ApiTls, TlsFile, TlsFileError};
pub use view::{
    default_tasks, property_is_sensitive, ApiState, LinkHealth, LinkProperty, LinkState, LinkTask,
    LinkView, TASK_NAMES,
};

/// Default API listen address: loopback only (Confluent's REST port 8090).
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8090";

/// The API server could not start or stopped with an I/O error. Concerns
/// the gateway's own listener, not a Kafka cluster.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS settings cannot make a server config.
    #[error("REST API TLS: {0}")]
    Tls(#[from] TlsFileError),
    /// Binding the listen address failed (in use, not local, no
    /// permission). Retriable only once the address is free.
    #[error("cannot listen for the REST API on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Accepting or serving connections failed.
    #[error("REST API server on {addr} failed: {source}")]
    Serve {
        /// Bound address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server task panicked or was aborted.
    #[error("REST API server task on {addr} ended abnormally: {message}")]
    Task {
        /// Bound address.
        addr: SocketAddr,
        /// Join error text.
        message: String,
    },
}

impl ServeError {
    /// Whether trying again can help (a bind may succeed once the port is
    /// released; a failed server can be restarted).
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Bind { .. } | Self::Serve { .. })
    }
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    local_addr: SocketAddr,
    tls: bool,
    task: JoinHandle<Result<(), ServeError>>,
}

impl ApiServer {
    /// The bound address (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Waits until the server has stopped (after `shutdown` was cancelled
    /// and open connections finished).
    ///
    /// # Errors
    /// [`ServeError::Serve`] or [`ServeError::Task`].
    pub async fn join(self) -> Result<(), ServeError> {
        let addr = self.local_addr;
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServeError::Task {
                addr,
                message: e.to_string(),
            }),
        }
    }
}

/// How [`serve`] serves: authentication and transport.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The bearer token every non-GET/HEAD request must carry (`[gateway]
    /// api_token`; never logged); `None`: no token, but such requests need
    /// a `Host` that is an IP address or `localhost` (DNS-rebinding guard,
    /// see [`auth`]) unless clients are authenticated by certificate.
    pub token: Option<Secret>,
    /// `[gateway] api_token_on_reads`: GET and HEAD need the token too
    /// (ignored without a token).
    pub token_on_reads: bool,
    /// `[gateway] api_tls_*`: serve HTTPS with these certificates (and
    /// client certificates when it has a client CA); `None`: plain HTTP.
    pub tls: Option<ApiTls>,
}

impl ServeOptions {
    /// Plain HTTP with `token` (or none).
    pub fn with_token(token: Option<&str>) -> Self {
        Self {
            token: token.map(Secret::new),
            ..Self::default()
        }
    }

    /// The options of `[gateway]` in `cfg`, with the server config built
    /// from its TLS settings ([`ApiTls::new`]).
    ///
    /// # Errors
    /// [`ServeError::Tls`] when rustls refuses the TLS settings (checked at
    /// config load, so not expected).
    pub fn from_config(cfg: &crate::config::GatewayConfig) -> Result<Self, ServeError> {
        Ok(Self {
            token: cfg.api_token.clone(),
            token_on_reads: cfg.api_token_on_reads,
            tls: cfg.api_tls.as_ref().map(ApiTls::new).transpose()?,
        })
    }

    /// The guards these options ask for.
    pub fn auth_policy(&self) -> AuthPolicy {
        AuthPolicy {
            token: self.token.as_ref().map(|t| ApiToken::new(t.expose())),
            token_on_reads: self.token_on_reads,
            client_certificates: self
                .tls
                .as_ref()
                .is_some_and(ApiTls::requires_client_certificate),
        }
    }
}

/// Binds `listen` and serves [`router_with_auth`] over `state` on a Tokio
/// task until `shutdown` is cancelled (graceful: in-flight requests
/// complete). Must be called inside a Tokio runtime. With
/// [`ServeOptions::tls`], every connection is TLS (RFC 8446; HTTP/1.1
/// inside): each handshake runs on its own task with a deadline of
/// [`tls::HANDSHAKE_TIMEOUT`], a failed one is logged at debug level with
/// the peer address and closes only that connection.
///
/// # Errors
/// [`ServeError::Bind`] when the address cannot be bound.
pub async fn serve(
    listen: SocketAddr,
    state: Arc<dyn ApiState>,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> Result<ApiServer, ServeError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: listen,
        source,
    })?;
    let app = router_with_auth(state, &options.auth_policy());
    let serve_err = move |source: std::io::Error| ServeError::Serve {
        addr: local_addr,
        source,
    };
    let task = match &options.tls {
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
                .map_err(serve_err)
        }),
        Some(tls) => {
            let listener =
                tls::TlsListener::start(listener, local_addr, tls.server_config().clone());
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
                    .map_err(serve_err)
            })
        }
    };
    Ok(ApiServer {
        local_addr,
        tls: options.tls.is_some(),
        task,
    })
}
