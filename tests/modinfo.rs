//! `rprobe modinfo` against kmod's modinfo, run live on the same inputs: real Debian trees
//! (6.1 plain, 6.12 xz, 6.12 recompressed zstd, 6.1 recompressed gzip), names and aliases
//! through indexes kmod's depmod wrote, every output option, and bad input.

use std::path::{Path, PathBuf};

use rprobe_testkit::real_tree;
use rprobe_testkit::synth::{Codec, SynthModule};

use crate::util::*;

fn modinfo_both(args: &[&std::ffi::OsStr]) -> (std::process::Output, std::process::Output) {
    let k = run(&kmod("modinfo"), args);
    let mut ra = vec!["modinfo".as_ref()];
    ra.extend_from_slice(args);
    let r = run(&rprobe(), ra);
    (k, r)
}

fn assert_same(k: &std::process::Output, r: &std::process::Output, what: &str) {
    assert_no_panic(r, what);
    assert_eq!(code(k), code(r), "{what}: exit codes differ");
    if k.stdout != r.stdout {
        let ks = String::from_utf8_lossy(&k.stdout);
        let rs = String::from_utf8_lossy(&r.stdout);
        let line = ks
            .lines()
            .zip(rs.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{what}: stdout differs at line {line}:\nkmod:   {:?}\nrprobe: {:?}",
            ks.lines().nth(line),
            rs.lines().nth(line)
        );
    }
}

/// At least 600 modules of a tree, by path, in one process each.
fn by_path(flavour: &'static str) {
    let Some(tree) = real_tree(flavour) else {
        return;
    };
    let files = module_files(&tree.moddir());
    assert!(
        files.len() > 3000,
        "{flavour}: only {} modules",
        files.len()
    );
    let sample = every(&files, files.len() / 650);
    assert!(sample.len() >= 600);
    let args: Vec<&std::ffi::OsStr> = sample.iter().map(|p| p.as_os_str()).collect();
    let (k, r) = modinfo_both(&args);
    assert!(k.status.success(), "kmod modinfo failed on {flavour}");
    assert_same(&k, &r, flavour);
}

#[test]
fn real_61_plain_by_path() {
    by_path("k61");
}

#[test]
fn real_612_xz_by_path() {
    by_path("k612");
}

#[test]
fn real_612_zstd_by_path() {
    by_path("k612zst");
}

