//! End-to-end tests of mirroring between secured real brokers: nisshi with
//! a TLS listener and SCRAM users ([`Broker::start_secure`]), nisshi behind
//! socat requiring client certificates ([`MtlsBroker`]), the `linkgate`
//! binary between them configured with the Java client's security property
//! names (`[clusters.ALIAS]`), and config provider references (`${env:}`,
//! `${file:}`) for the secrets.
//!
//! Each test produces records with librdkafka on the source (with the
//! source's security), lets the gateway mirror them, reads the destination
//! back with librdkafka configured with the destination's security and
//! compares partition by partition, record by record: key, value, headers,
//! timestamp and order, offsets from 0 and the high watermark (no loss, no
//! duplicates). The test clients use their own credentials and certificates,
//! distinct from the gateway's, so what the gateway got through with is its
//! own configuration.

use std::time::Duration;

use anyhow::Context;
use linkgate_tests::{
    assert_same_records, consume_partition_with, create_topic_with, fetch_watermarks_with,
    free_port, now_ms, produce_with, wait_until, Broker, BrokerSecurity, ClientSecurity, Gateway,
    MtlsBroker, ScramMechanism, TestCa, TestRecord, LOOPBACK_SANS,
};

/// How long a read of the destination (or a metric) may take to show every
/// mirrored record.
const DEADLINE: Duration = Duration::from_secs(45);
/// The link name of every config here.
const LINK: &str = "secure-link";
/// Partitions of the mirrored topic.
const PARTITIONS: i32 = 3;

/// `per_partition` records on each of [`PARTITIONS`] partitions, interleaved:
/// keys (every 5th null), values of varying size (every 7th null), headers on
/// every 3rd record (one with a null value), distinct CreateTime timestamps
/// from an hour ago.
fn sample_records(tag: &str, per_partition: usize) -> Vec<TestRecord> {
    let ts0 = (now_ms() - 3_600_000) / 1000 * 1000;
    let mut out = Vec::new();
    for i in 0..per_partition {
        for p in 0..PARTITIONS {
            let n = out.len();
            let key = (i % 5 != 0).then(|| format!("{tag}-key-{p}-{i}").into_bytes());
            let value = (i % 7 != 3)
                .then(|| format!("{tag}-value-{p}-{i}-{}", "v".repeat(n % 97)).into_bytes());
            let mut r = TestRecord {
                partition: p,
                key,
                value,
                headers: Vec::new(),
                timestamp: ts0 + i64::try_from(n).expect("small") * 7,
            };
            if i % 3 == 0 {
                r = r
                    .with_header("trace-id", Some(format!("{tag}-{n}").as_bytes()))
                    .with_header("null-header", None)
                    .with_header("trace-id", Some(b"repeated name"));
            }
            out.push(r);
        }
    }
    out
}

/// A TOML basic string (or key) holding `text` exactly.
fn toml_str(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A `[clusters.<alias>]` section: `bootstrap.servers` then `properties`.
fn cluster_section(alias: &str, bootstrap: &str, properties: &[(String, String)]) -> String {
    let mut out = format!(
        "[clusters.{alias}]\n\"bootstrap.servers\" = {}\n",
        toml_str(bootstrap)
    );
    for (k, v) in properties {
        out.push_str(&format!("{} = {}\n", toml_str(k), toml_str(v)));
    }
    out
}

/// A gateway config with the two cluster sections and one link [`LINK`]
/// from `src` to `dst` mirroring `topic`.
fn gateway_config(src_section: &str, dst_section: &str, topic: &str) -> String {
    format!(
        r#"[gateway]
metrics_listen = "127.0.0.1:{port}"

{src_section}
{dst_section}
[[links]]
name = "{LINK}"
source = "src"
destination = "dst"
mirror_topics = [{topic}]
"#,
        port = free_port(),
        topic = toml_str(topic),
    )
}

/// `props` with the property `name` given `value` (replaced, or appended).
fn set_prop(mut props: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    match props.iter_mut().find(|(k, _)| k == name) {
        Some(entry) => entry.1 = value.to_owned(),
        None => props.push((name.to_owned(), value.to_owned())),
    }
    props
}

/// `props` without the property `name`.
fn without_prop(props: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    props.into_iter().filter(|(k, _)| k != name).collect()
}

/// The value of property `name` in `props`.
fn prop<'a>(props: &'a [(String, String)], name: &str) -> &'a str {
    props
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no property {name} in {:?}", names(props)))
}

fn names(props: &[(String, String)]) -> Vec<&str> {
    props.iter().map(|(k, _)| k.as_str()).collect()
}

