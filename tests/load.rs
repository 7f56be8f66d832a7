//! End-to-end tests: load.
