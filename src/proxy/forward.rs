//! The fields authgate sets on every upstream request in place of the client's copies: who the client is
//! (`X-Forwarded-For`, `X-Forwarded-Proto`) and the request's id (`X-Request-Id`).
//!
//! They are decided here once for both paths: pingora's appends them to its `RequestHeader`, the fast path
//! writes them as bytes ([`super::wire::request_head`]), which spares it a `RequestHeader` insert per field
//! (a hash, a probe of two maps and a copy of the name: about 2,300 instructions each,
//! benches/load/README.md). The client's copies are removed by the caller, in the pass that removes spoofed
//! identity headers ([`SetFields::replaces`]).

use authgate_core::http::forwarded::TrustedProxies;
use http::{HeaderName, HeaderValue};
use std::net::IpAddr;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Forwarding fields an untrusted client may not set; authgate does not set them either.
const DROPPED: [HeaderName; 3] = [
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("forwarded"),
];

/// Who sent the request, as far as the upstream is told.
enum Peer {
    /// No TCP peer address: the client's forwarding fields go as they are.
    Unknown,
    /// A client: all of its forwarding fields are replaced.
    Client,
    /// A trusted proxy: its `X-Forwarded-For` gets the peer appended, its other forwarding fields are kept.
    TrustedProxy,
}

/// The fields set on the upstream request, in the order they are appended.
pub struct SetFields {
    peer: Peer,
    forwarded_for: Option<HeaderValue>,
    forwarded_proto: Option<HeaderValue>,
    request_id: HeaderValue,
}

impl SetFields {
    /// The fields for a request from `peer` (over TLS or not) with `client`'s fields and id `request_id`. From a
    /// trusted proxy the peer is appended to its `X-Forwarded-For` chain and its `X-Forwarded-Proto` is kept
    /// when it sent one; from anyone else both are replaced, so a client cannot claim an address.
    pub fn new(
        peer: Option<IpAddr>,
        tls: bool,
        trusted: &TrustedProxies,
        client: &http::HeaderMap,
        request_id: &str,
    ) -> Result<Self, http::header::InvalidHeaderValue> {
        let proto = HeaderValue::from_static(if tls { "https" } else { "http" });
        let request_id = HeaderValue::from_str(request_id)?;
        let Some(peer) = peer else {
            return Ok(Self {
                peer: Peer::Unknown,
                forwarded_for: None,
                forwarded_proto: None,
                request_id,
            });
        };
        if !trusted.is_empty() && trusted.contains(peer) {
            let mut chain = Vec::new();
            for value in client.get_all(&X_FORWARDED_FOR) {
                chain.extend_from_slice(value.as_bytes());
                chain.extend_from_slice(b", ");
            }
            chain.extend_from_slice(&address(peer));
            return Ok(Self {
                peer: Peer::TrustedProxy,
                forwarded_for: Some(HeaderValue::from_bytes(&chain)?),
                forwarded_proto: (!client.contains_key(&X_FORWARDED_PROTO)).then_some(proto),
                request_id,
            });
        }
        Ok(Self {
            peer: Peer::Client,
            forwarded_for: Some(HeaderValue::from_maybe_shared(bytes::Bytes::from(address(peer)))?),
            forwarded_proto: Some(proto),
            request_id,
        })
    }

    /// Whether the client's field `name` is removed from the upstream request: replaced by one of these, or a
    /// forwarding field a client may not set.
    pub fn replaces(&self, name: &HeaderName) -> bool {
        if *name == X_REQUEST_ID {
            return true;
        }
        match self.peer {
            Peer::Unknown => false,
            Peer::TrustedProxy => *name == X_FORWARDED_FOR,
            Peer::Client => *name == X_FORWARDED_FOR || *name == X_FORWARDED_PROTO || DROPPED.contains(name),
        }
    }

    /// The fields to append, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        [
            (&X_FORWARDED_FOR, self.forwarded_for.as_ref()),
            (&X_FORWARDED_PROTO, self.forwarded_proto.as_ref()),
            (&X_REQUEST_ID, Some(&self.request_id)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name, value)))
    }
}

