//! Proves the secure part of the end-to-end harness with librdkafka only (no
//! gateway): nisshi brokers with a TLS listener ([`BrokerSecurity::tls`]),
//! SASL/SCRAM users ([`BrokerSecurity::with_scram_user`]) over TLS and over
//! plain TCP, and mTLS through a socat front ([`MtlsBroker`]). Each case
//! creates a topic, produces records (keys, null values, headers, fixed
//! timestamps) and reads them back record by record with the same
//! [`ClientSecurity`]; the negative checks show that the security is real
//! (plaintext to TLS, wrong and unknown SCRAM credentials, no or foreign or
//! expired client certificates, untrusted, wrong-host and expired server
//! certificates are all refused) and each assert the error librdkafka
//! reports.
//!
//! What nisshi 0.8.1 does, as seen here with librdkafka 2.12.1 (the
//! `rdkafka` crate) and asserted below:
//! - TLS: `--cert`/`--key` turn the listener TLS-only; the listener and
//!   advertised URLs keep the `tcp://` scheme (nisshi has no `ssl://`
//!   scheme: TLS is on when `--cert` is given). `--key-passphrase-file`
//!   reads an encrypted PKCS#8 key (PBES2 with PBKDF2-HMAC-SHA256 and
//!   AES-256-CBC, as [`linkgate_tests::TestCert::encrypted_key`] writes it).
//!   It does not verify client certificates (hence socat for mTLS). A
//!   failed handshake is logged with the client's alert
//!   (`AlertReceived(UnknownCA)`, `(BadCertificate)` for a wrong host name,
//!   `(CertificateExpired)`); librdkafka itself only says
//!   "certificate verify failed".
//! - SASL mechanisms: only SCRAM-SHA-512 and SCRAM-SHA-256. SaslHandshake
//!   for `PLAIN` or `OAUTHBEARER` is answered UNSUPPORTED_SASL_MECHANISM
//!   with the enabled list and the connection is closed: librdkafka reports
//!   [`PLAIN_REFUSED`] / [`OAUTHBEARER_REFUSED`]. A wrong password gives
//!   "SASL SCRAM authentication failed: broker responded with
//!   invalid-proof", an unknown user (or a user stored for the other SCRAM
//!   mechanism) "... with unknown-user".
//! - API versions (ApiVersions response): SaslHandshake v0-1,
//!   SaslAuthenticate v0-2.
//! - SaslAuthenticate v1+ carries `session_lifetime_ms = 60000` after a
//!   successful SCRAM exchange (librdkafka: "Received session lifetime 60000
//!   ms from broker"), so KIP-368 clients re-authenticate within a minute.
//!   nisshi's source has no check that closes a connection whose
//!   authentication lifetime ran out (not observed here: that needs a run
//!   of over a minute).
//! - With `--authentication`, ApiVersions is answered before SASL; any other
//!   request before authentication closes the connection (broker log:
//!   "closed connection: client sent a request before it authenticated").
//!   Without it, a SASL client is refused with [`SASL_TO_PLAIN_REFUSED`]
//!   (SaslHandshake answered ILLEGAL_SASL_STATE).
//! - Debian's kcat 1.7.1 (librdkafka 2.0.2) cannot use nisshi 0.8.1 at all,
//!   plaintext included: "Protocol read buffer underflow for ApiVersion v3
//!   at 274/279 ... expected 21", then "ApiVersionRequest failed". Use the
//!   `rdkafka` crate's librdkafka.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use linkgate_tests::{
    assert_same_records, client_config, consume_partition_with, create_topic_with,
    fetch_watermarks_with, now_ms, produce_with, wait_until, Broker, BrokerSecurity,
    ClientSecurity, MtlsBroker, PemFile, SaslMechanism, ScramMechanism, SecurityProtocol, TestCa,
    TestRecord, TlsListener, LOOPBACK_SANS, WRONG_HOST,
};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;

const READ_DEADLINE: Duration = Duration::from_secs(30);
/// How long a negative check waits for librdkafka to report the refusal.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(15);

