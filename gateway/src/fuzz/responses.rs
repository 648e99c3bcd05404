//! Target `responses`: kafka-protocol's decoder of every response type the
//! gateway sends a request for (`BrokerConnection::send`/`send_version`
//! call sites), at every version the codec supports, as
//! `BrokerConnection::decode` runs it on the body after the response
//! header; and the response header itself.
//!
//! Corpus files are named `<Api>-v<version>-<what>.bin` and hold a body.
//! Generated inputs mutate a body and sometimes decode it at another
//! version of the same API (a broker answering at a version it was not
//! asked for).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{apply, mutation, run, write_generated};
use crate::kafka::scripted::FakeBroker;

/// The APIs whose responses the gateway decodes.
const APIS: [ApiKey; 13] = [
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::Fetch,
    ApiKey::Produce,
    ApiKey::ListOffsets,
    ApiKey::InitProducerId,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DescribeConfigs,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
];

/// Decode and, when that works, encode again (no panic either way).
fn round<T: Decodable + Encodable>(bytes: &[u8], version: i16) -> anyhow::Result<()> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let value = T::decode(&mut buf, version)?;
    let mut out = BytesMut::new();
    let _ = value.encode(&mut out, version);
    Ok(())
}

/// The codec's version range of `api`'s request (= its response's).
fn versions(api: ApiKey) -> std::ops::RangeInclusive<i16> {
    let v = match api {
        ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
        ApiKey::Metadata => MetadataRequest::VERSIONS,
        ApiKey::Fetch => FetchRequest::VERSIONS,
        ApiKey::Produce => ProduceRequest::VERSIONS,
        ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
        ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
        ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
        ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
        ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
        ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
        ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
        ApiKey::SaslHandshake => SaslHandshakeRequest::VERSIONS,
        ApiKey::SaslAuthenticate => SaslAuthenticateRequest::VERSIONS,
        other => unreachable!("{other:?} is not a fuzzed API"),
    };
    v.min..=v.max
}

/// Decode `bytes` as `api`'s response at `version`.
fn decode(api: ApiKey, version: i16, bytes: &[u8]) -> anyhow::Result<()> {
    match api {
        ApiKey::ApiVersions => round::<ApiVersionsResponse>(bytes, version),
        ApiKey::Metadata => round::<MetadataResponse>(bytes, version),
        ApiKey::Fetch => round::<FetchResponse>(bytes, version),
        ApiKey::Produce => round::<ProduceResponse>(bytes, version),
        ApiKey::ListOffsets => round::<ListOffsetsResponse>(bytes, version),
        ApiKey::InitProducerId => round::<InitProducerIdResponse>(bytes, version),
        ApiKey::CreateTopics => round::<CreateTopicsResponse>(bytes, version),
        ApiKey::DeleteTopics => round::<DeleteTopicsResponse>(bytes, version),
        ApiKey::DescribeConfigs => round::<DescribeConfigsResponse>(bytes, version),
        ApiKey::CreateAcls => round::<CreateAclsResponse>(bytes, version),
        ApiKey::DeleteAcls => round::<DeleteAclsResponse>(bytes, version),
        ApiKey::SaslHandshake => round::<SaslHandshakeResponse>(bytes, version),
        ApiKey::SaslAuthenticate => round::<SaslAuthenticateResponse>(bytes, version),
        other => unreachable!("{other:?} is not a fuzzed API"),
    }
}

fn name(s: &'static str) -> StrBytes {
    StrBytes::from_static_str(s)
}

/// A record batch for Fetch seeds: two records, uncompressed.
fn batch() -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let record = |offset: i64| Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from_static(b"key")),
        value: Some(Bytes::from_static(b"value")),
        headers: Default::default(),
    };
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        [record(0), record(1)].iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    out.freeze()
}

/// A named response, encoded on demand at a version.
type Sample = (
    &'static str,
    Box<dyn Fn(&mut BytesMut, i16) -> anyhow::Result<()>>,
);

