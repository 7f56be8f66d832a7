//! Probing through a context: the one sequence of kmod_module_probe_insert_module, serial
//! (each module loaded as it is submitted, kmod's order and messages) or parallel
//! (submitted plans queued and loaded together on up to `jobs` threads) behind one type.

use rprobe_load::parallel::{insert_all, ConcurrentKernel, Request};
use rprobe_load::probe::{self, CommandRunner, Event, ProbeError, ProbeFlags};
use rprobe_load::Kernel;
use rprobe_resolve::{Module, Step};

use crate::Context;

/// How a probe session loads.
#[derive(Clone, Debug, Default)]
pub struct ProbeSettings {
    /// The probe flags (dry run, first time, forces, ...).
    pub flags: ProbeFlags,
    /// How many modules may load at once; 1 is kmod's serial order. A dry run is always
    /// serial.
    pub jobs: usize,
}

/// A probe session over a context and a kernel: see [`Context::prober`].
pub struct Prober<'c, K> {
    ctx: &'c Context,
    kernel: K,
    settings: ProbeSettings,
    pending: Vec<(Module, Vec<Step>)>,
}

impl Context {
    /// A probe session on `kernel` (the running kernel, or a simulated one).
    pub fn prober<K: Kernel + ConcurrentKernel>(
        &self,
        kernel: K,
        settings: ProbeSettings,
    ) -> Prober<'_, K> {
        Prober {
            ctx: self,
            kernel,
            settings,
            pending: Vec::new(),
        }
    }
}

impl<K: Kernel + ConcurrentKernel> Prober<'_, K> {
    /// True when plans are loaded together at [`Prober::finish`] rather than one by one.
    pub fn is_parallel(&self) -> bool {
        self.settings.jobs > 1 && !self.settings.flags.dry_run
    }

    /// The kernel (to read its state after a session, or a simulated kernel's calls).
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// Carries out one module's plan: at once when serial (the error that stopped it is
    /// returned), queued when parallel (loaded by [`Prober::finish`]).
    pub fn submit(
        &mut self,
        m: Module,
        steps: Vec<Step>,
        runner: &mut (dyn CommandRunner + Send),
        report: &mut (dyn FnMut(Event) + Send),
    ) -> Result<(), ProbeError> {
        if self.is_parallel() {
            self.pending.push((m, steps));
            return Ok(());
        }
        probe::insert(
            &mut self.kernel,
            &m,
            &steps,
            &self.settings.flags,
            runner,
            report,
        )
    }

    /// Loads every queued plan together; the failures, in the order they happened. Nothing
    /// to do when serial.
    pub fn finish(
        &mut self,
        runner: &mut (dyn CommandRunner + Send),
        report: &mut (dyn FnMut(Event) + Send),
    ) -> Vec<ProbeError> {
        let plans = std::mem::take(&mut self.pending);
        if plans.is_empty() {
            return Vec::new();
        }
        let reqs: Vec<Request<'_>> = plans
            .iter()
            .map(|(m, steps)| Request { module: m, steps })
            .collect();
        insert_all(
            &self.kernel,
            &self.ctx.resolver(),
            &reqs,
            &self.settings.flags,
            self.settings.jobs,
            runner,
            report,
        )
    }

    /// Removes a module and, with the flags' remove-holders, what it leaves unused, as
    /// `modprobe -r` does.
    pub fn remove(
        &mut self,
        m: &Module,
        runner: &mut dyn CommandRunner,
        report: &mut dyn FnMut(Event),
    ) -> Result<(), ProbeError> {
        probe::remove(
            &mut self.kernel,
            &self.ctx.resolver(),
            m,
            &self.settings.flags,
            runner,
            report,
        )
    }
}
