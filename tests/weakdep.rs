//! modules.weakdep (kmod 33+): `depmod --weakdep` writes it from the modules' `weakdep=`
//! modinfo fields in kmod 33's format ("# Weak dependencies extracted from modules
//! themselves." then `weakdep MODNAME VALUE` per value, modules in modules.dep order, values
//! in modinfo order); by default depmod stays byte-identical to kmod 30, which writes none.
//! modprobe reads the file as kmod 33+ does (beside modules.softdep): `-c` shows the lines,
//! load plans (--show-depends) never include weak dependencies, initramfs closures include
//! the modules of the first matching weakdep line (kmod_module_get_weakdeps' rule).

use rprobe_index::generation::Generation;
use std::ffi::OsString;
use std::path::Path;

use rprobe_index::index::ModuleDir;
use rprobe_resolve::{Config, Resolver};
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

use crate::util::*;

const VERSION: &str = "6.1.0-weak";

/// The fixture's modules: (module, its weakdep values in modinfo order).
fn modules() -> Vec<(SynthModule, Vec<&'static str>)> {
    vec![
        (
            SynthModule::new("wd-main")
                .info("weakdep", "wd-a")
                .info("alias", "wd-main-alias")
                .info("weakdep", "wd-b")
                .info("softdep", "pre: wd-pre")
                .import("wd_core_sym"),
            vec!["wd-a", "wd-b"],
        ),
        (SynthModule::new("wd-core").export("wd_core_sym"), vec![]),
        (SynthModule::new("wd-a"), vec![]),
        (SynthModule::new("wd-b"), vec![]),
        (SynthModule::new("wd-pre"), vec![]),
        (
            SynthModule::new("wd_other").info("weakdep", "wd-b wd-core"),
            vec!["wd-b wd-core"],
        ),
    ]
}

