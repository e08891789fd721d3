//! Extracting credentials from `Authorization`: Basic (RFC 7617) and Bearer (RFC 6750).
//!
//! Everything here treats the header as hostile: size limits come before decoding, nothing panics on garbage,
//! and errors describe the shape of the problem without echoing the credential.

use base64::Engine;
use thiserror::Error;
use zeroize::Zeroizing;

/// Longest `Authorization: Basic` value accepted (before decoding).
pub const MAX_BASIC_HEADER_BYTES: usize = 4096;

/// Credentials presented by a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// User name and password from `Authorization: Basic`.
    Basic(BasicCredentials),
    /// The raw token from `Authorization: Bearer`.
    Bearer(&'a str),
}

/// A decoded Basic credential. The password is wiped from memory when dropped.
#[derive(PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user name as sent (may be `DOMAIN\user` or a UPN).
    pub user: String,
    /// The password.
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why the `Authorization` header could not be used.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum CredentialError {
    /// No `Authorization` header.
    #[error("no credentials: send Authorization: Basic or Authorization: Bearer")]
    Missing,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    Duplicate,
    /// A scheme other than Basic or Bearer.
    #[error("unsupported authorization scheme '{0}': use Basic or Bearer")]
    UnsupportedScheme(String),
    /// A Basic credential that does not decode.
    #[error("malformed Basic credentials: {0}")]
    MalformedBasic(&'static str),
    /// A bearer token with characters outside RFC 6750's b64token.
    #[error("malformed bearer token: {0}")]
    MalformedBearer(&'static str),
    /// A bearer token over the configured size.
    #[error("bearer token is {size} bytes, larger than the {limit}-byte limit")]
    TokenTooLarge { size: usize, limit: usize },
}

/// Parses the `Authorization` header values of a request (`values` holds every occurrence).
pub fn parse_authorization<'a>(
    values: &[&'a [u8]],
    max_token_bytes: usize,
) -> Result<Credentials<'a>, CredentialError> {
    let raw = match values {
        [] => return Err(CredentialError::Missing),
        [one] => *one,
        _ => return Err(CredentialError::Duplicate),
    };
    let (scheme, rest) = split_scheme(raw);
    if scheme.eq_ignore_ascii_case(b"basic") {
        parse_basic(rest).map(Credentials::Basic)
    } else if scheme.eq_ignore_ascii_case(b"bearer") {
        parse_bearer(rest, max_token_bytes).map(Credentials::Bearer)
    } else {
        let shown: String = scheme
            .iter()
            .take(20)
            .map(|b| {
                if b.is_ascii_alphanumeric() || *b == b'-' {
                    *b as char
                } else {
                    '?'
                }
            })
            .collect();
        Err(CredentialError::UnsupportedScheme(shown))
    }
}

/// The bytes of the bearer token in `values` when they are one `Bearer` value with a token no longer than
/// `max_token_bytes`, the token's alphabet not checked: the key to look up a token verified before (which
/// passed [`parse_authorization`]; these are the bytes it returned then). `None` for anything else.
pub fn unchecked_bearer<'a>(values: &[&'a [u8]], max_token_bytes: usize) -> Option<&'a [u8]> {
    let [one] = values else { return None };
    let (scheme, token) = split_scheme(one);
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty() && token.len() <= max_token_bytes).then_some(token)
}

/// One `Authorization` value, trimmed, as its scheme and the trimmed rest.
fn split_scheme(raw: &[u8]) -> (&[u8], &[u8]) {
    let raw = trim_ascii(raw);
    match raw.iter().position(|b| *b == b' ') {
        Some(pos) => (&raw[..pos], trim_ascii(&raw[pos + 1..])),
        None => (raw, &b""[..]),
    }
}

fn parse_basic(encoded: &[u8]) -> Result<BasicCredentials, CredentialError> {
    if encoded.is_empty() {
        return Err(CredentialError::MalformedBasic("empty credentials"));
    }
    if encoded.len() > MAX_BASIC_HEADER_BYTES {
        return Err(CredentialError::MalformedBasic("credentials too long"));
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| CredentialError::MalformedBasic("not valid base64"))?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| CredentialError::MalformedBasic("not valid UTF-8"))?;
    let (user, password) = text.split_once(':').ok_or(CredentialError::MalformedBasic(
        "missing ':' between user name and password",
    ))?;
    if user.is_empty() {
        return Err(CredentialError::MalformedBasic("empty user name"));
    }
    if user.chars().any(char::is_control) || password.chars().any(char::is_control) {
        return Err(CredentialError::MalformedBasic(
            "control characters in user name or password",
        ));
    }
    Ok(BasicCredentials {
        user: user.to_string(),
        password: Zeroizing::new(password.to_string()),
    })
}

