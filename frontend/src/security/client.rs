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

/// The rules above as properties over headers an attacker (left of our
/// proxies) and our proxies (on the right) write together.
#[cfg(test)]
mod properties {
    use actix_web::http::header::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    fn trusted() -> Vec<IpNet> {
        crate::config::parse_proxies("10.0.0.0/8, fd00::/8").unwrap()
    }

    /// One hop as some client or proxy might write it.
    fn hop() -> impl Strategy<Value = String> {
        prop_oneof![
            // Trusted proxies, in several spellings.
            prop::sample::select(vec![
                "10.0.0.7",
                "10.1.2.3:8080",
                "fd00::1",
                "[fd00::2]:443",
                "::ffff:10.9.9.9",
            ])
            .prop_map(str::to_owned),
            // Anyone else.
            prop::sample::select(vec![
                "203.0.113.9",
                "198.51.100.1:5123",
                "2001:db8::5",
                "[2001:db8::6]:80",
                "::ffff:192.0.2.1",
                "127.0.0.1",
                "0.0.0.0",
            ])
            .prop_map(str::to_owned),
            // Garbage and near-misses.
            prop::sample::select(vec![
                "",
                "unknown",
                "10.0.0.256",
                "[10.0.0.7]",
                "10.0.0.7:",
                "2001:db8::5:80",
                "fd00::1%eth0",
                "10.0.0.7 10.0.0.8",
                "_hidden",
                "for=10.0.0.7",
            ])
            .prop_map(str::to_owned),
            "[ -~]{0,16}",
        ]
    }

    /// `hops` spread over one or more `X-Forwarded-For` headers.
    fn headers_of(hops: &[String], split: usize) -> Option<HeaderMap> {
        let mut map = HeaderMap::new();
        let cut = split.min(hops.len());
        for part in [&hops[..cut], &hops[cut..]] {
            if part.is_empty() {
                continue;
            }
            let value = HeaderValue::from_str(&part.join(", ")).ok()?;
            map.append(HeaderName::from_static("x-forwarded-for"), value);
        }
        Some(map)
    }

    fn peer() -> impl Strategy<Value = IpAddr> {
        prop::sample::select(vec!["10.0.0.2", "::ffff:10.0.0.3", "fd00::9", "203.0.113.50"])
            .prop_map(|p| p.parse().unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_client_is_the_peer_or_a_hop_no_untrusted_hop_vouched_for(
            peer in peer(),
            hops in prop::collection::vec(hop(), 0..6),
            split in 0usize..6,
        ) {
            let Some(headers) = headers_of(&hops, split) else { return Ok(()) };
            let trusted = trusted();
            let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
            let client = client_ip(Some(peer), &headers, &trusted).unwrap();
            let peer = peer.to_canonical();
            if !is_trusted(&peer) {
                // The header is anyone's to write: ignored.
                prop_assert_eq!(client, peer);
                return Ok(());
            }
            // Every entry as parsed, left to right (commas inside a hop
            // split it, as they do on the wire).
            let entries: Vec<Option<IpAddr>> = if hops.is_empty() {
                Vec::new()
            } else {
                hops.join(",").split(',').map(|h| parse_hop(h.trim()).ok()).collect()
            };
            // The proxies' part: the longest run of readable trusted
            // addresses at the right end. Whatever is left of it was
            // written by the client or someone we cannot vouch for.
            let proxies_from = entries
                .iter()
                .rposition(|e| !e.is_some_and(|ip| is_trusted(&ip)))
                .map_or(0, |i| i + 1);
            let expected = match proxies_from.checked_sub(1).map(|i| entries[i]) {
                // The hop our nearest untrusted-side proxy saw: the client.
                Some(Some(untrusted)) => untrusted,
                // Unreadable, or nothing left of the proxies: the furthest
                // proxy stands for the client (the peer, with no proxies).
                Some(None) | None => entries.get(proxies_from).copied().flatten().unwrap_or(peer),
            };
            prop_assert_eq!(client, expected, "{:?}", hops);
            prop_assert!(client == peer || entries.contains(&Some(client)));
        }

        #[test]
        fn what_the_client_writes_cannot_change_who_it_is(
            forged in prop::collection::vec(hop(), 0..4),
            client in prop::sample::select(vec!["203.0.113.9", "2001:db8::5", "[2001:db8::6]:80"]),
            proxies in prop::collection::vec(
                prop::sample::select(vec!["10.0.0.7", "fd00::1", "10.1.2.3:8080"]), 0..3),
        ) {
            // A client's own X-Forwarded-For, then what our proxies append.
            let honest: Vec<String> = std::iter::once(client.to_owned())
                .chain(proxies.iter().map(|p| (*p).to_owned()))
                .collect();
            let with_forgery: Vec<String> = forged.iter().cloned().chain(honest.clone()).collect();
            let Some(forged_headers) = headers_of(&with_forgery, forged.len()) else {
                return Ok(());
            };
            let honest_headers = headers_of(&honest, 0).unwrap();
            let peer = Some("10.0.0.2".parse().unwrap());
            let expected = client_ip(peer, &honest_headers, &trusted());
            prop_assert_eq!(expected, Some(parse_hop(client).unwrap()));
            prop_assert_eq!(client_ip(peer, &forged_headers, &trusted()), expected);
        }
    }
}
