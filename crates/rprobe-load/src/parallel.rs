//! Loading plans in parallel: a module starts as soon as every module it must follow is in
//! the kernel, on a bounded number of threads. What a module must follow is what kmod's
//! serial order guarantees it: its hard dependencies, its soft dependencies in the order
//! kmod puts them, and every install command before it (install commands run alone, in
//! kmod's order, as barriers). Edges always point from the earlier step in kmod's order to
//! the later one, so one thread gives exactly kmod's order and no schedule can deadlock.
//!
//! A required step that fails stops the steps that (transitively) follow it; everything
//! else still loads. Several requests (`modprobe -a A B C`) are merged into one graph, a
//! module shared by two plans loaded once.
//!
//! The threads wait for each other through libc's pthread functions (`crate::pthread`), not
//! through Rust's std, whose waits are syscall(SYS_futex) calls: LD_PRELOAD tools that
//! replace syscall() and refuse numbers they do not know (kmod's testsuite fakes) then see
//! only the module calls, as from kmod.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use nix::errno::Errno;
use rprobe_resolve::{Module, Resolver, Step};

use crate::probe::{CommandKind, CommandRunner, Event, ProbeError, ProbeFlags};
use crate::pthread::{self, Condvar, Mutex};
use crate::{Error, InitState, LinuxKernel, LoadFlags, Result, SimKernel};

/// What parallel loading needs from a kernel: shared between threads, no `&mut`.
pub trait ConcurrentKernel: Sync {
    /// The state of a module, None when it is not in the kernel.
    fn initstate(&self, name: &str) -> Option<InitState>;
    /// Loads a module file with parameters; may be called from several threads at once.
    fn load(
        &self,
        name: &str,
        path: &std::path::Path,
        params: &str,
        flags: LoadFlags,
    ) -> Result<()>;
}

impl ConcurrentKernel for LinuxKernel {
    fn initstate(&self, name: &str) -> Option<InitState> {
        crate::Kernel::initstate(self, name)
    }

    fn load(
        &self,
        name: &str,
        path: &std::path::Path,
        params: &str,
        flags: LoadFlags,
    ) -> Result<()> {
        // LinuxKernel holds no state: a copy per call is the same kernel.
        crate::Kernel::load(&mut self.clone(), name, path, params, flags)
    }
}

/// One request: the module asked for and its plan (from rprobe-resolve).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The module requested.
    pub module: &'a Module,
    /// Its plan, in kmod's order.
    pub steps: &'a [Step],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

struct Node<'a> {
    step: &'a Step,
    required: bool,
    /// The steps that wait for this one; `true` when they need it (a hard dependency: they
    /// cannot load without it), `false` when they only come after it in kmod's order.
    after: Vec<(usize, bool)>,
    waiting_on: usize,
    status: Status,
}

struct State<'a> {
    nodes: Vec<Node<'a>>,
    /// Steps whose predecessors are done: the one with the most work still behind it
    /// first (then kmod's order); with one thread, kmod's order alone.
    ready: BinaryHeap<(u64, Reverse<usize>)>,
    /// Each step's priority.
    rank: Vec<u64>,
    finished: usize,
    errors: Vec<ProbeError>,
    /// A worker panicked: the others stop taking steps (the panic is raised once they have
    /// all returned).
    abandoned: bool,
}

/// Marks the state abandoned and wakes every worker when dropped during a panic, so that no
/// worker waits for a step the panicking one will never finish.
struct AbandonOnPanic<'s, 'a> {
    state: &'s Mutex<State<'a>>,
    wake: &'s Condvar,
}

impl Drop for AbandonOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.state.lock().abandoned = true;
            self.wake.notify_all();
        }
    }
}

