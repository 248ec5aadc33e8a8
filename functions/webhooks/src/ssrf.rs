//! Refuses endpoints that would make the dispatcher call into private networks: the URL must
//! be `https` (or `http` when private endpoints are allowed, for local development), and every
//! address its host resolves to must be public.
//!
//! Checking the URL before a delivery is not enough on its own: the HTTP client resolves the
//! host again when it connects, and a hostile DNS server can answer a public address to the
//! check and a private one to the client (DNS rebinding). [`PublicOnly`] is the delivery
//! client's resolver, so the addresses the connection uses are the checked ones.

use std::net::{IpAddr, SocketAddr};

/// Whether an address is loopback, private, link-local, shared, documentation, multicast,
/// unspecified or otherwise not a public unicast address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            // Public IPv6 unicast lives only in 2000::/3 (IANA's global unicast space), so
            // everything outside it is refused at once: loopback, unspecified, IPv4-compatible
            // `::a.b.c.d`, IPv4-mapped and -translated `::ffff:…`, NAT64 `64:ff9b::/96` and
            // `64:ff9b:1::/48`, discard-only `100::/64`, unique-local `fc00::/7`, link-local
            // `fe80::/10`, site-local `fec0::/10` and multicast `ff00::/8`. Several of these carry
            // an IPv4 address a gateway or the kernel may translate into a private one.
            let s = v6.segments();
            (s[0] & 0xe000) != 0x2000
                // 2001::/23, IANA special-purpose: Teredo 2001::/32 (which tunnels to an
                // embedded IPv4), benchmarking, ORCHID and the like.
                || (s[0] == 0x2001 && s[1] < 0x0200)
                // Documentation 2001:db8::/32 and 3fff::/20.
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] & 0xfff0) == 0x3ff0
                // 6to4 2002::/16: its relays route to the IPv4 address in bits 16..48.
                || s[0] == 0x2002
        }
    }
}

/// `Ok` when `url` may be called.
pub async fn check(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        other => return Err(format!("scheme `{other}` is not allowed (https only)")),
    }
    if allow_private {
        return Ok(());
    }
    let host = parsed.host_str().ok_or("the URL has no host")?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    public_addresses(host, port).await.map(|_| ())
}

/// Every address `host` resolves to, or an error when there is none or any is not public.
pub async fn public_addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    // `Url::host_str` keeps the brackets of an IPv6 literal.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(addr) = addresses.iter().find(|a| is_private(a.ip())) {
        return Err(format!(
            "{host} resolves to the non-public address {}",
            addr.ip()
        ));
    }
    Ok(addresses)
}

/// The delivery client's DNS resolver: it answers only when every address of the name is
/// public, and the client connects to exactly those addresses.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the client puts the URL's port in.
            let addresses = public_addresses(&host, 0).await?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            // IPv4 inside IPv6, in each form a packet can be translated from.
            "64:ff9b::10.0.0.1",
            "64:ff9b::93.184.216.34",
            "64:ff9b:1::a00:1",
            "::10.0.0.1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "::ffff:0:0",
            "2002:a00:1::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "feff::1",
            "fc00::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "2001:10::1",
            "::",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2a00:1450:4001:82a::200e",
            "2001:4860:4860::8888",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_and_plain_http_are_refused_unless_allowed() {
        assert!(
            check("https://127.0.0.1/hook", false)
                .await
                .unwrap_err()
                .contains("non-public")
        );
        assert!(check("https://localhost/hook", false).await.is_err());
        assert!(
            check("http://example.com/hook", false)
                .await
                .unwrap_err()
                .contains("scheme")
        );
        assert!(check("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(check("ftp://example.com", true).await.is_err());
        assert!(
            check("https://[::1]/hook", false)
                .await
                .unwrap_err()
                .contains("non-public")
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_with_private_addresses() {
        use reqwest::dns::Resolve as _;
        let refused = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(refused.to_string().contains("non-public"), "{refused}");
    }

    /// A client with the resolver cannot reach a local server by name, even when no check ran
    /// before it (the rebinding case: the name pointed elsewhere when it was checked).
    #[tokio::test]
    async fn a_client_with_the_resolver_never_connects_to_a_private_address() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://localhost:{}/hook",
            listener.local_addr().unwrap().port()
        );
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        let guarded = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly))
            .build()
            .unwrap();
        let err = guarded.get(&url).send().await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
        // Without the resolver the same request reaches the server: the test can tell.
        let _ = reqwest::Client::new().get(&url).send().await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
