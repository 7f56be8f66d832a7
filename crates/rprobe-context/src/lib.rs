//! rprobe-context: one owning object over the plumbing crates, as kmod's `struct kmod_ctx`
//! is over libkmod's parts. A [`Context`] holds the module directory and its indexes
//! (opened once, reloaded on demand), the configuration (modprobe.d, the module
//! directory's softdep and weakdep files, the kernel command line), where the running
//! kernel's state is read ([`HostPaths`]) and a log sink with a priority. It has no
//! borrowed lifetimes: keep it across calls, or send it to another thread.
//!
//! Every tool, `why`, `graph`, coldplug and the initramfs builder take their state from a
//! context; the rules kmod keeps in its library live here as methods: lookups, plans,
//! blacklist filtering ([`Context::blacklist_skips`]), a module's state with the built-in
//! rule ([`Context::initstate`]), the index dump behind `modprobe -c`
//! ([`Context::dump_index`]), resource validation ([`Context::validate`]), and probing,
//! serial or parallel behind one call ([`Context::prober`]).

mod probe;

use std::path::{Path, PathBuf};

use rprobe_index::generation::Generation;
use rprobe_index::index::{IndexKind, ModuleDir, Trie};
pub use rprobe_index::log::Level;
pub use rprobe_load::host::HostPaths;
use rprobe_load::InitState;
use rprobe_resolve::{Config, Module, Resolver, Step};

pub use probe::{ProbeSettings, Prober};

/// The one error type of rprobe-context.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An index could not be read.
    #[error(transparent)]
    Index(#[from] rprobe_index::Error),
    /// A lookup or plan failed.
    #[error(transparent)]
    Resolve(#[from] rprobe_resolve::Error),
}

/// Result with rprobe-context's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the kernel command line's module options come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Cmdline {
    /// The host's (`/proc/cmdline`, or `RPROBE_KERNEL_CMDLINE`, through [`HostPaths`]),
    /// as modprobe reads it.
    #[default]
    Host,
    /// This file (modprobe's `--kernel-cmdline`, tests).
    File(PathBuf),
    /// Not read (why, graph, initramfs builds for another system).
    None,
}

/// What a context is opened on. Switches that change how a tool prints stay with the
/// tool; this is the data kmod_new takes (the module directory and configuration paths)
/// plus what rprobe makes explicit.
#[derive(Clone, Debug)]
pub struct Options {
    /// Which kmod to behave as.
    pub generation: Generation,
    /// The module directory (lib/modules/RELEASE under the root); see
    /// [`rprobe_index::moddir::tool_module_dir`].
    pub module_dir: PathBuf,
    /// Configuration files or directories; `None`: the generation's default directories.
    pub config_paths: Option<Vec<PathBuf>>,
    /// The kernel command line.
    pub cmdline: Cmdline,
    /// Where the running kernel's state is read.
    pub host: HostPaths,
}

impl Options {
    /// Options for `generation` on the module directory `-d ROOT` and `-S RELEASE` name
    /// (the running kernel's when `None`), default configuration, the host's command
    /// line and paths (with their RPROBE_* overrides).
    pub fn new(generation: Generation, root: Option<&str>, release: Option<&str>) -> Options {
        Options {
            generation,
            module_dir: PathBuf::from(rprobe_index::moddir::tool_module_dir(root, release)),
            config_paths: None,
            cmdline: Cmdline::Host,
            host: HostPaths::from_env(),
        }
    }
}

/// A log sink: receives each message the context lets through its priority.
pub type LogFn = Box<dyn Fn(Level, &str) + Send + Sync>;

/// What [`Context::validate`] found, as kmod_validate_resources reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resources {
    /// Nothing changed.
    Ok,
    /// An index file changed: reload the indexes ([`Context::reload`]).
    MustReload,
    /// A configuration file changed: open a new context.
    MustRecreate,
}

/// A file's stamp as kmod keeps it for validation: its modification time in
/// microseconds, or `None` when stat(2) fails.
type Stamp = Option<u64>;

fn stamp(p: &Path) -> Stamp {
    rprobe_index::fsx::stat(p)
        .ok()
        .map(|s| (s.mtime.0 as u64).wrapping_mul(1_000_000) + (s.mtime.1 as u64) / 1000)
}

/// The binary indexes kmod_load_resources opens, in kmod's order (enum kmod_index), with
/// whether a failure to open one is tolerated (modules.builtin.alias.bin, which older
/// module directories lack).
pub const RESOURCE_INDEXES: [(IndexKind, bool); 5] = [
    (IndexKind::Dep, false),
    (IndexKind::Alias, false),
    (IndexKind::Symbols, false),
    (IndexKind::BuiltinAlias, true),
    (IndexKind::Builtin, false),
];

