//! The SRTP keys of a leg as the workers hold them: a context per direction,
//! built once here and shared by every worker, and what each flow does with
//! them.
//!
//! A rekey (a new inbound or outbound key through UpdateLeg) installs a new
//! context in place of the old one; the workers keep the SSRCs' stream states,
//! so the rollover counters continue. When the old and new inbound keys both
//! carry an MKI, the new context also keeps the old key, so packets the
//! endpoint sent before it switched still authenticate (RFC 3711 §8.1 key
//! overlap); the next rekey drops it. Replaced contexts are handed back to the
//! caller ([`crate::session::SessionManager::take_retired`]), which keeps them
//! until every worker has applied the change, so that the memory is freed on
//! the control side, never on a worker.

use std::sync::Arc;

use mediafwd_dataplane::flow::{SrtpKeys, SrtpTransform};
use mediafwd_dataplane::srtp::{Context, Policy, Suite};

/// One direction's keys as installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// What the leg's request asks.
    pub requested: Policy,
    /// What the context was built from: the requested key first, then, after
    /// an inbound rekey with MKIs, the previous key.
    pub policy: Policy,
    /// The context and how its keys' usage carries over from the one before.
    pub keys: SrtpKeys,
}

impl Installed {
    fn new(policy: &Policy) -> Self {
        // Policies are checked when the request is read (api::convert).
        let context = Context::new(policy).expect("a checked SRTP policy");
        Installed { requested: policy.clone(), policy: policy.clone(), keys: SrtpKeys::new(Arc::new(context)) }
    }

    /// An inbound context for `policy` that also accepts the previous key
    /// `prev` (with its MKI), if both keys have MKIs of the same length.
    fn overlapping(policy: &Policy, prev: &Installed) -> Self {
        let (new, old) = (&policy.master_keys[0], &prev.requested.master_keys[0]);
        let overlap = policy.suite == prev.policy.suite
            && policy.master_keys.len() == 1
            && matches!((new.mki, old.mki), (Some(n), Some(o)) if n.len() == o.len() && n.value() != o.value());
        if !overlap {
            return Self::new(policy);
        }
        let both = Policy { master_keys: vec![new.clone(), old.clone()], tx_key: 0, ..policy.clone() };
        let mut installed = Self::new(&both);
        installed.requested = policy.clone();
        // The old key was the first of the previous context: its usage goes on.
        installed.keys.carried = [None, Some(0)];
        installed
    }
}

/// A leg's SRTP: inbound (what its endpoint sends us, unprotected) and
/// outbound (what we send it, protected); `None` for plain RTP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegSrtp {
    /// Unprotects what the endpoint sends.
    pub inbound: Option<Installed>,
    /// Protects what the endpoint receives.
    pub outbound: Option<Installed>,
}

impl LegSrtp {
    /// Contexts for a new leg asking `inbound` and `outbound`.
    pub fn new(inbound: Option<&Policy>, outbound: Option<&Policy>) -> Self {
        LegSrtp { inbound: inbound.map(Installed::new), outbound: outbound.map(Installed::new) }
    }

    /// The leg after its request changed to `inbound` and `outbound`: an
    /// unchanged key keeps its context; replaced contexts go to `retired`.
    pub fn rekey(&self, inbound: Option<&Policy>, outbound: Option<&Policy>, retired: &mut Vec<Arc<Context>>) -> Self {
        let same = |have: &Option<Installed>, want: Option<&Policy>| have.as_ref().map(|h| &h.requested) == want;
        let mut next = self.clone();
        if !same(&self.inbound, inbound) {
            next.inbound = inbound.map(|p| match &self.inbound {
                Some(prev) => Installed::overlapping(p, prev),
                None => Installed::new(p),
            });
            retired.extend(self.inbound.iter().map(|i| i.keys.context.clone()));
        }
        if !same(&self.outbound, outbound) {
            next.outbound = outbound.map(Installed::new);
            retired.extend(self.outbound.iter().map(|i| i.keys.context.clone()));
        }
        next
    }