/// Reads every partition of `topic` on the destination with `security` and
/// compares it with `sent`: the same records in the same order at offsets
/// 0.., and a high watermark equal to the count (nothing extra).
async fn assert_mirrored(
    gw: &Gateway,
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
    sent: &[TestRecord],
) -> anyhow::Result<()> {
    for p in 0..PARTITIONS {
        let want: Vec<TestRecord> = sent.iter().filter(|r| r.partition == p).cloned().collect();
        anyhow::ensure!(!want.is_empty(), "no records sent to {topic}/{p}");
        let got = consume_partition_with(bootstrap, security, topic, p, want.len(), DEADLINE)
            .await
            .with_context(|| format!("reading the mirror {topic}/{p}\n{}", gw.log_tail(40)))?;
        let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
        let expected_offsets: Vec<i64> = (0..i64::try_from(want.len())?).collect();
        assert_eq!(offsets, expected_offsets, "{topic}/{p}: mirrored offsets");
        let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
        assert!(got.iter().all(|r| r.partition == p), "{topic}/{p}");
        assert_same_records(&want, &got);
        let (low, high) = fetch_watermarks_with(bootstrap, security, topic, p).await?;
        assert_eq!(
            (low, high),
            (0, i64::try_from(want.len())?),
            "{topic}/{p}: watermarks of the mirror (extra or missing records)"
        );
    }
    Ok(())
}

/// Waits until the gateway counts `expected` mirrored records of `topic` on
/// [`LINK`] (`linkgate_mirror_records_total`, summed over partitions).
async fn assert_metric_counts(gw: &Gateway, topic: &str, expected: usize) -> anyhow::Result<()> {
    let want = expected as f64;
    let labels = [("link", LINK), ("topic", topic)];
    wait_until(
        &format!("linkgate_mirror_records_total{{link={LINK},topic={topic}}} = {expected}"),
        DEADLINE,
        || async { gw.metric_value("linkgate_mirror_records_total", &labels) == Some(want) },
    )
    .await
    .with_context(|| {
        format!(
            "metric is {:?}\n{}",
            gw.metric_value("linkgate_mirror_records_total", &labels),
            gw.log_tail(40)
        )
    })
}

