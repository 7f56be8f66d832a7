//! `lsmod`: the loaded modules from /proc/modules, with sizes, use counts and holders from
//! /sys/module as kmod's lsmod reads them, in kmod's format.

use std::ffi::OsString;

/// Runs lsmod; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    // kmod's lsmod takes no options; rprobe's takes --json alone.
    let json = args.len() == 2 && args[1] == "--json";
    if args.len() > 1 && !json {
        crate::errln!("Usage: {}", args[0].to_string_lossy());
        return 1;
    }
    let fake_proc = std::env::var_os("RPROBE_PROC_MODULES");
    let sys = std::env::var_os("RPROBE_SYSFS");
    let path = fake_proc.clone().unwrap_or_else(|| "/proc/modules".into());
    match std::fs::read_to_string(&path) {
        // A test's /proc/modules without a sysfs tree: the columns of that file alone.
        Ok(text) if fake_proc.is_some() && sys.is_none() => {
            let rows = rprobe_load::lsmod_rows(&text);
            if json {
                print_json(rows);
            } else {
                crate::out!("{}", rprobe_load::lsmod_format(&rows));
            }
            0
        }
        // As kmod: sizes, use counts and holders (in directory order) from sysfs.
        Ok(text) => {
            let sys = std::path::PathBuf::from(sys.unwrap_or_else(|| "/sys".into()));
            let rows = rprobe_load::lsmod_rows_sysfs(&text, &sys, &mut |e| {
                crate::errln!("lsmod: ERROR: {e}");
            });
            if json {
                print_json(rows);
            } else {
                crate::out!("{}", rprobe_load::lsmod_format(&rows));
            }
            0
        }
        Err(e) => {
            let why = e
                .raw_os_error()
                .map(|n| nix::errno::Errno::from_raw(n).desc().to_string())
                .unwrap_or_else(|| e.to_string());
            crate::errln!("Error: could not get list of modules: {why}");
            1
        }
    }
}

fn print_json(rows: Vec<rprobe_load::LsmodRow>) {
    let v: Vec<crate::json::LsmodJson> = rows.into_iter().map(Into::into).collect();
    crate::json::print(&v);
}

/// lsmod takes no options (kmod's prints its usage for any argument); the definition exists
/// for man pages and completions.
#[derive(clap::Parser, Debug)]
#[command(name = "lsmod", disable_version_flag = true, disable_help_flag = true)]
struct Args {
    /// Print one JSON array of modules instead of the table (schema: docs/json.md).
    #[arg(long = "json")]
    json: bool,
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
        .about("Show the modules loaded in the running kernel, from /proc/modules")
}
