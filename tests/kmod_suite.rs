//! kmod's own test suite (v30: testsuite/test-modprobe.c, test-depmod.c, test-modinfo.c),
//! case by case, on fixtures made here: synthetic modules with the names, exports, imports,
//! aliases and modinfo of kmod's module-playground modules, and the configuration, kernel
//! command line and module directories of its rootfs-pristine trees. The expected outputs
//! are kmod's (its correct*.txt files and the exit status its harness demands: 0, or
//! non-zero for an expected failure), with kmod's faked root "/" written as this test's
//! root directory. Every case also runs kmod 30's own tool on the same fixture, which must
//! meet the same expectation. kmod's harness fakes the root, uname and /proc with
//! LD_PRELOAD; here `-b/-d ROOT -S 4.4.4` point the tools at the tree, and a private mount
//! namespace puts the case's kernel command line on /proc/cmdline and its loaded modules
//! in /sys/module. docs/kmod-suite.md lists the cases reproduced, partly reproduced and
//! skipped, and why.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};

use crate::util::*;

const V: &str = "4.4.4";
const AUTHOR: &str = "Lucas De Marchi <lucas.demarchi@intel.com>";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// module-playground's mod-simple.c.
fn mod_simple() -> SynthModule {
    SynthModule::new("mod-simple")
        .info("author", AUTHOR)
        .info("license", "GPL")
}

/// module-playground's mod-loop-X.c (exports printX, calls the others as in kmod's).
fn mod_loop(x: char) -> SynthModule {
    let i = (x as u8 - b'a') as usize;
    crate::compat::loop_modules().swap_remove(i)
}

/// Which tool's run: kmod 30's, or rprobe's (which is also given its own depmod's indexes).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tool {
    Kmod,
    Rprobe,
}

const BOTH: [Tool; 2] = [Tool::Kmod, Tool::Rprobe];

/// Runs `tool`'s `name` (modprobe, depmod, modinfo) with `args`, in a private mount
/// namespace when `cmdline` (the kernel command line) or `loaded` (modules whose
/// /sys/module/NAME/initstate says live) is given.
fn run_tool(
    tool: Tool,
    name: &str,
    args: &[OsString],
    cmdline: Option<&str>,
    loaded: &[&str],
    env: &[(&str, &Path)],
) -> Output {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (prog, mut argv): (PathBuf, Vec<OsString>) = match tool {
        Tool::Kmod => (kmod(name), Vec::new()),
        Tool::Rprobe => (rprobe(), vec![name.into()]),
    };
    argv.extend(args.iter().cloned());
    let mut cmd = if cmdline.is_none() && loaded.is_empty() {
        let mut c = Command::new(&prog);
        if tool == Tool::Kmod {
            std::os::unix::process::CommandExt::arg0(&mut c, name);
        }
        c.args(&argv);
        c
    } else {
        let cl = scratch.path().join("cmdline");
        std::fs::write(&cl, format!("{}\n", cmdline.unwrap_or(""))).expect("write cmdline");
        let script = r#"
set -e
cl=$1; loaded=$2; prog=$3; name=$4; shift 4
mount --bind "$cl" /proc/cmdline
if [ -n "$loaded" ]; then
  mount -t tmpfs rprobe-test /sys/module
  for m in $loaded; do mkdir "/sys/module/$m"; echo live > "/sys/module/$m/initstate"; done
fi
set +e
exec -a "$name" "$prog" "$@"
"#;
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "bash", "-c", script, "sh"])
            .arg(&cl)
            .arg(loaded.join(" "))
            .arg(&prog)
            .arg(if tool == Tool::Kmod { name } else { "rprobe" })
            .args(&argv);
        c
    };
    cmd.env_remove("MODPROBE_OPTIONS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run");
    let err = text(&o.stderr);
    assert!(
        !err.contains("unshare:") && !err.contains("mount:"),
        "the namespace could not be made (root is needed): {err}"
    );
    o
}

/// A fixture root for each tool: `build` writes the modules and configuration under ROOT,
/// then the tool's own depmod indexes ROOT/lib/modules/VERSION (depmod.d: ROOT/etc/depmod.d)
/// unless `index` is false.
struct Fixture {
    _tmp: tempfile::TempDir,
    roots: [PathBuf; 2],
}

impl Fixture {
    fn new(version: &str, index: bool, build: &dyn Fn(&Path, &SynthTree)) -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let roots = [tmp.path().join("kmod"), tmp.path().join("rprobe")];
        for (tool, root) in BOTH.iter().zip(&roots) {
            let t = SynthTree::new(root, version);
            for d in ["etc/modprobe.d", "etc/depmod.d"] {
                std::fs::create_dir_all(root.join(d)).expect("mkdir");
            }
            build(root, &t);
            if index {
                let o = run_tool(
                    *tool,
                    "depmod",
                    &[
                        "-b".into(),
                        root.into(),
                        "-C".into(),
                        root.join("etc/depmod.d").into(),
                        version.into(),
                    ],
                    None,
                    &[],
                    &[],
                );
                assert!(o.status.success(), "{tool:?} depmod: {}", text(&o.stderr));
            }
        }
        Fixture { _tmp: tmp, roots }
    }

    fn root(&self, tool: Tool) -> &Path {
        &self.roots[tool as usize]
    }
}

