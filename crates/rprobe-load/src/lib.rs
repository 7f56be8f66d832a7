//! rprobe-load: putting modules into a kernel and taking them out. The [`Kernel`] trait has
//! two implementations: [`LinuxKernel`] (finit_module / init_module / delete_module through
//! nix, state from /sys/module and /proc/modules) and [`SimKernel`] (a simulation for tests
//! and dry runs that checks symbols are resolved in load order and keeps refcounts).
//!
//! ```
//! use rprobe_load::{Kernel, SimKernel, InitState};
//! let k = SimKernel::default();
//! assert_eq!(k.initstate("dummy"), None::<InitState>);
//! ```
//!
//! Files: `kernel` (the trait, flags, states, errors), `linux` (the syscalls), `sim`,
//! `host` (where the running kernel's state is read), `lsmod` (its rows and table),
//! `probe` and `parallel` (carrying plans out), `pthread` (the threads and locks `parallel`
//! waits with).

pub mod host;
mod kernel;
mod linux;
mod lsmod;
pub mod parallel;
pub mod probe;
mod pthread;
mod sim;

pub use host::HostPaths;
pub use kernel::{Error, InitState, Kernel, LoadFlags, Result};
pub use linux::LinuxKernel;
pub use lsmod::{
    lsmod_format, lsmod_rows, lsmod_rows_sysfs, lsmod_text, lsmod_text_sysfs, parse_proc_modules,
    LsmodRow, ProcModule,
};
pub use sim::SimKernel;
