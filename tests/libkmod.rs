//! libkmod.so.2 as its consumers see it: tests/libkmod/consumer.c (a C program that calls
//! libkmod's public API the way systemd, lspci -k, libblockdev, lttng, dracut-install and
//! python-kmod do, plus kmod's own tools' calls) runs against Debian's real libraries
//! (Debian 12's kmod 30, Debian 13's kmod 34.2; scripts/fetch-libkmod puts them and their
//! libkmod.h in the cache) and against the library under test (scripts/build-libkmod's
//! last stdout line), which must print the same, line for line, per generation: kmod 30's
//! library against ours with RPROBE_KMOD=30, kmod 34.2's against ours with RPROBE_KMOD=34.
//!
//! Every run happens inside one unpacked Debian 13 root (kmod 34.2's library needs its
//! glibc), chrooted, with the library chosen by LD_LIBRARY_PATH. The root's /sys/module,
//! /proc/modules and /proc/cmdline are plain files the test writes (a fixed kernel view:
//! loaded, coming, going and builtin modules, holders, sections, options and a
//! modprobe.blacklist on the command line). The module directories are Debian 12's 6.1
//! and 6.12 trees, indexed once by kmod 30's depmod (the host's) and once by kmod 34.2's
//! (the root's); each library reads both.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rprobe_testkit::{cache_dir, real_required, real_tree, RealTree};

