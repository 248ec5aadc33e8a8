//! Refuses endpoints that would make the dispatcher call into private networks: the URL must
//! be `https` (or `http` when private endpoints are allowed, for local development), and every
//! address its host resolves to must be public.

use std::net::IpAddr;

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
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
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
    let addresses: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(ip) = addresses.into_iter().find(|ip| is_private(*ip)) {
        return Err(format!("{host} resolves to the non-public address {ip}"));
    }
    Ok(())
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
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
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
    }
}
