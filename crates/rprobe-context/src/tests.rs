//! The context against synthetic trees indexed by depmod, and a simulated kernel.

use super::*;
use rprobe_depmod as depmod;
use rprobe_load::parallel::SharedSimKernel;
use rprobe_load::probe::{CommandFailure, CommandKind, CommandRunner, Event, ProbeFlags};
use rprobe_load::SimKernel;
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

const RELEASE: &str = "6.1.0-ctx";

/// base exports base_fn; top and other use it; pre is a soft pre-dependency of top (in
/// the tree's modprobe.d); bi is built in.
fn tree(root: &Path) -> SynthTree {
    let t = SynthTree::new(root, RELEASE);
    t.add(
        &SynthModule::new("base").export("base_fn"),
        "kernel",
        Codec::None,
    );
    t.add(
        &SynthModule::new("top").import("base_fn"),
        "kernel",
        Codec::Xz,
    );
    t.add(
        &SynthModule::new("other").import("base_fn"),
        "kernel",
        Codec::None,
    );
    t.add(&SynthModule::new("pre"), "kernel", Codec::None);
    t.file("modules.builtin", "kernel/bi.ko\n");
    index(&t);
    let conf = root.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("a.conf"),
        "softdep top pre: pre\nblacklist other\nalias my-alias other\n",
    )
    .unwrap();
    t
}

fn index(t: &SynthTree) {
    index_into(t, None)
}

/// Indexes the tree, writing the files under `outdir` (depmod -o) when given.
fn index_into(t: &SynthTree, outdir: Option<PathBuf>) {
    let empty = t.root.join("empty-depmod.d");
    std::fs::create_dir_all(&empty).unwrap();
    let opts = depmod::Options {
        basedir: Some(t.root.clone()),
        kversion: t.version.clone(),
        config_paths: Some(vec![empty]),
        outdir,
        generation: Generation::Kmod30,
        ..Default::default()
    };
    let mut log = |l: depmod::Level, m: String| {
        // A tree without modules.order only draws a warning.
        assert!(
            !matches!(l, depmod::Level::Fatal | depmod::Level::Error),
            "depmod: {m}"
        );
    };
    assert!(depmod::run(&opts, &mut log).unwrap());
}

fn options(root: &Path) -> Options {
    Options {
        generation: Generation::Kmod30,
        module_dir: root.join("lib/modules").join(RELEASE),
        config_paths: Some(vec![root.join("conf")]),
        cmdline: Cmdline::None,
        host: HostPaths {
            proc_modules: root.join("proc-modules"),
            sysfs: root.join("sys"),
            cmdline: root.join("cmdline"),
        },
    }
}

fn names(mods: &[Module]) -> Vec<&str> {
    mods.iter().map(|m| m.name.as_str()).collect()
}

#[derive(Default)]
struct NoCommands;

impl CommandRunner for NoCommands {
    fn run(&mut self, _: CommandKind, _: &str, _: &str) -> Result<(), CommandFailure> {
        Err(CommandFailure::Status(127))
    }
}

#[test]
fn context_is_owned_and_sendable() {
    fn send<T: Send + 'static>() {}
    send::<Context>();
}

#[test]
fn lookups_and_plans() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let ctx = Context::new(options(tmp.path()));
    assert!(ctx.dir_error().is_none());
    let top = ctx.lookup("top").unwrap();
    assert_eq!(names(&top), ["top"]);
    let plan = ctx.plan(&top[0], "x=1", false).unwrap();
    let order: Vec<&str> = plan.iter().map(|s| s.module.name.as_str()).collect();
    // kmod's order: each hard dependency (with its own softdeps), then the module's
    // soft pre-dependencies, the module, its post-dependencies.
    assert_eq!(order, ["base", "pre", "top"]);
    assert_eq!(plan[2].options, "x=1");
    // By alias: found, and the blacklist applies to aliases (and to names with -b).
    let aliased = ctx.lookup("my-alias").unwrap();
    assert_eq!(names(&aliased), ["other"]);
    assert!(ctx.blacklist_skips(&aliased[0], false));
    let by_name = ctx.lookup("other").unwrap();
    assert!(!ctx.blacklist_skips(&by_name[0], false));
    assert!(ctx.blacklist_skips(&by_name[0], true));
    assert!(ctx.without_blacklisted(by_name).is_empty());
    assert!(ctx.lookup("nothing_here").unwrap().is_empty());
    // The index dump: base_fn's symbol alias.
    let mut out = Vec::new();
    ctx.dump_aliases(&mut out).unwrap();
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("alias symbol:base_fn base\n"));
}

#[test]
fn missing_module_directory_finds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Context::new(options(tmp.path()));
    assert!(ctx.dir_error().is_some());
    assert!(ctx.lookup("top").unwrap().is_empty());
    assert!(Context::open(options(tmp.path())).is_err());
}

#[test]
fn initstate_checks_builtin_first() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let sys = tmp.path().join("sys/module");
    // bi has a /sys/module directory claiming "live", as a built-in module with
    // parameters has one without initstate: built in wins.
    std::fs::create_dir_all(sys.join("bi")).unwrap();
    std::fs::create_dir_all(sys.join("base")).unwrap();
    std::fs::write(sys.join("base/initstate"), "live\n").unwrap();
    let ctx = Context::new(options(tmp.path()));
    assert_eq!(ctx.initstate("bi"), Some(InitState::Builtin));
    assert_eq!(ctx.initstate("base"), Some(InitState::Live));
    assert_eq!(ctx.initstate("top"), None);
}

