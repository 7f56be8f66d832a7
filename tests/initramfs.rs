//! End-to-end tests: initramfs.
