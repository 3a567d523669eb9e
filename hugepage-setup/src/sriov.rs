//! SR-IOV: the VF count of a physical function and per-VF settings.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::net::AddressBook;
use crate::pci::{device_dir, read_device, PciAddr};
use crate::sysfs::Root;

/// SR-IOV capability of a physical function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sriov {
    /// `sriov_totalvfs`: how many VFs the PF can have.
    pub total_vfs: u32,
    /// `sriov_numvfs`: how many it has.
    pub num_vfs: u32,
}

/// The SR-IOV state of a device, if it is a PF.
pub fn read_sriov(root: &Root, addr: PciAddr) -> Option<Sriov> {
    let dir = device_dir(addr);
    Some(Sriov {
        total_vfs: root.read_u64(format!("{dir}/sriov_totalvfs"))? as u32,
        num_vfs: root.read_u64(format!("{dir}/sriov_numvfs")).unwrap_or(0) as u32,
    })
}

/// One setting applied with `ip link set <pf> vf N ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VfValue {
    /// MAC address, lowercase.
    Mac(String),
    /// VLAN ID, 0 to remove.
    Vlan(u16),
    /// Trusted mode (promiscuous, MAC changes from the guest).
    Trust(bool),
    /// MAC anti-spoofing.
    Spoofchk(bool),
}

/// A setting for one VF: `VF=VALUE` on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfSetting {
    /// VF index.
    pub vf: u32,
    /// What to set.
    pub value: VfValue,
}

fn split_setting(s: &str) -> Result<(u32, &str)> {
    let bad = |reason: &str| Error::InvalidVfSetting { given: s.into(), reason: reason.into() };
    let (vf, value) = s.split_once('=').ok_or_else(|| bad("expected VF=VALUE"))?;
    let vf = vf.trim().parse().map_err(|_| bad("the VF index must be a number"))?;
    Ok((vf, value.trim()))
}

fn on_off(s: &str, value: &str) -> Result<bool> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(Error::InvalidVfSetting { given: s.into(), reason: "expected on or off".into() }),
    }
}

impl VfSetting {
    /// Parse `VF=aa:bb:cc:dd:ee:ff`.
    pub fn parse_mac(s: &str) -> Result<Self> {
        let (vf, mac) = split_setting(s)?;
        let octets: Vec<&str> = mac.split(':').collect();
        let valid =
            octets.len() == 6 && octets.iter().all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()));
        if !valid {
            return Err(Error::InvalidVfSetting {
                given: s.into(),
                reason: "expected a MAC address like 02:00:00:00:00:01".into(),
            });
        }
        Ok(VfSetting { vf, value: VfValue::Mac(mac.to_ascii_lowercase()) })
    }

    /// Parse `VF=ID` (0 to 4094; 0 removes the VLAN).
    pub fn parse_vlan(s: &str) -> Result<Self> {
        let (vf, id) = split_setting(s)?;
        match id.parse::<u16>() {
            Ok(id) if id < 4095 => Ok(VfSetting { vf, value: VfValue::Vlan(id) }),
            _ => Err(Error::InvalidVfSetting { given: s.into(), reason: "the VLAN ID must be 0 to 4094".into() }),
        }
    }

    /// Parse `VF=on|off` for trust.
    pub fn parse_trust(s: &str) -> Result<Self> {
        let (vf, v) = split_setting(s)?;
        Ok(VfSetting { vf, value: VfValue::Trust(on_off(s, v)?) })
    }

    /// Parse `VF=on|off` for spoof checking.
    pub fn parse_spoofchk(s: &str) -> Result<Self> {
        let (vf, v) = split_setting(s)?;
        Ok(VfSetting { vf, value: VfValue::Spoofchk(on_off(s, v)?) })
    }

    /// The `ip link set ... vf N` arguments after the VF index.
    fn ip_args(&self) -> [String; 2] {
        let flag = |b: bool| if b { "on" } else { "off" }.to_string();
        match &self.value {
            VfValue::Mac(m) => ["mac".into(), m.clone()],
            VfValue::Vlan(v) => ["vlan".into(), v.to_string()],
            VfValue::Trust(b) => ["trust".into(), flag(*b)],
            VfValue::Spoofchk(b) => ["spoofchk".into(), flag(*b)],
        }
    }

    /// Whether the VF already has this setting, per `ip -j link show`.
    fn holds(&self, current: &serde_json::Value) -> bool {
        match &self.value {
            VfValue::Mac(m) => current["address"].as_str().is_some_and(|a| a.eq_ignore_ascii_case(m)),
            VfValue::Vlan(v) => {
                let vlan = current["vlan_list"][0]["vlan"].as_u64().or_else(|| current["vlan"].as_u64()).unwrap_or(0);
                vlan == u64::from(*v)
            }
            VfValue::Trust(b) => current["trust"].as_bool() == Some(*b),
            VfValue::Spoofchk(b) => current["spoofchk"].as_bool() == Some(*b),
        }
    }
}

