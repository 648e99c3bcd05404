//! End-to-end tests of how the gateway reports security failures against
//! real brokers (nisshi with TLS and SCRAM, see `secure_harness.rs` for what
//! nisshi does): a link creation through the REST API that cannot
//! authenticate or cannot set up TLS fails with Confluent's link error code
//! and a message in words naming the cluster and the broker address
//! ([`link_creation_reports_security_failures_in_words`]); a config-file
//! link with a wrong password is `UNAVAILABLE` with `AUTHENTICATION_ERROR`,
//! retried with backoff, beside a healthy link that keeps mirroring, and
//! recovers when the config file gets the right password
//! ([`wrong_password_link_is_unavailable_backs_off_and_recovers`]). Both
//! tests end with the no-leak check: the passwords (and the API secrets
//! key) are never in the gateway log (whole file), in any API response body
//! the test got, or in `/metrics`.
//!
//! Not covered, because nisshi cannot produce the case: a broker that
//! requires a client certificate and refuses the gateway's (nisshi does not
//! check client certificates; socat in front of it would only show socat's
//! alert), OAUTHBEARER and PLAIN success paths (nisshi offers only
//! SCRAM-SHA-512 and SCRAM-SHA-256), and a SaslAuthenticate error with a
//! broker-written message (nisshi answers a wrong SCRAM password in the
//! SCRAM exchange itself).

use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use linkgate_tests::{
    assert_same_records, consume_partition, control_config, create_topic, create_topic_with, entry,
    link_body, now_ms, produce, produce_with, wait_link_state, wait_until, Api, ApiResponse,
    Broker, BrokerSecurity, ClientSecurity, Gateway, SaslMechanism, ScramMechanism, TestCa,
    TestRecord, CLUSTERS, LOOPBACK_SANS,
};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);
/// A refused link creation must be answered within this time.
const CREATE_ANSWER: Duration = Duration::from_secs(30);
/// The SCRAM user of the secure brokers.
const USER: &str = "mirror-user";
/// Its password (must never show outside the config).
const PASSWORD: &str = "pw-right-5e1f0a77c3";
/// A wrong password (must never show either).
const WRONG_PASSWORD: &str = "pw-wrong-93c7d2b4aa";
/// `[gateway] secrets_key` of the API tests (base64 of bytes 0..32):
/// API links with an inline `sasl.jaas.config` need one.
const SECRETS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Every value that must never leave the config.
const SECRETS: [&str; 3] = [PASSWORD, WRONG_PASSWORD, SECRETS_KEY];
/// Short timeouts for links that will not get through.
const SHORT_TIMEOUTS: [(&str, &str); 2] = [
    ("request.timeout.ms", "5000"),
    ("socket.connection.setup.timeout.ms", "3000"),
];
/// How long the retries of a failing link are counted (from the gateway's start).
const RETRY_WINDOW: Duration = Duration::from_secs(12);
/// Far below a retry loop without backoff: the gateway's backoff (200 ms
/// doubling to 10 s) makes about 6 attempts in [`RETRY_WINDOW`].
const MAX_ATTEMPTS_IN_WINDOW: usize = 30;

/// Every API answer the test got, as text, for the no-leak check.
#[derive(Default)]
struct Seen {
    bodies: Mutex<Vec<String>>,
}

impl Seen {
    fn keep(&self, what: &str, r: &ApiResponse) {
        self.bodies
            .lock()
            .expect("seen lock")
            .push(format!("{what}: {r}"));
    }

    /// `GET path`, kept.
    fn get(&self, api: &Api, path: &str) -> anyhow::Result<ApiResponse> {
        let r = api.get(path)?;
        self.keep(&format!("GET {path}"), &r);
        Ok(r)
    }

    /// `POST path` with `body`, kept.
    fn post(&self, api: &Api, path: &str, body: &Value) -> anyhow::Result<ApiResponse> {
        let r = api.post(path, Some(body))?;
        self.keep(&format!("POST {path}"), &r);
        Ok(r)
    }

