//! Setting up a mirror topic and recovering each of its partitions from its
//! checkpoint and the destination log: create the mirror topic if absent,
//! decide per partition (resume, fresh start, failed), verify the landed
//! batches, record a new partition's start.

use super::*;

/// When a set-up partition entered [`running_state`]: the recorded pause
/// time of a paused mirror, else now.
pub(super) fn running_since(config: &LinkConfig, record: Option<&MirrorTopicRecord>) -> SystemTime {
    match record {
        Some(r) if !config.paused && r.state == DesiredState::Paused => time_of_ms(r.state_time_ms),
        _ => SystemTime::now(),
    }
}

/// The state a set-up partition starts in: `PAUSED` when its mirror or the
/// link is paused, else `ACTIVE`.
pub(super) fn running_state(
    config: &LinkConfig,
    record: Option<&MirrorTopicRecord>,
) -> PartitionState {
    if config.paused || record.is_some_and(|r| r.state == DesiredState::Paused) {
        PartitionState::Paused
    } else {
        PartitionState::Active
    }
}

/// Names the mirror topic of a source topic, creates it on the destination
/// if absent (source topic configs with the record's overrides, the
/// record's replication factor), protects it with DENY WRITE ACLs when the
/// link asks for it, registers it and recovers every partition. A stopped
/// mirror is never set up.
///
/// `only`: recover just these partitions again (resuming failed ones), even
/// when the topic is set up; the others are left as they run.
pub(super) async fn setup_topic(
    ctx: &Arc<LinkCtx>,
    topics: &mut Topics,
    source: &str,
    only: Option<&BTreeSet<i32>>,
) -> Result<(), MirrorError> {
    let src = |e| MirrorError::kafka(Side::Source, e);
    let dst = |e| MirrorError::kafka(Side::Destination, e);
    if let Some(mirror) = topics.names.get(source).filter(|_| only.is_none()) {
        if topics
            .records
            .get(mirror)
            .is_some_and(|r| r.state == DesiredState::Stopped)
        {
            return Ok(());
        }
        // Set up already (every partition past PENDING): recovering it
        // again from the start-up snapshot would misread its progress.
        let status = ctx.status.lock();
        let slots = ctx.slots();
        let mut parts = slots.keys().filter(|k| k.0 == *mirror).peekable();
        if parts.peek().is_some()
            && parts.all(|k| {
                status
                    .get(k)
                    .is_some_and(|s| s.state != PartitionState::Pending)
            })
        {
            return Ok(());
        }
    }
    let config = topics.config.clone();
    let snapshot = topics.snapshot.clone();
    let info = ctx
        .source
        .topic(source)
        .await
        .map_err(src)?
        .ok_or_else(|| MirrorError::SourceTopicMissing {
            topic: source.to_string(),
        })?;
    let topic_id = info.topic_id.to_string();
    let mirror = mirror_name(ctx, topics, source, &topic_id).await?;
    ctx.status.set_source_topic(&mirror, source);
    let topic = mirror.as_str();
    let record = topics.records.get(topic).cloned();
    ctx.status.set_mirror_overrides(
        topic,
        record
            .as_ref()
            .map(|r| r.configs.clone())
            .unwrap_or_default(),
    );
    let partitions = info.partitions.len();
    let dest_info = match ctx.destination.topic(topic).await.map_err(dst)? {
        Some(d) => d,
        None => {
            let source_configs = ctx
                .source
                .describe_topic_configs(source)
                .await
                .map_err(src)?;
            if source_configs.is_empty() {
                tracing::info!(link = %ctx.name, topic,
                    "source DescribeConfigs returned no topic configs; creating the mirror topic with destination defaults");
            }
            let overrides = record.as_ref().map(|r| r.configs.as_slice()).unwrap_or(&[]);
            let configs = merge_configs(&source_configs, overrides);
            let rf = record
                .as_ref()
                .and_then(|r| r.replication_factor)
                .unwrap_or(-1);
            ctx.destination
                .create_topic(topic, partitions as i32, rf, &configs)
                .await
                .map_err(dst)?;
            tracing::info!(link = %ctx.name, topic, source, partitions, configs = configs.len(), "created mirror topic");
            wait_for_topic(&ctx.destination, topic, partitions)
                .await
                .map_err(dst)?
        }
    };
    if dest_info.partitions.len() < partitions {
        return Err(MirrorError::PartitionMismatch {
            topic: topic.to_string(),
            destination: dest_info.partitions.len(),
            source_partitions: partitions,
        });
    }
    lifecycle::protect(ctx, &config, topic).await.map_err(dst)?;
    topics.register(ctx, topic, dest_info.topic_id, source);
    let tps: Vec<(String, i32)> = info
        .partitions
        .iter()
        .map(|p| (topic.to_string(), p.partition))
        .collect();
    let leo = ctx
        .destination
        .list_offsets(&tps, OffsetSpec::Latest)
        .await
        .map_err(dst)?;
    let running_at = running_since(&config, record.as_ref());
    let running = running_state(&config, record.as_ref());
    let mut tombstones = Vec::new();
    let mut fresh = Vec::new();
    for (t, p) in &tps {
        if only.is_some_and(|o| !o.contains(p)) {
            continue;
        }
        let key: PartitionKey = (t.clone(), *p);
        let id = ctx.id(&key);
        let dest_leo = leo.get(&key).copied().unwrap_or(0);
        let map = snapshot.maps.get(&id).cloned().unwrap_or_default();
        let cp = snapshot.checkpoints.get(&id);
        let mut outcome = match snapshot.failures.get(&id) {
            Some(f) => Recovery::Failed(f.cause.clone()),
            None => recover(cp, dest_leo, &topic_id),
        };
        if let (Recovery::Resume { .. }, Some(cp)) = (&outcome, cp) {
            if let Err(cause) = verify::round_on_destination(&ctx.destination, &key, cp, dest_leo)
                .await
                .map_err(dst)?
            {
                outcome = Recovery::Failed(cause);
            }
        }
        let mut slot = Slot::new(source, &topic_id, 0, dest_leo);
        // Data fetched for an earlier slot of the partition is stale.
        slot.generation = ctx.slots().get(&key).map_or(0, |s| s.generation + 1);
        slot.checkpoint = cp.cloned();
        let state = match outcome {
            Recovery::Resume { fetch_offset } => {
                slot.fetch_offset = fetch_offset;
                slot.source_next = fetch_offset;
                slot.resume = cp.and_then(|cp| unfinished_round(cp, dest_leo));
                slot.last_fetched_epoch = cp.map_or(-1, |cp| cp.source_leader_epoch);
                // Recovered by the instance that wrote the checkpoint (a
                // resume): its sequence goes on from the boundary.
                if let Some(cp) = cp.filter(|cp| {
                    (cp.producer_id, cp.producer_epoch) == (ctx.producer.id, ctx.producer.epoch)
                }) {
                    slot.sequence = cp.boundary_at(dest_leo).map_or(0, |i| cp.sequence_at(i));
                }
                let mut map = map;
                let mut singles = snapshot.singles.get(&id).cloned().unwrap_or_default();
                let unlanded: Vec<(i64, i64)> =
                    map.segments().filter(|(_, d)| *d >= dest_leo).collect();
                for (s, d) in unlanded {
                    tombstones.push(StateEntry::segment(&id, s, d, true));
                    map.remove(s);
                    singles.remove(&s);
                }
                slot.last_segment = map.segments().last();
                slot.map = map;
                slot.singles = singles;
                slot.rollup = snapshot.rollups.get(&id).copied();
                slot.stale_chunks = snapshot.stale_chunks.get(&id).cloned().unwrap_or_default();
                tracing::info!(link = %ctx.name, topic = %t, partition = p, fetch_offset,
                    destination_log_end_offset = dest_leo, resend = slot.resume.is_some(),
                    "resuming mirror partition from checkpoint");
                running.clone()
            }
            Recovery::Fresh => {
                fresh.push(key.clone());
                PartitionState::Pending
            }
            Recovery::Failed(cause) => PartitionState::Failed(cause),
        };
        ctx.slots().insert(key.clone(), slot.clone());
        ctx.status.lock().insert(
            key.clone(),
            PartitionStatus {
                state: PartitionState::Pending,
                state_time: SystemTime::now(),
                next_fetch_offset: slot.fetch_offset,
                last_fetch_high_watermark: -1,
                last_fetch_time: None,
                destination_log_end_offset: dest_leo,
            },
        );
        m::set_state(&ctx.name, t, *p, &PartitionState::Pending);
        match state {
            PartitionState::Pending => {}
            PartitionState::Failed(cause) => match snapshot.failures.get(&id) {
                // Recorded earlier: keep its time, do not record it again.
                Some(f) => {
                    ctx.set_state_at(&key, PartitionState::Failed(cause), time_of_ms(f.time_ms))
                }
                None => ctx.fail(&key, cause),
            },
            state => ctx.set_state_at(&key, state, running_at),
        }
    }
    if !fresh.is_empty() {
        // A partition the source topic gained after its mirror began (other
        // partitions of the mirror have checkpoints or are running) is
        // mirrored from its first offset: `mirror.start.offset.spec`
        // applies when a mirror topic is created, not to later partitions.
        let grown = tps.iter().any(|k| {
            !fresh.contains(k)
                && (snapshot.checkpoints.contains_key(&ctx.id(k))
                    || ctx.slots().get(k).is_some_and(|s| s.checkpoint.is_some()))
        });
        let spec = match config.start_offset {
            _ if grown => OffsetSpec::Earliest,
            StartOffsetSpec::Earliest => OffsetSpec::Earliest,
            StartOffsetSpec::Latest => OffsetSpec::Latest,
            StartOffsetSpec::Timestamp(ms) => OffsetSpec::Timestamp(ms),
        };
        let fresh_source: Vec<PartitionKey> =
            fresh.iter().map(|k| (source.to_string(), k.1)).collect();
        let mut starts = ctx
            .source
            .list_offsets(&fresh_source, spec)
            .await
            .map_err(src)?;
        if matches!(spec, OffsetSpec::Timestamp(_)) {
            // No record at or after the timestamp: start at the log end.
            let missing: Vec<PartitionKey> = fresh_source
                .iter()
                .filter(|k| starts.get(*k).is_none_or(|o| *o < 0))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let ends = ctx
                    .source
                    .list_offsets(&missing, OffsetSpec::Latest)
                    .await
                    .map_err(src)?;
                starts.extend(ends);
            }
        }
        // The start position is recorded before anything is fetched: a
        // restart continues from it instead of asking for "latest" again.
        let mut starting = Vec::with_capacity(fresh.len());
        let mut entries = Vec::with_capacity(fresh.len());
        for key in fresh {
            let start = starts
                .get(&(source.to_string(), key.1))
                .copied()
                .unwrap_or(0)
                .max(0);
            let dest_leo = leo.get(&key).copied().unwrap_or(0);
            let cp = progress_checkpoint(&topic_id, start, dest_leo, ctx.producer(), 0);
            entries.push(StateEntry::checkpoint(&ctx.id(&key), &cp)?);
            starting.push((key, start, cp));
        }
        ctx.state.write(&entries).await?;
        for (key, start, cp) in starting {
            ctx.rewind(&key, start);
            if let Some(slot) = ctx.slots().get_mut(&key) {
                slot.source_next = start;
                slot.checkpoint = Some(cp);
            }
            tracing::info!(link = %ctx.name, topic = %key.0, partition = key.1, start,
                spec = ?spec, grown, "new mirror partition");
            ctx.set_state_at(&key, running.clone(), running_at);
        }
    }
    if !tombstones.is_empty() {
        ctx.state.write(&tombstones).await?;
    }
    Ok(())
}