/// The file of a binary index in a module directory.
fn bin_path(dir: &Path, kind: IndexKind) -> PathBuf {
    dir.join(format!("{}.bin", kind.file_name()))
}

/// The module directory's indexes, or, when it cannot be opened, an empty stand-in and the
/// error (kmod goes on without one).
fn open_dir(dir: &Path) -> (ModuleDir, Option<rprobe_index::Error>) {
    match ModuleDir::open(dir) {
        Ok(d) => (d, None),
        Err(e) => (ModuleDir::empty(dir), Some(e)),
    }
}

/// The library context: see the crate documentation.
pub struct Context {
    options: Options,
    dir: ModuleDir,
    dir_error: Option<rprobe_index::Error>,
    config: Config,
    log: Option<LogFn>,
    priority: Level,
    /// The stamps of the indexes kmod_load_resources loaded (`None` before it ran, or
    /// after kmod_unload_resources): only loaded indexes are validated, as in kmod.
    index_stamps: Option<Vec<Stamp>>,
    /// The configuration paths that existed when the context was opened, with their
    /// stamps.
    config_stamps: Vec<(PathBuf, u64)>,
}

impl Context {
    /// Opens a context as kmod_new does: a module directory that cannot be opened leaves
    /// a context whose lookups find nothing ([`Context::dir_error`] says why), as kmod's
    /// tools go on without one.
    pub fn new(options: Options) -> Context {
        let (dir, dir_error) = open_dir(&options.module_dir);
        let cmdline = match &options.cmdline {
            Cmdline::Host => Some(options.host.cmdline.clone()),
            Cmdline::File(f) => Some(f.clone()),
            Cmdline::None => None,
        };
        let config = Config::load(
            options.generation,
            options.config_paths.as_deref(),
            Some(&options.module_dir),
            cmdline.as_deref(),
        );
        let mut ctx = Context {
            dir,
            dir_error,
            config,
            log: None,
            priority: Level::Error,
            index_stamps: None,
            config_stamps: Vec::new(),
            options,
        };
        ctx.config_stamps = ctx
            .config_paths()
            .into_iter()
            .filter_map(|p| stamp(&p).map(|s| (p, s)))
            .collect();
        ctx
    }

    /// [`Context::new`], failing with the module directory's error when it cannot be
    /// opened (why, graph and the initramfs builder need one).
    pub fn open(options: Options) -> rprobe_index::Result<Context> {
        let mut ctx = Context::new(options);
        match ctx.dir_error.take() {
            Some(e) => Err(e),
            None => Ok(ctx),
        }
    }

    /// The options the context was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Which kmod the context behaves as.
    pub fn generation(&self) -> Generation {
        self.options.generation
    }

    /// The module directory.
    pub fn module_dir(&self) -> &Path {
        &self.options.module_dir
    }

    /// Why the module directory could not be opened, when it could not.
    pub fn dir_error(&self) -> Option<&rprobe_index::Error> {
        self.dir_error.as_ref()
    }

    /// The module directory's indexes.
    pub fn dir(&self) -> &ModuleDir {
        &self.dir
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the running kernel's state is read.
    pub fn host(&self) -> &HostPaths {
        &self.options.host
    }

    /// Sets the log sink (kmod_set_log_fn); `None` drops messages.
    pub fn set_log_fn(&mut self, log: Option<LogFn>) {
        self.log = log;
    }

    /// Sets the most verbose level the sink receives (kmod_set_log_priority).
    pub fn set_log_priority(&mut self, p: Level) {
        self.priority = p;
    }

    /// The most verbose level the sink receives.
    pub fn log_priority(&self) -> Level {
        self.priority
    }

    /// Sends `msg` to the sink when `level` is within the priority.
    pub fn log(&self, level: Level, msg: &str) {
        if level <= self.priority {
            if let Some(f) = &self.log {
                f(level, msg);
            }
        }
    }

    /// A resolver over the context's indexes and configuration.
    pub fn resolver(&self) -> Resolver<'_> {
        Resolver {
            dir: &self.dir,
            config: &self.config,
        }
    }

    /// Looks a name, alias, `symbol:NAME` or module path up, in kmod's order.
    pub fn lookup(&self, given: &str) -> Result<Vec<Module>> {
        Ok(self.resolver().lookup(given)?)
    }

    /// The load plan of one looked-up module (see [`Resolver::plan`]).
    pub fn plan(
        &self,
        m: &Module,
        extra_options: &str,
        ignore_commands: bool,
    ) -> Result<Vec<Step>> {
        Ok(self.resolver().plan(m, extra_options, ignore_commands)?)
    }

    /// modprobe's blacklist rule (kmod's KMOD_PROBE_APPLY_BLACKLIST and
    /// KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY): a blacklisted module is skipped when it was
    /// found through an alias, or always when `always` (modprobe -b).
    pub fn blacklist_skips(&self, m: &Module, always: bool) -> bool {
        self.config.is_blacklisted(&m.name) && (always || m.alias.is_some())
    }

