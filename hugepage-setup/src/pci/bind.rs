//! Moving devices between drivers, the way dpdk-devbind does: set `driver_override`,
//! unbind from the current driver, then ask the kernel to probe again.

use crate::cpu::Cmdline;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::net::address_book;
use crate::pci::{device_dir, read_device, IommuState, PciAddr, PciDevice};

fn describe(dev: &PciDevice) -> String {
    let names: Vec<&str> = dev.interfaces.iter().map(|i| i.name.as_str()).collect();
    if names.is_empty() {
        dev.addr.to_string()
    } else {
        format!("{} ({})", dev.addr, names.join(", "))
    }
}

fn refuse_if_in_use(dev: &PciDevice, force: bool, ctx: &mut Ctx<'_>) -> Result<()> {
    let Some(iface) = dev.in_use() else {
        return Ok(());
    };
    let address = iface.addresses.join(", ");
    if !force {
        return Err(Error::InterfaceInUse { addr: dev.addr, iface: iface.name.clone(), address });
    }
    ctx.say(format!("warning: {} is up with {address}; --force given, its kernel traffic stops now", iface.name));
    Ok(())
}

/// Bind every device to `driver`; checks all of them before changing any.
pub fn bind(ctx: &mut Ctx<'_>, addrs: &[PciAddr], driver: &str, force: bool) -> Result<()> {
    let root = ctx.root().clone();
    let book = address_book(&root, ctx.host());
    let devices = addrs.iter().map(|a| read_device(&root, *a, &book)).collect::<Result<Vec<_>>>()?;
    let mut todo = Vec::new();
    for dev in devices {
        if dev.driver.as_deref() == Some(driver) {
            ctx.say(format!("already bound: {} to {driver}", describe(&dev)));
        } else {
            refuse_if_in_use(&dev, force, ctx)?;
            todo.push(dev);
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    if driver == "vfio-pci" {
        let iommu = IommuState::read(&root, &Cmdline::read(&root));
        if !iommu.vfio_usable() {
            return Err(Error::IommuOff { addr: todo[0].addr });
        }
        if !iommu.enabled() {
            ctx.say("note: IOMMU off, vfio runs in unsafe no-IOMMU mode (no DMA isolation)");
        }
    }
    let driver_dir = format!("/sys/bus/pci/drivers/{driver}");
    if !root.exists(&driver_dir) {
        ctx.run("modprobe", &[driver])?;
        if !ctx.dry_run() && !root.exists(&driver_dir) {
            return Err(Error::DriverMissing { driver: driver.into() });
        }
    }
    for dev in todo {
        let addr = dev.addr.to_string();
        ctx.write(format!("{}/driver_override", device_dir(dev.addr)), driver)?;
        if let Some(current) = &dev.driver {
            ctx.write(format!("/sys/bus/pci/drivers/{current}/unbind"), &addr)?;
        }
        ctx.write("/sys/bus/pci/drivers_probe", &addr)?;
        if ctx.dry_run() {
            continue;
        }
        let now = root.link_name(format!("{}/driver", device_dir(dev.addr)));
        if now.as_deref() != Some(driver) {
            return Err(Error::BindFailed {
                addr: dev.addr,
                driver: driver.into(),
                now: now.unwrap_or_else(|| "none".into()),
            });
        }
        ctx.say(format!("bound {} to {driver} (was {})", describe(&dev), dev.driver.as_deref().unwrap_or("unbound")));
    }
    Ok(())
}

/// Unbind every device from its driver and clear `driver_override`, leaving it driverless.
pub fn unbind(ctx: &mut Ctx<'_>, addrs: &[PciAddr], force: bool) -> Result<()> {
    let root = ctx.root().clone();
    let book = address_book(&root, ctx.host());
    let devices = addrs.iter().map(|a| read_device(&root, *a, &book)).collect::<Result<Vec<_>>>()?;
    for dev in &devices {
        if dev.driver.is_some() {
            refuse_if_in_use(dev, force, ctx)?;
        }
    }
    for dev in devices {
        let addr = dev.addr.to_string();
        if dev.driver_override.is_some() {
            ctx.write(format!("{}/driver_override", device_dir(dev.addr)), "\n")?;
        }
        match &dev.driver {
            None => ctx.say(format!("already unbound: {}", describe(&dev))),
            Some(current) => {
                ctx.write(format!("/sys/bus/pci/drivers/{current}/unbind"), &addr)?;
                if !ctx.dry_run() {
                    ctx.say(format!("unbound {} from {current}", describe(&dev)));
                }
            }
        }
    }
    Ok(())
}