/// What librdkafka reports when nisshi refuses `sasl.mechanisms=PLAIN`.
const PLAIN_REFUSED: &str = "SASL PLAIN mechanism handshake failed: Broker: Unsupported SASL \
                             mechanism: broker's supported mechanisms: SCRAM-SHA-512,SCRAM-SHA-256";
/// What librdkafka reports when nisshi refuses `sasl.mechanisms=OAUTHBEARER`.
const OAUTHBEARER_REFUSED: &str = "SASL OAUTHBEARER mechanism handshake failed: Broker: \
                                   Unsupported SASL mechanism: broker's supported mechanisms: \
                                   SCRAM-SHA-512,SCRAM-SHA-256";
/// What librdkafka reports when a SCRAM client meets a broker without
/// `--authentication`.
const SASL_TO_PLAIN_REFUSED: &str = "SASL SCRAM-SHA-512 mechanism handshake failed: Broker: \
                                     Request not valid in current SASL state: broker's \
                                     supported mechanisms:  (";

/// `n` records over 2 partitions: keys (some null), values (some null),
/// headers on every third record, timestamps from one hour ago.
fn sample_records(n: usize, tag: &str) -> Vec<TestRecord> {
    let ts0 = (now_ms() - 3_600_000) / 1000 * 1000;
    (0..n)
        .map(|i| {
            let partition = i32::try_from(i % 2).expect("0 or 1");
            let key = (i % 7 != 3).then(|| format!("{tag}-key-{i}").into_bytes());
            let value =
                (i % 11 != 5).then(|| format!("{tag}-value-{i}-{}", "x".repeat(i)).into_bytes());
            let mut r = TestRecord {
                partition,
                key,
                value,
                headers: Vec::new(),
                timestamp: ts0 + i64::try_from(i).expect("small") * 10,
            };
            if i % 3 == 0 {
                r = r
                    .with_header("trace", Some(format!("t-{i}").as_bytes()))
                    .with_header("null", None);
            }
            r
        })
        .collect()
}

/// Creates `topic` (2 partitions), produces `n` records with `security`,
/// reads both partitions back with the same security and compares them
/// record by record, offsets and watermarks included.
async fn round_trip(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
    n: usize,
) -> Vec<TestRecord> {
    create_topic_with(bootstrap, security, topic, 2, &[])
        .await
        .unwrap_or_else(|e| panic!("create {topic} on {bootstrap}: {e:#}"));
    let records = sample_records(n, topic);
    produce_with(bootstrap, security, topic, &records, "lz4")
        .await
        .unwrap_or_else(|e| panic!("produce to {topic} on {bootstrap}: {e:#}"));
    assert_holds(bootstrap, security, topic, &records).await;
    records
}

/// Reads both partitions of `topic` and compares with `sent`.
async fn assert_holds(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &str,
    sent: &[TestRecord],
) {
    for p in 0..2 {
        let expected: Vec<TestRecord> = sent.iter().filter(|r| r.partition == p).cloned().collect();
        let got =
            consume_partition_with(bootstrap, security, topic, p, expected.len(), READ_DEADLINE)
                .await
                .unwrap_or_else(|e| panic!("read {topic}/{p} on {bootstrap}: {e:#}"));
        let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
        let want: Vec<i64> = (0..i64::try_from(expected.len()).expect("len")).collect();
        assert_eq!(offsets, want, "{topic}/{p}: offsets");
        let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
        assert!(
            got.iter().all(|r| r.partition == p),
            "{topic}/{p}: partition"
        );
        assert_same_records(&expected, &got);
        let marks = fetch_watermarks_with(bootstrap, security, topic, p)
            .await
            .expect("watermarks");
        assert_eq!(marks, (0, want.len() as i64), "{topic}/{p}: watermarks");
    }
}

/// A librdkafka context keeping every error and log line.
#[derive(Default)]
struct Capture {
    errors: Mutex<Vec<String>>,
    logs: Mutex<Vec<String>>,
}

