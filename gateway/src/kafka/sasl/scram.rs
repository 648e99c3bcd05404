//! SCRAM client (RFC 5802) with SHA-256 (RFC 7677) and SHA-512, as Kafka's
//! `ScramSaslClient`, `ScramFormatter` and `ScramMessages` implement it:
//!
//! ```text
//! client-first  n,,n=<saslname>,r=<client nonce>[,tokenauth=true]
//! server-first  r=<client nonce + server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=biws,r=<nonce>,p=<base64 ClientProof>
//! server-final  v=<base64 ServerSignature>   (or e=<error>)
//! ```
//!
//! No channel binding (`n,,`), no authorization identity; as in Kafka, the
//! username and password are not SASLprep-normalised (UTF-8 as written).
//! The client refuses fewer than 4096 iterations (Kafka's
//! `ScramMechanism.minIterations`) and more than 1,000,000 (to bound the
//! PBKDF2 work a server can demand), and compares the server signature in
//! constant time.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::distr::Alphanumeric;
use rand::Rng as _;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq as _;

use crate::secret::Secret;

use super::{excerpt, SaslError, Step};

/// Fewest PBKDF2 iterations accepted in a server-first message (Kafka's
/// `ScramMechanism` minimum, RFC 7677 section 4 recommends at least 4096).
pub const MIN_ITERATIONS: u32 = 4096;
/// Most PBKDF2 iterations accepted in a server-first message; bounds the CPU
/// a server can make the client spend (about 1 s for SHA-512, optimised).
pub const MAX_ITERATIONS: u32 = 1_000_000;
/// Length of a generated client nonce, in characters (`[A-Za-z0-9]`, about
/// 190 bits).
const NONCE_CHARS: usize = 32;

/// The hash function of a SCRAM mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SHA-256: mechanism `SCRAM-SHA-256` (RFC 7677).
    Sha256,
    /// SHA-512: mechanism `SCRAM-SHA-512` (Kafka's `ScramMechanism`).
    Sha512,
}