/// One modprobe case of kmod's suite.
struct ModprobeCase {
    name: &'static str,
    version: &'static str,
    args: &'static [&'static str],
    cmdline: Option<&'static str>,
    loaded: &'static [&'static str],
    /// kmod's correct.txt with "{R}" for the root (None: the case checks no output).
    out: Option<&'static str>,
}

fn check_modprobe(fx: &Fixture, case: &ModprobeCase) -> Vec<String> {
    let mut failures = Vec::new();
    for tool in BOTH {
        let root = fx.root(tool);
        let mut args: Vec<OsString> = vec![
            "-d".into(),
            root.into(),
            "-S".into(),
            case.version.into(),
            "-C".into(),
            root.join("etc/modprobe.d").into(),
        ];
        args.extend(case.args.iter().map(OsString::from));
        let o = run_tool(
            tool,
            "modprobe",
            &args,
            Some(case.cmdline.unwrap_or("")),
            case.loaded,
            &[],
        );
        let r = root.to_str().expect("utf-8");
        if code(&o) != 0 {
            failures.push(format!(
                "{} ({tool:?}): exit {} (kmod's suite demands 0): {}",
                case.name,
                code(&o),
                text(&o.stderr)
            ));
        }
        if let Some(want) = case.out {
            let want = want.replace("{R}", r);
            if text(&o.stdout) != want {
                failures.push(format!(
                    "{} ({tool:?}): stdout\n{:?}\nwanted\n{want:?}",
                    case.name,
                    text(&o.stdout)
                ));
            }
        }
    }
    failures
}

fn show_depends_tree(_: &Path, t: &SynthTree) {
    t.add(&mod_simple(), "kernel", Codec::None);
    t.add(&mod_loop('a'), "kernel", Codec::None);
    t.add(&mod_loop('b'), "kernel", Codec::None);
}

fn simple_tree(_: &Path, t: &SynthTree) {
    t.add(&mod_simple(), "kernel", Codec::None);
}

