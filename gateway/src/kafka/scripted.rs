//! Test-only: a scripted broker on the other end of an in-memory stream,
//! for protocol behaviour that a real test broker cannot show (garbage
//! frames, out-of-order answers, SASL mechanisms it does not offer). Reads
//! request frames, answers with bodies encoded by `kafka-protocol`.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::conn::BoxedStream;

/// The broker side of [`pair`].
pub struct FakeBroker {
    pub io: DuplexStream,
}

impl FakeBroker {
    /// Read one request frame: (header, body bytes); `None` at EOF.
    pub async fn read_request(&mut self) -> Option<(RequestHeader, Bytes)> {
        let mut len = [0u8; 4];
        self.io.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; usize::try_from(i32::from_be_bytes(len)).ok()?];
        self.io.read_exact(&mut buf).await.ok()?;
        let mut b = Bytes::from(buf);
        let h = decode_request_header_from_buffer(&mut b).ok()?;
        Some((h, b))
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
    }

    /// Answer request `correlation_id` with `body` at `version`.
    pub async fn respond<T: Encodable>(
        &mut self,
        correlation_id: i32,
        header_version: i16,
        body: &T,
        version: i16,
    ) {
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut buf, header_version)
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        self.write_raw(&buf).await;
    }

    /// Answer `header`'s request with `body` at the request's version.
    pub async fn answer<T: Encodable>(&mut self, header: &RequestHeader, body: &T) {
        let key = ApiKey::try_from(header.request_api_key).unwrap();
        let hv = key.response_header_version(header.request_api_version);
        self.respond(header.correlation_id, hv, body, header.request_api_version)
            .await;
    }

    /// The APIs this broker advertises: ApiVersions 0-3, Metadata 0-13,
    /// Fetch 4-17, Produce 3-9, SaslHandshake 0-1, SaslAuthenticate 0-2.
    pub fn api_versions() -> ApiVersionsResponse {
        let k = |key: ApiKey, min: i16, max: i16| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        };
        ApiVersionsResponse::default().with_api_keys(vec![
            k(ApiKey::ApiVersions, 0, 3),
            k(ApiKey::Metadata, 0, 13),
            k(ApiKey::Fetch, 4, 17),
            k(ApiKey::Produce, 3, 9),
            k(ApiKey::SaslHandshake, 0, 1),
            k(ApiKey::SaslAuthenticate, 0, 2),
        ])
    }

    /// Answer the ApiVersions handshake at whatever version was asked.
    pub async fn handshake(&mut self) {
        let (h, _) = self.read_request().await.expect("ApiVersions request");
        assert_eq!(h.request_api_key, ApiKey::ApiVersions as i16);
        self.respond(
            h.correlation_id,
            0,
            &Self::api_versions(),
            h.request_api_version,
        )
        .await;
    }
}

/// A client stream and the scripted broker on its other end.
pub fn pair() -> (BoxedStream, FakeBroker) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (Box::new(a), FakeBroker { io: b })
}
