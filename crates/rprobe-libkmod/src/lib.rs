//! rprobe-libkmod: libkmod.so.2 from rprobe's crates. Every function of kmod's C library
//! (kmod 30's 73 and kmod 34's 75, under their version nodes), with kmod's semantics
//! (reference counts, the module pool, circular lists with kmod's entry layouts, the
//! lookup order, the log callback and its priority filter, resource validation, the
//! probe sequence and its flags, negative errno returns), built on
//! [`rprobe_context::Context`]: the context's indexes, configuration and host paths are
//! the library's; this crate adds only the C object model around them.
//!
//! Safety in the host process: every exported function runs inside [`ffi::guard`], so a
//! panic becomes an error return and never unwinds into C or aborts the caller (PID 1
//! loads this library); no thread is started and no lock is held between calls, so a
//! process may fork with a context open and use it in the child (udevd does); one
//! context per thread works, a context shared between threads does not (as in kmod).
//! File and module calls go through libc (open, stat, opendir, finit_module through
//! syscall, init_module, delete_module), so LD_PRELOAD tools see them.
//!
//! scripts/build-libkmod links the static archive into `libkmod.so.2` with libkmod.sym,
//! the version script, and c/shim.c (the `va_list` trampoline, kmod's stderr loggers and
//! the `kmod_module_new_from_name_lookup@LIBKMOD_5` alias).

#![expect(
    unsafe_code,
    reason = "a C ABI: raw pointers from and to C callers, each use commented"
)]
#![expect(
    non_camel_case_types,
    reason = "the C types keep kmod's names (kmod_list, kmod_config_iter)"
)]

pub mod config_iter;
pub mod ctx;
pub mod ffi;
pub mod info;
pub mod list;
pub mod module;
pub mod probe;
pub mod sys;

pub use ctx::Ctx;
pub use list::kmod_list;
pub use module::Module;
