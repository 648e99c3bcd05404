//! The REST API over real HTTPS on loopback ([`serve`] with
//! [`ServeOptions::tls`]), with certificates made by rcgen in the test and
//! a plain rustls client (tokio-rustls): reads over TLS, plain HTTP and
//! untrusting clients refused, a handshake that never comes holding only
//! its own connection, client certificates with `api_tls_client_ca`, and
//! the bearer token on reads with `api_token_on_reads`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use super::fake::{FakeLink, FakeState};
use super::*;
use crate::test_pki::{Issued, PemDir, TestCa};

/// Deadline of one exchange.
const EXCHANGE: Duration = Duration::from_secs(10);

const GET_LINK: &str =
    "GET /kafka/v3/clusters/dst/links/east HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// A state with link `east` (`src` -> `dst`, mirror `orders`) and a
/// recording control plane.
fn state() -> Result<(Arc<dyn ApiState>, Arc<fake::FakeControl>)> {
    let east = FakeLink::new("east", "src", "dst", &["orders"])?;
    let (state, control) = FakeState::with_control(vec![east.shared()]);
    Ok((Arc::new(state), control))
}

/// A running API and what stops it.
struct Running {
    server: ApiServer,
    shutdown: CancellationToken,
    control: Arc<fake::FakeControl>,
}

impl Running {
    async fn start(options: ServeOptions) -> Result<Self> {
        let (state, control) = state()?;
        let shutdown = CancellationToken::new();
        let server = serve("127.0.0.1:0".parse()?, state, options, shutdown.clone()).await?;
        Ok(Self {
            server,
            shutdown,
            control,
        })
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(EXCHANGE, self.server.join()).await??;
        Ok(())
    }
}

/// The CA, the server's files (certificate for `localhost` and
/// 127.0.0.1) and optionally a client CA file.
struct Pki {
    ca: TestCa,
    files: PemDir,
}

impl Pki {
    fn new() -> Self {
        Self {
            ca: TestCa::new("linkgate test CA"),
            files: PemDir::new(),
        }
    }

    /// TLS settings with a server certificate from this CA and, with
    /// `client_ca`, client certificates required from that CA.
    fn tls(&self, client_ca: Option<&TestCa>) -> Result<ApiTls> {
        let server = self.ca.server(&["localhost", "127.0.0.1"]);
        let cert = self.files.write("server.pem", &server.cert_pem);
        let key = self.files.write("server-key.pem", &server.key_pem);
        let ca = client_ca.map(|ca| self.files.write("client-ca.pem", &ca.cert_pem()));
        Ok(ApiTls::load(&cert, &key, ca.as_deref())?)
    }
}

/// A rustls client trusting `ca`, presenting `client` when given.
fn client_config(ca: &TestCa, client: Option<&Issued>) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes()) {
        roots.add(c?)?;
    }
    let builder = ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(issued) => builder.with_client_auth_cert(
            CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()?,
            PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())?,
        )?,
    };
    Ok(Arc::new(config))
}

/// Status, lower-case head and body of a raw HTTP/1.1 answer.
fn parse_answer(raw: Vec<u8>) -> Result<(u16, String, String)> {
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no header end")?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status")?;
    Ok((code, head.to_ascii_lowercase(), body.to_string()))
}

/// One HTTPS exchange with `localhost` at `addr`: `request` sent as is.
async fn https(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    request: &str,
) -> Result<(u16, String, String)> {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost")?;
        let mut tls = TlsConnector::from(config).connect(name, tcp).await?;
        tls.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        tls.read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(EXCHANGE, exchange)
        .await
        .context("HTTPS exchange timed out")??;
    parse_answer(raw)
}

/// One plain-HTTP exchange: whatever the server sent until it closed.
async fn plain(addr: SocketAddr, request: &str) -> Result<Vec<u8>> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // A reset after the server's alert is a refusal too: keep what came.
    let _ = tokio::time::timeout(EXCHANGE, conn.read_to_end(&mut raw)).await?;
    Ok(raw)
}

