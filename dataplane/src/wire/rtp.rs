//! RTP fixed headers (RFC 3550 §5.1) with CSRCs, a header extension
//! (§5.3.1) and padding.

use super::{get_u16, get_u32, set_u16, set_u32, Result, WireError};

/// Length of the fixed header (no CSRCs, no extension).
pub const HEADER_LEN: usize = 12;

mod field {
    use core::ops::Range;
    /// Version (2 bits), padding (1), extension (1), CSRC count (4).
    pub const V_P_X_CC: usize = 0;
    /// Marker (1 bit), payload type (7).
    pub const M_PT: usize = 1;
    pub const SEQUENCE: Range<usize> = 2..4;
    pub const TIMESTAMP: Range<usize> = 4..8;
    pub const SSRC: Range<usize> = 8..12;
    /// Extension header, relative to its start: profile, length in words.
    pub const EXT_PROFILE: Range<usize> = 0..2;
    pub const EXT_LENGTH: Range<usize> = 2..4;
}

view! {
    /// A view of an RTP packet.
    pub struct Packet;
    /// Wraps `buffer` after checking the version, that CSRCs and extension
    /// fit, and that a padding count lies within the payload (RFC 3550 §5.1).
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the buffer as [`Packet::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 2 {
            return Err(WireError::BadVersion);
        }
        let mut header_len = HEADER_LEN + 4 * usize::from(self.csrc_count());
        if self.extension() {
            if header_len + 4 > b.len() {
                return Err(WireError::BadHeaderLen);
            }
            let words = get_u16(&b[header_len..], field::EXT_LENGTH);
            header_len += 4 + 4 * usize::from(words);
        }
        if header_len > b.len() {
            return Err(WireError::BadHeaderLen);
        }
        if self.padding() {
            let pad = usize::from(b[b.len() - 1]);
            if pad == 0 || pad > b.len() - header_len {
                return Err(WireError::BadLength);
            }
        }
        Ok(())
    }

    /// The version field (2 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::V_P_X_CC] >> 6
    }

    /// Whether the packet ends with padding (P bit).
    pub fn padding(&self) -> bool {
        self.buffer.as_ref()[field::V_P_X_CC] & 0x20 != 0
    }

    /// Whether a header extension follows the CSRCs (X bit).
    pub fn extension(&self) -> bool {
        self.buffer.as_ref()[field::V_P_X_CC] & 0x10 != 0
    }

    /// Number of CSRC identifiers (CC).
    pub fn csrc_count(&self) -> u8 {
        self.buffer.as_ref()[field::V_P_X_CC] & 0x0F
    }

    /// The marker bit, e.g. the first packet of a talkspurt (RFC 3551 §4.1).
    pub fn marker(&self) -> bool {
        self.buffer.as_ref()[field::M_PT] & 0x80 != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.buffer.as_ref()[field::M_PT] & 0x7F
    }

    /// Sequence number.
    pub fn sequence_number(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SEQUENCE)
    }

    /// Media timestamp.
    pub fn timestamp(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::TIMESTAMP)
    }

    /// Synchronization source identifier.
    pub fn ssrc(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SSRC)
    }

    /// The CSRC at `index`, if `index < csrc_count()`.
    pub fn csrc(&self, index: usize) -> Option<u32> {
        (index < usize::from(self.csrc_count())).then(|| {
            let at = HEADER_LEN + 4 * index;
            get_u32(self.buffer.as_ref(), at..at + 4)
        })
    }

    fn extension_start(&self) -> usize {
        HEADER_LEN + 4 * usize::from(self.csrc_count())
    }

    /// The profile-defined 16 bits of the header extension (e.g. `0xBEDE`
    /// for RFC 8285 one-byte headers), if present.
    pub fn extension_profile(&self) -> Option<u16> {
        self.extension().then(|| {
            let ext = &self.buffer.as_ref()[self.extension_start()..];
            get_u16(ext, field::EXT_PROFILE)
        })
    }

    /// The header extension's data words, without its 4-byte header.
    pub fn extension_data(&self) -> Option<&[u8]> {
        let start = self.extension_start() + 4;
        self.extension().then(|| &self.buffer.as_ref()[start..self.header_len()])
    }

    /// Header length: fixed header, CSRCs and extension.
    pub fn header_len(&self) -> usize {
        let mut len = self.extension_start();
        if self.extension() {
            let words = get_u16(&self.buffer.as_ref()[len..], field::EXT_LENGTH);
            len += 4 + 4 * usize::from(words);
        }
        len
    }

    /// Padding bytes at the end, including the count byte (0 without P).
    pub fn padding_len(&self) -> usize {
        let b = self.buffer.as_ref();
        if self.padding() {
            usize::from(b[b.len() - 1])
        } else {
            0
        }
    }

    fn payload_range(&self) -> core::ops::Range<usize> {
        self.header_len()..self.buffer.as_ref().len() - self.padding_len()
    }

    /// The payload, without header and padding.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_range()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the marker bit.
    pub fn set_marker(&mut self, marker: bool) {
        let b = &mut self.buffer.as_mut()[field::M_PT];
        *b = (*b & 0x7F) | if marker { 0x80 } else { 0 };
    }

    /// Sets the payload type (low 7 bits of `pt`).
    pub fn set_payload_type(&mut self, pt: u8) {
        let b = &mut self.buffer.as_mut()[field::M_PT];
        *b = (*b & 0x80) | (pt & 0x7F);
    }

    /// Sets the sequence number.
    pub fn set_sequence_number(&mut self, seq: u16) {
        set_u16(self.buffer.as_mut(), field::SEQUENCE, seq);
    }

    /// Sets the timestamp.
    pub fn set_timestamp(&mut self, ts: u32) {
        set_u32(self.buffer.as_mut(), field::TIMESTAMP, ts);
    }

    /// Sets the synchronization source identifier.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        set_u32(self.buffer.as_mut(), field::SSRC, ssrc);
    }

    /// The payload, without header and padding, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }
}

/// The fields of a fixed RTP header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronization source identifier.
    pub ssrc: u32,
}

impl Repr {
    /// Reads the fixed header of a packet, validating it as
    /// [`Packet::new_checked`] does. CSRCs and extension are skipped.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            marker: packet.marker(),
            payload_type: packet.payload_type(),
            sequence_number: packet.sequence_number(),
            timestamp: packet.timestamp(),
            ssrc: packet.ssrc(),
        })
    }

    /// Header length this representation emits: [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 12-byte header (version 2, no padding, extension or CSRCs)
    /// into the start of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`HEADER_LEN`].
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..HEADER_LEN];
        b[field::V_P_X_CC] = 0x80;
        b[field::M_PT] = if self.marker { 0x80 } else { 0 } | (self.payload_type & 0x7F);
        set_u16(b, field::SEQUENCE, self.sequence_number);
        set_u32(b, field::TIMESTAMP, self.timestamp);
        set_u32(b, field::SSRC, self.ssrc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{hex, RTP_V4, UDP_V6};
    use proptest::prelude::*;

    fn pcmu() -> Vec<u8> {
        hex(RTP_V4)[42..].to_vec()
    }

    #[test]
    fn parse_pcmu_capture() {
        let b = pcmu();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 2);
        assert!(!p.padding() && !p.extension());
        assert_eq!(p.csrc_count(), 0);
        assert!(p.marker());
        assert_eq!(p.payload_type(), 0);
        assert_eq!(p.sequence_number(), 0x1234);
        assert_eq!(p.timestamp(), 123_456);
        assert_eq!(p.ssrc(), 0xdead_beef);
        assert_eq!(p.csrc(0), None);
        assert_eq!(p.extension_profile(), None);
        assert_eq!(p.extension_data(), None);
        assert_eq!(p.header_len(), 12);
        assert_eq!(p.padding_len(), 0);
        assert_eq!(p.payload().len(), 160);
        assert_eq!(p.payload()[0], 0xff);
    }

    #[test]
    fn parse_pcma_capture() {
        let b = hex(UDP_V6)[62..].to_vec();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 8);
        assert_eq!(p.sequence_number(), 0xfffe);
        assert_eq!(p.payload().len(), 20);
    }

    /// CC=2, X with one word of RFC 8285 one-byte elements, 4 payload bytes
    /// and 4 bytes of padding.
    const FULL: &str = "b2 60 0001 00000002 00000003 0000000a 0000000b
                        bede0001 10ff0000 01020304 00000004";

    #[test]
    fn csrcs_extension_padding() {
        let b = hex(FULL);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.padding() && p.extension());
        assert_eq!(p.csrc_count(), 2);
        assert!(!p.marker());
        assert_eq!(p.payload_type(), 96);
        assert_eq!((p.csrc(0), p.csrc(1), p.csrc(2)), (Some(10), Some(11), None));
        assert_eq!(p.extension_profile(), Some(0xBEDE));
        assert_eq!(p.extension_data(), Some(&[0x10, 0xff, 0, 0][..]));
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.padding_len(), 4);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn truncated_at_every_length() {
        let b = pcmu();
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        let b = hex(FULL);
        for len in HEADER_LEN..28 {
            let mut t = b[..len].to_vec();
            t[0] &= !0x20; // no padding, so only the header can be short
            assert_eq!(Packet::new_checked(&t[..]).unwrap_err(), WireError::BadHeaderLen);
        }
    }

    #[test]
    fn bad_version() {
        let mut b = pcmu();
        for v in [0x00, 0x40, 0xc0] {
            b[0] = v;
            assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadVersion);
        }
    }

    #[test]
    fn bad_padding() {
        let mut b = hex(FULL);
        let last = b.len() - 1;
        for (pad, ok) in [(0u8, false), (1, true), (8, true), (9, false), (0xff, false)] {
            b[last] = pad;
            let r = Packet::new_checked(&b[..]);
            assert_eq!(r.is_ok(), ok, "pad {pad}");
            if !ok {
                assert_eq!(r.unwrap_err(), WireError::BadLength);
            }
        }
    }

    #[test]
    fn setters() {
        let mut b = hex(FULL);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_marker(true);
        p.set_payload_type(0xFF);
        p.set_sequence_number(7);
        p.set_timestamp(8);
        p.set_ssrc(9);
        p.payload_mut().copy_from_slice(&[9, 9, 9, 9]);
        assert!(p.marker());
        assert_eq!(p.payload_type(), 0x7F);
        p.set_marker(false);
        assert_eq!((p.marker(), p.payload_type()), (false, 0x7F));
        assert_eq!((p.sequence_number(), p.timestamp(), p.ssrc()), (7, 8, 9));
        assert_eq!(p.payload(), &[9, 9, 9, 9]);
        assert_eq!(p.padding_len(), 4);
    }

    proptest! {
        #[test]
        fn checked_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.version(), p.padding(), p.extension(), p.csrc_count(), p.marker());
                let _ = (p.payload_type(), p.sequence_number(), p.timestamp(), p.ssrc());
                let _ = (p.csrc(0), p.csrc(15), p.extension_profile(), p.extension_data());
                prop_assert_eq!(p.header_len() + p.payload().len() + p.padding_len(), data.len());
                let _ = Repr::parse(&p).unwrap();
            }
        }

        #[test]
        fn checked_valid_headers(cc in 0u8..16, x in any::<bool>(), ext_words in 0u16..4,
                                 payload in 0usize..16, pad in 0u8..8) {
            // Structurally valid packets always pass, with the expected split.
            let mut b = vec![0x80 | (cc & 0x0F), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            b.extend(std::iter::repeat_n(0u8, 4 * usize::from(cc)));
            if x {
                b[0] |= 0x10;
                b.extend_from_slice(&[0xBE, 0xDE]);
                b.extend_from_slice(&ext_words.to_be_bytes());
                b.extend(std::iter::repeat_n(0u8, 4 * usize::from(ext_words)));
            }
            let header_len = b.len();
            b.extend(std::iter::repeat_n(0x55u8, payload));
            if pad > 0 {
                b[0] |= 0x20;
                b.extend(std::iter::repeat_n(0u8, usize::from(pad) - 1));
                b.push(pad);
            }
            let p = Packet::new_checked(&b[..]).unwrap();
            prop_assert_eq!(p.header_len(), header_len);
            prop_assert_eq!(p.payload().len(), payload);
        }

        #[test]
        fn repr_round_trip(marker in any::<bool>(), payload_type in 0u8..128, sequence_number in any::<u16>(),
                           timestamp in any::<u32>(), ssrc in any::<u32>()) {
            let repr = Repr { marker, payload_type, sequence_number, timestamp, ssrc };
            let mut buf = [0xFFu8; HEADER_LEN + 4];
            repr.emit(&mut buf);
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(p.payload().len(), 4);
            prop_assert_eq!(Repr::parse(&p).unwrap(), repr);
        }
    }
}
