//! The exact source-offset to destination-offset map of a mirror partition
//! ([`OffsetMap`]), and how it is kept bounded in the state topic: segment
//! starts are written one record each as rounds land, and every
//! [`ROLLUP_SEGMENTS`] new segments the partition's map is rolled up
//! ([`rollup_entries`]): pruned below the source log start offset, written
//! as a few chunk records of one generation plus a head record naming it,
//! and the single records and the previous generation's chunks deleted
//! (tombstones). A link's start-up then reads a few records per partition,
//! not one per source transaction ever mirrored.
//!
//! Keys: `mapr/{link}/{topic}/{partition}` ([`RollupHead`]),
//! `mapc/{link}/{topic}/{partition}/{generation}/{chunk}` ([`RollupChunk`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mirror::error::MirrorError;
use crate::mirror::state::{MirrorPartitionId, StateEntry};

/// New segment records of a partition that trigger a roll-up.
pub const ROLLUP_SEGMENTS: usize = 512;

/// Segments per chunk record (~25 bytes each in JSON: ~400 KiB a chunk,
/// below the state topic's `max.message.bytes`).
pub const CHUNK_SEGMENTS: usize = 16_384;

/// The exact source-offset to destination-offset map of one mirror partition
/// at record batch granularity.
///
/// Stored as segment starts: source offset `s_i` maps to destination offset
/// `d_i`, and the following source offsets map linearly until the segment
/// has covered `d_{i+1} - d_i` records (destination offsets have no gaps);
/// the last segment ends at the mirrored end (`end`). Source offsets that fall
/// in a gap (transaction markers, aborted data, compacted records) map to the
/// next mirrored record, which is what a committed consumer offset ("next
/// record to read") needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    segments: BTreeMap<i64, i64>,
    /// `(source_end, destination_end)` of the last landed round.
    end: Option<(i64, i64)>,
}

impl OffsetMap {
    /// Adds a segment start: source offset `source` is at destination offset
    /// `destination`.
    pub fn insert(&mut self, source: i64, destination: i64) {
        self.segments.insert(source, destination);
    }

    /// Removes the segment starting at source offset `source`.
    pub fn remove(&mut self, source: i64) {
        self.segments.remove(&source);
    }

    /// Number of segment starts.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether the map has no segment.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Drops what no consumer can need once the source log starts at
    /// `log_start_offset` (retention, deletion): the segments that end
    /// before it. The segment covering it is kept, so every source offset
    /// from the log start on translates as before. Returns the source
    /// offsets of the dropped segment starts.
    pub fn prune_below(&mut self, log_start_offset: i64) -> Vec<i64> {
        let Some((&keep, _)) = self.segments.range(..=log_start_offset).next_back() else {
            return Vec::new();
        };
        let dropped: Vec<i64> = self.segments.range(..keep).map(|(s, _)| *s).collect();
        for s in &dropped {
            self.segments.remove(s);
        }
        dropped
    }

    /// Sets the mirrored end: source offsets below `source_end` are mirrored,
    /// the destination log end offset is `destination_end`.
    pub fn set_end(&mut self, source_end: i64, destination_end: i64) {
        self.end = Some((source_end, destination_end));
    }

    /// Drops segments at or past destination offset `destination` (used when
    /// a round did not land).
    pub fn truncate_destination(&mut self, destination: i64) {
        self.segments.retain(|_, d| *d < destination);
    }

    /// The segment starts, `(source offset, destination offset)`, ascending.
    pub fn segments(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.segments.iter().map(|(s, d)| (*s, *d))
    }

    /// The segment that would contain `source` next: the destination offset
    /// the mirror would give source offset `source` if it continued the last
    /// segment linearly. `None` when there is no segment yet.
    pub fn linear_destination(&self, source: i64) -> Option<i64> {
        let (s, d) = self.segments.range(..=source).next_back()?;
        Some(d + (source - s))
    }

    /// Translates a source offset to a destination offset.
    ///
    /// Returns `None` for offsets before the first mirrored batch or past the
    /// mirrored end. A source offset equal to the mirrored end maps to the
    /// destination log end offset.
    pub fn translate(&self, source: i64) -> Option<i64> {
        let (end_src, end_dst) = self.end?;
        if source > end_src {
            return None;
        }
        if source == end_src {
            return Some(end_dst);
        }
        let (s, d) = self.segments.range(..=source).next_back()?;
        let next_dst = self
            .segments
            .range(s + 1..)
            .next()
            .map(|(_, d)| *d)
            .unwrap_or(end_dst);
        let covered = next_dst - d;
        if source - s < covered {
            Some(d + (source - s))
        } else {
            Some(next_dst)
        }
    }
}

