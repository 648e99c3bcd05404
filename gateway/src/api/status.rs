//! The HTTP status of each control-plane refusal ([`ControlError`]) in
//! REST answers (Confluent's kafka-rest v3 uses the status as `error_code`).

use crate::control::ControlError;

impl ControlError {
    /// HTTP status code of the REST answer (also its `error_code`).
    pub fn status(&self) -> u16 {
        match self {
            Self::ClusterNotFound(_)
            | Self::LinkNotFound(_)
            | Self::MirrorNotFound { .. }
            | Self::SourceTopicNotFound { .. }
            | Self::GroupNotFound { .. } => 404,
            Self::LinkExists(_)
            | Self::MirrorExists { .. }
            | Self::ManagedByConfigFile(_)
            | Self::HasMirrors { .. }
            | Self::GroupNotMigratable { .. } => 409,
            Self::InvalidConfig { .. }
            | Self::NotAlterable { .. }
            | Self::LinkValidation { .. }
            | Self::LagNotZero { .. }
            | Self::InvalidState { .. } => 400,
            Self::Unavailable { .. } => 503,
            Self::Unsupported(_) => 501,
        }
    }
}
