//! The CLI against the gateway's real REST API over HTTPS on loopback
//! (`linkgate::api::serve` with TLS, certificates made by rcgen in the
//! test): `--api https://...` with `--api-ca`, the TLS failures in words
//! (unknown CA, hostname mismatch, certificate required, a refused client
//! certificate, plain HTTP to the TLS port), `--api-cert` / `--api-key`,
//! and the token on reads.

use std::sync::Arc;

use linkgate::api::fake::{FakeLink, FakeState};
use linkgate::api::{ApiTls, ServeOptions};
use linkgate::secret::Secret;
use tokio_util::sync::CancellationToken;

use super::test_pki::{PemDir, TestCa};
use super::tests::run_argv;
use super::CliError;

const TOKEN: &str = "tls-t0ken";

/// A gateway API over HTTPS on loopback: link `east` with mirror
/// `orders`; the server certificate is for `localhost` only.
struct TlsApi {
    port: u16,
    ca: TestCa,
    files: PemDir,
    shutdown: CancellationToken,
    _runtime: tokio::runtime::Runtime,
}

/// What the API requires.
#[derive(Default)]
struct Needs<'a> {
    /// Client certificates of this CA.
    client_ca: Option<&'a TestCa>,
    /// The token, on reads too.
    token_on_reads: bool,
}

impl TlsApi {
    fn start(needs: Needs<'_>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let ca = TestCa::new("cli test CA");
        let files = PemDir::new();
        let server = ca.server(&["localhost"]);
        let cert = files.write("server.pem", &server.cert_pem);
        let key = files.write("server-key.pem", &server.key_pem);
        files.write("ca.pem", &ca.cert_pem());
        let client_ca = needs
            .client_ca
            .map(|c| files.write("client-ca.pem", &c.cert_pem()));
        let tls = ApiTls::load(&cert, &key, client_ca.as_deref()).expect("TLS files");
        let east = FakeLink::new("east", "src", "dst", &["orders"]).expect("fake link");
        let (state, _control) = FakeState::with_control(vec![east.shared()]);
        let shutdown = CancellationToken::new();
        let options = ServeOptions {
            token: needs.token_on_reads.then(|| Secret::new(TOKEN)),
            token_on_reads: needs.token_on_reads,
            tls: Some(tls),
        };
        let server = runtime
            .block_on(linkgate::api::serve(
                "127.0.0.1:0".parse().expect("address"),
                Arc::new(state),
                options,
                shutdown.clone(),
            ))
            .expect("serve");
        Self {
            port: server.local_addr().port(),
            ca,
            files,
            shutdown,
            _runtime: runtime,
        }
    }

    /// A path in the test's PEM directory, as text.
    fn file(&self, name: &str) -> String {
        self.files.path().join(name).display().to_string()
    }

    /// Runs `linkgate link list <args> --api <api>`: the result and stdout.
    fn list(&self, api: &str, args: &[&str]) -> (Result<(), CliError>, String) {
        let mut argv = vec!["linkgate", "link", "list", "--api", api];
        argv.extend_from_slice(args);
        run_argv(&argv)
    }

    fn https(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }
}

