//! `rmmod [-f] [-s] NAME...`: remove modules, kmod's messages.

use std::ffi::OsString;

use rprobe_load::{InitState, Kernel, LinuxKernel};

/// Runs rmmod with `args` (argv[0] first); returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let mut force = false;
    let mut names = Vec::new();
    for a in args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
    {
        match a.as_str() {
            "-f" | "--force" => force = true,
            "-s" | "--syslog" | "-v" | "--verbose" => {}
            "-V" | "--version" => {
                println!("rprobe rmmod version {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            _ => names.push(a),
        }
    }
    if names.is_empty() {
        eprintln!("rmmod: ERROR: missing module name.");
        return 1;
    }
    let mut k = LinuxKernel::default();
    let mut code = 0;
    for arg in names {
        let name = if arg.contains('/') || rprobe_index::record::is_module_filename(&arg) {
            rprobe_index::record::modname_from_path(std::path::Path::new(&arg))
        } else {
            arg.replace('-', "_")
        };
        match k.initstate(&name) {
            Some(InitState::Builtin) => {
                eprintln!("rmmod: ERROR: Module {name} is builtin.");
                code = 1;
                continue;
            }
            None => {
                eprintln!("rmmod: ERROR: Module {name} is not currently loaded");
                code = 1;
                continue;
            }
            _ => {}
        }
        if !force {
            let holders = k.holders(&name);
            if !holders.is_empty() {
                eprintln!(
                    "rmmod: ERROR: Module {name} is in use by: {}",
                    holders.join(" ")
                );
                code = 1;
                continue;
            }
            if k.refcnt(&name).unwrap_or(0) > 0 {
                eprintln!("rmmod: ERROR: Module {name} is in use");
                code = 1;
                continue;
            }
        }
        if let Err(e) = k.remove(&name, force) {
            let why = e
                .errno()
                .map(|e| e.desc().to_string())
                .unwrap_or_else(|| e.to_string());
            eprintln!("rmmod: ERROR: could not remove module {arg}: {why}");
            code = 1;
        }
    }
    code
}