fn tree(root: &Path) -> SynthTree {
    let t = SynthTree::new(root, VERSION);
    for (m, _) in modules() {
        t.add(&m, "kernel/weak", Codec::None);
    }
    t
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// depmod: default output equals kmod 30's (no modules.weakdep); --weakdep adds exactly
/// modules.weakdep in kmod 33's format, every other file still kmod 30's; -n prints it
/// after modules.softdep, where kmod 33 prints it.
#[test]
fn depmod_weakdep_file_in_kmod33_format_and_off_by_default() {
    let (k, r, rw) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (tk, tr, tw) = (tree(k.path()), tree(r.path()), tree(rw.path()));
    kmod_depmod(k.path(), VERSION);
    rprobe_depmod(r.path(), &empty_conf(r.path()), VERSION);
    let conf = empty_conf(rw.path());
    let o = run(
        &rprobe(),
        [
            "depmod".as_ref(),
            "--weakdep".as_ref(),
            "-b".as_ref(),
            rw.path().as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            VERSION.as_ref(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let kfiles = index_files(&tk.moddir());
    assert!(!kfiles.contains(&"modules.weakdep".to_string()));
    assert_eq!(
        index_files(&tr.moddir()),
        kfiles,
        "default: kmod 30's files"
    );
    let mut with_weak = kfiles.clone();
    with_weak.push("modules.weakdep".into());
    with_weak.sort();
    assert_eq!(
        index_files(&tw.moddir()),
        with_weak,
        "--weakdep adds one file"
    );
    for f in &kfiles {
        assert_eq!(
            read(&tk.moddir().join(f)),
            read(&tr.moddir().join(f)),
            "{f} (default)"
        );
        assert_eq!(
            read(&tk.moddir().join(f)),
            read(&tw.moddir().join(f)),
            "{f} (--weakdep)"
        );
    }

    // The expected file, from kmod's modules.dep order and each module's modinfo.
    let dep = String::from_utf8(read(&tk.moddir().join("modules.dep"))).expect("utf-8");
    let fields = modules();
    let mut want = String::from("# Weak dependencies extracted from modules themselves.\n");
    for line in dep.lines() {
        let path = line.split(':').next().unwrap_or_default();
        let file = path.rsplit('/').next().unwrap_or_default();
        let name = file.trim_end_matches(".ko");
        let (m, values) = fields
            .iter()
            .find(|(m, _)| m.name == name)
            .unwrap_or_else(|| panic!("{name} in modules.dep"));
        for v in values {
            want.push_str(&format!("weakdep {} {v}\n", m.name.replace('-', "_")));
        }
    }
    assert_eq!(want.lines().count(), 4, "{want}");
    assert_eq!(
        String::from_utf8(read(&tw.moddir().join("modules.weakdep"))).expect("utf-8"),
        want
    );

    // -n: kmod 30's text files, modules.weakdep's text right after modules.softdep's.
    let dry = |weak: bool| {
        let mut a: Vec<OsString> = vec!["depmod".into(), "-n".into()];
        if weak {
            a.push("--weakdep".into());
        }
        a.extend(["-b".into(), k.path().into(), "-C".into()]);
        a.push(empty_conf(k.path()).into());
        a.push(VERSION.into());
        run(&rprobe(), a)
    };
    let kn = run(
        &kmod("depmod"),
        [
            "-n".as_ref(),
            "-b".as_ref(),
            k.path().as_os_str(),
            "-C".as_ref(),
            empty_conf(k.path()).as_os_str(),
            VERSION.as_ref(),
        ],
    );
    let kn = String::from_utf8(kn.stdout).expect("utf-8");
    assert_eq!(String::from_utf8(dry(false).stdout).expect("utf-8"), kn);
    let at = kn
        .find("# Aliases for symbols")
        .expect("modules.symbols follows modules.softdep");
    let mut want_n = kn.clone();
    want_n.insert_str(at, &want);
    assert_eq!(String::from_utf8(dry(true).stdout).expect("utf-8"), want_n);
}

/// modprobe on a tree with modules.weakdep: -c shows the weakdep lines after the softdeps
/// (kmod 33's order; kmod 30, which does not read the file, prints the rest the same);
/// --show-depends is kmod's (weak dependencies are never loaded); the initramfs closure
/// adds the first matching line's modules.
#[test]
fn modprobe_reads_weakdeps_as_kmod33() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tree(tmp.path());
    let conf = empty_conf(tmp.path());
    let o = run(
        &rprobe(),
        [
            "depmod".as_ref(),
            "--weakdep".as_ref(),
            "-b".as_ref(),
            tmp.path().as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            VERSION.as_ref(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let args = |extra: &[&str]| {
        let mut v: Vec<OsString> = vec![
            "-d".into(),
            tmp.path().into(),
            "-S".into(),
            VERSION.into(),
            "-C".into(),
            conf.clone().into(),
        ];
        v.extend(extra.iter().map(OsString::from));
        v
    };
    let both = |extra: &[&str]| {
        let k = run(&kmod("modprobe"), args(extra));
        let mut ra: Vec<OsString> = vec!["modprobe".into()];
        ra.extend(args(extra));
        let r = run(&rprobe(), ra);
        (k, r)
    };

    let (k, r) = both(&["-c"]);
    assert_eq!(code(&k), 0);
    assert_eq!(code(&r), 0);
    let kc = String::from_utf8(k.stdout).expect("utf-8");
    let at = kc
        .find("\n# End of configuration files.")
        .expect("kmod's -c end marker");
    let mut want = kc.clone();
    want.insert_str(
        at,
        "weakdep wd_main wd-a\nweakdep wd_main wd-b\nweakdep wd_other wd-b wd-core\n",
    );
    assert_eq!(String::from_utf8(r.stdout).expect("utf-8"), want);

    let mut plans = std::collections::HashMap::new();
    for name in ["wd-main", "wd_other", "wd-main-alias"] {
        let (k, r) = both(&["--show-depends", name]);
        assert_eq!(code(&k), 0, "{name}");
        assert_eq!(code(&r), code(&k), "{name}");
        let ks = String::from_utf8_lossy(&k.stdout).into_owned();
        assert_eq!(String::from_utf8_lossy(&r.stdout), ks, "{name}");
        assert!(!ks.contains("wd_a.ko") && !ks.contains("wd-a.ko"), "{ks}");
        // kmod's plan as module names, for the closure below.
        let names: Vec<String> = ks
            .lines()
            .filter_map(|l| l.strip_prefix("insmod "))
            .map(|p| {
                let f = p.trim().rsplit('/').next().unwrap_or_default();
                f.trim_end_matches(".ko").replace('-', "_")
            })
            .collect();
        plans.insert(name, names);
    }
    let dir = ModuleDir::open(&t.moddir()).expect("dir");
    let cfg = Config::load(
        Generation::Kmod30,
        Some(std::slice::from_ref(&conf)),
        Some(&t.moddir()),
        None,
    );
    let r = Resolver {
        dir: &dir,
        config: &cfg,
    };
    let closure = |n: &str| -> Vec<String> {
        r.closure(&[n.into()])
            .expect("closure")
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    // wd_main: kmod's plan, then wd_a from the first weakdep line only.
    let mut want = plans["wd-main"].clone();
    assert_eq!(want.len(), 3, "softdep pre, dependency, module: {want:?}");
    want.push("wd_a".into());
    assert_eq!(closure("wd-main"), want);
    // A line with two modules brings both.
    let mut want = plans["wd_other"].clone();
    want.extend(["wd_b".to_string(), "wd_core".to_string()]);
    assert_eq!(closure("wd_other"), want);
}
