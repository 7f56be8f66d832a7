//! Shared helpers for the end-to-end tests.

use std::path::PathBuf;

/// The `rprobe` binary cargo built for these tests.
pub fn rprobe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rprobe"))
}
