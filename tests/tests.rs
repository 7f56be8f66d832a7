//! End-to-end tests: they drive the built `rprobe` binary and compare it with kmod's tools.

mod util;
