//! A whole depmod run over a tiny tree: two good modules (alpha exports alpha_fn, beta
//! imports it) and one module whose bytes are the input (the first byte picks its suffix:
//! .ko, .ko.gz, .ko.xz or .ko.zst). depmod never panics, and whenever it succeeds (it fails
//! only on a dependency cycle, which a valid input module importing its own export makes,
//! as in kmod) modules.dep lists both good modules, beta depending on a module that exports
//! alpha_fn.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rprobe_depmod::{run, Level, Options};
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

const VERSION: &str = "6.1.0-fuzz";
const SUFFIXES: [&str; 4] = [".ko", ".ko.gz", ".ko.xz", ".ko.zst"];

struct Tree {
    root: PathBuf,
    moddir: PathBuf,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        // One worker thread: three modules are not worth handing across threads, and
        // beside another fuzzing process most of the time went to switching between them.
        std::env::set_var("RAYON_NUM_THREADS", "1");
        // Keep decompression bombs small: the cap is what is under test, not the machine.
        std::env::set_var(
            rprobe_modfile::decompress::MAX_SIZE_ENV,
            (8u64 << 20).to_string(),
        );
        // Memory-backed when possible: each run writes and syncs every index.
        let root = rprobe_fuzz::scratch_dir("depmod_tree");
        let t = SynthTree::new(&root, VERSION);
        t.add(
            &SynthModule::new("alpha").export("alpha_fn"),
            "kernel",
            Codec::None,
        );
        t.add(
            &SynthModule::new("beta").import("alpha_fn"),
            "kernel",
            Codec::Xz,
        );
        let moddir = t.moddir();
        Tree { root, moddir }
    })
}

fuzz_target!(|data: &[u8]| {
    let t = tree();
    let (suffix, bytes) = match data.split_first() {
        Some((&b, rest)) => (SUFFIXES[usize::from(b % 4)], rest),
        None => (".ko", data),
    };
    let dir = t.moddir.join("kernel");
    for s in SUFFIXES {
        let _ = std::fs::remove_file(dir.join(format!("bad{s}")));
    }
    let _ = std::fs::remove_file(t.moddir.join("modules.dep"));
    std::fs::write(dir.join(format!("bad{suffix}")), bytes).expect("write input module");

    let opts = Options {
        basedir: Some(t.root.clone()),
        kversion: VERSION.into(),
        config_paths: Some(vec![]),
        ..Options::default()
    };
    let mut log: Vec<(Level, String)> = Vec::new();
    let ok = run(&opts, &mut |lv, m| log.push((lv, m))).expect("depmod on a readable tree");
    if !ok {
        // Only a cycle stops depmod, and only the input module can be in one.
        assert!(
            log.iter().any(|(_, m)| m.contains("Cycle detected")),
            "{log:?}"
        );
        for (_, m) in &log {
            if let Some(chain) = m.strip_prefix("Cycle detected: ") {
                assert!(chain.split(" -> ").all(|n| n == "bad"), "{log:?}");
            }
        }
        return;
    }
    let dep = std::fs::read_to_string(t.moddir.join("modules.dep")).expect("modules.dep");
    assert!(
        dep.lines().any(|l| l == "kernel/alpha.ko:"),
        "alpha missing: {dep}"
    );
    let beta = dep
        .lines()
        .find(|l| l.starts_with("kernel/beta.ko.xz:"))
        .unwrap_or_else(|| panic!("beta missing: {dep}"));
    assert!(
        beta == "kernel/beta.ko.xz: kernel/alpha.ko" || beta.contains("kernel/bad"),
        "beta's dependency: {beta}"
    );
    // Full paths: the input's own text (an alias, say) may quote "alpha.ko", never the
    // random temporary directory.
    for good in ["alpha.ko", "beta.ko.xz"] {
        let path = dir.join(good).display().to_string();
        assert!(
            log.iter().all(|(_, m)| !m.contains(&path)),
            "a good module reported: {log:?}"
        );
    }
});
