//! The few RTP and RTCP header fields SRTP reads: where the payload starts, the
//! sequence number and the SSRC (RFC 3550 §5.1, §6.4).

use super::error::SrtpError;

/// Fixed RTP header length.
pub(crate) const RTP_HEADER_LEN: usize = 12;
/// RTCP header length SRTCP leaves in clear: V/P/RC, PT, length, sender SSRC
/// (RFC 3711 §3.4).
pub(crate) const RTCP_HEADER_LEN: usize = 8;

/// The RTP header of a packet, validated once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RtpHeader {
    /// Header length including CSRCs and the header extension: where SRTP's
    /// encrypted portion starts (RFC 3711 §3.1).
    pub len: usize,
    pub seq: u16,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Parses the header of `packet`: version 2, CSRC list and extension inside
    /// the packet.
    pub(crate) fn parse(packet: &[u8]) -> Result<Self, SrtpError> {
        if packet.len() < RTP_HEADER_LEN {
            return Err(SrtpError::TooShort);
        }
        if packet[0] >> 6 != 2 {
            return Err(SrtpError::Malformed);
        }
        let csrc_count = usize::from(packet[0] & 0x0f);
        let mut len = RTP_HEADER_LEN + 4 * csrc_count;
        if packet[0] & 0x10 != 0 {
            // Extension: 16-bit profile, 16-bit length in 32-bit words (RFC 3550 §5.3.1).
            let ext = packet.get(len..len + 4).ok_or(SrtpError::Malformed)?;
            len += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        if len > packet.len() {
            return Err(SrtpError::Malformed);
        }
        Ok(RtpHeader {
            len,
            seq: u16::from_be_bytes([packet[2], packet[3]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        })
    }
}

/// The sender SSRC of an RTCP compound packet whose first `RTCP_HEADER_LEN`
/// bytes are present; checks the version.
pub(crate) fn rtcp_ssrc(packet: &[u8]) -> Result<u32, SrtpError> {
    if packet.len() < RTCP_HEADER_LEN {
        return Err(SrtpError::TooShort);
    }
    if packet[0] >> 6 != 2 {
        return Err(SrtpError::Malformed);
    }
    Ok(u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrc_and_extension_lengths() {
        let mut p = vec![0x80, 0, 0x12, 0x34, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
        assert_eq!(RtpHeader::parse(&p).unwrap().len, 12);
        p[0] = 0x92; // X=1, CC=2
        p.extend_from_slice(&[0; 8]); // CSRCs
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!((h.len, h.seq, h.ssrc), (28, 0x1234, 0xdead_beef));
        assert_eq!(RtpHeader::parse(&p[..27]).unwrap_err(), SrtpError::Malformed);
        assert_eq!(RtpHeader::parse(&p[..11]).unwrap_err(), SrtpError::TooShort);
        p[0] = 0x40;
        assert_eq!(RtpHeader::parse(&p).unwrap_err(), SrtpError::Malformed);
    }
}
