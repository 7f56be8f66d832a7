//! `rprobe depmod` against kmod's depmod, run live on the same trees: every index file
//! byte-identical on the real Debian trees, and on synthetic trees for what real trees lack.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rprobe_testkit::real_tree;
use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

use crate::util::*;

const VER: &str = "6.1.0-synth";

fn assert_dirs_identical(a: &Path, b: &Path, what: &str) {
    let fa = index_files(a);
    let fb = index_files(b);
    assert_eq!(fa, fb, "{what}: the same files are written");
    for f in &fa {
        let x = std::fs::read(a.join(f)).expect("read");
        let y = std::fs::read(b.join(f)).expect("read");
        assert!(
            x == y,
            "{what}: {f} differs ({} vs {} bytes)",
            x.len(),
            y.len()
        );
    }
}

fn depmod_rprobe(root: &Path, version: &str, extra: &[&str]) -> Output {
    let conf = empty_conf(root);
    let mut args: Vec<std::ffi::OsString> = vec![
        "depmod".into(),
        "-b".into(),
        root.into(),
        "-C".into(),
        conf.into(),
    ];
    args.extend(extra.iter().map(Into::into));
    args.push(version.into());
    run(&rprobe(), args)
}

fn depmod_kmod(root: &Path, version: &str, extra: &[&str]) -> Output {
    let conf = empty_conf(root);
    let mut args: Vec<std::ffi::OsString> =
        vec!["-b".into(), root.into(), "-C".into(), conf.into()];
    args.extend(extra.iter().map(Into::into));
    args.push(version.into());
    run(&kmod("depmod"), args)
}

/// rprobe's messages with what it adds to kmod's words removed: kmod says "Exec format
/// error", rprobe goes on to say what is wrong in parentheses.
fn kmod_words(s: &str) -> String {
    s.lines()
        .map(
            |l| match (l.contains("failed to load symbols from"), l.find(" (")) {
                (true, Some(i)) => l[..i].to_string(),
                _ => l.to_string(),
            },
        )
        .map(|l| l + "\n")
        .collect()
}

