//! Client addresses and the blocks of an allow-list: an IPv4 or IPv6 address, or a CIDR
//! block, written as people write them (`203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32`).
//! An IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) is the IPv4 address it maps, on
//! both sides, so a dual-stack origin never sees one client as two.

use core::fmt;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// An address or a block of addresses: `addr/prefix`, host bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

/// A client address as the gateway compares it: IPv4-mapped IPv6 read as IPv4.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses a client address header's value (`CF-Connecting-IP`): one address, nothing else.
pub fn parse_address(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok().map(canonical)
}

fn bits(address: IpAddr) -> (u128, u8) {
    match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let all = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    all & !((1u128 << (width - prefix)) - 1)
}

impl IpBlock {
    /// Parses an address or a CIDR block; the error says what is wrong, quoting nothing
    /// but the caller's own text.
    pub fn parse(text: &str) -> Result<IpBlock, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR block"))?;
        // A mapped address is its IPv4 address; its prefix counts the IPv4 bits.
        let (address, prefix) = match (address, canonical(address), prefix) {
            (IpAddr::V6(_), IpAddr::V4(v4), Some(p)) => {
                let p: u8 = p
                    .parse()
                    .ok()
                    .filter(|n: &u8| p == n.to_string())
                    .ok_or_else(|| format!("'{text}' has an invalid prefix length"))?;
                if !(96..=128).contains(&p) {
                    return Err(format!("'{text}' has an invalid prefix length"));
                }
                (IpAddr::V4(v4), Some((p - 96).to_string()))
            }
            (_, canonical, p) => (canonical, p.map(str::to_owned)),
        };
        let (value, width) = bits(address);
        let prefix = match prefix {
            None => width,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= width && p == n.to_string() => n,
                _ => return Err(format!("'{text}' has an invalid prefix length")),
            },
        };
        if prefix == 0 {
            return Err(format!(
                "'{text}' allows every address; leave allowedIps out instead"
            ));
        }
        if value & !mask(width, prefix) != 0 {
            let network = IpBlock::from_bits(value & mask(width, prefix), width, prefix);
            return Err(format!(
                "'{text}' has host bits set; the block is {network}"
            ));
        }
        Ok(IpBlock {
            network: address,
            prefix,
        })
    }

    fn from_bits(value: u128, width: u8, prefix: u8) -> IpBlock {
        let network = if width == 32 {
            // `value` holds at most 32 bits here.
            IpAddr::V4(u32::try_from(value).unwrap_or_default().into())
        } else {
            IpAddr::V6(value.into())
        };
        IpBlock { network, prefix }
    }

    /// Whether `address` is in this block.
    pub fn contains(&self, address: IpAddr) -> bool {
        let (network, width) = bits(self.network);
        let (value, value_width) = bits(canonical(address));
        width == value_width && value & mask(width, self.prefix) == network
    }

    /// Whether every address of `other` is in this block.
    pub fn covers(&self, other: &IpBlock) -> bool {
        self.prefix <= other.prefix && self.contains(other.network)
    }
}

impl fmt::Display for IpBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, width) = bits(self.network);
        if self.prefix == width {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

impl Serialize for IpBlock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpBlock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        IpBlock::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether `address` may use a credential restricted to `allowed` (empty: any address;
/// no address known: none of a restricted credential's).
pub fn allows(allowed: &[IpBlock], address: Option<IpAddr>) -> bool {
    allowed.is_empty() || address.is_some_and(|a| allowed.iter().any(|b| b.contains(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> IpBlock {
        IpBlock::parse(text).expect(text)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect(text)
    }

    #[test]
    fn addresses_and_blocks_parse_and_print_as_written() {
        for text in [
            "203.0.113.7",
            "203.0.113.0/24",
            "2001:db8::/32",
            "2001:db8::1",
            "10.0.0.0/8",
        ] {
            assert_eq!(block(text).to_string(), text);
        }
        assert_eq!(block("203.0.113.7/32").to_string(), "203.0.113.7");
        assert_eq!(block("::ffff:203.0.113.7").to_string(), "203.0.113.7");
        assert_eq!(
            block("::ffff:203.0.113.0/120").to_string(),
            "203.0.113.0/24"
        );
    }

    #[test]
    fn meaningless_or_malformed_blocks_are_refused() {
        for text in [
            "0.0.0.0/0",
            "::/0",
            "203.0.113.7/33",
            "2001:db8::/129",
            "203.0.113.7/24",
            "203.0.113.7/",
            "203.0.113.7/ 24",
            "203.0.113.7/+24",
            "203.0.113.7/024x",
            "host.example",
            "",
            "203.0.113",
            "::ffff:1.2.3.4/95",
        ] {
            assert!(IpBlock::parse(text).is_err(), "{text}");
        }
        let err = IpBlock::parse("203.0.113.7/24").expect_err("host bits");
        assert!(err.contains("203.0.113.0/24"), "{err}");
    }

    #[test]
    fn blocks_contain_their_addresses_and_mapped_ones() {
        let v4 = block("203.0.113.0/24");
        assert!(v4.contains(ip("203.0.113.200")));
        assert!(v4.contains(ip("::ffff:203.0.113.9")));
        assert!(!v4.contains(ip("203.0.114.1")));
        assert!(!v4.contains(ip("2001:db8::1")));
        let v6 = block("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("203.0.113.1")));
        assert!(block("203.0.113.7").contains(ip("203.0.113.7")));
        assert!(!block("203.0.113.7").contains(ip("203.0.113.8")));
        assert!(block("0.0.0.0/1").contains(ip("127.0.0.1")));
        assert!(!block("0.0.0.0/1").contains(ip("128.0.0.1")));
    }

    #[test]
    fn an_allow_list_admits_only_its_addresses_and_never_an_unknown_one() {
        let list = [block("203.0.113.0/24"), block("2001:db8::1")];
        assert!(allows(&list, Some(ip("203.0.113.1"))));
        assert!(allows(&list, Some(ip("2001:db8::1"))));
        assert!(!allows(&list, Some(ip("198.51.100.1"))));
        assert!(!allows(&list, None));
        assert!(allows(&[], None));
    }

    #[test]
    fn covering_is_containment_of_the_whole_block() {
        assert!(block("10.0.0.0/8").covers(&block("10.1.0.0/16")));
        assert!(!block("10.1.0.0/16").covers(&block("10.0.0.0/8")));
        assert!(!block("10.0.0.0/8").covers(&block("2001:db8::/32")));
    }
}
