//! End-to-end tests: they drive the built `rprobe` binary and compare it with kmod's tools.
#![allow(clippy::print_stderr)] // tests report what they skip on stderr

mod util;

mod cache;
mod cli;
mod depmod;
mod initramfs;
mod load;
mod modinfo;
mod modprobe;
mod robustness;
mod vm;
