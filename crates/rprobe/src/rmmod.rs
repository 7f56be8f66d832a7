//! The `rmmod` tool.

use std::ffi::OsString;

/// Runs `rmmod` with kmod's argument conventions; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let _ = args;
    eprintln!("rmmod: not implemented yet");
    1
}
