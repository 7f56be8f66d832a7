//! `insmod FILE [params]`: load one module file, no dependency handling, kmod's messages.

use std::ffi::OsString;
use std::path::Path;

use rprobe_load::{Kernel, LinuxKernel, LoadFlags};

/// kmod insmod's words for an errno.
fn mod_strerror(errno: Option<nix::errno::Errno>, other: &str) -> String {
    use nix::errno::Errno;
    match errno {
        Some(Errno::ENOEXEC) => "Invalid module format".into(),
        Some(Errno::ENOENT) => "Unknown symbol in module".into(),
        Some(Errno::ESRCH) => "Module has wrong symbol version".into(),
        Some(Errno::EINVAL) => "Invalid parameters".into(),
        Some(e) => e.desc().into(),
        None => other.into(),
    }
}

/// Runs insmod with `args` (argv[0] first); returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut force = false;
    let mut rest = Vec::new();
    for a in &args {
        match a.as_str() {
            "-f" | "--force" => force = true,
            "-s" | "--syslog" | "-p" => {}
            "-V" | "--version" => {
                println!("rprobe insmod version {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            _ => rest.push(a.clone()),
        }
    }
    let Some(file) = rest.first() else {
        eprintln!("insmod: ERROR: missing filename.");
        return 1;
    };
    if file == "-" {
        eprintln!("insmod: ERROR: this tool does not support loading from stdin!");
        return 1;
    }
    let params = crate::modprobe::options_from_args(&rest[1..]);
    let path = Path::new(file);
    if !path.is_file() {
        eprintln!("insmod: ERROR: could not load module {file}: No such file or directory");
        return 1;
    }
    let name = rprobe_index::record::modname_from_path(path);
    let flags = LoadFlags {
        ignore_modversions: force,
        ignore_vermagic: force,
        userspace_decompress: std::env::var_os("RPROBE_USERSPACE_DECOMPRESS").is_some(),
    };
    match LinuxKernel::default().load(&name, path, &params, flags) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "insmod: ERROR: could not insert module {file}: {}",
                mod_strerror(e.errno(), &e.to_string())
            );
            1
        }
    }
}