    /// [`Api::wait_for`] keeping every answer it saw.
    async fn wait_for<F>(
        &self,
        api: &Api,
        path: &str,
        deadline: Duration,
        mut pred: F,
    ) -> anyhow::Result<ApiResponse>
    where
        F: FnMut(&ApiResponse) -> bool,
    {
        api.wait_for(path, deadline, |r| {
            self.keep(&format!("GET {path}"), r);
            pred(r)
        })
        .await
    }

    /// No API answer so far holds a secret.
    #[track_caller]
    fn assert_no_secret(&self) {
        let bodies = self.bodies.lock().expect("seen lock");
        assert!(!bodies.is_empty(), "no API answer recorded");
        for body in bodies.iter() {
            assert_no_secret("an API answer", body);
        }
    }
}

/// `text` holds none of [`SECRETS`].
#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        if let Some(at) = text.find(secret) {
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(200)
                .map_or(0, |(i, _)| i);
            panic!(
                "{what} holds a secret ({} chars in): ...{}",
                at,
                &text[from..at]
            );
        }
    }
}

/// The gateway log (whole file) and `/metrics` hold no secret.
fn assert_gateway_keeps_secrets(gw: &Gateway) -> anyhow::Result<()> {
    let log = std::fs::read(gw.log_path()).context("reading the gateway log")?;
    let log = String::from_utf8_lossy(&log);
    assert!(!log.is_empty(), "empty gateway log");
    assert_no_secret("the gateway log", &log);
    let metrics = gw.metrics()?;
    assert!(metrics.contains("linkgate_"), "no metrics: {metrics}");
    assert_no_secret("/metrics", &metrics);
    Ok(())
}

/// A config text with `secrets_key` set in `[gateway]`.
fn with_secrets_key(config: &str) -> String {
    config.replacen(
        "[gateway]\n",
        &format!("[gateway]\nsecrets_key = \"{SECRETS_KEY}\"\n"),
        1,
    )
}

/// `bootstrap.servers` followed by `security`'s Java-client properties and `extra`.
fn link_configs(
    bootstrap: &str,
    security: &ClientSecurity,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut out = vec![("bootstrap.servers".to_owned(), bootstrap.to_owned())];
    out.extend(security.java_properties());
    out.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    out
}

