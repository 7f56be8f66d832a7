//! Hostile input, faults and concurrency, end to end: damaged modules beside good ones, a
//! full disk, concurrent depmod runs and readers, decompression bombs, dependency cycles in
//! image builds and closed output pipes. Each test failed on the behaviour it guards against
//! (see docs/robustness.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

use crate::util::*;

const VER: &str = "6.1.0-robust";

fn moddir(root: &Path) -> PathBuf {
    root.join("lib/modules").join(VER)
}

/// Every file in a directory (names), sorted.
fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn depmod_cmd(root: &Path, extra: &[&str]) -> Command {
    let conf = empty_conf(root);
    let mut c = Command::new(rprobe());
    c.arg("depmod")
        .arg("-b")
        .arg(root)
        .arg("-C")
        .arg(conf)
        .args(extra)
        .arg(VER);
    c
}

fn copy_tree(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    std::fs::remove_dir_all(to.path()).expect("rm");
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to.path())
        .status()
        .expect("cp -a");
    assert!(st.success());
    to
}

/// The files a kernel package ships beside its modules (empty here), so depmod does not
/// warn that they are missing.
fn package_files(t: &SynthTree) {
    for f in rprobe_testkit::PACKAGE_FILES {
        t.file(f, "");
    }
}

/// Good modules in every codec kmod 30 reads: a dependency chain, aliases, a softdep and a
/// device node, so every index has content.
fn good_modules(t: &SynthTree) {
    package_files(t);
    t.add(
        &SynthModule::new("base")
            .export("base_fn")
            .info("alias", "pci:v00001234d*"),
        "kernel/lib",
        Codec::None,
    );
    t.add(
        &SynthModule::new("mid-dash")
            .import("base_fn")
            .export("mid_fn")
            .info("softdep", "pre: base"),
        "kernel/drivers",
        Codec::Xz,
    );
    t.add(
        &SynthModule::new("top")
            .import("mid_fn")
            .import("base_fn")
            .info("alias", "char-major-10-200")
            .info("alias", "devname:topdev")
            .info("alias", "fs-top"),
        "kernel/fs",
        Codec::Zstd,
    );
}

/// The module that carries one key the binary indexes cannot hold (`bad`) or not.
fn weird(bad: bool) -> SynthModule {
    let m = SynthModule::new("weird")
        .export("weird_fn")
        .info("alias", "fs-weird");
    if bad {
        m.info("alias", "pci:v\u{e9}d*")
    } else {
        m
    }
}

/// Damaged module files, by name under kernel/damaged: each exports a symbol, so a damaged
/// file read as if it were good would show in modules.symbols.
fn damaged_files() -> Vec<(&'static str, Vec<u8>)> {
    let elf = |n: &str| SynthModule::new(n).export(&format!("{n}_fn")).elf();
    let u64_at =
        |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes")) as usize;
    let u16_at = |b: &[u8], o: usize| usize::from(u16::from_le_bytes([b[o], b[o + 1]]));

    let cut = elf("cut");
    // Every byte of the section header table inverted (ELF64: e_shoff at 0x28, e_shentsize
    // at 0x3a, e_shnum at 0x3c).
    let mut flipped = elf("flipped");
    let (off, n) = (
        u64_at(&flipped, 0x28),
        u16_at(&flipped, 0x3c) * u16_at(&flipped, 0x3a),
    );
    for b in &mut flipped[off..off + n] {
        *b ^= 0xff;
    }
    // The section header table's offset pointed far past the end.
    let mut far = elf("far");
    far[0x28..0x30].copy_from_slice(&(u64::MAX - 0xffff).to_le_bytes());
    // The section-name string table index out of range.
    let mut shstr = elf("shstr");
    shstr[0x3e..0x40].copy_from_slice(&0xfff0u16.to_le_bytes());
    let xz = Codec::Xz.compress(&elf("cutxz"));
    let zst = Codec::Zstd.compress(&elf("cutzst"));
    // 4 MiB of zeros behind the xz magic: over the 1 MiB cap the test sets.
    let bomb = Codec::Xz.compress(&vec![0u8; 4 << 20]);
    vec![
        ("cut.ko", cut[..cut.len() / 2].to_vec()),
        ("flipped.ko", flipped),
        ("far.ko", far),
        ("shstr.ko", shstr),
        ("cutxz.ko.xz", xz[..xz.len() / 2].to_vec()),
        ("cutzst.ko.zst", zst[..zst.len() / 2].to_vec()),
        ("bomb.ko.xz", bomb),
        ("empty.ko", Vec::new()),
    ]
}