fn real_identical(flavour: &'static str) {
    let Some(tree) = real_tree(flavour) else {
        return;
    };
    let a = link_tree(&tree);
    let b = link_tree(&tree);
    let k = depmod_kmod(a.path(), &tree.version, &[]);
    assert!(
        k.status.success(),
        "kmod depmod: {}",
        String::from_utf8_lossy(&k.stderr)
    );
    let r = depmod_rprobe(b.path(), &tree.version, &[]);
    assert_no_panic(&r, flavour);
    assert!(
        r.status.success(),
        "rprobe depmod: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(k.stderr, r.stderr, "{flavour}: messages");
    let da = a.path().join("lib/modules").join(&tree.version);
    let db = b.path().join("lib/modules").join(&tree.version);
    assert!(index_files(&da).len() >= 12, "kmod wrote its indexes");
    assert_dirs_identical(&da, &db, flavour);
}

#[test]
fn real_61_plain_identical() {
    real_identical("k61");
}

#[test]
fn real_612_xz_identical() {
    real_identical("k612");
}

#[test]
fn real_612_zstd_identical() {
    real_identical("k612zst");
}

/// kmod 30 cannot read gzip: rprobe on the .ko.gz tree writes what kmod writes for the
/// plain tree, with each module path ending in .gz.
#[test]
fn real_61_gzip_same_content_as_plain() {
    let (Some(gz), Some(plain)) = (real_tree("k61gz"), real_tree("k61")) else {
        return;
    };
    let a = link_tree(&plain);
    let b = link_tree(&gz);
    assert!(depmod_kmod(a.path(), &plain.version, &[]).status.success());
    let r = depmod_rprobe(b.path(), &gz.version, &[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let da = a.path().join("lib/modules").join(&plain.version);
    let db = b.path().join("lib/modules").join(&gz.version);
    for f in index_files(&da) {
        let x = std::fs::read(da.join(&f)).expect("read");
        let y = std::fs::read(db.join(&f)).expect("read");
        if f == "modules.dep" {
            let x = String::from_utf8_lossy(&x).replace(".ko", ".ko.gz");
            assert_eq!(x, String::from_utf8_lossy(&y), "modules.dep");
        } else if f == "modules.dep.bin" {
            let tx =
                rprobe_index::index::Trie::from_bytes(&da.join(&f), x).expect("kmod's dep.bin");
            let ty = rprobe_index::index::Trie::from_bytes(&db.join(&f), y).expect("our dep.bin");
            let ex: Vec<(String, String)> = tx
                .entries()
                .expect("entries")
                .into_iter()
                .map(|(k, v)| (k, v.value.replace(".ko", ".ko.gz")))
                .collect();
            let ey: Vec<(String, String)> = ty
                .entries()
                .expect("entries")
                .into_iter()
                .map(|(k, v)| (k, v.value))
                .collect();
            assert_eq!(ex, ey, "modules.dep.bin");
        } else {
            assert!(x == y, "{f} differs between the plain and the gzip tree");
        }
    }
}

/// A synthetic tree built twice (once for each tool), identically.
fn synth_pair(build: impl Fn(&SynthTree)) -> (tempfile::TempDir, tempfile::TempDir) {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    build(&SynthTree::new(a.path(), VER));
    // Copy with the same directory order: cp -a of the first tree.
    std::fs::remove_dir_all(b.path()).expect("rm");
    let st = Command::new("cp")
        .arg("-a")
        .arg(a.path())
        .arg(b.path())
        .status()
        .expect("cp");
    assert!(st.success());
    (a, b)
}

fn moddir(root: &Path) -> PathBuf {
    root.join("lib/modules").join(VER)
}

/// Runs both tools on a synthetic tree; asserts equal exit codes, messages and files.
fn compare_synth(what: &str, build: impl Fn(&SynthTree), extra: &[&str]) -> Output {
    let (a, b) = synth_pair(build);
    let k = depmod_kmod(a.path(), VER, extra);
    let r = depmod_rprobe(b.path(), VER, extra);
    assert_no_panic(&r, what);
    assert_eq!(
        code(&k),
        code(&r),
        "{what}: exit code (kmod said {})",
        String::from_utf8_lossy(&k.stderr)
    );
    let ke = String::from_utf8_lossy(&k.stderr).replace(&a.path().display().to_string(), "ROOT");
    let re = String::from_utf8_lossy(&r.stderr).replace(&b.path().display().to_string(), "ROOT");
    assert_eq!(ke, kmod_words(&re), "{what}: messages");
    assert_dirs_identical(&moddir(a.path()), &moddir(b.path()), what);
    r
}

fn chain(t: &SynthTree, codec: Codec) {
    t.add(
        &SynthModule::new("base")
            .export("base_fn")
            .info("alias", "pci:v00001234d*"),
        "kernel/lib",
        codec,
    );
    t.add(
        &SynthModule::new("mid-dash")
            .import("base_fn")
            .export("mid_fn")
            .info("softdep", "pre: base"),
        "kernel/drivers",
        codec,
    );
    t.add(
        &SynthModule::new("top")
            .import("mid_fn")
            .import("base_fn")
            .import_crc("printk", Some(1))
            .info("alias", "char-major-10-200")
            .info("alias", "devname:topdev")
            .info("alias", "fs-top"),
        "kernel/fs",
        codec,
    );
}

#[test]
fn synth_chain_each_codec() {
    for codec in [Codec::None, Codec::Xz, Codec::Zstd] {
        compare_synth(&format!("{codec:?}"), |t| chain(t, codec), &[]);
    }
}

#[test]
fn synth_cycle_is_reported() {
    let r = compare_synth(
        "cycle",
        |t| {
            t.add(
                &SynthModule::new("ca").export("a_fn").import("b_fn"),
                "kernel",
                Codec::None,
            );
            t.add(
                &SynthModule::new("cb").export("b_fn").import("c_fn"),
                "kernel",
                Codec::None,
            );
            t.add(
                &SynthModule::new("cc").export("c_fn").import("a_fn"),
                "kernel",
                Codec::None,
            );
            t.add(
                &SynthModule::new("free").import("a_fn"),
                "kernel",
                Codec::None,
            );
        },
        &[],
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("Cycle detected: "), "{err}");
    assert!(
        err.contains("Found 3 modules in dependency cycles!"),
        "{err}"
    );
    assert_eq!(code(&r), 1);
}

#[test]
fn synth_updates_beat_kernel_and_config() {
    let build = |t: &SynthTree| {
        t.add(
            &SynthModule::new("dup").export("old_fn"),
            "kernel/drivers",
            Codec::None,
        );
        t.add(
            &SynthModule::new("dup").export("new_fn"),
            "updates",
            Codec::Xz,
        );
        t.add(
            &SynthModule::new("user").import("new_fn"),
            "kernel/misc",
            Codec::None,
        );
        t.add(
            &SynthModule::new("ov").export("ov_fn"),
            "kernel/a",
            Codec::None,
        );
        t.add(
            &SynthModule::new("ov").export("ov_fn"),
            "extra",
            Codec::None,
        );
        t.add(
            &SynthModule::new("skipme").export("s_fn"),
            "kernel/skipdir",
            Codec::None,
        );
        t.add(
            &SynthModule::new("ext").export("e_fn"),
            "../../../external/dir",
            Codec::None,
        );
    };
    // No configuration: updates/ wins over kernel/.
    compare_synth("updates", build, &[]);
    // With configuration: search order, override, exclude and external, given with -C.
    let (a, b) = synth_pair(build);
    for root in [a.path(), b.path()] {
        let conf = root.join("depmod.d");
        std::fs::create_dir_all(&conf).expect("mkdir");
        std::fs::write(
            conf.join("10-test.conf"),
            format!(
                "# test\nsearch extra updates built-in external\noverride ov {VER} kernel/a\nexclude skipdir\nexternal 6.1.* {}/external/dir\nbogus line\n",
                root.display()
            ),
        )
        .expect("write conf");
    }
    let k = run(
        &kmod("depmod"),
        [
            "-b".as_ref(),
            a.path().as_os_str(),
            "-C".as_ref(),
            a.path().join("depmod.d").as_os_str(),
            VER.as_ref(),
        ],
    );
    let r = run(
        &rprobe(),
        [
            "depmod".as_ref(),
            "-b".as_ref(),
            b.path().as_os_str(),
            "-C".as_ref(),
            b.path().join("depmod.d").as_os_str(),
            VER.as_ref(),
        ],
    );
    assert_eq!(code(&k), code(&r));
    let norm = |o: &Output, root: &Path| {
        String::from_utf8_lossy(&o.stderr).replace(&root.display().to_string(), "ROOT")
    };
    assert_eq!(norm(&k, a.path()), norm(&r, b.path()), "config messages");
    let dep = std::fs::read_to_string(moddir(b.path()).join("modules.dep")).expect("dep");
    assert!(
        dep.contains("kernel/a/ov.ko:"),
        "override picked kernel/a: {dep}"
    );
    assert!(!dep.contains("skipme"), "excluded dir skipped: {dep}");
    assert!(
        dep.contains("external/dir/ext.ko:"),
        "external dir searched: {dep}"
    );
    let ka = std::fs::read_to_string(moddir(a.path()).join("modules.dep")).expect("dep");
    assert_eq!(
        ka.replace(&a.path().display().to_string(), "ROOT"),
        dep.replace(&b.path().display().to_string(), "ROOT")
    );
}

#[test]
fn synth_builtin_and_order() {
    compare_synth(
        "builtin",
        |t| {
            chain(t, Codec::None);
            t.file(
                "modules.builtin",
                "kernel/fs/ext4/ext4.ko\nkernel/crypto/crc32c-generic.ko\n",
            );
            let mut bi = Vec::new();
            for s in [
                "ext4.alias=fs-ext4",
                "ext4.license=GPL",
                "crc32c_generic.alias=crypto-crc32c",
                "ext4.alias=ext[23]",
            ] {
                bi.extend_from_slice(s.as_bytes());
                bi.push(0);
            }
            std::fs::write(t.moddir().join("modules.builtin.modinfo"), bi).expect("write");
            t.file(
                "modules.order",
                "kernel/fs/top.ko\nkernel/lib/base.ko\nkernel/gone.ko\n",
            );
        },
        &[],
    );
}

#[test]
fn synth_corrupt_module_among_good_ones() {
    let r = compare_synth(
        "corrupt",
        |t| {
            chain(t, Codec::None);
            std::fs::write(t.moddir().join("kernel/bad.ko"), b"this is not an ELF file")
                .expect("write");
        },
        &[],
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("failed to load symbols from") && err.contains("bad.ko"),
        "{err}"
    );
}

#[test]
fn synth_truncated_and_empty_modules_do_not_stop_depmod() {
    let (_, b) = synth_pair(|t| {
        chain(t, Codec::None);
        let elf = SynthModule::new("cut").export("x").elf();
        std::fs::write(t.moddir().join("kernel/cut.ko"), &elf[..elf.len() / 2]).expect("write");
        std::fs::write(t.moddir().join("kernel/empty.ko"), b"").expect("write");
        let xz = Codec::Xz.compress(&elf);
        std::fs::write(t.moddir().join("kernel/cutxz.ko.xz"), &xz[..xz.len() / 2]).expect("write");
    });
    let r = depmod_rprobe(b.path(), VER, &[]);
    assert_no_panic(&r, "truncated");
    assert!(r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    for n in ["cut.ko", "empty.ko", "cutxz.ko.xz"] {
        assert!(err.contains(n), "{n} named: {err}");
    }
    let dep = std::fs::read_to_string(moddir(b.path()).join("modules.dep")).expect("dep");
    assert!(
        dep.contains("kernel/fs/top.ko: kernel/drivers/mid-dash.ko kernel/lib/base.ko"),
        "{dep}"
    );
}

#[test]
fn synth_symlinked_and_dangling_directories() {
    compare_synth(
        "symlinks",
        |t| {
            chain(t, Codec::None);
            let real = t.root.join("elsewhere");
            SynthModule::new("linked")
                .import("base_fn")
                .write(&real, "", Codec::None);
            std::os::unix::fs::symlink(&real, t.moddir().join("kernel/linked-dir"))
                .expect("symlink");
        },
        &[],
    );
    let (_, b) = synth_pair(|t| {
        chain(t, Codec::None);
        std::os::unix::fs::symlink(
            "/nonexistent-rprobe-dir",
            t.moddir().join("kernel/dangling"),
        )
        .expect("symlink");
    });
    let r = depmod_rprobe(b.path(), VER, &[]);
    assert_no_panic(&r, "dangling");
    assert!(moddir(b.path()).join("modules.dep").exists());
}

#[test]
fn errsyms_with_system_map_and_symvers() {
    for (flag, file, content) in [
        (
            "-F",
            "System.map",
            "ffffffff81000000 T _stext\nffffffff82000000 r __ksymtab_printk\nbadline\n",
        ),
        (
            "-E",
            "Module.symvers",
            "0x00000002\tprintk\tvmlinux\tEXPORT_SYMBOL\n0x1\tother\tdrivers/x\tEXPORT_SYMBOL\n",
        ),
    ] {
        let build = |t: &SynthTree| {
            chain(t, Codec::None);
            t.add(
                &SynthModule::new("needy")
                    .import("nowhere_fn")
                    .import("base_fn"),
                "kernel/x",
                Codec::None,
            );
            std::fs::write(t.root.join(file), content).expect("write");
        };
        let (a, b) = synth_pair(build);
        let fa = a.path().join(file);
        let fb = b.path().join(file);
        let k = depmod_kmod(a.path(), VER, &["-e", flag, &fa.to_string_lossy()]);
        let r = depmod_rprobe(b.path(), VER, &["-e", flag, &fb.to_string_lossy()]);
        assert_eq!(code(&k), code(&r), "{flag}");
        let ke =
            String::from_utf8_lossy(&k.stderr).replace(&a.path().display().to_string(), "ROOT");
        let re =
            String::from_utf8_lossy(&r.stderr).replace(&b.path().display().to_string(), "ROOT");
        assert_eq!(ke, kmod_words(&re), "{flag}: warnings");
        assert!(re.contains("needs unknown symbol nowhere_fn"), "{re}");
        assert_dirs_identical(&moddir(a.path()), &moddir(b.path()), flag);
    }
}

#[test]
fn dry_run_prints_what_kmod_prints() {
    let (a, b) = synth_pair(|t| chain(t, Codec::None));
    let k = depmod_kmod(a.path(), VER, &["-n"]);
    let r = depmod_rprobe(b.path(), VER, &["-n"]);
    assert_eq!(code(&k), code(&r));
    assert_eq!(
        String::from_utf8_lossy(&k.stdout),
        String::from_utf8_lossy(&r.stdout)
    );
    assert!(
        index_files(&moddir(b.path())).is_empty(),
        "-n writes nothing"
    );
}

/// A run killed with SIGKILL at any point leaves every index whole: each file is the old
/// one or the complete new one, never a torn mix.
#[test]
fn sigkill_leaves_previous_indexes_whole() {
    let Some(tree) = real_tree("k61") else { return };
    let tmp = link_tree(&tree);
    let root = tmp.path();
    let dir = root.join("lib/modules").join(&tree.version);
    // Old indexes: made with one module missing; new ones differ.
    let hidden = module_files(&dir)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/fs/ext4/"))
        .expect("ext4");
    let aside = root.join("ext4.ko.aside");
    std::fs::rename(&hidden, &aside).expect("hide ext4");
    assert!(depmod_rprobe(root, &tree.version, &[]).status.success());
    let old: Vec<(String, Vec<u8>)> = index_files(&dir)
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(dir.join(&f)).expect("read")))
        .collect();
    std::fs::rename(&aside, &hidden).expect("restore ext4");
    let reference = link_tree(&tree);
    assert!(depmod_rprobe(reference.path(), &tree.version, &[])
        .status
        .success());
    let rdir = reference.path().join("lib/modules").join(&tree.version);
    let conf = empty_conf(root);
    for delay_ms in [50u64, 150, 300, 500, 700, 900] {
        let mut child = Command::new(rprobe())
            .args([
                "depmod".as_ref(),
                "-b".as_ref(),
                root.as_os_str(),
                "-C".as_ref(),
                conf.as_os_str(),
                tree.version.as_ref(),
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for (f, old_bytes) in &old {
            let now = std::fs::read(dir.join(f)).expect("index still there");
            let new_bytes = std::fs::read(rdir.join(f)).expect("reference");
            assert!(
                now == *old_bytes || now == new_bytes,
                "{f} torn after SIGKILL at {delay_ms} ms"
            );
        }
        // Restore the old state for the next round.
        for (f, b) in &old {
            std::fs::write(dir.join(f), b).expect("restore");
        }
    }
}

/// A directory depmod may not read (run as an unprivileged user, since root reads
/// everything): kmod and rprobe report it by name and index the rest alike.
#[test]
fn synth_unreadable_directory() {
    use std::os::unix::fs::PermissionsExt;
    let Some(setpriv) = rprobe_testkit::find_program("setpriv") else {
        eprintln!("SKIPPED: setpriv missing");
        return;
    };
    let uid = run(Path::new("/usr/bin/id"), ["-u"]);
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("SKIPPED: switching to an unprivileged user needs root");
        return;
    }
    let (a, b) = synth_pair(|t| {
        chain(t, Codec::None);
        SynthModule::new("hidden")
            .export("h")
            .write(&t.moddir(), "kernel/locked", Codec::None);
    });
    let mut outs = Vec::new();
    for (root, tool) in [(a.path(), kmod("depmod")), (b.path(), rprobe())] {
        // The unprivileged user must be able to reach and write the module directory.
        for p in [
            root.to_path_buf(),
            root.join("lib"),
            root.join("lib/modules"),
            moddir(root),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        let mut dirs = vec![moddir(root).join("kernel")];
        dirs.extend(["lib", "drivers", "fs"].map(|d| moddir(root).join("kernel").join(d)));
        for d in dirs {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::set_permissions(
            moddir(root).join("kernel/locked"),
            std::fs::Permissions::from_mode(0o000),
        )
        .expect("chmod");
        let conf = empty_conf(root);
        let mut cmd = Command::new(&setpriv);
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&tool);
        if tool == rprobe() {
            cmd.arg("depmod");
        }
        let o = cmd
            .arg("-b")
            .arg(root)
            .arg("-C")
            .arg(&conf)
            .arg(VER)
            .output()
            .expect("run");
        std::fs::set_permissions(
            moddir(root).join("kernel/locked"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        outs.push((
            code(&o),
            String::from_utf8_lossy(&o.stderr).replace(&root.display().to_string(), "ROOT"),
        ));
    }
    assert_no_panic(&run(&rprobe(), ["--version"]), "version");
    assert_eq!(
        outs[0].0, outs[1].0,
        "exit codes: kmod {:?} rprobe {:?}",
        outs[0], outs[1]
    );
    assert!(
        outs[1].1.contains("kernel/locked"),
        "the directory is named: {}",
        outs[1].1
    );
    let dep =
        std::fs::read_to_string(moddir(b.path()).join("modules.dep")).expect("indexes written");
    assert!(
        dep.contains("kernel/fs/top.ko:") && !dep.contains("hidden"),
        "{dep}"
    );
    assert_dirs_identical(&moddir(a.path()), &moddir(b.path()), "unreadable");
}

#[test]
fn synth_non_ascii_file_names_match_kmod() {
    // `a.xé.ko`: kmod cuts the name at a byte count inside 'é'; rprobe once panicked there.
    compare_synth(
        "non-ASCII names",
        |t| {
            chain(t, Codec::None);
            let elf = SynthModule::new("a").export("a_fn").elf();
            std::fs::write(t.moddir().join("kernel/a.xé.ko"), &elf).expect("write");
            let elf = SynthModule::new("ab").import("a_fn").elf();
            std::fs::write(t.moddir().join("kernel/ab.ko"), &elf).expect("write");
        },
        &[],
    );
}

#[test]
fn synth_non_ascii_alias_is_left_out_and_the_rest_indexed() {
    // One module carries an alias with a byte >= 0x80 (the trie format holds 7-bit ASCII;
    // kmod 30 indexes out of bounds on it). rprobe names the module, leaves that one key
    // out and writes every index: they equal kmod's for the same tree without that key.
    let build = |bad: bool| {
        move |t: &SynthTree| {
            chain(t, Codec::None);
            let mut m = SynthModule::new("weird")
                .export("weird_fn")
                .info("alias", "fs-weird");
            if bad {
                m = m.info("alias", "pci:v\u{e9}d*");
            }
            t.add(&m, "kernel/misc", Codec::Xz);
        }
    };
    let (_, with_bad) = synth_pair(build(true));
    let r = depmod_rprobe(with_bad.path(), VER, &[]);
    assert_no_panic(&r, "non-ASCII alias");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("weird.ko.xz") && err.contains("left out"),
        "{err}"
    );
    let (clean, _) = synth_pair(build(false));
    let k = depmod_kmod(clean.path(), VER, &[]);
    assert!(k.status.success());
    for f in [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias.bin",
        "modules.symbols.bin",
        "modules.softdep",
    ] {
        let a = std::fs::read(moddir(clean.path()).join(f)).expect("kmod's");
        let b = std::fs::read(moddir(with_bad.path()).join(f)).expect("rprobe's");
        assert!(
            a == b,
            "{f}: rprobe's differs from kmod's without the bad key"
        );
    }
}

/// An image builder's way: depmod run through fakechroot (LD_PRELOAD path redirection,
/// no privileges needed) in Debian 12's root. rprobe's file calls go through libc, so
/// fakechroot sees them all: the indexes land in the fake root, byte-identical to those
/// kmod's depmod writes there the same way, and modprobe reads them back as kmod's does.
#[test]
fn depmod_under_fakechroot_writes_what_kmod_writes() {
    let Some(tar) = rprobe_testkit::debian_rootfs() else {
        return;
    };
    let Some(tree) = real_tree("k61") else { return };
    let Some(fakechroot) = rprobe_testkit::find_program("fakechroot") else {
        assert!(
            !rprobe_testkit::real_required(),
            "fakechroot is not installed (apt-get install fakechroot)"
        );
        eprintln!("SKIPPED: fakechroot missing");
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    rprobe_testkit::unpack_tar(&tar, root.path());
    std::fs::copy(rprobe(), root.path().join("usr/local/bin/rprobe")).expect("copy");
    let v = tree.version.as_str();
    for side in ["k", "r"] {
        rprobe_testkit::link_copy(
            &tree.moddir(),
            &root.path().join(format!("{side}/lib/modules/{v}")),
        );
    }
    let fake = |args: &[&str]| {
        let o = Command::new(&fakechroot)
            .arg("chroot")
            .arg(root.path())
            .args(args)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("RPROBE_KMOD", "30")
            .output()
            .expect("fakechroot");
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    };
    fake(&["depmod", "-b", "/k", v]);
    fake(&["/usr/local/bin/rprobe", "depmod", "-b", "/r", v]);
    assert_dirs_identical(
        &root.path().join(format!("k/lib/modules/{v}")),
        &root.path().join(format!("r/lib/modules/{v}")),
        "depmod under fakechroot",
    );
    // The record cache went where a chrooted process puts it: inside the root.
    assert!(root.path().join("var/cache/rprobe/depmod").is_dir());
    let k = fake(&["modprobe", "-d", "/k", "-S", v, "-D", "ext4"]);
    let r = fake(&[
        "/usr/local/bin/rprobe",
        "modprobe",
        "-d",
        "/k",
        "-S",
        v,
        "-D",
        "ext4",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&k.stdout)
    );
}

/// kmod 30's depmod: `-m`/`--map` is the old map option, ignored with a warning (kmod 34's
/// `-m DIR` does not exist yet), `-o`/`--outdir` (kmod 31) and `--moduledir` are unknown
/// options; a relative `-b` is made absolute (the paths in messages). Against the host's
/// kmod 30, rprobe as kmod 30.
#[test]
fn depmod_30_options_m_o_and_a_relative_basedir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let version = "6.1.0-opts";
    let t = SynthTree::new(tmp.path(), version);
    t.add(
        &SynthModule::new("one").export("one_fn"),
        "kernel",
        Codec::None,
    );
    t.add(
        &SynthModule::new("two").import("one_fn"),
        "kernel",
        Codec::Xz,
    );
    let conf = empty_conf(tmp.path());
    for extra in [
        &["-m"][..],
        &["--map"],
        &["-am"],
        &["-vm"],
        &["-o", "/nonexistent"],
        &["--outdir=/nonexistent"],
        &["--moduledir", "x"],
    ] {
        let mut args: Vec<std::ffi::OsString> = vec![
            "-n".into(),
            "-b".into(),
            ".".into(),
            "-C".into(),
            conf.clone().into(),
        ];
        args.extend(extra.iter().map(Into::into));
        args.push(version.into());
        // getopt names the program by argv[0]: "depmod" for both.
        let k =
            std::os::unix::process::CommandExt::arg0(&mut Command::new(kmod("depmod")), "depmod")
                .args(&args)
                .current_dir(tmp.path())
                .output()
                .expect("kmod depmod");
        let r = Command::new(rprobe())
            .arg("depmod")
            .args(&args)
            .current_dir(tmp.path())
            .env("RPROBE_KMOD", "30")
            .output()
            .expect("rprobe depmod");
        assert_eq!(code(&k), code(&r), "depmod {extra:?}: exit codes");
        assert_eq!(
            String::from_utf8_lossy(&k.stderr),
            String::from_utf8_lossy(&r.stderr),
            "depmod {extra:?}: messages"
        );
        assert!(k.stdout == r.stdout, "depmod {extra:?}: output differs");
        if extra[0].starts_with("-o") || extra[0].starts_with("--") && extra[0] != "--map" {
            assert_eq!(code(&k), 1, "depmod {extra:?}");
        } else {
            assert!(
                String::from_utf8_lossy(&k.stderr).contains("Ignored deprecated option"),
                "depmod {extra:?}"
            );
        }
    }
}
