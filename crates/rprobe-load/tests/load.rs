//! The simulated kernel driven by real plans: modules resolved by rprobe-resolve from
//! indexes kmod's depmod wrote, loaded in plan order into `SimKernel`, which refuses a
//! module whose symbols no loaded module exports. Proves the plan order is a valid load
//! order for every module of the real 6.1 tree, and that a wrong order fails.

use rprobe_index::index::ModuleDir;
use rprobe_load::{Kernel, LoadFlags, SimKernel};
use rprobe_resolve::{Config, Resolver};
use rprobe_testkit::real_tree;
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

use rprobe_testkit::{every, kmod, kmod_depmod, link_tree, module_files, run};

/// Symbols the kernel image itself exports: every import no module exports.
fn kernel_symbols(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    let mut exported = std::collections::BTreeSet::new();
    let mut imported = std::collections::BTreeSet::new();
    for f in module_files(dir) {
        let r = rprobe_modfile::record::read_module(&f).expect("module reads");
        exported.extend(r.exports.into_iter().map(|e| e.name));
        imported.extend(r.imports.into_iter().map(|i| i.name));
    }
    imported.difference(&exported).cloned().collect()
}

#[test]
fn plans_are_valid_load_orders_for_every_module() {
    let Some(tree) = real_tree("k61") else { return };
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let moddir = tmp.path().join("lib/modules").join(&tree.version);
    let dir = ModuleDir::open(&moddir).expect("dir");
    let cfg = Config::default();
    let r = Resolver {
        dir: &dir,
        config: &cfg,
    };
    let ksyms = kernel_symbols(&moddir);
    let files = module_files(&moddir);
    let mut checked = 0;
    for f in every(&files, 8) {
        let name = rprobe_index::name::modname_from_path(&f);
        let mut k = SimKernel {
            kernel_symbols: ksyms.clone(),
            ..Default::default()
        };
        for m in r.lookup(&name).expect("lookup") {
            for s in r.plan(&m, "", false).expect("plan") {
                let Some(p) = &s.module.path else { continue };
                if k.loaded.contains_key(&s.module.name) {
                    continue;
                }
                k.load(&s.module.name, p, &s.options, LoadFlags::default())
                    .unwrap_or_else(|e| {
                        panic!("{name}: loading {} in plan order: {e}", s.module.name)
                    });
            }
        }
        assert!(k.loaded.contains_key(&name), "{name} loaded");
        checked += 1;
    }
    assert!(checked >= 500);
}

#[test]
fn wrong_order_fails_and_refcounts_follow() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = SynthTree::new(tmp.path(), "6.1.0-synth");
    let base = t.add(
        &SynthModule::new("base").export("base_fn"),
        "kernel",
        Codec::Xz,
    );
    let top = t.add(
        &SynthModule::new("top").import("base_fn"),
        "kernel",
        Codec::Zstd,
    );
    let mut k = SimKernel::default();
    let e = k
        .load("top", &top, "", LoadFlags::default())
        .expect_err("top before base fails");
    assert!(e.to_string().contains("Unknown symbol base_fn"), "{e}");
    k.load("base", &base, "", LoadFlags::default())
        .expect("base");
    k.load("top", &top, "x=1", LoadFlags::default())
        .expect("top");
    assert_eq!(k.refcnt("base"), Some(1));
    assert_eq!(k.holders("base"), ["top"]);
    assert!(k.remove("base", false).is_err(), "base in use");
    k.remove("top", false).expect("top");
    assert_eq!(k.refcnt("base"), Some(0));
    k.remove("base", false).expect("base");
    assert_eq!(
        k.calls,
        [
            "load top",
            "load base",
            "load top x=1",
            "remove base",
            "remove top",
            "remove base"
        ]
    );
}

// ---- The probe API (rprobe-load::probe) against SimKernel, with indexes from kmod's depmod.

use rprobe_load::probe::{
    self, CommandFailure, CommandKind, CommandRunner, Event, ProbeError, ProbeFlags,
};

/// A runner that records commands and fails those containing "false".
#[derive(Default)]
struct Recorder(Vec<String>);

impl CommandRunner for Recorder {
    fn run(&mut self, kind: CommandKind, module: &str, cmd: &str) -> Result<(), CommandFailure> {
        self.0.push(format!("{} {module}: {cmd}", kind.word()));
        if cmd.contains("false") {
            Err(CommandFailure::Status(1))
        } else {
            Ok(())
        }
    }
}

