//! `rprobe` as modprobe against kmod's modprobe, run live: --show-depends for every module
//! name of the real 6.12 tree, the names with '-'/'_' swapped, over ten thousand strings
//! made from modules.alias patterns, symbol: lookups and names found nowhere, with indexes
//! from kmod's depmod and from rprobe's; -R and -c on fixture configurations.

use rprobe_index::generation::Generation;
use std::ffi::OsString;
use std::path::Path;
use std::process::Output;

use rprobe_index::index::ModuleDir;
use rprobe_resolve::{Config, Resolver};
use rprobe_testkit::real_tree;
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

use crate::util::*;

/// Messages reduced to what they say: libkmod prefixes its own with the C source location
/// ("libkmod: ERROR ../libkmod/x.c:712 func: MSG"); rprobe says "modprobe: ERROR: MSG".
fn said(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| {
            if let Some(rest) = l.strip_prefix("libkmod: ERROR ") {
                let rest = rest.split_once(' ').map(|x| x.1).unwrap_or(rest);
                let msg = rest.split_once(": ").map(|x| x.1).unwrap_or(rest);
                format!("ERROR: {msg}\n")
            } else if let Some(m) = l.strip_prefix("modprobe: ") {
                format!("{m}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

fn modprobe_both(pre: &[OsString], names: &[String]) -> (Output, Output) {
    let mut a: Vec<OsString> = pre.to_vec();
    a.extend(names.iter().map(OsString::from));
    let k = run(&kmod("modprobe"), &a);
    let mut b: Vec<OsString> = vec!["modprobe".into()];
    b.extend(a);
    let r = run(&rprobe(), &b);
    (k, r)
}

/// Compares `-a -D` over names in batches; on a difference, finds the first name that
/// differs on its own and reports it.
fn compare_show_depends(root: &Path, version: &str, conf: &Path, names: &[String], what: &str) {
    let pre: Vec<OsString> = vec![
        "-d".into(),
        root.into(),
        "-S".into(),
        version.into(),
        "-C".into(),
        conf.into(),
        "-a".into(),
        "-D".into(),
    ];
    compare_in_batches(names, what, |chunk| modprobe_both(&pre, chunk));
}

/// A concrete string an fnmatch pattern matches: '*' emptied, '?' and [...] replaced by a
/// character they accept.
fn instantiate(p: &str) -> String {
    let b: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            '*' => {}
            '?' => out.push('0'),
            '[' => {
                let end = b[i + 1..].iter().position(|&c| c == ']').map(|e| i + 1 + e);
                match end {
                    Some(e) if e > i + 1 => {
                        let set = &b[i + 1..e];
                        if set[0] == '!' || set[0] == '^' {
                            let excluded: String = set[1..].iter().collect();
                            let c = ('0'..='z').find(|c| !excluded.contains(*c)).unwrap_or('~');
                            out.push(c);
                        } else {
                            out.push(set[0]);
                        }
                        i = e;
                    }
                    _ => out.push('['),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn swap_dash(n: &str) -> String {
    n.chars()
        .map(|c| match c {
            '_' => '-',
            '-' => '_',
            c => c,
        })
        .collect()
}

fn show_depends_real(rprobe_indexes: bool) {
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let tmp = link_tree(&tree);
    let root = tmp.path();
    if rprobe_indexes {
        rprobe_depmod(root, &empty_conf(root), &tree.version);
    } else {
        kmod_depmod(root, &tree.version);
    }
    let conf = empty_conf(root);
    let dir = root.join("lib/modules").join(&tree.version);
    let names: Vec<String> = module_names(&dir);
    assert!(names.len() > 4000);
    let what = if rprobe_indexes {
        "rprobe indexes"
    } else {
        "kmod indexes"
    };
    compare_show_depends(root, &tree.version, &conf, &names, what);
    let swapped: Vec<String> = names
        .iter()
        .filter(|n| n.contains(['-', '_']))
        .map(|n| swap_dash(n))
        .collect();
    compare_show_depends(root, &tree.version, &conf, &swapped, what);
    let aliases = std::fs::read_to_string(dir.join("modules.alias")).expect("modules.alias");
    let patterns: Vec<&str> = aliases
        .lines()
        .filter_map(|l| l.strip_prefix("alias "))
        .filter_map(|l| l.rsplit_once(' ').map(|(p, _)| p))
        .collect();
    let step = (patterns.len() / 10_000).max(1);
    let strings: Vec<String> = patterns
        .iter()
        .step_by(step)
        .map(|p| instantiate(p))
        .collect();
    assert!(
        strings.len() >= 10_000 || strings.len() == patterns.len(),
        "{}",
        strings.len()
    );
    compare_show_depends(root, &tree.version, &conf, &strings, what);
    let symbols = std::fs::read_to_string(dir.join("modules.symbols")).expect("modules.symbols");
    let syms: Vec<String> = symbols
        .lines()
        .filter_map(|l| l.strip_prefix("alias "))
        .filter_map(|l| l.split_once(' ').map(|(s, _)| s.to_string()))
        .step_by(40)
        .collect();
    compare_show_depends(root, &tree.version, &conf, &syms, what);
    let nowhere: Vec<String> = (0..30)
        .map(|i| format!("no-such-module-{i}"))
        .chain([
            "symbol:nope".into(),
            "pci:v0000FFFFd*".into(),
            "fs-nofs".into(),
        ])
        .collect();
    compare_show_depends(root, &tree.version, &conf, &nowhere, what);
}

#[test]
fn real_612_show_depends_kmod_indexes() {
    show_depends_real(false);
}

#[test]
fn real_612_show_depends_rprobe_indexes() {
    show_depends_real(true);
}

/// A configuration using every directive, in two directories, plus a synthetic tree for
/// what real trees lack: softdep loops, install commands, aliases to nothing and to
/// built-in modules, blacklists.
fn fixture(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let t = SynthTree::new(root, "6.1.0-synth");
    t.add(
        &SynthModule::new("base").export("base_fn"),
        "kernel/lib",
        Codec::None,
    );
    t.add(
        &SynthModule::new("mid").import("base_fn").export("mid_fn"),
        "kernel/drivers",
        Codec::Xz,
    );
    t.add(
        &SynthModule::new("top")
            .import("mid_fn")
            .info("alias", "fs-top"),
        "kernel/fs",
        Codec::None,
    );
    t.add(
        &SynthModule::new("loop-a").info("softdep", "pre: loop_b"),
        "kernel/misc",
        Codec::None,
    );
    t.add(
        &SynthModule::new("loop-b").info("softdep", "post: loop-a"),
        "kernel/misc",
        Codec::None,
    );
    t.add(
        &SynthModule::new("helper").info("alias", "helper-alias"),
        "kernel/misc",
        Codec::None,
    );
    t.add(
        &SynthModule::new("bad-one").info("alias", "bad-alias"),
        "kernel/misc",
        Codec::None,
    );
    t.file("modules.builtin", "kernel/fs/ext4/ext4.ko\n");
    let mut bi = Vec::new();
    for s in ["ext4.alias=fs-ext4", "ext4.license=GPL"] {
        bi.extend_from_slice(s.as_bytes());
        bi.push(0);
    }
    std::fs::write(t.moddir().join("modules.builtin.modinfo"), bi).expect("write");
    let etc = root.join("etc-modprobe.d");
    let lib = root.join("lib-modprobe.d");
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::create_dir_all(&lib).expect("mkdir");
    std::fs::write(
        etc.join("50-test.conf"),
        "# every directive\nalias my-top top\nalias to-nothing no_such_mod\nalias to-builtin ext4\n\
         options top answer=42 name=\"a b\"\noptions fs-top via=alias\ninstall helper /bin/true $CMDLINE_OPTS\n\
         remove helper /bin/false\nblacklist bad-one\nsoftdep top pre: helper post: loop-a\n\
         softdep mid pre: base\nbogus directive\ninclude /etc/x.conf\n",
    )
    .expect("write");
    std::fs::write(lib.join("50-test.conf"), "options top hidden=1\n").expect("write");
    std::fs::write(lib.join("60-lib.conf"), "options base from_lib=1\n").expect("write");
    (etc, lib)
}

#[test]
fn fixture_config_show_config_resolve_and_depends() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let (etc, lib) = fixture(root);
    kmod_depmod(root, "6.1.0-synth");
    let base: Vec<OsString> = vec![
        "-d".into(),
        root.into(),
        "-S".into(),
        "6.1.0-synth".into(),
        "-C".into(),
        etc.into(),
        "-C".into(),
        lib.into(),
    ];
    let names: Vec<String> = [
        "top",
        "my-top",
        "fs-top",
        "to-nothing",
        "to-builtin",
        "ext4",
        "fs-ext4",
        "loop-a",
        "loop_b",
        "helper",
        "helper-alias",
        "bad-one",
        "bad-alias",
        "mid",
        "symbol:mid_fn",
        "nothing-here",
    ]
    .map(String::from)
    .to_vec();
    for mode in [
        &["-c"][..],
        &["-R"],
        &["-D"],
        &["-D", "-b"],
        &["-D", "-i"],
        &["-n", "-v"],
    ] {
        let mut pre = base.clone();
        pre.extend(mode.iter().map(OsString::from));
        if mode == ["-c"] {
            let (k, r) = modprobe_both(&pre, &[]);
            assert_eq!(
                String::from_utf8_lossy(&k.stdout),
                String::from_utf8_lossy(&r.stdout),
                "-c"
            );
            assert_eq!(said(&k.stderr), said(&r.stderr), "-c messages");
            continue;
        }
        for n in &names {
            let mut args = vec![n.clone()];
            if mode == ["-D"] && n == "top" {
                args.push("extra=1".into());
                args.push("spaced=x y".into());
            }
            let (k, r) = modprobe_both(&pre, &args);
            assert_no_panic(&r, n);
            assert_eq!(
                String::from_utf8_lossy(&k.stdout),
                String::from_utf8_lossy(&r.stdout),
                "{mode:?} {n}"
            );
            assert_eq!(said(&k.stderr), said(&r.stderr), "{mode:?} {n}: messages");
            assert_eq!(code(&k), code(&r), "{mode:?} {n}: exit code");
        }
    }
}

/// The kernel command line: kmod 30 only reads /proc/cmdline, so rprobe's is compared on
/// this machine's own command line (-c), and the file option is checked for its effect.
#[test]
fn kernel_command_line_options_and_blacklist() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let (etc, _) = fixture(root);
    kmod_depmod(root, "6.1.0-synth");
    let cmdline = root.join("cmdline");
    std::fs::write(
        &cmdline,
        "quiet top.fromcmd=7 modprobe.blacklist=helper,mid \"top.q=a b\"\n",
    )
    .expect("write");
    let o = run(
        &rprobe(),
        [
            "-c".as_ref(),
            "-d".as_ref(),
            root.as_os_str(),
            "-S".as_ref(),
            "6.1.0-synth".as_ref(),
            "-C".as_ref(),
            etc.as_os_str(),
            "--kernel-cmdline".as_ref(),
            cmdline.as_os_str(),
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("blacklist helper\nblacklist mid\n"), "{out}");
    assert!(out.contains("options top fromcmd=7\n"), "{out}");
    assert!(out.contains("options top q=\"a b\"\n"), "{out}");
    let o = std::process::Command::new(rprobe())
        .args([
            "-D".as_ref(),
            "-d".as_ref(),
            root.as_os_str(),
            "-S".as_ref(),
            "6.1.0-synth".as_ref(),
        ])
        .args(["-C".as_ref(), etc.as_os_str(), "top".as_ref()])
        .env("RPROBE_KERNEL_CMDLINE", &cmdline)
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("answer=42 name=\"a b\" fromcmd=7 q=\"a b\""),
        "{out}"
    );
}

/// What kmod cannot show: a hard-dependency loop in hand-made indexes is an error naming
/// the modules (and never a hang); a module given by path resolves through modules.dep;
/// weak dependencies join initramfs closures but never a load plan.
#[test]
fn cycles_paths_and_weakdeps() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let t = SynthTree::new(root, "6.1.0-synth");
    let a = t.add(&SynthModule::new("cyc-a"), "kernel", Codec::None);
    t.add(&SynthModule::new("cyc-b"), "kernel", Codec::None);
    t.add(&SynthModule::new("plain"), "kernel", Codec::None);
    t.add(&SynthModule::new("other"), "kernel", Codec::None);
    // Text index only (no .bin): rprobe falls back to it. depmod never writes a loop, so
    // this one is written by hand, as closures (each module lists its whole closure).
    t.file(
        "modules.dep",
        "kernel/cyc-a.ko: kernel/cyc-b.ko kernel/cyc-a.ko\nkernel/cyc-b.ko: kernel/cyc-a.ko kernel/cyc-b.ko\nkernel/plain.ko:\nkernel/other.ko:\n",
    );
    let conf = empty_conf(root);
    let d = |args: &[&str]| {
        let mut v: Vec<OsString> = vec![
            "-d".into(),
            root.into(),
            "-S".into(),
            "6.1.0-synth".into(),
            "-C".into(),
            conf.clone().into(),
        ];
        v.extend(args.iter().map(OsString::from));
        run(&rprobe(), &v)
    };
    let o = d(&["-D", "cyc-a"]);
    assert_no_panic(&o, "cycle");
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("dependency cycle") && err.contains("cyc_a") && err.contains("cyc_b"),
        "{err}"
    );
    let o = d(&["-D", &a.display().to_string()]);
    assert_eq!(code(&o), 1, "a path to a looping module is refused too");
    let plain = root.join("lib/modules/6.1.0-synth/kernel/plain.ko");
    let o = d(&["-D", &plain.display().to_string()]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("insmod {} \n", plain.display())
    );
    // Weak dependencies: part of an initramfs closure, not of a load plan.
    let wconf = root.join("weak.conf");
    std::fs::write(&wconf, "weakdep plain other\n").expect("write");
    let dir = ModuleDir::open(&root.join("lib/modules/6.1.0-synth")).expect("dir");
    let cfg = Config::load(Generation::Kmod30, Some(&[wconf]), None, None);
    let r = Resolver {
        dir: &dir,
        config: &cfg,
    };
    let m = r.lookup("plain").expect("lookup").remove(0);
    let plan: Vec<String> = r
        .plan(&m, "", false)
        .expect("plan")
        .into_iter()
        .map(|s| s.module.name)
        .collect();
    assert_eq!(plan, ["plain"]);
    let closure: Vec<String> = r
        .closure(&["plain".into()])
        .expect("closure")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(closure, ["plain", "other"]);
}

/// Man pages and bash completions come from the same definitions the tools parse with.
#[test]
fn generated_man_pages_and_completions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for what in [&["man"][..], &["completions", "bash"]] {
        let mut args: Vec<&std::ffi::OsStr> = vec!["generate".as_ref()];
        args.extend(what.iter().map(std::ffi::OsStr::new));
        args.push(tmp.path().as_os_str());
        let o = run(&rprobe(), args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let man = std::fs::read_to_string(tmp.path().join("modprobe.8")).expect("man page");
    assert!(
        man.contains(".TH modprobe 8") && man.contains("show\\-depends"),
        "{man}"
    );
    let kmod_man = std::fs::read_to_string(tmp.path().join("kmod.8")).expect("kmod man page");
    assert!(kmod_man.contains("static\\-nodes"), "{kmod_man}");
    let comp = std::fs::read_to_string(tmp.path().join("depmod")).expect("completion");
    assert!(comp.contains("--basedir"), "{comp}");
}

#[test]
fn softdeps_reaching_a_module_by_name_and_by_alias_list_it_twice() {
    // kmod keeps a module found through an alias apart from the same module found by name:
    // with `softdep xfs pre: crc32c_generic post: dummy`, xfs's plan lists crc32c_generic
    // once through libcrc32c's `pre: crypto-crc32c` and again as xfs's own pre-softdep.
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let conf = tmp.path().join("softdep.d");
    std::fs::create_dir_all(&conf).expect("mkdir");
    std::fs::write(
        conf.join("x.conf"),
        "softdep xfs pre: crc32c_generic post: dummy\nsoftdep ext4 pre: crc32c_generic jbd2 post: xfs\n",
    )
    .expect("conf");
    let names: Vec<String> = ["xfs", "ext4", "libcrc32c", "btrfs", "crc32c_generic"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    compare_show_depends(tmp.path(), &tree.version, &conf, &names, "softdeps twice");
    let (k, _) = modprobe_both(
        &[
            "-d".into(),
            tmp.path().into(),
            "-S".into(),
            tree.version.clone().into(),
            "-C".into(),
            conf.clone().into(),
            "-D".into(),
        ],
        &["xfs".to_string()],
    );
    let twice = String::from_utf8_lossy(&k.stdout)
        .matches("crc32c_generic")
        .count();
    assert_eq!(twice, 2, "kmod lists crc32c_generic twice here");
}

/// libkmod reports bad configuration lines while it reads the configuration, before
/// modprobe applies -q: they are printed with -q too.
#[test]
fn configuration_messages_are_not_silenced_by_quiet() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let version = "6.1.0-synth";
    let t = SynthTree::new(tmp.path(), version);
    t.add(&SynthModule::new("one"), "kernel/lib", Codec::None);
    kmod_depmod(tmp.path(), version);
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).expect("mkdir");
    std::fs::write(
        conf.join("x.conf"),
        "bogus line\nsoftdep lone\ninclude /x\n",
    )
    .expect("write");
    for extra in [&["-q"][..], &[], &["-q", "-q"]] {
        let mut pre: Vec<OsString> = vec![
            "-d".into(),
            tmp.path().into(),
            "-S".into(),
            version.into(),
            "-C".into(),
            conf.clone().into(),
        ];
        pre.extend(extra.iter().map(OsString::from));
        pre.push("-D".into());
        let (k, r) = modprobe_both(&pre, &["one".to_string()]);
        assert!(said(&k.stderr).contains("ignoring bad line starting with 'bogus'"));
        assert_eq!(said(&r.stderr), said(&k.stderr), "{extra:?}");
        assert_eq!(r.stdout, k.stdout, "{extra:?}");
        assert_eq!(code(&r), code(&k), "{extra:?}");
    }
}
