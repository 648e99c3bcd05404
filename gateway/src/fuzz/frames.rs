//! Target `frames`: the connection's frame reader (`conn.rs` `read_loop`:
//! 4-byte length prefix, correlation id, response header) end to end. A
//! scripted broker answers a Metadata v12 request (correlation id 1, after
//! ApiVersions' 0) with the input's bytes and closes the stream; the
//! request must end as a response or as a Malformed, Disconnected or TLS
//! error, never as a timeout (a reader that panicked or waits for bytes
//! that cannot come).
//!
//! Corpus files hold the bytes the broker writes: one or more frames.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::Encodable;
use proptest::test_runner::TestCaseError;

use super::{run_bytes, write_generated};
use crate::kafka::cluster::ClusterSettings;
use crate::kafka::conn::{BrokerConnection, MAX_FRAME_BYTES};
use crate::kafka::scripted::{pair, FakeBroker};

/// One response frame: length, correlation id, header tagged fields (v1),
/// `body`.
fn frame(correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut f = BytesMut::new();
    f.put_i32(i32::try_from(4 + 1 + body.len()).expect("small frame"));
    f.put_i32(correlation_id);
    f.put_u8(0);
    f.put_slice(body);
    f.to_vec()
}

fn generated() -> Vec<(String, Vec<u8>)> {
    let mut body = BytesMut::new();
    MetadataResponse::default()
        .with_cluster_id(Some(kafka_protocol::protocol::StrBytes::from_static_str(
            "c",
        )))
        .encode(&mut body, 12)
        .expect("encode metadata");
    let ok = frame(1, &body);
    let stale = frame(9, &body);
    let mut two = stale.clone();
    two.extend_from_slice(&ok);
    let huge = |len: u32| {
        let mut f = len.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0, 0, 1, 0]);
        f
    };
    vec![
        ("metadata.bin".into(), ok.clone()),
        ("late-then-metadata.bin".into(), two),
        ("truncated.bin".into(), ok[..ok.len() - 3].to_vec()),
        ("length-2gib.bin".into(), huge(0x8000_0000)),
        ("length-i32-max.bin".into(), huge(0x7fff_ffff)),
        ("length-negative.bin".into(), huge(u32::MAX)),
        (
            "length-above-cap.bin".into(),
            huge(MAX_FRAME_BYTES as u32 + 1),
        ),
        ("length-3.bin".into(), huge(3)),
        ("tls-alert.bin".into(), vec![21, 3, 3, 0, 2, 2, 50]),
        ("garbage-body.bin".into(), frame(1, &[0xff, 0xff, 0xff])),
    ]
}

#[test]
fn fuzz_frame_reader() {
    let files = generated();
    write_generated("frames", &files);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut settings = ClusterSettings::new("fuzz", vec![]);
    settings.request_timeout = Duration::from_secs(2);
    let check = |_: &str, bytes: &[u8]| -> Result<(), TestCaseError> {
        rt.block_on(async {
            let (client, mut broker) = pair();
            let (conn, ()) = tokio::join!(
                BrokerConnection::from_stream(&settings, 1, "fuzz:9092", client),
                broker.handshake()
            );
            let conn = conn.map_err(|e| TestCaseError::fail(format!("handshake: {e}")))?;
            let script = async move {
                let (h, _) = broker.read_request().await.expect("request");
                assert_eq!(h.request_api_key, ApiKey::Metadata as i16);
                assert_eq!(h.correlation_id, 1);
                broker.write_raw(bytes).await;
                drop::<FakeBroker>(broker);
            };
            let req = MetadataRequest::default();
            let (res, ()) = tokio::join!(conn.send(&req), script);
            match res {
                Ok((12, _)) => Ok(()),
                Ok((v, _)) => Err(TestCaseError::fail(format!("answered at v{v}"))),
                Err(e) if matches!(e.kind(), "malformed" | "disconnected" | "tls") => Ok(()),
                Err(e) => Err(TestCaseError::fail(format!("unexpected error: {e}"))),
            }
        })
    };
    run_bytes("frames", Vec::new(), check);
}
