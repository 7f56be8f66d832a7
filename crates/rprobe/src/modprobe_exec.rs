//! Executing modprobe's load and remove plans against the kernel (rprobe-load's side of
//! modprobe). The resolver side (modprobe.rs) parses the command line and builds the plans;
//! this file runs them.

use rprobe_resolve::{Module, Step};

use crate::modprobe::Ctx;

/// Loads the steps of one module's plan. False on failure.
pub fn load(ctx: &Ctx, m: &Module, steps: &[Step]) -> bool {
    if ctx.args.dry_run {
        if ctx.args.verbose > 0 {
            for s in steps {
                if let Some(l) = crate::modprobe::step_line(s) {
                    println!("{l}");
                }
            }
        }
        return true;
    }
    ctx.error(
        "ERROR",
        &format!(
            "could not insert '{}': loading modules is not supported by this build",
            m.name
        ),
    );
    false
}

/// Removes every module named on the command line. Returns the exit code.
pub fn remove_all(ctx: &Ctx) -> i32 {
    let mut code = 0;
    for name in &ctx.args.args {
        let mods = crate::modprobe::lookup_for_removal(ctx, name);
        if mods.is_empty() {
            ctx.error("FATAL", &format!("Module {name} not found."));
            code = 1;
            continue;
        }
        if !ctx.args.dry_run {
            ctx.error(
                "ERROR",
                &format!("could not remove '{name}': removal is not supported by this build"),
            );
            code = 1;
        }
    }
    code
}
