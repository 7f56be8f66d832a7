//! `modprobe` (rprobe's default tool): look modules up, resolve, and print, load or
//! remove them as kmod's modprobe does.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use rprobe_context::{Cmdline, Context, Level, ProbeSettings, Prober};
use rprobe_index::generation::Generation;
use rprobe_load::probe::{Event, ProbeError, ProbeFlags, ShellRunner};
use rprobe_load::LinuxKernel;
use rprobe_resolve::{Resolver, Step};

/// A probe session on the running kernel.
type Session<'c> = Prober<'c, LinuxKernel>;

/// kmod-compatible modprobe options.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "modprobe",
    disable_version_flag = true,
    after_help = "rprobe is also depmod, modinfo, insmod, rmmod, lsmod and kmod (called by those names, \
or as `rprobe TOOL ...`), `rprobe initramfs` (reproducible images with a module closure), `rprobe why MODULE --in NAME` \
and `rprobe graph NAME --format dot|svg` (why a module is in a closure), and \
`rprobe generate man|completions DIR`."
)]
pub struct Args {
    /// Consider every argument a module name.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Remove modules instead of inserting them.
    #[arg(short = 'r', long = "remove")]
    pub remove: bool,
    /// Also remove the modules holding it.
    #[arg(long = "remove-dependencies", alias = "remove-holders")]
    pub remove_holders: bool,
    /// Wait up to MSEC for a module in use to be released.
    #[arg(short = 'w', long = "wait")]
    pub wait: Option<String>,
    /// Only print the module names a name resolves to.
    #[arg(short = 'R', long = "resolve-alias")]
    pub resolve_alias: bool,
    /// Fail if the module is already loaded.
    #[arg(long = "first-time")]
    pub first_time: bool,
    /// Ignore install and remove commands.
    #[arg(short = 'i', long = "ignore-install", alias = "ignore-remove")]
    pub ignore_install: bool,
    /// Apply the blacklist to the module itself.
    #[arg(short = 'b', long = "use-blacklist")]
    pub use_blacklist: bool,
    /// Force (vermagic and modversions).
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Ignore symbol versions.
    #[arg(long = "force-modversion")]
    pub force_modversion: bool,
    /// Ignore the version magic.
    #[arg(long = "force-vermagic")]
    pub force_vermagic: bool,
    /// Print the plan instead of loading.
    #[arg(short = 'D', long = "show-depends")]
    pub show_depends: bool,
    /// Print the configuration.
    #[arg(short = 'c', long = "showconfig", alias = "show-config")]
    pub show_config: bool,
    /// Print the symbol versions (__versions) a module file needs: "0xCRC<TAB>SYMBOL".
    #[arg(long = "show-modversions", alias = "dump-modversions")]
    pub show_modversions: bool,
    /// Print the symbols a module file exports: "0xCRC<TAB>SYMBOL".
    #[arg(long = "show-exports")]
    pub show_exports: bool,
    /// Do everything but load or remove.
    #[arg(short = 'n', long = "dry-run", alias = "show")]
    pub dry_run: bool,
    /// Configuration file or directory (repeatable).
    #[arg(short = 'C', long = "config")]
    pub config: Vec<PathBuf>,
    /// Root directory for /lib/modules.
    #[arg(short = 'd', long = "dirname")]
    pub dirname: Option<String>,
    /// Kernel version.
    #[arg(short = 'S', long = "set-version")]
    pub set_version: Option<String>,
    /// Print messages to syslog, not stderr.
    #[arg(short = 's', long = "syslog")]
    pub syslog: bool,
    /// Quiet.
    #[arg(short = 'q', long = "quiet", action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// Verbose (repeatable).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show the version.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Load up to N modules at once (default: the number of CPUs; 1 loads one after
    /// another in kmod's order). Dry runs are always serial.
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// With --show-depends: print the plans as one JSON array (schema: docs/json.md).
    #[arg(long = "json")]
    pub json: bool,
    /// The kernel command line file for `name.param=` options (default /proc/cmdline).
    #[arg(long = "kernel-cmdline", hide = true)]
    pub kernel_cmdline: Option<PathBuf>,
    /// The module name (or names with -a/-r) and parameters.
    pub args: Vec<String>,
    /// kmod's `verbose`: a syslog priority, LOG_WARNING unless -q (LOG_EMERG) or -v (one
    /// more each) say otherwise, applied in the order given (`-v -q` is quiet, `-q -v` is
    /// LOG_ALERT). Messages up to this priority are printed.
    #[arg(skip)]
    pub log_level: i32,
}

