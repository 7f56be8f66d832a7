//! The probe API: executing a plan from rprobe-resolve against a [`Kernel`], as kmod's
//! libkmod does in kmod_module_probe_insert_module and modprobe's removal path. Nothing here
//! prints: every action is reported through a callback, non-fatal failures as
//! [`Event::Error`], and the failure that stops a request is returned as a [`ProbeError`].
//! Install and remove commands run through an injected [`CommandRunner`].

use std::time::{Duration, Instant};

use nix::errno::Errno;
use rprobe_resolve::{Module, Resolver, Step};

use crate::{Error, InitState, Kernel, LoadFlags};

/// How a request is carried out (modprobe's flags, as plain values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeFlags {
    /// -n: report every action, perform none.
    pub dry_run: bool,
    /// --first-time: a module already in (or, removing, not in) the kernel is an error.
    pub first_time: bool,
    /// -i: install and remove commands are ignored (the caller planned without them).
    pub ignore_commands: bool,
    /// --force-modversion (or -f): load ignoring symbol versions.
    pub force_modversion: bool,
    /// --force-vermagic (or -f): load ignoring the version magic.
    pub force_vermagic: bool,
    /// -f when removing: remove even when the kernel would refuse (O_TRUNC).
    pub force_remove: bool,
    /// Decompress in user space instead of handing a compressed file to the kernel.
    pub userspace_decompress: bool,
    /// --remove-holders: remove the modules holding a module before it.
    pub remove_holders: bool,
    /// -w: how long to wait for a module in use to be released (`Some` also skips the
    /// in-use check before removing, as kmod does).
    pub wait: Option<Duration>,
    /// Stop a removal at the first module-state failure (not in the kernel, built in, in
    /// use) that kmod's library would report and go on after: kmod's modprobe logs these
    /// at its FATAL level, which ends the process, unless -a or -q lowers or hides it.
    pub stop_at_state_errors: bool,
}

impl ProbeFlags {
    /// The flags each load passes to the kernel.
    pub fn load_flags(&self) -> LoadFlags {
        LoadFlags {
            ignore_modversions: self.force_modversion,
            ignore_vermagic: self.force_vermagic,
            userspace_decompress: self.userspace_decompress,
        }
    }
}

/// Which kind of configured command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandKind {
    /// An `install` command, run instead of loading.
    Install,
    /// A `remove` command, run instead of removing.
    Remove,
}

impl CommandKind {
    /// The word kmod uses for it ("install" or "remove").
    pub fn word(self) -> &'static str {
        match self {
            CommandKind::Install => "install",
            CommandKind::Remove => "remove",
        }
    }
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandFailure {
    /// It ran and exited with this status (-1 when killed by a signal).
    Status(i32),
    /// It could not be started.
    Spawn(String),
}

/// Runs configured install/remove commands.
pub trait CommandRunner {
    /// Runs `command` for `module`.
    fn run(&mut self, kind: CommandKind, module: &str, command: &str)
        -> Result<(), CommandFailure>;
}

/// Runs commands with /bin/sh -c, MODPROBE_MODULE set to the module, as kmod does.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShellRunner;

impl CommandRunner for ShellRunner {
    fn run(&mut self, _: CommandKind, module: &str, command: &str) -> Result<(), CommandFailure> {
        match std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .env("MODPROBE_MODULE", module)
            .status()
        {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(CommandFailure::Status(s.code().unwrap_or(-1))),
            Err(e) => Err(CommandFailure::Spawn(e.to_string())),
        }
    }
}

