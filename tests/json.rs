//! `--json` output checked against the text output it stands for: modinfo --json against
//! kmod's `modinfo -F FIELD` for a sample of the real 6.12 tree's modules; modprobe
//! --show-depends --json against kmod's `--show-depends` lines (and each step's reason
//! against modules.dep and the softdep lines); lsmod --json against lsmod's table on a fake
//! /proc and /sys; `initramfs --list --json` against `--list` and the files archived.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rprobe_testkit::real_tree;
use serde_json::Value;

use crate::util::*;

/// The real 6.12 tree linked into a scratch root and indexed by kmod's depmod, with an
/// empty configuration directory; None (skipped) when the tree is not cached.
pub fn indexed_612() -> Option<(tempfile::TempDir, String, PathBuf)> {
    let tree = real_tree("k612")?;
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let conf = empty_conf(tmp.path());
    Some((tmp, tree.version, conf))
}

fn json_of(o: &std::process::Output, what: &str) -> Value {
    assert_no_panic(o, what);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

/// The module names modules.dep lists, sorted.
fn dep_names(moddir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(moddir.join("modules.dep")).expect("modules.dep");
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(p, _)| {
            let f = p.rsplit('/').next().unwrap_or(p);
            f.split('.').next().unwrap_or(f).replace('-', "_")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn modinfo_json_matches_kmod_field_text() {
    let Some((tmp, version, _)) = indexed_612() else {
        return;
    };
    let moddir = tmp.path().join("lib/modules").join(&version);
    let mut names = every(&dep_names(&moddir), 90);
    // Aliases, a module with parameters and signature fields, and built-in modules.
    names.extend(["fs-xfs", "ext4", "e1000e", "snd-hda-intel", "crc32c"].map(String::from));
    let builtin = std::fs::read_to_string(moddir.join("modules.builtin")).expect("builtin");
    let b: Vec<String> = builtin
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .map(|f| f.trim_end_matches(".ko").replace('-', "_"))
        .collect();
    names.extend(every(&b, 200));
    let base: Vec<OsString> = vec!["-b".into(), tmp.path().into(), "-k".into(), version.into()];
    let mut checked = 0;
    for name in &names {
        let mut a: Vec<OsString> = vec!["modinfo".into(), "--json".into()];
        a.extend(base.iter().cloned());
        a.push(name.into());
        let j = json_of(&run(&rprobe(), &a), name);
        let mods = arr(&j);
        assert!(!mods.is_empty(), "{name}: no module in the JSON");
        // Every key the module has, each asked for alone with kmod's -F.
        let mut keys: BTreeSet<String> = BTreeSet::new();
        for m in mods {
            for f in arr(&m["fields"]) {
                keys.insert(s(&f["key"]).to_string());
            }
        }
        keys.insert("filename".into());
        keys.insert("parm".into());
        // And every key kmod's own full output shows, so a field the JSON leaves out fails.
        let mut a: Vec<OsString> = base.clone();
        a.push(name.into());
        let full = run(&kmod("modinfo"), &a);
        for l in String::from_utf8_lossy(&full.stdout).lines() {
            if let Some((k, _)) = l.split_once(':').filter(|_| !l.starts_with([' ', '\t'])) {
                keys.insert(k.to_string());
            }
        }
        for key in &keys {
            let mut a: Vec<OsString> = vec!["-F".into(), key.into()];
            a.extend(base.iter().cloned());
            a.push(name.into());
            let k = run(&kmod("modinfo"), &a);
            let want = String::from_utf8_lossy(&k.stdout).into_owned();
            let mut got = String::new();
            for m in mods {
                if key == "filename" {
                    got.push_str(s(&m["filename"]));
                    got.push('\n');
                } else if key == "parm" {
                    for p in arr(&m["parameters"]) {
                        let n = s(&p["name"]);
                        match (p["description"].as_str(), p["type"].as_str()) {
                            (Some(d), Some(t)) => got.push_str(&format!("{n}:{d} ({t})\n")),
                            (None, Some(t)) => got.push_str(&format!("{n}: ({t})\n")),
                            (Some(d), None) => got.push_str(&format!("{n}:{d}\n")),
                            (None, None) => {}
                        }
                    }
                } else {
                    // A built-in module's name is a line of its own in the text (its
                    // modules.builtin.modinfo entries have none).
                    if key == "name" && m["builtin"].as_bool() == Some(true) {
                        got.push_str(s(&m["name"]));
                        got.push('\n');
                    }
                    for f in arr(&m["fields"]).iter().filter(|f| s(&f["key"]) == key) {
                        got.push_str(s(&f["value"]));
                        got.push('\n');
                    }
                }
            }
            assert_eq!(got, want, "{name}: --json vs kmod's modinfo -F {key}");
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} fields checked");
}

/// The module name of a path in a plan.
fn modname(p: &str) -> String {
    let f = p.rsplit('/').next().unwrap_or(p);
    f.split('.').next().unwrap_or(f).replace('-', "_")
}

/// The line the text output prints for a JSON step, None for action "none".
fn step_line(st: &Value) -> Option<String> {
    match s(&st["action"]) {
        "insmod" => Some(format!("insmod {} {}", s(&st["path"]), s(&st["options"]))),
        "install" => Some(format!(
            "install {} {}",
            s(&st["install"]),
            s(&st["options"])
        )),
        "builtin" => Some(format!("builtin {}", s(&st["module"]))),
        "none" => None,
        other => panic!("unknown action {other}"),
    }
}

#[test]
fn show_depends_json_matches_kmod_text() {
    let Some((tmp, version, _)) = indexed_612() else {
        return;
    };
    let moddir = tmp.path().join("lib/modules").join(&version);
    // A configuration with options, an install command, a softdep post and an alias.
    let conf = tmp.path().join("json-conf.d");
    std::fs::create_dir_all(&conf).expect("mkdir");
    std::fs::write(
        conf.join("10-test.conf"),
        "options crc16 x=1\ninstall mbcache /bin/true\nsoftdep xfs post: crc16\nalias my-fs btrfs\n",
    )
    .expect("write");
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).expect("modules.dep");
    let deps_of = |m: &str| -> Vec<String> {
        dep.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(p, _)| modname(p) == m)
            .map(|(_, d)| d.split_whitespace().map(modname).collect())
            .unwrap_or_default()
    };
    let mut names: Vec<String> = ["ext4", "btrfs", "xfs", "fs-xfs", "my-fs", "nvme", "crc32c"]
        .map(String::from)
        .to_vec();
    names.extend(every(&dep_names(&moddir), 60));
    let mut kinds = BTreeSet::new();
    for name in &names {
        let pre: Vec<OsString> = vec![
            "-d".into(),
            tmp.path().into(),
            "-S".into(),
            version.clone().into(),
            "-C".into(),
            conf.clone().into(),
            "-D".into(),
        ];
        let k = run(&kmod("modprobe"), pre.iter().chain([&name.into()]));
        let mut a: Vec<OsString> = vec!["modprobe".into(), "--json".into()];
        a.extend(pre.iter().cloned());
        a.push(name.into());
        let r = run(&rprobe(), &a);
        assert_eq!(code(&k), code(&r), "{name}: exit code");
        if !k.status.success() {
            continue;
        }
        let j = json_of(&r, name);
        let mut lines = String::new();
        for plan in arr(&j) {
            assert_eq!(s(&plan["request"]), name);
            let planned: Vec<String> = arr(&plan["steps"])
                .iter()
                .map(|st| s(&st["module"]).to_string())
                .collect();
            for st in arr(&plan["steps"]) {
                if let Some(l) = step_line(st) {
                    lines.push_str(&l);
                    lines.push('\n');
                }
                let m = s(&st["module"]);
                let via = &st["via"];
                let kind = s(&via["kind"]);
                kinds.insert(kind.to_string());
                match kind {
                    "requested" => assert_eq!(m, s(&plan["module"]), "{name}"),
                    "dependency" => {
                        let of = s(&via["of"]);
                        assert!(
                            deps_of(of).contains(&m.to_string()),
                            "{name}: {m} not in modules.dep of {of}"
                        );
                        assert!(
                            st["required"].as_bool().unwrap_or(false),
                            "{name}: {m} required"
                        );
                    }
                    "softdep-pre" | "softdep-post" => {
                        let of = s(&via["of"]);
                        assert!(
                            planned.iter().any(|p| p == of),
                            "{name}: {of} (softdep owner of {m}) not in the plan"
                        );
                    }
                    other => panic!("{name}: unknown via {other}"),
                }
            }
        }
        assert_eq!(
            lines,
            String::from_utf8_lossy(&k.stdout),
            "{name}: --show-depends --json vs kmod's --show-depends"
        );
    }
    for k in ["requested", "dependency", "softdep-pre", "softdep-post"] {
        assert!(kinds.contains(k), "no step came from {k}: {kinds:?}");
    }
}

#[test]
fn lsmod_json_matches_table() {
    let t = tempfile::tempdir().expect("tempdir");
    let proc = t.path().join("modules");
    std::fs::write(
        &proc,
        "ext4 1019904 1 - Live 0x0\njbd2 192512 1 ext4, Live 0x0\nmbcache 16384 2 ext4,jbd2, Live 0x0\ncrc16 12288 1 ext4, Live 0x0\n",
    )
    .expect("write");
    let sys = t.path().join("sys");
    for (m, size, refcnt, holders) in [
        ("ext4", "1019904", "1", &[][..]),
        ("jbd2", "192512", "1", &["ext4"][..]),
        ("mbcache", "20480", "2", &["ext4", "jbd2"][..]),
        ("crc16", "12288", "1", &["ext4"][..]),
    ] {
        let d = sys.join("module").join(m);
        std::fs::create_dir_all(d.join("holders")).expect("mkdir");
        // As the kernel writes them: a number and a newline.
        std::fs::write(d.join("coresize"), format!("{size}\n")).expect("write");
        std::fs::write(d.join("refcnt"), format!("{refcnt}\n")).expect("write");
        for h in holders {
            std::fs::create_dir_all(d.join("holders").join(h)).expect("mkdir");
        }
    }
    for with_sys in [false, true] {
        let mut text_cmd = std::process::Command::new(rprobe());
        text_cmd.arg("lsmod").env("RPROBE_PROC_MODULES", &proc);
        if with_sys {
            text_cmd.env("RPROBE_SYSFS", &sys);
        }
        let text = text_cmd.output().expect("lsmod");
        let json = text_cmd.arg("--json").output().expect("lsmod --json");
        let j = json_of(&json, "lsmod --json");
        let rows: Vec<String> = String::from_utf8_lossy(&text.stdout)
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect();
        let mods = arr(&j);
        assert_eq!(rows.len(), mods.len(), "rows");
        assert_eq!(mods.len(), 4);
        for (row, m) in rows.iter().zip(mods) {
            let w: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(w[0], s(&m["name"]));
            assert_eq!(w[1].parse::<i64>().ok(), m["size"].as_i64(), "{row}");
            assert_eq!(w[2].parse::<i64>().ok(), m["used"].as_i64(), "{row}");
            let mut users: Vec<&str> = w.get(3).map(|u| u.split(',').collect()).unwrap_or_default();
            let mut json_users: Vec<&str> = arr(&m["used_by"]).iter().map(s).collect();
            users.sort();
            json_users.sort();
            assert_eq!(users, json_users, "{row}");
        }
        // The sysfs size (20480) differs from /proc/modules' (16384): the JSON follows the
        // same source as the table.
        let mb = mods
            .iter()
            .find(|m| m["name"] == "mbcache")
            .expect("mbcache");
        assert_eq!(
            mb["size"].as_i64(),
            Some(if with_sys { 20480 } else { 16384 })
        );
    }
}

#[test]
fn initramfs_list_json_matches_list_and_archive() {
    let t = tempfile::tempdir().expect("tempdir");
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("lib/modules")).expect("mkdir");
    std::fs::write(src.join("init"), "#!/bin/sh\n").expect("write");
    std::fs::write(src.join("lib/modules/data"), vec![7u8; 1234]).expect("write");
    std::os::unix::fs::symlink("lib", src.join("usrlib")).expect("symlink");
    let img = t.path().join("img.cpio");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && find . | sort | cpio -o -H newc --quiet > {}",
            src.display(),
            img.display()
        ))
        .status()
        .expect("cpio");
    assert!(st.success(), "cpio");
    let l = run(
        &rprobe(),
        ["initramfs".as_ref(), "--list".as_ref(), img.as_os_str()],
    );
    let j = run(
        &rprobe(),
        [
            "initramfs".as_ref(),
            "--list".as_ref(),
            img.as_os_str(),
            "--json".as_ref(),
        ],
    );
    let j = json_of(&j, "initramfs --list --json");
    let names: Vec<&str> = arr(&j).iter().map(|e| s(&e["name"])).collect();
    let text = String::from_utf8_lossy(&l.stdout);
    assert_eq!(names, text.lines().collect::<Vec<_>>());
    // Types and sizes against the files archived.
    let mut seen = 0;
    for e in arr(&j) {
        let name = s(&e["name"]);
        let Ok(md) = std::fs::symlink_metadata(src.join(name)) else {
            continue;
        };
        seen += 1;
        let ty = if md.file_type().is_symlink() {
            "symlink"
        } else if md.is_dir() {
            "dir"
        } else {
            "file"
        };
        assert_eq!(s(&e["type"]), ty, "{name}");
        if ty == "file" {
            assert_eq!(e["size"].as_u64(), Some(md.len()), "{name}");
        }
    }
    assert!(seen >= 5, "only {seen} entries matched files");
}

#[test]
fn json_with_nothing_found_is_an_empty_array_and_kmods_message() {
    let t = tempfile::tempdir().expect("tempdir");
    let moddir = t.path().join("lib/modules/6.1.0-none");
    std::fs::create_dir_all(&moddir).expect("mkdir");
    let args = [
        "-b".as_ref(),
        t.path().as_os_str(),
        "-k".as_ref(),
        "6.1.0-none".as_ref(),
        "no-such-module".as_ref(),
    ];
    let k = run(&kmod("modinfo"), args);
    let mut a: Vec<&std::ffi::OsStr> = vec!["modinfo".as_ref(), "--json".as_ref()];
    a.extend(args);
    let r = run(&rprobe(), &a);
    assert_eq!(code(&r), code(&k));
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        String::from_utf8_lossy(&k.stderr)
    );
    assert_eq!(json_of(&r, "modinfo --json"), serde_json::json!([]));
}
