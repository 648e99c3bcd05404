//! `linkgate.producer.*` link properties: the limits of what a link
//! produces to its destination, by the Kafka producer's names.
//!
//! - `linkgate.producer.max.request.size` (bytes, default
//!   [`DEFAULT_MAX_REQUEST_SIZE`]): the record batches of one Produce
//!   request add up to at most this many bytes, as with the Kafka producer's
//!   `max.request.size` (same count: the batches, not the request's framing
//!   of a few dozen bytes per partition; a larger default, since a mirror
//!   must pass on every batch its source accepted). A broker's
//!   batches are spread over as many requests as that takes; a single batch
//!   above it cannot be sent and fails its partition with
//!   `MESSAGE_TOO_LARGE` (resumable once the property is raised). Keep it
//!   below the destination brokers' `socket.request.max.bytes` (Kafka's
//!   default 104857600): a broker closes the connection on a larger request
//!   without an error code.

use super::ConfigError;

/// The Produce request limit's link property.
pub const MAX_REQUEST_SIZE_PROPERTY: &str = "linkgate.producer.max.request.size";

/// Default of `linkgate.producer.max.request.size` (bytes): 16 MiB. Above
/// the Kafka producer's 1 MiB `max.request.size` because a mirror must pass
/// on every batch its source accepted (topics with a raised
/// `max.message.bytes`, or Kafka's default 1048588, 12 bytes over 1 MiB),
/// and well below Kafka's default `socket.request.max.bytes` (104857600).
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 16 * 1024 * 1024;

/// Smallest accepted `linkgate.producer.max.request.size` (bytes): room
/// for a batch of a few small records.
pub const MIN_MAX_REQUEST_SIZE: usize = 1024;

/// Parses `linkgate.producer.max.request.size`: a number of bytes from
/// [`MIN_MAX_REQUEST_SIZE`] to `i32::MAX` (a Kafka request's size field).
///
/// # Errors
/// [`ConfigError::Invalid`] naming `key` for text that is not such a number.
pub(super) fn parse_max_request_size(key: &str, text: &str) -> Result<usize, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        key: key.to_string(),
        message,
    };
    let bytes: u64 = text
        .trim()
        .parse()
        .map_err(|_| invalid(format!("expected a number of bytes, got {text:?}")))?;
    if bytes < MIN_MAX_REQUEST_SIZE as u64 || bytes > i32::MAX as u64 {
        return Err(invalid(format!(
            "must be from {MIN_MAX_REQUEST_SIZE} to {} bytes, got {bytes}",
            i32::MAX
        )));
    }
    usize::try_from(bytes).map_err(|_| invalid(format!("{bytes} bytes is too large here")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_request_size_is_a_bounded_number_of_bytes() {
        let k = MAX_REQUEST_SIZE_PROPERTY;
        assert_eq!(parse_max_request_size(k, " 4194304 ").ok(), Some(4_194_304));
        assert_eq!(parse_max_request_size(k, "1024").ok(), Some(1024));
        for bad in ["", "1023", "-1", "1MB", "2147483648"] {
            let e = parse_max_request_size(k, bad).expect_err(bad).to_string();
            assert!(e.contains(k), "{bad:?}: {e}");
        }
    }

    /// The property of a `[[links]]` table reaches the link's config, with
    /// Kafka's producer default when absent and the property named in errors.
    #[test]
    fn a_link_takes_its_request_limit_from_its_properties() {
        let text = |props: &str| {
            format!(
                r#"
[gateway]
metrics_listen = "127.0.0.1:19464"
[clusters.src]
"bootstrap.servers" = "127.0.0.1:9092"
[clusters.dst]
"bootstrap.servers" = "127.0.0.1:9093"
[[links]]
name = "demo"
source = "src"
destination = "dst"
mirror_topics = ["orders"]
[links.config]
{props}
"#
            )
        };
        let parse = |props: &str| crate::config::GatewayConfig::parse(&text(props), "t");
        let limit = |props: &str| parse(props).map(|c| c.links[0].max_request_size).ok();
        assert_eq!(limit(""), Some(DEFAULT_MAX_REQUEST_SIZE));
        assert_eq!(
            limit(r#""linkgate.producer.max.request.size" = 8388608"#),
            Some(8_388_608)
        );
        assert_eq!(
            limit(r#""linkgate.producer.max.request.size" = "2097152""#),
            Some(2_097_152)
        );
        let e = parse(r#""linkgate.producer.max.request.size" = 10"#)
            .expect_err("below the minimum")
            .to_string();
        assert!(e.contains(MAX_REQUEST_SIZE_PROPERTY), "{e}");
    }
}
