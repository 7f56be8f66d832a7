//! End-to-end tests: depmod.
