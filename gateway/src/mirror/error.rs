//! Errors of the mirror pipeline, tagged with the side that failed (source,
//! destination, state topic) and whether a retry can help.

use crate::kafka::records::batch::BatchError;
use crate::kafka::KafkaError;

/// Which part of the system an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source cluster (fetch, metadata, list offsets).
    Source,
    /// The destination cluster (produce, create topic).
    Destination,
    /// The gateway's internal state topic on the destination cluster.
    State,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
            Side::State => "state topic",
        })
    }
}

/// An error of the mirror pipeline.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// A Kafka request failed; `side` says which cluster.
    #[error("{side}: {source}")]
    Kafka {
        /// Which cluster.
        side: Side,
        /// The client-layer error (names the cluster and broker).
        #[source]
        source: KafkaError,
    },
    /// A record batch from the source could not be parsed (corrupt bytes).
    #[error("source topic {topic} partition {partition}: unreadable record batch: {source}")]
    Batch {
        /// Source topic.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The parse error.
        #[source]
        source: BatchError,
    },
    /// The state topic holds a record linkgate cannot read.
    #[error("state topic {topic}: unreadable record at offset {offset}: {message}")]
    State {
        /// State topic name.
        topic: String,
        /// Offset of the bad record.
        offset: i64,
        /// What is wrong.
        message: String,
    },
    /// The state topic exists but cannot hold the gateway's state (not
    /// compacted). Not retried: an operator must fix the topic or name
    /// another one.
    #[error("state topic {topic}: {message}")]
    StateTopicUnfit {
        /// State topic name.
        topic: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Another gateway instance claimed the link: the destination refused
    /// this instance's producer epoch (a later epoch of the link's producer
    /// id was written, KIP-98 fencing). The link stops; nothing is retried.
    #[error("fenced: {message}")]
    Fenced {
        /// What was refused, and by which cluster.
        message: String,
    },
    /// A source topic named in the config does not exist on the source cluster.
    #[error("source topic {topic} does not exist on the source cluster")]
    SourceTopicMissing {
        /// Source topic.
        topic: String,
    },
    /// A plugin chain refused or failed (topic filter, renamer).
    #[error("plugin chain: {0}")]
    Plugin(#[from] crate::plugin::ChainError),
    /// The renamer chain left a source topic without a mirror name
    /// (`on_error = skip`): the mirror is not created.
    #[error("the renamer chain gives source topic {topic} no mirror topic name")]
    NotNamed {
        /// Source topic.
        topic: String,
    },
    /// The destination already has a topic of that name with fewer partitions
    /// than the source, so it cannot be the mirror.
    #[error("destination topic {topic} has {destination} partitions, the source topic has {source_partitions}")]
    PartitionMismatch {
        /// Topic name.
        topic: String,
        /// Destination partition count.
        destination: usize,
        /// Source partition count.
        source_partitions: usize,
    },
}

impl MirrorError {
    /// Wraps a client-layer error with its side.
    pub fn kafka(side: Side, source: KafkaError) -> Self {
        Self::Kafka { side, source }
    }

    /// Whether retrying the same operation later can succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Kafka { source, .. } => source.is_retriable(),
            Self::SourceTopicMissing { .. } => true,
            Self::Batch { .. }
            | Self::State { .. }
            | Self::Fenced { .. }
            | Self::StateTopicUnfit { .. }
            | Self::PartitionMismatch { .. }
            | Self::Plugin(_)
            | Self::NotNamed { .. } => false,
        }
    }

    /// Short label for the `kind` label of `linkgate_mirror_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Kafka {
                side: Side::Source, ..
            } => "source",
            Self::Kafka {
                side: Side::Destination,
                ..
            } => "destination",
            Self::Kafka {
                side: Side::State, ..
            } => "state",
            Self::Batch { .. } => "corrupt_batch",
            Self::State { .. } => "state_corrupt",
            Self::Fenced { .. } => "fenced",
            Self::StateTopicUnfit { .. } => "state_topic_unfit",
            Self::SourceTopicMissing { .. } => "source_topic_missing",
            Self::PartitionMismatch { .. } => "partition_mismatch",
            Self::Plugin(_) => "plugin",
            Self::NotNamed { .. } => "not_named",
        }
    }
}
