//! Per-SSRC SRTP state: rollover counter, replay windows, SRTCP index and the
//! master key usage counted against its lifetime.

use super::error::SrtpError;
use super::policy::MAX_MASTER_KEYS;
use super::replay::ReplayWindow;

/// What one direction of one SSRC remembers between packets.
///
/// Use one `StreamState` per SSRC and direction (one for packets you protect,
/// one for packets you unprotect). It is plain data: moving a stream to another
/// worker moves its `StreamState` with it. Unprotect changes it only after a packet
/// authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamState {
    /// SRTP indexes (`ROC * 2^16 + SEQ`, RFC 3711 §3.3.1); its top is the highest
    /// index, from which the ROC and `s_l` of RFC 3711 Appendix A come.
    pub(crate) srtp: ReplayWindow,
    /// SRTCP indexes received (RFC 3711 §3.4).
    pub(crate) srtcp: ReplayWindow,
    /// Next SRTCP index to send.
    pub(crate) srtcp_next: u32,
    /// The SRTCP index the stream started sending from: 0, or where a resumed
    /// stream was told to go on ([`StreamState::resume_srtcp_at`]).
    pub(crate) srtcp_first: u32,
    /// SRTP packets protected or accepted under each master key slot.
    pub(crate) srtp_packets: [u64; MAX_MASTER_KEYS],
    /// SRTCP packets protected or accepted under each master key slot.
    pub(crate) srtcp_packets: [u64; MAX_MASTER_KEYS],
}

impl StreamState {
    /// A stream that has seen no packet: ROC 0, empty windows, SRTCP index 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream taken over at `highest_index` (`ROC * 2^16 + SEQ`), as another
    /// node or worker last had it: the next packets' indexes are guessed from
    /// it (RFC 3711 Appendix A), so it must be within 2^15 packets of the
    /// stream's true highest index. The index itself counts as seen; the ones
    /// below it, within the replay window, are not known and would be accepted.
    pub fn resume_at(highest_index: u64) -> Self {
        let mut s = Self::new();
        s.srtp.accept(highest_index);
        s
    }

    /// Protects SRTCP from index `next` on, unless the stream is already past
    /// it: a stream resumed where another node (or this one before a restart)
    /// may have protected SRTCP up to an index below `next`. A stream that
    /// has protected nothing since still counts as fresh.
    pub fn resume_srtcp_at(&mut self, next: u32) {
        if self.srtcp_next < next {
            if self.srtcp_next == self.srtcp_first {
                self.srtcp_first = next;
            }
            self.srtcp_next = next;
        }
    }

    /// The rollover counter (RFC 3711 §3.3.1) of the highest packet so far.
    pub fn roc(&self) -> u32 {
        self.srtp.top().map_or(0, |i| (i >> 16) as u32)
    }

    /// The highest SRTP index (`ROC * 2^16 + SEQ`) protected or accepted, if any.
    pub fn highest_index(&self) -> Option<u64> {
        self.srtp.top()
    }

    /// The next SRTCP index `protect_rtcp` will use.
    pub fn next_srtcp_index(&self) -> u32 {
        self.srtcp_next
    }

    /// SRTP and SRTCP packets counted against the lifetime of the master key in
    /// `slot` (its position in [`Policy::master_keys`](super::Policy)).
    pub fn key_usage(&self, slot: usize) -> (u64, u64) {
        (self.srtp_packets[slot], self.srtcp_packets[slot])
    }

    /// Restarts the usage counters of `slot`: call it when a new master key
    /// takes that slot in the stream's context.
    pub fn reset_key_usage(&mut self, slot: usize) {
        self.srtp_packets[slot] = 0;
        self.srtcp_packets[slot] = 0;
    }

    /// Moves the stream to a new context (a rekey) whose master key slot `i`
    /// holds the key that was in slot `carried[i]` of the old one, or a new key
    /// (`None`, counted from zero). The rollover counter, the replay windows and
    /// the SRTCP index stay: they belong to the SSRC, not to a key (RFC 3711 §3.2.1).
    pub fn rekey(&mut self, carried: [Option<usize>; MAX_MASTER_KEYS]) {
        let (srtp, srtcp) = (self.srtp_packets, self.srtcp_packets);
        for (slot, from) in carried.into_iter().enumerate() {
            self.srtp_packets[slot] = from.map_or(0, |f| srtp[f]);
            self.srtcp_packets[slot] = from.map_or(0, |f| srtcp[f]);
        }
    }

