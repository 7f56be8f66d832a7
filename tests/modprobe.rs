//! End-to-end tests: modprobe.