fn as_refs(configs: &[(String, String)]) -> Vec<(&str, &str)> {
    configs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// One refused link creation: what the source is, and what the message must say.
struct Refusal {
    /// The link name (its source cluster is named `<name>-source`).
    name: &'static str,
    /// `bootstrap.servers` of the source.
    bootstrap: String,
    /// The source's security settings.
    security: ClientSecurity,
    /// The link error code the message must start with.
    code: &'static str,
    /// Words the message must contain (case-insensitive).
    words: Vec<&'static str>,
}

/// Link creation through the API (`POST /kafka/v3/clusters/dst/links`)
/// with a source that cannot be authenticated to or whose TLS fails is
/// refused with 400 and a Kafka REST error body whose message carries
/// Confluent's link error code, says "source cluster", names the cluster
/// (`` `<link>-source` ``) and the broker address, says what failed in
/// words, and holds no password; nothing is created. The cases:
/// - wrong SCRAM-SHA-512 password on a TLS+SCRAM broker: `AUTHENTICATION_ERROR`;
/// - truststore of another CA (unknown CA): `AUTHENTICATION_ERROR`, "not
///   signed by a trusted CA";
/// - a broker serving a certificate for `wrong.example` reached as
///   `127.0.0.1`: `AUTHENTICATION_ERROR`, "hostname mismatch";
/// - an expired server certificate: `AUTHENTICATION_ERROR`, "expired";
/// - `security.protocol=SSL` to a plaintext port: `AUTHENTICATION_ERROR`,
///   the message asks whether it is a PLAINTEXT listener (security.protocol);
/// - `PLAINTEXT` to a TLS port: `AUTHENTICATION_ERROR` (nisshi answers the
///   plaintext request with a TLS alert record), the message says the
///   broker answered with TLS and to set `security.protocol` to `SSL`;
/// - `sasl.mechanism=PLAIN` against nisshi (SCRAM only):
///   `AUTHENTICATION_ERROR`, the message names the mechanisms the broker
///   offers.
///
/// A link with the right credentials is created on the same gateway and
/// becomes `ACTIVE` (the failures are the settings', not the setup's), its
/// configs list the JAAS config as sensitive with an empty value. Then the
/// no-leak check (gateway log, every API answer, `/metrics`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_creation_reports_security_failures_in_words() -> anyhow::Result<()> {
    let ca = TestCa::new("errors").context("CA")?;
    let other_ca = TestCa::new("errors-other").context("other CA")?;
    let cert = ca.server_cert(&LOOPBACK_SANS)?;
    let scram = Broker::start_secure(
        "scram",
        BrokerSecurity::tls(&cert).with_scram_user(ScramMechanism::Sha512, USER, PASSWORD),
    )
    .context("TLS+SCRAM broker")?;
    let wrong_host = Broker::start_secure(
        "wrong-host",
        BrokerSecurity::tls(&ca.wrong_host_cert()?)
            .with_probe(ClientSecurity::ssl(&ca).without_host_check()),
    )
    .context("broker with a wrong-host certificate")?;
    let expired = Broker::start_secure(
        "expired",
        BrokerSecurity::tls(&ca.expired_server_cert(&LOOPBACK_SANS)?).with_probe(
            ClientSecurity::ssl(&ca)
                .with_librdkafka("enable.ssl.certificate.verification", "false"),
        ),
    )
    .context("broker with an expired certificate")?;
    let dst = Broker::start("dst")?;
    let config = with_secrets_key(&control_config(&[("dst", dst.bootstrap())], None, ""));
    let gw = Gateway::start(&config)?;
    let api = Api::for_config(&config)?;
    api.wait_ready(DEADLINE)?;
    let seen = Seen::default();
    let links = format!("{CLUSTERS}/dst/links");

    // The right credentials get through: the setup is sound.
    let good = ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha512, USER, PASSWORD);
    let configs = link_configs(&scram.bootstrap(), &good, &[]);
    let r = seen.post(
        &api,
        &format!("{links}?link_name=good"),
        &link_body(&as_refs(&configs)),
    )?;
    assert_eq!(r.status, 204, "create with the right password: {r}");
    let link = wait_link_state(&api, &gw, "dst", "good", "ACTIVE", DEADLINE).await?;
    seen.keep("good link", &link);
    let listed = seen.get(&api, &format!("{links}/good/configs"))?;
    let jaas = entry(&listed.json["data"], "name", "sasl.jaas.config")
        .with_context(|| format!("sasl.jaas.config not listed: {listed}"))?;
    assert_eq!(jaas["sensitive"], true, "{jaas}");
    assert_eq!(jaas["value"], "", "{jaas}");

    let cases = [
        Refusal {
            name: "wrongpw",
            bootstrap: scram.bootstrap(),
            security: ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha512, USER, WRONG_PASSWORD),
            code: "AUTHENTICATION_ERROR",
            // invalid-proof: the broker's word (SCRAM server-final `e=`).
            words: vec![
                "SASL SCRAM-SHA-512",
                "authentication failed",
                "invalid-proof",
            ],
        },
        Refusal {
            name: "unknownca",
            bootstrap: scram.bootstrap(),
            security: ClientSecurity::sasl_ssl(&other_ca, ScramMechanism::Sha512, USER, PASSWORD),
            code: "AUTHENTICATION_ERROR",
            words: vec!["TLS", "not signed by a trusted CA", "ssl.truststore"],
        },
        Refusal {
            name: "wronghost",
            bootstrap: wrong_host.bootstrap(),
            security: ClientSecurity::ssl(&ca),
            code: "AUTHENTICATION_ERROR",
            words: vec![
                "TLS",
                "hostname mismatch",
                "not valid for 127.0.0.1",
                "ssl.endpoint.identification.algorithm",
            ],
        },
        Refusal {
            name: "expired",
            bootstrap: expired.bootstrap(),
            security: ClientSecurity::ssl(&ca),
            code: "AUTHENTICATION_ERROR",
            words: vec!["TLS", "certificate has expired"],
        },
        Refusal {
            name: "tlstoplain",
            bootstrap: dst.bootstrap(),
            security: ClientSecurity::ssl(&ca),
            code: "AUTHENTICATION_ERROR",
            words: vec!["TLS", "PLAINTEXT", "security.protocol"],
        },
        Refusal {
            name: "plaintotls",
            bootstrap: scram.bootstrap(),
            security: ClientSecurity::plaintext(),
            code: "AUTHENTICATION_ERROR",
            words: vec!["answered with TLS", "set security.protocol to SSL"],
        },
        Refusal {
            name: "plainmech",
            bootstrap: scram.bootstrap(),
            security: ClientSecurity::sasl_ssl(&ca, SaslMechanism::Plain, USER, PASSWORD),
            code: "AUTHENTICATION_ERROR",
            words: vec![
                "SASL PLAIN",
                "does not enable PLAIN",
                "SCRAM-SHA-512",
                "SCRAM-SHA-256",
                "sasl.mechanism",
            ],
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let configs = link_configs(&case.bootstrap, &case.security, &SHORT_TIMEOUTS);
        let started = Instant::now();
        let r = seen.post(
            &api,
            &format!("{links}?link_name={}", case.name),
            &link_body(&as_refs(&configs)),
        )?;
        let took = started.elapsed();
        eprintln!("{}: {r} ({took:?})", case.name);
        let message = r.message().to_owned();
        let lower = message.to_lowercase();
        let mut wrong = Vec::new();
        if r.status != 400 || r.json["error_code"] != 400 {
            wrong.push("not a 400 Kafka REST error".to_owned());
        }
        if !message.contains(&format!("Cluster link validation failed: {}:", case.code)) {
            wrong.push(format!("not the code {}", case.code));
        }
        let cluster = format!("source cluster: cluster `{}-source`", case.name);
        for needed in [cluster.as_str(), case.bootstrap.as_str()]
            .into_iter()
            .chain(case.words.iter().copied())
        {
            if !lower.contains(&needed.to_lowercase()) {
                wrong.push(format!("does not say {needed:?}"));
            }
        }
        if took >= CREATE_ANSWER {
            wrong.push(format!("answered after {took:?}"));
        }
        assert_no_secret(&format!("{} answer", case.name), &r.to_string());
        let after = seen.get(&api, &format!("{links}/{}", case.name))?;
        if after.status != 404 {
            wrong.push(format!("link created anyway: {after}"));
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}: {r}", case.name, wrong.join(", ")));
        }
    }
    assert!(
        failures.is_empty(),
        "refused creations not reported as expected:\n{}\n{}",
        failures.join("\n"),
        gw.log_tail(40)
    );
    let all = seen.get(&api, &format!("{CLUSTERS}/-/links"))?;
    assert_eq!(
        linkgate_tests::names(&all.json["data"], "link_name"),
        ["good"],
        "{all}"
    );

    // Each refusal is counted under its kind: `tls` for the handshakes,
    // `authentication` for SASL.
    for case in &cases {
        let kinds = kafka_errors(&gw, &format!("{}-source", case.name));
        let want = if case.words.iter().any(|w| w.starts_with("SASL")) || case.name == "wrongpw" {
            "authentication"
        } else {
            "tls"
        };
        assert!(
            kinds.iter().any(|(k, v)| k == want && *v >= 1.0),
            "{}: linkgate_kafka_errors_total by kind {kinds:?}, expected {want}",
            case.name
        );
    }

    seen.assert_no_secret();
    assert_gateway_keeps_secrets(&gw)?;
    Ok(())
}

