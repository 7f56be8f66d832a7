//! `rprobe coldplug`: what udev's coldplug does at boot, for images and systems without
//! udev. Every device's modalias under /sys is resolved as `modprobe -b -a` resolves it
//! (aliases, blacklist applied) and the union of the plans is loaded in parallel.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use rprobe_load::HostPaths;

/// rprobe coldplug options.
#[derive(Parser, Debug)]
#[command(
    name = "rprobe-coldplug",
    disable_version_flag = true,
    about = "Load the drivers of every device the kernel found (udev's coldplug, without udev)"
)]
struct Args {
    /// Print what would be loaded; load nothing.
    #[arg(short = 'n', long = "dry-run")]
    dry_run: bool,
    /// Load up to N modules at once (default: the number of CPUs).
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    jobs: Option<usize>,
    /// Print each module as it is loaded.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    /// Print no error messages.
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Root directory for /lib/modules.
    #[arg(short = 'd', long = "dirname")]
    dirname: Option<String>,
    /// Kernel version (default: the running kernel's).
    #[arg(short = 'S', long = "set-version")]
    set_version: Option<String>,
    /// Where sysfs is (default /sys, or $RPROBE_SYSFS).
    #[arg(long = "sysfs", hide = true)]
    sysfs: Option<PathBuf>,
    /// Configuration file or directory (repeatable; default: modprobe.d's directories).
    #[arg(short = 'C', long = "config")]
    config: Vec<PathBuf>,
}

/// Runs coldplug; returns the exit code (1 when any module failed to load).
pub fn main(raw: Vec<OsString>) -> i32 {
    let args: Args = match crate::parse_args("coldplug", &raw, 1) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut host = HostPaths::from_env();
    if let Some(sys) = &args.sysfs {
        host.sysfs = sys.clone();
    }
    let aliases = host.modaliases();
    // The rest is modprobe -b -a over the aliases, quiet about aliases no module claims.
    let mut m = match crate::modprobe::Args::try_parse_from(["modprobe"]) {
        Ok(m) => m,
        Err(e) => {
            crate::out::log(
                "coldplug",
                rprobe_index::log::Level::Error,
                format_args!("{}", e.kind()),
            );
            return 1;
        }
    };
    m.all = true;
    m.use_blacklist = true;
    m.dry_run = args.dry_run;
    m.jobs = args.jobs;
    m.dirname = args.dirname;
    m.set_version = args.set_version;
    m.config = args.config;
    m.log_level = if args.quiet {
        crate::modprobe::prio::EMERG
    } else {
        crate::modprobe::prio::WARNING + i32::from(args.verbose)
    };
    crate::modprobe::run_coldplug(crate::modprobe::Ctx::new(m, host), &aliases)
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