/// test-modprobe.c: modprobe_show_depends, modprobe_show_depends2,
/// modprobe_show_alias_to_none, modprobe_builtin, modprobe_builtin_lookup_only,
/// modprobe_param_kcmdline_show_deps, modprobe_param_kcmdline2..8, modprobe_external.
#[test]
fn kmod_suite_modprobe_outputs() {
    let mut failures = Vec::new();

    let fx = Fixture::new(V, true, &show_depends_tree);
    for case in [
        ModprobeCase {
            name: "modprobe_show_depends",
            version: V,
            args: &["--show-depends", "mod-loop-a"],
            cmdline: None,
            loaded: &["mod_loop_a", "mod_loop_b"],
            out: Some(
                "insmod {R}/lib/modules/4.4.4/kernel/mod-loop-b.ko \ninsmod {R}/lib/modules/4.4.4/kernel/mod-loop-a.ko \n",
            ),
        },
        ModprobeCase {
            name: "modprobe_show_depends2",
            version: V,
            args: &["--show-depends", "mod-simple"],
            cmdline: None,
            loaded: &["mod_loop_a", "mod_loop_b"],
            out: Some("insmod {R}/lib/modules/4.4.4/kernel/mod-simple.ko \n"),
        },
    ] {
        failures.extend(check_modprobe(&fx, &case));
    }

    let fx = Fixture::new(V, true, &|root, t| {
        simple_tree(root, t);
        std::fs::write(
            root.join("etc/modprobe.d/bogus.conf"),
            "alias mod-simple deaddood\n",
        )
        .expect("write");
    });
    failures.extend(check_modprobe(
        &fx,
        &ModprobeCase {
            name: "modprobe_show_alias_to_none",
            version: V,
            args: &[
                "--show-depends",
                "--ignore-install",
                "--quiet",
                "mod-simple",
            ],
            cmdline: None,
            loaded: &[],
            out: Some(""),
        },
    ));

    // rootfs-pristine/test-modprobe/builtin: modules.builtin names unix, no modules.
    let fx = Fixture::new(V, true, &|_, t| {
        t.file("modules.builtin", "kernel/net/unix/unix.ko\n");
    });
    for case in [
        ModprobeCase {
            name: "modprobe_builtin",
            version: V,
            args: &["unix"],
            cmdline: None,
            loaded: &[],
            out: None,
        },
        ModprobeCase {
            name: "modprobe_builtin_lookup_only",
            version: V,
            args: &["-R", "unix"],
            cmdline: None,
            loaded: &[],
            out: Some("unix\n"),
        },
    ] {
        failures.extend(check_modprobe(&fx, &case));
    }

    let fx = Fixture::new(V, true, &simple_tree);
    failures.extend(check_modprobe(
        &fx,
        &ModprobeCase {
            name: "modprobe_param_kcmdline_show_deps",
            version: V,
            args: &["--show-depends", "mod-simple"],
            cmdline: Some(
                "initrd=\\initramfs-linux.img mod_simple.foo mod_simple.bar=1 root=/dev/sda2 rootfstype=ext4 add_efi_memmap quiet rw",
            ),
            loaded: &[],
            out: Some("insmod {R}/lib/modules/4.4.4/kernel/mod-simple.ko foo bar=1 \n"),
        },
    ));

    // module-param-kcmdline2..8: `modprobe -c` on a root with no module directory.
    let end = "\n# End of configuration files. Dumping indexes now:\n\n";
    let kcmdline: [(&str, &str, String); 7] = [
        (
            "modprobe_param_kcmdline2",
            "psmouse.foo psmouse.bar=1 quiet rw",
            format!("options psmouse foo\noptions psmouse bar=1\n{end}"),
        ),
        (
            "modprobe_param_kcmdline3",
            "BOOT_IMAGE=/boot/vmlinuz-3.12.12-57.g5f654cf-default initrd=\\initramfs-linux.img psmouse.foo psmouse.bar=1 root=/dev/sda2 rootfstype=ext4 add_efi_memmap quiet rw",
            format!("options psmouse foo\noptions psmouse bar=1\n{end}"),
        ),
        (
            "modprobe_param_kcmdline4",
            "testmodule.testparam=1.5G",
            format!("options testmodule testparam=1.5G\n{end}"),
        ),
        (
            "modprobe_param_kcmdline5",
            "psmouse.foo psmouse.bar=1 psmouse.foobar=\"test 1\" psmouse.\"invalid option\" \" notamodule\" \"noteamodule2 \" notamodule3 quiet rw",
            format!(
                "options psmouse foo\noptions psmouse bar=1\noptions psmouse foobar=\"test 1\"\n{end}"
            ),
        ),
        (
            "modprobe_param_kcmdline6",
            "psmouse.foo=2 ivrs_acpihid[14:00.5]=AMD0020:00 psmouse.bar=1 psmouse.zinga=test",
            format!(
                "options psmouse foo=2\noptions psmouse bar=1\noptions psmouse zinga=test\n{end}"
            ),
        ),
        (
            "modprobe_param_kcmdline7",
            "psmouse.foo parport.dyndbg=\"file drivers/parport/ieee1284_ops.c +mpf\" quiet rw",
            format!(
                "options psmouse foo\noptions parport dyndbg=\"file drivers/parport/ieee1284_ops.c +mpf\"\n{end}"
            ),
        ),
        (
            "modprobe_param_kcmdline8",
            "psmouse.foo \"parport.dyndbg=file drivers/parport/ieee1284_ops.c +mpf\" quiet rw",
            format!(
                "options psmouse foo\noptions parport dyndbg=\"file drivers/parport/ieee1284_ops.c +mpf\"\n{end}"
            ),
        ),
    ];
    let empty = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(empty.path().join("etc/modprobe.d")).expect("mkdir");
    for (name, cl, want) in &kcmdline {
        for tool in BOTH {
            let args: Vec<OsString> = vec![
                "-d".into(),
                empty.path().into(),
                "-S".into(),
                V.into(),
                "-C".into(),
                empty.path().join("etc/modprobe.d").into(),
                "-c".into(),
            ];
            let o = run_tool(tool, "modprobe", &args, Some(cl), &[], &[]);
            if code(&o) != 0 || text(&o.stdout) != *want {
                failures.push(format!(
                    "{name} ({tool:?}): exit {}, stdout\n{:?}\nwanted\n{want:?}\n{}",
                    code(&o),
                    text(&o.stdout),
                    text(&o.stderr)
                ));
            }
        }
    }

    // external: the module lives outside the module directory, found through depmod.d's
    // `external` (kmod's index holds its absolute path).
    let fx = Fixture::new(V, true, &|root, t| {
        mod_simple().write(&root.join("lib/modules/external"), "", Codec::None);
        let _ = t;
        std::fs::write(
            root.join("etc/depmod.d/external.conf"),
            format!("external 4.4.4 {}/lib/modules/external\n", root.display()),
        )
        .expect("write");
    });
    for case in [
        ModprobeCase {
            name: "modprobe_external (--show-depends)",
            version: V,
            args: &["--show-depends", "mod-simple"],
            cmdline: None,
            loaded: &[],
            out: Some("insmod {R}/lib/modules/external/mod-simple.ko \n"),
        },
        ModprobeCase {
            name: "modprobe_external (-n -v)",
            version: V,
            args: &["-n", "-v", "mod-simple"],
            cmdline: None,
            loaded: &[],
            out: Some("insmod {R}/lib/modules/external/mod-simple.ko \n"),
        },
    ] {
        failures.extend(check_modprobe(&fx, &case));
    }

    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// test-modprobe.c: modprobe_show_exports (the output is a regular expression in kmod's
/// suite: `0x[0-9a-fA-F]+\tprintA`).
#[test]
fn kmod_suite_modprobe_show_exports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = mod_loop('a').write(tmp.path(), "", Codec::None);
    for tool in BOTH {
        let o = run_tool(
            tool,
            "modprobe",
            &["--show-exports".into(), "--quiet".into(), f.clone().into()],
            None,
            &[],
            &[],
        );
        assert_eq!(code(&o), 0, "{tool:?}: {}", text(&o.stderr));
        let out = text(&o.stdout);
        let line = out.strip_suffix('\n').unwrap_or(&out);
        let (crc, sym) = line.split_once('\t').unwrap_or(("", ""));
        let hex = crc.strip_prefix("0x").unwrap_or("");
        assert!(
            !hex.is_empty() && hex.bytes().all(|c| c.is_ascii_hexdigit()) && sym == "printA",
            "{tool:?}: {out:?}"
        );
    }
}

