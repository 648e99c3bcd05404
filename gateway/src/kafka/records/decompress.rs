//! Bounded decompression of a record batch's records section, for the
//! places that must decode records (gap normalisation in
//! [`super::batch::normalize_for_produce`], record transforms in
//! `plugin::records`).
//!
//! The codecs are those of Kafka's record batches (attributes bits 0-2,
//! KIP-110 for zstd) through the crates kafka-protocol's own decompressors
//! use (flate2, snap, lz4, zstd), read in a loop that stops one byte past a
//! limit: a small compressed section (a zstd frame of a few KiB can hold
//! gigabytes of zeros) never becomes a larger allocation than the limit.
//! Memory grows with the bytes that really decompress, not with a size
//! announced in the stream.

use std::io::Read;

use bytes::Bytes;
use kafka_protocol::records::Compression;

/// Most bytes one batch's records section may decompress to: 64 MiB. Equal
/// to the largest batch the fetcher accepts compressed
/// (`MAX_PARTITION_FETCH_BYTES`) and to a record transform's default memory
/// limit, so only batches compressed more than 64 to 1 beyond Kafka's
/// default `max.message.bytes` (1 MiB) reach it.
pub const MAX_DECOMPRESSED_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// xerial snappy-java stream header (`SnappyCodec.MAGIC_HEADER`), which
/// Kafka's Java producer writes before its snappy blocks; followed by a
/// 4-byte version and a 4-byte compatible version.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// The xerial header: magic, version, compatible version.
const XERIAL_HEADER_LEN: usize = 16;

/// A records section could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// It decompresses to more than the limit (in bytes). Not retriable:
    /// refetching returns the same bytes.
    #[error("the {codec} records section decompresses to more than {limit_bytes} bytes")]
    TooLarge {
        /// Codec name (`gzip`, `snappy`, `lz4`, `zstd`).
        codec: &'static str,
        /// The limit, in bytes.
        limit_bytes: usize,
    },
    /// The compressed data is corrupt (the codec's own message).
    #[error("the {codec} records section does not decompress: {reason}")]
    Corrupt {
        /// Codec name.
        codec: &'static str,
        /// What the codec reported.
        reason: String,
    },
}

/// Lower-case codec name as Kafka's `compression.type` spells it.
pub fn codec_name(codec: Compression) -> &'static str {
    match codec {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// Every codec of a v2 record batch (attributes bits 0-2), in code order.
pub const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Decompress `section` (bytes 61.. of a batch) with `codec`, refusing
/// output above `limit_bytes`. `Compression::None` returns `section` itself
/// (zero-copy; its size is the fetched size). The allocation stays below
/// about twice `limit_bytes` whatever the input.
///
/// Errors: [`DecompressError::TooLarge`], [`DecompressError::Corrupt`].
pub fn decompress(
    section: Bytes,
    codec: Compression,
    limit_bytes: usize,
) -> Result<Bytes, DecompressError> {
    let name = codec_name(codec);
    let corrupt = |reason: String| DecompressError::Corrupt {
        codec: name,
        reason,
    };
    let plain = match codec {
        Compression::None => return Ok(section),
        Compression::Gzip => read_bounded(
            flate2::read::GzDecoder::new(&section[..]),
            name,
            limit_bytes,
        )?,
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(&section[..]).map_err(|e| corrupt(e.to_string()))?;
            read_bounded(decoder, name, limit_bytes)?
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(&section[..])
                .map_err(|e| corrupt(e.to_string()))?;
            read_bounded(decoder, name, limit_bytes)?
        }
        Compression::Snappy => snappy(&section, limit_bytes)?,
    };
    Ok(Bytes::from(plain))
}

/// Read `reader` to its end, failing once it yields more than `limit`
/// bytes.
fn read_bounded(
    reader: impl Read,
    codec: &'static str,
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge {
            codec,
            limit_bytes: limit,
        });
    }
    Ok(out)
}

