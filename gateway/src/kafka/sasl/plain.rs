//! SASL PLAIN (RFC 4616): the client's single message
//! `[authzid] NUL authcid NUL passwd`, UTF-8. Kafka clients (the JDK's
//! PLAIN client under `PlainLoginModule`) send no authorization identity,
//! so the gateway passes an empty `authzid`. The broker answers with empty
//! `auth_bytes` on success.

use crate::secret::Secret;

use super::SaslError;

/// The mechanism name, as sent in SaslHandshake.
pub const MECHANISM: &str = "PLAIN";

/// The PLAIN message `authzid \0 username \0 password` (RFC 4616 section 2).
/// `authzid` may be empty (act as `username`); `username` and `password`
/// must not be (RFC 4616: `1*SAFE`). Errors: [`SaslError::InvalidField`]
/// when a field holds a NUL character, which would break the framing, or a
/// required field is empty.
pub fn initial_response(
    authzid: &str,
    username: &str,
    password: &Secret,
) -> Result<Vec<u8>, SaslError> {
    let invalid = |field: &str, reason| SaslError::InvalidField {
        mechanism: MECHANISM,
        field: field.to_string(),
        reason,
    };
    for (field, value) in [
        ("authorization id", authzid),
        ("username", username),
        ("password", password.expose()),
    ] {
        if value.contains('\0') {
            return Err(invalid(field, "contains a NUL character"));
        }
    }
    if username.is_empty() {
        return Err(invalid("username", "is empty"));
    }
    if password.is_empty() {
        return Err(invalid("password", "is empty"));
    }
    let password = password.expose();
    let mut message = Vec::with_capacity(authzid.len() + username.len() + password.len() + 2);
    message.extend_from_slice(authzid.as_bytes());
    message.push(0);
    message.extend_from_slice(username.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        let pw = Secret::new("pencil");
        assert_eq!(
            initial_response("", "user", &pw).unwrap(),
            b"\0user\0pencil"
        );
        assert_eq!(
            initial_response("admin", "user", &pw).unwrap(),
            b"admin\0user\0pencil"
        );
        let utf8 = initial_response("", "jörg", &Secret::new("пароль")).unwrap();
        assert_eq!(utf8, "\0jörg\0пароль".as_bytes());
    }

    #[test]
    fn nul_and_empty_fields_are_refused_without_values() {
        let e = initial_response("", "user", &Secret::new("pen\0cil")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "PLAIN: the password contains a NUL character"
        );
        assert!(initial_response("", "us\0er", &Secret::new("p")).is_err());
        assert!(initial_response("a\0", "user", &Secret::new("p")).is_err());
        let e = initial_response("", "", &Secret::new("p")).unwrap_err();
        assert_eq!(e.to_string(), "PLAIN: the username is empty");
        assert!(initial_response("", "user", &Secret::new("")).is_err());
    }
}
