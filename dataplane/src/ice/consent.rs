//! The ICE-lite state of one leg: which pair the peer nominated (the leg
//! latches to it) and whether the peer still consents (RFC 7675).
//!
//! A lite agent sends no checks of its own; the controlling peer keeps
//! sending Binding requests on the nominated pair (RFC 7675 §5.1, every
//! 5 s on average), and each verified one refreshes consent. When none has
//! arrived for [`CONSENT_TIMEOUT_MS`] the pair has lost consent: media to
//! it must stop, and [`IceLeg::poll`] reports it once.
//!
//! Times are milliseconds on any monotonic clock the caller chooses, so the
//! state is plain data that a session can carry across nodes.

use core::net::SocketAddr;

use super::check::Check;

/// How long consent lasts after the last verified check (RFC 7675 §5.1).
pub const CONSENT_TIMEOUT_MS: u64 = 30_000;

/// What a leg's ICE state tells the control side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceEvent {
    /// The peer nominated the pair with this remote: latch the leg to it.
    Nominated(SocketAddr),
    /// The nominated pair lost consent: stop sending to this remote.
    ConsentLost(SocketAddr),
}

/// The ICE-lite state of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IceLeg {
    /// The remote of the nominated pair.
    pub nominated: Option<SocketAddr>,
    /// When the last verified check on the nominated pair arrived.
    pub last_consent_ms: u64,
    /// Whether consent was lost (and reported) since the last nomination.
    pub consent_lost: bool,
}

impl IceLeg {
    /// Takes a verified check from `from` at `now_ms`. USE-CANDIDATE from a
    /// remote other than the nominated one (a first nomination, or the peer
    /// moving to a new pair) latches the leg there.
    pub fn on_check(&mut self, now_ms: u64, from: SocketAddr, check: &Check) -> Option<IceEvent> {
        let renominated = check.nominated && self.nominated != Some(from);
        if renominated {
            self.nominated = Some(from);
        }
        if self.nominated == Some(from) {
            self.last_consent_ms = now_ms;
            self.consent_lost = false;
        }
        renominated.then_some(IceEvent::Nominated(from))
    }

    /// Whether media may be sent: a pair is nominated and consent holds.
    pub fn may_send(&self) -> bool {
        self.nominated.is_some() && !self.consent_lost
    }

    /// Checks consent at `now_ms`; reports its loss once.
    pub fn poll(&mut self, now_ms: u64) -> Option<IceEvent> {
        let remote = self.nominated?;
        if self.consent_lost || now_ms.saturating_sub(self.last_consent_ms) < CONSENT_TIMEOUT_MS {
            return None;
        }
        self.consent_lost = true;
        Some(IceEvent::ConsentLost(remote))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(nominated: bool) -> Check {
        Check { transaction_id: [0; 12], nominated, priority: 1, tie_breaker: 2 }
    }

    const A: &str = "198.18.0.10:50000";
    const B: &str = "198.18.0.11:50002";

    #[test]
    fn nomination_latches_and_checks_keep_consent() {
        let (a, b) = (A.parse().unwrap(), B.parse().unwrap());
        let mut leg = IceLeg::default();
        // Checks before nomination are answered but latch nothing.
        assert_eq!(leg.on_check(0, a, &check(false)), None);
        assert!(!leg.may_send());
        assert_eq!(leg.poll(CONSENT_TIMEOUT_MS * 2), None);
        assert_eq!(leg.on_check(1_000, a, &check(true)), Some(IceEvent::Nominated(a)));
        assert!(leg.may_send());
        // Repeated nomination of the same pair is no event; a check keeps consent.
        assert_eq!(leg.on_check(20_000, a, &check(true)), None);
        assert_eq!(leg.poll(20_000 + CONSENT_TIMEOUT_MS - 1), None);
        // A check from another remote without USE-CANDIDATE does not refresh it.
        assert_eq!(leg.on_check(40_000, b, &check(false)), None);
        assert_eq!(leg.poll(20_000 + CONSENT_TIMEOUT_MS), Some(IceEvent::ConsentLost(a)));
        assert!(!leg.may_send());
        assert_eq!(leg.poll(100_000), None, "reported once");
        // The peer nominates a new pair: latched, consent back.
        assert_eq!(leg.on_check(100_000, b, &check(true)), Some(IceEvent::Nominated(b)));
        assert!(leg.may_send());
        assert_eq!(leg.poll(100_000 + CONSENT_TIMEOUT_MS), Some(IceEvent::ConsentLost(b)));
        // A check on the lost pair restores consent without a new nomination event.
        assert_eq!(leg.on_check(200_000, b, &check(false)), None);
        assert!(leg.may_send());
    }
}