/// A tree: base exports base_fn; top and other use it; pre/post are soft dependencies of
/// top; lonely needs a symbol nobody exports. Indexed by kmod's depmod.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    dir: ModuleDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = SynthTree::new(tmp.path(), "6.1.0-probe");
    t.add(
        &SynthModule::new("base").export("base_fn"),
        "kernel",
        Codec::Xz,
    );
    t.add(
        &SynthModule::new("top").import("base_fn"),
        "kernel",
        Codec::None,
    );
    t.add(
        &SynthModule::new("other").import("base_fn"),
        "kernel",
        Codec::Zstd,
    );
    t.add(&SynthModule::new("pre"), "kernel", Codec::Zstd);
    t.add(&SynthModule::new("post"), "kernel", Codec::None);
    t.add(
        &SynthModule::new("lonely").import("nobody_fn"),
        "kernel",
        Codec::None,
    );
    kmod_depmod(&t.root, &t.version);
    let dir = ModuleDir::open(&t.moddir()).expect("indexes");
    Fixture {
        root: t.root.clone(),
        _tmp: tmp,
        dir,
    }
}

/// An event as the tests compare it.
fn describe(e: Event) -> String {
    match e {
        Event::Step(s) => format!("step {}", s.module.name),
        Event::Remove(n) => format!("remove {n}"),
        Event::Error(e) => format!("error {e}"),
    }
}

fn config(text: &str) -> Config {
    let mut c = Config::default();
    c.parse(text, "test.conf");
    c
}

/// Inserts `name` as modprobe does; returns the result and the reported events as text.
fn insert(
    fx: &Fixture,
    cfg: &Config,
    k: &mut SimKernel,
    name: &str,
    flags: &ProbeFlags,
    runner: &mut Recorder,
) -> (Result<(), ProbeError>, Vec<String>) {
    let r = Resolver {
        dir: &fx.dir,
        config: cfg,
    };
    let mods = r.lookup(name).expect("lookup");
    assert_eq!(mods.len(), 1, "{name} resolves to one module");
    let steps = r.plan(&mods[0], "", flags.ignore_commands).expect("plan");
    let mut events = Vec::new();
    let res = probe::insert(k, &mods[0], &steps, flags, runner, &mut |e| {
        events.push(describe(e))
    });
    (res, events)
}

fn remove(
    fx: &Fixture,
    cfg: &Config,
    k: &mut SimKernel,
    name: &str,
    flags: &ProbeFlags,
    runner: &mut Recorder,
) -> (Result<(), ProbeError>, Vec<String>) {
    let r = Resolver {
        dir: &fx.dir,
        config: cfg,
    };
    let mods = r.lookup(name).expect("lookup");
    let mut events = Vec::new();
    let res = probe::remove(k, &r, &mods[0], flags, runner, &mut |e| {
        events.push(describe(e))
    });
    (res, events)
}

#[test]
fn probe_loads_softdeps_and_dependencies_in_order() {
    let fx = fixture();
    let cfg = config("softdep top pre: pre post: post\noptions base answer=42\n");
    let mut k = SimKernel::default();
    let (res, events) = insert(
        &fx,
        &cfg,
        &mut k,
        "top",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    res.expect("top loads");
    // The order kmod's own modprobe prints for the same tree and configuration.
    let conf = fx.root.join("probe.conf");
    std::fs::write(
        &conf,
        "softdep top pre: pre post: post\noptions base answer=42\n",
    )
    .expect("conf");
    let o = run(
        &kmod("modprobe"),
        [
            "-C".as_ref(),
            conf.as_os_str(),
            "-d".as_ref(),
            fx.root.as_os_str(),
            "-S".as_ref(),
            "6.1.0-probe".as_ref(),
            "--show-depends".as_ref(),
            "top".as_ref(),
        ],
    );
    assert!(
        o.status.success(),
        "kmod modprobe: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let kmod_order: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let name = rprobe_index::name::modname_from_path(std::path::Path::new(
                l.split_whitespace().nth(1).expect("insmod PATH"),
            ));
            format!("step {name}")
        })
        .collect();
    assert_eq!(events, kmod_order);
    assert_eq!(events, ["step base", "step pre", "step top", "step post"]);
    assert_eq!(
        k.calls,
        ["load base answer=42", "load pre", "load top", "load post"]
    );
    // Loading again does nothing; with --first-time it is an error.
    let (res, _) = insert(
        &fx,
        &cfg,
        &mut k,
        "top",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    res.expect("already loaded is fine");
    let first = ProbeFlags {
        first_time: true,
        ..Default::default()
    };
    let (res, _) = insert(&fx, &cfg, &mut k, "top", &first, &mut Recorder::default());
    assert!(
        matches!(res, Err(ProbeError::AlreadyLoaded(ref n)) if n == "top"),
        "{res:?}"
    );
    assert_eq!(k.calls.len(), 4, "nothing more was loaded");
}

