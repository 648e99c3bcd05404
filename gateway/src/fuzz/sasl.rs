//! Targets `scram` and `oauth`: the SASL messages a broker (or a token
//! endpoint) sends. `scram` runs a SCRAM-SHA-512 client with a fixed nonce
//! over a server-first message and then, when that was accepted, a
//! server-final message (corpus files: both, separated by a newline).
//! `oauth` feeds the token endpoint's answer (`token_from_response`, JSON
//! with a JWT inside), an OAUTHBEARER server error (`server_error_summary`)
//! and JWT claim parsing (`jwt_expiry`) with each input.
//!
//! Errors must be the typed ones of `SaslError`. SCRAM inputs whose
//! iteration count is above 16384 run with 4096 instead (PBKDF2 at up to
//! 10^6 iterations is slow in a debug build; the count's bounds are unit
//! tested in `scram.rs`).

use proptest::test_runner::TestCaseError;

use super::{run_bytes, write_generated};
use crate::kafka::sasl::oauth;
use crate::kafka::sasl::scram::{ScramClient, ScramHash};
use crate::kafka::sasl::{SaslError, Step};
use crate::secret::Secret;

const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";

fn client() -> ScramClient {
    let mut c = ScramClient::with_nonce(ScramHash::Sha512, "user", &Secret::new("pencil"), NONCE)
        .expect("client");
    let _ = c.client_first();
    c
}

/// `i=` values above 16384 replaced by 4096.
fn cap_iterations(text: &str) -> String {
    text.split(',')
        .map(|a| match a.strip_prefix("i=").map(str::parse::<u64>) {
            Some(Ok(n)) if n > 16_384 => "i=4096".to_string(),
            _ => a.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn typed(e: &SaslError) -> Result<(), TestCaseError> {
    match e {
        SaslError::MalformedServerMessage { .. }
        | SaslError::AuthenticationFailed { .. }
        | SaslError::ServerSignatureMismatch { .. }
        | SaslError::UnexpectedServerMessage { .. } => Ok(()),
        other => Err(TestCaseError::fail(format!("unexpected error {other:?}"))),
    }
}

fn check_scram(_: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let (first, last) = match bytes.iter().position(|b| *b == b'\n') {
        Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
        None => (bytes, None),
    };
    let first = match std::str::from_utf8(first) {
        Ok(t) => cap_iterations(t).into_bytes(),
        Err(_) => first.to_vec(),
    };
    let mut c = client();
    match c.step(&first) {
        Ok(Step::Send(_)) => {}
        Ok(other) => return Err(TestCaseError::fail(format!("server-first gave {other:?}"))),
        Err(e) => return typed(&e),
    }
    if let Some(last) = last {
        match c.step(last) {
            Ok(Step::Done) if c.is_complete() => {}
            Ok(other) => return Err(TestCaseError::fail(format!("server-final gave {other:?}"))),
            Err(e) => typed(&e)?,
        }
    }
    Ok(())
}

fn check_oauth(_: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    let _ = oauth::token_from_response(&text, 1_700_000_000_000);
    let _ = oauth::server_error_summary(bytes);
    let _ = oauth::jwt_expiry(&text);
    let _ = oauth::jwt_issued_at(text.trim());
    Ok(())
}

/// A server-first message extending [`NONCE`] and the matching
/// server-final one, from a server built on the same secret.
fn scram_exchange() -> Vec<u8> {
    let mut c = client();
    let first = format!("r={NONCE}3rfcNHYJY1ZVvWVs7j,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    let Ok(Step::Send(_)) = c.step(first.as_bytes()) else {
        panic!("seed server-first refused");
    };
    let mut out = first.into_bytes();
    out.push(b'\n');
    out.extend_from_slice(b"v=");
    out.extend_from_slice(b"bm90IHRoZSBzaWduYXR1cmU=");
    out
}

#[test]
fn fuzz_scram_server_messages() {
    write_generated(
        "scram",
        &[
            ("exchange.txt".into(), scram_exchange()),
            ("error.txt".into(), b"e=invalid-proof".to_vec()),
            (
                "huge-iterations.txt".into(),
                format!("r={NONCE}x,s=c2FsdA==,i=99999999999999999999").into_bytes(),
            ),
        ],
    );
    run_bytes("scram", Vec::new(), check_scram);
}

#[test]
fn fuzz_oauth_token_endpoint() {
    // A JWS compact token: header.claims.signature, base64url.
    let jwt =
        "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMCwic3ViIjoidSJ9.c2ln";
    write_generated(
        "oauth",
        &[
            (
                "token-jwt.json".into(),
                format!(r#"{{"access_token":"{jwt}","token_type":"bearer","expires_in":3600}}"#)
                    .into_bytes(),
            ),
            (
                "token-opaque.json".into(),
                br#"{"access_token":"abc.def-_~+/=","expires_in":"60"}"#.to_vec(),
            ),
            (
                "server-error.json".into(),
                br#"{"status":"invalid_token","scope":"kafka","openid-configuration":"https://x"}"#
                    .to_vec(),
            ),
            ("jwt.txt".into(), jwt.as_bytes().to_vec()),
        ],
    );
    run_bytes("oauth", Vec::new(), check_oauth);
}