/// Builds the graph of the requests' steps (deduplicated by module name, kmod's order).
fn graph<'a>(r: &Resolver, requests: &[Request<'a>], flags: &ProbeFlags) -> Vec<Node<'a>> {
    let mut nodes: Vec<Node<'a>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for req in requests {
        for s in req.steps {
            match index.get(s.module.name.as_str()) {
                Some(&i) => nodes[i].required |= s.required,
                None => {
                    index.insert(&s.module.name, nodes.len());
                    nodes.push(Node {
                        step: s,
                        required: s.required,
                        after: Vec::new(),
                        waiting_on: 0,
                        status: Status::Waiting,
                    });
                }
            }
        }
    }
    // (earlier, later, needed): hard dependencies are needed, the rest is order only.
    let mut edges: Vec<(usize, usize, bool)> = Vec::new();
    // `b` needs `a` (when `needed`) or only comes after it. An edge against kmod's order
    // (a plan shared with another request) is turned round and only orders.
    let mut link = |a: usize, b: usize, needed: bool| match a.cmp(&b) {
        std::cmp::Ordering::Less => edges.push((a, b, needed)),
        std::cmp::Ordering::Greater => edges.push((b, a, false)),
        std::cmp::Ordering::Equal => {}
    };
    let mut barrier: Option<usize> = None;
    for (j, n) in nodes.iter().enumerate() {
        let m = &n.step.module;
        if let Ok(deps) = r.dependencies(m) {
            for d in deps {
                if let Some(&i) = index.get(d.name.as_str()) {
                    link(i, j, true);
                }
            }
        }
        if !flags.ignore_commands {
            // Pre-softdeps are tried first, but their failure stops nothing; post-softdeps
            // belong to the module's plan and are not loaded when it fails.
            if let Ok((pre, post)) = r.softdeps(&m.name) {
                for p in &pre {
                    if let Some(&i) = index.get(p.name.as_str()) {
                        link(i, j, false);
                    }
                }
                for q in &post {
                    if let Some(&i) = index.get(q.name.as_str()) {
                        link(j, i, true);
                    }
                }
            }
        }
        // Install commands keep kmod's strict order: after everything before them, before
        // everything after them.
        if n.step.install.is_some() {
            for i in 0..j {
                link(i, j, false);
            }
            barrier = Some(j);
        } else if let Some(b) = barrier {
            link(b, j, false);
        }
    }
    // One edge per pair; needed wins over order-only.
    edges.sort_unstable_by_key(|x| (x.0, x.1, !x.2));
    edges.dedup_by(|x, y| x.0 == y.0 && x.1 == y.1);
    for (a, b, needed) in edges {
        nodes[a].after.push((b, needed));
        nodes[b].waiting_on += 1;
    }
    nodes
}

fn in_kernel(k: &dyn ConcurrentKernel, m: &Module) -> bool {
    InitState::counts_as_loaded(InitState::of(m.builtin, || k.initstate(&m.name)))
}

/// Carries out the requests on up to `jobs` threads (at least one). Returns the failures
/// that stopped something, in the order they happened; failures kmod goes on after are
/// reported as [`Event::Error`], as in [`crate::probe::insert`]. A dry run is serial (use
/// [`crate::probe::insert`]).
pub fn insert_all(
    k: &dyn ConcurrentKernel,
    r: &Resolver,
    requests: &[Request],
    flags: &ProbeFlags,
    jobs: usize,
    runner: &mut (dyn CommandRunner + Send),
    report: &mut (dyn FnMut(Event) + Send),
) -> Vec<ProbeError> {
    let mut errors = Vec::new();
    let mut wanted = Vec::new();
    for req in requests {
        if in_kernel(k, req.module) {
            if flags.first_time {
                errors.push(ProbeError::AlreadyLoaded(req.module.name.clone()));
            }
            continue;
        }
        wanted.push(*req);
    }
    let nodes = graph(r, &wanted, flags);
    let total = nodes.len();
    let rank = if jobs > 1 {
        critical_path(&nodes)
    } else {
        vec![0; nodes.len()]
    };
    let ready = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.waiting_on == 0)
        .map(|(i, _)| (rank[i], Reverse(i)))
        .collect();
    let state = Mutex::new(State {
        nodes,
        ready,
        rank,
        finished: 0,
        errors,
        abandoned: false,
    });
    let wake = Condvar::new();
    let runner = Mutex::new(runner);
    let report = Mutex::new(report);
    let load_flags = flags.load_flags();
    let jobs = jobs.clamp(1, total.max(1));
    // One worker has nobody to wake.
    let wake_all = || {
        if jobs > 1 {
            wake.notify_all();
        }
    };
    let work = || loop {
        let (i, step, required) = {
            let mut st = state.lock();
            loop {
                if st.abandoned {
                    return;
                }
                if st.finished == total {
                    wake_all();
                    return;
                }
                if let Some((_, Reverse(i))) = st.ready.pop() {
                    st.nodes[i].status = Status::Running;
                    break (i, st.nodes[i].step, st.nodes[i].required);
                }
                st = wake.wait(st);
            }
        };
        let outcome = run_step(k, step, required, load_flags, &runner, &report);
        let mut st = state.lock();
        let failed = match outcome {
            Ok(()) => false,
            Err(e) => {
                st.errors.push(e);
                true
            }
        };
        finish(&mut st, i, failed);
        wake_all();
    };
    let worker = || {
        let _abandon = AbandonOnPanic {
            state: &state,
            wake: &wake,
        };
        work();
    };
    pthread::run(jobs - 1, &worker);
    state.into_inner().errors
}

