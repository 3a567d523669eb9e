//! RTCP packet headers (RFC 3550 §6.4) and rtcp-mux demultiplexing
//! (RFC 5761 §4).
//!
//! A [`Packet`] views the first packet of a compound packet (RFC 3550
//! §6.1); [`Packet::remainder`] holds the packets after it.

use super::{get_u16, get_u32, set_u32, Result, WireError};

/// Length of the common header plus the sender SSRC.
pub const HEADER_LEN: usize = 8;

/// RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611 §2).
pub mod packet_type {
    /// Sender report (RFC 3550 §6.4.1).
    pub const SR: u8 = 200;
    /// Receiver report (RFC 3550 §6.4.2).
    pub const RR: u8 = 201;
    /// Source description (RFC 3550 §6.5).
    pub const SDES: u8 = 202;
    /// Goodbye (RFC 3550 §6.6).
    pub const BYE: u8 = 203;
    /// Application-defined (RFC 3550 §6.7).
    pub const APP: u8 = 204;
    /// Transport-layer feedback (RFC 4585 §6.2), e.g. generic NACK.
    pub const RTPFB: u8 = 205;
    /// Payload-specific feedback (RFC 4585 §6.3), e.g. PLI.
    pub const PSFB: u8 = 206;
    /// Extended report (RFC 3611).
    pub const XR: u8 = 207;
}

mod field {
    use core::ops::Range;
    /// Version (2 bits), padding (1), report or source count (5).
    pub const V_P_RC: usize = 0;
    pub const PT: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const SSRC: Range<usize> = 4..8;
    /// Sender info of an SR (RFC 3550 §6.4.1).
    pub const NTP_TIMESTAMP: Range<usize> = 8..16;
    pub const RTP_TIMESTAMP: Range<usize> = 16..20;
    pub const PACKET_COUNT: Range<usize> = 20..24;
    pub const OCTET_COUNT: Range<usize> = 24..28;
    /// Media source of a feedback message (RFC 4585 §6.1).
    pub const MEDIA_SSRC: Range<usize> = 8..12;
}

/// Whether a datagram on an rtcp-mux port is RTCP rather than RTP
/// (RFC 5761 §4): version 2 and a second octet in 192..=223, the range
/// RTP payload types 64..=95 with the marker set would otherwise occupy.
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// The sender information block of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SenderInfo {
    /// NTP timestamp: seconds since 1900 in the high 32 bits, fraction below.
    pub ntp_timestamp: u64,
    /// The same instant on the RTP media clock.
    pub rtp_timestamp: u32,
    /// Sender's packet count.
    pub packet_count: u32,
    /// Sender's payload octet count.
    pub octet_count: u32,
}

