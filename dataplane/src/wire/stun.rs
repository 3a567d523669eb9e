//! STUN messages (RFC 8489) as ICE connectivity checks carry them (RFC 8445
//! §7), and the first-byte demultiplexing of a media port (RFC 7983 §7).
//!
//! [`Message`] is a checked view: `new_checked` validates the header and
//! walks the attributes once, so [`Message::attributes`] yields only
//! attributes that lie inside the message. [`Writer`] builds a message into
//! a caller-owned buffer. MESSAGE-INTEGRITY (HMAC-SHA1, §14.5) and
//! FINGERPRINT (CRC-32, §14.7) are computed and verified over exactly the
//! bytes they cover, with the header's length field as the RFC prescribes.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{get_u16, get_u32, set_u16, Result, WireError};

/// Length of the STUN header.
pub const HEADER_LEN: usize = 20;
/// Length of an attribute's type and length fields.
pub const ATTR_HEADER_LEN: usize = 4;
/// The magic cookie (RFC 8489 §5).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Length of a MESSAGE-INTEGRITY value (HMAC-SHA1).
pub const INTEGRITY_LEN: usize = 20;
/// Length of a FINGERPRINT value.
pub const FINGERPRINT_LEN: usize = 4;
/// XORed into the CRC-32 of a FINGERPRINT (RFC 8489 §14.7).
const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// Message types (method and class) ICE uses.
pub mod msg_type {
    /// Binding request (a connectivity or consent check).
    pub const BINDING_REQUEST: u16 = 0x0001;
    /// Binding indication (a keepalive, not answered).
    pub const BINDING_INDICATION: u16 = 0x0011;
    /// Binding success response.
    pub const BINDING_SUCCESS: u16 = 0x0101;
    /// Binding error response.
    pub const BINDING_ERROR: u16 = 0x0111;
}

/// Attribute types (RFC 8489 §18.3, RFC 8445 §16.1).
pub mod attr {
    /// MAPPED-ADDRESS.
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// USERNAME.
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE.
    pub const ERROR_CODE: u16 = 0x0009;
    /// UNKNOWN-ATTRIBUTES.
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    /// MESSAGE-INTEGRITY-SHA256.
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    /// XOR-MAPPED-ADDRESS.
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// PRIORITY (ICE).
    pub const PRIORITY: u16 = 0x0024;
    /// USE-CANDIDATE (ICE nomination).
    pub const USE_CANDIDATE: u16 = 0x0025;
    /// SOFTWARE.
    pub const SOFTWARE: u16 = 0x8022;
    /// FINGERPRINT.
    pub const FINGERPRINT: u16 = 0x8028;
    /// ICE-CONTROLLED, with the sender's tie-breaker.
    pub const ICE_CONTROLLED: u16 = 0x8029;
    /// ICE-CONTROLLING, with the sender's tie-breaker.
    pub const ICE_CONTROLLING: u16 = 0x802A;

    /// Whether an attribute of type `typ` must be understood (types below 0x8000).
    pub const fn comprehension_required(typ: u16) -> bool {
        typ < 0x8000
    }
}

mod field {
    use core::ops::Range;
    pub const TYPE: Range<usize> = 0..2;
    pub const LENGTH: Range<usize> = 2..4;
    pub const COOKIE: Range<usize> = 4..8;
    pub const TRANSACTION_ID: Range<usize> = 8..20;
}

/// Whether a UDP payload is a STUN message: first byte 0-3 (RFC 7983 §7)
/// and the magic cookie in place, so RTP and RTCP (first byte 128-191) and
/// DTLS (20-63) never match.
#[inline]
pub fn is_stun(payload: &[u8]) -> bool {
    payload.len() >= HEADER_LEN && payload[0] < 4 && get_u32(payload, field::COOKIE) == MAGIC_COOKIE
}