/// The two library generations.
const GENS: [&str; 2] = ["30", "34"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Skips (with a note) or, when real data is required, fails.
fn missing(msg: &str) {
    assert!(!real_required(), "{msg}");
    eprintln!("SKIPPED: {msg}");
}

/// The cached real library directory of a generation and its header directory.
pub(crate) fn reference(gen: &str) -> Option<(PathBuf, PathBuf)> {
    let l = cache_dir().join("libkmod");
    let (lib, inc) = (l.join(gen), l.join(format!("include{gen}")));
    if lib.join("libkmod.so.2").exists() && inc.join("libkmod.h").is_file() {
        return Some((lib, inc));
    }
    missing(&format!(
        "kmod {gen}'s libkmod.so.2 or libkmod.h missing under {}: run scripts/fetch-libkmod",
        l.display()
    ));
    None
}

/// The library under test: runs scripts/build-libkmod and takes its last stdout line.
pub(crate) fn library_under_test() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-libkmod");
    assert!(
        script.is_file(),
        "{} does not exist: the library under test (rprobe's libkmod.so.2) cannot be built",
        script.display()
    );
    let o = Command::new(&script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    assert!(
        o.status.success(),
        "scripts/build-libkmod failed: {}",
        text(&o.stderr)
    );
    let out = text(&o.stdout);
    let path = PathBuf::from(out.lines().last().unwrap_or_default().trim());
    assert!(
        path.is_file(),
        "scripts/build-libkmod's last line is not a file: {out}"
    );
    path
}

/// The Debian 13 root every run happens in, with the consumers, the libraries, the fake
/// kernel view and the indexed trees.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Option<Root> {
        let tar = rprobe_testkit::trixie_rootfs()?;
        let dir = tempfile::tempdir().expect("tempdir");
        rprobe_testkit::unpack_tar(&tar, dir.path());
        let r = Root { dir };
        r.fake_kernel();
        Some(r)
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.dir.path().join(inside.trim_start_matches('/'))
    }

    fn write(&self, inside: &str, content: &str) {
        let p = self.path(inside);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }

    /// A fixed /sys/module, /proc/modules and /proc/cmdline.
    fn fake_kernel(&self) {
        let m = "/sys/module";
        // e1000e uses ptp, which uses pps_core (each holds the one it uses); ext4 is
        // coming, xfs going; btrfs has no refcnt; unix and crc32c_generic are builtin.
        for (name, state, refcnt, holders) in [
            ("e1000e", Some("live"), Some("0"), &[][..]),
            ("ptp", Some("live"), Some("1"), &["e1000e"][..]),
            ("pps_core", Some("live"), Some("1"), &["ptp"][..]),
            ("ext4", Some("coming"), Some("0"), &[][..]),
            ("xfs", Some("going"), Some("0"), &[][..]),
            ("btrfs", Some("live"), None, &[][..]),
            ("snd_hda_intel", Some("bogus"), Some("x1"), &[][..]),
            ("unix", None, None, &[][..]),
            ("crc32c_generic", None, None, &[][..]),
        ] {
            std::fs::create_dir_all(self.path(&format!("{m}/{name}"))).expect("mkdir");
            if let Some(s) = state {
                self.write(&format!("{m}/{name}/initstate"), &format!("{s}\n"));
                // Size from coresize, except: ext4 has none (from /proc/modules),
                // snd_hda_intel's is not a number (kmod: 0, and an error line).
                match name {
                    "ext4" => {}
                    "snd_hda_intel" => self.write(&format!("{m}/{name}/coresize"), "junk\n"),
                    _ => self.write(&format!("{m}/{name}/coresize"), "65536\n"),
                }
                self.write(
                    &format!("{m}/{name}/sections/.text"),
                    "0xffffffffc0001000\n",
                );
                self.write(
                    &format!("{m}/{name}/sections/.data"),
                    "0xffffffffc0008000\n",
                );
                std::fs::create_dir_all(self.path(&format!("{m}/{name}/holders"))).expect("mkdir");
            }
            if let Some(r) = refcnt {
                self.write(&format!("{m}/{name}/refcnt"), &format!("{r}\n"));
            }
            for h in holders {
                std::fs::create_dir_all(self.path(&format!("{m}/{name}/holders/{h}")))
                    .expect("mkdir");
            }
        }
        self.write(
            "/proc/modules",
            "e1000e 344064 0 - Live 0x0000000000000000\n\
             ptp 45056 1 e1000e, Live 0x0000000000000000\n\
             pps_core 28672 1 ptp, Live 0x0000000000000000\n\
             ext4 1048576 0 - Loading 0x0000000000000000\n\
             xfs 2000000 0 - Unloading 0x0000000000000000\n",
        );
        self.write(
            "/proc/cmdline",
            "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro e1000e.debug=2 snd-hda-intel.model=auto \
             quiet ext4.opt=\"a b\" foo.bar modprobe.blacklist=xfs,btrfs psmouse.proto=imps=1\n",
        );
    }

    /// A hard-linked copy of a real tree's module directory at /t/NAME/lib/modules/VERSION
    /// without the package's index files; returns the module directory inside the root.
    fn add_tree(&self, tree: &RealTree, name: &str) -> String {
        let inside = format!("/t/{name}/lib/modules/{}", tree.version);
        let dst = self.path(&inside);
        rprobe_testkit::link_copy(&tree.moddir(), &dst);
        rprobe_testkit::remove_indexes(&dst);
        inside
    }

    /// Indexes /t/NAME with kmod 30's depmod (the host's, from outside) or kmod 34.2's (the
    /// root's, chrooted), with an empty configuration.
    fn depmod(&self, tree: &RealTree, name: &str, gen: &str) -> String {
        let moddir = self.add_tree(tree, name);
        let base = format!("/t/{name}");
        std::fs::create_dir_all(self.path("/empty.d")).expect("mkdir");
        let o = if gen == "30" {
            Command::new(rprobe_testkit::kmod("depmod"))
                .arg("-b")
                .arg(self.path(&base))
                .arg("-C")
                .arg(self.path("/empty.d"))
                .arg(&tree.version)
                .output()
        } else {
            Command::new("chroot")
                .arg(self.dir.path())
                .args(["depmod", "-b", &base, "-C", "/empty.d", &tree.version])
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .output()
        }
        .expect("depmod");
        assert!(o.status.success(), "depmod {gen}: {}", text(&o.stderr));
        moddir
    }

    /// Compiles the consumer of a generation (headers of that kmod, linked against its
    /// library) into /opt/lk/consumerGEN.
    fn compile(&self, gen: &str, lib: &Path, inc: &Path) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libkmod/consumer.c");
        let out = self.path(&format!("/opt/lk/consumer{gen}"));
        std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
        let mut c = Command::new("cc");
        c.args(["-O1", "-Wall", "-Wextra", "-Werror"])
            .arg("-I")
            .arg(inc)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .arg("-L")
            .arg(lib)
            .arg("-l:libkmod.so.2")
            // kmod 34.2's library needs a newer glibc than the host's: its own references
            // are resolved at run time, inside the root.
            .arg("-Wl,--allow-shlib-undefined");
        if gen == "34" {
            c.arg("-DKMOD34");
        }
        let o = c.output().expect("cc");
        assert!(
            o.status.success(),
            "compiling consumer.c: {}",
            text(&o.stderr)
        );
    }

    /// Installs a libkmod.so.2 as /opt/lk/NAME/libkmod.so.2.
    fn install_lib(&self, name: &str, lib: &Path) -> String {
        let dir = format!("/opt/lk/{name}");
        std::fs::create_dir_all(self.path(&dir)).expect("mkdir");
        std::fs::copy(lib, self.path(&format!("{dir}/libkmod.so.2"))).expect("copy lib");
        dir
    }

    /// Runs consumerGEN with the library in LIBDIR (inside the root) on MODDIR.
    fn consumer(&self, gen: &str, libdir: &str, kmod: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new("chroot");
        c.arg(self.dir.path())
            .arg(format!("/opt/lk/consumer{gen}"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LC_ALL", "C")
            .env("LD_LIBRARY_PATH", libdir);
        if let Some(k) = kmod {
            c.env("RPROBE_KMOD", k);
        }
        c.output().expect("chroot consumer")
    }
}

/// The names a tree's lookups use: module names (and their dash forms), concrete
/// modaliases, symbols, builtin names, the configuration's names and missing names.
fn names(root: &Root, moddir: &str) -> Vec<String> {
    let read = |f: &str| std::fs::read_to_string(root.path(&format!("{moddir}/{f}")));
    let mut v: Vec<String> = Vec::new();
    let dep = read("modules.dep").expect("modules.dep");
    for (i, l) in dep.lines().enumerate().filter(|(i, _)| i % 10 == 0) {
        let path = l.split(':').next().unwrap_or_default();
        let base = path.rsplit('/').next().unwrap_or_default();
        let name = base.split('.').next().unwrap_or_default().to_string();
        if i % 30 == 0 {
            v.push(name.replace('_', "-"));
        }
        v.push(name);
    }
    let alias = read("modules.alias").expect("modules.alias");
    for l in alias.lines().step_by(40) {
        let Some(a) = l.split(' ').nth(1) else {
            continue;
        };
        // A concrete string the pattern matches: '*' matches nothing, '?' any character,
        // a bracket its first member.
        let mut s = String::new();
        let mut it = a.chars();
        while let Some(c) = it.next() {
            match c {
                '*' => {}
                '?' => s.push('0'),
                '[' => {
                    let inner: String = it.by_ref().take_while(|&c| c != ']').collect();
                    s.push(inner.chars().next().unwrap_or('0'));
                }
                c => s.push(c),
            }
        }
        v.push(s);
        v.push(a.to_string());
    }
    let symbols = read("modules.symbols").expect("modules.symbols");
    for l in symbols.lines().step_by(150) {
        if let Some(s) = l.split(' ').nth(1) {
            v.push(s.to_string());
        }
    }
    let builtin = read("modules.builtin").expect("modules.builtin");
    for l in builtin.lines().step_by(8) {
        let base = l.rsplit('/').next().unwrap_or_default();
        v.push(base.split('.').next().unwrap_or_default().to_string());
    }
    for n in [
        "e1000e",
        "snd-hda-intel",
        "myalias",
        "my-alias",
        "wild-card-7",
        "dummy",
        "ext4",
        "xfs",
        "btrfs",
        "psmouse",
        "unix",
        "crc32c",
        "fs-ext4",
        "nonexistent_module",
        "nonexistent-module",
        "pci:v0000DEADd0000BEEFsv0sd0bc0sc0i0",
        "symbol:no_such_symbol_anywhere",
        "symbol:",
        "",
        "E1000E",
        "e1000e.ko",
        "/lib/modules",
    ] {
        v.push(n.to_string());
    }
    v
}

/// The configuration every run reads: a directory (two files, one overriding nothing) and
/// a file given on its own.
fn write_config(root: &Root) {
    root.write(
        "/conf/d/10-test.conf",
        "# rprobe's libkmod test configuration\n\
         alias myalias e1000e\n\
         alias my-alias snd-hda-intel\n\
         alias wild-card-* xfs\n\
         blacklist e1000e\n\
         blacklist snd_hda_intel\n\
         options e1000e debug=1 \\\n  copybreak=0\n\
         options snd-hda-intel model=auto\n\
         install dummy /bin/true\n\
         remove dummy /bin/false\n\
         install psmouse /sbin/modprobe --ignore-install psmouse $CMDLINE_OPTS\n\
         softdep ext4 pre: crc32c post: xfs\n\
         softdep xfs pre: libcrc32c\n\
         weakdep ext4 btrfs\n\
         unknown-command foo\n\
         alias\n",
    );
    root.write("/conf/d/20-other.txt", "alias ignored-not-conf e1000e\n");
    root.write(
        "/conf/single.conf",
        "options ext4 from_single=1\nblacklist xfs\n",
    );
}

/// One run's arguments: the configuration, STEP and the tree.
fn run_args<'a>(moddir: &'a str, names: &'a str, null_config: bool) -> Vec<&'a str> {
    if null_config {
        vec!["-n", "-s", "0", moddir, names]
    } else {
        vec![
            "-c",
            "/conf/d",
            "-c",
            "/conf/single.conf",
            "-s",
            "7",
            moddir,
            names,
        ]
    }
}

/// Asserts two runs printed the same, naming the first line that differs.
fn assert_same(a: &Output, b: &Output, what: &str) {
    let (x, y) = (text(&a.stdout), text(&b.stdout));
    if x != y {
        let (xl, yl): (Vec<&str>, Vec<&str>) = (x.lines().collect(), y.lines().collect());
        let i = xl
            .iter()
            .zip(&yl)
            .position(|(p, q)| p != q)
            .unwrap_or(xl.len().min(yl.len()));
        let ctx = |v: &[&str]| v[i.saturating_sub(3)..(i + 3).min(v.len())].join("\n");
        panic!(
            "{what}: stdout differs at line {} ({} vs {} lines)\nreference:\n{}\nunder test:\n{}",
            i + 1,
            xl.len(),
            yl.len(),
            ctx(&xl),
            ctx(&yl)
        );
    }
    assert_eq!(
        without_source_place(&text(&a.stderr)),
        without_source_place(&text(&b.stderr)),
        "{what}: stderr"
    );
    assert_eq!(a.status.code(), b.status.code(), "{what}: exit status");
}

/// Default-logger lines with the place in the library's source replaced by `PLACE`:
/// Debian 12 builds kmod 30 with debugging, so its lines name kmod's C file and line
/// (`libkmod: ERROR ../libkmod/libkmod-config.c:712 kmod_config_parse: ...`), which a
/// different implementation cannot share (rprobe's name its own). The priority, the
/// function and the message are compared as they are; kmod 34's lines have no place.
fn without_source_place(s: &str) -> String {
    s.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            match f.as_slice() {
                ["libkmod:", prio, place, rest]
                    if !prio.ends_with(':')
                        && place.rsplit_once(':').is_some_and(|(_, n)| {
                            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                        }) =>
                {
                    format!("libkmod: {prio} PLACE {rest}\n")
                }
                _ => format!("{l}\n"),
            }
        })
        .collect()
}

