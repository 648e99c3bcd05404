//! The Kafka side of SASL on one broker connection: SaslHandshake v1
//! (KIP-43) naming the mechanism, then SaslAuthenticate rounds (KIP-152)
//! carrying the mechanism's messages ([`super::sasl`]), and
//! re-authentication before the session lifetime the broker returns ends
//! (KIP-368), without dropping requests in flight.
//!
//! The exchange runs on the multiplexed connection itself, after
//! ApiVersions. A re-authentication holds the connection's send gate: new
//! requests wait until it is done, responses to requests already sent
//! arrive meanwhile (as the Java client does). A failed re-authentication
//! closes the connection; the pool opens a new one, which authenticates
//! from scratch.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use rand::Rng;

use super::conn::BrokerConnection;
use super::error::{error_name, KafkaError};
use super::sasl::{SaslConfig, Step};
use super::security::Security;

/// Kafka error code `UNSUPPORTED_SASL_MECHANISM` (33).
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// Most SaslAuthenticate rounds of one exchange (SCRAM needs 2).
const MAX_ROUNDS: usize = 8;
/// Shortest wait before a re-authentication, whatever the lifetime.
const MIN_REAUTH_DELAY: Duration = Duration::from_secs(1);

/// Authenticates a new connection with `sasl` and, when the broker gives a
/// session lifetime (SaslAuthenticate v1+ `session_lifetime_ms`), schedules
/// its re-authentication at 85-95 % of it (as the Java client does).
///
/// Errors: [`KafkaError::Authentication`] (the broker refused, or the
/// mechanism failed), [`KafkaError::UnsupportedVersion`] (no SaslHandshake
/// v1), and the connection's transport errors.
pub(super) async fn authenticate_new(
    conn: &Arc<BrokerConnection>,
    sasl: &SaslConfig,
    security: &Security,
) -> Result<(), KafkaError> {
    let lifetime = exchange(conn, sasl, security, true).await?;
    tracing::debug!(cluster = %conn.cluster(), broker = %conn.addr(), mechanism = sasl.mechanism().name(), session_lifetime_ms = lifetime.map(|l| l.as_millis() as u64), "SASL authenticated");
    if let Some(lifetime) = lifetime {
        schedule_reauthentication(conn, sasl.clone(), security.clone(), lifetime);
    }
    Ok(())
}

/// A random point at 85-95 % of `lifetime`, at least [`MIN_REAUTH_DELAY`].
fn reauth_delay(lifetime: Duration) -> Duration {
    let factor = rand::rng().random_range(0.85..0.95);
    lifetime.mul_f64(factor).max(MIN_REAUTH_DELAY)
}

fn schedule_reauthentication(
    conn: &Arc<BrokerConnection>,
    sasl: SaslConfig,
    security: Security,
    lifetime: Duration,
) {
    let weak = Arc::downgrade(conn);
    let task = tokio::spawn(async move {
        let mut lifetime = lifetime;
        loop {
            tokio::time::sleep(reauth_delay(lifetime)).await;
            let Some(conn) = weak.upgrade() else { return };
            if conn.is_closed() {
                return;
            }
            let result = {
                let _gate = conn.send_gate.write().await;
                exchange(&conn, &sasl, &security, false).await
            };
            match result {
                Ok(Some(next)) => {
                    tracing::debug!(cluster = %conn.cluster(), broker = %conn.addr(), session_lifetime_ms = next.as_millis() as u64, "SASL re-authenticated");
                    lifetime = next;
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(cluster = %conn.cluster(), broker = %conn.addr(), error = %e, "SASL re-authentication failed; closing the connection");
                    conn.close();
                    return;
                }
            }
        }
    });
    conn.add_task(task.abort_handle());
}

