//! Auto-create mirror topics (`auto.create.mirror.topics.enable`,
//! `auto.create.mirror.topics.filters`): the periodic scan of the source
//! cluster's topics that adds new matching topics to a link's pending set.
//!
//! # Rescan interval
//! The link's watcher scans once when the link starts and then every
//! `metadata.max.age.ms` ([`crate::config::LinkConfig::metadata_max_age`];
//! default 300000 ms = 5 min, Confluent's default for cluster links). A
//! scan lists every source topic (Metadata, all topics), reads the source
//! cluster's state topic if it has one, and describes the configs of each
//! candidate topic (DescribeConfigs) for the filter chain.
//!
//! # Never mirrored
//! - Internal topics: flagged internal by the broker, or named `__*`
//!   (`__consumer_offsets`, `__transaction_state`, ...), and the gateway's
//!   state topic.
//! - Mirror topics (loop prevention, [`excluded`]): a source topic that a
//!   link of this gateway writes as a mirror topic into the source cluster
//!   (the gateway-wide [`MirrorRegistry`]: cluster by Kafka cluster id,
//!   topic by topic id when known, else by name); a topic whose name starts
//!   with the `cluster.link.prefix` of a link of this gateway whose
//!   destination is the source cluster (Confluent's rule: a prefixed mirror
//!   is never auto-created again); and a topic recorded as a mirror topic
//!   (not stopped) in the source cluster's own state topic, which is how
//!   mirrors made by another linkgate gateway (using the same state topic
//!   name) are recognised. A stopped (promoted or failed-over) mirror is an
//!   ordinary topic again and may be mirrored.
//!
//! # Task status
//! Each scan replaces the `AutoCreateMirror` task errors of the link
//! ([`crate::mirror::status::LinkStatus::set_task_errors`]): none after a
//! clean scan; `SOURCE_UNAVAILABLE` when the source cannot be listed, a
//! topic's configs or the source's state topic cannot be read;
//! `PLUGIN_ERROR` when the topic filter chain cannot be built or fails on a
//! topic. A scan that cannot list the source, read its state topic or build
//! the filter chain adds nothing. A state topic the link's principal may
//! not read (`TOPIC_AUTHORIZATION_FAILED`) only skips that one check.

use std::collections::{BTreeMap, HashSet};

use crate::kafka::{ClusterClient, TopicInfo};
use crate::mirror::error::MirrorError;
use crate::mirror::link::LinkCtx;
use crate::mirror::metrics as m;
use crate::mirror::registry::{cluster_key, LinkEntry, MirrorEntry, MirrorRegistry};
use crate::mirror::state::{DesiredState, StateStore};

/// Name of the link task whose status the scan reports (Confluent's
/// `link task list`).
pub const TASK: &str = "AutoCreateMirror";
/// Task error code: the source cluster (or its state topic) could not be read.
pub const SOURCE_UNAVAILABLE: &str = "SOURCE_UNAVAILABLE";
/// Task error code: the topic filter plugin chain failed.
pub const PLUGIN_ERROR: &str = "PLUGIN_ERROR";
/// Kafka error code `TOPIC_AUTHORIZATION_FAILED` (29).
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;

/// Why auto-create never mirrors a source topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Excluded {
    /// Flagged internal by the broker, or named `__*`.
    Internal,
    /// The gateway's state topic.
    StateTopic,
    /// A mirror topic that link `link` of this gateway writes into the
    /// source cluster, whose data originates on this link's destination
    /// cluster (mirroring it would send it back).
    MirrorOfLink {
        /// The link owning the mirror topic.
        link: String,
    },
    /// A prefixed mirror: the name starts with `prefix`, the
    /// `cluster.link.prefix` of link `link`, whose destination is the
    /// source cluster.
    PrefixedMirror {
        /// The link with the prefix.
        link: String,
        /// Its prefix.
        prefix: String,
    },
    /// Recorded as a mirror topic of link `link` in the source cluster's
    /// own state topic (e.g. by another linkgate gateway), with this link's
    /// destination as its origin (or no origin recorded).
    RecordedMirror {
        /// The link named in the record.
        link: String,
    },
}

