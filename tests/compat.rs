//! Divergences from kmod 30 found by reading its sources, each checked live against kmod's
//! own tool on the same input: depmod.d version patterns (POSIX extended regexes), getopt's
//! words for bad options and -q/-v in the order given, --show-exports/--show-modversions,
//! depmod's messages for unreadable modules.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use rprobe_testkit::real_tree;
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

use crate::util::*;

/// Runs kmod's `tool` with argv[0] set to the bare tool name (getopt names argv[0] in its
/// messages, and rprobe is called as `rprobe TOOL`, which it sees as TOOL).
fn kmod_as(tool: &str, args: &[OsString]) -> Output {
    Command::new(kmod(tool))
        .arg0(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running kmod's {tool}: {e}"))
}

fn rprobe_as(tool: &str, args: &[OsString]) -> Output {
    let mut a: Vec<OsString> = vec![tool.into()];
    a.extend(args.iter().cloned());
    run(&rprobe(), a)
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts the same stdout, stderr and exit code; `words` maps stderr before comparing.
fn assert_same(k: &Output, r: &Output, words: fn(&str) -> String, what: &str) {
    assert_no_panic(r, what);
    assert_eq!(text(&r.stdout), text(&k.stdout), "{what}: stdout");
    assert_eq!(
        words(&text(&r.stderr)),
        words(&text(&k.stderr)),
        "{what}: stderr"
    );
    assert_eq!(code(r), code(k), "{what}: exit code");
}

fn verbatim(s: &str) -> String {
    s.to_string()
}

/// rprobe's lines with what it adds after kmod's words removed: a last " (reason)".
/// Each reason must be said once, without the path again and without nested parentheses.
fn without_reasons(s: &str) -> String {
    s.lines()
        .map(|l| {
            let Some(i) = l.find(" (") else {
                return format!("{l}\n");
            };
            let reason = &l[i + 2..];
            assert!(
                reason.ends_with(')') && !reason[..reason.len() - 1].contains(['(', ')']),
                "a reason in parentheses, once: {l}"
            );
            assert!(
                !reason.contains('/'),
                "the reason does not repeat the path: {l}"
            );
            format!("{}\n", &l[..i])
        })
        .collect()
}

// ---- 1. depmod.d version patterns --------------------------------------------------------

#[test]
fn depmod_override_version_patterns_are_posix_extended_regexes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let version = "6.12.5-synth-amd64";
    // modN is in updates/ (searched first: the default winner) and in kernel/drivers, which
    // an override line with the Nth pattern prefers when the pattern matches.
    let patterns = [
        (r"6\.(1|12)\.", true),
        (r"^6\.1[0-9]{1}", true),
        (r"^[[:digit:]]+\.", true),
        (r"^6\.1(2)?\.", true),
        (r"[]a]md64$", true),
        (r"^6\.1(0)\.", false),
        (r"[]x]md", false),
        (r"(", false),
        (r"^(6)\.1\1", false),
        (r"^[^[:digit:]]", false),
        (r"*", true),
    ];
    let mut conf = String::from("# version patterns\n");
    let build = |root: &Path| {
        let t = SynthTree::new(root, version);
        for (i, _) in patterns.iter().enumerate() {
            let m = SynthModule::new(&format!("mod{i}")).export(&format!("sym{i}"));
            t.add(&m, "kernel/drivers", Codec::None);
            t.add(&m, "updates", Codec::None);
        }
        t
    };
    for (i, (p, _)) in patterns.iter().enumerate() {
        conf.push_str(&format!("override mod{i} {p} kernel/drivers\n"));
    }
    let (ka, ra) = (tmp.path().join("k"), tmp.path().join("r"));
    let (tk, tr) = (build(&ka), build(&ra));
    let confdir = tmp.path().join("conf.d");
    std::fs::create_dir_all(&confdir).expect("mkdir");
    std::fs::write(confdir.join("versions.conf"), &conf).expect("write");
    let args = |root: &Path| {
        os(&[
            "-b",
            root.to_str().expect("utf-8"),
            "-C",
            confdir.to_str().expect("utf-8"),
            version,
        ])
    };
    let k = kmod_as("depmod", &args(&ka));
    let r = rprobe_as("depmod", &args(&ra));
    let ks = text(&k.stderr).replace(ka.to_str().expect("utf-8"), "ROOT");
    let rs = text(&r.stderr).replace(ra.to_str().expect("utf-8"), "ROOT");
    assert_eq!(rs, ks, "depmod stderr");
    assert_eq!(text(&r.stdout), text(&k.stdout), "depmod stdout");
    assert_eq!(code(&r), code(&k), "depmod exit code");
    let dep_k = std::fs::read_to_string(tk.moddir().join("modules.dep")).expect("kmod dep");
    let dep_r = std::fs::read_to_string(tr.moddir().join("modules.dep")).expect("rprobe dep");
    assert_eq!(dep_r, dep_k, "modules.dep");
    for (i, (p, matches)) in patterns.iter().enumerate() {
        let from = if *matches {
            "kernel/drivers/"
        } else {
            "updates/"
        };
        assert!(
            dep_k
                .lines()
                .any(|l| l.starts_with(&format!("{from}mod{i}.ko:"))),
            "kmod took mod{i} from {from} for pattern {p}: {dep_k}"
        );
    }
    for f in ["modules.dep.bin", "modules.symbols", "modules.alias"] {
        assert_eq!(
            std::fs::read(tr.moddir().join(f)).expect("rprobe"),
            std::fs::read(tk.moddir().join(f)).expect("kmod"),
            "{f}"
        );
    }
}

// ---- 2. getopt's words, -q/-v order --------------------------------------------------------

#[test]
fn bad_options_in_getopts_words() {
    let cases: &[(&str, &[&str])] = &[
        ("modprobe", &["--bogus"]),
        ("modprobe", &["--bogus=1", "x"]),
        ("modprobe", &["-Z"]),
        ("modprobe", &["-nZ", "x"]),
        ("modprobe", &["--s", "x"]),
        ("modprobe", &["--show-=1", "x"]),
        ("modprobe", &["--all=1", "x"]),
        ("modprobe", &["--conf"]),
        ("modprobe", &["-C"]),
        ("modprobe", &["-S"]),
        ("modprobe", &["x", "--", "--bogus"]),
        ("depmod", &["--bogus"]),
        ("depmod", &["-Z"]),
        ("depmod", &["-b"]),
        ("depmod", &["--basedir"]),
        ("modinfo", &["--bogus"]),
        ("modinfo", &["-x", "e1000"]),
        ("modinfo", &["--field"]),
        ("modinfo", &["-F"]),
        ("insmod", &["--bogus"]),
        ("insmod", &["-Z"]),
        ("rmmod", &["--bogus"]),
        ("rmmod", &["-Z", "x"]),
        ("rmmod", &["--verbose=2", "x"]),
    ];
    for (tool, args) in cases {
        let a = os(args);
        let k = kmod_as(tool, &a);
        let r = rprobe_as(tool, &a);
        assert_same(&k, &r, verbatim, &format!("{tool} {args:?}"));
    }
}

#[test]
fn abbreviated_long_options_work_as_in_kmod() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = SynthTree::new(tmp.path(), "6.1.0-synth");
    t.add(
        &SynthModule::new("base").export("base_fn"),
        "kernel/lib",
        Codec::None,
    );
    t.add(
        &SynthModule::new("top").import("base_fn"),
        "kernel/fs",
        Codec::None,
    );
    kmod_depmod(tmp.path(), "6.1.0-synth");
    let conf = empty_conf(tmp.path());
    let root = tmp.path().to_str().expect("utf-8");
    let conf = conf.to_str().expect("utf-8");
    for args in [
        vec![
            "--show-d",
            "--dirn",
            root,
            "--set-v=6.1.0-synth",
            "--conf",
            conf,
            "top",
        ],
        vec![
            "--resolve",
            "-d",
            root,
            "-S",
            "6.1.0-synth",
            "-C",
            conf,
            "top",
        ],
        vec![
            "--dry",
            "--verb",
            "-d",
            root,
            "-S",
            "6.1.0-synth",
            "-C",
            conf,
            "top",
        ],
    ] {
        let a = os(&args);
        let k = kmod_as("modprobe", &a);
        let r = rprobe_as("modprobe", &a);
        assert_same(&k, &r, verbatim, &format!("modprobe {args:?}"));
    }
}