/// For each step, the work on the longest chain of steps that need it, itself included,
/// with a module's file size standing for its work (decompressing and relocating it):
/// starting the longest chains first keeps every CPU busy to the end.
fn critical_path(nodes: &[Node]) -> Vec<u64> {
    let mut rank = vec![0u64; nodes.len()];
    // Edges go from earlier to later steps, so later steps are ranked first.
    for i in (0..nodes.len()).rev() {
        let own = nodes[i]
            .step
            .module
            .path
            .as_ref()
            .and_then(|p| rprobe_index::fsx::stat(p).ok())
            .map_or(1, |m| m.size.max(1));
        let after = nodes[i]
            .after
            .iter()
            .map(|&(j, _)| rank[j])
            .max()
            .unwrap_or(0);
        rank[i] = own.saturating_add(after);
    }
    rank
}

/// Marks node `i` done or failed and releases what waited for it. What needed a failed (or
/// skipped) step is skipped in turn, without being started; what only came after it in
/// kmod's order goes on.
fn finish(st: &mut State, i: usize, failed: bool) {
    st.nodes[i].status = if failed { Status::Failed } else { Status::Done };
    st.finished += 1;
    let mut work = vec![(i, failed)];
    while let Some((n, failed)) = work.pop() {
        for (j, needed) in st.nodes[n].after.clone() {
            if st.nodes[j].status != Status::Waiting {
                continue;
            }
            if failed && needed {
                st.nodes[j].status = Status::Skipped;
                st.finished += 1;
                work.push((j, true));
                continue;
            }
            st.nodes[j].waiting_on -= 1;
            if st.nodes[j].waiting_on == 0 {
                let r = st.rank[j];
                st.ready.push((r, Reverse(j)));
            }
        }
    }
}

type SharedRunner<'a> = Mutex<&'a mut (dyn CommandRunner + Send)>;
type SharedReport<'a> = Mutex<&'a mut (dyn FnMut(Event) + Send)>;

/// One step, as the serial probe does it. Err only for a failure that stops what follows.
fn run_step(
    k: &dyn ConcurrentKernel,
    s: &Step,
    required: bool,
    load_flags: LoadFlags,
    runner: &SharedRunner,
    report: &SharedReport,
) -> std::result::Result<(), ProbeError> {
    let tell = |e: Event| (*report.lock())(e);
    if in_kernel(k, &s.module) {
        return Ok(());
    }
    tell(Event::Step(s));
    if let Some(cmd) = s.install_command() {
        let res = runner
            .lock()
            .run(CommandKind::Install, &s.module.name, &cmd);
        if let Err(failure) = res {
            let e = ProbeError::Command {
                kind: CommandKind::Install,
                module: s.module.name.clone(),
                command: cmd,
                failure,
            };
            if required {
                return Err(e);
            }
            tell(Event::Error(e));
        }
        return Ok(());
    }
    let Some(p) = &s.module.path else {
        return Ok(());
    };
    match k.load(&s.module.name, p, s.options.trim_end(), load_flags) {
        Ok(()) => Ok(()),
        Err(e) if e.errno() == Some(Errno::EEXIST) => Ok(()),
        Err(source) if required => Err(ProbeError::Insert {
            name: s.module.name.clone(),
            source,
        }),
        Err(_) => Ok(()),
    }
}

