//! Relay sessions: two legs, their local ports, and the flows that carry
//! their media.

mod flows;
mod ids;
pub mod manager;
pub mod ports;
pub mod srtp;
#[cfg(test)]
pub(crate) mod test_support;

pub use flows::{flows_for, LegPlan};
pub use manager::{check_label, IfaceInfo, Leg, LegRequest, Resolver, Session, SessionError, SessionManager};
pub use srtp::LegSrtp;

use mediafwd_dataplane::flow::LatchMode;

/// The RTP clock rate of a leg whose request gives none (G.711 and most
/// narrowband audio).
pub const DEFAULT_CLOCK_RATE: u32 = 8000;

/// The latching setting of a leg, as written in configuration and APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchSetting(pub LatchMode);

impl LatchSetting {
    /// Parses "off", "once" or "follow".
    pub fn parse(s: &str) -> Result<LatchSetting, String> {
        match s {
            "off" => Ok(LatchSetting(LatchMode::Off)),
            "once" => Ok(LatchSetting(LatchMode::Once)),
            "follow" => Ok(LatchSetting(LatchMode::Follow)),
            _ => Err(format!("{s:?}: expected \"off\", \"once\" or \"follow\"")),
        }
    }
}