#[test]
fn quiet_and_verbose_apply_in_the_order_given() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let version = "6.1.0-synth";
    let t = SynthTree::new(tmp.path(), version);
    t.add(
        &SynthModule::new("base").export("base_fn"),
        "kernel/lib",
        Codec::None,
    );
    t.add(
        &SynthModule::new("top").import("base_fn"),
        "kernel/fs",
        Codec::None,
    );
    kmod_depmod(tmp.path(), version);
    let conf = empty_conf(tmp.path());
    let pre = [
        "-d",
        tmp.path().to_str().expect("utf-8"),
        "-S",
        version,
        "-C",
        conf.to_str().expect("utf-8"),
    ];
    for opts in [
        &["-n", "-v", "-q", "top"][..],
        &["-n", "-q", "-v", "top"],
        &["-n", "-v", "top"],
        &["-nvq", "top"],
        &["-nqv", "top"],
        &["--dry-run", "--quiet", "--verbose", "top"],
        &["-n", "-q", "-v", "bogus"],
        &["-n", "-q", "-v", "-v", "bogus"],
        &["-n", "-v", "-q", "bogus"],
        &["-n", "bogus"],
        &["-a", "-n", "-q", "-v", "-v", "bogus"],
        &["-a", "-n", "-q", "-v", "-v", "-v", "bogus"],
        &["-a", "-n", "bogus", "top"],
        &["-q", "-D", "top"],
        &["-q", "-D", "bogus"],
        &["-q"],
    ] {
        let mut a = os(&pre);
        a.extend(os(opts));
        let k = kmod_as("modprobe", &a);
        let r = rprobe_as("modprobe", &a);
        assert_same(&k, &r, verbatim, &format!("modprobe {opts:?}"));
    }
}

