//! The Environment Abstraction Layer: process start, lcores, time.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cstr::to_cstring;
use crate::error::{DpdkError, Result};
use crate::sys;

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Proof that `rte_eal_init` succeeded in this process.
///
/// The EAL can be started once per process; the argument strings are kept
/// alive for the process's lifetime because DPDK keeps pointers into them.
pub struct Eal {
    _args: Vec<CString>,
}

impl Eal {
    /// Starts the EAL with `args` (without the program name).
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<&'static Eal> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        let mut owned = vec![to_cstring("EAL argument", "mediafwd")?];
        for a in args {
            owned.push(to_cstring("EAL argument", a.as_ref())?);
        }
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        // SAFETY: argv points at NUL-terminated strings owned by `owned`, which
        // is leaked below so they outlive the EAL; rte_eal_init may permute
        // argv but not the strings.
        let ret = unsafe { sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if ret < 0 {
            INITIALISED.store(false, Ordering::SeqCst);
            return Err(DpdkError::from_errno("rte_eal_init"));
        }
        Ok(Box::leak(Box::new(Eal { _args: owned })))
    }

    /// The lcore the EAL pinned the main thread to.
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: reads the EAL configuration, valid after init.
        unsafe { sys::rte_get_main_lcore() }
    }

    /// The enabled lcores other than the main one, in ascending order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        // SAFETY: the first call takes u32::MAX (-1) as "before the first"; the
        // iteration ends with RTE_MAX_LCORE.
        let mut id = unsafe { sys::rte_get_next_lcore(u32::MAX, 1, 0) };
        while id < sys::RTE_MAX_LCORE {
            out.push(id);
            // SAFETY: as above, `id` is a valid lcore index.
            id = unsafe { sys::rte_get_next_lcore(id, 1, 0) };
        }
        out
    }

    /// The NUMA socket of `lcore`.
    pub fn lcore_socket(&self, lcore: u32) -> u32 {
        // SAFETY: any index is accepted; out-of-range returns SOCKET_ID_ANY.
        unsafe { sys::rte_lcore_to_socket_id(lcore) }
    }

    /// The CPU the EAL mapped `lcore` to (lcore ids and CPU ids may differ).
    pub fn lcore_cpu(&self, lcore: u32) -> Option<usize> {
        // SAFETY: any index is accepted; -1 means none.
        let cpu = unsafe { sys::rte_lcore_to_cpu_id(lcore as c_int) };
        (cpu >= 0).then_some(cpu as usize)
    }

    /// Runs `job` on worker `lcore`, which must be idle. The closure's return
    /// value is the lcore's exit code, read back by [`Eal::wait`].
    pub fn launch<F>(&self, lcore: u32, job: F) -> Result<()>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        type Job = Box<dyn FnOnce() -> i32 + Send>;
        extern "C" fn trampoline(arg: *mut c_void) -> c_int {
            // SAFETY: `arg` is the Box<Job> leaked by `launch` below, handed to
            // exactly one lcore and reclaimed here exactly once.
            let job = unsafe { Box::from_raw(arg as *mut Job) };
            job()
        }
        let boxed: *mut Job = Box::into_raw(Box::new(Box::new(job)));
        // SAFETY: trampoline matches lcore_function_t; `boxed` stays valid until
        // the trampoline reclaims it, or below if the launch fails.
        let ret = unsafe { sys::rte_eal_remote_launch(Some(trampoline), boxed.cast(), lcore) };
        if ret != 0 {
            // SAFETY: the launch failed, so the trampoline never ran.
            drop(unsafe { Box::from_raw(boxed) });
            return Err(DpdkError::from_ret("rte_eal_remote_launch", ret));
        }
        Ok(())
    }

    /// Waits for the job on `lcore` to finish and returns its exit code.
    pub fn wait(&self, lcore: u32) -> i32 {
        // SAFETY: blocks until the lcore is idle; any index is accepted.
        unsafe { sys::rte_eal_wait_lcore(lcore) }
    }

    /// Releases the EAL's resources. No DPDK call may follow.
    pub fn cleanup(&self) {
        // SAFETY: called once at the end of the process by the owner.
        unsafe {
            sys::rte_eal_cleanup();
        }
    }
}

/// The lcore id of the calling thread, or `None` for threads the EAL does not know.
#[inline]
pub fn current_lcore() -> Option<u32> {
    // SAFETY: reads a thread-local.
    let id = unsafe { sys::mfw_lcore_id() };
    (id != u32::MAX).then_some(id)
}

/// Registers the calling (non-EAL) thread so it gets an lcore id and a
/// mempool cache.
pub fn register_thread() -> Result<()> {
    // SAFETY: registers the calling thread only.
    let ret = unsafe { sys::rte_thread_register() };
    if ret < 0 {
        return Err(DpdkError::from_errno("rte_thread_register"));
    }
    Ok(())
}

/// The time-stamp counter.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: reads the TSC; no memory access.
    unsafe { sys::mfw_rdtsc() }
}

/// TSC ticks per second, as measured by the EAL.
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value the EAL computed at init.
    unsafe { sys::rte_get_tsc_hz() }
}

/// The DPDK version string.
pub fn version() -> String {
    // SAFETY: rte_version returns a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(sys::rte_version()) }.to_string_lossy().into_owned()
}

/// Creates a virtual device (`net_ring0`, `net_null0`, ...) after init.
pub fn vdev_init(name: &str, args: &str) -> Result<()> {
    let n = to_cstring("vdev name", name)?;
    let a = to_cstring("vdev arguments", args)?;
    // SAFETY: both strings are NUL-terminated and live across the call.
    let ret = unsafe { sys::rte_vdev_init(n.as_ptr(), a.as_ptr()) };
    if ret < 0 {
        return Err(DpdkError::from_ret("rte_vdev_init", ret));
    }
    Ok(())
}
