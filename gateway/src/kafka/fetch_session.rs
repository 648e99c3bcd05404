//! The client side of one incremental Fetch session with one broker
//! (KIP-227, Fetch v7+), as Apache Kafka's `FetchSessionHandler` keeps it:
//! the session id and epoch of the next request, and the partitions the
//! broker's session holds with the fetch parameters last sent for them.
//!
//! A full request with epoch 0 asks for a session. A broker that grants one
//! answers its id; the requests after it are incremental: epoch + 1 each
//! time, carrying only the partitions added or whose fetch parameters changed
//! since the request before, and `forgotten_topics_data` for the partitions
//! removed. The broker then answers only partitions with data or changes (a
//! new high watermark or log start offset, an error); a partition absent from
//! the answer keeps its position, which the broker holds from the last
//! request that carried it.
//!
//! A broker that answers session id 0 grants no session (it does not
//! support them, or its session cache is full): full sessionless requests
//! (epoch -1) follow, and a session is asked for again after
//! [`SESSIONLESS_RETRY`], or on a new connection ([`FetchSession::reset`]).
//! A top-level error, a failed request or an answer outside the session
//! resets the session: the next request is full again, with epoch 0.
//!
//! Pure protocol state: no I/O; the caller gives the time.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;

use crate::kafka::wire::{FetchTarget, ForgottenPartition, FETCH_BY_NAME_MAX_VERSION};

/// Session id of no session (KIP-227 `INVALID_SESSION_ID`).
pub const INVALID_SESSION_ID: i32 = 0;
/// Epoch of a full request that asks for a new session (`INITIAL_EPOCH`).
pub const INITIAL_EPOCH: i32 = 0;
/// Epoch of a full request that asks for no session (`FINAL_EPOCH`).
pub const FINAL_EPOCH: i32 = -1;
/// Lowest Fetch version with session fields (v7, KIP-227).
pub const MIN_VERSION: i16 = 7;
/// How long a connection whose broker granted no session fetches without
/// one before it asks again (a broker whose session cache was full may have
/// room by then).
pub const SESSIONLESS_RETRY: Duration = Duration::from_secs(600);

const SESSION_ID_NOT_FOUND: i16 = ResponseError::FetchSessionIdNotFound.code();

/// The epoch after `epoch` (Kafka's `FetchMetadata.nextEpoch`): +1, from
/// `i32::MAX` back to 1 (0 is only ever the epoch of a full request), and
/// -1 stays -1.
pub fn next_epoch(epoch: i32) -> i32 {
    match epoch {
        e if e < 0 => FINAL_EPOCH,
        i32::MAX => 1,
        e => e + 1,
    }
}

/// What kind of Fetch request a [`FetchPlan`] is (metric label
/// [`FetchKind::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    /// Full, no session asked for (epoch -1).
    Sessionless,
    /// Full, asking for a new session (epoch 0).
    Full,
    /// Incremental, in a session the broker granted (epoch >= 1).
    Incremental,
}

impl FetchKind {
    /// `"sessionless"`, `"full"` or `"incremental"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sessionless => "sessionless",
            Self::Full => "full",
            Self::Incremental => "incremental",
        }
    }
}

/// The session fields and partitions of the next Fetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPlan {
    /// Request `session_id`.
    pub session_id: i32,
    /// Request `session_epoch`.
    pub epoch: i32,
    /// Full, sessionless or incremental.
    pub kind: FetchKind,
    /// Indices into the targets given to [`FetchSession::plan`] of the
    /// partitions the request carries, in target order: all of them unless
    /// the request is incremental.
    pub send: Vec<usize>,
    /// Request `forgotten_topics_data` (incremental requests only).
    pub forget: Vec<ForgottenPartition>,
}

/// What the broker's answer did to the session ([`FetchSession::answered`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// The answer holds every partition of the request (full request).
    Full,
    /// The answer holds only partitions with data or changes; the others
    /// of the session keep their position (incremental request).
    Incremental,
    /// The session was refused or lost (`FETCH_SESSION_ID_NOT_FOUND`,
    /// `INVALID_FETCH_SESSION_EPOCH`, `FETCH_SESSION_TOPIC_ID_ERROR`, another
    /// session id): nothing in the answer is used, the next request is full.
    SessionLost,
    /// Another top-level error (the code): the next request is full.
    Error(i16),
}