// ---- 4. --show-exports, --show-modversions ---------------------------------------------------

fn compare_symbols(file: &Path, what: &str) {
    let f = file.to_str().expect("utf-8");
    for opts in [
        &["--show-exports"][..],
        &["--show-exports", "--quiet"],
        &["--show-modversions"],
        &["--dump-modversions"],
        &["--show-exports", "--show-modversions"],
    ] {
        let mut a = os(opts);
        a.push(f.into());
        let k = kmod_as("modprobe", &a);
        let r = rprobe_as("modprobe", &a);
        assert_same(&k, &r, without_reasons, &format!("{what}: {opts:?}"));
    }
}

#[test]
fn show_exports_and_modversions_on_real_modules() {
    let mut files = Vec::new();
    for flavour in ["k61", "k612", "k612zst"] {
        let Some(tree) = real_tree(flavour) else {
            return;
        };
        let all = module_files(&tree.moddir());
        for name in [
            "/libata.ko",
            "/e1000.ko",
            "/snd.ko",
            "/ext4.ko",
            "/usbcore.ko",
        ] {
            if let Some(p) = all.iter().find(|p| p.to_string_lossy().contains(name)) {
                files.push(p.clone());
            }
        }
        files.extend(every(&all, all.len() / 5));
    }
    assert!(files.len() >= 10, "modules found: {files:?}");
    for f in &files {
        compare_symbols(f, &f.display().to_string());
    }
}

#[test]
fn show_exports_and_modversions_on_synthetic_and_bad_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let m = SynthModule::new("mod-loop-a")
        .export("printA")
        .export("printA2")
        .import("printC")
        .import_crc("printk", Some(0xdead_beef));
    let plain = m.write(d, "plain", Codec::None);
    let xz = m.write(d, "xz", Codec::Xz);
    let zst = m.write(d, "zst", Codec::Zstd);
    let none = SynthModule::new("noexp").write(d, "plain", Codec::None);
    let empty = d.join("empty.ko");
    std::fs::write(&empty, b"").expect("write");
    let text_file = d.join("text.ko");
    std::fs::write(&text_file, b"not a module\n").expect("write");
    let trunc = d.join("trunc.ko");
    let image = m.elf();
    std::fs::write(&trunc, &image[..image.len().min(100)]).expect("write");
    for f in [&plain, &xz, &zst, &none, &empty, &text_file, &trunc] {
        compare_symbols(f, &f.display().to_string());
    }
    let k = kmod_as(
        "modprobe",
        &os(&["--show-exports", "--quiet", plain.to_str().expect("utf-8")]),
    );
    assert!(
        text(&k.stdout).starts_with("0x") && text(&k.stdout).contains("\tprintA\n"),
        "kmod's format: {}",
        text(&k.stdout)
    );
    for args in [
        &["--show-exports", "/nonexistent/x.ko"][..],
        &["--show-exports", "-q", "/nonexistent/x.ko"],
        &["--show-exports", "relative-name"],
        &["--show-exports"],
        &["-a", "--show-modversions", "/nonexistent/x.ko"],
    ] {
        let a = os(args);
        let k = kmod_as("modprobe", &a);
        let r = rprobe_as("modprobe", &a);
        assert_same(&k, &r, without_reasons, &format!("{args:?}"));
    }
}

