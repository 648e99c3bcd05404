//! Secrets of links created through the REST API, end to end on real
//! brokers: an API link whose source is TLS + SCRAM-SHA-512 and whose
//! destination is SASL_PLAINTEXT + SCRAM-SHA-256 mirrors exactly, survives
//! a gateway restart (its definition is read back from the destination's
//! state topic and its sealed secret opened with `[gateway] secrets_key`),
//! and no test password appears in the state topic's bytes, the gateway
//! log, any REST API answer, the CLI's output or the `/metrics` body.

use std::time::Duration;

use anyhow::Context;
use linkgate_tests::{
    consume_partition_with, create_topic_with, fetch_watermarks_with, link_body, produce_with,
    run_cli, wait_link_state, wait_until, Broker, BrokerSecurity, ClientSecurity, Gateway,
    ScramMechanism, TestCa, TestRecord, CLUSTERS, LOOPBACK_SANS,
};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(60);
const SRC_PASSWORD: &str = "src-Secret-5b1e9d7c";
const DST_PASSWORD: &str = "dst-Secret-0a4c8f2e";
/// A sealing key (base64 of 32 bytes) given to the gateway by reference.
const SECRETS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn records(n: usize, from: usize) -> Vec<TestRecord> {
    let base = linkgate_tests::now_ms();
    (from..from + n)
        .map(|i| {
            TestRecord::new(
                0,
                Some(format!("k{i}").as_bytes()),
                Some(format!("value {i}").as_bytes()),
                base + i as i64,
            )
            .with_header("n", Some(format!("{i}").as_bytes()))
        })
        .collect()
}

/// Every record of the gateway's state topic on `bootstrap`, keys and values
/// as text, one per line.
async fn state_topic_text(bootstrap: &str, security: &ClientSecurity) -> anyhow::Result<String> {
    let state = "__linkgate_state";
    let partitions = linkgate_tests::partition_count_with(bootstrap, security, state)
        .await?
        .context("the state topic exists")?;
    let mut text = String::new();
    for p in 0..i32::try_from(partitions)? {
        let (_, high) = fetch_watermarks_with(bootstrap, security, state, p).await?;
        let n = usize::try_from(high)?;
        for (_, rec) in consume_partition_with(bootstrap, security, state, p, n, DEADLINE).await? {
            text.push_str(&String::from_utf8_lossy(&rec.key.unwrap_or_default()));
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(&rec.value.unwrap_or_default()));
            text.push('\n');
        }
    }
    Ok(text)
}