/// Why a request (or one part of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// --first-time and the module is already in the kernel.
    #[error("could not insert '{0}': Module already in kernel")]
    AlreadyLoaded(String),
    /// --first-time removal of a module that is not loaded.
    #[error("Module {0} is not in kernel.")]
    NotInKernel(String),
    /// Removal of a built-in module.
    #[error("Module {0} is builtin.")]
    Builtin(String),
    /// Removal of a module others use.
    #[error("Module {0} is in use.")]
    InUse(String),
    /// The kernel refused to load a module (or its file could not be read).
    #[error("could not insert '{name}': {source}")]
    Insert {
        /// The module.
        name: String,
        /// What went wrong.
        #[source]
        source: Error,
    },
    /// The kernel refused to remove a module.
    #[error("could not remove '{name}': {}", rprobe_index::error::errno_text(*.errno))]
    Remove {
        /// The module.
        name: String,
        /// What the kernel said.
        errno: Errno,
    },
    /// An install or remove command failed.
    #[error("Error running {} command '{command}' for module {module}: {}", .kind.word(), match .failure { CommandFailure::Status(s) => format!("retcode {s}"), CommandFailure::Spawn(e) => e.clone() })]
    Command {
        /// Install or remove.
        kind: CommandKind,
        /// The module.
        module: String,
        /// The command as run.
        command: String,
        /// How it failed.
        failure: CommandFailure,
    },
}

impl ProbeError {
    /// A module-state failure (not in the kernel, built in, in use): what kmod's modprobe
    /// logs at its FATAL level.
    pub fn is_state_error(&self) -> bool {
        matches!(
            self,
            ProbeError::NotInKernel(_) | ProbeError::Builtin(_) | ProbeError::InUse(_)
        )
    }
}