impl ScramHash {
    /// The mechanism name: `"SCRAM-SHA-256"` or `"SCRAM-SHA-512"`.
    pub fn mechanism_name(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// `H(data)`.
    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, data)` (RFC 2104).
    fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, SaslError> {
        let crypto = || SaslError::Crypto {
            mechanism: self.mechanism_name(),
            what: "HMAC key setup",
        };
        Ok(match self {
            ScramHash::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| crypto())?;
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).map_err(|_| crypto())?;
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        })
    }

    /// `Hi(password, salt, iterations)`: PBKDF2 with HMAC and an output of
    /// one hash length (RFC 5802 section 2.2).
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramHash::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }
}

/// The `saslname` of a username (RFC 5802 section 5.1): `=` becomes `=3D`
/// and `,` becomes `=2C` (Kafka's `ScramFormatter.saslName`).
pub fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// Where a [`ScramClient`] exchange is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Initial,
    FirstSent,
    FinalSent,
    Done,
    Failed,
}

/// One SCRAM client exchange (RFC 5802 section 3). `Debug` shows the
/// mechanism and stage only.
pub struct ScramClient {
    hash: ScramHash,
    password: Secret,
    nonce: String,
    /// `n=<saslname>,r=<nonce>[,extensions]`.
    client_first_bare: String,
    /// `ServerSignature`, known once the client-final message is built.
    server_signature: Option<Vec<u8>>,
    stage: Stage,
}

impl ScramClient {
    /// A client for `username` and `password` with a fresh random nonce of 32
    /// characters `[A-Za-z0-9]` (Kafka uses a random base-36 number of 130
    /// bits).
    pub fn new(hash: ScramHash, username: &str, password: &Secret) -> ScramClient {
        let nonce: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(NONCE_CHARS)
            .map(char::from)
            .collect();
        Self::build(hash, username, password, nonce)
    }

    /// A client with a given nonce (for tests against known vectors). The
    /// nonce must be non-empty printable ASCII without `,` (RFC 5802
    /// `printable`); otherwise [`SaslError::InvalidField`].
    pub fn with_nonce(
        hash: ScramHash,
        username: &str,
        password: &Secret,
        nonce: &str,
    ) -> Result<ScramClient, SaslError> {
        if !is_printable(nonce) {
            return Err(SaslError::InvalidField {
                mechanism: hash.mechanism_name(),
                field: "client nonce".to_string(),
                reason: "is not printable ASCII without ','",
            });
        }
        Ok(Self::build(hash, username, password, nonce.to_string()))
    }

    fn build(hash: ScramHash, username: &str, password: &Secret, nonce: String) -> ScramClient {
        let client_first_bare = format!("n={},r={nonce}", sasl_name(username));
        ScramClient {
            hash,
            password: password.clone(),
            nonce,
            client_first_bare,
            server_signature: None,
            stage: Stage::Initial,
        }
    }

    /// Adds the SCRAM extension `tokenauth=true` to the client-first message,
    /// authenticating with a Kafka delegation token (KIP-48; Kafka's
    /// `ScramLoginModule` option `tokenauth`). Call before
    /// [`ScramClient::client_first`].
    pub fn with_token_auth(mut self) -> ScramClient {
        if !self.client_first_bare.ends_with(",tokenauth=true") {
            self.client_first_bare.push_str(",tokenauth=true");
        }
        self
    }

    /// The mechanism name.
    pub fn mechanism(&self) -> &'static str {
        self.hash.mechanism_name()
    }

    /// The client-first message `n,,n=<saslname>,r=<nonce>` (RFC 5802
    /// section 7). Calling it again returns the same bytes.
    pub fn client_first(&mut self) -> Vec<u8> {
        if self.stage == Stage::Initial {
            self.stage = Stage::FirstSent;
        }
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client-final message `c=biws,r=<nonce>,p=<proof>` answering
    /// `server_first` (RFC 5802 sections 3 and 7). Checks that the server
    /// nonce extends ours, the salt is non-empty base64 and the iteration
    /// count lies in [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`]; runs PBKDF2
    /// with that count on the calling thread. Errors:
    /// [`SaslError::AuthenticationFailed`] for a server `e=` attribute,
    /// [`SaslError::MalformedServerMessage`] otherwise.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let result = self.build_client_final(server_first);
        self.stage = if result.is_ok() {
            Stage::FinalSent
        } else {
            Stage::Failed
        };
        result
    }

    fn build_client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let mechanism = self.mechanism();
        let malformed = |reason: String| SaslError::MalformedServerMessage { mechanism, reason };
        let text = std::str::from_utf8(server_first)
            .map_err(|_| malformed("server-first message is not UTF-8".into()))?;
        let mut attributes = text.split(',');
        let first = attributes.next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(SaslError::AuthenticationFailed {
                mechanism,
                reason: format!("server error: {}", excerpt(error)),
            });
        }
        if first.starts_with("m=") {
            // RFC 5802 section 5.1: a client must fail on an unsupported
            // mandatory extension.
            return Err(malformed(
                "server-first message requires a mandatory extension (m=) this client does not support"
                    .into(),
            ));
        }
        let nonce = first.strip_prefix("r=").ok_or_else(|| {
            malformed("server-first message does not start with r= (nonce)".into())
        })?;
        let salt = attributes
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .ok_or_else(|| {
                malformed("server-first message has no s= (salt) after the nonce".into())
            })?;
        let iterations = attributes
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .ok_or_else(|| {
                malformed("server-first message has no i= (iteration count) after the salt".into())
            })?;
        for extension in attributes {
            if !matches!(extension.as_bytes(), [name, b'=', ..] if name.is_ascii_alphabetic()) {
                return Err(malformed(
                    "server-first message has an attribute that is not `x=value`".into(),
                ));
            }
        }
        if !is_printable(nonce) {
            return Err(malformed("server nonce is not printable ASCII".into()));
        }
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(malformed(
                "server nonce does not extend the client nonce".into(),
            ));
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| malformed("salt is not base64".into()))?;
        if salt.is_empty() {
            return Err(malformed("salt is empty".into()));
        }
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("iteration count is not a decimal number".into()));
        }
        let iterations: u32 = iterations.parse().map_err(|_| {
            malformed(format!(
                "iteration count exceeds the maximum {MAX_ITERATIONS}"
            ))
        })?;
        if iterations < MIN_ITERATIONS {
            return Err(malformed(format!(
                "iteration count {iterations} is below the minimum {MIN_ITERATIONS}"
            )));
        }
        if iterations > MAX_ITERATIONS {
            return Err(malformed(format!(
                "iteration count {iterations} exceeds the maximum {MAX_ITERATIONS}"
            )));
        }

        let hash = self.hash;
        let salted_password = hash.hi(self.password.expose().as_bytes(), &salt, iterations);
        let client_key = hash.hmac(&salted_password, b"Client Key")?;
        let stored_key = hash.hash(&client_key);
        // c= is base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c={},r={nonce}", BASE64.encode("n,,"));
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let client_signature = hash.hmac(&stored_key, auth_message.as_bytes())?;
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hash.hmac(&salted_password, b"Server Key")?;
        self.server_signature = Some(hash.hmac(&server_key, auth_message.as_bytes())?);
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: `v=<ServerSignature>` must equal the
    /// one computed for [`ScramClient::client_final`] (constant-time
    /// comparison). Errors: [`SaslError::AuthenticationFailed`] with the
    /// server's text for `e=...`, [`SaslError::ServerSignatureMismatch`],
    /// [`SaslError::MalformedServerMessage`], or
    /// [`SaslError::UnexpectedServerMessage`] before a client-final message.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), SaslError> {
        let mechanism = self.mechanism();
        let malformed = |reason: &str| SaslError::MalformedServerMessage {
            mechanism,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(server_final)
            .map_err(|_| malformed("server-final message is not UTF-8"))?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(SaslError::AuthenticationFailed {
                mechanism,
                reason: format!("server error: {}", excerpt(error)),
            });
        }
        let signature = first
            .strip_prefix("v=")
            .ok_or_else(|| malformed("server-final message has neither v= nor e="))?;
        let signature = BASE64
            .decode(signature)
            .map_err(|_| malformed("server signature is not base64"))?;
        let expected =
            self.server_signature
                .as_deref()
                .ok_or(SaslError::UnexpectedServerMessage {
                    mechanism,
                    state: "before the client-final message",
                })?;
        if bool::from(signature.as_slice().ct_eq(expected)) {
            Ok(())
        } else {
            Err(SaslError::ServerSignatureMismatch { mechanism })
        }
    }

    /// Handles one server message in order: server-first gives
    /// `Step::Send(client-final)`, a verified server-final gives
    /// `Step::Done`. A message before [`ScramClient::client_first`] or after
    /// the end is [`SaslError::UnexpectedServerMessage`].
    pub fn step(&mut self, server_message: &[u8]) -> Result<Step, SaslError> {
        let mechanism = self.mechanism();
        match self.stage {
            Stage::Initial => Err(SaslError::UnexpectedServerMessage {
                mechanism,
                state: "before the initial response",
            }),
            Stage::FirstSent => self.client_final(server_message).map(Step::Send),
            Stage::FinalSent => {
                let verified = self.verify_server_final(server_message);
                self.stage = if verified.is_ok() {
                    Stage::Done
                } else {
                    Stage::Failed
                };
                verified.map(|()| Step::Done)
            }
            Stage::Done | Stage::Failed => Err(SaslError::UnexpectedServerMessage {
                mechanism,
                state: "after the exchange ended",
            }),
        }
    }

    /// Whether the server-final message verified.
    pub fn is_complete(&self) -> bool {
        self.stage == Stage::Done
    }
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism())
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