/// What the loop check knows about the source cluster of a link.
#[derive(Debug, Clone, Default)]
pub struct SourceView {
    /// The source cluster ([`cluster_key`]).
    pub cluster: String,
    /// The link's destination cluster ([`cluster_key`]): mirrors that
    /// originate there are never mirrored back.
    pub destination: String,
    /// The gateway's state topic name.
    pub state_topic: String,
    /// Every mirror topic of every link of this gateway.
    pub mirrors: Vec<MirrorEntry>,
    /// Every link of this gateway.
    pub links: Vec<LinkEntry>,
    /// Mirror topics recorded (not stopped) in the source cluster's state
    /// topic, mirror topic name -> (link name, origin cluster if recorded).
    pub recorded: BTreeMap<String, (String, Option<String>)>,
}

/// Whether auto-create must skip source topic `topic` (topic id `topic_id`
/// when the broker sent one, KIP-516; `internal` as flagged by Metadata),
/// and why; `None` when it may be mirrored. Checks in order: internal,
/// state topic, a registry mirror living on `view.cluster` (by id when
/// both ids are known, else by name; [`MirrorEntry::is`]), a prefix of a
/// link into `view.cluster`, a recorded mirror.
pub fn excluded(
    view: &SourceView,
    topic: &str,
    topic_id: Option<&str>,
    internal: bool,
) -> Option<Excluded> {
    if internal || topic.starts_with("__") {
        return Some(Excluded::Internal);
    }
    if topic == view.state_topic {
        return Some(Excluded::StateTopic);
    }
    if let Some(e) = view
        .mirrors
        .iter()
        .find(|e| e.is(&view.cluster, topic, topic_id) && e.origin_cluster == view.destination)
    {
        return Some(Excluded::MirrorOfLink {
            link: e.link.clone(),
        });
    }
    if let Some((l, p)) = view.links.iter().find_map(|l| {
        let p = l.prefix.as_deref().filter(|p| !p.is_empty())?;
        (l.destination_cluster == view.cluster && topic.starts_with(p)).then_some((l, p))
    }) {
        return Some(Excluded::PrefixedMirror {
            link: l.link.clone(),
            prefix: p.to_string(),
        });
    }
    view.recorded
        .get(topic)
        .filter(|(_, origin)| origin.as_ref().is_none_or(|o| *o == view.destination))
        .map(|(link, _)| Excluded::RecordedMirror { link: link.clone() })
}

/// Mirror topics (not stopped) recorded in the state topic `state_topic`
/// of cluster `client`, mirror topic name -> (link name, origin cluster);
/// empty when the
/// cluster has no state topic, or when the link's principal may not see it
/// (`TOPIC_AUTHORIZATION_FAILED`; the registry and prefix checks still
/// apply). Reads the whole (compacted) topic: one Metadata request when
/// there is none, else a fetch from its start to its high watermark.
///
/// # Errors
/// Any other failure reading the topic, as text (for the task status).
pub async fn recorded_mirrors(
    client: &std::sync::Arc<ClusterClient>,
    state_topic: &str,
) -> Result<BTreeMap<String, (String, Option<String>)>, String> {
    let not_authorized = |e: &MirrorError| {
        matches!(e, MirrorError::Kafka { source, .. }
            if source.error_code() == Some(TOPIC_AUTHORIZATION_FAILED))
    };
    let snapshot = match StateStore::open_existing(client.clone(), state_topic).await {
        Ok(None) => return Ok(BTreeMap::new()),
        Ok(Some(store)) => store.load().await,
        Err(e) => Err(e),
    };
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(e) if not_authorized(&e) => {
            tracing::debug!(cluster = %client.name(), error = %e,
                "source state topic not readable; mirrors of other gateways not checked");
            return Ok(BTreeMap::new());
        }
        Err(e) => return Err(format!("cannot read the source cluster's state topic: {e}")),
    };
    Ok(snapshot
        .mirror_topics
        .into_iter()
        .filter(|(_, rec)| rec.state != DesiredState::Stopped)
        .map(|((link, mirror), rec)| (mirror, (link, rec.origin_cluster)))
        .collect())
}