/// Snappy as Kafka writes it: the xerial framing of snappy-java (header,
/// then blocks of a 4-byte big-endian length and a raw snappy block), or a
/// single raw snappy block when the header is absent (as snappy-java's
/// `SnappyInputStream` falls back). Each block's announced length is checked
/// against what the limit leaves before anything is allocated for it.
fn snappy(section: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let codec = "snappy";
    let corrupt = |reason: String| DecompressError::Corrupt { codec, reason };
    let too_large = DecompressError::TooLarge {
        codec,
        limit_bytes: limit,
    };
    let mut decoder = snap::raw::Decoder::new();
    let mut out = Vec::new();
    let mut block = |input: &[u8], out: &mut Vec<u8>| -> Result<(), DecompressError> {
        let len = snap::raw::decompress_len(input).map_err(|e| corrupt(e.to_string()))?;
        let start = out.len();
        let end = start
            .checked_add(len)
            .filter(|end| *end <= limit)
            .ok_or(too_large.clone())?;
        out.resize(end, 0);
        let written = decoder
            .decompress(input, &mut out[start..])
            .map_err(|e| corrupt(e.to_string()))?;
        out.truncate(start + written);
        Ok(())
    };
    if !section.starts_with(XERIAL_MAGIC) {
        block(section, &mut out)?;
        return Ok(out);
    }
    let mut rest = section
        .get(XERIAL_HEADER_LEN..)
        .ok_or_else(|| corrupt("truncated xerial snappy header".to_string()))?;
    // Each pass consumes at least the 4-byte length: bounded by the input.
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("truncated xerial snappy block length".to_string()))?;
        let len = u32::from_be_bytes(*len) as usize;
        let input = tail
            .get(..len)
            .ok_or_else(|| corrupt(format!("xerial snappy block of {len} bytes is truncated")))?;
        block(input, &mut out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kafka::records::batch::RawBatch;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    use std::time::{Duration, Instant};

    fn compress(codec: Compression, plain: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        let put = |b: &mut BytesMut| {
            b.extend_from_slice(plain);
            Ok(())
        };
        match codec {
            Compression::None => out.extend_from_slice(plain),
            Compression::Gzip => Gzip::compress(&mut out, put).unwrap(),
            Compression::Snappy => Snappy::compress(&mut out, put).unwrap(),
            Compression::Lz4 => Lz4::compress(&mut out, put).unwrap(),
            Compression::Zstd => Zstd::compress(&mut out, put).unwrap(),
        }
        out.freeze()
    }

    use super::CODECS;

    /// Every codec as kafka-protocol (and so Kafka's clients) writes it
    /// comes back byte for byte, at and below the limit.
    #[test]
    fn round_trips_kafka_protocol_output() {
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for codec in CODECS {
            let packed = compress(codec, &plain);
            let back = decompress(packed.clone(), codec, plain.len()).unwrap();
            assert_eq!(&back[..], &plain[..], "{codec:?}");
            if codec != Compression::None {
                let e = decompress(packed, codec, plain.len() - 1).unwrap_err();
                assert_eq!(
                    e,
                    DecompressError::TooLarge {
                        codec: codec_name(codec),
                        limit_bytes: plain.len() - 1
                    }
                );
            }
        }
    }

    /// Raw snappy (no xerial header), as non-Java clients may write it.
    #[test]
    fn raw_snappy_is_accepted_and_bounded() {
        let plain = vec![7u8; 50_000];
        let raw = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        let back = decompress(Bytes::from(raw.clone()), Compression::Snappy, 50_000).unwrap();
        assert_eq!(&back[..], &plain[..]);
        let e = decompress(Bytes::from(raw), Compression::Snappy, 49_999).unwrap_err();
        assert!(matches!(e, DecompressError::TooLarge { .. }), "{e}");
    }

    /// A raw snappy block announcing 4 GiB in five bytes is refused before
    /// anything is allocated for it.
    #[test]
    fn snappy_length_announcement_is_checked_first() {
        let bomb = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        let e = decompress(bomb, Compression::Snappy, MAX_DECOMPRESSED_BATCH_BYTES).unwrap_err();
        assert!(matches!(e, DecompressError::TooLarge { .. }), "{e}");
    }

    /// Each codec stops one byte past the limit.
    #[test]
    fn bombs_stop_at_the_limit() {
        let limit = 1024 * 1024;
        let plain = vec![0u8; limit + 4096];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let packed = compress(codec, &plain);
            let e = decompress(packed, codec, limit).unwrap_err();
            assert_eq!(
                e,
                DecompressError::TooLarge {
                    codec: codec_name(codec),
                    limit_bytes: limit
                }
            );
        }
    }

    /// A zstd section of a few KiB (65 frames of 1 MiB of zeros each) that
    /// decompresses to 65 MiB.
    pub(crate) fn zstd_bomb_section() -> Vec<u8> {
        let frame = compress(Compression::Zstd, &vec![0u8; 1024 * 1024]);
        frame
            .iter()
            .copied()
            .cycle()
            .take(frame.len() * 65)
            .collect()
    }

    /// A CRC-valid zstd batch at offset 100 whose records section is
    /// [`zstd_bomb_section`], with the given counts.
    pub(crate) fn zstd_bomb_batch(record_count: i32, last_offset_delta: i32) -> RawBatch {
        let section = zstd_bomb_section();
        let mut b = BytesMut::new();
        b.put_i64(100);
        b.put_i32(i32::try_from(49 + section.len()).unwrap());
        b.put_i32(0);
        b.put_i8(2);
        b.put_u32(0);
        b.put_i16(4); // zstd
        b.put_i32(last_offset_delta);
        b.put_i64(1_000);
        b.put_i64(1_000);
        b.put_i64(-1);
        b.put_i16(-1);
        b.put_i32(-1);
        b.put_i32(record_count);
        b.put_slice(&section);
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        RawBatch::parse(b.freeze()).unwrap()
    }

    /// A zstd section of a few KiB (65 frames of 1 MiB of zeros) that
    /// inflates past [`MAX_DECOMPRESSED_BATCH_BYTES`] is refused, promptly.
    #[test]
    fn a_few_kib_of_zstd_never_inflate_past_64_mib() {
        let bomb = zstd_bomb_section();
        assert!(bomb.len() < 8 * 1024, "{} bytes", bomb.len());
        let started = Instant::now();
        let e = decompress(
            Bytes::from(bomb),
            Compression::Zstd,
            MAX_DECOMPRESSED_BATCH_BYTES,
        )
        .unwrap_err();
        assert!(
            matches!(e, DecompressError::TooLarge { codec: "zstd", .. }),
            "{e}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        for codec in CODECS {
            for input in [
                &b""[..],
                b"\x00",
                b"\x82SNAPPY\x00",
                b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01\0\0\0\x09ab",
            ] {
                match decompress(Bytes::copy_from_slice(input), codec, 1024) {
                    Ok(out) => assert!(out.len() <= 1024 || codec == Compression::None),
                    Err(DecompressError::Corrupt { codec: c, .. }) => {
                        assert_eq!(c, codec_name(codec))
                    }
                    Err(e) => panic!("{codec:?} {input:?}: {e}"),
                }
            }
        }
    }
}