// ---- 5. depmod's words for unreadable modules ------------------------------------------------

#[test]
fn depmod_unreadable_modules_keep_kmods_words_and_add_one_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let version = "6.1.0-synth";
    let build = |root: &Path| {
        let t = SynthTree::new(root, version);
        t.add(
            &SynthModule::new("good").export("good_fn"),
            "kernel/lib",
            Codec::None,
        );
        let k = t.moddir().join("kernel/bad");
        std::fs::create_dir_all(&k).expect("mkdir");
        std::fs::write(k.join("text.ko"), b"not an ELF file at all\n").expect("write");
        std::fs::write(k.join("empty.ko"), b"").expect("write");
        let good = SynthModule::new("trunc").export("t").elf();
        std::fs::write(k.join("trunc.ko"), &good[..good.len().min(100)]).expect("write");
        t.file(
            "modules.order",
            "kernel/lib/good.ko\nkernel/bad/text.ko\nkernel/bad/empty.ko\nkernel/bad/trunc.ko\n",
        );
        t
    };
    let (ka, ra) = (tmp.path().join("k"), tmp.path().join("r"));
    build(&ka);
    build(&ra);
    let conf = empty_conf(tmp.path());
    let args = |root: &Path| {
        os(&[
            "-b",
            root.to_str().expect("utf-8"),
            "-C",
            conf.to_str().expect("utf-8"),
            version,
        ])
    };
    let k = kmod_as("depmod", &args(&ka));
    let r = rprobe_as("depmod", &args(&ra));
    let fix = |s: &str| without_reasons(&s.replace(ka.to_str().expect("utf-8"), "ROOT"));
    let fix_r = |s: &str| without_reasons(&s.replace(ra.to_str().expect("utf-8"), "ROOT"));
    assert_eq!(
        fix_r(&text(&r.stderr)),
        fix(&text(&k.stderr)),
        "depmod stderr"
    );
    assert_eq!(code(&r), code(&k), "exit code");
    assert!(
        text(&r.stderr).contains("text.ko: Exec format error (not an ELF file)\n"),
        "{}",
        text(&r.stderr)
    );
}

// ---- 6. depmod's cycle report ------------------------------------------------------------

/// kmod's testsuite loop modules (module-playground/mod-loop-*.c): which symbols each one
/// exports and calls.
pub(crate) fn loop_modules() -> Vec<SynthModule> {
    let spec: [(&str, &[&str]); 11] = [
        ("a", &["B", "F", "G"]),
        ("b", &["C", "F", "G"]),
        ("c", &["A"]),
        ("d", &["E"]),
        ("e", &["D"]),
        ("f", &[]),
        ("g", &[]),
        ("h", &["I"]),
        ("i", &["J"]),
        ("j", &["H", "K"]),
        ("k", &["H"]),
    ];
    spec.iter()
        .map(|(n, uses)| {
            let mut m = SynthModule::new(&format!("mod-loop-{n}"))
                .export(&format!("print{}", n.to_uppercase()));
            for u in *uses {
                m = m.import(&format!("print{u}"));
            }
            m
        })
        .collect()
}

/// Builds the loop modules under ROOT in `order` (file creation order), in one directory or
/// spread over three, with a modules.order listing that order when asked.
fn loop_tree(root: &Path, order: &[usize], with_order_file: bool, split: bool) -> SynthTree {
    let mods = loop_modules();
    let t = SynthTree::new(root, "6.1.0-synth");
    let mut listed = String::new();
    for &i in order {
        let sub = if split {
            format!("kernel/d{}", (i * 5) % 3)
        } else {
            "kernel/loop".to_string()
        };
        t.add(&mods[i], &sub, Codec::None);
        listed.push_str(&format!("{sub}/{}.ko\n", mods[i].name));
    }
    if with_order_file {
        t.file("modules.order", &listed);
    }
    t
}