/// Bytes of the RFC 6750 `b64token` alphabet, without the trailing `=` padding: the reference that
/// [`is_b64token`] is tested against.
#[cfg(test)]
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// Whether `b` is in the RFC 6750 `b64token` alphabet (without `=`), branch-free.
#[inline(always)]
fn is_b64token(b: u8) -> bool {
    let lower = b | 0x20;
    (lower.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

fn parse_bearer(token: &[u8], max_token_bytes: usize) -> Result<&str, CredentialError> {
    if token.is_empty() {
        return Err(CredentialError::MalformedBearer("empty token"));
    }
    if token.len() > max_token_bytes {
        return Err(CredentialError::TokenTooLarge {
            size: token.len(),
            limit: max_token_bytes,
        });
    }
    // RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body_end = token.iter().rposition(|b| *b != b'=').map_or(0, |p| p + 1);
    // No early exit and no table load, only comparisons combined with `&`/`|`: this scans every bearer token of
    // every request, and the compiler turns it into vector code (benches/instructions.rs `credentials::bearer`).
    let valid_body = token[..body_end].iter().fold(true, |ok, &b| ok & is_b64token(b));
    if body_end == 0 || !valid_body {
        return Err(CredentialError::MalformedBearer(
            "characters outside the RFC 6750 token alphabet",
        ));
    }
    // Validated as ASCII above.
    std::str::from_utf8(token).map_err(|_| CredentialError::MalformedBearer("not ASCII"))
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branch_free_alphabet_check_is_the_table() {
        for b in 0..=255u8 {
            assert_eq!(is_b64token(b), B64TOKEN[usize::from(b)], "byte {b:#04x}");
        }
    }

    fn basic(user_pass: &str) -> Vec<u8> {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass)).into_bytes()
    }

    #[test]
    fn basic_decodes_user_and_password_with_colons_in_password() {
        let header = basic("alice:pa:ss");
        let Credentials::Basic(c) = parse_authorization(&[&header], 16384).unwrap() else {
            panic!("expected basic")
        };
        assert_eq!(c.user, "alice");
        assert_eq!(c.password.as_str(), "pa:ss");
        assert!(!format!("{c:?}").contains("pa:ss"), "Debug must not show the password");
    }

    #[test]
    fn unchecked_bearer_gives_the_bytes_parsing_gives_for_one_bearer_value() {
        for header in [
            &b"Bearer abc.def"[..],
            b"  bearer   abc.def  ",
            b"BEARER abc.def",
            b"Bearer abc.def==",
        ] {
            let Ok(Credentials::Bearer(parsed)) = parse_authorization(&[header], 64) else {
                panic!("a valid bearer value")
            };
            assert_eq!(unchecked_bearer(&[header], 64), Some(parsed.as_bytes()), "{header:?}");
        }
        // Not checked here: a token outside the alphabet is only a lookup key, found by no verified token.
        assert_eq!(unchecked_bearer(&[b"Bearer a\"b"], 64), Some(&b"a\"b"[..]));
        for refused in [
            &[&b"Basic YTpi"[..]][..],
            &[b"Bearer "],
            &[b"Bearer"],
            &[b"Bearer a", b"Bearer a"],
            &[],
        ] {
            assert_eq!(unchecked_bearer(refused, 64), None, "{refused:?}");
        }
        assert_eq!(unchecked_bearer(&[b"Bearer abcd"], 3), None, "over the size limit");
    }

    #[test]
    fn bearer_accepts_exactly_the_b64token_alphabet() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
        for byte in 0..=255u8 {
            let mut header = b"Bearer ab".to_vec();
            header.extend([byte, b'c', b'd']);
            let parsed = parse_authorization(&[&header], 100);
            // Whitespace-trimmed bytes never reach the token; a space splits it.
            if byte.is_ascii_whitespace() {
                continue;
            }
            assert_eq!(parsed.is_ok(), ALPHABET.contains(&byte), "byte {byte:#04x}: {parsed:?}");
        }
        assert!(parse_authorization(&[b"Bearer abc=="], 100).is_ok());
        assert!(parse_authorization(&[b"Bearer ab=c"], 100).is_err());
        assert!(parse_authorization(&[b"Bearer ==="], 100).is_err());
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let header = b"bEaReR abc.def.ghi".to_vec();
        assert_eq!(
            parse_authorization(&[&header], 100).unwrap(),
            Credentials::Bearer("abc.def.ghi")
        );
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        let cases: Vec<Vec<u8>> = vec![
            b"Basic".to_vec(),
            b"Basic !!!!".to_vec(),
            basic("no-colon"),
            basic(":nouser"),
            b"Basic \xff\xfe".to_vec(),
            b"Bearer".to_vec(),
            b"Bearer a b".to_vec(),
            b"Bearer ===".to_vec(),
            b"Bearer \xc3\xa9".to_vec(),
            b"Digest x".to_vec(),
            b"\xff".to_vec(),
            b"".to_vec(),
        ];
        for case in &cases {
            assert!(parse_authorization(&[case], 100).is_err(), "{case:?} should be refused");
        }
        let non_utf8 = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, b':', b'x'])
        );
        assert_eq!(
            parse_authorization(&[non_utf8.as_bytes()], 100),
            Err(CredentialError::MalformedBasic("not valid UTF-8"))
        );
    }

    #[test]
    fn missing_duplicate_and_oversized() {
        assert_eq!(parse_authorization(&[], 10), Err(CredentialError::Missing));
        assert_eq!(
            parse_authorization(&[b"Bearer a", b"Bearer b"], 10),
            Err(CredentialError::Duplicate)
        );
        let big = format!("Bearer {}", "a".repeat(17));
        assert_eq!(
            parse_authorization(&[big.as_bytes()], 16),
            Err(CredentialError::TokenTooLarge { size: 17, limit: 16 })
        );
    }

    #[test]
    fn unsupported_scheme_is_named_but_sanitised() {
        let err = parse_authorization(&[b"Negotiate\x01abc YII"], 10).unwrap_err();
        assert_eq!(err, CredentialError::UnsupportedScheme("Negotiate?abc".into()));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_headers_never_panic_and_respect_the_token_limit(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            if let Ok(Credentials::Bearer(token)) = parse_authorization(&[&raw], 64) {
                proptest::prop_assert!(token.len() <= 64);
            }
        }

        #[test]
        fn arbitrary_basic_payloads_never_panic(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&payload));
            if let Ok(Credentials::Basic(c)) = parse_authorization(&[header.as_bytes()], 64) {
                proptest::prop_assert!(!c.user.is_empty() && !c.user.contains(':'));
            }
        }
    }
}
