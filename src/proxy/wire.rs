//! The fast path's upstream request head as bytes: the client's fields, rewritten on a [`RequestHeader`],
//! written the way pingora writes a request head, with authgate's identity fields appended as bytes.
//!
//! A cached identity's headers are the same on every request it makes, yet appending each to a
//! `RequestHeader` copies and parses its name again and inserts it into two maps (pingora keeps the name's
//! case apart from the values): about 1,000 instructions per header, most of what a cached bearer request
//! costs over a passthrough (benches/load/README.md). So the identity's field lines are rendered once per
//! identity ([`Authenticated::wire`]) and copied into the head in one piece. The bytes are exactly those
//! pingora would write for the same fields appended to the request (`wire_matches_pingoras_writer` below), so
//! the upstream cannot tell the two paths apart. authgate's own fields (`X-Forwarded-*`, `X-Request-Id`,
//! [`super::forward::SetFields`]) are appended the same way, before the identity's.

use authgate_core::auth::Authenticated;
use bytes::{BufMut, Bytes};
use http::{HeaderName, HeaderValue};
use pingora::http::IntoCaseHeaderName;
use pingora::prelude::*;
use pingora::protocols::http::v1::client::http_req_header_to_wire;

const CRLF: &[u8] = b"\r\n";

/// The head of `req` with `set` (authgate's fields), `auth`'s identity fields, then `extra`, appended after the
/// client's (rewritten) fields: what pingora writes when those fields are appended to `req` in that order.
pub fn request_head<'a>(
    req: &RequestHeader,
    set: impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)>,
    auth: Option<&Authenticated>,
    extra: Option<(&HeaderName, &HeaderValue)>,
) -> Result<Bytes> {
    let mut head = http_req_header_to_wire(req).or_err(
        ErrorType::InvalidHTTPHeader,
        "request line has a forbidden byte or an unsupported version",
    )?;
    // The head ends with its empty line: the appended fields go before it.
    head.truncate(head.len() - CRLF.len());
    for (name, value) in set {
        field_line(&mut head, name, value);
    }
    if let Some(auth) = auth {
        head.put_slice(identity_lines(auth));
    }
    if let Some((name, value)) = extra {
        field_line(&mut head, name, value);
    }
    head.put_slice(CRLF);
    Ok(head.freeze())
}

/// `auth`'s identity headers as field lines, rendered on first use and kept with the identity.
fn identity_lines(auth: &Authenticated) -> &[u8] {
    auth.wire.get_or_init(|| {
        let mut lines = Vec::with_capacity(auth.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum());
        for (name, value) in &auth.headers {
            field_line(&mut lines, name, value);
        }
        lines.into_boxed_slice()
    })
}

/// One `Name: value` line, the name cased as pingora writes a name it did not read (a few standard names
/// title-cased, the rest as they are).
fn field_line(buf: &mut impl BufMut, name: &HeaderName, value: &HeaderValue) {
    buf.put_slice(name.into_case_header_name().as_slice());
    buf.put_slice(b": ");
    buf.put_slice(value.as_bytes());
    buf.put_slice(CRLF);
}

#[cfg(test)]
mod tests {
    use super::*;
    use authgate_core::identity::{AuthMethod, Identity, UserManager};

    fn identity(headers: &[(&str, &str)]) -> Authenticated {
        let identity = Identity {
            name: "alice".into(),
            fqn: "K2:DENALLIX\\alice".into(),
            user_manager: UserManager::Ad,
            auth_method: AuthMethod::Basic,
            email: None,
            display_name: None,
            groups: vec![],
            mfa: false,
            tenant: None,
            scopes: vec![],
            roles: vec![],
            provider: None,
        };
        let headers = headers
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect();
        Authenticated::new(identity, headers)
    }

    /// pingora's own writing of `req` with the fields appended through its API.
    fn pingoras(
        req: &RequestHeader,
        set: &[(HeaderName, HeaderValue)],
        auth: Option<&Authenticated>,
        extra: Option<(&HeaderName, &HeaderValue)>,
    ) -> Vec<u8> {
        let mut req = req.clone();
        for (name, value) in set {
            req.append_header(name.clone(), value.clone()).unwrap();
        }
        for (name, value) in auth.iter().flat_map(|a| &a.headers) {
            req.append_header(name.clone(), value.clone()).unwrap();
        }
        if let Some((name, value)) = extra {
            req.append_header(name.clone(), value.clone()).unwrap();
        }
        http_req_header_to_wire(&req).unwrap().to_vec()
    }

