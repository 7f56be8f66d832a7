//! The `lsmod` tool.

use std::ffi::OsString;

/// Runs `lsmod` with kmod's argument conventions; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let _ = args;
    eprintln!("lsmod: not implemented yet");
    1
}