/// The `vfinfo_list` of `ip -j link show dev <pf>`, by VF index.
fn vf_info(json: &str) -> BTreeMap<u64, serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    value[0]["vfinfo_list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|vf| Some((vf["vf"].as_u64()?, vf.clone())))
        .collect()
}

/// Give the PF `count` VFs and apply the settings.
pub fn vfs(ctx: &mut Ctx<'_>, pf: PciAddr, count: u32, settings: &[VfSetting]) -> Result<()> {
    let root = ctx.root().clone();
    let dev = read_device(&root, pf, &AddressBook::new())?;
    let sriov = dev.sriov.ok_or(Error::NotSriov(pf))?;
    if count > sriov.total_vfs {
        return Err(Error::TooManyVfs { addr: pf, wanted: count, total: sriov.total_vfs });
    }
    if let Some(s) = settings.iter().find(|s| s.vf >= count) {
        return Err(Error::NoSuchVf { addr: pf, vf: s.vf, count });
    }
    let pf_if = match (settings.is_empty(), dev.interfaces.first()) {
        (true, _) => None,
        (false, Some(i)) => Some(i.name.clone()),
        (false, None) => return Err(Error::NoPfInterface(pf)),
    };
    let numvfs = format!("{}/sriov_numvfs", device_dir(pf));
    if sriov.num_vfs == count {
        ctx.say(format!("already {count} VFs on {pf}"));
    } else {
        if sriov.num_vfs != 0 && count != 0 {
            ctx.say(format!(
                "{pf} has {} VFs: the kernel only changes the count from 0, resetting first",
                sriov.num_vfs
            ));
            ctx.write(&numvfs, "0")?;
        }
        ctx.write(&numvfs, &count.to_string())?;
    }
    let Some(pf_if) = pf_if else {
        return Ok(());
    };
    let current = vf_info(&ctx.query("ip", &["-j", "link", "show", "dev", &pf_if])?);
    for s in settings {
        let [key, value] = s.ip_args();
        let vf = s.vf.to_string();
        if current.get(&u64::from(s.vf)).is_some_and(|state| s.holds(state)) {
            ctx.say(format!("already: {pf_if} vf {vf} {key} {value}"));
            continue;
        }
        ctx.run("ip", &["link", "set", &pf_if, "vf", &vf, &key, &value])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse() {
        assert_eq!(
            VfSetting::parse_mac("1=02:AA:00:00:00:01").unwrap(),
            VfSetting { vf: 1, value: VfValue::Mac("02:aa:00:00:00:01".into()) }
        );
        assert_eq!(VfSetting::parse_vlan("0=100").unwrap().value, VfValue::Vlan(100));
        assert_eq!(VfSetting::parse_trust("3=on").unwrap().value, VfValue::Trust(true));
        for bad in ["1", "x=on", "1=yes"] {
            assert!(VfSetting::parse_spoofchk(bad).is_err(), "{bad}");
        }
        assert!(VfSetting::parse_vlan("0=4095").is_err());
        assert!(VfSetting::parse_mac("0=02:00:00:00:00").is_err());
    }

    #[test]
    fn reads_iproute2_vlan_shapes() {
        let s = VfSetting::parse_vlan("0=7").unwrap();
        assert!(s.holds(&serde_json::json!({"vlan_list": [{"vlan": 7}]})));
        assert!(s.holds(&serde_json::json!({"vlan": 7})));
        assert!(!s.holds(&serde_json::json!({})));
    }
}