/// The dry run's plan of a loading case: the modules its insmod lines name (as module
/// names, in order) and its install lines; the same for kmod 30 and rprobe (with the
/// root written as {R}).
fn plans(
    fx: &Fixture,
    name: &str,
    version: &str,
    args: &[&str],
    env_modprobe: bool,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut outs = Vec::new();
    for tool in BOTH {
        let root = fx.root(tool);
        let mut a: Vec<OsString> = vec![
            "-d".into(),
            root.into(),
            "-S".into(),
            version.into(),
            "-C".into(),
            root.join("etc/modprobe.d").into(),
        ];
        a.extend(args.iter().map(OsString::from));
        let env: Vec<(&str, &Path)> = if env_modprobe {
            vec![("MODPROBE", Path::new("/bin/false"))]
        } else {
            vec![]
        };
        let o = run_tool(tool, "modprobe", &a, Some(""), &[], &env);
        assert_eq!(code(&o), 0, "{name} ({tool:?}): {}", text(&o.stderr));
        outs.push(text(&o.stdout).replace(root.to_str().expect("utf-8"), "{R}"));
    }
    assert_eq!(outs[1], outs[0], "{name}: rprobe's plan is kmod 30's");
    let insmods = outs[0]
        .lines()
        .filter_map(|l| l.strip_prefix("insmod "))
        .map(|p| {
            let f = p.trim().rsplit('/').next().unwrap_or_default();
            f.trim_end_matches(".ko").to_string()
        })
        .collect();
    let installs = outs[0]
        .lines()
        .filter(|l| l.starts_with("install "))
        .map(String::from)
        .collect();
    (insmods, installs, outs)
}

fn distinct(v: &[String]) -> Vec<String> {
    let mut d: Vec<String> = Vec::new();
    for x in v {
        if !d.contains(x) {
            d.push(x.clone());
        }
    }
    d
}

/// test-modprobe.c's loading cases, as far as they can run without a kernel: kmod fakes
/// init_module with LD_PRELOAD and checks the set of modules loaded (`modules_loaded`);
/// here the dry run (-n -v) must plan exactly that set (a module planned twice is loaded
/// once: the second insert finds it there), end with status 0, and print what kmod 30
/// prints. modprobe_softdep_loop, modprobe_install_cmd_loop (plan only: the install
/// command that loads mod-loop-b is printed, not run), modprobe_force, modprobe_oldkernel,
/// modprobe_oldkernel_force.
#[test]
fn kmod_suite_modprobe_loading_plans() {
    let fx = Fixture::new(V, true, &|root, t| {
        t.add(&mod_loop('a'), "kernel", Codec::None);
        t.add(&mod_loop('b'), "kernel", Codec::None);
        std::fs::write(
            root.join("etc/modprobe.d/dumb-softdep.conf"),
            "softdep mod-loop-b post: mod-loop-a\n",
        )
        .expect("write");
    });
    // modules_loaded = "mod-loop-a,mod-loop-b".
    let (ins, _, out) = plans(
        &fx,
        "modprobe_softdep_loop",
        V,
        &["-n", "-v", "mod-loop-b"],
        false,
    );
    let mut set = distinct(&ins);
    set.sort();
    assert_eq!(set, ["mod-loop-a", "mod-loop-b"], "{out:?}");

    let fx = Fixture::new(V, true, &|root, t| {
        t.add(&mod_loop('a'), "kernel", Codec::None);
        t.add(&mod_loop('b'), "kernel", Codec::None);
        std::fs::write(
            root.join("etc/modprobe.d/dumb-instal-loop.conf"),
            "install mod-loop-b $MODPROBE --ignore-install mod-loop-b && { $MODPROBE --quiet mod-loop-a ; }\n",
        )
        .expect("write");
    });
    // modules_loaded = "mod-loop-b,mod-loop-a": b through its install command (printed by
    // the dry run), then a.
    let (ins, inst, out) = plans(
        &fx,
        "modprobe_install_cmd_loop",
        V,
        &["-n", "-v", "mod-loop-a"],
        true,
    );
    assert_eq!(ins, ["mod-loop-a"], "{out:?}");
    assert_eq!(inst.len(), 1, "{out:?}");
    assert!(
        inst[0].starts_with("install $MODPROBE --ignore-install mod-loop-b && "),
        "{out:?}"
    );

    for (name, version, args) in [
        (
            "modprobe_force",
            V,
            &["-n", "-v", "--force", "mod-simple"][..],
        ),
        (
            "modprobe_oldkernel",
            "3.3.3",
            &["-n", "-v", "mod-simple"][..],
        ),
        (
            "modprobe_oldkernel_force",
            "3.3.3",
            &["-n", "-v", "--force", "mod-simple"][..],
        ),
    ] {
        let fx = Fixture::new(version, true, &simple_tree);
        // modules_loaded = "mod-simple".
        let (ins, _, out) = plans(&fx, name, version, args, false);
        assert_eq!(ins, ["mod-simple"], "{name}: {out:?}");
    }
}