    #[test]
    fn without_identity_the_head_is_pingoras() {
        let mut req = RequestHeader::build("GET", b"/a?b", None).unwrap();
        req.append_header("Host", "x").unwrap();
        let head = request_head(&req, std::iter::empty(), None, None).unwrap();
        assert_eq!(&head[..], b"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[test]
    fn identity_fields_go_before_the_empty_line_once_rendered() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("hOsT", "x").unwrap();
        let auth = identity(&[("x-authgate-user", "DENALLIX\\alice"), ("content-type", "t")]);
        let name = HeaderName::from_static("x-authgate-assertion");
        let value = HeaderValue::from_static("e.y.j");
        let set = [(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_static("127.0.0.1"),
        )];
        let head = request_head(
            &req,
            set.iter().map(|(n, v)| (n, v)),
            Some(&auth),
            Some((&name, &value)),
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&head).unwrap(),
            "GET / HTTP/1.1\r\nhOsT: x\r\nx-forwarded-for: 127.0.0.1\r\nx-authgate-user: DENALLIX\\alice\r\n\
             Content-Type: t\r\nx-authgate-assertion: e.y.j\r\n\r\n"
        );
        assert!(auth.wire.get().is_some(), "rendered once, kept with the identity");
        let again = request_head(&req, std::iter::empty(), Some(&auth), None).unwrap();
        assert_eq!(&again[..], &pingoras(&req, &[], Some(&auth), None)[..]);
    }

    #[test]
    fn a_request_line_pingora_would_not_write_is_refused() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.set_version(http::Version::HTTP_3);
        assert!(request_head(&req, std::iter::empty(), None, None).is_err());
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("host".to_string()),
                Just("Content-Type".to_string()),
                Just("X-Forwarded-For".to_string()),
                Just("x-authgate-user".to_string()),
                "[A-Za-z][A-Za-z0-9_-]{0,12}",
            ]
        }

        /// authgate's own fields' names ([`crate::proxy::forward::SetFields`]).
        const SET: [&str; 3] = ["x-forwarded-for", "x-forwarded-proto", "x-request-id"];

        fn value() -> impl Strategy<Value = String> {
            "[ -~]{0,24}".prop_map(|v| v.trim().to_string())
        }

        proptest! {
            /// Whatever the client's fields (case kept, names repeated) and the identity's, the bytes are those
            /// pingora writes for the same fields appended to the request. As in the proxy, the identity's
            /// names are distinct and the client's copies of them are gone (pingora's map would group a
            /// repeated name's lines; the meaning is the same, the bytes are not).
            #[test]
            fn wire_matches_pingoras_writer(
                path in "/[a-z0-9/?=&%.-]{0,20}",
                client in prop::collection::vec((name(), value()), 0..8),
                ident in prop::collection::vec((name(), value()), 0..8),
                extra in prop::option::of(value()),
                set in prop::collection::vec(value(), 0..3),
            ) {
                let mut seen = std::collections::HashSet::new();
                let ident: Vec<(&str, &str)> = ident
                    .iter()
                    .filter(|(n, _)| !SET.contains(&n.to_ascii_lowercase().as_str()) && seen.insert(n.to_ascii_lowercase()))
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let mut req = RequestHeader::build("GET", path.as_bytes(), None).unwrap();
                for (n, v) in client.iter().filter(|(n, _)| !seen.contains(&n.to_ascii_lowercase())) {
                    req.append_header(n.clone(), v.as_str()).unwrap();
                }
                let auth = identity(&ident);
                let extra_name = HeaderName::from_static("x-authgate-assertion");
                let extra_value = extra.map(|v| HeaderValue::from_str(&v).unwrap());
                let extra = extra_value.as_ref().map(|v| (&extra_name, v));
                // authgate's own fields, named apart from the identity's and the client's (removed from both).
                let set: Vec<(HeaderName, HeaderValue)> = SET
                    .into_iter()
                    .zip(&set)
                    .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_str(v).unwrap()))
                    .collect();
                for (name, _) in &set {
                    req.remove_header(name);
                }
                let ours = request_head(&req, set.iter().map(|(n, v)| (n, v)), Some(&auth), extra).unwrap();
                prop_assert_eq!(&ours[..], &pingoras(&req, &set, Some(&auth), extra)[..]);
                let bare = request_head(&req, std::iter::empty(), None, None).unwrap();
                prop_assert_eq!(&bare[..], &pingoras(&req, &[], None, None)[..]);
            }
        }
    }
}
