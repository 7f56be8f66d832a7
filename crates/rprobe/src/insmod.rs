//! The `insmod` tool.

use std::ffi::OsString;

/// Runs `insmod` with kmod's argument conventions; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let _ = args;
    eprintln!("insmod: not implemented yet");
    1
}