impl Drop for TlsApi {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The TLS failure of `result`: its message (which names `url`).
fn tls_failure(result: Result<(), CliError>, url: &str) -> String {
    match result {
        Err(e @ CliError::Tls { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(url), "{msg}");
            assert!(!e.is_retriable(), "{msg}");
            msg
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[test]
fn cli_reads_an_https_api_with_its_ca_and_explains_tls_failures() {
    let api = TlsApi::start(Needs::default());
    let ca = api.file("ca.pem");
    let url = api.https("localhost");
    let (result, out) = api.list(&url, &["--api-ca", &ca]);
    result.expect("list over HTTPS");
    assert!(out.contains("east"), "{out}");

    // Without --api-ca the system's roots do not know the test CA.
    let msg = tls_failure(api.list(&url, &[]).0, &url);
    assert!(
        msg.contains("unknown CA") && msg.contains("--api-ca"),
        "{msg}"
    );

    // The certificate is for localhost, not 127.0.0.1.
    let by_ip = api.https("127.0.0.1");
    let msg = tls_failure(api.list(&by_ip, &["--api-ca", &ca]).0, &by_ip);
    assert!(msg.contains("hostname mismatch"), "{msg}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = format!("http://localhost:{}", api.port);
    match api.list(&plain, &[]).0 {
        Err(e @ CliError::Unreachable { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&plain) && msg.contains("https:// only"),
                "{msg}"
            );
        }
        other => panic!("expected no HTTP answer, got {other:?}"),
    }

    // A CA file that cannot be used is named.
    let missing = api.file("missing-ca.pem");
    match api.list(&url, &["--api-ca", &missing]).0 {
        Err(e @ CliError::Input { .. }) => {
            assert!(e.to_string().contains("missing-ca.pem"), "{e}");
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn https_to_a_plain_http_api_is_explained() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let shutdown = CancellationToken::new();
    let east = FakeLink::new("east", "src", "dst", &[]).expect("fake link");
    let server = runtime
        .block_on(linkgate::api::serve(
            "127.0.0.1:0".parse().expect("address"),
            Arc::new(FakeState::with_control(vec![east.shared()]).0),
            ServeOptions::default(),
            shutdown.clone(),
        ))
        .expect("serve");
    let files = PemDir::new();
    let ca = files.write("ca.pem", &TestCa::new("unused CA").cert_pem());
    let url = format!("https://localhost:{}", server.local_addr().port());
    let ca = ca.display().to_string();
    let (result, _) = run_argv(&["linkgate", "link", "list", "--api", &url, "--api-ca", &ca]);
    let msg = tls_failure(result, &url);
    assert!(msg.contains("did not answer with TLS"), "{msg}");
    shutdown.cancel();
}

#[test]
fn cli_presents_a_client_certificate_when_the_api_requires_one() {
    let clients = TestCa::new("cli client CA");
    let api = TlsApi::start(Needs {
        client_ca: Some(&clients),
        ..Needs::default()
    });
    let ca = api.file("ca.pem");
    let url = api.https("localhost");

    let msg = tls_failure(api.list(&url, &["--api-ca", &ca]).0, &url);
    assert!(
        msg.contains("certificate required") && msg.contains("--api-cert"),
        "{msg}"
    );

    // A certificate of another CA (the server's) is refused.
    let stranger = api.ca.client("stranger");
    let cert = api.files.write("stranger.pem", &stranger.cert_pem);
    let key = api.files.write("stranger-key.pem", &stranger.key_pem);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let args = ["--api-ca", &ca, "--api-cert", &cert, "--api-key", &key];
    let msg = tls_failure(api.list(&url, &args).0, &url);
    assert!(msg.contains("refused the client certificate"), "{msg}");

    // A certificate of the client CA is served.
    let operator = clients.client("operator");
    let cert = api.files.write("operator.pem", &operator.cert_pem);
    let key = api.files.write("operator-key.pem", &operator.key_pem);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let (result, out) = api.list(
        &url,
        &["--api-ca", &ca, "--api-cert", &cert, "--api-key", &key],
    );
    result.expect("list with a client certificate");
    assert!(out.contains("east"), "{out}");

    // One without the other, and a key file without a key.
    match api.list(&url, &["--api-ca", &ca, "--api-cert", &cert]).0 {
        Err(e @ CliError::Usage(_)) => assert!(e.to_string().contains("--api-key"), "{e}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
    match api
        .list(
            &url,
            &["--api-ca", &ca, "--api-cert", &cert, "--api-key", &cert],
        )
        .0
    {
        Err(e @ CliError::Input { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("operator.pem") && msg.contains("no private key"),
                "{msg}"
            );
        }
        other => panic!("expected an input error, got {other:?}"),
    }
    // A key file that is not PEM: named, its content never shown.
    let garbled = api.files.write(
        "garbled-key.pem",
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==!!\n-----END PRIVATE KEY-----\n",
    );
    let garbled = garbled.display().to_string();
    match api
        .list(
            &url,
            &["--api-ca", &ca, "--api-cert", &cert, "--api-key", &garbled],
        )
        .0
    {
        Err(e @ CliError::Input { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("garbled-key.pem") && !msg.contains("c2VjcmV0"),
                "{msg}"
            );
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn cli_sends_the_token_on_reads() {
    let api = TlsApi::start(Needs {
        token_on_reads: true,
        ..Needs::default()
    });
    let ca = api.file("ca.pem");
    let url = api.https("localhost");
    match api.list(&url, &["--api-ca", &ca]).0 {
        Err(CliError::Api { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected 401, got {other:?}"),
    }
    let (result, out) = api.list(&url, &["--api-ca", &ca, "--token", TOKEN]);
    result.expect("list with the token");
    assert!(out.contains("east"), "{out}");
}