/// Fetch parameters last sent for one partition of the session (Kafka's
/// `FetchRequest.PartitionData` equality; log start offset is always -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    topic_id: uuid::Uuid,
    offset: i64,
    max_bytes: i32,
    current_leader_epoch: i32,
    last_fetched_epoch: i32,
}

impl From<&FetchTarget> for Sent {
    fn from(t: &FetchTarget) -> Self {
        Self {
            topic_id: t.topic_id,
            offset: t.offset,
            max_bytes: t.max_bytes,
            current_leader_epoch: t.current_leader_epoch,
            last_fetched_epoch: t.last_fetched_epoch,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Next request full with epoch 0; `close`: the session id it ends (0:
    /// none).
    Open { close: i32 },
    /// The broker granted no session: full sessionless requests until
    /// `retry_at`.
    Sessionless { retry_at: Instant },
    /// In session `id`; `epoch` of the next request.
    Incremental { id: i32, epoch: i32 },
}

/// The session with one broker: see the module doc. One request at a time:
/// [`FetchSession::plan`], then [`FetchSession::answered`] or
/// [`FetchSession::failed`].
#[derive(Debug, Clone)]
pub struct FetchSession {
    mode: Mode,
    /// The request in flight, as planned (session id, epoch, kind).
    in_flight: Option<(i32, i32, FetchKind)>,
    /// Partitions of the broker's session by topic name and partition, as
    /// last sent. Empty outside a session.
    partitions: HashMap<String, HashMap<i32, Sent>>,
    /// Whether the session addresses topics by id (created at v13+).
    by_id: bool,
}

impl Default for FetchSession {
    fn default() -> Self {
        Self::new()
    }
}

impl FetchSession {
    /// No session yet: the first request asks for one.
    pub fn new() -> Self {
        Self {
            mode: Mode::Open {
                close: INVALID_SESSION_ID,
            },
            in_flight: None,
            partitions: HashMap::new(),
            by_id: false,
        }
    }

    /// The session id in use (`None`: no session).
    pub fn session_id(&self) -> Option<i32> {
        match self.mode {
            Mode::Incremental { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether the broker holds the partition in the session, as far as
    /// this side knows (false outside a session).
    #[cfg(test)]
    pub fn holds(&self, topic: &str, partition: i32) -> bool {
        self.partitions
            .get(topic)
            .is_some_and(|p| p.contains_key(&partition))
    }

    /// Forgets the session (a new connection): the next request is full and
    /// asks for a session, ending the old one if there was one.
    pub fn reset(&mut self) {
        self.close();
    }

    /// Plans the next request for `targets` (every partition to fetch from
    /// the broker now, each once) at Fetch `version`, and takes it as sent:
    /// the session then holds exactly `targets`.
    ///
    /// Below v7 every request is sessionless. A session created at another
    /// topic addressing (by name up to v12, by id from v13) is closed and a
    /// new one asked for.
    pub fn plan(&mut self, targets: &[FetchTarget], version: i16, now: Instant) -> FetchPlan {
        let by_id = version > FETCH_BY_NAME_MAX_VERSION;
        if version < MIN_VERSION {
            return self.full(targets, INVALID_SESSION_ID, FINAL_EPOCH, false);
        }
        match self.mode {
            Mode::Sessionless { retry_at } if now < retry_at => {
                self.full(targets, INVALID_SESSION_ID, FINAL_EPOCH, by_id)
            }
            Mode::Sessionless { .. } => {
                self.full(targets, INVALID_SESSION_ID, INITIAL_EPOCH, by_id)
            }
            Mode::Open { close } => self.full(targets, close, INITIAL_EPOCH, by_id),
            Mode::Incremental { id, .. } if by_id != self.by_id => {
                self.full(targets, id, INITIAL_EPOCH, by_id)
            }
            Mode::Incremental { id, epoch } => self.incremental(targets, id, epoch),
        }
    }

    fn full(&mut self, targets: &[FetchTarget], id: i32, epoch: i32, by_id: bool) -> FetchPlan {
        let kind = if epoch == FINAL_EPOCH {
            FetchKind::Sessionless
        } else {
            FetchKind::Full
        };
        self.partitions.clear();
        if kind == FetchKind::Full {
            for t in targets {
                self.partitions
                    .entry(t.topic.clone())
                    .or_default()
                    .insert(t.partition, Sent::from(t));
            }
        }
        self.by_id = by_id;
        self.in_flight = Some((id, epoch, kind));
        FetchPlan {
            session_id: id,
            epoch,
            kind,
            send: (0..targets.len()).collect(),
            forget: Vec::new(),
        }
    }

    fn incremental(&mut self, targets: &[FetchTarget], id: i32, epoch: i32) -> FetchPlan {
        let wanted: HashSet<(&str, i32)> = targets
            .iter()
            .map(|t| (t.topic.as_str(), t.partition))
            .collect();
        let mut forget = Vec::new();
        let by_id = self.by_id;
        self.partitions.retain(|topic, parts| {
            parts.retain(|partition, sent| {
                let keep = wanted.contains(&(topic.as_str(), *partition));
                if !keep {
                    forget.push(ForgottenPartition {
                        topic: topic.clone(),
                        topic_id: sent.topic_id,
                        partition: *partition,
                    });
                }
                keep
            });
            !parts.is_empty()
        });
        let mut send = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let next = Sent::from(t);
            // No allocation for a topic already in the session.
            if !self.partitions.contains_key(t.topic.as_str()) {
                self.partitions.insert(t.topic.clone(), HashMap::new());
            }
            let Some(parts) = self.partitions.get_mut(t.topic.as_str()) else {
                continue;
            };
            match parts.insert(t.partition, next) {
                Some(prev) if prev == next => {}
                Some(prev) => {
                    // Another topic id under the same name (v13+): the old
                    // partition leaves the session, the new one joins it.
                    if by_id
                        && prev.topic_id != next.topic_id
                        && !prev.topic_id.is_nil()
                        && !next.topic_id.is_nil()
                    {
                        forget.push(ForgottenPartition {
                            topic: t.topic.clone(),
                            topic_id: prev.topic_id,
                            partition: t.partition,
                        });
                    }
                    send.push(i);
                }
                None => send.push(i),
            }
        }
        self.in_flight = Some((id, epoch, FetchKind::Incremental));
        FetchPlan {
            session_id: id,
            epoch,
            kind: FetchKind::Incremental,
            send,
            forget,
        }
    }

    /// Takes the broker's answer to the planned request: its top-level
    /// `error_code` and `session_id`.
    pub fn answered(&mut self, error_code: i16, session_id: i32, now: Instant) -> Answered {
        let Some((id, epoch, kind)) = self.in_flight.take() else {
            // No request planned: nothing in the answer can be trusted.
            self.close();
            return Answered::SessionLost;
        };
        if error_code != 0 {
            let lost = [
                SESSION_ID_NOT_FOUND,
                ResponseError::InvalidFetchSessionEpoch.code(),
                ResponseError::FetchSessionTopicIdError.code(),
            ]
            .contains(&error_code);
            if kind == FetchKind::Sessionless {
                // No session to lose; sessionless requests go on.
                return if lost {
                    Answered::SessionLost
                } else {
                    Answered::Error(error_code)
                };
            }
            if error_code == SESSION_ID_NOT_FOUND {
                self.open(INVALID_SESSION_ID);
            } else {
                self.open(id);
            }
            return if lost {
                Answered::SessionLost
            } else {
                Answered::Error(error_code)
            };
        }
        match kind {
            FetchKind::Sessionless => Answered::Full,
            FetchKind::Full if session_id == INVALID_SESSION_ID => {
                self.partitions.clear();
                self.mode = Mode::Sessionless {
                    retry_at: now + SESSIONLESS_RETRY,
                };
                Answered::Full
            }
            FetchKind::Full => {
                self.mode = Mode::Incremental {
                    id: session_id,
                    epoch: next_epoch(INITIAL_EPOCH),
                };
                Answered::Full
            }
            // The broker closed the session; this answer is still whole
            // for the partitions it carries.
            FetchKind::Incremental if session_id == INVALID_SESSION_ID => {
                self.open(INVALID_SESSION_ID);
                Answered::Incremental
            }
            FetchKind::Incremental if session_id != id => {
                self.open(id);
                Answered::SessionLost
            }
            FetchKind::Incremental => {
                self.mode = Mode::Incremental {
                    id,
                    epoch: next_epoch(epoch),
                };
                Answered::Incremental
            }
        }
    }

    /// The planned request got no answer (transport error, timeout) or an
    /// answer that cannot be used (a partition outside the session): the
    /// broker's view of the session is unknown, the next request is full.
    pub fn failed(&mut self) {
        let planned = self.in_flight.take();
        if matches!(planned, Some((_, _, FetchKind::Sessionless))) {
            return;
        }
        self.close();
    }

    /// Next request full with epoch 0, ending the current session if any.
    fn close(&mut self) {
        self.in_flight = None;
        let close = match self.mode {
            Mode::Incremental { id, .. } => id,
            Mode::Open { close } => close,
            Mode::Sessionless { .. } => INVALID_SESSION_ID,
        };
        self.open(close);
    }

    fn open(&mut self, close: i32) {
        self.mode = Mode::Open { close };
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(topic: &str, partition: i32, offset: i64) -> FetchTarget {
        FetchTarget {
            topic: topic.to_string(),
            topic_id: uuid::Uuid::from_u128(topic.len() as u128),
            partition,
            offset,
            max_bytes: 1024,
            current_leader_epoch: 3,
            last_fetched_epoch: -1,
        }
    }

    /// A session granted with id 42 on a full request for `targets`.
    fn granted(targets: &[FetchTarget], now: Instant) -> FetchSession {
        let mut s = FetchSession::new();
        let plan = s.plan(targets, 16, now);
        assert_eq!(
            (plan.session_id, plan.epoch, plan.kind),
            (0, 0, FetchKind::Full)
        );
        assert_eq!(s.answered(0, 42, now), Answered::Full);
        assert_eq!(s.session_id(), Some(42));
        s
    }

    #[test]
    fn epochs_wrap_past_max_to_one_and_final_stays() {
        assert_eq!(next_epoch(0), 1);
        assert_eq!(next_epoch(7), 8);
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(-1), -1);
    }

    #[test]
    fn incremental_carries_only_changed_and_added_partitions() {
        let now = Instant::now();
        let mut targets = vec![target("a", 0, 10), target("a", 1, 20), target("bb", 0, 5)];
        let mut s = granted(&targets, now);

        // Nothing changed: an empty incremental request, epoch 1.
        let plan = s.plan(&targets, 16, now);
        assert_eq!(
            (plan.session_id, plan.epoch, plan.kind),
            (42, 1, FetchKind::Incremental)
        );
        assert!(plan.send.is_empty() && plan.forget.is_empty(), "{plan:?}");
        assert_eq!(s.answered(0, 42, now), Answered::Incremental);

        // Position of a/1 moved, bb/0 grew its fetch size, c/3 added.
        targets[1].offset = 25;
        targets[2].max_bytes = 4096;
        targets.push(target("ccc", 3, 0));
        let plan = s.plan(&targets, 16, now);
        assert_eq!(plan.epoch, 2);
        assert_eq!(plan.send, vec![1, 2, 3]);
        assert!(plan.forget.is_empty());
        assert_eq!(s.answered(0, 42, now), Answered::Incremental);

        // Leader epoch and last fetched epoch count as changes too.
        targets[0].current_leader_epoch = 4;
        targets[3].last_fetched_epoch = 2;
        let plan = s.plan(&targets, 16, now);
        assert_eq!(plan.send, vec![0, 3]);
        assert_eq!(s.answered(0, 42, now), Answered::Incremental);
        assert!(s.holds("a", 1) && s.holds("ccc", 3) && !s.holds("a", 2));
    }

    #[test]
    fn removed_partitions_are_forgotten_once() {
        let now = Instant::now();
        let targets = vec![target("a", 0, 10), target("a", 1, 20), target("bb", 0, 5)];
        let mut s = granted(&targets, now);
        // a/1 paused, bb/0 moved to another leader.
        let plan = s.plan(&targets[..1], 16, now);
        assert!(plan.send.is_empty());
        let mut forget = plan.forget.clone();
        forget.sort_by(|x, y| (&x.topic, x.partition).cmp(&(&y.topic, y.partition)));
        assert_eq!(
            forget,
            vec![
                ForgottenPartition {
                    topic: "a".into(),
                    topic_id: targets[1].topic_id,
                    partition: 1
                },
                ForgottenPartition {
                    topic: "bb".into(),
                    topic_id: targets[2].topic_id,
                    partition: 0
                },
            ]
        );
        assert_eq!(s.answered(0, 42, now), Answered::Incremental);
        assert!(!s.holds("a", 1) && !s.holds("bb", 0));
        let plan = s.plan(&targets[..1], 16, now);
        assert!(plan.forget.is_empty() && plan.send.is_empty());
        // Back again: added, at the position it has now.
        let plan = s.plan(&targets, 16, now);
        assert_eq!(plan.send, vec![1, 2]);
    }

    #[test]
    fn a_new_topic_id_under_the_same_name_replaces_the_partition() {
        let now = Instant::now();
        let mut targets = vec![target("a", 0, 10)];
        let mut s = granted(&targets, now);
        let old = targets[0].topic_id;
        targets[0].topic_id = uuid::Uuid::from_u128(99);
        let plan = s.plan(&targets, 16, now);
        assert_eq!(plan.send, vec![0]);
        assert_eq!(
            plan.forget,
            vec![ForgottenPartition {
                topic: "a".into(),
                topic_id: old,
                partition: 0
            }]
        );
    }

    #[test]
    fn a_position_set_back_to_what_was_sent_needs_no_resend() {
        // The broker holds the position of the last request that carried
        // the partition: a rewind to it is already what the broker fetches
        // from; a rewind anywhere else is sent.
        let now = Instant::now();
        let mut targets = vec![target("a", 0, 10)];
        let mut s = granted(&targets, now);
        targets[0].offset = 15; // data 10..15 fetched
        assert_eq!(s.plan(&targets, 16, now).send, vec![0]);
        s.answered(0, 42, now);
        targets[0].offset = 15; // rewound to the position sent
        assert!(s.plan(&targets, 16, now).send.is_empty());
        s.answered(0, 42, now);
        targets[0].offset = 12; // rewound below it
        assert_eq!(s.plan(&targets, 16, now).send, vec![0]);
    }

    #[test]
    fn session_errors_reset_to_a_full_request() {
        let now = Instant::now();
        let targets = vec![target("a", 0, 10), target("a", 1, 20)];
        for (code, close) in [(70, 0), (71, 42), (106, 42)] {
            let mut s = granted(&targets, now);
            s.plan(&targets, 16, now);
            assert_eq!(
                s.answered(code, 0, now),
                Answered::SessionLost,
                "code {code}"
            );
            assert_eq!(s.session_id(), None);
            let plan = s.plan(&targets, 16, now);
            assert_eq!(
                (plan.session_id, plan.epoch, plan.kind),
                (close, 0, FetchKind::Full),
                "code {code}"
            );
            assert_eq!(plan.send, vec![0, 1]);
        }
        // Another top-level error: reported, and the next request is full.
        let mut s = granted(&targets, now);
        s.plan(&targets, 16, now);
        assert_eq!(s.answered(6, 0, now), Answered::Error(6));
        let plan = s.plan(&targets, 16, now);
        assert_eq!((plan.session_id, plan.epoch), (42, 0));
    }

    #[test]
    fn failures_reconnects_and_foreign_session_ids_reset() {
        let now = Instant::now();
        let targets = vec![target("a", 0, 10)];
        let mut s = granted(&targets, now);
        s.plan(&targets, 16, now);
        s.failed();
        let plan = s.plan(&targets, 16, now);
        assert_eq!(
            (plan.session_id, plan.epoch, plan.kind),
            (42, 0, FetchKind::Full)
        );

        let mut s = granted(&targets, now);
        s.reset();
        assert!(!s.holds("a", 0));
        assert_eq!(s.plan(&targets, 16, now).kind, FetchKind::Full);

        let mut s = granted(&targets, now);
        s.plan(&targets, 16, now);
        assert_eq!(s.answered(0, 43, now), Answered::SessionLost);
        assert_eq!(s.plan(&targets, 16, now).epoch, 0);

        // The broker ends the session in an incremental answer: the answer
        // stands, the next request asks for a new one.
        let mut s = granted(&targets, now);
        s.plan(&targets, 16, now);
        assert_eq!(s.answered(0, 0, now), Answered::Incremental);
        let plan = s.plan(&targets, 16, now);
        assert_eq!(
            (plan.session_id, plan.epoch, plan.kind),
            (0, 0, FetchKind::Full)
        );

        // An answer without a request.
        let mut s = granted(&targets, now);
        assert_eq!(s.answered(0, 42, now), Answered::SessionLost);
        assert_eq!(s.plan(&targets, 16, now).epoch, 0);
    }

    #[test]
    fn epoch_wraps_inside_a_session() {
        let now = Instant::now();
        let targets = vec![target("a", 0, 10)];
        let mut s = granted(&targets, now);
        s.mode = Mode::Incremental {
            id: 42,
            epoch: i32::MAX,
        };
        assert_eq!(s.plan(&targets, 16, now).epoch, i32::MAX);
        s.answered(0, 42, now);
        assert_eq!(s.plan(&targets, 16, now).epoch, 1);
    }

    #[test]
    fn a_broker_granting_no_session_gets_sessionless_requests_until_the_retry() {
        let now = Instant::now();
        let targets = vec![target("a", 0, 10)];
        let mut s = FetchSession::new();
        assert_eq!(s.plan(&targets, 16, now).kind, FetchKind::Full);
        assert_eq!(s.answered(0, 0, now), Answered::Full);
        for i in 1..5 {
            let at = now + Duration::from_secs(i);
            let plan = s.plan(&targets, 16, at);
            assert_eq!(
                (plan.session_id, plan.epoch, plan.kind),
                (0, -1, FetchKind::Sessionless)
            );
            assert_eq!(plan.send, vec![0]);
            assert!(!s.holds("a", 0));
            // A top-level error changes nothing here.
            assert_eq!(
                s.answered(if i == 2 { 6 } else { 0 }, 0, at),
                if i == 2 {
                    Answered::Error(6)
                } else {
                    Answered::Full
                }
            );
        }
        let plan = s.plan(&targets, 16, now + SESSIONLESS_RETRY);
        assert_eq!(
            (plan.session_id, plan.epoch, plan.kind),
            (0, 0, FetchKind::Full)
        );
        s.answered(0, 7, now + SESSIONLESS_RETRY);
        assert_eq!(s.session_id(), Some(7));
        // A reconnect asks again at once.
        let mut s = FetchSession::new();
        s.plan(&targets, 16, now);
        s.answered(0, 0, now);
        s.reset();
        assert_eq!(s.plan(&targets, 16, now).epoch, 0);
    }

    #[test]
    fn versions_without_sessions_and_addressing_changes() {
        let now = Instant::now();
        let targets = vec![target("a", 0, 10)];
        let mut s = FetchSession::new();
        let plan = s.plan(&targets, 6, now);
        assert_eq!(
            (plan.session_id, plan.epoch, plan.kind),
            (0, -1, FetchKind::Sessionless)
        );
        assert_eq!(s.answered(0, 0, now), Answered::Full);
        // By id (v16) session, then a request by name (v12): a new session.
        let mut s = granted(&targets, now);
        let plan = s.plan(&targets, 12, now);
        assert_eq!(
            (plan.session_id, plan.epoch, plan.kind),
            (42, 0, FetchKind::Full)
        );
    }
}