fn depmod_args(root: &Path, conf: &Path) -> Vec<OsString> {
    os(&[
        root.to_str().expect("utf-8"),
        "-C",
        conf.to_str().expect("utf-8"),
        "6.1.0-synth",
    ])
    .into_iter()
    .fold(os(&["-b"]), |mut v, a| {
        v.push(a);
        v
    })
}

/// kmod's depmod on ROOT, stopped if it has not ended after 10 s or printed 1 MB (in some
/// orders its cycle walk never ends): its stderr (the first MB) and its exit code, None
/// when it was stopped.
fn kmod_depmod_bounded(root: &Path, conf: &Path) -> (String, Option<i32>) {
    let args: Vec<String> = depmod_args(root, conf)
        .iter()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "timeout -s KILL 10 {} {} 2>&1 >/dev/null | head -c 1000000; exit ${{PIPESTATUS[0]}}",
            kmod("depmod").display(),
            args.join(" ")
        ))
        .output()
        .expect("bash");
    let c = code(&o);
    (text(&o.stdout), (c == 0 || c == 1).then_some(c))
}

#[test]
fn depmod_cycle_reports_start_where_kmods_do() {
    let n = loop_modules().len();
    let orders: Vec<Vec<usize>> = vec![
        (0..n).collect(),
        (0..n).rev().collect(),
        (0..n).map(|i| (i + 4) % n).collect(),
        (0..n).map(|i| (i * 3) % n).collect(),
        (0..n).map(|i| (i * 7 + 2) % n).collect(),
        (0..n).map(|i| (i * 5 + 1) % n).collect(),
        (0..n).map(|i| (i * 2 + 3) % n).collect(),
    ];
    let mut ended = 0;
    for (oi, order) in orders.iter().enumerate() {
        for with_order_file in [true, false] {
            for split in [false, true] {
                let tmp = tempfile::tempdir().expect("tempdir");
                let (ka, ra) = (tmp.path().join("k"), tmp.path().join("r"));
                loop_tree(&ka, order, with_order_file, split);
                loop_tree(&ra, order, with_order_file, split);
                let conf = empty_conf(tmp.path());
                let (ks, kcode) = kmod_depmod_bounded(&ka, &conf);
                let start = std::time::Instant::now();
                let r = rprobe_as("depmod", &depmod_args(&ra, &conf));
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(10),
                    "rprobe ends"
                );
                let what =
                    format!("order {oi} {order:?}, modules.order {with_order_file}, split {split}");
                let ks = ks.replace(ka.to_str().expect("utf-8"), "ROOT");
                let rs = text(&r.stderr).replace(ra.to_str().expect("utf-8"), "ROOT");
                assert!(
                    ks.contains("Cycle detected: "),
                    "{what}: kmod found the cycles: {ks}"
                );
                match kcode {
                    Some(c) => {
                        ended += 1;
                        assert_eq!(rs, ks, "{what}: depmod stderr");
                        assert_eq!(code(&r), c, "{what}: exit code");
                    }
                    None => {
                        // kmod goes round a cycle forever: rprobe says what kmod said up to
                        // its first report, then ends.
                        let upto = |s: &str| {
                            let i = s.find("Cycle detected").unwrap_or(0);
                            s[..i + s[i..].find('\n').unwrap_or(0)].to_string()
                        };
                        assert_eq!(upto(&rs), upto(&ks), "{what}: first report");
                        assert!(rs.contains("dependency cycles!"), "{what}: {rs}");
                        assert_eq!(code(&r), 1, "{what}");
                    }
                }
            }
        }
    }
    assert!(ended >= 10, "kmod ended in {ended} of 28 layouts");
}

/// In some orders kmod's cycle walk never ends (from mod_loop_k it goes round h -> i -> j
/// forever, printing ever longer chains). rprobe prints kmod's first report, does not go
/// round, and ends.
#[test]
fn depmod_cycle_report_ends_where_kmods_never_does() {
    let n = loop_modules().len();
    let order: Vec<usize> = (0..n).rev().collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("t");
    loop_tree(&root, &order, true, false);
    let conf = empty_conf(tmp.path());
    let args: Vec<String> = depmod_args(&root, &conf)
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // kmod's first lines, from a run that is stopped after 3 seconds.
    let k = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "timeout -s KILL 3 {} {} 2>&1 | head -c 4096",
            kmod("depmod").display(),
            args.join(" ")
        ))
        .output()
        .expect("sh");
    let ks = text(&k.stdout);
    let first = ks.lines().next().unwrap_or_default().to_string();
    assert_eq!(
        first, "depmod: ERROR: Cycle detected: mod_loop_k -> mod_loop_h -> mod_loop_i -> mod_loop_j -> mod_loop_k",
        "kmod's first report"
    );
    let start = std::time::Instant::now();
    let r = rprobe_as("depmod", &depmod_args(&root, &conf));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "rprobe ends"
    );
    let rs = text(&r.stderr);
    assert_eq!(rs.lines().next(), Some(first.as_str()), "{rs}");
    assert!(
        rs.ends_with("depmod: ERROR: Found 9 modules in dependency cycles!\n"),
        "{rs}"
    );
    assert_eq!(code(&r), 1);
}