    /// Whether no packet was protected or accepted on this stream yet.
    pub fn is_fresh(&self) -> bool {
        self.srtp.top().is_none() && self.srtcp.top().is_none() && self.srtcp_next == self.srtcp_first
    }

    /// The index of an SRTP packet with sequence number `seq` (RFC 3711 §3.3.1,
    /// Appendix A): the ROC guess `v` among ROC-1, ROC and ROC+1 that puts the
    /// index nearest the highest one. A guess of ROC-1 with ROC 0 is a packet from
    /// before the stream's first one ([`SrtpError::TooOld`]); a guess past the
    /// 32-bit ROC ends the index space ([`SrtpError::KeyLifetimeExceeded`]).
    pub(crate) fn estimate_srtp_index(&self, seq: u16) -> Result<u64, SrtpError> {
        let Some(top) = self.srtp.top() else {
            return Ok(u64::from(seq));
        };
        let roc = top >> 16;
        let s_l = top & 0xffff;
        let seq = u64::from(seq);
        let v = if s_l < 0x8000 {
            if seq > s_l + 0x8000 {
                roc.checked_sub(1).ok_or(SrtpError::TooOld)?
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq {
            roc + 1
        } else {
            roc
        };
        if v > u64::from(u32::MAX) {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        Ok((v << 16) | seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(index: u64) -> StreamState {
        let mut s = StreamState::new();
        s.srtp.accept(index);
        s
    }

    #[test]
    fn index_guess_around_the_wrap() {
        assert_eq!(StreamState::new().estimate_srtp_index(77), Ok(77));
        // Before the wrap: s_l = 65535, seq 0 means ROC + 1.
        assert_eq!(at(65535).estimate_srtp_index(0), Ok(65536));
        assert_eq!(at(65535).estimate_srtp_index(65500), Ok(65500));
        // After the wrap: s_l = 3, a late 65534 is ROC - 1.
        assert_eq!(at(65536 + 3).estimate_srtp_index(65534), Ok(65534));
        assert_eq!(at(65536 + 3).estimate_srtp_index(10), Ok(65536 + 10));
        // ROC 0: nothing before zero.
        assert_eq!(at(3).estimate_srtp_index(65534), Err(SrtpError::TooOld));
        // ROC at its maximum cannot grow.
        let last = (u64::from(u32::MAX) << 16) | 65535;
        assert_eq!(at(last).estimate_srtp_index(0), Err(SrtpError::KeyLifetimeExceeded));
    }

    #[test]
    fn rekey_keeps_the_index_and_moves_key_usage() {
        let mut s = at(70_000);
        assert!(!s.is_fresh());
        s.srtp_packets = [5, 9];
        s.srtcp_packets = [1, 2];
        // The new context: a new key in slot 0, the old slot 0 key in slot 1.
        s.rekey([None, Some(0)]);
        assert_eq!((s.key_usage(0), s.key_usage(1)), ((0, 0), (5, 1)));
        assert_eq!((s.roc(), s.highest_index()), (1, Some(70_000)));
        assert!(StreamState::new().is_fresh());
    }

    #[test]
    fn a_resumed_stream_guesses_the_next_indexes_from_its_rollover_counter() {
        let s = StreamState::resume_at((3 << 16) | 40_000);
        assert_eq!((s.roc(), s.highest_index(), s.is_fresh()), (3, Some((3 << 16) | 40_000), false));
        assert_eq!(s.estimate_srtp_index(50_000), Ok((3 << 16) | 50_000));
        // Past the next wrap, and a late packet from before the checkpoint.
        assert_eq!(s.estimate_srtp_index(2), Ok((4 << 16) | 2));
        assert_eq!(s.estimate_srtp_index(39_990), Ok((3 << 16) | 39_990));
        assert_eq!(s.srtp.check((3 << 16) | 40_000, 64), Err(SrtpError::Replayed));
    }

    #[test]
    fn srtcp_resumes_forward_only_and_a_stream_that_sent_nothing_stays_fresh() {
        let mut s = StreamState::new();
        s.resume_srtcp_at(1 << 20);
        assert_eq!((s.next_srtcp_index(), s.is_fresh()), (1 << 20, true));
        s.srtcp_next += 3;
        assert!(!s.is_fresh());
        // Never backwards.
        s.resume_srtcp_at(5);
        assert_eq!(s.next_srtcp_index(), (1 << 20) + 3);
        s.resume_srtcp_at(1 << 21);
        assert_eq!((s.next_srtcp_index(), s.is_fresh()), (1 << 21, false));
    }
}