/// A [`SimKernel`] shared between threads, for testing schedules: a load takes `delay`,
/// during which the module is "coming" and its symbols cannot be used yet (a module started
/// before its dependencies are live fails, as in a real kernel); modules in `refuse` fail
/// with EPERM; the largest number of loads in flight at once is kept.
#[derive(Debug, Default)]
pub struct SharedSimKernel {
    /// The simulated kernel (live modules, calls).
    pub inner: std::sync::Mutex<SimKernel>,
    /// How long each load takes.
    pub delay: std::time::Duration,
    /// Modules whose load the kernel refuses (EPERM).
    pub refuse: Vec<String>,
    coming: std::sync::Mutex<Vec<String>>,
    /// The most loads in flight at once.
    pub max_in_flight: std::sync::atomic::AtomicUsize,
}

impl SharedSimKernel {
    /// A shared kernel around `inner` whose loads take `delay`.
    pub fn new(inner: SimKernel, delay: std::time::Duration) -> SharedSimKernel {
        SharedSimKernel {
            inner: std::sync::Mutex::new(inner),
            delay,
            ..Default::default()
        }
    }
}

fn poisoned(name: &str) -> Error {
    Error::Kernel {
        op: "finit_module",
        name: name.into(),
        errno: Errno::EIO,
    }
}

impl ConcurrentKernel for SharedSimKernel {
    fn initstate(&self, name: &str) -> Option<InitState> {
        if self
            .coming
            .lock()
            .is_ok_and(|c| c.iter().any(|n| n == name))
        {
            return Some(InitState::Coming);
        }
        self.inner
            .lock()
            .ok()
            .and_then(|k| crate::Kernel::initstate(&*k, name))
    }

    fn load(
        &self,
        name: &str,
        path: &std::path::Path,
        params: &str,
        _flags: LoadFlags,
    ) -> Result<()> {
        use std::sync::atomic::Ordering;
        // Symbols resolve against live modules when the load starts.
        let linked = {
            let mut k = self.inner.lock().map_err(|_| poisoned(name))?;
            if self.refuse.iter().any(|r| r == name) {
                k.calls.push(format!("refused {name}"));
                return Err(Error::Kernel {
                    op: "finit_module",
                    name: name.into(),
                    errno: Errno::EPERM,
                });
            }
            k.calls
                .push(format!("load {name} {params}").trim_end().to_string());
            k.link(name, path)?
        };
        let in_flight = {
            let mut c = self.coming.lock().map_err(|_| poisoned(name))?;
            c.push(name.to_string());
            c.len()
        };
        self.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        // Live only now: a dependent started meanwhile found its symbols missing.
        let mut k = self.inner.lock().map_err(|_| poisoned(name))?;
        k.loaded.insert(name.to_string(), linked);
        if let Ok(mut c) = self.coming.lock() {
            c.retain(|n| n != name);
        }
        Ok(())
    }
}

/// The shared kernel is also a plain [`crate::Kernel`], so one simulated kernel serves
/// serial and parallel probing alike.
impl crate::Kernel for SharedSimKernel {
    fn initstate(&self, name: &str) -> Option<InitState> {
        ConcurrentKernel::initstate(self, name)
    }

    fn refcnt(&self, name: &str) -> Option<u32> {
        self.inner.lock().ok().and_then(|k| k.refcnt(name))
    }

    fn holders(&self, name: &str) -> Vec<String> {
        self.inner
            .lock()
            .map(|k| k.holders(name))
            .unwrap_or_default()
    }

    fn load(
        &mut self,
        name: &str,
        path: &std::path::Path,
        params: &str,
        flags: LoadFlags,
    ) -> Result<()> {
        ConcurrentKernel::load(self, name, path, params, flags)
    }

    fn remove(&mut self, name: &str, force: bool) -> Result<()> {
        self.inner
            .lock()
            .map_err(|_| poisoned(name))
            .and_then(|mut k| k.remove(name, force))
    }
}
