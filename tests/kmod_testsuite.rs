//! kmod's own testsuite, its real C test programs and LD_PRELOAD fakes, run against rprobe.
//! scripts/fetch-kmod-testsuite fetches Debian's kmod source packages (Debian 12's kmod 30,
//! Debian 13's kmod 34.2) and builds each version's testsuite twice into the cache
//! (kmod-testsuite/build/V-kmod and V-rprobe): the test programs exec the tools by their
//! build directory's absolute path, and in the V-rprobe build those names are links to an
//! exec wrapper that runs the binary in RPROBE_KMOD_SUITE_BIN under the tool's name. Every
//! case of the programs that exec a tool (test-modprobe, test-depmod, test-modinfo, and
//! kmod 34.2's test-weakdep) runs once with kmod's own tools, which must pass (the harness
//! works), then with this build's rprobe, as RPROBE_KMOD=30 or 34. A case passes as kmod's
//! harness says: the test program exits 0 (outputs equal to kmod's correct*.txt, the
//! expected modules "loaded" by the fake init_module, or an expected failure that failed
//! with the expected output). rprobe runs under kmod's fakes alone, as kmod's tools do:
//! nothing stands between them. docs/kmod-suite.md lists the cases.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rprobe_testkit::{cache_dir, real_required};

use crate::util::rprobe;

/// The test programs that exec kmod's tools (the rest test libkmod's C API).
const TOOL_PROGRAMS_30: [&str; 3] = ["test-modprobe", "test-depmod", "test-modinfo"];
const TOOL_PROGRAMS_34: [&str; 4] = [
    "test-modprobe",
    "test-depmod",
    "test-modinfo",
    "test-weakdep",
];

/// A built testsuite (`flavour` kmod or rprobe) of kmod `version`, or None (and a note, or
/// a failure when real data is required) when scripts/fetch-kmod-testsuite has not run.
fn build_dir(version: &str, flavour: &str) -> Option<PathBuf> {
    let dir = cache_dir()
        .join("kmod-testsuite/build")
        .join(format!("{version}-{flavour}"));
    if dir.join(".built").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "kmod {version}'s testsuite is not built in {}: run scripts/fetch-kmod-testsuite",
        dir.display()
    );
    assert!(!real_required(), "{msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

/// Holds an exclusive lock on a build directory (its test root is rewritten by each run).
fn lock(build: &Path) -> nix::fcntl::Flock<std::fs::File> {
    let f = std::fs::File::create(build.join(".test-lock")).expect("lock file");
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("locking {}: {e}", build.display()))
}

/// Makes the build's test root afresh from the copy the script kept (the tests write into
/// it: depmod's indexes, the fake /sys/module).
fn reset_root(build: &Path) {
    let root = build.join("testsuite/rootfs");
    if root.exists() {
        std::fs::remove_dir_all(&root).expect("removing the test root");
    }
    let st = Command::new("cp")
        .arg("-a")
        .arg(build.join("testsuite/rootfs.pristine"))
        .arg(&root)
        .status()
        .expect("cp -a");
    assert!(st.success(), "copying {}", root.display());
}

/// The cases of a test program, in its order (`test-X -l`: a tab, the name, a comma).
fn cases(build: &Path, program: &str) -> Vec<String> {
    let o = Command::new(build.join("testsuite").join(program))
        .arg("-l")
        .output()
        .unwrap_or_else(|e| panic!("{program} -l: {e}"));
    let list: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&o.stderr).lines())
        .filter_map(|l| l.strip_prefix('\t'))
        .filter_map(|l| l.split(',').next())
        .map(str::to_string)
        .collect();
    assert!(!list.is_empty(), "{program} -l listed no case");
    list
}

