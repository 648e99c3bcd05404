//! Sealed secret values: how a sensitive link property (a password,
//! `sasl.jaas.config`, a key, a token; see
//! [`crate::secret::property_is_sensitive`]) is stored in the destination
//! cluster's state topic, encrypted under the gateway's `[gateway]
//! secrets_key` rather than in clear.
//!
//! A sealed value is one line of ASCII text:
//!
//! ```text
//! sealed:v1:<key id>:<base64(nonce || ciphertext || tag)>
//! ```
//!
//! - `v1`: XChaCha20-Poly1305 (RFC 8439's ChaCha20-Poly1305 with the 24-byte
//!   nonce of draft-irtf-cfrg-xchacha), a random nonce per value, standard
//!   base64 with padding.
//! - `<key id>`: [`SealingKey::id`], 8 lowercase hex digits, so a value
//!   sealed under another key is reported as such instead of as damage.
//! - The associated data is `linkgate sealed v1`, a NUL byte and the
//!   caller's `aad` (e.g. `link/east/sasl.jaas.config`): a value copied to
//!   another property or link, or read as another format version, fails to
//!   open.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, AeadInPlace, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use crate::secret::Secret;

/// Start of every sealed value, whatever its format version.
pub const PREFIX: &str = "sealed:";

/// Largest plaintext (in bytes, 1 MiB) that [`seal`] accepts; a state-topic
/// record holding more would exceed Kafka's default `max.message.bytes`.
pub const MAX_PLAINTEXT_BYTES: usize = 1024 * 1024;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// Hex digits of a key id (4 bytes).
const ID_LEN: usize = 8;
const HOW_TO_MAKE: &str = "make one with `openssl rand -base64 32`";

/// Standard base64 alphabet, padding optional (`openssl rand -base64 32`
/// pads; a hand-trimmed key may not).
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A value that could not be sealed or opened, or a key that could not be
/// read. Never holds a key, a plaintext or the text given as a key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The secrets key is not standard base64.
    #[error("the secrets key is not standard base64: {HOW_TO_MAKE}")]
    KeyNotBase64,
    /// The secrets key does not decode to 32 bytes.
    #[error("the secrets key decodes to {len} bytes, it must be 32: {HOW_TO_MAKE}")]
    KeyLength {
        /// Decoded length in bytes.
        len: usize,
    },
    /// The plaintext is larger than [`MAX_PLAINTEXT_BYTES`].
    #[error(
        "the value is {len} bytes, more than the {max} bytes a sealed value may hold: shorten it"
    )]
    TooLarge {
        /// Plaintext length in bytes.
        len: usize,
        /// [`MAX_PLAINTEXT_BYTES`].
        max: usize,
    },
    /// The text does not start with [`PREFIX`]: it is not a sealed value.
    #[error("not a sealed value (a sealed value is `sealed:v1:<key id>:<data>`)")]
    NotSealed,
    /// A sealed value of a format version this gateway does not read.
    #[error(
        "sealed in format {version}, this gateway reads v1: run a linkgate that reads {version}"
    )]
    UnsupportedVersion {
        /// The version as stored, e.g. `v2`.
        version: String,
    },
    /// Sealed under another key than this gateway's.
    #[error(
        "sealed with another key (id {sealed_with}, this gateway has {this_key}): \
         set [gateway] secrets_key to the key with id {sealed_with}, or set the value again"
    )]
    WrongKey {
        /// Id of the key the value was sealed with.
        sealed_with: String,
        /// Id of this gateway's key.
        this_key: String,
    },
    /// The text starts like a sealed value but is not one (bad key id,
    /// bad base64, too short).
    #[error("sealed value is damaged (not `sealed:v1:<key id>:<base64>`): set the value again")]
    Malformed,
    /// Authentication failed: the ciphertext was changed, or the value was
    /// moved to another property or link than it was sealed for.
    #[error("sealed value is damaged or moved (authentication failed): set the value again")]
    AuthenticationFailed,
    /// The value opened but is not UTF-8 text (it was not sealed by [`seal`]).
    #[error("sealed value is not UTF-8 text: set the value again")]
    NotText,
}

