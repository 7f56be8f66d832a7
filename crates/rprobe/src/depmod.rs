//! The `depmod` tool.

use std::ffi::OsString;

/// Runs `depmod` with kmod's argument conventions; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let _ = args;
    eprintln!("depmod: not implemented yet");
    1
}