/// The whole gateway log.
fn gateway_log(gw: &Gateway) -> String {
    let bytes = std::fs::read(gw.log_path()).expect("reading the gateway log");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Asserts that no `secret` occurs in the gateway's log (`what` names each).
fn assert_log_free_of(gw: &Gateway, secrets: &[(&str, &str)]) {
    let log = gateway_log(gw);
    assert!(
        log.contains(LINK),
        "the gateway log does not name the link: is it the right file?\n{}",
        gw.log_tail(20)
    );
    for (what, secret) in secrets {
        assert!(!secret.is_empty(), "{what}: empty secret to look for");
        if let Some(at) = log.find(secret) {
            let line_start = log[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = log[at..].find('\n').map_or(log.len(), |i| at + i);
            panic!(
                "the gateway log holds the {what}:\n{}",
                &log[line_start..line_end]
            );
        }
    }
}

/// A line of base64 from the middle of a PEM block: text that appears in a
/// log only if the PEM (e.g. a private key) was written there.
fn pem_body_line(pem: &str) -> &str {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .nth(1)
        .expect("a PEM with at least two base64 lines")
}

/// A SASL_SSL source (nisshi, TLS + SCRAM-SHA-512) mirrored to an mTLS
/// destination (socat requiring a client certificate of the destination's
/// CA, in front of nisshi): 300 records over 3 partitions, some with
/// headers, arrive unchanged. Proves that the gateway authenticates with
/// SCRAM-SHA-512 over TLS (its own user, a password with a quote and a
/// backslash in `sasl.jaas.config`), trusts a CA given by file
/// (`ssl.truststore.location`, source) and inline
/// (`ssl.truststore.certificates`, destination), and presents an inline
/// client certificate (`ssl.keystore.certificate.chain` +
/// `ssl.keystore.key`); two different CAs, so neither trust setting can
/// stand in for the other. The metrics count the 300 records and the log
/// holds neither the SCRAM password nor the client key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_scram512_source_to_mtls_destination() -> anyhow::Result<()> {
    const GATEWAY_PASSWORD: &str = "gw-\"scram\\512-secret";
    let src_ca = TestCa::new("src")?;
    let src_cert = src_ca.server_cert(&LOOPBACK_SANS)?;
    let src = Broker::start_secure(
        "src",
        BrokerSecurity::tls(&src_cert)
            .with_scram_user(ScramMechanism::Sha512, "producer", "producer-secret")
            .with_scram_user(ScramMechanism::Sha512, "linkgate", GATEWAY_PASSWORD),
    )?;
    let producer = src.client_security();
    assert_eq!(producer.protocol.name(), "SASL_SSL");
    let gateway_src = ClientSecurity::sasl_ssl(
        &src_ca,
        ScramMechanism::Sha512,
        "linkgate",
        GATEWAY_PASSWORD,
    );

    let dst_ca = TestCa::new("dst")?;
    let dst_server = dst_ca.server_cert(&LOOPBACK_SANS)?;
    let reader = ClientSecurity::ssl(&dst_ca).with_client_cert(&dst_ca.client_cert("reader")?);
    let dst = MtlsBroker::start(
        "dst",
        BrokerSecurity::plaintext(),
        &dst_server,
        dst_ca.cert_path(),
        &reader,
    )?;
    let gateway_cert = dst_ca.client_cert("linkgate-gateway")?;
    let gateway_dst = ClientSecurity::ssl(&dst_ca).with_client_cert(&gateway_cert);

    let topic = "orders";
    create_topic_with(&src.bootstrap(), &producer, topic, PARTITIONS, &[]).await?;
    let records = sample_records("scram512", 100);
    produce_with(&src.bootstrap(), &producer, topic, &records, "lz4").await?;

    let src_props = gateway_src.java_properties();
    assert!(src_props
        .iter()
        .any(|(k, _)| k == "ssl.truststore.location"));
    let dst_props = gateway_dst.java_properties_inline();
    assert_eq!(prop(&dst_props, "ssl.keystore.key"), gateway_cert.key_pem());
    assert!(
        !dst_props
            .iter()
            .any(|(k, _)| k.ends_with(".location") || k == "ssl.key.password"),
        "the destination must be configured inline only: {:?}",
        names(&dst_props)
    );
    let config = gateway_config(
        &cluster_section("src", &src.bootstrap(), &src_props),
        &cluster_section("dst", &dst.bootstrap(), &dst_props),
        topic,
    );
    let gw = Gateway::start(&config)?;
    assert_mirrored(&gw, &dst.bootstrap(), &reader, topic, &records).await?;
    assert_metric_counts(&gw, topic, records.len()).await?;
    assert_log_free_of(
        &gw,
        &[
            ("source SCRAM password", GATEWAY_PASSWORD),
            ("client key", pem_body_line(gateway_cert.key_pem())),
        ],
    );
    // Every connection through socat's OpenSSL succeeded at once: no
    // resumed session refused with an internal_error alert.
    let log = gateway_log(&gw);
    assert!(
        !log.contains("InternalError") && !log.contains("AUTHENTICATION_ERROR"),
        "a TLS connection failed on the way:\n{}",
        gw.log_tail(40)
    );
    Ok(())
}

/// A TLS-only source (SSL) mirrored to a SASL_PLAINTEXT destination with
/// SCRAM-SHA-256, the secrets out of the config file: the destination's
/// `sasl.jaas.config` is `${file:<dir>/creds.properties:jaas}` and the
/// source's `ssl.truststore.location` is `${env:...}`, set only in the
/// gateway's environment. `ssl.endpoint.identification.algorithm` is not
/// given, and the source's certificate names only the IP address 127.0.0.1
/// (an IP SAN, no DNS name): the default host check accepts it. That the
/// default really checks is shown last: a second gateway with the same
/// settings against a source whose certificate names another host mirrors
/// nothing and logs the host name mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_source_to_sasl_plaintext_scram256_destination_with_secret_references(
) -> anyhow::Result<()> {
    const DST_PASSWORD: &str = "dst-scram256-from-file";
    const TRUSTSTORE_ENV: &str = "LINKGATE_TEST_SRC_TRUSTSTORE";
    let src_ca = TestCa::new("ssl-src")?;
    let src_cert = src_ca.server_cert(&["127.0.0.1"])?;
    let src = Broker::start_secure("src", BrokerSecurity::tls(&src_cert))?;
    let producer = src.client_security();
    assert_eq!(producer.protocol.name(), "SSL");
    let dst = Broker::start_secure(
        "dst",
        BrokerSecurity::plaintext()
            .with_scram_user(ScramMechanism::Sha256, "reader", "reader-secret")
            .with_scram_user(ScramMechanism::Sha256, "linkgate", DST_PASSWORD),
    )?;
    let reader = dst.client_security();
    assert_eq!(reader.protocol.name(), "SASL_PLAINTEXT");

    let topic = "payments";
    create_topic_with(&src.bootstrap(), &producer, topic, PARTITIONS, &[]).await?;
    let records = sample_records("refs", 80);
    produce_with(&src.bootstrap(), &producer, topic, &records, "zstd").await?;

    // The secrets: a properties file in the test's temp dir, an env var.
    let secrets = tempfile::Builder::new()
        .prefix("linkgate-secrets-")
        .tempdir()?;
    let gateway_dst =
        ClientSecurity::sasl_plaintext(ScramMechanism::Sha256, "linkgate", DST_PASSWORD);
    let dst_props = gateway_dst.java_properties();
    let jaas = prop(&dst_props, "sasl.jaas.config").to_owned();
    assert!(
        jaas.contains("ScramLoginModule") && !jaas.contains('\\'),
        "{jaas}"
    );
    let creds = secrets.path().join("creds.properties");
    std::fs::write(
        &creds,
        format!("# linkgate test credentials\nuser=linkgate\njaas={jaas}\n"),
    )?;
    let jaas_ref = format!("${{file:{}:jaas}}", creds.display());
    let dst_props = set_prop(dst_props, "sasl.jaas.config", &jaas_ref);
    let truststore = src_ca
        .cert_path()
        .to_str()
        .context("UTF-8 path")?
        .to_owned();
    let src_props = without_prop(
        ClientSecurity::ssl(&src_ca).java_properties(),
        "ssl.endpoint.identification.algorithm",
    );
    assert_eq!(prop(&src_props, "ssl.truststore.location"), truststore);
    let src_props = set_prop(
        src_props,
        "ssl.truststore.location",
        &format!("${{env:{TRUSTSTORE_ENV}}}"),
    );
    let config = gateway_config(
        &cluster_section("src", &src.bootstrap(), &src_props),
        &cluster_section("dst", &dst.bootstrap(), &dst_props),
        topic,
    );
    assert!(
        !config.contains(DST_PASSWORD) && !config.contains(&truststore),
        "the config must hold references only:\n{config}"
    );
    assert!(!config.contains("ssl.endpoint.identification.algorithm"));

    let gw = Gateway::start_with_env(&config, &[(TRUSTSTORE_ENV, &truststore)])?;
    assert_mirrored(&gw, &dst.bootstrap(), &reader, topic, &records).await?;
    assert_metric_counts(&gw, topic, records.len()).await?;
    assert_log_free_of(&gw, &[("destination SCRAM password", DST_PASSWORD)]);
    drop(gw);

    // The default host check is on: the same settings against a source
    // whose certificate names only another host get nowhere.
    let wrong = src_ca.wrong_host_cert()?;
    let wrong_src = Broker::start_secure(
        "wrong-host",
        BrokerSecurity::tls(&wrong).with_probe(ClientSecurity::ssl(&src_ca).without_host_check()),
    )?;
    let lax = ClientSecurity::ssl(&src_ca).without_host_check();
    create_topic_with(&wrong_src.bootstrap(), &lax, topic, PARTITIONS, &[]).await?;
    produce_with(&wrong_src.bootstrap(), &lax, topic, &records[..9], "none").await?;
    let plain_dst = Broker::start("plain-dst")?;
    let config = gateway_config(
        &cluster_section("src", &wrong_src.bootstrap(), &src_props),
        &cluster_section("dst", &plain_dst.bootstrap(), &[]),
        topic,
    );
    let gw = Gateway::start_with_env(&config, &[(TRUSTSTORE_ENV, &truststore)])?;
    wait_until(
        "the host name mismatch in the gateway log",
        DEADLINE,
        || async { gateway_log(&gw).contains("hostname mismatch") },
    )
    .await
    .with_context(|| gw.log_tail(40))?;
    let plain = ClientSecurity::plaintext();
    for p in 0..PARTITIONS {
        let high = fetch_watermarks_with(&plain_dst.bootstrap(), &plain, topic, p)
            .await
            .map_or(0, |(_, high)| high);
        assert_eq!(high, 0, "{topic}/{p} mirrored from a wrong-host source");
    }
    Ok(())
}