/// Every password of the test and the sealing key.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [SRC_PASSWORD, DST_PASSWORD, SECRETS_KEY] {
        assert!(!text.contains(secret), "{what} contains a secret:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_link_with_sasl_credentials_survives_restart_and_never_leaks() -> anyhow::Result<()> {
    let ca = TestCa::new("secrets")?;
    let cert = ca.server_cert(&LOOPBACK_SANS)?;
    let src = Broker::start_secure(
        "src",
        BrokerSecurity::tls(&cert).with_scram_user(ScramMechanism::Sha512, "mirror", SRC_PASSWORD),
    )?;
    let dst = Broker::start_secure(
        "dst",
        BrokerSecurity::plaintext().with_scram_user(
            ScramMechanism::Sha256,
            "gateway",
            DST_PASSWORD,
        ),
    )?;
    let src_client = ClientSecurity::sasl_ssl(&ca, ScramMechanism::Sha512, "mirror", SRC_PASSWORD);
    let dst_client =
        ClientSecurity::sasl_plaintext(ScramMechanism::Sha256, "gateway", DST_PASSWORD);

    // The gateway's own secrets come by reference from a properties file.
    let secrets = tempfile::tempdir()?;
    let creds = secrets.path().join("gateway.properties");
    std::fs::write(
        &creds,
        format!(
            "key={SECRETS_KEY}\njaas=org.apache.kafka.common.security.scram.ScramLoginModule \
             required username=\"gateway\" password=\"{DST_PASSWORD}\";\n"
        ),
    )?;
    let creds = creds.display().to_string();
    let (metrics_port, api_port) = (linkgate_tests::free_port(), linkgate_tests::free_port());
    let config = format!(
        r#"[gateway]
metrics_listen = "127.0.0.1:{metrics_port}"
api_listen = "127.0.0.1:{api_port}"
secrets_key = "${{file:{creds}:key}}"

[clusters.dst]
"bootstrap.servers" = "SASL_PLAINTEXT://{dst}"
"sasl.mechanism" = "SCRAM-SHA-256"
"sasl.jaas.config" = "${{file:{creds}:jaas}}"
"#,
        dst = dst.bootstrap()
    );
    let mut gw = Gateway::start(&config)?;
    let api = linkgate_tests::Api::for_config(&config)?;
    api.wait_ready(DEADLINE)?;
    let mut answers = Vec::new();

    create_topic_with(&src.bootstrap(), &src_client, "orders", 1, &[]).await?;
    let first = records(50, 0);
    produce_with(&src.bootstrap(), &src_client, "orders", &first, "lz4").await?;

    // The link's source secrets are inline in the request.
    let java = src_client.java_properties_inline();
    let mut configs: Vec<(&str, &str)> =
        java.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let bootstrap = src.bootstrap();
    configs.push(("bootstrap.servers", &bootstrap));
    let links = format!("{CLUSTERS}/dst/links");
    let r = api.post(
        &format!("{links}?link_name=east"),
        Some(&link_body(&configs)),
    )?;
    assert_eq!(r.status, 204, "create the link: {r}");
    answers.push(r.to_string());
    answers.push(
        wait_link_state(&api, &gw, "dst", "east", "ACTIVE", DEADLINE)
            .await?
            .to_string(),
    );
    let r = api
        .post_retrying(
            &format!("{links}/east/mirrors"),
            Some(&json!({ "source_topic_name": "orders" })),
            DEADLINE,
        )
        .await?;
    assert_eq!(r.status, 204, "create the mirror: {r}");
    answers.push(r.to_string());

    let got =
        consume_partition_with(&dst.bootstrap(), &dst_client, "orders", 0, 50, DEADLINE).await?;
    let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
    linkgate_tests::assert_same_records(&first, &got);

    // The API hides the sensitive values.
    let r = api.get(&format!("{links}/east/configs"))?;
    assert_eq!(r.status, 200, "{r}");
    let jaas = r.json["data"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == "sasl.jaas.config"))
        .cloned()
        .context("sasl.jaas.config listed")?;
    assert_eq!(jaas["sensitive"], true, "{jaas}");
    assert_eq!(jaas["value"], "", "{jaas}");
    answers.push(r.to_string());

    // Restart: the link comes back from the state topic and goes on.
    gw.terminate()?;
    gw.restart()?;
    api.wait_ready(DEADLINE)?;
    answers.push(
        wait_link_state(&api, &gw, "dst", "east", "ACTIVE", DEADLINE)
            .await?
            .to_string(),
    );
    let second = records(30, 50);
    produce_with(&src.bootstrap(), &src_client, "orders", &second, "zstd").await?;
    let got =
        consume_partition_with(&dst.bootstrap(), &dst_client, "orders", 0, 80, DEADLINE).await?;
    let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
    let all: Vec<TestRecord> = first.iter().chain(&second).cloned().collect();
    linkgate_tests::assert_same_records(&all, &got);
    let (_, high) = fetch_watermarks_with(&dst.bootstrap(), &dst_client, "orders", 0).await?;
    assert_eq!(high, 80, "exactly once across the restart");
    for path in [
        format!("{CLUSTERS}/-/links?include_tasks=true"),
        format!("{links}/east"),
        format!("{links}/east/configs"),
        format!("{links}/east/mirrors"),
    ] {
        let r = api.get(&path)?;
        assert_eq!(r.status, 200, "{path}: {r}");
        answers.push(r.to_string());
    }

    // The state topic holds the link, sealed: no password in its bytes.
    let stored = state_topic_text(&dst.bootstrap(), &dst_client).await?;
    assert!(
        stored.contains("link/east"),
        "the link definition is stored:\n{stored}"
    );
    assert!(
        stored.contains("sealed:v1:"),
        "its secrets are sealed:\n{stored}"
    );
    assert_no_secret("the state topic", &stored);

    // CLI output, API answers, metrics and the whole gateway log.
    for args in [
        vec!["link", "list"],
        vec!["link", "describe", "--link", "east"],
        vec!["link", "task-list", "--link", "east"],
        vec!["mirror", "describe", "--link", "east"],
    ] {
        let run = run_cli(&args, api.base(), None)?;
        assert!(run.success(), "{run}");
        assert_no_secret(&format!("linkgate {}", args.join(" ")), &format!("{run}"));
    }
    for answer in &answers {
        assert_no_secret("an API answer", answer);
    }
    assert_no_secret("/metrics", &gw.metrics()?);
    wait_until("the gateway log to be written", DEADLINE, || async {
        std::fs::read_to_string(gw.log_path()).is_ok_and(|l| l.contains("east"))
    })
    .await?;
    assert_no_secret("the gateway log", &std::fs::read_to_string(gw.log_path())?);
    Ok(())
}