#[test]
fn probe_dry_run_reports_and_does_nothing() {
    let fx = fixture();
    let cfg = config("install pre /bin/echo pre\n");
    let mut k = SimKernel::default();
    let mut rec = Recorder::default();
    let flags = ProbeFlags {
        dry_run: true,
        ..Default::default()
    };
    let (res, events) = insert(&fx, &cfg, &mut k, "top", &flags, &mut rec);
    res.expect("dry run");
    assert_eq!(events, ["step base", "step top"]);
    assert!(k.calls.is_empty() && rec.0.is_empty());
}

#[test]
fn probe_install_commands_run_instead_of_loading() {
    let fx = fixture();
    let cfg = config(
        "install top /bin/echo installing $CMDLINE_OPTS\nsoftdep other pre: pre\ninstall pre /bin/false\n",
    );
    let mut k = SimKernel::default();
    let mut rec = Recorder::default();
    let (res, _) = insert(&fx, &cfg, &mut k, "top", &ProbeFlags::default(), &mut rec);
    res.expect("install command succeeds");
    assert_eq!(rec.0, ["install top: /bin/echo installing "]);
    assert!(!k.loaded.contains_key("top"), "top itself was not loaded");
    // A failing install command of a soft dependency is reported and the rest goes on.
    let mut rec = Recorder::default();
    let (res, events) = insert(&fx, &cfg, &mut k, "other", &ProbeFlags::default(), &mut rec);
    res.expect("other loads although its softdep's command failed");
    assert!(
        events.contains(
            &"error Error running install command '/bin/false' for module pre: retcode 1"
                .to_string()
        ),
        "{events:?}"
    );
    assert!(k.loaded.contains_key("other"));
    // With -i the commands are ignored and modules load.
    let mut k = SimKernel::default();
    let mut rec = Recorder::default();
    let flags = ProbeFlags {
        ignore_commands: true,
        ..Default::default()
    };
    let (res, _) = insert(&fx, &cfg, &mut k, "top", &flags, &mut rec);
    res.expect("top loads with -i");
    assert!(rec.0.is_empty());
    assert!(k.loaded.contains_key("top"));
    // A failing install command of the module itself fails the request.
    let cfg = config("install top /bin/false\n");
    let mut k = SimKernel::default();
    let (res, _) = insert(
        &fx,
        &cfg,
        &mut k,
        "top",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    assert!(
        matches!(res, Err(ProbeError::Command { kind: CommandKind::Install, ref module, failure: CommandFailure::Status(1), .. }) if module == "top"),
        "{res:?}"
    );
}

#[test]
fn probe_kernel_refusal_is_a_typed_error() {
    let fx = fixture();
    let cfg = Config::default();
    let mut k = SimKernel::default();
    let (res, _) = insert(
        &fx,
        &cfg,
        &mut k,
        "lonely",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    match res {
        Err(ProbeError::Insert { name, source }) => {
            assert_eq!(name, "lonely");
            assert_eq!(source.errno(), Some(nix::errno::Errno::ENOENT));
        }
        other => panic!("expected an insert error, got {other:?}"),
    }
}

#[test]
fn probe_remove_takes_unused_dependencies_and_respects_holders() {
    let fx = fixture();
    let cfg = Config::default();
    let mut k = SimKernel::default();
    for m in ["top", "other"] {
        insert(
            &fx,
            &cfg,
            &mut k,
            m,
            &ProbeFlags::default(),
            &mut Recorder::default(),
        )
        .0
        .expect("load");
    }
    // base is in use by two modules.
    let (res, _) = remove(
        &fx,
        &cfg,
        &mut k,
        "base",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    assert!(
        matches!(res, Err(ProbeError::InUse(ref n)) if n == "base"),
        "{res:?}"
    );
    // Removing top leaves base (other still uses it).
    let (res, events) = remove(
        &fx,
        &cfg,
        &mut k,
        "top",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    res.expect("remove top");
    assert_eq!(events, ["remove top"]);
    assert!(k.loaded.contains_key("base"));
    // Removing other now also removes base, which nothing uses any more.
    let (res, events) = remove(
        &fx,
        &cfg,
        &mut k,
        "other",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    res.expect("remove other");
    assert_eq!(events, ["remove other", "remove base"]);
    assert!(k.loaded.is_empty());
    // --remove-holders: removing base takes its holders first.
    for m in ["top", "other"] {
        insert(
            &fx,
            &cfg,
            &mut k,
            m,
            &ProbeFlags::default(),
            &mut Recorder::default(),
        )
        .0
        .expect("load");
    }
    let holders = ProbeFlags {
        remove_holders: true,
        ..Default::default()
    };
    let (res, events) = remove(
        &fx,
        &cfg,
        &mut k,
        "base",
        &holders,
        &mut Recorder::default(),
    );
    res.expect("remove base with holders");
    // Removing the last holder (other) already takes base as an unused dependency; the
    // request's own removal of base then finds it gone, which is not an error.
    assert_eq!(
        events,
        ["remove top", "remove other", "remove base", "remove base"]
    );
    assert_eq!(k.calls.iter().filter(|c| *c == "remove base").count(), 3);
    assert!(k.loaded.is_empty());
}

#[test]
fn probe_remove_states_softdeps_and_commands() {
    let fx = fixture();
    let cfg = config("softdep top pre: pre post: post\nremove other /bin/false\n");
    let mut k = SimKernel::default();
    // Not loaded: fine, unless --first-time.
    let (res, _) = remove(
        &fx,
        &cfg,
        &mut k,
        "top",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    res.expect("not loaded is fine");
    let first = ProbeFlags {
        first_time: true,
        ..Default::default()
    };
    let (res, _) = remove(&fx, &cfg, &mut k, "top", &first, &mut Recorder::default());
    assert!(
        matches!(res, Err(ProbeError::NotInKernel(ref n)) if n == "top"),
        "{res:?}"
    );
    // Built in: an error.
    k.builtin.insert("pre".into());
    let (res, _) = remove(
        &fx,
        &config(""),
        &mut k,
        "pre",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    assert!(
        matches!(res, Err(ProbeError::Builtin(ref n)) if n == "pre"),
        "{res:?}"
    );
    k.builtin.clear();
    // Softdeps: post first, then the module and its dependencies, then pre.
    insert(
        &fx,
        &cfg,
        &mut k,
        "top",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    )
    .0
    .expect("load top");
    let (res, events) = remove(
        &fx,
        &cfg,
        &mut k,
        "top",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    );
    res.expect("remove top");
    assert_eq!(
        events,
        ["remove post", "remove top", "remove base", "remove pre"]
    );
    assert!(k.loaded.is_empty());
    // A remove command runs instead of delete_module; its failure is the request's.
    insert(
        &fx,
        &cfg,
        &mut k,
        "other",
        &ProbeFlags::default(),
        &mut Recorder::default(),
    )
    .0
    .expect("load other");
    let mut rec = Recorder::default();
    let (res, _) = remove(&fx, &cfg, &mut k, "other", &ProbeFlags::default(), &mut rec);
    assert_eq!(rec.0, ["remove other: /bin/false"]);
    assert!(
        matches!(
            res,
            Err(ProbeError::Command {
                kind: CommandKind::Remove,
                ..
            })
        ),
        "{res:?}"
    );
    assert!(
        k.loaded.contains_key("other"),
        "the command, not the kernel, was asked"
    );
}

// ---- Parallel loading (rprobe-load::parallel) against a SimKernel shared between threads,
// in which a module started before its dependencies are live fails.

use rprobe_load::parallel::{insert_all, Request, SharedSimKernel};

/// Loads `names` (merged, as `modprobe -a`) with `jobs` threads; returns the kernel and
/// the failures.
fn parallel_load(
    r: &Resolver,
    names: &[String],
    base: SimKernel,
    jobs: usize,
    delay_us: u64,
    refuse: &[&str],
) -> (SharedSimKernel, Vec<ProbeError>) {
    let mut plans = Vec::new();
    for n in names {
        for m in r.lookup(n).expect("lookup") {
            let steps = r.plan(&m, "", false).expect("plan");
            plans.push((m, steps));
        }
    }
    let reqs: Vec<Request> = plans
        .iter()
        .map(|(m, s)| Request {
            module: m,
            steps: s,
        })
        .collect();
    let mut k = SharedSimKernel::new(base, std::time::Duration::from_micros(delay_us));
    k.refuse = refuse.iter().map(|s| s.to_string()).collect();
    let errors = insert_all(
        &k,
        r,
        &reqs,
        &ProbeFlags::default(),
        jobs,
        &mut Recorder::default(),
        &mut |_| {},
    );
    (k, errors)
}

fn real_parallel(flavour: &'static str, step: usize) {
    let Some(tree) = real_tree(flavour) else {
        return;
    };
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let moddir = tmp.path().join("lib/modules").join(&tree.version);
    let dir = ModuleDir::open(&moddir).expect("dir");
    let cfg = Config::default();
    let r = Resolver {
        dir: &dir,
        config: &cfg,
    };
    let ksyms = kernel_symbols(&moddir);
    let names: Vec<String> = every(&module_files(&moddir), step)
        .iter()
        .map(|f| rprobe_index::name::modname_from_path(f))
        .collect();
    let base = || SimKernel {
        kernel_symbols: ksyms.clone(),
        ..Default::default()
    };
    // Serial (one thread) is exactly kmod's order: the calls of the serial probe, request
    // after request.
    let (one, errors) = parallel_load(&r, &names, base(), 1, 0, &[]);
    assert!(errors.is_empty(), "{errors:?}");
    let mut serial = base();
    for n in &names {
        for m in r.lookup(n).expect("lookup") {
            let steps = r.plan(&m, "", false).expect("plan");
            probe::insert(
                &mut serial,
                &m,
                &steps,
                &ProbeFlags::default(),
                &mut Recorder::default(),
                &mut |_| {},
            )
            .expect("serial load");
        }
    }
    let one = one.inner.into_inner().expect("kernel");
    assert_eq!(one.calls, serial.calls, "--jobs 1 is kmod's serial order");
    // Four threads, each load taking a while: every module loads (none started before its
    // dependencies were live), the same set as serial, and loads overlapped.
    let (four, errors) = parallel_load(&r, &names, base(), 4, 300, &[]);
    assert!(errors.is_empty(), "{flavour}: {errors:?}");
    let overlap = four.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    let four = four.inner.into_inner().expect("kernel");
    let set = |k: &SimKernel| k.loaded.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        set(&four),
        set(&serial),
        "{flavour}: same modules as serial"
    );
    assert!(overlap > 1, "{flavour}: loads never overlapped");
}

#[test]
fn parallel_schedules_respect_dependencies_61() {
    real_parallel("k61", 6);
}

#[test]
fn parallel_schedules_respect_dependencies_612() {
    real_parallel("k612", 12);
}

#[test]
fn parallel_failure_stops_only_what_depends_on_it() {
    let fx = fixture();
    let cfg = config("softdep other post: post\n");
    let r = Resolver {
        dir: &fx.dir,
        config: &cfg,
    };
    let names: Vec<String> = ["top", "other", "pre"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (k, errors) = parallel_load(&r, &names, SimKernel::default(), 3, 2000, &["base"]);
    assert!(
        matches!(errors.as_slice(), [ProbeError::Insert { name, .. }] if name == "base"),
        "{errors:?}"
    );
    let k = k.inner.into_inner().expect("kernel");
    for m in ["top", "other", "post"] {
        assert!(
            !k.calls.iter().any(|c| c == &format!("load {m}")),
            "{m} depends on the refused base and was started: {:?}",
            k.calls
        );
    }
    assert!(
        k.loaded.contains_key("pre"),
        "independent pre still loads: {:?}",
        k.calls
    );
    // Without the refusal everything loads, post after other.
    let (k, errors) = parallel_load(&r, &names, SimKernel::default(), 3, 2000, &[]);
    assert!(errors.is_empty(), "{errors:?}");
    let k = k.inner.into_inner().expect("kernel");
    let at = |m: &str| {
        k.calls
            .iter()
            .position(|c| c == &format!("load {m}"))
            .expect(m)
    };
    assert!(at("base") < at("top") && at("base") < at("other") && at("other") < at("post"));
}
