//! Shared helpers for the end-to-end tests.

use std::path::PathBuf;

/// The `rprobe` binary cargo built for these tests.
#[allow(dead_code)] // each test module uses what it needs of util
pub fn rprobe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rprobe"))
}