/// modules.dep without the lines of the given modules (paths relative to the directory).
fn without_lines(dep: &[u8], left_out: &[String]) -> String {
    String::from_utf8_lossy(dep)
        .lines()
        .filter(|l| !left_out.iter().any(|m| l.starts_with(&format!("{m}:"))))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// (a) Damaged modules of every kind beside good ones: rprobe depmod exits 0, names each
/// damaged file once, and indexes the good ones exactly as kmod does when they are alone.
/// kmod 30 itself aborts on the byte-flipped tables (exit 134, no index at all).
#[test]
fn damaged_modules_are_named_once_and_the_good_ones_indexed_as_kmod_does() {
    let full = tempfile::tempdir().expect("tempdir");
    let t = SynthTree::new(full.path(), VER);
    good_modules(&t);
    t.add(&weird(true), "kernel/misc", Codec::Xz);
    let damaged = damaged_files();
    let ddir = t.moddir().join("kernel/damaged");
    std::fs::create_dir_all(&ddir).expect("mkdir");
    for (name, bytes) in &damaged {
        std::fs::write(ddir.join(name), bytes).expect("write");
    }
    // Copies made now, with the same directory order (cp -a): kmod runs on them.
    // `good`: only the good modules (the weird module without its bad alias).
    let good = copy_tree(full.path());
    std::fs::remove_dir_all(moddir(good.path()).join("kernel/damaged")).expect("rm");
    weird(false).write(&moddir(good.path()), "kernel/misc", Codec::Xz);
    // `placeholders`: every damaged file replaced by bytes kmod calls "Exec format error".
    let placeholders = copy_tree(good.path());
    std::fs::create_dir_all(moddir(placeholders.path()).join("kernel/damaged")).expect("mkdir");
    for (name, _) in &damaged {
        let p = moddir(placeholders.path())
            .join("kernel/damaged")
            .join(name);
        std::fs::write(p, b"not a module").expect("write");
    }

    let r = depmod_cmd(full.path(), &["--no-cache"])
        .env("RPROBE_MAX_MODULE_SIZE", (1u64 << 20).to_string())
        .output()
        .expect("rprobe depmod");
    assert_no_panic(&r, "damaged tree");
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(code(&r), 0, "{err}");
    for (name, _) in &damaged {
        let n = err
            .lines()
            .filter(|l| l.contains(&format!("/kernel/damaged/{name}")))
            .count();
        assert_eq!(n, 1, "{name} named once: {err}");
    }
    let n = err.lines().filter(|l| l.contains("weird.ko.xz")).count();
    assert_eq!(n, 1, "weird.ko.xz named once (its alias left out): {err}");
    assert_eq!(
        err.lines().count(),
        damaged.len() + 1,
        "nothing but those: {err}"
    );

    let k = run(
        &kmod("depmod"),
        [
            "-b".as_ref(),
            good.path().as_os_str(),
            "-C".as_ref(),
            empty_conf(good.path()).as_os_str(),
            VER.as_ref(),
        ],
    );
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
    let (ours, theirs) = (moddir(full.path()), moddir(good.path()));
    // Equal, byte for byte: nothing of a damaged module reaches these (no symbol, no
    // softdep, no device node), and the key left out of the weird module is only an alias.
    for f in ["modules.symbols", "modules.softdep", "modules.devname"] {
        assert!(
            read(&ours.join(f)) == read(&theirs.join(f)),
            "{f}: rprobe's differs from kmod's on the good modules alone"
        );
    }
    // The binary alias and symbol indexes hold the same keys and values, but each value's
    // priority is its module's position among every module file found (kmod's mod->idx),
    // and the damaged files count there: compared without priorities (the comparison
    // with placeholders below covers the bytes).
    for f in ["modules.alias.bin", "modules.symbols.bin"] {
        let entries = |p: &Path| -> Vec<(String, String)> {
            let t = rprobe_index::index::Trie::open(p).expect("a valid index");
            let mut v: Vec<(String, String)> = t
                .entries()
                .expect("a valid index")
                .into_iter()
                .map(|(k, v)| (k, v.value))
                .collect();
            v.sort();
            v
        };
        let (a, b) = (entries(&ours.join(f)), entries(&theirs.join(f)));
        assert!(!a.is_empty());
        assert_eq!(a, b, "{f}: keys and values");
    }
    // modules.alias (text) also holds the non-ASCII alias: the text format can hold it,
    // only the trie cannot.
    let alias = String::from_utf8_lossy(&read(&ours.join("modules.alias")))
        .replace("alias pci:v\u{e9}d* weird\n", "");
    assert_eq!(
        alias,
        String::from_utf8_lossy(&read(&theirs.join("modules.alias")))
    );
    // modules.dep lists every module file found, readable or not, as kmod's depmod does (so
    // modprobe can still name it): the damaged ones are extra lines without dependencies.
    // Without them it is kmod's file for the good modules alone.
    let left_out: Vec<String> = damaged
        .iter()
        .map(|(n, _)| format!("kernel/damaged/{n}"))
        .collect();
    let dep = read(&ours.join("modules.dep"));
    for m in &left_out {
        assert!(
            String::from_utf8_lossy(&dep).contains(&format!("{m}:\n")),
            "{m} listed without dependencies"
        );
    }
    assert_eq!(
        without_lines(&dep, &left_out),
        String::from_utf8_lossy(&read(&theirs.join("modules.dep")))
    );
    // modules.dep.bin likewise has the damaged modules' keys; kmod on the tree whose damaged
    // files are plain garbage (which it survives) writes exactly rprobe's dep files.
    let k = run(
        &kmod("depmod"),
        [
            "-b".as_ref(),
            placeholders.path().as_os_str(),
            "-C".as_ref(),
            empty_conf(placeholders.path()).as_os_str(),
            VER.as_ref(),
        ],
    );
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
    let theirs = moddir(placeholders.path());
    for f in index_files(&theirs) {
        if f == "modules.alias" {
            continue; // the non-ASCII alias, above
        }
        assert!(
            read(&ours.join(&f)) == read(&theirs.join(&f)),
            "{f}: rprobe's differs from kmod's with the damaged files as garbage"
        );
    }
}

/// Unmounts a test's tmpfs when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// (b) A full disk: depmod cannot write its new indexes, so it fails naming the index
/// file, and every old index stays byte-identical with no temporary file left behind.
#[test]
fn full_disk_fails_naming_the_index_and_keeps_the_old_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status();
    if !st.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _mount = Mount(mnt.clone());
    let t = SynthTree::new(&mnt, VER);
    good_modules(&t);
    let r = depmod_cmd(&mnt, &[]).output().expect("depmod");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // A new module, so the next run has new indexes to write (and the cache cannot say
    // "unchanged").
    t.add(
        &SynthModule::new("late")
            .import("top_fn")
            .info("alias", "fs-late"),
        "kernel/fs",
        Codec::None,
    );
    let md = moddir(&mnt);
    let before: Vec<(String, Vec<u8>)> = index_files(&md)
        .into_iter()
        .map(|f| {
            let b = read(&md.join(&f));
            (f, b)
        })
        .collect();
    assert!(before.len() >= 8, "{before:?}");
    let names = dir_names(&md);
    // Fill the file system to the last byte.
    let mut fill = std::fs::File::create(mnt.join("fill")).expect("create");
    let block = vec![0xa5u8; 4096];
    loop {
        match fill.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    while let Ok(n) = fill.write(&block[..1]) {
        if n == 0 {
            break;
        }
    }
    drop(fill);

    let r = depmod_cmd(&mnt, &[]).output().expect("depmod");
    assert_no_panic(&r, "full disk");
    let err = String::from_utf8_lossy(&r.stderr);
    assert_ne!(code(&r), 0, "a full disk is a failure: {err}");
    assert!(
        err.contains(&md.join("modules.").display().to_string()),
        "the index file named: {err}"
    );
    assert!(
        err.contains("No space left on device") || err.contains("ENOSPC"),
        "{err}"
    );
    for (f, b) in &before {
        assert!(read(&md.join(f)) == *b, "{f} changed on a full disk");
    }
    assert_eq!(dir_names(&md), names, "no temporary file left");
}

/// A tree big enough that two depmod runs overlap: 300 xz modules in dependency chains.
fn busy_tree(root: &Path) -> SynthTree {
    let t = SynthTree::new(root, VER);
    package_files(&t);
    for i in 0..300 {
        let mut m = SynthModule::new(&format!("m{i:03}"))
            .export(&format!("m{i:03}_fn"))
            .info("alias", &format!("pci:v0000{i:04}d*"));
        if i % 10 != 0 {
            m = m.import(&format!("m{:03}_fn", i - 1));
        }
        t.add(&m, &format!("kernel/d{}", i % 7), Codec::Xz);
    }
    t
}

/// (c) Two depmod runs on the same tree at once both succeed and leave whole indexes equal
/// to kmod's (each index is renamed into place whole; the last rename wins).
#[test]
fn concurrent_depmod_runs_leave_whole_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    busy_tree(dir.path());
    let kcopy = copy_tree(dir.path());
    kmod_depmod(kcopy.path(), VER);
    for round in 0..3 {
        // Round 0 with the record cache (both write it), then without.
        let extra: &[&str] = if round == 0 { &[] } else { &["--no-cache"] };
        let mut a = depmod_cmd(dir.path(), extra);
        let mut b = depmod_cmd(dir.path(), extra);
        let (a, b) = (
            a.stderr(Stdio::piped()).spawn().expect("spawn"),
            b.stderr(Stdio::piped()).spawn().expect("spawn"),
        );
        for (i, o) in [a.wait_with_output(), b.wait_with_output()]
            .into_iter()
            .enumerate()
        {
            let o = o.expect("wait");
            assert_no_panic(&o, "concurrent depmod");
            assert!(
                o.status.success() && o.stderr.is_empty(),
                "round {round} run {i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let (ours, theirs) = (moddir(dir.path()), moddir(kcopy.path()));
        assert_eq!(index_files(&ours), index_files(&theirs));
        for f in index_files(&theirs) {
            assert!(
                read(&ours.join(&f)) == read(&theirs.join(&f)),
                "round {round}: {f} differs from kmod's"
            );
        }
        let leftovers: Vec<String> = dir_names(&ours)
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

/// (c) modprobe --show-depends, hundreds of times, while another process rewrites every
/// index in a loop: always the right answer, never an error.
#[test]
fn show_depends_while_depmod_rewrites_the_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    busy_tree(dir.path());
    let root = dir.path().to_path_buf();
    let r = depmod_cmd(&root, &[]).output().expect("depmod");
    assert!(r.status.success());
    let ask = |name: &str| {
        let mut args: Vec<std::ffi::OsString> = vec!["-d".into(), root.clone().into()];
        args.extend(["-S", VER, "--show-depends", name].map(Into::into));
        args
    };
    let name = "m159"; // deepest of its chain: m150..m159
    let want = run(&kmod("modprobe"), ask(name));
    assert!(
        want.status.success(),
        "{}",
        String::from_utf8_lossy(&want.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&want.stdout).lines().count(), 10);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let root = root.clone();
        std::thread::spawn(move || {
            let mut runs = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let o = depmod_cmd(&root, &["--no-cache"]).output().expect("depmod");
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                runs += 1;
            }
            runs
        })
    };
    let mut args = vec![std::ffi::OsString::from("modprobe")];
    args.extend(ask(name));
    for i in 0..400 {
        let o = run(&rprobe(), &args);
        if o != want {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            panic!(
                "call {i}: exit {}, stdout {:?}, stderr {:?}",
                code(&o),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = writer.join().expect("the depmod loop");
    assert!(runs >= 2, "depmod ran {runs} times during the lookups");
}

/// (d) modinfo on a sparse 1 TiB file behind the xz magic: an error naming the file and
/// exit 1 (kmod's code), quickly, no abort on a 1 TiB allocation.
#[test]
fn modinfo_on_a_sparse_terabyte_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("huge.ko.xz");
    {
        let mut h = std::fs::File::create(&f).expect("create");
        h.write_all(&[0xfd, b'7', b'z', b'X', b'Z', 0])
            .expect("write");
        h.set_len(1 << 40).expect("sparse 1 TiB");
    }
    let start = Instant::now();
    let r = run(&rprobe(), ["modinfo".as_ref(), f.as_os_str()]);
    assert_no_panic(&r, "1 TiB");
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(code(&r), 1, "{err}");
    assert!(err.contains(&f.display().to_string()), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));
    let k = run(&kmod("modinfo"), [f.as_os_str()]);
    assert_eq!(code(&k), 1, "kmod's exit code");
}

/// (d) An image whose gzip layer holds a zstd layer of 4.5 GiB of zeros: --list stops at
/// its cap with an error, in bounded memory and time.
#[test]
fn initramfs_list_of_a_stacked_bomb_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("bomb.img");
    let st = Command::new("sh")
        .arg("-c")
        .arg("head -c 4831838208 /dev/zero | zstd -q -1 -c | gzip -c > \"$0\"")
        .arg(&img)
        .status()
        .expect("sh");
    assert!(st.success(), "zstd and gzip make the image");
    assert!(std::fs::metadata(&img).expect("image").len() < (1 << 20));
    let start = Instant::now();
    let r = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kib=%M"])
        .arg(rprobe())
        .args(["initramfs", "--list"])
        .arg(&img)
        .output()
        .expect("/usr/bin/time (package time)");
    let elapsed = start.elapsed();
    assert_no_panic(&r, "bomb");
    let err = String::from_utf8_lossy(&r.stderr);
    assert_ne!(code(&r), 0, "{err}");
    assert!(err.contains("bomb.img"), "{err}");
    let rss: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .and_then(|v| v.trim().parse().ok())
        .expect("time's report");
    assert!(rss < 128 << 10, "peak RSS {rss} KiB");
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
}

/// (d) An image of a tree with a dependency cycle: depmod's cycle message, a failure, and
/// no image written.
#[test]
fn initramfs_of_a_cycle_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = SynthTree::new(dir.path(), VER);
    t.add(
        &SynthModule::new("a").export("fa").import("fb"),
        "kernel",
        Codec::None,
    );
    t.add(
        &SynthModule::new("b").export("fb").import("fa"),
        "kernel",
        Codec::None,
    );
    // No indexes: the build runs depmod for lookups, and again for the image's subset.
    let img = dir.path().join("out.img");
    let conf = empty_conf(dir.path());
    let r = Command::new(rprobe())
        .args(["initramfs", "-k", VER, "-b"])
        .arg(dir.path())
        .arg("-C")
        .arg(&conf)
        .args(["--firmware-dir"])
        .arg(dir.path().join("no-firmware"))
        .args(["--module", "a", "-o"])
        .arg(&img)
        .output()
        .expect("initramfs");
    assert_no_panic(&r, "cycle");
    let err = String::from_utf8_lossy(&r.stderr);
    assert_ne!(code(&r), 0, "{err}");
    assert!(
        err.contains("Cycle detected: a -> b -> a") || err.contains("Cycle detected: b -> a -> b"),
        "{err}"
    );
    assert!(!img.exists(), "no image written");
    let left: Vec<String> = dir_names(dir.path())
        .into_iter()
        .filter(|n| n.contains("out.img"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Runs rprobe with stdout a pipe whose reading end is already closed.
fn into_closed_pipe(args: &[&std::ffi::OsStr]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(rprobe())
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("rprobe")
}

/// (d) Output into a closed pipe: no panic message, exit 0 or 141 (kmod dies of SIGPIPE).
#[test]
fn closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    busy_tree(dir.path());
    let conf = empty_conf(dir.path());
    for args in [
        vec!["modprobe".as_ref(), "-V".as_ref()],
        vec![
            "depmod".as_ref(),
            "-v".as_ref(),
            "-b".as_ref(),
            dir.path().as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            VER.as_ref(),
        ],
    ] {
        let o = into_closed_pipe(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            matches!(code(&o), 0 | 141),
            "{args:?}: exit {:?}: {err}",
            o.status
        );
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}