/// A fresh request id: `prefix` as 16 hex digits, then `counter` as at least 8 (what `{:016x}{:08x}` writes,
/// without the formatting machinery, which cost about 900 instructions per request).
pub fn request_id(prefix: u64, counter: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - counter.leading_zeros() as usize / 4).max(8);
    let mut id = String::with_capacity(16 + digits);
    for shift in (0..16).rev() {
        id.push(char::from(HEX[(prefix >> (shift * 4)) as usize & 0xf]));
    }
    for shift in (0..digits).rev() {
        id.push(char::from(HEX[(counter >> (shift * 4)) as usize & 0xf]));
    }
    id
}

/// `peer` as `Display` writes it; an IPv4 address digit by digit (its `Display` cost about 1,300
/// instructions per request).
fn address(peer: IpAddr) -> Vec<u8> {
    let IpAddr::V4(v4) = peer else {
        return peer.to_string().into_bytes();
    };
    let mut text = Vec::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push(b'.');
        }
        if octet >= 100 {
            text.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            text.push(b'0' + octet / 10 % 10);
        }
        text.push(b'0' + octet % 10);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(fields: &[(&str, &str)]) -> http::HeaderMap {
        fields
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    fn set(fields: &SetFields) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    const SPOOFED: &[(&str, &str)] = &[
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil"),
        ("x-real-ip", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6"),
        ("x-request-id", "theirs"),
    ];

    #[test]
    fn a_clients_forwarding_fields_are_all_replaced_or_dropped() {
        let peer = Some("127.0.0.1".parse().unwrap());
        let fields = SetFields::new(peer, false, &TrustedProxies::default(), &client(SPOOFED), "id1").unwrap();
        assert_eq!(
            set(&fields),
            pairs(&[
                ("x-forwarded-for", "127.0.0.1"),
                ("x-forwarded-proto", "http"),
                ("x-request-id", "id1")
            ])
        );
        for (name, _) in SPOOFED {
            assert!(fields.replaces(&HeaderName::from_static(name)), "{name} kept");
        }
        assert!(!fields.replaces(&HeaderName::from_static("host")));
    }

    #[test]
    fn a_trusted_proxys_chain_is_extended_and_its_proto_kept() {
        let trusted = TrustedProxies::parse(&["127.0.0.0/8".to_string()]).unwrap();
        let peer = Some("127.0.0.2".parse().unwrap());
        let sent = client(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example"),
        ]);
        let fields = SetFields::new(peer, false, &trusted, &sent, "id2").unwrap();
        assert_eq!(
            set(&fields),
            pairs(&[
                ("x-forwarded-for", "1.1.1.1, 2.2.2.2, 127.0.0.2"),
                ("x-request-id", "id2")
            ])
        );
        assert!(fields.replaces(&X_FORWARDED_FOR));
        assert!(!fields.replaces(&X_FORWARDED_PROTO));
        assert!(!fields.replaces(&HeaderName::from_static("x-forwarded-host")));
        let no_proto = SetFields::new(peer, true, &trusted, &client(&[]), "id3").unwrap();
        assert_eq!(
            set(&no_proto),
            pairs(&[
                ("x-forwarded-for", "127.0.0.2"),
                ("x-forwarded-proto", "https"),
                ("x-request-id", "id3")
            ])
        );
    }

    #[test]
    fn without_a_peer_address_only_the_request_id_is_set() {
        let fields = SetFields::new(None, false, &TrustedProxies::default(), &client(SPOOFED), "id4").unwrap();
        assert_eq!(set(&fields), pairs(&[("x-request-id", "id4")]));
        assert!(!fields.replaces(&X_FORWARDED_FOR));
        assert!(fields.replaces(&X_REQUEST_ID));
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "1.99.100.9",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(std::str::from_utf8(&address(ip)).unwrap(), ip.to_string());
        }
    }

    #[test]
    fn request_ids_are_what_the_format_string_writes() {
        for (prefix, counter) in [
            (0, 0),
            (0x0123_4567_89ab_cdef, 1),
            (u64::MAX, 0xffff_ffff),
            (7, 0x1_0000_0000),
            (1, u64::MAX),
        ] {
            assert_eq!(request_id(prefix, counter), format!("{prefix:016x}{counter:08x}"));
        }
    }

    #[test]
    fn a_request_id_that_is_no_header_value_is_an_error() {
        assert!(SetFields::new(None, false, &TrustedProxies::default(), &client(&[]), "a\nb").is_err());
    }
}