impl ClientContext for Capture {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.logs
            .lock()
            .expect("log lock")
            .push(format!("{fac}: {log_message}"));
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.errors
            .lock()
            .expect("error lock")
            .push(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Capture {}

fn capturing_client(
    bootstrap: &str,
    security: &ClientSecurity,
    extra: &[(&str, &str)],
) -> Result<BaseConsumer<Capture>, KafkaError> {
    let mut config = client_config(bootstrap, security);
    config
        .set("group.id", "linkgate-tests-refusal")
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "500")
        .set("socket.connection.setup.timeout.ms", "3000")
        .set_log_level(RDKafkaLogLevel::Debug);
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create_with_context(Capture::default())
}

/// Connects to `bootstrap` with `security` (plus `extra` librdkafka
/// properties) and expects to be refused: Metadata must never succeed, and
/// within [`REFUSAL_DEADLINE`] librdkafka must report an error (error
/// callback or log line) containing `expected`. Client creation failing (a
/// bad key password) counts as a refusal with that error. Returns the first
/// line that matched.
fn assert_refused(
    bootstrap: &str,
    security: &ClientSecurity,
    extra: &[(&str, &str)],
    expected: &str,
) -> String {
    let client = match capturing_client(bootstrap, security, extra) {
        Ok(c) => c,
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains(expected),
                "client creation failed with {text:?}, expected {expected:?}"
            );
            eprintln!("refused ({}): {text}", security.protocol.name());
            return text;
        }
    };
    let start = Instant::now();
    loop {
        match client.fetch_metadata(None, Duration::from_millis(1000)) {
            Ok(m) if !m.brokers().is_empty() => panic!(
                "{bootstrap} accepted {} (expected a refusal with {expected:?}): brokers {:?}",
                security.protocol.name(),
                m.brokers().iter().map(|b| b.port()).collect::<Vec<_>>()
            ),
            _ => {}
        }
        // Dispatches error events to the context.
        let _ = client.poll(Duration::from_millis(100));
        let context = client.context();
        let mut seen = context.errors.lock().expect("lock").clone();
        seen.extend(context.logs.lock().expect("lock").iter().cloned());
        if let Some(line) = seen.iter().find(|e| e.contains(expected)) {
            eprintln!("refused ({}): {line}", security.protocol.name());
            return line.clone();
        }
        if start.elapsed() >= REFUSAL_DEADLINE {
            seen.dedup();
            let tail = &seen[seen.len().saturating_sub(12)..];
            panic!(
                "no error with {expected:?} from {bootstrap} within {REFUSAL_DEADLINE:?}; \
                 last errors and log lines:\n{}",
                tail.join("\n")
            );
        }
    }
}

