//! rprobe in kmod 34 mode (RPROBE_KMOD=34) against Debian 13's own kmod 34.2, run live in a
//! debootstrapped Debian 13 root (scripts/fetch-rootfs trixie): both tools run inside the
//! root with chroot, so paths, default directories and configuration directories are the
//! same for both. depmod must write byte-identical files on Debian 13's 6.12 tree (which
//! installs into usr/lib/modules, with lib a link to usr/lib as on a merged-/usr system)
//! and on Debian 12's 6.1 and 6.12 trees; modprobe --show-depends and modinfo must print
//! the same over the same probe sets as the kmod 30 tests, with rprobe reading kmod 34's
//! indexes and kmod 34 reading rprobe's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};
use rprobe_testkit::{real_tree, RealTree};

use crate::util::*;

/// A Debian 13 root unpacked for one test, with rprobe installed as /usr/local/bin/rprobe
/// and its tool names in /usr/local/rprobe/bin.
struct Trixie {
    dir: tempfile::TempDir,
}

impl Trixie {
    /// Unpacks the cached root, or None (after a note) when it is missing and real trees
    /// are not required.
    fn new() -> Option<Trixie> {
        let tar = rprobe_testkit::trixie_rootfs()?;
        let dir = tempfile::tempdir().expect("tempdir");
        rprobe_testkit::unpack_tar(&tar, dir.path());
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/local/rprobe/bin")).expect("mkdir");
        std::fs::copy(rprobe(), root.join("usr/local/bin/rprobe")).expect("copy rprobe");
        for tool in [
            "modprobe", "depmod", "modinfo", "insmod", "rmmod", "lsmod", "kmod",
        ] {
            std::os::unix::fs::symlink(
                "../../bin/rprobe",
                root.join("usr/local/rprobe/bin").join(tool),
            )
            .expect("symlink");
        }
        let t = Trixie { dir };
        let v = t.kmod("kmod", &["--version"]);
        assert!(
            text(&v.stdout).starts_with("kmod version 34"),
            "not kmod 34: {}",
            text(&v.stdout)
        );
        Some(t)
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `prog` (a path inside the root, or a name looked up on its PATH) with `args`
    /// inside the root.
    /// With `rprobe`, rprobe's tool names come first on PATH and RPROBE_KMOD=34 is set.
    fn chroot<S: AsRef<std::ffi::OsStr>>(&self, prog: &str, args: &[S], rprobe: bool) -> Output {
        let mut c = Command::new("chroot");
        c.arg(self.root())
            .arg(prog)
            .args(args)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LC_ALL", "C");
        if rprobe {
            c.env("RPROBE_KMOD", "34").env(
                "PATH",
                "/usr/local/rprobe/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        }
        c.output().expect("chroot")
    }

    /// kmod 34.2's `tool`.
    fn kmod<S: AsRef<std::ffi::OsStr>>(&self, tool: &str, args: &[S]) -> Output {
        self.chroot(tool, args, false)
    }

    /// rprobe as `tool` (called by that name, as kmod's tools are), in kmod 34 mode.
    fn rprobe<S: AsRef<std::ffi::OsStr>>(&self, tool: &str, args: &[S]) -> Output {
        let o = self.chroot(tool, args, true);
        assert_no_panic(&o, tool);
        o
    }

    /// A copy (hard links) of a real tree at ROOT/t/NAME, as the tree's own root (its lib
    /// and, for Debian 13's, usr/lib): returns the path inside the root.
    fn add_tree(&self, tree: &RealTree, name: &str) -> String {
        let inside = format!("/t/{name}");
        let dst = self.root().join(inside.trim_start_matches('/'));
        rprobe_testkit::link_copy(&tree.root, &dst);
        // The package's own index files, if any, are not the test's.
        rprobe_testkit::remove_indexes(&dst.join("lib/modules").join(&tree.version));
        inside
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.root().join(inside.trim_start_matches('/'))
    }

    /// A copy (hard links) of a real tree at the root's own module directory
    /// (usr/lib/modules/VERSION, /lib/modules through the merged-/usr link), where the
    /// tools look without -b or -d. Returns its path outside the root.
    fn install_tree(&self, tree: &RealTree) -> PathBuf {
        let moddir = self.root().join("usr/lib/modules").join(&tree.version);
        rprobe_testkit::link_copy(&tree.moddir(), &moddir);
        moddir
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every modules.* file in a module directory, by name.
fn index_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("modules."))
        .collect();
    v.sort();
    v
}

/// Asserts two module directories hold the same modules.* files, byte for byte.
fn assert_same_indexes(a: &Path, b: &Path, what: &str) {
    let (na, nb) = (index_names(a), index_names(b));
    assert_eq!(na, nb, "{what}: different files");
    for n in &na {
        let (x, y) = (
            std::fs::read(a.join(n)).expect("read"),
            std::fs::read(b.join(n)).expect("read"),
        );
        assert!(
            x == y,
            "{what}: {n} differs ({} bytes from kmod 34.2, {} from rprobe)",
            x.len(),
            y.len()
        );
    }
}

/// kmod 34.2's depmod and rprobe's (34 mode) on two copies of `flavour`: same files.
fn depmod_identical(flavour: &'static str) {
    let Some(t) = Trixie::new() else { return };
    let Some(tree) = real_tree(flavour) else {
        return;
    };
    let (k, r) = (t.add_tree(&tree, "kmod"), t.add_tree(&tree, "rprobe"));
    let ko = t.kmod("depmod", &["-b", &k, &tree.version]);
    assert!(ko.status.success(), "kmod depmod: {}", text(&ko.stderr));
    let ro = t.rprobe("depmod", &["--no-cache", "-b", &r, &tree.version]);
    assert!(ro.status.success(), "rprobe depmod: {}", text(&ro.stderr));
    assert_eq!(text(&ko.stderr), text(&ro.stderr), "{flavour}: messages");
    let sub = format!("lib/modules/{}", tree.version);
    let (kd, rd) = (t.path(&k).join(&sub), t.path(&r).join(&sub));
    assert!(
        kd.join("modules.weakdep").is_file(),
        "kmod 34 writes modules.weakdep"
    );
    assert_same_indexes(&kd, &rd, flavour);
    // The .bin files are kmod 34's layout (root first), which kmod 30's are not.
    let bin = std::fs::read(rd.join("modules.dep.bin")).expect("modules.dep.bin");
    assert_eq!(
        u32::from_be_bytes([bin[8], bin[9], bin[10], bin[11]]) & 0x0FFF_FFFF,
        12
    );
}

#[test]
fn kmod34_depmod_identical_on_debian13_612() {
    depmod_identical("k612t");
}

#[test]
fn kmod34_depmod_identical_on_debian12_61() {
    depmod_identical("k61");
}

#[test]
fn kmod34_depmod_identical_on_debian12_612() {
    depmod_identical("k612");
}

/// `modprobe -a -D` over `names` in batches through both tools; on a difference, the first
/// single name that differs is reported.
fn compare_show_depends(t: &Trixie, tree: &str, version: &str, names: &[String], what: &str) {
    let pre: Vec<String> = ["-d", tree, "-S", version, "-a", "-D"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let both = |names: &[String]| {
        let mut a = pre.clone();
        a.extend(names.iter().cloned());
        (t.kmod("modprobe", &a), t.rprobe("modprobe", &a))
    };
    compare_in_batches(names, what, both);
}

/// One index set for both tools to read; which depmod wrote it is `writer`.
fn show_depends_debian13(writer: &str) {
    let Some(t) = Trixie::new() else { return };
    let Some(tree) = real_tree("k612t") else {
        return;
    };
    let inside = t.add_tree(&tree, "x");
    let o = match writer {
        "kmod" => t.kmod("depmod", &["-b", &inside, &tree.version]),
        _ => t.rprobe("depmod", &["--no-cache", "-b", &inside, &tree.version]),
    };
    assert!(o.status.success(), "{writer} depmod: {}", text(&o.stderr));
    let dir = t.path(&inside).join("lib/modules").join(&tree.version);
    let names = module_names(&dir);
    assert!(names.len() > 4000, "{}", names.len());
    let what = format!("indexes from {writer}'s depmod");
    compare_show_depends(&t, &inside, &tree.version, &names, &what);
    let aliases = std::fs::read_to_string(dir.join("modules.alias")).expect("modules.alias");
    let strings: Vec<String> = aliases
        .lines()
        .filter_map(|l| l.strip_prefix("alias "))
        .filter_map(|l| {
            l.rsplit_once(' ')
                .map(|(p, _)| p.replace(['*', '?', '['], ""))
        })
        .step_by(8)
        .collect();
    assert!(strings.len() > 1000);
    compare_show_depends(&t, &inside, &tree.version, &strings, &what);
    let symbols = std::fs::read_to_string(dir.join("modules.symbols")).expect("symbols");
    let syms: Vec<String> = symbols
        .lines()
        .filter_map(|l| l.strip_prefix("alias "))
        .filter_map(|l| l.split_once(' ').map(|(s, _)| s.to_string()))
        .step_by(40)
        .collect();
    compare_show_depends(&t, &inside, &tree.version, &syms, &what);
    let nowhere: Vec<String> = (0..10)
        .map(|i| format!("no-such-module-{i}"))
        .chain(["symbol:nope".into(), "fs-nofs".into()])
        .collect();
    compare_show_depends(&t, &inside, &tree.version, &nowhere, &what);
}

/// rprobe reads the indexes kmod 34.2 writes (before the two layouts were both read, every
/// lookup failed with "corrupt index ... (loop)").
#[test]
fn kmod34_show_depends_on_kmod34s_indexes() {
    show_depends_debian13("kmod");
}

/// kmod 34.2 reads the indexes rprobe writes in 34 mode.
#[test]
fn kmod34_show_depends_on_rprobes_indexes() {
    show_depends_debian13("rprobe");
}

/// modinfo by name and alias through kmod 34's indexes, and by path, on Debian 13's tree.
#[test]
fn kmod34_modinfo_on_debian13() {
    let Some(t) = Trixie::new() else { return };
    let Some(tree) = real_tree("k612t") else {
        return;
    };
    let inside = t.add_tree(&tree, "x");
    let o = t.kmod("depmod", &["-b", &inside, &tree.version]);
    assert!(o.status.success());
    let dir = t.path(&inside).join("lib/modules").join(&tree.version);
    let files = module_files(&dir);
    let root = t.root().to_string_lossy().into_owned();
    let paths: Vec<String> = every(&files, files.len() / 300)
        .iter()
        .map(|p| p.to_string_lossy().replacen(&root, "", 1))
        .collect();
    let names = every(&module_names(&dir), 40);
    for (what, mut args) in [
        ("by path", paths),
        ("by name", names.clone()),
        ("field by name", names),
    ] {
        if what != "by path" {
            let mut pre = vec![
                "-b".to_string(),
                inside.clone(),
                "-k".into(),
                tree.version.clone(),
            ];
            if what == "field by name" {
                pre.extend(["-F".into(), "depends".into()]);
            }
            pre.append(&mut args);
            args = pre;
        }
        let (k, r) = (t.kmod("modinfo", &args), t.rprobe("modinfo", &args));
        assert_eq!(code(&k), code(&r), "modinfo {what}: exit codes");
        assert!(k.stdout == r.stdout, "modinfo {what}: stdout differs");
        assert_eq!(text(&k.stderr), text(&r.stderr), "modinfo {what}: messages");
    }
}

/// kmod 34 removed depmod's -u, -q and -r (kmod 30 ignored them with a warning): getopt's
/// own words and exit 1, as kmod 34.2 says them.
#[test]
fn kmod34_depmod_removed_options() {
    let Some(t) = Trixie::new() else { return };
    for args in [
        &["-q", "-n", "-b", "/nonexistent", "6.1.0"][..],
        &["--quiet", "-n", "-b", "/nonexistent", "6.1.0"],
        &["-u", "-n", "-b", "/nonexistent", "6.1.0"],
        &["-r", "6.1.0"],
        &["--root", "6.1.0"],
        &["--unresolved-error", "6.1.0"],
        &["-vq", "6.1.0"],
    ] {
        let (k, r) = (t.kmod("depmod", args), t.rprobe("depmod", args));
        assert_eq!(code(&k), code(&r), "depmod {args:?}: exit codes");
        assert_eq!(code(&k), 1, "depmod {args:?}");
        assert_eq!(
            text(&k.stderr),
            text(&r.stderr),
            "depmod {args:?}: messages"
        );
    }
}

/// modules.order naming a module twice: kmod 34 places it by its first line (kmod 30 by
/// its last); and modules.weakdep, header only when no module declares a weak dependency.
#[test]
fn kmod34_depmod_order_duplicates_and_empty_weakdep() {
    let Some(t) = Trixie::new() else { return };
    let ver = "6.1.0-synth";
    for (side, inside) in [("kmod", "/s/kmod"), ("rprobe", "/s/rprobe")] {
        let tree = SynthTree::new(&t.path(inside), ver);
        for (name, dir) in [
            ("alpha", "kernel/a"),
            ("beta", "kernel/b"),
            ("gamma", "kernel/c"),
        ] {
            tree.add(
                &SynthModule::new(name).info("alias", &format!("{name}-alias")),
                dir,
                Codec::None,
            );
        }
        let order = "kernel/c/gamma.ko\nkernel/a/alpha.ko\nkernel/b/beta.ko\nkernel/c/gamma.ko\n";
        std::fs::write(tree.moddir().join("modules.order"), order).expect("order");
        let o = if side == "kmod" {
            t.kmod("depmod", &["-b", inside, ver])
        } else {
            t.rprobe("depmod", &["--no-cache", "-b", inside, ver])
        };
        assert!(o.status.success(), "{side}: {}", text(&o.stderr));
    }
    let sub = format!("lib/modules/{ver}");
    let (kd, rd) = (t.path("/s/kmod").join(&sub), t.path("/s/rprobe").join(&sub));
    assert_same_indexes(&kd, &rd, "modules.order duplicates");
    let dep = std::fs::read_to_string(kd.join("modules.dep")).expect("modules.dep");
    assert!(
        dep.starts_with("kernel/c/gamma.ko:"),
        "first line wins in kmod 34: {dep}"
    );
    assert_eq!(
        std::fs::read_to_string(rd.join("modules.weakdep")).expect("weakdep"),
        "# Weak dependencies extracted from modules themselves.\n"
    );
}

/// RPROBE_KMOD picks the generation; anything but 30 or 34 is refused before any work.
#[test]
fn rprobe_kmod_unknown_value_is_an_error() {
    for v in ["35", "", "kmod34"] {
        let o = Command::new(rprobe())
            .args(["depmod", "-n", "-b", "/nonexistent", "6.1.0"])
            .env("RPROBE_KMOD", v)
            .output()
            .expect("rprobe");
        assert_eq!(code(&o), 1, "RPROBE_KMOD={v:?}");
        let err = text(&o.stderr);
        assert!(err.starts_with("depmod: ERROR: RPROBE_KMOD="), "{err}");
        assert!(!err.contains("nonexistent"), "no work is done: {err}");
    }
    let args: Vec<OsString> = ["depmod", "-n", "-b", "/nonexistent", "6.1.0"]
        .iter()
        .map(OsString::from)
        .collect();
    let o = Command::new(rprobe())
        .args(&args)
        .env("RPROBE_KMOD", "34")
        .output()
        .expect("rprobe");
    assert!(
        text(&o.stderr).contains("/nonexistent"),
        "{}",
        text(&o.stderr)
    );
}

/// kmod 34's configuration directories: modprobe.d and depmod.d also under /usr/lib
/// (DISTCONFDIR, where Debian 13's systemd puts its modprobe.d file), `*.alias` files no
/// longer read, `weakdep` lines in `modprobe -c`.
#[test]
fn kmod34_configuration_directories() {
    let Some(t) = Trixie::new() else { return };
    let Some(tree) = real_tree("k612t") else {
        return;
    };
    // The tree at the root's own module directory, where modprobe looks without -d.
    let v = &tree.version;
    let moddir = t.install_tree(&tree);
    let files = [
        (
            "usr/lib/modprobe.d/zz-test.conf",
            "options dummy numdummies=3\n",
        ),
        ("etc/modprobe.d/test.alias", "alias foo-test dummy\n"),
        (
            "etc/modprobe.d/wd.conf",
            "weakdep ext4 crc16 crc32c\nsoftdep xfs pre: crc32c\n",
        ),
        // Moves ext4 out of the search: depmod.d from /usr/lib counts in kmod 34.
        ("usr/lib/depmod.d/test.conf", "exclude fs\n"),
    ];
    for (f, content) in files {
        let p = t.root().join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }
    let o = t.kmod("depmod", &[v.as_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let kmod_written = std::fs::read(moddir.join("modules.dep")).expect("dep");
    assert!(
        !text(&kmod_written).contains("ext4.ko"),
        "kmod 34 read /usr/lib/depmod.d"
    );
    let o = t.rprobe("depmod", &["--no-cache", v.as_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(std::fs::read(moddir.join("modules.dep")).expect("dep") == kmod_written);
    for args in [
        vec!["-c"],
        vec!["-R", "foo-test"],
        vec!["-D", "dummy"],
        vec!["-D", "xfs"],
    ] {
        let mut a = vec!["-S", v.as_str()];
        a.extend(args.iter().copied());
        let (k, r) = (t.kmod("modprobe", &a), t.rprobe("modprobe", &a));
        assert_eq!(code(&k), code(&r), "modprobe {args:?}: exit codes");
        assert!(k.stdout == r.stdout, "modprobe {args:?}: stdout differs");
        assert_eq!(
            text(&k.stderr),
            text(&r.stderr),
            "modprobe {args:?}: messages"
        );
        if args == ["-c"] {
            let c = text(&k.stdout);
            assert!(c.contains("\nweakdep ext4 crc16 crc32c\n"), "weakdep in -c");
            assert!(
                c.contains("\noptions dummy numdummies=3\n"),
                "/usr/lib/modprobe.d"
            );
            assert!(!c.contains("foo-test"), ".alias files are not read");
        }
    }
}

/// What kmod 34.2's tools say and how they exit, where kmod 30's differ: insmod's options
/// (-p gone, -v new), lsmod's options and errors, `kmod help` and its command list,
/// rmmod without -w, and modprobe given a file (`/x.ko`, `./x.ko`; `../x.ko` is still a
/// name). No module is loaded: the root has no /proc or /sys, as for both tools.
#[test]
fn kmod34_tool_words_and_exit_codes() {
    let Some(t) = Trixie::new() else { return };
    let Some(tree) = real_tree("k612t") else {
        return;
    };
    let v = tree.version.clone();
    let moddir = t.install_tree(&tree);
    let o = t.kmod("depmod", &[v.as_str()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let root_dir = t.root().join("root");
    std::fs::copy(
        moddir.join("kernel/fs/ext4/ext4.ko.xz"),
        root_dir.join("ext4.ko.xz"),
    )
    .expect("copy");
    std::os::unix::fs::symlink("ext4.ko.xz", root_dir.join("link.ko.xz")).expect("ln");
    std::fs::write(root_dir.join("junk.txt"), "junk\n").expect("write");
    // A configuration with lines kmod 34 refuses or keeps: its library's messages.
    std::fs::create_dir_all(t.path("/wd")).expect("mkdir");
    std::fs::write(
        t.path("/wd/x.conf"),
        "weakdep mod-loop-a \t\nbogus line\nsoftdep mod_y\ninclude /x\nweakdep lone\n",
    )
    .expect("write");
    let cases = [
        "insmod -p x".to_string(),
        "insmod -v /nonexistent.ko".into(),
        "insmod".into(),
        "lsmod x".into(),
        "lsmod -h".into(),
        "lsmod -v".into(),
        "lsmod -x".into(),
        "lsmod".into(),
        "kmod list x".into(),
        "kmod list".into(),
        "kmod help".into(),
        "kmod".into(),
        "kmod nosuch".into(),
        "rmmod -w x".into(),
        "rmmod /nonexistent/x.ko".into(),
        "rmmod /nonexistent/dir/".into(),
        "rmmod x-y.ko".into(),
        "cd /root && rmmod ext4.ko.xz".into(),
        format!("cd /root && modprobe -S {v} -D ./ext4.ko.xz"),
        format!("cd /root && modprobe -S {v} -D ./link.ko.xz"),
        format!("cd /root && modprobe -S {v} -D ../root/ext4.ko.xz"),
        format!("modprobe -S {v} -D /root/ext4.ko.xz"),
        format!("modprobe -S {v} -D /root/junk.txt"),
        format!("modprobe -S {v} -D /nonexistent.ko"),
        format!("modprobe -S {v} -a -D /root/ext4.ko.xz crc16"),
        format!("cd /root && modprobe -S {v} -n -v ./ext4.ko.xz"),
        format!("modprobe -S {v} -C /wd -c | grep -v '^alias'"),
        format!("modprobe -q -S {v} -C /wd -D ext4"),
    ];
    for case in &cases {
        let (k, r) = (t.kmod("sh", &["-c", case]), t.rprobe("sh", &["-c", case]));
        assert_eq!(text(&k.stdout), text(&r.stdout), "{case}: stdout");
        assert_eq!(text(&k.stderr), text(&r.stderr), "{case}: stderr");
        assert_eq!(code(&k), code(&r), "{case}: exit code");
    }
}

/// rprobe's error lines with the parenthesised detail it adds after kmod's words removed
/// (each such line must have one, so the test sees it is there).
fn without_detail(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| match l.rfind(" (") {
            Some(i)
                if l.ends_with(')')
                    && (l.contains("could not insert") || l.contains("could not get modinfo")) =>
            {
                &l[..i]
            }
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A zstd module whose frame does not declare its decompressed size (what a streaming
/// `zstd` writes): kmod 34 decompresses in one shot and cannot read it, kmod 30 streams and
/// can. depmod keeps it in modules.dep without its symbols either way; modinfo fails.
#[test]
fn kmod34_zstd_without_content_size() {
    let Some(t) = Trixie::new() else { return };
    let ver = "6.1.0-zs";
    let sides = [("kmod", "/zs/kmod"), ("rprobe", "/zs/rprobe")];
    for (_, inside) in sides {
        let tree = SynthTree::new(&t.path(inside), ver);
        let plain = tree.add(
            &SynthModule::new("streamed")
                .info("license", "GPL")
                .export("streamed_fn"),
            "kernel/lib",
            Codec::None,
        );
        tree.add(
            &SynthModule::new("user").import("streamed_fn"),
            "kernel/fs",
            Codec::None,
        );
        let o = Command::new("sh")
            .arg("-c")
            .arg("zstd -q -c < \"$0\" > \"$0.zst\" && rm \"$0\"")
            .arg(&plain)
            .output()
            .expect("zstd");
        assert!(o.status.success(), "zstd: {}", text(&o.stderr));
        let head = std::fs::read(plain.with_extension("ko.zst")).expect("zst");
        assert_eq!(head[4] & 0xE0, 0, "a frame without its content size");
    }
    let ko = t.kmod("depmod", &["-b", "/zs/kmod", ver]);
    let ro = t.rprobe("depmod", &["--no-cache", "-b", "/zs/rprobe", ver]);
    assert_eq!(code(&ko), code(&ro), "depmod exit codes");
    assert!(text(&ko.stderr).contains("Failed to determine decompression size"));
    assert!(
        text(&ro.stderr).contains("streamed.ko.zst: Invalid argument (")
            && text(&ro.stderr).contains("Failed to determine decompression size"),
        "{}",
        text(&ro.stderr)
    );
    let sub = format!("lib/modules/{ver}");
    assert_same_indexes(
        &t.path("/zs/kmod").join(&sub),
        &t.path("/zs/rprobe").join(&sub),
        "zstd without content size",
    );
    let file = format!("/zs/kmod/{sub}/kernel/lib/streamed.ko.zst");
    let (k, r) = (
        t.kmod("modinfo", &["-F", "license", file.as_str()]),
        t.rprobe("modinfo", &["-F", "license", file.as_str()]),
    );
    assert_eq!(code(&k), 1);
    assert_eq!(code(&r), 1);
    // All of modinfo: the file name on stdout, then kmod 34's library line through its
    // default logger and modinfo's error; the same for a file shorter than any magic.
    std::fs::write(t.path("/zs/five.ko"), b"\x7fELF\x02").expect("write");
    for f in [file.as_str(), "/zs/five.ko"] {
        let (k, r) = (t.kmod("modinfo", &[f]), t.rprobe("modinfo", &[f]));
        assert_eq!(code(&k), code(&r), "modinfo {f}: exit code");
        assert_eq!(text(&k.stdout), text(&r.stdout), "modinfo {f}: stdout");
        assert_eq!(
            text(&k.stderr),
            without_detail(&text(&r.stderr)),
            "modinfo {f}: stderr"
        );
    }
    // Loading it: kmod 34 decompresses in user space here (this kernel names no codec in
    // /sys/module/compression) and refuses the frame before init_module, with its library's
    // line first; rprobe says the same, then what is wrong in parentheses. modprobe finds it
    // through each side's indexes (-d), insmod by path.
    for (tool, args) in [
        ("insmod", vec![file.clone()]),
        (
            "modprobe",
            vec![
                "-d".into(),
                "/zs/kmod".into(),
                "-S".into(),
                ver.into(),
                "streamed".into(),
            ],
        ),
        (
            "modprobe",
            vec![
                "-d".into(),
                "/zs/rprobe".into(),
                "-S".into(),
                ver.into(),
                "streamed".into(),
            ],
        ),
    ] {
        let (k, r) = (t.kmod(tool, &args), t.rprobe(tool, &args));
        assert_eq!(code(&k), 1, "{tool} {args:?}: {}", text(&k.stderr));
        assert_eq!(code(&r), 1, "{tool} {args:?}");
        assert!(
            text(&k.stderr).contains("ERROR: zstd: Failed to determine decompression size\n"),
            "{}",
            text(&k.stderr)
        );
        assert_eq!(
            text(&k.stderr),
            without_detail(&text(&r.stderr)),
            "{tool} {args:?}: stderr"
        );
    }
    // kmod 30 (this host's) reads it, and so does rprobe in 30 mode.
    let host = t.root().join(file.trim_start_matches('/'));
    let k30 = run(
        &kmod("modinfo"),
        [OsString::from("-F"), "license".into(), host.clone().into()],
    );
    let r30 = run(
        &rprobe(),
        [
            OsString::from("modinfo"),
            "-F".into(),
            "license".into(),
            host.into(),
        ],
    );
    assert_eq!(text(&k30.stdout), "GPL\n");
    assert_eq!(text(&r30.stdout), "GPL\n");
}

/// depmod's -o (output root) and -m (module directory under the root, a leading '/'
/// dropped) on a tree kept in usr/lib/modules, and its words when the directory is missing.
#[test]
fn kmod34_depmod_outdir_and_moduledir() {
    let Some(t) = Trixie::new() else { return };
    let Some(tree) = real_tree("k61") else {
        return;
    };
    let v = tree.version.as_str();
    for side in ["k", "r"] {
        let dst = t.path(&format!("/mo/{side}/usr/lib/modules/{v}"));
        rprobe_testkit::link_copy(&tree.moddir(), &dst);
    }
    let args = |side: &str, md: &str| {
        vec![
            "-b".to_string(),
            format!("/mo/{side}"),
            "-o".into(),
            format!("/mo/{side}-out"),
            "-m".into(),
            md.to_string(),
            v.to_string(),
        ]
    };
    for md in ["/usr/lib/modules", "usr/lib/modules"] {
        let ko = t.kmod("depmod", &args("k", md));
        let mut a = vec!["--no-cache".to_string()];
        a.extend(args("r", md));
        let ro = t.rprobe("depmod", &a);
        assert!(
            ko.status.success() && ro.status.success(),
            "{}",
            text(&ro.stderr)
        );
        let sub = format!("usr/lib/modules/{v}");
        let (kd, rd) = (
            t.path("/mo/k-out").join(&sub),
            t.path("/mo/r-out").join(&sub),
        );
        assert_same_indexes(&kd, &rd, md);
        // The input directory is left alone.
        assert!(!t.path("/mo/r").join(&sub).join("modules.dep").exists());
    }
    for args in [
        vec!["-b", "/nonexistent", v],
        vec!["-o", "relative", "-b", "/mo/k", v],
        vec!["-b", "/mo/k", "-m", "nonexistent", v],
        vec!["-m"],
        vec!["-o"],
    ] {
        let (k, r) = (t.kmod("depmod", &args), t.rprobe("depmod", &args));
        assert_eq!(text(&k.stderr), text(&r.stderr), "depmod {args:?}");
        assert_eq!(code(&k), code(&r), "depmod {args:?}");
    }
}

/// libkmod's own lines (here a bad configuration line, reported while kmod_new reads the
/// configuration) stay on standard error under -s: kmod 34's default logger writes them,
/// not modprobe's log, which -s sends to syslog.
#[test]
fn kmod34_library_lines_stay_on_stderr_with_syslog() {
    let Some(t) = Trixie::new() else { return };
    std::fs::create_dir_all(t.path("/badconf")).expect("mkdir");
    std::fs::write(t.path("/badconf/x.conf"), "frobnicate this\n").expect("write");
    for args in [
        vec!["-s", "-C", "/badconf", "-R", "nonexistent"],
        vec!["-C", "/badconf", "-R", "nonexistent"],
    ] {
        let (k, r) = (t.kmod("modprobe", &args), t.rprobe("modprobe", &args));
        assert!(
            text(&k.stderr).contains("libkmod: ERROR: ") && text(&k.stderr).contains("frobnicate"),
            "{args:?}: {}",
            text(&k.stderr)
        );
        assert_eq!(text(&k.stderr), text(&r.stderr), "{args:?}: stderr");
        assert_eq!(code(&k), code(&r), "{args:?}: exit code");
    }
}