/// One SASL exchange; returns the session lifetime the broker gave (`None`
/// for none). `gated: false` during a re-authentication, which holds the
/// send gate itself.
async fn exchange(
    conn: &BrokerConnection,
    sasl: &SaslConfig,
    security: &Security,
    gated: bool,
) -> Result<Option<Duration>, KafkaError> {
    let mechanism = sasl.mechanism().name();
    let fail = |reason: String, code: Option<i16>, retriable: bool| KafkaError::Authentication {
        cluster: conn.cluster().to_string(),
        addr: conn.addr().to_string(),
        mechanism: mechanism.to_string(),
        reason: security.scrub(&reason),
        code,
        retriable,
    };
    if !conn
        .broker_versions(ApiKey::SaslHandshake as i16)
        .is_some_and(|(min, max)| min <= 1 && 1 <= max)
    {
        return Err(fail(
            "the broker does not offer SaslHandshake v1 (KIP-152); is SASL enabled on this \
             listener? check security.protocol"
                .into(),
            None,
            false,
        ));
    }
    let handshake =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let resp = conn.send_gated(&handshake, 1, gated).await?;
    match resp.error_code {
        0 => {}
        UNSUPPORTED_SASL_MECHANISM => {
            let offered: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(fail(
                format!(
                    "the broker does not enable {mechanism}; it offers {}: check sasl.mechanism",
                    if offered.is_empty() {
                        "none".to_string()
                    } else {
                        offered.join(", ")
                    }
                ),
                Some(resp.error_code),
                false,
            ));
        }
        code => {
            return Err(fail(
                format!("SaslHandshake refused with {}", error_name(code)),
                Some(code),
                false,
            ))
        }
    }
    let version = conn.version_for::<SaslAuthenticateRequest>()?;
    let mut session = sasl
        .start()
        .await
        .map_err(|e| fail(e.to_string(), None, e.is_retriable()))?;
    let mut message = session.initial_response();
    let mut lifetime = None;
    for _ in 0..MAX_ROUNDS {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
        let resp = conn.send_gated(&req, version, gated).await?;
        if resp.error_code != 0 {
            // A refused token is not offered again: the next connection
            // fetches a new one.
            if let Some(cache) = sasl.token_cache() {
                cache.invalidate().await;
            }
            let said = resp
                .error_message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(fail(
                format!("{}{said}", error_name(resp.error_code)),
                Some(resp.error_code),
                false,
            ));
        }
        if resp.session_lifetime_ms > 0 {
            lifetime = u64::try_from(resp.session_lifetime_ms)
                .ok()
                .map(Duration::from_millis);
        }
        match session
            .step(&resp.auth_bytes)
            .map_err(|e| fail(e.to_string(), None, e.is_retriable()))?
        {
            Step::Send(next) => message = next,
            Step::Done => return Ok(lifetime),
        }
    }
    Err(fail(
        format!("the exchange did not end after {MAX_ROUNDS} rounds"),
        None,
        false,
    ))
}