/// The key that seals and opens secret values: 32 bytes for
/// XChaCha20-Poly1305, read from `[gateway] secrets_key`. Its `Debug` shows
/// only [`SealingKey::id`]; it has no `Display`. The key bytes are zeroed
/// when the last copy is dropped.
#[derive(Clone)]
pub struct SealingKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl SealingKey {
    /// Reads a key given as standard base64 of exactly 32 bytes (padding
    /// optional), surrounding whitespace ignored, as printed by
    /// `openssl rand -base64 32` or [`SealingKey::generate`].
    ///
    /// # Errors
    /// [`SealError::KeyNotBase64`] or [`SealError::KeyLength`]; neither
    /// holds any of `text`.
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let mut bytes = KEY_BASE64
            .decode(text.trim())
            .map_err(|_| SealError::KeyNotBase64)?;
        let key = match <[u8; KEY_LEN]>::try_from(bytes.as_slice()) {
            Ok(array) => {
                let mut key = Key::from(array);
                let sealing = Self::from_key(&key);
                key.fill(0);
                Ok(sealing)
            }
            Err(_) => Err(SealError::KeyLength { len: bytes.len() }),
        };
        bytes.fill(0);
        key
    }

    /// A new random key (from the operating system's generator) and its
    /// standard base64 text (44 characters), the value to put in
    /// `[gateway] secrets_key`.
    pub fn generate() -> (SealingKey, String) {
        let mut key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let text = STANDARD.encode(key);
        let sealing = Self::from_key(&key);
        key.fill(0);
        (sealing, text)
    }

    /// The key's id: 8 lowercase hex digits that tell keys apart without
    /// revealing them: the first 4 bytes of the Poly1305 tag of an empty
    /// message under a fixed nonce and fixed associated data (a random
    /// sealing nonce equals that fixed one with chance 2^-192). Stored in
    /// every sealed value; two keys share an id with chance 2^-32, and then
    /// a wrong key reports [`SealError::AuthenticationFailed`].
    pub fn id(&self) -> String {
        self.id.clone()
    }

    fn from_key(key: &Key) -> Self {
        let cipher = XChaCha20Poly1305::new(key);
        let nonce = XNonce::from(*b"linkgate:sealing-key-id:");
        let tag = cipher
            .encrypt_in_place_detached(&nonce, b"linkgate sealing key id v1", &mut [])
            .unwrap_or_default();
        let id = tag
            .iter()
            .take(ID_LEN / 2)
            .map(|b| format!("{b:02x}"))
            .collect();
        Self { cipher, id }
    }
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// `plaintext` encrypted under `key` for the place `aad` names (e.g.
/// `link/east/sasl.jaas.config`), as `sealed:v1:<key id>:<base64>`; a new
/// random 24-byte nonce each time, so sealing the same value twice gives
/// different text.
///
/// # Errors
/// [`SealError::TooLarge`] past [`MAX_PLAINTEXT_BYTES`].
pub fn seal(key: &SealingKey, aad: &str, plaintext: &str) -> Result<String, SealError> {
    let too_large = || SealError::TooLarge {
        len: plaintext.len(),
        max: MAX_PLAINTEXT_BYTES,
    };
    if plaintext.len() > MAX_PLAINTEXT_BYTES {
        return Err(too_large());
    }
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let sealed = key
        .cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad: &bound_aad(aad),
            },
        )
        .map_err(|_| too_large())?;
    let mut data = Vec::with_capacity(NONCE_LEN + sealed.len());
    data.extend_from_slice(&nonce);
    data.extend_from_slice(&sealed);
    Ok(format!(
        "{PREFIX}{VERSION}:{}:{}",
        key.id,
        STANDARD.encode(data)
    ))
}

