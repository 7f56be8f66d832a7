//! `depmod`: generate modules.dep and the other indexes, as kmod's depmod.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use rprobe_depmod::{self as depmod, Level, Options};

/// kmod-compatible depmod options.
#[derive(Parser, Debug)]
#[command(name = "depmod", disable_version_flag = true)]
struct Args {
    /// Probe all modules (the default when no files are given).
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Only do the work when modules are newer than modules.dep.
    #[arg(short = 'A', long = "quick")]
    quick: bool,
    /// Use BASEDIR as the root of /lib/modules.
    #[arg(short = 'b', long = "basedir")]
    basedir: Option<PathBuf>,
    /// Use this module directory instead of /lib/modules.
    #[arg(short = 'm', long = "moduledir")]
    moduledir: Option<String>,
    /// Write the indexes under this root instead of BASEDIR.
    #[arg(short = 'o', long = "outdir")]
    outdir: Option<PathBuf>,
    /// Configuration file or directory (repeatable) instead of the default directories.
    #[arg(short = 'C', long = "config")]
    config: Vec<PathBuf>,
    /// Report symbols no module or the kernel provides.
    #[arg(short = 'e', long = "errsyms")]
    errsyms: bool,
    /// Module.symvers, for symbol versions (with -e).
    #[arg(short = 'E', long = "symvers")]
    symvers: Option<PathBuf>,
    /// System.map, for the kernel's symbols (with -e).
    #[arg(short = 'F', long = "filesyms")]
    filesyms: Option<PathBuf>,
    /// Architecture symbol prefix.
    #[arg(short = 'P', long = "symbol-prefix")]
    prefix: Option<String>,
    /// Print the results on stdout instead of writing files.
    #[arg(short = 'n', long = "show", visible_alias = "dry-run")]
    show: bool,
    /// Warn about duplicate dependencies, aliases and symbols.
    #[arg(short = 'w', long = "warn")]
    warn: bool,
    /// Verbose.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Read every module again instead of reusing the records of unchanged files (the cache
    /// is also off when RPROBE_DEPMOD_NO_CACHE is set).
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Also write modules.weakdep from the modules' `weakdep` fields, as kmod 33 and later
    /// do (kmod 30 does not, so it is off by default).
    #[arg(long = "weakdep")]
    weakdep: bool,
    /// Show the version.
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// VERSION, then module files.
    rest: Vec<String>,
}

/// The options kmod 30 accepts and ignores and kmod 34 removed (commit af54b73), and kmod
/// 30's `-m`/`--map` (kmod 34's `-m` is `--moduledir DIR`).
const REMOVED: [(char, &str); 4] = [
    ('u', "unresolved-error"),
    ('q', "quiet"),
    ('r', "root"),
    ('m', "map"),
];

fn is_version_number(v: &str) -> bool {
    let mut it = v.splitn(2, '.');
    let a = it.next().unwrap_or("");
    let b = it.next().unwrap_or("");
    !a.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.bytes().next().is_some_and(|c| c.is_ascii_digit())
}