/// Without `[gateway] secrets_key`, an API link whose secret is inline is
/// refused (400, naming the property and how to fix it) and nothing is
/// stored; the same link with its JAAS given as a `${file:...}` reference is
/// created, and the state topic keeps the reference, not the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secrets_key_inline_secrets_are_refused_and_references_kept() -> anyhow::Result<()>
{
    let src = Broker::start_secure(
        "src",
        BrokerSecurity::plaintext().with_scram_user(ScramMechanism::Sha512, "mirror", SRC_PASSWORD),
    )?;
    let dst = Broker::start("dst")?;
    let (gw, api, _) = linkgate_tests::start_control_gateway(&[("dst", &dst)], None, "", DEADLINE)?;
    let links = format!("{CLUSTERS}/dst/links");
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"mirror\" \
         password=\"{SRC_PASSWORD}\";"
    );
    let bootstrap = src.bootstrap();
    let mut configs = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.jaas.config", jaas.as_str()),
    ];
    let r = api.post(
        &format!("{links}?link_name=inline"),
        Some(&link_body(&configs)),
    )?;
    assert_eq!(r.status, 400, "an inline secret without a key: {r}");
    assert!(
        r.message().contains("sasl.jaas.config") && r.message().contains("secrets_key"),
        "{r}"
    );
    assert_no_secret("the refusal", &r.to_string());
    assert_eq!(api.get(&format!("{links}/inline"))?.status, 404);

    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("src.properties");
    std::fs::write(&creds, format!("jaas={jaas}\n"))?;
    let reference = format!("${{file:{}:jaas}}", creds.display());
    configs[3].1 = &reference;
    let r = api.post(
        &format!("{links}?link_name=byref"),
        Some(&link_body(&configs)),
    )?;
    assert_eq!(r.status, 204, "a reference without a key: {r}");
    wait_link_state(&api, &gw, "dst", "byref", "ACTIVE", DEADLINE).await?;

    let plain = ClientSecurity::plaintext();
    wait_until(
        "the link definition in the state topic",
        DEADLINE,
        || async {
            state_topic_text(&dst.bootstrap(), &plain)
                .await
                .is_ok_and(|t| t.contains(&reference))
        },
    )
    .await?;
    let stored = state_topic_text(&dst.bootstrap(), &plain).await?;
    assert_no_secret("the state topic", &stored);
    assert_no_secret("the gateway log", &std::fs::read_to_string(gw.log_path())?);
    Ok(())
}
