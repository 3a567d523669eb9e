//! Zero-copy views of the headers mediafwd reads and rewrites.
//!
//! Every header is read through a view such as [`ipv4::Packet`]: a thin
//! wrapper over a caller-owned buffer (`T: AsRef<[u8]>` for getters,
//! `T: AsMut<[u8]>` for setters). `new_checked` validates lengths and
//! versions once at the edge; after it succeeds no getter panics, so the
//! rest of the dataplane trusts the type instead of re-checking bounds.
//! `new_unchecked` skips validation for buffers mediafwd built itself.
//!
//! Where a header is built from scratch, a plain-value `Repr` carries the
//! fields and `emit` writes them. Nothing here allocates, touches DPDK or
//! uses `unsafe`; the module only needs `core`.

/// Declares a view `$name<T: AsRef<[u8]>>` over a buffer, with what every
/// view has: `new_unchecked`, `new_checked` (which runs the view's own
/// `check_len`, documented by the doc comment given), `into_inner` and
/// `AsRef<[u8]>`. The getters, setters and `check_len` follow in the view's
/// own `impl` blocks.
macro_rules! view {
    (
        $(#[$doc:meta])*
        pub struct $name:ident;
        $(#[$checked_doc:meta])*
        fn new_checked;
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buffer` without validation; getters may panic on a short buffer.
            pub const fn new_unchecked(buffer: T) -> $name<T> {
                $name { buffer }
            }

            $(#[$checked_doc])*
            pub fn new_checked(buffer: T) -> $crate::wire::Result<$name<T>> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            /// Returns the underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }

        impl<T: AsRef<[u8]>> AsRef<[u8]> for $name<T> {
            fn as_ref(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }
    };
}

/// The header fields ICMP (RFC 792) and ICMPv6 (RFC 4443 §2.1, §4) share:
/// type, code, checksum, and an echo's identifier and sequence number, at
/// the calling module's `field` offsets. `get` for the getters, `set` for
/// the setters (which leave the checksum alone).
macro_rules! icmp_fields {
    (get) => {
        /// Message type, see [`msg_type`].
        pub fn msg_type(&self) -> u8 {
            self.buffer.as_ref()[field::TYPE]
        }

        /// Message code.
        pub fn code(&self) -> u8 {
            self.buffer.as_ref()[field::CODE]
        }

        /// Checksum field.
        pub fn checksum(&self) -> u16 {
            $crate::wire::get_u16(self.buffer.as_ref(), field::CHECKSUM)
        }

        /// Identifier of an echo request or reply.
        ///
        /// # Panics
        /// On a message shorter than 8 bytes, which a checked echo is not.
        pub fn echo_ident(&self) -> u16 {
            $crate::wire::get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
        }

        /// Sequence number of an echo request or reply.
        ///
        /// # Panics
        /// On a message shorter than 8 bytes, which a checked echo is not.
        pub fn echo_seq(&self) -> u16 {
            $crate::wire::get_u16(self.buffer.as_ref(), field::ECHO_SEQ)
        }
    };
    (set) => {
        /// Sets the message type; the checksum is not updated.
        pub fn set_msg_type(&mut self, msg_type: u8) {
            self.buffer.as_mut()[field::TYPE] = msg_type;
        }

        /// Sets the code; the checksum is not updated.
        pub fn set_code(&mut self, code: u8) {
            self.buffer.as_mut()[field::CODE] = code;
        }

        /// Sets the checksum field.
        pub fn set_checksum(&mut self, checksum: u16) {
            $crate::wire::set_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
        }

        /// Sets the echo identifier; the checksum is not updated.
        pub fn set_echo_ident(&mut self, ident: u16) {
            $crate::wire::set_u16(self.buffer.as_mut(), field::ECHO_IDENT, ident);
        }

        /// Sets the echo sequence number; the checksum is not updated.
        pub fn set_echo_seq(&mut self, seq: u16) {
            $crate::wire::set_u16(self.buffer.as_mut(), field::ECHO_SEQ, seq);
        }
    };
}

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod rtcp;
pub mod rtp;
pub mod stun;
pub mod udp;

/// Why a buffer was rejected by a `new_checked` or `parse`.
///
/// Every variant means the packet cannot be handled as the claimed
/// protocol; the dataplane drops it and counts the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before a fixed header or a declared field does.
    #[error("packet truncated: the buffer is shorter than its header; drop it")]
    Truncated,
    /// The version field is not the one the view expects (IPv4 4, IPv6 6, RTP/RTCP 2).
    #[error("wrong protocol version field; the packet belongs to another protocol, drop it")]
    BadVersion,
    /// A header length field (IPv4 IHL, RTP CSRC count or extension) is inconsistent.
    #[error("header length field is inconsistent with the buffer; drop the packet")]
    BadHeaderLen,
    /// A length field (total length, UDP length, RTP padding, RTCP length, NDP option) is inconsistent.
    #[error("length field disagrees with the buffer size; drop the packet")]
    BadLength,
    /// Valid on the wire but outside what mediafwd handles (stacked VLAN tags, non-Ethernet ARP, fragments).
    #[error("valid but unsupported packet format; pass it to the slow path or drop it")]
    Unsupported,
    /// The checksum does not verify.
    #[error("checksum mismatch; the packet was corrupted in transit, drop it")]
    BadChecksum,
}

/// Result of parsing a header.
pub type Result<T> = core::result::Result<T, WireError>;

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), used in
/// the IPv4 protocol field (RFC 791 §3.1) and the IPv6 next header field
/// (RFC 8200 §3).
pub mod protocol {
    /// Internet Control Message Protocol (RFC 792).
    pub const ICMP: u8 = 1;
    /// User Datagram Protocol (RFC 768).
    pub const UDP: u8 = 17;
    /// ICMP for IPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
}

/// Reads the big-endian `u16` at the start of field `f`.
#[inline(always)]
fn get_u16(b: &[u8], f: core::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[f.start], b[f.start + 1]])
}

/// Reads the big-endian `u32` at the start of field `f`.
#[inline(always)]
fn get_u32(b: &[u8], f: core::ops::Range<usize>) -> u32 {
    u32::from_be_bytes([b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3]])
}

/// Writes `v` big-endian at the start of field `f`.
#[inline(always)]
fn set_u16(b: &mut [u8], f: core::ops::Range<usize>, v: u16) {
    b[f.start..f.start + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` big-endian at the start of field `f`.
#[inline(always)]
fn set_u32(b: &mut [u8], f: core::ops::Range<usize>, v: u32) {
    b[f.start..f.start + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
pub(crate) mod test_util {
    /// Decodes a hex dump, ignoring whitespace, so captures can be pasted as
    /// they appear in a packet analyzer.
    pub fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => panic!("not a hex digit: {}", b as char),
            })
            .collect();
        assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
        digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
    }
    /// Ethernet + IPv4 (DSCP EF) + UDP 30000 -> 40002 + RTP PCMU (PT 0,
    /// marker, seq 0x1234, ts 123456, SSRC 0xdeadbeef) with a 20 ms frame:
    /// 192.0.2.10 -> 198.51.100.20, ident 0x1c46, DF, TTL 64.
    pub const RTP_V4: &str = "
        3c22fb11223300163e1a2b3c0800
        45b800c81c464000401130d5c000020ac6336414
        75309c4200b47240
        808012340001e240deadbeef
        ffdab590ebc6a1fcd7b28de8c39ef9d4af8ae5c09bf6d1ac87e2bd98f3cea984
        dfba95f0cba681dcb792edc8a3fed9b48feac5a0fbd6b18ce7c29df8d3ae89e4
        bf9af5d0ab86e1bc97f2cda883deb994efcaa580dbb691ecc7a2fdd8b38ee9c4
        9ffad5b08be6c19cf7d2ad88e3be99f4cfaa85e0bb96f1cca782ddb893eec9a4
        ffdab590ebc6a1fcd7b28de8c39ef9d4af8ae5c09bf6d1ac87e2bd98f3cea984";

    /// Ethernet + IPv6 (traffic class 0xb8, flow 0x12345, hop limit 64) +
    /// UDP 50000 -> 50002 + RTP PCMA (PT 8, marker, seq 0xfffe):
    /// 2001:db8::10 -> 2001:db8:1::20.
    pub const UDP_V6: &str = "
        3c22fb11223300163e1a2b3c86dd
        6b812345002811402001 0db8000000000000 0000000000102001 0db8000100000000
        000000000020
        c350c35200287b5f
        8088fffe1234567801020304
        d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8";

    /// Ethernet + IPv4 + ICMP echo request (ident 0x1f2e, seq 3, the
    /// 32-byte payload of a Windows ping): 192.0.2.10 -> 198.51.100.20.
    pub const ICMP_ECHO: &str = "
        3c22fb11223300163e1a2b3c0800
        45b8003cabcd40004001a1e9c000020ac6336414
        08002e2b1f2e0003
        6162636465666768696a6b6c6d6e6f7071727374757677616263646566676869";

    /// Ethernet + IPv6 + Neighbor Solicitation for 2001:db8::1 with a
    /// source link-layer address option, from fe80::216:3eff:fe1a:2b3c to
    /// the solicited-node group ff02::1:ff00:1.
    pub const NS: &str = "
        3333ff00000100163e1a2b3c86dd
        6000000000203aff fe80000000000000 02163efffe1a2b3c
        ff02000000000000 00000001ff000001
        8700798a00000000 20010db800000000 0000000000000001
        010100163e1a2b3c";

    /// Ethernet + IPv6 + Neighbor Advertisement (solicited, override) for
    /// 2001:db8::1 with a target link-layer address option, from 2001:db8::1
    /// to fe80::216:3eff:fe1a:2b3c.
    pub const NA: &str = "
        00163e1a2b3c3c22fb11223386dd
        6000000000203aff 20010db800000000 0000000000000001
        fe80000000000000 02163efffe1a2b3c
        8800f7da60000000 20010db800000000 0000000000000001
        02013c22fb112233";

    /// RTCP compound packet: an SR from SSRC 0xdeadbeef (NTP 0xe9b4f1a2.3d70a3d7,
    /// RTP ts 123456, 1500 packets, 240000 octets) with one report block,
    /// then an SDES CNAME "mf@relay".
    pub const RTCP_SR: &str = "
        81c8000cdeadbeef e9b4f1a23d70a3d7 0001e240000005dc 0003a980
        01020304 05000003 00011234 00000014 00000000 00000000
        81ca0004deadbeef 01086d664072656c 61790000";

    /// RFC 5769 §2.1: a Binding request with SOFTWARE, PRIORITY,
    /// ICE-CONTROLLED, USERNAME "evtj:h6vY", MESSAGE-INTEGRITY (password
    /// "VOkJxbRl1RmTxUk/WvJxBt") and FINGERPRINT.
    pub const RFC5769_REQUEST: &str = "
        000100582112a442b7e7a701bc34d686fa87dfae
        802200105354554e20746573742063 6c69656e74
        002400046e0001ff
        80290008932ff9b151263b36
        000600096576746a3a68367659202020
        000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2
        80280004e57a3bcf";
}