/// Where a committed consumer offset of the source lands on the
/// destination ([`OffsetMap::translate_committed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommittedTranslation {
    /// The destination offset of the first mirrored record at or after the
    /// source offset (the destination log end offset when no such record
    /// landed yet but everything before the source offset is mirrored).
    At(i64),
    /// The source offset is past what is mirrored (`mirrored_to`, the
    /// source offset after the last landed round): try again later.
    NotYetMirrored {
        /// Source offset after the last landed round.
        mirrored_to: i64,
    },
}

impl OffsetMap {
    /// Translates a committed consumer offset `source` (the next record the
    /// consumer reads) of a mirror partition whose landed rounds end at
    /// source offset `source_next` and destination log end offset
    /// `destination_next`: a consumer that moves to the destination at the
    /// result skips no mirrored record and reads none twice.
    ///
    /// - Past `source_next`: [`CommittedTranslation::NotYetMirrored`].
    /// - Below the first segment (the mirror started at `latest` or a
    ///   timestamp, or the source log start moved): the destination offset
    ///   of the first segment, the mirror's first record.
    /// - In a gap (transaction markers, aborted data, compacted or
    ///   filtered-out records): the next mirrored record's offset.
    /// - With no segment at all: `destination_next`.
    ///
    /// Only segments below `(source_next, destination_next)` are read, so
    /// a segment of a round not landed yet changes nothing.
    pub fn translate_committed(
        &self,
        source: i64,
        source_next: i64,
        destination_next: i64,
    ) -> CommittedTranslation {
        if source > source_next {
            return CommittedTranslation::NotYetMirrored {
                mirrored_to: source_next,
            };
        }
        let landed = |(s, d): &(&i64, &i64)| **s < source_next && **d < destination_next;
        let Some((s, d)) = self
            .segments
            .range(..=source)
            .rfind(landed)
            .map(|(s, d)| (*s, *d))
        else {
            // Below every segment, or no segment: the first landed record.
            let first = self
                .segments
                .iter()
                .find(landed)
                .map_or(destination_next, |(_, d)| *d);
            return CommittedTranslation::At(first);
        };
        let next_dst = self
            .segments
            .range(s + 1..)
            .find(landed)
            .map_or(destination_next, |(_, d)| *d);
        let covered = next_dst - d;
        if source - s < covered {
            CommittedTranslation::At(d + (source - s))
        } else {
            CommittedTranslation::At(next_dst)
        }
    }
}

/// The head of a partition's rolled-up map: which generation of chunks
/// is current and how many there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupHead {
    /// Generation of the current chunks (starts at 1).
    pub generation: u64,
    /// Number of chunks of that generation (0..chunks).
    pub chunks: u32,
}

/// One chunk of a rolled-up map: segment starts `(source, destination)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupChunk {
    /// Segment starts, ascending.
    pub segments: Vec<(i64, i64)>,
}

/// Key of a partition's roll-up head.
pub(crate) fn head_key(id: &MirrorPartitionId) -> String {
    format!("mapr/{}/{}/{}", id.0, id.1, id.2)
}

/// Key of a roll-up chunk.
pub(crate) fn chunk_key(id: &MirrorPartitionId, generation: u64, chunk: u32) -> String {
    format!("mapc/{}/{}/{}/{generation}/{chunk}", id.0, id.1, id.2)
}

