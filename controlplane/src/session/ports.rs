//! Local relay ports of one interface: RTP on even ports, RTCP on the next
//! (RFC 3550 §11). A freed pair waits in quarantine before reuse, so stray
//! packets of an ended call never reach a new one.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::config::PortRange;

/// Default quarantine of a freed port pair.
pub const QUARANTINE: Duration = Duration::from_secs(10);

/// Why a port could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Every pair is in use or in quarantine.
    #[error("no free relay port on interface {interface} ({in_use} in use, {quarantined} in quarantine)")]
    Exhausted {
        /// The interface.
        interface: String,
        /// Pairs in use.
        in_use: usize,
        /// Pairs waiting out their quarantine.
        quarantined: usize,
    },
    /// A specific port is taken or outside the range.
    #[error("port {port} on interface {interface} is {why}")]
    Unavailable {
        /// The interface.
        interface: String,
        /// The port asked for.
        port: u16,
        /// Why.
        why: &'static str,
    },
}

/// The allocator of one interface.
#[derive(Debug)]
pub struct PortPool {
    interface: String,
    range: PortRange,
    free: VecDeque<u16>,
    quarantine: VecDeque<(Instant, u16)>,
    in_use: HashSet<u16>,
    hold: Duration,
}

impl PortPool {
    /// All pairs of `range` free.
    pub fn new(interface: &str, range: PortRange, hold: Duration) -> Self {
        PortPool {
            interface: interface.to_string(),
            range,
            free: (range.first..range.last).step_by(2).collect(),
            quarantine: VecDeque::new(),
            in_use: HashSet::new(),
            hold,
        }
    }

    fn release_expired(&mut self, now: Instant) {
        while let Some(&(t, p)) = self.quarantine.front() {
            if t > now {
                break;
            }
            self.quarantine.pop_front();
            self.free.push_back(p);
        }
    }

    /// Takes the next free RTP port (least recently used first).
    pub fn allocate(&mut self, now: Instant) -> Result<u16, PortError> {
        self.release_expired(now);
        let port = self.free.pop_front().ok_or_else(|| PortError::Exhausted {
            interface: self.interface.clone(),
            in_use: self.in_use.len(),
            quarantined: self.quarantine.len(),
        })?;
        self.in_use.insert(port);
        Ok(port)
    }

    /// Takes a specific RTP port.
    pub fn reserve(&mut self, port: u16, now: Instant) -> Result<(), PortError> {
        self.release_expired(now);
        let unavailable = |why| PortError::Unavailable { interface: self.interface.clone(), port, why };
        if !self.range.contains(port) || !port.is_multiple_of(2) {
            return Err(unavailable("not an RTP port of the interface's range"));
        }
        if self.in_use.contains(&port) {
            return Err(unavailable("in use"));
        }
        if let Some(i) = self.free.iter().position(|&p| p == port) {
            self.free.remove(i);
        } else {
            return Err(unavailable("in quarantine"));
        }
        self.in_use.insert(port);
        Ok(())
    }

    /// Returns a pair; it is reusable after the quarantine.
    pub fn release(&mut self, port: u16, now: Instant) {
        if self.in_use.remove(&port) {
            self.quarantine.push_back((now + self.hold, port));
        }
    }

    /// Gives back a pair that never carried media, skipping the quarantine.
    pub fn unreserve(&mut self, port: u16) {
        if self.in_use.remove(&port) {
            self.free.push_front(port);
        }
    }

    /// Pairs in use.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    /// Pairs free now (quarantine included as not free).
    pub fn available(&mut self, now: Instant) -> usize {
        self.release_expired(now);
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(first: u16, last: u16, hold: u64) -> PortPool {
        PortPool::new("public", PortRange { first, last }, Duration::from_secs(hold))
    }

    #[test]
    fn allocates_even_ports_and_exhausts_naming_the_interface() {
        let now = Instant::now();
        let mut p = pool(30000, 30005, 10);
        assert_eq!(p.allocate(now), Ok(30000));
        assert_eq!(p.allocate(now), Ok(30002));
        assert_eq!(p.allocate(now), Ok(30004));
        let e = p.allocate(now).unwrap_err();
        assert!(e.to_string().contains("interface public"), "{e}");
    }

    #[test]
    fn a_freed_port_waits_out_its_quarantine() {
        let t0 = Instant::now();
        let mut p = pool(30000, 30001, 10);
        let port = p.allocate(t0).unwrap();
        p.release(port, t0);
        assert!(p.allocate(t0 + Duration::from_secs(9)).is_err());
        assert_eq!(
            p.reserve(port, t0 + Duration::from_secs(9)).unwrap_err().to_string(),
            "port 30000 on interface public is in quarantine"
        );
        assert_eq!(p.allocate(t0 + Duration::from_secs(10)), Ok(port));
    }

    #[test]
    fn reuse_is_least_recently_used_first() {
        let t0 = Instant::now();
        let mut p = pool(30000, 30005, 0);
        let a = p.allocate(t0).unwrap();
        p.release(a, t0);
        assert_eq!(p.allocate(t0), Ok(30002));
        assert_eq!(p.allocate(t0), Ok(30004));
        assert_eq!(p.allocate(t0), Ok(a));
    }

    #[test]
    fn reserve_checks_range_parity_and_use() {
        let now = Instant::now();
        let mut p = pool(30000, 30009, 10);
        assert!(p.reserve(30001, now).is_err());
        assert!(p.reserve(40000, now).is_err());
        p.reserve(30004, now).unwrap();
        assert!(p.reserve(30004, now).is_err());
        assert_eq!(p.allocate(now), Ok(30000));
        assert_eq!(p.allocate(now), Ok(30002));
        assert_eq!(p.allocate(now), Ok(30006));
        assert_eq!(p.in_use(), 4);
    }
}