/// kmod 30 cannot read gzip: rprobe on each .ko.gz must print what kmod prints for the
/// same module uncompressed, with the file name changed.
#[test]
fn real_61_gzip_matches_plain() {
    let (Some(gz), Some(plain)) = (real_tree("k61gz"), real_tree("k61")) else {
        return;
    };
    let files = module_files(&gz.moddir());
    let sample = every(&files, files.len() / 600);
    let plain_files: Vec<PathBuf> = sample
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(gz.moddir()).expect("under moddir");
            let s = rel.to_string_lossy();
            plain
                .moddir()
                .join(s.strip_suffix(".gz").expect("a .ko.gz"))
        })
        .collect();
    let k = run(&kmod("modinfo"), &plain_files);
    assert!(k.status.success());
    let mut args = vec![PathBuf::from("modinfo")];
    args.extend(sample.iter().cloned());
    let r = run(&rprobe(), &args);
    assert_no_panic(&r, "k61gz");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let expected = String::from_utf8_lossy(&k.stdout).replace(
        &format!("{}/", plain.moddir().display()),
        &format!("{}/", gz.moddir().display()),
    );
    let expected = expected
        .lines()
        .map(|l| {
            if l.starts_with("filename:") {
                format!("{l}.gz")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    assert_eq!(expected, String::from_utf8_lossy(&r.stdout));
}

/// Names, aliases and symbols through indexes written by kmod's depmod, with every option.
#[test]
fn real_61_names_aliases_and_options() {
    let Some(tree) = real_tree("k61") else { return };
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let all = module_names(&tree.moddir());
    let mut names: Vec<String> = every(&all, all.len() / 300);
    // Aliases, symbols, '-'/'_' swaps, built-in modules and names found nowhere.
    names.extend(
        [
            "fs-ext4",
            "ext3",
            "pci:v00008086d00001533sv00001234sd00005678bc02sc00i00",
            "symbol:jbd2_journal_start",
            "crc32c",
            "crc32c-generic",
            "snd_hda_codec_realtek",
            "snd-hda-codec-realtek",
            "unix",
            "no-such-module",
            "fs-nosuchfs",
        ]
        .map(String::from),
    );
    let base = tmp.path().as_os_str().to_owned();
    let ver = std::ffi::OsString::from(&tree.version);
    for opts in [
        &[][..],
        &["-F", "alias"],
        &["-0"],
        &["-a"],
        &["-d"],
        &["-l"],
        &["-p"],
        &["-n"],
        &["-F", "name"],
        &["-F", "signer"],
        &["-F", "parm", "-0"],
        &["-m"],
    ] {
        let mut args: Vec<&std::ffi::OsStr> = vec!["-b".as_ref(), &base, "-k".as_ref(), &ver];
        args.extend(opts.iter().map(|o| std::ffi::OsStr::new(*o)));
        args.extend(names.iter().map(|n| std::ffi::OsStr::new(n.as_str())));
        let (k, r) = modinfo_both(&args);
        assert_same(&k, &r, &format!("options {opts:?}"));
        assert_eq!(k.stderr, r.stderr, "options {opts:?}: stderr differs");
    }
}

/// rprobe's stderr with the detail it adds in parentheses after kmod's words removed from
/// each line that has one.
fn without_detail(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| match l.find(" (") {
            Some(i) if l.ends_with(')') && l.starts_with("modinfo: ERROR: could not get") => {
                &l[..i]
            }
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

/// Each bad file: rprobe exits as kmod does (non-zero where kmod fails), names the file and
/// the problem, and never panics.
#[test]
fn bad_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let good = SynthModule::new("good").info("license", "GPL").elf();
    let xz = Codec::Xz.compress(&good);
    let zst = Codec::Zstd.compress(&good);
    let gz = Codec::Gzip.compress(&good);
    let cases: Vec<(PathBuf, &str)> = vec![
        (write(d, "empty.ko", b""), "empty"),
        (
            write(d, "text.ko", b"hello, I am not a module\n"),
            "not a valid kernel module",
        ),
        (write(d, "trunc.ko", &good[..good.len() / 3]), "truncated"),
        (
            write(d, "five.ko", b"\x7fELF\x02"),
            "5 bytes, shorter than any module",
        ),
        (write(d, "trunc.ko.xz", &xz[..xz.len() / 2]), "xz"),
        (write(d, "trunc.ko.zst", &zst[..zst.len() / 2]), "zstd"),
        (write(d, "trunc.ko.gz", &gz[..gz.len() / 2]), "gzip"),
    ];
    for (path, why) in &cases {
        let r = run(&rprobe(), [Path::new("modinfo"), path]);
        assert_no_panic(&r, why);
        assert_eq!(code(&r), 1, "{}: exit code", path.display());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.contains(&*path.to_string_lossy()),
            "{why}: error names the file: {err}"
        );
        assert!(err.contains(why), "{why}: error says the problem: {err}");
        if !path.to_string_lossy().ends_with(".gz") {
            // kmod's lines, with rprobe's detail after kmod's words. kmod 30 takes a cut
            // zstd stream as the module's bytes so far and reports what the ELF reader
            // makes of them (here ENOEXEC); rprobe reports the cut stream (EINVAL), as
            // kmod 34 does.
            let k = run(&kmod("modinfo"), [path]);
            assert_eq!(code(&k), code(&r), "{why}: kmod's exit code");
            assert_eq!(k.stdout, r.stdout, "{why}: stdout (the file name first)");
            if *why == "zstd" {
                continue;
            }
            assert_eq!(
                String::from_utf8_lossy(&k.stderr),
                without_detail(&err),
                "{why}: kmod's words"
            );
        }
    }

    // A decompression bomb past the cap (lowered for the test).
    let bomb = write(d, "bomb.ko.zst", &Codec::Zstd.compress(&vec![0u8; 8 << 20]));
    let r = std::process::Command::new(rprobe())
        .args(["modinfo".as_ref(), bomb.as_os_str()])
        .env("RPROBE_MAX_MODULE_SIZE", "1048576")
        .output()
        .expect("run");
    assert_no_panic(&r, "bomb");
    assert_eq!(code(&r), 1);
    assert!(String::from_utf8_lossy(&r.stderr).contains("exceeds the limit"));

    // Files kmod reads: rprobe prints what kmod prints.
    let mut odd = vec![
        SynthModule::new("nomodinfo"),
        SynthModule::new("unterminated").info("description", "no NUL at the end"),
        SynthModule::new("lying-sig").signed(b"Signer", &[1, 2, 3], &[7; 40]),
        SynthModule::new("good-sig").signed(b"Signer", &[1, 2, 3], &[7; 45]),
        SynthModule::new("i386")
            .info("parm", "x:an int")
            .info("parmtype", "x:int"),
        SynthModule::new("ppc64be").info("alias", "pci:v*d*"),
    ];
    odd[0].no_modinfo = true;
    odd[1].modinfo_unterminated = true;
    odd[4].arch = object::Architecture::I386;
    odd[5].arch = object::Architecture::PowerPc64;
    for m in &odd {
        let mut elf = m.elf();
        if m.name == "lying-sig" {
            // Claim a signature far longer than the file.
            let n = elf.len();
            elf[n - 28 - 4..n - 28].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
        }
        let p = write(d, &format!("{}.ko", m.name), &elf);
        let (k, r) = modinfo_both(&[p.as_os_str()]);
        assert_same(&k, &r, &m.name);
    }
}
