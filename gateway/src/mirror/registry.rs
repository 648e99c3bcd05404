//! The gateway-wide registry of mirror topics: every mirror topic of every
//! link of this gateway, with the cluster it lives on and the cluster and
//! topic it mirrors. Auto-create reads it to prevent loops (a topic that is
//! a mirror topic is never mirrored back to its source cluster).

use std::sync::Mutex;

/// Every mirror topic of every running link (shared by all links).
#[derive(Debug, Default)]
pub struct MirrorRegistry {
    inner: Mutex<Vec<()>>,
}

impl MirrorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of registered mirror topics.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no mirror topic is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
