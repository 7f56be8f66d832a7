//! End-to-end tests: they drive the built `rprobe` binary and compare it with kmod's tools.

mod util;

mod depmod;
mod initramfs;
mod load;
mod modinfo;
mod modprobe;
mod vm;
