//! Installation: scripts/install and its manifest, the man pages and shell completions
//! `rprobe generate` writes, module-name completion on a real tree, and the Debian package
//! installed into a debootstrap root beside kmod, switched to rprobe and back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};
use rprobe_testkit::{find_program, real_required, real_tree, vm};

use crate::util::{kmod_depmod, link_tree, module_files, rprobe, run};

/// The names the binary answers to, as installed links.
const TOOLS: [&str; 7] = [
    "modprobe", "depmod", "modinfo", "insmod", "rmmod", "lsmod", "kmod",
];

/// The section-8 pages: every tool name, rprobe itself and its own commands.
const PAGES8: [&str; 12] = [
    "rprobe",
    "modprobe",
    "depmod",
    "modinfo",
    "insmod",
    "rmmod",
    "lsmod",
    "kmod",
    "rprobe-initramfs",
    "rprobe-coldplug",
    "rprobe-why",
    "rprobe-graph",
];

/// The section-5 pages.
const PAGES5: [&str; 3] = ["modprobe.d", "depmod.d", "modules.dep"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A program the test needs: None (and a note) when missing, a failure when real data and
/// tools are required (scripts/test installs them).
fn need(what: &str, p: Option<PathBuf>) -> Option<PathBuf> {
    if p.is_none() {
        assert!(
            !real_required(),
            "{what} is missing (scripts/test installs it)"
        );
        eprintln!("SKIPPED: {what} is missing");
    }
    p
}

/// Every path under a directory (not the directory itself), sorted.
fn tree_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap_or(e.path())
                .display()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

fn install_script(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(repo().join("scripts/install"))
        .args(args)
        .output()
        .expect("run scripts/install")
}

#[test]
fn install_script_installs_everything_and_uninstall_leaves_no_trace() {
    let dest = tempfile::tempdir().expect("tempdir");
    let d = dest.path().as_os_str();
    let bin = rprobe();
    let o = install_script(&["--destdir".as_ref(), d, "--bin".as_ref(), bin.as_os_str()]);
    assert!(o.status.success(), "install: {}", stderr(&o));
    let p = dest.path().join("usr/local");

    let installed = p.join("sbin/rprobe");
    assert_eq!(
        std::fs::read(&installed).expect("installed binary"),
        std::fs::read(&bin).expect("binary"),
        "the installed binary is the one given"
    );
    for t in TOOLS {
        let dir = if matches!(t, "kmod" | "lsmod") {
            "bin"
        } else {
            "sbin"
        };
        let link = p.join(dir).join(t);
        assert!(
            std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()),
            "{} is a link",
            link.display()
        );
        assert_eq!(
            std::fs::canonicalize(&link).expect("link resolves"),
            std::fs::canonicalize(&installed).expect("binary"),
            "{t}"
        );
    }
    // Called by an installed name, the binary is that tool.
    let o = run(&p.join("sbin/modprobe"), ["--version"]);
    assert!(stdout(&o).contains("modprobe version"), "{}", stdout(&o));
    let o = run(&p.join("bin/kmod"), ["--version"]);
    assert!(stdout(&o).contains("kmod version"), "{}", stdout(&o));

    for n in PAGES8 {
        assert!(p.join(format!("share/man/man8/{n}.8")).is_file(), "{n}.8");
    }
    for n in PAGES5 {
        assert!(p.join(format!("share/man/man5/{n}.5")).is_file(), "{n}.5");
    }
    for t in TOOLS.iter().chain(&["rprobe"]) {
        for f in [
            format!("share/bash-completion/completions/{t}"),
            format!("share/zsh/site-functions/_{t}"),
            format!("share/fish/vendor_completions.d/{t}.fish"),
        ] {
            assert!(p.join(&f).is_file(), "{f}");
        }
    }

    // A second install is refused and changes nothing.
    let before = tree_listing(dest.path());
    let o = install_script(&["--destdir".as_ref(), d, "--bin".as_ref(), bin.as_os_str()]);
    assert!(!o.status.success(), "a second install must be refused");
    assert_eq!(tree_listing(dest.path()), before);

    let o = install_script(&["--uninstall".as_ref(), "--destdir".as_ref(), d]);
    assert!(o.status.success(), "uninstall: {}", stderr(&o));
    assert_eq!(
        tree_listing(dest.path()),
        Vec::<String>::new(),
        "uninstall leaves nothing"
    );
}

