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
        Some(e) => rprobe_index::error::errno_text(e),
        None => other.into(),
    }
}

/// kmod-compatible insmod options.
#[derive(clap::Parser, Debug)]
#[command(
    name = "insmod",
    disable_version_flag = true,
    args_override_self = true
)]
struct Args {
    /// Ignore symbol versions and the version magic.
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Print messages to syslog, not stderr.
    #[arg(short = 's', long = "syslog")]
    syslog: bool,
    /// Show the version.
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// The module file.
    filename: Option<String>,
    /// Module parameters (NAME=VALUE).
    params: Vec<String>,
}

/// Runs insmod with `args` (argv[0] first); returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    // kmod 30 ignores -p; kmod 34 dropped it and takes -v/--verbose (more libkmod
    // messages, none of which rprobe's insmod has to show).
    let mut cmd = command();
    cmd = if crate::generation().insmod_takes_verbose() {
        cmd.arg(crate::switch("verbose", 'v', "verbose", true).help("Enables more messages"))
    } else {
        cmd.arg(
            clap::Arg::new("probe")
                .short('p')
                .action(clap::ArgAction::SetTrue)
                .hide(true),
        )
    };
    let args: Args = match crate::parse_args_with("insmod", &raw, 1, cmd) {
        Ok((a, _)) => a,
        Err(code) => return code,
    };
    if args.syslog {
        crate::out::open_syslog(c"insmod");
    }
    if args.version {
        crate::outln!(
            std::io::stdout(),
            "rprobe insmod version {}",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    let force = args.force;
    let Some(file) = args.filename.as_ref() else {
        crate::out::log(
            "insmod",
            rprobe_index::log::Level::Error,
            "missing filename.",
        );
        return 1;
    };
    if file == "-" {
        crate::out::log(
            "insmod",
            rprobe_index::log::Level::Error,
            "this tool does not support loading from stdin!",
        );
        return 1;
    }
    let params = if crate::generation().insmod_quotes_options() {
        crate::modprobe::options_from_args(&args.params)
    } else {
        args.params.join(" ")
    };
    let path = Path::new(file);
    if !rprobe_index::fsx::stat(path).is_ok_and(|s| s.is_file()) {
        crate::out::log(
            "insmod",
            rprobe_index::log::Level::Error,
            format_args!("could not load module {file}: No such file or directory"),
        );
        return 1;
    }
    let name = rprobe_index::name::modname_from_path(path);
    let flags = LoadFlags {
        ignore_modversions: force,
        ignore_vermagic: force,
        userspace_decompress: std::env::var_os("RPROBE_USERSPACE_DECOMPRESS").is_some(),
    };
    let gen = crate::generation();
    match LinuxKernel::new(Default::default(), gen).load(&name, path, &params, flags) {
        Ok(()) => 0,
        Err(e) => {
            let words = mod_strerror(e.errno(), &e.to_string());
            let words = match &e {
                rprobe_load::Error::Read(r) => {
                    if let Some((_, line)) = r.library_words() {
                        crate::out::log("insmod", rprobe_index::log::Level::Error, line);
                    }
                    r.with_detail(&words)
                }
                _ => words,
            };
            crate::out::log(
                "insmod",
                rprobe_index::log::Level::Error,
                format_args!("could not insert module {file}: {words}"),
            );
            1
        }
    }
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