/// Whether a UDP payload is a DTLS record: first byte 20-63 (RFC 7983 §7)
/// and at least a DTLS record header (13 bytes).
#[inline]
pub fn is_dtls(payload: &[u8]) -> bool {
    payload.len() >= 13 && (20..=63).contains(&payload[0])
}

/// Rounds an attribute value length up to the 4-byte boundary.
const fn padded(len: usize) -> usize {
    (len + 3) & !3
}

view! {
    /// A view of a STUN message.
    pub struct Message;
    /// Wraps `buffer` after checking the header (top bits zero, magic
    /// cookie, length a multiple of 4 within the buffer) and that every
    /// attribute with its padding lies inside the message. Bytes beyond the
    /// length field are ignored.
    fn new_checked;
}

/// One attribute of a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute type, see [`attr`].
    pub typ: u16,
    /// The value, without padding.
    pub value: &'a [u8],
    /// Offset of the attribute's header from the start of the message.
    pub offset: usize,
}

/// The attributes of a checked [`Message`], in order.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    msg: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        if self.offset + ATTR_HEADER_LEN > self.msg.len() {
            return None;
        }
        let typ = get_u16(self.msg, self.offset..self.offset + 2);
        let len = usize::from(get_u16(self.msg, self.offset + 2..self.offset + 4));
        let start = self.offset + ATTR_HEADER_LEN;
        // A checked message has every padded value inside it; stop rather
        // than panic on an unchecked one.
        let value = self.msg.get(start..start + len)?;
        let a = Attribute { typ, value, offset: self.offset };
        self.offset = start + padded(len);
        Some(a)
    }
}

impl<T: AsRef<[u8]>> Message<T> {
    /// Validates the buffer as [`Message::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] & 0xC0 != 0 || get_u32(b, field::COOKIE) != MAGIC_COOKIE {
            return Err(WireError::BadVersion);
        }
        let end = HEADER_LEN + usize::from(get_u16(b, field::LENGTH));
        if !end.is_multiple_of(4) || end > b.len() {
            return Err(WireError::BadLength);
        }
        let mut off = HEADER_LEN;
        while off < end {
            if off + ATTR_HEADER_LEN > end {
                return Err(WireError::BadLength);
            }
            let len = usize::from(get_u16(b, off + 2..off + 4));
            off += ATTR_HEADER_LEN + padded(len);
            if off > end {
                return Err(WireError::BadLength);
            }
        }
        Ok(())
    }

    /// Message type (method and class), see [`msg_type`].
    pub fn msg_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TYPE)
    }

    /// The length field: the bytes after the header.
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the message has no attributes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The 96-bit transaction id.
    pub fn transaction_id(&self) -> [u8; 12] {
        let mut id = [0; 12];
        id.copy_from_slice(&self.buffer.as_ref()[field::TRANSACTION_ID]);
        id
    }

    /// The message, header and attributes, bounded by the length field.
    pub fn message(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN + usize::from(self.len())]
    }

    /// The attributes in order.
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes { msg: self.message(), offset: HEADER_LEN }
    }

    /// The first attribute of type `typ`.
    pub fn find(&self, typ: u16) -> Option<Attribute<'_>> {
        self.attributes().find(|a| a.typ == typ)
    }

    /// Whether the MESSAGE-INTEGRITY attribute verifies with `key` (for
    /// ICE's short-term credentials, the password itself). False when the
    /// attribute is absent or not 20 bytes. The comparison is constant-time.
    pub fn verify_integrity(&self, key: &[u8]) -> bool {
        let Some(mi) = self.find(attr::MESSAGE_INTEGRITY) else {
            return false;
        };
        if mi.value.len() != INTEGRITY_LEN {
            return false;
        }
        integrity(self.message(), mi.offset, key).verify_slice(mi.value).is_ok()
    }

    /// Whether the message ends with a FINGERPRINT attribute whose CRC-32
    /// matches; `None` if there is no FINGERPRINT at all.
    pub fn verify_fingerprint(&self) -> Option<bool> {
        let fp = self.find(attr::FINGERPRINT)?;
        let last = fp.offset + ATTR_HEADER_LEN + FINGERPRINT_LEN == self.message().len();
        if !last || fp.value.len() != FINGERPRINT_LEN {
            return Some(false);
        }
        let want = u32::from_be_bytes([fp.value[0], fp.value[1], fp.value[2], fp.value[3]]);
        Some(fingerprint(self.message(), fp.offset) == want)
    }
}