/// The loop check's view of `source` for a link into `destination` (its
/// [`cluster_key`]): the registry's mirrors and links and the source's
/// recorded mirrors.
///
/// # Errors
/// Reading the source's state topic failed (see [`recorded_mirrors`]).
pub async fn source_view(
    source: &std::sync::Arc<ClusterClient>,
    state_topic: &str,
    registry: &MirrorRegistry,
    destination: &str,
) -> Result<SourceView, String> {
    let recorded = recorded_mirrors(source, state_topic).await?;
    Ok(SourceView {
        cluster: cluster_key(source),
        destination: destination.to_string(),
        state_topic: state_topic.to_string(),
        mirrors: registry.entries(),
        links: registry.links(),
        recorded,
    })
}

/// The source topics a scan may offer to the filter chain: every topic of
/// `topics` not [`excluded`], not mirrored yet (`names`: source topic ->
/// mirror topic) and not pending. Logs each loop-prevention skip at debug.
pub fn candidates<'a>(
    link: &str,
    view: &SourceView,
    topics: &'a [TopicInfo],
    names: &BTreeMap<String, String>,
    pending: &[String],
) -> Vec<&'a TopicInfo> {
    let pending: HashSet<&str> = pending.iter().map(String::as_str).collect();
    topics
        .iter()
        .filter(|t| !names.contains_key(&t.name) && !pending.contains(t.name.as_str()))
        .filter(|t| {
            let id = (!t.topic_id.is_nil()).then(|| t.topic_id.to_string());
            match excluded(view, &t.name, id.as_deref(), t.is_internal) {
                None => true,
                Some(why) => {
                    if !matches!(why, Excluded::Internal | Excluded::StateTopic) {
                        tracing::debug!(link, topic = %t.name, reason = ?why,
                            "auto-create: source topic is a mirror topic; not mirrored");
                    }
                    false
                }
            }
        })
        .collect()
}

/// One auto-create scan (see the module doc): adds to `pending` every
/// source topic that is a [`candidates`] entry and passes the link's topic
/// filter chain (given its non-default configs), and sets the link's
/// `AutoCreateMirror` task errors. `registry` is the gateway-wide
/// registry; `names` maps source topics to mirror topics of this link.
pub(crate) async fn scan(
    ctx: &LinkCtx,
    registry: &MirrorRegistry,
    names: &BTreeMap<String, String>,
    pending: &mut Vec<String>,
) {
    let errors = scan_inner(ctx, registry, names, pending).await;
    for (code, message) in &errors {
        tracing::warn!(link = %ctx.name, code, "auto-create: {message}");
    }
    ctx.status.set_task_errors(TASK, errors);
}