/// Counts the TCP connections accepted on a loopback port and forwards each
/// to a backend port (plain TCP, so TLS goes through untouched): the
/// broker-side connection attempts of a client. Forwarding threads end with
/// their connections; the accept thread ends on drop.
struct CountingProxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CountingProxy {
    fn start(backend_port: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding the proxy")?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (Arc::clone(&accepted), Arc::clone(&stop));
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(inbound) = inbound else { break };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || forward(inbound, backend_port));
            }
        });
        Ok(Self {
            port,
            accepted,
            stop,
        })
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn forward(inbound: TcpStream, backend_port: u16) {
    let Ok(outbound) = TcpStream::connect(("127.0.0.1", backend_port)) else {
        return;
    };
    let (Ok(inbound2), Ok(outbound2)) = (inbound.try_clone(), outbound.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pipe(inbound, outbound));
    pipe(outbound2, inbound2);
    let _ = up.join();
}

/// Copies until EOF or an error, then half-closes the other side.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    if let Err(e) = std::io::copy(&mut from, &mut to) {
        if e.kind() != ErrorKind::ConnectionReset {
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// `n` records over 2 partitions (keys, some null values, a header on every
/// third), tagged with `tag` and numbered from `from`.
fn records(tag: &str, from: usize, n: usize) -> Vec<TestRecord> {
    let ts = now_ms();
    (from..from + n)
        .map(|i| {
            let partition = i32::try_from(i % 2).expect("0 or 1");
            let value = (i % 5 != 4).then(|| format!("{tag}-value-{i}").into_bytes());
            let mut r = TestRecord::new(
                partition,
                Some(format!("{tag}-key-{i}").as_bytes()),
                value.as_deref(),
                ts + i64::try_from(i).expect("small"),
            );
            if i % 3 == 0 {
                r = r.with_header("h", Some(tag.as_bytes()));
            }
            r
        })
        .collect()
}

/// Both partitions of `topic` on `bootstrap` hold exactly `sent`, in order
/// from offset 0.
async fn assert_mirrored(
    bootstrap: &str,
    topic: &str,
    sent: &[TestRecord],
    gw: &Gateway,
) -> anyhow::Result<()> {
    for p in 0..2 {
        let expected: Vec<TestRecord> = sent.iter().filter(|r| r.partition == p).cloned().collect();
        let got = consume_partition(bootstrap, topic, p, expected.len(), DEADLINE)
            .await
            .with_context(|| format!("{topic}/{p} on the destination\n{}", gw.log_tail(30)))?;
        let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
        let want: Vec<i64> = (0..i64::try_from(expected.len())?).collect();
        assert_eq!(offsets, want, "{topic}/{p}: offsets");
        let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
        assert_same_records(&expected, &got);
        let (_, high) = linkgate_tests::fetch_watermarks(bootstrap, topic, p).await?;
        assert_eq!(
            high,
            want.len() as i64,
            "{topic}/{p}: nothing more mirrored"
        );
    }
    Ok(())
}

/// The `[clusters.sec]` section and the two `[[links]]` of the run-time
/// test: `sec` is reached through the proxy at `bootstrap` with `security`.
fn runtime_links(bootstrap: &str, security: &ClientSecurity) -> String {
    let mut text = format!("[clusters.sec]\n\"bootstrap.servers\" = {bootstrap:?}\n");
    for (k, v) in security.java_properties() {
        text.push_str(&format!("{k:?} = {v:?}\n"));
    }
    text.push_str(
        "\"request.timeout.ms\" = 5000\n\"socket.connection.setup.timeout.ms\" = 3000\n\n\
         [[links]]\nname = \"good\"\nsource = \"src\"\ndestination = \"dst\"\n\
         mirror_topics = [\"orders\"]\n[links.config]\n\"mirror.start.offset.spec\" = \"earliest\"\n\n\
         [[links]]\nname = \"bad\"\nsource = \"sec\"\ndestination = \"dst\"\n\
         mirror_topics = [\"payments\"]\n[links.config]\n\"mirror.start.offset.spec\" = \"earliest\"\n",
    );
    text
}

/// The entry of link `name` in `GET /kafka/v3/clusters/dst/links`.
fn listed<'a>(list: &'a ApiResponse, name: &str) -> Option<&'a Value> {
    entry(&list.json["data"], "link_name", name)
}