/// The state records that roll `map` up (already pruned by the caller) as
/// the generation after `previous`: the chunks, then the head, then
/// tombstones for `singles` (the single segment records it absorbs, by
/// source offset) and for the previous generation's chunks. Written in this
/// order, a crash anywhere leaves a readable map: the old head with its
/// chunks, or the new head with its chunks (plus leftovers a later roll-up
/// removes).
///
/// # Errors
/// [`MirrorError::State`] when a record cannot be serialized.
pub fn rollup_entries(
    id: &MirrorPartitionId,
    map: &OffsetMap,
    previous: Option<RollupHead>,
    singles: &[i64],
) -> Result<(Vec<StateEntry>, RollupHead), MirrorError> {
    let generation = previous.map_or(1, |h| h.generation + 1);
    let all: Vec<(i64, i64)> = map.segments().collect();
    let mut entries = Vec::new();
    let mut chunks = 0u32;
    for part in all.chunks(CHUNK_SEGMENTS) {
        let chunk = RollupChunk {
            segments: part.to_vec(),
        };
        entries.push(StateEntry::json(chunk_key(id, generation, chunks), &chunk)?);
        chunks += 1;
    }
    let head = RollupHead { generation, chunks };
    entries.push(StateEntry::json(head_key(id), &head)?);
    for s in singles {
        entries.push(StateEntry::segment(id, *s, 0, true));
    }
    if let Some(old) = previous {
        for c in 0..old.chunks {
            entries.push(StateEntry {
                key: chunk_key(id, old.generation, c),
                value: None,
            });
        }
    }
    Ok((entries, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translate_with_gaps() {
        // src 0..50 -> dst 0..50; src 50 is a commit marker; src 51..61 -> dst 50..60
        // src 61..90 aborted; src 91..100 -> dst 60..69
        let mut m = OffsetMap::default();
        m.insert(0, 0);
        m.insert(51, 50);
        m.insert(91, 60);
        m.set_end(100, 69);
        assert_eq!(m.translate(0), Some(0));
        assert_eq!(m.translate(49), Some(49));
        assert_eq!(m.translate(50), Some(50)); // marker: next record is src 51 = dst 50
        assert_eq!(m.translate(51), Some(50));
        assert_eq!(m.translate(60), Some(59));
        assert_eq!(m.translate(61), Some(60)); // aborted range maps to next mirrored record
        assert_eq!(m.translate(75), Some(60));
        assert_eq!(m.translate(99), Some(68));
        assert_eq!(m.translate(100), Some(69));
        assert_eq!(m.translate(101), None);
        m.truncate_destination(60);
        assert_eq!(m.segments().count(), 2);
    }

    #[test]
    fn translate_committed_offsets() {
        use CommittedTranslation::{At, NotYetMirrored};
        // Mirror started at source 100 (`latest`): src 100..110 -> dst 0..10,
        // src 110 a marker, src 111..115 -> dst 10..14, src 115..120
        // aborted; landed up to src 120 / dst 14. A segment of a round in
        // flight (src 120 -> dst 14) is ignored.
        let mut m = OffsetMap::default();
        m.insert(100, 0);
        m.insert(111, 10);
        m.insert(120, 14);
        let t = |src| m.translate_committed(src, 120, 14);
        assert_eq!(t(0), At(0), "below the mirror's start: its first record");
        assert_eq!(t(100), At(0));
        assert_eq!(t(105), At(5));
        assert_eq!(t(110), At(10), "marker: the next record");
        assert_eq!(t(111), At(10));
        assert_eq!(t(114), At(13));
        assert_eq!(t(115), At(14), "aborted tail: the log end");
        assert_eq!(t(120), At(14));
        assert_eq!(t(121), NotYetMirrored { mirrored_to: 120 });
        // Nothing landed yet: everything mirrored maps to the log end.
        let empty = OffsetMap::default();
        assert_eq!(empty.translate_committed(7, 50, 3), At(3));
        assert_eq!(
            empty.translate_committed(51, 50, 3),
            NotYetMirrored { mirrored_to: 50 }
        );
    }

    #[test]
    fn translate_from_non_zero_start() {
        let mut m = OffsetMap::default();
        m.insert(1000, 0);
        m.set_end(1010, 10);
        assert_eq!(m.translate(999), None);
        assert_eq!(m.translate(1005), Some(5));
        assert_eq!(m.linear_destination(1010), Some(10));
    }

    #[test]
    fn pruning_keeps_the_segment_covering_the_log_start() {
        let mut m = OffsetMap::default();
        for (s, d) in [(0, 0), (10, 9), (20, 18), (30, 27)] {
            m.insert(s, d);
        }
        m.set_end(40, 36);
        assert_eq!(m.prune_below(25), vec![0, 10]);
        assert_eq!(m.translate(25), Some(23));
        assert_eq!(m.translate(35), Some(32));
        assert_eq!(m.prune_below(5), Vec::<i64>::new());
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn rollup_writes_chunks_then_head_then_tombstones() {
        let id = ("l".to_string(), "t".to_string(), 0);
        let mut m = OffsetMap::default();
        for i in 0..(CHUNK_SEGMENTS as i64 + 10) {
            m.insert(i * 2, i);
        }
        let previous = RollupHead {
            generation: 3,
            chunks: 2,
        };
        let (entries, head) = rollup_entries(&id, &m, Some(previous), &[8, 10]).unwrap();
        assert_eq!(
            head,
            RollupHead {
                generation: 4,
                chunks: 2
            }
        );
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "mapc/l/t/0/4/0",
                "mapc/l/t/0/4/1",
                "mapr/l/t/0",
                "map/l/t/0/00000000000000000008",
                "map/l/t/0/00000000000000000010",
                "mapc/l/t/0/3/0",
                "mapc/l/t/0/3/1",
            ]
        );
        assert!(entries[..3].iter().all(|e| e.value.is_some()));
        assert!(entries[3..].iter().all(|e| e.value.is_none()));
        let first: RollupChunk =
            serde_json::from_slice(entries[0].value.as_ref().unwrap()).unwrap();
        assert_eq!(first.segments.len(), CHUNK_SEGMENTS);
    }
}