/// Waits until the broker's log holds `needle`: nisshi logs each failed
/// TLS handshake with the alert the client sent (e.g.
/// `AlertReceived(CertificateExpired)`), which librdkafka's own error
/// ("certificate verify failed") does not name.
async fn assert_broker_logged(broker: &Broker, needle: &str) {
    let path = broker.log_path();
    wait_until(
        &format!("{needle:?} in the broker log"),
        REFUSAL_DEADLINE,
        || async { std::fs::read_to_string(&path).is_ok_and(|t| t.contains(needle)) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", broker.log_tail(10)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_round_trip_and_plaintext_refused() {
    let ca = TestCa::new("ssl").expect("ca");
    let cert = ca.server_cert(&LOOPBACK_SANS).expect("server cert");
    let mut broker = Broker::start_secure("ssl", BrokerSecurity::tls(&cert)).expect("TLS broker");
    let client = broker.client_security();
    assert_eq!(client.protocol, SecurityProtocol::Ssl);
    assert_eq!(client, ClientSecurity::ssl(&ca));
    let records = round_trip(&broker.bootstrap(), &client, "tls-topic", 60).await;

    // The inline CA text works as well as the file (librdkafka `ssl.ca.pem`).
    let inline = ClientSecurity {
        ca: None,
        ..client.clone()
    };
    let mut config = client_config(&broker.bootstrap(), &inline);
    config
        .set("ssl.ca.pem", ca.cert_pem())
        .set("group.id", "inline");
    let consumer: BaseConsumer = config.create().expect("inline CA client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("Metadata with the inline CA");
    assert_eq!(metadata.brokers()[0].port(), i32::from(broker.port()));

    // Plaintext to the TLS-only port: the broker's TLS stack cannot read the request.
    assert_refused(
        &broker.bootstrap(),
        &ClientSecurity::plaintext(),
        &[],
        "Disconnected",
    );
    assert_broker_logged(&broker, "InvalidMessage(InvalidContentType)").await;
    // SSL trusting another CA: the certificate does not verify.
    let other = TestCa::new("other").expect("other ca");
    assert_refused(
        &broker.bootstrap(),
        &ClientSecurity::ssl(&other),
        &[],
        "certificate verify failed",
    );
    assert_broker_logged(&broker, "AlertReceived(UnknownCA)").await;

    // A restart keeps the TLS listener and the data.
    broker.kill9().expect("kill");
    broker.restart().expect("restart with TLS");
    assert_holds(&broker.bootstrap(), &client, "tls-topic", &records).await;
    assert_refused(
        &broker.bootstrap(),
        &ClientSecurity::plaintext(),
        &[],
        "Disconnected",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_host_and_expired_server_certs_are_refused() {
    let ca = TestCa::new("bad-server").expect("ca");
    let wrong = ca.wrong_host_cert().expect("wrong host cert");
    // The probe cannot check the host name of this certificate.
    let security =
        BrokerSecurity::tls(&wrong).with_probe(ClientSecurity::ssl(&ca).without_host_check());
    let broker = Broker::start_secure("wrong-host", security).expect("broker");
    assert_refused(
        &broker.bootstrap(),
        &ClientSecurity::ssl(&ca),
        &[],
        "certificate verify failed",
    );
    assert_broker_logged(&broker, "AlertReceived(BadCertificate)").await;
    // The same client without the host check gets through: the host name
    // was the only thing wrong.
    round_trip(
        &broker.bootstrap(),
        &ClientSecurity::ssl(&ca).without_host_check(),
        "wrong-host",
        10,
    )
    .await;
    assert!(!broker.client_security().skip_host_check);
    assert!(wrong.cert_pem() != ca.cert_pem() && wrong.name() == WRONG_HOST);

    let expired = ca
        .expired_server_cert(&LOOPBACK_SANS)
        .expect("expired cert");
    // rustls serves an expired certificate; the probe must not verify it.
    let probe =
        ClientSecurity::ssl(&ca).with_librdkafka("enable.ssl.certificate.verification", "false");
    let broker = Broker::start_secure("expired", BrokerSecurity::tls(&expired).with_probe(probe))
        .expect("broker with an expired certificate");
    assert_refused(
        &broker.bootstrap(),
        &ClientSecurity::ssl(&ca),
        &[],
        "certificate verify failed",
    );
    assert_broker_logged(&broker, "AlertReceived(CertificateExpired)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_scram512_round_trip_and_wrong_credentials_refused() {
    let ca = TestCa::new("sasl-ssl").expect("ca");
    let cert = ca.server_cert(&LOOPBACK_SANS).expect("server cert");
    let security = BrokerSecurity::tls(&cert)
        .with_scram_user(ScramMechanism::Sha512, "alice", "alice-secret")
        .with_scram_user(ScramMechanism::Sha256, "bob", "bob \"quoted\" secret");
    let mut broker = Broker::start_secure("sasl-ssl", security).expect("SASL_SSL broker");
    let alice = broker.client_security();
    assert_eq!(
        alice,
        ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha512, "alice", "alice-secret")
    );
    let records = round_trip(&broker.bootstrap(), &alice, "scram512", 50).await;
    // The second user, with the other mechanism and quotes in the password.
    let bob = ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha256, "bob", "bob \"quoted\" secret");
    assert_holds(&broker.bootstrap(), &bob, "scram512", &records).await;

    let wrong_password = ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha512, "alice", "nope");
    assert_refused(
        &broker.bootstrap(),
        &wrong_password,
        &[],
        "SASL authentication error",
    );
    let unknown_user = ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha512, "mallory", "x");
    assert_refused(
        &broker.bootstrap(),
        &unknown_user,
        &[],
        "SASL authentication error",
    );
    // alice's credential is stored for SCRAM-SHA-512 only.
    let other_mechanism =
        ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha256, "alice", "alice-secret");
    assert_refused(
        &broker.bootstrap(),
        &other_mechanism,
        &[],
        "SASL authentication error",
    );
    // TLS without SASL gets nowhere on an authenticating broker.
    assert_refused(
        &broker.bootstrap(),
        &ClientSecurity::ssl(&ca),
        &[],
        "in state UP",
    );

    // A restart keeps TLS, authentication and the users (sqlite).
    broker.kill9().expect("kill");
    broker.restart().expect("restart with SASL_SSL");
    assert_holds(&broker.bootstrap(), &alice, "scram512", &records).await;
    assert_refused(
        &broker.bootstrap(),
        &wrong_password,
        &[],
        "SASL authentication error",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plaintext_scram256_round_trip() {
    let security = BrokerSecurity::plaintext().with_scram_user(
        ScramMechanism::Sha256,
        "carol",
        "carol-secret",
    );
    let broker = Broker::start_secure("sasl-plain", security).expect("SASL_PLAINTEXT broker");
    let carol = broker.client_security();
    assert_eq!(carol.protocol, SecurityProtocol::SaslPlaintext);
    round_trip(&broker.bootstrap(), &carol, "scram256", 40).await;

    let wrong = ClientSecurity::sasl_plaintext(ScramMechanism::Sha256, "carol", "carol-secreT");
    assert_refused(
        &broker.bootstrap(),
        &wrong,
        &[],
        "SASL authentication error",
    );
    assert_refused(
        &broker.bootstrap(),
        &ClientSecurity::plaintext(),
        &[],
        "in state UP",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plain_and_oauthbearer_are_refused() {
    let security =
        BrokerSecurity::plaintext().with_scram_user(ScramMechanism::Sha512, "dave", "dave-secret");
    let broker = Broker::start_secure("mechanisms", security).expect("SASL broker");
    let plain = ClientSecurity::sasl_plaintext(SaslMechanism::Plain, "dave", "dave-secret");
    assert_refused(&broker.bootstrap(), &plain, &[], PLAIN_REFUSED);
    let oauth = ClientSecurity::sasl_plaintext(SaslMechanism::OAuthBearerUnsecured, "dave", "");
    assert_refused(&broker.bootstrap(), &oauth, &[], OAUTHBEARER_REFUSED);
    // SCRAM to a broker without `--authentication`.
    let open = Broker::start("no-auth").expect("plaintext broker");
    let scram = ClientSecurity::sasl_plaintext(ScramMechanism::Sha512, "dave", "dave-secret");
    assert_refused(&open.bootstrap(), &scram, &[], SASL_TO_PLAIN_REFUSED);
}

/// The SaslHandshake/SaslAuthenticate versions nisshi advertises in
/// ApiVersions and the `session_lifetime_ms` of its SaslAuthenticate response,
/// as librdkafka logs them (`debug=feature,security`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_versions_and_reauthentication_lifetime() {
    let security =
        BrokerSecurity::plaintext().with_scram_user(ScramMechanism::Sha512, "erin", "erin-secret");
    let broker = Broker::start_secure("versions", security).expect("SASL broker");
    let client = capturing_client(
        &broker.bootstrap(),
        &broker.client_security(),
        &[("debug", "feature,security,broker")],
    )
    .expect("client");
    client
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("Metadata after SCRAM");
    // Log events arrive through the client's queue: poll until the three
    // lines are there or the deadline passed.
    let needles = [
        "ApiKey SaslHandshake (17) Versions",
        "ApiKey SaslAuthenticate (36) Versions",
        "Received session lifetime",
    ];
    let start = Instant::now();
    let found = |needle: &str| -> Option<String> {
        let logs = client.context().logs.lock().expect("lock");
        logs.iter().find(|l| l.contains(needle)).cloned()
    };
    while needles.iter().any(|n| found(n).is_none()) && start.elapsed() < READ_DEADLINE {
        let _ = client.poll(Duration::from_millis(100));
    }
    let logs = client.context().logs.lock().expect("lock").clone();
    let [handshake, authenticate, lifetime] = needles.map(found);
    eprintln!("{handshake:?}\n{authenticate:?}\n{lifetime:?}");
    assert!(
        handshake
            .as_deref()
            .is_some_and(|l| l.ends_with("Versions 0..1")),
        "{handshake:?} in {} log lines:\n{}",
        logs.len(),
        logs.join("\n")
    );
    assert!(
        authenticate
            .as_deref()
            .is_some_and(|l| l.ends_with("Versions 0..2")),
        "{authenticate:?}"
    );
    assert!(
        lifetime
            .as_deref()
            .is_some_and(|l| l.contains("Received session lifetime 60000 ms")),
        "{lifetime:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_through_socat_round_trip_and_certless_refused() {
    let ca = TestCa::new("mtls").expect("ca");
    let server = ca.server_cert(&LOOPBACK_SANS).expect("server cert");
    let client_cert = ca.client_cert("linkgate-client").expect("client cert");
    let client = ClientSecurity::ssl(&ca).with_client_cert(&client_cert);
    let mut mtls = MtlsBroker::start(
        "mtls",
        BrokerSecurity::plaintext(),
        &server,
        ca.cert_path(),
        &client,
    )
    .expect("mTLS broker");
    assert_ne!(mtls.front.port(), mtls.broker.port());
    assert_eq!(mtls.front.backend_port(), mtls.broker.port());
    let records = round_trip(&mtls.bootstrap(), &client, "mtls-topic", 50).await;

    // The same certificate with its key encrypted (PKCS#8 PBES2) and `ssl.key.password`.
    let encrypted = ClientSecurity::ssl(&ca)
        .with_encrypted_client_cert(&client_cert, "key-pass")
        .expect("encrypted key");
    assert_holds(&mtls.bootstrap(), &encrypted, "mtls-topic", &records).await;
    let bad_key_password = ClientSecurity::ssl(&ca)
        .with_encrypted_client_cert(&client_cert, "key-pass")
        .expect("encrypted key");
    let bad_key_password = ClientSecurity {
        identity: bad_key_password.identity.map(|mut id| {
            id.key_password = Some("not-the-key-pass".into());
            id
        }),
        ..bad_key_password
    };
    assert_refused(
        &mtls.bootstrap(),
        &bad_key_password,
        &[],
        "ssl.key.location failed",
    );

    // No client certificate: socat refuses the handshake.
    assert_refused(
        &mtls.bootstrap(),
        &ClientSecurity::ssl(&ca),
        &[],
        "alert certificate required",
    );
    // A client certificate from another CA.
    let other = TestCa::new("mtls-other").expect("other ca");
    let foreign =
        ClientSecurity::ssl(&ca).with_client_cert(&other.client_cert("stranger").expect("cert"));
    assert_refused(&mtls.bootstrap(), &foreign, &[], "alert unknown ca");
    // An expired client certificate from the right CA.
    let expired =
        ClientSecurity::ssl(&ca).with_client_cert(&ca.expired_client_cert("old").expect("cert"));
    assert_refused(
        &mtls.bootstrap(),
        &expired,
        &[],
        "alert certificate expired",
    );
    // That the broker advertises the front's port (not its own) is checked
    // by `MtlsBroker::start` through the front: a plaintext client on the
    // backend port would race its own reconnect to the advertised TLS port.
    // A broker restart behind the front keeps the advertised port.
    mtls.broker.kill9().expect("kill");
    mtls.broker.restart().expect("restart");
    mtls.wait_ready(&client)
        .expect("ready through the front again");
    assert_holds(&mtls.bootstrap(), &client, "mtls-topic", &records).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_broker_with_encrypted_key() {
    let ca = TestCa::new("enc-server").expect("ca");
    let cert = ca.server_cert(&LOOPBACK_SANS).expect("server cert");
    let tls = TlsListener::encrypted(&cert, "server-key-pass").expect("encrypted key");
    assert!(std::fs::read_to_string(&tls.key_path)
        .expect("key")
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let broker = Broker::start_secure("enc-server", BrokerSecurity::plaintext().with_tls(tls))
        .expect("TLS broker with an encrypted key");
    round_trip(&broker.bootstrap(), &broker.client_security(), "enc", 10).await;
    assert_eq!(
        broker.client_security().ca,
        Some(PemFile::read(ca.cert_path()).expect("ca file"))
    );
}