/// Runs each tool's depmod on its copy of the fixture (`-b ROOT -C ROOT/etc/depmod.d
/// 4.4.4`, as kmod's suite runs a bare `depmod` in its faked root) and returns
/// (modules.dep or another file, stderr, exit code) per tool.
fn depmod_both(fx: &Fixture, file: &str) -> Vec<(String, String, i32)> {
    BOTH.iter()
        .map(|&tool| {
            let root = fx.root(tool);
            let o = run_tool(
                tool,
                "depmod",
                &[
                    "-b".into(),
                    root.into(),
                    "-C".into(),
                    root.join("etc/depmod.d").into(),
                    V.into(),
                ],
                None,
                &[],
                &[],
            );
            let r = root.to_str().expect("utf-8");
            let content = std::fs::read_to_string(root.join("lib/modules").join(V).join(file))
                .unwrap_or_default()
                .replace(r, "{R}");
            (content, text(&o.stderr).replace(r, "{R}"), code(&o))
        })
        .collect()
}

/// test-depmod.c: depmod_search_order_simple, _same_prefix, _external_first,
/// _external_last, _override: modules.dep as kmod's correct-modules.dep.
#[test]
fn kmod_suite_depmod_search_orders() {
    let conf = |root: &Path, name: &str, text: String| {
        std::fs::write(root.join("etc/depmod.d").join(name), text).expect("write conf");
    };
    let external = |root: &Path| {
        mod_simple().write(&root.join("lib/modules/external"), "", Codec::None);
        format!(
            "external 4\\.4\\..* {}/lib/modules/external\n",
            root.display()
        )
    };
    type Build = Box<dyn Fn(&Path, &SynthTree)>;
    let cases: Vec<(&str, Build, &str)> = vec![
        (
            "depmod_search_order_simple",
            Box::new(move |root, t| {
                t.add(&mod_simple(), "kernel/crypto", Codec::None);
                t.add(&mod_simple(), "updates", Codec::None);
                conf(root, "search.conf", "search updates built-in\n".into());
            }),
            "updates/mod-simple.ko:\n",
        ),
        (
            "depmod_search_order_same_prefix",
            Box::new(move |root, t| {
                t.add(&mod_simple(), "foo", Codec::None);
                t.add(&mod_simple(), "foobar", Codec::None);
                conf(root, "search.conf", "search foobar foo built-in\n".into());
            }),
            "foobar/mod-simple.ko:\n",
        ),
        (
            "depmod_search_order_external_first",
            Box::new(move |root, t| {
                t.add(&mod_simple(), "foo", Codec::None);
                t.add(&mod_simple(), "foobar", Codec::None);
                conf(root, "external.conf", external(root));
                conf(
                    root,
                    "search.conf",
                    "search external foobar foo built-in\n".into(),
                );
            }),
            "{R}/lib/modules/external/mod-simple.ko:\n",
        ),
        (
            "depmod_search_order_external_last",
            Box::new(move |root, t| {
                t.add(&mod_simple(), "foo", Codec::None);
                t.add(&mod_simple(), "foobar", Codec::None);
                conf(root, "external.conf", external(root));
                conf(
                    root,
                    "search.conf",
                    "search foobar foo built-in external\n".into(),
                );
            }),
            "foobar/mod-simple.ko:\n",
        ),
        (
            "depmod_search_order_override",
            Box::new(move |root, t| {
                t.add(&mod_simple(), "foo", Codec::None);
                t.add(&mod_simple(), "override", Codec::None);
                conf(
                    root,
                    "override.conf",
                    "override mod-simple 4.4.4 override\n".into(),
                );
                conf(root, "search.conf", "search foo built-in\n".into());
            }),
            "override/mod-simple.ko:\n",
        ),
    ];
    let mut failures = Vec::new();
    for (name, build, want) in &cases {
        let fx = Fixture::new(V, false, build.as_ref());
        for (tool, (dep, err, c)) in BOTH.iter().zip(depmod_both(&fx, "modules.dep")) {
            if dep != *want || c != 0 {
                failures.push(format!(
                    "{name} ({tool:?}): exit {c}, modules.dep {dep:?}, wanted {want:?}; {err}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// test-depmod.c: depmod_detect_loop (an expected failure: stderr is kmod's correct.txt,
/// the status non-zero). The fixture: the eleven loop modules in kernel/ and an empty
/// modules.order, so kmod's hash order decides where each cycle report starts.
#[test]
fn kmod_suite_depmod_detect_loop() {
    let fx = Fixture::new(V, false, &|_, t| {
        for m in crate::compat::loop_modules() {
            t.add(&m, "kernel", Codec::None);
        }
        t.file("modules.order", "");
    });
    let want = "depmod: ERROR: Cycle detected: mod_loop_d -> mod_loop_e -> mod_loop_d
depmod: ERROR: Cycle detected: mod_loop_i -> mod_loop_j -> mod_loop_k -> mod_loop_h -> mod_loop_i
depmod: ERROR: Cycle detected: mod_loop_i -> mod_loop_j -> mod_loop_h -> mod_loop_i
depmod: ERROR: Cycle detected: mod_loop_c -> mod_loop_a -> mod_loop_b -> mod_loop_c
depmod: ERROR: Found 9 modules in dependency cycles!
";
    for (tool, (_, err, c)) in BOTH.iter().zip(depmod_both(&fx, "modules.dep")) {
        assert_ne!(c, 0, "{tool:?}: an expected failure");
        assert_eq!(err, want, "{tool:?}");
    }
}

/// modules-order-compressed's modules.alias (correct-modules.alias): cciss's aliases, then
/// hpsa's, each in its .modinfo order (the compiled modules hold them in the reverse of
/// their source order).
const CCISS_ALIASES: [&str; 20] = [
    "pci:v0000103Cd00003230sv0000103Csd0000323Dbc*sc*i*",
    "pci:v0000103Cd00003230sv0000103Csd00003237bc*sc*i*",
    "pci:v0000103Cd00003238sv0000103Csd00003215bc*sc*i*",
    "pci:v0000103Cd00003238sv0000103Csd00003214bc*sc*i*",
    "pci:v0000103Cd00003238sv0000103Csd00003213bc*sc*i*",
    "pci:v0000103Cd00003238sv0000103Csd00003212bc*sc*i*",
    "pci:v0000103Cd00003238sv0000103Csd00003211bc*sc*i*",
    "pci:v0000103Cd00003230sv0000103Csd00003235bc*sc*i*",
    "pci:v0000103Cd00003230sv0000103Csd00003234bc*sc*i*",
    "pci:v0000103Cd00003230sv0000103Csd00003223bc*sc*i*",
    "pci:v0000103Cd00003220sv0000103Csd00003225bc*sc*i*",
    "pci:v00000E11d00000046sv00000E11sd0000409Dbc*sc*i*",
    "pci:v00000E11d00000046sv00000E11sd0000409Cbc*sc*i*",
    "pci:v00000E11d00000046sv00000E11sd0000409Bbc*sc*i*",
    "pci:v00000E11d00000046sv00000E11sd0000409Abc*sc*i*",
    "pci:v00000E11d00000046sv00000E11sd00004091bc*sc*i*",
    "pci:v00000E11d0000B178sv00000E11sd00004083bc*sc*i*",
    "pci:v00000E11d0000B178sv00000E11sd00004082bc*sc*i*",
    "pci:v00000E11d0000B178sv00000E11sd00004080bc*sc*i*",
    "pci:v00000E11d0000B060sv00000E11sd00004070bc*sc*i*",
];

const HPSA_ALIASES: [&str; 16] = [
    "pci:v0000103Cd*sv*sd*bc01sc04i*",
    "pci:v0000103Cd0000323Bsv0000103Csd00003356bc*sc*i*",
    "pci:v0000103Cd0000323Bsv0000103Csd00003355bc*sc*i*",
    "pci:v0000103Cd0000323Bsv0000103Csd00003354bc*sc*i*",
    "pci:v0000103Cd0000323Bsv0000103Csd00003353bc*sc*i*",
    "pci:v0000103Cd0000323Bsv0000103Csd00003352bc*sc*i*",
    "pci:v0000103Cd0000323Bsv0000103Csd00003351bc*sc*i*",
    "pci:v0000103Cd0000323Bsv0000103Csd00003350bc*sc*i*",
    "pci:v0000103Cd0000323Asv0000103Csd00003233bc*sc*i*",
    "pci:v0000103Cd0000323Asv0000103Csd0000324Bbc*sc*i*",
    "pci:v0000103Cd0000323Asv0000103Csd0000324Abc*sc*i*",
    "pci:v0000103Cd0000323Asv0000103Csd00003249bc*sc*i*",
    "pci:v0000103Cd0000323Asv0000103Csd00003247bc*sc*i*",
    "pci:v0000103Cd0000323Asv0000103Csd00003245bc*sc*i*",
    "pci:v0000103Cd0000323Asv0000103Csd00003243bc*sc*i*",
    "pci:v0000103Cd0000323Asv0000103Csd00003241bc*sc*i*",
];

/// test-depmod.c: depmod_modules_order_for_compressed: modules.order lists cciss (gzip),
/// scsi_mod (xz) and hpsa (zstd, which imports scsi_mod's dummy_export); the aliases follow
/// modules.order, not the compressed file names. kmod 30 here has no zlib, and kmod's
/// populate script leaves cciss uncompressed then: kmod 30 runs on that layout, rprobe on
/// both.
#[test]
fn kmod_suite_depmod_modules_order_for_compressed() {
    let fake = |name: &str, aliases: &[&str]| {
        let mut m = SynthModule::new(name)
            .info("author", AUTHOR)
            .info("license", "LGPL");
        for a in aliases {
            m = m.info("alias", a);
        }
        m
    };
    let mut want = String::from("# Aliases extracted from modules themselves.\n");
    for a in CCISS_ALIASES {
        want.push_str(&format!("alias {a} cciss\n"));
    }
    for a in HPSA_ALIASES {
        want.push_str(&format!("alias {a} hpsa\n"));
    }
    for gzip in [false, true] {
        let fx = Fixture::new(V, false, &|_, t| {
            let cciss = if gzip { Codec::Gzip } else { Codec::None };
            t.add(
                &fake("cciss", &CCISS_ALIASES),
                "kernel/drivers/block",
                cciss,
            );
            t.add(
                &fake("scsi_mod", &[]).export("dummy_export"),
                "kernel/drivers/scsi",
                Codec::Xz,
            );
            t.add(
                &fake("hpsa", &HPSA_ALIASES).import("dummy_export"),
                "kernel/drivers/scsi",
                Codec::Zstd,
            );
            t.file(
                "modules.order",
                "#336\nkernel/drivers/block/cciss.ko\n#2094\nkernel/drivers/scsi/scsi_mod.ko\n#2137\nkernel/drivers/scsi/hpsa.ko\n\n",
            );
            t.file("modules.builtin", "");
        });
        for (tool, (alias, err, c)) in BOTH.iter().zip(depmod_both(&fx, "modules.alias")) {
            if gzip && *tool == Tool::Kmod {
                continue;
            }
            assert_eq!(c, 0, "{tool:?} gzip {gzip}: {err}");
            assert_eq!(alias, want, "{tool:?} gzip {gzip}");
        }
    }
}

/// Runs `modinfo ARGS` with each tool; asserts status 0 and the expected stdout (with
/// "{R}" for the fixture root `root`).
fn modinfo_case(name: &str, root: &Path, args: &[OsString], want: &str) -> Vec<String> {
    let want = want.replace("{R}", root.to_str().expect("utf-8"));
    BOTH.iter()
        .filter_map(|&tool| {
            let o = run_tool(tool, "modinfo", args, None, &[], &[]);
            (code(&o) != 0 || text(&o.stdout) != want).then(|| {
                format!(
                    "{name} ({tool:?}): exit {}, stdout\n{:?}\nwanted\n{want:?}\n{}",
                    code(&o),
                    text(&o.stdout),
                    text(&o.stderr)
                )
            })
        })
        .collect()
}

/// test-modinfo.c's generic cases (filename, author, license, description, parm,
/// depends) over module-playground's precompiled mod-simple for i386, x86_64 and sparc64
/// (32-bit little-endian, 64-bit little-endian, 64-bit big-endian), each given by path.
#[test]
fn kmod_suite_modinfo_fields_across_architectures() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let mut files: Vec<OsString> = Vec::new();
    for (suffix, arch) in [
        ("i386", object::Architecture::I386),
        ("x86_64", object::Architecture::X86_64),
        ("sparc64", object::Architecture::Sparc64),
    ] {
        let mut m = SynthModule::new(&format!("mod-simple-{suffix}"))
            .info("license", "LGPL")
            .info("author", AUTHOR)
            .info("depends", "");
        m.arch = arch;
        files.push(m.write(root, "", Codec::None).into());
    }
    let mut failures = Vec::new();
    for (field, want) in [
        (
            "filename",
            "{R}/mod-simple-i386.ko\n{R}/mod-simple-x86_64.ko\n{R}/mod-simple-sparc64.ko\n"
                .to_string(),
        ),
        ("author", format!("{AUTHOR}\n{AUTHOR}\n{AUTHOR}\n")),
        ("license", "LGPL\nLGPL\nLGPL\n".to_string()),
        ("description", String::new()),
        ("parm", String::new()),
        ("depends", "\n\n\n".to_string()),
    ] {
        let mut args: Vec<OsString> = vec!["-F".into(), field.into()];
        args.extend(files.iter().cloned());
        failures.extend(modinfo_case(
            &format!("test_modinfo_{field}"),
            root,
            &args,
            &want,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A DER element.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend([0x81, n as u8]);
    } else {
        v.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

/// A PKCS#7 SignedData as the kernel's sign-file writes it (detached content, one signer
/// given by issuer CN and serial, sha256, RSA).
fn pkcs7(cn: &str, serial: &[u8], sig: &[u8]) -> Vec<u8> {
    let oid = |b: &[u8]| der(0x06, b);
    let sha256 = seq(&[
        oid(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]),
        der(0x05, &[]),
    ]);
    let rsa = seq(&[
        oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]),
        der(0x05, &[]),
    ]);
    let name = seq(&[der(
        0x31,
        &seq(&[oid(&[0x55, 0x04, 0x03]), der(0x0c, cn.as_bytes())]),
    )]);
    let signer_info = seq(&[
        der(0x02, &[1]),
        seq(&[name, der(0x02, serial)]),
        sha256.clone(),
        rsa,
        der(0x04, sig),
    ]);
    let signed_data = seq(&[
        der(0x02, &[1]),
        der(0x31, &sha256),
        seq(&[oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01])]),
        der(0x31, &signer_info),
    ]);
    seq(&[
        oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]),
        der(0xa0, &signed_data),
    ])
}

/// The module signature trailer: data, then struct module_signature (algo, hash, id_type,
/// signer_len, key_id_len, 3 pad bytes, big-endian sig_len), then the magic.
fn trailer(algo: u8, hash: u8, id_type: u8, signer: &[u8], key: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut v = [signer, key, sig].concat();
    v.extend([
        algo,
        hash,
        id_type,
        signer.len() as u8,
        key.len() as u8,
        0,
        0,
        0,
    ]);
    v.extend((sig.len() as u32).to_be_bytes());
    v.extend(b"~Module signature appended~\n");
    v
}

/// test-modinfo.c's signature cases (signer, sig_key, sig_hashalgo; kmod 30 here is built
/// with OpenSSL, so the -openssl expectations apply) over mod-simple signed as
/// dummy.sha1 (X.509 id, sha1), dummy.sha256 (X.509 id, sha256) and dummy.pkcs7 (PKCS#7).
#[test]
fn kmod_suite_modinfo_signatures() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let signer = b"Magrathea: Glacier signing key";
    let key = [
        0xE3, 0xC8, 0xFC, 0xA7, 0x3F, 0xB3, 0x1D, 0xDE, 0x84, 0x81, 0xEF, 0x38, 0xE3, 0x4C, 0xDE,
        0x4B, 0x0C, 0xFD, 0x1B, 0xF9,
    ];
    let serial = [
        0x26, 0xDA, 0xC3, 0xEB, 0x0F, 0x0D, 0x1A, 0x56, 0xA2, 0xD8, 0xB2, 0x13, 0xF0, 0xD7, 0x53,
        0x47, 0x1D, 0x0D, 0x48, 0x68,
    ];
    let sig = [0x5a; 64];
    let elf = mod_simple().elf();
    let mut files: Vec<OsString> = Vec::new();
    for (name, t) in [
        ("mod-simple-sha1.ko", trailer(1, 2, 1, signer, &key, &sig)),
        ("mod-simple-sha256.ko", trailer(1, 4, 1, signer, &key, &sig)),
        (
            "mod-simple-pkcs7.ko",
            trailer(
                0,
                0,
                2,
                b"",
                b"",
                &pkcs7("Build time autogenerated kernel key", &serial, &sig),
            ),
        ),
    ] {
        let p = root.join(name);
        std::fs::write(&p, [elf.clone(), t].concat()).expect("write");
        files.push(p.into());
    }
    let mut failures = Vec::new();
    for (field, want) in [
        (
            "signer",
            "Magrathea: Glacier signing key\nMagrathea: Glacier signing key\nBuild time autogenerated kernel key\n",
        ),
        (
            "sig_key",
            "E3:C8:FC:A7:3F:B3:1D:DE:84:81:EF:38:E3:4C:DE:4B:0C:FD:1B:F9\nE3:C8:FC:A7:3F:B3:1D:DE:84:81:EF:38:E3:4C:DE:4B:0C:FD:1B:F9\n26:DA:C3:EB:0F:0D:1A:56:A2:D8:B2:13:F0:D7:53:47:1D:0D:48:68\n",
        ),
        ("sig_hashalgo", "sha1\nsha256\nsha256\n"),
    ] {
        let mut args: Vec<OsString> = vec!["-F".into(), field.into()];
        args.extend(files.iter().cloned());
        failures.extend(modinfo_case(
            &format!("test_modinfo_{field}"),
            root,
            &args,
            want,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// test-modinfo.c: test_modinfo_external: `modinfo -F filename mod-simple` finds a module
/// that depmod.d's `external` put in the index by its absolute path.
#[test]
fn kmod_suite_modinfo_external() {
    let fx = Fixture::new(V, true, &|root, _| {
        mod_simple().write(&root.join("lib/modules/external"), "", Codec::None);
        std::fs::write(
            root.join("etc/depmod.d/external.conf"),
            format!("external 4.4.4 {}/lib/modules/external\n", root.display()),
        )
        .expect("write");
    });
    let mut failures = Vec::new();
    for tool in BOTH {
        let root = fx.root(tool);
        let o = run_tool(
            tool,
            "modinfo",
            &[
                "-b".into(),
                root.into(),
                "-k".into(),
                V.into(),
                "-F".into(),
                "filename".into(),
                "mod-simple".into(),
            ],
            None,
            &[],
            &[],
        );
        let want = format!("{}/lib/modules/external/mod-simple.ko\n", root.display());
        if code(&o) != 0 || text(&o.stdout) != want {
            failures.push(format!(
                "{tool:?}: exit {}, {:?}, wanted {want:?}: {}",
                code(&o),
                text(&o.stdout),
                text(&o.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