/// RFC 5802 `printable`: non-empty, `%x21-2B / %x2D-7E`.
fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A SCRAM server computed independently from the client code, with the
    /// crates directly (RFC 5802 section 3, server side).
    pub(crate) struct TestServer {
        hash: ScramHash,
        password: String,
        iterations: u32,
        salt: Vec<u8>,
        server_nonce: String,
    }

    impl TestServer {
        pub(crate) fn new(hash: ScramHash, password: &str, iterations: u32) -> Self {
            Self {
                hash,
                password: password.to_string(),
                iterations,
                salt: b"test-salt-16byte".to_vec(),
                server_nonce: "%server-nonce)".to_string(),
            }
        }

        fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
            match self.hash {
                ScramHash::Sha256 => {
                    let mut m = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key)
                        .expect("any key length");
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                ScramHash::Sha512 => {
                    let mut m = <Hmac<Sha512> as hmac::digest::KeyInit>::new_from_slice(key)
                        .expect("any key length");
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
            }
        }

        fn salted(&self) -> Vec<u8> {
            let mut out = vec![
                0u8;
                if self.hash == ScramHash::Sha256 {
                    32
                } else {
                    64
                }
            ];
            match self.hash {
                ScramHash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(
                    self.password.as_bytes(),
                    &self.salt,
                    self.iterations,
                    &mut out,
                ),
                ScramHash::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(
                    self.password.as_bytes(),
                    &self.salt,
                    self.iterations,
                    &mut out,
                ),
            }
            out
        }

        fn bare(client_first: &[u8]) -> String {
            String::from_utf8(client_first.to_vec())
                .unwrap()
                .strip_prefix("n,,")
                .expect("gs2 header n,,")
                .to_string()
        }

        pub(crate) fn server_first(&self, client_first: &[u8]) -> String {
            let bare = Self::bare(client_first);
            let nonce = bare
                .split(',')
                .find_map(|a| a.strip_prefix("r="))
                .expect("client nonce");
            format!(
                "r={nonce}{},s={},i={}",
                self.server_nonce,
                BASE64.encode(&self.salt),
                self.iterations
            )
        }

        /// `v=<ServerSignature>` when the client proof verifies, `None`
        /// otherwise.
        pub(crate) fn server_final(
            &self,
            client_first: &[u8],
            server_first: &str,
            client_final: &[u8],
        ) -> Option<String> {
            let client_final = std::str::from_utf8(client_final).unwrap();
            let (without_proof, proof) = client_final.rsplit_once(",p=")?;
            let proof = BASE64.decode(proof).ok()?;
            let auth = format!(
                "{},{server_first},{without_proof}",
                Self::bare(client_first)
            );
            let salted = self.salted();
            let client_key = self.hmac(&salted, b"Client Key");
            let stored_key = self.hash.hash(&client_key);
            let signature = self.hmac(&stored_key, auth.as_bytes());
            let recovered: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
            if self.hash.hash(&recovered) != stored_key {
                return None;
            }
            let server_key = self.hmac(&salted, b"Server Key");
            Some(format!(
                "v={}",
                BASE64.encode(self.hmac(&server_key, auth.as_bytes()))
            ))
        }
    }

    fn rfc7677_client() -> ScramClient {
        ScramClient::with_nonce(
            ScramHash::Sha256,
            "user",
            &Secret::new("pencil"),
            "rOprNGfwEbeRWgbNEkqO",
        )
        .unwrap()
    }

    const RFC7677_SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    /// RFC 7677 section 3, byte for byte.
    #[test]
    fn rfc7677_sha256_example() {
        let mut c = rfc7677_client();
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let client_final = c.client_final(RFC7677_SERVER_FIRST).unwrap();
        assert_eq!(
            std::str::from_utf8(&client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        let e = c
            .verify_server_final(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(
            matches!(e, SaslError::ServerSignatureMismatch { .. }),
            "{e}"
        );
    }

    #[test]
    fn rfc7677_example_through_step() {
        let mut c = rfc7677_client();
        assert!(matches!(
            c.step(RFC7677_SERVER_FIRST),
            Err(SaslError::UnexpectedServerMessage { .. })
        ));
        c.client_first();
        assert!(matches!(
            c.step(RFC7677_SERVER_FIRST).unwrap(),
            Step::Send(_)
        ));
        assert!(!c.is_complete());
        assert_eq!(
            c.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            Step::Done
        );
        assert!(c.is_complete());
        assert!(c.step(b"v=").is_err());
    }

    #[test]
    fn sha512_round_trip_against_test_server() {
        let password = Secret::new("päss,word=1");
        let mut c = ScramClient::new(ScramHash::Sha512, "al=ice,bob", &password);
        assert_eq!(c.mechanism(), "SCRAM-SHA-512");
        let first = c.client_first();
        let first_text = String::from_utf8(first.clone()).unwrap();
        assert!(
            first_text.starts_with("n,,n=al=3Dice=2Cbob,r="),
            "{first_text}"
        );
        let nonce = first_text.rsplit_once("r=").unwrap().1;
        assert!(nonce.len() >= 32 && is_printable(nonce), "{nonce}");

        let server = TestServer::new(ScramHash::Sha512, "päss,word=1", 4096);
        let server_first = server.server_first(&first);
        let client_final = c.client_final(server_first.as_bytes()).unwrap();
        let server_final = server
            .server_final(&first, &server_first, &client_final)
            .expect("client proof verifies");
        c.verify_server_final(server_final.as_bytes()).unwrap();

        // A server that does not know the password cannot produce the
        // signature, and does not accept the proof.
        let wrong = TestServer::new(ScramHash::Sha512, "other", 4096);
        assert!(wrong
            .server_final(&first, &server_first, &client_final)
            .is_none());
    }

    #[test]
    fn nonces_differ() {
        let pw = Secret::new("p");
        let a = ScramClient::new(ScramHash::Sha256, "u", &pw).client_first();
        let b = ScramClient::new(ScramHash::Sha256, "u", &pw).client_first();
        assert_ne!(a, b);
    }

    #[test]
    fn token_auth_extension_is_in_the_signed_message() {
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "tok", &Secret::new("h"), "abc")
            .unwrap()
            .with_token_auth();
        let first = c.client_first();
        assert_eq!(first, b"n,,n=tok,r=abc,tokenauth=true");
        let server = TestServer::new(ScramHash::Sha256, "h", 4096);
        let server_first = server.server_first(&first);
        let client_final = c.client_final(server_first.as_bytes()).unwrap();
        let v = server
            .server_final(&first, &server_first, &client_final)
            .unwrap();
        c.verify_server_final(v.as_bytes()).unwrap();
    }

    #[test]
    fn server_first_checks() {
        let cases: [(&[u8], &str); 13] = [
            (
                b"r=other%x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "does not extend",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "does not extend",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
                "below the minimum 4096",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001",
                "exceeds the maximum",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999",
                "exceeds the maximum",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-5",
                "not a decimal",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
                "not a decimal",
            ),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096", "not base64"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=,i=4096", "salt is empty"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,i=4096", "no s="),
            (b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "r="),
            (
                b"m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "mandatory",
            ),
            (b"\xff\xfe", "not UTF-8"),
        ];
        for (message, expected) in cases {
            let mut c = rfc7677_client();
            c.client_first();
            let e = c.client_final(message).unwrap_err();
            assert!(
                matches!(e, SaslError::MalformedServerMessage { .. }),
                "{message:?}: {e:?}"
            );
            assert!(!e.is_retriable());
            assert!(e.to_string().contains(expected), "{message:?}: {e}");
            assert!(c.step(b"v=").is_err(), "a failed exchange stays failed");
        }
        // Extensions after i= are allowed.
        let mut c = rfc7677_client();
        let mut with_ext = RFC7677_SERVER_FIRST.to_vec();
        with_ext.extend_from_slice(b",x=ext");
        assert!(c.client_final(&with_ext).is_ok());
    }

    #[test]
    fn server_errors_become_authentication_failures() {
        let mut c = rfc7677_client();
        let e = c.client_final(b"e=unknown-user").unwrap_err();
        assert!(matches!(e, SaslError::AuthenticationFailed { .. }), "{e:?}");
        assert!(e.to_string().contains("unknown-user"), "{e}");

        let mut c = rfc7677_client();
        c.client_final(RFC7677_SERVER_FIRST).unwrap();
        let e = c.verify_server_final(b"e=invalid-proof").unwrap_err();
        assert_eq!(
            e.to_string(),
            "SCRAM-SHA-256 authentication failed: server error: invalid-proof"
        );
        for bad in [&b"x=1"[..], b"v=***", b"", b"\xc3"] {
            assert!(matches!(
                c.verify_server_final(bad),
                Err(SaslError::MalformedServerMessage { .. })
            ));
        }
        // A signature of the wrong length is a mismatch, not a panic.
        assert!(matches!(
            c.verify_server_final(b"v=AAAA"),
            Err(SaslError::ServerSignatureMismatch { .. })
        ));
    }

    #[test]
    fn verify_before_client_final_is_refused() {
        let c = rfc7677_client();
        assert!(matches!(
            c.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(SaslError::UnexpectedServerMessage { .. })
        ));
    }

    #[test]
    fn with_nonce_validates() {
        for bad in ["", "a,b", "sp ace", "é"] {
            assert!(
                ScramClient::with_nonce(ScramHash::Sha256, "u", &Secret::new("p"), bad).is_err()
            );
        }
    }

    #[test]
    fn sasl_name_escapes() {
        assert_eq!(sasl_name("a=b,c"), "a=3Db=2Cc");
        assert_eq!(sasl_name("=,"), "=3D=2C");
        assert_eq!(sasl_name("plain"), "plain");
    }

    #[test]
    fn debug_hides_the_password() {
        let c = ScramClient::new(ScramHash::Sha256, "u", &Secret::new("hunter2"));
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2"), "{d}");
    }
}