// ---- 3. kmod's own command ---------------------------------------------------------------

/// Runs `prog ARGS` in a private mount namespace where /lib/modules/$(uname -r) exists
/// and holds `devname` as modules.devname (none: the file is missing), as `kmod
/// static-nodes` reads it; the host is left as it is (the directory above /lib/modules
/// gets a tmpfs overlay). `scratch` must be an empty directory outside any output path.
fn in_module_namespace(
    scratch: &Path,
    devname: Option<&Path>,
    prog: &Path,
    args: &[&str],
) -> Output {
    let script = r#"
set -e
scratch=$1; src=$2; prog=$3; shift 3
lib=$(readlink -f /lib)
mount -t tmpfs rprobe-test "$scratch"
mkdir "$scratch/up" "$scratch/work"
mount -t overlay overlay -o "lowerdir=$lib,upperdir=$scratch/up,workdir=$scratch/work" "$lib"
d=/lib/modules/$(uname -r)
mkdir -p "$d"
rm -f "$d/modules.devname"
if [ -n "$src" ]; then cp "$src" "$d/modules.devname"; fi
set +e
exec "$prog" "$@"
"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(scratch)
        .arg(devname.map(|p| p.as_os_str()).unwrap_or_default())
        .arg(prog)
        .args(args);
    cmd.output().expect("unshare")
}

fn static_nodes_both(devname: Option<&Path>, args: &[&str], what: &str) -> (Output, Output) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (s1, s2) = (tmp.path().join("s1"), tmp.path().join("s2"));
    std::fs::create_dir_all(&s1).expect("mkdir");
    std::fs::create_dir_all(&s2).expect("mkdir");
    let mut kargs = vec!["static-nodes"];
    kargs.extend(args);
    let k = in_module_namespace(&s1, devname, &kmod("kmod"), &kargs);
    let mut rargs = vec!["kmod", "static-nodes"];
    rargs.extend(args);
    let r = in_module_namespace(&s2, devname, &rprobe(), &rargs);
    assert!(
        !text(&k.stderr).contains("mount:") && !text(&k.stderr).contains("unshare:"),
        "{what}: the namespace could not be made (root is needed): {}",
        text(&k.stderr)
    );
    (k, r)
}

#[test]
fn kmod_static_nodes_like_kmods_on_the_real_612_tree() {
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let devname = tmp
        .path()
        .join("lib/modules")
        .join(&tree.version)
        .join("modules.devname");
    assert!(
        std::fs::read_to_string(&devname)
            .expect("modules.devname")
            .lines()
            .count()
            > 5,
        "kmod's depmod wrote device names"
    );
    for args in [
        &[][..],
        &["--format=human"],
        &["--format=tmpfiles"],
        &["--format", "devname"],
        &["-f", "tmpfiles"],
        &["-ftmpfiles"],
        &["--form=devname"],
        &["--format=bogus"],
        &["--format"],
        &["-h"],
        &["--bogus"],
        &["-x"],
        &["-f", "devname", "-f", "human"],
    ] {
        let (k, r) = static_nodes_both(Some(&devname), args, &format!("{args:?}"));
        assert_same(&k, &r, verbatim, &format!("static-nodes {args:?}"));
    }
    // --output: the same bytes in the file, parents made; nothing on stdout.
    for fmt in ["human", "tmpfiles", "devname"] {
        let out = tempfile::tempdir().expect("tempdir");
        let (kf, rf) = (
            out.path().join("k/a/b/nodes"),
            out.path().join("r/a/b/nodes"),
        );
        let (k, _) = static_nodes_both(
            Some(&devname),
            &["--format", fmt, "--output", kf.to_str().expect("utf-8")],
            fmt,
        );
        let (_, r) = static_nodes_both(
            Some(&devname),
            &["--format", fmt, "-o", rf.to_str().expect("utf-8")],
            fmt,
        );
        assert_same(&k, &r, verbatim, &format!("static-nodes -o, {fmt}"));
        assert_eq!(
            std::fs::read(&rf).expect("rprobe's file"),
            std::fs::read(&kf).expect("kmod's file"),
            "{fmt}: the output files"
        );
    }
}

