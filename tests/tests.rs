//! End-to-end tests: they drive the built `rprobe` binary and compare it with kmod's tools.
#![expect(
    clippy::print_stderr,
    clippy::print_stdout,
    reason = "tests report what they skip; the VM benchmark prints its figures"
)]

mod util;

mod cache;
mod cli;
mod coldplug;
mod compat;
mod depmod;
mod explain;
mod initramfs;
mod initstate;
mod install;
mod json;
mod kmod34;
mod kmod_libtests;
mod kmod_suite;
mod kmod_testsuite;
mod libkmod;
mod lspci;
mod modinfo;
mod modprobe;
mod robustness;
mod syslog;
mod system;
mod system13;
mod vm;
mod weakdep;
