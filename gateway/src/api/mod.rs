//! The control-plane REST API (issue 4): cluster links, their properties,
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
//! - [`auth`]: the guards of mutating calls (bearer token; without one, a
//!   local `Host`).
//! - [`fake`]: an in-memory [`LinkView`], [`crate::control::ControlPlane`]
//!   and [`ApiState`] for tests.
//!
//! [`serve`] binds the listener and runs the router until shutdown.

pub mod auth;
pub mod body;
pub mod fake;
pub mod model;
mod mutate;
pub mod routes;
pub mod view;

#[cfg(test)]
mod control_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use auth::ApiToken;
pub use body::MAX_BODY_BYTES;
pub use routes::{router, router_with_token, ApiError, ANY_CLUSTER, ANY_LINK};
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
    task: JoinHandle<Result<(), ServeError>>,
}

impl ApiServer {
    /// The bound address (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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

/// Binds `listen` and serves [`router_with_token`] over `state` on a Tokio
/// task until `shutdown` is cancelled (graceful: in-flight requests
/// complete). Must be called inside a Tokio runtime. `token`: the bearer
/// token every non-GET/HEAD request must carry (`[gateway] api_token`;
/// never logged); `None`: no token, but such requests need a `Host` that is
/// an IP address or `localhost` (DNS-rebinding guard, see [`auth`]).
///
/// # Errors
/// [`ServeError::Bind`] when the address cannot be bound.
pub async fn serve(
    listen: SocketAddr,
    state: Arc<dyn ApiState>,
    token: Option<String>,
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
    let app = router_with_token(state, token.as_deref());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|source| ServeError::Serve {
                addr: local_addr,
                source,
            })
    });
    Ok(ApiServer { local_addr, task })
}