#[test]
fn install_script_never_overwrites_and_uninstall_keeps_what_is_not_its_own() {
    let dest = tempfile::tempdir().expect("tempdir");
    let d = dest.path().as_os_str();
    let bin = rprobe();
    // Another package's modprobe where the link would go: nothing is installed.
    let foreign = dest.path().join("usr/sbin/modprobe");
    std::fs::create_dir_all(foreign.parent().expect("parent")).expect("mkdir");
    std::fs::write(&foreign, b"kmod's modprobe").expect("write");
    let args = |extra: &[&'static str]| {
        let mut a: Vec<std::ffi::OsString> = vec!["--destdir".into(), d.into()];
        a.extend(["--prefix".into(), "/usr".into()]);
        a.extend(extra.iter().map(Into::into));
        a
    };
    let mut a = args(&[]);
    a.extend(["--bin".into(), bin.clone().into_os_string()]);
    let o = Command::new(repo().join("scripts/install"))
        .args(&a)
        .output()
        .expect("install");
    assert!(!o.status.success(), "install over a foreign file must fail");
    assert!(stderr(&o).contains("usr/sbin/modprobe"), "{}", stderr(&o));
    assert_eq!(
        tree_listing(dest.path()),
        ["usr", "usr/sbin", "usr/sbin/modprobe"],
        "nothing installed"
    );
    assert_eq!(std::fs::read(&foreign).expect("read"), b"kmod's modprobe");

    // Installed without the conflict; then a page changed by the admin survives uninstall.
    std::fs::remove_file(&foreign).expect("rm");
    let o = Command::new(repo().join("scripts/install"))
        .args(&a)
        .output()
        .expect("install");
    assert!(o.status.success(), "install: {}", stderr(&o));
    // Under /usr, zsh functions go to Debian's vendor directory.
    assert!(dest
        .path()
        .join("usr/share/zsh/vendor-completions/_modprobe")
        .is_file());
    let page = dest.path().join("usr/share/man/man8/depmod.8");
    std::fs::write(&page, "edited").expect("edit");
    let o = Command::new(repo().join("scripts/install"))
        .args(args(&["--uninstall"]))
        .output()
        .expect("uninstall");
    assert!(o.status.success(), "uninstall: {}", stderr(&o));
    assert_eq!(
        tree_listing(dest.path()),
        [
            "usr",
            "usr/sbin",
            "usr/share",
            "usr/share/man",
            "usr/share/man/man8",
            "usr/share/man/man8/depmod.8"
        ]
    );
}

