//! The simulated kernel driven by real plans: modules resolved by rprobe-resolve from
//! indexes kmod's depmod wrote, loaded in plan order into `SimKernel`, which refuses a
//! module whose symbols no loaded module exports. Proves the plan order is a valid load
//! order for every module of the real 6.1 tree, and that a wrong order fails.

use rprobe_index::index::ModuleDir;
use rprobe_load::{Kernel, LoadFlags, SimKernel};
use rprobe_resolve::{Config, Resolver};
use rprobe_testkit::real_tree;
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

use crate::util::*;

/// Symbols the kernel image itself exports: every import no module exports.
fn kernel_symbols(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    let mut exported = std::collections::BTreeSet::new();
    let mut imported = std::collections::BTreeSet::new();
    for f in module_files(dir) {
        let r = rprobe_index::record::read_module(&f).expect("module reads");
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
