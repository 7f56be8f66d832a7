//! Executing modprobe's load and remove plans against the kernel (rprobe-load's side of
//! modprobe). The resolver side (modprobe.rs) parses the command line and builds the plans;
//! this file runs them, with kmod's messages.

use std::process::Command;

use rprobe_load::{InitState, Kernel, LinuxKernel, LoadFlags};
use rprobe_resolve::{Module, Step};

use crate::modprobe::Ctx;

/// The kernel to use: the running one.
fn kernel() -> LinuxKernel {
    LinuxKernel::default()
}

/// In the kernel as kmod counts it: live, coming or built in.
fn in_kernel(k: &dyn Kernel, m: &Module) -> bool {
    m.builtin
        || matches!(
            k.initstate(&m.name),
            Some(InitState::Live | InitState::Coming | InitState::Builtin)
        )
}

/// kmod's words for an errno from init_module.
pub fn insert_error(errno: Option<nix::errno::Errno>, other: &str) -> String {
    use nix::errno::Errno;
    match errno {
        Some(Errno::EEXIST) => "Module already in kernel".into(),
        Some(Errno::ENOENT) => "Unknown symbol in module, or unknown parameter (see dmesg)".into(),
        Some(e) => e.desc().to_string(),
        None => other.to_string(),
    }
}

fn run_command(ctx: &Ctx, what: &str, name: &str, cmd: &str) -> bool {
    let st = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("MODPROBE_MODULE", name)
        .status();
    match st {
        Ok(s) if s.success() => true,
        Ok(s) => {
            ctx.error(
                "ERROR",
                &format!(
                    "Error running {what} command '{cmd}' for module {name}: retcode {}",
                    s.code().unwrap_or(-1)
                ),
            );
            false
        }
        Err(e) => {
            ctx.error(
                "ERROR",
                &format!("Error running {what} command '{cmd}' for module {name}: {e}"),
            );
            false
        }
    }
}

/// Loads the steps of one module's plan. False on failure.
pub fn load(ctx: &Ctx, m: &Module, steps: &[Step]) -> bool {
    let mut k = kernel();
    let a = &ctx.args;
    if in_kernel(&k, m) {
        if a.first_time {
            ctx.error(
                "ERROR",
                &format!("could not insert '{}': Module already in kernel", m.name),
            );
            return false;
        }
        return true;
    }
    let flags = LoadFlags {
        ignore_modversions: a.force || a.force_modversion,
        ignore_vermagic: a.force || a.force_vermagic,
        userspace_decompress: std::env::var_os("RPROBE_USERSPACE_DECOMPRESS").is_some(),
    };
    for s in steps {
        if in_kernel(&k, &s.module) {
            if a.first_time && s.module.name == m.name {
                ctx.error(
                    "ERROR",
                    &format!("could not insert '{}': Module already in kernel", m.name),
                );
                return false;
            }
            continue;
        }
        if a.verbose > 0 {
            if let Some(l) = crate::modprobe::step_line(s) {
                println!("{l}");
            }
        }
        if a.dry_run {
            continue;
        }
        let ok = if let Some(cmd) = s.install_command() {
            run_command(ctx, "install", &s.module.name, &cmd)
        } else if let Some(p) = &s.module.path {
            match k.load(&s.module.name, p, s.options.trim_end(), flags) {
                Ok(()) => true,
                Err(e) if e.errno() == Some(nix::errno::Errno::EEXIST) => true,
                Err(e) => {
                    if s.required {
                        ctx.error(
                            "ERROR",
                            &format!(
                                "could not insert '{}': {}",
                                s.module.name,
                                insert_error(e.errno(), &e.to_string())
                            ),
                        );
                    }
                    !s.required
                }
            }
        } else {
            true
        };
        if !ok && s.required {
            return false;
        }
    }
    true
}

/// Removes every module named on the command line. Returns the exit code.
pub fn remove_all(ctx: &Ctx) -> i32 {
    let mut code = 0;
    let mut k = kernel();
    for name in &ctx.args.args {
        let mods = crate::modprobe::lookup_for_removal(ctx, name);
        if mods.is_empty() {
            ctx.log(&format!("Module {name} not found."));
            code = 1;
            continue;
        }
        for m in mods {
            if !remove_one(ctx, &mut k, &m, ctx.args.remove_holders, false) {
                code = 1;
            }
        }
    }
    code
}

fn do_remove(ctx: &Ctx, k: &mut dyn Kernel, name: &str) -> Result<(), nix::errno::Errno> {
    if ctx.args.verbose > 0 {
        println!("rmmod {name}");
    }
    if ctx.args.dry_run {
        return Ok(());
    }
    let wait_ms: u64 = ctx
        .args
        .wait
        .as_deref()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    let start = std::time::Instant::now();
    loop {
        match k.remove(name, ctx.args.force) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let errno = e.errno().unwrap_or(nix::errno::Errno::EIO);
                if errno == nix::errno::Errno::EAGAIN
                    && (start.elapsed().as_millis() as u64) < wait_ms
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
                if errno == nix::errno::Errno::ENOENT && !ctx.args.first_time {
                    return Ok(());
                }
                ctx.error(
                    "ERROR",
                    &format!("could not remove '{name}': {}", errno.desc()),
                );
                return Err(errno);
            }
        }
    }
}

/// kmod's removal of one module: post-softdeps, holders (with --remove-holders), the
/// module (refused while in use), then dependencies nothing uses any more, then
/// pre-softdeps.
fn remove_one(
    ctx: &Ctx,
    k: &mut dyn Kernel,
    m: &Module,
    holders: bool,
    ignore_builtin: bool,
) -> bool {
    let r = ctx.resolver();
    let (pre, post, cmd) = if ctx.args.ignore_install {
        (Vec::new(), Vec::new(), None)
    } else {
        let (pre, post) = r.softdeps(&m.name).unwrap_or_default();
        (
            pre,
            post,
            ctx.config.remove_for(&m.name).map(str::to_string),
        )
    };
    if cmd.is_none() {
        match k.initstate(&m.name) {
            None => {
                if ctx.args.first_time {
                    ctx.log(&format!("Module {} is not in kernel.", m.name));
                    return false;
                }
                return true;
            }
            Some(InitState::Builtin) => {
                if ignore_builtin {
                    return true;
                }
                ctx.log(&format!("Module {} is builtin.", m.name));
                return false;
            }
            _ => {}
        }
    }
    for p in post.iter().rev() {
        remove_one(ctx, k, p, false, true);
    }
    if holders {
        for h in k.holders(&m.name).iter().rev() {
            let hm = Module {
                name: h.clone(),
                alias: None,
                path: None,
                builtin: false,
                install_only: false,
            };
            if !remove_one(ctx, k, &hm, false, true) {
                return false;
            }
        }
    }
    if cmd.is_none() && ctx.args.wait.is_none() && k.refcnt(&m.name).unwrap_or(0) > 0 {
        ctx.log(&format!("Module {} is in use.", m.name));
        return false;
    }
    let ok = match &cmd {
        None => do_remove(ctx, k, &m.name).is_ok(),
        Some(c) => {
            if ctx.args.dry_run {
                true
            } else {
                run_command(ctx, "remove", &m.name, c)
            }
        }
    };
    if !ok {
        return false;
    }
    if cmd.is_none() {
        for d in r.dependencies(m).unwrap_or_default() {
            if k.refcnt(&d.name) == Some(0) {
                let _ = do_remove(ctx, k, &d.name);
            }
        }
    }
    for p in pre.iter().rev() {
        remove_one(ctx, k, p, false, true);
    }
    true
}