    /// kmod_module_apply_filter with KMOD_FILTER_BLACKLIST: the modules that are not
    /// blacklisted, in order.
    pub fn without_blacklisted(&self, mods: Vec<Module>) -> Vec<Module> {
        mods.into_iter()
            .filter(|m| !self.config.is_blacklisted(&m.name))
            .collect()
    }

    /// True when modules.builtin lists the module.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.dir.builtin(name).unwrap_or(false)
    }

    /// A module's state as kmod_module_get_initstate decides it: built in (modules.builtin)
    /// first, then /sys/module. `None`: not in the kernel.
    pub fn initstate(&self, name: &str) -> Option<InitState> {
        self.options.host.initstate(name, self.is_builtin(name))
    }

    /// kmod_dump_index for the alias and symbol indexes, as `modprobe -c` prints them:
    /// `alias KEY VALUE` lines, keys in byte order. An index that cannot be read adds
    /// nothing.
    pub fn dump_aliases(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for f in ["modules.alias.bin", "modules.symbols.bin"] {
            for (k, v) in self.dump_index(f).unwrap_or_default() {
                writeln!(out, "alias {k} {v}")?;
            }
        }
        Ok(())
    }

    /// Every (key, value) of one of the module directory's binary indexes, by file name
    /// (`modules.dep.bin`, ...): kmod_dump_index's data.
    pub fn dump_index(&self, file: &str) -> Result<Vec<(String, String)>> {
        let t = Trie::open(&self.options.module_dir.join(file))?;
        Ok(t.entries()?
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect())
    }

    /// The configuration paths kmod stamps: the directories (or files) it was told to
    /// read, or the generation's default directories. The files inside and the module
    /// directory's modules.softdep are not stamped, as in kmod.
    fn config_paths(&self) -> Vec<PathBuf> {
        match &self.options.config_paths {
            Some(p) => p.clone(),
            None => rprobe_index::moddir::config_dirs("modprobe.d", self.options.generation),
        }
    }

    fn index_stamps_now(&self) -> Vec<Stamp> {
        RESOURCE_INDEXES
            .iter()
            .map(|(k, _)| stamp(&bin_path(&self.options.module_dir, *k)))
            .collect()
    }

    /// kmod_validate_resources: whether the files the context read have changed since,
    /// as kmod decides it. A configuration path that existed when the context was opened
    /// and now cannot be stat'ed, or whose modification time changed, means the context
    /// must be recreated (a file edited in place inside a directory is not noticed, as
    /// kmod does not notice it); an index loaded by [`Context::load_resources`] that
    /// changed means the indexes must be reloaded. Indexes that were not loaded are not
    /// checked.
    pub fn validate(&self) -> Resources {
        if self.config_stamps.iter().any(|(p, s)| stamp(p) != Some(*s)) {
            return Resources::MustRecreate;
        }
        if let Some(loaded) = &self.index_stamps {
            let now = self.index_stamps_now();
            if loaded
                .iter()
                .zip(&now)
                .any(|(was, is)| was.is_some() && was != is)
            {
                return Resources::MustReload;
            }
        }
        Resources::Ok
    }

    /// kmod_load_resources: (re)opens the indexes and marks them loaded, so that
    /// [`Context::validate`] checks them. Fails with the first required index that
    /// cannot be opened (see [`RESOURCE_INDEXES`]), leaving nothing loaded.
    pub fn load_resources(&mut self) -> rprobe_index::Result<()> {
        // A fresh directory whose indexes are opened now, each once, and kept.
        let dir = match ModuleDir::open(&self.options.module_dir) {
            Ok(d) => d,
            Err(e) => {
                self.index_stamps = None;
                return Err(e);
            }
        };
        for (kind, optional) in RESOURCE_INDEXES {
            if let Err(e) = dir.open_bin(kind) {
                if !optional {
                    self.index_stamps = None;
                    return Err(e);
                }
            }
        }
        self.dir = dir;
        self.dir_error = None;
        self.index_stamps = Some(self.index_stamps_now());
        Ok(())
    }

    /// kmod_unload_resources: the indexes are no longer validated.
    pub fn unload_resources(&mut self) {
        self.index_stamps = None;
    }

    /// True after [`Context::load_resources`] (until [`Context::unload_resources`]).
    pub fn resources_loaded(&self) -> bool {
        self.index_stamps.is_some()
    }

    /// Reopens the indexes (kmod_unload_resources then kmod_load_resources): lookups
    /// after this read the files as they are now, and validation checks them.
    pub fn reload(&mut self) {
        (self.dir, self.dir_error) = open_dir(&self.options.module_dir);
        self.index_stamps = Some(self.index_stamps_now());
    }
}

#[cfg(test)]
mod tests;