/// At run time, a gateway with two config-file links into one destination:
/// `good` from a plaintext source and `bad` from a TLS+SCRAM source whose
/// `[clusters.sec]` has a wrong password. `bad` is listed by `GET
/// /kafka/v3/clusters/dst/links` as `UNAVAILABLE` with `link_error`
/// `AUTHENTICATION_ERROR` and a `link_error_message` naming the cluster,
/// the broker address and the SASL mechanism, while `good` stays `ACTIVE`
/// with `NO_ERROR` and mirrors its records exactly (also records produced
/// while `bad` fails). The retries are backed off: the connections the
/// source broker is offered (counted by a TCP proxy in front of it; two
/// loops dial it, each backed off: the link's connect and the control
/// plane's reading of API links persisted on every `[clusters]` entry,
/// about 6 each in the window) and
/// `linkgate_mirror_errors_total{link="bad",kind="source"}` (the link's own
/// attempts) stay far below a tight loop within the first [`RETRY_WINDOW`]
/// of the gateway, and go on growing after it (the link keeps retrying). Editing the config file
/// to the right password (the gateway reloads it) makes `bad` `ACTIVE`
/// and it mirrors its topic exactly. Then the no-leak check.
///
/// The refusals are counted in
/// `linkgate_kafka_errors_total{cluster="sec",kind="authentication"}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_link_is_unavailable_backs_off_and_recovers() -> anyhow::Result<()> {
    let ca = TestCa::new("runtime").context("CA")?;
    let cert = ca.server_cert(&LOOPBACK_SANS)?;
    let sec = Broker::start_secure(
        "sec",
        BrokerSecurity::tls(&cert).with_scram_user(ScramMechanism::Sha512, USER, PASSWORD),
    )
    .context("TLS+SCRAM source")?;
    let src = Broker::start("src")?;
    let dst = Broker::start("dst")?;
    create_topic(&src.bootstrap(), "orders", 2, &[]).await?;
    let mut orders = records("orders", 0, 20);
    produce(&src.bootstrap(), "orders", &orders, "lz4").await?;
    let payments = records("payments", 0, 16);
    let right = sec.client_security();
    create_topic_with(&sec.bootstrap(), &right, "payments", 2, &[]).await?;
    produce_with(&sec.bootstrap(), &right, "payments", &payments, "zstd").await?;

    let proxy = CountingProxy::start(sec.port())?;
    let wrong = ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha512, USER, WRONG_PASSWORD);
    let config = control_config(
        &[("src", src.bootstrap()), ("dst", dst.bootstrap())],
        None,
        &runtime_links(&proxy.bootstrap(), &wrong),
    );
    assert!(
        config.contains(WRONG_PASSWORD),
        "the config lacks the password"
    );
    let started = Instant::now();
    let gw = Gateway::start(&config)?;
    let api = Api::for_config(&config)?;
    api.wait_ready(DEADLINE)?;
    let seen = Seen::default();
    let list = format!("{CLUSTERS}/dst/links");

    // The bad link reports the authentication failure; the good one is ACTIVE.
    let r = seen
        .wait_for(&api, &list, DEADLINE, |r| {
            listed(r, "bad").is_some_and(|l| l["link_state"] == "UNAVAILABLE")
                && listed(r, "good").is_some_and(|l| l["link_state"] == "ACTIVE")
        })
        .await
        .with_context(|| gw.log_tail(30))?;
    let bad = listed(&r, "bad").context("bad link")?;
    assert_eq!(bad["link_error"], "AUTHENTICATION_ERROR", "{bad}");
    let message = bad["link_error_message"].as_str().unwrap_or_default();
    for needed in [
        "cluster `sec`",
        proxy.bootstrap().as_str(),
        "SASL SCRAM-SHA-512",
    ] {
        assert!(message.contains(needed), "message lacks {needed:?}: {bad}");
    }
    let good = listed(&r, "good").context("good link")?;
    assert_eq!(good["link_error"], "NO_ERROR", "{good}");
    assert_mirrored(&dst.bootstrap(), "orders", &orders, &gw).await?;

    // Backoff: counted over the first RETRY_WINDOW of the gateway, while the
    // good link keeps mirroring what is produced meanwhile.
    let more = records("orders", orders.len(), 10);
    produce(&src.bootstrap(), "orders", &more, "none").await?;
    orders.extend(more);
    let window_end = started + RETRY_WINDOW;
    let mut states = Vec::new();
    wait_until("the retry window to pass", RETRY_WINDOW + DEADLINE, || {
        let r = seen.get(&api, &list);
        let (good, bad) = match &r {
            Ok(r) => (
                listed(r, "good").map(|l| l["link_state"].clone()),
                listed(r, "bad").map(|l| (l["link_state"].clone(), l["link_error"].clone())),
            ),
            Err(_) => (None, None),
        };
        states.push((good, bad));
        std::future::ready(Instant::now() >= window_end)
    })
    .await?;
    let attempts = proxy.accepted();
    let errors = gw
        .metric_value(
            "linkgate_mirror_errors_total",
            &[("link", "bad"), ("kind", "source")],
        )
        .unwrap_or(0.0);
    let kinds = kafka_errors(&gw, "sec");
    assert!(
        kinds
            .iter()
            .any(|(k, v)| k == "authentication" && *v >= 1.0),
        "linkgate_kafka_errors_total of sec by kind: {kinds:?}"
    );
    eprintln!(
        "in {:?}: {attempts} connections to the source, {errors} link errors; kafka errors of sec: {kinds:?}",
        started.elapsed(),
    );
    for (good, bad) in &states {
        assert_eq!(
            good.as_ref(),
            Some(&Value::from("ACTIVE")),
            "good link left ACTIVE during the window: {states:?}"
        );
        assert_eq!(
            bad.as_ref(),
            Some(&(
                Value::from("UNAVAILABLE"),
                Value::from("AUTHENTICATION_ERROR")
            )),
            "bad link state during the window: {states:?}"
        );
    }
    assert!(
        (3..MAX_ATTEMPTS_IN_WINDOW).contains(&attempts),
        "{attempts} connections to the source in {:?}: expected a few retries with backoff",
        started.elapsed()
    );
    assert!(
        (3.0..MAX_ATTEMPTS_IN_WINDOW as f64).contains(&errors),
        "{errors} link errors in {:?}: expected a few retries with backoff",
        started.elapsed()
    );
    assert_mirrored(&dst.bootstrap(), "orders", &orders, &gw).await?;
    // Still retrying (the delay is at most 10 s).
    wait_until(
        "another connection attempt to the source",
        Duration::from_secs(25),
        || std::future::ready(proxy.accepted() > attempts),
    )
    .await
    .with_context(|| gw.log_tail(20))?;

    // The fix: the right password in the config file; the gateway reloads it.
    let fixed = config.replace(WRONG_PASSWORD, PASSWORD);
    assert_ne!(fixed, config);
    std::fs::write(gw.config_path(), &fixed)?;
    let r = seen
        .wait_for(&api, &list, DEADLINE, |r| {
            listed(r, "bad").is_some_and(|l| l["link_state"] == "ACTIVE")
        })
        .await
        .with_context(|| gw.log_tail(30))?;
    let bad = listed(&r, "bad").context("bad link")?;
    assert_eq!(bad["link_error"], "NO_ERROR", "{bad}");
    assert_eq!(
        listed(&r, "good").map(|l| l["link_state"].clone()),
        Some(Value::from("ACTIVE")),
        "{r}"
    );
    assert_mirrored(&dst.bootstrap(), "payments", &payments, &gw).await?;
    assert_mirrored(&dst.bootstrap(), "orders", &orders, &gw).await?;

    seen.assert_no_secret();
    assert_gateway_keeps_secrets(&gw)?;
    Ok(())
}

/// `linkgate_kafka_errors_total` samples of `cluster`, as `(kind, value)`.
fn kafka_errors(gw: &Gateway, cluster: &str) -> Vec<(String, f64)> {
    let text = gw.metrics().unwrap_or_default();
    linkgate_tests::prometheus::parse_metrics(&text)
        .into_iter()
        .filter(|s| s.name == "linkgate_kafka_errors_total" && s.label("cluster") == Some(cluster))
        .map(|s| (s.label("kind").unwrap_or("").to_owned(), s.value))
        .collect()
}