/// Populated responses of `api` (every array holds an element), each to be
/// encoded at the versions it fits.
fn samples(api: ApiKey) -> Vec<Sample> {
    fn boxed<T: Encodable + 'static>(what: &'static str, v: T) -> Sample {
        (what, Box::new(move |buf, version| v.encode(buf, version)))
    }
    match api {
        ApiKey::ApiVersions => vec![
            boxed("default", ApiVersionsResponse::default()),
            boxed("broker", FakeBroker::api_versions()),
        ],
        ApiKey::Metadata => {
            use metadata_response::*;
            let partition = MetadataResponsePartition::default()
                .with_partition_index(1)
                .with_leader_id(BrokerId(1))
                .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                .with_isr_nodes(vec![BrokerId(1)]);
            let topic = MetadataResponseTopic::default()
                .with_name(Some(TopicName(name("orders"))))
                .with_partitions(vec![partition.clone(), partition]);
            vec![
                boxed("default", MetadataResponse::default()),
                boxed(
                    "cluster",
                    MetadataResponse::default()
                        .with_brokers(vec![MetadataResponseBroker::default()
                            .with_node_id(BrokerId(1))
                            .with_host(name("127.0.0.1"))
                            .with_port(9092)])
                        .with_controller_id(BrokerId(1))
                        .with_topics(vec![topic]),
                ),
            ]
        }
        ApiKey::Fetch => {
            use fetch_response::*;
            let partition = PartitionData::default()
                .with_high_watermark(2)
                .with_aborted_transactions(Some(vec![AbortedTransaction::default()
                    .with_producer_id(ProducerId(7))
                    .with_first_offset(0)]))
                .with_records(Some(batch()));
            vec![
                boxed("default", FetchResponse::default()),
                boxed(
                    "by-name",
                    FetchResponse::default()
                        .with_responses(vec![FetchableTopicResponse::default()
                            .with_topic(TopicName(name("orders")))
                            .with_partitions(vec![partition.clone()])]),
                ),
                boxed(
                    "by-id",
                    FetchResponse::default()
                        .with_responses(vec![FetchableTopicResponse::default()
                            .with_topic_id(uuid::Uuid::from_u128(0x1234))
                            .with_partitions(vec![partition])]),
                ),
            ]
        }
        ApiKey::Produce => {
            use produce_response::*;
            vec![boxed(
                "one-partition",
                ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
                    .with_name(TopicName(name("orders")))
                    .with_partition_responses(vec![
                        PartitionProduceResponse::default().with_base_offset(42)
                    ])]),
            )]
        }
        ApiKey::ListOffsets => {
            use list_offsets_response::*;
            vec![boxed(
                "one-partition",
                ListOffsetsResponse::default().with_topics(vec![
                    ListOffsetsTopicResponse::default()
                        .with_name(TopicName(name("orders")))
                        .with_partitions(vec![
                            ListOffsetsPartitionResponse::default().with_offset(42)
                        ]),
                ]),
            )]
        }
        ApiKey::InitProducerId => vec![boxed(
            "claimed",
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(7))
                .with_producer_epoch(3),
        )],
        ApiKey::CreateTopics => {
            use create_topics_response::*;
            vec![boxed(
                "one-topic",
                CreateTopicsResponse::default().with_topics(vec![CreatableTopicResult::default()
                    .with_name(TopicName(name("orders")))
                    .with_configs(Some(vec![
                        CreatableTopicConfigs::default().with_name(name("cleanup.policy"))
                    ]))]),
            )]
        }
        ApiKey::DeleteTopics => {
            use delete_topics_response::*;
            vec![boxed(
                "one-topic",
                DeleteTopicsResponse::default().with_responses(vec![
                    DeletableTopicResult::default().with_name(Some(TopicName(name("orders")))),
                ]),
            )]
        }
        ApiKey::DescribeConfigs => {
            use describe_configs_response::*;
            vec![boxed(
                "one-topic",
                DescribeConfigsResponse::default().with_results(vec![
                    DescribeConfigsResult::default()
                        .with_resource_name(name("orders"))
                        .with_configs(vec![DescribeConfigsResourceResult::default()
                            .with_name(name("retention.ms"))
                            .with_value(Some(name("1000")))]),
                ]),
            )]
        }
        ApiKey::CreateAcls => {
            use create_acls_response::*;
            vec![boxed(
                "one-result",
                CreateAclsResponse::default().with_results(vec![AclCreationResult::default()]),
            )]
        }
        ApiKey::DeleteAcls => {
            use delete_acls_response::*;
            vec![boxed(
                "one-filter",
                DeleteAclsResponse::default()
                    .with_filter_results(vec![DeleteAclsFilterResult::default()
                        .with_matching_acls(vec![DeleteAclsMatchingAcl::default()])]),
            )]
        }
        ApiKey::SaslHandshake => vec![boxed(
            "mechanisms",
            SaslHandshakeResponse::default()
                .with_mechanisms(vec![name("SCRAM-SHA-512"), name("PLAIN")]),
        )],
        ApiKey::SaslAuthenticate => vec![boxed(
            "scram-first",
            SaslAuthenticateResponse::default()
                .with_auth_bytes(Bytes::from_static(b"r=abc,s=c2FsdA==,i=4096"))
                .with_session_lifetime_ms(3_600_000),
        )],
        other => unreachable!("{other:?} is not a fuzzed API"),
    }
}

