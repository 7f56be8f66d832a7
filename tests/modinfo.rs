//! End-to-end tests: modinfo.