/// The SASL exchange against an in-test responder (a scripted broker on an
/// in-memory stream). The test broker (nisshi) refuses PLAIN and does not
/// offer OAUTHBEARER, and returns no session lifetime, so these mechanisms'
/// Kafka-side exchange and re-authentication (KIP-368) are covered here,
/// byte for byte as RFC 4616 / RFC 7628 and Kafka's SaslAuthenticate
/// define them; what no real broker covered: a broker's acceptance of these
/// exact bytes. SCRAM runs against the real broker in the end-to-end tests.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::scripted::{pair, FakeBroker};
    use crate::kafka::ClusterSettings;
    use kafka_protocol::messages::{
        MetadataRequest, MetadataResponse, RequestHeader, SaslAuthenticateResponse,
        SaslHandshakeResponse,
    };
    use kafka_protocol::protocol::Decodable;

    const PASSWORD: &str = "alice-secret-pw";

    fn security(mechanism: &str, jaas: &str) -> Security {
        let props: Vec<(String, String)> = [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", mechanism),
            ("sasl.jaas.config", jaas),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Security::from_properties(&props).unwrap()
    }

    fn plain() -> Security {
        security(
            "PLAIN",
            &format!(
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 username=\"alice\" password=\"{PASSWORD}\";"
            ),
        )
    }

    async fn read(broker: &mut FakeBroker, key: ApiKey) -> (RequestHeader, Bytes) {
        let (h, body) = tokio::time::timeout(Duration::from_secs(10), broker.read_request())
            .await
            .expect("a request within 10 s")
            .expect("a request");
        assert_eq!(h.request_api_key, key as i16, "expected {key:?}");
        (h, body)
    }

    /// Reads SaslHandshake (asserting the mechanism) and accepts it.
    async fn accept_handshake(broker: &mut FakeBroker, mechanism: &str) {
        let (h, mut body) = read(broker, ApiKey::SaslHandshake).await;
        assert_eq!(h.request_api_version, 1);
        let req = SaslHandshakeRequest::decode(&mut body, 1).unwrap();
        assert_eq!(req.mechanism.as_str(), mechanism);
        broker.answer(&h, &SaslHandshakeResponse::default()).await;
    }

    /// Reads one SaslAuthenticate; returns its header and auth bytes.
    async fn read_auth(broker: &mut FakeBroker) -> (RequestHeader, Bytes) {
        let (h, mut body) = read(broker, ApiKey::SaslAuthenticate).await;
        let req = SaslAuthenticateRequest::decode(&mut body, h.request_api_version).unwrap();
        (h, req.auth_bytes)
    }

    async fn connect(
        security: &Security,
        client: crate::kafka::BoxedStream,
    ) -> Result<Arc<BrokerConnection>, KafkaError> {
        let mut s = ClusterSettings::new("src", vec![]);
        s.request_timeout = Duration::from_secs(5);
        s.security = security.clone();
        let conn = BrokerConnection::from_stream(&s, 1, "fake:9092", client).await?;
        let sasl = s.security.sasl.as_ref().expect("SASL configured");
        authenticate_new(&conn, sasl, &s.security).await?;
        Ok(conn)
    }

    #[tokio::test]
    async fn plain_sends_rfc4616_bytes_and_the_connection_serves_after() {
        let sec = plain();
        let (client, mut broker) = pair();
        let script = async {
            broker.handshake().await;
            accept_handshake(&mut broker, "PLAIN").await;
            let (h, bytes) = read_auth(&mut broker).await;
            assert_eq!(&bytes[..], format!("\0alice\0{PASSWORD}").as_bytes());
            broker
                .answer(&h, &SaslAuthenticateResponse::default())
                .await;
            let (h, _) = read(&mut broker, ApiKey::Metadata).await;
            broker
                .answer(
                    &h,
                    &MetadataResponse::default().with_cluster_id(Some("c1".into())),
                )
                .await;
            broker
        };
        let (conn, _broker) = tokio::join!(
            async {
                let conn = connect(&sec, client).await.unwrap();
                let (_, meta) = conn.send(&MetadataRequest::default()).await.unwrap();
                assert_eq!(meta.cluster_id.as_deref(), Some("c1"));
                conn
            },
            script
        );
        assert!(!conn.is_closed());
    }

    #[tokio::test]
    async fn refused_credentials_give_the_broker_message_without_the_password() {
        let sec = plain();
        let (client, mut broker) = pair();
        let script = async {
            broker.handshake().await;
            accept_handshake(&mut broker, "PLAIN").await;
            let (h, _) = read_auth(&mut broker).await;
            let resp = SaslAuthenticateResponse::default()
                .with_error_code(58)
                .with_error_message(Some(
                    format!("Authentication failed: invalid credentials for alice/{PASSWORD}")
                        .into(),
                ));
            broker.answer(&h, &resp).await;
            broker
        };
        let (res, _broker) = tokio::join!(connect(&sec, client), script);
        let e = res.unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, KafkaError::Authentication { code: Some(58), .. }),
            "{e:?}"
        );
        assert!(text.contains("SASL_AUTHENTICATION_FAILED"), "{text}");
        assert!(
            text.contains("invalid credentials for <redacted>/<redacted>"),
            "{text}"
        );
        assert!(
            !text.contains(PASSWORD) && !format!("{e:?}").contains(PASSWORD),
            "{text}"
        );
        assert_eq!(crate::kafka::link_error_code(&e), "AUTHENTICATION_ERROR");
        assert!(!e.is_retriable());
    }

    #[tokio::test]
    async fn a_mechanism_the_broker_does_not_enable_names_what_it_offers() {
        let sec = plain();
        let (client, mut broker) = pair();
        let script = async {
            broker.handshake().await;
            let (h, _) = read(&mut broker, ApiKey::SaslHandshake).await;
            let resp = SaslHandshakeResponse::default()
                .with_error_code(UNSUPPORTED_SASL_MECHANISM)
                .with_mechanisms(vec!["SCRAM-SHA-256".into(), "SCRAM-SHA-512".into()]);
            broker.answer(&h, &resp).await;
            broker
        };
        let (res, _broker) = tokio::join!(connect(&sec, client), script);
        let text = res.unwrap_err().to_string();
        assert!(
            text.contains("does not enable PLAIN")
                && text.contains("SCRAM-SHA-256, SCRAM-SHA-512")
                && text.contains("sasl.mechanism"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn oauthbearer_sends_the_rfc7628_response_and_reports_an_invalid_token() {
        let sec = security(
            "OAUTHBEARER",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\";",
        );
        let (client, mut broker) = pair();
        let script = async {
            broker.handshake().await;
            accept_handshake(&mut broker, "OAUTHBEARER").await;
            let (h, bytes) = read_auth(&mut broker).await;
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            let token = text
                .strip_prefix("n,,\u{1}auth=Bearer ")
                .and_then(|t| t.strip_suffix("\u{1}\u{1}"))
                .unwrap_or_else(|| panic!("not an RFC 7628 initial response: {text:?}"));
            assert_eq!(token.split('.').count(), 3, "{token}");
            // RFC 7628 section 3.2.2: an error challenge, answered with %x01.
            let challenge = br#"{"status":"invalid_token"}"#;
            broker
                .answer(
                    &h,
                    &SaslAuthenticateResponse::default()
                        .with_auth_bytes(Bytes::from_static(challenge)),
                )
                .await;
            let (h, bytes) = read_auth(&mut broker).await;
            assert_eq!(&bytes[..], b"\x01");
            let resp = SaslAuthenticateResponse::default()
                .with_error_code(58)
                .with_error_message(Some("invalid_token".into()));
            broker.answer(&h, &resp).await;
            broker
        };
        let (res, _broker) = tokio::join!(connect(&sec, client), script);
        let text = res.unwrap_err().to_string();
        assert!(
            text.contains("SASL OAUTHBEARER") && text.contains("invalid_token"),
            "{text}"
        );
    }

    /// KIP-368: with a session lifetime the connection re-authenticates on
    /// its own; a request in flight when that starts is answered, and no
    /// new request is sent before the re-authentication is done.
    #[tokio::test]
    async fn reauthenticates_before_the_session_lifetime_without_dropping_requests() {
        let sec = plain();
        let (client, mut broker) = pair();
        let lifetime_ms = 2000;
        let ok = SaslAuthenticateResponse::default().with_session_lifetime_ms(lifetime_ms);
        let (conn, ()) = tokio::join!(connect(&sec, client), async {
            broker.handshake().await;
            accept_handshake(&mut broker, "PLAIN").await;
            let (h, _) = read_auth(&mut broker).await;
            broker.answer(&h, &ok).await;
        });
        let conn = conn.unwrap();
        let started = tokio::time::Instant::now();
        // One request goes out before re-authentication and is held.
        let first = tokio::spawn({
            let conn = conn.clone();
            async move { conn.send(&MetadataRequest::default()).await }
        });
        let (held, _) = read(&mut broker, ApiKey::Metadata).await;
        // The re-authentication starts on its own at 85-95 % of the lifetime.
        accept_handshake(&mut broker, "PLAIN").await;
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1600) && elapsed < Duration::from_millis(2000),
            "re-authenticated after {elapsed:?} of a {lifetime_ms} ms lifetime"
        );
        // A request made now waits for the re-authentication to finish.
        let second = tokio::spawn({
            let conn = conn.clone();
            async move { conn.send(&MetadataRequest::default()).await }
        });
        // The held request is answered in the middle of it.
        broker
            .answer(
                &held,
                &MetadataResponse::default().with_cluster_id(Some("first".into())),
            )
            .await;
        let (h, _) = read_auth(&mut broker).await;
        broker.answer(&h, &ok).await;
        let (h, _) = read(&mut broker, ApiKey::Metadata).await;
        broker
            .answer(
                &h,
                &MetadataResponse::default().with_cluster_id(Some("second".into())),
            )
            .await;
        let first = first.await.unwrap().unwrap().1;
        let second = second.await.unwrap().unwrap().1;
        assert_eq!(first.cluster_id.as_deref(), Some("first"));
        assert_eq!(second.cluster_id.as_deref(), Some("second"));
        assert!(!conn.is_closed());
    }

    #[tokio::test]
    async fn a_failed_reauthentication_closes_the_connection() {
        let sec = plain();
        let (client, mut broker) = pair();
        let ok = SaslAuthenticateResponse::default().with_session_lifetime_ms(1000);
        let (conn, ()) = tokio::join!(connect(&sec, client), async {
            broker.handshake().await;
            accept_handshake(&mut broker, "PLAIN").await;
            let (h, _) = read_auth(&mut broker).await;
            broker.answer(&h, &ok).await;
        });
        let conn = conn.unwrap();
        accept_handshake(&mut broker, "PLAIN").await;
        let (h, _) = read_auth(&mut broker).await;
        broker
            .answer(&h, &SaslAuthenticateResponse::default().with_error_code(58))
            .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !conn.is_closed() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "connection still open"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
