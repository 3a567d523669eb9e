//! What the generator writes at the start of every RTP payload: a marker,
//! the trial the packet belongs to, and its send time (TSC), so the
//! receiving side measures one-way latency and ignores stragglers of an
//! earlier trial. Under SRTP it is encrypted with the rest of the payload.

/// Marks a payload as the generator's.
pub const MAGIC: [u8; 4] = *b"mfwG";
/// Bytes of the probe.
pub const LEN: usize = 16;

/// A payload's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The trial (0: warm-up, not counted).
    pub trial: u32,
    /// TSC at transmission.
    pub sent_tsc: u64,
}

impl Probe {
    /// Writes the probe into the first [`LEN`] bytes of `payload`.
    #[inline]
    pub fn write(&self, payload: &mut [u8]) {
        payload[..4].copy_from_slice(&MAGIC);
        payload[4..8].copy_from_slice(&self.trial.to_be_bytes());
        payload[8..16].copy_from_slice(&self.sent_tsc.to_be_bytes());
    }

    /// Reads a probe, if `payload` starts with one.
    #[inline]
    pub fn read(payload: &[u8]) -> Option<Probe> {
        if payload.len() < LEN || payload[..4] != MAGIC {
            return None;
        }
        Some(Probe {
            trial: u32::from_be_bytes(payload[4..8].try_into().ok()?),
            sent_tsc: u64::from_be_bytes(payload[8..16].try_into().ok()?),
        })
    }

    /// The one's-complement sum of the probe's variable 16-bit words (the
    /// trial and the time), to update a UDP checksum whose base sum had them
    /// zero; the marker is in the base.
    #[inline]
    pub fn word_sum(&self) -> u32 {
        let t = self.trial;
        let c = self.sent_tsc;
        (t >> 16)
            + (t & 0xffff)
            + (c >> 48) as u32
            + ((c >> 32) & 0xffff) as u32
            + ((c >> 16) & 0xffff) as u32
            + (c & 0xffff) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediafwd_dataplane::wire::checksum;

    #[test]
    fn round_trip_and_refusal() {
        let p = Probe { trial: 7, sent_tsc: 0x0123_4567_89ab_cdef };
        let mut buf = [0u8; 160];
        p.write(&mut buf);
        assert_eq!(Probe::read(&buf), Some(p));
        assert_eq!(Probe::read(&buf[..15]), None);
        buf[0] = 0;
        assert_eq!(Probe::read(&buf), None);
    }

    #[test]
    fn word_sum_is_the_checksum_sum_of_the_variable_bytes() {
        let p = Probe { trial: 0xdead_beef, sent_tsc: u64::MAX - 5 };
        let mut buf = [0u8; LEN];
        p.write(&mut buf);
        buf[..4].fill(0);
        assert_eq!(checksum::fold(p.word_sum()), checksum::fold(checksum::sum(&buf)));
    }
}