/// Everything a comparison needs: the root, the trees (per tree, per index generation)
/// and each tree's names file.
struct Setup {
    root: Root,
    /// (label, module directory inside the root, names file inside the root)
    runs: Vec<(String, String, String)>,
}

fn setup() -> Option<Setup> {
    let refs: Vec<(PathBuf, PathBuf)> = GENS.iter().map(|g| reference(g)).collect::<Option<_>>()?;
    let root = Root::new()?;
    for (g, (lib, inc)) in GENS.iter().zip(&refs) {
        root.compile(g, lib, inc);
        root.install_lib(&format!("ref{g}"), &lib.join("libkmod.so.2"));
    }
    write_config(&root);
    let mut runs = Vec::new();
    for flavour in ["k61", "k612"] {
        let tree = real_tree(flavour)?;
        let mut names_file = None;
        for idx in GENS {
            let name = format!("{flavour}-depmod{idx}");
            let moddir = root.depmod(&tree, &name, idx);
            let nf = names_file.get_or_insert_with(|| {
                let f = format!("/t/{flavour}.names");
                root.write(&f, &(names(&root, &moddir).join("\n") + "\n"));
                f
            });
            runs.push((name, moddir, nf.clone()));
        }
    }
    Some(Setup { root, runs })
}

/// Runs the reference library of `gen` and the one in `libdir` (as RPROBE_KMOD=`kmod`)
/// on every tree, with the test configuration and with the default one; all must match.
fn compare(s: &Setup, gen: &str, libdir: &str, kmod: Option<&str>) -> usize {
    let mut lines = 0;
    for (label, moddir, names) in &s.runs {
        for null_config in [false, true] {
            let args = run_args(moddir, names, null_config);
            let what = format!("kmod {gen} library, {label}, null config {null_config}");
            let a = s
                .root
                .consumer(gen, &format!("/opt/lk/ref{gen}"), None, &args);
            assert!(
                a.status.success(),
                "{what}: the reference run failed: {}",
                text(&a.stderr)
            );
            let b = s.root.consumer(gen, libdir, kmod, &args);
            assert_same(&a, &b, &what);
            let n = a.stdout.iter().filter(|&&c| c == b'\n').count();
            eprintln!("{what}: {n} lines identical");
            lines += n;
        }
    }
    lines
}