/// The header of `msg` with its length field set to end `end_off` bytes
/// into the message, the covering length RFC 8489 §14.5 and §14.7 prescribe.
fn header_covering(msg: &[u8], end_off: usize) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h.copy_from_slice(&msg[..HEADER_LEN]);
    set_u16(&mut h, field::LENGTH, (end_off - HEADER_LEN) as u16);
    h
}

/// HMAC-SHA1 keyed by `key` over `msg` up to the MESSAGE-INTEGRITY at `mi_off`.
fn integrity(msg: &[u8], mi_off: usize, key: &[u8]) -> Hmac<Sha1> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(&header_covering(msg, mi_off + ATTR_HEADER_LEN + INTEGRITY_LEN));
    mac.update(&msg[HEADER_LEN..mi_off]);
    mac
}

/// The FINGERPRINT value of `msg` up to the FINGERPRINT attribute at `fp_off`.
fn fingerprint(msg: &[u8], fp_off: usize) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header_covering(msg, fp_off + ATTR_HEADER_LEN + FINGERPRINT_LEN));
    crc.update(&msg[HEADER_LEN..fp_off]);
    crc.finalize() ^ FINGERPRINT_XOR
}

/// Decodes an XOR-MAPPED-ADDRESS value (RFC 8489 §14.2) of a message with
/// transaction id `tid`; `None` if the family or length is wrong.
pub fn decode_xor_address(value: &[u8], tid: &[u8; 12]) -> Option<SocketAddr> {
    let port = value.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]) ^ (MAGIC_COOKIE >> 16) as u16)?;
    let mask = xor_mask(tid);
    match (value[1], value.len()) {
        (0x01, 8) => {
            let mut a = [0; 4];
            a.iter_mut().zip(&value[4..8]).zip(&mask).for_each(|((o, v), m)| *o = v ^ m);
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        (0x02, 20) => {
            let mut a = [0; 16];
            a.iter_mut().zip(&value[4..20]).zip(&mask).for_each(|((o, v), m)| *o = v ^ m);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => None,
    }
}

/// The cookie followed by the transaction id: what an address is XORed with.
fn xor_mask(tid: &[u8; 12]) -> [u8; 16] {
    let mut m = [0; 16];
    m[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m[4..].copy_from_slice(tid);
    m
}

/// Builds a STUN message into a caller-owned buffer, attribute by
/// attribute; the header's length field follows each one. Every method
/// fails with [`WireError::Truncated`] when the buffer is too short, and
/// leaves what was written before intact.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// Starts a message of type `msg_type` with transaction id `tid`.
    pub fn new(buf: &'a mut [u8], msg_type: u16, tid: &[u8; 12]) -> Result<Writer<'a>> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        set_u16(buf, field::TYPE, msg_type);
        set_u16(buf, field::LENGTH, 0);
        buf[field::COOKIE].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf[field::TRANSACTION_ID].copy_from_slice(tid);
        Ok(Writer { buf, len: HEADER_LEN })
    }

    /// Reserves an attribute of type `typ` with a `len`-byte value (zero
    /// padding included) and returns the value's bytes.
    fn reserve(&mut self, typ: u16, len: usize) -> Result<&mut [u8]> {
        let end = self.len + ATTR_HEADER_LEN + padded(len);
        if end > self.buf.len() || len > usize::from(u16::MAX) || end - HEADER_LEN > usize::from(u16::MAX) {
            return Err(WireError::Truncated);
        }
        let off = self.len;
        set_u16(self.buf, off..off + 2, typ);
        set_u16(self.buf, off + 2..off + 4, len as u16);
        self.buf[off + ATTR_HEADER_LEN + len..end].fill(0);
        self.len = end;
        set_u16(self.buf, field::LENGTH, (end - HEADER_LEN) as u16);
        Ok(&mut self.buf[off + ATTR_HEADER_LEN..off + ATTR_HEADER_LEN + len])
    }

    /// Appends an attribute with `value`.
    pub fn attribute(&mut self, typ: u16, value: &[u8]) -> Result<()> {
        self.reserve(typ, value.len())?.copy_from_slice(value);
        Ok(())
    }

    /// Appends an XOR-MAPPED-ADDRESS for `addr`.
    pub fn xor_mapped_address(&mut self, addr: SocketAddr) -> Result<()> {
        let mask = xor_mask(&self.transaction_id());
        let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
        let (family, ip, n) = match addr.ip() {
            IpAddr::V4(a) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&a.octets());
                (0x01, b, 4)
            }
            IpAddr::V6(a) => (0x02, a.octets(), 16),
        };
        let v = self.reserve(attr::XOR_MAPPED_ADDRESS, 4 + n)?;
        v[0] = 0;
        v[1] = family;
        v[2..4].copy_from_slice(&port.to_be_bytes());
        v[4..].iter_mut().zip(ip.iter().zip(&mask)).for_each(|(o, (a, m))| *o = a ^ m);
        Ok(())
    }

    /// Appends an ERROR-CODE with `code` (300-699) and `reason`.
    pub fn error_code(&mut self, code: u16, reason: &str) -> Result<()> {
        let v = self.reserve(attr::ERROR_CODE, 4 + reason.len())?;
        v[..2].fill(0);
        v[2] = (code / 100) as u8;
        v[3] = (code % 100) as u8;
        v[4..].copy_from_slice(reason.as_bytes());
        Ok(())
    }

    /// Appends MESSAGE-INTEGRITY keyed by `key` over what was written so far.
    pub fn integrity(&mut self, key: &[u8]) -> Result<()> {
        let off = self.len;
        self.reserve(attr::MESSAGE_INTEGRITY, INTEGRITY_LEN)?;
        let mac = integrity(&self.buf[..self.len], off, key).finalize().into_bytes();
        self.buf[off + ATTR_HEADER_LEN..self.len].copy_from_slice(&mac);
        Ok(())
    }

    /// Appends FINGERPRINT; nothing may follow it.
    pub fn fingerprint(&mut self) -> Result<()> {
        let off = self.len;
        self.reserve(attr::FINGERPRINT, FINGERPRINT_LEN)?;
        let crc = fingerprint(&self.buf[..self.len], off);
        self.buf[off + ATTR_HEADER_LEN..self.len].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }

    /// The transaction id written in the header.
    fn transaction_id(&self) -> [u8; 12] {
        let mut id = [0; 12];
        id.copy_from_slice(&self.buf[field::TRANSACTION_ID]);
        id
    }

    /// The length of the message written so far.
    pub fn finish(self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{hex, RFC5769_REQUEST as SAMPLE_REQUEST};
    use proptest::prelude::*;

    /// RFC 5769 §2.2: the success response, XOR-MAPPED-ADDRESS 192.0.2.1:32853.
    const SAMPLE_V4_RESPONSE: &str = "
        0101003c2112a442b7e7a701bc34d686fa87dfae
        8022000b7465737420766563746f7220
        002000080001a147e112a643
        000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7
        80280004c07d4c96";

    /// RFC 5769 §2.3: the same over IPv6, 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
    const SAMPLE_V6_RESPONSE: &str = "
        010100482112a442b7e7a701bc34d686fa87dfae
        8022000b7465737420766563746f7220
        002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9
        00080014a382954e4be67bf11784c97c8292c275bfe3ed41
        80280004c8fb0b4c";

    const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

    #[test]
    fn rfc5769_request() {
        let b = hex(SAMPLE_REQUEST);
        let m = Message::new_checked(&b[..]).unwrap();
        assert_eq!(m.msg_type(), msg_type::BINDING_REQUEST);
        assert_eq!(m.transaction_id(), hex("b7e7a701bc34d686fa87dfae")[..]);
        assert_eq!(m.find(attr::USERNAME).unwrap().value, b"evtj:h6vY");
        assert_eq!(m.find(attr::PRIORITY).unwrap().value, hex("6e0001ff"));
        assert_eq!(m.find(attr::ICE_CONTROLLED).unwrap().value, hex("932ff9b151263b36"));
        let types: Vec<u16> = m.attributes().map(|a| a.typ).collect();
        assert_eq!(types, [0x8022, 0x0024, 0x8029, 0x0006, 0x0008, 0x8028]);
        assert!(m.verify_integrity(PASSWORD));
        assert!(!m.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBu"));
        assert_eq!(m.verify_fingerprint(), Some(true));
        assert!(is_stun(&b));
        assert!(!is_dtls(&b));
    }

    #[test]
    fn rfc5769_responses() {
        for (vector, addr) in [
            (SAMPLE_V4_RESPONSE, "192.0.2.1:32853"),
            (SAMPLE_V6_RESPONSE, "[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
        ] {
            let b = hex(vector);
            let m = Message::new_checked(&b[..]).unwrap();
            assert_eq!(m.msg_type(), msg_type::BINDING_SUCCESS);
            let xma = m.find(attr::XOR_MAPPED_ADDRESS).unwrap();
            assert_eq!(decode_xor_address(xma.value, &m.transaction_id()), Some(addr.parse().unwrap()));
            assert!(m.verify_integrity(PASSWORD));
            assert_eq!(m.verify_fingerprint(), Some(true));
        }
    }

    /// The writer reproduces the RFC 5769 responses byte for byte (the RFC
    /// pads SOFTWARE with a space where the writer puts a zero).
    #[test]
    fn writer_reproduces_rfc5769_responses() {
        for (vector, addr) in [
            (SAMPLE_V4_RESPONSE, "192.0.2.1:32853"),
            (SAMPLE_V6_RESPONSE, "[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
        ] {
            let want = hex(vector);
            let tid: [u8; 12] = want[8..20].try_into().unwrap();
            let mut buf = [0u8; 128];
            let mut w = Writer::new(&mut buf, msg_type::BINDING_SUCCESS, &tid).unwrap();
            w.attribute(attr::SOFTWARE, b"test vector").unwrap();
            assert_eq!(w.buf[35], 0);
            w.buf[35] = b' ';
            w.xor_mapped_address(addr.parse().unwrap()).unwrap();
            w.integrity(PASSWORD).unwrap();
            w.fingerprint().unwrap();
            let n = w.finish();
            assert_eq!(buf[..n], want[..]);
        }
    }

    #[test]
    fn rejects_bad_headers_and_attributes() {
        let b = hex(SAMPLE_REQUEST);
        assert_eq!(Message::new_checked(&b[..19]).unwrap_err(), WireError::Truncated);
        let mut x = b.clone();
        x[0] = 0x40;
        assert_eq!(Message::new_checked(&x[..]).unwrap_err(), WireError::BadVersion);
        let mut x = b.clone();
        x[4] = 0;
        assert_eq!(Message::new_checked(&x[..]).unwrap_err(), WireError::BadVersion);
        assert!(!is_stun(&x));
        let mut x = b.clone();
        x[3] = 0x5a;
        assert_eq!(Message::new_checked(&x[..]).unwrap_err(), WireError::BadLength);
        // The length field past the buffer.
        assert_eq!(Message::new_checked(&b[..b.len() - 4]).unwrap_err(), WireError::BadLength);
        // An attribute length running past the message.
        let mut x = b.clone();
        x[23] = 0x60;
        assert_eq!(Message::new_checked(&x[..]).unwrap_err(), WireError::BadLength);
    }

    #[test]
    fn tampering_is_detected() {
        let b = hex(SAMPLE_REQUEST);
        // A changed PRIORITY: the fingerprint and the integrity both fail.
        let mut x = b.clone();
        x[47] ^= 1;
        let m = Message::new_checked(&x[..]).unwrap();
        assert_eq!(m.verify_fingerprint(), Some(false));
        assert!(!m.verify_integrity(PASSWORD));
        // No FINGERPRINT at all: the length field cut before it.
        let mut x = b.clone();
        x[3] -= 8;
        let m = Message::new_checked(&x[..]).unwrap();
        assert_eq!(m.verify_fingerprint(), None);
        // A FINGERPRINT that is not last.
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf, msg_type::BINDING_REQUEST, &[7; 12]).unwrap();
        w.fingerprint().unwrap();
        w.attribute(attr::SOFTWARE, b"x").unwrap();
        let n = w.finish();
        assert_eq!(Message::new_checked(&buf[..n]).unwrap().verify_fingerprint(), Some(false));
    }

    #[test]
    fn writer_refuses_short_buffers() {
        let mut buf = [0u8; 19];
        assert_eq!(Writer::new(&mut buf, 1, &[0; 12]).unwrap_err(), WireError::Truncated);
        let mut buf = [0u8; 40];
        let mut w = Writer::new(&mut buf, 1, &[0; 12]).unwrap();
        assert_eq!(w.integrity(b"k").unwrap_err(), WireError::Truncated);
        w.fingerprint().unwrap();
        assert_eq!(w.finish(), 28);
    }

    #[test]
    fn demux_by_first_byte() {
        let rtp = hex("808012340001e240deadbeef00000000000000000000");
        assert!(!is_stun(&rtp) && !is_dtls(&rtp));
        // A DTLS 1.2 ClientHello record header.
        let dtls = hex("16fefd000000000000000000a0 01");
        assert!(is_dtls(&dtls) && !is_stun(&dtls));
    }

    proptest! {
        #[test]
        fn checked_views_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(m) = Message::new_checked(&bytes[..]) {
                let end = m.message().len();
                for a in m.attributes() {
                    prop_assert!(a.offset + ATTR_HEADER_LEN + a.value.len() <= end);
                }
                let _ = m.verify_fingerprint();
                let _ = m.verify_integrity(b"pwd");
            }
        }

        #[test]
        fn written_messages_verify(
            tid in any::<[u8; 12]>(),
            user in "[a-zA-Z0-9+/]{1,40}",
            key in proptest::collection::vec(any::<u8>(), 1..64),
            v6 in any::<bool>(),
            ip in any::<[u8; 16]>(),
            port in any::<u16>(),
        ) {
            let addr = if v6 {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)
            } else {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])), port)
            };
            let mut buf = [0u8; 256];
            let mut w = Writer::new(&mut buf, msg_type::BINDING_SUCCESS, &tid).unwrap();
            w.attribute(attr::USERNAME, user.as_bytes()).unwrap();
            w.xor_mapped_address(addr).unwrap();
            w.integrity(&key).unwrap();
            w.fingerprint().unwrap();
            let n = w.finish();
            let m = Message::new_checked(&buf[..n]).unwrap();
            prop_assert!(is_stun(&buf[..n]));
            prop_assert_eq!(m.transaction_id(), tid);
            prop_assert_eq!(m.find(attr::USERNAME).unwrap().value, user.as_bytes());
            let xma = m.find(attr::XOR_MAPPED_ADDRESS).unwrap();
            prop_assert_eq!(decode_xor_address(xma.value, &tid), Some(addr));
            prop_assert!(m.verify_integrity(&key));
            prop_assert_eq!(m.verify_fingerprint(), Some(true));
            // Any flipped bit before the FINGERPRINT value breaks it.
            let mut x = buf;
            x[n - 5] ^= 0x10;
            if let Ok(m) = Message::new_checked(&x[..n]) {
                prop_assert_eq!(m.verify_fingerprint(), Some(false));
            }
        }
    }
}