/// What the probe does or reports, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A plan step about to be carried out (loaded, or its install command run); with -n
    /// it is only reported.
    Step(&'a Step),
    /// A module about to be removed with delete_module (also reported with -n).
    Remove(&'a str),
    /// A failure that does not stop the request (kmod prints it and goes on).
    Error(ProbeError),
}

/// In the kernel as kmod counts it for loading: built in (the tree's modules.builtin, or
/// the kernel's own word) or live. A "coming" module is not: kmod tries it.
fn in_kernel(k: &dyn Kernel, m: &Module) -> bool {
    InitState::counts_as_loaded(InitState::of(m.builtin, || k.initstate(&m.name)))
}

/// Carries out the plan `steps` for the requested module `m`: steps already in the kernel
/// are skipped, install commands run, the rest loaded in order. A failing required step
/// stops the plan; a failing optional one (a soft dependency) does not.
pub fn insert(
    k: &mut dyn Kernel,
    m: &Module,
    steps: &[Step],
    flags: &ProbeFlags,
    runner: &mut dyn CommandRunner,
    report: &mut dyn FnMut(Event),
) -> Result<(), ProbeError> {
    if in_kernel(k, m) {
        if flags.first_time {
            return Err(ProbeError::AlreadyLoaded(m.name.clone()));
        }
        return Ok(());
    }
    let load_flags = flags.load_flags();
    for s in steps {
        if in_kernel(k, &s.module) {
            if flags.first_time && s.module.name == m.name {
                return Err(ProbeError::AlreadyLoaded(m.name.clone()));
            }
            continue;
        }
        report(Event::Step(s));
        if flags.dry_run {
            continue;
        }
        if let Some(cmd) = s.install_command() {
            if let Err(failure) = runner.run(CommandKind::Install, &s.module.name, &cmd) {
                let e = ProbeError::Command {
                    kind: CommandKind::Install,
                    module: s.module.name.clone(),
                    command: cmd,
                    failure,
                };
                if s.required {
                    return Err(e);
                }
                report(Event::Error(e));
            }
        } else if let Some(p) = &s.module.path {
            match k.load(&s.module.name, p, s.options.trim_end(), load_flags) {
                Ok(()) => {}
                Err(e) if e.errno() == Some(Errno::EEXIST) => {}
                Err(source) if s.required => {
                    return Err(ProbeError::Insert {
                        name: s.module.name.clone(),
                        source,
                    })
                }
                Err(_) => {}
            }
        }
    }
    Ok(())
}

/// Removes `m` as kmod's modprobe -r does: post-softdeps, holders (with
/// [`ProbeFlags::remove_holders`]), the module itself (refused while in use), the
/// dependencies nothing uses any more, then pre-softdeps.
pub fn remove(
    k: &mut dyn Kernel,
    r: &Resolver,
    m: &Module,
    flags: &ProbeFlags,
    runner: &mut dyn CommandRunner,
    report: &mut dyn FnMut(Event),
) -> Result<(), ProbeError> {
    let mut p = Remover {
        k,
        r,
        flags,
        runner,
        report,
    };
    p.remove_one(m, flags.remove_holders, false)
}

struct Remover<'a, 'b> {
    k: &'a mut dyn Kernel,
    r: &'a Resolver<'b>,
    flags: &'a ProbeFlags,
    runner: &'a mut dyn CommandRunner,
    report: &'a mut dyn FnMut(Event),
}

impl Remover<'_, '_> {
    /// Reports a failure that does not stop the caller, unless the flags make it stop
    /// ([`ProbeFlags::stop_at_state_errors`]): then it is returned.
    fn ignore(&mut self, r: Result<(), ProbeError>) -> Result<(), ProbeError> {
        match r {
            Err(e) if self.flags.stop_at_state_errors && e.is_state_error() => Err(e),
            Err(e) => {
                (self.report)(Event::Error(e));
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    fn remove_one(
        &mut self,
        m: &Module,
        holders: bool,
        ignore_builtin: bool,
    ) -> Result<(), ProbeError> {
        let (pre, post, cmd) = if self.flags.ignore_commands {
            (Vec::new(), Vec::new(), None)
        } else {
            let (pre, post) = self.r.softdeps(&m.name).unwrap_or_default();
            (
                pre,
                post,
                self.r.config.remove_for(&m.name).map(str::to_string),
            )
        };
        if cmd.is_none() {
            // kmod asks the tree's modules.builtin first, then sysfs.
            let state = InitState::of(m.builtin, || self.k.initstate(&m.name));
            match state {
                None if self.flags.first_time => {
                    return Err(ProbeError::NotInKernel(m.name.clone()))
                }
                None => return Ok(()),
                Some(InitState::Builtin) if ignore_builtin => return Ok(()),
                Some(InitState::Builtin) => return Err(ProbeError::Builtin(m.name.clone())),
                _ => {}
            }
        }
        for p in post.iter().rev() {
            let r = self.remove_one(p, false, true);
            self.ignore(r)?;
        }
        if holders {
            for h in self.k.holders(&m.name).iter().rev() {
                let hm = Module {
                    name: h.clone(),
                    alias: None,
                    path: None,
                    builtin: false,
                    install_only: false,
                };
                self.remove_one(&hm, false, true)?;
            }
        }
        if cmd.is_none() && self.flags.wait.is_none() && self.k.refcnt(&m.name).unwrap_or(0) > 0 {
            return Err(ProbeError::InUse(m.name.clone()));
        }
        match &cmd {
            None => self.delete(&m.name)?,
            Some(c) if !self.flags.dry_run => {
                if let Err(failure) = self.runner.run(CommandKind::Remove, &m.name, c) {
                    return Err(ProbeError::Command {
                        kind: CommandKind::Remove,
                        module: m.name.clone(),
                        command: c.clone(),
                        failure,
                    });
                }
            }
            Some(_) => {}
        }
        if cmd.is_none() {
            for d in self.r.dependencies(m).unwrap_or_default() {
                if self.k.refcnt(&d.name) == Some(0) {
                    let r = self.delete(&d.name);
                    self.ignore(r)?;
                }
            }
        }
        for p in pre.iter().rev() {
            let r = self.remove_one(p, false, true);
            self.ignore(r)?;
        }
        Ok(())
    }

    /// delete_module with kmod's waiting and its treatment of a module already gone.
    fn delete(&mut self, name: &str) -> Result<(), ProbeError> {
        (self.report)(Event::Remove(name));
        if self.flags.dry_run {
            return Ok(());
        }
        let wait = self.flags.wait.unwrap_or_default();
        let start = Instant::now();
        loop {
            let errno = match self.k.remove(name, self.flags.force_remove) {
                Ok(()) => return Ok(()),
                Err(e) => e.errno().unwrap_or(Errno::EIO),
            };
            if errno == Errno::EAGAIN && start.elapsed() < wait {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            if errno == Errno::ENOENT && !self.flags.first_time {
                return Ok(());
            }
            return Err(ProbeError::Remove {
                name: name.to_string(),
                errno,
            });
        }
    }
}
