//! The `modinfo` tool.

use std::ffi::OsString;

/// Runs `modinfo` with kmod's argument conventions; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let _ = args;
    eprintln!("modinfo: not implemented yet");
    1
}
