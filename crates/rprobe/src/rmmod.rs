//! `rmmod [-f] [-s] NAME...`: remove modules, kmod's messages.

use std::ffi::OsString;

use rprobe_load::{InitState, Kernel, LinuxKernel};

/// kmod-compatible rmmod options.
#[derive(clap::Parser, Debug)]
#[command(name = "rmmod", disable_version_flag = true, args_override_self = true)]
struct Args {
    /// Remove even modules in use (needs a kernel built with forced unloading).
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Print messages to syslog, not stderr.
    #[arg(short = 's', long = "syslog")]
    syslog: bool,
    /// Ignored, for compatibility.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Show the version.
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// Modules to remove (names or files).
    names: Vec<String>,
}

/// Runs rmmod with `args` (argv[0] first); returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    let args: Args = match crate::parse_args("rmmod", &raw, 1) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let _ = args.verbose;
    if args.syslog {
        crate::out::open_syslog(c"rmmod");
    }
    if args.version {
        crate::outln!(
            std::io::stdout(),
            "rprobe rmmod version {}",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    let force = args.force;
    let names = args.names;
    if names.is_empty() {
        crate::out::log(
            "rmmod",
            rprobe_index::log::Level::Error,
            "missing module name.",
        );
        return 1;
    }
    // kmod_new on the running kernel's module directory.
    let ctx = rprobe_context::Context::new(rprobe_context::Options::new(
        crate::generation(),
        None,
        None,
    ));
    let mut k = LinuxKernel::new(ctx.host().clone(), ctx.generation());
    let mut code = 0;
    for arg in names {
        // As kmod: a file that exists names the module after its file name, anything
        // else is a module name, normalised (up to its first '.').
        let name = if rprobe_index::fsx::exists(std::path::Path::new(&arg)) {
            rprobe_index::name::modname_from_path(std::path::Path::new(&arg))
        } else {
            rprobe_index::name::modname_normalize(&arg)
        };
        // As kmod: built in means listed in the running kernel's modules.builtin; a sysfs
        // directory without initstate is only "coming".
        let state = ctx.initstate(&name);
        match state {
            Some(InitState::Builtin) => {
                crate::out::log(
                    "rmmod",
                    rprobe_index::log::Level::Error,
                    format_args!("Module {name} is builtin."),
                );
                code = 1;
                continue;
            }
            None => {
                crate::out::log(
                    "rmmod",
                    rprobe_index::log::Level::Error,
                    format_args!("Module {name} is not currently loaded"),
                );
                code = 1;
                continue;
            }
            _ => {}
        }
        if !force {
            let holders = k.holders(&name);
            if !holders.is_empty() {
                crate::out::log(
                    "rmmod",
                    rprobe_index::log::Level::Error,
                    format_args!("Module {name} is in use by: {}", holders.join(" ")),
                );
                code = 1;
                continue;
            }
            if k.refcnt(&name).unwrap_or(0) > 0 {
                crate::out::log(
                    "rmmod",
                    rprobe_index::log::Level::Error,
                    format_args!("Module {name} is in use"),
                );
                code = 1;
                continue;
            }
        }
        if let Err(e) = k.remove(&name, force) {
            let why = e
                .errno()
                .map(rprobe_index::error::errno_text)
                .unwrap_or_else(|| e.to_string());
            crate::out::log(
                "rmmod",
                rprobe_index::log::Level::Error,
                format_args!("could not remove module {arg}: {why}"),
            );
            code = 1;
        }
    }
    code
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