/// The harness itself, on the real libraries: each against itself prints the same (the
/// output is deterministic) and a substantial amount; the two generations' differences
/// are reported.
#[test]
fn libkmod_reference_libraries_are_deterministic() {
    let Some(s) = setup() else { return };
    for gen in GENS {
        let lines = compare(&s, gen, &format!("/opt/lk/ref{gen}"), None);
        assert!(lines > 200_000, "kmod {gen}: only {lines} lines of output");
    }
    // The ABI: kmod 34.2 adds the weakdep calls and moves one symbol's version node.
    let (e30, e34) = (
        exports(&s.root.path("/opt/lk/ref30/libkmod.so.2")),
        exports(&s.root.path("/opt/lk/ref34/libkmod.so.2")),
    );
    eprintln!(
        "exports: kmod 30 {}, kmod 34.2 {}; only in 30: {:?}; only in 34.2: {:?}",
        e30.len(),
        e34.len(),
        e30.difference(&e34).collect::<Vec<_>>(),
        e34.difference(&e30).collect::<Vec<_>>()
    );
    assert!(e30.contains(&(
        "kmod_module_new_from_name_lookup".to_string(),
        "LIBKMOD_5".to_string()
    )));
    // What differs between kmod 30's library and kmod 34.2's on the same input (the 30
    // consumer runs against both: kmod 34.2's library keeps kmod 30's ABI).
    s.root
        .install_lib("ref34-as30", &s.root.path("/opt/lk/ref34/libkmod.so.2"));
    for (label, moddir, names) in &s.runs {
        let args = run_args(moddir, names, false);
        let a = s.root.consumer("30", "/opt/lk/ref30", None, &args);
        let b = s.root.consumer("30", "/opt/lk/ref34-as30", None, &args);
        let (x, y) = (text(&a.stdout), text(&b.stdout));
        let differ = x.lines().zip(y.lines()).filter(|(p, q)| p != q).count();
        eprintln!(
            "{label}: kmod 30 vs kmod 34.2 library: {} vs {} lines, {differ} differ in place",
            x.lines().count(),
            y.lines().count()
        );
        let dir = cache_dir().join("libkmod/diff");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("{label}.30.out")), &a.stdout).expect("write");
        std::fs::write(dir.join(format!("{label}.34.out")), &b.stdout).expect("write");
        std::fs::write(dir.join(format!("{label}.30.err")), &a.stderr).expect("write");
        std::fs::write(dir.join(format!("{label}.34.err")), &b.stderr).expect("write");
    }
}

