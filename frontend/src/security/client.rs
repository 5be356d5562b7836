//! Who the client is, by address: the peer, unless the peer is one of
//! `TRUSTED_PROXIES`, in which case `X-Forwarded-For` is read from the right
//! (the hop nearest to us) past every trusted proxy; the first address that
//! is not one is the client. Addresses further left were written by the
//! client itself and prove nothing. From an untrusted peer the header is
//! ignored entirely: anyone can send it.
//!
//! The address is a throttling key and what the sessions list and audit log
//! show; getting it wrong behind a proxy would make every visitor one
//! client (and 50 failures from one attacker would block every sign-in).

use std::net::IpAddr;

use actix_web::{dev::ServiceRequest, http::header::HeaderMap};
use ipnet::IpNet;

/// The client's address for a request from `peer` with `headers`.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    chain(peer, headers, trusted).first().copied()
}

/// The hops this request is known to have taken, from the client to the
/// peer: the peer alone, unless it is a trusted proxy, in which case the
/// trusted proxies it names in `X-Forwarded-For` and the client before them.
/// What the upstream apps are told (`proxy`), and whom throttling counts.
pub fn chain(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Vec<IpAddr> {
    // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`; CIDRs
    // are written (and proxies write addresses) as plain IPv4.
    let Some(peer) = peer.map(|p| p.to_canonical()) else { return Vec::new() };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut chain = vec![peer];
    if !is_trusted(&peer) {
        return chain;
    }
    // Every X-Forwarded-For header, in order, as one list.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Ok(ip) if is_trusted(&ip) => chain.push(ip),
            Ok(ip) => {
                chain.push(ip);
                break;
            }
            // A hop we cannot read: nothing left of it can be believed, and
            // the furthest proxy we can account for stands for the client.
            Err(_) => break,
        }
    }
    chain.reverse();
    chain
}

/// One `X-Forwarded-For` entry: an address, or (as some proxies write it)
/// `address:port` or `[v6 address]:port`.
fn parse_hop(hop: &str) -> Result<IpAddr, std::net::AddrParseError> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// [`client_ip`] for a request this server is answering.
pub fn of_request(req: &ServiceRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    of_http_request(req.request(), trusted)
}

/// The same for a request a server function serves.
pub fn of_http_request(req: &actix_web::HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    client_ip(req.peer_addr().map(|a| a.ip()), req.headers(), trusted)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in xff {
            map.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let proxies = crate::config::parse_proxies("10.0.0.0/8").unwrap();
        let forged = headers(&["198.51.100.1"]);
        assert_eq!(client_ip(Some(ip("203.0.113.9")), &forged, &proxies), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(Some(ip("203.0.113.9")), &forged, &[]), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(Some(ip("10.0.0.2")), &forged, &proxies), Some(ip("198.51.100.1")));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = crate::config::parse_proxies("10.0.0.0/8").unwrap();
        let peer = Some(ip("10.0.0.2"));
        // The client wrote "1.1.1.1" itself; our proxies appended the rest.
        let chain = headers(&["1.1.1.1, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(client_ip(peer, &chain, &proxies), Some(ip("203.0.113.9")));
        let v6 = headers(&["2001:db8::5"]);
        assert_eq!(client_ip(peer, &v6, &proxies), Some(ip("2001:db8::5")));
        // Ports, IPv4-mapped peers.
        let ported = headers(&["203.0.113.9:5123"]);
        assert_eq!(client_ip(peer, &ported, &proxies), Some(ip("203.0.113.9")));
        let bracketed = headers(&["[2001:db8::5]:443"]);
        assert_eq!(client_ip(peer, &bracketed, &proxies), Some(ip("2001:db8::5")));
        let mapped = Some(ip("::ffff:10.0.0.2"));
        assert_eq!(
            client_ip(mapped, &headers(&["198.51.100.1"]), &proxies),
            Some(ip("198.51.100.1"))
        );
        // Nothing but proxies, no header, or garbage: the nearest proxy.
        assert_eq!(client_ip(peer, &headers(&["10.0.0.9"]), &proxies), Some(ip("10.0.0.9")));
        assert_eq!(client_ip(peer, &headers(&[]), &proxies), peer);
        assert_eq!(client_ip(peer, &headers(&["1.1.1.1, nonsense"]), &proxies), peer);
    }
}