/// Runs depmod with `raw` (argv[0] first); returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    // kmod 30 still takes -u, -q and -r (and their long forms) and ignores them with a
    // warning; kmod 34 dropped them: getopt's "invalid option" then.
    let removed = crate::generation().depmod_accepts_removed_options();
    let mut cmd = command();
    if removed {
        // kmod 30 has no -m DIR/--moduledir (kmod 34) and no -o/--outdir (kmod 31): its
        // getopt refuses them; the definitions stay, out of reach.
        cmd = cmd
            .mut_arg("moduledir", |a| {
                a.short(None).long("rprobe-kmod34-moduledir").hide(true)
            })
            .mut_arg("outdir", |a| {
                a.short(None).long("rprobe-kmod34-outdir").hide(true)
            });
        for (short, long) in REMOVED {
            cmd = cmd.arg(crate::switch(long, short, long, false).hide(true));
        }
    }
    let args: Args = match crate::parse_args_with("depmod", &raw, 1, cmd) {
        Ok((a, seen)) => {
            for opt in seen.iter().skip(1).map(|a| a.to_string_lossy()) {
                let known = REMOVED.iter().any(|(s, l)| {
                    opt.strip_prefix("--") == Some(l) || opt == format!("-{s}").as_str()
                });
                if removed && known {
                    crate::out::log(
                        "depmod",
                        rprobe_index::log::Level::Warning,
                        format_args!("Ignored deprecated option {opt}"),
                    );
                }
            }
            a
        }
        Err(code) => return code,
    };
    if args.version {
        crate::outln!(
            std::io::stdout(),
            "rprobe depmod version {}",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    let _ = args.all;
    let mut rest = args.rest.clone().into_iter();
    let kversion = match rest.next() {
        Some(v) if is_version_number(&v) => v,
        Some(v) => {
            crate::out::log(
                "depmod",
                rprobe_index::log::Level::Error,
                format_args!("Bad version passed {v}"),
            );
            return 1;
        }
        None => match rprobe_index::moddir::kernel_release() {
            Some(v) => v,
            None => {
                crate::out::log("depmod", rprobe_index::log::Level::Fatal, "uname() failed");
                return 1;
            }
        },
    };
    let prefix = match args.prefix.as_deref() {
        None => None,
        Some(p) if p.len() == 1 => Some(p.as_bytes()[0]),
        Some(_) => {
            crate::out::log(
                "depmod",
                rprobe_index::log::Level::Fatal,
                "-P only takes a single char",
            );
            return 1;
        }
    };
    let opts = Options {
        // kmod makes -b absolute against the working directory (path_make_absolute_cwd);
        // its messages show it so.
        basedir: args.basedir.as_deref().map(rprobe_index::moddir::absolute),
        moduledir: args.moduledir.clone(),
        outdir: args.outdir.clone(),
        kversion,
        config_paths: if args.config.is_empty() {
            None
        } else {
            Some(args.config.clone())
        },
        files: rest.map(PathBuf::from).collect(),
        to_stdout: args.show,
        symvers: args.symvers.clone(),
        system_map: args.filesyms.clone(),
        print_unknown: args.errsyms,
        sym_prefix: prefix,
        warn_dups: args.warn,
        verbose: args.verbose,
        weakdep: args.weakdep,
        generation: crate::generation(),
        cache: (!args.no_cache && std::env::var_os(depmod::cache::ENV_DISABLE).is_none())
            .then(depmod::cache::default_dir)
            .flatten(),
        progress: None,
    };
    if args.quick && !args.show && depmod::up_to_date(&opts.dirname()) {
        return 0;
    }
    // On a terminal, a progress line while modules are read (never in redirected output).
    let progress = std::sync::Arc::new(depmod::Progress::default());
    let ticker = crate::progress::start(crate::progress::modules_line("depmod", &progress));
    let mut opts = opts;
    if ticker.is_some() && !args.show {
        opts.progress = Some(progress);
    }
    let shown = ticker.is_some();
    let mut log = |lv: Level, msg: String| {
        if shown && lv != Level::Show {
            crate::err!("\r\x1b[K");
        }
        match lv {
            Level::Fatal => crate::out::log("depmod", rprobe_index::log::Level::Fatal, &msg),
            Level::Error => crate::out::log("depmod", rprobe_index::log::Level::Error, &msg),
            Level::Warning => crate::out::log("depmod", rprobe_index::log::Level::Warning, &msg),
            Level::Show => crate::outln!(std::io::stdout(), "{msg}"),
        }
    };
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let res = depmod::run_collect(&opts, &mut log, &mut stdout).map(|(ok, _)| ok);
    drop(ticker);
    crate::out::check(std::io::Write::flush(&mut stdout));
    match res {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            crate::out::log("depmod", rprobe_index::log::Level::Error, &e);
            1
        }
    }
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
