//! IP truncation.
//!
//! Invariant: what leaves this module is never a full address: IPv4 keeps its first 24 bits,
//! IPv6 its first 48 (the last 80 are zeroed), IPv4-mapped IPv6 is treated as IPv4, and input
//! that does not parse as an address yields nothing at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Truncates an address given as text (`CF-Connecting-IP`, or a client's `context.ip`).
pub fn truncate_ip(text: &str) -> Option<String> {
    let addr: IpAddr = text.trim().parse().ok()?;
    Some(truncate(addr).to_string())
}

/// Zeroes the host part: IPv4 last octet, IPv6 last 80 bits.
pub fn truncate(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(truncate_v4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(truncate_v4(v4)),
            None => {
                let bits = u128::from(v6) & !((1u128 << 80) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

fn truncate_v4(v4: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(v4) & 0xFFFF_FF00)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_loses_its_last_octet() {
        assert_eq!(truncate_ip("203.0.113.77").as_deref(), Some("203.0.113.0"));
        assert_eq!(
            truncate_ip(" 198.51.100.255 ").as_deref(),
            Some("198.51.100.0")
        );
        assert_eq!(truncate_ip("10.0.0.0").as_deref(), Some("10.0.0.0"));
    }

    #[test]
    fn ipv6_loses_its_last_80_bits() {
        assert_eq!(
            truncate_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348").as_deref(),
            Some("2001:db8:85a3::")
        );
        // The 48-bit boundary falls between the third and fourth groups.
        assert_eq!(
            truncate_ip("2001:db8:ffff:ffff::1").as_deref(),
            Some("2001:db8:ffff::")
        );
        assert_eq!(truncate_ip("::1").as_deref(), Some("::"));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_truncated_as_ipv4() {
        assert_eq!(
            truncate_ip("::ffff:203.0.113.77").as_deref(),
            Some("203.0.113.0")
        );
    }

    #[test]
    fn junk_gives_nothing() {
        for s in [
            "",
            "localhost",
            "203.0.113",
            "203.0.113.77:443",
            "1.2.3.4.5",
            "[::1]",
        ] {
            assert_eq!(truncate_ip(s), None, "{s}");
        }
    }
}