/// The verbosity modprobe's -q and -v set, as syslog priorities (levels are
/// [`Level`]s; these are the thresholds).
pub mod prio {
    use rprobe_context::Level;
    /// FATAL.
    pub const CRIT: i32 = Level::Fatal as i32;
    /// WARNING, and the default verbosity.
    pub const WARNING: i32 = Level::Warning as i32;
    /// -q.
    pub const EMERG: i32 = 0;
}

/// kmod's verbosity after -q and -v in the order they were given (`opts`: one option per
/// item, as [`crate::parse_args_matches`] returns them).
fn log_level(opts: &[OsString]) -> i32 {
    let mut level = prio::WARNING;
    for o in opts.iter().skip(1) {
        match o.to_str() {
            Some("--") => break,
            Some("-q" | "--quiet") => level = prio::EMERG,
            Some("-v" | "--verbose") => level = level.saturating_add(1),
            _ => {}
        }
    }
    level
}

/// The module directory as kmod computes it from -d and -S.
pub fn module_dirname(args: &Args) -> String {
    rprobe_index::moddir::tool_module_dir(args.dirname.as_deref(), args.set_version.as_deref())
}

/// The parameters after the module name, joined as kmod joins them (a value holding a
/// space gets quotes).
pub fn options_from_args(rest: &[String]) -> String {
    rest.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !v.starts_with(['"', '\'']) && v.contains(' ') => {
                format!("{k}=\"{v}\"")
            }
            _ => a.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Shared state for one modprobe run.
pub struct Ctx {
    /// The parsed arguments.
    pub args: Args,
    /// The library context: module directory, configuration, host paths.
    pub ctx: Context,
    /// Standard output, buffered as C's stdio buffers it when not a terminal.
    pub out: std::sync::Mutex<std::io::BufWriter<std::io::Stdout>>,
    /// A FATAL message was shown: modprobe stops and exits 1, as kmod's log does.
    fatal: std::sync::atomic::AtomicBool,
    /// The plans --json prints at the end, in request order.
    plans: std::sync::Mutex<Vec<crate::json::PlanJson>>,
    /// The module directory as messages name it (made once: every missing name says it).
    dirname: String,
}

impl Ctx {
    /// Standard output (buffered), locked.
    pub fn stdout(&self) -> std::sync::MutexGuard<'_, std::io::BufWriter<std::io::Stdout>> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many modules may load at once: --jobs, else the number of CPUs; 1 (kmod's
    /// serial order) for dry runs.
    pub fn jobs(&self) -> usize {
        // Nothing is loaded (and the number of CPUs, which costs a dozen system calls
        // through the cgroup files, is not needed).
        if self.args.dry_run || self.args.show_depends {
            return 1;
        }
        self.args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    /// A resolver over this context.
    pub fn resolver(&self) -> Resolver<'_> {
        self.ctx.resolver()
    }

    /// The module directory, as messages name it.
    pub fn dirname(&self) -> &str {
        &self.dirname
    }

    /// A probe session on the running kernel with this run's flags.
    pub fn session(&self) -> Session<'_> {
        self.ctx.prober(
            LinuxKernel::new(self.ctx.host().clone(), self.ctx.generation()),
            ProbeSettings {
                flags: probe_flags(&self.args),
                jobs: self.jobs(),
            },
        )
    }

    /// kmod's LOG(): FATAL, or WARNING with -a (kmod lowers the priority for -a).
    /// A FATAL message ends modprobe with status 1, as kmod's log does (unless -q, which
    /// silences it and goes on): [`Ctx::fatal`] turns true and the callers return to main.
    pub fn log(&self, msg: impl crate::out::Message) {
        if self.args.all {
            self.error(Level::Warning, msg);
            return;
        }
        self.error(Level::Fatal, msg);
        if prio::CRIT <= self.args.log_level {
            self.fatal.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// True once a FATAL message was shown: the run must stop.
    pub fn fatal(&self) -> bool {
        self.fatal.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Prints a message in kmod's words at kmod's level, when the verbosity (-q, -v) lets
    /// that level through.
    pub fn error(&self, level: Level, msg: impl crate::out::Message) {
        if level.priority() <= self.args.log_level {
            crate::out::log("modprobe", level, msg);
        }
    }

    /// kmod prints each action (insmod/rmmod/install lines) with --show-depends or -v.
    pub fn show_actions(&self) -> bool {
        self.args.log_level > prio::WARNING
    }
}

/// Parses modprobe's arguments and opens the module directory and configuration.
fn context(raw: Vec<OsString>) -> Result<Ctx, i32> {
    let mut raw = raw;
    if let Ok(env) = std::env::var("MODPROBE_OPTIONS") {
        let extra: Vec<OsString> = env.split_whitespace().map(OsString::from).collect();
        raw.splice(1..1, extra);
    }
    let args: Args = match crate::parse_options_and_words::<Args>("modprobe", raw, 1) {
        Ok((a, m, words)) => Args {
            log_level: log_level(&m),
            args: words.unwrap_or(a.args),
            ..a
        },
        Err(code) => return Err(code),
    };
    if args.syslog {
        crate::out::open_syslog(c"modprobe");
    }
    Ok(Ctx::new(args, rprobe_load::HostPaths::from_env()))
}

impl Ctx {
    /// The run's state for `args` on the host `host`: the library context (kmod goes on
    /// without a module directory: every lookup then fails) and the buffered output.
    pub fn new(args: Args, host: rprobe_load::HostPaths) -> Ctx {
        let options = rprobe_context::Options {
            generation: crate::generation(),
            module_dir: PathBuf::from(module_dirname(&args)),
            config_paths: (!args.config.is_empty()).then(|| args.config.clone()),
            cmdline: match &args.kernel_cmdline {
                Some(f) => Cmdline::File(f.clone()),
                None => Cmdline::Host,
            },
            host,
        };
        let ctx = Context::new(options);
        Ctx {
            dirname: ctx.module_dir().to_string_lossy().into_owned(),
            ctx,
            args,
            fatal: std::sync::atomic::AtomicBool::new(false),
            plans: std::sync::Mutex::default(),
            out: std::sync::Mutex::new(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            )),
        }
    }
}

/// coldplug's work, as modprobe `-a -b` (with `args`' other switches) over `aliases`:
/// aliases no module claims are skipped quietly, the rest loaded together. Returns the
/// exit code.
pub fn run_coldplug(ctx: Ctx, aliases: &[String]) -> i32 {
    let mut session = ctx.session();
    let mut failed = false;
    for a in aliases {
        if ctx.ctx.lookup(a).is_ok_and(|m| !m.is_empty()) {
            failed |= !insert(&ctx, &mut session, a, "");
        }
        if ctx.fatal() {
            break;
        }
    }
    if !ctx.fatal() {
        failed |= !load_pending(&ctx, &mut session);
    }
    crate::out::check(std::io::Write::flush(&mut *ctx.stdout()));
    i32::from(failed || ctx.fatal())
}

/// Runs modprobe with `raw` (argv[0] first); returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    let ctx = match context(raw) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if ctx.args.version {
        crate::outln!(
            std::io::stdout(),
            "rprobe modprobe version {}",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    if !ctx.args.show_config && ctx.args.args.is_empty() {
        crate::out::log("modprobe", Level::Error, "missing parameters. See -h.");
        return 1;
    }
    // libkmod reports these while kmod_new reads the configuration, before modprobe sets
    // its verbosity: -q does not silence them, in either kmod.
    for n in &ctx.ctx.config().notes {
        match crate::generation() {
            // kmod 30's libkmod names its C source file and line, which rprobe has not;
            // rprobe says them as modprobe's own.
            Generation::Kmod30 => crate::out::log("modprobe", Level::Error, &n.text),
            // kmod 34's default logger: "libkmod: ERROR: FUNCTION: message".
            Generation::Kmod34 => crate::out::library_error(n.function, &n.text),
        }
    }
    if ctx.args.show_config {
        return show_config(&ctx);
    }
    if ctx.args.show_modversions || ctx.args.show_exports {
        let code = show_symbols(&ctx, &ctx.args.args[0], ctx.args.show_modversions);
        crate::out::check(std::io::Write::flush(&mut *ctx.stdout()));
        return code;
    }
    if ctx.args.remove {
        return remove_all(&ctx);
    }
    if ctx.args.json && !ctx.args.show_depends {
        crate::out::log(
            "modprobe",
            rprobe_index::log::Level::Error,
            "--json needs --show-depends.",
        );
        return 1;
    }
    // With -a every word is a name; else the first is and the rest are its options.
    let (names, opts) = if ctx.args.all {
        (&ctx.args.args[..], String::new())
    } else {
        (&ctx.args.args[..1], options_from_args(&ctx.args.args[1..]))
    };
    let mut session = ctx.session();
    let mut failed = false;
    for name in names {
        failed |= !insert(&ctx, &mut session, name, &opts);
        if ctx.fatal() {
            crate::out::check(std::io::Write::flush(&mut *ctx.stdout()));
            return 1;
        }
    }
    failed |= !load_pending(&ctx, &mut session);
    if ctx.args.json {
        crate::json::print(&*ctx.plans.lock().unwrap_or_else(|e| e.into_inner()));
    }
    crate::out::check(std::io::Write::flush(&mut *ctx.stdout()));
    drop(session);
    // The process ends here: its memory goes back with it, so the context's caches (a
    // parsed entry per module looked up) are not freed one by one.
    std::mem::forget(ctx);
    i32::from(failed)
}

fn show_config(ctx: &Ctx) -> i32 {
    use std::io::Write;
    let mut out = ctx.ctx.config().show().into_bytes();
    out.extend_from_slice(b"\n# End of configuration files. Dumping indexes now:\n\n");
    // Writing into memory cannot fail.
    let _ = ctx.ctx.dump_aliases(&mut out);
    crate::out::check(std::io::stdout().write_all(&out));
    0
}

/// `--show-modversions` (versions) or `--show-exports` on the module file `file`: one
/// "0x%08x<TAB>SYMBOL" line each, as kmod prints them. Returns the exit code.
fn show_symbols(ctx: &Ctx, file: &str, versions: bool) -> i32 {
    use rprobe_modfile::elf::ElfModule;
    let path = std::path::Path::new(file);
    if !rprobe_index::fsx::exists(path) {
        ctx.log(format_args!("Module {file} not found."));
        return 1;
    }
    let what = if versions { "modversions" } else { "symbols" };
    let list = rprobe_modfile::decompress::open(path).and_then(|m| {
        let elf = ElfModule::parse(path, &m.bytes)?;
        if versions {
            return elf.modversions();
        }
        let exports = elf.exports()?;
        if exports.is_empty() && elf.section("__ksymtab_strings")?.is_none() {
            return Ok(None);
        }
        Ok(Some(exports.into_iter().map(|e| (e.crc, e.name)).collect()))
    });
    match list {
        Ok(Some(list)) => {
            let mut out = ctx.stdout();
            for (crc, sym) in list {
                crate::outln!(out, "0x{crc:08x}\t{sym}");
            }
            0
        }
        Ok(None) => {
            let e = rprobe_index::error::errno_text(crate::generation().missing_section_errno());
            ctx.log(format_args!("could not get {what} of {file}: {e}"));
            1
        }
        Err(e) => {
            ctx.log(format_args!(
                "could not get {what} of {file}: {}",
                e.kmod_words()
            ));
            1
        }
    }
}

/// Looks `name` up and loads (or shows) each module it names. False on failure.
fn insert(ctx: &Ctx, session: &mut Session<'_>, name: &str, opts: &str) -> bool {
    let r = ctx.resolver();
    let paths = crate::generation().modprobe_takes_paths();
    let by_path = paths && (name.starts_with('/') || name.starts_with("./"));
    let found = if by_path {
        r.module_from_path(name).map(|m| vec![m]).map_err(|e| {
            let why = rprobe_index::error::io_text(&e);
            ctx.log(format_args!("Failed to get module from path {name}: {why}"));
        })
    } else {
        let looked = if paths {
            r.lookup_name(name)
        } else {
            r.lookup(name)
        };
        Ok(match looked {
            Ok(m) => m,
            Err(e) => {
                ctx.error(Level::Error, &e);
                Vec::new()
            }
        })
    };
    let Ok(mods) = found else {
        return false;
    };
    if mods.is_empty() {
        ctx.log(crate::out::Parts(&[
            "Module ",
            name,
            " not found in directory ",
            ctx.dirname(),
        ]));
        return false;
    }
    let mut ok = true;
    for m in mods {
        if ctx.args.resolve_alias {
            crate::outln!(ctx.stdout(), "{}", m.name);
            continue;
        }
        if ctx.ctx.blacklist_skips(&m, ctx.args.use_blacklist) {
            continue;
        }
        let steps = match r.plan(&m, opts, ctx.args.ignore_install) {
            Ok(s) => s,
            Err(e) => {
                ctx.error(Level::Error, &e);
                ok = false;
                continue;
            }
        };
        if ctx.args.show_depends && ctx.args.json {
            ctx.plans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(crate::json::PlanJson::new(name, &m, &steps));
            continue;
        }
        if ctx.args.show_depends {
            print_steps(ctx, &steps);
            continue;
        }
        let mut report = reporter(ctx);
        if let Err(e) = session.submit(m, steps, &mut ShellRunner, &mut report) {
            report_error(ctx, &e);
            ok = false;
        }
    }
    ok
}

/// Writes a step's line as kmod's --show-depends prints it, with its newline (the path's
/// bytes as they are), into `out`; nothing for a step kmod does not print.
fn write_step(out: &mut impl std::io::Write, s: &Step) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let (word, what): (&[u8], &[u8]) = match (&s.install, &s.module.path, s.module.builtin) {
        (Some(cmd), _, _) => (b"install ", cmd.as_bytes()),
        (None, Some(p), _) => (b"insmod ", p.as_os_str().as_bytes()),
        (None, None, true) => (b"builtin ", s.module.name.as_bytes()),
        _ => return Ok(()),
    };
    out.write_all(word)?;
    out.write_all(what)?;
    if s.install.is_some() || s.module.path.is_some() {
        out.write_all(b" ")?;
        out.write_all(s.options.as_bytes())?;
    }
    out.write_all(b"\n")
}

fn print_steps(ctx: &Ctx, steps: &[Step]) {
    let mut out = ctx.stdout();
    for s in steps {
        crate::out::check(write_step(&mut *out, s));
    }
}

/// The probe flags of this run.
fn probe_flags(a: &Args) -> ProbeFlags {
    ProbeFlags {
        dry_run: a.dry_run,
        first_time: a.first_time,
        ignore_commands: a.ignore_install,
        force_modversion: a.force || a.force_modversion,
        force_vermagic: a.force || a.force_vermagic,
        force_remove: a.force,
        userspace_decompress: std::env::var_os("RPROBE_USERSPACE_DECOMPRESS").is_some(),
        remove_holders: a.remove_holders,
        // kmod's LOG() of these ends modprobe, unless -a lowers it to a warning or -q
        // hides it.
        stop_at_state_errors: !a.all && prio::CRIT <= a.log_level,
        // kmod: an unparsable -w value waits 0 ms but still skips the in-use check.
        wait: a
            .wait
            .as_deref()
            .map(|w| std::time::Duration::from_millis(w.parse().unwrap_or(0))),
    }
}

/// kmod's words for an errno from init_module; for a module file that cannot be read,
/// libkmod's errno in kmod's words, then the file and what is wrong with it in parentheses.
fn insert_error(e: &rprobe_load::Error) -> String {
    use nix::errno::Errno;
    if let rprobe_load::Error::Read(r) = e {
        return r.kmod_words_naming_file();
    }
    match e.errno() {
        Some(Errno::EEXIST) => "Module already in kernel".into(),
        Some(Errno::ENOENT) => "Unknown symbol in module, or unknown parameter (see dmesg)".into(),
        Some(e) => rprobe_index::error::errno_text(e),
        None => e.to_string(),
    }
}

/// Prints a probe failure in kmod's words and at kmod's level.
fn report_error(ctx: &Ctx, e: &ProbeError) {
    match e {
        e if e.is_state_error() => ctx.log(e),
        ProbeError::Insert { name, source } => {
            if let rprobe_load::Error::Read(r) = source {
                if let Some((_, line)) = r.library_words() {
                    ctx.error(Level::Error, line);
                }
            }
            ctx.error(
                Level::Error,
                format_args!("could not insert '{name}': {}", insert_error(source)),
            )
        }
        _ => ctx.error(Level::Error, e),
    }
}

/// The probe's progress: -v lines on stdout, failures that do not stop it on stderr.
fn reporter(ctx: &Ctx) -> impl FnMut(Event) + Send + '_ {
    move |ev| match ev {
        Event::Step(s) => {
            if ctx.show_actions() {
                let mut out = ctx.stdout();
                crate::out::check(write_step(&mut *out, s));
                crate::out::check(std::io::Write::flush(&mut *out));
            }
        }
        Event::Remove(name) => {
            if ctx.show_actions() {
                let mut out = ctx.stdout();
                crate::outln!(out, "rmmod {name}");
                crate::out::check(std::io::Write::flush(&mut *out));
            }
        }
        Event::Error(e) => report_error(ctx, &e),
    }
}

/// Loads the plans queued for parallel loading, all at once. False on any failure.
pub fn load_pending(ctx: &Ctx, session: &mut Session<'_>) -> bool {
    let mut report = reporter(ctx);
    let errors = session.finish(&mut ShellRunner, &mut report);
    for e in &errors {
        report_error(ctx, e);
    }
    errors.is_empty()
}

/// Removes every module named on the command line. Returns the exit code.
fn remove_all(ctx: &Ctx) -> i32 {
    let mut code = 0;
    let mut session = ctx.session();
    for name in &ctx.args.args {
        let mods = ctx.ctx.lookup(name).unwrap_or_default();
        if mods.is_empty() {
            ctx.log(format_args!("Module {name} not found."));
            code = 1;
        }
        for m in mods {
            let mut report = reporter(ctx);
            if let Err(e) = session.remove(&m, &mut ShellRunner, &mut report) {
                report_error(ctx, &e);
                code = 1;
            }
            if ctx.fatal() {
                break;
            }
        }
        if ctx.fatal() {
            return 1;
        }
    }
    code
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