/// The plaintext of a value sealed by [`seal`] under `key` for the same
/// `aad`.
///
/// # Errors
/// - [`SealError::NotSealed`]: `sealed` does not start with `sealed:`.
/// - [`SealError::UnsupportedVersion`]: another format version than `v1`.
/// - [`SealError::WrongKey`]: sealed under a key with another id.
/// - [`SealError::Malformed`]: not `sealed:v1:<key id>:<base64>` of at
///   least a nonce and a tag.
/// - [`SealError::AuthenticationFailed`]: changed, or sealed for another
///   `aad`.
/// - [`SealError::NotText`]: the plaintext is not UTF-8.
pub fn open(key: &SealingKey, aad: &str, sealed: &str) -> Result<Secret, SealError> {
    let rest = sealed.strip_prefix(PREFIX).ok_or(SealError::NotSealed)?;
    let (version, rest) = rest.split_once(':').ok_or(SealError::Malformed)?;
    if version != VERSION {
        return Err(if is_version(version) {
            SealError::UnsupportedVersion {
                version: version.to_string(),
            }
        } else {
            SealError::Malformed
        });
    }
    let (id, data) = rest.split_once(':').ok_or(SealError::Malformed)?;
    if id.len() != ID_LEN || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(SealError::Malformed);
    }
    if id != key.id {
        return Err(SealError::WrongKey {
            sealed_with: id.to_string(),
            this_key: key.id.clone(),
        });
    }
    let data = STANDARD.decode(data).map_err(|_| SealError::Malformed)?;
    if data.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Malformed);
    }
    let (nonce, ciphertext) = data
        .split_at_checked(NONCE_LEN)
        .ok_or(SealError::Malformed)?;
    let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| SealError::Malformed)?;
    let plaintext = key
        .cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &bound_aad(aad),
            },
        )
        .map_err(|_| SealError::AuthenticationFailed)?;
    String::from_utf8(plaintext).map(Secret::new).map_err(|e| {
        e.into_bytes().fill(0);
        SealError::NotText
    })
}

/// Whether `value` has the shape of a sealed value (`sealed:v<digits>:`),
/// of any format version, so that it is opened (or refused) rather than
/// taken as a clear value.
pub fn is_sealed(value: &str) -> bool {
    value
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(version, _)| is_version(version))
}