pub(super) async fn wait_for_topic(
    client: &ClusterClient,
    topic: &str,
    partitions: usize,
) -> Result<crate::kafka::TopicInfo, KafkaError> {
    let deadline = instant_after(client.settings().request_timeout);
    loop {
        if let Some(t) = client.topic(topic).await? {
            if t.partitions.len() >= partitions && t.partitions.iter().all(|p| p.leader >= 0) {
                return Ok(t);
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(crate::kafka::error::broker_error(
                client.name(),
                format!("topic {topic} created but has no leader yet"),
                5,
            ));
        }
        tokio::time::sleep(client.settings().retry_backoff).await;
    }
}

/// What a mirror partition does at start, from its checkpoint and the
/// destination log end offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// No checkpoint and an empty destination: start per `mirror.start.offset.spec`.
    Fresh,
    /// Continue fetching at this source offset.
    Resume {
        /// Next source offset.
        fetch_offset: i64,
    },
    /// Do not mirror; needs an operator.
    Failed(FailureCause),
}

/// The recovery rule (see [`Checkpoint`]).
pub(crate) fn recover(
    cp: Option<&Checkpoint>,
    destination_leo: i64,
    source_topic_id: &str,
) -> Recovery {
    match cp {
        None if destination_leo == 0 => Recovery::Fresh,
        None => Recovery::Failed(FailureCause::NotAMirror {
            log_end_offset: destination_leo,
        }),
        Some(cp) if cp.source_topic_id != source_topic_id => {
            Recovery::Failed(FailureCause::SourceTopicRecreated {
                expected: cp.source_topic_id.clone(),
                found: source_topic_id.to_string(),
            })
        }
        Some(cp) => match cp.resume_offset(destination_leo) {
            Some(fetch_offset) => Recovery::Resume { fetch_offset },
            None => Recovery::Failed(FailureCause::ForeignWrite {
                expected: cp.destination_end,
                found: destination_leo,
            }),
        },
    }
}