/// An mTLS destination (socat) where the gateway's client key is an
/// encrypted PKCS#8 key (PBES2, AES-256-CBC) in its PEM keystore file
/// (`ssl.keystore.location`), with `ssl.key.password` given as `${env:...}`
/// (set only in the gateway's environment): the gateway decrypts the key,
/// gets through socat's client certificate check and mirrors 150 records
/// from a plaintext source unchanged; the log never holds the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_client_key_with_ssl_key_password() -> anyhow::Result<()> {
    const KEY_PASSWORD: &str = "pkcs8-key-pass-7c1e";
    const KEY_PASSWORD_ENV: &str = "LINKGATE_TEST_KEY_PASSWORD";
    let src = Broker::start("src")?;
    let plain = ClientSecurity::plaintext();
    let ca = TestCa::new("enc-dst")?;
    let server = ca.server_cert(&LOOPBACK_SANS)?;
    let reader = ClientSecurity::ssl(&ca).with_client_cert(&ca.client_cert("reader")?);
    let dst = MtlsBroker::start(
        "dst",
        BrokerSecurity::plaintext(),
        &server,
        ca.cert_path(),
        &reader,
    )?;
    let gateway_dst = ClientSecurity::ssl(&ca)
        .with_encrypted_client_cert(&ca.client_cert("linkgate-gateway")?, KEY_PASSWORD)?;

    let topic = "ledger";
    create_topic_with(&src.bootstrap(), &plain, topic, PARTITIONS, &[]).await?;
    let records = sample_records("enc", 50);
    produce_with(&src.bootstrap(), &plain, topic, &records, "snappy").await?;

    let dst_props = gateway_dst.java_properties();
    assert_eq!(prop(&dst_props, "ssl.key.password"), KEY_PASSWORD);
    let keystore = std::fs::read_to_string(prop(&dst_props, "ssl.keystore.location"))?;
    assert!(
        keystore.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            && !keystore.contains("BEGIN PRIVATE KEY"),
        "the keystore must hold the encrypted key only"
    );
    let dst_props = set_prop(
        dst_props,
        "ssl.key.password",
        &format!("${{env:{KEY_PASSWORD_ENV}}}"),
    );
    let config = gateway_config(
        &cluster_section("src", &src.bootstrap(), &[]),
        &cluster_section("dst", &dst.bootstrap(), &dst_props),
        topic,
    );
    assert!(!config.contains(KEY_PASSWORD));
    let gw = Gateway::start_with_env(&config, &[(KEY_PASSWORD_ENV, KEY_PASSWORD)])?;
    assert_mirrored(&gw, &dst.bootstrap(), &reader, topic, &records).await?;
    assert_metric_counts(&gw, topic, records.len()).await?;
    assert_log_free_of(&gw, &[("client key password", KEY_PASSWORD)]);
    Ok(())
}

