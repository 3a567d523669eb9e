//! `hugepage-setup`: prepare a host for mediafwd.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use mediafwd_hugepage_setup::doctor::{default_pages, doctor};
use mediafwd_hugepage_setup::hugepages::reserve;
use mediafwd_hugepage_setup::mounts::mount;
use mediafwd_hugepage_setup::pci::{bind, unbind};
use mediafwd_hugepage_setup::persist::{normalize_mount_path, persist};
use mediafwd_hugepage_setup::report;
use mediafwd_hugepage_setup::sriov::{vfs, VfSetting};
use mediafwd_hugepage_setup::status::Status;
use mediafwd_hugepage_setup::sysfs::effective_uid;
use mediafwd_hugepage_setup::{Ctx, Error, Host, PageSize, PciAddr, Root, SimulatedHost, SystemHost};

/// Prepare a host for mediafwd: hugepages, hugetlbfs, vfio-pci, SR-IOV VFs, preflight checks.
#[derive(Parser)]
#[command(name = "hugepage-setup", version)]
struct Cli {
    /// Resolve every /sys, /proc, /dev and /etc path under DIR; under any root other than /,
    /// mounts, modprobe and ip are simulated.
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    root: PathBuf,

    /// Print each change (`would write <value> to <path>`, `would run ...`) without making it.
    #[arg(long, global = true)]
    dry_run: bool,

    /// Print reports as JSON.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show hugepages, mounts, IOMMU/vfio, NICs, SR-IOV, CPU isolation and NIC interrupts.
    Status,

    /// Reserve hugepages now (globally or on one NUMA node) and check what the kernel gave.
    Reserve {
        /// Number of pages.
        #[arg(long)]
        count: u64,
        /// Page size: 2M or 1G.
        #[arg(long, default_value = "2M")]
        size: PageSize,
        /// NUMA node to reserve on (default: spread over all nodes).
        #[arg(long)]
        node: Option<u32>,
    },

    /// Mount hugetlbfs (idempotent).
    Mount {
        /// Page size: 2M or 1G.
        #[arg(long, default_value = "2M")]
        size: PageSize,
        /// Mount point [default: /dev/hugepages for 2M, /dev/hugepages-1G for 1G].
        #[arg(long)]
        path: Option<String>,
    },

    /// Bind NICs to a DPDK driver (driver_override, unbind, drivers_probe).
    Bind {
        /// PCI addresses (0000:3b:00.0 or 3b:00.0).
        #[arg(required = true, value_name = "PCI-ADDR")]
        devices: Vec<PciAddr>,
        /// Driver to bind to.
        #[arg(long, default_value = "vfio-pci")]
        driver: String,
        /// Bind even if the kernel interface is up with an address.
        #[arg(long)]
        force: bool,
    },

    /// Unbind devices from their driver and clear driver_override.
    Unbind {
        /// PCI addresses (0000:3b:00.0 or 3b:00.0).
        #[arg(required = true, value_name = "PCI-ADDR")]
        devices: Vec<PciAddr>,
        /// Unbind even if the kernel interface is up with an address.
        #[arg(long)]
        force: bool,
    },

    /// Create SR-IOV virtual functions on a physical function and configure them.
    Vfs {
        /// The physical function's PCI address.
        #[arg(value_name = "PF-PCI-ADDR")]
        pf: PciAddr,
        /// Number of VFs (0 removes them).
        #[arg(long)]
        count: u32,
        /// VF MAC address, as VF=MAC (repeatable).
        #[arg(long, value_name = "VF=MAC", value_parser = VfSetting::parse_mac)]
        mac: Vec<VfSetting>,
        /// VF VLAN, as VF=ID, 0 to remove (repeatable).
        #[arg(long, value_name = "VF=ID", value_parser = VfSetting::parse_vlan)]
        vlan: Vec<VfSetting>,
        /// VF trust, as VF=on|off (repeatable).
        #[arg(long, value_name = "VF=on|off", value_parser = VfSetting::parse_trust)]
        trust: Vec<VfSetting>,
        /// VF spoof checking, as VF=on|off (repeatable).
        #[arg(long, value_name = "VF=on|off", value_parser = VfSetting::parse_spoofchk)]
        spoofchk: Vec<VfSetting>,
    },