/// The part of `cp`'s round that did not land when the destination log end
/// offset is `destination_leo` (a batch boundary of the round), to be
/// re-sent under the round's producer identity; `None` when it all landed
/// or the checkpoint does not hold its producer identity.
pub(crate) fn unfinished_round(cp: &Checkpoint, destination_leo: i64) -> Option<ResumeRound> {
    let i = cp.boundary_at(destination_leo)?;
    (cp.has_producer() && i < cp.batches.len()).then(|| ResumeRound {
        producer: ProducerIdentity {
            id: cp.producer_id,
            epoch: cp.producer_epoch,
        },
        sequence: cp.sequence_at(i),
        batches: cp.batches[i..].to_vec(),
    })
}

/// A checkpoint that only records a position: every source offset below
/// `source_offset` is mirrored and the destination log ends at
/// `destination_leo` (a new mirror partition, or progress over source
/// offsets that needed nothing on the destination).
pub(crate) fn progress_checkpoint(
    source_topic_id: &str,
    source_offset: i64,
    destination_leo: i64,
    producer: ProducerIdentity,
    sequence: i32,
) -> Checkpoint {
    Checkpoint {
        source_topic_id: source_topic_id.to_string(),
        source_start: source_offset,
        source_end: source_offset,
        destination_start: destination_leo,
        destination_end: destination_leo,
        batches: Vec::new(),
        producer_id: producer.id,
        producer_epoch: producer.epoch,
        base_sequence: sequence,
        source_leader_epoch: -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(ss: i64, se: i64, ds: i64, de: i64) -> Checkpoint {
        Checkpoint {
            source_topic_id: "A".into(),
            source_start: ss,
            source_end: se,
            destination_start: ds,
            destination_end: de,
            batches: vec![(ss, 5), (ss + 5, 5)],
            producer_id: 4,
            producer_epoch: 1,
            base_sequence: 20,
            source_leader_epoch: -1,
        }
    }

    #[test]
    fn recovery_rule() {
        assert_eq!(recover(None, 0, "A"), Recovery::Fresh);
        assert!(matches!(
            recover(None, 5, "A"),
            Recovery::Failed(FailureCause::NotAMirror { log_end_offset: 5 })
        ));
        let c = cp(100, 120, 50, 60);
        assert_eq!(
            recover(Some(&c), 60, "A"),
            Recovery::Resume { fetch_offset: 120 }
        );
        assert_eq!(
            recover(Some(&c), 50, "A"),
            Recovery::Resume { fetch_offset: 100 }
        );
        assert_eq!(
            recover(Some(&c), 55, "A"),
            Recovery::Resume { fetch_offset: 105 }
        );
        assert!(matches!(
            recover(Some(&c), 61, "A"),
            Recovery::Failed(FailureCause::ForeignWrite {
                expected: 60,
                found: 61
            })
        ));
        assert!(matches!(
            recover(Some(&c), 60, "B"),
            Recovery::Failed(FailureCause::SourceTopicRecreated { .. })
        ));
    }

    #[test]
    fn an_unfinished_round_is_resent_under_its_producer() {
        let c = cp(100, 110, 50, 60);
        assert_eq!(unfinished_round(&c, 60), None);
        assert_eq!(
            unfinished_round(&c, 55),
            Some(ResumeRound {
                producer: ProducerIdentity { id: 4, epoch: 1 },
                sequence: 25,
                batches: vec![(105, 5)],
            })
        );
        assert_eq!(unfinished_round(&c, 50).map(|r| r.sequence), Some(20));
        let old = Checkpoint {
            producer_id: -1,
            ..c
        };
        assert_eq!(unfinished_round(&old, 55), None);
    }
}