/// The `kmod_*` symbols a library defines, each with its version node (`objdump -T`).
fn exports(lib: &Path) -> std::collections::BTreeSet<(String, String)> {
    let o = Command::new("objdump")
        .arg("-T")
        .arg(lib)
        .output()
        .expect("objdump (binutils)");
    assert!(o.status.success(), "objdump -T {}", lib.display());
    text(&o.stdout)
        .lines()
        .filter(|l| !l.contains("*UND*"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (name, version) = (f.last()?, f.get(f.len().checked_sub(2)?)?);
            // A compatibility binding (not the default version) shows as "(LIBKMOD_5)": it
            // still satisfies binaries linked against that version.
            let version = version.trim_start_matches('(').trim_end_matches(')');
            name.starts_with("kmod_")
                .then(|| ((*name).to_string(), version.to_string()))
        })
        .collect()
}

/// Asserts the library under test defines every symbol of the reference library of `gen`
/// in the same version node: a program linked against Debian's library binds to
/// NAME@VERSION and fails to start (or to call it) when that pair is missing.
fn assert_exports(gen: &str, ours: &Path) {
    let Some((lib, _)) = reference(gen) else {
        return;
    };
    let (want, have) = (exports(&lib.join("libkmod.so.2")), exports(ours));
    assert!(want.len() > 70, "kmod {gen}: only {} exports", want.len());
    let missing: Vec<_> = want.difference(&have).collect();
    assert!(
        missing.is_empty(),
        "kmod {gen}'s symbol versions the library under test lacks: {missing:?}"
    );
}