#[test]
fn kmod_static_nodes_on_missing_and_bad_devname_files() {
    let (k, r) = static_nodes_both(None, &[], "missing");
    assert_same(&k, &r, verbatim, "static-nodes without modules.devname");
    let out = tempfile::tempdir().expect("tempdir");
    let f = out.path().join("x/nodes");
    let (k, r) = static_nodes_both(None, &["-o", f.to_str().expect("utf-8")], "missing -o");
    assert_same(&k, &r, verbatim, "static-nodes -o without modules.devname");
    assert!(
        !f.exists() && !out.path().join("x").exists(),
        "nothing made"
    );
    let bad = out.path().join("modules.devname");
    std::fs::write(
        &bad,
        "# Device nodes to trigger on-demand module loading.\nfuse fuse c10:229\nbad line\n\n\
         tun net/tun c10:200\nx y z1:2\n  q\tw  b 1: 2 extra\nsnd_timer snd/timer c116:33\nlast x c1:2",
    )
    .expect("write");
    for fmt in ["human", "tmpfiles", "devname"] {
        let (k, r) = static_nodes_both(Some(&bad), &["-f", fmt], fmt);
        assert_same(
            &k,
            &r,
            verbatim,
            &format!("static-nodes on bad lines, {fmt}"),
        );
    }
    let bad2 = out.path().join("modules.devname2");
    std::fs::write(&bad2, "fuse fuse c10:229\nno newline at the end").expect("write");
    let (k, r) = static_nodes_both(Some(&bad2), &[], "last line");
    assert_same(
        &k,
        &r,
        verbatim,
        "static-nodes, a bad last line without newline",
    );
}

#[test]
fn kmod_help_version_list_and_bad_commands() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let proc_modules = tmp.path().join("modules");
    std::fs::write(&proc_modules, "").expect("write");
    for args in [
        &[][..],
        &["help"],
        &["--help"],
        &["-h", "list"],
        &["--he"],
        &["--bogus"],
        &["-x"],
        &["bogus"],
        &["modprobe", "x"],
        &["--", "help"],
        &["list", "extra"],
        &["static-nodes", "--bogus"],
    ] {
        let k = kmod_as("kmod", &os(args));
        let r = rprobe_as("kmod", &os(args));
        assert_same(&k, &r, verbatim, &format!("kmod {args:?}"));
    }
    // `kmod list` is lsmod.
    let text_mods = "b 16384 0 - Live 0x0000000000000000\na 20480 1 b, Live 0x0000000000000000\n";
    std::fs::write(&proc_modules, text_mods).expect("write");
    let list = Command::new(rprobe())
        .args(["kmod", "list"])
        .env("RPROBE_PROC_MODULES", &proc_modules)
        .output()
        .expect("run");
    let lsmod = Command::new(rprobe())
        .arg("lsmod")
        .env("RPROBE_PROC_MODULES", &proc_modules)
        .output()
        .expect("run");
    assert_eq!(list.stdout, lsmod.stdout);
    assert_eq!(code(&list), 0);
    // --version: kmod's two lines (name and version, then features).
    let v = rprobe_as("kmod", &os(&["--version"]));
    assert_eq!(code(&v), 0);
    assert_eq!(text(&v.stdout).lines().count(), 2, "{}", text(&v.stdout));
    // The module directory can be named for tests.
    std::fs::write(tmp.path().join("modules.devname"), "fuse fuse c10:229\n").expect("write");
    let o = Command::new(rprobe())
        .args(["kmod", "static-nodes", "-f", "devname"])
        .env("RPROBE_MODULE_DIR", tmp.path())
        .output()
        .expect("run");
    assert_eq!(text(&o.stdout), "fuse fuse c10:229\n");
}

// ---- 7. lsmod's columns from sysfs -------------------------------------------------------

