use std::fmt;
use std::str::FromStr;

/// A range of local UDP ports for relay legs: RTP on even ports, RTCP on
/// the odd port after it (RFC 3550 §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port (even).
    pub first: u16,
    /// Last port (odd).
    pub last: u16,
}

impl PortRange {
    /// Whether two ranges share a port.
    pub fn overlaps(&self, other: &PortRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Number of RTP/RTCP pairs.
    pub fn pairs(&self) -> u32 {
        (self.last as u32 - self.first as u32).div_ceil(2)
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').ok_or_else(|| format!("{s:?}: expected first-last, e.g. 30000-39999"))?;
        let first: u16 = a.trim().parse().map_err(|_| format!("{a:?} is not a port"))?;
        let last: u16 = b.trim().parse().map_err(|_| format!("{b:?} is not a port"))?;
        if first < 1024 {
            return Err(format!("{first}: relay ports start at 1024 or above"));
        }
        if !first.is_multiple_of(2) {
            return Err(format!("{first}: the first port must be even (RTP), RTCP takes the next"));
        }
        if last <= first {
            return Err(format!("{s:?}: the last port must be above the first"));
        }
        let last = if last.is_multiple_of(2) { last - 1 } else { last };
        Ok(PortRange { first, last })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}