/// Runs one case the way kmod's harness runs it (the program forks, sets up its fakes and
/// execs the tool), with rprobe as the tools when `bin` is given: under kmod's fakes alone,
/// exactly as kmod's harness runs its own tools.
fn run_case(build: &Path, program: &str, case: &str, kmod: &str, bin: Option<&Path>) -> Output {
    let mut cmd = Command::new(build.join("testsuite").join(program));
    cmd.arg(case)
        .current_dir(build)
        .env_remove("LD_PRELOAD")
        .env("RPROBE_KMOD", kmod)
        // An exec wrapper built by an older scripts/fetch-kmod-testsuite puts a libc adapter
        // in front of the fakes unless this is 0; the current one has none.
        .env("RPROBE_KMOD_SUITE_ADAPTER", "0");
    if let Some(bin) = bin {
        // kmod's harness refuses a case whose root changed: rprobe's depmod keeps its record
        // cache in /var/cache/rprobe, which the fakes redirect into that root (kmod's depmod
        // keeps nothing), so the cache is off here, as a system with a read-only
        // /var/cache would run it.
        cmd.env("RPROBE_KMOD_SUITE_BIN", bin)
            .env("RPROBE_DEPMOD_NO_CACHE", "1");
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running {program} {case}: {e}"))
}

/// Whether kmod's harness passed the case: its verdict line is "PASSED: CASE" or "EXPECTED
/// FAIL: CASE" (an expected failure whose output matched), and the program exited 0. The
/// status alone does not tell: run for one case, the program exits with the child's raw
/// wait status, which a failure with the tool's exit code 1 (status 256) truncates to 0.
fn passed(o: &Output, case: &str) -> bool {
    let v = verdict(o);
    o.status.success()
        && [
            format!("TESTSUITE: PASSED: {case}"),
            format!("TESTSUITE: EXPECTED FAIL: {case}"),
        ]
        .contains(&v)
}

/// kmod's verdict line for the case (PASSED, EXPECTED FAIL, FAILED: ...), colours removed.
fn verdict(o: &Output) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let plain: String = strip_ansi(&all);
    plain
        .lines()
        .rfind(|l| {
            [
                "PASSED",
                "FAILED",
                "EXPECTED FAIL",
                "UNEXPECTED PASS",
                "terminated by signal",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .map_or_else(
            || format!("no verdict (status {})", o.status),
            str::to_string,
        )
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every tool case of kmod `version`'s suite: kmod's tools must pass it, then rprobe must.
fn suite(version: &str, kmod: &str, programs: &[&str]) {
    let (Some(base), Some(sub)) = (build_dir(version, "kmod"), build_dir(version, "rprobe")) else {
        return;
    };
    let bin = rprobe();
    let _l1 = lock(&base);
    let _l2 = lock(&sub);
    reset_root(&base);
    reset_root(&sub);
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for program in programs {
        let names = cases(&sub, program);
        assert_eq!(
            names,
            cases(&base, program),
            "{program}: the two builds list different cases"
        );
        for case in &names {
            let o = run_case(&base, program, case, kmod, None);
            assert!(
                passed(&o, case),
                "kmod {version}'s own tools fail {program} {case} (the harness is broken):\n{}{}",
                strip_ansi(&String::from_utf8_lossy(&o.stdout)),
                strip_ansi(&String::from_utf8_lossy(&o.stderr))
            );
            let o = run_case(&sub, program, case, kmod, Some(&bin));
            let v = verdict(&o);
            if passed(&o, case) {
                ok.push(format!("{program} {case}: {v}"));
            } else {
                failed.push(format!(
                    "{program} {case}: {v}\n--- stdout\n{}--- stderr\n{}",
                    strip_ansi(&String::from_utf8_lossy(&o.stdout)),
                    strip_ansi(&String::from_utf8_lossy(&o.stderr))
                ));
            }
        }
    }
    eprintln!(
        "kmod {version} testsuite with rprobe (RPROBE_KMOD={kmod}): {} passed, {} failed",
        ok.len(),
        failed.len()
    );
    for p in &ok {
        eprintln!("  ok   {p}");
    }
    assert!(
        failed.is_empty(),
        "rprobe fails {} of kmod {version}'s tool cases:\n\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn kmod_testsuite_30() {
    suite("30", "30", &TOOL_PROGRAMS_30);
}

#[test]
fn kmod_testsuite_34() {
    suite("34", "34", &TOOL_PROGRAMS_34);
}
