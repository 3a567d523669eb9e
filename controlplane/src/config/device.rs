//! Device strings: `${NAME}` expansion from the environment. What a device
//! is, how it parses and which EAL argument it gives belong to the
//! dataplane's node ([`Device`]).

pub use mediafwd_dataplane::node::Device;

/// Replaces `${NAME}` and `${NAME[i]}` in a device string with the value
/// of environment variable NAME (through `lookup`), or the `i`-th entry of
/// its comma-separated list: the addresses an SR-IOV device plugin hands a
/// container (`PCIDEVICE_INTEL_COM_SRIOV_NETDEVICE=0000:3b:02.2,0000:3b:02.5`).
pub fn expand_env(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("{s:?}: ${{ without a closing }}"))?;
        let inner = &after[..end];
        let (name, index) = match inner.split_once('[') {
            Some((n, i)) => {
                let i = i
                    .strip_suffix(']')
                    .and_then(|i| i.parse::<usize>().ok())
                    .ok_or_else(|| format!("{s:?}: write ${{NAME[0]}}, ${{NAME[1]}}..."))?;
                (n, Some(i))
            }
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("{s:?}: {name:?} is not an environment variable name"));
        }
        let value = lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        let items: Vec<&str> = value.split(',').map(str::trim).filter(|v| !v.is_empty()).collect();
        let item = match index {
            Some(i) => *items
                .get(i)
                .ok_or_else(|| format!("{name} has {} entries ({value}); [{i}] is out of range", items.len()))?,
            None if items.len() > 1 => {
                return Err(format!("{name} holds a list ({value}): pick one with ${{{name}[0]}}"));
            }
            None => items.first().copied().ok_or_else(|| format!("environment variable {name} is empty"))?,
        };
        out.push_str(item);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PCIDEVICE_INTEL_COM_SRIOV_NETDEVICE" => Some("0000:3b:02.2,0000:3b:02.5".into()),
            "PCIDEVICE_INTEL_COM_SRIOV_PUBLIC" => Some("0000:5e:02.1".into()),
            "MEDIA_IFACE" => Some("eth1".into()),
            _ => None,
        }
    }

    #[test]
    fn device_strings_take_values_from_the_environment() {
        assert_eq!(expand_env("${PCIDEVICE_INTEL_COM_SRIOV_PUBLIC}", env).unwrap(), "0000:5e:02.1");
        assert_eq!(expand_env("${PCIDEVICE_INTEL_COM_SRIOV_NETDEVICE[1]}", env).unwrap(), "0000:3b:02.5");
        assert_eq!(expand_env("net_af_xdp0,iface=${MEDIA_IFACE}", env).unwrap(), "net_af_xdp0,iface=eth1");
        assert_eq!(expand_env("0000:3b:02.0", env).unwrap(), "0000:3b:02.0");
        for (bad, says) in [
            ("${PCIDEVICE_INTEL_COM_SRIOV_NETDEVICE}", "[0]"),
            ("${PCIDEVICE_INTEL_COM_SRIOV_NETDEVICE[2]}", "out of range"),
            ("${NOPE}", "NOPE is not set"),
            ("${MEDIA_IFACE", "closing"),
            ("${A-B}", "not an environment variable name"),
            ("${MEDIA_IFACE[x]}", "NAME[0]"),
        ] {
            let e = expand_env(bad, env).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
