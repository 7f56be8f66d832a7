//! rprobe-initramfs (work in progress).