/// (api, version, what, body) for every sample at every version it encodes at.
fn generated() -> Vec<(ApiKey, i16, String, Vec<u8>)> {
    let mut out = Vec::new();
    for api in APIS {
        for (what, encode) in samples(api) {
            for version in versions(api) {
                let mut buf = BytesMut::new();
                if encode(&mut buf, version).is_ok() {
                    out.push((api, version, what.to_string(), buf.to_vec()));
                }
            }
        }
    }
    out
}

/// `[gen-]<Api>-v<version>-...` of a corpus file name.
fn parse_name(file: &str) -> (ApiKey, i16) {
    let mut parts = file.strip_prefix("gen-").unwrap_or(file).splitn(3, '-');
    let (api, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let api = APIS
        .into_iter()
        .find(|k| format!("{k:?}") == api)
        .unwrap_or_else(|| panic!("corpus file {file}: unknown API {api:?}"));
    let version = version
        .strip_prefix('v')
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("corpus file {file}: no v<version>"));
    assert!(
        versions(api).contains(&version),
        "corpus file {file}: version out of range"
    );
    (api, version)
}

#[test]
fn fuzz_response_decoders() {
    let generated = generated();
    // The corpus keeps each sample at its lowest and highest version.
    let mut files = Vec::new();
    for (i, (api, version, what, body)) in generated.iter().enumerate() {
        let same = |j: &(ApiKey, i16, String, Vec<u8>)| j.0 == *api && j.2 == *what;
        let first = generated.iter().position(same) == Some(i);
        let last = generated.iter().rposition(same) == Some(i);
        if first || last {
            files.push((format!("{api:?}-v{version}-{what}.bin"), body.clone()));
        }
    }
    write_generated("responses", &files);

    let corpus = super::corpus("responses");
    let mut seeds: Vec<(ApiKey, i16, Vec<u8>)> = Vec::new();
    for (file, body) in &corpus {
        let (api, version) = parse_name(file);
        // Errors are fine; a panic or an abort is not.
        let _ = decode(api, version, body);
        seeds.push((api, version, body.clone()));
    }
    seeds.extend(generated.into_iter().map(|(a, v, _, b)| (a, v, b)));
    // The response header, both versions (conn.rs decodes it first).
    for version in [0i16, 1] {
        let _ = ResponseHeader::decode(&mut Bytes::from_static(&[0, 0, 0, 1, 0]), version);
    }

    let strategy = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 0..8),
        any::<u8>(),
    )
        .prop_map(|((api, version, mut body), mutations, shift)| {
            for m in &mutations {
                apply(&mut body, m);
            }
            // One input in eight is decoded at another version.
            let range = versions(api);
            let version = if shift % 8 == 0 {
                let span = (range.end() - range.start() + 1) as u8;
                range.start() + i16::from(shift / 8 % span)
            } else {
                version
            };
            (api, version, body)
        });
    run("responses", strategy, |(api, version, body)| {
        let _ = decode(*api, *version, body);
        let mut header = Bytes::copy_from_slice(body);
        let _ = ResponseHeader::decode(&mut header, (*version % 2).abs());
        Ok::<(), TestCaseError>(())
    });
}

/// The inputs that aborted the gateway before the vendored kafka-protocol
/// fix: array lengths far above the bytes present (also in the corpus as
/// `*-huge-array.bin`).
#[test]
fn huge_array_lengths_are_errors() {
    let cases: [(ApiKey, i16, &[u8]); 4] = [
        // Metadata v0: brokers array of 2^31 - 1 elements, no bytes.
        (ApiKey::Metadata, 0, &[0x7f, 0xff, 0xff, 0xff]),
        // Metadata v12: throttle time, compact brokers array of 2^32 - 2.
        (
            ApiKey::Metadata,
            12,
            &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f],
        ),
        // Fetch v16: throttle, error, session id, responses of 2^32 - 2.
        (
            ApiKey::Fetch,
            16,
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f],
        ),
        // SaslHandshake v1: error, mechanisms array of 2^31 - 1 strings.
        (ApiKey::SaslHandshake, 1, &[0, 0, 0x7f, 0xff, 0xff, 0xff]),
    ];
    for (api, version, body) in cases {
        let e = decode(api, version, body).unwrap_err();
        assert!(
            e.to_string().contains("exceeds"),
            "{api:?} v{version}: {e:#}"
        );
    }
    // A byte field of 2 GiB - 1 (v0: error, empty message, auth bytes),
    // then a compact string of 4 GiB - 2 (v2: error, message); both are
    // zero-copy slices of the frame, refused without an allocation.
    let mut sasl = vec![0u8, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
    assert!(decode(ApiKey::SaslAuthenticate, 0, &sasl).is_err());
    sasl.truncate(2);
    sasl.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(decode(ApiKey::SaslAuthenticate, 2, &sasl).is_err());
}