/// `"bootstrap.servers" = "SASL_SSL://127.0.0.1:PORT"` without
/// `security.protocol`: the prefix alone turns on TLS and SASL (SCRAM-SHA-512
/// to a TLS + SCRAM source), and 90 records are mirrored unchanged to a
/// plaintext destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_prefix_sets_the_protocol() -> anyhow::Result<()> {
    const GATEWAY_PASSWORD: &str = "prefix-secret";
    let ca = TestCa::new("prefix")?;
    let cert = ca.server_cert(&LOOPBACK_SANS)?;
    let src = Broker::start_secure(
        "src",
        BrokerSecurity::tls(&cert)
            .with_scram_user(ScramMechanism::Sha512, "producer", "producer-secret")
            .with_scram_user(ScramMechanism::Sha512, "linkgate", GATEWAY_PASSWORD),
    )?;
    let producer = src.client_security();
    let dst = Broker::start("dst")?;
    let plain = ClientSecurity::plaintext();

    let topic = "prefixed";
    create_topic_with(&src.bootstrap(), &producer, topic, PARTITIONS, &[]).await?;
    let records = sample_records("prefix", 30);
    produce_with(&src.bootstrap(), &producer, topic, &records, "gzip").await?;

    let src_props = without_prop(
        ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha512, "linkgate", GATEWAY_PASSWORD)
            .java_properties(),
        "security.protocol",
    );
    let config = gateway_config(
        &cluster_section(
            "src",
            &format!("SASL_SSL://{}", src.bootstrap()),
            &src_props,
        ),
        &cluster_section("dst", &dst.bootstrap(), &[]),
        topic,
    );
    assert!(!config.contains("security.protocol"), "{config}");
    let gw = Gateway::start(&config)?;
    assert_mirrored(&gw, &dst.bootstrap(), &plain, topic, &records).await?;
    assert_metric_counts(&gw, topic, records.len()).await?;
    assert_log_free_of(&gw, &[("source SCRAM password", GATEWAY_PASSWORD)]);
    Ok(())
}