#[tokio::test]
async fn https_serves_reads_and_refuses_plain_http_and_untrusting_clients() -> Result<()> {
    let pki = Pki::new();
    let api = Running::start(ServeOptions {
        tls: Some(pki.tls(None)?),
        ..ServeOptions::default()
    })
    .await?;
    assert!(api.server.is_tls());
    let trusting = client_config(&pki.ca, None)?;

    let (code, head, body) = https(api.addr(), trusting.clone(), GET_LINK).await?;
    assert_eq!(code, 200, "{head}{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let json: Value = serde_json::from_str(&body)?;
    assert_eq!(json["link_name"], "east");

    // Plain HTTP to the TLS port gets no HTTP answer (a TLS alert at most).
    let raw = plain(api.addr(), GET_LINK).await?;
    assert!(
        !raw.starts_with(b"HTTP/"),
        "plain HTTP answered: {:?}",
        String::from_utf8_lossy(&raw)
    );

    // A client that does not trust the CA refuses the server.
    let other_ca = TestCa::new("other CA");
    let err = https(api.addr(), client_config(&other_ca, None)?, GET_LINK)
        .await
        .err()
        .context("a client trusting another CA was served")?;
    assert!(format!("{err:#}").contains("UnknownIssuer"), "{err:#}");

    // The server still serves after the failed handshakes.
    let (code, _, _) = https(api.addr(), trusting, GET_LINK).await?;
    assert_eq!(code, 200);
    api.stop().await
}

#[tokio::test]
async fn a_client_that_never_handshakes_holds_only_its_own_connection() -> Result<()> {
    let pki = Pki::new();
    let api = Running::start(ServeOptions {
        tls: Some(pki.tls(None)?),
        ..ServeOptions::default()
    })
    .await?;
    // Connections that send nothing, and one that sends half a record.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(api.addr()).await?);
    }
    let mut half = TcpStream::connect(api.addr()).await?;
    half.write_all(&[0x16, 0x03, 0x01, 0x02]).await?;

    let started = Instant::now();
    let (code, _, _) = https(api.addr(), client_config(&pki.ca, None)?, GET_LINK).await?;
    assert_eq!(code, 200);
    assert!(
        started.elapsed() < tls::HANDSHAKE_TIMEOUT,
        "served only after {:?}",
        started.elapsed()
    );

    // The silent connection is closed once the handshake deadline passes.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(
        tls::HANDSHAKE_TIMEOUT + Duration::from_secs(5),
        idle[0].read(&mut buf),
    )
    .await
    .context("an idle connection outlived the handshake deadline")?;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    api.stop().await
}

#[tokio::test]
async fn client_certificates_are_required_with_a_client_ca() -> Result<()> {
    let pki = Pki::new();
    let clients = TestCa::new("client CA");
    let api = Running::start(ServeOptions {
        tls: Some(pki.tls(Some(&clients))?),
        ..ServeOptions::default()
    })
    .await?;

    // No certificate: refused.
    let err = https(api.addr(), client_config(&pki.ca, None)?, GET_LINK)
        .await
        .err()
        .context("a client without a certificate was served")?;
    assert!(
        format!("{err:#}").contains("CertificateRequired"),
        "{err:#}"
    );

    // A certificate from another CA (here the server's): refused.
    let stranger = pki.ca.client("stranger");
    let err = https(
        api.addr(),
        client_config(&pki.ca, Some(&stranger))?,
        GET_LINK,
    )
    .await
    .err()
    .context("a client certificate of another CA was accepted")?;
    assert!(
        format!("{err:#}").to_lowercase().contains("alert"),
        "{err:#}"
    );

    // A certificate of the client CA: served, reads and (without a token,
    // with any Host: the certificate authenticates) mutations.
    let good = client_config(&pki.ca, Some(&clients.client("operator")))?;
    let (code, _, body) = https(api.addr(), good.clone(), GET_LINK).await?;
    assert_eq!(code, 200, "{body}");
    let pause = r#"{"mirror_topic_names": ["orders"]}"#;
    let request = format!(
        "POST /kafka/v3/clusters/dst/links/east/mirrors:pause HTTP/1.1\r\nHost: gateway.example\r\n\
         Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{pause}",
        pause.len()
    );
    let (code, _, body) = https(api.addr(), good, &request).await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(api.control.calls().len(), 1);
    api.stop().await
}

