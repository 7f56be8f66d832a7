//! The `modprobe` tool.

use std::ffi::OsString;

/// Runs `modprobe` with kmod's argument conventions; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let _ = args;
    eprintln!("modprobe: not implemented yet");
    1
}