view! {
    /// A view of the first RTCP packet of a compound packet.
    pub struct Packet;
    /// Wraps `buffer` after checking the version and that the first
    /// packet's length field, `(length + 1) * 4` bytes, fits and covers
    /// the sender SSRC.
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the buffer as [`Packet::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 2 {
            return Err(WireError::BadVersion);
        }
        // A length field of 0 (a BYE without sources) declares a packet
        // shorter than the SSRC the getters read as its own.
        if self.packet_len() > len || self.packet_len() < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    /// The version field (2 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::V_P_RC] >> 6
    }

    /// Whether this packet ends with padding (P bit).
    pub fn padding(&self) -> bool {
        self.buffer.as_ref()[field::V_P_RC] & 0x20 != 0
    }

    /// Report count (SR, RR), source count (SDES, BYE), subtype (APP) or
    /// feedback message type (RTPFB, PSFB).
    pub fn count(&self) -> u8 {
        self.buffer.as_ref()[field::V_P_RC] & 0x1F
    }

    /// Packet type, see [`packet_type`].
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[field::PT]
    }

    /// The length field: packet length in 32-bit words minus one.
    pub fn length_words(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Length of this packet in bytes, `(length + 1) * 4`.
    pub fn packet_len(&self) -> usize {
        (usize::from(self.length_words()) + 1) * 4
    }

    /// The SSRC after the common header: the sender of an SR, RR or
    /// feedback message, the first source of an SDES or BYE.
    pub fn sender_ssrc(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SSRC)
    }

    /// The sender info of an SR, if this is one and long enough.
    pub fn sender_info(&self) -> Option<SenderInfo> {
        if self.packet_type() != packet_type::SR || self.packet_len() < field::OCTET_COUNT.end {
            return None;
        }
        let b = self.buffer.as_ref();
        let ntp = field::NTP_TIMESTAMP;
        Some(SenderInfo {
            ntp_timestamp: u64::from(get_u32(b, ntp.start..ntp.start + 4)) << 32
                | u64::from(get_u32(b, ntp.start + 4..ntp.end)),
            rtp_timestamp: get_u32(b, field::RTP_TIMESTAMP),
            packet_count: get_u32(b, field::PACKET_COUNT),
            octet_count: get_u32(b, field::OCTET_COUNT),
        })
    }

    /// The media source SSRC of an RTPFB or PSFB message (RFC 4585 §6.1).
    pub fn media_ssrc(&self) -> Option<u32> {
        let feedback = matches!(self.packet_type(), packet_type::RTPFB | packet_type::PSFB);
        (feedback && self.packet_len() >= field::MEDIA_SSRC.end)
            .then(|| get_u32(self.buffer.as_ref(), field::MEDIA_SSRC))
    }

    /// The bytes of this packet after the sender SSRC.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.packet_len()]
    }

    /// The bytes after this packet: the rest of the compound packet.
    pub fn remainder(&self) -> &[u8] {
        &self.buffer.as_ref()[self.packet_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the SSRC after the common header.
    pub fn set_sender_ssrc(&mut self, ssrc: u32) {
        set_u32(self.buffer.as_mut(), field::SSRC, ssrc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{hex, RTCP_SR, RTP_V4};
    use proptest::prelude::*;

    #[test]
    fn parse_sr_compound() {
        let b = hex(RTCP_SR);
        assert!(is_rtcp(&b));
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 2);
        assert!(!p.padding());
        assert_eq!(p.count(), 1);
        assert_eq!(p.packet_type(), packet_type::SR);
        assert_eq!(p.length_words(), 12);
        assert_eq!(p.packet_len(), 52);
        assert_eq!(p.sender_ssrc(), 0xdead_beef);
        assert_eq!(p.media_ssrc(), None);
        let info = p.sender_info().unwrap();
        assert_eq!(info.ntp_timestamp, 0xe9b4_f1a2_3d70_a3d7);
        assert_eq!(info.rtp_timestamp, 123_456);
        assert_eq!(info.packet_count, 1500);
        assert_eq!(info.octet_count, 240_000);
        assert_eq!(p.body().len(), 44);
        assert_eq!(&p.body()[20..24], &[1, 2, 3, 4]); // report block SSRC

        let sdes = Packet::new_checked(p.remainder()).unwrap();
        assert_eq!(sdes.packet_type(), packet_type::SDES);
        assert_eq!(sdes.count(), 1);
        assert_eq!(sdes.sender_ssrc(), 0xdead_beef);
        assert_eq!(sdes.sender_info(), None);
        assert_eq!(&sdes.body()[2..10], b"mf@relay");
        assert!(sdes.remainder().is_empty());
    }

    #[test]
    fn feedback_media_ssrc() {
        // PLI (RFC 4585 §6.3.1) from 0x11111111 about 0x22222222.
        let b = hex("81ce0002 11111111 22222222");
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.packet_type(), p.count()), (packet_type::PSFB, 1));
        assert_eq!(p.media_ssrc(), Some(0x2222_2222));
    }

    #[test]
    fn rtcp_mux_demultiplexing() {
        assert!(!is_rtcp(&hex(RTP_V4)[42..]));
        for pt in 192..=223u8 {
            assert!(is_rtcp(&[0x80, pt]));
        }
        for second in [0u8, 0x80 | 63, 0x80 | 96, 224, 255] {
            assert!(!is_rtcp(&[0x80, second]));
        }
        assert!(!is_rtcp(&[0x40, 200]));
        assert!(!is_rtcp(&[0x80]));
        assert!(!is_rtcp(&[]));
    }

    #[test]
    fn setters() {
        let mut b = hex(RTCP_SR);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_sender_ssrc(0x0102_0304);
        assert_eq!(p.sender_ssrc(), 0x0102_0304);
    }

    #[test]
    fn truncated_at_every_length() {
        let b = hex(RTCP_SR);
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        for len in HEADER_LEN..52 {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::BadLength);
        }
        assert!(Packet::new_checked(&b[..52]).is_ok());
    }

    #[test]
    fn a_packet_shorter_than_its_ssrc_is_refused() {
        // Found by fuzzing (wire_views): a BYE with no source and length 0
        // in an 8-byte buffer passed the check, and body() panicked.
        let b = hex("80cb0000 deadbeef");
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadLength);
        let b = hex("81cb0001 deadbeef");
        assert_eq!(Packet::new_checked(&b[..]).map(|p| p.body().len()), Ok(0));
    }

    #[test]
    fn bad_version() {
        let mut b = hex(RTCP_SR);
        b[0] = 0x41;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadVersion);
    }

    proptest! {
        #[test]
        fn checked_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = is_rtcp(&data);
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.version(), p.padding(), p.count(), p.packet_type(), p.length_words());
                let _ = (p.sender_ssrc(), p.sender_info(), p.media_ssrc(), p.body());
                prop_assert_eq!(p.packet_len() + p.remainder().len(), data.len());
            }
        }
    }
}