/// The library under test against kmod 30's, as RPROBE_KMOD=30.
#[test]
fn libkmod_matches_kmod30() {
    let Some(s) = setup() else { return };
    let ours = library_under_test();
    assert_exports("30", &ours);
    let dir = s.root.install_lib("ours", &ours);
    compare(&s, "30", &dir, Some("30"));
}

/// The library under test against kmod 34.2's, as RPROBE_KMOD=34.
#[test]
fn libkmod_matches_kmod34() {
    let Some(s) = setup() else { return };
    let ours = library_under_test();
    assert_exports("34", &ours);
    let dir = s.root.install_lib("ours", &ours);
    compare(&s, "34", &dir, Some("34"));
}

/// A program linked against each Debian library (so bound to that library's symbol
/// versions, `kmod_module_new_from_name_lookup@LIBKMOD_5` for kmod 30's and `@LIBKMOD_30`
/// for kmod 34.2's) starts and runs with rprobe's library in its place: the dynamic
/// linker would refuse a missing version ("version `LIBKMOD_5' not found").
#[test]
fn binaries_linked_against_kmod30_and_kmod34_run_on_rprobes_library() {
    let ours = library_under_test();
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("p.c");
    std::fs::write(
        &src,
        "#include <libkmod.h>\n#include <stdio.h>\n\
         int main(void) {\n\
           struct kmod_ctx *ctx = kmod_new(\"/nonexistent\", NULL);\n\
           struct kmod_module *m = NULL;\n\
           int r = kmod_module_new_from_name_lookup(ctx, \"x\", &m);\n\
           printf(\"%d %s %s\\n\", r, m ? \"found\" : \"none\", kmod_get_dirname(ctx));\n\
           kmod_unref(ctx);\n\
           return 0;\n\
         }\n",
    )
    .expect("write");
    let dir = tmp.path().join("ours");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(
        std::fs::canonicalize(&ours).expect("library"),
        dir.join("libkmod.so.2"),
    )
    .expect("copy");
    for gen in ["30", "34"] {
        let Some((lib, inc)) = reference(gen) else {
            return;
        };
        let prog = tmp.path().join(format!("p{gen}"));
        // kmod 34.2's library needs a newer glibc than this host's: the link only binds
        // the program's own references.
        let o = Command::new("cc")
            .arg("-o")
            .arg(&prog)
            .arg(&src)
            .arg("-I")
            .arg(&inc)
            .arg("-L")
            .arg(&lib)
            .args(["-l:libkmod.so.2", "-Wl,--allow-shlib-undefined"])
            .output()
            .expect("cc");
        assert!(o.status.success(), "cc: {}", text(&o.stderr));
        let nm = Command::new("objdump")
            .arg("-T")
            .arg(&prog)
            .output()
            .expect("objdump");
        let want = if gen == "30" {
            "LIBKMOD_5"
        } else {
            "LIBKMOD_30"
        };
        assert!(
            text(&nm.stdout)
                .lines()
                .any(|l| l.contains("kmod_module_new_from_name_lookup") && l.contains(want)),
            "the kmod {gen} program binds name_lookup@{want}:\n{}",
            text(&nm.stdout)
        );
        let o = Command::new(&prog)
            .env("LD_LIBRARY_PATH", &dir)
            .env("RPROBE_KMOD", gen)
            .output()
            .expect("run");
        assert!(
            o.status.success(),
            "kmod {gen} program: {}",
            text(&o.stderr)
        );
        assert_eq!(
            text(&o.stdout),
            "0 none /nonexistent\n",
            "kmod {gen} program"
        );
    }
}
