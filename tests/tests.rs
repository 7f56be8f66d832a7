//! End-to-end tests: they drive the built `rprobe` binary and compare it with kmod's tools.
#![allow(clippy::print_stderr)] // tests report what they skip on stderr

mod util;

mod cli;
mod compat;
mod depmod;
mod initramfs;
mod load;
mod modinfo;
mod modprobe;
mod vm;
