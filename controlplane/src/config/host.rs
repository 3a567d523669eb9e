//! What this host offers against what a configuration asks for: the CPUs
//! this process may run on. A file that names other CPUs is still a valid
//! file (`--check-config` reports the mismatch as a warning); the node
//! refuses to start with it.

use super::{ConfigError, Validated};

/// The CPUs this process may run on (its affinity: a container's cpuset,
/// systemd's CPUAffinity=, taskset), sorted.
pub fn allowed_cpus() -> Vec<usize> {
    match core_affinity::get_core_ids() {
        Some(ids) if !ids.is_empty() => {
            let mut v: Vec<usize> = ids.into_iter().map(|c| c.id).collect();
            v.sort_unstable();
            v
        }
        _ => (0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).collect(),
    }
}

/// A CPU list in the kernel's notation: `0-3,8,10-11`.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if j > i { format!("{}-{}", cpus[i], cpus[j]) } else { cpus[i].to_string() });
        i = j + 1;
    }
    out.join(",")
}

/// Control and worker cores from the CPUs this process may run on: the
/// first for the control side, the others for workers. For containers
/// given exclusive CPUs (the kubelet's static CPU manager), whose numbers
/// are known only at start.
pub fn cores_from(allowed: &[usize]) -> Result<(Vec<usize>, Vec<usize>), ConfigError> {
    let mut cpus = allowed.to_vec();
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.len() < 2 {
        return Err(ConfigError::new(
            "--cores-from-affinity",
            format!(
                "{} CPU available ({}): one control core and at least one worker core are needed",
                cpus.len(),
                cpu_list(&cpus)
            ),
        ));
    }
    Ok((vec![cpus[0]], cpus[1..].to_vec()))
}

impl Validated {
    /// What the configuration asks of this host that it does not offer,
    /// given the CPUs this process may run on ([`allowed_cpus`]): the worker
    /// and control cores outside them, one error per field.
    pub fn host_mismatches(&self, allowed: &[usize]) -> Vec<ConfigError> {
        let n = &self.raw.node;
        let mut out = Vec::new();
        for (field, cores) in [("node.worker_cores", &n.worker_cores), ("node.control_cores", &n.control_cores)] {
            let mut missing: Vec<usize> = cores.iter().copied().filter(|c| !allowed.contains(c)).collect();
            missing.sort_unstable();
            let what = match missing.as_slice() {
                [] => continue,
                [c] => format!("CPU {c} is"),
                m => format!("CPUs {} are", cpu_list(m)),
            };
            out.push(ConfigError::new(
                field,
                format!("{what} not available to this process (it may run on {})", cpu_list(allowed)),
            ));
        }
        out
    }
}
