//! The command-line surface shared by every tool: help for insmod/rmmod, and output into a
//! closed pipe (a C tool dies of SIGPIPE quietly; rprobe must never print a panic).

use std::io::Read;
use std::process::{Command, Stdio};

use crate::util::*;

#[test]
fn insmod_and_rmmod_help_print_usage() {
    for (tool, flag) in [
        ("insmod", "-h"),
        ("insmod", "--help"),
        ("rmmod", "--help"),
        ("rmmod", "-h"),
    ] {
        let o = run(&rprobe(), [tool, flag]);
        assert_no_panic(&o, tool);
        assert_eq!(code(&o), 0, "{tool} {flag}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("Usage:") && out.contains(tool),
            "{tool} {flag}: {out}"
        );
        assert!(
            o.stderr.is_empty(),
            "{tool} {flag} tried to act: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // kmod's words for the missing argument, kmod's exit code.
    let o = run(&rprobe(), ["insmod"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "insmod: ERROR: missing filename.\n"
    );
    let k = run(&kmod("insmod"), [] as [&str; 0]);
    assert_eq!(code(&k), code(&o), "kmod's insmod exit code");
}

/// Runs rprobe with `args` and `env`, reads `keep` bytes of its output, closes the pipe and
/// returns the exit status and stderr.
fn into_closed_pipe(
    args: &[&str],
    env: &[(&str, &std::path::Path)],
    keep: usize,
) -> (Option<i32>, String) {
    let mut cmd = Command::new(rprobe());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut buf = vec![0u8; keep];
    out.read_exact(&mut buf).expect("first bytes");
    drop(out);
    let o = child.wait_with_output().expect("wait");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let proc_modules = tmp.path().join("modules");
    let mut text = String::new();
    for i in 0..200_000 {
        text.push_str(&format!("mod{i} 16384 0 - Live 0x0000000000000000\n"));
    }
    std::fs::write(&proc_modules, text).expect("write");
    let (status, err) = into_closed_pipe(&["lsmod"], &[("RPROBE_PROC_MODULES", &proc_modules)], 64);
    assert!(!err.contains("panicked"), "lsmod: {err}");
    assert!(
        matches!(status, Some(0) | Some(141)),
        "lsmod status {status:?}: {err}"
    );
    assert!(err.is_empty(), "lsmod said: {err}");
}

/// depmod and initramfs draw a progress line on a terminal (a pty made by util-linux's
/// `script`) and erase it at the end; piped, they print nothing but kmod's output.
#[test]
fn progress_only_on_a_terminal() {
    // The .ko.xz tree: a cold run takes seconds, so the line is drawn many times.
    let Some(tree) = rprobe_testkit::real_tree("k612") else {
        return;
    };
    if rprobe_testkit::find_program("script").is_none() {
        assert!(
            !rprobe_testkit::real_required(),
            "script (util-linux) missing"
        );
        return;
    }
    let root = link_tree(&tree);
    let conf = empty_conf(root.path());
    let depmod = format!(
        "'{}' depmod --no-cache -b '{}' -C '{}' {}",
        rprobe().display(),
        root.path().display(),
        conf.display(),
        tree.version
    );
    // On a pty: stdout and stderr both reach the terminal `script` records.
    let tty = Command::new("script")
        .args(["-qec", &depmod, "/dev/null"])
        .output()
        .expect("script");
    assert!(
        tty.status.success(),
        "{}",
        String::from_utf8_lossy(&tty.stderr)
    );
    let seen = String::from_utf8_lossy(&tty.stdout);
    assert!(
        seen.contains("depmod: reading modules ")
            && seen.contains(&format!("/{}", module_files(&tree.moddir()).len())),
        "no progress on a terminal: {seen:?}"
    );
    assert!(
        seen.ends_with("\r\x1b[K"),
        "the line is erased at the end: {seen:?}"
    );
    // Piped: nothing at all, as kmod's depmod prints nothing.
    let piped = Command::new("sh")
        .args(["-c", &depmod])
        .stderr(Stdio::piped())
        .output()
        .expect("sh");
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty() && piped.stdout.is_empty(),
        "{piped:?}"
    );
    // RPROBE_NO_PROGRESS turns it off on a terminal too.
    let off = Command::new("script")
        .args(["-qec", &depmod, "/dev/null"])
        .env("RPROBE_NO_PROGRESS", "1")
        .output()
        .expect("script");
    assert!(
        off.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&off.stdout)
    );
}

/// insmod on files libkmod refuses before the kernel sees them, against this host's kmod 30
/// (the running kernel has no module support, so anything that reaches it says ENOSYS): a
/// file shorter than any compression magic (kmod_file_open's EINVAL) and a truncated xz
/// module (its decoder's EINVAL) both give kmod's "Invalid parameters", with rprobe's
/// detail in parentheses after it; a short file with ELF magic goes to the kernel.
#[test]
fn insmod_refuses_unreadable_files_as_kmod() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.ko");
    std::fs::write(&junk, b"junk\n").expect("write");
    let elf = dir.path().join("short.ko");
    std::fs::write(&elf, b"\x7fELF\x02\x01\x01\0\0\0\0\0").expect("write");
    let xz = dir.path().join("trunc.ko.xz");
    let plain = dir.path().join("plain");
    let bytes = std::fs::read(rprobe()).expect("read rprobe");
    std::fs::write(&plain, &bytes[..bytes.len().min(1 << 18)]).expect("write");
    let o = Command::new("xz")
        .args(["-c", "--check=crc32"])
        .arg(&plain)
        .output()
        .expect("xz");
    std::fs::write(&xz, &o.stdout[..o.stdout.len() / 2]).expect("write");
    for (file, detail) in [
        (&junk, Some("5 bytes, shorter than any module")),
        (&xz, Some("corrupt or truncated xz stream")),
        (&elf, None),
    ] {
        let k = run(&kmod("insmod"), [file]);
        let r = run(
            &rprobe(),
            [std::ffi::OsStr::new("insmod"), file.as_os_str()],
        );
        assert_no_panic(&r, "insmod");
        assert_eq!(code(&k), code(&r), "{}", file.display());
        let (ke, re) = (
            String::from_utf8_lossy(&k.stderr),
            String::from_utf8_lossy(&r.stderr),
        );
        match detail {
            Some(d) => {
                assert!(ke.ends_with(": Invalid parameters\n"), "kmod: {ke}");
                let kept = format!("{} (", ke.trim_end());
                assert!(
                    re.starts_with(&kept) && re.contains(d) && re.ends_with(")\n"),
                    "rprobe: {re}\nkmod: {ke}"
                );
            }
            None => assert_eq!(ke, re),
        }
    }
}