/// libkmod's own messages reduced to what they say ("libkmod: ERROR file.c:12 func: MSG"
/// becomes "ERROR: MSG"); rprobe's "lsmod: ERROR: MSG" likewise.
fn libkmod_words(s: &str) -> String {
    s.lines()
        .map(|l| {
            if let Some(rest) = l.strip_prefix("libkmod: ERROR ") {
                let rest = rest.split_once(' ').map(|x| x.1).unwrap_or(rest);
                let msg = rest.split_once(": ").map(|x| x.1).unwrap_or(rest);
                format!("ERROR: {msg}\n")
            } else if let Some(m) = l.strip_prefix("lsmod: ") {
                format!("{m}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Runs `prog ARGS` in a private mount namespace whose /proc/modules is `proc_modules`
/// and whose /sys/module is the directory `sys_module`.
fn in_lsmod_namespace(
    proc_modules: &Path,
    sys_module: &Path,
    prog: &Path,
    args: &[&str],
) -> Output {
    let script = r#"
set -e
pm=$1; sm=$2; prog=$3; shift 3
mount --bind "$sm" /sys/module
mount -t tmpfs rprobe-proc /proc
cp "$pm" /proc/modules
set +e
exec "$prog" "$@"
"#;
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(proc_modules)
        .arg(sys_module)
        .arg(prog)
        .args(args)
        .output()
        .expect("unshare")
}

#[test]
fn lsmod_used_by_in_sysfs_holders_order_as_kmod() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sm = tmp.path().join("sys-module");
    let w = |p: &str, t: &str| {
        let p = sm.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, t).expect("write");
    };
    let d = |p: &str| std::fs::create_dir_all(sm.join(p)).expect("mkdir");
    w("a/coresize", "20480\n");
    w("a/refcnt", "3\n");
    // Holders made in an order unlike /proc/modules' "b,c,d".
    for h in ["d", "b", "c"] {
        d(&format!("a/holders/{h}"));
    }
    w("b/refcnt", "0\n");
    d("b/holders");
    w("d/coresize", "4096\n");
    w("d/refcnt", "1\n");
    d("d/holders/a");
    // c: no directory in sysfs at all.
    // /proc/modules lists a's users in the reverse of the directory's order, so following
    // /proc/modules would show another order than kmod's.
    let mut in_dir: Vec<String> = std::fs::read_dir(sm.join("a/holders"))
        .expect("holders")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let dir_order = in_dir.join(",");
    in_dir.reverse();
    let pm = tmp.path().join("modules");
    std::fs::write(
        &pm,
        format!(
            "a 16384 3 {}, Live 0x0000000000000000\nb 8192 0 - Live 0x0000000000000000\n\
             c 4096 0 - Live 0x0000000000000000\nd 12288 1 a, Live 0x0000000000000000\n",
            in_dir.join(",")
        ),
    )
    .expect("write");
    let k = in_lsmod_namespace(&pm, &sm, &kmod("lsmod"), &[]);
    assert!(
        !text(&k.stderr).contains("mount:") && !text(&k.stderr).contains("unshare:"),
        "the namespace could not be made (root is needed): {}",
        text(&k.stderr)
    );
    let r = in_lsmod_namespace(&pm, &sm, &rprobe(), &["lsmod"]);
    assert_same(&k, &r, libkmod_words, "lsmod");
    assert!(
        text(&k.stdout).contains(&format!("a                      20480  3 {dir_order}\n")),
        "kmod follows the directory: {}",
        text(&k.stdout)
    );
}

/// rmmod names a module as kmod does: a file that exists after its file name, anything
/// else as given, normalised up to its first '.' (kmod 30 here; tests/kmod34.rs for 34).
#[test]
fn rmmod_names_missing_files_and_names_as_kmod() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("some-mod.ko.xz");
    std::fs::write(&file, b"x").expect("write");
    for arg in [
        "/nonexistent/x.ko".to_string(),
        "/nonexistent/dir/".into(),
        "x-y.ko".into(),
        "x-y".into(),
        file.to_string_lossy().into_owned(),
    ] {
        let k = kmod_as("rmmod", &os(&[&arg]));
        let r = rprobe_as("rmmod", &os(&[&arg]));
        assert_eq!(text(&r.stderr), text(&k.stderr), "rmmod {arg}");
        assert_eq!(code(&r), code(&k), "rmmod {arg}");
    }
}