    /// Every context held.
    pub fn contexts(&self) -> impl Iterator<Item = Arc<Context>> + '_ {
        self.inbound.iter().chain(&self.outbound).map(|i| i.keys.context.clone())
    }

    /// The suites asked (inbound, outbound); `None` for plain RTP.
    pub fn suites(&self) -> (Option<Suite>, Option<Suite>) {
        let suite = |i: &Option<Installed>| i.as_ref().map(|i| i.requested.suite);
        (suite(&self.inbound), suite(&self.outbound))
    }
}

/// What the flows of packets from leg `from` to leg `to` do: unprotect with
/// `from`'s inbound keys, protect with `to`'s outbound keys; nothing at all
/// when both endpoints asked for the same keys (pass-through: the SRTP goes
/// through untouched, end to end).
pub fn transform(
    from_inbound: Option<&Policy>,
    from: &LegSrtp,
    to_outbound: Option<&Policy>,
    to: &LegSrtp,
) -> SrtpTransform {
    if from_inbound.is_some() && from_inbound == to_outbound {
        return SrtpTransform::default();
    }
    SrtpTransform {
        unprotect: from.inbound.as_ref().map(|i| i.keys.clone()),
        protect: to.outbound.as_ref().map(|i| i.keys.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediafwd_dataplane::srtp::{MasterKey, Mki};

    fn policy(fill: u8, mki: Option<u64>) -> Policy {
        let suite = Suite::AesCm128HmacSha1_80;
        let mut key = MasterKey::from_key_salt(suite, &[fill; 30]).unwrap();
        if let Some(m) = mki {
            key = key.with_mki(Mki::new(m, 1).unwrap());
        }
        Policy::new(suite, key)
    }

    #[test]
    fn an_inbound_rekey_with_mkis_keeps_the_old_key_for_a_while() {
        let (p1, p2, p3) = (policy(1, Some(1)), policy(2, Some(2)), policy(3, None));
        let leg = LegSrtp::new(Some(&p1), Some(&p1));
        let mut retired = Vec::new();
        // Unchanged: the same contexts.
        assert_eq!(leg.rekey(Some(&p1), Some(&p1), &mut retired), leg);
        assert!(retired.is_empty());

        let next = leg.rekey(Some(&p2), Some(&p1), &mut retired);
        let inbound = next.inbound.as_ref().unwrap();
        assert_eq!(inbound.policy.master_keys.len(), 2);
        assert_eq!(inbound.keys.carried, [None, Some(0)]);
        assert_eq!(next.outbound, leg.outbound);
        assert_eq!(retired.len(), 1);
        // Asking the same again changes nothing, though two keys are installed.
        assert_eq!(next.rekey(Some(&p2), Some(&p1), &mut retired), next);
        // A key without MKI cannot overlap.
        let last = next.rekey(Some(&p3), None, &mut retired);
        assert_eq!(last.inbound.as_ref().unwrap().policy.master_keys.len(), 1);
        assert_eq!(last.outbound, None);
        assert_eq!(retired.len(), 3);
    }

    #[test]
    fn equal_keys_on_both_sides_pass_through() {
        let (p1, p2) = (policy(1, None), policy(2, None));
        let a = LegSrtp::new(Some(&p1), Some(&p2));
        let b = LegSrtp::new(Some(&p2), Some(&p1));
        assert!(transform(Some(&p1), &a, Some(&p1), &b).is_none());
        let t = transform(Some(&p2), &b, Some(&p2), &a);
        assert!(t.is_none());
        let c = LegSrtp::new(None, Some(&p2));
        let t = transform(Some(&p1), &a, Some(&p2), &c);
        assert!(t.unprotect.is_some() && t.protect.is_some());
        assert!(transform(None, &c, None, &LegSrtp::default()).is_none());
    }
}
