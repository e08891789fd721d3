//! Who the client is: the trusted proxies in front of the gateway (`server.trusted_proxies`) and the client
//! address they report in `X-Forwarded-For`.
//!
//! Without trusted proxies (the default) the client is the TCP peer, and whatever `X-Forwarded-For` the client
//! sent is replaced. When the peer is a trusted proxy, the client is the rightmost `X-Forwarded-For` hop that is
//! not itself a trusted proxy (a client can write anything to the left of what its first proxy appended, so
//! only hops appended by trusted proxies count), and the peer is appended to the header.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The networks whose connections may report the client address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `2001:db8::/32` or a single address; the error names the invalid entry.
    pub fn parse(entries: &[String]) -> Result<Self, (usize, String)> {
        let networks = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        (
                            i,
                            format!("'{entry}' is not an IP address or CIDR network (e.g. 10.0.0.0/8)"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `ip` is a trusted proxy (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a connection from `peer` carrying the `X-Forwarded-For` header lines
    /// `forwarded_for` (in order): `peer` unless it is trusted, else the rightmost hop that is not trusted
    /// (the leftmost hop when all are). A hop that is not an address ends the walk at the trusted hop to
    /// its right.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a [u8]>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let lines: Vec<&[u8]> = forwarded_for.collect();
        let mut client = peer;
        for hop in lines.iter().rev().flat_map(|line| line.rsplit(|&b| b == b',')) {
            if !self.contains(client) {
                break;
            }
            match parse_hop(hop) {
                Some(ip) => client = ip,
                None => break,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` element: an address, optionally with a port (`1.2.3.4:80`, `[2001:db8::1]:80`).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(t: &TrustedProxies, peer: &str, lines: &[&str]) -> IpAddr {
        t.client_ip(ip(peer), lines.iter().map(|l| l.as_bytes()))
    }

    #[test]
    fn parses_networks_and_addresses_and_names_bad_entries() {
        let t = trusted(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", " 172.16.5.9/12 "]);
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("2001:db8::1")));
        assert!(t.contains(ip("172.31.0.1")), "host bits of a network are ignored");
        assert!(t.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped IPv6");
        let err = TrustedProxies::parse(&["10.0.0.0/8".into(), "proxy.local".into()]).unwrap_err();
        assert_eq!(err.0, 1);
        assert!(err.1.contains("proxy.local"), "{}", err.1);
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::default().is_empty());
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let none = TrustedProxies::default();
        assert_eq!(client(&none, "203.0.113.9", &["1.1.1.1"]), ip("203.0.113.9"));
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(client(&t, "203.0.113.9", &["10.0.0.1, 1.1.1.1"]), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_peer_reports_the_rightmost_untrusted_hop() {
        let t = trusted(&["10.0.0.0/8"]);
        // The client forged 6.6.6.6; the first proxy appended the real address.
        assert_eq!(client(&t, "10.0.0.2", &["6.6.6.6, 198.51.100.4"]), ip("198.51.100.4"));
        assert_eq!(
            client(&t, "10.0.0.2", &["6.6.6.6, 198.51.100.4, 10.0.0.1"]),
            ip("198.51.100.4")
        );
        assert_eq!(
            client(&t, "10.0.0.2", &["6.6.6.6", "198.51.100.4", "10.9.9.9"]),
            ip("198.51.100.4")
        );
        assert_eq!(
            client(&t, "10.0.0.2", &["10.0.0.5, 10.0.0.1"]),
            ip("10.0.0.5"),
            "all trusted: leftmost"
        );
        assert_eq!(
            client(&t, "10.0.0.2", &[]),
            ip("10.0.0.2"),
            "no header: the proxy itself"
        );
        assert_eq!(client(&t, "10.0.0.2", &["198.51.100.4:5555"]), ip("198.51.100.4"));
        assert_eq!(client(&t, "10.0.0.2", &["[2001:db8::7]:443"]), ip("2001:db8::7"));
        assert_eq!(client(&t, "10.0.0.2", &["1.1.1.1, garbage, 10.0.0.3"]), ip("10.0.0.3"));
        assert_eq!(client(&t, "10.0.0.2", &["1.1.1.1, garbage"]), ip("10.0.0.2"));
        assert_eq!(client(&t, "::ffff:10.0.0.2", &["198.51.100.4"]), ip("198.51.100.4"));
    }
}
