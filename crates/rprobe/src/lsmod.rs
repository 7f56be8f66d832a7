//! `lsmod`: the loaded modules from /proc/modules, with sizes, use counts and holders from
//! /sys/module as kmod's lsmod reads them, in kmod's format.

use std::ffi::OsString;

use rprobe_load::HostPaths;

/// Runs lsmod; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    if crate::generation().lsmod_takes_options() {
        return main_34(args);
    }
    // kmod 30's lsmod takes no options; rprobe's takes --json alone.
    let json = args.len() == 2 && args[1] == "--json";
    if args.len() > 1 && !json {
        crate::errln!("Usage: {}", args[0].to_string_lossy());
        return 1;
    }
    list(json, &|e| {
        crate::errln!("Error: could not get list of modules: {e}")
    })
}

/// The program's own name (kmod's program_invocation_short_name: `kmod` for `kmod list`).
fn program() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| crate::basename(&a))
        .unwrap_or_else(|| "lsmod".into())
}

/// kmod 34's lsmod: -s, -v, -V, -h (and rprobe's --json); an argument is an error; its
/// messages through the tool's logger, the library's included.
fn main_34(raw: Vec<OsString>) -> i32 {
    let mut cmd = command()
        .disable_help_flag(true)
        .arg(crate::switch("syslog", 's', "syslog", false))
        .arg(crate::switch("verbose", 'v', "verbose", true))
        .arg(crate::switch("version", 'V', "version", false))
        .arg(crate::switch("help", 'h', "help", false))
        .arg(
            clap::Arg::new("rest")
                .num_args(0..)
                .trailing_var_arg(true)
                .hide(true),
        );
    let raw = match crate::getopt::check(&mut cmd, &raw) {
        Ok(r) => r,
        Err(msg) => {
            crate::errln!("{msg}");
            return 1;
        }
    };
    let m = match cmd.try_get_matches_from(&raw) {
        Ok(m) => m,
        Err(_) => return 1,
    };
    let prog = program();
    if m.get_flag("help") {
        crate::out!(
            "Usage:\n\t{prog} [options]\nOptions:\n\t-s, --syslog      print to syslog, not stderr\n\
             \t-v, --verbose     enables more messages\n\t-V, --version     show version\n\
             \t-h, --help        show this help\n"
        );
        return 0;
    }
    if m.get_flag("version") {
        crate::kmod::print_version();
        return 0;
    }
    if m.get_flag("syslog") {
        crate::out::open_syslog(c"lsmod");
    }
    if m.get_many::<String>("rest")
        .is_some_and(|mut r| r.next().is_some())
    {
        crate::out::log(
            &prog,
            rprobe_index::log::Level::Error,
            "too many arguments provided.",
        );
        return 1;
    }
    let shown = HostPaths::from_env().proc_modules.display().to_string();
    list(m.get_flag("json"), &|e| {
        crate::out::log(
            &prog,
            rprobe_index::log::Level::Error,
            format_args!("could not open {shown}: {e}"),
        );
        crate::out::log(
            &prog,
            rprobe_index::log::Level::Error,
            format_args!("could not get list of modules: {e}"),
        );
    })
}

/// Prints the loaded modules (the table, or JSON); `fail` reports an unreadable
/// /proc/modules with its errno text. Returns the exit code.
fn list(json: bool, fail: &dyn Fn(&str)) -> i32 {
    let host = HostPaths::from_env();
    let system = HostPaths::system();
    let text = match std::fs::read_to_string(&host.proc_modules) {
        Ok(t) => t,
        Err(e) => {
            fail(&rprobe_index::error::io_text(&e));
            return 1;
        }
    };
    let rows = if host.proc_modules != system.proc_modules && host.sysfs == system.sysfs {
        // A test's /proc/modules without a sysfs tree: the columns of that file alone.
        rprobe_load::lsmod_rows(&text)
    } else {
        // As kmod: sizes, use counts and holders (in directory order) from sysfs.
        rprobe_load::lsmod_rows_sysfs(&text, &host, &mut |e| {
            crate::out::log("lsmod", rprobe_index::log::Level::Error, &e);
        })
    };
    if json {
        print_json(rows);
    } else {
        crate::out!("{}", rprobe_load::lsmod_format(&rows));
    }
    0
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