    /// Make the reservation and the mount survive a reboot (sysctl.d and a systemd mount unit).
    Persist {
        /// Number of pages to reserve at boot.
        #[arg(long)]
        count: u64,
        /// Page size: 2M or 1G.
        #[arg(long, default_value = "2M")]
        size: PageSize,
        /// Mount point [default: /dev/hugepages for 2M, /dev/hugepages-1G for 1G].
        #[arg(long)]
        path: Option<String>,
    },

    /// Check everything mediafwd needs; exit status 1 if any check FAILs.
    Doctor {
        /// Free hugepages wanted [default: 1 GiB worth].
        #[arg(long)]
        pages: Option<u64>,
        /// Page size: 2M or 1G.
        #[arg(long, default_value = "2M")]
        size: PageSize,
    },
}

impl Command {
    fn name(&self) -> Option<&'static str> {
        match self {
            Command::Status | Command::Doctor { .. } => None,
            Command::Reserve { .. } => Some("reserve"),
            Command::Mount { .. } => Some("mount"),
            Command::Bind { .. } => Some("bind"),
            Command::Unbind { .. } => Some("unbind"),
            Command::Vfs { .. } => Some("vfs"),
            Command::Persist { .. } => Some("persist"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = Root::new(&cli.root);
    let on_host = root.is_host();
    let simulated;
    let host: &dyn Host = if on_host {
        &SystemHost
    } else {
        simulated = SimulatedHost::new(root.clone());
        &simulated
    };

    match cli.command {
        Command::Status => {
            let status = Status::read(&root, host);
            if cli.json {
                println!("{}", report::json(&status));
            } else {
                print!("{}", report::status_text(&status));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Doctor { pages, size } => {
            let r = doctor(&root, host, pages.unwrap_or(default_pages(size)), size);
            if cli.json {
                println!("{}", report::json(&r));
            } else {
                print!("{}", report::doctor_text(&r));
            }
            return Ok(if r.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        _ => {}
    }

    let name = cli.command.name().unwrap_or_default();
    if on_host && !cli.dry_run && effective_uid(&root) != Some(0) {
        return Err(Error::NotRoot { command: name.into() }.into());
    }
    if !on_host && !cli.dry_run {
        eprintln!(
            "note: root {} is not /: files change under it, mounts and commands are simulated",
            cli.root.display()
        );
    }

    let mut ctx = Ctx::new(root, host, cli.dry_run);
    let result = match cli.command {
        Command::Reserve { count, size, node } => reserve(&mut ctx, count, size, node),
        Command::Mount { size, path } => {
            let path = path.unwrap_or_else(|| size.default_mount_path().into());
            normalize_mount_path(&path).and_then(|p| mount(&mut ctx, size, &p))
        }
        Command::Bind { devices, driver, force } => bind(&mut ctx, &devices, &driver, force),
        Command::Unbind { devices, force } => unbind(&mut ctx, &devices, force),
        Command::Vfs { pf, count, mac, vlan, trust, spoofchk } => {
            let settings: Vec<VfSetting> = mac.into_iter().chain(vlan).chain(trust).chain(spoofchk).collect();
            vfs(&mut ctx, pf, count, &settings)
        }
        Command::Persist { count, size, path } => {
            let path = path.unwrap_or_else(|| size.default_mount_path().into());
            persist(&mut ctx, count, size, &path)
        }
        Command::Status | Command::Doctor { .. } => Ok(()),
    };
    if cli.json {
        println!(
            "{}",
            report::json(&serde_json::json!({
                "command": name,
                "dry_run": ctx.dry_run(),
                "actions": ctx.lines(),
                "error": result.as_ref().err().map(|e| e.to_string()),
            }))
        );
    } else {
        for line in ctx.lines() {
            println!("{line}");
        }
    }
    result?;
    Ok(ExitCode::SUCCESS)
}