async fn scan_inner(
    ctx: &LinkCtx,
    registry: &MirrorRegistry,
    names: &BTreeMap<String, String>,
    pending: &mut Vec<String>,
) -> Vec<(String, String)> {
    let unavailable = |msg: String| vec![(SOURCE_UNAVAILABLE.to_string(), msg)];
    let topics = match ctx.source.topics().await {
        Ok(t) => t,
        Err(e) => {
            m::add_error(&ctx.name, "source");
            return unavailable(format!("cannot list the source topics: {e}"));
        }
    };
    let view = match source_view(
        &ctx.source,
        &ctx.state_topic,
        registry,
        &cluster_key(&ctx.destination),
    )
    .await
    {
        Ok(v) => v,
        Err(msg) => {
            m::add_error(&ctx.name, "source");
            return unavailable(msg);
        }
    };
    let chains = match ctx.plugins.chains_for(&ctx.chain_names.load()) {
        Ok(c) => c,
        Err(e) => {
            m::add_error(&ctx.name, "plugin");
            return vec![(
                PLUGIN_ERROR.to_string(),
                format!("topic filter chain unavailable: {e}"),
            )];
        }
    };
    let mut errors = Vec::new();
    for t in candidates(&ctx.name, &view, &topics, names, pending) {
        let configs = match ctx.source.describe_topic_configs(&t.name).await {
            Ok(c) => c,
            Err(e) => {
                m::add_error(&ctx.name, "source");
                errors.push((
                    SOURCE_UNAVAILABLE.to_string(),
                    format!("cannot describe source topic `{}`: {e}", t.name),
                ));
                continue;
            }
        };
        let topic = crate::plugin::SourceTopic {
            name: t.name.clone(),
            partitions: u32::try_from(t.partitions.len()).unwrap_or(u32::MAX),
            configs,
            internal: t.is_internal,
        };
        match tokio::task::block_in_place(|| chains.mirror_topic(&topic)) {
            Ok(true) => {
                tracing::info!(link = %ctx.name, topic = %t.name, "auto-create: new mirror topic");
                pending.push(t.name.clone());
            }
            Ok(false) => {}
            Err(e) => {
                m::add_error(&ctx.name, "plugin");
                errors.push((
                    PLUGIN_ERROR.to_string(),
                    format!("topic filter failed on `{}`; not mirrored: {e}", t.name),
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(link: &str, on: &str, topic: &str, id: Option<&str>) -> MirrorEntry {
        MirrorEntry {
            link: link.into(),
            destination_cluster: on.into(),
            mirror_topic: topic.into(),
            mirror_topic_id: id.map(str::to_string),
            source_cluster: "other".into(),
            source_topic: topic.into(),
            origin_cluster: "A".into(),
        }
    }

    fn link(name: &str, from: &str, to: &str, prefix: Option<&str>) -> LinkEntry {
        LinkEntry {
            link: name.into(),
            source_cluster: from.into(),
            destination_cluster: to.into(),
            prefix: prefix.map(str::to_string),
        }
    }

    /// The view of link B->A's scan of cluster B, where link A->B (prefix
    /// `a.` or none) mirrors `orders` (id `id-1`).
    fn view_of_b(prefix: Option<&str>) -> SourceView {
        let mirror_name = format!("{}orders", prefix.unwrap_or(""));
        SourceView {
            cluster: "B".into(),
            destination: "A".into(),
            state_topic: "__linkgate_state".into(),
            mirrors: vec![mirror("ab", "B", &mirror_name, Some("id-1"))],
            links: vec![
                link("ab", "A", "B", prefix),
                link("ba", "B", "A", Some("b.")),
            ],
            recorded: BTreeMap::new(),
        }
    }

    #[test]
    fn internal_and_state_topics_are_never_mirrored() {
        let v = view_of_b(None);
        for t in ["__consumer_offsets", "__transaction_state", "__anything"] {
            assert_eq!(
                excluded(&v, t, None, false),
                Some(Excluded::Internal),
                "{t}"
            );
        }
        assert_eq!(excluded(&v, "x", None, true), Some(Excluded::Internal));
        let mut v = v;
        v.state_topic = "lg-state".into();
        assert_eq!(
            excluded(&v, "lg-state", None, false),
            Some(Excluded::StateTopic)
        );
        assert_eq!(excluded(&v, "payments", Some("id-9"), false), None);
    }

    #[test]
    fn registry_mirror_on_the_source_cluster_is_skipped_by_id_then_name() {
        let v = view_of_b(None);
        let ab = Some(Excluded::MirrorOfLink { link: "ab".into() });
        assert_eq!(excluded(&v, "orders", Some("id-1"), false), ab);
        assert_eq!(excluded(&v, "orders", None, false), ab, "no id: by name");
        assert_eq!(
            excluded(&v, "orders", Some("id-2"), false),
            None,
            "same name, other id: a new topic, not the mirror"
        );
        let mut on_a = v.clone();
        on_a.cluster = "A".into();
        assert_eq!(
            excluded(&on_a, "orders", Some("id-1"), false),
            None,
            "the mirror lives on B; A's topic of that name is a source"
        );
    }

    #[test]
    fn prefixed_mirror_is_skipped_even_unregistered() {
        let mut v = view_of_b(Some("a."));
        v.mirrors.clear(); // e.g. created but not registered yet
        assert_eq!(
            excluded(&v, "a.payments", Some("id-7"), false),
            Some(Excluded::PrefixedMirror {
                link: "ab".into(),
                prefix: "a.".into()
            })
        );
        assert_eq!(excluded(&v, "payments", Some("id-7"), false), None);
        // `b.` is the prefix of B->A, whose destination is A, not B.
        assert_eq!(excluded(&v, "b.payments", Some("id-8"), false), None);
        let mut on_a = v.clone();
        on_a.cluster = "A".into();
        assert_eq!(
            excluded(&on_a, "b.payments", None, false),
            Some(Excluded::PrefixedMirror {
                link: "ba".into(),
                prefix: "b.".into()
            })
        );
        assert_eq!(excluded(&on_a, "a.payments", None, false), None);
    }

    #[test]
    fn empty_prefix_excludes_nothing() {
        let mut v = view_of_b(Some(""));
        v.mirrors.clear();
        assert_eq!(excluded(&v, "orders", None, false), None);
    }

    #[test]
    fn recorded_mirror_of_another_gateway_is_skipped() {
        let mut v = view_of_b(None);
        v.mirrors.clear();
        v.recorded
            .insert("inventory".into(), ("far-link".into(), None));
        v.recorded
            .insert("stock".into(), ("far-link".into(), Some("A".into())));
        v.recorded
            .insert("chained".into(), ("far-link".into(), Some("C".into())));
        let far = Some(Excluded::RecordedMirror {
            link: "far-link".into(),
        });
        assert_eq!(
            excluded(&v, "inventory", Some("id-3"), false),
            far,
            "no origin recorded: skipped"
        );
        assert_eq!(
            excluded(&v, "stock", None, false),
            far,
            "originates on our destination"
        );
        assert_eq!(
            excluded(&v, "chained", None, false),
            None,
            "originates elsewhere: may go on"
        );
    }

    #[test]
    fn a_mirror_goes_on_along_a_chain_but_never_back_to_its_origin() {
        let mut v = view_of_b(None);
        // B->C scanning B: `orders` on B originates on A, so it may go to C.
        v.destination = "C".into();
        assert_eq!(excluded(&v, "orders", Some("id-1"), false), None);
        // C->A scanning C: a mirror on C that originates on A never goes back.
        let mut on_c = view_of_b(None);
        on_c.cluster = "C".into();
        on_c.mirrors = vec![MirrorEntry {
            destination_cluster: "C".into(),
            source_cluster: "B".into(),
            ..mirror("bc", "C", "orders", Some("id-5"))
        }];
        assert_eq!(
            excluded(&on_c, "orders", Some("id-5"), false),
            Some(Excluded::MirrorOfLink { link: "bc".into() })
        );
    }

    #[test]
    fn candidates_drop_mirrored_pending_and_excluded() {
        let v = view_of_b(None);
        let info = |name: &str, internal: bool| TopicInfo {
            name: name.into(),
            topic_id: uuid::Uuid::nil(),
            is_internal: internal,
            partitions: vec![],
        };
        let topics = vec![
            info("__consumer_offsets", true),
            info("already", false),
            info("orders", false),
            info("queued", false),
            info("fresh", false),
        ];
        let names = BTreeMap::from([("already".to_string(), "already".to_string())]);
        let got: Vec<&str> = candidates("ba", &v, &topics, &names, &["queued".to_string()])
            .into_iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(got, ["fresh"]);
    }
}

#[cfg(test)]
mod broker_tests;
