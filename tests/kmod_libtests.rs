//! kmod's own library test programs (test-init, test-initstate, test-loaded,
//! test-new-module, test-blacklist, test-dependencies, and kmod 34.2's test-weakdep), with
//! kmod's LD_PRELOAD fakes, linked against a given libkmod.so.2 by
//! scripts/build-kmod-libtests: first Debian's real library of the generation (every case
//! must pass: the relinked harness works), then the library under test
//! (scripts/build-libkmod), with RPROBE_KMOD set to the generation. kmod 34.2's programs
//! run inside the Debian 13 root (its library needs that glibc), with the cache
//! bind-mounted at its own path in a private mount namespace.

use std::path::{Path, PathBuf};
use std::process::Command;

use rprobe_testkit::{cache_dir, real_required};

use crate::libkmod::{library_under_test, reference};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Builds the programs of kmod `gen` against `lib` as NAME; returns the output directory.
fn build(gen: &str, lib: &Path, name: &str) -> Option<PathBuf> {
    let built = cache_dir()
        .join("kmod-testsuite/build")
        .join(format!("{gen}-kmod/.built"));
    if !built.is_file() {
        let msg = "kmod's testsuite is not built: run scripts/fetch-kmod-testsuite";
        assert!(!real_required(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-kmod-libtests");
    let o = Command::new(&script)
        .arg(gen)
        .arg(lib)
        .arg(name)
        .output()
        .expect("scripts/build-kmod-libtests");
    assert!(
        o.status.success(),
        "build-kmod-libtests {gen} {name}: {}",
        text(&o.stderr)
    );
    let out = text(&o.stdout);
    Some(PathBuf::from(out.lines().last().unwrap_or_default().trim()))
}

/// Runs every program of a build (all its cases); returns (passed cases, failures).
fn run_all(gen: &str, dir: &Path, kmod: Option<&str>) -> (usize, Vec<String>) {
    let tests = std::fs::read_to_string(dir.join("tests")).expect("tests list");
    let root = if gen == "34" {
        let Some(tar) = rprobe_testkit::trixie_rootfs() else {
            return (0, Vec::new());
        };
        let d = tempfile::tempdir().expect("tempdir");
        rprobe_testkit::unpack_tar(&tar, d.path());
        Some(d)
    } else {
        None
    };
    let lib = dir.join("lib");
    let (mut passed, mut failed) = (0, Vec::new());
    for t in tests.lines() {
        let prog = dir.join("testsuite").join(format!("test-{t}"));
        // A fresh test root for each program (the cases write into it).
        let rootfs = dir.join("testsuite/rootfs");
        std::fs::remove_dir_all(&rootfs).expect("rm rootfs");
        let st = Command::new("cp")
            .arg("-a")
            .arg(dir.join("testsuite/rootfs.pristine"))
            .arg(&rootfs)
            .status()
            .expect("cp");
        assert!(st.success());
        let mut c = match &root {
            None => {
                let mut c = Command::new(&prog);
                c.env("LD_LIBRARY_PATH", &lib).current_dir(dir);
                c
            }
            Some(r) => {
                let cache = cache_dir().join("kmod-testsuite");
                let inside = r
                    .path()
                    .join(cache.strip_prefix("/").expect("absolute cache"));
                let script = format!(
                    "mkdir -p '{i}' && mount --bind '{c}' '{i}' && exec chroot '{r}' \
                     env LD_LIBRARY_PATH='{l}' '{p}'",
                    i = inside.display(),
                    c = cache.display(),
                    r = r.path().display(),
                    l = lib.display(),
                    p = prog.display()
                );
                let mut c = Command::new("unshare");
                c.args(["-m", "sh", "-c", &script]);
                c
            }
        };
        c.env_remove("LD_PRELOAD");
        if let Some(k) = kmod {
            c.env("RPROBE_KMOD", k);
        }
        let o = c.output().expect("test program");
        let log = format!("{}{}", text(&o.stdout), text(&o.stderr));
        passed += log.matches("TESTSUITE: PASSED: ").count();
        if !o.status.success() || log.contains("FAILED") {
            failed.push(format!("test-{t} (exit {:?}):\n{log}", o.status.code()));
        }
    }
    (passed, failed)
}

fn suite(gen: &str) {
    let Some((reflib, _)) = reference(gen) else {
        return;
    };
    let Some(dir) = build(gen, &reflib.join("libkmod.so.2"), "debian") else {
        return;
    };
    let (passed, failed) = run_all(gen, &dir, None);
    assert!(
        failed.is_empty(),
        "kmod {gen}'s library: {}",
        failed.join("\n")
    );
    assert!(
        passed >= 14,
        "kmod {gen}'s library: only {passed} cases passed"
    );
    eprintln!("kmod {gen}'s library: {passed} cases passed");
    let Some(dir) = build(gen, &library_under_test(), "rprobe") else {
        return;
    };
    let (n, failed) = run_all(gen, &dir, Some(gen));
    assert!(
        failed.is_empty(),
        "the library under test (RPROBE_KMOD={gen}): {}",
        failed.join("\n")
    );
    assert_eq!(
        n, passed,
        "the library under test passed {n} of {passed} cases"
    );
    eprintln!("the library under test (RPROBE_KMOD={gen}): {n} cases passed");
}

#[test]
fn kmod_libtests_30() {
    suite("30");
}

#[test]
fn kmod_libtests_34() {
    suite("34");
}
