//! `[dataplane.police]`: the budgets of the slow-path policer, per worker
//! (see the dataplane's `slowpath::police`): one rate per kind of punted
//! frame, one per source.

use mediafwd_dataplane::slowpath::police::{Kind, PoliceConfig, Rate};
use serde::Deserialize;

use super::ConfigError;

/// Highest rate accepted: well above what a worker can punt.
const MAX_PER_SECOND: u32 = 10_000_000;
/// Largest source table.
const MAX_SOURCE_SLOTS: usize = 1 << 20;

/// A sustained rate and a burst, as written in the file.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateSection {
    /// Frames per second.
    pub per_second: u32,
    /// Frames at once.
    pub burst: u32,
}

impl From<Rate> for RateSection {
    fn from(r: Rate) -> Self {
        RateSection { per_second: r.per_second, burst: r.burst }
    }
}

impl From<RateSection> for Rate {
    fn from(r: RateSection) -> Self {
        Rate { per_second: r.per_second, burst: r.burst }
    }
}

/// `[dataplane.police]`: what each worker lets through to the slow path.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PoliceSection {
    /// ARP and Neighbor Discovery to our MAC (answers to our probes).
    pub neighbor: RateSection,
    /// ARP to the broadcast address.
    pub arp_broadcast: RateSection,
    /// Neighbor Solicitations and Advertisements to a multicast address.
    pub nd_multicast: RateSection,
    /// Other ICMP and ICMPv6 (echo, errors).
    pub icmp: RateSection,
    /// ICE connectivity checks and DTLS records to relay ports.
    pub ice_dtls: RateSection,
    /// Each source (a slot of the hashed source table).
    pub source: RateSection,
    /// Slots of the source table: a power of two.
    pub source_slots: usize,
}

impl Default for PoliceSection {
    fn default() -> Self {
        PoliceSection::from(&PoliceConfig::default())
    }
}

impl From<&PoliceConfig> for PoliceSection {
    fn from(c: &PoliceConfig) -> Self {
        let k = |kind: Kind| RateSection::from(c.kinds[kind as usize]);
        PoliceSection {
            neighbor: k(Kind::Neighbor),
            arp_broadcast: k(Kind::ArpBroadcast),
            nd_multicast: k(Kind::NdMulticast),
            icmp: k(Kind::Icmp),
            ice_dtls: k(Kind::IceDtls),
            source: c.source.into(),
            source_slots: c.source_slots,
        }
    }
}

impl PoliceSection {
    /// The rate of each kind, in [`Kind::ALL`] order.
    fn kinds(&self) -> [RateSection; Kind::COUNT] {
        Kind::ALL.map(|k| match k {
            Kind::Neighbor => self.neighbor,
            Kind::ArpBroadcast => self.arp_broadcast,
            Kind::NdMulticast => self.nd_multicast,
            Kind::Icmp => self.icmp,
            Kind::IceDtls => self.ice_dtls,
        })
    }

    /// The policer's configuration.
    pub fn to_config(&self) -> PoliceConfig {
        PoliceConfig {
            kinds: self.kinds().map(Rate::from),
            source: self.source.into(),
            source_slots: self.source_slots,
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let named = Kind::ALL.iter().map(|k| k.name()).zip(self.kinds()).chain([("source", self.source)]);
        for (name, r) in named {
            let field = format!("dataplane.police.{name}");
            if r.per_second == 0 || r.per_second > MAX_PER_SECOND {
                return Err(ConfigError::new(
                    format!("{field}.per_second"),
                    format!("{}: between 1 and {MAX_PER_SECOND} frames a second", r.per_second),
                ));
            }
            if r.burst == 0 || r.burst > r.per_second.max(1000) {
                return Err(ConfigError::new(
                    format!("{field}.burst"),
                    format!("{}: at least 1, at most per_second (or 1000 where per_second is lower)", r.burst),
                ));
            }
        }
        let s = self.source_slots;
        if !s.is_power_of_two() || s > MAX_SOURCE_SLOTS {
            return Err(ConfigError::new(
                "dataplane.police.source_slots",
                format!("{s}: a power of two, at most {MAX_SOURCE_SLOTS}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_policers_and_valid() {
        let p = PoliceSection::default();
        assert_eq!(p.to_config(), PoliceConfig::default());
        p.validate().unwrap();
    }

    #[test]
    fn a_rate_is_read_per_kind() {
        let p: PoliceSection =
            toml::from_str("arp_broadcast = { per_second = 200, burst = 20 }\nsource_slots = 4096").unwrap();
        let c = p.to_config();
        assert_eq!(c.kinds[Kind::ArpBroadcast as usize], Rate { per_second: 200, burst: 20 });
        assert_eq!(c.kinds[Kind::Icmp as usize], PoliceConfig::default().kinds[Kind::Icmp as usize]);
        assert_eq!(c.source_slots, 4096);
    }

    #[test]
    fn bad_budgets_name_their_field() {
        let err = |text: &str| toml::from_str::<PoliceSection>(text).unwrap().validate().unwrap_err().field;
        assert_eq!(err("icmp = { per_second = 0, burst = 1 }"), "dataplane.police.icmp.per_second");
        assert_eq!(err("neighbor = { per_second = 100, burst = 0 }"), "dataplane.police.neighbor.burst");
        assert_eq!(err("source = { per_second = 100, burst = 5000 }"), "dataplane.police.source.burst");
        assert_eq!(err("source_slots = 1000"), "dataplane.police.source_slots");
        assert!(toml::from_str::<PoliceSection>("icmp = { per_second = 5 }").is_err(), "burst is required");
        assert!(toml::from_str::<PoliceSection>("echo = { per_second = 5, burst = 1 }").is_err());
    }
}
