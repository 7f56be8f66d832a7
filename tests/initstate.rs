//! kmod's module states against the running kernel: a /sys/module/NAME directory without an
//! initstate file (a module built into the running kernel) is "coming" for kmod, not loaded
//! and not built in (built in comes from the target tree's modules.builtin). This machine's
//! kernel has no module support but many built-in modules, some of which the Debian 6.12
//! tree ships as modules (jbd2, loop, overlay, virtio_blk, ...): rprobe must print and try
//! exactly what kmod does for them, loading, removing and with --first-time.

use std::ffi::OsString;

use rprobe_testkit::real_tree;

use crate::util::*;

/// kmod's messages with the tool prefix removed, as rprobe prints the same words.
fn words(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr).replace("modprobe: ", "")
}

#[test]
fn sysfs_directories_without_initstate_are_coming_as_in_kmod() {
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let moddir = tmp.path().join("lib/modules").join(&tree.version);
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).expect("modules.dep");
    let in_tree: std::collections::BTreeSet<String> = dep
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(|p| rprobe_index::name::modname_from_path(std::path::Path::new(p)))
        .collect();
    let mut names: Vec<String> = std::fs::read_dir("/sys/module")
        .map(|rd| {
            rd.flatten()
                .filter(|e| !e.path().join("initstate").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| in_tree.contains(n))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        assert!(
            !rprobe_testkit::real_required(),
            "this kernel has no built-in module that the 6.12 tree ships as a module"
        );
        eprintln!("SKIPPED: no built-in module of the running kernel is in the tree");
        return;
    }
    // Also a module that needs one of them (ext4 needs jbd2 when jbd2 is built in here).
    names.push("ext4".into());
    let conf = empty_conf(tmp.path());
    let base: Vec<OsString> = vec![
        "-d".into(),
        tmp.path().into(),
        "-S".into(),
        tree.version.clone().into(),
        "-C".into(),
        conf.into(),
    ];
    let cases: [&[&str]; 5] = [
        &["-n", "-v"],
        &["-n", "-v", "--first-time"],
        &["-r", "-n", "-v"],
        &["-r", "-n", "-v", "--first-time"],
        &["--show-depends"],
    ];
    for name in &names {
        for case in cases {
            let mut args = base.clone();
            args.extend(case.iter().map(OsString::from));
            args.push(name.into());
            let k = run(&kmod("modprobe"), &args);
            let mut ours = vec![OsString::from("modprobe")];
            ours.extend(args.iter().cloned());
            let r = run(&rprobe(), &ours);
            assert_no_panic(&r, name);
            let what = format!("{case:?} {name}");
            assert_eq!(
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&k.stdout),
                "{what}: stdout"
            );
            assert_eq!(words(&r.stderr), words(&k.stderr), "{what}: stderr");
            assert_eq!(code(&r), code(&k), "{what}: exit code");
        }
    }
}

#[test]
fn a_fatal_message_ends_modprobe_as_in_kmod() {
    // kmod's LOG at FATAL exits at once (status 1); -q silences it and goes on; -a lowers it
    // to a warning. Each case against kmod on a synthetic tree.
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = rprobe_testkit::synth::SynthTree::new(tmp.path(), "6.1.0-fatal");
    t.add(
        &rprobe_testkit::synth::SynthModule::new("present"),
        "kernel",
        rprobe_testkit::synth::Codec::None,
    );
    kmod_depmod(&t.root, &t.version);
    let conf = empty_conf(&t.root);
    let base: Vec<OsString> = vec![
        "-d".into(),
        t.root.clone().into(),
        "-S".into(),
        t.version.clone().into(),
        "-C".into(),
        conf.into(),
    ];
    let cases: [&[&str]; 6] = [
        &["-r", "--first-time", "nosuch1", "nosuch2"],
        &["-q", "-r", "--first-time", "nosuch1", "nosuch2"],
        &["-r", "nosuch1", "present"],
        &["-a", "-n", "-v", "nosuch1", "present", "nosuch2"],
        &["-r", "-a", "nosuch1", "nosuch2"],
        &["-n", "-v", "nosuch1"],
    ];
    for case in cases {
        let mut args = base.clone();
        args.extend(case.iter().map(OsString::from));
        let k = run(&kmod("modprobe"), &args);
        let mut ours = vec![OsString::from("modprobe")];
        ours.extend(args.iter().cloned());
        let r = run(&rprobe(), &ours);
        assert_no_panic(&r, "fatal");
        assert_eq!(words(&r.stderr), words(&k.stderr), "{case:?}: stderr");
        assert_eq!(r.stdout, k.stdout, "{case:?}: stdout");
        assert_eq!(code(&r), code(&k), "{case:?}: exit code");
    }
}