#[test]
fn every_man_page_exists_and_renders_without_warnings() {
    let Some(man) = need("man (man-db)", find_program("man")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = run(
        &rprobe(),
        ["generate".as_ref(), "man".as_ref(), tmp.path().as_os_str()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut want: Vec<String> = PAGES8.iter().map(|n| format!("{n}.8")).collect();
    want.extend(PAGES5.iter().map(|n| format!("{n}.5")));
    want.sort();
    assert_eq!(tree_listing(tmp.path()), want, "exactly these pages");
    for f in &want {
        let o = Command::new(&man)
            .args(["--warnings", "-l"])
            .arg(tmp.path().join(f))
            .env("MANWIDTH", "80")
            .env("MAN_DISABLE_SECCOMP", "1")
            .output()
            .expect("man");
        assert!(o.status.success(), "man -l {f}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "man -l {f} warns");
        let text = stdout(&o);
        let name = f.rsplit_once('.').map(|(n, _)| n).unwrap_or(f);
        assert!(
            text.contains("NAME") && text.contains(name) && text.lines().count() > 10,
            "{f} rendered:\n{text}"
        );
    }
    // The file-format pages cover each directive and index file (kmod's names for them).
    let render = |f: &str| {
        let o = Command::new(&man)
            .args(["-l"])
            .arg(tmp.path().join(f))
            .env("MANWIDTH", "200")
            .output()
            .expect("man");
        stdout(&o)
    };
    let pages = [
        (
            "modprobe.d.5",
            &[
                "alias",
                "options",
                "install",
                "remove",
                "blacklist",
                "softdep",
                "weakdep",
                "modprobe.blacklist=",
                "/etc/modprobe.d",
                "/lib/modprobe.d",
            ][..],
        ),
        (
            "depmod.d.5",
            &[
                "search",
                "override",
                "external",
                "exclude",
                "built-in",
                "/etc/depmod.d",
            ],
        ),
        (
            "modules.dep.5",
            &[
                "modules.dep.bin",
                "modules.alias.bin",
                "modules.symbols.bin",
                "modules.softdep",
                "modules.devname",
                "modules.builtin.bin",
                "modules.builtin.alias.bin",
                "modules.order",
            ],
        ),
    ];
    for (f, words) in pages {
        let text = render(f);
        for w in words {
            assert!(text.contains(w), "{f} does not mention {w}");
        }
    }
}

/// rprobe(8) and the `rprobe` completion files list every tool the binary has a page for
/// (kmod's tools as NAME, its own commands as rprobe-NAME) and `generate`: one registry
/// makes the pages, the list and the completions, so none can leave a tool out.
#[test]
fn rprobe_page_and_completions_list_every_tool() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let man = tmp.path().join("man");
    let o = run(
        &rprobe(),
        ["generate".as_ref(), "man".as_ref(), man.as_os_str()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // (the name typed after `rprobe`, how rprobe(8) names it)
    let mut tools: Vec<(String, String)> = tree_listing(&man)
        .iter()
        .filter_map(|f| f.strip_suffix(".8"))
        .filter(|p| *p != "rprobe")
        .map(|p| {
            let name = p.strip_prefix("rprobe-").unwrap_or(p);
            (name.to_string(), format!("{}(8)", p.replace('-', "\\-")))
        })
        .collect();
    tools.push(("generate".into(), "rprobe generate".into()));
    for page in PAGES8.iter().filter(|p| **p != "rprobe") {
        let name = page.strip_prefix("rprobe-").unwrap_or(page);
        assert!(tools.iter().any(|(n, _)| n == name), "no page for {name}");
    }
    let page = std::fs::read_to_string(man.join("rprobe.8")).expect("rprobe.8");
    for (name, named) in &tools {
        assert!(
            page.contains(&format!(".TP\n{named}\n")),
            "rprobe.8 does not list {name} (as {named})"
        );
    }
    for (shell, file) in [
        ("bash", "rprobe"),
        ("zsh", "_rprobe"),
        ("fish", "rprobe.fish"),
    ] {
        let dir = tmp.path().join(shell);
        let o = run(
            &rprobe(),
            [
                "generate".as_ref(),
                "completions".as_ref(),
                shell.as_ref(),
                dir.as_os_str(),
            ],
        );
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let text = std::fs::read_to_string(dir.join(file)).expect("completion file");
        // The words offered after `rprobe`, as each shell's file spells them.
        let offered: Vec<String> = match shell {
            "bash" => text
                .lines()
                .find_map(|l| l.trim().strip_prefix("opts=\"-h --help "))
                .unwrap_or_default()
                .trim_end_matches('"')
                .split(' ')
                .map(str::to_string)
                .collect(),
            "zsh" => text
                .lines()
                .filter_map(|l| l.strip_prefix('\''))
                .filter_map(|l| l.split_once(':').map(|(n, _)| n.to_string()))
                .collect(),
            _ => text
                .lines()
                .filter_map(|l| l.split_once("needs_command\" -f -a \""))
                .filter_map(|(_, r)| r.split_once('"').map(|(n, _)| n.to_string()))
                .collect(),
        };
        for (name, _) in &tools {
            assert!(
                offered.contains(name),
                "{shell}: {file} does not offer {name} (offers {offered:?})"
            );
        }
    }
}

/// Loads each completion file in its shell; an error or a message fails.
#[test]
fn completions_are_written_per_shell_and_load_without_error() {
    /// A shell, its completion file's name for a command, and how it loads a file.
    type Shell = (&'static str, fn(&str) -> String, &'static [&'static str]);
    let shells: [Shell; 3] = [
        ("bash", |t| t.to_string(), &["-c", "source \"$0\""]),
        (
            "zsh",
            |t| format!("_{t}"),
            &["-c", "autoload -U compinit; compinit -u; source \"$0\""],
        ),
        ("fish", |t| format!("{t}.fish"), &["-c", "source $argv[1]"]),
    ];
    let names: Vec<&str> = PAGES8.to_vec();
    for (shell, file, args) in shells {
        let Some(prog) = need(shell, find_program(shell)) else {
            continue;
        };
        // Run from an empty directory: nothing may be written beside DIR.
        let cwd = tempfile::tempdir().expect("tempdir");
        let o = Command::new(rprobe())
            .args(["generate", "completions", shell, "out"])
            .current_dir(cwd.path())
            .output()
            .expect("generate");
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let mut want: Vec<String> = names.iter().map(|n| format!("out/{}", file(n))).collect();
        want.push("out".into());
        want.sort();
        assert_eq!(tree_listing(cwd.path()), want, "{shell}: only its files");
        for n in &names {
            let f = cwd.path().join("out").join(file(n));
            let o = Command::new(&prog)
                .args(args)
                .arg(&f)
                .env("HOME", cwd.path())
                .env("XDG_CONFIG_HOME", cwd.path())
                .env("XDG_DATA_HOME", cwd.path())
                .current_dir(cwd.path())
                .output()
                .expect("shell");
            assert!(
                o.status.success() && o.stderr.is_empty(),
                "{shell} {}: status {:?}: {}",
                f.display(),
                o.status,
                stderr(&o)
            );
        }
    }
    let o = run(&rprobe(), ["generate", "completions", "tcsh", "x"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// The names a module tree holds, computed here from the files (not from modules.dep):
/// every module file's name and every built-in module's, with '-' as '_'.
fn names_in_tree(moddir: &Path) -> BTreeSet<String> {
    let base = |p: &str| -> String {
        let f = p.rsplit('/').next().unwrap_or(p);
        let stem = [".ko.xz", ".ko.gz", ".ko.zst", ".ko"]
            .iter()
            .find_map(|s| f.strip_suffix(s))
            .unwrap_or(f);
        stem.replace('-', "_")
    };
    let mut set: BTreeSet<String> = module_files(moddir)
        .iter()
        .map(|p| base(&p.to_string_lossy()))
        .collect();
    let builtin = std::fs::read_to_string(moddir.join("modules.builtin")).unwrap_or_default();
    set.extend(builtin.lines().filter(|l| !l.is_empty()).map(base));
    set
}

#[test]
fn module_names_complete_from_a_real_tree() {
    let Some(tree) = real_tree("k61") else {
        return;
    };
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let root = tmp.path().to_string_lossy().into_owned();
    let o = run(
        &rprobe(),
        ["complete-modules", "-d", &root, "-S", &tree.version],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got: BTreeSet<String> = stdout(&o).lines().map(str::to_string).collect();
    let want = names_in_tree(&tmp.path().join("lib/modules").join(&tree.version));
    assert!(want.len() > 4000, "{} names", want.len());
    assert_eq!(got, want);

    // Through the shells: `rprobe` on PATH is the binary under test.
    let bindir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(rprobe(), bindir.path().join("rprobe")).expect("link");
    let path = format!(
        "{}:{}",
        bindir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let comp = tempfile::tempdir().expect("tempdir");
    let expect_ext: BTreeSet<String> = want
        .iter()
        .filter(|n| n.starts_with("ext"))
        .cloned()
        .collect();
    assert!(expect_ext.contains("ext4"));
    if let Some(bash) = need("bash", find_program("bash")) {
        let o = run(
            &rprobe(),
            [
                "generate".as_ref(),
                "completions".as_ref(),
                "bash".as_ref(),
                comp.path().as_os_str(),
            ],
        );
        assert!(o.status.success());
        // As bash calls a completion function: the words so far, the index of the current
        // one, then (command, current word, previous word).
        let script = format!(
            "source \"$0\"; COMP_WORDS=(modprobe -q -d {root} -S {v} ext); COMP_CWORD=6; \
             $(complete -p modprobe | sed 's/.* -F \\([^ ]*\\) .*/\\1/') modprobe ext {v}; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            v = tree.version
        );
        let o = Command::new(&bash)
            .args(["-c", &script])
            .arg(comp.path().join("modprobe"))
            .env("PATH", &path)
            .output()
            .expect("bash");
        let got: BTreeSet<String> = stdout(&o).lines().map(str::to_string).collect();
        assert_eq!(got, expect_ext, "bash: {}", stderr(&o));
        // rmmod completes the loaded modules.
        let proc = comp.path().join("proc-modules");
        std::fs::write(
            &proc,
            "ext4 1036288 1 - Live 0x0000000000000000\nextcon_core 20480 0 - Live 0x0000000000000000\nxfs 2269184 0 - Live 0x0000000000000000\n",
        )
        .expect("write");
        let o = Command::new(&bash)
            .args([
                "-c",
                "source \"$0\"; COMP_WORDS=(rmmod -v ext); COMP_CWORD=2; \
                 $(complete -p rmmod | sed 's/.* -F \\([^ ]*\\) .*/\\1/') rmmod ext -v; \
                 printf '%s\\n' \"${COMPREPLY[@]}\"",
            ])
            .arg(comp.path().join("rmmod"))
            .env("PATH", &path)
            .env("RPROBE_PROC_MODULES", &proc)
            .output()
            .expect("bash");
        assert_eq!(stdout(&o), "ext4\nextcon_core\n", "rmmod: {}", stderr(&o));
        // An option is still completed as an option.
        let o = Command::new(&bash)
            .args([
                "-c",
                "source \"$0\"; COMP_WORDS=(modprobe --show-dep); COMP_CWORD=1; \
                 $(complete -p modprobe | sed 's/.* -F \\([^ ]*\\) .*/\\1/') modprobe --show-dep modprobe; \
                 printf '%s\\n' \"${COMPREPLY[@]}\"",
            ])
            .arg(comp.path().join("modprobe"))
            .env("PATH", &path)
            .output()
            .expect("bash");
        assert_eq!(stdout(&o).trim(), "--show-depends", "{}", stderr(&o));
    }
    if let Some(zsh) = need("zsh", find_program("zsh")) {
        let o = run(
            &rprobe(),
            [
                "generate".as_ref(),
                "completions".as_ref(),
                "zsh".as_ref(),
                comp.path().as_os_str(),
            ],
        );
        assert!(o.status.success());
        let file = comp.path().join("_modprobe");
        let text = std::fs::read_to_string(&file).expect("_modprobe");
        // The module-name argument's action is rprobe's function (options keep theirs).
        let positional: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("'*::"))
            .collect();
        assert!(
            !positional.is_empty()
                && positional
                    .iter()
                    .all(|l| l.contains(":_rprobe_modules_modprobe'")),
            "{positional:?}"
        );
        // zsh's compadd filters by the current word itself; outside a completion, a stand-in
        // prints what it is given: every module name.
        let script = format!(
            "compdef() {{ }}; source \"$0\"; compadd() {{ [[ $1 == -a ]] && print -l -- ${{(P)2}} }}; \
             words=(modprobe -q -d {root} -S {v} ext); CURRENT=6; \
             _rprobe_modules_modprobe x",
            v = tree.version
        );
        let o = Command::new(&zsh)
            .args(["-f", "-c", &script])
            .arg(&file)
            .env("PATH", &path)
            .output()
            .expect("zsh");
        let got: BTreeSet<String> = stdout(&o).lines().map(str::to_string).collect();
        assert!(got == want, "zsh: {} names: {}", got.len(), stderr(&o));
    }
    if let Some(fish) = need("fish", find_program("fish")) {
        let o = run(
            &rprobe(),
            [
                "generate".as_ref(),
                "completions".as_ref(),
                "fish".as_ref(),
                comp.path().as_os_str(),
            ],
        );
        assert!(o.status.success());
        let o = Command::new(&fish)
            .args([
                "-c",
                &format!(
                    "source $argv[1]; complete -C 'modinfo -b {root} -k {} ext'",
                    tree.version
                ),
            ])
            .arg(comp.path().join("modinfo.fish"))
            // modinfo also completes file names: run where no file starts with "ext".
            .current_dir(comp.path())
            .env("PATH", &path)
            .env("HOME", comp.path())
            .env("XDG_CONFIG_HOME", comp.path())
            .env("XDG_DATA_HOME", comp.path())
            .output()
            .expect("fish");
        // fish prints "NAME\tDESCRIPTION" lines; module names come without a description.
        let got: BTreeSet<String> = stdout(&o)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or(l).to_string())
            .collect();
        assert_eq!(got, expect_ext, "fish: {}", stderr(&o));
    }
}

/// A debootstrap root unpacked from scripts/fetch-rootfs's tarball.
fn unpack_rootfs() -> Option<tempfile::TempDir> {
    let tar = rprobe_testkit::debian_rootfs()?;
    let dir = tempfile::tempdir().expect("tempdir");
    rprobe_testkit::unpack_tar(&tar, dir.path());
    Some(dir)
}

/// Runs a command inside the root (`chroot ROOT sh -c SCRIPT`).
fn in_root(root: &Path, script: &str) -> Output {
    Command::new("chroot")
        .arg(root)
        .args(["/bin/sh", "-c", script])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .output()
        .expect("chroot")
}

fn in_root_ok(root: &Path, script: &str) -> String {
    let o = in_root(root, script);
    assert!(
        o.status.success(),
        "in root: {script}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Every file of kmod's package as it is: a digest of each regular file with its mode, the
/// target of each link.
fn kmod_files(root: &Path) -> String {
    in_root_ok(
        root,
        "dpkg-query -L kmod libkmod2 | while read -r f; do \
           if [ -L \"$f\" ]; then echo \"$f -> $(readlink \"$f\")\"; \
           elif [ -f \"$f\" ]; then echo \"$(stat -c '%a %u %g' \"$f\") $(sha256sum \"$f\")\"; \
           elif [ -d \"$f\" ]; then echo \"$f/\"; else echo \"$f missing\"; fi; done",
    )
}

/// A small synthetic module tree for a depmod run inside the root.
fn small_tree(root: &Path, version: &str) {
    let t = SynthTree::new(root, version);
    t.add(
        &SynthModule::new("base_mod")
            .info("alias", "pci:v00001234d*")
            .export("base_fn"),
        "kernel/lib",
        Codec::None,
    );
    t.add(
        &SynthModule::new("mid-mod")
            .import("base_fn")
            .export("mid_fn"),
        "kernel/drivers",
        Codec::Xz,
    );
    t.add(
        &SynthModule::new("top_mod")
            .import("mid_fn")
            .import("base_fn"),
        "kernel/fs",
        Codec::Zstd,
    );
}

#[test]
fn deb_installs_beside_kmod_and_switches_to_rprobe_and_back() {
    if !nix_is_root() {
        assert!(
            !real_required(),
            "the package test needs root (chroot, dpkg)"
        );
        eprintln!("SKIPPED: the package test needs root");
        return;
    }
    let Some(bin) = need(
        "RPROBE_STATIC_BIN (scripts/build-static)",
        vm::static_rprobe(),
    ) else {
        return;
    };
    if need("dpkg-deb", find_program("dpkg-deb")).is_none()
        || need("chroot", find_program("chroot")).is_none()
    {
        return;
    }
    // The packaged binary needs no shared library at all.
    let o = run(Path::new("readelf"), ["-d".as_ref(), bin.as_os_str()]);
    assert!(
        !stdout(&o).contains("(NEEDED)"),
        "the static binary needs libraries:\n{}",
        stdout(&o)
    );
    let Some(rootdir) = unpack_rootfs() else {
        return;
    };
    let root = rootdir.path();
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(repo().join("scripts/build-deb"));
    cmd.arg("--bin").arg(&bin).arg("--out").arg(out.path());
    // The library scripts/test built (else build-deb builds it).
    if let Some(lib) = std::env::var_os("RPROBE_LIBKMOD") {
        cmd.arg("--lib").arg(lib);
    }
    let o = cmd.output().expect("build-deb");
    assert!(o.status.success(), "build-deb: {}", stderr(&o));
    let deb = PathBuf::from(stdout(&o).trim());
    assert!(deb.is_file(), "{}", deb.display());

    // What the package holds: none of it is a file of kmod's.
    let o = run(Path::new("dpkg-deb"), ["-c".as_ref(), deb.as_os_str()]);
    let contents: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    assert!(contents.contains(&"/usr/sbin/rprobe".to_string()));
    let kmod_list = in_root_ok(root, "dpkg-query -L kmod");
    let before = kmod_files(root);
    assert!(before.contains("/sbin/modprobe"), "{before}");
    let divert_before = in_root_ok(root, "dpkg-divert --list | sort");

    let existed: Vec<bool> = contents
        .iter()
        .map(|p| std::fs::symlink_metadata(root.join(p.trim_start_matches('/'))).is_ok())
        .collect();
    std::fs::copy(&deb, root.join("tmp/rprobe.deb")).expect("copy deb");
    in_root_ok(root, "dpkg -i /tmp/rprobe.deb");
    for p in &contents {
        let in_kmod = kmod_list.lines().any(|k| k == p);
        let is_dir = root.join(p.trim_start_matches('/')).is_dir();
        assert!(!in_kmod || is_dir, "{p} is also kmod's");
    }
    // Installed beside kmod: kmod's files are untouched and modprobe is still kmod.
    assert_eq!(kmod_files(root), before, "dpkg -i changed kmod's files");
    let v = in_root_ok(root, "modprobe --version");
    assert!(v.starts_with("kmod version"), "{v}");
    let v = in_root_ok(root, "/usr/lib/rprobe/bin/modprobe --version");
    assert!(v.contains("rprobe modprobe version"), "{v}");

    // Switched: every name runs rprobe.
    in_root_ok(root, "rprobe-switch on");
    for t in TOOLS {
        let target = in_root_ok(root, &format!("readlink -f \"$(command -v {t})\""));
        assert_eq!(target.trim(), "/usr/sbin/rprobe", "{t}");
    }
    // And the dynamic linker finds rprobe's libkmod.so.2 where kmod's was, while kmod's
    // file waits outside the library path.
    let lib = in_root_ok(
        root,
        "ldconfig; readlink -f \"$(ldconfig -p | sed -n 's/.*libkmod.so.2 .*=> //p' | head -n1)\"",
    );
    assert_eq!(lib.trim(), "/usr/lib/rprobe/libkmod.so.2", "libkmod.so.2");
    let kept = in_root_ok(root, "ls /usr/lib/rprobe/kmod");
    assert!(
        kept.contains("libkmod.so.2."),
        "kmod's library kept: {kept}"
    );
    // kmod's man pages that rprobe has one for are rprobe's too.
    let pages = TOOLS
        .iter()
        .map(|t| format!("man8/{t}.8.gz"))
        .chain(PAGES5.iter().map(|n| format!("man5/{n}.5.gz")));
    let mut switched_pages = 0;
    for page in pages {
        let path = format!("/usr/share/man/{page}");
        if !kmod_list.lines().any(|l| l == path) {
            continue;
        }
        switched_pages += 1;
        let text = in_root_ok(root, &format!("zcat {path}"));
        assert!(text.contains("rprobe"), "{path} is not rprobe's page");
        let target = in_root_ok(root, &format!("readlink {path}"));
        assert_eq!(target.trim(), format!("/usr/share/rprobe/man/{page}"));
    }
    // Debian's kmod 30 ships all ten.
    assert_eq!(switched_pages, 10, "kmod's man pages: {kmod_list}");
    let v = in_root_ok(root, "modprobe --version; depmod --version; kmod --version");
    assert!(
        v.contains("rprobe modprobe version")
            && v.contains("rprobe depmod version")
            && v.contains("rprobe kmod version"),
        "{v}"
    );
    // A real operation through the switched name, checked against kmod's own depmod run
    // later in the same root (after switching back) on the same tree.
    let version = "6.1.0-test";
    // rprobe's depmod works where the system's modules are (and keeps its record cache in
    // the system's cache directory, never beside the indexes).
    small_tree(root, version);
    small_tree(&root.join("srv/b"), version);
    in_root_ok(root, &format!("depmod {version}"));
    let cache = root.join("var/cache/rprobe");
    let cache_file = rprobe_depmod::cache::file_for(
        &cache.join("depmod"),
        Path::new(&format!("/lib/modules/{version}")),
    );
    assert!(
        cache_file.is_file(),
        "rprobe's depmod ran and kept its cache"
    );
    let beside: Vec<_> = std::fs::read_dir(root.join(format!("lib/modules/{version}")))
        .expect("module dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("modules.") && n != "kernel")
        .collect();
    assert!(
        beside.is_empty(),
        "depmod left {beside:?} beside the indexes"
    );
    // Debian's mkinitramfs on the switched system: the image's modprobe (kept as a link by
    // initramfs-tools) resolves inside the image and is rprobe.
    std::fs::write(
        root.join(format!("boot/config-{version}")),
        "CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n",
    )
    .expect("kernel config");
    in_root_ok(
        root,
        &format!(
            "mkinitramfs -o /tmp/initrd.img {version} && mkdir /tmp/img && \
             unmkinitramfs /tmp/initrd.img /tmp/img"
        ),
    );
    let img = root.join("tmp/img");
    let img = if img.join("main").is_dir() {
        img.join("main")
    } else {
        img
    };
    for tool in ["/sbin/modprobe", "/sbin/rmmod", "/bin/kmod"] {
        let o = Command::new("chroot")
            .arg(&img)
            .args([tool, "--version"])
            .output()
            .expect("chroot into the image");
        assert!(
            o.status.success() && stdout(&o).contains("rprobe"),
            "{tool} in the image: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    // Switching twice is harmless.
    in_root_ok(root, "rprobe-switch on");

    in_root_ok(root, "rprobe-switch off");
    assert_eq!(
        kmod_files(root),
        before,
        "kmod's files after switching back"
    );
    let v = in_root_ok(root, "modprobe --version");
    assert!(v.starts_with("kmod version"), "{v}");
    in_root_ok(root, &format!("depmod -b /srv/b {version}"));
    let dir = |x: &str| {
        let r = if x == "a" {
            String::new()
        } else {
            format!("srv/{x}/")
        };
        root.join(format!("{r}lib/modules/{version}"))
    };
    let kmod_made = crate::util::index_files(&dir("b"));
    assert!(
        kmod_made.contains(&"modules.dep.bin".to_string()),
        "{kmod_made:?}"
    );
    for f in &kmod_made {
        let a = std::fs::read(dir("a").join(f)).unwrap_or_default();
        let b = std::fs::read(dir("b").join(f)).expect("kmod's file");
        assert!(a == b, "{f} differs between rprobe (switched) and kmod");
    }
    let dep = std::fs::read_to_string(dir("b").join("modules.dep")).expect("modules.dep");
    let top = dep
        .lines()
        .find(|l| l.starts_with("kernel/fs/top_mod.ko.zst:"))
        .unwrap_or_default();
    assert!(
        top.contains("kernel/drivers/mid-mod.ko.xz") && top.contains("kernel/lib/base_mod.ko"),
        "{dep}"
    );

    // Removing the package while switched puts kmod back and leaves no file of rprobe's.
    in_root_ok(root, "rprobe-switch on");
    in_root_ok(root, "dpkg -r rprobe");
    assert_eq!(kmod_files(root), before, "kmod's files after dpkg -r");
    assert_eq!(in_root_ok(root, "dpkg-divert --list | sort"), divert_before);
    let v = in_root_ok(root, "modprobe --version");
    assert!(v.starts_with("kmod version"), "{v}");
    for (p, existed) in contents.iter().zip(existed) {
        let exists = std::fs::symlink_metadata(root.join(p.trim_start_matches('/'))).is_ok();
        assert_eq!(
            exists, existed,
            "{p}: there before the install, there after dpkg -r"
        );
    }
    assert!(!cache.exists(), "depmod's cache is left after dpkg -r");
    let o = in_root(root, "dpkg -s rprobe");
    assert!(!o.status.success(), "rprobe still known to dpkg");
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `scripts/install --libkmod --lib FILE` adds the library as PREFIX/lib/libkmod.so.2 (where
/// the dynamic linker looks before the system's directories), and uninstall removes it
/// with the rest. The library is scripts/test's ($RPROBE_LIBKMOD); skipped without it.
#[test]
fn install_script_installs_the_library_on_request() {
    let Some(lib) = std::env::var_os("RPROBE_LIBKMOD") else {
        assert!(
            !real_required(),
            "RPROBE_LIBKMOD (scripts/build-libkmod) is missing"
        );
        eprintln!("SKIPPED: RPROBE_LIBKMOD (scripts/build-libkmod) is missing");
        return;
    };
    let dest = tempfile::tempdir().expect("tempdir");
    let d = dest.path().as_os_str();
    let bin = rprobe();
    let o = install_script(&[
        "--destdir".as_ref(),
        d,
        "--bin".as_ref(),
        bin.as_os_str(),
        "--lib".as_ref(),
        lib.as_ref(),
    ]);
    assert!(o.status.success(), "install: {}", stderr(&o));
    let installed = dest.path().join("usr/local/lib/libkmod.so.2");
    assert_eq!(
        std::fs::read(&installed).expect("installed library"),
        std::fs::read(&lib).expect("library"),
        "the installed library is the one given"
    );
    let o = install_script(&["--uninstall".as_ref(), "--destdir".as_ref(), d]);
    assert!(o.status.success(), "uninstall: {}", stderr(&o));
    assert_eq!(
        tree_listing(dest.path()),
        Vec::<String>::new(),
        "uninstall leaves nothing"
    );
}
