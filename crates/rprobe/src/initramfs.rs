//! The `initramfs` tool.

use std::ffi::OsString;

/// Runs `initramfs` with kmod's argument conventions; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let _ = args;
    eprintln!("initramfs: not implemented yet");
    1
}