#[test]
fn serial_and_parallel_probes_and_removal_on_a_simulated_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let ctx = Context::new(options(tmp.path()));
    let mut events = Vec::new();
    let mut report = |e: Event| {
        if let Event::Error(e) = e {
            events.push(e.to_string());
        }
    };
    // Serial: loaded as submitted, in kmod's order.
    let kernel = SharedSimKernel::new(SimKernel::default(), std::time::Duration::ZERO);
    let mut p = ctx.prober(
        kernel,
        ProbeSettings {
            flags: ProbeFlags::default(),
            jobs: 1,
        },
    );
    assert!(!p.is_parallel());
    let top = ctx.lookup("top").unwrap().remove(0);
    let steps = ctx.plan(&top, "", false).unwrap();
    p.submit(top.clone(), steps, &mut NoCommands, &mut report)
        .unwrap();
    assert!(p.finish(&mut NoCommands, &mut report).is_empty());
    let calls = p.kernel().inner.lock().unwrap().calls.clone();
    assert_eq!(calls, ["load base", "load pre", "load top"]);
    // Removal takes the unused dependencies along.
    p.remove(&top, &mut NoCommands, &mut |_| {}).unwrap();
    let k = p.kernel().inner.lock().unwrap();
    assert!(k.loaded.is_empty(), "{:?}", k.loaded);
    drop(k);
    // Parallel: queued, then loaded together; dependencies still first.
    let kernel = SharedSimKernel::new(SimKernel::default(), std::time::Duration::from_millis(1));
    let mut p = ctx.prober(
        kernel,
        ProbeSettings {
            flags: ProbeFlags::default(),
            jobs: 2,
        },
    );
    assert!(p.is_parallel());
    for n in ["top", "other"] {
        let m = ctx.lookup(n).unwrap().remove(0);
        let steps = ctx.plan(&m, "", false).unwrap();
        p.submit(m, steps, &mut NoCommands, &mut report).unwrap();
    }
    assert!(
        p.kernel().inner.lock().unwrap().calls.is_empty(),
        "queued, not loaded"
    );
    assert!(p.finish(&mut NoCommands, &mut report).is_empty());
    let calls = p.kernel().inner.lock().unwrap().calls.clone();
    let pos = |n: &str| {
        calls
            .iter()
            .position(|c| *c == format!("load {n}"))
            .unwrap()
    };
    assert!(
        pos("base") < pos("top") && pos("base") < pos("other"),
        "{calls:?}"
    );
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn validate_and_reload_after_the_indexes_change() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tree(tmp.path());
    let mut ctx = Context::new(options(tmp.path()));
    ctx.load_resources().unwrap();
    assert_eq!(ctx.validate(), Resources::Ok);
    assert!(ctx.lookup("late").unwrap().is_empty());
    // A module added and its lookup indexes replaced (indexed aside, as depmod -o, and
    // moved in): the old context answers from the indexes it opened until it reloads.
    std::thread::sleep(std::time::Duration::from_millis(20));
    t.add(
        &SynthModule::new("late").import("base_fn"),
        "kernel",
        Codec::None,
    );
    let aside = tmp.path().join("aside");
    index_into(&t, Some(aside.clone()));
    let new = aside.join("lib/modules").join(RELEASE);
    for f in [
        "modules.dep.bin",
        "modules.alias.bin",
        "modules.symbols.bin",
        "modules.dep",
    ] {
        std::fs::rename(new.join(f), t.moddir().join(f)).unwrap();
    }
    assert!(ctx.lookup("late").unwrap().is_empty());
    assert_eq!(ctx.validate(), Resources::MustReload);
    ctx.reload();
    assert_eq!(ctx.validate(), Resources::Ok);
    assert_eq!(names(&ctx.lookup("late").unwrap()), ["late"]);
    // A configuration file added: the context must be recreated.
    std::fs::write(tmp.path().join("conf/b.conf"), "options top y=2\n").unwrap();
    assert_eq!(ctx.validate(), Resources::MustRecreate);
    // kmod validates only the indexes it loaded: a rerun of depmod goes unnoticed by a
    // context that never loaded them, and asks a loaded one to reload (not to recreate,
    // although the configuration reads modules.softdep: kmod stamps only the
    // configuration paths).
    let mut ctx = Context::new(options(tmp.path()));
    std::thread::sleep(std::time::Duration::from_millis(20));
    index(&t);
    assert_eq!(ctx.validate(), Resources::Ok);
    ctx.load_resources().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    index(&t);
    assert_eq!(ctx.validate(), Resources::MustReload);
    ctx.unload_resources();
    assert_eq!(ctx.validate(), Resources::Ok);
    // A missing index fails kmod_load_resources, and nothing stays loaded.
    std::fs::remove_file(t.moddir().join("modules.symbols.bin")).unwrap();
    assert!(ctx.load_resources().is_err());
    assert!(!ctx.resources_loaded());
}

#[test]
fn two_contexts_on_two_threads() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let root = tmp.path().to_path_buf();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let ctx = Context::new(options(&root));
            std::thread::spawn(move || {
                (0..200)
                    .map(|_| ctx.lookup("top").unwrap()[0].name.clone())
                    .filter(|n| n == "top")
                    .count()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
}

#[test]
fn log_priority_filters_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ctx = Context::new(options(tmp.path()));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    ctx.set_log_fn(Some(Box::new(move |l, m| {
        s.lock().unwrap().push(format!("{}: {m}", l.word()))
    })));
    ctx.set_log_priority(Level::Warning);
    ctx.log(Level::Error, "shown");
    ctx.log(Level::Info, "hidden");
    assert_eq!(*seen.lock().unwrap(), ["ERROR: shown"]);
}