/// `v` followed by 1 to 6 decimal digits.
fn is_version(text: &str) -> bool {
    text.strip_prefix('v')
        .is_some_and(|n| (1..=6).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The associated data actually authenticated: format, NUL, caller's aad.
fn bound_aad(aad: &str) -> Vec<u8> {
    let mut bound = Vec::with_capacity(20 + aad.len());
    bound.extend_from_slice(b"linkgate sealed v1\0");
    bound.extend_from_slice(aad.as_bytes());
    bound
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &str = "link/east/sasl.jaas.config";
    const JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                        username=\"alice\" password=\"hunter2-\u{e9}\u{1f980}\";";

    fn key(byte: u8) -> SealingKey {
        SealingKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn round_trip() {
        let k = key(7);
        for plaintext in [JAAS, "", "x", &"long ".repeat(10_000)] {
            let sealed = seal(&k, AAD, plaintext).unwrap();
            assert!(is_sealed(&sealed));
            assert!(!sealed.contains("hunter2"));
            assert_eq!(open(&k, AAD, &sealed).unwrap().expose(), plaintext);
        }
    }

    #[test]
    fn format_is_sealed_v1_id_base64() {
        let k = key(7);
        let sealed = seal(&k, AAD, "secret").unwrap();
        let parts: Vec<&str> = sealed.splitn(4, ':').collect();
        assert_eq!(parts[..3], ["sealed", "v1", k.id().as_str()]);
        let data = STANDARD.decode(parts[3]).unwrap();
        assert_eq!(data.len(), NONCE_LEN + "secret".len() + TAG_LEN);
    }

    #[test]
    fn known_answer_stays_readable() {
        // Pins the key id derivation and the v1 format: values stored by an
        // earlier build must keep opening.
        let k = SealingKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        assert_eq!(k.id(), "f8a33942");
        let stored =
            "sealed:v1:f8a33942:nPKzZ7v2ktdrl9sChtjGafqmkdfkyRUn78rE4VQFMCdPLi2KRRQ+4nyDYSgFya0=";
        assert_eq!(open(&k, AAD, stored).unwrap().expose(), "hunter2");
    }

    #[test]
    fn key_ids() {
        let a = key(1);
        assert_eq!(a.id(), key(1).id());
        assert_ne!(a.id(), key(2).id());
        assert_eq!(a.id().len(), ID_LEN);
        assert!(a
            .id()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn nonce_differs_per_seal() {
        let k = key(7);
        let a = seal(&k, AAD, JAAS).unwrap();
        let b = seal(&k, AAD, JAAS).unwrap();
        assert_ne!(a, b);
        let nonce =
            |s: &str| STANDARD.decode(s.rsplit(':').next().unwrap()).unwrap()[..NONCE_LEN].to_vec();
        assert_ne!(nonce(&a), nonce(&b));
    }

    #[test]
    fn wrong_key_names_both_ids() {
        let (a, b) = (key(1), key(2));
        let sealed = seal(&a, AAD, JAAS).unwrap();
        match open(&b, AAD, &sealed) {
            Err(SealError::WrongKey {
                sealed_with,
                this_key,
            }) => {
                assert_eq!((sealed_with, this_key), (a.id(), b.id()));
            }
            other => panic!("{other:?}"),
        }
        let msg = open(&b, AAD, &sealed).unwrap_err().to_string();
        assert!(msg.contains(&a.id()) && msg.contains(&b.id()), "{msg}");

        // Another key that claims this key's id does not authenticate.
        let forged = sealed.replacen(&a.id(), &b.id(), 1);
        assert!(matches!(
            open(&b, AAD, &forged),
            Err(SealError::AuthenticationFailed)
        ));
    }

    #[test]
    fn moved_value_does_not_open() {
        let k = key(7);
        let sealed = seal(&k, AAD, JAAS).unwrap();
        for other in [
            "link/west/sasl.jaas.config",
            "link/east/ssl.key.password",
            "",
            "link/east/sasl.jaas.confi",
        ] {
            assert!(
                matches!(
                    open(&k, other, &sealed),
                    Err(SealError::AuthenticationFailed)
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn tampered_ciphertext_does_not_open() {
        let k = key(7);
        let sealed = seal(&k, AAD, JAAS).unwrap();
        let (head, data) = sealed.rsplit_once(':').unwrap();
        let data = STANDARD.decode(data).unwrap();
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x01;
            let text = format!("{head}:{}", STANDARD.encode(&bad));
            assert!(
                matches!(open(&k, AAD, &text), Err(SealError::AuthenticationFailed)),
                "byte {i}"
            );
        }
        // Bytes added or removed at the end.
        for text in [
            format!(
                "{head}:{}",
                STANDARD.encode([data.as_slice(), b"x"].concat())
            ),
            format!("{head}:{}", STANDARD.encode(&data[..data.len() - 1])),
        ] {
            assert!(matches!(
                open(&k, AAD, &text),
                Err(SealError::AuthenticationFailed)
            ));
        }
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error() {
        let k = key(7);
        let sealed = seal(&k, AAD, JAAS).unwrap();
        // Every prefix (all ASCII, so every byte index is a char boundary).
        for end in 0..sealed.len() {
            assert!(open(&k, AAD, &sealed[..end]).is_err(), "{end}");
        }
        let id = k.id();
        let cases = [
            ("", "not sealed"),
            ("hunter2", "not sealed"),
            ("SEALED:v1:x:y", "not sealed"),
            ("sealed:", "malformed"),
            ("sealed:v1", "malformed"),
            ("sealed:v1:", "malformed"),
            ("sealed:v1:zzzzzzzz:AAAA", "malformed"),
            ("sealed:v1:ABCDEF01:AAAA", "malformed"),
            ("sealed:v1:1234567:AAAA", "malformed"),
            ("sealed:vx:12345678:AAAA", "malformed"),
            ("sealed:v2:12345678:AAAA", "version"),
            ("sealed:v1:12345678:AAAA", "wrong key"),
        ];
        for (text, want) in cases {
            let got = open(&k, AAD, text).unwrap_err();
            let ok = match want {
                "not sealed" => matches!(got, SealError::NotSealed),
                "malformed" => matches!(got, SealError::Malformed),
                "version" => {
                    matches!(&got, SealError::UnsupportedVersion { version } if version == "v2")
                }
                _ => matches!(got, SealError::WrongKey { .. }),
            };
            assert!(ok, "{text}: {got:?}");
        }
        for data in [
            "",
            "!!!!",
            "AAAA",
            "====",
            "\u{e9}\u{e9}",
            &STANDARD.encode([0u8; NONCE_LEN + TAG_LEN - 1]),
        ] {
            let text = format!("sealed:v1:{id}:{data}");
            assert!(
                matches!(open(&k, AAD, &text), Err(SealError::Malformed)),
                "{text}"
            );
        }
        // Long enough, right key id, random bytes.
        let text = format!("sealed:v1:{id}:{}", STANDARD.encode([0x5a; 64]));
        assert!(matches!(
            open(&k, AAD, &text),
            Err(SealError::AuthenticationFailed)
        ));
    }

    #[test]
    fn non_text_plaintext_is_refused() {
        let k = key(7);
        let nonce = XNonce::from([9u8; NONCE_LEN]);
        let ct = k
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &[0xff, 0xfe],
                    aad: &bound_aad(AAD),
                },
            )
            .unwrap();
        let text = format!(
            "sealed:v1:{}:{}",
            k.id(),
            STANDARD.encode([nonce.as_slice(), &ct].concat())
        );
        assert!(matches!(open(&k, AAD, &text), Err(SealError::NotText)));
    }

    #[test]
    fn too_large_is_refused() {
        let k = key(7);
        let max = "x".repeat(MAX_PLAINTEXT_BYTES);
        assert!(seal(&k, AAD, &max).is_ok());
        let over = "x".repeat(MAX_PLAINTEXT_BYTES + 1);
        assert!(matches!(
            seal(&k, AAD, &over),
            Err(SealError::TooLarge { len, max: MAX_PLAINTEXT_BYTES }) if len == MAX_PLAINTEXT_BYTES + 1
        ));
    }

    #[test]
    fn is_sealed_shapes() {
        for v in [
            "sealed:v1:12345678:AAAA",
            "sealed:v1:",
            "sealed:v2:x",
            "sealed:v10:x",
        ] {
            assert!(is_sealed(v), "{v}");
        }
        for v in [
            "",
            "hunter2",
            "sealed:",
            "sealed:v1",
            "sealed:x1:a",
            "sealed:v:a",
            "sealed:v1x:a",
            " sealed:v1:a",
        ] {
            assert!(!is_sealed(v), "{v}");
        }
    }

    #[test]
    fn from_base64_accepts_openssl_output() {
        let text = STANDARD.encode([3u8; 32]);
        assert_eq!(text.len(), 44);
        let id = SealingKey::from_base64(&text).unwrap().id();
        for variant in [
            format!("  {text}\n"),
            text.trim_end_matches('=').to_string(),
            format!("{text}\r\n"),
        ] {
            assert_eq!(
                SealingKey::from_base64(&variant).unwrap().id(),
                id,
                "{variant:?}"
            );
        }
    }

    #[test]
    fn from_base64_errors_hold_no_key_text() {
        let short = STANDARD.encode([3u8; 31]);
        let long = STANDARD.encode([3u8; 33]);
        for (text, len) in [("", 0), (short.as_str(), 31), (long.as_str(), 33)] {
            let e = SealingKey::from_base64(text).unwrap_err();
            assert!(
                matches!(e, SealError::KeyLength { len: l } if l == len),
                "{e:?}"
            );
            assert!(e.to_string().contains("openssl rand -base64 32"));
        }
        let secretish = "not-base64-$ecretKeyMaterial!!";
        let e = SealingKey::from_base64(secretish).unwrap_err();
        assert!(matches!(e, SealError::KeyNotBase64));
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains("ecretKey") && shown.contains("openssl rand -base64 32"),
            "{shown}"
        );
        // URL-safe alphabet is not standard base64.
        assert!(SealingKey::from_base64(
            &base64::engine::general_purpose::URL_SAFE.encode([0xfb; 32])
        )
        .is_err());
    }

    #[test]
    fn generate_gives_a_usable_key() {
        let (a, text) = SealingKey::generate();
        let (b, other) = SealingKey::generate();
        assert_ne!(text, other);
        assert_ne!(a.id(), b.id());
        let again = SealingKey::from_base64(&text).unwrap();
        assert_eq!(again.id(), a.id());
        let sealed = seal(&a, AAD, JAAS).unwrap();
        assert_eq!(open(&again, AAD, &sealed).unwrap().expose(), JAAS);
    }

    #[test]
    fn debug_is_redacted() {
        let text = STANDARD.encode([0x42u8; 32]);
        let k = SealingKey::from_base64(&text).unwrap();
        let shown = format!("{k:?} {:?}", k.clone());
        assert!(
            shown.contains(&k.id()) && shown.contains("<redacted>"),
            "{shown}"
        );
        assert!(
            !shown.contains(&text) && !shown.contains("66, 66"),
            "{shown}"
        );

        let sealed = seal(&k, AAD, JAAS).unwrap();
        let opened = open(&k, AAD, &sealed).unwrap();
        assert_eq!(format!("{opened:?}"), "Secret(<redacted>)");
        for e in [
            open(&k, "elsewhere", &sealed).unwrap_err(),
            open(&key(1), AAD, &sealed).unwrap_err(),
            open(&k, AAD, JAAS).unwrap_err(),
        ] {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}