#[tokio::test]
async fn token_on_reads_guards_get_and_head() -> Result<()> {
    let pki = Pki::new();
    let api = Running::start(ServeOptions {
        token: Some(Secret::new("tok-123")),
        token_on_reads: true,
        tls: Some(pki.tls(None)?),
    })
    .await?;
    let config = client_config(&pki.ca, None)?;
    let get = |auth: &str, method: &str| {
        format!(
            "{method} /kafka/v3/clusters/dst/links/east HTTP/1.1\r\nHost: localhost\r\n\
             Connection: close\r\n{auth}\r\n"
        )
    };
    let (code, head, body) = https(api.addr(), config.clone(), &get("", "GET")).await?;
    assert_eq!(code, 401, "{head}{body}");
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    let json: Value = serde_json::from_str(&body)?;
    assert_eq!(json["error_code"], 401);

    let (code, head, _) = https(api.addr(), config.clone(), &get("", "HEAD")).await?;
    assert_eq!(code, 401, "{head}");
    let wrong = "Authorization: Bearer nope\r\n";
    let (code, head, _) = https(api.addr(), config.clone(), &get(wrong, "GET")).await?;
    assert_eq!(code, 401, "{head}");
    assert!(head.contains("invalid_token"), "{head}");

    let right = "Authorization: Bearer tok-123\r\n";
    let (code, _, body) = https(api.addr(), config, &get(right, "GET")).await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body)?["link_name"], "east");
    api.stop().await
}

#[tokio::test]
async fn without_token_on_reads_gets_stay_open() -> Result<()> {
    let api = Running::start(ServeOptions::with_token(Some("tok-123"))).await?;
    let raw = plain(api.addr(), GET_LINK).await?;
    let (code, _, body) = parse_answer(raw)?;
    assert_eq!(code, 200, "{body}");
    api.stop().await
}

#[test]
fn tls_files_are_checked_and_never_quoted() -> Result<()> {
    let pki = Pki::new();
    let server = pki.ca.server(&["localhost"]);
    let other = pki.ca.server(&["localhost"]);
    let cert = pki.files.write("cert.pem", &server.cert_pem);
    let key = pki.files.write("key.pem", &server.key_pem);
    let other_key = pki.files.write("other-key.pem", &other.key_pem);
    let missing = pki.files.path().join("missing.pem");
    let secret_text = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA===!\n";
    let garbled = pki.files.write("garbled.pem", secret_text);

    let tls = ApiTls::load(&cert, &key, None)?;
    let debug = format!("{tls:?}");
    assert!(
        debug.contains("<redacted>") && !debug.contains("PRIVATE"),
        "{debug}"
    );
    assert!(!tls.requires_client_certificate());
    assert_eq!(
        tls.server_config().alpn_protocols,
        vec![b"http/1.1".to_vec()]
    );

    let err = |cert: &std::path::Path, key: &std::path::Path, ca: Option<&std::path::Path>| {
        ApiTls::load(cert, key, ca)
            .err()
            .map(|e| (e.file, e.to_string()))
    };
    let (file, msg) = err(&missing, &key, None).context("missing cert loaded")?;
    assert_eq!(file, TlsFile::Cert);
    assert!(
        msg.contains("missing.pem") && msg.contains("cannot read"),
        "{msg}"
    );
    let (file, msg) = err(&key, &key, None).context("a key as certificate loaded")?;
    assert_eq!(file, TlsFile::Cert);
    assert!(msg.contains("no certificate"), "{msg}");
    let (file, msg) = err(&cert, &cert, None).context("a certificate as key loaded")?;
    assert_eq!(file, TlsFile::Key);
    assert!(msg.contains("no private key"), "{msg}");
    let (file, msg) = err(&cert, &other_key, None).context("a foreign key loaded")?;
    assert_eq!(file, TlsFile::Key);
    assert!(msg.contains("does not match"), "{msg}");
    let (file, msg) = err(&cert, &garbled, None).context("a garbled key loaded")?;
    assert_eq!(file, TlsFile::Key);
    assert!(
        !msg.contains("c2VjcmV0") && !msg.contains("secret"),
        "key material in {msg}"
    );
    let (file, msg) = err(&cert, &key, Some(&missing)).context("missing CA loaded")?;
    assert_eq!(file, TlsFile::ClientCa);
    assert!(msg.contains("missing.pem"), "{msg}");
    Ok(())
}
